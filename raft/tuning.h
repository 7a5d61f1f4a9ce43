/* Every libraft tuning knob escrow sets, in one place. */
#ifndef ESCROW_TUNING_H
#define ESCROW_TUNING_H

#include <raft.h>
#include <stdint.h>

#define TUNING_ELECTION_TIMEOUT_MS 300      /* randomised in [ET, 2 ET) by libraft */
#define TUNING_HEARTBEAT_TIMEOUT_MS 30      /* also libraft's tick period */
#define TUNING_INSTALL_SNAPSHOT_TIMEOUT_MS 2000 /* 0.15 drops busy InstallSnapshots silently */
#define TUNING_CONNECT_RETRY_MS 100         /* re-dial a lost peer */
/* Defaults of escrowd's --snapshot-threshold and --snapshot-trailing. */
#define TUNING_SNAPSHOT_THRESHOLD 65536     /* entries between snapshots (libraft: 1024):
					       each copies the whole database (400 MB
					       at a million keys) */
#define TUNING_SNAPSHOT_TRAILING 16384      /* entries kept behind a snapshot */
#define TUNING_SNAPSHOT_GROWTH 4            /* escrowd --snapshot-growth default: a
					       large store's period goes up to 4
					       thresholds (libraft holds the log
					       since the last snapshot in memory:
					       ~300 bytes an entry) */
#define TUNING_SNAPSHOT_BYTES_PER_ENTRY 1024 /* the period doubles while the
						store has more KiB than it has
						entries */
#define TUNING_CATCH_UP_ROUND_S 30          /* escrowd --catch-up-timeout default
					       (libraft's 5 s is shorter than a
					       million keys' snapshot install) */
#define TUNING_SEGMENT_SIZE 8388608         /* escrowd --raft-segment-size default
					       (libraft's own) */

/* Settings on the libuv I/O backend, between raft_uv_init and raft_init:
 * connect retry, auto-recovery off (a corrupt segment stops the node),
 * the size of new segments, snapshot compression off (LZ4 of a large database took the CPU the loop
 * needed on a small machine; SQLite pages of random keys compress little). */
void tuning_io(struct raft_io *io, size_t segment_size);

/* Settings on the raft instance, between raft_init and raft_start: timeouts
 * (catch_up_ms: the longest round of a promotion's catch-up, 0 for
 * TUNING_CATCH_UP_ROUND_S), pre-vote on, snapshot threshold and trailing. */
void tuning_raft(struct raft *r, unsigned threshold, unsigned trailing, unsigned catch_up_ms);

/* Where a node's next Raft snapshot falls. Every voter snapshots once per
 * `period` entries (--snapshot-threshold), voter `rank` of `voters` (in the
 * order of their ids) at the indexes rank * period / voters modulo period,
 * never sooner than period / 2 entries after its last snapshot `last`: the
 * nodes of a cluster do not copy and write their whole state at the same
 * moment, so a majority is always free of that work. With one threshold
 * for all, they did, since they apply the same indexes. */
uint64_t tuning_snapshot_next(uint64_t last, unsigned period, unsigned rank, unsigned voters);

/* The period of a node's Raft snapshots for a store of store_bytes: the
 * threshold times the smallest power of two that gives at least one entry
 * per TUNING_SNAPSHOT_BYTES_PER_ENTRY of store, and at most growth times it
 * (growth 0 or 1: the threshold). A snapshot copies the whole store, so a
 * fixed period would copy more of it per entry as it grows (a million keys:
 * 450 MB every 65,536 entries, 7 KB per entry); powers of two keep the
 * nodes, whose stores have about the same size, on the same period, which
 * the staggering below needs. */
unsigned tuning_snapshot_period(unsigned threshold, unsigned growth, uint64_t store_bytes);

/* Sets r's snapshot threshold so that its next snapshot falls where
 * tuning_snapshot_next says, for r's rank among the voters of its
 * configuration (a node that is not a voter takes rank 0). Cheap enough for
 * every loop turn. */
void tuning_snapshot_stagger(struct raft *r, unsigned period);

/* A node seeded from a snapshot file holds state that no log entry
 * describes: a Raft snapshot must exist (and the log behind it be dropped)
 * before any other node joins, so that joiners get it by InstallSnapshot.
 * These settings make the first applied entry take one. */
void tuning_raft_seeded(struct raft *r);

#endif
