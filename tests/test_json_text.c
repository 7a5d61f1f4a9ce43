/* node/json_key_text.c: a lookup's answer written without jansson is the
 * text jansson dumps for json_key's value, byte for byte; json_time by
 * arithmetic is what gmtime_r and strftime give (json_time_libc). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/json_out.h"
#include "tests/unit.h"

static void typical(struct store_key *k)
{
	memset(k, 0, sizeof *k);
	strcpy(k->key_id, "5e8d3c1a-0b7f-4c2e-9a1d-3f6b8e2c4d70");
	strcpy(k->volume_id, "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b");
	strcpy(k->volume_type, "os");
	strcpy(k->machine, "LAPTOP-0042.corp.example");
	strcpy(k->user, "CORP\\alice");
	strcpy(k->tpm_owner_hash, "q1w2e3r4t5y6u7i8o9p0");
	k->escrowed_at_ms = 1764950400123;
	k->escrowed_by = 3;
}

/* json_key_text(k, password) == json_dumps(json_key(k, password)); the
 * text is as long as the dump, and one byte less room does not fit. */
static int same_as_jansson(const struct store_key *k, const char *password)
{
	char out[4096];
	json_t *j = json_key(k, password);
	char *want = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t len = json_key_text(k, password, out, sizeof out);
	int ok = want != NULL && len == strlen(want) && memcmp(out, want, len) == 0 &&
		 json_key_text(k, password, out, len - 1) == 0 &&
		 json_key_text(k, password, out, len) == len;

	if (!ok)
		printf("# want %s\n# got  %.*s\n", want != NULL ? want : "(null)", (int)len, out);
	free(want);
	json_decref(j);
	return ok;
}

TEST(a_typical_key_with_and_without_password)
{
	struct store_key k;

	typical(&k);
	CHECK(same_as_jansson(&k, "123456-234567-345678-456789-567890-678901-789012-890123"));
	CHECK(same_as_jansson(&k, NULL));
}

TEST(empty_optional_members_and_times_are_null_or_set)
{
	struct store_key k;

	typical(&k);
	k.user[0] = '\0';
	k.tpm_owner_hash[0] = '\0';
	CHECK(same_as_jansson(&k, "111111-222222"));
	k.disclosed_at_ms = 1764950401999;
	k.retired_at_ms = 1764950402000;
	k.escrowed_by = 4294967295u;
	CHECK(same_as_jansson(&k, "111111-222222"));
	/* Before the epoch, and the epoch itself for a time that is never null. */
	k.escrowed_at_ms = -1;
	CHECK(same_as_jansson(&k, NULL));
	k.escrowed_at_ms = 0;
	CHECK(same_as_jansson(&k, NULL));
}

TEST(quotes_backslashes_controls_and_utf8_escape_as_jansson_does)
{
	struct store_key k;
	char controls[40];

	typical(&k);
	strcpy(k.machine, "a\"b\\c/d");
	strcpy(k.user, "tab\there\nnew\rret\bback\fform");
	for (int c = 1; c < 0x20; c++)
		controls[c - 1] = (char)c;
	controls[0x1f] = '\x7f';
	controls[0x20] = '\0';
	strcpy(k.tpm_owner_hash, controls);
	strcpy(k.volume_id, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
	CHECK(same_as_jansson(&k, "\"\\"));
}

TEST(nothing_fits_in_no_room)
{
	struct store_key k;
	char out[8];

	typical(&k);
	CHECK_INT(json_key_text(&k, NULL, out, 0), 0);
	CHECK_INT(json_key_text(&k, NULL, out, sizeof out), 0);
}

static int time_as_libc(int64_t ms)
{
	char want[JSON_TIME_LEN], got[JSON_TIME_LEN];

	json_time_libc(ms, want);
	json_time(ms, got);
	if (strcmp(want, got) != 0) {
		printf("# %" PRId64 ": want %s, got %s\n", ms, want, got);
		return 0;
	}
	return 1;
}

TEST(json_time_is_what_gmtime_and_strftime_give)
{
	static const int64_t edges[] = {
		0, 1, 999, 1000, 86399999, 86400000,
		951782399999, 951782400000,        /* 2000-02-29 */
		951868800000,                      /* 2000-03-01 */
		4107456000000, 4107542400000,      /* 2100-02-28, 2100-03-01 */
		1709164800000,                     /* 2024-02-29 */
		1764950400123,
		INT64_C(253402300799999),          /* 9999-12-31T23:59:59.999 */
		INT64_C(253402300800000),          /* year 10000: the C library's */
		-1, -1000, -86400001, -62135596800000,
	};
	uint64_t x = 88172645463325252u;

	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		CHECK(time_as_libc(edges[i]));
	/* Every day of 1999-2101 at a moment of its own, then random times. */
	for (int64_t d = 10592; d < 47847; d++)
		CHECK(time_as_libc(d * 86400000 + (d * 7919) % 86400000));
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		CHECK(time_as_libc((int64_t)(x % UINT64_C(253402300800000))));
	}
}

int main(void)
{
	RUN(a_typical_key_with_and_without_password);
	RUN(empty_optional_members_and_times_are_null_or_set);
	RUN(quotes_backslashes_controls_and_utf8_escape_as_jansson_does);
	RUN(nothing_fits_in_no_room);
	RUN(json_time_is_what_gmtime_and_strftime_give);
	return unit_done();
}
