/* What store/walbuf's files share, and what it shows its tests: holding
 * the writer threads back, so that writes stay pending, and the pool of
 * recycled blocks. */
#ifndef ESCROW_WALBUF_INTERNAL_H
#define ESCROW_WALBUF_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One write not yet in the file, or a truncation to off (len 0), queued in
 * order with the writes. */
struct pending {
	struct pending *next;  /* in write order; in the pool, the next free block */
	struct pending *hnext; /* in its index bucket */
	sqlite3_int64 off;
	int len;
	int cap; /* bytes of data: POOL_SMALL, POOL_PAGE, or len */
	uint64_t seq;
	bool truncate; /* a truncation: neither indexed nor in the bounds */
	bool indexed;  /* the newest pending write at off */
	bool regular;  /* see struct walbuf */
	unsigned char data[];
};

#define INDEX_BUCKETS 1024 /* of each WAL's index of pending writes by offset */

/* The pending writes of one WAL file, shared by every connection of the
 * process that has it open, and the thread that writes them. */
struct walbuf {
	struct walbuf *next;          /* in the registry */
	char *path;
	int refs;                     /* open files; under registry_lock */
	int fd;                       /* the writer thread's own descriptor */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* a write queued, a write done, stop */
	struct pending *head, *tail;  /* in write order; only the thread removes */
	size_t bytes;
	uint64_t queued_seq;          /* seq of the last write queued */
	uint64_t done_seq;            /* seq of the last write in the file */
	uint64_t want_seq;            /* the thread writes while done_seq is below */
	bool commit_next;             /* the last write was a commit frame's header */
	int err;                      /* errno of the first failed write */
	bool stop;
	/* What lets a read skip the scan of every pending write. With writes
	 * pending, every one lies in [min_off, max_end) (max_end is their
	 * largest end exactly). The index holds, for each offset where a
	 * write is pending, the newest write there. A write is regular when
	 * it was queued at or past max_end, or with the offset and length of
	 * a regular write then newest at its offset (so equal to it): any two
	 * pending regular writes cover the same bytes or none in common.
	 * SQLite's frame headers and pages are regular; a write that only
	 * partly overlaps another is not. */
	sqlite3_int64 min_off, max_end;
	size_t irregular; /* pending writes that are not regular */
	size_t truncates; /* pending truncations */
	struct pending *index[INDEX_BUCKETS];
};

/* Tests: called on the caller's thread when a truncation of a WAL file to
 * size is queued; NULL but in tests. */
extern void (*walbuf_truncate_queued)(sqlite3_int64 size);

/* walbuf_index.c. Records q, the newest write, in the index and the bounds. */
void walbuf_index_add(struct walbuf *wb, struct pending *q);

/* Forgets p, the oldest pending write or truncation, which leaves the
 * list. */
void walbuf_index_remove(struct walbuf *wb, struct pending *p);

/* The bounds, exact again once writes left the list. */
void walbuf_index_bounds(struct walbuf *wb);

/* Copies the pending writes over buf (the file's bytes at off) and says
 * whether they cover [from, off + amt). With truncations pending, applies
 * them too in their order (the bytes they cut read as zeros), from is the
 * file's size (at least off), and says whether the file will then reach
 * off + amt. */
bool walbuf_overlay(struct walbuf *wb, void *buf, int amt, sqlite3_int64 off, sqlite3_int64 from);

/* The file's size once the pending writes and truncations are made, from
 * its size now. Under wb->lock. */
sqlite3_int64 walbuf_logical_size(const struct walbuf *wb, sqlite3_int64 size);

/* A block for a write of len bytes (1 or more), from the pool of recycled
 * blocks when one of its size is there (walbuf_pool.c); NULL when out of
 * memory. */
struct pending *pending_alloc(int len);

/* Frees a list of blocks linked by next (NULL-terminated), keeping what the
 * pool has room for; the blocks must be in no write list. */
void pending_free(struct pending *p);

/* Frees the pool (when no WAL is open). */
void pool_drain(void);

/* Lets the writer threads write allow more writes (oldest first), then
 * holds them back; -1 (the default) lets them write everything. While held,
 * truncate, sync, close and flushed reads wait. A call other than with 0
 * also asks for every write queued so far, committed or not. */
void walbuf_hold_writes(long allow);

/* Blocks in the pool, ready for the next writes. */
size_t walbuf_pooled(void);

#endif
