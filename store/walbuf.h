/* Write-behind for SQLite's WAL files: a VFS shim that takes WAL writes into
 * memory and writes them to the file on a thread of its own.
 *
 * Why: a commit writes WAL frames with pwrite on the event loop, and pwrite
 * of a partial block can wait for a disk read; while the disk was busy with a
 * Raft snapshot file (hundreds of MB) that stalled the loop for up to a
 * second. With the shim a commit only copies its frames into memory.
 *
 * Rules that keep the database consistent:
 *  - every connection of the process to a live database goes through the
 *    shim (walbuf_register makes it the default VFS), so all of them read
 *    the pending writes: a read of the WAL is the file overlaid with the
 *    pending writes, newest last;
 *  - pending writes reach the file in the order they were made, so after a
 *    process crash the WAL on disk is a prefix of what was written;
 *  - the checkpointer's connection uses WALBUF_VFS_FLUSHED, whose WAL reads
 *    first wait until every write made before them is in the file: pages are
 *    copied into the database only from frames the file already holds, so a
 *    crash can never leave the database ahead of its WAL;
 *  - sync and close wait for the pending writes; a truncation is queued
 *    after them, made by the thread in its turn, and reads and the size
 *    see it at once;
 *  - a failed write is sticky: every later write or read of that WAL fails
 *    (SQLITE_IOERR), and the store stops the node; the writes queued after
 *    it are dropped, never written, so the WAL on disk stays a prefix.
 * Pending writes are capped (WALBUF_MAX_PENDING); past it a write waits.
 * The writer thread is woken when a transaction's commit frame is queued
 * (or a run's worth is pending, or someone waits), not at every frame; it
 * writes runs of writes that follow each other in the file with one
 * pwritev each; a read finds its pending writes through an
 * index by offset when no pending write partly overlaps another. */
#ifndef ESCROW_WALBUF_H
#define ESCROW_WALBUF_H

#include <stddef.h>

#define WALBUF_VFS "escrow-wal"                 /* made the default */
#define WALBUF_VFS_FLUSHED "escrow-wal-flushed" /* for the checkpointer */
#define WALBUF_MAX_PENDING (64u << 20)          /* bytes waiting for the file */

/* Registers both VFSes over the default one, once per process; makes
 * WALBUF_VFS the default. ESC_OK, or ESC_EDB when SQLite refuses. */
int walbuf_register(char *errmsg);

/* Waits until every pending write of every WAL file is in its file. */
void walbuf_flush_all(void);

/* Bytes of WAL writes not yet in their files, over all WAL files. */
size_t walbuf_pending(void);

#endif
