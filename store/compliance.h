/* The compliance data model: reports, the policy, their words and rules (API.md section 1). */
#ifndef ESCROW_COMPLIANCE_H
#define ESCROW_COMPLIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/validate.h"

#define COMPLIANCE_VOLUMES_MAX 64
#define COMPLIANCE_KEY_IDS_MAX 16
#define COMPLIANCE_OS_MAX 128 /* bytes of printable UTF-8 */
#define COMPLIANCE_STALE_DAYS_MIN 1
#define COMPLIANCE_STALE_DAYS_MAX 365

/* Every reason's name joined by a separator of up to 4 bytes fits (221 bytes with ";"). */
#define COMPLIANCE_REASONS_TEXT_SIZE 256

/* The bit of an enumerated value in a set of them (the policy's allowed methods). */
#define COMPLIANCE_BIT(v) (1u << (v))

/* Enumerated values start at 1, so that a zeroed volume or policy is refused
 * by the checks below rather than read as "os, on, fully_encrypted". The
 * numbers are part of later formats (command codec, schema): append only. */
enum compliance_volume_type {
	COMPLIANCE_VOLUME_OS = 1,
	COMPLIANCE_VOLUME_FIXED,
	COMPLIANCE_VOLUME_REMOVABLE,
};

enum compliance_protection {
	COMPLIANCE_PROTECTION_ON = 1,
	COMPLIANCE_PROTECTION_OFF,
	COMPLIANCE_PROTECTION_SUSPENDED,
};

enum compliance_conversion {
	COMPLIANCE_CONVERSION_FULLY_ENCRYPTED = 1,
	COMPLIANCE_CONVERSION_ENCRYPTING,
	COMPLIANCE_CONVERSION_DECRYPTING,
	COMPLIANCE_CONVERSION_FULLY_DECRYPTED,
	COMPLIANCE_CONVERSION_PAUSED,
};

enum compliance_method {
	COMPLIANCE_METHOD_XTS_AES_256 = 1,
	COMPLIANCE_METHOD_XTS_AES_128,
	COMPLIANCE_METHOD_AES_CBC_256,
	COMPLIANCE_METHOD_AES_CBC_128,
	COMPLIANCE_METHOD_NONE,
};

/* Key protectors: bits of a mask. */
enum compliance_protector {
	COMPLIANCE_PROTECTOR_TPM = 1u << 0,
	COMPLIANCE_PROTECTOR_TPM_PIN = 1u << 1,
	COMPLIANCE_PROTECTOR_TPM_STARTUP_KEY = 1u << 2,
	COMPLIANCE_PROTECTOR_TPM_PIN_STARTUP_KEY = 1u << 3,
	COMPLIANCE_PROTECTOR_STARTUP_KEY = 1u << 4,
	COMPLIANCE_PROTECTOR_PASSWORD = 1u << 5,
	COMPLIANCE_PROTECTOR_RECOVERY_PASSWORD = 1u << 6,
	COMPLIANCE_PROTECTOR_RECOVERY_KEY = 1u << 7,
};
#define COMPLIANCE_PROTECTORS_ALL 0xffu

enum compliance_requirement {
	COMPLIANCE_REQUIRED = 1,
	COMPLIANCE_OPTIONAL,
};

/* Why a report is noncompliant: bits of a mask, in the order reasons are
 * listed (JSON arrays, CSV). store/judge.h says when each applies. */
enum compliance_reason {
	COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED = 1u << 0,
	COMPLIANCE_REASON_FIXED_VOLUME_NOT_PROTECTED = 1u << 1,
	COMPLIANCE_REASON_REMOVABLE_VOLUME_NOT_PROTECTED = 1u << 2,
	COMPLIANCE_REASON_PROTECTION_SUSPENDED = 1u << 3,
	COMPLIANCE_REASON_ENCRYPTION_METHOD_NOT_ALLOWED = 1u << 4,
	COMPLIANCE_REASON_OS_PROTECTOR_NOT_ALLOWED = 1u << 5,
	COMPLIANCE_REASON_NO_RECOVERY_PASSWORD = 1u << 6,
	COMPLIANCE_REASON_RECOVERY_KEY_NOT_ESCROWED = 1u << 7,
	COMPLIANCE_REASON_ROTATION_PENDING = 1u << 8,
};
#define COMPLIANCE_REASONS_ALL 0x1ffu

enum compliance_status {
	COMPLIANCE_STATUS_COMPLIANT = 1,
	COMPLIANCE_STATUS_NONCOMPLIANT,
	COMPLIANCE_STATUS_EXEMPT,
	COMPLIANCE_STATUS_UNKNOWN,
};

/* The vocabularies above, for the name lookups. */
enum compliance_kind {
	COMPLIANCE_KIND_VOLUME_TYPE, /* os, fixed, removable */
	COMPLIANCE_KIND_PROTECTION,  /* on, off, suspended */
	COMPLIANCE_KIND_CONVERSION,  /* fully_encrypted, ..., paused */
	COMPLIANCE_KIND_METHOD,      /* xts_aes_256, ..., none */
	COMPLIANCE_KIND_PROTECTOR,   /* a mask kind: values are bits */
	COMPLIANCE_KIND_REQUIREMENT, /* required, optional */
	COMPLIANCE_KIND_REASON,      /* a mask kind: values are bits */
	COMPLIANCE_KIND_STATUS,      /* compliant, noncompliant, exempt, unknown */
	COMPLIANCE_KIND__COUNT
};

/* One volume of a report. Every string is NUL-terminated within its array. */
struct compliance_volume {
	char volume_id[VALIDATE_VOLUME_ID_MAX + 1];
	uint8_t volume_type;   /* enum compliance_volume_type */
	uint8_t protection;    /* enum compliance_protection */
	uint8_t conversion;    /* enum compliance_conversion */
	uint8_t method;        /* enum compliance_method */
	uint8_t percent;       /* percent_encrypted, 0-100 (reported, not judged) */
	uint32_t protectors;   /* COMPLIANCE_PROTECTOR_* mask */
	unsigned n_key_ids;    /* 0-COMPLIANCE_KEY_IDS_MAX */
	char key_ids[COMPLIANCE_KEY_IDS_MAX][VALIDATE_GUID_LEN + 1]; /* upper-case, no braces */
};

/* A machine's compliance report (POST /v1/compliance), fixed size, no heap. */
struct compliance_report {
	char machine[VALIDATE_MACHINE_MAX + 1]; /* lower-case */
	char user[VALIDATE_USER_MAX + 1];       /* "" when not given */
	char os[COMPLIANCE_OS_MAX + 1];         /* "" when not given */
	unsigned n_volumes;                     /* 1-COMPLIANCE_VOLUMES_MAX */
	struct compliance_volume volumes[COMPLIANCE_VOLUMES_MAX];
};

/* The cluster's compliance policy (GET/PUT /v1/policy). */
struct compliance_policy {
	uint8_t os_volume;          /* enum compliance_requirement */
	uint8_t fixed_volumes;      /* enum compliance_requirement */
	uint8_t removable_volumes;  /* enum compliance_requirement */
	uint32_t methods;           /* allowed: COMPLIANCE_BIT(enum compliance_method), not empty */
	uint32_t os_protectors;     /* COMPLIANCE_PROTECTOR_* mask; 0: any */
	uint16_t stale_after_days;  /* COMPLIANCE_STALE_DAYS_MIN-MAX */
	bool break_glass_off;       /* break-glass lookups refused (default: allowed) */
};

/* Looks name up in kind's vocabulary (exact, case-sensitive): true and *value
 * set (the enum value, or the bit for a mask kind), else false. */
bool compliance_name_parse(enum compliance_kind kind, const char *name, unsigned *value);

/* Like compliance_name_parse, but a refusal fills e (when not NULL) with the
 * kind's code (invalid_volume_type, invalid_protection, invalid_conversion,
 * invalid_encryption_method, invalid_protector, invalid_policy_requirement,
 * invalid_compliance_reason, invalid_status) and a sentence that starts with where
 * ("volume 2 protection"), echoes the printable part of name, cut short,
 * and lists the words allowed. */
bool compliance_name_read(enum compliance_kind kind, const char *name, const char *where,
			  unsigned *value, struct verr *e);

/* The name of value in kind's vocabulary (a single bit for a mask kind), a
 * static string; NULL for a value outside it. */
const char *compliance_name(enum compliance_kind kind, unsigned value);

/* Writes to names the names of the values in mask, in the vocabulary's
 * order, at most max of them; returns how many. For a mask kind the mask
 * holds its bits; for the others COMPLIANCE_BIT(value). Unknown bits are
 * skipped. The strings are static. */
size_t compliance_mask_names(enum compliance_kind kind, uint32_t mask, const char **names,
			     size_t max);

/* Writes the names of the reasons in mask, in the fixed order, joined by sep,
 * into out (size bytes, NUL-terminated, "" for no reason). false if they did
 * not fit (out then holds what did, cut at a name). */
bool compliance_reasons_join(uint32_t mask, const char *sep, char *out, size_t size);

/* Checks every rule that needs no JSON: machine (valid, lower-case), user,
 * os (at most COMPLIANCE_OS_MAX bytes of printable UTF-8), 1-64 volumes
 * (invalid_volumes), and per volume: volume_id valid (invalid_volume_id) and
 * unique within the report, compared exactly (duplicate_volume_id); each
 * enumerated field a known value (invalid_volume_type, invalid_protection,
 * invalid_conversion, invalid_encryption_method); percent 0-100
 * (invalid_percent_encrypted); protectors known bits (invalid_protector);
 * 0-16 key ids (too_many_key_ids), each a normalised GUID (invalid_key_id).
 * true when sound; else false with e (when not NULL) naming the first
 * broken rule and the volume by its 1-based index. r is borrowed. */
bool compliance_report_check(const struct compliance_report *r, struct verr *e);

/* The policy in force until an operator sets one (API.md section 1):
 * os_volume required, fixed and removable optional, every method but none
 * allowed, any protector, stale after 14 days. */
void compliance_policy_default(struct compliance_policy *p);

/* Checks a policy: each requirement known (invalid_policy_requirement), at
 * least one method and only known ones (invalid_encryption_method), known
 * protector bits (invalid_protector), stale_after_days 1-365
 * (invalid_stale_after_days). true when sound; else false with e set. */
bool compliance_policy_check(const struct compliance_policy *p, struct verr *e);

#endif
