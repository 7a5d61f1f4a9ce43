/* escrowctl's shared command helpers: options, requests with fail-over, output. */
#include "tools/ctl/ctl_commands.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CTL_TABLE_ROWS_MAX 1000001 /* a header and report compliance's million machines */

int ctl_usage_error(struct ctl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "escrowctl%s%s: ", ctx->cmd ? " " : "", ctx->cmd ? ctx->cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_EXIT_USAGE;
}

int ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("escrowctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int ctl_getopt(struct ctl_ctx *ctx, int argc, char **argv, const struct option *opts,
	       int *exit)
{
	int c;

	*exit = CTL_EXIT_OK;
	for (;;) {
		/* ':' first: a missing argument is reported as ':' not '?'. */
		c = getopt_long(argc, argv, ":h", opts, NULL);
		switch (c) {
		case 'h':
			*exit = CTL_EXIT_HELP;
			return -1;
		case 'J':
			ctx->json = true;
			continue;
		case ':':
			*exit = ctl_usage_error(ctx, "%s needs a value", argv[optind - 1]);
			return -1;
		case '?':
			/* A long option given a value it does not take: optopt is
			 * its val, not a letter typed. */
			if (optopt != 0 && strncmp(argv[optind - 1], "--", 2) == 0)
				*exit = ctl_usage_error(ctx, "%.*s takes no value",
							(int)strcspn(argv[optind - 1], "="),
							argv[optind - 1]);
			else if (optopt != 0)
				*exit = ctl_usage_error(ctx, "unknown option -%c", optopt);
			else
				*exit = ctl_usage_error(ctx, "unknown option %s", argv[optind - 1]);
			return -1;
		default:
			return c;
		}
	}
}

int ctl_opt_once(struct ctl_ctx *ctx, const char **dst, const char *value,
		 const char *name)
{
	if (*dst != NULL)
		return ctl_usage_error(ctx, "%s given twice", name);
	if (value == NULL || *value == '\0')
		return ctl_usage_error(ctx, "%s needs a non-empty value", name);
	*dst = value;
	return CTL_EXIT_OK;
}

int ctl_opt_long(struct ctl_ctx *ctx, const char *value, const char *name, long min,
		 long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		return ctl_usage_error(ctx, "%s: '%.40s' is not a whole number from %ld to %ld",
				       name, value, min, max);
	*out = v;
	return CTL_EXIT_OK;
}

int ctl_connect(struct ctl_ctx *ctx)
{
	char errmsg[ESC_ERRMSG_SIZE];
	int rv;

	if (ctx->connected)
		return CTL_EXIT_OK;
	rv = ctl_client_init(&ctx->client, ctx->nodes, ctx->ca, ctx->cert, ctx->key,
			     ctx->timeout_ms, errmsg);
	if (rv == ESC_OK) {
		rv = ctl_client_check_tls(&ctx->client, ctx->ca_name, ctx->cert_name,
					  ctx->key_name, errmsg);
		if (rv != ESC_OK)
			ctl_client_close(&ctx->client);
	}
	if (rv == ESC_EINVAL)
		return ctl_fail(CTL_EXIT_USAGE, "%s", errmsg);
	if (rv != ESC_OK)
		return ctl_fail(CTL_EXIT_REFUSED, "%s", errmsg);
	ctx->connected = true;
	return CTL_EXIT_OK;
}

int ctl_fail_request(struct ctl_ctx *ctx, int rv, const struct ctl_response *r,
		     const char *errmsg)
{
	size_t n = ctx->client.n_nodes;

	switch (rv) {
	case ESC_EINVAL:
		return ctl_fail(CTL_EXIT_USAGE, "%s", errmsg);
	case ESC_EIO:
	case ESC_ETIMEOUT:
		if (r != NULL && r->status == 503 && n > 1)
			return ctl_fail(CTL_EXIT_UNREACHABLE, "none of the %zu nodes could serve "
					"the request; the last: %s", n, errmsg);
		if (r != NULL && r->status == 503)
			return ctl_fail(CTL_EXIT_UNREACHABLE, "no node could serve the request: %s",
					errmsg);
		if (n > 1)
			return ctl_fail(CTL_EXIT_UNREACHABLE, "none of the %zu nodes could be "
					"reached; the last: %s", n, errmsg);
		return ctl_fail(CTL_EXIT_UNREACHABLE, "no node could be reached: %s", errmsg);
	default:
		return ctl_fail(CTL_EXIT_REFUSED, "%s", errmsg);
	}
}

int ctl_call(struct ctl_ctx *ctx, const char *method, const char *path, const char *body,
	     struct ctl_response *r)
{
	char errmsg[ESC_ERRMSG_SIZE], why[CTL_REFUSAL_MAX];
	int rv;

	rv = ctl_connect(ctx);
	if (rv != CTL_EXIT_OK) {
		memset(r, 0, sizeof(*r));
		return rv;
	}
	rv = ctl_client_request(&ctx->client, method, path, body, r, errmsg);
	if (rv != ESC_OK) {
		rv = ctl_fail_request(ctx, rv, r, errmsg);
		ctl_response_close(r);
		return rv;
	}
	if (r->status < 200 || r->status > 299) {
		ctl_response_error(r, why, sizeof(why));
		ctl_response_close(r);
		return ctl_fail(CTL_EXIT_REFUSED, "%s", why);
	}
	return CTL_EXIT_OK;
}

json_t *ctl_parse_object(const struct ctl_response *r)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(r->body, r->body_len, 0, &jerr);
	if (root == NULL) {
		ctl_fail(CTL_EXIT_REFUSED, "%s answered with malformed JSON: %s", r->node,
			 jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		ctl_fail(CTL_EXIT_REFUSED, "%s answered with JSON that is not an object",
			 r->node);
		json_decref(root);
		return NULL;
	}
	return root;
}

void ctl_print_body(const struct ctl_response *r)
{
	fwrite(r->body, 1, r->body_len, stdout);
	if (r->body_len == 0 || r->body[r->body_len - 1] != '\n')
		fputc('\n', stdout);
}

/* Copies s into out replacing control characters so that a hostile value
 * cannot drive the terminal. */
static void copy_safe(char *out, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[i] = '\0';
}

/* Writes v as text into out: the rules of ctl_field. */
static void value_text(const json_t *v, char *out, size_t size)
{
	if (json_is_string(v))
		copy_safe(out, size, json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, size, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(out, size, "%s", json_is_true(v) ? "true" : "false");
	else
		snprintf(out, size, "-");
}

const char *ctl_field(const json_t *obj, const char *key, char *out, size_t size)
{
	if (size > 0)
		value_text(json_object_get(obj, key), out, size);
	return out;
}

const char *ctl_field_list(const json_t *obj, const char *key, const char *sep,
			   const char *none, char *out, size_t size)
{
	json_t *list = json_object_get(obj, key), *v;
	size_t i, used = 0, n;
	char item[512];

	if (size == 0)
		return out;
	if (!json_is_array(list)) {
		value_text(list, out, size);
		return out;
	}
	copy_safe(out, size, json_array_size(list) == 0 ? none : "");
	json_array_foreach(list, i, v) {
		value_text(v, item, sizeof(item));
		n = (i > 0 ? strlen(sep) : 0) + strlen(item);
		if (used + n + 1 > size) {
			/* Cut short: say so rather than show a list that looks whole. */
			if (size > 3)
				memcpy(out + (used + 4 <= size ? used : size - 4), "...", 4);
			break;
		}
		snprintf(out + used, size - used, "%s%s", i > 0 ? sep : "", item);
		used += n;
	}
	return out;
}

void ctl_table_init(struct ctl_table *t, size_t ncols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	ctl_table_add(t, header);
}

void ctl_table_add(struct ctl_table *t, const char *const *row)
{
	size_t i, cap;
	char **cells;

	if (t->nomem || t->nrows >= CTL_TABLE_ROWS_MAX) {
		t->nomem = true;
		return;
	}
	if (t->nrows == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
		if (cells == NULL) {
			t->nomem = true;
			return;
		}
		t->cells = cells;
		t->cap = cap;
	}
	cells = t->cells + t->nrows * t->ncols;
	for (i = 0; i < t->ncols; i++) {
		const char *s = row[i] ? row[i] : "-";
		size_t n = strlen(s);

		cells[i] = malloc(n + 1);
		if (cells[i] == NULL) {
			while (i-- > 0)
				free(cells[i]);
			t->nomem = true;
			return;
		}
		copy_safe(cells[i], n + 1, s);
	}
	t->nrows++;
}

int ctl_table_print(struct ctl_table *t, FILE *f)
{
	size_t *width, r, c, n;

	if (t->nomem)
		return ctl_fail(CTL_EXIT_REFUSED, "table: out of memory");
	width = calloc(t->ncols ? t->ncols : 1, sizeof(*width));
	if (width == NULL)
		return ctl_fail(CTL_EXIT_REFUSED, "table: out of memory");
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			n = strlen(t->cells[r * t->ncols + c]);
			if (n > width[c])
				width[c] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%-*s  ", (int)width[c], s);
		}
	}
	free(width);
	return CTL_EXIT_OK;
}

void ctl_table_close(struct ctl_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
