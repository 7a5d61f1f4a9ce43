/* The checkpointer's write-back: after checkpoints that copied pages the
 * database file and its WAL are synced (once a second at most), so that the
 * kernel never holds back a store's worth of dirty pages; with nothing
 * copied they are not. Past its restart size the WAL is emptied, and then
 * not synced: its pages leave the page cache unwritten. And the store's
 * wait for the write lock a TRUNCATE checkpoint holds: in short naps.
 * Counted by a VFS under the store's (every file the process opens through
 * SQLite ends up in it). */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/error.h"
#include "store/checkpoint.h"
#include "store/store.h"
#include "store/walbuf.h"
#include "store/walbuf_internal.h"
#include "tests/counting_vfs.h"
#include "tests/unit.h"

static char tmp_dir[] = "/tmp/test_checkpoint.XXXXXX";
static char errmsg[ESC_ERRMSG_SIZE];

/* --- a VFS that counts the syncs of database and WAL files --- */

static atomic_int db_syncs, wal_syncs;
/* Cuts of the WAL to nothing queued, and both sync counts at the last. */
static atomic_int wal_emptied, db_syncs_emptied, wal_syncs_emptied;
static atomic_int naps, nap_longest_us; /* the sleeps SQLite asked for */

/* The store's VFS cuts WAL files on its own thread, in order with its
 * writes; this is called when a cut is queued, by the checkpointer. */
static void wal_truncate_queued(sqlite3_int64 size)
{
	if (size == 0) {
		atomic_store(&db_syncs_emptied, atomic_load(&db_syncs));
		atomic_store(&wal_syncs_emptied, atomic_load(&wal_syncs));
		atomic_fetch_add(&wal_emptied, 1);
	}
}

static void count_sync(const char *name, int open_flags, int sync_flags)
{
	(void)name;
	(void)sync_flags;
	if (open_flags & SQLITE_OPEN_WAL)
		atomic_fetch_add(&wal_syncs, 1);
	else if (open_flags & SQLITE_OPEN_MAIN_DB)
		atomic_fetch_add(&db_syncs, 1);
}

static void count_sleep(int us)
{
	int longest = atomic_load(&nap_longest_us);

	atomic_fetch_add(&naps, 1);
	while (us > longest && !atomic_compare_exchange_weak(&nap_longest_us, &longest, us))
		;
}

/* --- the store --- */

static int apply_audit(struct store *s, uint64_t index)
{
	struct store_result r;
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.type = CMD_AUDIT;
	c.node_id = 1;
	c.at_ms = 1700000000000;
	snprintf(c.actor, sizeof c.actor, "test");
	snprintf(c.role, sizeof c.role, "operator");
	snprintf(c.action, sizeof c.action, "snapshot.save");
	if (store_apply(s, index, &c, &r, errmsg) != ESC_OK || r.status != ESC_OK)
		return -1;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct counts {
	int db, wal;
};

static struct counts counts_now(void)
{
	return (struct counts){ atomic_load(&db_syncs), atomic_load(&wal_syncs) };
}

/* Commits 200 entries, then waits (5 s at most) for a sync of both files
 * after before. */
static struct counts syncs_after_writes(struct store *s, uint64_t *index, struct counts before)
{
	struct counts now = before;

	for (int i = 0; i < 200; i++)
		if (apply_audit(s, ++*index) != 0)
			return now;
	if (store_flush(s, errmsg) != ESC_OK)
		return now;
	for (int waited = 0; waited < 5000; waited += 10) {
		now = counts_now();
		if (now.db > before.db && now.wal > before.wal)
			break;
		sleep_ms(10);
	}
	return now;
}

TEST(database_and_wal_synced_after_copies_only)
{
	char path[sizeof tmp_dir + 16];
	struct store *s = NULL;
	uint64_t index = 0;
	struct counts before, after, idle;

	snprintf(path, sizeof path, "%s/escrow.db", tmp_dir);
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);

	/* Whatever opening did, settled: three rounds without writes. */
	sleep_ms(3 * CHECKPOINT_INTERVAL_MS);
	before = counts_now();
	after = syncs_after_writes(s, &index, before);
	printf("# syncs within 5 s of 200 committed entries: database %d -> %d, WAL %d -> %d\n",
	       before.db, after.db, before.wal, after.wal);
	CHECK(after.db > before.db);
	CHECK(after.wal > before.wal);

	/* Idle: nothing to copy, nothing synced (once a sync put off by
	 * CHECKPOINT_WRITE_BACK_MS is made). */
	sleep_ms(CHECKPOINT_WRITE_BACK_MS + 3 * CHECKPOINT_INTERVAL_MS);
	idle = counts_now();
	sleep_ms(CHECKPOINT_WRITE_BACK_MS + 3 * CHECKPOINT_INTERVAL_MS);
	CHECK_INT(counts_now().db, idle.db);
	CHECK_INT(counts_now().wal, idle.wal);

	/* And again once there is something to copy. */
	after = syncs_after_writes(s, &index, idle);
	CHECK(after.db > idle.db);
	CHECK(after.wal > idle.wal);
	store_close(s);
}

/* Commits one entry at a time, while a reader that began before them keeps
 * the checkpointer from copying them (it reads the database file as it
 * was), until the WAL holds more than CHECKPOINT_RESTART_FRAMES frames
 * (20,000 commits at most); then lets go and waits (5 s at most) for the
 * checkpointer to copy them all and empty the WAL. Returns the commits
 * made, -1 on an error. */
static int grow_wal_then_release(struct store *s, const char *path, const char *wal,
				 uint64_t *index)
{
	const long long frame = 24 + 4096; /* a frame's header and page */
	sqlite3 *reader = NULL;
	struct stat st;
	int n = 0;

	if (sqlite3_open_v2(path, &reader, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL,
			 NULL) != SQLITE_OK) {
		sqlite3_close(reader);
		return -1;
	}
	do {
		if (apply_audit(s, ++*index) != 0 || store_flush(s, errmsg) != ESC_OK)
			n = -1;
		else
			n++;
	} while (n > 0 && n < 20000 && stat(wal, &st) == 0 &&
		 st.st_size < (CHECKPOINT_RESTART_FRAMES + 64) * frame);
	sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(reader);
	for (int waited = 0; waited < 5000 && atomic_load(&wal_emptied) == 0; waited += 10)
		sleep_ms(10);
	return n;
}

TEST(wal_emptied_past_its_restart_size_and_then_not_synced)
{
	char path[sizeof tmp_dir + 16], wal[sizeof path + 4];
	struct store *s = NULL;
	uint64_t index = 0;
	struct stat st;
	int commits, db_at, wal_at;

	snprintf(path, sizeof path, "%s/empty.db", tmp_dir);
	snprintf(wal, sizeof wal, "%s-wal", path);
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	atomic_store(&wal_emptied, 0);
	commits = grow_wal_then_release(s, path, wal, &index);
	db_at = atomic_load(&db_syncs_emptied);
	wal_at = atomic_load(&wal_syncs_emptied);
	printf("# WAL emptied %d time(s) after %d commits (%d frames past which it is)\n",
	       atomic_load(&wal_emptied), commits, CHECKPOINT_RESTART_FRAMES);
	CHECK(commits > 0);
	CHECK(atomic_load(&wal_emptied) > 0);
	/* The frames it copied call for a write-back (within
	 * CHECKPOINT_WRITE_BACK_MS and a round): the database synced, the WAL
	 * not. */
	for (int waited = 0; waited < 5000 && atomic_load(&db_syncs) == db_at; waited += 10)
		sleep_ms(10);
	printf("# syncs since: database %d, WAL %d\n", atomic_load(&db_syncs) - db_at,
	       atomic_load(&wal_syncs) - wal_at);
	CHECK(atomic_load(&db_syncs) > db_at);
	CHECK_INT(atomic_load(&wal_syncs), wal_at);
	/* Nothing was written since: the file is empty, once the cut is made. */
	walbuf_flush_all();
	CHECK_INT(stat(wal, &st), 0);
	CHECK_INT(st.st_size, 0);
	store_close(s);
}

/* Another connection holds the write lock (as a TRUNCATE checkpoint does)
 * and lets go after a while. */
struct holder {
	sqlite3 *db;
	long hold_ms;
	int rc;
};

static void *hold_then_commit(void *arg)
{
	struct holder *h = arg;

	sleep_ms(h->hold_ms);
	h->rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

TEST(store_waits_for_the_write_lock_in_short_naps)
{
	char path[sizeof tmp_dir + 16];
	struct holder h = { NULL, 30, -1 };
	struct store *s = NULL;
	pthread_t thread;
	int applied, flushed;

	snprintf(path, sizeof path, "%s/lock.db", tmp_dir);
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK_INT(sqlite3_open_v2(path, &h.db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(h.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	atomic_store(&naps, 0);
	atomic_store(&nap_longest_us, 0);
	CHECK_INT(pthread_create(&thread, NULL, hold_then_commit, &h), 0);
	/* Its transaction begins only once the holder has committed. */
	applied = apply_audit(s, 1);
	flushed = store_flush(s, errmsg);
	pthread_join(thread, NULL);
	printf("# %d naps while the lock was held for %ld ms, the longest %d us\n",
	       atomic_load(&naps), h.hold_ms, atomic_load(&nap_longest_us));
	CHECK_INT(applied, 0);
	CHECK_INT(flushed, ESC_OK);
	CHECK_INT(h.rc, SQLITE_OK);
	CHECK(atomic_load(&naps) > 0);
	/* SQLite's own busy_timeout asks for 1,000 us, then 2,000, 5,000... */
	CHECK(atomic_load(&nap_longest_us) < 1000);
	CHECK_INT(store_applied_index(s), 1);
	sqlite3_close(h.db);
	store_close(s);
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	counting_vfs_register(count_sync, count_sleep);
	walbuf_truncate_queued = wal_truncate_queued;
	RUN(database_and_wal_synced_after_copies_only);
	RUN(wal_emptied_past_its_restart_size_and_then_not_synced);
	RUN(store_waits_for_the_write_lock_in_short_naps);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
