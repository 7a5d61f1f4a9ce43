/* Unit tests of store/: applying commands, queries, digests, images. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/error.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "tests/store_fixture.h"
#include "tests/unit.h"

static void cmd_init(struct cmd *c)
{
	cmd_base(c, CMD_INIT, T0);
	snprintf(c->actor, sizeof(c->actor), "insecure");
	snprintf(c->role, sizeof(c->role), "operator");
	snprintf(c->cluster_id, sizeof(c->cluster_id),
		 "00112233445566778899aabbccddeeff");
	snprintf(c->members, sizeof(c->members),
		 "1=127.0.0.1:7001/127.0.0.1:8001,2=127.0.0.1:7002/127.0.0.1:8002");
}

static void cmd_escrow(struct cmd *c, const char *key_id, const char *pw,
		       const char *volume, const char *machine, int64_t at)
{
	size_t len = 0;

	cmd_base(c, CMD_ESCROW, at);
	snprintf(c->key_id, sizeof(c->key_id), "%s", key_id);
	snprintf(c->volume_id, sizeof(c->volume_id), "%s", volume);
	snprintf(c->volume_type, sizeof(c->volume_type), "os");
	snprintf(c->machine, sizeof(c->machine), "%s", machine);
	snprintf(c->user, sizeof(c->user), "CORP\\alice");
	seal_seal(&seal, key_id, (const uint8_t *)pw, strlen(pw), c->sealed, &len,
		  NULL);
	c->sealed_len = (uint32_t)len;
	seal_mac(&seal, key_id, pw, c->pw_mac);
}

static void cmd_lookup(struct cmd *c, const char *key_id, const char *reason,
		       const char *note, int64_t at)
{
	cmd_base(c, CMD_LOOKUP, at);
	snprintf(c->actor, sizeof(c->actor), "helpdesk-bob");
	snprintf(c->role, sizeof(c->role), "helpdesk");
	snprintf(c->key_id, sizeof(c->key_id), "%s", key_id);
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	snprintf(c->note, sizeof(c->note), "%s", note);
}

static void cmd_prefix(struct cmd *c, const char *prefix, int64_t at)
{
	cmd_lookup(c, "", "lost_pin", "", at);
	c->type = CMD_LOOKUP_PREFIX;
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
}

static uint64_t audit_count(struct store *s)
{
	uint64_t keys = 0, audit = 0;

	if (store_counts(s, &keys, &audit, NULL) != ESC_OK)
		return UINT64_MAX;
	return audit;
}

/* Reads one audit row by seq from the database file, as "action|key_id|
 * machine|reason|note|outcome|actor|role|node|at|idx". */
static int audit_row(const char *path, uint64_t seq, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db,
			       "SELECT action || '|' || ifnull(key_id, '') || '|' "
			       "|| ifnull(machine, '') || '|' || ifnull(reason, '') "
			       "|| '|' || ifnull(note, '') || '|' || outcome || '|' "
			       "|| actor || '|' || role || '|' || node || '|' || at "
			       "|| '|' || idx FROM audit WHERE seq = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = 0;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* meta's applied_index as another connection reads it; -1 if unreadable. */
static long long disk_applied_index(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'applied_index'", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

TEST(new_store_is_empty)
{
	struct store *s = store_fresh();
	uint64_t keys = 9, audit = 9;

	CHECK(s != NULL);
	CHECK_INT(store_applied_index(s), 0);
	CHECK_STR(store_cluster_id(s), "");
	CHECK_STR(store_members(s), "");
	CHECK_INT(store_counts(s, &keys, &audit, NULL), ESC_OK);
	CHECK_INT(keys, 0);
	CHECK_INT(audit, 0);
	store_close(s);
}

TEST(init_sets_cluster_once)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	cmd_init(&c);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK_STR(store_cluster_id(s), "00112233445566778899aabbccddeeff");
	CHECK(strstr(store_members(s), "2=127.0.0.1:7002") != NULL);
	CHECK_INT(r.audit_seq, 1);
	snprintf(c.cluster_id, sizeof(c.cluster_id), "ffffffffffffffffffffffffffffffff");
	snprintf(c.members, sizeof(c.members), "9=x/y");
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_STR(store_cluster_id(s), "00112233445566778899aabbccddeeff");
	CHECK(strstr(store_members(s), "9=x/y") == NULL);
	CHECK_INT(store_applied_index(s), 2);
	store_close(s);
}

TEST(escrow_then_identical_escrow_is_unchanged)
{
	char path[128], row[512];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	sqlite3_stmt_status(s->st[ST_KEY_GET], SQLITE_STMTSTATUS_RUN, 1);
	cmd_escrow(&c, KEY_A, PW_1, "vol-1", "pc-01.corp", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK(r.created);
	CHECK(!r.skipped);
	/* A new key is inserted without a read of the keys first. */
	CHECK_INT(sqlite3_stmt_status(s->st[ST_KEY_GET], SQLITE_STMTSTATUS_RUN, 1), 0);
	CHECK_INT(r.index, 1);
	CHECK_INT(r.audit_seq, 1);
	CHECK_INT(audit_row(path, 1, row, sizeof(row)), 0);
	CHECK_STR(row, "key.escrow|" KEY_A "|pc-01.corp|||created|agent-7|agent|2|"
		       "1700000000000|1");

	/* Sealed again (another nonce) but the same password and volume. */
	cmd_escrow(&c, KEY_A, PW_1, "vol-1", "pc-01.corp", T0 + 1000);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK(!r.created);
	CHECK_INT(sqlite3_stmt_status(s->st[ST_KEY_GET], SQLITE_STMTSTATUS_RUN, 0), 1);
	CHECK_INT(r.audit_seq, 2);
	CHECK_INT(audit_row(path, 2, row, sizeof(row)), 0);
	CHECK(strstr(row, "|unchanged|") != NULL);
	CHECK_INT(audit_count(s), 2);
	store_close(s);
}

/* A conflicting escrow of KEY_A; the stored record must stay as it was. */
static void conflict_leaves_record(const char *pw, const char *volume)
{
	char before[65], after[65], path[128], row[512];
	struct store *s = store_fresh();
	struct store_key *keys = NULL;
	struct store_result r;
	struct cmd c;
	size_t n = 0;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_escrow(&c, KEY_A, PW_1, "vol-1", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK_INT(store_machine_keys(s, "pc-01", &keys, &n, NULL), ESC_OK);
	CHECK_INT(n, 1);
	CHECK(digest(s, before) == 0);

	cmd_escrow(&c, KEY_A, pw, volume, "pc-01", T0 + 5);
	CHECK_INT(apply(s, 2, &c, &r), ESC_ECONFLICT);
	CHECK(!r.created);
	CHECK_INT(r.audit_seq, 2);
	CHECK_INT(audit_row(path, 2, row, sizeof(row)), 0);
	CHECK(strncmp(row, "key.escrow|", 11) == 0);
	CHECK(strstr(row, "|conflict|") != NULL);
	CHECK(digest(s, after) == 0);
	CHECK(strcmp(before, after) != 0); /* the audit entry and index moved */

	free(keys);
	CHECK_INT(store_machine_keys(s, "pc-01", &keys, &n, NULL), ESC_OK);
	CHECK_INT(n, 1);
	CHECK_STR(keys[0].volume_id, "vol-1");
	CHECK_INT(keys[0].escrowed_at_ms, T0);
	free(keys);
	store_close(s);
}

TEST(escrow_conflict_other_password)
{
	conflict_leaves_record(PW_2, "vol-1");
}

TEST(escrow_conflict_other_volume)
{
	conflict_leaves_record(PW_1, "vol-2");
}

TEST(apply_same_index_twice_is_skipped)
{
	char before[65], after[65];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "vol-1", "pc-01", T0);
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK(r.created);
	CHECK(digest(s, before) == 0);
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK(r.skipped);
	CHECK(!r.created);
	CHECK_INT(r.audit_seq, 0);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK(r.skipped);
	CHECK_INT(store_applied_index(s), 5);
	CHECK_INT(audit_count(s), 1);
	CHECK(digest(s, after) == 0);
	CHECK_STR(before, after);
	/* Gaps in the index are fine: only order matters. */
	CHECK_INT(apply(s, 9, &c, &r), ESC_OK);
	CHECK(!r.skipped);
	CHECK_INT(store_applied_index(s), 9);
	store_close(s);
}

TEST(lookup_discloses_once_and_audits)
{
	char path[128], row[512], opened[SEAL_PLAIN_MAX + 1];
	struct store *s = store_fresh();
	struct store_result r;
	size_t plen = 0;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_escrow(&c, KEY_A, PW_1, "vol-1", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);

	cmd_lookup(&c, KEY_A, "lost_pin", "ticket 42", T0 + 60000);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 1);
	CHECK_STR(r.keys[0].key_id, KEY_A);
	CHECK_STR(r.keys[0].machine, "pc-01");
	CHECK_STR(r.keys[0].user, "CORP\\alice");
	CHECK_INT(r.keys[0].escrowed_at_ms, T0);
	CHECK_INT(r.keys[0].disclosed_at_ms, T0 + 60000);
	CHECK_INT(r.keys[0].escrowed_by, 2);
	CHECK_INT(seal_open(&seal, KEY_A, r.keys[0].sealed, r.keys[0].sealed_len,
			    (uint8_t *)opened, &plen, NULL), ESC_OK);
	opened[plen] = '\0';
	CHECK_STR(opened, PW_1);
	CHECK_INT(audit_row(path, r.audit_seq, row, sizeof(row)), 0);
	CHECK_STR(row, "key.read|" KEY_A "|pc-01|lost_pin|ticket 42|disclosed|"
		       "helpdesk-bob|helpdesk|2|1700000060000|2");

	/* A second lookup is audited again but keeps the first disclosure. */
	cmd_lookup(&c, KEY_A, "other", "second call", T0 + 120000);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 1);
	CHECK_INT(r.keys[0].disclosed_at_ms, T0 + 60000);
	CHECK_INT(r.audit_seq, 3);
	CHECK_INT(audit_row(path, 3, row, sizeof(row)), 0);
	CHECK(strstr(row, "|other|second call|") != NULL);
	store_close(s);
}

/* Three new reads of key, then the last one again: each new read's check
 * for a lookup applied twice (read_seen) takes under 200 of SQLite's
 * virtual machine steps, a read of a key disclosed before does not run the
 * statement that marks it disclosed, and the repeat is recognised. */
static void reads_cost_little(struct store *s, uint64_t *index, const char *key, int64_t at)
{
	struct store_result r;
	struct cmd c;
	int steps;

	for (int i = 0; i < 3; i++) {
		sqlite3_stmt_status(s->st[ST_READ_SEEN], SQLITE_STMTSTATUS_VM_STEP, 1);
		sqlite3_stmt_status(s->st[ST_KEY_DISCLOSE], SQLITE_STMTSTATUS_RUN, 1);
		cmd_lookup(&c, key, "lost_pin", "", at + i);
		CHECK_INT(apply(s, (*index)++, &c, &r), ESC_OK);
		CHECK_INT(r.n_keys, 1);
		CHECK(!r.duplicate);
		CHECK(r.keys[0].disclosed_at_ms != 0);
		steps = sqlite3_stmt_status(s->st[ST_READ_SEEN], SQLITE_STMTSTATUS_VM_STEP, 0);
		CHECK(steps > 0);
		CHECK(steps < 200);
		if (i > 0)
			CHECK_INT(sqlite3_stmt_status(s->st[ST_KEY_DISCLOSE], SQLITE_STMTSTATUS_RUN, 0), 0);
	}
	CHECK_INT(apply(s, (*index)++, &c, &r), ESC_OK);
	CHECK(r.duplicate);
}

/* Entries 1 and 2: A escrowed from pc-01, B from pc-02; then 2,000 reads
 * of B. *index is the next entry's. */
static void two_keys_and_many_reads_of_b(struct store *s, uint64_t *index)
{
	struct store_result r;
	struct cmd c;

	cmd_escrow(&c, KEY_A, PW_1, "vol-1", "pc-01", T0);
	CHECK_INT(apply(s, (*index)++, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_B, PW_2, "vol-2", "pc-02", T0);
	CHECK_INT(apply(s, (*index)++, &c, &r), ESC_OK);
	for (int i = 0; i < 2000; i++) {
		cmd_lookup(&c, KEY_B, "lost_pin", "", T0 + 1 + i);
		CHECK_INT(apply(s, (*index)++, &c, &r), ESC_OK);
	}
}

/* The check for a lookup applied twice runs at every lookup: it looks at
 * neither the reads of other keys nor the earlier reads of its own (schema
 * version 4, and 5's audit_key_at), with 2,000 of them in the log. */
TEST(lookup_reads_only_its_keys_audit_entries)
{
	struct store *s = store_fresh();
	uint64_t index = 1;

	CHECK(s != NULL);
	two_keys_and_many_reads_of_b(s, &index);
	reads_cost_little(s, &index, KEY_A, T0 + 5000);
	reads_cost_little(s, &index, KEY_B, T0 + 6000);
	store_close(s);
}

TEST(lookup_miss_audits_read_miss)
{
	char path[128], row[512];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_lookup(&c, KEY_B, "tpm_reset", "", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_ENOTFOUND);
	CHECK_INT(r.n_keys, 0);
	CHECK_INT(r.audit_seq, 1);
	CHECK_INT(audit_row(path, 1, row, sizeof(row)), 0);
	CHECK_STR(row, "key.read_miss|" KEY_B "||tpm_reset||not_found|"
		       "helpdesk-bob|helpdesk|2|1700000000000|1");
	CHECK_INT(store_applied_index(s), 1);
	store_close(s);
}

TEST(audit_command_writes_one_entry)
{
	char path[128], row[512];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_base(&c, CMD_AUDIT, T0);
	snprintf(c.actor, sizeof(c.actor), "ops-carol");
	snprintf(c.role, sizeof(c.role), "operator");
	snprintf(c.action, sizeof(c.action), "snapshot.save");
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK_INT(r.audit_seq, 1);
	CHECK_INT(audit_row(path, 1, row, sizeof(row)), 0);
	CHECK_STR(row, "snapshot.save|||||started|ops-carol|operator|2|1700000000000|1");
	/* Only the actions the cluster writes this way. */
	snprintf(c.action, sizeof(c.action), "key.read");
	CHECK_INT(apply(s, 2, &c, &r), ESC_EINVAL);
	c.action[0] = '\0';
	CHECK_INT(apply(s, 3, &c, &r), ESC_EINVAL);
	CHECK_INT(audit_count(s), 1);
	CHECK_INT(store_applied_index(s), 3);
	store_close(s);
}

TEST(prefix_lookup_8_12_and_32_digits)
{
	char path[128], row[512];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_escrow(&c, KEY_B, PW_1, "vol-b", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_A, PW_1, "vol-a", "pc-01", T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_C, PW_2, "vol-c", "pc-02", T0);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);

	cmd_prefix(&c, "0A1B2C3D", T0 + 10);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 2);
	CHECK_STR(r.keys[0].key_id, KEY_A); /* ordered by key_id */
	CHECK_STR(r.keys[1].key_id, KEY_B);
	CHECK_INT(r.keys[0].disclosed_at_ms, T0 + 10);
	CHECK_INT(r.audit_seq, 5); /* one key.read per key */
	CHECK_INT(audit_row(path, 4, row, sizeof(row)), 0);
	CHECK(strncmp(row, "key.read|" KEY_A "|", 10 + 36) == 0);
	CHECK_INT(audit_row(path, 5, row, sizeof(row)), 0);
	CHECK(strncmp(row, "key.read|" KEY_B "|", 10 + 36) == 0);

	/* 12 digits cross the first dash of the stored form. */
	cmd_prefix(&c, "0A1B2C3E9999", T0 + 20);
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 1);
	CHECK_STR(r.keys[0].key_id, KEY_C);

	cmd_prefix(&c, "0A1B2C3D0000111122223333444455", T0 + 30);
	CHECK_INT(apply(s, 6, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 2);
	cmd_prefix(&c, "0A1B2C3D000011112222333344445566", T0 + 30);
	CHECK_INT(apply(s, 7, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 1);
	CHECK_STR(r.keys[0].key_id, KEY_B);
	CHECK_INT(r.keys[0].disclosed_at_ms, T0 + 10);

	cmd_prefix(&c, "0A1B2C3F", T0 + 40);
	CHECK_INT(apply(s, 8, &c, &r), ESC_ENOTFOUND);
	CHECK_INT(r.n_keys, 0);
	CHECK_INT(audit_row(path, r.audit_seq, row, sizeof(row)), 0);
	CHECK(strncmp(row, "key.read_miss||", 15) == 0);
	CHECK(strstr(row, "0A1B2C3F") != NULL);
	store_close(s);
}

TEST(prefix_lookup_returns_at_most_100)
{
	struct store *s = store_fresh();
	struct store_result r;
	char key_id[40];
	uint64_t i;
	struct cmd c;

	CHECK(s != NULL);
	for (i = 0; i < 105; i++) {
		snprintf(key_id, sizeof(key_id), "ABCDEF01-0000-0000-0000-%012llX",
			 (unsigned long long)i);
		cmd_escrow(&c, key_id, PW_1, "v", "pc", T0);
		CHECK_INT(apply(s, i + 1, &c, &r), ESC_OK);
	}
	cmd_prefix(&c, "ABCDEF01", T0 + 1);
	CHECK_INT(apply(s, 200, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 100);
	CHECK_STR(r.keys[99].key_id, "ABCDEF01-0000-0000-0000-000000000063");
	CHECK_INT(audit_count(s), 205);
	store_close(s);
}

TEST(keys_by_prefix_lists_without_disclosing)
{
	char before[65], after[65];
	struct store *s = store_fresh();
	struct store_key *keys = NULL;
	struct store_result r;
	bool truncated = true;
	struct cmd c;
	size_t n = 0;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_B, PW_1, "vol-b", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_A, PW_1, "vol-a", "pc-01", T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_C, PW_2, "vol-c", "pc-02", T0);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK(digest(s, before) == 0);

	CHECK_INT(store_keys_by_prefix(s, "0A1B2C3D", 100, &keys, &n, &truncated, NULL), ESC_OK);
	CHECK_INT(n, 2);
	CHECK(!truncated);
	CHECK_STR(keys[0].key_id, KEY_A); /* in key ID order */
	CHECK_STR(keys[1].key_id, KEY_B);
	CHECK_STR(keys[0].volume_id, "vol-a");
	CHECK_STR(keys[0].machine, "pc-01");
	CHECK_INT(keys[0].disclosed_at_ms, 0);
	free(keys);

	/* Nothing written: no disclosure, no audit entry, same state. */
	CHECK_INT(audit_count(s), 3);
	CHECK_INT(store_applied_index(s), 3);
	CHECK(digest(s, after) == 0);
	CHECK_STR(before, after);

	/* Across a dash of the stored form; all 32 digits. */
	CHECK_INT(store_keys_by_prefix(s, "0A1B2C3E9999", 100, &keys, &n, &truncated, NULL),
		  ESC_OK);
	CHECK_INT(n, 1);
	CHECK_STR(keys[0].key_id, KEY_C);
	free(keys);
	CHECK_INT(store_keys_by_prefix(s, "0A1B2C3D000011112222333344445566", 100, &keys, &n,
				       &truncated, NULL),
		  ESC_OK);
	CHECK_INT(n, 1);
	CHECK_STR(keys[0].key_id, KEY_B);
	free(keys);

	/* At most max, saying that there were more. */
	CHECK_INT(store_keys_by_prefix(s, "0A1B2C3D", 1, &keys, &n, &truncated, NULL), ESC_OK);
	CHECK_INT(n, 1);
	CHECK(truncated);
	CHECK_STR(keys[0].key_id, KEY_A);
	free(keys);
	CHECK_INT(store_keys_by_prefix(s, "0A1B2C3", 2, &keys, &n, &truncated, NULL),
		  ESC_EINVAL);

	/* No match; a prefix not in validate_prefix's form. */
	CHECK_INT(store_keys_by_prefix(s, "0A1B2C3F", 100, &keys, &n, &truncated, NULL), ESC_OK);
	CHECK_INT(n, 0);
	CHECK(keys == NULL && !truncated);
	CHECK_INT(store_keys_by_prefix(s, "0a1b2c3d", 100, &keys, &n, &truncated, NULL),
		  ESC_EINVAL);
	CHECK_INT(store_keys_by_prefix(s, "0A1B2C3D-0000", 100, &keys, &n, &truncated, NULL),
		  ESC_EINVAL);

	/* A lookup afterwards still discloses (the listing did not). */
	cmd_prefix(&c, "0A1B2C3D", T0 + 10);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 2);
	CHECK_INT(r.keys[0].disclosed_at_ms, T0 + 10);
	store_close(s);
}

TEST(keys_by_prefix_truncates_at_max)
{
	struct store *s = store_fresh();
	struct store_key *keys = NULL;
	struct store_result r;
	bool truncated = false;
	char key_id[40];
	uint64_t i;
	struct cmd c;
	size_t n = 0;

	CHECK(s != NULL);
	for (i = 0; i < 101; i++) {
		snprintf(key_id, sizeof(key_id), "ABCDEF01-0000-0000-0000-%012llX",
			 (unsigned long long)i);
		cmd_escrow(&c, key_id, PW_1, "v", "pc", T0);
		CHECK_INT(apply(s, i + 1, &c, &r), ESC_OK);
	}
	CHECK_INT(store_keys_by_prefix(s, "ABCDEF01", 100, &keys, &n, &truncated, NULL), ESC_OK);
	CHECK_INT(n, 100);
	CHECK(truncated);
	CHECK_STR(keys[99].key_id, "ABCDEF01-0000-0000-0000-000000000063");
	free(keys);
	/* Exactly max: not truncated. */
	CHECK_INT(store_keys_by_prefix(s, "ABCDEF01", 101, &keys, &n, &truncated, NULL), ESC_OK);
	CHECK_INT(n, 101);
	CHECK(!truncated);
	free(keys);
	store_close(s);
}

/* Audit rows read back as "seq:action:actor:key_id:machine," */
struct rows {
	char text[4096];
	size_t n;
};

static int rows_cb(const struct store_audit_row *row, void *arg)
{
	struct rows *w = arg;
	size_t len = strlen(w->text);

	snprintf(w->text + len, sizeof(w->text) - len, "%llu:%s:%s:%.8s:%s,",
		 (unsigned long long)row->seq, row->action, row->actor, row->key_id,
		 row->machine);
	w->n++;
	return 0;
}

/* store_audit_each with these filters into w; its return. */
static int audit_read(struct store *s, uint64_t since, size_t limit, const char *action,
		      const char *actor, const char *key_id, const char *machine, struct rows *w)
{
	struct store_audit_filter f = { .since = since,
					.limit = limit,
					.action = action,
					.actor = actor,
					.key_id = key_id,
					.machine = machine };
	char errmsg[ESC_ERRMSG_SIZE];
	int rv;

	memset(w, 0, sizeof(*w));
	rv = store_audit_each(s, &f, rows_cb, w, errmsg);
	if (rv != ESC_OK && rv != ESC_EINVAL)
		printf("# store_audit_each: %s\n", errmsg);
	return rv;
}

static int count_progress(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* A report filtered by machine reads that machine's entries through its
 * indexes (its reads through its keys, schema version 6), not the log:
 * with 2,000 reads of another machine's key in it, the page costs a few
 * hundred SQLite instructions (a scan of the log costs tens of
 * thousands). */
TEST(machine_filter_reads_only_its_entries)
{
	struct store *s = store_fresh();
	struct store_result r;
	uint64_t index = 1;
	struct rows w;
	struct cmd c;
	int ticks = 0;

	CHECK(s != NULL);
	two_keys_and_many_reads_of_b(s, &index);
	cmd_lookup(&c, KEY_A, "lost_pin", "", T0 + 5000);
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	CHECK_INT(store_flush(s, NULL), ESC_OK);
	sqlite3_progress_handler(s->db, 100, count_progress, &ticks);
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "pc-01", &w), ESC_OK);
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	CHECK_STR(w.text, "1:key.escrow:agent-7:0A1B2C3D:pc-01,"
			  "2003:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	printf("# machine filter: %d00 instructions\n", ticks);
	CHECK(ticks < 20);
	store_close(s);
}

/* The same with 2,000 keys escrowed from other machines (escrows that
 * created keys are found through the machine's keys, schema version 7). */
TEST(machine_filter_skips_other_machines_escrows)
{
	struct store *s = store_fresh();
	struct store_result r;
	char key[40], machine[16];
	struct rows w;
	struct cmd c;
	int ticks = 0;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "vol-1", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "%08X-0000-0000-0000-000000000000", 0x10000000u + i);
		snprintf(machine, sizeof(machine), "pc-%d", 1000 + i);
		cmd_escrow(&c, key, PW_2, "vol-2", machine, T0 + 1 + i);
		CHECK_INT(apply(s, 2 + (uint64_t)i, &c, &r), ESC_OK);
		CHECK(r.created);
	}
	CHECK_INT(store_flush(s, NULL), ESC_OK);
	sqlite3_progress_handler(s->db, 100, count_progress, &ticks);
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "pc-01", &w), ESC_OK);
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	CHECK_STR(w.text, "1:key.escrow:agent-7:0A1B2C3D:pc-01,");
	printf("# machine filter among 2,000 machines: %d00 instructions\n", ticks);
	CHECK(ticks < 20);
	CHECK_INT(audit_read(s, 1500, 100, NULL, NULL, NULL, "pc-2500", &w), ESC_OK);
	CHECK_STR(w.text, "1502:key.escrow:agent-7:100005DC:pc-2500,");
	store_close(s);
}

TEST(audit_filters_each_alone_and_together)
{
	char long_machine[VALIDATE_MACHINE_MAX + 2];
	struct store *s = store_fresh();
	struct store_result r;
	struct rows w;
	struct cmd c;

	CHECK(s != NULL);
	/* 1-3: agent-7 escrows A, B (pc-01) and C (pc-02). */
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_B, PW_1, "v2", "pc-01", T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_C, PW_1, "v3", "pc-02", T0);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	/* 4: helpdesk-bob reads A; 5: helpdesk-eve reads C; 6: bob misses. */
	cmd_lookup(&c, KEY_A, "lost_pin", "", T0 + 1);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	cmd_lookup(&c, KEY_C, "lost_pin", "", T0 + 2);
	snprintf(c.actor, sizeof(c.actor), "helpdesk-eve");
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	cmd_lookup(&c, "FFFFFFFF-0000-0000-0000-000000000000", "lost_pin", "", T0 + 3);
	CHECK_INT(apply(s, 6, &c, &r), ESC_ENOTFOUND);
	/* 7: bob reads A again. */
	cmd_lookup(&c, KEY_A, "tpm_reset", "", T0 + 4);
	CHECK_INT(apply(s, 7, &c, &r), ESC_OK);
	CHECK_INT(audit_count(s), 7);

	/* No filter (NULL or ""): every entry. */
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, NULL, &w), ESC_OK);
	CHECK_INT(w.n, 7);
	CHECK_INT(audit_read(s, 0, 100, "", "", "", "", &w), ESC_OK);
	CHECK_INT(w.n, 7);

	/* Each alone. */
	CHECK_INT(audit_read(s, 0, 100, "key.read", NULL, NULL, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "4:key.read:helpdesk-bob:0A1B2C3D:pc-01,"
			  "5:key.read:helpdesk-eve:0A1B2C3E:pc-02,"
			  "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 0, 100, NULL, "helpdesk-bob", NULL, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "4:key.read:helpdesk-bob:0A1B2C3D:pc-01,"
			  "6:key.read_miss:helpdesk-bob:FFFFFFFF:,"
			  "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, KEY_A, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "1:key.escrow:agent-7:0A1B2C3D:pc-01,"
			  "4:key.read:helpdesk-bob:0A1B2C3D:pc-01,"
			  "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "pc-02", &w), ESC_OK);
	CHECK_STR(w.text, "3:key.escrow:agent-7:0A1B2C3E:pc-02,"
			  "5:key.read:helpdesk-eve:0A1B2C3E:pc-02,");
	/* A miss has no machine; machines match in any case. */
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "PC-01", &w), ESC_OK);
	CHECK_INT(w.n, 4);
	/* Exact matches only. */
	CHECK_INT(audit_read(s, 0, 100, "key", NULL, NULL, NULL, &w), ESC_OK);
	CHECK_INT(w.n, 0);
	CHECK_INT(audit_read(s, 0, 100, NULL, "HELPDESK-BOB", NULL, NULL, &w), ESC_OK);
	CHECK_INT(w.n, 0);
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "pc-0", &w), ESC_OK);
	CHECK_INT(w.n, 0);

	/* Together: ANDed. */
	CHECK_INT(audit_read(s, 0, 100, "key.read", "helpdesk-bob", NULL, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "4:key.read:helpdesk-bob:0A1B2C3D:pc-01,"
			  "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 0, 100, "key.read", "helpdesk-bob", KEY_A, "pc-01", &w), ESC_OK);
	CHECK_INT(w.n, 2);
	CHECK_INT(audit_read(s, 0, 100, "key.escrow", NULL, NULL, "pc-01", &w), ESC_OK);
	CHECK_STR(w.text, "1:key.escrow:agent-7:0A1B2C3D:pc-01,"
			  "2:key.escrow:agent-7:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 0, 100, "key.read", "helpdesk-eve", KEY_A, NULL, &w), ESC_OK);
	CHECK_INT(w.n, 0);
	CHECK_INT(audit_read(s, 0, 100, "key.escrow", NULL, KEY_C, "pc-01", &w), ESC_OK);
	CHECK_INT(w.n, 0);

	/* With since and limit: pages of the filtered entries. */
	CHECK_INT(audit_read(s, 0, 1, NULL, NULL, KEY_A, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "1:key.escrow:agent-7:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 1, 1, NULL, NULL, KEY_A, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "4:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 4, 1, NULL, NULL, KEY_A, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 7, 1, NULL, NULL, KEY_A, NULL, &w), ESC_OK);
	CHECK_INT(w.n, 0);
	CHECK_INT(audit_read(s, 2, 100, "key.escrow", NULL, NULL, NULL, &w), ESC_OK);
	CHECK_STR(w.text, "3:key.escrow:agent-7:0A1B2C3E:pc-02,");

	/* A machine's reads come through its keys (schema version 6): with
	 * an action, an actor, and in pages. */
	CHECK_INT(audit_read(s, 0, 100, "key.read", NULL, NULL, "pc-01", &w), ESC_OK);
	CHECK_STR(w.text, "4:key.read:helpdesk-bob:0A1B2C3D:pc-01,"
			  "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 0, 100, NULL, "helpdesk-eve", NULL, "pc-02", &w), ESC_OK);
	CHECK_STR(w.text, "5:key.read:helpdesk-eve:0A1B2C3E:pc-02,");
	CHECK_INT(audit_read(s, 0, 1, NULL, NULL, NULL, "pc-01", &w), ESC_OK);
	CHECK_STR(w.text, "1:key.escrow:agent-7:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 2, 2, NULL, NULL, NULL, "pc-01", &w), ESC_OK);
	CHECK_STR(w.text, "4:key.read:helpdesk-bob:0A1B2C3D:pc-01,"
			  "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 4, 100, NULL, NULL, NULL, "pc-01", &w), ESC_OK);
	CHECK_STR(w.text, "7:key.read:helpdesk-bob:0A1B2C3D:pc-01,");

	/* Values SQL would read as syntax are plain values. */
	CHECK_INT(audit_read(s, 0, 100, "' OR 1=1 --", NULL, NULL, NULL, &w), ESC_OK);
	CHECK_INT(w.n, 0);
	memset(long_machine, 'a', sizeof(long_machine) - 1);
	long_machine[sizeof(long_machine) - 1] = '\0';
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, long_machine, &w), ESC_EINVAL);

	/* The unfiltered statement still serves after filtered ones. */
	CHECK_INT(audit_read(s, 5, 100, NULL, NULL, NULL, NULL, &w), ESC_OK);
	CHECK_INT(w.n, 2);

	/* 8: A escrowed again from another machine (a conflict): the entry
	 * names that machine, and its filter finds it. */
	cmd_escrow(&c, KEY_A, PW_2, "v1", "pc-03", T0 + 5);
	CHECK_INT(apply(s, 8, &c, &r), ESC_ECONFLICT);
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "pc-03", &w), ESC_OK);
	CHECK_STR(w.text, "8:key.escrow:agent-7:0A1B2C3D:pc-03,");
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "pc-01", &w), ESC_OK);
	CHECK_INT(w.n, 4);

	/* 9: A escrowed again from pc-03, the same password and volume
	 * (unchanged); 10: D created from pc-03. The machine's escrows, those
	 * that created its keys (through its keys, schema version 7) and the
	 * others (its index), in seq order, alone and with an action. */
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-03", T0 + 6);
	CHECK_INT(apply(s, 9, &c, &r), ESC_OK);
	CHECK(!r.created);
	cmd_escrow(&c, "1A1B2C3D-0000-1111-2222-333344445555", PW_1, "v4", "pc-03", T0 + 7);
	CHECK_INT(apply(s, 10, &c, &r), ESC_OK);
	CHECK(r.created);
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, NULL, "pc-03", &w), ESC_OK);
	CHECK_STR(w.text, "8:key.escrow:agent-7:0A1B2C3D:pc-03,"
			  "9:key.escrow:agent-7:0A1B2C3D:pc-03,"
			  "10:key.escrow:agent-7:1A1B2C3D:pc-03,");
	CHECK_INT(audit_read(s, 8, 100, "key.escrow", NULL, NULL, "pc-03", &w), ESC_OK);
	CHECK_STR(w.text, "9:key.escrow:agent-7:0A1B2C3D:pc-03,"
			  "10:key.escrow:agent-7:1A1B2C3D:pc-03,");
	CHECK_INT(audit_read(s, 0, 100, "key.escrow", NULL, NULL, "pc-01", &w), ESC_OK);
	CHECK_STR(w.text, "1:key.escrow:agent-7:0A1B2C3D:pc-01,"
			  "2:key.escrow:agent-7:0A1B2C3D:pc-01,");
	CHECK_INT(audit_read(s, 0, 100, NULL, NULL, "1A1B2C3D-0000-1111-2222-333344445555", "pc-03", &w), ESC_OK);
	CHECK_STR(w.text, "10:key.escrow:agent-7:1A1B2C3D:pc-03,");
	store_close(s);
}

TEST(machine_keys_newest_first_any_case)
{
	struct store *s = store_fresh();
	struct store_key *keys = NULL;
	struct store_result r;
	struct cmd c;
	size_t n = 0;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-01.corp.example", T0 + 100);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_B, PW_1, "v2", "pc-01.corp.example", T0 + 300);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_C, PW_1, "v3", "pc-01.corp.example", T0 + 200);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	cmd_escrow(&c, "FFFFFFFF-0000-0000-0000-000000000000", PW_1, "v4",
		   "pc-02.corp.example", T0 + 400);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);

	CHECK_INT(store_machine_keys(s, "PC-01.Corp.EXAMPLE", &keys, &n, NULL),
		  ESC_OK);
	CHECK_INT(n, 3);
	CHECK_STR(keys[0].key_id, KEY_B);
	CHECK_STR(keys[1].key_id, KEY_C);
	CHECK_STR(keys[2].key_id, KEY_A);
	CHECK_INT(keys[0].disclosed_at_ms, 0);
	free(keys);

	CHECK_INT(store_machine_keys(s, "nobody", &keys, &n, NULL), ESC_OK);
	CHECK_INT(n, 0);
	free(keys);
	store_close(s);
}

TEST(reopen_keeps_index_and_rows)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE], before[65], after[65];
	struct store *s = store_fresh();
	struct store_result r;
	uint64_t keys = 0, audit = 0;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_init(&c);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-01", T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	cmd_lookup(&c, KEY_A, "lost_tpm", "", T0 + 1);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK(digest(s, before) == 0);
	store_close(s);

	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK_INT(store_applied_index(s), 3);
	CHECK_STR(store_cluster_id(s), "00112233445566778899aabbccddeeff");
	CHECK_INT(store_counts(s, &keys, &audit, NULL), ESC_OK);
	CHECK_INT(keys, 1);
	CHECK_INT(audit, 3);
	CHECK(digest(s, after) == 0);
	CHECK_STR(before, after);
	/* Audit seq continues after the reopen. */
	cmd_lookup(&c, KEY_A, "lost_tpm", "", T0 + 2);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.audit_seq, 4);
	store_close(s);
}

#define STORY_LEN 7

/* The commands of a short story starting at time t: init, two escrows, a
 * conflict, a lookup, a prefix lookup, a miss. Sealing draws a fresh nonce,
 * so two stories built separately differ in their sealed bytes. */
static void story_build(struct cmd cmds[STORY_LEN], int64_t t)
{
	cmd_init(&cmds[0]);
	cmds[0].at_ms = t;
	cmd_escrow(&cmds[1], KEY_A, PW_1, "v1", "pc-01", t + 1);
	cmd_escrow(&cmds[2], KEY_B, PW_2, "v2", "pc-01", t + 2);
	cmd_escrow(&cmds[3], KEY_B, PW_1, "v2", "pc-01", t + 3);
	cmd_lookup(&cmds[4], KEY_B, "other", "audit me", t + 4);
	cmd_prefix(&cmds[5], "0A1B2C3D", t + 5);
	cmd_lookup(&cmds[6], KEY_C, "lost_pin", "", t + 6);
}

/* Applies a story as entries 1..STORY_LEN, checking each outcome. */
static int story_apply(struct store *s, const struct cmd cmds[STORY_LEN])
{
	static const int want[STORY_LEN] = {
		ESC_OK, ESC_OK, ESC_OK, ESC_ECONFLICT, ESC_OK, ESC_OK, ESC_ENOTFOUND,
	};
	struct store_result r;
	int i;

	for (i = 0; i < STORY_LEN; i++) {
		if (apply(s, (uint64_t)i + 1, &cmds[i], &r) != want[i])
			return -1;
	}
	return 0;
}

static int story(struct store *s, int64_t t)
{
	struct cmd cmds[STORY_LEN];

	story_build(cmds, t);
	return story_apply(s, cmds);
}

TEST(same_commands_give_same_digest)
{
	struct store *a = store_fresh(), *b = store_fresh(), *other = store_fresh();
	struct cmd cmds[STORY_LEN], later[STORY_LEN];
	char da[65], db[65], dother[65];

	CHECK(a != NULL && b != NULL && other != NULL);
	story_build(cmds, T0);
	memcpy(later, cmds, sizeof(later));
	later[4].at_ms += 1; /* one field of one command differs */
	CHECK(story_apply(a, cmds) == 0);
	CHECK(story_apply(b, cmds) == 0);
	CHECK(story_apply(other, later) == 0);
	CHECK(digest(a, da) == 0);
	CHECK(digest(b, db) == 0);
	CHECK(digest(other, dother) == 0);
	CHECK_STR(da, db);
	CHECK(strcmp(da, dother) != 0);
	CHECK_INT(strlen(da), 64);
	store_close(a);
	store_close(b);
	store_close(other);
}

TEST(digest_equal_after_every_entry)
{
	struct store *a = store_fresh(), *b = store_fresh();
	struct cmd cmds[STORY_LEN];
	struct store_result r;
	char da[65], db[65], prev[65] = "";
	int i;

	CHECK(a != NULL && b != NULL);
	story_build(cmds, T0);
	for (i = 0; i < STORY_LEN; i++) {
		CHECK(apply(a, (uint64_t)i + 1, &cmds[i], &r) >= 0);
		CHECK(apply(b, (uint64_t)i + 1, &cmds[i], &r) >= 0);
		CHECK(digest(a, da) == 0);
		CHECK(digest(b, db) == 0);
		CHECK_STR(da, db);
		CHECK(strcmp(da, prev) != 0); /* every entry changes the state */
		memcpy(prev, da, sizeof(prev));
	}
	store_close(a);
	store_close(b);
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* The packed image of store_image_build: the state pinned at
 * store_image_begin, writes after it left out, its scratch copy removed
 * (one left by an earlier run included), smaller than the plain image, and
 * installed by store_restore_packed; damaged or plain input is refused with
 * the state untouched. */
TEST(packed_image_round_trip)
{
	char errmsg[ESC_ERRMSG_SIZE], da[65], db[65], scratch[512], cid[CMD_CLUSTER_ID_LEN + 1];
	struct store *a = store_fresh(), *b = store_fresh();
	void *img = NULL, *plain = NULL;
	size_t len = 0, plain_len = 0;
	uint64_t index = 0, plain_index = 0;
	struct store_result r;
	struct cmd c;
	FILE *f;

	CHECK(a != NULL && b != NULL);
	CHECK(story(a, T0) == 0);
	CHECK(digest(a, da) == 0);
	snprintf(scratch, sizeof scratch, "%s%s", a->path, STORE_IMAGE_SUFFIX);
	f = fopen(scratch, "w");
	CHECK(f != NULL);
	fputs("left over", f);
	fclose(f);
	CHECK_INT(store_image_begin(a, &index, cid, errmsg), ESC_OK);
	CHECK_INT(index, STORY_LEN);
	CHECK_STR(cid, store_cluster_id(a));
	CHECK_INT(store_image_begin(a, &index, cid, errmsg), ESC_EBUSY);
	cmd_escrow(&c, KEY_C, PW_2, "v3", "pc-02", T0 + 100);
	CHECK_INT(apply(a, STORY_LEN + 1, &c, &r), ESC_OK);
	CHECK_INT(store_image_build(a, &img, &len, errmsg), ESC_OK);
	store_image_end(a);
	CHECK(!file_exists(scratch));
	CHECK_INT(store_image(a, malloc, 0, &plain, &plain_len, &plain_index, errmsg), ESC_OK);
	CHECK(len > 0 && len < plain_len / 4);

	CHECK_INT(store_restore_packed(b, img, len, errmsg), ESC_OK);
	CHECK_INT(store_applied_index(b), STORY_LEN);
	CHECK(digest(b, db) == 0);
	CHECK_STR(db, da);

	/* A plain image, a cut frame, a flipped byte: refused, b as it was. */
	CHECK_INT(store_restore_packed(b, plain, plain_len, errmsg), ESC_ECORRUPT);
	CHECK_INT(store_restore_packed(b, img, len - 1, errmsg), ESC_ECORRUPT);
	((uint8_t *)img)[len / 2] ^= 0x40;
	CHECK_INT(store_restore_packed(b, img, len, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "restore image") != NULL);
	CHECK(digest(b, db) == 0);
	CHECK_STR(db, da);
	store_image_free(img);
	free(plain);
	store_close(a);
	store_close(b);
}

TEST(image_restore_round_trip)
{
	char errmsg[ESC_ERRMSG_SIZE], da[65], db[65];
	struct store *a = store_fresh(), *b = store_fresh();
	struct store_key *keys = NULL;
	struct store_result r;
	uint64_t index = 0;
	void *buf = NULL;
	size_t len = 0, n = 0;
	struct cmd c;

	CHECK(a != NULL && b != NULL);
	CHECK(story(a, T0) == 0);
	CHECK_INT(store_image(a, malloc, 64, &buf, &len, &index, errmsg), ESC_OK);
	CHECK_INT(index, 7);
	CHECK(len > 64 + 100);
	CHECK(memcmp((char *)buf + 64, "SQLite format 3", 16) == 0);

	CHECK_INT(store_restore_image(b, (char *)buf + 64, len - 64, errmsg), ESC_OK);
	CHECK_INT(store_applied_index(b), 7);
	CHECK_STR(store_cluster_id(b), store_cluster_id(a));
	CHECK_STR(store_members(b), store_members(a));
	CHECK(digest(a, da) == 0);
	CHECK(digest(b, db) == 0);
	CHECK_STR(da, db);
	CHECK_INT(store_machine_keys(b, "PC-01", &keys, &n, NULL), ESC_OK);
	CHECK_INT(n, 2);
	free(keys);

	/* Both go on identically from there. */
	cmd_lookup(&c, KEY_A, "bios_changed", "", T0 + 100);
	CHECK_INT(apply(a, 8, &c, &r), ESC_OK);
	CHECK_INT(r.audit_seq, 9);
	CHECK_INT(apply(b, 8, &c, &r), ESC_OK);
	CHECK_INT(r.audit_seq, 9);
	CHECK(digest(a, da) == 0);
	CHECK(digest(b, db) == 0);
	CHECK_STR(da, db);
	free(buf);
	store_close(a);
	store_close(b);
}

TEST(restore_refuses_bad_images)
{
	char errmsg[ESC_ERRMSG_SIZE], before[65], after[65], path[128];
	struct store *a = store_fresh(), *b = store_fresh();
	uint8_t garbage[8192];
	uint64_t index = 0;
	uint8_t *img;
	void *buf = NULL;
	size_t len = 0, i;
	sqlite3 *foreign = NULL;
	sqlite3_int64 flen = 0;
	unsigned char *fimg;

	CHECK(a != NULL && b != NULL);
	CHECK(story(a, T0) == 0);
	CHECK(story(b, T0 + 7) == 0);
	CHECK(digest(b, before) == 0);
	CHECK_INT(store_image(a, malloc, 0, &buf, &len, &index, errmsg), ESC_OK);
	img = buf;

	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 31 + 7);
	CHECK_INT(store_restore_image(b, garbage, sizeof(garbage), errmsg),
		  ESC_ECORRUPT);
	CHECK(strstr(errmsg, "restore image") != NULL);
	CHECK_INT(store_restore_image(b, garbage, 0, errmsg), ESC_ECORRUPT);
	CHECK_INT(store_restore_image(b, img, 50, errmsg), ESC_ECORRUPT);
	/* Truncated by one page, and by half a page. */
	CHECK_INT(store_restore_image(b, img, len - 4096, errmsg), ESC_ECORRUPT);
	CHECK_INT(store_restore_image(b, img, len - 2048, errmsg), ESC_ECORRUPT);
	/* The header intact, the pages after it garbage. */
	memcpy(garbage, img, 100);
	CHECK_INT(store_restore_image(b, garbage, sizeof(garbage), errmsg),
		  ESC_ECORRUPT);

	/* A sound SQLite database that is not ours. */
	snprintf(path, sizeof(path), "%s/foreign.sqlite", tmpdir);
	CHECK(sqlite3_open(path, &foreign) == SQLITE_OK);
	CHECK(sqlite3_exec(foreign, "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
			   NULL, NULL, NULL) == SQLITE_OK);
	fimg = sqlite3_serialize(foreign, "main", &flen, 0);
	sqlite3_close(foreign);
	CHECK(fimg != NULL);
	CHECK(store_restore_image(b, fimg, (size_t)flen, errmsg) != ESC_OK);
	CHECK(strstr(errmsg, "schema") != NULL);
	sqlite3_free(fimg);
	unlink(path);

	/* Ours, plus a trigger. */
	fimg = sqlite3_malloc64(len);
	CHECK(fimg != NULL);
	memcpy(fimg, img, len);
	CHECK(sqlite3_open(":memory:", &foreign) == SQLITE_OK);
	CHECK(sqlite3_deserialize(foreign, "main", fimg, (sqlite3_int64)len,
				  (sqlite3_int64)len,
				  SQLITE_DESERIALIZE_FREEONCLOSE |
					  SQLITE_DESERIALIZE_RESIZEABLE) == SQLITE_OK);
	CHECK(sqlite3_exec(foreign, "CREATE TRIGGER t AFTER INSERT ON audit "
			   "BEGIN DELETE FROM keys; END;", NULL, NULL, NULL) == SQLITE_OK);
	fimg = sqlite3_serialize(foreign, "main", &flen, 0);
	sqlite3_close(foreign);
	CHECK(fimg != NULL);
	CHECK_INT(store_restore_image(b, fimg, (size_t)flen, errmsg), ESC_ECORRUPT);
	sqlite3_free(fimg);

	/* Ours, with the page type of page 2 damaged. (Damage in unused
	 * space goes unseen: the snapshot file's checksum covers that.) */
	img[4096] ^= 0x40;
	CHECK_INT(store_restore_image(b, img, len, errmsg), ESC_ECORRUPT);
	img[4096] ^= 0x40;
	/* And the sound image is still accepted: only the damage was refused. */
	CHECK_INT(store_restore_image(a, img, len, errmsg), ESC_OK);

	/* Nothing changed in b, and it still works. */
	CHECK(digest(b, after) == 0);
	CHECK_STR(before, after);
	CHECK_INT(store_applied_index(b), 7);
	CHECK_INT(audit_count(b), 8);
	free(buf);
	store_close(a);
	store_close(b);
}

/* An image of a later build's schema is refused as newer (the node then
 * says to upgrade it), not as a foreign database. */
TEST(restore_refuses_newer_schema)
{
	char errmsg[ESC_ERRMSG_SIZE], before[65], after[65];
	struct store *a = store_fresh(), *b = store_fresh();
	uint64_t index = 0;
	void *buf = NULL;
	size_t len = 0;
	sqlite3 *db = NULL;
	sqlite3_int64 flen = 0;
	unsigned char *img;

	CHECK(a != NULL && b != NULL);
	CHECK(story(a, T0) == 0);
	CHECK(story(b, T0 + 7) == 0);
	CHECK(digest(b, before) == 0);
	CHECK_INT(store_image(a, malloc, 0, &buf, &len, &index, errmsg), ESC_OK);
	img = sqlite3_malloc64(len);
	CHECK(img != NULL);
	memcpy(img, buf, len);
	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(sqlite3_deserialize(db, "main", img, (sqlite3_int64)len, (sqlite3_int64)len,
				  SQLITE_DESERIALIZE_FREEONCLOSE |
					  SQLITE_DESERIALIZE_RESIZEABLE) == SQLITE_OK);
	CHECK(sqlite3_exec(db,
			   "ALTER TABLE keys ADD COLUMN later TEXT;"
			   "UPDATE meta SET v = 8 WHERE k = 'schema_version';",
			   NULL, NULL, NULL) == SQLITE_OK);
	img = sqlite3_serialize(db, "main", &flen, 0);
	sqlite3_close(db);
	CHECK(img != NULL);
	CHECK_INT(store_restore_image(b, img, (size_t)flen, errmsg), ESC_EVERSION);
	CHECK(strstr(errmsg, "schema version 8, newer than this build's 7") != NULL);
	sqlite3_free(img);
	CHECK(digest(b, after) == 0);
	CHECK_STR(before, after);
	free(buf);
	store_close(a);
	store_close(b);
}

TEST(batched_entries_commit_on_flush)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE], row[512];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-01", T0);
	CHECK_INT(store_apply(s, 1, &c, &r, errmsg), ESC_OK);
	cmd_escrow(&c, KEY_B, PW_2, "v2", "pc-01", T0 + 1);
	CHECK_INT(store_apply(s, 2, &c, &r, errmsg), ESC_OK);
	/* Applied in this connection, not yet on disk for another one. */
	CHECK_INT(store_applied_index(s), 2);
	CHECK_INT(audit_row(path, 1, row, sizeof(row)), -1);
	CHECK_INT(disk_applied_index(path), 0);
	CHECK_INT(store_flush(s, errmsg), ESC_OK);
	CHECK_INT(audit_row(path, 1, row, sizeof(row)), 0);
	CHECK_INT(audit_row(path, 2, row, sizeof(row)), 0);
	/* The batch's last index goes with it. */
	CHECK_INT(disk_applied_index(path), 2);
	/* Closing flushes too. */
	cmd_escrow(&c, KEY_C, PW_1, "v3", "pc-02", T0 + 2);
	CHECK_INT(store_apply(s, 3, &c, &r, errmsg), ESC_OK);
	store_close(s);
	CHECK_INT(audit_row(path, 3, row, sizeof(row)), 0);
	CHECK_INT(disk_applied_index(path), 3);
}

static int refuse_commit(void *arg)
{
	(void)arg;
	return 1; /* the COMMIT becomes a ROLLBACK */
}

/* A batch that could not be committed holds entries libraft counts as
 * applied: every later apply and flush fails, so the node stops and
 * applies them again at restart instead of going on without them. */
TEST(failed_commit_stops_every_later_apply)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-01", T0);
	CHECK_INT(store_apply(s, 1, &c, &r, errmsg), ESC_OK);
	CHECK_INT(store_flush(s, errmsg), ESC_OK);
	sqlite3_commit_hook(s->db, refuse_commit, NULL);
	cmd_escrow(&c, KEY_B, PW_2, "v2", "pc-01", T0 + 1);
	CHECK_INT(store_apply(s, 2, &c, &r, errmsg), ESC_OK);
	CHECK(store_flush(s, errmsg) != ESC_OK);
	CHECK(strstr(errmsg, "flush") != NULL);
	CHECK_INT(store_applied_index(s), 1);
	sqlite3_commit_hook(s->db, NULL, NULL);
	cmd_escrow(&c, KEY_C, PW_1, "v3", "pc-02", T0 + 2);
	CHECK_INT(store_apply(s, 3, &c, &r, errmsg), ESC_EIO);
	CHECK(strstr(errmsg, "apply entry 3") != NULL);
	CHECK(strstr(errmsg, "could not be committed") != NULL);
	CHECK_INT(store_flush(s, errmsg), ESC_EIO);
	CHECK(strstr(errmsg, "misses them") != NULL);
	CHECK_INT(store_applied_index(s), 1);
	store_close(s);
}

/* Runs sql on the database file through a second connection. */
static int db_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

TEST(failed_apply_changes_nothing)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE], before[65], after[65];
	struct store *s = store_fresh();
	struct store_result r;
	uint64_t keys = 0, audit = 0;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK(digest(s, before) == 0);
	/* Make the audit insert fail after the key rows were written. */
	CHECK_INT(db_exec(path, "CREATE TRIGGER fail BEFORE INSERT ON audit "
			  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"),
		  SQLITE_OK);

	cmd_escrow(&c, KEY_B, PW_1, "v2", "pc-01", T0 + 1);
	CHECK_INT(store_apply(s, 2, &c, &r, errmsg), ESC_EDB);
	CHECK(strstr(errmsg, "apply entry 2") != NULL);
	CHECK(strstr(errmsg, "injected failure") != NULL);
	CHECK(!r.created);
	CHECK_INT(r.audit_seq, 0);

	cmd_prefix(&c, "0A1B2C3D", T0 + 2);
	CHECK_INT(store_apply(s, 2, &c, &r, errmsg), ESC_EDB);
	CHECK_INT(r.n_keys, 0);
	CHECK(r.keys == NULL);

	CHECK_INT(store_applied_index(s), 1);
	CHECK_INT(store_counts(s, &keys, &audit, NULL), ESC_OK);
	CHECK_INT(keys, 1);
	CHECK_INT(audit, 1);
	CHECK_INT(db_exec(path, "DROP TRIGGER fail;"), SQLITE_OK);
	CHECK(digest(s, after) == 0);
	CHECK_STR(before, after);

	/* The same entry applies cleanly once the fault is gone; the prefix
	 * lookup finds A undisclosed: the failed one left no trace. */
	c.at_ms = T0 + 3;
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 1);
	CHECK_INT(r.keys[0].disclosed_at_ms, T0 + 3);
	CHECK_INT(r.audit_seq, 2);
	store_close(s);
}

/* An entry that fails after others in the same open batch undoes them
 * with it (there is no savepoint per entry): the applied index goes back,
 * every later apply and flush fails, and a store opened again (the node's
 * restart) applies them all from the start. */
TEST(failed_apply_undoes_its_batch_and_stops_the_store)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE], before[65], after[65];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_escrow(&c, KEY_A, PW_1, "v1", "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK(digest(s, before) == 0);
	cmd_escrow(&c, KEY_B, PW_1, "v2", "pc-01", T0 + 1);
	CHECK_INT(store_apply(s, 2, &c, &r, errmsg), ESC_OK);
	CHECK(r.created);
	/* Inside the open batch: the audit insert of the next entry fails. */
	CHECK_INT(sqlite3_exec(s->db, "CREATE TEMP TRIGGER fail BEFORE INSERT ON audit "
			       "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
			       NULL, NULL, NULL),
		  SQLITE_OK);
	cmd_escrow(&c, KEY_C, PW_2, "v3", "pc-02", T0 + 2);
	CHECK_INT(store_apply(s, 3, &c, &r, errmsg), ESC_EDB);
	CHECK(strstr(errmsg, "apply entry 3") != NULL);
	CHECK(strstr(errmsg, "injected failure") != NULL);
	CHECK_INT(store_applied_index(s), 1);
	CHECK(digest(s, after) == 0);
	CHECK_STR(after, before);
	sqlite3_exec(s->db, "DROP TRIGGER IF EXISTS temp.fail", NULL, NULL, NULL);
	cmd_escrow(&c, KEY_C, PW_2, "v3", "pc-02", T0 + 3);
	CHECK_INT(store_apply(s, 4, &c, &r, errmsg), ESC_EIO);
	CHECK(strstr(errmsg, "undone") != NULL);
	CHECK_INT(store_flush(s, errmsg), ESC_EIO);
	store_close(s);

	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK_INT(store_applied_index(s), 1);
	cmd_escrow(&c, KEY_B, PW_1, "v2", "pc-01", T0 + 1);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK(r.created);
	cmd_escrow(&c, KEY_C, PW_2, "v3", "pc-02", T0 + 2);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK(r.created);
	CHECK_INT(store_applied_index(s), 3);
	store_close(s);
}

TEST(unsound_commands_are_noops)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "v", "pc", T0);
	c.type = 99;
	CHECK_INT(apply(s, 1, &c, &r), ESC_EINVAL);
	cmd_escrow(&c, "0a1b2c3d-0000-1111-2222-333344445555", PW_1, "v", "pc", T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_EINVAL);
	cmd_escrow(&c, KEY_A, PW_1, "v", "PC", T0);
	CHECK_INT(apply(s, 3, &c, &r), ESC_EINVAL);
	cmd_escrow(&c, KEY_A, PW_1, "v", "pc", T0);
	c.sealed_len = SEAL_SEALED_MAX + 1;
	CHECK_INT(apply(s, 4, &c, &r), ESC_EINVAL);
	cmd_escrow(&c, KEY_A, PW_1, "v", "pc", T0);
	memset(c.note, 'x', sizeof(c.note));
	CHECK_INT(apply(s, 5, &c, &r), ESC_EINVAL);
	cmd_prefix(&c, "0a1b2c3d", T0);
	CHECK_INT(apply(s, 6, &c, &r), ESC_EINVAL);
	cmd_prefix(&c, "0A1B2C3", T0);
	CHECK_INT(apply(s, 7, &c, &r), ESC_EINVAL);
	CHECK_INT(store_applied_index(s), 7);
	CHECK_INT(audit_count(s), 0);
	store_close(s);
}

TEST(open_refuses_non_database)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE];
	struct store *s = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/not-a-db", tmpdir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	for (int i = 0; i < 4096; i++)
		fputc('x', f);
	fclose(f);
	CHECK(store_open(&s, path, errmsg) != ESC_OK);
	CHECK(s == NULL);
	CHECK(strstr(errmsg, path) != NULL);
	unlink(path);

	snprintf(path, sizeof(path), "%s/no/such/dir/db", tmpdir);
	CHECK(store_open(&s, path, errmsg) != ESC_OK);
	CHECK(strstr(errmsg, "open store") != NULL);
}

TEST(memory_store_works)
{
	char errmsg[ESC_ERRMSG_SIZE], da[65], db[65];
	struct store *m = NULL, *f = store_fresh();
	uint64_t index;
	void *buf = NULL;
	size_t len;

	CHECK(f != NULL);
	CHECK_INT(store_open(&m, ":memory:", errmsg), ESC_OK);
	CHECK(story(m, T0) == 0);
	CHECK_INT(store_image(m, malloc, 0, &buf, &len, &index, errmsg), ESC_OK);
	CHECK_INT(store_restore_image(f, buf, len, errmsg), ESC_OK);
	CHECK(digest(m, da) == 0);
	CHECK(digest(f, db) == 0);
	CHECK_STR(da, db);
	free(buf);
	store_close(m);
	store_close(f);
}

int main(void)
{
	if (!fixture_start("test_store"))
		return 1;

	RUN(new_store_is_empty);
	RUN(init_sets_cluster_once);
	RUN(escrow_then_identical_escrow_is_unchanged);
	RUN(escrow_conflict_other_password);
	RUN(escrow_conflict_other_volume);
	RUN(apply_same_index_twice_is_skipped);
	RUN(lookup_discloses_once_and_audits);
	RUN(lookup_reads_only_its_keys_audit_entries);
	RUN(machine_filter_reads_only_its_entries);
	RUN(machine_filter_skips_other_machines_escrows);
	RUN(lookup_miss_audits_read_miss);
	RUN(audit_command_writes_one_entry);
	RUN(prefix_lookup_8_12_and_32_digits);
	RUN(prefix_lookup_returns_at_most_100);
	RUN(keys_by_prefix_lists_without_disclosing);
	RUN(keys_by_prefix_truncates_at_max);
	RUN(audit_filters_each_alone_and_together);
	RUN(machine_keys_newest_first_any_case);
	RUN(reopen_keeps_index_and_rows);
	RUN(same_commands_give_same_digest);
	RUN(digest_equal_after_every_entry);
	RUN(image_restore_round_trip);
	RUN(packed_image_round_trip);
	RUN(restore_refuses_bad_images);
	RUN(restore_refuses_newer_schema);
	RUN(failed_apply_changes_nothing);
	RUN(failed_apply_undoes_its_batch_and_stops_the_store);
	RUN(failed_commit_stops_every_later_apply);
	RUN(batched_entries_commit_on_flush);
	RUN(unsound_commands_are_noops);
	RUN(open_refuses_non_database);
	RUN(memory_store_works);

	fixture_end();
	return unit_done();
}
