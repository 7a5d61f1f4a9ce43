/* escrow's libraft state machine: decodes commands and applies them to the store. */
#ifndef ESCROW_FSM_H
#define ESCROW_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/histogram.h"
#include "store/store.h"

struct fsm;

/* Called when the node must stop rather than diverge from its peers: the
 * store failed to apply a committed entry (disk full, I/O error), or an
 * entry or snapshot is of a newer format than this build knows. errmsg is
 * one sentence saying what failed and what to do; the callee logs it and
 * stops the process without returning (tests may return: the entry then
 * stays unapplied). */
typedef void (*fsm_fatal_cb)(struct fsm *f, const char *errmsg);

/*
 * Raft snapshot buffer, version 2, little-endian:
 *   0  8 bytes  magic "ESCRSNAP"
 *   8  u32      version (2)
 *  12  u32      reserved, 0
 *  16  u64      applied index the image reflects
 *  24  u64      image length L
 *  32  32 bytes cluster id of the image (ASCII hex, NUL-padded)
 *  64  L bytes  the SQLite database image packed in one zstd frame
 *               (store_image_build)
 * Version 1 (older builds; still restored) held the image unpacked. A build
 * that knows only version 1 stops on a version-2 snapshot and says so.
 */
#define FSM_SNAPSHOT_MAGIC "ESCRSNAP"
#define FSM_SNAPSHOT_VERSION 2
#define FSM_SNAPSHOT_VERSION_UNPACKED 1
#define FSM_SNAPSHOT_HEADER_SIZE 64
#define FSM_SNAPSHOT_NICE 10 /* the copying thread's nice value */

struct fsm {
	struct raft_fsm raft_fsm;     /* handed to raft_init */
	struct raft *raft;            /* for the index of the entry being applied */
	struct store *store;          /* borrowed */
	struct cmd cmd;               /* scratch for decoding */
	struct store_result result;   /* last apply's outcome, read by the apply callback */
	fsm_fatal_cb fatal_cb;
	/* May be NULL: called after each command entry is applied, or found
	 * unsound (a no-op), with its index and the result libraft hands to
	 * the apply callback of the entry's request. */
	void (*applied_cb)(struct fsm *f, uint64_t index, const struct store_result *result);
	void *data;
	uint64_t applied;             /* entries applied (for metrics) */
	uint64_t rejected;            /* entries that failed to decode */
	uint64_t restores;            /* snapshots loaded (at start or InstallSnapshot) */
	uint64_t snapshots;           /* Raft snapshots taken (finalized) */
	uint64_t snapshot_ns;         /* their total time, from pin to finalize */
	uint64_t snapshot_last_ns;    /* the last one's */
	uint64_t snapshot_started;    /* uv_hrtime() of the one in progress */
	uint64_t snapshot_loop_max_ns; /* longest stay of the loop in a snapshot callback */
	struct histogram apply_seconds; /* time to apply one entry, decode included */
};

/* Prepares f over store (borrowed). raft must be set before raft_start.
 * The result handed to raft_apply callbacks is &f->result, valid only
 * during the callback. async: copy snapshots on libraft's worker threads
 * (needs an I/O backend with async_work: not raft_fixture's). */
void fsm_init(struct fsm *f, struct store *store, fsm_fatal_cb fatal_cb, bool async);

#endif
