/* The compliance data model: vocabularies, report and policy rules (see compliance.h). */
#include "store/compliance.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One vocabulary: its words in value order, the field it names in messages
 * and the code of a refusal. */
struct vocabulary {
	const char *field;
	const char *code;
	const char *const *names;
	unsigned count;
	bool mask; /* values are bits (1u << i); else i + 1 */
};

static const char *const volume_types[] = { "os", "fixed", "removable" };
static const char *const protections[] = { "on", "off", "suspended" };
static const char *const conversions[] = {
	"fully_encrypted", "encrypting", "decrypting", "fully_decrypted", "paused",
};
static const char *const methods[] = {
	"xts_aes_256", "xts_aes_128", "aes_cbc_256", "aes_cbc_128", "none",
};
static const char *const protectors[] = {
	"tpm", "tpm_pin", "tpm_startup_key", "tpm_pin_startup_key",
	"startup_key", "password", "recovery_password", "recovery_key",
};
static const char *const requirements[] = { "required", "optional" };
static const char *const reasons[] = {
	"os_volume_not_protected", "fixed_volume_not_protected",
	"removable_volume_not_protected", "protection_suspended",
	"encryption_method_not_allowed", "os_protector_not_allowed",
	"no_recovery_password", "recovery_key_not_escrowed", "rotation_pending",
};
static const char *const statuses[] = { "compliant", "noncompliant", "exempt", "unknown" };

#define WORDS(a) (a), (unsigned)(sizeof(a) / sizeof((a)[0]))

static const struct vocabulary vocabularies[COMPLIANCE_KIND__COUNT] = {
	[COMPLIANCE_KIND_VOLUME_TYPE] = { "volume_type", "invalid_volume_type",
					  WORDS(volume_types), false },
	[COMPLIANCE_KIND_PROTECTION] = { "protection", "invalid_protection",
					 WORDS(protections), false },
	[COMPLIANCE_KIND_CONVERSION] = { "conversion", "invalid_conversion",
					 WORDS(conversions), false },
	[COMPLIANCE_KIND_METHOD] = { "encryption_method", "invalid_encryption_method",
				     WORDS(methods), false },
	[COMPLIANCE_KIND_PROTECTOR] = { "protector", "invalid_protector",
					WORDS(protectors), true },
	[COMPLIANCE_KIND_REQUIREMENT] = { "requirement", "invalid_policy_requirement",
					  WORDS(requirements), false },
	[COMPLIANCE_KIND_REASON] = { "reason", "invalid_compliance_reason",
				     WORDS(reasons), true },
	[COMPLIANCE_KIND_STATUS] = { "status", "invalid_status",
				     WORDS(statuses), false },
};

/* Puts "where: " before the sentence already in e (from store/validate),
 * cutting the sentence short if both do not fit. */
static bool verr_within(struct verr *e, const char *where)
{
	size_t wlen, mlen;

	if (e == NULL)
		return false;
	wlen = strnlen(where, sizeof(e->msg) / 2);
	mlen = strnlen(e->msg, sizeof(e->msg) - 1);
	if (wlen + 2 + mlen >= sizeof(e->msg))
		mlen = sizeof(e->msg) - 1 - wlen - 2;
	memmove(e->msg + wlen + 2, e->msg, mlen);
	memcpy(e->msg, where, wlen);
	memcpy(e->msg + wlen, ": ", 2);
	e->msg[wlen + 2 + mlen] = '\0';
	return false;
}

static const struct vocabulary *vocabulary(enum compliance_kind kind)
{
	return (unsigned)kind < COMPLIANCE_KIND__COUNT ? &vocabularies[kind] : NULL;
}

static unsigned value_of(const struct vocabulary *v, unsigned i)
{
	return v->mask ? 1u << i : i + 1;
}

bool compliance_name_parse(enum compliance_kind kind, const char *name, unsigned *value)
{
	const struct vocabulary *v = vocabulary(kind);

	if (v == NULL || name == NULL)
		return false;
	for (unsigned i = 0; i < v->count; i++) {
		if (strcmp(name, v->names[i]) == 0) {
			*value = value_of(v, i);
			return true;
		}
	}
	return false;
}

bool compliance_name_read(enum compliance_kind kind, const char *name, const char *where,
			  unsigned *value, struct verr *e)
{
	const struct vocabulary *v = vocabulary(kind);
	char shown[VALIDATE_ECHO_SIZE], words[160];
	size_t used = 0;

	if (compliance_name_parse(kind, name, value))
		return true;
	if (v == NULL)
		return validate_fail(e, "invalid_kind", "%s: no such vocabulary.", where);
	words[0] = '\0';
	for (unsigned i = 0; i < v->count && used < sizeof(words); i++) {
		int n = snprintf(words + used, sizeof(words) - used, "%s%s",
				 i == 0 ? "" : ", ", v->names[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (name == NULL || name[0] == '\0')
		return validate_fail(e, v->code, "%s is empty; it must be one of %s.", where, words);
	return validate_fail(e, v->code, "%s \"%s\" is not one of %s.", where,
			validate_echo(name, shown), words);
}

const char *compliance_name(enum compliance_kind kind, unsigned value)
{
	const struct vocabulary *v = vocabulary(kind);

	if (v == NULL)
		return NULL;
	for (unsigned i = 0; i < v->count; i++) {
		if (value_of(v, i) == value)
			return v->names[i];
	}
	return NULL;
}

size_t compliance_mask_names(enum compliance_kind kind, uint32_t mask, const char **names,
			     size_t max)
{
	const struct vocabulary *v = vocabulary(kind);
	size_t n = 0;

	if (v == NULL)
		return 0;
	for (unsigned i = 0; i < v->count && n < max; i++) {
		unsigned value = value_of(v, i);
		uint32_t bit = v->mask ? value : COMPLIANCE_BIT(value);

		if (mask & bit)
			names[n++] = v->names[i];
	}
	return n;
}

bool compliance_reasons_join(uint32_t mask, const char *sep, char *out, size_t size)
{
	const char *names[sizeof(reasons) / sizeof(reasons[0])];
	size_t n = compliance_mask_names(COMPLIANCE_KIND_REASON, mask, names,
					 sizeof(names) / sizeof(names[0]));
	size_t used = 0, seplen = strlen(sep);

	if (size == 0)
		return false;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + (i > 0 ? seplen : 0);

		if (used + len >= size)
			return false;
		snprintf(out + used, size - used, "%s%s", i > 0 ? sep : "", names[i]);
		used += len;
	}
	return true;
}

/* The value of an enumerated field is one of its vocabulary's. */
static bool volume_value_check(enum compliance_kind kind, unsigned value, unsigned index,
			       struct verr *e)
{
	const struct vocabulary *v = vocabulary(kind);

	if (compliance_name(kind, value) != NULL)
		return true;
	return validate_fail(e, v->code, "volume %u has %s %u, which is not a known value.", index,
			v->field, value);
}

static bool volume_key_ids_check(const struct compliance_volume *v, unsigned index,
				 struct verr *e)
{
	char where[48];

	if (v->n_key_ids > COMPLIANCE_KEY_IDS_MAX)
		return validate_fail(e, "too_many_key_ids",
				"volume %u lists %u key_ids; at most %d are allowed.", index,
				v->n_key_ids, COMPLIANCE_KEY_IDS_MAX);
	for (unsigned k = 0; k < v->n_key_ids; k++) {
		char norm[VALIDATE_GUID_LEN + 1];
		const char *id = v->key_ids[k];

		snprintf(where, sizeof(where), "volume %u key_ids entry %u", index, k + 1);
		if (strnlen(id, sizeof(v->key_ids[k])) == sizeof(v->key_ids[k]))
			return validate_fail(e, "invalid_key_id", "%s is not terminated.", where);
		if (!validate_key_id(id, norm, e))
			return verr_within(e, where);
		if (strcmp(norm, id) != 0)
			return validate_fail(e, "invalid_key_id",
					"%s is not in its normal form (upper-case, no braces).",
					where);
	}
	return true;
}

static bool volume_check(const struct compliance_volume *v, unsigned index, struct verr *e)
{
	char where[32];

	snprintf(where, sizeof(where), "volume %u", index);
	if (strnlen(v->volume_id, sizeof(v->volume_id)) == sizeof(v->volume_id))
		return validate_fail(e, "invalid_volume_id", "%s: volume_id is not terminated.", where);
	if (!validate_volume_id(v->volume_id, e))
		return verr_within(e, where);
	if (!volume_value_check(COMPLIANCE_KIND_VOLUME_TYPE, v->volume_type, index, e) ||
	    !volume_value_check(COMPLIANCE_KIND_PROTECTION, v->protection, index, e) ||
	    !volume_value_check(COMPLIANCE_KIND_CONVERSION, v->conversion, index, e) ||
	    !volume_value_check(COMPLIANCE_KIND_METHOD, v->method, index, e))
		return false;
	if (v->percent > 100)
		return validate_fail(e, "invalid_percent_encrypted",
				"volume %u has percent_encrypted %u; it must be 0 to 100.", index,
				(unsigned)v->percent);
	if (v->protectors & ~COMPLIANCE_PROTECTORS_ALL)
		return validate_fail(e, "invalid_protector",
				"volume %u has protector bits 0x%x that name no protector.", index,
				(unsigned)(v->protectors & ~COMPLIANCE_PROTECTORS_ALL));
	return volume_key_ids_check(v, index, e);
}

/* machine, user and os: the fields that are not per volume. */
static bool report_header_check(const struct compliance_report *r, struct verr *e)
{
	char norm[VALIDATE_MACHINE_MAX + 1];

	if (strnlen(r->machine, sizeof(r->machine)) == sizeof(r->machine))
		return validate_fail(e, "invalid_machine", "machine is not terminated.");
	if (!validate_machine(r->machine, norm, e))
		return false;
	if (strcmp(norm, r->machine) != 0)
		return validate_fail(e, "invalid_machine",
				"machine is not in its normal form (lower-case).");
	if (strnlen(r->user, sizeof(r->user)) == sizeof(r->user))
		return validate_fail(e, "invalid_user", "user is not terminated.");
	if (!validate_user(r->user, e))
		return false;
	if (strnlen(r->os, sizeof(r->os)) == sizeof(r->os))
		return validate_fail(e, "invalid_os", "os is longer than %d bytes.", COMPLIANCE_OS_MAX);
	if (!validate_note(r->os, NULL))
		return validate_fail(e, "invalid_os",
				"os holds a control character or is not valid UTF-8.");
	return true;
}

static bool duplicate(const char *volume_id, unsigned index, unsigned first, struct verr *e)
{
	char shown[VALIDATE_ECHO_SIZE];

	return validate_fail(e, "duplicate_volume_id",
			"volume %u repeats the volume_id \"%s\" of volume %u.", index,
			validate_echo(volume_id, shown), first);
}

bool compliance_report_check(const struct compliance_report *r, struct verr *e)
{
	if (!report_header_check(r, e))
		return false;
	if (r->n_volumes < 1 || r->n_volumes > COMPLIANCE_VOLUMES_MAX)
		return validate_fail(e, "invalid_volumes",
				"a report lists 1 to %d volumes; this one lists %u.",
				COMPLIANCE_VOLUMES_MAX, r->n_volumes);
	for (unsigned i = 0; i < r->n_volumes; i++) {
		if (!volume_check(&r->volumes[i], i + 1, e))
			return false;
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(r->volumes[i].volume_id, r->volumes[j].volume_id) == 0)
				return duplicate(r->volumes[i].volume_id, i + 1, j + 1, e);
		}
	}
	return true;
}

void compliance_policy_default(struct compliance_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->os_volume = COMPLIANCE_REQUIRED;
	p->fixed_volumes = COMPLIANCE_OPTIONAL;
	p->removable_volumes = COMPLIANCE_OPTIONAL;
	p->methods = COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_256) |
		     COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_128) |
		     COMPLIANCE_BIT(COMPLIANCE_METHOD_AES_CBC_256) |
		     COMPLIANCE_BIT(COMPLIANCE_METHOD_AES_CBC_128);
	p->os_protectors = 0;
	p->stale_after_days = 14;
}

static bool requirement_check(unsigned value, const char *field, struct verr *e)
{
	if (compliance_name(COMPLIANCE_KIND_REQUIREMENT, value) != NULL)
		return true;
	return validate_fail(e, "invalid_policy_requirement",
			"policy %s is %u; it must be required or optional.", field, value);
}

bool compliance_policy_check(const struct compliance_policy *p, struct verr *e)
{
	uint32_t all_methods = 0;

	for (unsigned m = COMPLIANCE_METHOD_XTS_AES_256; m <= COMPLIANCE_METHOD_NONE; m++)
		all_methods |= COMPLIANCE_BIT(m);
	if (!requirement_check(p->os_volume, "os_volume", e) ||
	    !requirement_check(p->fixed_volumes, "fixed_volumes", e) ||
	    !requirement_check(p->removable_volumes, "removable_volumes", e))
		return false;
	if (p->methods == 0)
		return validate_fail(e, "invalid_encryption_method",
				"policy encryption_methods is empty; it must allow at least one "
				"method.");
	if (p->methods & ~all_methods)
		return validate_fail(e, "invalid_encryption_method",
				"policy encryption_methods has bits 0x%x that name no method.",
				(unsigned)(p->methods & ~all_methods));
	if (p->os_protectors & ~COMPLIANCE_PROTECTORS_ALL)
		return validate_fail(e, "invalid_protector",
				"policy os_protectors has bits 0x%x that name no protector.",
				(unsigned)(p->os_protectors & ~COMPLIANCE_PROTECTORS_ALL));
	if (p->stale_after_days < COMPLIANCE_STALE_DAYS_MIN ||
	    p->stale_after_days > COMPLIANCE_STALE_DAYS_MAX)
		return validate_fail(e, "invalid_stale_after_days",
				"policy stale_after_days is %u; it must be %d to %d.",
				(unsigned)p->stale_after_days, COMPLIANCE_STALE_DAYS_MIN,
				COMPLIANCE_STALE_DAYS_MAX);
	return true;
}
