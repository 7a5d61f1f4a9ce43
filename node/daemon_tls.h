/* The node's certificates: loaded at start from --tls-ca/--tls-cert/--tls-key
 * for the API server, forwarding and Raft peers; reloaded on SIGHUP. */
#ifndef ESCROW_DAEMON_TLS_H
#define ESCROW_DAEMON_TLS_H

struct daemon;

/* Loads the three files into server and client contexts and hands them to
 * the API server, the forwarding client and the replica (before
 * replica_init). Nothing to do with --insecure. A private key file that
 * group or others may read is refused. ESC_EINVAL with the file and reason. */
int daemon_tls_load(struct daemon *d, char *errmsg);

/* SIGHUP: loads the files again; on success new connections (API, forwarding,
 * peers) use them and open ones go on; on failure the node keeps the old
 * ones and logs why. */
void daemon_tls_reload(struct daemon *d);

/* Frees the contexts (after the loop is closed). */
void daemon_tls_free(struct daemon *d);

#endif
