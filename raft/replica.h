/* One node's Raft replica: libraft with its libuv I/O, our FSM, leader readiness. */
#ifndef ESCROW_REPLICA_H
#define ESCROW_REPLICA_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "raft/fsm.h"
#include "raft/peer_tls.h"
#include "raft/leaderprobe.h"
#include "raft/sendguard.h"
#include "raft/replica_apply.h"
#include "raft/storecommit.h"
#include "store/store.h"

struct replica;
struct replica_req;

/* status: ESC_OK with result set (valid only during the callback), or
 * ESC_ENOLEADER when leadership was lost before the entry applied (outcome
 * unknown: it may still commit), ESC_ESHUTDOWN, ESC_ERAFT. */
typedef void (*replica_apply_cb)(struct replica_req *req, int status,
				 const struct store_result *result);

/* status: ESC_OK when every entry committed before the call is applied here. */
typedef void (*replica_barrier_cb)(struct replica_req *req, int status);

/* A request, allocated by the caller; must live until its callback. */
struct replica_req {
	void *data;                 /* free for the caller */
	/* private */
	struct replica *replica;
	struct raft_barrier barrier;
	struct raft_buffer buf;     /* the encoded command until libraft takes it */
	uint64_t index;             /* its entry, once handed to libraft ... */
	uint64_t term;              /* ... by the leader of this term */
	struct replica_req *next;   /* in the apply queue (raft/replica_apply.h) */
	replica_apply_cb apply_cb;
	replica_barrier_cb barrier_cb;
	uint64_t submitted;         /* uv_hrtime() at replica_apply, for the commit time */
};

/* Called on the loop when this node becomes a leader ready to serve (its
 * first barrier of the term is applied) and when it stops being one. */
typedef void (*replica_leader_cb)(struct replica *r, bool ready);

typedef void (*replica_close_cb)(struct replica *r);

/* One line about a refused peer or a failed or lost peer connection (see
 * peer_tls_log_cb); msg is borrowed for the call. */
typedef void (*replica_peer_log_cb)(struct replica *r, const char *msg);

/* Called once when a seeded node's first Raft snapshot is on disk. */
typedef void (*replica_seeded_cb)(struct replica *r);

struct replica_change;

/* status: ESC_OK, ESC_ENOLEADER (leadership lost), ESC_ETIMEOUT (the new
 * node did not catch up), ESC_ERAFT. */
typedef void (*replica_change_cb)(struct replica_change *ch, int status);

/* A membership change, allocated by the caller; must live until its
 * callback. */
struct replica_change {
	void *data;
	/* private */
	struct replica *replica;
	struct raft_change raft;
	unsigned id;
	replica_change_cb cb;
};

struct replica {
	void *data;                   /* free for the owner */
	replica_leader_cb leader_cb;  /* may be NULL */
	fsm_fatal_cb fatal_cb;        /* apply failed on the store: stop the node */
	unsigned snapshot_threshold;  /* set before replica_init */
	unsigned segment_size;        /* bytes of a new log segment; 0: the default */
	unsigned snapshot_trailing;
	unsigned catch_up_ms;         /* a promotion's longest catch-up round; 0: the default */
	unsigned snapshot_growth;     /* the period grows with the store up to this
					 many thresholds (tuning_snapshot_period);
					 0 or 1: fixed */
	bool seeded;                  /* state came from a snapshot file, see tuning_raft_seeded */
	replica_seeded_cb seeded_cb;  /* may be NULL */
	/* Set before replica_init: with both, Raft traffic goes over mutual TLS
	 * (raft/peer_tls.h); with neither, over libraft's plain TCP. Borrowed:
	 * the caller frees them after replica_close's callback, or as soon as
	 * replica_set_peer_tls has replaced them. */
	struct tls_ctx *peer_server_ctx, *peer_client_ctx;
	replica_peer_log_cb peer_log_cb; /* may be NULL */
	replica_peer_log_cb election_log_cb; /* may be NULL: an election started early
					       (raft/leaderprobe.h) */
	/* private */
	uv_loop_t *loop;
	unsigned id;
	struct raft raft;
	struct sendguard guard; /* libraft's raft_io, its send guarded */
	struct raft_uv_transport transport;
	bool peer_tls;                /* transport is raft/peer_tls's */
	struct fsm fsm;
	struct applyq applyq;         /* commands on their way into the log */
	uv_check_t watch;             /* notices leadership changes after each loop turn */
	struct storecommit commit;    /* commits the store's applied entries */
	struct leaderprobe probe;     /* a follower's dial of a silent leader */
	struct raft_barrier ready_barrier;
	bool barrier_pending;
	bool ready;                   /* leader and its term's barrier applied */
	raft_term ready_term;
	bool started;
	bool closing;
	replica_close_cb close_cb;
	unsigned snapshot_period;     /* entries between this node's snapshots now */
	uint64_t period_for;          /* the snapshot index it was set at (UINT64_MAX:
					 not yet) */
	struct histogram commit_seconds; /* this leader's entries: raft_apply to applied */
	bool leader_known;            /* a leader was known at the last loop turn */
	bool member_applied;          /* see replica_caught_up */
	uint64_t leader_lost_at;      /* uv_now ms when a loop turn first saw none
					 (start: replica_start) */
};

/* Sets up the I/O, transport and raft instance over the existing directory
 * dir, applying commands to store (borrowed). raft_addr is "ip:port".
 * Errors: ESC_EINVAL when only one of peer_server_ctx and peer_client_ctx
 * is set, ESC_ENOMEM, ESC_ERAFT with libraft's message. On error nothing is
 * left to close. */
int replica_init(struct replica *r, uv_loop_t *loop, unsigned id, const char *raft_addr,
		 const char *dir, struct store *store, char *errmsg);

/* Writes the initial configuration of a brand-new cluster: n voters with
 * ids[i] at addrs[i]. Returns ESC_OK, ESC_EBUSY when the dir already holds
 * state (not an error for a restart), or ESC_ERAFT. */
int replica_bootstrap(struct replica *r, unsigned n, const unsigned *ids,
		      const char *const *addrs, char *errmsg);

/* Loads the log and snapshot and joins the cluster. ESC_EADDRINUSE when the
 * raft address is taken; ESC_ECORRUPT for a damaged log or snapshot. */
int replica_start(struct replica *r, char *errmsg);

/* Certificate reload: new peer connections use server and client (both
 * non-NULL, borrowed), open ones keep what they started with; the caller
 * may free the previous contexts once this returns. ESC_EINVAL when the
 * replica was set up without TLS (nothing changes). */
int replica_set_peer_tls(struct replica *r, struct tls_ctx *server, struct tls_ctx *client);

/* True when this node is the leader and may serve requests. */
bool replica_ready(const struct replica *r);

/* The leader's id as far as this node knows, 0 if none. */
unsigned replica_leader(const struct replica *r);

/* Milliseconds (loop time) since this node noticed it knows no leader,
 * counted from replica_start when it never knew one; 0 while it knows one
 * or until a loop turn has seen the loss. Counted from the loop turn that
 * saw it, not from the last one that saw a leader, so that a stalled or
 * stopped process (SIGSTOP) does not count the stall as time without one. */
uint64_t replica_leaderless_ms(const struct replica *r);

/* True when a leader is known, this node has applied a configuration that
 * makes it a member (a node that joins: the entry that added it, so the
 * data it joined with) and it applied all it knows committed. */
bool replica_caught_up(const struct replica *r);

/* Replicates c (copied) and calls cb once it is applied on this node, the
 * leader. ESC_ENOLEADER when not ready (cb will not fire), ESC_ENOMEM. The
 * commands of one loop turn go to libraft together, before the loop next
 * polls (raft/replica_apply.h); cb never fires from inside this call. */
int replica_apply(struct replica *r, struct replica_req *req, const struct cmd *c,
		  replica_apply_cb cb);

/* Calls cb once every entry committed before now is applied here, for
 * linearizable reads on the leader. ESC_ENOLEADER when not ready. */
int replica_barrier(struct replica *r, struct replica_req *req, replica_barrier_cb cb);

/* Adds node id at raft_addr as a voter: first as a spare, then promoted
 * once it has caught up. A node already present as a spare is only
 * promoted. ESC_ENOLEADER, ESC_EBUSY (another change runs), ESC_ECONFLICT
 * (the id or address is taken), or ESC_OK and cb fires. */
int replica_add_voter(struct replica *r, struct replica_change *ch, unsigned id,
		      const char *raft_addr, replica_change_cb cb);

/* Removes node id. ESC_ENOLEADER, ESC_EBUSY, ESC_ENOTFOUND, or ESC_OK and
 * cb fires. */
int replica_remove(struct replica *r, struct replica_change *ch, unsigned id,
		   replica_change_cb cb);

/* True when id is a voter of the configuration this node knows; then
 * *raft_addr (when not NULL) is its raft address, borrowed until the
 * configuration changes. */
bool replica_is_voter(const struct replica *r, unsigned id, const char **raft_addr);

/* One member of the configuration this node knows. */
struct replica_member_info {
	unsigned id;
	const char *raft_addr;  /* borrowed until the configuration changes */
	const char *role;       /* "voter", "standby", "spare" */
	bool reachable;         /* this node hears from it, see replica_member_at */
};

/* Number of members in the configuration this node knows. */
unsigned replica_member_count(const struct replica *r);

/* Member i (i < replica_member_count) into out. Reachable: the leader knows
 * it from its replication progress; a follower knows only itself and the
 * leader. */
void replica_member_at(const struct replica *r, unsigned i, struct replica_member_info *out);

/* True while a membership change runs on this leader. */
bool replica_changing(const struct replica *r);

/* Hands leadership to id, or to the most caught-up voter when id is 0.
 * ESC_ENOLEADER, ESC_EINVAL (not a voter), ESC_OK. */
int replica_transfer(struct replica *r, unsigned id);

/* Role name of this node: "leader", "follower", "candidate", "unavailable". */
const char *replica_role(const struct replica *r);

/* True from a successful replica_start until replica_close. */
bool replica_running(const struct replica *r);

/* True when libraft has this node as the leader, ready to serve or not
 * (replica_ready says whether it may serve). */
bool replica_is_leader(const struct replica *r);

/* The current term as this node knows it. */
uint64_t replica_term(const struct replica *r);

/* Index of the last entry this node knows to be committed. */
uint64_t replica_commit_index(const struct replica *r);

/* Index of the last entry applied here (by libraft's count: it includes
 * entries that change no state, so it may run ahead of the store's). */
uint64_t replica_applied_index(const struct replica *r);

/* Index of the last entry in this node's log. */
uint64_t replica_last_index(const struct replica *r);

/* Index of the last log entry written to this node's disk. */
uint64_t replica_stored_index(const struct replica *r);

/* The member with this id in r's current configuration, or NULL (for
 * raft/replica*.c). */
const struct raft_server *replica_member(const struct replica *r, unsigned id);

/* Entries between this node's Raft snapshots, as the store's size set it
 * after the last one (tuning_snapshot_period). */
unsigned replica_snapshot_period(const struct replica *r);

/* True while this node takes a Raft snapshot. */
bool replica_snapshot_in_progress(const struct replica *r);

/* Our state machine, for its counters (snapshots, restores); borrowed. */
const struct fsm *replica_fsm(const struct replica *r);

/* Time from replica_apply to the entry applied here, for each entry this
 * node submitted as the leader and saw applied: the wait in libraft's
 * queue, the log write and its fsync, replication to a majority and the
 * apply. Borrowed. */
const struct histogram *replica_commit_seconds(const struct replica *r);

/* Stops Raft: pending requests fail with ESC_ENOLEADER; cb when all closed. */
void replica_close(struct replica *r, replica_close_cb cb);

#endif
