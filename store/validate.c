/* Validation and normalisation of the data rules of docs/api.md section 4. */
#include "store/validate.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PASSWORD_BLOCKS 8
#define PASSWORD_BLOCK_DIGITS 6
#define ECHO_MAX (VALIDATE_ECHO_SIZE - 4) /* characters of a refused value echoed */

bool validate_fail(struct verr *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return false;
	snprintf(e->code, sizeof(e->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return false;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static char to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

const char *validate_echo(const char *in, char out[VALIDATE_ECHO_SIZE])
{
	size_t i;

	for (i = 0; i < ECHO_MAX && in[i] != '\0'; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	if (i == ECHO_MAX && in[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* Length of a NUL-terminated string, stopping one past max so that callers
 * can tell "too long" without reading an unbounded input. */
static size_t bounded_len(const char *s, size_t max)
{
	return strnlen(s, max + 1);
}

/* Checks bytes for well-formed UTF-8 without control characters. Returns 0
 * when fine, else the 1-based offset of the first bad byte. */
static size_t utf8_bad_offset(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n, j;
		uint32_t cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return i + 1;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return i + 1;
		}
		if (len - i <= n)
			return i + 1;
		for (j = 1; j <= n; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return i + 1;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
		    (cp >= 0x80 && cp < 0xa0))
			return i + 1;
		i += n + 1;
	}
	return 0;
}

bool validate_key_id(const char *in, char *out, struct verr *e)
{
	static const char *code = "invalid_key_id";
	size_t len, i;
	const char *g;

	if (in == NULL || in[0] == '\0')
		return validate_fail(e, code, "key_id is missing or empty.");
	len = bounded_len(in, VALIDATE_GUID_LEN + 2);
	if (len > VALIDATE_GUID_LEN + 2)
		return validate_fail(e, code,
				"key_id is longer than a GUID (36 characters, "
				"38 with braces).");
	g = in;
	if (in[0] == '{') {
		if (len < 2 || in[len - 1] != '}')
			return validate_fail(e, code,
					"key_id has an opening brace without "
					"a closing one.");
		g = in + 1;
		len -= 2;
	} else if (in[len - 1] == '}') {
		return validate_fail(e, code,
				"key_id has a closing brace without an "
				"opening one.");
	}
	if (len != VALIDATE_GUID_LEN)
		return validate_fail(e, code,
				"key_id must be a GUID of 36 characters "
				"(hex digits in groups of 8-4-4-4-12 joined by dashes), "
				"optionally in braces; it has %zu characters.", len);
	for (i = 0; i < VALIDATE_GUID_LEN; i++) {
		bool dash = (i == 8 || i == 13 || i == 18 || i == 23);

		if (dash && g[i] != '-')
			return validate_fail(e, code,
					"key_id must have '-' at character %zu "
					"of the GUID.", i + 1);
		if (!dash && !is_hex(g[i]))
			return validate_fail(e, code,
					"key_id character %zu of the GUID is "
					"not a hex digit.", i + 1);
	}
	if (out != NULL) {
		for (i = 0; i < VALIDATE_GUID_LEN; i++)
			out[i] = to_upper(g[i]);
		out[VALIDATE_GUID_LEN] = '\0';
	}
	return true;
}

/* Never echoes any part of the password: it is a secret. */
bool validate_recovery_password(const char *pw, struct verr *e)
{
	static const char *fmt_code = "invalid_recovery_password_format";
	static const char *block_code = "invalid_recovery_password_block";
	size_t len, i;
	int b;

	if (pw == NULL || pw[0] == '\0')
		return validate_fail(e, fmt_code, "recovery_password is missing or empty.");
	len = bounded_len(pw, VALIDATE_PASSWORD_LEN);
	if (len != VALIDATE_PASSWORD_LEN)
		return validate_fail(e, fmt_code,
				"recovery_password must be 8 blocks of 6 digits "
				"joined by '-' (55 characters); it has %s%zu "
				"characters.",
				len > VALIDATE_PASSWORD_LEN ? "more than " : "",
				len > VALIDATE_PASSWORD_LEN ?
					(size_t)VALIDATE_PASSWORD_LEN : len);
	for (i = 0; i < VALIDATE_PASSWORD_LEN; i++) {
		bool dash = (i % (PASSWORD_BLOCK_DIGITS + 1)) == PASSWORD_BLOCK_DIGITS;

		if (dash && pw[i] != '-')
			return validate_fail(e, fmt_code,
					"recovery_password must have '-' at "
					"character %zu (8 blocks of 6 digits "
					"joined by '-').", i + 1);
		if (!dash && (pw[i] < '0' || pw[i] > '9'))
			return validate_fail(e, fmt_code,
					"recovery_password character %zu is not "
					"a digit (8 blocks of 6 digits joined by "
					"'-').", i + 1);
	}
	for (b = 0; b < PASSWORD_BLOCKS; b++) {
		const char *p = pw + b * (PASSWORD_BLOCK_DIGITS + 1);
		long v = 0;
		int d;

		for (d = 0; d < PASSWORD_BLOCK_DIGITS; d++)
			v = v * 10 + (p[d] - '0');
		if (v % 11 != 0)
			return validate_fail(e, block_code,
					"recovery_password block %d is not "
					"divisible by 11.", b + 1);
		if (v / 11 >= 65536)
			return validate_fail(e, block_code,
					"recovery_password block %d is too "
					"large: block/11 must be below 65536.",
					b + 1);
	}
	return true;
}

bool validate_volume_id(const char *v, struct verr *e)
{
	static const char *code = "invalid_volume_id";
	size_t len, i;

	if (v == NULL || v[0] == '\0')
		return validate_fail(e, code, "volume_id is missing or empty.");
	len = bounded_len(v, VALIDATE_VOLUME_ID_MAX);
	if (len > VALIDATE_VOLUME_ID_MAX)
		return validate_fail(e, code,
				"volume_id is longer than %d characters.",
				VALIDATE_VOLUME_ID_MAX);
	for (i = 0; i < len; i++) {
		if (v[i] < 0x20 || v[i] >= 0x7f)
			return validate_fail(e, code,
					"volume_id character %zu is not a "
					"printable ASCII character.", i + 1);
	}
	return true;
}

bool validate_volume_type(const char *v, struct verr *e)
{
	char shown[VALIDATE_ECHO_SIZE];

	if (v == NULL || v[0] == '\0')
		return validate_fail(e, "invalid_volume_type",
				"volume_type is missing; it must be os, fixed "
				"or removable.");
	if (strcmp(v, "os") == 0 || strcmp(v, "fixed") == 0 ||
	    strcmp(v, "removable") == 0)
		return true;
	return validate_fail(e, "invalid_volume_type",
			"volume_type \"%s\" is unknown; it must be os, fixed or "
			"removable.", validate_echo(v, shown));
}

bool validate_machine(const char *in, char *out, struct verr *e)
{
	static const char *code = "invalid_machine";
	size_t len, i;

	if (in == NULL || in[0] == '\0')
		return validate_fail(e, code, "machine is missing or empty.");
	len = bounded_len(in, VALIDATE_MACHINE_MAX);
	if (len > VALIDATE_MACHINE_MAX)
		return validate_fail(e, code,
				"machine is longer than %d characters.",
				VALIDATE_MACHINE_MAX);
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return validate_fail(e, code,
					"machine character %zu is not one of "
					"A-Z, a-z, 0-9, '.' or '-'.", i + 1);
	}
	if (out != NULL) {
		for (i = 0; i < len; i++)
			out[i] = to_lower(in[i]);
		out[len] = '\0';
	}
	return true;
}

bool validate_user(const char *v, struct verr *e)
{
	size_t len, bad;

	if (v == NULL)
		return true;
	len = bounded_len(v, VALIDATE_USER_MAX);
	if (len > VALIDATE_USER_MAX)
		return validate_fail(e, "invalid_user",
				"user is longer than %d bytes.", VALIDATE_USER_MAX);
	bad = utf8_bad_offset(v, len);
	if (bad != 0)
		return validate_fail(e, "invalid_user",
				"user byte %zu is a control character or not "
				"valid UTF-8.", bad);
	return true;
}

static bool is_base64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool validate_tpm_owner_hash(const char *v, struct verr *e)
{
	static const char *code = "invalid_tpm_owner_hash";
	size_t len, i, body;

	if (v == NULL || v[0] == '\0')
		return true;
	len = bounded_len(v, VALIDATE_TPM_HASH_MAX);
	if (len > VALIDATE_TPM_HASH_MAX)
		return validate_fail(e, code,
				"tpm_owner_hash is longer than %d characters.",
				VALIDATE_TPM_HASH_MAX);
	if (len % 4 != 0)
		return validate_fail(e, code,
				"tpm_owner_hash is not base64: its length (%zu) "
				"is not a multiple of 4.", len);
	body = len;
	if (v[body - 1] == '=')
		body--;
	if (v[body - 1] == '=')
		body--;
	for (i = 0; i < body; i++) {
		if (!is_base64(v[i]))
			return validate_fail(e, code,
					"tpm_owner_hash character %zu is not a "
					"base64 character.", i + 1);
	}
	return true;
}

bool validate_note(const char *note, struct verr *e)
{
	size_t len, bad;

	if (note == NULL)
		return true;
	len = bounded_len(note, VALIDATE_NOTE_MAX);
	if (len > VALIDATE_NOTE_MAX)
		return validate_fail(e, "invalid_note",
				"note is longer than %d bytes.", VALIDATE_NOTE_MAX);
	bad = utf8_bad_offset(note, len);
	if (bad != 0)
		return validate_fail(e, "invalid_note",
				"note byte %zu is a control character or not "
				"valid UTF-8.", bad);
	return true;
}

bool validate_reason(const char *reason, const char *note, struct verr *e)
{
	static const char *const reasons[] = {
		"lost_pin", "forgot_pin", "lost_startup_key", "bios_changed",
		"os_files_modified", "tpm_reset", "lost_tpm", "other",
	};
	char shown[VALIDATE_ECHO_SIZE];
	size_t i;

	if (reason == NULL || reason[0] == '\0')
		return validate_fail(e, "invalid_reason",
				"a lookup needs a reason: lost_pin, forgot_pin, "
				"lost_startup_key, bios_changed, "
				"os_files_modified, tpm_reset, lost_tpm or other.");
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (strcmp(reason, reasons[i]) == 0)
			break;
	}
	if (i == sizeof(reasons) / sizeof(reasons[0]))
		return validate_fail(e, "invalid_reason",
				"reason \"%s\" is unknown; it must be lost_pin, "
				"forgot_pin, lost_startup_key, bios_changed, "
				"os_files_modified, tpm_reset, lost_tpm or other.",
				validate_echo(reason, shown));
	if (strcmp(reason, "other") == 0 && (note == NULL || note[0] == '\0'))
		return validate_fail(e, "note_required",
				"reason \"other\" needs a note saying why.");
	return validate_note(note, e);
}

bool validate_prefix(const char *in, char *out, struct verr *e)
{
	static const char *code = "invalid_prefix";
	size_t len, i;

	if (in == NULL || in[0] == '\0')
		return validate_fail(e, code, "prefix is missing or empty.");
	len = bounded_len(in, VALIDATE_PREFIX_MAX);
	if (len < VALIDATE_PREFIX_MIN || len > VALIDATE_PREFIX_MAX)
		return validate_fail(e, code,
				"prefix must be %d to %d hex digits (no dashes); "
				"it has %s%zu characters.",
				VALIDATE_PREFIX_MIN, VALIDATE_PREFIX_MAX,
				len > VALIDATE_PREFIX_MAX ? "more than " : "",
				len > VALIDATE_PREFIX_MAX ? (size_t)VALIDATE_PREFIX_MAX : len);
	for (i = 0; i < len; i++) {
		if (!is_hex(in[i]))
			return validate_fail(e, code,
					"prefix character %zu is not a hex digit.",
					i + 1);
	}
	if (out != NULL) {
		for (i = 0; i < len; i++)
			out[i] = to_upper(in[i]);
		out[len] = '\0';
	}
	return true;
}
