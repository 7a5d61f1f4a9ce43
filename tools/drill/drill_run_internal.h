/* drill run's state, shared by its schedule and report (drill_run.c) and its
 * fault injectors (drill_faults.c). */
#ifndef ESCROW_DRILL_RUN_INTERNAL_H
#define ESCROW_DRILL_RUN_INTERNAL_H

#include "tools/drill/drill_cluster.h"
#include "tools/drill/drill_run.h"

#define RUN_FAULTS_MAX 512
#define RUN_SETTLE_MS 2500.0       /* after a heal, before the next fault */
#define RUN_RECOVER_MAX_MS 30000.0 /* the next fault waits this long at most for the
				      cluster to serve again after a heal */
#define RUN_WINDOW_EARLY_MS 500.0  /* a window that began this long before a fault
				      is held to it (a request in flight then) */
#define RUN_WATCH_EVERY_MS 50.0    /* status polls while a fault is watched */
#define RUN_CATCHUP_MAX_MS 60000.0 /* a cut-off node catching up after a heal */
#define RUN_BG_FIRST_MS 2000.0     /* quorum-loss: the first break-glass lookup */
#define RUN_BG_EVERY_MS 300.0      /* then one this often */
#define RUN_BG_LOOKUPS 3           /* served or not found, per quorum-loss */

enum run_watch {
	WATCH_NONE,
	WATCH_STEPDOWN,  /* the cut-off leader: until its status no longer says leader */
	WATCH_CATCHUP,   /* after a partition: until the cut-off nodes caught up */
	WATCH_BREAK_GLASS, /* quorum-loss: break-glass lookups on a node left alone */
};

struct fault {
	enum fault_kind kind;
	int nodes[2];            /* indexes in the cluster, -1 unused */
	unsigned cut;            /* partitions: the nodes cut off, a bit per index */
	bool oneway_in;          /* partition-oneway: the others' packets to the cut-off
				    node are dropped (else its own to them) */
	double at_ms, healed_ms; /* drill time */
	bool leader_lost;        /* the fault took the leader away */
	double cut_ms;           /* partitions: when every route was in place */
	double failover_ms;      /* until the first escrow sent after it succeeded; -1 none */
	double longest_ms;       /* longest unavailability window during it */
	double stepdown_ms;      /* a cut-off leader: cut until it no longer said leader; -1 */
	double catchup_ms;       /* partitions: heal until every cut-off node applied the
				    majority's commit index at the heal; -1 */
	const char *violation;   /* what a node did wrong, or NULL */
	bool raft_disk;          /* disk-full: the Raft log's disk (else the store's) */
	bool exited;             /* disk-full: the node stopped (status, at exited_ms) */
	int status;
	double exited_ms;
	char outcome[200];       /* disk-full: what the node did ("" until healed) */
	unsigned killed;         /* quorum-loss: the nodes killed, a bit per index (none:
				    every node cut off from every other, in cut) */
	unsigned bg_sent, bg_served, bg_missed; /* its break-glass lookups */
	double bg_first_ms;      /* the fault until the first was served; -1 */
	long bg_key;             /* the key being asked for, -1 none */
};

struct run {
	struct dcluster c;
	struct ctl_client client; /* the cluster's nodes, for the drill and its checks */
	bool connected;           /* client made */
	struct drill *d;
	const struct drill_run_opts *o;
	uint64_t rng;
	enum fault_kind order[F__COUNT];
	size_t n_kinds, next_kind;
	struct fault faults[RUN_FAULTS_MAX];
	size_t n_faults;
	bool active;
	double next_at;
	bool recovered;           /* an escrow sent after the last heal succeeded */
	size_t ops_seen;          /* history ops looked at for it */
	enum run_watch watch;
	double watch_next;
	unsigned long long catchup_target;
	enum drill_outcome error; /* a fault not injected or healed: why in errmsg */
	char skipped[F__COUNT][160]; /* kinds asked for but left out here: why ("" ran) */
	char errmsg[ESC_ERRMSG_SIZE];
};

/* What the end of a run found, for its report. */
struct run_end {
	double converge_ms;              /* heal to equal digests; -1: never */
	unsigned long long index;        /* the index they were equal at */
	size_t log_problems;             /* crash lines in the node logs */
	char first_problem[300];
};

/* "tls" (mutual TLS: API, forwarding, Raft) or "plain" (--insecure). */
const char *drill_run_transport(const struct dcluster *c);

/* Prints the report (text, or JSON with --json); returns the outcome. */
enum drill_outcome run_report(struct run *r, const struct drill_report *rep,
			      const struct run_end *e);

/* The schedule's random numbers (xorshift64*: the seed alone decides). */
uint64_t run_rnd(struct run *r);

/* Injects f (kind set): picks its nodes, breaks them, sets at_ms. */
void fault_inject(struct run *r, struct fault *f);

/* True when f need not be held longer (a node with a full disk stopped). */
bool fault_over(struct run *r, struct fault *f);

/* Undoes f; nodes that are down are started again by the caller. */
void fault_heal(struct run *r, struct fault *f);

/* Polls what a fault's report needs (step-down, catch-up); true while the
 * next fault should wait. */
bool fault_watch(struct run *r, double t);

#endif
