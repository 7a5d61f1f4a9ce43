/* The cluster `escrowctl drill run` starts for itself: escrowd processes on
 * 127.0.0.1 with ports the kernel picked (or, for partitions, each in a
 * network namespace of its own), in a temporary directory, killed, paused,
 * cut off and restarted on purpose. */
#ifndef ESCROW_DRILL_CLUSTER_H
#define ESCROW_DRILL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "tools/client/ctl_client.h"
#include "tools/drill/drill_net.h"
#include "tools/drill/drill_pki.h"

#define DCLUSTER_NODES_MAX 7
/* escrowd --break-glass-after of the drill's nodes: quorum-loss's lookups
 * are served this many seconds after a node lost its leader. */
#define DCLUSTER_BREAK_GLASS_AFTER "2"
#define DCLUSTER_PATH_MAX 512

struct dnode {
	unsigned id;
	char api[32], raft[32];        /* 127.0.0.1:PORT, or 10.98.0.N:PORT */
	char data[DCLUSTER_PATH_MAX];  /* its data dir */
	char log[DCLUSTER_PATH_MAX];   /* stdout and stderr, appended */
	pid_t pid;                     /* 0 when not running */
	bool paused;
	int mounted;                   /* tmpfs of its own: 1 on data, 2 also on data/raft */
};

struct dcluster {
	size_t n;
	struct dnode nodes[DCLUSTER_NODES_MAX];
	char root[DCLUSTER_PATH_MAX / 2]; /* the temporary directory */
	char seal[DCLUSTER_PATH_MAX];
	char bootstrap[1024];
	char urls[1024];               /* http(s)://API,... for --nodes */
	bool tls;                      /* mutual TLS (else --insecure: plain HTTP and Raft) */
	char pki_dir[DCLUSTER_PATH_MAX];
	struct dpki pki;               /* with tls: the CA and client certificates */
	const char *escrowd;
	struct dnet net;               /* net.n == 0: all on 127.0.0.1 */
	char tmpfs_source[32];         /* escdPID-disk: names the mounts for a sweep */
};

#define DCLUSTER_NETNS 1u   /* each node in a network namespace (drill_net.h) */
#define DCLUSTER_TMPFS 2u   /* each data dir on a tmpfs of its own (disk full) */
#define DCLUSTER_TLS 4u     /* mutual TLS for the API, forwarding and Raft; else --insecure */
#define DCLUSTER_TMPFS_SIZE "512m"
#define DCLUSTER_DISK_HEADROOM 32768 /* bytes left free by dcluster_fill_disk */
#define DCLUSTER_SEGMENT_SIZE "16384" /* escrowd --raft-segment-size on those disks */

/* Makes the directory, the seal key, the ports; starts nothing. With
 * DCLUSTER_NETNS, builds the network of namespaces and moves the calling
 * process into its switch namespace: call it before any client connects.
 * With DCLUSTER_TMPFS (root), mounts a tmpfs on each data dir and another
 * on its raft/ (the Raft log), so that either can be filled alone. With
 * DCLUSTER_TLS, makes the drill's PKI in DIR/pki (drill_pki.h): the nodes
 * start with --tls-*, their URLs are https://. */
int dcluster_create(struct dcluster *c, size_t n, const char *escrowd, unsigned flags,
		    char *errmsg);

/* "https" with TLS, else "http". */
const char *dcluster_scheme(const struct dcluster *c);

/* Shrinks a tmpfs of node i to what it holds plus DCLUSTER_DISK_HEADROOM:
 * the one of its Raft log (data/raft) or the one of the rest (its store). */
int dcluster_fill_disk(struct dcluster *c, size_t i, bool raft, char *errmsg);

/* Gives that tmpfs its size back. */
int dcluster_free_disk(struct dcluster *c, size_t i, bool raft, char *errmsg);

/* For a signal handler: removes the network and unmounts the tmpfs of the
 * cluster created last, with async-signal-safe calls only. */
void dcluster_emergency_cleanup(void);

/* Starts node i (0-based) from its data dir; with join (a running node's
 * URL) instead of the bootstrap list, for a node that starts empty. */
int dcluster_start(struct dcluster *c, size_t i, const char *join, char *errmsg);

/* Flips one byte in the middle of the newest closed Raft log segment of
 * node i (stopped). */
int dcluster_damage_segment(struct dcluster *c, size_t i, char *errmsg);

/* Empties node i's data dir (stopped). */
int dcluster_wipe(struct dcluster *c, size_t i, char *errmsg);

/* Reaps node i if it exited: true and *status (as waitpid) when it did. */
bool dcluster_exited(struct dcluster *c, size_t i, int *status);

/* True when node i's log holds text; the last line holding it goes to out
 * (may be NULL). */
bool dcluster_log_last(const struct dcluster *c, size_t i, const char *text, char *out,
		       size_t size);

/* Sends sig to node i if it runs; SIGSTOP/SIGCONT keep track of pauses. */
void dcluster_signal(struct dcluster *c, size_t i, int sig);

/* Sends sig (SIGCONT first if paused) and waits up to wait_ms for the exit,
 * then SIGKILL. Returns the exit status as waitpid gives it, -1 if none. */
int dcluster_stop(struct dcluster *c, size_t i, int sig, int wait_ms);

/* GET /v1/status of node i, parsed; NULL when it did not answer 200. */
json_t *dcluster_status(struct dcluster *c, struct ctl_client *cl, size_t i);

/* Index of the node with that id, or -1. */
int dcluster_find(const struct dcluster *c, long id);

/* Waits until every running node answers GET /v1/health?ready with 200. */
int dcluster_wait_ready(struct dcluster *c, struct ctl_client *cl, double timeout_ms,
			char *errmsg);

/* Waits until every node reports the same applied index and state digest;
 * *index gets it. ESC_ETIMEOUT with what differed in errmsg. */
int dcluster_wait_converged(struct dcluster *c, struct ctl_client *cl, double timeout_ms,
			    unsigned long long *index, char *errmsg);

/* Counts log lines naming a sanitizer report, an assertion or a crash;
 * the first goes to first. */
size_t dcluster_scan_logs(const struct dcluster *c, char *first, size_t size);

/* Stops every node (SIGTERM, then SIGKILL), removes the network and, unless
 * keep, the directory. */
void dcluster_destroy(struct dcluster *c, bool keep);

#endif
