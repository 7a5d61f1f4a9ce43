/* raft/storecommit.c on a real loop and store: a commit comes at once when
 * the last is STORECOMMIT_MS old, else from a timer within that time; what
 * is not committed yet is invisible to another connection but not lost;
 * a failed commit stops the node through the fatal callback. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "lib/error.h"
#include "raft/storecommit.h"
#include "store/store_internal.h"
#include "tests/store_fixture.h"
#include "tests/unit.h"

static char fatal_msg[ESC_ERRMSG_SIZE + 128];
static unsigned fatal_calls;

static void fatal_cb(void *data, const char *errmsg)
{
	(void)data;
	fatal_calls++;
	snprintf(fatal_msg, sizeof fatal_msg, "%s", errmsg);
}

/* Applies an escrow of key n as entry n (not flushed). */
static int apply_escrow(struct store *s, unsigned n)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct store_result r;
	struct cmd c;

	cmd_base(&c, CMD_ESCROW, T0 + n);
	snprintf(c.key_id, sizeof c.key_id, "%08X-0000-1111-2222-333344445555", n);
	snprintf(c.volume_id, sizeof c.volume_id, "vol-%u", n);
	snprintf(c.volume_type, sizeof c.volume_type, "os");
	snprintf(c.machine, sizeof c.machine, "pc-%u", n);
	snprintf(c.user, sizeof c.user, "CORP\\alice");
	c.sealed_len = 40;
	memset(c.sealed, 0x11, c.sealed_len);
	memset(c.pw_mac, 0x22, sizeof c.pw_mac);
	if (store_apply(s, n, &c, &r, errmsg) != ESC_OK) {
		printf("# store_apply %u: %s\n", n, errmsg);
		return -1;
	}
	return 0;
}

/* Keys another connection of this process sees in the database at path. */
static int keys_seen(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM keys", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Turns the loop until the store has made `commits` commits; false after
 * 2 s (a timer of STORECOMMIT_MS that never fired). */
static bool run_until(uv_loop_t *loop, struct store *s, uint64_t commits)
{
	for (int i = 0; i < 2000 && store_commits(s) < commits; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	return store_commits(s) >= commits;
}

static void wait_past_interval(uv_loop_t *loop)
{
	usleep((STORECOMMIT_MS + 1) * 1000);
	uv_update_time(loop);
}

static void closed_cb(uv_handle_t *h)
{
	*(bool *)h->data = true;
}

TEST(a_commit_comes_at_once_or_from_the_timer_within_the_interval)
{
	char path[128];
	struct storecommit c;
	struct store *s = store_fresh();
	uv_loop_t loop;
	bool closed = false;
	uint64_t base;

	CHECK(s != NULL);
	last_path(path, sizeof path);
	CHECK_INT(uv_loop_init(&loop), 0);
	storecommit_init(&c, &loop, s, fatal_cb, NULL);
	base = store_commits(s);
	/* Nothing applied: nothing to commit, no timer. */
	storecommit_turn(&c);
	CHECK_INT(store_commits(s), base);
	CHECK(!uv_is_active((uv_handle_t *)&c.timer));
	/* The first commit is due at once. */
	CHECK_INT(apply_escrow(s, 1), 0);
	storecommit_turn(&c);
	CHECK_INT(store_commits(s), base + 1);
	CHECK_INT(store_unflushed(s), 0);
	CHECK_INT(keys_seen(path), 1);
	/* Two more within the interval: kept open, not lost, and invisible
	 * to another connection until the timer commits them. */
	CHECK_INT(apply_escrow(s, 2), 0);
	storecommit_turn(&c);
	CHECK_INT(apply_escrow(s, 3), 0);
	storecommit_turn(&c);
	CHECK_INT(store_commits(s), base + 1);
	CHECK_INT(store_unflushed(s), 2);
	CHECK(uv_is_active((uv_handle_t *)&c.timer));
	CHECK_INT(keys_seen(path), 1);
	CHECK(run_until(&loop, s, base + 2));
	CHECK_INT(store_commits(s), base + 2);
	CHECK_INT(store_unflushed(s), 0);
	CHECK_INT(keys_seen(path), 3);
	/* Past the interval, an apply is committed at the turn it happens. */
	wait_past_interval(&loop);
	CHECK_INT(apply_escrow(s, 4), 0);
	storecommit_turn(&c);
	CHECK_INT(store_commits(s), base + 3);
	CHECK(!uv_is_active((uv_handle_t *)&c.timer));
	CHECK_INT(fatal_calls, 0);
	storecommit_close(&c, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(closed);
	CHECK_INT(uv_loop_close(&loop), 0);
	store_close(s);
}

TEST(entries_left_open_at_close_are_committed_by_the_stores_close)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE];
	struct storecommit c;
	struct store *s = store_fresh();
	uv_loop_t loop;
	bool closed = false;

	CHECK(s != NULL);
	last_path(path, sizeof path);
	CHECK_INT(uv_loop_init(&loop), 0);
	storecommit_init(&c, &loop, s, fatal_cb, NULL);
	CHECK_INT(apply_escrow(s, 1), 0);
	storecommit_turn(&c);
	CHECK_INT(apply_escrow(s, 2), 0);
	storecommit_turn(&c);
	CHECK(uv_is_active((uv_handle_t *)&c.timer));
	storecommit_close(&c, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(closed);
	CHECK_INT(store_unflushed(s), 1);
	CHECK_INT(uv_loop_close(&loop), 0);
	store_close(s);
	CHECK_INT(keys_seen(path), 2);
	s = NULL;
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK_INT(store_applied_index(s), 2);
	store_close(s);
}

TEST(a_failed_commit_stops_the_node)
{
	struct storecommit c;
	struct store *s = store_fresh();
	uv_loop_t loop;
	bool closed = false;

	CHECK(s != NULL);
	CHECK_INT(uv_loop_init(&loop), 0);
	storecommit_init(&c, &loop, s, fatal_cb, NULL);
	fatal_calls = 0;
	CHECK_INT(apply_escrow(s, 1), 0);
	/* What a failed commit leaves (store/apply.c's batch_lost). */
	snprintf(s->lost, sizeof s->lost, "the disk went away");
	wait_past_interval(&loop);
	storecommit_turn(&c);
	CHECK_INT(fatal_calls, 1);
	CHECK(strstr(fatal_msg, "the disk went away") != NULL);
	CHECK(strstr(fatal_msg, "applied again at restart") != NULL);
	storecommit_close(&c, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
	store_close(s);
}

int main(void)
{
	if (!fixture_start("storecommit"))
		return 1;
	RUN(a_commit_comes_at_once_or_from_the_timer_within_the_interval);
	RUN(entries_left_open_at_close_are_committed_by_the_stores_close);
	RUN(a_failed_commit_stops_the_node);
	fixture_end();
	return unit_done();
}
