/* The drill checker: verdicts and unavailability windows from a recorded history. */
#include "tools/drill/drill_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long drill_key_add(struct drill_history *h, const char *key_id, const char *password)
{
	if (h->n_keys == h->cap_keys) {
		size_t cap = h->cap_keys ? h->cap_keys * 2 : 256;
		struct drill_key *k = realloc(h->keys, cap * sizeof *k);
		if (k == NULL)
			return -1;
		h->keys = k;
		h->cap_keys = cap;
	}
	snprintf(h->keys[h->n_keys].key_id, sizeof h->keys[0].key_id, "%s", key_id);
	snprintf(h->keys[h->n_keys].password, sizeof h->keys[0].password, "%s", password);
	h->keys[h->n_keys].reserved = h->keys[h->n_keys].bg_used = false;
	return (long)h->n_keys++;
}

bool drill_op_add(struct drill_history *h, const struct drill_op *op)
{
	if (h->n_ops == h->cap_ops) {
		size_t cap = h->cap_ops ? h->cap_ops * 2 : 1024;
		struct drill_op *o = realloc(h->ops, cap * sizeof *o);
		if (o == NULL)
			return false;
		h->ops = o;
		h->cap_ops = cap;
	}
	h->ops[h->n_ops++] = *op;
	return true;
}

long drill_upload_add(struct drill_history *h, const struct drill_upload *u)
{
	if (h->n_uploads == h->cap_uploads) {
		size_t cap = h->cap_uploads ? h->cap_uploads * 2 : 64;
		struct drill_upload *p = realloc(h->uploads, cap * sizeof *p);
		if (p == NULL)
			return -1;
		h->uploads = p;
		h->cap_uploads = cap;
	}
	h->uploads[h->n_uploads] = *u;
	return (long)h->n_uploads++;
}

bool drill_bg_add(struct drill_history *h, const struct drill_break_glass *bg)
{
	if (h->n_bgs == h->cap_bgs) {
		size_t cap = h->cap_bgs ? h->cap_bgs * 2 : 16;
		struct drill_break_glass *b = realloc(h->bgs, cap * sizeof *b);
		if (b == NULL)
			return false;
		h->bgs = b;
		h->cap_bgs = cap;
	}
	h->bgs[h->n_bgs++] = *bg;
	return true;
}

bool drill_cut_add(struct drill_history *h, const struct drill_cut *cut)
{
	if (h->n_cuts == h->cap_cuts) {
		size_t cap = h->cap_cuts ? h->cap_cuts * 2 : 16;
		struct drill_cut *c = realloc(h->cuts, cap * sizeof *c);
		if (c == NULL)
			return false;
		h->cuts = c;
		h->cap_cuts = cap;
	}
	h->cuts[h->n_cuts++] = *cut;
	return true;
}

void drill_history_free(struct drill_history *h)
{
	free(h->keys);
	free(h->ops);
	free(h->cuts);
	free(h->audit_reads);
	free(h->uploads);
	free(h->bgs);
	memset(h, 0, sizeof *h);
}

static void finding(struct drill_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void finding(struct drill_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n_findings == DRILL_FINDINGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r->findings[r->n_findings++], sizeof r->findings[0], fmt, ap);
	va_end(ap);
}

static void count_code(struct drill_report *r, const char *code)
{
	size_t i;

	for (i = 0; i < r->n_codes; i++)
		if (strcmp(r->codes[i].code, code) == 0)
			break;
	if (i == r->n_codes) {
		if (r->n_codes == DRILL_CODES_MAX)
			i = DRILL_CODES_MAX - 1; /* the last slot takes the rest */
		else
			snprintf(r->codes[r->n_codes++].code, DRILL_CODE_MAX, "%s", code);
	}
	r->codes[i].count++;
}

static int by_start(const void *a, const void *b)
{
	const struct drill_op *x = *(const struct drill_op *const *)a;
	const struct drill_op *y = *(const struct drill_op *const *)b;

	return (x->start_ms > y->start_ms) - (x->start_ms < y->start_ms);
}

static void add_window(struct drill_report *r, double start, double end)
{
	struct drill_window *last = r->n_windows ? &r->windows[r->n_windows - 1] : NULL;

	if (last != NULL && start <= last->start_ms + last->length_ms) {
		if (end > last->start_ms + last->length_ms)
			last->length_ms = end - last->start_ms;
	} else if (r->n_windows < DRILL_WINDOWS_MAX) {
		r->windows[r->n_windows].start_ms = start;
		r->windows[r->n_windows++].length_ms = end - start;
	} else {
		r->windows_dropped++;
	}
}

/* A window opens at the start of each failed request and closes at the
 * first success, in time, of a request sent at or after that moment (or at
 * the end of the drill); overlapping windows merge. Read-backs, made after
 * the faults, do not count. */
static void windows(const struct drill_history *h, struct drill_report *r)
{
	const struct drill_op **fail = calloc(h->n_ops + 1, sizeof *fail);
	const struct drill_op **ok = calloc(h->n_ops + 1, sizeof *ok);
	double *first_end = calloc(h->n_ops + 1, sizeof *first_end);
	size_t nf = 0, nk = 0, j = 0;
	double end_all = 0;

	if (fail == NULL || ok == NULL || first_end == NULL)
		goto out;
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct drill_op *o = &h->ops[i];
		if (o->kind == DRILL_READBACK || o->kind == DRILL_BREAK_GLASS)
			continue;
		if (o->end_ms > end_all)
			end_all = o->end_ms;
		if (o->result == DRILL_FAILED || o->result == DRILL_UNKNOWN)
			fail[nf++] = o;
		else if (o->result == DRILL_OK)
			ok[nk++] = o;
	}
	qsort(fail, nf, sizeof *fail, by_start);
	qsort(ok, nk, sizeof *ok, by_start);
	/* first_end[j]: the earliest end among the successes sent from ok[j] on
	 * (one sent later may well end sooner than a slow one sent earlier). */
	for (size_t k = nk; k-- > 0;)
		first_end[k] = k + 1 < nk && first_end[k + 1] < ok[k]->end_ms ? first_end[k + 1]
									: ok[k]->end_ms;
	for (size_t i = 0; i < nf; i++) {
		while (j < nk && ok[j]->start_ms < fail[i]->start_ms)
			j++;
		add_window(r, fail[i]->start_ms, j < nk ? first_end[j] : end_all);
	}
	for (size_t i = 0; i < r->n_windows; i++)
		if (r->windows[i].length_ms > r->longest_window_ms)
			r->longest_window_ms = r->windows[i].length_ms;
out:
	free(fail);
	free(ok);
	free(first_end);
}

/* A success from a node for a request sent while the node was cut off and
 * answered before the heal: only a majority can commit, so such an answer
 * was never committed (or was read from a deposed leader's stale state). */
static void cut_answers(const struct drill_history *h, struct drill_report *r)
{
	for (size_t c = 0; c < h->n_cuts; c++) {
		const struct drill_cut *cut = &h->cuts[c];
		for (size_t i = 0; i < h->n_ops; i++) {
			const struct drill_op *o = &h->ops[i];
			if (o->node != cut->node || o->kind == DRILL_READBACK ||
			    o->kind == DRILL_BREAK_GLASS ||
			    (o->result != DRILL_OK && o->result != DRILL_NOT_FOUND) ||
			    o->start_ms < cut->from_ms || o->end_ms > cut->to_ms)
				continue;
			r->cut_answers++;
			finding(r, "node %u answered a %s sent at %.0f ms while it was cut off "
				   "from the majority (%.0f to %.0f ms)", (unsigned)o->node + 1,
				o->kind == DRILL_ESCROW ? "escrow" : "lookup", o->start_ms,
				cut->from_ms, cut->to_ms);
		}
	}
}

static bool is_read(const struct drill_op *o)
{
	return o->kind == DRILL_LOOKUP || o->kind == DRILL_READBACK ||
	       o->kind == DRILL_BREAK_GLASS;
}

/* A read that may have been audited without its answer reaching the drill:
 * no answer, or a 5xx (a follower's forward to the leader may fail after
 * the leader audited the read). */
static bool maybe_audited(const struct drill_op *o)
{
	return o->result == DRILL_UNKNOWN || (o->result == DRILL_FAILED && o->code[0] == '5');
}

/* Every password returned has exactly one key.read entry: no fewer entries
 * than answers, and no more than answers plus reads of unknown outcome. */
static void audited_once(const struct drill_history *h, struct drill_report *r)
{
	uint32_t *answered, *maybe;

	if (!h->audit_checked || h->audit_reads == NULL)
		return;
	answered = calloc(h->n_keys + 1, sizeof *answered);
	maybe = calloc(h->n_keys + 1, sizeof *maybe);
	if (answered == NULL || maybe == NULL) {
		finding(r, "out of memory: the audit log was not checked");
		r->unaudited = 1;
		goto out;
	}
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct drill_op *o = &h->ops[i];
		if (!is_read(o) || o->key >= h->n_keys)
			continue;
		answered[o->key] += o->result == DRILL_OK || o->result == DRILL_WRONG;
		maybe[o->key] += maybe_audited(o);
	}
	for (size_t k = 0; k < h->n_keys; k++) {
		r->answered += answered[k];
		r->audited += h->audit_reads[k];
	}
	for (size_t k = 0; k < h->n_keys; k++)
		if (h->audit_reads[k] < answered[k]) {
			r->unaudited++;
			finding(r, "unaudited: %s was returned %u time(s), the audit log holds %u "
				   "key.read entr%s", h->keys[k].key_id, answered[k],
				h->audit_reads[k], h->audit_reads[k] == 1 ? "y" : "ies");
		} else if (h->audit_reads[k] > answered[k] + maybe[k]) {
			r->overaudited++;
			finding(r, "audited twice: %s was returned %u time(s) and %u read(s) had no "
				   "answer, the audit log holds %u key.read entries",
				h->keys[k].key_id, answered[k], maybe[k], h->audit_reads[k]);
		}
out:
	free(answered);
	free(maybe);
}

/* Each break-glass lookup that returned a password: its id in the audit log
 * exactly once (break_glass, its key) and its key disclosed, after the heal. */
static void break_glass(const struct drill_history *h, struct drill_report *r)
{
	for (size_t i = 0; i < h->n_bgs; i++) {
		const struct drill_break_glass *b = &h->bgs[i];
		const char *id = b->key < h->n_keys ? h->keys[b->key].key_id : "?";
		if (h->bg_checked && (b->entries != 1 || b->bad_entries != 0)) {
			r->bg_unaudited++;
			finding(r, "break-glass lookup %s of %s (node %u, %.0f ms): %u audit "
				   "entr%s, %u wrong", b->id, id, (unsigned)b->node + 1, b->at_ms,
				b->entries, b->entries == 1 ? "y" : "ies", b->bad_entries);
		}
		if (h->bg_checked && b->disclosed != 1) {
			r->bg_undisclosed++;
			finding(r, "break-glass lookup %s: %s %s after the heal", b->id, id,
				b->disclosed == 0 ? "is not disclosed" : "could not be read");
		}
	}
}

/* The report read back must be one that could have taken effect last: not
 * one acknowledged before another acknowledged upload was sent (that one
 * replaced it), nor a refused one. An upload of unknown outcome may take
 * effect at any time after it was sent (a node keeps a request waiting for
 * a leader longer than the drill waits for its answer). */
static void lost_report(const struct drill_history *h, struct drill_report *r)
{
	const struct drill_op *stored = NULL, *last = NULL;

	if (!h->report_checked)
		return;
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct drill_op *o = &h->ops[i];
		if (o->kind != DRILL_UPLOAD)
			continue;
		if (o->result == DRILL_OK && (last == NULL || o->start_ms > last->start_ms))
			last = o;
		if (h->report_found && h->report_seq >= 0 && o->upload == (uint32_t)h->report_seq)
			stored = o;
	}
	if (last == NULL)
		return; /* nothing acknowledged: any report, or none, will do */
	if (!h->report_found) {
		r->lost_reports++;
		finding(r, "lost report: the canary machine has no report; upload %u was "
			   "acknowledged at %.0f ms", last->upload, last->end_ms);
	} else if (stored == NULL) {
		r->lost_reports++;
		finding(r, "lost report: the stored report (sequence %ld) is none the drill "
			   "sent; upload %u was acknowledged at %.0f ms", h->report_seq,
			last->upload, last->end_ms);
	} else if (stored->result == DRILL_FAILED) {
		r->lost_reports++;
		finding(r, "lost report: the stored report is upload %u, which was refused "
			   "(%s); upload %u was acknowledged at %.0f ms", stored->upload,
			stored->code, last->upload, last->end_ms);
	} else if (stored->result == DRILL_OK && last->start_ms > stored->end_ms) {
		r->lost_reports++;
		finding(r, "lost report: the stored report is upload %u, acknowledged at %.0f ms, "
			   "but upload %u, sent at %.0f ms, was acknowledged too", stored->upload,
			stored->end_ms, last->upload, last->start_ms);
	}
}

static bool listed_in(const uint32_t *keys, unsigned n, uint32_t k)
{
	for (unsigned i = 0; i < n; i++)
		if (keys[i] == k)
			return true;
	return false;
}

/* A key a lookup returned is disclosed: every acknowledged upload sent after
 * that answer and listing the key must name it in rotate_key_ids. */
static void rotations(const struct drill_history *h, struct drill_report *r)
{
	double *disclosed_at = malloc((h->n_keys + 1) * sizeof *disclosed_at);

	if (disclosed_at == NULL) {
		finding(r, "out of memory: the rotations were not checked");
		r->rotations_missed = 1;
		return;
	}
	for (size_t k = 0; k < h->n_keys; k++)
		disclosed_at[k] = -1;
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct drill_op *o = &h->ops[i];
		if ((o->kind == DRILL_LOOKUP || o->kind == DRILL_READBACK) && o->result == DRILL_OK &&
		    o->key < h->n_keys && (disclosed_at[o->key] < 0 || o->end_ms < disclosed_at[o->key]))
			disclosed_at[o->key] = o->end_ms;
	}
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct drill_op *o = &h->ops[i];
		const struct drill_upload *u;
		if (o->kind != DRILL_UPLOAD || o->result != DRILL_OK || o->upload >= h->n_uploads)
			continue;
		u = &h->uploads[o->upload];
		for (unsigned j = 0; j < u->n_listed && j < DRILL_UPLOAD_KEYS; j++) {
			uint32_t k = u->listed[j];
			if (k >= h->n_keys || disclosed_at[k] < 0 || disclosed_at[k] >= o->start_ms)
				continue;
			r->rotations_due++;
			if (listed_in(u->rotated, u->n_rotated, k))
				continue;
			r->rotations_missed++;
			finding(r, "rotation missed: upload %u sent at %.0f ms lists %s, returned by a "
				   "lookup at %.0f ms, and its answer does not ask to rotate it",
				o->upload, o->start_ms, h->keys[k].key_id, disclosed_at[k]);
		}
	}
	free(disclosed_at);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile q of n sorted values. */
static double rank(const double *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	return n == 0 ? 0 : v[k == 0 ? 0 : k > n ? n - 1 : k - 1];
}

static void latencies(const struct drill_history *h, struct drill_report *r)
{
	double *v = malloc((h->n_ops + 1) * sizeof *v);
	size_t n = 0;

	if (v == NULL)
		return;
	for (size_t i = 0; i < h->n_ops; i++)
		if (h->ops[i].kind != DRILL_READBACK && h->ops[i].kind != DRILL_BREAK_GLASS &&
		    h->ops[i].result == DRILL_OK)
			v[n++] = h->ops[i].end_ms - h->ops[i].start_ms;
	qsort(v, n, sizeof *v, cmp_double);
	r->latency_p50_ms = rank(v, n, 0.50);
	r->latency_p99_ms = rank(v, n, 0.99);
	r->latency_max_ms = n ? v[n - 1] : 0;
	free(v);
}

void drill_check(const struct drill_history *h, struct drill_report *r)
{
	double *acked_at = calloc(h->n_keys + 1, sizeof *acked_at);
	unsigned char *read_ok = calloc(h->n_keys + 1, 1);
	unsigned char *read_missing = calloc(h->n_keys + 1, 1);

	memset(r, 0, sizeof *r);
	if (acked_at == NULL || read_ok == NULL || read_missing == NULL) {
		finding(r, "out of memory: the history was not checked");
		r->unverified = 1;
		goto out;
	}
	for (size_t k = 0; k < h->n_keys; k++)
		acked_at[k] = -1;
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct drill_op *o = &h->ops[i];
		if (o->kind == DRILL_ESCROW && o->result == DRILL_OK && o->key < h->n_keys &&
		    (acked_at[o->key] < 0 || o->end_ms < acked_at[o->key]))
			acked_at[o->key] = o->end_ms;
	}
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct drill_op *o = &h->ops[i];
		const char *id = o->key < h->n_keys ? h->keys[o->key].key_id : "?";
		bool failed = o->result == DRILL_FAILED || o->result == DRILL_UNKNOWN;

		if (failed)
			count_code(r, o->code[0] ? o->code : "unknown");
		switch (o->kind) {
		case DRILL_ESCROW:
			r->escrows++;
			r->acked += o->result == DRILL_OK;
			r->escrow_failed += o->result == DRILL_FAILED;
			r->escrow_unknown += o->result == DRILL_UNKNOWN;
			break;
		case DRILL_UPLOAD:
			r->uploads++;
			r->uploads_acked += o->result == DRILL_OK;
			r->upload_failed += o->result == DRILL_FAILED;
			r->upload_unknown += o->result == DRILL_UNKNOWN;
			break;
		case DRILL_BREAK_GLASS:
			r->bg_lookups++;
			r->bg_served += o->result == DRILL_OK;
			r->bg_missed += o->result == DRILL_NOT_FOUND;
			if (o->result == DRILL_WRONG) {
				r->wrong++;
				finding(r, "wrong password for %s from node %u at %.0f ms "
					   "(break-glass)", id, (unsigned)o->node + 1, o->end_ms);
			}
			break;
		case DRILL_LOOKUP:
		case DRILL_READBACK:
			if (o->kind == DRILL_LOOKUP) {
				r->lookups++;
				r->lookups_ok += o->result == DRILL_OK;
				r->lookup_failed += failed;
			} else {
				r->readbacks++;
			}
			if (o->result == DRILL_WRONG) {
				r->wrong++;
				finding(r, "wrong password for %s from node %u at %.0f ms", id,
					(unsigned)o->node, o->end_ms);
			}
			if (o->kind == DRILL_LOOKUP && o->result == DRILL_NOT_FOUND &&
			    o->key < h->n_keys && acked_at[o->key] >= 0 &&
			    acked_at[o->key] < o->start_ms) {
				r->stale++;
				finding(r, "stale read: node %u answered 404 for %s at %.0f ms, "
					   "acknowledged at %.0f ms",
					(unsigned)o->node, id, o->start_ms, acked_at[o->key]);
			}
			if (o->kind == DRILL_READBACK && o->key < h->n_keys) {
				read_ok[o->key] |= o->result == DRILL_OK;
				read_missing[o->key] |= o->result == DRILL_NOT_FOUND;
			}
			break;
		}
	}
	for (size_t k = 0; k < h->n_keys; k++) {
		if (acked_at[k] < 0 || read_ok[k])
			continue;
		if (read_missing[k]) {
			r->lost++;
			finding(r, "lost: %s was acknowledged at %.0f ms and is not found",
				h->keys[k].key_id, acked_at[k]);
		} else {
			r->unverified++;
			finding(r, "unverified: %s was acknowledged at %.0f ms and could not be "
				   "read back", h->keys[k].key_id, acked_at[k]);
		}
	}
	for (size_t k = 0; k < h->n_keys; k++)
		r->verified += acked_at[k] >= 0 && read_ok[k];
	cut_answers(h, r);
	audited_once(h, r);
	break_glass(h, r);
	lost_report(h, r);
	rotations(h, r);
	windows(h, r);
	latencies(h, r);
out:
	free(acked_at);
	free(read_ok);
	free(read_missing);
}

bool drill_report_safe(const struct drill_report *r)
{
	return r->lost == 0 && r->unverified == 0 && r->wrong == 0 && r->stale == 0 &&
	       r->cut_answers == 0 && r->unaudited == 0 && r->overaudited == 0 &&
	       r->lost_reports == 0 && r->rotations_missed == 0 && r->bg_unaudited == 0 &&
	       r->bg_undisclosed == 0;
}
