/* Shared by node/options.c and node/options_check.c only: value checks. */
#ifndef ESCROW_OPTIONS_INTERNAL_H
#define ESCROW_OPTIONS_INTERNAL_H

#include <stddef.h>

#include "node/options.h"

#define OPTIONS_QUOTE_SIZE 72 /* a value quoted in an error message */

/* Copies s into buf (size >= 8) for an error message: at most 60
 * characters, control characters as '?', "..." when cut. Returns buf. */
const char *options_quote(const char *s, char *buf, size_t size);

/* Value checks for the option table: 0, or ESC_EINVAL with errmsg saying
 * why without naming the option. */
int options_check_addr(const char *value, char *errmsg);
int options_check_raft_addr(const char *value, char *errmsg);
int options_check_url(const char *value, char *errmsg);
int options_check_bootstrap(const char *value, char *errmsg);

/* The checks between options, once all are set: --bootstrap and --join,
 * --insecure or TLS, the --bootstrap string naming this node, loopback
 * addresses with --insecure. 0 or ESC_EINVAL with errmsg. */
int options_check(const struct options *o, char *errmsg);

#endif
