/* escrowctl report audit: the audit log, page by page from any node, as a
 * table, JSON or CSV. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl/ctl_commands.h"

#define REPORT_PAGE 10000   /* the most GET /v1/reports/audit gives a call */

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

/* One page: rows printed (table, csv) or added to all (json); *n entries,
 * *last the highest seq seen. */
static int page(struct ctl_ctx *ctx, enum report_format fmt, uint64_t since, size_t limit,
		bool first, json_t *all, size_t *n, uint64_t *last)
{
	struct ctl_response r;
	char path[128];
	json_t *o, *entries, *e;
	size_t i;
	int rv;

	snprintf(path, sizeof path, "/v1/reports/audit?since=%" PRIu64 "&limit=%zu%s", since,
		 limit, fmt == FORMAT_CSV ? "&format=csv" : "");
	if ((rv = ctl_call(ctx, "GET", path, NULL, &r)) != CTL_EXIT_OK)
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
		 size_t page_size)
{
	json_t *all = json_array();
	uint64_t last = since;
	size_t total = 0, n;
	int rv = CTL_EXIT_OK;

	if (all == NULL)
		return ctl_fail(CTL_EXIT_REFUSED, "report: out of memory");
	do {
		size_t want = page_size;
		if (limit > 0 && (size_t)limit - total < want)
			want = (size_t)limit - total;
		rv = page(ctx, fmt, last, want, total == 0, all, &n, &last);
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
	return rv;
}

int ctl_cmd_report(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "page", required_argument, NULL, 'p' },
		CTL_OPTS_COMMON
	};
	const char *s_format = NULL, *s_since = NULL, *s_limit = NULL, *s_page = NULL;
	enum report_format fmt = FORMAT_TABLE;
	long since = 0, limit = 0, page_size = REPORT_PAGE;
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
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind >= argc)
		return ctl_usage_error(ctx, "give a report: audit or compliance");
	if (optind + 1 < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind + 1]);
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
	if ((s_since && (rv = ctl_opt_long(ctx, s_since, "--since", 0, LONG_MAX, &since))) ||
	    (s_limit && (rv = ctl_opt_long(ctx, s_limit, "--limit", 1, LONG_MAX, &limit))) ||
	    (s_page && (rv = ctl_opt_long(ctx, s_page, "--page", 1, REPORT_PAGE, &page_size))))
		return rv;
	if (strcmp(argv[optind], "compliance") == 0)
		return ctl_fail(CTL_EXIT_REFUSED, "report compliance: this version has no "
				"compliance reports yet (no issue builds them so far)");
	if (strcmp(argv[optind], "audit") != 0)
		return ctl_usage_error(ctx, "unknown report '%.32s' (audit, compliance)",
				       argv[optind]);
	return audit(ctx, fmt, (uint64_t)since, limit, (size_t)page_size);
}
