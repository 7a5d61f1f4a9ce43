/* WAL checkpoints and write-back on a thread of their own, so that their fsyncs never block the caller's loop. */
#ifndef ESCROW_CHECKPOINT_H
#define ESCROW_CHECKPOINT_H

#define CHECKPOINT_INTERVAL_MS 100     /* how often the thread copies the WAL back */
#define CHECKPOINT_RESTART_FRAMES 4096 /* WAL pages past which the WAL is emptied */
#define CHECKPOINT_RESTART_LEFT 256    /* ... if at most this many are left to copy */
#define CHECKPOINT_WRITE_BACK_MS 1000  /* at most this often, sync what was copied */

struct checkpointer;

/* Starts a thread with its own connection to the WAL database at path that
 * runs a PASSIVE checkpoint every CHECKPOINT_INTERVAL_MS (a TRUNCATE one when
 * the WAL is past CHECKPOINT_RESTART_FRAMES and nearly all copied) and, at
 * most every CHECKPOINT_WRITE_BACK_MS after copies, syncs the database, and
 * its WAL unless it was emptied since, so that their dirty pages reach the
 * disk a little at a time. The caller's connection should set
 * wal_autocheckpoint = 0. Errors: ESC_EDB, ESC_ENOMEM, ESC_EIO (thread). */
int checkpointer_start(struct checkpointer **out, const char *path, char *errmsg);

/* Stops and joins the thread and closes its connection. NULL is fine. */
void checkpointer_stop(struct checkpointer *c);

#endif
