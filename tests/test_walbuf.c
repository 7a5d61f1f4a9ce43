/* Unit tests of store/walbuf: WAL write-behind keeps every reader consistent,
 * and a process killed at any moment leaves a database that is whole and holds
 * a prefix of the committed entries. */
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/error.h"
#include "store/store.h"
#include "store/walbuf.h"
#include "tests/unit.h"

static char tmp_dir[] = "/tmp/test_walbuf.XXXXXX";
static char errmsg[ESC_ERRMSG_SIZE];

/* An audit-only command: each one adds one audit row at its index. */
static void audit_cmd(struct cmd *c)
{
	memset(c, 0, sizeof *c);
	c->type = CMD_AUDIT;
	c->node_id = 1;
	c->at_ms = 1700000000000;
	snprintf(c->actor, sizeof c->actor, "test");
	snprintf(c->role, sizeof c->role, "operator");
	snprintf(c->action, sizeof c->action, "snapshot.save");
}

static int apply_audit(struct store *s, uint64_t index)
{
	struct store_result r;
	struct cmd c;

	audit_cmd(&c);
	if (store_apply(s, index, &c, &r, errmsg) != ESC_OK || r.status != ESC_OK)
		return -1;
	return 0;
}

/* Opens path with the plain unix VFS, as a process that never heard of the
 * shim would. Returns the rows of audit, or -1; *max_idx and *applied are
 * read too, and *ok says whether integrity_check passed. */
static long inspect(const char *path, long *max_idx, long *applied, int *ok)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long rows = -1;

	*ok = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, "unix") != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		*ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT count(*) FROM audit), (SELECT coalesce(max(idx), 0) "
			       "FROM audit), (SELECT v FROM meta WHERE k = 'applied_index')",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		rows = sqlite3_column_int64(st, 0);
		*max_idx = sqlite3_column_int64(st, 1);
		*applied = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
out:
	sqlite3_close(db);
	return rows;
}

struct reader {
	const char *path;
	volatile int stop;
	long last;
	int errors;
	int backwards;
	long reads;
};

/* Another connection of the same process reads while the store commits:
 * it must see every commit in order, never an error or a torn page. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	if (sqlite3_open_v2(r->path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL) != SQLITE_OK) {
		r->errors++;
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 1000);
	while (!r->stop) {
		if (sqlite3_step(st) != SQLITE_ROW) {
			r->errors++;
		} else {
			long n = sqlite3_column_int64(st, 0);
			if (n < r->last)
				r->backwards++;
			r->last = n;
		}
		sqlite3_reset(st);
		r->reads++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

TEST(readers_see_every_commit)
{
	char path[256];
	struct store *s = NULL;
	struct reader r = {0};
	pthread_t t;
	long max_idx = 0, applied = 0;
	int ok = 0;

	snprintf(path, sizeof path, "%s/readers.db", tmp_dir);
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	r.path = path;
	CHECK(pthread_create(&t, NULL, reader_main, &r) == 0);
	for (uint64_t i = 1; i <= 3000; i++) {
		if (apply_audit(s, i) != 0 || (i % 7 == 0 && store_flush(s, errmsg) != ESC_OK)) {
			r.stop = 1;
			pthread_join(t, NULL);
			printf("# entry %llu: %s\n", (unsigned long long)i, errmsg);
			CHECK(0);
		}
	}
	CHECK_INT(store_flush(s, errmsg), ESC_OK);
	usleep(200 * 1000);
	r.stop = 1;
	pthread_join(t, NULL);
	printf("# reader: %ld reads, last count %ld\n", r.reads, r.last);
	CHECK_INT(r.errors, 0);
	CHECK_INT(r.backwards, 0);
	CHECK(r.reads > 0);
	CHECK_INT(r.last, 3000);
	store_close(s);
	CHECK_INT(walbuf_pending(), 0);
	CHECK_INT(inspect(path, &max_idx, &applied, &ok), 3000);
	CHECK(ok);
	CHECK_INT(max_idx, 3000);
	CHECK_INT(applied, 3000);
}

/* The child commits entries one by one and reports each on the pipe, until
 * it is killed. */
static void child_commit(const char *path, int fd)
{
	struct store *s = NULL;

	if (store_open(&s, path, errmsg) != ESC_OK)
		_exit(2);
	for (uint64_t i = 1;; i++) {
		if (apply_audit(s, i) != 0 || store_flush(s, errmsg) != ESC_OK)
			_exit(3);
		if (write(fd, &i, sizeof i) != (ssize_t)sizeof i)
			_exit(4);
	}
}

TEST(kill_leaves_a_whole_prefix)
{
	char path[256];

	for (int round = 0; round < 5; round++) {
		uint64_t last = 0, got;
		int fds[2], status = 0, ok = 0;
		long rows, max_idx = 0, applied = 0;
		pid_t pid;

		snprintf(path, sizeof path, "%s/kill-%d.db", tmp_dir, round);
		CHECK(pipe(fds) == 0);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_commit(path, fds[1]);
		}
		close(fds[1]);
		/* Kill it at a different point each round, with checkpoints
		 * (every 100 ms) having run several times. */
		while (last < 2000u + 700u * (unsigned)round &&
		       read(fds[0], &got, sizeof got) == (ssize_t)sizeof got)
			last = got;
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(fds[0]);
		CHECK(WIFSIGNALED(status));
		rows = inspect(path, &max_idx, &applied, &ok);
		printf("# round %d: killed after commit %llu; the file holds %ld entries "
		       "(applied_index %ld)\n",
		       round, (unsigned long long)last, rows, applied);
		CHECK(ok);
		/* A prefix: entries 1..applied, each once, nothing after. */
		CHECK_INT(rows, applied);
		CHECK_INT(max_idx, applied);
		/* Entries still pending at the kill are lost (Raft replays
		 * them); what the kernel had is there. */
		CHECK(applied > 0);
	}
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(readers_see_every_commit);
	RUN(kill_leaves_a_whole_prefix);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
