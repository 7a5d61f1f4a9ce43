/* escrowctl bench --op compliance: a machine's report of an os and a fixed
 * volume, in one of a few shapes drawn from a seed, and the verdict read
 * back from the answer. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tools/ctl/ctl_bench_compliance.h"

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

enum bench_shape bench_compliance_shape(const struct bench_compliance *bc, uint64_t r)
{
	unsigned pct = (unsigned)(mix64(bc->seed ^ mix64(machine_of(bc, r))) % 100);
	int s;

	for (s = 0; s < BENCH_SHAPES - 1; s++)
		if (pct < shape_cut[s])
			break;
	return (enum bench_shape)s;
}

/* The recovery-password protector ID of machine m's volume vol: a GUID
 * (version 4 layout) from seed, m and vol. */
static void key_id(const struct bench_compliance *bc, uint64_t m, unsigned vol, char out[37])
{
	uint64_t a = mix64(bc->seed ^ mix64(m * 2 + vol + 1));
	uint64_t b = mix64(a ^ bc->seed);

	snprintf(out, 37, "%08" PRIX64 "-%04" PRIX64 "-4%03" PRIX64 "-%04" PRIX64 "-%012" PRIX64,
		 a >> 32, (a >> 16) & 0xffff, a & 0xfff, 0x8000 | ((b >> 48) & 0x3fff),
		 (uint64_t)(b & 0xffffffffffffULL));
}

struct volume {
	const char *type, *protection, *conversion, *method, *protectors;
	unsigned percent;
	bool key;               /* lists its recovery password's ID */
};

/* One volume of the "volumes" list; returns the bytes written as snprintf. */
static int encode_volume(const struct bench_compliance *bc, uint64_t m, unsigned vol,
			 const struct volume *v, char *out, size_t size)
{
	char kid[37] = "";

	if (v->key)
		key_id(bc, m, vol, kid);
	return snprintf(out, size,
			"%s{\"volume_id\":\"\\\\\\\\?\\\\Volume{bench-%u}\",\"volume_type\":\"%s\","
			"\"protection\":\"%s\",\"conversion\":\"%s\",\"encryption_method\":\"%s\","
			"\"percent_encrypted\":%u,\"protectors\":[%s],\"key_ids\":[%s%s%s]}",
			vol ? "," : "", vol, v->type, v->protection, v->conversion, v->method,
			v->percent, v->protectors, v->key ? "\"" : "", kid, v->key ? "\"" : "");
}

size_t bench_compliance_encode(const struct bench_compliance *bc, uint64_t r, char *out,
			       size_t size)
{
	static const char *full = "\"tpm_pin\",\"recovery_password\"";
	uint64_t m = machine_of(bc, r);
	struct volume v[2] = {
		{ "os", "on", "fully_encrypted", "xts_aes_256", full, 100, true },
		{ "fixed", "on", "fully_encrypted", "xts_aes_256", "\"recovery_password\"", 100,
		  true },
	};
	size_t len;
	unsigned i;
	int n;

	switch (bench_compliance_shape(bc, r)) {
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
	n = snprintf(out, size,
		     "{\"machine\":\"%s-c%u-%" PRIu64 "\",\"user\":\"BENCH\\\\user%" PRIu64 "\","
		     "\"os\":\"Windows 11 Enterprise 23H2\",\"volumes\":[", bc->prefix,
		     (unsigned)(m % bc->clients), m / bc->clients, m % 1000);
	if (n < 0 || (size_t)n >= size)
		return 0;
	len = (size_t)n;
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
