/* When the store commits what the FSM applied: at most every
 * STORECOMMIT_MS, and never later than that after an apply.
 *
 * Each commit writes, as WAL frames, every page its entries touched: the
 * leaves where keys and audit entries go, the indexes' leaves, the pages
 * above them. Committed at every loop turn, one client's escrows were a
 * transaction each, some eleven frames of 4 KiB each on every node, and
 * SQLite's WAL checksum was the leader's costliest function (15 % of its
 * instructions under bench/instructions.sh).
 * Committing a few milliseconds of entries together writes those shared
 * pages once. Nothing waits for a commit: the Raft log holds every applied
 * entry durably (a crash only means applying them again from it), readers
 * on the store's own connection see its open transaction, and whoever reads
 * through another connection (snapshots, the state digest) flushes first. */
#ifndef ESCROW_STORECOMMIT_H
#define ESCROW_STORECOMMIT_H

#include <stdint.h>
#include <uv.h>

#include "store/store.h"

#define STORECOMMIT_MS 5

/* Called when a commit failed: the node must stop (see store_flush). */
typedef void (*storecommit_fatal_cb)(void *data, const char *errmsg);

struct storecommit {
	struct store *store; /* borrowed */
	storecommit_fatal_cb fatal;
	void *data;
	uv_timer_t timer;    /* the commit of entries applied meanwhile */
	uint64_t last_ms;    /* uv_now of the last commit */
};

/* Sets c up on loop for store; storecommit_close must close its timer. */
void storecommit_init(struct storecommit *c, uv_loop_t *loop, struct store *store,
		      storecommit_fatal_cb fatal, void *data);

/* After a loop turn: commits now if the last commit is STORECOMMIT_MS old,
 * else makes sure the entries applied are committed when it is. */
void storecommit_turn(struct storecommit *c);

/* Closes the timer (nothing is committed: the store's close does that). */
void storecommit_close(struct storecommit *c, uv_close_cb cb, void *data);

#endif
