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
	int mounted;                   /* disks of its own: 1 on data, 2 also on data/raft */
	dev_t disk[2];                 /* their loop devices: data, data/raft */
	bool slow;                     /* its disks throttled (dcluster_slow_disk) */
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
	char disk_prefix[32];          /* escdPID-disk: names the disk images for a sweep */
};

#define DCLUSTER_NETNS 1u   /* each node in a network namespace (drill_net.h) */
#define DCLUSTER_DISKS 2u   /* each data dir on a disk of its own (disk full, slow disk) */
#define DCLUSTER_TLS 4u     /* mutual TLS for the API, forwarding and Raft; else --insecure */
#define DCLUSTER_DISK_SIZE (512ull << 20) /* each disk's image file (sparse) */
#define DCLUSTER_DISK_HEADROOM 32768 /* bytes left free by dcluster_fill_disk */
/* dcluster_slow_disk's throttles, on each of a node's two disks and each way
 * (reads, writes): operations and bytes a second. A 4 KiB write + fsync on
 * such a disk takes about 210 ms (buffered or O_DIRECT) instead of 2 ms;
 * writes the page cache absorbs stay fast until they are synced. */
#define DCLUSTER_SLOW_IOPS 5
#define DCLUSTER_SLOW_BPS (256ul << 10)
#define DCLUSTER_SEGMENT_SIZE "16384" /* escrowd --raft-segment-size on those disks */

/* Makes the directory, the seal key, the ports; starts nothing. With
 * DCLUSTER_NETNS, builds the network of namespaces and moves the calling
 * process into its switch namespace: call it before any client connects.
 * With DCLUSTER_DISKS (root), mounts a disk of its own on each data dir and
 * another on its raft/ (the Raft log), so that either can be filled alone:
 * an ext4 filesystem in a sparse image file of DCLUSTER_DISK_SIZE in DIR,
 * on a loop device (drill_disk.h); first it sweeps the disks and cgroups of
 * drills that died. Without loop devices or mkfs.ext4, it fails saying so. With
 * DCLUSTER_TLS, makes the drill's PKI in DIR/pki (drill_pki.h): the nodes
 * start with --tls-*, their URLs are https://. */
int dcluster_create(struct dcluster *c, size_t n, const char *escrowd, unsigned flags,
		    char *errmsg);

/* "https" with TLS, else "http". */
const char *dcluster_scheme(const struct dcluster *c);

/* Fills a disk of node i with a filler file until DCLUSTER_DISK_HEADROOM
 * bytes are left: the one of its Raft log (data/raft) or the one of the
 * rest (its store). */
int dcluster_fill_disk(struct dcluster *c, size_t i, bool raft, char *errmsg);

/* Removes that filler: the disk has its room back. */
int dcluster_free_disk(struct dcluster *c, size_t i, bool raft, char *errmsg);

/* NULL when dcluster_slow_disk can run (root, the cluster has its disks, a
 * writable blkio cgroup v1), else why not, in words. */
const char *dcluster_slow_unavailable(const struct dcluster *c);

/* Throttles node i's two disks for its running process: a blkio cgroup of
 * its own (escrow-drill-PID-ID) limited to DCLUSTER_SLOW_IOPS and
 * DCLUSTER_SLOW_BPS, the process (all its threads) moved into it. A restart
 * of the node (dcluster_start) runs at full speed; the cgroup stays until
 * dcluster_fast_disk or dcluster_destroy. */
int dcluster_slow_disk(struct dcluster *c, size_t i, char *errmsg);

/* Undoes dcluster_slow_disk: the node's process (if running) back in the
 * drill's cgroup, the cgroup removed. Nothing when node i is not slowed. */
void dcluster_fast_disk(struct dcluster *c, size_t i);

/* For a signal handler: removes the network and unmounts the disks of the
 * cluster created last, with async-signal-safe calls only (a throttle's
 * cgroup is swept by the next drill). */
void dcluster_emergency_cleanup(void);

/* Starts node i (0-based) from its data dir; with join (a running node's
 * URL) instead of the bootstrap list, for a node that starts empty. */
int dcluster_start(struct dcluster *c, size_t i, const char *join, char *errmsg);

/* Flips one byte in the middle of the newest closed Raft log segment of
 * node i (stopped). */
int dcluster_damage_segment(struct dcluster *c, size_t i, char *errmsg);

/* Empties node i's data dir (stopped) as the damaged-log recovery says:
 * all but its break-glass journal files. */
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

/* Stops every node (SIGTERM, then SIGKILL), removes the throttles, the disks
 * (their image files stay with keep), the network and, unless keep, the
 * directory. */
void dcluster_destroy(struct dcluster *c, bool keep);

#endif
