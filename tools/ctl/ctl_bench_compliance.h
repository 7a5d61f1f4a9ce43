/* The compliance reports of escrowctl bench --op compliance, and the verdicts in their answers. */
#ifndef ESCROW_CTL_BENCH_COMPLIANCE_H
#define ESCROW_CTL_BENCH_COMPLIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shapes of report, drawn per machine from the seed (percentages). */
enum bench_shape {
	BENCH_SHAPE_ENCRYPTED,  /* both volumes fully encrypted, protection on (70) */
	BENCH_SHAPE_ENCRYPTING, /* the fixed volume still encrypting, at 40 % (10) */
	BENCH_SHAPE_SUSPENDED,  /* the os volume's protection suspended (8) */
	BENCH_SHAPE_DECRYPTED,  /* the fixed volume decrypted, no protectors (7) */
	BENCH_SHAPE_CBC128,     /* both volumes in aes_cbc_128 (5) */
	BENCH_SHAPES
};

/* The verdicts an answer's "status" can hold; OTHER: none of them, or no
 * "status" found in the answer's first bytes. */
enum bench_verdict {
	BENCH_VERDICT_COMPLIANT,
	BENCH_VERDICT_NONCOMPLIANT,
	BENCH_VERDICT_EXEMPT,
	BENCH_VERDICT_UNKNOWN,
	BENCH_VERDICT_OTHER,
	BENCH_VERDICTS
};

/* What the reports of one run depend on. Request number r (0, 1, ... in
 * the order sent) reports machine m = r, or r % machines when machines is
 * not 0, named PREFIX-cC-N with C = m % clients and N = m / clients; the
 * machine's shape and user follow from seed and m alone, its key IDs and
 * their recovery passwords from seed and its name (in lower case), so a
 * machine reported again sends the same report and a key escrowed again
 * the same password. */
struct bench_compliance {
	uint64_t seed;
	uint64_t machines;  /* 0: every request a new machine */
	unsigned clients;   /* at least 1 */
	const char *prefix; /* borrowed */
};

/* The shape of request number r's report (see enum bench_shape). */
enum bench_shape bench_compliance_shape(const struct bench_compliance *bc, uint64_t r);

/* Writes the JSON body of request number r into out (size bytes, NUL
 * terminated). Returns its length, or 0 when it does not fit. */
size_t bench_compliance_encode(const struct bench_compliance *bc, uint64_t r, char *out,
			       size_t size);

/* Whether machine m's volume vol (0 the os volume, always; 1 the fixed
 * one) lists the ID of a recovery password in its reports. */
bool bench_compliance_lists_key(const struct bench_compliance *bc, uint64_t m, unsigned vol);

/* The recovery passwords the reports of machines 0..n-1 list. */
uint64_t bench_compliance_keys(const struct bench_compliance *bc, uint64_t n);

/* Writes the POST /v1/keys body that escrows the recovery password of
 * machine m's volume vol, as its agent would before encrypting: the key ID,
 * volume ID and type, machine name and user of its reports. Returns its
 * length, or 0 when it does not fit or the volume lists no key. */
size_t bench_compliance_encode_escrow(const struct bench_compliance *bc, uint64_t m, unsigned vol,
				      char *out, size_t size);

/* The verdict named by the first "status" member of an answer's first len
 * bytes (borrowed; need not be NUL terminated nor complete). */
enum bench_verdict bench_compliance_verdict(const char *body, size_t len);

/* "compliant", "noncompliant", "exempt", "unknown", "other". */
const char *bench_verdict_name(enum bench_verdict v);

/* "encrypted", "encrypting", "suspended", "decrypted", "aes_cbc_128". */
const char *bench_shape_name(enum bench_shape s);

#endif
