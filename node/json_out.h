/* JSON responses: records, times, and sending a jansson value as a reply. */
#ifndef ESCROW_JSON_OUT_H
#define ESCROW_JSON_OUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/dispatch.h"
#include "store/store.h"

#define JSON_TIME_LEN 32 /* "2026-11-28T20:15:10.123Z" + NUL, with room */

/* RFC 3339 UTC with milliseconds. */
void json_time(int64_t ms, char out[JSON_TIME_LEN]);

/* The same through gmtime_r and strftime, for any time: what json_time
 * does outside 1970-9999, and its reference (tests/test_json_text.c). */
void json_time_libc(int64_t ms, char out[JSON_TIME_LEN]);

/* A key record as the API returns it (disclosed_at and retired_at null or a
 * time). password (borrowed) is added as recovery_password when not NULL.
 * NULL when out of memory. */
json_t *json_key(const struct store_key *k, const char *password);

/* The same record as the compact JSON text json_key's value dumps to,
 * written into out (cap bytes, not terminated) without jansson: its length,
 * or 0 when it does not fit. out may hold a password: the caller wipes it. */
size_t json_key_text(const struct store_key *k, const char *password, char *out, size_t cap);

/* The names of the values in mask (store/compliance.h's
 * compliance_mask_names), as a JSON list. NULL when out of memory. */
json_t *json_names(enum compliance_kind kind, uint32_t mask);

/* Serialises j (reference stolen), answers op with it and frees op. The
 * serialised text is wiped before it is freed, since it may hold a password. */
void json_respond(struct op *op, int status, json_t *j);

#endif
