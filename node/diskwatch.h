/* The disk watermark. libraft 0.15 does not survive its own log writes
 * failing: on a full disk a leader stays leader with nothing stored, or the
 * process dies in libraft (SIGSEGV, found by escrowctl drill's disk-full
 * fault). So the node stops, saying why, while there is still room for the
 * log segments libraft has yet to create. */
#ifndef ESCROW_DISKWATCH_H
#define ESCROW_DISKWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISKWATCH_EVERY_MS 1000        /* statvfs once a second */
#define DISKWATCH_FLOOR_BYTES (4u << 20) /* the least free space kept */
#define DISKWATCH_SEGMENTS 4           /* ... or this many new log segments */

/* The free space below which the node stops, for a segment size. */
uint64_t diskwatch_min_free(size_t segment_size);

/* Bytes free to this process on the filesystem of path; false with errno
 * set when statvfs fails. */
bool diskwatch_free(const char *path, uint64_t *free_bytes);

/* True, with a line in why, when free_bytes is below min_free. */
bool diskwatch_low(const char *path, uint64_t free_bytes, uint64_t min_free, char *why,
		   size_t size);

#endif
