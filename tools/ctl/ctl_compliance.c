/* escrowctl's compliance commands: compliance (upload a report), machine,
 * policy get|set and exempt. report compliance is in ctl_report.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl/ctl_commands.h"

#define BODY_LIMIT 65536 /* the server's body limit: 413 over 64 KiB */
#define CELL_MAX 1024    /* one table cell or summary value */
#define UNTIL_MAX 64     /* characters of --until: RFC 3339 needs 35 at most */

/* Reads file ("-": standard input) whole into *text (a heap string the
 * caller frees) after checking locally what the server would refuse anyway:
 * over 64 KiB, not JSON, JSON but not an object. Usage errors name the file
 * and, for bad JSON, jansson's line and column. The text is kept as it is:
 * it goes to the server unchanged. */
static int read_object_file(struct ctl_ctx *ctx, const char *file, char **text)
{
	bool is_stdin = strcmp(file, "-") == 0;
	const char *name = is_stdin ? "standard input" : file;
	json_error_t jerr;
	size_t n = 0, got;
	char *buf = NULL;
	json_t *o;
	FILE *f;
	int rv = CTL_EXIT_OK;

	*text = NULL;
	f = is_stdin ? stdin : fopen(file, "rb");
	if (f == NULL)
		return ctl_usage_error(ctx, "%s: %s", name, strerror(errno));
	buf = malloc(BODY_LIMIT + 2);
	if (buf == NULL) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "%s: out of memory", name);
		goto out;
	}
	/* One byte past the limit tells a file that is too big. */
	errno = 0;
	while (n <= BODY_LIMIT && (got = fread(buf + n, 1, BODY_LIMIT + 1 - n, f)) > 0)
		n += got;
	if (ferror(f)) {
		rv = ctl_usage_error(ctx, "%s: %s", name, errno ? strerror(errno) : "read error");
		goto out;
	}
	if (n > BODY_LIMIT) {
		rv = ctl_usage_error(ctx, "%s: over 64 KiB (%d bytes), the most the server takes",
				     name, BODY_LIMIT);
		goto out;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		rv = ctl_usage_error(ctx, "%s: not JSON: it holds a NUL byte", name);
		goto out;
	}
	o = json_loadb(buf, n, 0, &jerr);
	if (o == NULL) {
		rv = ctl_usage_error(ctx, "%s: not JSON: line %d, column %d: %s", name,
				     jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(o))
		rv = ctl_usage_error(ctx, "%s: not a JSON object", name);
	json_decref(o);
	if (rv == CTL_EXIT_OK) {
		*text = buf;
		buf = NULL;
	}
out:
	free(buf);
	if (!is_stdin)
		fclose(f);
	return rv;
}

/* Takes exactly one positional argument (what: its name for messages) into
 * *arg; usage error when missing, empty or followed by more. */
static int one_argument(struct ctl_ctx *ctx, int argc, char **argv, const char *what,
			const char **arg)
{
	if (optind >= argc)
		return ctl_usage_error(ctx, "%s is required", what);
	if (argc - optind > 1)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind + 1]);
	if (argv[optind][0] == '\0')
		return ctl_usage_error(ctx, "%s is empty", what);
	*arg = argv[optind];
	return CTL_EXIT_OK;
}

/* "/v1/machines/ESCAPED[suffix]" into *path (heap, free it). */
static int machine_path(const char *machine, const char *suffix, char **path)
{
	char *e = ctl_escape(machine);

	if (e == NULL || asprintf(path, "/v1/machines/%s%s", e, suffix) < 0) {
		curl_free(e);
		*path = NULL;
		return ctl_fail(CTL_EXIT_REFUSED, "out of memory");
	}
	curl_free(e);
	return CTL_EXIT_OK;
}

/* Prints POST /v1/compliance's verdict: "MACHINE: STATUS", its reasons and
 * the keys to rotate. */
static int compliance_print(struct ctl_ctx *ctx, const struct ctl_response *r)
{
	char machine[CELL_MAX], status[CELL_MAX], reasons[CELL_MAX], rotate[4 * CELL_MAX];
	json_t *root;

	root = ctl_parse_object(r);
	if (root == NULL)
		return CTL_EXIT_REFUSED;
	if (!json_is_string(json_object_get(root, "status"))) {
		json_decref(root);
		return ctl_fail(CTL_EXIT_REFUSED, "%s answered without a verdict (\"status\")",
				r->node);
	}
	if (ctx->json) {
		ctl_print_body(r);
	} else {
		printf("%s: %s\n", ctl_field(root, "machine", machine, sizeof(machine)),
		       ctl_field(root, "status", status, sizeof(status)));
		printf("reasons: %s\n",
		       ctl_field_list(root, "reasons", ", ", "none", reasons, sizeof(reasons)));
		printf("rotate: %s\n", ctl_field_list(root, "rotate_key_ids", " ", "none",
						      rotate, sizeof(rotate)));
	}
	json_decref(root);
	return CTL_EXIT_OK;
}

int ctl_cmd_compliance(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CTL_OPTS_COMMON };
	struct ctl_response r;
	const char *file;
	char *body;
	int rv;

	while (ctl_getopt(ctx, argc, argv, opts, &rv) != -1)
		;
	if (rv != CTL_EXIT_OK)
		return rv;
	if ((rv = one_argument(ctx, argc, argv, "FILE (a report in JSON, or - for standard "
			       "input)", &file)) != CTL_EXIT_OK)
		return rv;
	if ((rv = read_object_file(ctx, file, &body)) != CTL_EXIT_OK)
		return rv;
	rv = ctl_call(ctx, "POST", "/v1/compliance", body, &r);
	if (rv == CTL_EXIT_OK) {
		rv = compliance_print(ctx, &r);
		ctl_response_close(&r);
	}
	free(body);
	return rv;
}

/* Prints obj[key], a list of objects, as a table of the fields given, or
 * "TITLE: none". Lists inside a cell are joined by ','. */
static int machine_table(const json_t *obj, const char *key, const char *title, size_t ncols,
			 const char *const *header, const char *const *fields)
{
	char cells[8][CELL_MAX];
	const char *row[8];
	struct ctl_table t;
	json_t *list = json_object_get(obj, key), *item;
	size_t i, c;
	int rv;

	printf("\n");
	if (json_array_size(list) == 0) {
		printf("%s: none\n", title);
		return CTL_EXIT_OK;
	}
	printf("%s:\n", title);
	ctl_table_init(&t, ncols, header);
	json_array_foreach(list, i, item) {
		for (c = 0; c < ncols; c++)
			row[c] = ctl_field_list(item, fields[c], ",", "-", cells[c],
						sizeof(cells[c]));
		ctl_table_add(&t, row);
	}
	rv = ctl_table_print(&t, stdout);
	ctl_table_close(&t);
	return rv;
}

/* Prints GET /v1/machines/{m}: a summary, then the volumes, keys and history. */
static int machine_print(struct ctl_ctx *ctx, const struct ctl_response *r)
{
	static const char *const summary[] = {
		"machine", "status", "stale", "reported_at", "user", "os",
	};
	static const char *const vol_header[] = {
		"VOLUME ID", "TYPE", "PROTECTION", "CONVERSION", "METHOD", "PERCENT",
		"PROTECTORS", "KEY IDS",
	};
	static const char *const vol_fields[] = {
		"volume_id", "volume_type", "protection", "conversion", "encryption_method",
		"percent_encrypted", "protectors", "key_ids",
	};
	static const char *const key_header[] = {
		"KEY ID", "VOLUME", "ESCROWED AT", "DISCLOSED AT", "RETIRED AT",
	};
	static const char *const key_fields[] = {
		"key_id", "volume_id", "escrowed_at", "disclosed_at", "retired_at",
	};
	static const char *const hist_header[] = { "AT", "STATUS", "REASONS" };
	static const char *const hist_fields[] = { "at", "status", "reasons" };
	char value[CELL_MAX];
	json_t *root;
	size_t i;
	int rv;

	root = ctl_parse_object(r);
	if (root == NULL)
		return CTL_EXIT_REFUSED;
	if (ctx->json) {
		ctl_print_body(r);
		json_decref(root);
		return CTL_EXIT_OK;
	}
	for (i = 0; i < sizeof(summary) / sizeof(summary[0]); i++) {
		printf("%s: %s\n", summary[i], ctl_field(root, summary[i], value, sizeof(value)));
		if (i == 1)
			printf("reasons: %s\n", ctl_field_list(root, "reasons", ", ", "none", value,
							       sizeof(value)));
	}
	rv = machine_table(root, "volumes", "volumes", 8, vol_header, vol_fields);
	if (rv == CTL_EXIT_OK)
		rv = machine_table(root, "keys", "keys", 5, key_header, key_fields);
	if (rv == CTL_EXIT_OK)
		rv = machine_table(root, "history", "history", 3, hist_header, hist_fields);
	json_decref(root);
	return rv;
}

int ctl_cmd_machine(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CTL_OPTS_COMMON };
	struct ctl_response r;
	const char *machine;
	char *path;
	int rv;

	while (ctl_getopt(ctx, argc, argv, opts, &rv) != -1)
		;
	if (rv != CTL_EXIT_OK)
		return rv;
	if ((rv = one_argument(ctx, argc, argv, "MACHINE", &machine)) != CTL_EXIT_OK)
		return rv;
	if ((rv = machine_path(machine, "", &path)) != CTL_EXIT_OK)
		return rv;
	rv = ctl_call(ctx, "GET", path, NULL, &r);
	if (rv == CTL_EXIT_OK) {
		rv = machine_print(ctx, &r);
		ctl_response_close(&r);
	}
	free(path);
	return rv;
}

/* Prints the policy the server answered: indented JSON, or with --json the
 * body as received. */
static int policy_print(struct ctl_ctx *ctx, const struct ctl_response *r)
{
	json_t *root;
	char *text;

	root = ctl_parse_object(r);
	if (root == NULL)
		return CTL_EXIT_REFUSED;
	if (ctx->json) {
		ctl_print_body(r);
		json_decref(root);
		return CTL_EXIT_OK;
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		return ctl_fail(CTL_EXIT_REFUSED, "policy: out of memory");
	printf("%s\n", text);
	free(text);
	return CTL_EXIT_OK;
}

int ctl_cmd_policy(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CTL_OPTS_COMMON };
	struct ctl_response r;
	const char *file;
	char *body = NULL;
	int rv, nargs;

	while (ctl_getopt(ctx, argc, argv, opts, &rv) != -1)
		;
	if (rv != CTL_EXIT_OK)
		return rv;
	nargs = argc - optind;
	if (nargs == 0)
		return ctl_usage_error(ctx, "give get, or set FILE");
	if (strcmp(argv[optind], "get") == 0) {
		if (nargs > 1)
			return ctl_usage_error(ctx, "unexpected argument '%.64s'",
					       argv[optind + 1]);
		rv = ctl_call(ctx, "GET", "/v1/policy", NULL, &r);
	} else if (strcmp(argv[optind], "set") == 0) {
		if (nargs == 1)
			return ctl_usage_error(ctx, "set needs a FILE (the policy in JSON, or - "
					       "for standard input)");
		if (nargs > 2)
			return ctl_usage_error(ctx, "unexpected argument '%.64s'",
					       argv[optind + 2]);
		file = argv[optind + 1];
		if (*file == '\0')
			return ctl_usage_error(ctx, "set: FILE is empty");
		if ((rv = read_object_file(ctx, file, &body)) != CTL_EXIT_OK)
			return rv;
		rv = ctl_call(ctx, "PUT", "/v1/policy", body, &r);
	} else {
		return ctl_usage_error(ctx, "unknown subcommand '%.32s' (get, set FILE)",
				       argv[optind]);
	}
	if (rv == CTL_EXIT_OK) {
		rv = policy_print(ctx, &r);
		ctl_response_close(&r);
	}
	free(body);
	return rv;
}

/* DATE as the server takes it: RFC 3339 is passed through (the server
 * validates it), a plain YYYY-MM-DD becomes midnight UTC of that day. */
static void exempt_until(const char *date, char *out, size_t size)
{
	static const char shape[] = "dddd-dd-dd";
	size_t i;

	for (i = 0; date[i] != '\0' && shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? (date[i] < '0' || date[i] > '9') : date[i] != shape[i])
			break;
	if (date[i] == '\0' && shape[i] == '\0')
		snprintf(out, size, "%sT00:00:00Z", date);
	else
		snprintf(out, size, "%s", date);
}

/* Prints the outcome of the exemption request: the server's body with
 * --json (or {} when it sent none), else one line. */
static int exempt_print(struct ctl_ctx *ctx, const struct ctl_response *r,
			const char *machine, const char *until)
{
	char m[CELL_MAX], u[CELL_MAX];
	json_t *root = NULL;

	/* The contract does not say what the answer holds: maybe nothing. */
	if (r->body_len > 0 && (root = ctl_parse_object(r)) == NULL)
		return CTL_EXIT_REFUSED;
	if (ctx->json) {
		if (root != NULL)
			ctl_print_body(r);
		else
			printf("{}\n");
	} else {
		/* The server's normal form of the names when it gave them. */
		if (json_is_string(json_object_get(root, "machine")))
			machine = ctl_field(root, "machine", m, sizeof(m));
		if (until != NULL && json_is_string(json_object_get(root, "until")))
			until = ctl_field(root, "until", u, sizeof(u));
		if (until != NULL)
			printf("%s is exempt until %s\n", machine, until);
		else
			printf("the exemption of %s has ended\n", machine);
	}
	json_decref(root);
	return CTL_EXIT_OK;
}

int ctl_cmd_exempt(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "until", required_argument, NULL, 'u' },
		{ "note", required_argument, NULL, 'n' },
		{ "end", no_argument, NULL, 'e' },
		CTL_OPTS_COMMON
	};
	const char *date = NULL, *note = NULL, *machine;
	char until[UNTIL_MAX + sizeof("T00:00:00Z")], *path = NULL, *body = NULL;
	struct ctl_response r;
	bool end = false;
	json_t *req;
	int c, rv;

	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		switch (c) {
		case 'u': rv = ctl_opt_once(ctx, &date, optarg, "--until"); break;
		case 'n': rv = ctl_opt_once(ctx, &note, optarg, "--note"); break;
		case 'e': end = true; break;
		}
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if ((rv = one_argument(ctx, argc, argv, "MACHINE", &machine)) != CTL_EXIT_OK)
		return rv;
	if (date != NULL && end)
		return ctl_usage_error(ctx, "give --until DATE or --end, not both");
	if (date == NULL && !end)
		return ctl_usage_error(ctx, "--until DATE or --end is required");
	if (end && note != NULL)
		return ctl_usage_error(ctx, "--note goes with --until, not --end");
	if (date != NULL && strlen(date) > UNTIL_MAX)
		return ctl_usage_error(ctx, "--until: '%.40s...' is not a time (over %d "
				       "characters)", date, UNTIL_MAX);
	if ((rv = machine_path(machine, "/exemption", &path)) != CTL_EXIT_OK)
		return rv;
	if (end) {
		rv = ctl_call(ctx, "DELETE", path, NULL, &r);
	} else {
		exempt_until(date, until, sizeof(until));
		req = json_pack("{s:s, s:s*}", "until", until, "note", note);
		if (req == NULL) {
			rv = ctl_usage_error(ctx, "--until or --note is not valid UTF-8");
			goto out;
		}
		body = json_dumps(req, JSON_COMPACT);
		json_decref(req);
		if (body == NULL) {
			rv = ctl_fail(CTL_EXIT_REFUSED, "exempt: out of memory");
			goto out;
		}
		rv = ctl_call(ctx, "POST", path, body, &r);
	}
	if (rv == CTL_EXIT_OK) {
		rv = exempt_print(ctx, &r, machine, end ? NULL : until);
		ctl_response_close(&r);
	}
out:
	free(body);
	free(path);
	return rv;
}
