/* escrowctl's key commands: escrow, lookup, keys. */
#include <stdlib.h>
#include <string.h>

#include "tools/ctl/ctl_commands.h"

#define PASSWORD_LINE_MAX 128 /* a recovery password is 55 characters */

/* Reads the recovery password from one line of stdin into buf. */
static int escrow_read_password(struct ctl_ctx *ctx, char *buf, size_t size)
{
	size_t n;

	if (fgets(buf, (int)size, stdin) == NULL)
		return ctl_usage_error(ctx, "--password -: no line on standard input");
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && !feof(stdin))
		return ctl_usage_error(ctx, "--password -: the line is over %zu bytes",
				       size - 2);
	buf[n] = '\0';
	if (n == 0)
		return ctl_usage_error(ctx, "--password -: the line is empty");
	return CTL_EXIT_OK;
}

/* Prints the outcome of POST /v1/keys. */
static int escrow_print(struct ctl_ctx *ctx, const struct ctl_response *r)
{
	char key_id[128], index[32];
	json_t *root;

	if (ctx->json) {
		ctl_print_body(r);
		return CTL_EXIT_OK;
	}
	root = ctl_parse_object(r);
	if (root == NULL)
		return CTL_EXIT_REFUSED;
	ctl_field(root, "key_id", key_id, sizeof(key_id));
	ctl_field(root, "index", index, sizeof(index));
	if (json_is_false(json_object_get(root, "created")))
		printf("already escrowed %s\n", key_id);
	else
		printf("escrowed %s (index %s)\n", key_id, index);
	json_decref(root);
	return CTL_EXIT_OK;
}

int ctl_cmd_escrow(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-id", required_argument, NULL, 'k' },
		{ "password", required_argument, NULL, 'p' },
		{ "volume-id", required_argument, NULL, 'v' },
		{ "volume-type", required_argument, NULL, 't' },
		{ "machine", required_argument, NULL, 'm' },
		{ "user", required_argument, NULL, 'u' },
		{ "tpm-owner-hash", required_argument, NULL, 'o' },
		CTL_OPTS_COMMON
	};
	const char *key_id = NULL, *password = NULL, *volume_id = NULL;
	const char *volume_type = NULL, *machine = NULL, *user = NULL, *tpm = NULL;
	char pwline[PASSWORD_LINE_MAX];
	struct ctl_response r;
	json_t *req = NULL;
	char *body = NULL;
	int c, rv;

	pwline[0] = '\0';
	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		switch (c) {
		case 'k': rv = ctl_opt_once(ctx, &key_id, optarg, "--key-id"); break;
		case 'p': rv = ctl_opt_once(ctx, &password, optarg, "--password"); break;
		case 'v': rv = ctl_opt_once(ctx, &volume_id, optarg, "--volume-id"); break;
		case 't': rv = ctl_opt_once(ctx, &volume_type, optarg, "--volume-type"); break;
		case 'm': rv = ctl_opt_once(ctx, &machine, optarg, "--machine"); break;
		case 'u': rv = ctl_opt_once(ctx, &user, optarg, "--user"); break;
		case 'o': rv = ctl_opt_once(ctx, &tpm, optarg, "--tpm-owner-hash"); break;
		}
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind]);
	if (key_id == NULL || password == NULL || volume_id == NULL ||
	    volume_type == NULL || machine == NULL)
		return ctl_usage_error(ctx, "--key-id, --password, --volume-id, "
				       "--volume-type and --machine are required");
	if (strcmp(password, "-") == 0) {
		rv = escrow_read_password(ctx, pwline, sizeof(pwline));
		if (rv != CTL_EXIT_OK)
			goto out;
		password = pwline;
	}
	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s*, s:s*}", "key_id", key_id,
			"recovery_password", password, "volume_id", volume_id,
			"volume_type", volume_type, "machine", machine, "user", user,
			"tpm_owner_hash", tpm);
	if (req == NULL) {
		rv = ctl_usage_error(ctx, "an argument is not valid UTF-8");
		goto out;
	}
	body = json_dumps(req, JSON_COMPACT);
	if (body == NULL) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "escrow: out of memory");
		goto out_req;
	}
	rv = ctl_call(ctx, "POST", "/v1/keys", body, &r);
	if (rv == CTL_EXIT_OK) {
		rv = escrow_print(ctx, &r);
		ctl_response_close(&r);
	}
	/* The request held the recovery password: leave no copy behind. */
	explicit_bzero(body, strlen(body));
	free(body);
out_req:
	json_decref(req);
out:
	explicit_bzero(pwline, sizeof(pwline));
	return rv;
}

/* Prints one key record as "name: value" lines. */
static void lookup_print_record(const json_t *rec)
{
	static const char *const fields[] = {
		"key_id", "recovery_password", "machine", "volume_id", "volume_type",
		"user", "tpm_owner_hash", "escrowed_at", "disclosed_at",
	};
	char value[2048];
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		printf("%s: %s\n", fields[i], ctl_field(rec, fields[i], value, sizeof(value)));
}

/* Prints the answer of a lookup by ID (one record) or prefix ({"keys":[]}). */
static int lookup_print(struct ctl_ctx *ctx, const struct ctl_response *r,
			const char *prefix)
{
	json_t *root, *keys, *rec;
	size_t i;
	int rv = CTL_EXIT_OK;

	root = ctl_parse_object(r);
	if (root == NULL)
		return CTL_EXIT_REFUSED;
	if (prefix == NULL) {
		if (ctx->json) {
			ctl_print_body(r);
		} else {
			lookup_print_record(root);
			if (json_is_true(json_object_get(root, "break_glass")))
				printf("break_glass: served by %s from its own copy at index "
				       "%" JSON_INTEGER_FORMAT " without quorum (a majority of "
				       "the cluster is down or cut off): the key may have changed "
				       "state since; the lookup is audited once a leader is back\n",
				       r->node,
				       json_integer_value(json_object_get(root, "index")));
		}
		goto out;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "%s answered without a \"keys\" list", r->node);
		goto out;
	}
	if (ctx->json) {
		ctl_print_body(r);
	} else {
		json_array_foreach(keys, i, rec) {
			if (i > 0)
				putchar('\n');
			lookup_print_record(rec);
		}
	}
	if (json_array_size(keys) == 0)
		rv = ctl_fail(CTL_EXIT_REFUSED, "no key ID starts with %s", prefix);
out:
	json_decref(root);
	return rv;
}

/* Prints the answer of GET /v1/keys?prefix=HEX&list=1 as a table. */
static int list_print(struct ctl_ctx *ctx, const struct ctl_response *r, const char *prefix)
{
	static const char *const header[] = {
		"KEY ID", "MACHINE", "VOLUME", "TYPE", "ESCROWED AT", "DISCLOSED AT", "RETIRED AT",
	};
	static const char *const fields[] = {
		"key_id",      "machine",      "volume_id",  "volume_type",
		"escrowed_at", "disclosed_at", "retired_at",
	};
	char cells[7][512];
	const char *row[7];
	struct ctl_table t;
	json_t *root, *keys, *rec;
	size_t i, c;
	int rv = CTL_EXIT_OK;

	root = ctl_parse_object(r);
	if (root == NULL)
		return CTL_EXIT_REFUSED;
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		json_decref(root);
		return ctl_fail(CTL_EXIT_REFUSED, "%s answered without a \"keys\" list", r->node);
	}
	if (ctx->json) {
		ctl_print_body(r);
	} else if (json_array_size(keys) == 0) {
		printf("no key ID starts with %s\n", prefix);
	} else {
		ctl_table_init(&t, 7, header);
		json_array_foreach(keys, i, rec) {
			for (c = 0; c < 7; c++)
				row[c] = ctl_field(rec, fields[c], cells[c], sizeof(cells[c]));
			ctl_table_add(&t, row);
		}
		rv = ctl_table_print(&t, stdout);
		ctl_table_close(&t);
		if (json_is_true(json_object_get(root, "truncated")))
			printf("(more keys start with %s: give more digits)\n", prefix);
	}
	json_decref(root);
	return rv;
}

/* lookup --prefix HEX --list: the matching keys, nothing disclosed. */
static int lookup_list(struct ctl_ctx *ctx, const char *prefix)
{
	struct ctl_response r;
	char *eprefix, *path = NULL;
	int rv;

	eprefix = ctl_escape(prefix);
	if (eprefix == NULL || asprintf(&path, "/v1/keys?prefix=%s&list=1", eprefix) < 0) {
		curl_free(eprefix);
		return ctl_fail(CTL_EXIT_REFUSED, "lookup: out of memory");
	}
	rv = ctl_call(ctx, "GET", path, NULL, &r);
	if (rv == CTL_EXIT_OK) {
		rv = list_print(ctx, &r, prefix);
		ctl_response_close(&r);
	}
	free(path);
	curl_free(eprefix);
	return rv;
}

int ctl_cmd_lookup(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "note", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "list", no_argument, NULL, 'L' },
		{ "break-glass", no_argument, NULL, 'B' },
		CTL_OPTS_COMMON
	};
	bool list = false, break_glass = false;
	const char *reason = NULL, *note = NULL, *prefix = NULL, *subject;
	char *esubject = NULL, *ereason = NULL, *enote = NULL, *path = NULL;
	char key_id[64];
	struct ctl_response r;
	size_t n;
	int c, rv;

	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		switch (c) {
		case 'r': rv = ctl_opt_once(ctx, &reason, optarg, "--reason"); break;
		case 'n': rv = ctl_opt_once(ctx, &note, optarg, "--note"); break;
		case 'P': rv = ctl_opt_once(ctx, &prefix, optarg, "--prefix"); break;
		case 'L': list = true; break;
		case 'B': break_glass = true; break;
		}
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if (prefix != NULL && optind < argc)
		return ctl_usage_error(ctx, "give a KEY_ID or --prefix, not both");
	if (prefix == NULL && optind == argc)
		return ctl_usage_error(ctx, "a KEY_ID or --prefix HEX is required");
	if (argc - optind > 1)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind + 1]);
	if (list && prefix == NULL)
		return ctl_usage_error(ctx, "--list goes with --prefix HEX");
	if (list && (reason != NULL || note != NULL))
		return ctl_usage_error(ctx, "--list discloses nothing: leave out --reason and "
				       "--note");
	if (break_glass && prefix != NULL)
		return ctl_usage_error(ctx, "--break-glass goes with a KEY_ID, not --prefix");
	if (list)
		return lookup_list(ctx, prefix);
	if (reason == NULL)
		return ctl_usage_error(ctx, "--reason is required (lost_pin, forgot_pin, "
				       "lost_startup_key, bios_changed, os_files_modified, "
				       "tpm_reset, lost_tpm, other)");
	subject = prefix;
	if (subject == NULL) {
		/* Braces are allowed around a key ID: drop them, not every server
		 * decodes them from a path. */
		subject = argv[optind];
		n = strlen(subject);
		if (n >= 2 && n < sizeof(key_id) && subject[0] == '{' && subject[n - 1] == '}') {
			memcpy(key_id, subject + 1, n - 2);
			key_id[n - 2] = '\0';
			subject = key_id;
		}
		if (*subject == '\0')
			return ctl_usage_error(ctx, "KEY_ID is empty");
	}
	esubject = ctl_escape(subject);
	ereason = ctl_escape(reason);
	enote = note ? ctl_escape(note) : NULL;
	if (esubject == NULL || ereason == NULL || (note != NULL && enote == NULL) ||
	    asprintf(&path, "/v1/keys%s%s%sreason=%s%s%s%s",
		     prefix ? "?prefix=" : "/", esubject, prefix ? "&" : "?", ereason,
		     enote ? "&note=" : "", enote ? enote : "",
		     break_glass ? "&break_glass=1" : "") < 0) {
		path = NULL;
		rv = ctl_fail(CTL_EXIT_REFUSED, "lookup: out of memory");
		goto out;
	}
	rv = ctl_call(ctx, "GET", path, NULL, &r);
	if (rv == CTL_EXIT_OK) {
		rv = lookup_print(ctx, &r, prefix);
		ctl_response_close(&r);
	}
out:
	free(path);
	curl_free(enote);
	curl_free(ereason);
	curl_free(esubject);
	return rv;
}

/* Prints {"machine","keys":[...]} as a table. */
static int keys_print(struct ctl_ctx *ctx, const struct ctl_response *r, const char *machine)
{
	static const char *const header[] = {
		"KEY ID", "VOLUME", "TYPE", "ESCROWED AT", "DISCLOSED AT", "RETIRED AT",
	};
	static const char *const fields[] = {
		"key_id", "volume_id", "volume_type", "escrowed_at", "disclosed_at", "retired_at",
	};
	char cells[6][512];
	const char *row[6];
	struct ctl_table t;
	json_t *root, *keys, *rec;
	size_t i, c;
	int rv;

	root = ctl_parse_object(r);
	if (root == NULL)
		return CTL_EXIT_REFUSED;
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		json_decref(root);
		return ctl_fail(CTL_EXIT_REFUSED, "%s answered without a \"keys\" list", r->node);
	}
	if (ctx->json) {
		ctl_print_body(r);
		json_decref(root);
		return CTL_EXIT_OK;
	}
	if (json_array_size(keys) == 0) {
		printf("no keys escrowed for machine %s\n", machine);
		json_decref(root);
		return CTL_EXIT_OK;
	}
	ctl_table_init(&t, 6, header);
	json_array_foreach(keys, i, rec) {
		for (c = 0; c < 6; c++)
			row[c] = ctl_field(rec, fields[c], cells[c], sizeof(cells[c]));
		ctl_table_add(&t, row);
	}
	rv = ctl_table_print(&t, stdout);
	ctl_table_close(&t);
	json_decref(root);
	return rv;
}

int ctl_cmd_keys(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CTL_OPTS_COMMON };
	char *emachine, *path;
	struct ctl_response r;
	int rv;

	while (ctl_getopt(ctx, argc, argv, opts, &rv) != -1)
		;
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind == argc)
		return ctl_usage_error(ctx, "MACHINE is required");
	if (argc - optind > 1)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind + 1]);
	if (argv[optind][0] == '\0')
		return ctl_usage_error(ctx, "MACHINE is empty");
	emachine = ctl_escape(argv[optind]);
	if (emachine == NULL || asprintf(&path, "/v1/machines/%s/keys", emachine) < 0) {
		curl_free(emachine);
		return ctl_fail(CTL_EXIT_REFUSED, "keys: out of memory");
	}
	rv = ctl_call(ctx, "GET", path, NULL, &r);
	if (rv == CTL_EXIT_OK) {
		rv = keys_print(ctx, &r, argv[optind]);
		ctl_response_close(&r);
	}
	free(path);
	curl_free(emachine);
	return rv;
}
