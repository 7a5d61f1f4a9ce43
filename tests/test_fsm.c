/* Cluster tests: our real FSM and store inside libraft's raft_fixture. */
#include <raft.h>
#include <raft/fixture.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raft/codec.h"
#include "raft/fsm.h"
#include "lib/byteorder.h"
#include "lib/error.h"
#include "store/store.h"
#include "tests/unit.h"

#define N_SERVERS 3

struct cluster {
	struct raft_fixture fixture;
	struct fsm fsms[N_SERVERS];
	struct store *stores[N_SERVERS];
	char dir[64];
	unsigned next_key;
};

/* A test that expects the FSM to stop sets expect_fatal; the calls are
 * counted and the last message kept. Any other call is a failure. */
static bool expect_fatal;
static unsigned fatal_calls;
static char fatal_msg[ESC_ERRMSG_SIZE + 128];

static void fatal_cb(struct fsm *f, const char *errmsg)
{
	printf("# fatal apply: %s\n", errmsg);
	if (!expect_fatal)
		abort();
	fatal_calls++;
	snprintf(fatal_msg, sizeof fatal_msg, "%s", errmsg);
}

static void cluster_setup(struct cluster *c, unsigned seed)
{
	struct raft_configuration conf;
	char errmsg[ESC_ERRMSG_SIZE], path[128];

	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "/tmp/escrow-fsm-XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		abort();
	/* 0.15 leaves f->n uninitialised: zero the fixture first. */
	memset(&c->fixture, 0, sizeof c->fixture);
	raft_fixture_initialize(&c->fixture);
	for (unsigned i = 0; i < N_SERVERS; i++) {
		snprintf(path, sizeof path, "%s/n%u.db", c->dir, i + 1);
		if (store_open(&c->stores[i], path, errmsg) != ESC_OK) {
			printf("# %s\n", errmsg);
			abort();
		}
		fsm_init(&c->fsms[i], c->stores[i], fatal_cb, false);
		if (raft_fixture_grow(&c->fixture, &c->fsms[i].raft_fsm) != 0)
			abort();
		struct raft *r = raft_fixture_get(&c->fixture, i);
		c->fsms[i].raft = r;
		/* Small numbers so that snapshots and InstallSnapshot happen. */
		raft_set_snapshot_threshold(r, 32);
		raft_set_snapshot_trailing(r, 8);
		raft_fixture_set_randomized_election_timeout(&c->fixture, i,
							     1000 + (seed * 7919 + i * 331) % 1000);
	}
	raft_fixture_configuration(&c->fixture, N_SERVERS, &conf);
	raft_fixture_bootstrap(&c->fixture, &conf);
	raft_configuration_close(&conf);
	raft_fixture_start(&c->fixture);
}

static void cluster_teardown(struct cluster *c)
{
	char cmd[128];

	raft_fixture_close(&c->fixture);
	for (unsigned i = 0; i < N_SERVERS; i++)
		store_close(c->stores[i]);
	snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", c->dir);
}

static struct raft *cluster_leader(struct cluster *c)
{
	unsigned i = raft_fixture_leader_index(&c->fixture);
	return i < N_SERVERS ? raft_fixture_get(&c->fixture, i) : NULL;
}

static void apply_free_cb(struct raft_apply *req, int status, void *result)
{
	free(req);
}

/* Escrows one more key through the leader, its byte 0 (the format version)
 * set to version (0: as the codec writes it); returns its entry index. */
static raft_index cluster_escrow_version(struct cluster *c, unsigned version)
{
	struct raft *leader = cluster_leader(c);
	struct raft_apply *req = calloc(1, sizeof *req);
	struct raft_buffer buf;
	struct cmd cmd;

	memset(&cmd, 0, sizeof cmd);
	cmd.type = CMD_ESCROW;
	cmd.node_id = (uint32_t)leader->id;
	cmd.at_ms = 1795000000000 + c->next_key;
	strcpy(cmd.actor, "insecure");
	strcpy(cmd.role, "agent");
	snprintf(cmd.key_id, sizeof cmd.key_id, "%08X-0000-0000-0000-000000000000", c->next_key);
	strcpy(cmd.volume_id, "vol");
	strcpy(cmd.volume_type, "os");
	snprintf(cmd.machine, sizeof cmd.machine, "pc-%u", c->next_key % 5);
	cmd.sealed_len = 40;
	memset(cmd.sealed, (int)c->next_key, cmd.sealed_len);
	memset(cmd.pw_mac, 1, sizeof cmd.pw_mac);
	c->next_key++;
	buf.len = codec_encoded_size(&cmd);
	buf.base = raft_malloc(buf.len);
	codec_encode(&cmd, buf.base, buf.len);
	if (version != 0)
		((uint8_t *)buf.base)[0] = (uint8_t)version;
	if (raft_apply(leader, req, &buf, 1, apply_free_cb) != 0) {
		raft_free(buf.base);
		free(req);
		return 0;
	}
	/* req is freed by its callback, which may run before this returns
	 * only in later steps: the index is read now. */
	return req->index;
}

static raft_index cluster_escrow(struct cluster *c)
{
	return cluster_escrow_version(c, 0);
}

static bool digests_equal(struct cluster *c, uint64_t *index)
{
	char first[65], other[65], errmsg[ESC_ERRMSG_SIZE];

	if (store_digest(c->stores[0], first, errmsg) != ESC_OK)
		return false;
	*index = store_applied_index(c->stores[0]);
	for (unsigned i = 1; i < N_SERVERS; i++) {
		if (store_digest(c->stores[i], other, errmsg) != ESC_OK)
			return false;
		if (strcmp(first, other) != 0 || store_applied_index(c->stores[i]) != *index)
			return false;
	}
	return true;
}

static void kill_leader_revive_for_seed(unsigned seed)
{
	struct cluster c;
	raft_index last = 0;
	unsigned leader;
	uint64_t index, keys, audit;
	char errmsg[ESC_ERRMSG_SIZE];

	printf("# seed %u\n", seed);
	cluster_setup(&c, seed);
	CHECK(raft_fixture_step_until_has_leader(&c.fixture, 10000));
	for (int i = 0; i < 50; i++)
		last = cluster_escrow(&c);
	CHECK(last > 0);
	CHECK(raft_fixture_step_until_applied(&c.fixture, N_SERVERS, last, 10000));

	/* The FSM derives each entry's index from last_applied + 1: the
	 * store's applied index must match libraft's on every node. */
	for (unsigned i = 0; i < N_SERVERS; i++)
		CHECK_INT(store_applied_index(c.stores[i]),
			  raft_fixture_get(&c.fixture, i)->last_applied);

	leader = raft_fixture_leader_index(&c.fixture);
	raft_fixture_kill(&c.fixture, leader);
	CHECK(raft_fixture_step_until_has_no_leader(&c.fixture, 10000));
	CHECK(raft_fixture_step_until_has_leader(&c.fixture, 10000));
	CHECK(raft_fixture_leader_index(&c.fixture) != leader);
	for (int i = 0; i < 100; i++)
		last = cluster_escrow(&c);
	CHECK(last > 0);
	/* 100 entries past a threshold of 32: the dead node is now behind the
	 * survivors' snapshots and catches up through InstallSnapshot. */
	CHECK(raft_fixture_step_until_applied(&c.fixture, (leader + 1) % N_SERVERS, last, 10000));
	/* Let the survivors' snapshots of the new entries reach their disks. */
	raft_fixture_step_until_elapsed(&c.fixture, 1000);
	CHECK(raft_fixture_get(&c.fixture, (leader + 1) % N_SERVERS)->log.snapshot.last_index >
	      raft_fixture_get(&c.fixture, leader)->last_applied);
	raft_fixture_revive(&c.fixture, leader);
	CHECK(raft_fixture_step_until_applied(&c.fixture, N_SERVERS, last, 20000));
	CHECK(digests_equal(&c, &index));
	CHECK(index >= last);
	/* The revived node was behind the survivors' snapshots: it loaded one. */
	CHECK(c.fsms[leader].restores >= 1);
	CHECK_INT(store_counts(c.stores[leader], &keys, &audit, errmsg), ESC_OK);
	CHECK_INT(keys, 150);
	cluster_teardown(&c);
}

TEST(kill_leader_revive_many_seeds)
{
	for (unsigned seed = 1; seed <= 5; seed++) {
		kill_leader_revive_for_seed(seed);
		if (unit_current_failed)
			return;
	}
}

TEST(corrupt_entry_is_a_no_op_everywhere)
{
	struct cluster c;
	struct raft_apply req;
	struct raft_buffer buf;
	uint64_t index;
	raft_index last;

	cluster_setup(&c, 99);
	CHECK(raft_fixture_step_until_has_leader(&c.fixture, 10000));
	buf.len = 16;
	buf.base = raft_malloc(buf.len);
	memset(buf.base, 0xAB, buf.len);
	/* Damaged, but of this build's version (one of a newer version stops
	 * the node: newer_entry_stops_every_node_unapplied). */
	((uint8_t *)buf.base)[0] = CODEC_VERSION;
	CHECK_INT(raft_apply(cluster_leader(&c), &req, &buf, 1, NULL), 0);
	last = cluster_escrow(&c);
	CHECK(raft_fixture_step_until_applied(&c.fixture, N_SERVERS, last, 10000));
	for (unsigned i = 0; i < N_SERVERS; i++)
		CHECK_INT(c.fsms[i].rejected, 1);
	CHECK(digests_equal(&c, &index));
	cluster_teardown(&c);
}

/* A later build's command stops every node: not applied, not skipped (the
 * entries after it wait), and it is met again at the next apply. */
TEST(newer_entry_stops_every_node_unapplied)
{
	struct cluster c;
	raft_index before, newer, after;
	uint64_t index;

	cluster_setup(&c, 98);
	CHECK(raft_fixture_step_until_has_leader(&c.fixture, 10000));
	before = cluster_escrow(&c);
	CHECK(raft_fixture_step_until_applied(&c.fixture, N_SERVERS, before, 10000));
	expect_fatal = true;
	fatal_calls = 0;
	newer = cluster_escrow_version(&c, CODEC_VERSION + 1);
	after = cluster_escrow(&c);
	CHECK(newer > before && after == newer + 1);
	raft_fixture_step_until_elapsed(&c.fixture, 3000);
	expect_fatal = false;
	CHECK(fatal_calls >= N_SERVERS);
	CHECK(strstr(fatal_msg, "upgrade this node") != NULL);
	CHECK(strstr(fatal_msg, "format version 3, newer than this node's 2") != NULL);
	for (unsigned i = 0; i < N_SERVERS; i++) {
		CHECK_INT(raft_fixture_get(&c.fixture, i)->last_applied, newer - 1);
		CHECK_INT(store_applied_index(c.stores[i]), newer - 1);
		CHECK_INT(c.fsms[i].rejected, 0);
	}
	CHECK(digests_equal(&c, &index));
	CHECK_INT(index, newer - 1);
	cluster_teardown(&c);
}

/* A snapshot buffer of c's node 0 in the given format version: version 1
 * holds the plain image (what older builds wrote), version 2 the packed one
 * the FSM takes itself, through rf (NULL: node 0's own FSM). */
static bool snapshot_of(struct cluster *c, uint32_t version, struct raft_fsm *rf,
			struct raft_buffer *out)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct raft_buffer *bufs = NULL;
	unsigned n = 0;
	uint64_t index;
	void *buf;
	size_t len;

	if (rf == NULL)
		rf = &c->fsms[0].raft_fsm;
	if (version == 1) {
		if (store_image(c->stores[0], raft_malloc, FSM_SNAPSHOT_HEADER_SIZE, &buf, &len,
				&index, errmsg) != ESC_OK)
			return false;
		/* The fixture's stores have no cluster id: its field stays 0. */
		memset(buf, 0, FSM_SNAPSHOT_HEADER_SIZE);
		memcpy(buf, FSM_SNAPSHOT_MAGIC, 8);
		byteorder_put_u32((uint8_t *)buf + 8, FSM_SNAPSHOT_VERSION_UNPACKED);
		byteorder_put_u64((uint8_t *)buf + 16, index);
		len -= FSM_SNAPSHOT_HEADER_SIZE;
		byteorder_put_u64((uint8_t *)buf + 24, len);
		out->base = buf;
		out->len = len + FSM_SNAPSHOT_HEADER_SIZE;
		return true;
	}
	if (rf->snapshot(rf, &bufs, &n) != 0)
		return false;
	/* An FSM made for libuv's worker (fsm_init's async) pins here and
	 * copies in snapshot_async, on its own lower-priority thread. */
	if (rf->snapshot_async != NULL && (n != 1 || rf->snapshot_async(rf, &bufs, &n) != 0))
		return false;
	if (n != 2)
		return false;
	out->len = bufs[0].len + bufs[1].len;
	out->base = raft_malloc(out->len);
	memcpy(out->base, bufs[0].base, bufs[0].len);
	memcpy((uint8_t *)out->base + bufs[0].len, bufs[1].base, bufs[1].len);
	rf->snapshot_finalize(rf, &bufs, &n);
	return true;
}

/* A fresh node restores buf (and takes it): its state is then want's, at
 * index last. */
static bool restores_as(struct cluster *c, const char *name, struct raft_buffer *buf,
			const char *want, raft_index last)
{
	char errmsg[ESC_ERRMSG_SIZE], path[128], have[65] = "";
	struct store *fresh = NULL;
	struct fsm f;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", c->dir, name);
	if (store_open(&fresh, path, errmsg) != ESC_OK)
		return false;
	fsm_init(&f, fresh, fatal_cb, false);
	ok = f.raft_fsm.restore(&f.raft_fsm, buf) == 0 && f.restores == 1 &&
	     store_digest(fresh, have, errmsg) == ESC_OK && strcmp(have, want) == 0 &&
	     store_applied_index(fresh) == last;
	store_close(fresh);
	return ok;
}

/* A node of this build loads the plain snapshots older builds took, and the
 * packed ones it takes; a damaged packed one is refused without stopping
 * the node, its state untouched. */
TEST(plain_and_packed_snapshots_restore)
{
	struct cluster c;
	struct raft_buffer v1, v2, v2async;
	struct store *fresh = NULL;
	struct fsm f, on_worker;
	char errmsg[ESC_ERRMSG_SIZE], path[128], want[65];
	raft_index last = 0;

	cluster_setup(&c, 11);
	CHECK(raft_fixture_step_until_has_leader(&c.fixture, 10000));
	for (int i = 0; i < 20; i++)
		last = cluster_escrow(&c);
	CHECK(raft_fixture_step_until_applied(&c.fixture, N_SERVERS, last, 10000));
	CHECK(snapshot_of(&c, 1, NULL, &v1));
	CHECK(snapshot_of(&c, 2, NULL, &v2));
	CHECK(v2.len < v1.len);
	fsm_init(&on_worker, c.stores[0], fatal_cb, true);
	on_worker.raft = c.fsms[0].raft;
	CHECK(snapshot_of(&c, 2, &on_worker.raft_fsm, &v2async));
	CHECK_INT(on_worker.snapshots, 1);
	CHECK_INT(store_digest(c.stores[0], want, errmsg), ESC_OK);

	snprintf(path, sizeof path, "%s/damaged.db", c.dir);
	CHECK_INT(store_open(&fresh, path, errmsg), ESC_OK);
	fsm_init(&f, fresh, fatal_cb, false);
	((uint8_t *)v2.base)[v2.len - 10] ^= 0x08;
	CHECK_INT(f.raft_fsm.restore(&f.raft_fsm, &v2), RAFT_CORRUPT);
	CHECK_INT(store_applied_index(fresh), 0);
	CHECK_INT(f.restores, 0);
	store_close(fresh);
	((uint8_t *)v2.base)[v2.len - 10] ^= 0x08;

	CHECK(restores_as(&c, "packed.db", &v2, want, last));
	CHECK(restores_as(&c, "packed-on-worker.db", &v2async, want, last));
	CHECK(restores_as(&c, "plain.db", &v1, want, last));
	cluster_teardown(&c);
}

/* A Raft snapshot of a later build's format stops the node, unloaded. */
TEST(newer_snapshot_stops_the_node)
{
	struct cluster c;
	struct raft_buffer buf;
	struct raft_fsm *rf;
	uint8_t *h;

	cluster_setup(&c, 97);
	buf.len = FSM_SNAPSHOT_HEADER_SIZE + 8;
	buf.base = raft_calloc(1, buf.len);
	CHECK(buf.base != NULL);
	h = buf.base;
	memcpy(h, FSM_SNAPSHOT_MAGIC, 8);
	h[8] = FSM_SNAPSHOT_VERSION + 1;
	h[16] = 42;
	h[24] = 8;
	expect_fatal = true;
	fatal_calls = 0;
	rf = &c.fsms[0].raft_fsm;
	CHECK_INT(rf->restore(rf, &buf), RAFT_CORRUPT);
	expect_fatal = false;
	raft_free(buf.base); /* a failed restore leaves it to the caller */
	CHECK_INT(fatal_calls, 1);
	CHECK_STR(fatal_msg, "snapshot at index 42 is of format version 3, newer than this "
			     "node's 2: upgrade this node; stopping without loading it");
	CHECK_INT(c.fsms[0].restores, 0);
	cluster_teardown(&c);
}

int main(void)
{
	RUN(kill_leader_revive_many_seeds);
	RUN(corrupt_entry_is_a_no_op_everywhere);
	RUN(newer_entry_stops_every_node_unapplied);
	RUN(newer_snapshot_stops_the_node);
	RUN(plain_and_packed_snapshots_restore);
	return unit_done();
}
