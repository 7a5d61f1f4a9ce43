/* Applying replicated commands: one transaction per entry, audited. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/error.h"
#include "store/store_internal.h"

/* struct apply, what one apply has done so far, is in store_internal.h:
 * apply_compliance.c shares it. */

/* Empty optional text is stored as NULL. */
static void bind_opt(sqlite3_stmt *st, int i, const char *text)
{
	if (text == NULL || text[0] == '\0')
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
}

int apply_audit(struct apply *a, const char *action, const char *key_id,
		const char *machine, const char *note, const char *outcome)
{
	sqlite3_stmt *st = a->s->st[ST_AUDIT_INSERT];
	const struct cmd *c = a->c;
	int rv;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)(a->seq + 1));
	sqlite3_bind_int64(st, 2, c->at_ms);
	bind_opt(st, 3, c->actor);
	bind_opt(st, 4, c->role);
	sqlite3_bind_text(st, 5, action, -1, SQLITE_STATIC);
	bind_opt(st, 6, key_id);
	bind_opt(st, 7, machine);
	bind_opt(st, 8, c->type == CMD_LOOKUP || c->type == CMD_LOOKUP_PREFIX ||
					c->type == CMD_BREAK_GLASS ?
				c->reason : NULL);
	bind_opt(st, 9, note);
	sqlite3_bind_int64(st, 10, c->node_id);
	sqlite3_bind_text(st, 11, outcome, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)a->index);
	rv = store_step_done(a->s, ST_AUDIT_INSERT, "write audit entry", a->errmsg);
	if (rv != ESC_OK)
		return rv;
	a->seq++;
	a->r->audit_seq = a->seq;
	return ESC_OK;
}

/* Sets meta key to value inside the entry's transaction. */
static int meta_set(struct apply *a, const char *key, const char *value, const char *what)
{
	sqlite3_stmt *st = a->s->st[ST_META_SET];

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	return store_step_done(a->s, ST_META_SET, what, a->errmsg);
}

static int apply_members(struct apply *a)
{
	const struct cmd *c = a->c;
	int rv;

	rv = meta_set(a, "members", c->members, "set members");
	if (rv != ESC_OK)
		return rv;
	a->members_done = true;
	return apply_audit(a, c->action, NULL, NULL, c->note, "done");
}

static int apply_init(struct apply *a)
{
	const struct cmd *c = a->c;
	int rv;

	if (a->s->cluster_id[0] != '\0')
		return apply_audit(a, "cluster.init", NULL, NULL, c->cluster_id,
				   "ignored");
	rv = meta_set(a, "cluster_id", c->cluster_id, "set cluster_id");
	if (rv != ESC_OK)
		return rv;
	rv = meta_set(a, "members", c->members, "set members");
	if (rv != ESC_OK)
		return rv;
	a->init_done = true;
	return apply_audit(a, "cluster.init", NULL, NULL, c->cluster_id,
			   "initialized");
}

/* Inserts the key of a->c unless one of its ID is there; *inserted says
 * which. */
static int key_insert(struct apply *a, bool *inserted)
{
	const struct cmd *c = a->c;
	sqlite3_stmt *st = a->s->st[ST_KEY_INSERT];
	int rv;

	sqlite3_bind_text(st, 1, c->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->volume_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->volume_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->machine, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->tpm_owner_hash, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, c->sealed, (int)c->sealed_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, c->pw_mac, SEAL_MAC_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, c->at_ms);
	sqlite3_bind_int64(st, 10, c->node_id);
	rv = store_step_done(a->s, ST_KEY_INSERT, "insert key", a->errmsg);
	*inserted = rv == ESC_OK && sqlite3_changes(a->s->db) > 0;
	return rv;
}

/* The key of a->c is there already: the same password and volume are
 * "unchanged", anything else a conflict. */
static int key_compare(struct apply *a, const char **outcome)
{
	const struct cmd *c = a->c;
	sqlite3_stmt *st = a->s->st[ST_KEY_GET];
	const unsigned char *vol;
	const void *mac;
	bool same;
	int rc, rv;

	sqlite3_bind_text(st, 1, c->key_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		/* The insert found it a moment ago, in this transaction. */
		rv = rc == SQLITE_DONE ? store_db_error(NULL, SQLITE_CORRUPT, "read key", a->errmsg)
				       : store_db_error(a->s->db, rc, "read key", a->errmsg);
		sqlite3_reset(st);
		return rv;
	}
	mac = sqlite3_column_blob(st, STORE_KEY_NCOLUMNS);
	vol = sqlite3_column_text(st, 1);
	same = mac != NULL && vol != NULL &&
	       sqlite3_column_bytes(st, STORE_KEY_NCOLUMNS) == SEAL_MAC_SIZE &&
	       memcmp(mac, c->pw_mac, SEAL_MAC_SIZE) == 0 &&
	       strcmp((const char *)vol, c->volume_id) == 0;
	sqlite3_reset(st);
	*outcome = same ? "unchanged" : "conflict";
	if (!same)
		a->r->status = ESC_ECONFLICT;
	return ESC_OK;
}

/* The key is inserted first, and read only when it was there already
 * (ON CONFLICT DO NOTHING): a new key, by far the most common, costs one
 * search of the keys' B-tree instead of two (issue 16). */
static int apply_escrow(struct apply *a)
{
	const struct cmd *c = a->c;
	const char *outcome = "created";
	bool inserted;
	int rv;

	rv = key_insert(a, &inserted);
	if (rv == ESC_OK && inserted) {
		a->r->created = true;
		rv = apply_rejudge_machine(a, c->machine);
	} else if (rv == ESC_OK) {
		rv = key_compare(a, &outcome);
	}
	if (rv != ESC_OK)
		return rv;
	return apply_audit(a, "key.escrow", c->key_id, c->machine, c->note, outcome);
}

/* Sets disclosed_at of k (already read) if it was never disclosed. */
static int key_disclose(struct apply *a, struct store_key *k)
{
	sqlite3_stmt *st = a->s->st[ST_KEY_DISCLOSE];
	int rv;

	/* Read in this apply: disclosed before, it keeps its first time, and
	 * the statement would change nothing (issue 16: a twentieth of a
	 * lookup's apply). */
	if (k->disclosed_at_ms != 0)
		return ESC_OK;
	sqlite3_bind_text(st, 1, k->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->c->at_ms);
	rv = store_step_done(a->s, ST_KEY_DISCLOSE, "mark key disclosed",
			     a->errmsg);
	if (rv != ESC_OK)
		return rv;
	if (sqlite3_changes(a->s->db) == 0)
		return ESC_OK;
	k->disclosed_at_ms = a->c->at_ms;
	return apply_rejudge_machine(a, k->machine);
}

/* A break-glass lookup a node served without a leader, replayed from its
 * journal: the key.read audit entry with outcome "break_glass:ID" (at and
 * node: when and where it was served) and the disclosure, unless an entry
 * with that outcome is there already (a replay sent again). */
static int apply_break_glass(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	sqlite3_stmt *st = s->st[ST_AUDIT_SEEN];
	char outcome[sizeof STORE_BREAK_GLASS_OUTCOME + CMD_BG_ID_MAX];
	struct store_key *k;
	int rc, rv;

	snprintf(outcome, sizeof outcome, "%s%s", STORE_BREAK_GLASS_OUTCOME, c->bg_id);
	sqlite3_bind_text(st, 1, c->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, outcome, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW) {
		a->r->duplicate = true;
		return ESC_OK;
	}
	if (rc != SQLITE_DONE)
		return store_db_error(s->db, rc, "read audit", a->errmsg);
	rv = store_keys_reserve(s, 1, a->errmsg);
	if (rv != ESC_OK)
		return rv;
	k = &s->keys[0];
	st = s->st[ST_KEY_GET];
	sqlite3_bind_text(st, 1, c->key_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_row_key(st, k);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_db_error(s->db, rc, "read key", a->errmsg);
	/* The node served it from its copy: the key is here unless a
	 * snapshot older than it was restored; the entry is kept anyway. */
	if (rc == SQLITE_ROW) {
		rv = key_disclose(a, k);
		if (rv != ESC_OK)
			return rv;
	}
	return apply_audit(a, "key.read", c->key_id, rc == SQLITE_ROW ? k->machine : NULL,
			   c->note, outcome);
}

/* This read (key, node, time, actor) disclosed the key already: the same
 * request applied a second time (retried in the cluster after its first
 * entry's fate was unknown). Its times are unique (node/readstamp.h), so
 * no second audit entry is written. *seen set; ESC_OK or the error. */
static int read_seen(struct apply *a, const char *key_id, bool *seen)
{
	const struct cmd *c = a->c;
	sqlite3_stmt *st = a->s->st[ST_READ_SEEN];
	int rc;

	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->at_ms);
	sqlite3_bind_int64(st, 3, c->node_id);
	sqlite3_bind_text(st, 4, c->actor, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_db_error(a->s->db, rc, "read audit", a->errmsg);
	*seen = rc == SQLITE_ROW;
	if (*seen)
		a->r->duplicate = true;
	return ESC_OK;
}

static int apply_lookup(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	sqlite3_stmt *st = s->st[ST_KEY_GET];
	struct store_key *k;
	bool seen;
	int rc, rv;

	rv = store_keys_reserve(s, 1, a->errmsg);
	if (rv != ESC_OK)
		return rv;
	k = &s->keys[0];
	sqlite3_bind_text(st, 1, c->key_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		a->r->status = ESC_ENOTFOUND;
		return apply_audit(a, "key.read_miss", c->key_id, NULL, c->note,
				   "not_found");
	}
	if (rc != SQLITE_ROW) {
		rv = store_db_error(s->db, rc, "read key", a->errmsg);
		sqlite3_reset(st);
		return rv;
	}
	store_row_key(st, k);
	sqlite3_reset(st);
	a->r->keys = s->keys;
	a->r->n_keys = 1;
	rv = read_seen(a, k->key_id, &seen);
	if (rv != ESC_OK || seen)
		return rv;
	rv = key_disclose(a, k);
	if (rv != ESC_OK)
		return rv;
	return apply_audit(a, "key.read", k->key_id, k->machine, c->note,
			   "disclosed");
}

static int apply_lookup_prefix(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	sqlite3_stmt *st = s->st[ST_KEY_RANGE];
	char lo[VALIDATE_GUID_LEN + 1], hi[VALIDATE_GUID_LEN + 2];
	char note[VALIDATE_NOTE_MAX + VALIDATE_PREFIX_MAX + 16];
	size_t n = 0, i;
	int rc = SQLITE_DONE, rv;

	rv = store_keys_reserve(s, STORE_PREFIX_LIMIT, a->errmsg);
	if (rv != ESC_OK)
		return rv;
	store_prefix_range(c->prefix, lo, hi);
	sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, STORE_PREFIX_LIMIT);
	while (n < STORE_PREFIX_LIMIT && (rc = sqlite3_step(st)) == SQLITE_ROW)
		store_row_key(st, &s->keys[n++]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rv = store_db_error(s->db, rc, "read keys by prefix", a->errmsg);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rv != ESC_OK)
		return rv;
	if (n == 0) {
		a->r->status = ESC_ENOTFOUND;
		snprintf(note, sizeof(note), "prefix %s%s%s", c->prefix,
			 c->note[0] != '\0' ? ": " : "", c->note);
		return apply_audit(a, "key.read_miss", NULL, NULL, note,
				   "not_found");
	}
	for (i = 0; i < n; i++) {
		bool seen;
		rv = read_seen(a, s->keys[i].key_id, &seen);
		if (rv != ESC_OK)
			return rv;
		if (seen)
			continue;
		rv = key_disclose(a, &s->keys[i]);
		if (rv != ESC_OK)
			return rv;
		rv = apply_audit(a, "key.read", s->keys[i].key_id,
				 s->keys[i].machine, c->note, "disclosed");
		if (rv != ESC_OK)
			return rv;
	}
	a->r->keys = s->keys;
	a->r->n_keys = n;
	return ESC_OK;
}

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

/* A command the codec let through but that breaks the store's assumptions
 * (unterminated strings, un-normalised IDs) is applied as a no-op with
 * status ESC_EINVAL, the same on every node. */
static bool cmd_sound(const struct cmd *c)
{
	/* The longest normal form: a machine (a key ID or a prefix is shorter). */
	char norm[VALIDATE_MACHINE_MAX + 1];

	if (!TERMINATED(c->actor) || !TERMINATED(c->role) ||
	    !TERMINATED(c->cluster_id) || !TERMINATED(c->members) ||
	    !TERMINATED(c->key_id) || !TERMINATED(c->volume_id) ||
	    !TERMINATED(c->volume_type) || !TERMINATED(c->machine) ||
	    !TERMINATED(c->user) || !TERMINATED(c->tpm_owner_hash) ||
	    !TERMINATED(c->prefix) || !TERMINATED(c->reason) ||
	    !TERMINATED(c->note) || !TERMINATED(c->bg_id) ||
	    c->sealed_len > SEAL_SEALED_MAX)
		return false;
	switch (c->type) {
	case CMD_INIT:
		return c->cluster_id[0] != '\0';
	case CMD_ESCROW:
		return validate_key_id(c->key_id, norm, NULL) &&
		       strcmp(norm, c->key_id) == 0 &&
		       validate_machine(c->machine, norm, NULL) &&
		       strcmp(norm, c->machine) == 0 &&
		       validate_volume_type(c->volume_type, NULL) &&
		       c->volume_id[0] != '\0' && c->sealed_len > 0;
	case CMD_LOOKUP:
		return validate_key_id(c->key_id, norm, NULL) &&
		       strcmp(norm, c->key_id) == 0;
	case CMD_LOOKUP_PREFIX:
		return validate_prefix(c->prefix, norm, NULL) &&
		       strcmp(norm, c->prefix) == 0;
	case CMD_MEMBERS:
		return TERMINATED(c->action) && c->members[0] != '\0' &&
		       (strcmp(c->action, "cluster.add") == 0 ||
			strcmp(c->action, "cluster.remove") == 0);
	case CMD_AUDIT:
		return TERMINATED(c->action) && (strcmp(c->action, "snapshot.save") == 0 ||
						 strcmp(c->action, "cluster.transfer") == 0);
	case CMD_COMPLIANCE:
		return validate_machine(c->machine, norm, NULL) &&
		       strcmp(norm, c->machine) == 0 && c->payload != NULL &&
		       c->payload_len > 0;
	case CMD_POLICY:
		return c->payload != NULL && c->payload_len > 0;
	case CMD_EXEMPT:
		return validate_machine(c->machine, norm, NULL) &&
		       strcmp(norm, c->machine) == 0 && c->until_ms >= 0 &&
		       c->until_ms <= STORE_TIME_MAX_MS;
	case CMD_BREAK_GLASS:
		return validate_key_id(c->key_id, norm, NULL) &&
		       strcmp(norm, c->key_id) == 0 && c->bg_id[0] != '\0' &&
		       validate_reason(c->reason, c->note, NULL) && c->at_ms >= 0 &&
		       c->at_ms <= STORE_TIME_MAX_MS;
	case CMD_REJUDGE:
		return c->policy_index > 0 &&
		       (c->machine[0] == '\0' || (validate_machine(c->machine, norm, NULL) &&
						  strcmp(norm, c->machine) == 0));
	default:
		return false;
	}
}

static int apply_cmd(struct apply *a)
{
	if (!cmd_sound(a->c)) {
		a->r->status = ESC_EINVAL;
		return ESC_OK;
	}
	switch (a->c->type) {
	case CMD_INIT:
		return apply_init(a);
	case CMD_ESCROW:
		return apply_escrow(a);
	case CMD_LOOKUP:
		return apply_lookup(a);
	case CMD_MEMBERS:
		return apply_members(a);
	case CMD_AUDIT: /* written before the copy is made: its outcome is unknown */
		return apply_audit(a, a->c->action, NULL, NULL, a->c->note, "started");
	case CMD_COMPLIANCE:
		return apply_compliance(a);
	case CMD_POLICY:
		return apply_policy(a);
	case CMD_EXEMPT:
		return apply_exempt(a);
	case CMD_REJUDGE:
		return apply_rejudge(a);
	case CMD_BREAK_GLASS:
		return apply_break_glass(a);
	default:
		return apply_lookup_prefix(a);
	}
}

/* The open batch is undone, entries the node was told were applied with
 * it: the cached values follow the disk again, and every later apply and
 * flush fails with s->lost (what happened, and why). The node stops, and
 * applies the entries again from its Raft log at its next start. */
static void batch_lost(struct store *s, const char *what, const char *why)
{
	char scratch[ESC_ERRMSG_SIZE];

	s->batch = 0;
	if (!sqlite3_get_autocommit(s->db))
		store_step_done(s, ST_ROLLBACK, "rollback", NULL);
	store_load_cache(s, scratch);
	s->digest_valid = false;
	snprintf(s->lost, sizeof s->lost, "%s (%.150s): this copy misses them", what, why);
}

/* An entry failed in the open batch (why): the batch is undone. When the
 * entry was alone in it, the store is as before it; otherwise batch_lost. */
static void batch_undo(struct store *s, const char *why)
{
	if (s->batch > 1) {
		batch_lost(s, "entries applied before a failed one were undone with it", why);
		return;
	}
	s->batch = 0;
	if (!sqlite3_get_autocommit(s->db))
		store_step_done(s, ST_ROLLBACK, "rollback", NULL);
}

int store_apply(struct store *s, uint64_t index, const struct cmd *c,
		struct store_result *result, char *errmsg)
{
	struct apply a = {
		.s = s, .index = index, .c = c, .r = result,
		.seq = s->audit_seq, .init_done = false, .members_done = false,
		.policy_done = false, .errmsg = errmsg,
	};
	char where[48];
	bool undo = false;
	int rv;

	memset(result, 0, sizeof(*result));
	result->index = index;
	if (index <= s->applied_index) {
		result->skipped = true;
		return ESC_OK;
	}
	if (s->lost[0] != '\0')
		return esc_errorf(errmsg, ESC_EIO, "apply entry %llu: %s",
				  (unsigned long long)index, s->lost);
	if (index > INT64_MAX)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "apply entry %llu: index out of range",
				  (unsigned long long)index);
	if (s->batch == 0) {
		rv = store_step_done(s, ST_BEGIN, "begin", errmsg);
		if (rv != ESC_OK)
			goto err;
	}
	s->batch++;
	/* No savepoint per entry: its sub-journal copied every page an entry
	 * touched (a temporary file past 64 KiB), two thirds of a follower's
	 * apply time. A failed entry undoes the whole batch instead
	 * (err_rollback). */
	rv = apply_cmd(&a);
	if (rv != ESC_OK)
		goto err_rollback;

	s->applied_index = index;
	s->audit_seq = a.seq;
	if (a.init_done)
		snprintf(s->cluster_id, sizeof(s->cluster_id), "%s", c->cluster_id);
	if (a.init_done || a.members_done)
		snprintf(s->members, sizeof(s->members), "%s", c->members);
	if (a.policy_done) {
		s->policy = a.policy;
		s->policy_index = index;
	}
	if (a.rejudge_done) {
		s->rejudging = a.rejudging;
		snprintf(s->rejudge_after, sizeof(s->rejudge_after), "%s", a.rejudge_after);
	}
	s->digest_valid = false;
	if (s->batch >= STORE_BATCH_MAX)
		return store_flush(s, errmsg);
	return ESC_OK;

err_rollback:
	undo = true;
err:
	snprintf(where, sizeof(where), "apply entry %llu", (unsigned long long)index);
	esc_errprefix(errmsg, where);
	if (undo)
		batch_undo(s, errmsg);
	memset(result, 0, sizeof(*result));
	result->index = index;
	return rv;
}

int store_flush(struct store *s, char *errmsg)
{
	char scratch[ESC_ERRMSG_SIZE];
	sqlite3_stmt *st;
	int rv;

	if (errmsg == NULL)
		errmsg = scratch;
	if (s->lost[0] != '\0')
		return esc_errorf(errmsg, ESC_EIO, "%s", s->lost);
	if (s->batch == 0)
		return ESC_OK;
	s->batch = 0;
	/* Once per batch, in its transaction: set for each entry, it was 2 %
	 * of a busy leader's CPU (on every node). */
	st = s->st[ST_META_SET];
	sqlite3_bind_text(st, 1, "applied_index", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)s->applied_index);
	rv = store_step_done(s, ST_META_SET, "set applied_index", errmsg);
	if (rv == ESC_OK)
		rv = store_step_done(s, ST_COMMIT, "commit", errmsg);
	if (rv == ESC_OK) {
		s->commits++;
		return ESC_OK;
	}
	esc_errprefix(errmsg, "flush");
	batch_lost(s, "a batch of applied entries could not be committed", errmsg);
	return rv;
}
