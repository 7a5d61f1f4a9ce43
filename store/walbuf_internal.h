/* What store/walbuf shows its tests: holding the writer threads back, so
 * that writes stay pending, and the pool of recycled blocks. */
#ifndef ESCROW_WALBUF_INTERNAL_H
#define ESCROW_WALBUF_INTERNAL_H

#include <stddef.h>

/* Lets the writer threads write allow more writes (oldest first), then
 * holds them back; -1 (the default) lets them write everything. While held,
 * truncate, sync, close and flushed reads wait. */
void walbuf_hold_writes(long allow);

/* Blocks in the pool, ready for the next writes. */
size_t walbuf_pooled(void);

#endif
