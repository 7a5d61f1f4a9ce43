/* escrowd's options: the option table and the flag, config-file and --help
 * code it drives. The value syntax and cross-option checks are in
 * options_check.c. */
#include "node/options.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#include "node/options_internal.h"
#include "raft/codec.h"
#include "raft/tuning.h"
#include "lib/error.h"

enum opt_type {
	OPT_UINT,    /* unsigned in [min, max] */
	OPT_STRING,  /* min..max bytes, no control characters, then check() */
	OPT_BOOL,    /* a flag without a value; true/false in the config file */
	OPT_LEVEL,   /* error|warn|info|debug */
	OPT_HELP,    /* --help: print the usage */
	OPT_VERSION, /* --version: print the version */
};

/* Checks a string option's value: 0, or ESC_EINVAL with errmsg saying why. */
typedef int (*opt_check_fn)(const char *value, char *errmsg);

struct opt {
	const char *name;       /* long flag without dashes, also the INI key */
	enum opt_type type;
	bool required;
	bool flag_only;         /* refused in the config file */
	unsigned long min, max; /* OPT_UINT: value range; OPT_STRING: length */
	const char *def;        /* default as text, or NULL */
	const char *metavar;    /* shown in --help after the flag */
	const char *help;
	opt_check_fn check;     /* OPT_STRING only, may be NULL */
	size_t offset;          /* field in struct options */
};

#define PATH_LEN_MAX 4095
#define ADDR_LEN_MAX (NETADDR_TEXT_MAX - 1) /* "HOST:PORT" of a 253-byte name */
#define OFF(field) offsetof(struct options, field)
#define STR(x) #x
#define XSTR(x) STR(x)

static const struct opt opt_table[] = {
	{ "id", OPT_UINT, true, false, 1, 65535, NULL, "N",
	  "this node's id", NULL, OFF(id) },
	{ "data-dir", OPT_STRING, true, false, 1, PATH_LEN_MAX, NULL, "DIR",
	  "directory holding this node's state", NULL, OFF(data_dir) },
	{ "raft-addr", OPT_STRING, true, false, 1, ADDR_LEN_MAX, NULL,
	  "HOST:PORT", "address for Raft traffic between nodes (name, IPv4 or [IPv6])",
	  options_check_raft_addr,
	  OFF(raft_addr) },
	{ "api-addr", OPT_STRING, true, false, 1, ADDR_LEN_MAX, NULL,
	  "HOST:PORT", "address of the HTTP API (name, IPv4 or [IPv6])", options_check_addr,
	  OFF(api_addr) },
	{ "metrics-addr", OPT_STRING, false, false, 1, ADDR_LEN_MAX, NULL, "HOST:PORT",
	  "plain HTTP, only GET /metrics and /v1/health, no client certificate "
	  "(for Prometheus and load balancers; off when not given)",
	  options_check_addr, OFF(metrics_addr) },
	{ "bootstrap", OPT_STRING, false, false, 1, 16384, NULL,
	  "ID=RAFT/API,...",
	  "members of a brand-new cluster, the same string on every node",
	  options_check_bootstrap, OFF(bootstrap) },
	{ "join", OPT_STRING, false, false, 1, 1024, NULL, "URL",
	  "ask a running cluster (any node's API URL) to add this node",
	  options_check_url, OFF(join) },
	{ "tls-ca", OPT_STRING, false, false, 1, PATH_LEN_MAX, NULL, "FILE",
	  "CA certificate that signed the nodes and clients", NULL, OFF(tls_ca) },
	{ "tls-cert", OPT_STRING, false, false, 1, PATH_LEN_MAX, NULL, "FILE",
	  "this node's certificate", NULL, OFF(tls_cert) },
	{ "tls-key", OPT_STRING, false, false, 1, PATH_LEN_MAX, NULL, "FILE",
	  "this node's private key", NULL, OFF(tls_key) },
	{ "insecure", OPT_BOOL, false, false, 0, 0, NULL, NULL,
	  "plain HTTP and peer traffic, every role granted; loopback only",
	  NULL, OFF(insecure) },
	{ "insecure-netns", OPT_BOOL, false, false, 0, 0, NULL, NULL,
	  "with --insecure, allow any address inside a network namespace made with "
	  "'ip netns' (a test network, as escrowctl drill's)",
	  NULL, OFF(insecure_netns) },
	{ "seal-key", OPT_STRING, true, false, 1, PATH_LEN_MAX, NULL, "FILE",
	  "the cluster's 32-byte seal key, the same file on every node", NULL,
	  OFF(seal_key) },
	{ "config", OPT_STRING, false, true, 1, PATH_LEN_MAX, NULL, "FILE",
	  "INI file of 'name = value' lines with the flags' names; flags win",
	  NULL, OFF(config) },
	{ "snapshot-threshold", OPT_UINT, false, false, 8, 100000000, XSTR(TUNING_SNAPSHOT_THRESHOLD), "N",
	  "Raft entries between two snapshots of the state (log compaction), each voter at its own "
	  "offset; more for a large store (--snapshot-growth)",
	  NULL, OFF(snapshot_threshold) },
	{ "snapshot-growth", OPT_UINT, false, false, 1, 64, XSTR(TUNING_SNAPSHOT_GROWTH), "N",
	  "a large store's snapshots come further apart, up to N thresholds: one entry per KiB of "
	  "store, in powers of two (1: always --snapshot-threshold)",
	  NULL, OFF(snapshot_growth) },
	{ "snapshot-trailing", OPT_UINT, false, false, 0, 100000000, XSTR(TUNING_SNAPSHOT_TRAILING), "N",
	  "Raft entries kept in the log behind a snapshot, for lagging followers", NULL,
	  OFF(snapshot_trailing) },
	{ "raft-segment-size", OPT_UINT, false, false, 16384, 1073741824,
	  XSTR(TUNING_SEGMENT_SIZE), "BYTES",
	  "room a new Raft log segment file takes on disk", NULL, OFF(raft_segment_size) },
	{ "break-glass-after", OPT_UINT, false, false, 1, 3600, "10", "SECONDS",
	  "time without a known leader after which a helpdesk lookup with "
	  "break_glass=1 is served from this node's own copy (journaled first)",
	  NULL, OFF(break_glass_after) },
	{ "catch-up-timeout", OPT_UINT, false, false, 1, 3600, XSTR(TUNING_CATCH_UP_ROUND_S),
	  "SECONDS",
	  "on the leader: the longest a joining node's catch-up round (a snapshot of the whole "
	  "store included) may take before its promotion to voter is given up; --join asks again",
	  NULL, OFF(catch_up_timeout) },
	{ "log-level", OPT_LEVEL, false, false, 0, 0, "info", "LEVEL",
	  "error, warn, info or debug", NULL, OFF(log_level) },
	{ "help", OPT_HELP, false, true, 0, 0, NULL, NULL,
	  "print this help and exit", NULL, 0 },
	{ "version", OPT_VERSION, false, true, 0, 0, NULL, NULL,
	  "print the version and the command format it knows, and exit", NULL, 0 },
};

#define OPT_COUNT (sizeof(opt_table) / sizeof(opt_table[0]))
#define OPT_VAL_BASE 256 /* getopt_long val of opt_table[i] is BASE + i */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* The state of one options_parse call. */
struct parse_ctx {
	struct options *o;
	char *errmsg;
	int err;                      /* first error seen in argv, or 0 */
	bool help;                    /* --help or -h seen */
	bool version;                 /* --version seen */
	const char *argval[OPT_COUNT]; /* value from argv, borrowed */
	bool in_argv[OPT_COUNT];
	bool in_file[OPT_COUNT];
	/* While reading the config file: */
	FILE *file;
	int line;                     /* lines handed to inih so far */
	int file_err;                 /* first error found by us, or 0 */
	int file_err_line;
	char file_msg[ESC_ERRMSG_SIZE];
};

static int opt_find(const char *name)
{
	size_t i;

	for (i = 0; i < OPT_COUNT; i++)
		if (strcmp(opt_table[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Strict decimal: digits only, the whole string, within [min, max]. */
static bool uint_parse(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool bool_parse(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Sets option p in o from its text; value is NULL for a bool given as a
 * flag. On error errmsg says why, without naming the option. */
static int opt_set(struct options *o, const struct opt *p, const char *value,
		   char *errmsg)
{
	char *field = (char *)o + p->offset;
	char q[OPTIONS_QUOTE_SIZE];
	unsigned long v;
	size_t i, len;
	char *copy;
	int rv;

	switch (p->type) {
	case OPT_UINT:
		if (!uint_parse(value, p->min, p->max, &v))
			return esc_errorf(errmsg, ESC_EINVAL,
					  "'%s' is not a number in %lu..%lu",
					  options_quote(value, q, sizeof(q)),
					  p->min, p->max);
		*(unsigned *)(void *)field = (unsigned)v;
		return 0;
	case OPT_STRING:
		len = strlen(value);
		if (len < p->min)
			return esc_errorf(errmsg, ESC_EINVAL, "must not be empty");
		if (len > p->max)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "'%s' is longer than %lu characters",
					  options_quote(value, q, sizeof(q)), p->max);
		for (i = 0; i < len; i++)
			if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
				return esc_errorf(errmsg, ESC_EINVAL,
						  "'%s' contains a control character",
						  options_quote(value, q, sizeof(q)));
		if (p->check != NULL && (rv = p->check(value, errmsg)) != 0)
			return rv;
		copy = strdup(value);
		if (copy == NULL)
			return esc_errorf(errmsg, ESC_ENOMEM, "out of memory");
		free(*(char **)(void *)field);
		*(char **)(void *)field = copy;
		return 0;
	case OPT_BOOL:
		if (value == NULL) {
			*(bool *)(void *)field = true;
			return 0;
		}
		if (!bool_parse(value, (bool *)(void *)field))
			return esc_errorf(errmsg, ESC_EINVAL,
					  "'%s' is not true or false",
					  options_quote(value, q, sizeof(q)));
		return 0;
	case OPT_LEVEL:
		for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
			if (strcasecmp(value, level_names[i]) == 0) {
				*(int *)(void *)field = (int)i;
				return 0;
			}
		}
		return esc_errorf(errmsg, ESC_EINVAL,
				  "'%s' is not error, warn, info or debug",
				  options_quote(value, q, sizeof(q)));
	case OPT_HELP:
	case OPT_VERSION:
		break;
	}
	return 0;
}

static int ctx_fail(struct parse_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error of the argv scan; later ones are dropped. */
static int ctx_fail(struct parse_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->err != 0)
		return c->err;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, ESC_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	c->err = code;
	return code;
}

/* Explains a '?' from getopt_long: an unknown, ambiguous or misused flag. */
static void argv_fail_unknown(struct parse_ctx *c, const char *arg, int optopt_)
{
	char q[OPTIONS_QUOTE_SIZE];
	size_t i, len, matches = 0;

	if (optopt_ >= OPT_VAL_BASE) {
		ctx_fail(c, ESC_EINVAL, "--%s takes no value",
			 opt_table[optopt_ - OPT_VAL_BASE].name);
		return;
	}
	if (optopt_ != 0) {
		ctx_fail(c, ESC_EINVAL, "unknown option '-%c'", optopt_);
		return;
	}
	if (strncmp(arg, "--", 2) == 0) {
		len = strcspn(arg + 2, "=");
		for (i = 0; i < OPT_COUNT; i++)
			if (strncmp(opt_table[i].name, arg + 2, len) == 0)
				matches++;
	}
	ctx_fail(c, ESC_EINVAL, "%s option '%s'",
		 matches > 1 ? "ambiguous" : "unknown",
		 options_quote(arg, q, sizeof(q)));
}

/* First pass over argv: finds every flag and its value, without applying
 * them. Returns the first error, unless --help was seen. */
static int argv_scan(struct parse_ctx *c, int argc, char **argv)
{
	struct option longopts[OPT_COUNT + 1];
	char q[OPTIONS_QUOTE_SIZE];
	const struct opt *p;
	size_t i;
	int ch;

	for (i = 0; i < OPT_COUNT; i++) {
		p = &opt_table[i];
		longopts[i].name = p->name;
		longopts[i].has_arg = (p->type == OPT_BOOL || p->type == OPT_HELP ||
				       p->type == OPT_VERSION)
					      ? no_argument
					      : required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = OPT_VAL_BASE + (int)i;
	}
	longopts[OPT_COUNT] = (struct option){ 0 };

	/* '+': stop at the first non-flag and never permute the caller's
	 * argv; ':': report a missing value as ':'. optind 0 re-initialises
	 * getopt so options_parse can be called more than once. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			c->help = true;
			continue;
		}
		if (ch == ':') {
			if (optopt >= OPT_VAL_BASE)
				ctx_fail(c, ESC_EINVAL, "--%s needs a value",
					 opt_table[optopt - OPT_VAL_BASE].name);
			else
				ctx_fail(c, ESC_EINVAL, "'-%c' needs a value", optopt);
			continue;
		}
		if (ch < OPT_VAL_BASE) {
			argv_fail_unknown(c, argv[optind - 1], optopt);
			continue;
		}
		i = (size_t)(ch - OPT_VAL_BASE);
		p = &opt_table[i];
		if (p->type == OPT_HELP) {
			c->help = true;
			continue;
		}
		if (p->type == OPT_VERSION) {
			c->version = true;
			continue;
		}
		if (c->in_argv[i]) {
			ctx_fail(c, ESC_EINVAL, "--%s is given twice", p->name);
			continue;
		}
		/* "--id --data-dir x" would take "--data-dir" as the id. */
		if (optarg != NULL && strncmp(optarg, "--", 2) == 0) {
			ctx_fail(c, ESC_EINVAL, "--%s needs a value, not '%s'",
				 p->name, options_quote(optarg, q, sizeof(q)));
			continue;
		}
		c->in_argv[i] = true;
		c->argval[i] = optarg;
	}
	if (optind < argc)
		ctx_fail(c, ESC_EINVAL, "unexpected argument '%s'",
			 options_quote(argv[optind], q, sizeof(q)));
	return c->help || c->version ? 0 : c->err;
}

/* Hands inih one line at a time so that its line count is ours, with the
 * leading blanks removed (inih would take an indented line as the
 * continuation of the previous value). Stops at an overlong line or a
 * control character. */
static char *file_read_line_cb(char *str, int num, void *stream)
{
	struct parse_ctx *c = stream;
	size_t n = 0, limit = (size_t)num - 2; /* room for '\n' and NUL */
	bool leading = true;
	int ch;

	if (c->file_err != 0)
		return NULL;
	while ((ch = getc(c->file)) != EOF) {
		if (ch == '\n')
			break;
		if (leading && (ch == ' ' || ch == '\t'))
			continue;
		leading = false;
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f) {
			c->file_err = ESC_EINVAL;
			c->file_err_line = c->line + 1;
			snprintf(c->file_msg, sizeof(c->file_msg),
				 "control character 0x%02x", ch);
			return NULL;
		}
		if (n == limit) {
			c->file_err = ESC_EINVAL;
			c->file_err_line = c->line + 1;
			snprintf(c->file_msg, sizeof(c->file_msg),
				 "line longer than %zu characters", limit);
			return NULL;
		}
		str[n++] = (char)ch;
	}
	if (ch == EOF && n == 0 && leading)
		return NULL;
	str[n++] = '\n';
	str[n] = '\0';
	c->line++;
	return str;
}

static int file_handle_cb(void *user, const char *section, const char *name,
			  const char *value)
{
	struct parse_ctx *c = user;
	char q[OPTIONS_QUOTE_SIZE];
	int i, rv;

	if (c->file_err != 0)
		return 1; /* only the first error is reported */
	c->file_err = ESC_EINVAL;
	c->file_err_line = c->line;
	if (section[0] != '\0' && strcmp(section, "escrowd") != 0) {
		snprintf(c->file_msg, sizeof(c->file_msg),
			 "unknown section [%s]", options_quote(section, q, sizeof(q)));
		return 0;
	}
	i = opt_find(name);
	if (i < 0 || opt_table[i].type == OPT_HELP || opt_table[i].type == OPT_VERSION) {
		snprintf(c->file_msg, sizeof(c->file_msg), "unknown option '%s'",
			 options_quote(name, q, sizeof(q)));
		return 0;
	}
	if (opt_table[i].flag_only) {
		snprintf(c->file_msg, sizeof(c->file_msg),
			 "'%s' is only accepted as a flag", name);
		return 0;
	}
	if (c->in_file[i]) {
		snprintf(c->file_msg, sizeof(c->file_msg), "'%s' is set twice", name);
		return 0;
	}
	rv = opt_set(c->o, &opt_table[i], value, c->file_msg);
	if (rv != 0) {
		esc_errprefix(c->file_msg, name);
		c->file_err = rv;
		return 0;
	}
	c->in_file[i] = true;
	c->file_err = 0;
	return 1;
}

/* Reads the --config file into c->o. */
static int file_load(struct parse_ctx *c, const char *path)
{
	char q[OPTIONS_QUOTE_SIZE];
	struct stat st;
	int rv;

	options_quote(path, q, sizeof(q));
	c->file = fopen(path, "re");
	if (c->file == NULL)
		return esc_errorf(c->errmsg, ESC_EINVAL, "--config: cannot open %s: %s",
				  q, strerror(errno));
	if (fstat(fileno(c->file), &st) != 0 || !S_ISREG(st.st_mode)) {
		rv = esc_errorf(c->errmsg, ESC_EINVAL,
				"--config: %s is not a regular file", q);
		goto out;
	}
	rv = ini_parse_stream(file_read_line_cb, c, file_handle_cb, c);
	/* inih returns the first line with an error: ours or its own. */
	if (c->file_err != 0 && (rv <= 0 || rv >= c->file_err_line)) {
		rv = esc_errorf(c->errmsg, c->file_err, "config %s line %d: %s", q,
				c->file_err_line, c->file_msg);
	} else if (rv > 0) {
		rv = esc_errorf(c->errmsg, ESC_EINVAL,
				"config %s line %d: expected 'name = value' or [escrowd]",
				q, rv);
	} else if (rv == -2) {
		rv = esc_errorf(c->errmsg, ESC_ENOMEM, "config %s: out of memory", q);
	} else if (ferror(c->file) || rv != 0) {
		rv = esc_errorf(c->errmsg, ESC_EINVAL, "config %s: read error", q);
	}
out:
	fclose(c->file);
	c->file = NULL;
	return rv;
}

/* Every required option must come from argv or the config file. */
static int ctx_check_required(const struct parse_ctx *c)
{
	size_t i;

	for (i = 0; i < OPT_COUNT; i++)
		if (opt_table[i].required && !c->in_argv[i] && !c->in_file[i])
			return esc_errorf(c->errmsg, ESC_EINVAL, "--%s is required",
					  opt_table[i].name);
	return 0;
}

/* Applies the defaults, then the config file, then the flags. */
static int ctx_apply(struct parse_ctx *c)
{
	char prefix[64];
	size_t i;
	int rv, cfg = opt_find("config");

	for (i = 0; i < OPT_COUNT; i++) {
		if (opt_table[i].def == NULL)
			continue;
		rv = opt_set(c->o, &opt_table[i], opt_table[i].def, c->errmsg);
		if (rv != 0)
			return rv;
	}
	if (cfg >= 0 && c->argval[cfg] != NULL) {
		rv = file_load(c, c->argval[cfg]);
		if (rv != 0)
			return rv;
	}
	for (i = 0; i < OPT_COUNT; i++) {
		if (!c->in_argv[i])
			continue;
		rv = opt_set(c->o, &opt_table[i], c->argval[i], c->errmsg);
		if (rv != 0) {
			snprintf(prefix, sizeof(prefix), "--%s", opt_table[i].name);
			esc_errprefix(c->errmsg, prefix);
			return rv;
		}
	}
	return 0;
}

int options_parse(struct options *o, int argc, char **argv, char *errmsg)
{
	struct parse_ctx c;
	int rv;

	memset(o, 0, sizeof(*o));
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.errmsg = errmsg;
	errmsg[0] = '\0';

	rv = argv_scan(&c, argc, argv);
	if (rv != 0)
		goto err;
	if (c.help) {
		errmsg[0] = '\0';
		options_usage(stdout);
		fflush(stdout);
		return OPTIONS_HELP_SHOWN;
	}
	if (c.version) {
		errmsg[0] = '\0';
		printf("escrowd %s (command format %u)\n", PACKAGE_VERSION, codec_version);
		fflush(stdout);
		return OPTIONS_HELP_SHOWN;
	}
	rv = ctx_apply(&c);
	if (rv != 0)
		goto err;
	rv = ctx_check_required(&c);
	if (rv == 0)
		rv = options_check(o, errmsg);
	if (rv != 0)
		goto err;
	return ESC_OK;

err:
	options_close(o);
	return rv;
}

void options_usage(FILE *f)
{
	char flag[64];
	const struct opt *p;
	size_t i;

	fputs("Usage: escrowd --id N --data-dir DIR --raft-addr HOST:PORT --api-addr HOST:PORT\n"
	      "        ( --bootstrap \"1=RAFTHOST:PORT/APIHOST:PORT,2=...,3=...\" | --join URL\n"
	      "          | (restart: nothing) )\n"
	      "        ( --tls-ca FILE --tls-cert FILE --tls-key FILE | --insecure )\n"
	      "        --seal-key FILE\n"
	      "        [--metrics-addr HOST:PORT] [--config FILE] [--log-level error|warn|info|debug]\n"
	      "\n"
	      "Options:\n",
	      f);
	for (i = 0; i < OPT_COUNT; i++) {
		p = &opt_table[i];
		if (p->metavar != NULL)
			snprintf(flag, sizeof(flag), "--%s %s", p->name, p->metavar);
		else
			snprintf(flag, sizeof(flag), "--%s", p->name);
		fprintf(f, "  %-28s %s", flag, p->help);
		if (p->type == OPT_UINT)
			fprintf(f, ", %lu..%lu", p->min, p->max);
		if (p->required)
			fputs(" (required)", f);
		if (p->def != NULL)
			fprintf(f, " (default: %s)", p->def);
		fputc('\n', f);
	}
	fputs("\n"
	      "Every option but --config, --help and --version may also be set in the\n"
	      "--config file as 'name = value' (e.g. 'data-dir = /var/lib/escrow',\n"
	      "'insecure = true'), with no section or under [escrowd].\n",
	      f);
}

void options_close(struct options *o)
{
	const struct opt *p;
	size_t i;

	for (i = 0; i < OPT_COUNT; i++) {
		p = &opt_table[i];
		if (p->type != OPT_STRING)
			continue;
		free(*(char **)(void *)((char *)o + p->offset));
	}
	memset(o, 0, sizeof(*o));
}
