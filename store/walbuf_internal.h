/* What store/walbuf shows its tests: holding the writer threads back, so
 * that writes stay pending, and the pool of recycled blocks. */
#ifndef ESCROW_WALBUF_INTERNAL_H
#define ESCROW_WALBUF_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One write not yet in the file. */
struct pending {
	struct pending *next;  /* in write order; in the pool, the next free block */
	struct pending *hnext; /* in its index bucket */
	sqlite3_int64 off;
	int len;
	int cap; /* bytes of data: POOL_SMALL, POOL_PAGE, or len */
	uint64_t seq;
	bool indexed; /* the newest pending write at off */
	bool regular; /* see struct walbuf */
	unsigned char data[];
};

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
