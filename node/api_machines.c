/* Compliance reads, on the leader after a barrier: a machine
 * (GET /v1/machines/{machine}), the search by name (GET /v1/machines) and
 * the compliance report (GET /v1/reports/compliance), judged by this
 * node's clock. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"

#define COMPLIANCE_LIMIT_DEFAULT 1000
#define COMPLIANCE_LIMIT_MAX 10000
#define MACHINES_LIMIT_DEFAULT 50
#define MACHINES_LIMIT_MAX 1000

static json_t *opt_string(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *key_ids_json(const struct compliance_volume *v)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr != NULL && i < v->n_key_ids; i++)
		json_array_append_new(arr, json_string(v->key_ids[i]));
	return arr;
}

/* The volumes of a report, as the report's body has them. */
static json_t *volumes_json(const struct compliance_report *r)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr != NULL && i < r->n_volumes; i++) {
		const struct compliance_volume *v = &r->volumes[i];

		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o}", "volume_id",
				  v->volume_id, "volume_type",
				  compliance_name(COMPLIANCE_KIND_VOLUME_TYPE, v->volume_type),
				  "protection",
				  compliance_name(COMPLIANCE_KIND_PROTECTION, v->protection),
				  "conversion",
				  compliance_name(COMPLIANCE_KIND_CONVERSION, v->conversion),
				  "encryption_method",
				  compliance_name(COMPLIANCE_KIND_METHOD, v->method),
				  "percent_encrypted", (int)v->percent, "protectors",
				  json_names(COMPLIANCE_KIND_PROTECTOR, v->protectors), "key_ids",
				  key_ids_json(v)));
	}
	return arr;
}

static json_t *history_json(const struct store_machine *m)
{
	char at[JSON_TIME_LEN];
	json_t *arr = json_array();

	for (unsigned i = 0; arr != NULL && i < m->n_history; i++) {
		const struct store_verdict *h = &m->history[i];

		json_time(h->at_ms, at);
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:o}", "at", at, "status",
				       compliance_name(COMPLIANCE_KIND_STATUS, h->status), "reasons",
				       json_names(COMPLIANCE_KIND_REASON, h->reasons)));
	}
	return arr;
}

/* The exemption recorded, expired or not; null when there is none. */
static json_t *exemption_json(const struct store_machine *m)
{
	char until[JSON_TIME_LEN], at[JSON_TIME_LEN];

	if (!m->exempt)
		return json_null();
	json_time(m->exempt_until_ms, until);
	json_time(m->exempt_at_ms, at);
	return json_pack("{s:s, s:s, s:s, s:s}", "until", until, "note", m->exempt_note, "by",
			 m->exempt_actor, "at", at);
}

static json_t *machine_json(const struct store_machine *m, const struct store_key *keys,
			    size_t n_keys)
{
	char reported[JSON_TIME_LEN];
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n_keys; i++)
		json_array_append_new(arr, json_key(&keys[i], NULL));
	json_time(m->reported_at_ms, reported);
	return json_pack("{s:s, s:s, s:o, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "machine",
			 m->report.machine, "status",
			 compliance_name(COMPLIANCE_KIND_STATUS, m->status), "reasons",
			 json_names(COMPLIANCE_KIND_REASON, m->reasons), "stale", m->stale,
			 "reported_at", reported, "user", opt_string(m->report.user), "os",
			 opt_string(m->report.os), "volumes", volumes_json(&m->report), "keys", arr,
			 "history", history_json(m), "exemption", exemption_json(m));
}

static void machine_done(struct replica_req *rreq, int status)
{
	struct op *op = rreq->data;
	char errmsg[ESC_ERRMSG_SIZE];
	struct store_machine *m;
	struct store_key *keys = NULL;
	size_t n = 0;
	int rv;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (api_wait_rejudged(op))
		return;
	m = malloc(sizeof *m);
	if (m == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	rv = store_machine(op->ctx->store, op->cmd.machine, op->ctx->clock_ms(), m, errmsg);
	if (rv == ESC_ENOTFOUND) {
		op_respond_error(op, 404, "not_found", "no compliance report from this machine");
	} else if (rv != ESC_OK ||
		   (rv = store_machine_keys(op->ctx->store, op->cmd.machine, &keys, &n,
					    errmsg)) != ESC_OK) {
		log_error("machine %s: %s", op->cmd.machine, errmsg);
		op_respond_error(op, 500, "internal", "the store could not be read");
	} else {
		json_respond(op, 200, machine_json(m, keys, n));
	}
	free(keys);
	free(m);
}

static void machine_run(struct op *op)
{
	api_barrier(op, machine_done);
}

void api_machine(struct op *op, const char *machine)
{
	struct verr e;

	memset(&op->cmd, 0, sizeof op->cmd);
	if (!validate_machine(machine, op->cmd.machine, &e)) {
		api_bad_input(op, &e);
		return;
	}
	op->run = machine_run;
	dispatch(op);
}

/* GET /v1/reports/compliance */

struct compliance_query {
	unsigned status; /* 0: any */
	char after[VALIDATE_MACHINE_MAX + 1];
	size_t limit;
	bool csv;
};

/* One page being written: rows go to arr (JSON) or f (CSV). */
struct compliance_page {
	const struct compliance_query *q;
	json_t *arr;
	FILE *f;
	size_t n;
	bool more;                           /* a row after the page exists */
	char last[VALIDATE_MACHINE_MAX + 1]; /* the page's last machine */
};

#define PAGE_FULL (-1) /* a callback's stop: the row after the page was seen */

/* Reads ?status=S&after=M&limit=N&format=json|csv; false with a 400 sent. */
static bool compliance_query(struct op *op, struct compliance_query *q)
{
	char buf[VALIDATE_MACHINE_MAX + 2], *end;
	unsigned long long v;
	struct verr e;
	bool bad;

	memset(q, 0, sizeof *q);
	q->limit = COMPLIANCE_LIMIT_DEFAULT;
	if (api_query_param(op, "status", buf, sizeof buf, &bad) != NULL || bad) {
		if (bad)
			buf[0] = '\0';
		if (!compliance_name_read(COMPLIANCE_KIND_STATUS, buf, "status", &q->status, &e)) {
			api_bad_input(op, &e);
			return false;
		}
	}
	if (api_query_param(op, "after", buf, sizeof buf, &bad) != NULL || bad) {
		if (bad || (buf[0] != '\0' && !validate_machine(buf, q->after, &e))) {
			op_respond_error(op, 400, "bad_after",
					 "after must be a machine name (the next of a page)");
			return false;
		}
	}
	if (api_query_param(op, "limit", buf, sizeof buf, &bad) != NULL || bad) {
		errno = 0;
		v = bad ? 0 : strtoull(buf, &end, 10);
		if (bad || buf[0] < '0' || buf[0] > '9' || *end != '\0' || errno == ERANGE ||
		    v < 1 || v > COMPLIANCE_LIMIT_MAX) {
			op_respond_error(op, 400, "bad_limit", "limit must be a number from 1 to 10000");
			return false;
		}
		q->limit = (size_t)v;
	}
	if (api_query_param(op, "format", buf, sizeof buf, &bad) != NULL || bad) {
		if (bad || (strcmp(buf, "csv") != 0 && strcmp(buf, "json") != 0)) {
			op_respond_error(op, 400, "bad_format", "format must be json or csv");
			return false;
		}
		q->csv = strcmp(buf, "csv") == 0;
	}
	return true;
}

static int row_cb(const struct store_compliance_row *row, void *data)
{
	struct compliance_page *pg = data;
	char at[JSON_TIME_LEN], reasons[COMPLIANCE_REASONS_TEXT_SIZE];
	const char *status = compliance_name(COMPLIANCE_KIND_STATUS, row->status);
	json_t *o;

	if (pg->n == pg->q->limit) {
		pg->more = true;
		return PAGE_FULL;
	}
	pg->n++;
	snprintf(pg->last, sizeof pg->last, "%s", row->machine);
	json_time(row->reported_at_ms, at);
	if (pg->f == NULL) {
		o = json_pack("{s:s, s:s, s:o, s:b, s:s, s:o}", "machine", row->machine, "status",
			      status, "reasons", json_names(COMPLIANCE_KIND_REASON, row->reasons),
			      "stale", row->stale, "reported_at", at, "user",
			      opt_string(row->user));
		return o == NULL || json_array_append_new(pg->arr, o) != 0 ? ESC_ENOMEM : 0;
	}
	compliance_reasons_join(row->reasons, ";", reasons, sizeof reasons);
	api_csv_field(pg->f, row->machine, false);
	api_csv_field(pg->f, status, false);
	api_csv_field(pg->f, reasons, false);
	api_csv_field(pg->f, row->stale ? "true" : "false", false);
	api_csv_field(pg->f, at, false);
	api_csv_field(pg->f, row->user, true);
	return ferror(pg->f) ? ESC_ENOMEM : 0;
}

/* Walks one page (and one row more, to know whether another page exists). */
static int page_walk(struct op *op, struct compliance_page *pg, uint64_t counts[4])
{
	char errmsg[ESC_ERRMSG_SIZE];
	int rv;

	rv = store_compliance_each(op->ctx->store, pg->q->after, (int)pg->q->status,
				   pg->q->limit + 1, op->ctx->clock_ms(), row_cb, pg, counts,
				   errmsg);
	if (rv == PAGE_FULL)
		rv = ESC_OK;
	if (rv != ESC_OK)
		log_error("compliance report: %s", rv == ESC_ENOMEM ? "out of memory" : errmsg);
	return rv;
}

static void respond_csv(struct op *op, struct compliance_page *pg)
{
	char *text = NULL, headers[VALIDATE_MACHINE_MAX + 32] = "";
	size_t len = 0;
	int rv;

	pg->f = open_memstream(&text, &len);
	if (pg->f == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	fputs("machine,status,reasons,stale,reported_at,user\n", pg->f);
	rv = page_walk(op, pg, NULL);
	if (fclose(pg->f) != 0 && rv == ESC_OK)
		rv = ESC_ENOMEM;
	if (rv != ESC_OK) {
		op_respond_error(op, 500, "internal", "the compliance report could not be read");
	} else {
		if (pg->more)
			snprintf(headers, sizeof headers, "X-Escrow-Next: %s\r\n", pg->last);
		op_respond(op, 200, headers, "text/csv; charset=utf-8", text, len);
	}
	free(text);
}

static void report_done(struct replica_req *rreq, int status)
{
	struct op *op = rreq->data;
	struct compliance_query q;
	struct compliance_page pg = { .q = &q };
	uint64_t counts[4] = { 0 };

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (api_wait_rejudged(op))
		return;
	if (!compliance_query(op, &q))
		return;
	if (q.csv) {
		respond_csv(op, &pg);
		return;
	}
	pg.arr = json_array();
	if (pg.arr == NULL || page_walk(op, &pg, counts) != ESC_OK) {
		json_decref(pg.arr);
		op_respond_error(op, 500, "internal", "the compliance report could not be read");
		return;
	}
	json_respond(op, 200,
		     json_pack("{s:{s:I, s:I, s:I, s:I}, s:o, s:o}", "counts", "compliant",
			       (json_int_t)counts[0], "noncompliant", (json_int_t)counts[1],
			       "exempt", (json_int_t)counts[2], "unknown", (json_int_t)counts[3],
			       "machines", pg.arr, "next",
			       pg.more ? json_string(pg.last) : json_null()));
}

static void report_run(struct op *op)
{
	api_barrier(op, report_done);
}

void api_compliance_report(struct op *op)
{
	struct compliance_query q;

	if (!compliance_query(op, &q))
		return;
	op->run = report_run;
	dispatch(op);
}

/* GET /v1/machines?prefix=P[&after=M][&limit=N]: the rows of the compliance
 * report whose machine name begins with P, paged like it. */

struct machines_query {
	char prefix[VALIDATE_MACHINE_MAX + 1]; /* lower case; "" for all */
	struct compliance_query page;          /* after and limit */
};

/* True when s is up to 253 characters of a machine name (A-Z a-z 0-9 . -),
 * possibly none; writes its lower-case form into out. */
static bool machine_prefix(const char *s, char out[VALIDATE_MACHINE_MAX + 1])
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i == VALIDATE_MACHINE_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return false;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[i] = '\0';
	return true;
}

/* Reads ?prefix=P&after=M&limit=N; false with a 400 sent. */
static bool machines_query(struct op *op, struct machines_query *q)
{
	char buf[VALIDATE_MACHINE_MAX + 2], *end;
	unsigned long long v;
	struct verr e;
	bool bad;

	memset(q, 0, sizeof *q);
	q->page.limit = MACHINES_LIMIT_DEFAULT;
	if (api_query_param(op, "prefix", buf, sizeof buf, &bad) != NULL || bad) {
		if (bad || !machine_prefix(buf, q->prefix)) {
			op_respond_error(op, 400, "invalid_prefix",
					 "prefix must be the start of a machine name: up to 253 "
					 "of A-Z a-z 0-9 . -");
			return false;
		}
	}
	if (api_query_param(op, "after", buf, sizeof buf, &bad) != NULL || bad) {
		if (bad || (buf[0] != '\0' && !validate_machine(buf, q->page.after, &e))) {
			op_respond_error(op, 400, "bad_after",
					 "after must be a machine name (the next of a page)");
			return false;
		}
	}
	if (api_query_param(op, "limit", buf, sizeof buf, &bad) != NULL || bad) {
		errno = 0;
		v = bad ? 0 : strtoull(buf, &end, 10);
		if (bad || buf[0] < '0' || buf[0] > '9' || *end != '\0' || errno == ERANGE ||
		    v < 1 || v > MACHINES_LIMIT_MAX) {
			op_respond_error(op, 400, "bad_limit", "limit must be a number from 1 to 1000");
			return false;
		}
		q->page.limit = (size_t)v;
	}
	return true;
}

static void machines_done(struct replica_req *rreq, int status)
{
	struct op *op = rreq->data;
	char errmsg[ESC_ERRMSG_SIZE];
	struct machines_query q;
	struct compliance_page pg = { .q = &q.page };
	int rv;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (api_wait_rejudged(op))
		return;
	if (!machines_query(op, &q))
		return;
	pg.arr = json_array();
	/* One row more than the page says whether another page exists. */
	rv = pg.arr == NULL ? ESC_ENOMEM :
			      store_machines_each(op->ctx->store, q.prefix, q.page.after,
						  q.page.limit + 1, op->ctx->clock_ms(), row_cb,
						  &pg, errmsg);
	if (rv == PAGE_FULL)
		rv = ESC_OK;
	if (rv != ESC_OK) {
		log_error("machines: %s", rv == ESC_ENOMEM ? "out of memory" : errmsg);
		json_decref(pg.arr);
		op_respond_error(op, 500, "internal", "the machines could not be read");
		return;
	}
	json_respond(op, 200,
		     json_pack("{s:o, s:o}", "machines", pg.arr, "next",
			       pg.more ? json_string(pg.last) : json_null()));
}

static void machines_run(struct op *op)
{
	api_barrier(op, machines_done);
}

void api_machines(struct op *op)
{
	struct machines_query q;

	if (!machines_query(op, &q))
		return;
	op->run = machines_run;
	dispatch(op);
}
