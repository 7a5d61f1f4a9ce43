/* escrowctl drill run: the self-contained fault-injection drill. */
#ifndef ESCROW_DRILL_RUN_H
#define ESCROW_DRILL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/drill/drill_engine.h"

enum fault_kind {
	F_KILL_LEADER,    /* SIGKILL of the leader, restarted after a while */
	F_KILL_FOLLOWER,  /* SIGKILL of a follower */
	F_PAUSE_LEADER,   /* SIGSTOP of the leader for several election timeouts */
	F_RESTART_ALL,    /* SIGTERM of every node, then all started again */
	F_KILL_TWO,       /* SIGKILL of the leader and a follower (5 nodes) */
	F_DAMAGED_SEGMENT, /* a follower stopped, a byte of its log flipped: it must
			      refuse to start; then emptied and joined again */
	F_PARTITION_LEADER, /* the leader cut off from every other node (root) */
	F_PARTITION_SPLIT,  /* a random minority cut off from the majority (root) */
	F_PARTITION_ONEWAY, /* the leader's packets to the others, or theirs to it,
			       dropped (root) */
	F_DISK_FULL,        /* the leader's or a follower's data dir full (root) */
	F_QUORUM_LOSS,      /* the majority killed, or (root) every node cut off from
			       every other: break-glass lookups on a node left alone */
	F_SLOW_DISK,        /* the leader's or a follower's disks throttled (root, a
			       blkio cgroup): it must keep running and catch up */
	F__COUNT
};

struct drill_run_opts {
	size_t size;          /* nodes: 3 or 5 */
	uint64_t seed;        /* the fault schedule's */
	unsigned kinds;       /* bit per enum fault_kind */
	const char *escrowd;  /* the program to start */
	bool keep;            /* keep the directory even when the drill passes */
	bool insecure;        /* plain HTTP and Raft (escrowd --insecure), not mutual TLS */
	/* For the client of a plain cluster (see ctl_client_init); borrowed.
	 * With TLS the drill's own PKI is used instead. */
	const char *ca, *cert, *key; /* TLS files, or NULL */
	long timeout_ms;      /* one request to one node */
};

/* Faults that need the network of namespaces (root). */
#define DRILL_NET_FAULTS ((1u << F_PARTITION_LEADER) | (1u << F_PARTITION_SPLIT) | \
			  (1u << F_PARTITION_ONEWAY))
/* Faults that need the nodes' own disks (root: loop-mounted ext4). */
#define DRILL_DISK_FAULTS ((1u << F_DISK_FULL) | (1u << F_SLOW_DISK))
/* Faults that need root: the partitions and the disk faults. */
#define DRILL_ROOT_FAULTS (DRILL_NET_FAULTS | DRILL_DISK_FAULTS)

const char *drill_fault_name(enum fault_kind k);

/* 0 and *k set when name is a fault kind, else -1. */
int drill_fault_parse(const char *name, enum fault_kind *k);

/* Starts the cluster, runs the workload of opts with o's faults, heals,
 * checks, reports (stdout; progress and errors on stderr), stops the
 * cluster. d is the drill's storage, overwritten. Returns DRILL_OUTCOME_OK
 * when the drill passed; DRILL_OUTCOME_USAGE when no fault is left to
 * inject here. */
enum drill_outcome drill_run(struct drill *d, const struct drill_opts *opts,
			     const struct drill_run_opts *o);

#endif
