/* Unit tests of a key read applied twice (a request retried inside the
 * cluster): one audit entry, and of the unique read times that make the
 * second one recognisable (node/readstamp.c). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/error.h"
#include "node/readstamp.h"
#include "store/seal.h"
#include "store/store.h"
#include "tests/store_fixture.h"
#include "tests/unit.h"

static void escrow(struct store *s, uint64_t index, const char *key_id)
{
	struct store_result r;
	struct cmd c;
	size_t len = 0;

	cmd_base(&c, CMD_ESCROW, T0);
	snprintf(c.key_id, sizeof c.key_id, "%s", key_id);
	snprintf(c.volume_id, sizeof c.volume_id, "vol-%s", key_id);
	snprintf(c.volume_type, sizeof c.volume_type, "os");
	snprintf(c.machine, sizeof c.machine, "pc-01");
	seal_seal(&seal, key_id, (const uint8_t *)PW_1, strlen(PW_1), c.sealed, &len, NULL);
	c.sealed_len = (uint32_t)len;
	seal_mac(&seal, key_id, PW_1, c.pw_mac);
	apply(s, index, &c, &r);
}

static void read_cmd(struct cmd *c, uint32_t type, const char *what, int64_t at,
		     const char *actor)
{
	cmd_base(c, type, at);
	snprintf(c->actor, sizeof c->actor, "%s", actor);
	snprintf(c->role, sizeof c->role, "helpdesk");
	snprintf(c->reason, sizeof c->reason, "lost_pin");
	if (type == CMD_LOOKUP)
		snprintf(c->key_id, sizeof c->key_id, "%s", what);
	else
		snprintf(c->prefix, sizeof c->prefix, "%s", what);
}

static uint64_t audit_entries(struct store *s)
{
	uint64_t keys = 0, audit = 0;

	return store_counts(s, &keys, &audit, NULL) == ESC_OK ? audit : UINT64_MAX;
}

TEST(a_read_applied_twice_is_audited_once)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	escrow(s, 1, KEY_A);
	read_cmd(&c, CMD_LOOKUP, KEY_A, T0 + 1000, "helpdesk-bob");
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(r.duplicate, 0);
	CHECK_INT(audit_entries(s), 2);
	/* The same request again at a later index: the password, no entry. */
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 1);
	CHECK_STR(r.keys[0].key_id, KEY_A);
	CHECK_INT(r.duplicate, 1);
	CHECK_INT(r.audit_seq, 0);
	CHECK_INT(audit_entries(s), 2);
	/* Another time, node or actor is another read. */
	c.at_ms++;
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.duplicate, 0);
	c.node_id = 3;
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	snprintf(c.actor, sizeof c.actor, "helpdesk-eve");
	CHECK_INT(apply(s, 6, &c, &r), ESC_OK);
	CHECK_INT(audit_entries(s), 5);
	store_close(s);
}

TEST(a_prefix_read_applied_twice_is_audited_once)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	escrow(s, 1, KEY_A);
	escrow(s, 2, KEY_B);
	read_cmd(&c, CMD_LOOKUP_PREFIX, "0A1B2C3D", T0 + 1000, "helpdesk-bob");
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 2);
	CHECK_INT(audit_entries(s), 4);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 2);
	CHECK_INT(audit_entries(s), 4);
	/* A single-key read at that time of one of them was that read too. */
	read_cmd(&c, CMD_LOOKUP, KEY_B, T0 + 1000, "helpdesk-bob");
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK_INT(r.duplicate, 1);
	CHECK_INT(audit_entries(s), 4);
	store_close(s);
}

TEST(a_miss_is_not_a_read)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	read_cmd(&c, CMD_LOOKUP, KEY_A, T0, "helpdesk-bob");
	CHECK_INT(apply(s, 1, &c, &r), ESC_ENOTFOUND);
	escrow(s, 2, KEY_A);
	/* Escrowed since: the same request now discloses, and is audited. */
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(r.duplicate, 0);
	CHECK_INT(audit_entries(s), 3);
	store_close(s);
}

TEST(reads_of_one_key_never_share_a_millisecond)
{
	static struct readstamp st;

	CHECK_INT(readstamp_take(&st, KEY_A, T0), T0);
	CHECK_INT(readstamp_take(&st, KEY_A, T0), T0 + 1);
	/* Same first 8 digits (any case): a prefix read shares the slot. */
	CHECK_INT(readstamp_take(&st, "0a1b2c3d", T0), T0 + 2);
	CHECK_INT(readstamp_take(&st, KEY_B, T0 + 1), T0 + 3);
	/* Time moved on: its own time again. */
	CHECK_INT(readstamp_take(&st, KEY_A, T0 + 10), T0 + 10);
	/* The clock went back: still after the last time given. */
	CHECK_INT(readstamp_take(&st, KEY_A, T0 + 5), T0 + 11);
	/* Another slot is not held back. */
	CHECK_INT(readstamp_take(&st, KEY_C, T0), T0);
}

int main(void)
{
	if (!fixture_start("escrow-readonce"))
		return 1;
	RUN(a_read_applied_twice_is_audited_once);
	RUN(a_prefix_read_applied_twice_is_audited_once);
	RUN(a_miss_is_not_a_read);
	RUN(reads_of_one_key_never_share_a_millisecond);
	fixture_end();
	return unit_done();
}
