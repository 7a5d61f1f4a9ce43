/* A key record as compact JSON text, written straight into a buffer: the
 * answer to every lookup, built on the leader (issue 16). Through jansson
 * the same answer took some twenty allocations (an object, its members,
 * their strings), each wiped when freed, and a serialisation: a tenth of a
 * leader's CPU under lookups. The text is the one json_key gives, member
 * for member and escape for escape (tests/test_json_text.c holds them to
 * it). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "node/json_out.h"

struct text {
	char *p;
	size_t len, cap;
	bool full; /* something did not fit: the text is unusable */
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->full || n > t->cap - t->len) {
		t->full = true;
		return;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

/* s as a JSON string, escaped as jansson escapes it (without
 * JSON_ENSURE_ASCII): quote, backslash and control characters; UTF-8 as
 * it is (every stored string was valid UTF-8 in the request it came in). */
static void put_string(struct text *t, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *run = s;

	put(t, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 0, '0', '0', 0, 0 };
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(t, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
		}
		put(t, esc, n);
	}
	put(t, run, (size_t)(s - run));
	put(t, "\"", 1);
}

/* ,"name": before a member (no comma before the first). */
static void put_name(struct text *t, const char *name)
{
	put(t, t->len > 1 ? ",\"" : "\"", t->len > 1 ? 2 : 1);
	put(t, name, strlen(name));
	put(t, "\":", 2);
}

static void member_string(struct text *t, const char *name, const char *s)
{
	put_name(t, name);
	put_string(t, s);
}

/* An empty string is null, as json_key's optional members. */
static void member_opt(struct text *t, const char *name, const char *s)
{
	put_name(t, name);
	if (s[0] == '\0')
		put(t, "null", 4);
	else
		put_string(t, s);
}

/* 0 is null (never disclosed, not retired). */
static void member_time(struct text *t, const char *name, int64_t ms, bool zero_is_null)
{
	char when[JSON_TIME_LEN];

	put_name(t, name);
	if (zero_is_null && ms == 0) {
		put(t, "null", 4);
		return;
	}
	json_time(ms, when);
	put_string(t, when);
}

size_t json_key_text(const struct store_key *k, const char *password, char *out, size_t cap)
{
	struct text t = { out, 0, cap, false };
	char num[24];
	int n;

	put(&t, "{", 1);
	member_string(&t, "key_id", k->key_id);
	if (password != NULL)
		member_string(&t, "recovery_password", password);
	member_string(&t, "volume_id", k->volume_id);
	member_string(&t, "volume_type", k->volume_type);
	member_string(&t, "machine", k->machine);
	member_opt(&t, "user", k->user);
	member_opt(&t, "tpm_owner_hash", k->tpm_owner_hash);
	member_time(&t, "escrowed_at", k->escrowed_at_ms, false);
	put_name(&t, "escrowed_by");
	n = snprintf(num, sizeof num, "%" PRIu32, k->escrowed_by);
	put(&t, num, (size_t)n);
	member_time(&t, "disclosed_at", k->disclosed_at_ms, true);
	member_time(&t, "retired_at", k->retired_at_ms, true);
	put(&t, "}", 1);
	return t.full ? 0 : t.len;
}
