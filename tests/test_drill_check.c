/* Unit tests of the drill checker: made-up histories with a lost write, a
 * wrong read, a stale read, a read audited too few or too many times, a
 * break-glass lookup without its entry, a lost report, a missed rotation,
 * or none, and the unavailability windows. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit.h"
#include "tools/drill/drill_check.h"

static void op(struct drill_history *h, enum drill_kind kind, enum drill_result result,
	       long key, double start, double end, const char *code)
{
	struct drill_op o;

	memset(&o, 0, sizeof o);
	o.kind = kind;
	o.result = result;
	o.key = (uint32_t)key;
	o.node = 1;
	o.start_ms = start;
	o.end_ms = end;
	snprintf(o.code, sizeof o.code, "%s", code);
	drill_op_add(h, &o);
}

/* Two keys escrowed, looked up and read back: the clean history the
 * violations below are made from. */
static void clean(struct drill_history *h, long *a, long *b)
{
	*a = drill_key_add(h, "11111111-1111-1111-1111-111111111111", "pw-a");
	*b = drill_key_add(h, "22222222-2222-2222-2222-222222222222", "pw-b");
	op(h, DRILL_ESCROW, DRILL_OK, *a, 0, 10, "");
	op(h, DRILL_ESCROW, DRILL_OK, *b, 5, 15, "");
	op(h, DRILL_LOOKUP, DRILL_OK, *a, 20, 25, "");
}

TEST(clean_history_is_safe)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_OK, b, 100, 102, "");
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.acked, 2);
	CHECK_INT(r.verified, 2);
	CHECK_INT(r.n_findings, 0);
	CHECK_INT(r.n_windows, 0);
	/* Escrows took 10 ms each, the lookup 5 ms; read-backs do not count. */
	CHECK_INT((long)r.latency_p50_ms, 10);
	CHECK_INT((long)r.latency_p99_ms, 10);
	CHECK_INT((long)r.latency_max_ms, 10);
	drill_history_free(&h);
}

TEST(lost_write_is_flagged)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_NOT_FOUND, b, 100, 102, "404 key_not_found");
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.lost, 1);
	CHECK(strstr(r.findings[0], "22222222-2222") != NULL);
	drill_history_free(&h);
}

TEST(unread_acknowledged_key_is_unverified)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_UNKNOWN, b, 100, 2100, "timeout");
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.lost, 0);
	CHECK_INT(r.unverified, 1);
	drill_history_free(&h);
}

TEST(wrong_read_is_flagged)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	op(&h, DRILL_LOOKUP, DRILL_WRONG, b, 30, 31, "");
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_OK, b, 100, 101, "");
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.wrong, 1);
	CHECK_INT(r.lost, 0);
	drill_history_free(&h);
}

TEST(stale_read_is_flagged_only_after_the_ack)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	/* Sent before b's escrow was acknowledged (at 15): a 404 is allowed. */
	op(&h, DRILL_LOOKUP, DRILL_NOT_FOUND, b, 12, 16, "404 key_not_found");
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_OK, b, 100, 101, "");
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	/* Sent after: the cluster forgot an acknowledged key, if only for a
	 * while (a deposed leader answering, say). */
	op(&h, DRILL_LOOKUP, DRILL_NOT_FOUND, b, 40, 41, "404 key_not_found");
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.stale, 1);
	CHECK(strstr(r.findings[0], "stale") != NULL);
	drill_history_free(&h);
}

TEST(unknown_outcome_escrow_may_be_missing)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	long c = drill_key_add(&h, "33333333-3333-3333-3333-333333333333", "pw-c");
	op(&h, DRILL_ESCROW, DRILL_UNKNOWN, c, 50, 2050, "timeout");
	op(&h, DRILL_LOOKUP, DRILL_NOT_FOUND, c, 2100, 2101, "404 key_not_found");
	op(&h, DRILL_READBACK, DRILL_OK, a, 3000, 3001, "");
	op(&h, DRILL_READBACK, DRILL_OK, b, 3000, 3001, "");
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.escrow_unknown, 1);
	CHECK_INT(r.n_codes, 1);
	CHECK_STR(r.codes[0].code, "timeout");
	drill_history_free(&h);
}

TEST(windows_open_at_a_failure_and_close_at_a_later_success)
{
	struct drill_history h = {0};
	struct drill_report r;
	long k = drill_key_add(&h, "44444444-4444-4444-4444-444444444444", "pw");

	op(&h, DRILL_LOOKUP, DRILL_OK, k, 0, 5, "");
	op(&h, DRILL_LOOKUP, DRILL_UNKNOWN, k, 100, 600, "timeout");
	op(&h, DRILL_LOOKUP, DRILL_FAILED, k, 200, 210, "503 no_leader");
	/* Sent before the window opened: does not close it. */
	op(&h, DRILL_LOOKUP, DRILL_OK, k, 90, 300, "");
	op(&h, DRILL_LOOKUP, DRILL_OK, k, 400, 450, "");
	/* Sent after the failure but slow (stuck on a paused node): the window
	 * closes at the sooner success above, not at its end. */
	op(&h, DRILL_LOOKUP, DRILL_OK, k, 150, 2000, "");
	/* A second, separate window that lasts to the end of the drill. */
	op(&h, DRILL_LOOKUP, DRILL_FAILED, k, 1000, 1010, "503 no_leader");
	op(&h, DRILL_LOOKUP, DRILL_FAILED, k, 1100, 1200, "connect");
	drill_check(&h, &r);
	CHECK_INT(r.n_windows, 2);
	CHECK_INT((long)r.windows[0].start_ms, 100);
	CHECK_INT((long)r.windows[0].length_ms, 350);
	CHECK_INT((long)r.windows[1].start_ms, 1000);
	CHECK_INT((long)r.windows[1].length_ms, 1000); /* to the end of the drill (2000) */
	CHECK_INT((long)r.longest_window_ms, 1000);
	CHECK_INT(r.n_codes, 3);
	drill_history_free(&h);
}

/* Node 1 cut off from 30 to 60 ms: a success it gives for a request sent in
 * that time is flagged; one sent before the cut, one ending after the heal,
 * one from another node, and failures are not. */
TEST(answer_from_a_cut_off_node_is_flagged)
{
	struct drill_history h = {0};
	struct drill_cut cut = { .node = 1, .from_ms = 30, .to_ms = 60 };
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	CHECK(drill_cut_add(&h, &cut));
	op(&h, DRILL_ESCROW, DRILL_OK, b, 28, 40, "");       /* sent before the cut */
	op(&h, DRILL_LOOKUP, DRILL_OK, a, 50, 70, "");       /* answered after the heal */
	op(&h, DRILL_ESCROW, DRILL_UNKNOWN, b, 35, 55, "timeout");
	h.ops[h.n_ops - 1].node = 1;
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_OK, b, 100, 102, "");
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.cut_answers, 0);

	op(&h, DRILL_LOOKUP, DRILL_OK, a, 40, 45, "");       /* the violation */
	op(&h, DRILL_LOOKUP, DRILL_OK, a, 40, 45, "");       /* another node: fine */
	h.ops[h.n_ops - 1].node = 2;
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.cut_answers, 1);
	CHECK_INT(r.n_findings, 1);
	CHECK(strstr(r.findings[0], "node 2 answered a lookup sent at 40 ms while it was "
				    "cut off") != NULL);
	drill_history_free(&h);
}

/* Key a's password was returned twice (a lookup, a read-back): exactly two
 * key.read entries are needed, or a third for a lookup whose answer was
 * lost (a timeout, a 5xx: it may have been audited); one entry is a
 * violation, and so is a third without such a lookup (one read audited
 * twice). */
TEST(password_returned_without_exactly_one_audit_entry_is_flagged)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_OK, b, 100, 102, "");
	h.audit_reads = calloc(h.n_keys, sizeof *h.audit_reads);
	CHECK(h.audit_reads != NULL);
	h.audit_reads[a] = 2;
	h.audit_reads[b] = 1;
	drill_check(&h, &r);       /* not checked yet: no verdict */
	CHECK(drill_report_safe(&r));
	h.audit_checked = true;
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.answered, 3);
	CHECK_INT(r.audited, 3);
	h.audit_reads[a] = 3;
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.overaudited, 1);
	CHECK(strstr(r.findings[0], "audited twice: 11111111-1111-1111-1111-111111111111 was "
				    "returned 2 time(s) and 0 read(s) had no answer, the audit "
				    "log holds 3 key.read entries") != NULL);
	op(&h, DRILL_LOOKUP, DRILL_FAILED, a, 30, 35, "404 key_not_found");
	drill_check(&h, &r);
	CHECK_INT(r.overaudited, 1);
	op(&h, DRILL_LOOKUP, DRILL_FAILED, a, 30, 35, "503 no_leader");
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	op(&h, DRILL_LOOKUP, DRILL_UNKNOWN, a, 40, 45, "timeout");
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	h.audit_reads[a] = 1;
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.unaudited, 1);
	CHECK(strstr(r.findings[0], "unaudited: 11111111-1111-1111-1111-111111111111 was "
				    "returned 2 time(s), the audit log holds 1 key.read entry") !=
	      NULL);
	drill_history_free(&h);
}

/* A break-glass lookup of b served by node 3 during a quorum loss: after
 * the heal its id must be in the audit log exactly once (with break_glass
 * and its key) and b disclosed; it is a read like any other for the count
 * of entries per key, and no cut-off answer. */
TEST(break_glass_lookup_needs_its_entry_once_and_a_disclosure)
{
	struct drill_history h = {0};
	struct drill_report r;
	struct drill_break_glass bg;
	struct drill_cut cut = { .node = 2, .from_ms = 50, .to_ms = 90 };
	long a, b;

	clean(&h, &a, &b);
	op(&h, DRILL_BREAK_GLASS, DRILL_FAILED, b, 55, 56, "503 no_quorum");
	op(&h, DRILL_BREAK_GLASS, DRILL_OK, b, 60, 62, "");
	h.ops[h.n_ops - 1].node = 2;
	drill_cut_add(&h, &cut);
	memset(&bg, 0, sizeof bg);
	bg.key = (uint32_t)b;
	bg.node = 2;
	bg.at_ms = 62;
	bg.disclosed = -1;
	snprintf(bg.id, sizeof bg.id, "3-00ff");
	CHECK(drill_bg_add(&h, &bg));
	op(&h, DRILL_READBACK, DRILL_OK, a, 100, 101, "");
	op(&h, DRILL_READBACK, DRILL_OK, b, 100, 102, "");
	h.audit_reads = calloc(h.n_keys, sizeof *h.audit_reads);
	CHECK(h.audit_reads != NULL);
	h.audit_reads[a] = 2;
	h.audit_reads[b] = 2;
	h.audit_checked = true;
	drill_check(&h, &r);       /* its entries not counted yet: no verdict */
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.bg_lookups, 2);
	CHECK_INT(r.bg_served, 1);
	CHECK_INT(r.cut_answers, 0);
	CHECK_INT(r.n_windows, 0); /* a break-glass answer closes no window */
	h.bg_checked = true;
	h.bgs[0].entries = 1;
	h.bgs[0].disclosed = 1;
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	h.bgs[0].entries = 2;      /* replayed twice */
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.bg_unaudited, 1);
	CHECK(strstr(r.findings[0], "break-glass lookup 3-00ff of 22222222-2222-2222-2222-"
				    "222222222222 (node 3, 62 ms): 2 audit entries") != NULL);
	h.bgs[0].entries = 1;
	h.bgs[0].bad_entries = 1;  /* without break_glass, or another key */
	drill_check(&h, &r);
	CHECK_INT(r.bg_unaudited, 1);
	h.bgs[0].bad_entries = 0;
	h.bgs[0].disclosed = 0;
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.bg_undisclosed, 1);
	CHECK(strstr(r.findings[0], "is not disclosed after the heal") != NULL);
	h.bgs[0].disclosed = 1;
	h.audit_reads[b] = 1;      /* two passwords returned, one entry */
	drill_check(&h, &r);
	CHECK_INT(r.unaudited, 1);
	drill_history_free(&h);
}

/* A compliance upload listing key (or none: -1), whose answer asked to
 * rotate it when rotated; returns its sequence number. */
static long upload(struct drill_history *h, enum drill_result result, double start, double end,
		   long key, bool rotated)
{
	struct drill_upload u;
	struct drill_op o;
	long seq;

	memset(&u, 0, sizeof u);
	if (key >= 0) {
		u.listed[u.n_listed++] = (uint32_t)key;
		if (rotated)
			u.rotated[u.n_rotated++] = (uint32_t)key;
	}
	seq = drill_upload_add(h, &u);
	memset(&o, 0, sizeof o);
	o.kind = DRILL_UPLOAD;
	o.result = result;
	o.upload = (uint32_t)seq;
	o.node = 1;
	o.start_ms = start;
	o.end_ms = end;
	if (result != DRILL_OK)
		snprintf(o.code, sizeof o.code, "%s", result == DRILL_FAILED ? "connect" : "timeout");
	drill_op_add(h, &o);
	return seq;
}

/* The clean history, read back, with the machine's report read back as seq. */
static void read_back(struct drill_history *h, long a, long b, bool found, long seq)
{
	op(h, DRILL_READBACK, DRILL_OK, a, 1000, 1001, "");
	op(h, DRILL_READBACK, DRILL_OK, b, 1000, 1002, "");
	h->report_checked = true;
	h->report_found = found;
	h->report_seq = seq;
}

/* Upload 0 acknowledged at 40 ms, upload 1 sent at 50 ms and acknowledged:
 * the cluster must hold upload 1 (or a later one), not upload 0. */
TEST(older_acknowledged_report_stored_is_a_lost_report)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	CHECK_INT(upload(&h, DRILL_OK, 30, 40, b, false), 0);
	CHECK_INT(upload(&h, DRILL_OK, 50, 60, b, false), 1);
	read_back(&h, a, b, true, 1);
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.uploads, 2);
	CHECK_INT(r.uploads_acked, 2);
	h.report_seq = 0;
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.lost_reports, 1);
	CHECK(strstr(r.findings[0], "lost report: the stored report is upload 0, acknowledged "
				    "at 40 ms, but upload 1, sent at 50 ms") != NULL);
	/* No report at all, or one the drill never sent: lost too. */
	h.report_found = false;
	drill_check(&h, &r);
	CHECK_INT(r.lost_reports, 1);
	h.report_found = true;
	h.report_seq = 7;
	drill_check(&h, &r);
	CHECK_INT(r.lost_reports, 1);
	drill_history_free(&h);
}

/* An upload of unknown outcome may be applied at any time after it was sent:
 * stored, it is no violation, whether it was sent after the last
 * acknowledged upload or before (a node retried it for a leader). A refused
 * upload stored is one. */
TEST(unknown_outcome_upload_may_be_the_stored_report)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	upload(&h, DRILL_UNKNOWN, 20, 3020, b, false);
	upload(&h, DRILL_OK, 30, 40, b, false);
	upload(&h, DRILL_UNKNOWN, 50, 3050, b, false);
	upload(&h, DRILL_FAILED, 60, 61, b, false);
	read_back(&h, a, b, true, 2);
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.uploads_acked, 1);
	CHECK_INT(r.upload_unknown, 2);
	CHECK_INT(r.upload_failed, 1);
	h.report_seq = 0;
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	h.report_seq = 3;
	drill_check(&h, &r);
	CHECK_INT(r.lost_reports, 1);
	CHECK(strstr(r.findings[0], "upload 3, which was refused (connect)") != NULL);
	/* Read back before anything was acknowledged: any report will do. */
	h.report_checked = false;
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	drill_history_free(&h);
}

/* Key a was returned by the lookup of clean() at 25 ms: an acknowledged
 * upload sent after that and listing a must ask to rotate it. */
TEST(disclosed_key_missing_from_rotate_key_ids_is_flagged)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	upload(&h, DRILL_OK, 30, 40, a, true);
	upload(&h, DRILL_OK, 50, 60, b, false);      /* b was never disclosed */
	upload(&h, DRILL_UNKNOWN, 60, 3060, a, false); /* no answer to check */
	read_back(&h, a, b, true, 1);
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.rotations_due, 1);
	upload(&h, DRILL_OK, 70, 80, a, false);
	h.report_seq = 3;
	drill_check(&h, &r);
	CHECK(!drill_report_safe(&r));
	CHECK_INT(r.rotations_due, 2);
	CHECK_INT(r.rotations_missed, 1);
	CHECK(strstr(r.findings[0], "rotation missed: upload 3 sent at 70 ms lists "
				    "11111111-1111-1111-1111-111111111111, returned by a lookup at "
				    "25 ms") != NULL);
	drill_history_free(&h);
}

/* An upload sent at 22 ms, before the lookup returned a's password at
 * 25 ms, may have been judged before the disclosure. */
TEST(key_disclosed_after_the_upload_was_sent_needs_no_rotation)
{
	struct drill_history h = {0};
	struct drill_report r;
	long a, b;

	clean(&h, &a, &b);
	upload(&h, DRILL_OK, 22, 30, a, false);
	read_back(&h, a, b, true, 0);
	drill_check(&h, &r);
	CHECK(drill_report_safe(&r));
	CHECK_INT(r.rotations_due, 0);
	CHECK_INT(r.rotations_missed, 0);
	drill_history_free(&h);
}

int main(void)
{
	RUN(clean_history_is_safe);
	RUN(lost_write_is_flagged);
	RUN(unread_acknowledged_key_is_unverified);
	RUN(wrong_read_is_flagged);
	RUN(stale_read_is_flagged_only_after_the_ack);
	RUN(unknown_outcome_escrow_may_be_missing);
	RUN(windows_open_at_a_failure_and_close_at_a_later_success);
	RUN(answer_from_a_cut_off_node_is_flagged);
	RUN(password_returned_without_exactly_one_audit_entry_is_flagged);
	RUN(break_glass_lookup_needs_its_entry_once_and_a_disclosure);
	RUN(older_acknowledged_report_stored_is_a_lost_report);
	RUN(unknown_outcome_upload_may_be_the_stored_report);
	RUN(disclosed_key_missing_from_rotate_key_ids_is_flagged);
	RUN(key_disclosed_after_the_upload_was_sent_needs_no_rotation);
	return unit_done();
}
