/* escrowctl report audit|compliance: the audit log (optionally filtered),
 * or every machine's verdict, page by page from any node, as a table, JSON
 * or CSV. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl/ctl_commands.h"

#define REPORT_PAGE 10000   /* the most GET /v1/reports/audit gives a call */
#define MACHINES_MAX 1000000 /* report compliance stops with an error past this */
#define NEXT_MAX 1024        /* bytes of a page's next "after" (a machine: 253) */

enum report_format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

static const char *str(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL ? s : "";
}

static void table_row(json_t *e)
{
	printf("%-8" PRId64 " %-24s %-18s %-12s %-36s %-24s %-10s %-4" PRId64 " %s\n",
	       (int64_t)json_integer_value(json_object_get(e, "seq")), str(e, "at"),
	       str(e, "action"), str(e, "actor"), str(e, "key_id"), str(e, "machine"),
	       str(e, "reason"), (int64_t)json_integer_value(json_object_get(e, "node")),
	       str(e, "outcome"));
}

/* The filters of report audit, as query parameters. */
struct audit_filters {
	const char *value[4]; /* --action, --actor, --key-id, --machine; NULL: none */
};

static const char *const filter_params[4] = { "action", "actor", "key_id", "machine" };

/* "&name=escaped..." for every filter given, malloc'ed; NULL when out of
 * memory. */
static char *filters_query(const struct audit_filters *f)
{
	char *q = strdup(""), *grown, *e;

	for (int i = 0; q != NULL && i < 4; i++) {
		if (f->value[i] == NULL)
			continue;
		e = ctl_escape(f->value[i]);
		grown = NULL;
		if (e == NULL || asprintf(&grown, "%s&%s=%s", q, filter_params[i], e) < 0)
			grown = NULL;
		curl_free(e);
		free(q);
		q = grown;
	}
	return q;
}

/* One page: rows printed (table, csv) or added to all (json); *n entries,
 * *last the highest seq seen. */
static int page(struct ctl_ctx *ctx, enum report_format fmt, uint64_t since, size_t limit,
		const char *filters, bool first, json_t *all, size_t *n, uint64_t *last)
{
	struct ctl_response r;
	char *path = NULL;
	json_t *o, *entries, *e;
	size_t i;
	int rv;

	*n = 0;
	if (asprintf(&path, "/v1/reports/audit?since=%" PRIu64 "&limit=%zu%s%s", since, limit,
		     fmt == FORMAT_CSV ? "&format=csv" : "", filters) < 0)
		return ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
	rv = ctl_call(ctx, "GET", path, NULL, &r);
	free(path);
	if (rv != CTL_EXIT_OK)
		return rv;
	if (fmt == FORMAT_CSV) {
		/* Rows after the header line; the header once. */
		const char *body = r.body, *rows = strchr(body, '\n');
		rows = rows != NULL ? rows + 1 : body + strlen(body);
		fwrite(first ? body : rows, 1, strlen(first ? body : rows), stdout);
		/* A row a line (notes hold no line break); seq is its first field. */
		*n = 0;
		for (const char *p = rows, *eol; (eol = strchr(p, '\n')) != NULL; p = eol + 1) {
			unsigned long long seq = strtoull(p, NULL, 10);
			if (seq > *last)
				*last = seq;
			(*n)++;
		}
		ctl_response_close(&r);
		return CTL_EXIT_OK;
	}
	o = ctl_parse_object(&r);
	ctl_response_close(&r);
	if (o == NULL)
		return CTL_EXIT_REFUSED;
	/* The table's head once the first page came: never over a refusal. */
	if (fmt == FORMAT_TABLE && first)
		printf("%-8s %-24s %-18s %-12s %-36s %-24s %-10s %-4s %s\n", "SEQ", "AT", "ACTION",
		       "ACTOR", "KEY_ID", "MACHINE", "REASON", "NODE", "OUTCOME");
	entries = json_object_get(o, "entries");
	*n = json_array_size(entries);
	json_array_foreach(entries, i, e) {
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
		if (seq > *last)
			*last = seq;
		if (fmt == FORMAT_TABLE)
			table_row(e);
		else
			json_array_append(all, e);
	}
	json_decref(o);
	return CTL_EXIT_OK;
}

static int audit(struct ctl_ctx *ctx, enum report_format fmt, uint64_t since, long limit,
		 size_t page_size, const struct audit_filters *f)
{
	json_t *all = json_array();
	char *filters = filters_query(f);
	uint64_t last = since;
	size_t total = 0, n;
	int rv = CTL_EXIT_OK;

	if (all == NULL || filters == NULL) {
		json_decref(all);
		free(filters);
		return ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
	}
	do {
		size_t want = page_size;
		if (limit > 0 && (size_t)limit - total < want)
			want = (size_t)limit - total;
		rv = page(ctx, fmt, last, want, filters, total == 0, all, &n, &last);
		total += n;
		if (rv != CTL_EXIT_OK || n < want)
			break;
	} while (limit == 0 || total < (size_t)limit);
	if (rv == CTL_EXIT_OK && fmt == FORMAT_JSON) {
		json_t *j = json_pack("{s:O, s:I}", "entries", all, "last_seq", (json_int_t)last);
		char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		if (text == NULL)
			rv = ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
		else
			printf("%s\n", text);
		free(text);
		json_decref(j);
	}
	json_decref(all);
	free(filters);
	return rv;
}

/* report compliance: what the pages gathered so far. */
struct compliance {
	enum report_format fmt;
	const char *status; /* --status or NULL */
	size_t machines;    /* machines (or CSV rows) received */
	size_t pages;       /* pages received */
	json_t *counts;     /* the first page's counts, owned; NULL before it */
	json_t *all;        /* json: every machine */
	struct ctl_table t; /* table: every machine */
};

static void compliance_table_row(struct ctl_table *t, const json_t *m)
{
	char cells[6][1024];
	const char *row[6] = {
		ctl_field(m, "machine", cells[0], sizeof(cells[0])),
		ctl_field(m, "status", cells[1], sizeof(cells[1])),
		ctl_field_list(m, "reasons", ",", "-", cells[2], sizeof(cells[2])),
		ctl_field(m, "stale", cells[3], sizeof(cells[3])),
		ctl_field(m, "reported_at", cells[4], sizeof(cells[4])),
		ctl_field(m, "user", cells[5], sizeof(cells[5])),
	};

	ctl_table_add(t, row);
}

/* Whether next, from the server, can be a page's "after": it fits (not cut
 * by a buffer) and holds no control character (it is printed in messages). */
static bool next_ok(const char *next)
{
	size_t i;

	for (i = 0; next[i] != '\0'; i++)
		if ((unsigned char)next[i] < 0x20 || next[i] == 0x7f)
			return false;
	return i + 1 < NEXT_MAX;
}

/* A JSON page: its machines kept, its "next" into next ("" at the end). */
static int compliance_page_json(struct compliance *c, const struct ctl_response *r,
				char *next)
{
	json_t *o, *machines, *m, *n;
	size_t i;
	int rv = CTL_EXIT_OK;

	if ((o = ctl_parse_object(r)) == NULL)
		return CTL_EXIT_REFUSED;
	machines = json_object_get(o, "machines");
	n = json_object_get(o, "next");
	if (!json_is_array(machines)) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "%s answered without a \"machines\" list", r->node);
		goto out;
	}
	if (n != NULL && !json_is_null(n) &&
	    (!json_is_string(n) || json_string_length(n) + 1 >= NEXT_MAX ||
	     !next_ok(json_string_value(n)))) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "%s answered with a \"next\" that is neither null "
			      "nor a machine", r->node);
		goto out;
	}
	snprintf(next, NEXT_MAX, "%s", json_is_string(n) ? json_string_value(n) : "");
	if (c->counts == NULL)
		c->counts = json_incref(json_object_get(o, "counts"));
	json_array_foreach(machines, i, m) {
		if (c->fmt == FORMAT_TABLE)
			compliance_table_row(&c->t, m);
		else if (json_array_append(c->all, m) != 0)
			rv = ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
	}
	c->machines += json_array_size(machines);
out:
	json_decref(o);
	return rv;
}

/* A CSV page: printed, the header only on the first; next from the
 * X-Escrow-Next header ("" when absent: the end). */
static int compliance_page_csv(struct compliance *c, const struct ctl_response *r,
				char *next)
{
	const char *body = r->body, *rows = strchr(body, '\n'), *p, *eol;
	size_t n;

	rows = rows != NULL ? rows + 1 : body + strlen(body);
	p = c->pages == 0 ? body : rows;
	n = strlen(p);
	fwrite(p, 1, n, stdout);
	if (n > 0 && p[n - 1] != '\n')
		fputc('\n', stdout);
	/* A row a line: no field of a machine holds a line break. */
	for (p = rows; *p != '\0'; p = *eol ? eol + 1 : eol) {
		eol = p + strcspn(p, "\n");
		c->machines++;
	}
	/* The contract does not say how a CSV page names the next one; we
	 * assume the header X-Escrow-Next: the next page's "after", absent on
	 * the last page. */
	if (!ctl_response_header(r, "X-Escrow-Next", next, NEXT_MAX))
		next[0] = '\0';
	if (!next_ok(next))
		return ctl_fail(CTL_EXIT_REFUSED, "%s answered with an X-Escrow-Next that is not "
				"a machine", r->node);
	return CTL_EXIT_OK;
}

/* Prints the table (counts first) or the JSON object of every page. */
static int compliance_print(struct compliance *c)
{
	static const char *const names[] = { "compliant", "noncompliant", "exempt", "unknown" };
	char v[64];
	json_t *j;
	char *text;
	size_t i;
	int rv;

	if (c->fmt == FORMAT_TABLE) {
		printf("counts:");
		for (i = 0; i < 4; i++)
			printf("%s %s %s", i ? "," : "", names[i],
			       ctl_field(c->counts, names[i], v, sizeof(v)));
		printf("\n");
		if (c->machines == 0) {
			printf("no %s%smachines\n", c->status ? c->status : "",
			       c->status ? " " : "");
			return CTL_EXIT_OK;
		}
		return ctl_table_print(&c->t, stdout);
	}
	j = json_pack("{s:O?, s:O}", "counts", c->counts, "machines", c->all);
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	if (text == NULL) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
	} else {
		printf("%s\n", text);
		rv = CTL_EXIT_OK;
	}
	free(text);
	json_decref(j);
	return rv;
}

/* Writes GET /v1/reports/compliance's path with the query parts that apply
 * into path (size: 3 * NEXT_MAX + 128 at least). */
static int compliance_path(const char *status, const char *after, bool csv, char *path,
			   size_t size)
{
	const char *sep = "?";
	char *e = ctl_escape(after);
	size_t n;

	if (e == NULL)
		return ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
	n = (size_t)snprintf(path, size, "/v1/reports/compliance");
	if (status != NULL) {
		n += (size_t)snprintf(path + n, size - n, "%sstatus=%s", sep, status);
		sep = "&";
	}
	if (after[0] != '\0') {
		n += (size_t)snprintf(path + n, size - n, "%safter=%s", sep, e);
		sep = "&";
	}
	if (csv)
		snprintf(path + n, size - n, "%sformat=csv", sep);
	curl_free(e);
	return CTL_EXIT_OK;
}

/* Fetches every page of GET /v1/reports/compliance, following next until
 * the end; stops with an error when a page's next does not advance (machines
 * come in order of their lower-case names) or past MACHINES_MAX machines (or
 * pages: empty pages must not go on for ever either). */
static int compliance(struct ctl_ctx *ctx, enum report_format fmt, const char *status)
{
	static const char *const header[] = {
		"MACHINE", "STATUS", "REASONS", "STALE", "REPORTED AT", "USER",
	};
	struct compliance c = { .fmt = fmt, .status = status };
	char after[NEXT_MAX] = "", next[NEXT_MAX] = "", path[3 * NEXT_MAX + 128];
	struct ctl_response r;
	int rv;

	if (fmt == FORMAT_TABLE)
		ctl_table_init(&c.t, 6, header);
	if (fmt == FORMAT_JSON && (c.all = json_array()) == NULL)
		return ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
	for (;;) {
		rv = compliance_path(status, after, fmt == FORMAT_CSV, path, sizeof(path));
		if (rv == CTL_EXIT_OK)
			rv = ctl_call(ctx, "GET", path, NULL, &r);
		if (rv != CTL_EXIT_OK)
			break;
		if (fmt == FORMAT_CSV)
			rv = compliance_page_csv(&c, &r, next);
		else
			rv = compliance_page_json(&c, &r, next);
		ctl_response_close(&r);
		c.pages++;
		if (rv != CTL_EXIT_OK || next[0] == '\0')
			break;
		if (strcmp(next, after) <= 0) {
			rv = ctl_fail(CTL_EXIT_REFUSED, "report compliance: the server's next page "
				      "(after '%s') does not advance past '%s'; stopped", next,
				      after);
			break;
		}
		if (c.machines >= MACHINES_MAX || c.pages >= MACHINES_MAX)
			break;
		memcpy(after, next, sizeof(after));
	}
	if (rv == CTL_EXIT_OK && (c.machines > MACHINES_MAX ||
				  (next[0] != '\0' && (c.machines >= MACHINES_MAX ||
						       c.pages >= MACHINES_MAX))))
		rv = ctl_fail(CTL_EXIT_REFUSED, "report compliance: over %d machines (or pages); "
			      "stopped (narrow it with --status)", MACHINES_MAX);
	if (rv == CTL_EXIT_OK && fmt != FORMAT_CSV)
		rv = compliance_print(&c);
	if (fmt == FORMAT_TABLE)
		ctl_table_close(&c.t);
	json_decref(c.all);
	json_decref(c.counts);
	return rv;
}

/* The --status of report compliance, checked against the statuses there are. */
static int compliance_status(struct ctl_ctx *ctx, const char *s)
{
	static const char *const statuses[] = { "compliant", "noncompliant", "exempt", "unknown" };
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(s, statuses[i]) == 0)
			return CTL_EXIT_OK;
	return ctl_usage_error(ctx, "--status: '%.40s' is not compliant, noncompliant, exempt "
			       "or unknown", s);
}

int ctl_cmd_report(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "page", required_argument, NULL, 'p' },
		{ "status", required_argument, NULL, 'S' },
		{ "action", required_argument, NULL, 'a' },
		{ "actor", required_argument, NULL, 'A' },
		{ "key-id", required_argument, NULL, 'k' },
		{ "machine", required_argument, NULL, 'm' },
		CTL_OPTS_COMMON
	};
	static const char *const filter_flags[4] = { "--action", "--actor", "--key-id",
						     "--machine" };
	struct audit_filters f = { { NULL } };
	const char *s_format = NULL, *s_since = NULL, *s_limit = NULL, *s_page = NULL;
	const char *s_status = NULL, *audit_only;
	enum report_format fmt = FORMAT_TABLE;
	long since = 0, limit = 0, page_size = REPORT_PAGE;
	bool is_audit;
	int c, rv = CTL_EXIT_OK;

	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		if (c == 'f')
			rv = ctl_opt_once(ctx, &s_format, optarg, "--format");
		else if (c == 's')
			rv = ctl_opt_once(ctx, &s_since, optarg, "--since");
		else if (c == 'l')
			rv = ctl_opt_once(ctx, &s_limit, optarg, "--limit");
		else if (c == 'p')
			rv = ctl_opt_once(ctx, &s_page, optarg, "--page");
		else if (c == 'S')
			rv = ctl_opt_once(ctx, &s_status, optarg, "--status");
		else if (c == 'a')
			rv = ctl_opt_once(ctx, &f.value[0], optarg, "--action");
		else if (c == 'A')
			rv = ctl_opt_once(ctx, &f.value[1], optarg, "--actor");
		else if (c == 'k')
			rv = ctl_opt_once(ctx, &f.value[2], optarg, "--key-id");
		else if (c == 'm')
			rv = ctl_opt_once(ctx, &f.value[3], optarg, "--machine");
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind >= argc)
		return ctl_usage_error(ctx, "give a report: audit or compliance");
	if (optind + 1 < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind + 1]);
	is_audit = strcmp(argv[optind], "audit") == 0;
	if (!is_audit && strcmp(argv[optind], "compliance") != 0)
		return ctl_usage_error(ctx, "unknown report '%.32s' (audit, compliance)",
				       argv[optind]);
	if (s_format != NULL) {
		if (strcmp(s_format, "json") == 0)
			fmt = FORMAT_JSON;
		else if (strcmp(s_format, "csv") == 0)
			fmt = FORMAT_CSV;
		else if (strcmp(s_format, "table") != 0)
			return ctl_usage_error(ctx, "--format: table, json or csv");
	}
	if (ctx->json)
		fmt = FORMAT_JSON;
	if (!is_audit) {
		audit_only = s_since ? "--since" : s_limit ? "--limit" : s_page ? "--page" : NULL;
		for (int i = 0; audit_only == NULL && i < 4; i++)
			audit_only = f.value[i] != NULL ? filter_flags[i] : NULL;
		if (audit_only != NULL)
			return ctl_usage_error(ctx, "%s goes with report audit, not compliance",
					       audit_only);
		if (s_status != NULL && (rv = compliance_status(ctx, s_status)) != CTL_EXIT_OK)
			return rv;
		return compliance(ctx, fmt, s_status);
	}
	if (s_status != NULL)
		return ctl_usage_error(ctx, "--status goes with report compliance, not audit");
	if ((s_since && (rv = ctl_opt_long(ctx, s_since, "--since", 0, LONG_MAX, &since))) ||
	    (s_limit && (rv = ctl_opt_long(ctx, s_limit, "--limit", 1, LONG_MAX, &limit))) ||
	    (s_page && (rv = ctl_opt_long(ctx, s_page, "--page", 1, REPORT_PAGE, &page_size))))
		return rv;
	return audit(ctx, fmt, (uint64_t)since, limit, (size_t)page_size, &f);
}
