/* Unit tests of store/validate: the data rules of docs/api.md section 4. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/error.h"
#include "store/validate.h"
#include "tests/unit.h"

/* A valid recovery password from eight 16-bit numbers: each block is n*11. */
static void make_password(const uint16_t n[8], char out[VALIDATE_PASSWORD_LEN + 1])
{
	int i;

	for (i = 0; i < 8; i++)
		snprintf(out + 7 * i, 8, i < 7 ? "%06u-" : "%06u",
			 (unsigned)n[i] * 11u);
}

/* Fills out with n copies of c. */
static char *repeat(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
	return out;
}

TEST(key_id_accepts_upper_case)
{
	char out[VALIDATE_GUID_LEN + 1];
	struct verr e;

	CHECK(validate_key_id("01234567-89AB-CDEF-0123-456789ABCDEF", out, &e));
	CHECK_STR(out, "01234567-89AB-CDEF-0123-456789ABCDEF");
}

TEST(key_id_normalises_braces_and_case)
{
	char out[VALIDATE_GUID_LEN + 1];
	struct verr e;

	CHECK(validate_key_id("{01234567-89ab-cdef-0123-456789abcdef}", out, &e));
	CHECK_STR(out, "01234567-89AB-CDEF-0123-456789ABCDEF");
	CHECK(validate_key_id("a1b2c3d4-e5f6-a7b8-c9d0-e1f2a3b4c5d6", out, &e));
	CHECK_STR(out, "A1B2C3D4-E5F6-A7B8-C9D0-E1F2A3B4C5D6");
}

TEST(key_id_refuses_bad_guids)
{
	static const char *const bad[] = {
		"",
		"{01234567-89AB-CDEF-0123-456789ABCDEF",
		"01234567-89AB-CDEF-0123-456789ABCDEF}",
		"{{01234567-89AB-CDEF-0123-456789ABCDEF}}",
		"01234567-89AB-CDEF-0123-456789ABCDE",
		"01234567-89AB-CDEF-0123-456789ABCDEF0",
		"0123456789ABCDEF0123456789ABCDEF",
		"01234567-89AB-CDEF-0123-456789ABCDEG",
		"0123456-789AB-CDEF-0123-456789ABCDEF",
		"01234567_89AB_CDEF_0123_456789ABCDEF",
		" 01234567-89AB-CDEF-0123-456789ABCDEF",
		"01234567-89AB-CDEF-0123-456789ABCDEF ",
		"01234567-89AB-CDEF-0123-456789ABCDEF-0123-4567-89AB",
		"{}",
		"{",
		"}",
	};
	char out[VALIDATE_GUID_LEN + 1];
	struct verr e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		CHECK(!validate_key_id(bad[i], out, &e));
		CHECK_STR(e.code, "invalid_key_id");
		CHECK(strlen(e.msg) > 10);
	}
	CHECK(!validate_key_id(NULL, out, &e));
	CHECK_STR(e.code, "invalid_key_id");
	/* A NULL verr is allowed. */
	CHECK(!validate_key_id("nope", out, NULL));
}

TEST(password_accepts_valid_blocks)
{
	static const uint16_t a[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	static const uint16_t b[8] = { 65535, 65535, 65535, 65535,
				       65535, 65535, 65535, 65535 };
	static const uint16_t c[8] = { 10101, 20202, 30303, 40404,
				       50505, 60606, 0, 1122 };
	char pw[VALIDATE_PASSWORD_LEN + 1];
	struct verr e;

	make_password(a, pw);
	CHECK_STR(pw, "000000-000011-000022-000033-000044-000055-000066-000077");
	CHECK(validate_recovery_password(pw, &e));
	make_password(b, pw);
	CHECK_STR(pw, "720885-720885-720885-720885-720885-720885-720885-720885");
	CHECK(validate_recovery_password(pw, &e));
	make_password(c, pw);
	CHECK(validate_recovery_password(pw, &e));
}

TEST(password_accepts_random_blocks)
{
	char pw[VALIDATE_PASSWORD_LEN + 1];
	uint16_t n[8];
	uint32_t x = 12345; /* fixed seed: the run is reproducible */
	struct verr e;
	int round, i;

	for (round = 0; round < 1000; round++) {
		for (i = 0; i < 8; i++) {
			x = x * 1103515245u + 12345u;
			n[i] = (uint16_t)(x >> 16);
		}
		make_password(n, pw);
		if (!validate_recovery_password(pw, &e)) {
			printf("# seed 12345 round %d: %s\n", round, e.msg);
			CHECK(0);
		}
	}
}

TEST(password_refuses_block_not_divisible)
{
	struct verr e;

	/* Blocks 1-7 are multiples of 11; 012345 is not. */
	CHECK(!validate_recovery_password(
		"111111-222222-333333-444444-555555-666666-000000-012345", &e));
	CHECK_STR(e.code, "invalid_recovery_password_block");
	CHECK(strstr(e.msg, "block 8") != NULL);
	CHECK(strstr(e.msg, "divisible by 11") != NULL);
	CHECK(strstr(e.msg, "012345") == NULL);
	CHECK(strstr(e.msg, "12345") == NULL);

	CHECK(!validate_recovery_password(
		"000011-000012-333333-444444-555555-666666-000000-000000", &e));
	CHECK(strstr(e.msg, "block 2 ") != NULL);
}

TEST(password_refuses_block_too_large)
{
	struct verr e;

	/* 720896 = 65536 * 11: divisible, but block/11 is not below 65536. */
	CHECK(!validate_recovery_password(
		"000000-000000-720896-000000-000000-000000-000000-000000", &e));
	CHECK_STR(e.code, "invalid_recovery_password_block");
	CHECK(strstr(e.msg, "block 3 ") != NULL);
	CHECK(strstr(e.msg, "65536") != NULL);
	CHECK(strstr(e.msg, "720896") == NULL);
	/* 999999 = 90909 * 11. */
	CHECK(!validate_recovery_password(
		"000000-000000-000000-000000-000000-000000-000000-999999", &e));
	CHECK(strstr(e.msg, "block 8 ") != NULL);
}

TEST(password_refuses_bad_format)
{
	static const char *const bad[] = {
		"",
		/* 7 blocks */
		"000000-000011-000022-000033-000044-000055-000066",
		/* 9 blocks */
		"000000-000011-000022-000033-000044-000055-000066-000077-000088",
		/* letters */
		"000000-000011-000022-0000A3-000044-000055-000066-000077",
		"abcdef-000011-000022-000033-000044-000055-000066-000077",
		/* dashes in the wrong places, same length */
		"00000-0000011-000022-000033-000044-000055-000066-000077",
		"000000-000011-000022-000033-000044-000055-000066--00077",
		"000000 000011 000022 000033 000044 000055 000066 000077",
		"000000000011000022000033000044000055000066000077",
		/* spaces */
		" 000000-000011-000022-000033-000044-000055-000066-000077",
		"000000-000011-000022-000033-000044-000055-000066-000077 ",
		"000000-000011-000022-000033-000044-000055-000066-00007 ",
		"000000-000011-000022-000033-000044-000055-000066-000077\n",
		/* signs */
		"+00000-000011-000022-000033-000044-000055-000066-000077",
	};
	struct verr e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (validate_recovery_password(bad[i], &e)) {
			printf("# accepted bad password #%zu\n", i);
			CHECK(0);
		}
		CHECK_STR(e.code, "invalid_recovery_password_format");
		/* No digits of the secret leak into the message. */
		CHECK(strstr(e.msg, "000011") == NULL);
	}
	CHECK(!validate_recovery_password(NULL, &e));
	CHECK_STR(e.code, "invalid_recovery_password_format");
}

TEST(volume_id_rules)
{
	char buf[VALIDATE_VOLUME_ID_MAX + 8];
	struct verr e;

	CHECK(validate_volume_id("\\\\?\\Volume{0a1b2c3d-0000-0000-0000-000000000000}\\", &e));
	CHECK(validate_volume_id("x", &e));
	CHECK(validate_volume_id(repeat(buf, 'v', VALIDATE_VOLUME_ID_MAX), &e));
	CHECK(!validate_volume_id(repeat(buf, 'v', VALIDATE_VOLUME_ID_MAX + 1), &e));
	CHECK_STR(e.code, "invalid_volume_id");
	CHECK(!validate_volume_id("", &e));
	CHECK_STR(e.code, "invalid_volume_id");
	CHECK(!validate_volume_id(NULL, &e));
	CHECK(!validate_volume_id("tab\there", &e));
	CHECK_STR(e.code, "invalid_volume_id");
	CHECK(!validate_volume_id("caf\xc3\xa9", &e));
}

TEST(volume_type_rules)
{
	struct verr e;

	CHECK(validate_volume_type("os", &e));
	CHECK(validate_volume_type("fixed", &e));
	CHECK(validate_volume_type("removable", &e));
	CHECK(!validate_volume_type("OS", &e));
	CHECK_STR(e.code, "invalid_volume_type");
	CHECK(!validate_volume_type("network", &e));
	CHECK(strstr(e.msg, "network") != NULL);
	CHECK(!validate_volume_type("", &e));
	CHECK(!validate_volume_type(NULL, &e));
	CHECK(!validate_volume_type("fixed ", &e));
}

TEST(machine_rules)
{
	char out[VALIDATE_MACHINE_MAX + 1];
	char buf[VALIDATE_MACHINE_MAX + 8];
	struct verr e;

	CHECK(validate_machine("PC-0042.Corp.Example.COM", out, &e));
	CHECK_STR(out, "pc-0042.corp.example.com");
	CHECK(validate_machine(repeat(buf, 'A', VALIDATE_MACHINE_MAX), out, &e));
	CHECK(out[0] == 'a' && strlen(out) == VALIDATE_MACHINE_MAX);
	CHECK(!validate_machine(repeat(buf, 'a', VALIDATE_MACHINE_MAX + 1), out, &e));
	CHECK_STR(e.code, "invalid_machine");
	CHECK(!validate_machine("", out, &e));
	CHECK_STR(e.code, "invalid_machine");
	CHECK(!validate_machine(NULL, out, &e));
	CHECK(!validate_machine("pc_01", out, &e));
	CHECK(strstr(e.msg, "character 3") != NULL);
	CHECK(!validate_machine("pc 01", out, &e));
	CHECK(validate_machine("pc01.", out, NULL)); /* the rule is only the alphabet */
}

TEST(user_rules)
{
	char buf[VALIDATE_USER_MAX + 8];
	struct verr e;

	CHECK(validate_user(NULL, &e));
	CHECK(validate_user("", &e));
	CHECK(validate_user("CORP\\alice", &e));
	CHECK(validate_user("j\xc3\xbcrgen@example.com", &e));
	CHECK(validate_user(repeat(buf, 'u', VALIDATE_USER_MAX), &e));
	CHECK(!validate_user(repeat(buf, 'u', VALIDATE_USER_MAX + 1), &e));
	CHECK_STR(e.code, "invalid_user");
	CHECK(!validate_user("bad\x01", &e));
	CHECK_STR(e.code, "invalid_user");
	CHECK(!validate_user("bad\xc3", &e));           /* truncated UTF-8 */
	CHECK(!validate_user("over\xc0\xaflong", &e));  /* overlong '/' */
	CHECK(!validate_user("sur\xed\xa0\x80", &e));   /* surrogate */
}

TEST(tpm_owner_hash_rules)
{
	char buf[VALIDATE_TPM_HASH_MAX + 8];
	struct verr e;

	CHECK(validate_tpm_owner_hash(NULL, &e));
	CHECK(validate_tpm_owner_hash("", &e));
	CHECK(validate_tpm_owner_hash("AAAA", &e));
	CHECK(validate_tpm_owner_hash("q83vEjRWeJA=", &e));
	CHECK(validate_tpm_owner_hash("q83vEjRWeA==", &e));
	CHECK(validate_tpm_owner_hash("ab+/", &e));
	CHECK(validate_tpm_owner_hash(repeat(buf, 'A', VALIDATE_TPM_HASH_MAX), &e));
	CHECK(!validate_tpm_owner_hash(repeat(buf, 'A', VALIDATE_TPM_HASH_MAX + 4), &e));
	CHECK_STR(e.code, "invalid_tpm_owner_hash");
	CHECK(!validate_tpm_owner_hash("AAA", &e));
	CHECK_STR(e.code, "invalid_tpm_owner_hash");
	CHECK(!validate_tpm_owner_hash("A===", &e));
	CHECK(!validate_tpm_owner_hash("A=AA", &e));
	CHECK(!validate_tpm_owner_hash("AA*A", &e));
	CHECK(!validate_tpm_owner_hash("AA-_", &e));
}

TEST(reason_rules)
{
	static const char *const good[] = {
		"lost_pin", "forgot_pin", "lost_startup_key", "bios_changed",
		"os_files_modified", "tpm_reset", "lost_tpm",
	};
	struct verr e;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(validate_reason(good[i], NULL, &e));
		CHECK(validate_reason(good[i], "ticket 42", &e));
	}
	CHECK(validate_reason("other", "user spilled coffee on the TPM", &e));
	CHECK(!validate_reason("other", NULL, &e));
	CHECK_STR(e.code, "note_required");
	CHECK(!validate_reason("other", "", &e));
	CHECK_STR(e.code, "note_required");
	CHECK(!validate_reason("Lost_PIN", NULL, &e));
	CHECK_STR(e.code, "invalid_reason");
	CHECK(!validate_reason("", NULL, &e));
	CHECK_STR(e.code, "invalid_reason");
	CHECK(!validate_reason(NULL, NULL, &e));
	CHECK_STR(e.code, "invalid_reason");
	CHECK(!validate_reason("lost_pin", "bad\x7f", &e));
	CHECK_STR(e.code, "invalid_note");
}

TEST(note_rules)
{
	char buf[VALIDATE_NOTE_MAX + 8];
	struct verr e;

	CHECK(validate_note(NULL, &e));
	CHECK(validate_note("", &e));
	CHECK(validate_note("caller verified by callback, ticket #7 \xe2\x9c\x93", &e));
	CHECK(validate_note(repeat(buf, 'n', VALIDATE_NOTE_MAX), &e));
	CHECK(!validate_note(repeat(buf, 'n', VALIDATE_NOTE_MAX + 1), &e));
	CHECK_STR(e.code, "invalid_note");
	CHECK(!validate_note("line\nbreak", &e));
	CHECK_STR(e.code, "invalid_note");
	CHECK(!validate_note("\xff", &e));
}

TEST(prefix_rules)
{
	char out[VALIDATE_PREFIX_MAX + 1];
	char buf[VALIDATE_PREFIX_MAX + 8];
	struct verr e;

	CHECK(validate_prefix("0123abcd", out, &e));
	CHECK_STR(out, "0123ABCD");
	CHECK(validate_prefix(repeat(buf, 'f', VALIDATE_PREFIX_MAX), out, &e));
	CHECK(strlen(out) == VALIDATE_PREFIX_MAX && out[0] == 'F');
	CHECK(!validate_prefix(repeat(buf, 'f', VALIDATE_PREFIX_MAX + 1), out, &e));
	CHECK_STR(e.code, "invalid_prefix");
	CHECK(!validate_prefix("0123abc", out, &e));
	CHECK_STR(e.code, "invalid_prefix");
	CHECK(!validate_prefix("0123abcg", out, &e));
	CHECK(!validate_prefix("01234567-89AB", out, &e));
	CHECK(!validate_prefix("", out, &e));
	CHECK(!validate_prefix(NULL, out, &e));
}

TEST(echo_shows_the_printable_start)
{
	char out[VALIDATE_ECHO_SIZE], buf[64];

	CHECK_STR(validate_echo("network", out), "network");
	CHECK_STR(validate_echo("", out), "");
	CHECK_STR(validate_echo("a\tb\x01\xc3\xa9", out), "a?b???");
	CHECK_STR(validate_echo(repeat(buf, 'x', 24), out), "xxxxxxxxxxxxxxxxxxxxxxxx");
	CHECK_STR(validate_echo(repeat(buf, 'x', 25), out), "xxxxxxxxxxxxxxxxxxxxxxxx...");
}

TEST(every_error_code_has_a_name_and_sentence)
{
	int i, j;

	for (i = 0; i < ESC__COUNT; i++) {
		CHECK(esc_err_name(i) != NULL && esc_err_name(i)[0] != '\0');
		CHECK(esc_err_str(i) != NULL && esc_err_str(i)[0] != '\0');
		for (j = 0; j < i; j++)
			CHECK(strcmp(esc_err_name(i), esc_err_name(j)) != 0);
	}
	CHECK_STR(esc_err_name(ESC_EDB), "edb");
	CHECK_STR(esc_err_str(ESC_ENOMEM), "out of memory");
	CHECK_STR(esc_err_name(-1), "eunknown");
	CHECK_STR(esc_err_name(ESC__COUNT), "eunknown");
	CHECK(esc_err_str(1000) != NULL);
}

TEST(errorf_and_prefix_stay_bounded)
{
	char errmsg[ESC_ERRMSG_SIZE], big[ESC_ERRMSG_SIZE * 2];

	CHECK_INT(esc_errorf(errmsg, ESC_EIO, "read %s: %s", "f", "gone"), ESC_EIO);
	CHECK_STR(errmsg, "read f: gone");
	esc_errprefix(errmsg, "load");
	CHECK_STR(errmsg, "load: read f: gone");
	CHECK_INT(esc_errorf(NULL, ESC_EINVAL, "x"), ESC_EINVAL);

	repeat(errmsg, 'm', ESC_ERRMSG_SIZE - 1);
	esc_errprefix(errmsg, "outer");
	CHECK_INT(strlen(errmsg), ESC_ERRMSG_SIZE - 1);
	CHECK(strncmp(errmsg, "outer: mmm", 10) == 0);

	repeat(big, 'p', sizeof(big) - 1);
	snprintf(errmsg, sizeof(errmsg), "inner");
	esc_errprefix(errmsg, big);
	CHECK_INT(strlen(errmsg), ESC_ERRMSG_SIZE - 1);

	errmsg[0] = '\0';
	esc_errprefix(errmsg, "alone");
	CHECK_STR(errmsg, "alone");
}

int main(void)
{
	RUN(key_id_accepts_upper_case);
	RUN(key_id_normalises_braces_and_case);
	RUN(key_id_refuses_bad_guids);
	RUN(password_accepts_valid_blocks);
	RUN(password_accepts_random_blocks);
	RUN(password_refuses_block_not_divisible);
	RUN(password_refuses_block_too_large);
	RUN(password_refuses_bad_format);
	RUN(volume_id_rules);
	RUN(volume_type_rules);
	RUN(machine_rules);
	RUN(user_rules);
	RUN(tpm_owner_hash_rules);
	RUN(reason_rules);
	RUN(note_rules);
	RUN(prefix_rules);
	RUN(echo_shows_the_printable_start);
	RUN(every_error_code_has_a_name_and_sentence);
	RUN(errorf_and_prefix_stay_bounded);
	return unit_done();
}
