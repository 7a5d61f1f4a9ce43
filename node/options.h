/* escrowd's options: one table drives the flags, the INI config file and --help. */
#ifndef ESCROW_OPTIONS_H
#define ESCROW_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>


struct options {
	unsigned id;           /* --id, 1..65535, required */
	char *data_dir;        /* --data-dir, required */
	char *raft_addr;       /* --raft-addr IPv4:PORT, required */
	char *api_addr;        /* --api-addr IPv4:PORT, required */
	char *metrics_addr;    /* --metrics-addr IPv4:PORT (plain HTTP), or NULL */
	char *bootstrap;       /* --bootstrap "1=RAFT/API,..." or NULL */
	char *join;            /* --join URL or NULL */
	bool insecure;         /* --insecure */
	bool insecure_netns;   /* --insecure-netns: any address in an `ip netns` */
	char *tls_ca;          /* --tls-ca */
	char *tls_cert;        /* --tls-cert */
	char *tls_key;         /* --tls-key */
	char *seal_key;        /* --seal-key FILE, required */
	char *config;          /* --config FILE */
	unsigned snapshot_threshold; /* --snapshot-threshold, entries between snapshots */
	unsigned snapshot_trailing;  /* --snapshot-trailing, entries kept behind one */
	unsigned raft_segment_size;  /* --raft-segment-size, bytes of a new log segment */
	int log_level;         /* --log-level: an enum log_level (lib/log.h), default LOG_INFO */
};

/* options_parse results besides ESC_OK and ESC_EINVAL. */
#define OPTIONS_HELP_SHOWN (-1)  /* --help was printed to stdout: exit 0 */

/* Parses argv (flags win over the --config file, read with inih) and checks
 * them: required options present, addresses are IPv4 "a.b.c.d:port" with a
 * port 1-65535, --bootstrap and --join not both, either --insecure or all
 * three --tls-* files, --insecure only with loopback addresses (127.0.0.0/8)
 * unless --insecure-netns and the process is in a namespace made by `ip netns`,
 * the --bootstrap string well formed and naming this node's --id with these
 * exact addresses. On ESC_EINVAL errmsg holds one line naming the problem,
 * e.g. "--raft-addr: 'foo' is not IPV4:PORT". Strings in o are heap copies:
 * free with options_close. */
int options_parse(struct options *o, int argc, char **argv, char *errmsg);

/* Writes the usage text, generated from the option table. */
void options_usage(FILE *f);

void options_close(struct options *o);

/* One member of a --bootstrap string. */
struct bootstrap_member {
	unsigned id;
	char raft[64]; /* "ip:port" */
	char api[64];  /* "ip:port" */
};

/* Parses "1=RAFTHOST:PORT/APIHOST:PORT,2=...". At most max members. Each
 * address must be IPv4:PORT, ids unique and 1..65535, addresses unique.
 * Returns ESC_OK or ESC_EINVAL with errmsg. */
int bootstrap_parse(const char *s, struct bootstrap_member *m, unsigned max,
		    unsigned *n, char *errmsg);

/* Checks "a.b.c.d:port"; true when valid. loopback set when in 127.0.0.0/8. */
bool addr_parse(const char *s, bool *loopback);

#endif
