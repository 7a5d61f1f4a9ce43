/* lib/text.c: what it writes is what snprintf wrote in its place (the
 * request paths' formatting, issue 16), and a piece that does not fit is
 * left out whole. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/text.h"
#include "tests/unit.h"

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

TEST(numbers_are_what_printf_writes)
{
	static const uint64_t u[] = { 0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u,
				      UINT64_MAX - 1, UINT64_MAX };
	static const int64_t s[] = { 0, -1, 1, -9, -10, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
	char want[64], buf[64];
	struct text t;
	uint64_t x = 88172645463325252u;

	for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
		snprintf(want, sizeof want, "%" PRIu64, u[i]);
		CHECK_INT(text_u64(buf, u[i]), strlen(want));
		CHECK(memcmp(buf, want, strlen(want)) == 0);
	}
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		snprintf(want, sizeof want, "%" PRId64, s[i]);
		text_init(&t, buf, sizeof buf);
		text_int(&t, s[i]);
		CHECK_STR(buf, want);
	}
	for (int i = 0; i < 100000; i++) {
		uint64_t v = next(&x) >> (next(&x) % 64);

		snprintf(want, sizeof want, "%" PRIu64 " %" PRId64, v, (int64_t)v);
		text_init(&t, buf, sizeof buf);
		text_uint(&t, v);
		text_put(&t, " ", 1);
		text_int(&t, (int64_t)v);
		CHECK(!t.cut);
		CHECK_STR(buf, want);
	}
}

TEST(a_piece_that_does_not_fit_is_left_out_with_all_after_it)
{
	char buf[8];
	struct text t;

	text_init(&t, buf, sizeof buf);
	CHECK_STR(buf, "");
	text_str(&t, "abc");
	text_str(&t, "defg"); /* 7 bytes and the NUL: fits exactly */
	CHECK(!t.cut);
	CHECK_STR(buf, "abcdefg");
	text_init(&t, buf, sizeof buf);
	text_str(&t, "abc");
	text_str(&t, "defgh"); /* one byte too many */
	CHECK(t.cut);
	CHECK_STR(buf, "abc");
	text_str(&t, "d"); /* would fit, but the text stops at the cut */
	CHECK_STR(buf, "abc");
	CHECK_INT(t.len, 3);
	text_init(&t, buf, sizeof buf);
	text_uint(&t, 12345678); /* 8 digits in 8 bytes: no room for the NUL */
	CHECK(t.cut);
	CHECK_STR(buf, "");
}

TEST(text_copy_cuts_as_snprintf_did)
{
	char want[6], got[6];
	const char *src[] = { "", "a", "abcde", "abcdef", "abcdefghij" };

	for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
		memset(got, 'x', sizeof got);
		snprintf(want, sizeof want, "%s", src[i]);
		CHECK_INT(text_copy(got, sizeof got, src[i]), strlen(want));
		CHECK_STR(got, want);
	}
	CHECK_INT(text_copy(got, 1, "abc"), 0);
	CHECK_STR(got, "");
}

int main(void)
{
	RUN(numbers_are_what_printf_writes);
	RUN(a_piece_that_does_not_fit_is_left_out_with_all_after_it);
	RUN(text_copy_cuts_as_snprintf_did);
	return unit_done();
}
