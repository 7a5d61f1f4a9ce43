/* escrowctl bench --op compliance: a machine's report of an os and a fixed
 * volume, in one of a few shapes drawn from a seed, and the verdict read
 * back from the answer. */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tools/ctl/ctl_bench_compliance.h"

#define BENCH_MACHINE_MAX 253 /* a DNS name, as the server allows */

/* A volume's ID in JSON, from its number (0 the os volume, 1 the fixed
 * one): \\?\Volume{bench-N}, the same for every machine, in reports and
 * escrows alike. */
#define VOLUME_ID_JSON "\"\\\\\\\\?\\\\Volume{bench-%u}\""

/* Cumulative percentages of the shapes, in enum order. */
static const unsigned shape_cut[BENCH_SHAPES] = { 70, 80, 88, 95, 100 };

/* splitmix64: a well-mixed 64-bit value from any input. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t machine_of(const struct bench_compliance *bc, uint64_t r)
{
	return bc->machines != 0 ? r % bc->machines : r;
}

static enum bench_shape machine_shape(const struct bench_compliance *bc, uint64_t m)
{
	unsigned pct = (unsigned)(mix64(bc->seed ^ mix64(m)) % 100);
	int s;

	for (s = 0; s < BENCH_SHAPES - 1; s++)
		if (pct < shape_cut[s])
			break;
	return (enum bench_shape)s;
}

enum bench_shape bench_compliance_shape(const struct bench_compliance *bc, uint64_t r)
{
	return machine_shape(bc, machine_of(bc, r));
}

/* Machine m's name, PREFIX-cC-N; returns the bytes written as snprintf. */
static int machine_name(const struct bench_compliance *bc, uint64_t m, char *out, size_t size)
{
	return snprintf(out, size, "%s-c%u-%" PRIu64, bc->prefix, (unsigned)(m % bc->clients),
			m / bc->clients);
}

/* A well-mixed value of seed, machine m's name as the server compares it
 * (lower case) and vol: two runs that name a machine alike list the same
 * keys, and two machines never do (an escrowed key counts only under the
 * machine it was escrowed with). */
static uint64_t key_hash(const struct bench_compliance *bc, uint64_t m, unsigned vol)
{
	char name[BENCH_MACHINE_MAX + 1];
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	int n = machine_name(bc, m, name, sizeof(name));

	for (int i = 0; i < n && i < BENCH_MACHINE_MAX; i++)
		h = (h ^ (unsigned char)tolower((unsigned char)name[i])) * 0x100000001b3ULL;
	return mix64(bc->seed ^ mix64(h ^ (vol + 1)));
}

/* The recovery-password protector ID of machine m's volume vol: a GUID
 * (version 4 layout) from seed, the machine's name and vol. */
static void key_id(const struct bench_compliance *bc, uint64_t m, unsigned vol, char out[37])
{
	uint64_t a = key_hash(bc, m, vol);
	uint64_t b = mix64(a ^ bc->seed);

	snprintf(out, 37, "%08" PRIX64 "-%04" PRIX64 "-4%03" PRIX64 "-%04" PRIX64 "-%012" PRIX64,
		 a >> 32, (a >> 16) & 0xffff, a & 0xfff, 0x8000 | ((b >> 48) & 0x3fff),
		 (uint64_t)(b & 0xffffffffffffULL));
}

/* The recovery password of that key: 8 blocks, each 11 times a 16-bit
 * value, from the key's hash alone, so that escrowing it again is a 200
 * (the same password), never a 409. */
static void key_password(const struct bench_compliance *bc, uint64_t m, unsigned vol,
			 char out[56])
{
	uint64_t x = mix64(key_hash(bc, m, vol) ^ 0x5bd1e995ULL), y = mix64(x);

	snprintf(out, 56, "%06u-%06u-%06u-%06u-%06u-%06u-%06u-%06u", (unsigned)(x & 0xffff) * 11,
		 (unsigned)((x >> 16) & 0xffff) * 11, (unsigned)((x >> 32) & 0xffff) * 11,
		 (unsigned)(x >> 48) * 11, (unsigned)(y & 0xffff) * 11,
		 (unsigned)((y >> 16) & 0xffff) * 11, (unsigned)((y >> 32) & 0xffff) * 11,
		 (unsigned)(y >> 48) * 11);
}

struct volume {
	const char *type, *protection, *conversion, *method, *protectors;
	unsigned percent;
	bool key;               /* lists its recovery password's ID */
};

/* Machine m's two volumes, the os one first, in its shape. */
static void machine_volumes(const struct bench_compliance *bc, uint64_t m, struct volume v[2])
{
	static const char *full = "\"tpm_pin\",\"recovery_password\"";
	static const char *rp = "\"recovery_password\"";

	v[0] = (struct volume){ "os", "on", "fully_encrypted", "xts_aes_256", full, 100, true };
	v[1] = (struct volume){ "fixed", "on", "fully_encrypted", "xts_aes_256", rp, 100, true };
	switch (machine_shape(bc, m)) {
	case BENCH_SHAPE_ENCRYPTED:
		break;
	case BENCH_SHAPE_ENCRYPTING:
		v[1].conversion = "encrypting";
		v[1].percent = 40;
		break;
	case BENCH_SHAPE_SUSPENDED:
		v[0].protection = "suspended";
		break;
	case BENCH_SHAPE_DECRYPTED:
		v[1] = (struct volume){ "fixed", "off", "fully_decrypted", "none", "", 0, false };
		break;
	default:
		v[0].method = v[1].method = "aes_cbc_128";
		break;
	}
}

/* One volume of the "volumes" list; returns the bytes written as snprintf. */
static int encode_volume(const struct bench_compliance *bc, uint64_t m, unsigned vol,
			 const struct volume *v, char *out, size_t size)
{
	char kid[37] = "";

	if (v->key)
		key_id(bc, m, vol, kid);
	return snprintf(out, size,
			"%s{\"volume_id\":" VOLUME_ID_JSON ",\"volume_type\":\"%s\","
			"\"protection\":\"%s\",\"conversion\":\"%s\",\"encryption_method\":\"%s\","
			"\"percent_encrypted\":%u,\"protectors\":[%s],\"key_ids\":[%s%s%s]}",
			vol ? "," : "", vol, v->type, v->protection, v->conversion, v->method,
			v->percent, v->protectors, v->key ? "\"" : "", kid, v->key ? "\"" : "");
}

size_t bench_compliance_encode(const struct bench_compliance *bc, uint64_t r, char *out,
			       size_t size)
{
	uint64_t m = machine_of(bc, r);
	struct volume v[2];
	size_t len;
	unsigned i;
	int n;

	machine_volumes(bc, m, v);
	n = snprintf(out, size, "{\"machine\":\"");
	if (n < 0 || (size_t)n >= size)
		return 0;
	len = (size_t)n;
	n = machine_name(bc, m, out + len, size - len);
	if (n < 0 || (size_t)n >= size - len)
		return 0;
	len += (size_t)n;
	n = snprintf(out + len, size - len,
		     "\",\"user\":\"BENCH\\\\user%" PRIu64 "\","
		     "\"os\":\"Windows 11 Enterprise 23H2\",\"volumes\":[",
		     m % 1000);
	if (n < 0 || (size_t)n >= size - len)
		return 0;
	len += (size_t)n;
	for (i = 0; i < 2; i++) {
		n = encode_volume(bc, m, i, &v[i], out + len, size - len);
		if (n < 0 || (size_t)n >= size - len)
			return 0;
		len += (size_t)n;
	}
	if (len + 3 > size)
		return 0;
	memcpy(out + len, "]}", 3);
	return len + 2;
}

bool bench_compliance_lists_key(const struct bench_compliance *bc, uint64_t m, unsigned vol)
{
	struct volume v[2];

	if (vol > 1)
		return false;
	machine_volumes(bc, m, v);
	return v[vol].key;
}

uint64_t bench_compliance_keys(const struct bench_compliance *bc, uint64_t n)
{
	uint64_t m, keys = 0;

	for (m = 0; m < n; m++)
		keys += 1 + (machine_shape(bc, m) != BENCH_SHAPE_DECRYPTED);
	return keys;
}

size_t bench_compliance_encode_escrow(const struct bench_compliance *bc, uint64_t m, unsigned vol,
				      char *out, size_t size)
{
	char kid[37], pw[56], name[BENCH_MACHINE_MAX + 1];
	struct volume v[2];
	int n;

	machine_volumes(bc, m, v);
	if (vol > 1 || !v[vol].key)
		return 0;
	n = machine_name(bc, m, name, sizeof(name));
	if (n < 0 || (size_t)n >= sizeof(name))
		return 0;
	key_id(bc, m, vol, kid);
	key_password(bc, m, vol, pw);
	n = snprintf(out, size,
		     "{\"key_id\":\"%s\",\"recovery_password\":\"%s\","
		     "\"volume_id\":" VOLUME_ID_JSON ",\"volume_type\":\"%s\","
		     "\"machine\":\"%s\",\"user\":\"BENCH\\\\user%" PRIu64 "\"}",
		     kid, pw, vol, v[vol].type, name, m % 1000);
	explicit_bzero(pw, sizeof(pw));
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

static const char *const verdict_names[BENCH_VERDICTS] = {
	"compliant", "noncompliant", "exempt", "unknown", "other",
};

enum bench_verdict bench_compliance_verdict(const char *body, size_t len)
{
	static const char key[] = "\"status\"";
	const char *p = body, *end = body + len, *q;
	size_t n;
	int v;

	for (;;) {
		q = memchr(p, '"', (size_t)(end - p));
		if (q == NULL || (size_t)(end - q) < sizeof(key) - 1)
			return BENCH_VERDICT_OTHER;
		if (memcmp(q, key, sizeof(key) - 1) == 0)
			break;
		p = q + 1;
	}
	p = q + sizeof(key) - 1;
	while (p < end && (*p == ' ' || *p == ':'))
		p++;
	if (p >= end || *p != '"')
		return BENCH_VERDICT_OTHER;
	p++;
	q = memchr(p, '"', (size_t)(end - p));
	if (q == NULL)
		return BENCH_VERDICT_OTHER;
	n = (size_t)(q - p);
	for (v = 0; v < BENCH_VERDICT_OTHER; v++)
		if (strlen(verdict_names[v]) == n && memcmp(p, verdict_names[v], n) == 0)
			return (enum bench_verdict)v;
	return BENCH_VERDICT_OTHER;
}

const char *bench_verdict_name(enum bench_verdict v)
{
	return v < BENCH_VERDICTS ? verdict_names[v] : "other";
}

const char *bench_shape_name(enum bench_shape s)
{
	static const char *const names[BENCH_SHAPES] = {
		"encrypted", "encrypting", "suspended", "decrypted", "aes_cbc_128",
	};

	return s < BENCH_SHAPES ? names[s] : "?";
}
