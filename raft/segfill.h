/* libraft's new log segments written whole before their first append.
 *
 * libraft 0.15 prepares each segment of the Raft log (open-N, on a libuv
 * pool thread, ahead of need) with posix_fallocate, which leaves the blocks
 * as unwritten extents, and appends with O_DIRECT | O_DSYNC AIO writes
 * flagged RWF_NOWAIT, doing again on a pool thread any write the kernel
 * refuses with EAGAIN. ext4 refuses such a write when it covers a written
 * block and unwritten ones, which is an append that starts in the block
 * holding the log's tail and runs into fresh ones: about one append in
 * twelve at one client, most of them at 64 clients (bench/floor.py counts
 * it). Each refused write costs a pool thread's wake-ups and a second
 * submission; and a write into unwritten blocks makes its O_DSYNC wait for
 * a journal commit that marks them written, where an overwrite does not.
 *
 * This module defines posix_fallocate for the whole process (libraft's
 * calls to glibc's are bound to it: an executable's definition comes first).
 * It allocates as glibc does; then, once segfill_enable was called, for a
 * file named open-N it writes zeros over the range (durably: libraft's
 * descriptor is O_DSYNC, and it is synced anyway) and drops the file's pages
 * from the page cache, since cached pages make RWF_NOWAIT writes refused
 * too. Every other file and caller gets glibc's posix_fallocate unchanged. */
#ifndef ESCROW_RAFT_SEGFILL_H
#define ESCROW_RAFT_SEGFILL_H

#include <stdbool.h>

/* From now on, new libraft segments are written whole (see above). */
void segfill_enable(void);

/* Whether segfill_enable was called. */
bool segfill_enabled(void);

#endif
