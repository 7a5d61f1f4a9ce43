/* escrowctl's commands and the helpers they share: options, requests, output. */
#ifndef ESCROW_CTL_COMMANDS_H
#define ESCROW_CTL_COMMANDS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "tools/client/ctl_client.h"

/* Exit codes of docs/api.md section 7.2. */
enum ctl_exit {
	CTL_EXIT_OK = 0,          /* success */
	CTL_EXIT_REFUSED = 1,     /* a request was refused (message printed) */
	CTL_EXIT_USAGE = 2,       /* bad usage (message printed; main adds the usage line) */
	CTL_EXIT_UNREACHABLE = 3, /* no node could be reached */
};
#define CTL_EXIT_HELP (-1)        /* the command saw --help: main prints its help, exits 0 */

struct ctl_command;

/* What main parsed before the command, and the client made from it. */
struct ctl_ctx {
	const char *nodes;        /* --nodes or $ESCROW_NODES, borrowed, may be NULL */
	const char *ca;           /* --ca or $ESCROW_CA, borrowed, may be NULL */
	const char *cert;         /* --cert or $ESCROW_CERT */
	const char *key;          /* --key or $ESCROW_KEY */
	const char *ca_name;      /* where ca came from, for messages: "--ca" or */
	const char *cert_name;    /* "ESCROW_CA" (and so on); NULL: the option */
	const char *key_name;
	long timeout_ms;          /* --timeout, per request to one node */
	bool json;                /* --json, before or after the command name */
	const struct ctl_command *cmd; /* the command running */
	struct ctl_client client; /* valid once ctl_connect succeeded */
	bool connected;
};

/* One entry of the dispatch table (escrowctl.c). run gets the command's
 * arguments with argv[0] the command name, getopt already reset, and
 * returns an exit code or CTL_EXIT_HELP. */
struct ctl_command {
	const char *name;
	const char *usage;   /* the arguments after the name, for the usage line */
	const char *summary; /* one line for escrowctl --help */
	const char *help;    /* the options in detail, for escrowctl NAME --help */
	int (*run)(struct ctl_ctx *ctx, int argc, char **argv);
};

/* The commands. */
int ctl_cmd_escrow(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_lookup(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_keys(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_status(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_bench(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_snapshot(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_cluster(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_drill(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_pki(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_report(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_compliance(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_machine(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_policy(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_exempt(struct ctl_ctx *ctx, int argc, char **argv);

/* Long options every command accepts, to end each command's option array. */
#define CTL_OPTS_COMMON \
	{ "help", no_argument, NULL, 'h' }, \
	{ "json", no_argument, NULL, 'J' }, \
	{ NULL, 0, NULL, 0 }

/* getopt_long over the command's long options (plus -h). Handles --help,
 * --json and errors itself: returns the next option of the command, or -1
 * when done, with *exit set to CTL_EXIT_OK, CTL_EXIT_HELP or CTL_EXIT_USAGE
 * (message printed). Leaves optind at the first positional argument (GNU
 * getopt permutes them to the end). */
int ctl_getopt(struct ctl_ctx *ctx, int argc, char **argv, const struct option *opts,
	       int *exit);

/* Stores optarg into *dst for option name; a usage error (printed, returns
 * CTL_EXIT_USAGE) when given twice or empty. */
int ctl_opt_once(struct ctl_ctx *ctx, const char **dst, const char *value,
		 const char *name);

/* Parses value as an integer in [min, max] into *out; usage error otherwise. */
int ctl_opt_long(struct ctl_ctx *ctx, const char *value, const char *name, long min,
		 long max, long *out);

/* Prints "escrowctl CMD: message" to stderr and returns CTL_EXIT_USAGE. */
int ctl_usage_error(struct ctl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints "escrowctl: message" to stderr and returns code. */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes ctx->client from the global options (once), checking the TLS files
 * (ctl_client_check_tls). Returns CTL_EXIT_OK, or CTL_EXIT_USAGE with the
 * message printed ("no nodes: ...", "--cert x.crt: No such file or
 * directory"). */
int ctl_connect(struct ctl_ctx *ctx);

/* Sends a request with fail-over. Returns CTL_EXIT_OK with a 2xx answer in r
 * (close it with ctl_response_close), or prints why and returns
 * CTL_EXIT_REFUSED (the server's "code: message", or a refused TLS
 * handshake), CTL_EXIT_USAGE (our TLS files are unusable) or
 * CTL_EXIT_UNREACHABLE (no node answered); r is empty then. body is
 * borrowed. */
int ctl_call(struct ctl_ctx *ctx, const char *method, const char *path, const char *body,
	     struct ctl_response *r);

/* Prints why a request of the client got no usable answer (rv, errmsg:
 * what ctl_client_request or ctl_client_stream returned; r: its response,
 * which tells a 503 from silence) and returns the exit code: USAGE for
 * ESC_EINVAL, UNREACHABLE for ESC_EIO and ESC_ETIMEOUT, else REFUSED. */
int ctl_fail_request(struct ctl_ctx *ctx, int rv, const struct ctl_response *r,
		     const char *errmsg);

/* Parses r's body as a JSON object; prints an error and returns NULL when it
 * is not one. The caller owns the result (json_decref). */
json_t *ctl_parse_object(const struct ctl_response *r);

/* Prints the body as received, ending it with a newline. */
void ctl_print_body(const struct ctl_response *r);

/* Writes the value of obj[key] as text into out: strings as they are with
 * control characters replaced by '?', integers and reals in decimal, true or
 * false, "-" for null or missing. Returns out. */
const char *ctl_field(const json_t *obj, const char *key, char *out, size_t size);

/* Writes obj[key], a list, into out as its items' text (as ctl_field) joined
 * by sep; none when the list is empty, as ctl_field when it is not a list.
 * A list that does not fit ends with "...". Returns out. */
const char *ctl_field_list(const json_t *obj, const char *key, const char *sep,
			   const char *none, char *out, size_t size);

/* A text table with columns aligned to the widest cell. */
struct ctl_table {
	size_t ncols;
	size_t nrows;  /* rows added, the header included */
	size_t cap;
	char **cells;  /* nrows * ncols heap strings */
	bool nomem;    /* an add failed: ctl_table_print reports it */
};

/* header: ncols column names (copied). */
void ctl_table_init(struct ctl_table *t, size_t ncols, const char *const *header);

/* Appends a row of ncols cells (copied; NULL prints as "-"). */
void ctl_table_add(struct ctl_table *t, const char *const *row);

/* Prints the table to f; returns CTL_EXIT_OK or CTL_EXIT_REFUSED when out of
 * memory happened. */
int ctl_table_print(struct ctl_table *t, FILE *f);

void ctl_table_close(struct ctl_table *t);

#endif
