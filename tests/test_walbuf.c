/* Unit tests of store/walbuf: WAL write-behind keeps every reader consistent,
 * and a process killed at any moment leaves a database that is whole and holds
 * a prefix of the committed entries. Below the database, straight through the
 * VFS: reads see the newest bytes, the file ends up with them, and a failed
 * write stops everything after it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/durable.h"
#include "lib/error.h"
#include "store/store.h"
#include "store/walbuf.h"
#include "store/walbuf_internal.h"
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

/* --- the WAL file through the VFS --- */

#define FRAME_HDR 24
#define PAGE 4096
#define FRAME (FRAME_HDR + PAGE)

/* A WAL file opened through the shim, as SQLite opens one: name-wal, beside
 * an existing name. */
struct wal {
	char path[256 + 2]; /* double-NUL-terminated, as SQLite's names are */
	sqlite3_file *f;
};

static int wal_open(struct wal *w, const char *name)
{
	sqlite3_vfs *vfs;
	char db[240];
	int fd, rc, out = 0;

	memset(w, 0, sizeof *w);
	if (walbuf_register(errmsg) != ESC_OK || (vfs = sqlite3_vfs_find(WALBUF_VFS)) == NULL)
		return -1;
	snprintf(db, sizeof db, "%s/%s", tmp_dir, name);
	snprintf(w->path, sizeof w->path - 1, "%s-wal", db);
	fd = open(db, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	w->f = calloc(1, (size_t)vfs->szOsFile);
	if (w->f == NULL)
		return -1;
	rc = vfs->xOpen(vfs, w->path, w->f,
			SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_WAL, &out);
	if (rc != SQLITE_OK) {
		free(w->f);
		w->f = NULL;
		return -1;
	}
	return 0;
}

static void wal_close(struct wal *w)
{
	if (w->f != NULL) {
		w->f->pMethods->xClose(w->f);
		free(w->f);
		w->f = NULL;
	}
}

static int wal_write(struct wal *w, const void *buf, int amt, long off)
{
	return w->f->pMethods->xWrite(w->f, buf, amt, off);
}

static int wal_read(struct wal *w, void *buf, int amt, long off)
{
	return w->f->pMethods->xRead(w->f, buf, amt, off);
}

static int wal_sync(struct wal *w)
{
	return w->f->pMethods->xSync(w->f, SQLITE_SYNC_NORMAL);
}

static long wal_size(struct wal *w)
{
	sqlite3_int64 size = -1;

	if (w->f->pMethods->xFileSize(w->f, &size) != SQLITE_OK)
		return -1;
	return (long)size;
}

/* What the file should read as: the bytes written, newest last. */
#define MODEL_BYTES (1 << 20)

struct model {
	unsigned char bytes[MODEL_BYTES];
	unsigned char written[MODEL_BYTES];
	long end;
};

static struct model model;

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Writes amt bytes of a fresh pattern at off, to the file and the model. */
static int model_write(struct wal *w, int amt, long off)
{
	static unsigned char buf[4 * PAGE];
	uint32_t tag = rng();

	for (int i = 0; i < amt; i++)
		buf[i] = (unsigned char)(tag + (uint32_t)i * 7 + (uint32_t)i / 253);
	memcpy(model.bytes + off, buf, (size_t)amt);
	memset(model.written + off, 1, (size_t)amt);
	if (off + amt > model.end)
		model.end = off + amt;
	return wal_write(w, buf, amt, off);
}

/* Cuts the file and the model at size. */
static int model_truncate(struct wal *w, long size)
{
	if (size < model.end) {
		memset(model.bytes + size, 0, (size_t)(model.end - size));
		memset(model.written + size, 0, (size_t)(model.end - size));
	}
	model.end = size;
	return w->f->pMethods->xTruncate(w->f, size);
}

/* Reads [off, off + amt) and compares it with the model: the same bytes
 * (zeros where nothing was written), SQLITE_OK when every byte was
 * written, SQLITE_IOERR_SHORT_READ past the end of what was written.
 * 0 when all is as it should be. */
static int model_check_read(struct wal *w, int amt, long off)
{
	static unsigned char buf[4 * PAGE], want[4 * PAGE];
	int rc, all = 1;

	memset(buf, 0xa5, sizeof buf);
	rc = wal_read(w, buf, amt, off);
	for (int i = 0; i < amt; i++) {
		want[i] = off + i < MODEL_BYTES ? model.bytes[off + i] : 0;
		if (off + i >= MODEL_BYTES || !model.written[off + i])
			all = 0;
	}
	if (memcmp(buf, want, (size_t)amt) != 0) {
		for (int i = 0; i < amt; i++)
			if (buf[i] != want[i]) {
				printf("# read of %d at %ld: byte %ld is %d, not %d\n", amt, off,
				       off + i, buf[i], want[i]);
				break;
			}
		return -1;
	}
	if (all && rc != SQLITE_OK)
		return -2;
	if (off + amt > model.end && rc != SQLITE_IOERR_SHORT_READ)
		return -3;
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return -4;
	return 0;
}

/* The file itself holds exactly the model's bytes, [0, len). */
static int file_matches(const char *path, const unsigned char *want, long len)
{
	unsigned char *got = malloc((size_t)len + 1);
	ssize_t n = -1;
	int fd, same;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && got != NULL)
		n = durable_read(fd, got, (size_t)len + 1);
	if (fd >= 0)
		close(fd);
	same = n == len && memcmp(got, want, (size_t)len) == 0;
	if (!same)
		printf("# %s: %ld bytes, expected %ld%s\n", path, (long)n, len,
		       n == len ? ", different" : "");
	free(got);
	return same;
}

/* Random writes as SQLite makes them (frames appended, header and page,
 * some rewritten, the WAL restarted at its start, or cut to nothing or to
 * a size and restarted) and of random sizes and offsets over them, with
 * reads of random ranges in between, while the writer thread runs or is
 * held back (so that many writes are pending). */
TEST(reads_and_the_file_match_a_model)
{
	struct wal w;
	long cursor = 32, frames = 0;
	int held = 0, steps = 30000;

	rng_state = getenv("WALBUF_SEED") != NULL ? strtoull(getenv("WALBUF_SEED"), NULL, 10)
						  : (uint64_t)time(NULL) * 2654435761u + 1;
	printf("# seed %llu\n", (unsigned long long)rng_state);
	memset(&model, 0, sizeof model);
	CHECK_INT(wal_open(&w, "model.db"), 0);
	CHECK_INT(model_write(&w, 32, 0), SQLITE_OK);
	for (int step = 0; step < steps; step++) {
		uint32_t op = rng() % 100;
		long off;
		int amt, rc = SQLITE_OK;

		if (op < 35) { /* the next frame */
			if (cursor + FRAME > MODEL_BYTES - FRAME || rng() % 400 == 0) {
				cursor = 32; /* a WAL restart */
				rc = model_write(&w, 32, 0);
			}
			if (rc == SQLITE_OK)
				rc = model_write(&w, FRAME_HDR, cursor);
			if (rc == SQLITE_OK)
				rc = model_write(&w, PAGE, cursor + FRAME_HDR);
			cursor += FRAME;
			frames++;
		} else if (op < 45) { /* a frame rewritten */
			off = 32 + (long)(rng() % (uint32_t)(cursor / FRAME + 1)) * FRAME;
			rc = rng() % 2 ? model_write(&w, FRAME_HDR, off)
				       : model_write(&w, PAGE, off + FRAME_HDR);
		} else if (op < 51) { /* anything, anywhere */
			amt = 1 + (int)(rng() % (2 * PAGE + 100));
			off = (long)(rng() % (uint32_t)(MODEL_BYTES - amt));
			rc = model_write(&w, amt, off);
		} else if (op < 52) { /* cut, as a TRUNCATE checkpoint or a size limit does */
			off = rng() % 2 ? 0 : (long)(rng() % (uint32_t)(model.end + 1));
			rc = model_truncate(&w, off);
			if (rc == SQLITE_OK && off == 0) {
				cursor = 32;
				rc = model_write(&w, 32, 0);
			}
		} else if (op < 70) { /* a page, a header, or a frame read */
			off = 32 + (long)(rng() % (uint32_t)(cursor / FRAME + 2)) * FRAME;
			switch (rng() % 3) {
			case 0:
				rc = model_check_read(&w, PAGE, off + FRAME_HDR);
				break;
			case 1:
				rc = model_check_read(&w, FRAME_HDR, off);
				break;
			default:
				rc = model_check_read(&w, FRAME, off);
			}
		} else if (op < 90) { /* any range */
			amt = 1 + (int)(rng() % (2 * PAGE + 100));
			off = (long)(rng() % (uint32_t)(model.end + 2 * PAGE));
			rc = model_check_read(&w, amt, off);
		} else if (op < 97) { /* hold back, let some or all through */
			held = !held || rng() % 2;
			walbuf_hold_writes(held ? (long)(rng() % 4) * (long)(rng() % 20) : -1);
		} else if (op < 98) {
			if (wal_size(&w) != model.end) {
				printf("# step %d: size %ld, expected %ld\n", step, wal_size(&w),
				       model.end);
				rc = -5;
			}
		} else if (!held) {
			rc = wal_sync(&w);
		}
		if (rc != SQLITE_OK) {
			walbuf_hold_writes(-1);
			wal_close(&w);
			printf("# step %d (op %u): %d\n", step, op, rc);
			CHECK(0);
		}
	}
	walbuf_hold_writes(-1);
	printf("# %ld frames, %ld bytes\n", frames, model.end);
	CHECK_INT(wal_sync(&w), SQLITE_OK);
	CHECK_INT(walbuf_pending(), 0);
	CHECK(file_matches(w.path, model.bytes, model.end));
	wal_close(&w);
}

/* Newest wins, whatever overlaps what: writes over part of another, the
 * same write again, reads across them. */
TEST(reads_see_the_newest_bytes)
{
	struct wal w;

	memset(&model, 0, sizeof model);
	rng_state = 12345;
	CHECK_INT(wal_open(&w, "newest.db"), 0);
	walbuf_hold_writes(0);
	/* Regular writes only: the index answers. */
	CHECK_INT(model_write(&w, 32, 0), SQLITE_OK);
	for (long off = 32; off < 32 + 8 * FRAME; off += FRAME) {
		CHECK_INT(model_write(&w, FRAME_HDR, off), SQLITE_OK);
		CHECK_INT(model_write(&w, PAGE, off + FRAME_HDR), SQLITE_OK);
	}
	CHECK_INT(model_write(&w, PAGE, 32 + 2 * FRAME + FRAME_HDR), SQLITE_OK);
	CHECK_INT(model_write(&w, PAGE, 32 + 2 * FRAME + FRAME_HDR), SQLITE_OK);
	CHECK_INT(model_check_read(&w, PAGE, 32 + 2 * FRAME + FRAME_HDR), 0);
	CHECK_INT(model_check_read(&w, FRAME, 32 + 2 * FRAME), 0);
	CHECK_INT(model_check_read(&w, 3 * FRAME, 32 + FRAME), 0);
	CHECK_INT(model_check_read(&w, 8, 32 + 3 * FRAME + 16), 0);    /* inside one */
	CHECK_INT(model_check_read(&w, 2 * FRAME, 32 + 7 * FRAME), 0); /* past the end */
	CHECK_INT(model_check_read(&w, 100, 32 + 9 * FRAME), 0);
	/* A write over part of a page, then the page again, then part of it
	 * again, and one across a page's edge. */
	CHECK_INT(model_write(&w, 100, 32 + 4 * FRAME + 1000), SQLITE_OK);
	CHECK_INT(model_check_read(&w, PAGE, 32 + 4 * FRAME + FRAME_HDR), 0);
	CHECK_INT(model_write(&w, PAGE, 32 + 4 * FRAME + FRAME_HDR), SQLITE_OK);
	CHECK_INT(model_check_read(&w, PAGE, 32 + 4 * FRAME + FRAME_HDR), 0);
	CHECK_INT(model_write(&w, 10, 32 + 4 * FRAME + 2000), SQLITE_OK);
	CHECK_INT(model_write(&w, 300, 32 + 5 * FRAME - 150), SQLITE_OK);
	CHECK_INT(model_write(&w, PAGE, 32 + 4 * FRAME + FRAME_HDR), SQLITE_OK);
	for (long off = 0; off < 32 + 8 * FRAME; off += 1000) {
		CHECK_INT(model_check_read(&w, PAGE, off), 0);
		CHECK_INT(model_check_read(&w, FRAME_HDR, off + 3), 0);
	}
	CHECK_INT(model_check_read(&w, 2 * FRAME, 32 + 4 * FRAME), 0);
	/* Written out, while read. */
	walbuf_hold_writes(-1);
	for (int i = 0; i < 200; i++)
		CHECK_INT(model_check_read(&w, FRAME, 32 + (i % 8) * FRAME), 0);
	CHECK_INT(wal_sync(&w), SQLITE_OK);
	CHECK_INT(wal_size(&w), model.end);
	CHECK(file_matches(w.path, model.bytes, model.end));
	wal_close(&w);
}

/* A cut waits for nothing: it is queued after the writes pending, which
 * are written first, and reads and the size see it at once. */
TEST(truncation_queued_behind_pending_writes)
{
	static unsigned char want[32];
	unsigned char buf[PAGE];
	struct stat st;
	struct wal w;

	rng_state = 777;
	memset(&model, 0, sizeof model);
	CHECK_INT(wal_open(&w, "cut.db"), 0);
	walbuf_hold_writes(0);
	CHECK_INT(model_write(&w, PAGE, 0), SQLITE_OK);
	CHECK_INT(model_write(&w, PAGE, PAGE), SQLITE_OK);
	CHECK_INT(model_truncate(&w, PAGE), SQLITE_OK);
	CHECK_INT(wal_size(&w), PAGE);
	CHECK_INT(model_check_read(&w, PAGE, 0), 0);
	CHECK_INT(model_check_read(&w, PAGE, PAGE), 0); /* cut: zeros, short */
	CHECK_INT(model_check_read(&w, 100, PAGE - 50), 0);
	/* Past a hole, as a file reads. */
	CHECK_INT(model_write(&w, PAGE, 2 * PAGE), SQLITE_OK);
	CHECK_INT(wal_size(&w), 3 * PAGE);
	memset(buf, 0xa5, sizeof buf);
	CHECK_INT(wal_read(&w, buf, PAGE, PAGE), SQLITE_OK);
	CHECK(buf[0] == 0 && memcmp(buf, buf + 1, PAGE - 1) == 0);
	CHECK_INT(model_check_read(&w, PAGE, 2 * PAGE), 0);
	/* Emptied and started over, as when a TRUNCATE checkpoint ends. */
	CHECK_INT(model_truncate(&w, 0), SQLITE_OK);
	CHECK_INT(model_write(&w, 32, 0), SQLITE_OK);
	CHECK_INT(wal_size(&w), 32);
	CHECK_INT(model_check_read(&w, 32, 0), 0);
	CHECK_INT(model_check_read(&w, PAGE, 32), 0);
	CHECK_INT(model_check_read(&w, PAGE, 2 * PAGE), 0);
	/* None of it in the file yet, all of it once let through. */
	CHECK_INT(stat(w.path, &st), 0);
	CHECK_INT(st.st_size, 0);
	walbuf_hold_writes(-1);
	CHECK_INT(wal_sync(&w), SQLITE_OK);
	CHECK_INT(walbuf_pending(), 0);
	memcpy(want, model.bytes, sizeof want);
	CHECK(file_matches(w.path, want, 32));
	CHECK_INT(wal_size(&w), 32);
	wal_close(&w);
}

/* Waits until bytes of writes are pending, at most 5 s. */
static int pending_becomes(size_t bytes)
{
	for (int i = 0; i < 5000 && walbuf_pending() != bytes; i++)
		usleep(1000);
	return walbuf_pending() == bytes;
}

/* Waits until fewer than bytes of writes are pending, at most 5 s. */
static int pending_below(size_t bytes)
{
	for (int i = 0; i < 5000 && walbuf_pending() >= bytes; i++)
		usleep(1000);
	return walbuf_pending() < bytes;
}

/* A transaction's frames go to the file once its commit frame is queued,
 * not frame by frame (the thread woke at every frame before); past a run's
 * worth (1 MiB) pending, they go without waiting for the commit. */
TEST(frames_wait_for_their_commit)
{
	static unsigned char head[32], page[PAGE];
	unsigned char hdr[FRAME_HDR] = { 0 };
	struct wal w;
	long off = 32;

	CHECK_INT(wal_open(&w, "commit.db"), 0);
	CHECK_INT(wal_write(&w, head, sizeof head, 0), SQLITE_OK);
	for (int i = 1; i <= 3; i++, off += FRAME) {
		hdr[3] = (unsigned char)i; /* its page; bytes 4-7 zero: no commit */
		CHECK_INT(wal_write(&w, hdr, FRAME_HDR, off), SQLITE_OK);
		CHECK_INT(wal_write(&w, page, PAGE, off + FRAME_HDR), SQLITE_OK);
	}
	usleep(100 * 1000);
	CHECK_INT(walbuf_pending(), sizeof head + 3 * FRAME);
	hdr[3] = 4;
	hdr[7] = 4; /* the database's pages after the commit: a commit frame */
	CHECK_INT(wal_write(&w, hdr, FRAME_HDR, off), SQLITE_OK);
	CHECK_INT(wal_write(&w, page, PAGE, off + FRAME_HDR), SQLITE_OK);
	CHECK(pending_becomes(0));
	CHECK_INT(wal_size(&w), off + FRAME);
	hdr[7] = 0;
	for (off += FRAME; off < 32 + 300L * FRAME; off += FRAME) {
		CHECK_INT(wal_write(&w, hdr, FRAME_HDR, off), SQLITE_OK);
		CHECK_INT(wal_write(&w, page, PAGE, off + FRAME_HDR), SQLITE_OK);
	}
	CHECK(pending_below(1u << 20));
	CHECK_INT(wal_sync(&w), SQLITE_OK);
	CHECK_INT(walbuf_pending(), 0);
	CHECK_INT(wal_size(&w), off);
	wal_close(&w);
}

/* Older writes written out, newer ones still pending: a write over part
 * of another, then the same two again, then the first two written. */
TEST(reads_see_the_newest_bytes_when_older_are_written)
{
	struct wal w;

	memset(&model, 0, sizeof model);
	rng_state = 99;
	CHECK_INT(wal_open(&w, "older.db"), 0);
	walbuf_hold_writes(0);
	CHECK_INT(model_write(&w, 100, 1000), SQLITE_OK);
	CHECK_INT(model_write(&w, 100, 1050), SQLITE_OK);
	CHECK_INT(model_write(&w, 100, 1000), SQLITE_OK);
	CHECK_INT(model_write(&w, 100, 1050), SQLITE_OK);
	CHECK_INT(model_check_read(&w, 100, 1000), 0);
	walbuf_hold_writes(2);
	CHECK(pending_becomes(200));
	CHECK_INT(model_check_read(&w, 100, 1000), 0);
	CHECK_INT(model_check_read(&w, 150, 1000), 0);
	CHECK_INT(model_check_read(&w, 100, 1050), 0);
	walbuf_hold_writes(-1);
	CHECK_INT(wal_sync(&w), SQLITE_OK);
	/* Two halves, the whole over them, a half again: the last is not
	 * the same as the whole, though both start where a half does. */
	walbuf_hold_writes(0);
	CHECK_INT(model_write(&w, 50, 2000), SQLITE_OK);
	CHECK_INT(model_write(&w, 50, 2050), SQLITE_OK);
	CHECK_INT(model_write(&w, 100, 2000), SQLITE_OK);
	CHECK_INT(model_write(&w, 50, 2050), SQLITE_OK);
	CHECK_INT(model_check_read(&w, 100, 2000), 0);
	walbuf_hold_writes(-1);
	CHECK_INT(wal_sync(&w), SQLITE_OK);
	CHECK(file_matches(w.path, model.bytes, model.end));
	wal_close(&w);
}

struct syncer {
	struct wal *w;
	int rc;
	volatile int done;
};

static void *syncer_main(void *arg)
{
	struct syncer *y = arg;

	y->rc = wal_sync(y->w);
	y->done = 1;
	return NULL;
}

/* A sync returns only once every write made before it is in the file,
 * however the writes were split into runs. */
TEST(sync_waits_for_every_write)
{
	struct syncer y = { 0 };
	struct wal w;
	pthread_t t;

	memset(&model, 0, sizeof model);
	rng_state = 31337;
	CHECK_INT(wal_open(&w, "sync.db"), 0);
	walbuf_hold_writes(0);
	CHECK_INT(model_write(&w, FRAME_HDR, 32), SQLITE_OK);
	CHECK_INT(model_write(&w, PAGE, 32 + FRAME_HDR), SQLITE_OK);
	CHECK_INT(model_write(&w, 32, 0), SQLITE_OK); /* a run of its own */
	walbuf_hold_writes(2);
	CHECK(pending_becomes(32));
	y.w = &w;
	CHECK(pthread_create(&t, NULL, syncer_main, &y) == 0);
	usleep(100 * 1000);
	if (y.done) {
		walbuf_hold_writes(-1);
		pthread_join(t, NULL);
		CHECK(!"the sync returned with a write pending");
	}
	walbuf_hold_writes(-1);
	pthread_join(t, NULL);
	CHECK_INT(y.rc, SQLITE_OK);
	CHECK_INT(walbuf_pending(), 0);
	CHECK(file_matches(w.path, model.bytes, model.end));
	wal_close(&w);
}

/* Blocks come back to the pool only once in the file: pages written while
 * others wait (more than the pool keeps) read back right, before and after
 * they are written; and the pool empties when no WAL is open. Under
 * AddressSanitizer a pooled block is poisoned, so any use of one would be
 * caught. */
TEST(pooled_blocks_are_never_pending)
{
	struct wal w;
	size_t pooled;

	memset(&model, 0, sizeof model);
	rng_state = 777;
	CHECK_INT(wal_open(&w, "pool.db"), 0);
	for (int round = 0; round < 4; round++) {
		walbuf_hold_writes(round % 2 == 0 ? 0 : -1);
		for (long off = 32; off < 32 + 200 * FRAME; off += FRAME) {
			CHECK_INT(model_write(&w, FRAME_HDR, off), SQLITE_OK);
			CHECK_INT(model_write(&w, PAGE, off + FRAME_HDR), SQLITE_OK);
		}
		for (long off = 32; off < 32 + 200 * FRAME; off += 7 * FRAME)
			CHECK_INT(model_check_read(&w, FRAME, off), 0);
		walbuf_hold_writes(-1);
		CHECK_INT(wal_sync(&w), SQLITE_OK);
		pooled = walbuf_pooled();
		CHECK(pooled > 0 && pooled <= 512 + 256);
		for (long off = 32; off < 32 + 200 * FRAME; off += 3 * FRAME)
			CHECK_INT(model_check_read(&w, FRAME, off), 0);
	}
	CHECK(file_matches(w.path, model.bytes, model.end));
	wal_close(&w);
	CHECK_INT(walbuf_pooled(), 0);
}

/* A file size limit cuts one write of a run short and refuses the rest:
 * from then on every write, read and sync of that WAL fails, and nothing
 * queued after the failed write reaches the file, not even a write before
 * the limit. */
TEST(a_failed_write_is_sticky)
{
	static unsigned char head[32];
	struct rlimit old, lim;
	struct wal w;
	unsigned char buf[64];
	int rc;

	memset(&model, 0, sizeof model);
	rng_state = 4242;
	CHECK_INT(wal_open(&w, "fail.db"), 0);
	walbuf_hold_writes(0);
	CHECK_INT(model_write(&w, 32, 0), SQLITE_OK);
	memcpy(head, model.bytes, sizeof head);
	for (long off = 32; off < 32 + 40 * FRAME; off += FRAME) {
		CHECK_INT(model_write(&w, FRAME_HDR, off), SQLITE_OK);
		CHECK_INT(model_write(&w, PAGE, off + FRAME_HDR), SQLITE_OK);
	}
	CHECK_INT(model_write(&w, 32, 0), SQLITE_OK); /* queued after the failure */
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 100000; /* inside the 25th page */
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	walbuf_hold_writes(-1);
	rc = wal_sync(&w);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(rc, SQLITE_IOERR_FSYNC);
	CHECK_INT(walbuf_pending(), 0);
	CHECK_INT(wal_write(&w, buf, 24, 32 + 40 * FRAME), SQLITE_IOERR_WRITE);
	CHECK_INT(wal_read(&w, buf, 24, 32), SQLITE_IOERR_READ);
	CHECK_INT(wal_sync(&w), SQLITE_IOERR_FSYNC);
	memcpy(model.bytes, head, sizeof head);
	CHECK(file_matches(w.path, model.bytes, 100000));
	wal_close(&w);
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(readers_see_every_commit);
	RUN(kill_leaves_a_whole_prefix);
	RUN(reads_and_the_file_match_a_model);
	RUN(reads_see_the_newest_bytes);
	RUN(reads_see_the_newest_bytes_when_older_are_written);
	RUN(frames_wait_for_their_commit);
	RUN(sync_waits_for_every_write);
	RUN(truncation_queued_behind_pending_writes);
	RUN(pooled_blocks_are_never_pending);
	RUN(a_failed_write_is_sticky);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
