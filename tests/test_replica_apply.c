/* Unit tests of raft/replica_apply: the commands of one loop turn go to
 * libraft in few raft_apply calls, on three real replicas (plain TCP, one
 * loop, helpers in tests/peer_harness.h). Each command is answered once,
 * with its own entry's result; a barrier comes after the commands before
 * it; losing the leadership or closing answers every command still open,
 * and nothing acknowledged is missing from the next leader. */
#include "raft/codec.h"
#include "tests/peer_harness.h"
#include "tests/unit.h"

#define N_CMDS 150

/* One command and what its callback saw. */
struct sent {
	struct replica_req req;
	char key_id[64];
	unsigned calls;
	int status;
	int result_status;   /* store result: ESC_OK, ESC_ECONFLICT */
	bool created;
	uint64_t index;
};

static struct sent sent[N_CMDS];
static unsigned answered;

static void sent_cb(struct replica_req *req, int status, const struct store_result *result)
{
	struct sent *s = req->data;

	s->calls++;
	s->status = status;
	if (result != NULL) {
		s->result_status = result->status;
		s->created = result->created;
		s->index = result->index;
	}
	answered++;
}

/* Escrow of key n with a password of byte fill. */
static void escrow_cmd(struct cmd *c, unsigned n, int fill)
{
	memset(c, 0, sizeof *c);
	c->type = CMD_ESCROW;
	c->node_id = 1;
	c->at_ms = 1795000000000 + n;
	strcpy(c->actor, "insecure");
	strcpy(c->role, "agent");
	snprintf(c->key_id, sizeof c->key_id, "%08X-0000-0000-0000-000000000000", n);
	strcpy(c->volume_id, "vol");
	strcpy(c->volume_type, "os");
	snprintf(c->machine, sizeof c->machine, "pc-%u", n % 5);
	c->sealed_len = 40;
	memset(c->sealed, fill, c->sealed_len);
	memset(c->pw_mac, fill, sizeof c->pw_mac);
}

static struct member *ready_leader(void)
{
	for (size_t i = 0; i < 3; i++)
		if (members[i].inited && !members[i].closed && replica_ready(&members[i].r))
			return &members[i];
	return NULL;
}

/* Three plain replicas with a ready leader, or NULL. */
static struct member *start_three(void)
{
	char addrs[3][32], errmsg[ESC_ERRMSG_SIZE];
	const char *ap[3];
	unsigned ids[3] = { 1, 2, 3 };
	struct member *leader = NULL;

	for (unsigned i = 0; i < 3; i++) {
		free_addr(addrs[i], sizeof addrs[i]);
		ap[i] = addrs[i];
	}
	for (unsigned i = 0; i < 3; i++) {
		if (member_init(i + 1, addrs[i], NULL, errmsg) != ESC_OK ||
		    replica_bootstrap(&members[i].r, 3, ids, ap, errmsg) != ESC_OK ||
		    replica_start(&members[i].r, errmsg) != ESC_OK) {
			printf("# member %u: %s\n", i + 1, errmsg);
			return NULL;
		}
	}
	RUN_UNTIL((leader = ready_leader()) != NULL, 10000);
	return leader;
}

/* Submits commands [from, to) on r: key n, except that every odd n
 * escrows key n - 1 again with another password (a conflict). */
static unsigned submit(struct replica *r, unsigned from, unsigned to)
{
	unsigned ok = 0;
	struct cmd c;

	for (unsigned n = from; n < to; n++) {
		bool conflict = n % 2 == 1;

		escrow_cmd(&c, conflict ? n - 1 : n, conflict ? 2 : 1);
		memset(&sent[n], 0, sizeof sent[n]);
		snprintf(sent[n].key_id, sizeof sent[n].key_id, "%s", c.key_id);
		sent[n].req.data = &sent[n];
		if (replica_apply(r, &sent[n].req, &c, sent_cb) == ESC_OK)
			ok++;
	}
	return ok;
}

TEST(one_turns_commands_go_in_few_batches_each_with_its_own_result)
{
	struct member *leader = start_three();
	char errmsg[ESC_ERRMSG_SIZE], digest[3][65];
	struct applyq *q;
	uint64_t batches;

	CHECK(leader != NULL);
	q = &leader->r.applyq;
	batches = q->batches;
	answered = 0;
	CHECK_INT(submit(&leader->r, 0, N_CMDS), N_CMDS);
	CHECK_INT(answered, 0); /* never from inside replica_apply */
	RUN_UNTIL(answered == N_CMDS, 10000);
	CHECK_INT(answered, N_CMDS);
	/* 150 commands of one turn: 64 + 64 + 22. */
	CHECK_INT(q->batches - batches, 3);
	CHECK_INT(q->batch_max, APPLYQ_BATCH_MAX);
	for (unsigned n = 0; n < N_CMDS; n++) {
		CHECK_INT(sent[n].calls, 1);
		CHECK_INT(sent[n].status, ESC_OK);
		/* Each result is its own entry's: the odd ones conflict. */
		CHECK_INT(sent[n].result_status, n % 2 == 1 ? ESC_ECONFLICT : ESC_OK);
		CHECK(sent[n].created == (n % 2 == 0));
		if (n > 0)
			CHECK_INT(sent[n].index, sent[n - 1].index + 1);
	}
	RUN_UNTIL(store_applied_index(members[0].store) >= sent[N_CMDS - 1].index &&
			  store_applied_index(members[1].store) >= sent[N_CMDS - 1].index &&
			  store_applied_index(members[2].store) >= sent[N_CMDS - 1].index,
		  5000);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_INT(store_digest(members[i].store, digest[i], errmsg), ESC_OK);
		CHECK_STR(digest[i], digest[0]);
	}
}

static bool barrier_done;
static unsigned answered_at_barrier;

static void barrier_cb(struct replica_req *req, int status)
{
	(void)req;
	barrier_done = status == ESC_OK;
	answered_at_barrier = answered;
}

TEST(a_barrier_comes_after_the_commands_before_it)
{
	struct member *leader = start_three();
	struct replica_req breq;

	CHECK(leader != NULL);
	answered = 0;
	barrier_done = false;
	CHECK_INT(submit(&leader->r, 0, 20), 20);
	CHECK_INT(replica_barrier(&leader->r, &breq, barrier_cb), ESC_OK);
	RUN_UNTIL(barrier_done, 10000);
	CHECK(barrier_done);
	CHECK_INT(answered_at_barrier, 20);
}

TEST(losing_the_leadership_answers_every_command_once)
{
	struct member *leader = start_three(), *next = NULL;
	char errmsg[ESC_ERRMSG_SIZE];
	unsigned ok = 0, lost = 0;

	CHECK(leader != NULL);
	answered = 0;
	CHECK_INT(submit(&leader->r, 0, 100), 100);
	RUN_UNTIL(answered > 0, 5000); /* some applied, the rest in flight */
	CHECK_INT(submit(&leader->r, 100, N_CMDS), N_CMDS - 100); /* queued */
	CHECK_INT(replica_transfer(&leader->r, 0), ESC_OK);
	RUN_UNTIL(answered == N_CMDS, 10000);
	CHECK_INT(answered, N_CMDS);
	for (unsigned n = 0; n < N_CMDS; n++) {
		CHECK_INT(sent[n].calls, 1);
		CHECK(sent[n].status == ESC_OK || sent[n].status == ESC_ENOLEADER);
		if (sent[n].status == ESC_OK)
			ok++;
		else
			lost++;
	}
	CHECK(ok > 0);
	CHECK(lost > 0);
	RUN_UNTIL((next = ready_leader()) != NULL && next != leader, 10000);
	CHECK(next != NULL && next != leader);
	/* Every acknowledged escrow is on the next leader. */
	for (unsigned n = 0; n < N_CMDS; n += 2) {
		struct store_key k;

		if (sent[n].status != ESC_OK)
			continue;
		CHECK_INT(store_key_read(next->store, sent[n].key_id, &k, errmsg), ESC_OK);
	}
}

TEST(close_answers_queued_commands_with_shutdown)
{
	struct member *leader = start_three();

	CHECK(leader != NULL);
	answered = 0;
	CHECK_INT(submit(&leader->r, 0, 10), 10);
	harness_teardown(); /* closes every replica in the same turn */
	CHECK_INT(answered, 10);
	for (unsigned n = 0; n < 10; n++) {
		CHECK_INT(sent[n].calls, 1);
		CHECK_INT(sent[n].status, ESC_ESHUTDOWN);
	}
}

TEST(the_loop_closes_with_nothing_left)
{
	CHECK(harness_loop_closes());
}

int main(void)
{
	if (!harness_start("test_replica_apply"))
		return 1;
	RUN_T(one_turns_commands_go_in_few_batches_each_with_its_own_result);
	RUN_T(a_barrier_comes_after_the_commands_before_it);
	RUN_T(losing_the_leadership_answers_every_command_once);
	RUN_T(close_answers_queued_commands_with_shutdown);
	RUN(the_loop_closes_with_nothing_left);
	unit_remove_tree(dir);
	return unit_done();
}
