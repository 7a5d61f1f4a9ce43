/* Commands on their way into the leader's log, many per raft_apply.
 *
 * libraft 0.15 sends an AppendEntries message to every follower, and asks
 * for a disk write, at each raft_apply. One raft_apply per client request
 * costs each follower a message, a write and an answer per request. So
 * replica_apply only queues its command; before the loop next waits for
 * I/O (a uv_prepare) and after each poll (the replica's check), the queue
 * goes to libraft in one raft_apply of up to APPLYQ_BATCH_MAX entries, one
 * entry per command as before: the log's format does not change.
 *
 * libraft answers only the request of a batch's first entry, so each
 * command is answered from the FSM as its entry is applied (applyq_applied),
 * with the entry's own result. An entry is answered there only while this
 * node is still the leader of the term it was submitted in: then the entry
 * at that index is the one it submitted. Everything else fails with
 * ESC_ENOLEADER (outcome unknown, as when libraft itself fails a request):
 * a batch libraft fails, and every queued or unanswered command once the
 * node is no longer that leader (applyq_fail). */
#ifndef ESCROW_REPLICA_APPLY_H
#define ESCROW_REPLICA_APPLY_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

#define APPLYQ_BATCH_MAX 64 /* entries in one raft_apply */

struct replica_req;

struct applyq {
	struct raft *raft;
	struct replica_req *unsent, *unsent_tail;     /* queued, in order */
	struct replica_req *applying, *applying_tail; /* in libraft's log, by index */
	unsigned n_unsent;
	uv_prepare_t flusher;         /* flushes before the loop polls */
	bool flusher_active;
	uint64_t batches;             /* raft_apply calls made */
	uint64_t entries;             /* commands they carried */
	uint64_t batch_max;           /* the largest batch */
};

/* Sets q up, empty, for raft (before raft_start: the FSM calls
 * applyq_applied from then on). */
void applyq_init(struct applyq *q, struct raft *raft);

/* Starts the flusher's handle on loop; applyq_close must close it. */
void applyq_start(struct applyq *q, uv_loop_t *loop);

/* Queues req, whose buffer and callback are set (replica_apply). */
void applyq_push(struct applyq *q, struct replica_req *req);

/* Hands every queued command to libraft, APPLYQ_BATCH_MAX per raft_apply.
 * Commands of a batch libraft refuses fail with ESC_ENOLEADER. */
void applyq_flush(struct applyq *q);

/* The FSM applied the command entry at index with result: answers the
 * command submitted there, if any. */
void applyq_applied(struct applyq *q, uint64_t index, const struct store_result *result);

/* Fails every queued and unanswered command with status (ESC_ENOLEADER,
 * ESC_ESHUTDOWN). Their entries may still commit. */
void applyq_fail(struct applyq *q, int status);

/* Closes the flusher; cb gets it with its data set to data. */
void applyq_close(struct applyq *q, uv_close_cb cb, void *data);

#endif
