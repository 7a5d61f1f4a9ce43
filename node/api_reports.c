/* GET /v1/reports/audit: the audit log in seq order, as JSON or CSV, read on
 * the leader after a barrier so that it holds every committed entry. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"
#include "store/validate.h"

#define AUDIT_LIMIT_DEFAULT 1000
#define AUDIT_LIMIT_MAX 10000

struct audit_query {
	uint64_t since;
	size_t limit;
	bool csv;
	/* Exact-match filters, "" for none. */
	char action[CMD_ACTION_MAX + 1];
	char actor[CMD_ACTOR_MAX + 1];
	char key_id[VALIDATE_GUID_LEN + 1];     /* normalised: upper case */
	char machine[VALIDATE_MACHINE_MAX + 1]; /* normalised: lower case */
};

/* True when the query string names the parameter (even with a value
 * http_query_param refuses: a bad escape, too long). */
static bool query_names(const struct http_request *req, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = req->query; p != NULL && *p != '\0';) {
		if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' || p[n] == '\0'))
			return true;
		p = strchr(p, '&');
		p = p != NULL ? p + 1 : NULL;
	}
	return false;
}

const char *api_query_param(struct op *op, const char *name, char *buf, size_t size, bool *bad)
{
	const char *v = http_query_param(op->req, name, buf, size);

	*bad = v == NULL && query_names(op->req, name);
	return v;
}

_Static_assert(CMD_ACTOR_MAX >= VALIDATE_MACHINE_MAX && CMD_ACTOR_MAX >= CMD_ACTION_MAX,
	       "audit_filter's buffer holds every filter");

/* True when s holds no control character (C0, DEL). */
static bool printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	}
	return true;
}

/* Reads filter name into out (size bytes): "" when absent or empty; for
 * key_id and machine, the normal form. False with a 400 bad_filter sent
 * when it is too long, holds a control character or a bad escape, or is
 * no key ID / machine name. */
static bool audit_filter(struct op *op, const char *name, char *out, size_t size)
{
	/* A key ID may come in braces. */
	size_t max = strcmp(name, "key_id") == 0 ? VALIDATE_GUID_LEN + 2 : size - 1;
	char buf[CMD_ACTOR_MAX + 2], msg[160]; /* the longest filter and one more */
	struct verr e;
	bool bad, ok;

	out[0] = '\0';
	if (api_query_param(op, name, buf, max + 2, &bad) == NULL && !bad)
		return true;
	if (!bad && buf[0] == '\0')
		return true;
	ok = !bad && strlen(buf) <= max && printable(buf);
	if (ok && strcmp(name, "key_id") == 0)
		ok = validate_key_id(buf, out, &e);
	else if (ok && strcmp(name, "machine") == 0)
		ok = validate_machine(buf, out, &e);
	else if (ok)
		memcpy(out, buf, strlen(buf) + 1);
	if (!ok) {
		snprintf(msg, sizeof msg,
			 "%s must be %s, at most %zu characters without control characters", name,
			 strcmp(name, "key_id") == 0   ? "a key ID (GUID)" :
			 strcmp(name, "machine") == 0 ? "a machine name" :
							"an exact value",
			 max);
		op_respond_error(op, 400, "bad_filter", msg);
	}
	return ok;
}

/* Reads ?since=SEQ&limit=N&format=json|csv and the filters action, actor,
 * key_id and machine; false with a 400 sent. */
static bool audit_query(struct op *op, struct audit_query *q)
{
	char buf[32], *end;
	unsigned long long v;
	bool bad;

	memset(q, 0, sizeof *q);
	q->since = 0;
	q->limit = AUDIT_LIMIT_DEFAULT;
	q->csv = false;
	if (!audit_filter(op, "action", q->action, sizeof q->action) ||
	    !audit_filter(op, "actor", q->actor, sizeof q->actor) ||
	    !audit_filter(op, "key_id", q->key_id, sizeof q->key_id) ||
	    !audit_filter(op, "machine", q->machine, sizeof q->machine))
		return false;
	if (api_query_param(op, "since", buf, sizeof buf, &bad) != NULL || bad) {
		errno = 0;
		v = bad ? 0 : strtoull(buf, &end, 10);
		if (bad || buf[0] < '0' || buf[0] > '9' || *end != '\0' || errno == ERANGE ||
		    v > INT64_MAX) {
			op_respond_error(op, 400, "bad_since", "since must be an audit seq (a number)");
			return false;
		}
		q->since = v;
	}
	if (api_query_param(op, "limit", buf, sizeof buf, &bad) != NULL || bad) {
		v = bad ? 0 : strtoull(buf, &end, 10);
		if (bad || buf[0] < '0' || buf[0] > '9' || *end != '\0' || v < 1) {
			op_respond_error(op, 400, "bad_limit", "limit must be a positive number");
			return false;
		}
		/* More is served as the most a call gives: page on with since. */
		q->limit = v > AUDIT_LIMIT_MAX ? AUDIT_LIMIT_MAX : (size_t)v;
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

static json_t *opt_string(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

static int row_json(const struct store_audit_row *row, void *arg)
{
	size_t bg_len = strlen(STORE_BREAK_GLASS_OUTCOME);
	bool bg = strncmp(row->outcome, STORE_BREAK_GLASS_OUTCOME, bg_len) == 0;
	char at[JSON_TIME_LEN];
	json_t *o;

	json_time(row->at_ms, at);
	/* A lookup replayed from a node's break-glass journal: at and node
	 * are when and where it was served. */
	o = json_pack("{s:I, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:b, s:o}",
		      "seq",
		      (json_int_t)row->seq, "at", at, "actor", opt_string(row->actor), "role",
		      opt_string(row->role), "action", row->action, "key_id",
		      opt_string(row->key_id), "machine", opt_string(row->machine), "reason",
		      opt_string(row->reason), "note", opt_string(row->note), "node",
		      (json_int_t)row->node, "outcome", opt_string(row->outcome), "index",
		      (json_int_t)row->index, "break_glass", bg, "break_glass_id",
		      bg ? json_string(row->outcome + bg_len) : json_null());
	return o == NULL || json_array_append_new(arg, o) != 0 ? ESC_ENOMEM : 0;
}

void api_csv_field(FILE *f, const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
	} else {
		fputc('"', f);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	}
	fputc(last ? '\n' : ',', f);
}

static int row_csv(const struct store_audit_row *row, void *arg)
{
	size_t bg_len = strlen(STORE_BREAK_GLASS_OUTCOME);
	FILE *f = arg;
	char at[JSON_TIME_LEN];
	bool bg;

	json_time(row->at_ms, at);
	fprintf(f, "%" PRIu64 ",", row->seq);
	api_csv_field(f, at, false);
	api_csv_field(f, row->actor, false);
	api_csv_field(f, row->role, false);
	api_csv_field(f, row->action, false);
	api_csv_field(f, row->key_id, false);
	api_csv_field(f, row->machine, false);
	api_csv_field(f, row->reason, false);
	api_csv_field(f, row->note, false);
	fprintf(f, "%" PRIu32 ",", row->node);
	api_csv_field(f, row->outcome, false);
	fprintf(f, "%" PRIu64 ",", row->index);
	bg = strncmp(row->outcome, STORE_BREAK_GLASS_OUTCOME, bg_len) == 0;
	fputs(bg ? "true," : "false,", f);
	api_csv_field(f, bg ? row->outcome + bg_len : "", true);
	return ferror(f) ? ESC_ENOMEM : 0;
}

/* The store's view of q. */
static struct store_audit_filter audit_filter_of(const struct audit_query *q)
{
	return (struct store_audit_filter){ .since = q->since,
					    .limit = q->limit,
					    .action = q->action,
					    .actor = q->actor,
					    .key_id = q->key_id,
					    .machine = q->machine };
}

static void respond_csv(struct op *op, const struct audit_query *q)
{
	struct store_audit_filter filter = audit_filter_of(q);
	char errmsg[ESC_ERRMSG_SIZE], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rv;

	if (f == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	fputs("seq,at,actor,role,action,key_id,machine,reason,note,node,outcome,index,"
	      "break_glass,break_glass_id\n", f);
	rv = store_audit_each(op->ctx->store, &filter, row_csv, f, errmsg);
	if (fclose(f) != 0 && rv == ESC_OK)
		rv = ESC_ENOMEM;
	if (rv != ESC_OK) {
		log_error("audit report: %s", rv == ESC_ENOMEM ? "out of memory" : errmsg);
		op_respond_error(op, 500, "internal", "the audit log could not be read");
	} else {
		op_respond(op, 200, NULL, "text/csv; charset=utf-8", text, len);
	}
	free(text);
}

static void audit_done(struct replica_req *rreq, int status)
{
	struct op *op = rreq->data;
	char errmsg[ESC_ERRMSG_SIZE];
	struct store_audit_filter filter;
	struct audit_query q;
	json_t *entries;
	int rv;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (!audit_query(op, &q))
		return;
	if (q.csv) {
		respond_csv(op, &q);
		return;
	}
	filter = audit_filter_of(&q);
	entries = json_array();
	rv = entries != NULL ? store_audit_each(op->ctx->store, &filter, row_json, entries, errmsg)
			     : ESC_ENOMEM;
	if (rv != ESC_OK) {
		json_decref(entries);
		log_error("audit report: %s", rv == ESC_ENOMEM ? "out of memory" : errmsg);
		op_respond_error(op, 500, "internal", "the audit log could not be read");
		return;
	}
	json_respond(op, 200, json_pack("{s:o, s:I}", "entries", entries, "last_seq",
					(json_int_t)store_audit_seq(op->ctx->store)));
}

static void audit_run(struct op *op)
{
	api_barrier(op, audit_done);
}

void api_audit_report(struct op *op)
{
	struct audit_query q;

	if (!audit_query(op, &q))
		return;
	op->run = audit_run;
	dispatch(op);
}
