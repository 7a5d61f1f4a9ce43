/* The drill engine's summary of a run: one JSON object or lines of text. */
#include "tools/drill/drill_engine.h"

#include <inttypes.h>
#include <stdio.h>

/* One value per change of leader seen: the longest unavailability window
 * that began in the 5 s before it (0 when clients noticed nothing). drill
 * run replaces it with its own faults' failover times. */
static json_t *leader_losses(const struct drill *d, const struct drill_report *r)
{
	json_t *a = json_array();

	for (size_t i = 1; a != NULL && i < d->n_leaders; i++) {
		double at = d->leaders[i].at_ms, worst = 0;
		if (d->leaders[i].leader <= 0 || d->leaders[i].leader == d->leaders[i - 1].leader)
			continue;
		for (size_t w = 0; w < r->n_windows; w++)
			if (r->windows[w].start_ms <= at && r->windows[w].start_ms >= at - 5000 &&
			    r->windows[w].length_ms > worst)
				worst = r->windows[w].length_ms;
		json_array_append_new(a, json_real(worst));
	}
	return a;
}

json_t *drill_engine_report_json(const struct drill *d, const struct drill_report *r)
{
	json_t *o = json_pack("{s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			      "s:I, s:I, s:f, s:b, s:I}",
			      "machine", d->machine, "duration_s", d->opts.duration_ms / 1e3,
			      "escrows", (json_int_t)r->escrows, "acknowledged",
			      (json_int_t)r->acked, "escrow_failed", (json_int_t)r->escrow_failed,
			      "escrow_unknown", (json_int_t)r->escrow_unknown, "lookups",
			      (json_int_t)r->lookups, "lookups_ok", (json_int_t)r->lookups_ok,
			      "verified", (json_int_t)r->verified, "lost", (json_int_t)r->lost,
			      "unverified", (json_int_t)r->unverified, "wrong",
			      (json_int_t)r->wrong, "stale", (json_int_t)r->stale, "readbacks",
			      (json_int_t)r->readbacks, "windows_dropped",
			      (json_int_t)r->windows_dropped, "longest_unavailable_ms",
			      r->longest_window_ms, "safe", drill_report_safe(r), "failovers",
			      (json_int_t)d->failovers);
	json_t *w = json_array(), *c = json_array(), *f = json_array(), *l = json_array();

	json_object_set_new(o, "cut_answers", json_integer((json_int_t)r->cut_answers));
	/* The names the contract gives these counts (docs/api.md). */
	json_object_set_new(o, "wrong_reads", json_integer((json_int_t)r->wrong));
	json_object_set_new(o, "stale_reads", json_integer((json_int_t)r->stale));
	json_object_set_new(o, "failover_ms", leader_losses(d, r));
	json_object_set_new(o, "unaudited", json_integer((json_int_t)r->unaudited));
	json_object_set_new(o, "overaudited", json_integer((json_int_t)r->overaudited));
	json_object_set_new(o, "break_glass",
			    json_pack("{s:I, s:I, s:I, s:I, s:I}", "sent",
				      (json_int_t)r->bg_lookups, "served", (json_int_t)r->bg_served,
				      "not_found", (json_int_t)r->bg_missed, "unaudited",
				      (json_int_t)r->bg_unaudited, "undisclosed",
				      (json_int_t)r->bg_undisclosed));
	json_object_set_new(o, "audit_checked", json_boolean(d->h.audit_checked));
	json_object_set_new(o, "passwords_returned", json_integer((json_int_t)r->answered));
	json_object_set_new(o, "key_reads_audited", json_integer((json_int_t)r->audited));
	json_object_set_new(o, "uploads", json_integer((json_int_t)r->uploads));
	json_object_set_new(o, "uploads_acknowledged", json_integer((json_int_t)r->uploads_acked));
	json_object_set_new(o, "upload_failed", json_integer((json_int_t)r->upload_failed));
	json_object_set_new(o, "upload_unknown", json_integer((json_int_t)r->upload_unknown));
	json_object_set_new(o, "report_seq", d->h.report_checked && d->h.report_found ?
						     json_integer((json_int_t)d->h.report_seq) :
						     json_null());
	json_object_set_new(o, "lost_reports", json_integer((json_int_t)r->lost_reports));
	json_object_set_new(o, "rotations_checked", json_integer((json_int_t)r->rotations_due));
	json_object_set_new(o, "rotations_missed", json_integer((json_int_t)r->rotations_missed));
	for (size_t i = 0; i < r->n_windows; i++)
		json_array_append_new(w, json_pack("{s:f, s:f}", "start_ms", r->windows[i].start_ms,
						   "length_ms", r->windows[i].length_ms));
	for (size_t i = 0; i < r->n_codes; i++)
		json_array_append_new(c, json_pack("{s:s, s:I}", "code", r->codes[i].code,
						   "count", (json_int_t)r->codes[i].count));
	for (size_t i = 0; i < r->n_findings; i++)
		json_array_append_new(f, json_string(r->findings[i]));
	for (size_t i = 0; i < d->n_leaders; i++)
		json_array_append_new(l, json_pack("{s:f, s:I}", "at_ms", d->leaders[i].at_ms,
						   "leader", (json_int_t)d->leaders[i].leader));
	json_object_set_new(o, "latency_ms", json_pack("{s:f, s:f, s:f}", "p50", r->latency_p50_ms,
						      "p99", r->latency_p99_ms, "max",
						      r->latency_max_ms));
	json_object_set_new(o, "unavailable", w);
	json_object_set_new(o, "errors", c);
	json_object_set_new(o, "findings", f);
	json_object_set_new(o, "leaders", l);
	return o;
}

void drill_engine_report_text(const struct drill *d, const struct drill_report *r)
{
	size_t shorter = 0;

	printf("drill of %.0f s, canary machine %s\n", d->opts.duration_ms / 1e3, d->machine);
	printf("  escrows        %" PRIu64 " sent, %" PRIu64 " acknowledged, %" PRIu64
	       " refused, %" PRIu64 " unknown outcome\n",
	       r->escrows, r->acked, r->escrow_failed, r->escrow_unknown);
	printf("  lookups        %" PRIu64 " sent, %" PRIu64 " right, %" PRIu64 " failed\n",
	       r->lookups, r->lookups_ok, r->lookup_failed);
	if (r->bg_lookups > 0)
		printf("  break-glass    %" PRIu64 " sent to nodes without a quorum, %" PRIu64
		       " served from their copy, %" PRIu64 " not on the node\n", r->bg_lookups,
		       r->bg_served, r->bg_missed);
	printf("  read-back      %" PRIu64 " of %" PRIu64 " acknowledged keys verified\n",
	       r->verified, r->acked);
	printf("  compliance     %" PRIu64 " reports sent, %" PRIu64 " acknowledged, %" PRIu64
	       " refused, %" PRIu64 " unknown outcome; %" PRIu64 " rotation(s) of returned keys "
	       "checked\n", r->uploads, r->uploads_acked, r->upload_failed, r->upload_unknown,
	       r->rotations_due);
	if (d->h.report_checked && d->h.report_found)
		printf("                 stored report: drill report %ld\n", d->h.report_seq);
	printf("  fail-overs     %" PRIu64 " request(s) sent again to the next node after a "
	       "refused connection\n", d->failovers);
	printf("  violations     lost %" PRIu64 ", unverified %" PRIu64 ", wrong %" PRIu64
	       ", stale %" PRIu64 ", cut-off answers %" PRIu64 ", unaudited %" PRIu64
	       ", audited twice %" PRIu64 "%s, lost reports %" PRIu64 ", rotations missed %"
	       PRIu64 ", break-glass unaudited %" PRIu64 ", undisclosed %" PRIu64 "\n",
	       r->lost, r->unverified, r->wrong, r->stale, r->cut_answers, r->unaudited,
	       r->overaudited, d->h.audit_checked ? "" : " (audit log not checked)",
	       r->lost_reports, r->rotations_missed, r->bg_unaudited, r->bg_undisclosed);
	for (size_t i = 0; i < r->n_findings; i++)
		printf("    %s\n", r->findings[i]);
	if (d->h.audit_checked)
		printf("  audit          %" PRIu64 " key.read entries for %" PRIu64 " passwords "
		       "returned\n", r->audited, r->answered);
	printf("  latency        p50 %.0f ms, p99 %.0f ms, max %.0f ms (requests that "
	       "succeeded)\n", r->latency_p50_ms, r->latency_p99_ms, r->latency_max_ms);
	printf("  unavailable    %zu window(s), longest %.0f ms\n", r->n_windows,
	       r->longest_window_ms);
	/* A request stuck on a cut-off or paused node opens a window that the
	 * next success through another node closes: list only the long ones. */
	for (size_t i = 0; i < r->n_windows; i++)
		if (r->windows[i].length_ms >= DRILL_WINDOW_LISTED_MS)
			printf("    at %8.1f s for %6.0f ms\n", r->windows[i].start_ms / 1e3,
			       r->windows[i].length_ms);
		else
			shorter++;
	if (shorter > 0)
		printf("    and %zu shorter than %d ms (--json lists them)\n", shorter,
		       DRILL_WINDOW_LISTED_MS);
	if (r->n_codes > 0)
		printf("  errors\n");
	for (size_t i = 0; i < r->n_codes; i++)
		printf("    %-28s %" PRIu64 "\n", r->codes[i].code, r->codes[i].count);
	printf("  leaders\n");
	for (size_t i = 0; i < d->n_leaders; i++) {
		if (d->leaders[i].leader > 0)
			printf("    at %8.1f s  node %ld\n", d->leaders[i].at_ms / 1e3,
			       d->leaders[i].leader);
		else
			printf("    at %8.1f s  none\n", d->leaders[i].at_ms / 1e3);
	}
	printf("%s\n", drill_report_safe(r) ? "SAFE: every acknowledged key was read back with "
					      "its password; no wrong or stale answer; every "
					      "password returned was audited exactly once; no acknowledged "
					      "report lost, every returned key to be rotated"
					    : "UNSAFE: see the violations above");
}
