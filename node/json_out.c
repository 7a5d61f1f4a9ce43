/* JSON responses: records, times, and sending a jansson value as a reply. */
#include "node/json_out.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void json_time_libc(int64_t ms, char out[JSON_TIME_LEN])
{
	time_t secs = (time_t)(ms / 1000);
	unsigned frac = (unsigned)(ms % 1000 + 1000) % 1000;
	struct tm tm;
	size_t n;

	if (ms < 0 && frac != 0)
		secs--;
	gmtime_r(&secs, &tm);
	n = strftime(out, JSON_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, JSON_TIME_LEN - n, ".%03uZ", frac);
}

static void digits(char *out, unsigned v, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* 1970 to 9999, the times escrow writes, by arithmetic: every lookup's
 * answer holds two, and gmtime_r with strftime took 2,000 instructions
 * each (issue 16). The civil date of a day count is the proleptic
 * Gregorian calendar's, in 400-year eras of 146,097 days. */
void json_time(int64_t ms, char out[JSON_TIME_LEN])
{
	int64_t days, secs;
	unsigned era_day, era_year, year_day, mp, day, month, year;

	if (ms < 0 || ms > INT64_C(253402300799999)) {
		json_time_libc(ms, out);
		return;
	}
	days = ms / 86400000;
	secs = ms / 1000 % 86400;
	/* Days since 0000-03-01, which starts an era. */
	days += 719468;
	era_day = (unsigned)(days % 146097);
	era_year = (era_day - era_day / 1460 + era_day / 36524 - era_day / 146096) / 365;
	year_day = era_day - (365 * era_year + era_year / 4 - era_year / 100);
	mp = (5 * year_day + 2) / 153; /* months from March */
	day = year_day - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	year = (unsigned)(days / 146097) * 400 + era_year + (month <= 2);
	memcpy(out, "0000-00-00T00:00:00.000Z", 25);
	digits(out, year, 4);
	digits(out + 5, month, 2);
	digits(out + 8, day, 2);
	digits(out + 11, (unsigned)(secs / 3600), 2);
	digits(out + 14, (unsigned)(secs / 60 % 60), 2);
	digits(out + 17, (unsigned)(secs % 60), 2);
	digits(out + 20, (unsigned)(ms % 1000), 3);
}

static json_t *json_opt_string(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

json_t *json_key(const struct store_key *k, const char *password)
{
	char escrowed[JSON_TIME_LEN], disclosed[JSON_TIME_LEN], retired[JSON_TIME_LEN];
	json_t *j;

	json_time(k->escrowed_at_ms, escrowed);
	json_time(k->disclosed_at_ms, disclosed);
	json_time(k->retired_at_ms, retired);
	j = json_object();
	if (j == NULL)
		return NULL;
	json_object_set_new(j, "key_id", json_string(k->key_id));
	if (password != NULL)
		json_object_set_new(j, "recovery_password", json_string(password));
	json_object_set_new(j, "volume_id", json_string(k->volume_id));
	json_object_set_new(j, "volume_type", json_string(k->volume_type));
	json_object_set_new(j, "machine", json_string(k->machine));
	json_object_set_new(j, "user", json_opt_string(k->user));
	json_object_set_new(j, "tpm_owner_hash", json_opt_string(k->tpm_owner_hash));
	json_object_set_new(j, "escrowed_at", json_string(escrowed));
	json_object_set_new(j, "escrowed_by", json_integer(k->escrowed_by));
	json_object_set_new(j, "disclosed_at",
			    k->disclosed_at_ms != 0 ? json_string(disclosed) : json_null());
	json_object_set_new(j, "retired_at",
			    k->retired_at_ms != 0 ? json_string(retired) : json_null());
	return j;
}

json_t *json_names(enum compliance_kind kind, uint32_t mask)
{
	const char *names[32];
	size_t n = compliance_mask_names(kind, mask, names, 32);
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, json_string(names[i]));
	return arr;
}

/* Most answers fit in a buffer on the stack: serialised there, they cost
 * no strbuffer grown by reallocs and no copy of it (a lookup's answer was
 * 5 % of a leader's CPU in json_dumps). */
#define JSON_RESPOND_STACK 16384

struct fixed_buf {
	char *p;
	size_t len, cap;
};

/* json_dump_callback's writer: -1 (which stops the dump) once full. */
static int fixed_put(const char *buf, size_t size, void *data)
{
	struct fixed_buf *f = data;

	if (size > f->cap - f->len)
		return -1;
	memcpy(f->p + f->len, buf, size);
	f->len += size;
	return 0;
}

void json_respond(struct op *op, int status, json_t *j)
{
	char stack[JSON_RESPOND_STACK];
	struct fixed_buf f = { stack, 0, sizeof stack };
	char *text = NULL;
	size_t len = 0;

	if (j != NULL && json_dump_callback(j, fixed_put, &f, JSON_COMPACT) == 0) {
		text = stack;
		len = f.len;
	} else if (j != NULL) {
		/* Larger: on the heap, as jansson grows it. */
		text = json_dumps(j, JSON_COMPACT);
		len = text != NULL ? strlen(text) : 0;
	}
	json_decref(j);
	if (text == NULL) {
		OPENSSL_cleanse(stack, f.len);
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	op_respond(op, status, NULL, "application/json", text, len);
	/* The text may hold a password, and so may what a failed dump left. */
	OPENSSL_cleanse(stack, f.len);
	if (text != stack) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
}
