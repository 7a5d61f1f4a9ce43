/* Reads of compliance: the policy, a machine, and the compliance report with its counts. */
#include <stdint.h>
#include <string.h>

#include "lib/error.h"
#include "store/compliance_wire.h"
#include "store/store_internal.h"

#define DAY_MS 86400000LL

int store_policy(struct store *s, struct compliance_policy *p, uint64_t *index, char *errmsg)
{
	(void)errmsg; /* cached: nothing to fail (yet) */
	*p = s->policy;
	*index = s->policy_index;
	return ESC_OK;
}

/* The lower-case form of a machine name of any case, or "" for NULL. */
static int machine_lower(const char *in, char out[VALIDATE_MACHINE_MAX + 1], const char *what,
			 char *errmsg)
{
	size_t len, i;

	if (in == NULL)
		in = "";
	len = strnlen(in, VALIDATE_MACHINE_MAX + 1);
	if (len > VALIDATE_MACHINE_MAX)
		return esc_errorf(errmsg, ESC_EINVAL, "%s: machine name longer than %d characters",
				  what, VALIDATE_MACHINE_MAX);
	for (i = 0; i < len; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	out[len] = '\0';
	return ESC_OK;
}

/* Reports from before cutoff are stale at now_ms under the policy. */
static int64_t stale_cutoff(const struct store *s, int64_t now_ms)
{
	int64_t span = (int64_t)s->policy.stale_after_days * DAY_MS;

	return now_ms < INT64_MIN + span ? INT64_MIN : now_ms - span;
}

/* The status a machine shows at now_ms (store.h, store_machine). */
static uint8_t effective_status(uint8_t stored, int64_t reported_at_ms, int64_t cutoff_ms,
				bool exempt, int64_t until_ms, int64_t now_ms, bool *stale)
{
	*stale = false;
	if (exempt && until_ms > now_ms)
		return COMPLIANCE_STATUS_EXEMPT;
	if (reported_at_ms < cutoff_ms) {
		*stale = true;
		return COMPLIANCE_STATUS_UNKNOWN;
	}
	if (stored != COMPLIANCE_STATUS_COMPLIANT && stored != COMPLIANCE_STATUS_NONCOMPLIANT)
		return COMPLIANCE_STATUS_UNKNOWN;
	return stored;
}

/* The machine's verdict changes, newest first. */
static int history_read(struct store *s, const char *machine, struct store_machine *out,
			char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_VERDICTS_OF];
	int rc = SQLITE_DONE, rv = ESC_OK;

	out->n_history = 0;
	sqlite3_bind_text(st, 1, machine, -1, SQLITE_STATIC);
	while (out->n_history < STORE_HISTORY_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_verdict *v = &out->history[out->n_history++];

		v->index = (uint64_t)sqlite3_column_int64(st, 0);
		v->at_ms = sqlite3_column_int64(st, 1);
		v->status = (uint8_t)sqlite3_column_int(st, 2);
		v->reasons = (uint32_t)sqlite3_column_int64(st, 3);
	}
	if (out->n_history < STORE_HISTORY_MAX && rc != SQLITE_DONE)
		rv = store_db_error(s->db, rc, "machine: read history", errmsg);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

int store_machine(struct store *s, const char *machine, int64_t now_ms,
		  struct store_machine *out, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_MACHINE_READ];
	char name[VALIDATE_MACHINE_MAX + 1], why[ESC_ERRMSG_SIZE];
	const void *blob;
	int rc, rv;

	memset(out, 0, sizeof(*out));
	rv = machine_lower(machine, name, "machine", errmsg);
	if (rv != ESC_OK)
		return rv;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = rc == SQLITE_DONE ?
			     esc_errorf(errmsg, ESC_ENOTFOUND, "machine %s has not reported", name) :
			     store_db_error(s->db, rc, "machine", errmsg);
		goto out;
	}
	blob = sqlite3_column_blob(st, 6);
	if (blob == NULL || compliance_report_decode(blob, (size_t)sqlite3_column_bytes(st, 6),
						     &out->report, why) != ESC_OK) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT, "machine %s: its stored report: %s", name,
				blob == NULL ? "missing" : why);
		goto out;
	}
	out->reported_at_ms = sqlite3_column_int64(st, 2);
	out->verdict = (uint8_t)sqlite3_column_int(st, 3);
	out->reasons = (uint32_t)sqlite3_column_int64(st, 4);
	out->judged_index = (uint64_t)sqlite3_column_int64(st, 5);
	out->exempt = sqlite3_column_type(st, 7) != SQLITE_NULL;
	if (out->exempt) {
		out->exempt_until_ms = sqlite3_column_int64(st, 7);
		store_copy_text(st, 8, out->exempt_note, sizeof(out->exempt_note));
		out->exempt_at_ms = sqlite3_column_int64(st, 9);
		store_copy_text(st, 10, out->exempt_actor, sizeof(out->exempt_actor));
	}
	out->status = effective_status(out->verdict, out->reported_at_ms,
				       stale_cutoff(s, now_ms), out->exempt,
				       out->exempt_until_ms, now_ms, &out->stale);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return history_read(s, name, out, errmsg);

out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

/* a + b, at most INT64_MAX (both >= 0 or a small). */
static int64_t add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Counts every machine by its status at now_ms into s->counts: stored
 * verdicts and staleness from the machines_status index, then the
 * machines with a running exemption moved to exempt (exemptions are few).
 * Records until when the counts hold: the first time a fresh report goes
 * stale or a running exemption ends. */
static int count_all(struct store *s, int64_t now_ms, int64_t cutoff, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_COMPLIANCE_COUNT];
	int64_t span = (int64_t)s->policy.stale_after_days * DAY_MS, until = INT64_MAX;
	uint64_t *counts = s->counts;
	uint8_t base;
	bool stale;
	int rc, rv = ESC_OK, i;

	s->counts_valid = false;
	sqlite3_bind_int64(st, 1, cutoff);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = store_db_error(s->db, rc, "compliance counts", errmsg);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return rv;
	}
	counts[COMPLIANCE_STATUS_COMPLIANT - 1] = (uint64_t)sqlite3_column_int64(st, 0);
	counts[COMPLIANCE_STATUS_NONCOMPLIANT - 1] = (uint64_t)sqlite3_column_int64(st, 1);
	counts[COMPLIANCE_STATUS_EXEMPT - 1] = 0;
	/* Stale, or a stored status that is no verdict. */
	counts[COMPLIANCE_STATUS_UNKNOWN - 1] =
		(uint64_t)sqlite3_column_int64(st, 2) - counts[0] - counts[1];
	for (i = 3; i <= 4; i++) {
		/* A report goes stale once now - span passes its reported_at. */
		if (sqlite3_column_type(st, i) != SQLITE_NULL) {
			int64_t at = add_sat(add_sat(sqlite3_column_int64(st, i), span), 1);

			if (at < until)
				until = at;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);

	st = s->st[ST_EXEMPT_ACTIVE];
	sqlite3_bind_int64(st, 1, now_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		base = effective_status((uint8_t)sqlite3_column_int(st, 1),
					sqlite3_column_int64(st, 0), cutoff, false, 0, now_ms,
					&stale);
		if (counts[base - 1] > 0)
			counts[base - 1]--;
		counts[COMPLIANCE_STATUS_EXEMPT - 1]++;
		if (sqlite3_column_int64(st, 2) < until)
			until = sqlite3_column_int64(st, 2);
	}
	if (rc != SQLITE_DONE)
		rv = store_db_error(s->db, rc, "compliance counts", errmsg);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rv != ESC_OK)
		return rv;
	s->counts_valid = true;
	s->counts_index = s->applied_index;
	s->counts_from_ms = now_ms;
	s->counts_until_ms = until;
	return ESC_OK;
}

/* How walk reads the rows of a bound page statement. */
struct walk {
	const char *skip;   /* a machine to pass over ("": none) */
	const char *prefix; /* stop at the first machine without it ("": none) */
	int status_filter;  /* 0: any */
	size_t limit;
	int64_t now_ms, cutoff;
};

/* Steps st (bound; ordered by machine) and calls cb for the rows w lets
 * through; resets st and clears its bindings. */
static int walk_rows(struct store *s, sqlite3_stmt *st, const struct walk *w,
		     int (*cb)(const struct store_compliance_row *row, void *data), void *data,
		     char *errmsg)
{
	size_t n = 0, plen = strlen(w->prefix);
	int rc = SQLITE_DONE, rv = ESC_OK;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *machine = sqlite3_column_text(st, 0);
		const unsigned char *user = sqlite3_column_text(st, 1);
		struct store_compliance_row row = {
			.machine = machine != NULL ? (const char *)machine : "",
			.user = user != NULL ? (const char *)user : "",
			.reasons = (uint32_t)sqlite3_column_int64(st, 4),
			.reported_at_ms = sqlite3_column_int64(st, 2),
		};

		/* Names in order: those with the prefix come in one run. */
		if (strncmp(row.machine, w->prefix, plen) != 0)
			break;
		if (w->skip[0] != '\0' && strcmp(row.machine, w->skip) == 0)
			continue;
		row.status = effective_status((uint8_t)sqlite3_column_int(st, 3),
					      row.reported_at_ms, w->cutoff,
					      sqlite3_column_type(st, 5) != SQLITE_NULL,
					      sqlite3_column_int64(st, 5), w->now_ms, &row.stale);
		if (w->status_filter != 0 && row.status != w->status_filter)
			continue;
		rv = cb(&row, data);
		if (rv != 0 || ++n == w->limit)
			break;
	}
	if (rv == ESC_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		rv = store_db_error(s->db, rc, "compliance report", errmsg);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

int store_compliance_each(struct store *s, const char *after, int status_filter,
			  size_t limit, int64_t now_ms,
			  int (*cb)(const struct store_compliance_row *row, void *data),
			  void *data, uint64_t counts[4], char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_COMPLIANCE_PAGE];
	char from[VALIDATE_MACHINE_MAX + 1];
	struct walk w = { .skip = "", .prefix = "", .status_filter = status_filter,
			  .limit = limit, .now_ms = now_ms, .cutoff = stale_cutoff(s, now_ms) };
	int rv;

	if (status_filter < 0 || status_filter > COMPLIANCE_STATUS_UNKNOWN)
		return esc_errorf(errmsg, ESC_EINVAL, "compliance report: %d is no status",
				  status_filter);
	rv = machine_lower(after, from, "compliance report", errmsg);
	if (rv != ESC_OK)
		return rv;
	if (counts != NULL) {
		if (!s->counts_valid || s->counts_index != s->applied_index ||
		    now_ms < s->counts_from_ms || now_ms >= s->counts_until_ms) {
			rv = count_all(s, now_ms, w.cutoff, errmsg);
			if (rv != ESC_OK)
				return rv;
		}
		memcpy(counts, s->counts, sizeof(s->counts));
	}
	if (limit == 0)
		return ESC_OK;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	return walk_rows(s, st, &w, cb, data, errmsg);
}

int store_machines_each(struct store *s, const char *prefix, const char *after, size_t limit,
			int64_t now_ms,
			int (*cb)(const struct store_compliance_row *row, void *data),
			void *data, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_MACHINES_FROM];
	char pre[VALIDATE_MACHINE_MAX + 1], from[VALIDATE_MACHINE_MAX + 1];
	struct walk w = { .skip = from, .prefix = pre, .limit = limit, .now_ms = now_ms,
			  .cutoff = stale_cutoff(s, now_ms) };
	int rv;

	rv = machine_lower(prefix, pre, "machines", errmsg);
	if (rv == ESC_OK)
		rv = machine_lower(after, from, "machines", errmsg);
	if (rv != ESC_OK || limit == 0)
		return rv;
	/* From the later of the prefix and after (after itself skipped): the
	 * index of machine names is read from there, never from the start. */
	sqlite3_bind_text(st, 1, strcmp(from, pre) > 0 ? from : pre, -1, SQLITE_STATIC);
	return walk_rows(s, st, &w, cb, data, errmsg);
}
