/* Applying the compliance commands: reports, the policy, exemptions, and judging reports again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/error.h"
#include "store/compliance_wire.h"
#include "store/store_internal.h"

/* judge_report's key_state, answered from keys. The first database error
 * is kept (the verdict is then thrown away). */
struct key_reader {
	struct store *s;
	int rv;
	char *errmsg;
};

static enum judge_key_state key_state_cb(void *data, const char *machine, const char *key_id)
{
	struct key_reader *kr = data;
	sqlite3_stmt *st = kr->s->st[ST_KEY_STATE];
	enum judge_key_state state = JUDGE_KEY_MISSING;
	const unsigned char *owner;
	int rc;

	if (kr->rv != ESC_OK)
		return JUDGE_KEY_MISSING;
	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		owner = sqlite3_column_text(st, 0);
		if (owner != NULL && strcmp((const char *)owner, machine) == 0)
			state = sqlite3_column_type(st, 1) == SQLITE_NULL ? JUDGE_KEY_HELD :
									     JUDGE_KEY_DISCLOSED;
	} else if (rc != SQLITE_DONE) {
		kr->rv = store_db_error(kr->s->db, rc, "read key state", kr->errmsg);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return state;
}

/* Judges the scratch report against p into the scratch verdict. */
static int judge(struct apply *a, const struct compliance_policy *p)
{
	struct store_scratch *x = a->s->scratch;
	struct key_reader kr = { a->s, ESC_OK, a->errmsg };

	judge_report(&x->report, p, key_state_cb, &kr, &x->verdict);
	return kr.rv;
}

/* Decodes the report in column col of st's current row into the scratch. */
static bool report_load(struct store *s, sqlite3_stmt *st, int col)
{
	const void *blob = sqlite3_column_blob(st, col);
	char why[ESC_ERRMSG_SIZE];

	return blob != NULL &&
	       compliance_report_decode(blob, (size_t)sqlite3_column_bytes(st, col),
					&s->scratch->report, why) == ESC_OK;
}

/* Records the scratch verdict as machine's newest change (one per entry:
 * a second judgement in the same entry replaces it) and keeps the
 * STORE_HISTORY_MAX newest. */
static int history_add(struct apply *a, const char *machine)
{
	struct store *s = a->s;
	const struct judge_verdict *v = &s->scratch->verdict;
	sqlite3_stmt *st = s->st[ST_VERDICT_ADD];
	int rv;

	sqlite3_bind_text(st, 1, machine, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->index);
	sqlite3_bind_int64(st, 3, a->c->at_ms);
	sqlite3_bind_int(st, 4, v->status);
	sqlite3_bind_int64(st, 5, v->reasons);
	rv = store_step_done(s, ST_VERDICT_ADD, "record verdict", a->errmsg);
	if (rv != ESC_OK)
		return rv;
	sqlite3_bind_text(s->st[ST_VERDICT_TRIM], 1, machine, -1, SQLITE_STATIC);
	return store_step_done(s, ST_VERDICT_TRIM, "trim verdicts", a->errmsg);
}

/* Judges machine's stored report (decoded into the scratch) against p and
 * writes the verdict only when it differs from the stored one. */
static int rejudge_decoded(struct apply *a, const char *machine, int old_status,
			   uint32_t old_reasons, const struct compliance_policy *p)
{
	struct store *s = a->s;
	const struct judge_verdict *v = &s->scratch->verdict;
	sqlite3_stmt *st = s->st[ST_MACHINE_JUDGED];
	int rv;

	rv = judge(a, p);
	if (rv != ESC_OK)
		return rv;
	if (v->status == old_status && v->reasons == old_reasons)
		return ESC_OK;
	sqlite3_bind_text(st, 1, machine, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, v->status);
	sqlite3_bind_int64(st, 3, v->reasons);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)a->index);
	rv = store_step_done(s, ST_MACHINE_JUDGED, "store verdict", a->errmsg);
	if (rv != ESC_OK)
		return rv;
	return history_add(a, machine);
}

/* Judges machine's stored report again, if it has one. A stored report
 * that does not decode (only a hand-made image could hold one) keeps its
 * verdict, on every node alike. */
static int rejudge_machine(struct apply *a, const char *machine,
			   const struct compliance_policy *p)
{
	struct store *s = a->s;
	sqlite3_stmt *st = s->st[ST_REPORT_GET];
	uint32_t old_reasons;
	bool decoded;
	int rc, rv, old_status;

	sqlite3_bind_text(st, 1, machine, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = rc == SQLITE_DONE ? ESC_OK :
					 store_db_error(s->db, rc, "read report", a->errmsg);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return rv;
	}
	decoded = report_load(s, st, 0);
	old_status = sqlite3_column_int(st, 1);
	old_reasons = (uint32_t)sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (!decoded)
		return ESC_OK;
	return rejudge_decoded(a, machine, old_status, old_reasons, p);
}

/* Judges the stored reports of the machines after a->rejudge_after against
 * p, in machine order, at most STORE_REJUDGE_BATCH of them; leaves the last
 * one judged in a->rejudge_after and says whether any is left in *more.
 * Each machine is found from the last one's name, so that no read stays
 * open on machines while it is written. */
static int rejudge_batch(struct apply *a, const struct compliance_policy *p, bool *more)
{
	struct store *s = a->s;
	sqlite3_stmt *st = s->st[ST_REPORT_NEXT];
	const unsigned char *name;
	uint32_t old_reasons;
	bool decoded;
	int rc, rv = ESC_OK, old_status;
	unsigned n;

	*more = false;
	for (n = 0; n < STORE_REJUDGE_BATCH; n++) {
		sqlite3_bind_text(st, 1, a->rejudge_after, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			if (rc != SQLITE_DONE)
				rv = store_db_error(s->db, rc, "read reports", a->errmsg);
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return rv;
		}
		name = sqlite3_column_text(st, 0);
		if (name == NULL || strlen((const char *)name) >= sizeof(a->rejudge_after) ||
		    strlen((const char *)name) != (size_t)sqlite3_column_bytes(st, 0)) {
			/* Uploads validate machine names: only a hand-made
			 * image holds one the cursor cannot pass. The re-judge
			 * ends here, alike on every node. */
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return ESC_OK;
		}
		snprintf(a->rejudge_after, sizeof(a->rejudge_after), "%s", (const char *)name);
		decoded = report_load(s, st, 1);
		old_status = sqlite3_column_int(st, 2);
		old_reasons = (uint32_t)sqlite3_column_int64(st, 3);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (!decoded)
			continue;
		rv = rejudge_decoded(a, a->rejudge_after, old_status, old_reasons, p);
		if (rv != ESC_OK)
			return rv;
	}
	*more = true;
	return ESC_OK;
}

/* meta rejudge_after from a->rejudging and a->rejudge_after. */
static int rejudge_record(struct apply *a)
{
	struct store *s = a->s;
	sqlite3_stmt *st = s->st[ST_META_SET];

	sqlite3_bind_text(st, 1, "rejudge_after", -1, SQLITE_STATIC);
	if (a->rejudging)
		sqlite3_bind_text(st, 2, a->rejudge_after, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	a->rejudge_done = true;
	return store_step_done(s, ST_META_SET, "set rejudge_after", a->errmsg);
}

bool store_rejudging(const struct store *s)
{
	return s->rejudging;
}

bool store_rejudge_due(const struct store *s, struct cmd *c)
{
	if (!s->rejudging)
		return false;
	c->type = CMD_REJUDGE;
	c->policy_index = (int64_t)s->policy_index;
	snprintf(c->machine, sizeof(c->machine), "%s", s->rejudge_after);
	return true;
}

int apply_rejudge(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	bool more;
	int rv;

	/* A batch proposed twice (a new leader), or for a policy since
	 * replaced: the next one is proposed from the state as it is. */
	if (!s->rejudging || (uint64_t)c->policy_index != s->policy_index ||
	    strcmp(c->machine, s->rejudge_after) != 0) {
		a->r->status = ESC_ECONFLICT;
		return ESC_OK;
	}
	snprintf(a->rejudge_after, sizeof(a->rejudge_after), "%s", c->machine);
	rv = rejudge_batch(a, &s->policy, &more);
	if (rv != ESC_OK)
		return rv;
	a->rejudging = more;
	return rejudge_record(a);
}

int apply_rejudge_machine(struct apply *a, const char *machine)
{
	return rejudge_machine(a, machine, &a->s->policy);
}

static int key_id_cmp(const void *x, const void *y)
{
	return strcmp(x, y);
}

/* The keys r lists into ids, sorted, once each; their count into *n. */
static void report_key_ids(const struct compliance_report *r,
			   char (*ids)[VALIDATE_GUID_LEN + 1], size_t *n)
{
	size_t all = 0, i, out;

	for (unsigned v = 0; v < r->n_volumes && v < COMPLIANCE_VOLUMES_MAX; v++) {
		const struct compliance_volume *vol = &r->volumes[v];

		for (unsigned k = 0; k < vol->n_key_ids && k < COMPLIANCE_KEY_IDS_MAX; k++)
			memcpy(ids[all++], vol->key_ids[k], VALIDATE_GUID_LEN + 1);
	}
	qsort(ids, all, sizeof(ids[0]), key_id_cmp);
	for (i = 0, out = 0; i < all; i++) {
		if (out > 0 && strcmp(ids[out - 1], ids[i]) == 0)
			continue;
		if (out != i)
			memcpy(ids[out], ids[i], sizeof(ids[0]));
		out++;
	}
	*n = out;
}

/* Binds key_id and the command's machine to ST_KEY_RETIRE or
 * ST_KEY_UNRETIRE and steps it. */
static int key_step(struct apply *a, enum store_stmt which, const char *key_id,
		    const char *what)
{
	sqlite3_stmt *st = a->s->st[which];

	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->c->machine, -1, SQLITE_STATIC);
	if (which == ST_KEY_RETIRE)
		sqlite3_bind_int64(st, 3, a->c->at_ms);
	return store_step_done(a->s, which, what, a->errmsg);
}

/* The keys of this machine that the report it replaces listed (the scratch's
 * old ones) and this one does not are retired; the ones it lists that the
 * old one did not are not retired (any more). A key both list was not
 * retired by the old report and stays as it is: only a report that stops
 * listing a key retires it. Both lists are sorted: one merge walk. */
static int listing_update(struct apply *a)
{
	struct store_scratch *x = a->s->scratch;
	size_t i = 0, j = 0;
	int rv = ESC_OK, cmp;

	report_key_ids(&x->report, x->key_ids, &x->n_key_ids);
	while (rv == ESC_OK && (i < x->n_old_key_ids || j < x->n_key_ids)) {
		if (i == x->n_old_key_ids)
			cmp = 1;
		else if (j == x->n_key_ids)
			cmp = -1;
		else
			cmp = strcmp(x->old_key_ids[i], x->key_ids[j]);
		if (cmp < 0)
			rv = key_step(a, ST_KEY_RETIRE, x->old_key_ids[i++], "retire key");
		else if (cmp > 0)
			rv = key_step(a, ST_KEY_UNRETIRE, x->key_ids[j++], "unretire key");
		else
			i++, j++;
	}
	return rv;
}

/* The machine's stored verdict and the keys its stored report lists (into
 * the scratch's old ones), if it has reported before. A stored report that
 * does not decode (only a hand-made image could hold one) lists none. */
static int previous_read(struct apply *a, bool *had, int *status, uint32_t *reasons)
{
	struct store *s = a->s;
	struct store_scratch *x = s->scratch;
	sqlite3_stmt *st = s->st[ST_REPORT_GET];
	const void *blob;
	char why[ESC_ERRMSG_SIZE];
	int rc, rv = ESC_OK;

	x->n_old_key_ids = 0;
	sqlite3_bind_text(st, 1, a->c->machine, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*had = rc == SQLITE_ROW;
	if (*had) {
		blob = sqlite3_column_blob(st, 0);
		if (blob != NULL &&
		    compliance_report_decode(blob, (size_t)sqlite3_column_bytes(st, 0),
					     &x->old_report, why) == ESC_OK)
			report_key_ids(&x->old_report, x->old_key_ids, &x->n_old_key_ids);
		*status = sqlite3_column_int(st, 1);
		*reasons = (uint32_t)sqlite3_column_int64(st, 2);
	} else if (rc != SQLITE_DONE) {
		rv = store_db_error(s->db, rc, "read previous report", a->errmsg);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

/* Stores the scratch report (its bytes are the command's payload) and
 * verdict as machine's latest. */
static int machine_put(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	const struct store_scratch *x = s->scratch;
	sqlite3_stmt *st = s->st[ST_MACHINE_PUT];
	int rv;

	sqlite3_bind_text(st, 1, c->machine, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->report.user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->report.os, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->at_ms);
	sqlite3_bind_int(st, 5, x->verdict.status);
	sqlite3_bind_int64(st, 6, x->verdict.reasons);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)a->index);
	rv = store_step_done(s, ST_MACHINE_PUT, "store machine", a->errmsg);
	if (rv != ESC_OK)
		return rv;
	st = s->st[ST_REPORT_PUT];
	sqlite3_bind_text(st, 1, c->machine, -1, SQLITE_STATIC);
	/* The decoder accepts only what the encoder writes: these bytes are
	 * the report's one encoding. */
	sqlite3_bind_blob(st, 2, c->payload, (int)c->payload_len, SQLITE_STATIC);
	return store_step_done(s, ST_REPORT_PUT, "store report", a->errmsg);
}

int apply_compliance(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	struct store_scratch *x = s->scratch;
	char why[ESC_ERRMSG_SIZE];
	uint32_t old_reasons = 0;
	int old_status = 0, rv;
	bool had;

	if (compliance_report_decode(c->payload, c->payload_len, &x->report, why) != ESC_OK ||
	    strcmp(x->report.machine, c->machine) != 0) {
		a->r->status = ESC_EINVAL;
		return ESC_OK;
	}
	rv = previous_read(a, &had, &old_status, &old_reasons);
	if (rv == ESC_OK)
		rv = judge(a, &s->policy);
	if (rv == ESC_OK)
		rv = machine_put(a);
	if (rv == ESC_OK)
		rv = listing_update(a);
	if (rv == ESC_OK &&
	    (!had || old_status != x->verdict.status || old_reasons != x->verdict.reasons))
		rv = history_add(a, c->machine);
	if (rv != ESC_OK)
		return rv;
	a->r->verdict = x->verdict.status;
	a->r->reasons = x->verdict.reasons;
	a->r->rotate_key_ids = x->verdict.rotate_key_ids;
	a->r->n_rotate = x->verdict.n_rotate;
	return ESC_OK;
}

int apply_policy(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	uint8_t now[COMPLIANCE_WIRE_POLICY_SIZE], before[COMPLIANCE_WIRE_POLICY_SIZE];
	sqlite3_stmt *st = s->st[ST_META_SET];
	char why[ESC_ERRMSG_SIZE];
	bool same;
	int rv;

	if (compliance_policy_decode(c->payload, c->payload_len, &a->policy, why) != ESC_OK) {
		a->r->status = ESC_EINVAL;
		return ESC_OK;
	}
	compliance_policy_encode(&a->policy, now);
	compliance_policy_encode(&s->policy, before);
	same = memcmp(now, before, sizeof(now)) == 0;

	sqlite3_bind_text(st, 1, "policy", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, now, sizeof(now), SQLITE_STATIC);
	rv = store_step_done(s, ST_META_SET, "set policy", a->errmsg);
	if (rv != ESC_OK)
		return rv;
	sqlite3_bind_text(st, 1, "policy_index", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->index);
	rv = store_step_done(s, ST_META_SET, "set policy_index", a->errmsg);
	if (rv != ESC_OK)
		return rv;
	a->policy_done = true;
	rv = apply_audit(a, "policy.set", NULL, NULL, NULL, same ? "unchanged" : "set");
	if (rv != ESC_OK || same)
		return rv;
	/* Every verdict is kept current as keys change, so only another
	 * policy can change one: judge them all again, from the first. */
	a->rejudging = true;
	a->rejudge_after[0] = '\0';
	return rejudge_record(a);
}

/* ms since the epoch (0 to STORE_TIME_MAX_MS) as RFC 3339 UTC with ms. */
static void time_text(int64_t ms, char *out, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t n = 0;

	if (gmtime_r(&secs, &tm) != NULL)
		n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03dZ", (int)(ms % 1000));
}

int apply_exempt(struct apply *a)
{
	struct store *s = a->s;
	const struct cmd *c = a->c;
	sqlite3_stmt *st = s->st[ST_EXEMPT_PUT];
	char outcome[64], when[40];
	int rv;

	if (c->until_ms == 0) {
		sqlite3_bind_text(s->st[ST_EXEMPT_DELETE], 1, c->machine, -1, SQLITE_STATIC);
		rv = store_step_done(s, ST_EXEMPT_DELETE, "end exemption", a->errmsg);
		if (rv != ESC_OK)
			return rv;
		if (sqlite3_changes(s->db) == 0) {
			a->r->status = ESC_ENOTFOUND;
			return ESC_OK;
		}
		return apply_audit(a, "machine.exempt", NULL, c->machine, c->note, "end");
	}
	sqlite3_bind_text(st, 1, c->machine, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->until_ms);
	sqlite3_bind_text(st, 3, c->note, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->at_ms);
	sqlite3_bind_text(st, 5, c->actor, -1, SQLITE_STATIC);
	rv = store_step_done(s, ST_EXEMPT_PUT, "set exemption", a->errmsg);
	if (rv != ESC_OK)
		return rv;
	time_text(c->until_ms, when, sizeof(when));
	snprintf(outcome, sizeof(outcome), "until %s", when);
	return apply_audit(a, "machine.exempt", NULL, c->machine, c->note, outcome);
}
