/* WAL checkpoints and write-back on a thread of their own, so that neither ever blocks the caller's loop. */
#include "store/checkpoint.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/error.h"
#include "store/store_internal.h"
#include "store/walbuf.h"

struct checkpointer {
	sqlite3 *db;          /* this thread's own connection */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;            /* under lock */
};

/* Syncs the file that op (SQLITE_FCNTL_FILE_POINTER or _JOURNAL_POINTER)
 * names, through its VFS. */
static void sync_file(struct checkpointer *c, int op)
{
	sqlite3_file *f = NULL;

	if (sqlite3_file_control(c->db, "main", op, &f) == SQLITE_OK && f != NULL &&
	    f->pMethods != NULL)
		f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
}

/* The store never syncs its files (store_open in store.h), so the kernel
 * writes a file's dirty pages back when its oldest is 30 s old
 * (vm.dirty_expire_centisecs), all of them at once: at 8,000 escrows/s that
 * was 150-200 MB of database and 50-70 MB of WAL per node, the three nodes
 * together, and every Raft log write on the disk waited behind it for up to
 * 0.6 s with the CPUs idle. Syncing the database once a second at most,
 * after checkpoints that copied pages, writes it back a little at a time,
 * on this thread. The WAL is synced too (its sync first waits for its
 * pending writes, store/walbuf.h) unless a TRUNCATE checkpoint emptied it
 * since the last write-back: its dirty pages then left the page cache
 * unwritten, as the ones written since will when it is emptied again. The
 * disk never needs them, their frames being in the database by then.
 * Pacing, not durability: the Raft log is what survives a crash. */
static void write_back(struct checkpointer *c, bool wal)
{
	sync_file(c, SQLITE_FCNTL_FILE_POINTER);
	if (wal)
		sync_file(c, SQLITE_FCNTL_JOURNAL_POINTER);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *checkpoint_main(void *arg)
{
	struct checkpointer *c = arg;
	struct timespec until;
	int log = 0, done = 0, copied = 0;
	uint64_t synced_ms = 0;
	bool stop, pending = false, emptied = false;

	for (;;) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)CHECKPOINT_INTERVAL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&c->lock);
		while (!c->stop &&
		       pthread_cond_timedwait(&c->wake, &c->lock, &until) != ETIMEDOUT)
			;
		stop = c->stop;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			return NULL;
		/* PASSIVE never waits for the writer; a busy WAL is simply
		 * copied at the next round. */
		sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		/* Under steady writes the WAL is never fully copied at the moment
		 * a write begins, so it never starts over and grows without
		 * bound. Past a size, TRUNCATE holds the writer while it copies
		 * what is left, only when little is left so that the hold stays
		 * short, starts the WAL over and empties the file. Written back,
		 * the WAL's pages were a fifth to a third of the nodes' disk
		 * writes at 64 clients (issue 16). */
		if (log > CHECKPOINT_RESTART_FRAMES && log - done <= CHECKPOINT_RESTART_LEFT &&
		    sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
					      NULL) == SQLITE_OK)
			emptied = true;
		/* done counts the frames copied since the WAL last started over. */
		if (done > 0 && done != copied)
			pending = true;
		copied = done;
		if (pending && now_ms() - synced_ms >= CHECKPOINT_WRITE_BACK_MS) {
			write_back(c, !emptied);
			synced_ms = now_ms();
			pending = false;
			emptied = false;
		}
	}
}

int checkpointer_start(struct checkpointer **out, const char *path, char *errmsg)
{
	struct checkpointer *c = calloc(1, sizeof *c);
	int rc, rv;

	if (c == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "checkpointer: out of memory");
	/* Its WAL reads wait for pending writes: it copies into the database
	 * only frames the WAL file already holds (store/walbuf.h). */
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			     WALBUF_VFS_FLUSHED);
	if (rc != SQLITE_OK) {
		rv = store_db_error(c->db, rc, "checkpointer: open", errmsg);
		goto err_db;
	}
	/* Never wait: a TRUNCATE that would have to wait for a reader (a
	 * snapshot being copied) falls back to a passive checkpoint, instead of
	 * holding back the writer on the loop thread meanwhile. */
	sqlite3_busy_timeout(c->db, 0);
	/* Like the store, no fsync (see store_open in store.h): a TRUNCATE then
	 * holds the writer only while it copies the last few pages and queues
	 * the file's emptying (store/walbuf.h). */
	rv = store_exec(c->db, "PRAGMA synchronous = OFF", errmsg);
	if (rv != ESC_OK)
		goto err_db;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "checkpointer: cannot start a thread");
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		goto err_db;
	}
	*out = c;
	return ESC_OK;

err_db:
	sqlite3_close(c->db);
	free(c);
	return rv;
}

void checkpointer_stop(struct checkpointer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	sqlite3_close(c->db);
	free(c);
}
