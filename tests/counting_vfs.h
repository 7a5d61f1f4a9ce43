/* A VFS for tests: it sits on the default VFS, passes every call through,
 * and tells the test of each file's sync and of each sleep SQLite asks for. */
#ifndef ESCROW_TEST_COUNTING_VFS_H
#define ESCROW_TEST_COUNTING_VFS_H

/* A file synced: its name (NULL for a file of no name), the flags it was
 * opened with (SQLITE_OPEN_MAIN_DB, SQLITE_OPEN_WAL, ...) and xSync's. */
typedef void (*counting_vfs_sync_fn)(const char *name, int open_flags, int sync_flags);
/* A sleep of us microseconds, before it is slept. */
typedef void (*counting_vfs_sleep_fn)(int us);

/* Registers the VFS as the default, on the default before it. Call it once,
 * before anything builds a VFS of its own on the default (the store does).
 * on_sync and on_sleep may be NULL; they may be called from any thread. */
void counting_vfs_register(counting_vfs_sync_fn on_sync, counting_vfs_sleep_fn on_sleep);

#endif
