/* The verdict on a compliance report (the rules are the table in judge.h). */
#include "store/judge.h"

#include <stdbool.h>
#include <string.h>

static bool is_protected(const struct compliance_volume *v)
{
	return v->conversion == COMPLIANCE_CONVERSION_FULLY_ENCRYPTED &&
	       v->protection == COMPLIANCE_PROTECTION_ON;
}

static bool is_encrypted(const struct compliance_volume *v)
{
	return v->conversion != COMPLIANCE_CONVERSION_FULLY_DECRYPTED;
}

/* The *_not_protected reason for a volume type, and whether the policy
 * requires that type. */
static uint32_t unprotected_reason(const struct compliance_policy *p, unsigned type,
				   bool *required)
{
	switch (type) {
	case COMPLIANCE_VOLUME_OS:
		*required = p->os_volume == COMPLIANCE_REQUIRED;
		return COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED;
	case COMPLIANCE_VOLUME_FIXED:
		*required = p->fixed_volumes == COMPLIANCE_REQUIRED;
		return COMPLIANCE_REASON_FIXED_VOLUME_NOT_PROTECTED;
	case COMPLIANCE_VOLUME_REMOVABLE:
		*required = p->removable_volumes == COMPLIANCE_REQUIRED;
		return COMPLIANCE_REASON_REMOVABLE_VOLUME_NOT_PROTECTED;
	default:
		*required = false;
		return 0;
	}
}

/* The reasons one volume gives on its own, keys aside. */
static uint32_t volume_reasons(const struct compliance_volume *v,
			       const struct compliance_policy *p)
{
	uint32_t reasons = 0;
	bool required;
	uint32_t unprotected = unprotected_reason(p, v->volume_type, &required);

	if (required && !is_protected(v))
		reasons |= unprotected;
	if (v->protection == COMPLIANCE_PROTECTION_SUSPENDED)
		reasons |= COMPLIANCE_REASON_PROTECTION_SUSPENDED;
	if (!is_encrypted(v))
		return reasons;
	if (v->method >= 32 || (p->methods & COMPLIANCE_BIT(v->method)) == 0)
		reasons |= COMPLIANCE_REASON_ENCRYPTION_METHOD_NOT_ALLOWED;
	if (v->volume_type == COMPLIANCE_VOLUME_OS && p->os_protectors != 0 &&
	    (v->protectors & p->os_protectors) == 0)
		reasons |= COMPLIANCE_REASON_OS_PROTECTOR_NOT_ALLOWED;
	if (v->n_key_ids == 0)
		reasons |= COMPLIANCE_REASON_NO_RECOVERY_PASSWORD;
	return reasons;
}

static void rotate_add(struct judge_verdict *out, const char *key_id)
{
	for (unsigned i = 0; i < out->n_rotate; i++) {
		if (strcmp(out->rotate_key_ids[i], key_id) == 0)
			return;
	}
	if (out->n_rotate < JUDGE_ROTATE_MAX) {
		memcpy(out->rotate_key_ids[out->n_rotate], key_id, VALIDATE_GUID_LEN);
		out->rotate_key_ids[out->n_rotate][VALIDATE_GUID_LEN] = '\0';
		out->n_rotate++;
	}
}

/* Asks about every key the volume lists. */
static uint32_t key_reasons(const struct compliance_report *r, const struct compliance_volume *v,
			    judge_key_fn key_state, void *data, struct judge_verdict *out)
{
	uint32_t reasons = 0;
	unsigned n = v->n_key_ids <= COMPLIANCE_KEY_IDS_MAX ? v->n_key_ids : COMPLIANCE_KEY_IDS_MAX;

	for (unsigned k = 0; k < n; k++) {
		switch (key_state(data, r->machine, v->key_ids[k])) {
		case JUDGE_KEY_HELD:
			break;
		case JUDGE_KEY_DISCLOSED:
			reasons |= COMPLIANCE_REASON_ROTATION_PENDING;
			rotate_add(out, v->key_ids[k]);
			break;
		case JUDGE_KEY_MISSING:
		default:
			reasons |= COMPLIANCE_REASON_RECOVERY_KEY_NOT_ESCROWED;
			break;
		}
	}
	return reasons;
}

void judge_report(const struct compliance_report *r, const struct compliance_policy *p,
		  judge_key_fn key_state, void *data, struct judge_verdict *out)
{
	unsigned n = r->n_volumes <= COMPLIANCE_VOLUMES_MAX ? r->n_volumes : COMPLIANCE_VOLUMES_MAX;
	bool has_os = false;

	out->reasons = 0;
	out->n_rotate = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct compliance_volume *v = &r->volumes[i];

		has_os = has_os || v->volume_type == COMPLIANCE_VOLUME_OS;
		out->reasons |= volume_reasons(v, p);
		out->reasons |= key_reasons(r, v, key_state, data, out);
	}
	if (!has_os && p->os_volume == COMPLIANCE_REQUIRED)
		out->reasons |= COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED;
	out->status = out->reasons != 0 ? COMPLIANCE_STATUS_NONCOMPLIANT
					: COMPLIANCE_STATUS_COMPLIANT;
}
