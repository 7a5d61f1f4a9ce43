/* Open Raft log segments whose end libraft 0.15 cannot load, trimmed before
 * it loads them.
 *
 * libraft preallocates an open segment and writes batches into it until the
 * next one does not fit. When a node stops before the segment is closed and
 * the last batch ended 8 bytes before the end of the file, or anywhere a
 * batch cannot be read whole, libraft's loader fails with an I/O error
 * after it already handed the segment's buffer to the entries it loaded:
 * both its error paths free that buffer, a double free inside raft_start
 * (uv_segment.c, uvSegmentLoadOpen; still so in 0.17.1). A node killed at
 * that moment would crash on every start, or start on a corrupted heap.
 *
 * segtail_trim reads each open-N segment of a Raft directory as libraft's
 * loader does and, where the loader would fail that way, truncates the file
 * at the end of its last whole batch (or empties it when no batch is whole):
 * what libraft itself does with a segment whose end is damaged. Segments
 * libraft loads or refuses cleanly are not touched. */
#ifndef ESCROW_RAFT_SEGTAIL_H
#define ESCROW_RAFT_SEGTAIL_H

#include <stddef.h>
#include <stdint.h>

#define SEGTAIL_FIXES_MAX 8

struct segtail_fix {
	char name[32];	/* the open segment's file name */
	size_t size;	/* its size before */
	size_t kept;	/* the bytes kept: the end of its last whole batch, or 0 */
	unsigned batches; /* the whole batches kept */
};

/* Trims the open segments of DIR libraft 0.15 would fail to load (see
 * above); each trimmed file is fsynced. The first SEGTAIL_FIXES_MAX trims
 * are described in FIXES, *N counts them all. A file that cannot be read
 * or truncated is an error (ESC_EIO) and stops the scan. */
int segtail_trim(const char *dir, struct segtail_fix *fixes, unsigned *n, char *errmsg);

/* The checksum of libraft's segments (CRC-32, polynomial 0x04C11DB7, most
 * significant bit first, no reflection, no final inversion), from INIT. */
uint32_t segtail_crc32(const void *buf, size_t len, uint32_t init);

#endif
