/* The verdict on a compliance report: pure rules over the report, the policy and the keys held. */
#ifndef ESCROW_JUDGE_H
#define ESCROW_JUDGE_H

#include <stdint.h>

#include "store/compliance.h"

/* What the store knows of a key a report lists. */
enum judge_key_state {
	JUDGE_KEY_MISSING = 0, /* not held for this machine (also any other answer) */
	JUDGE_KEY_HELD,        /* held for this machine, never disclosed */
	JUDGE_KEY_DISCLOSED,   /* held, and a helpdesk lookup disclosed it: spent */
};

/* Asks the caller about key_id (normalised) of machine (lower-case). Must be
 * pure for the verdict to be deterministic: the same answer for the same
 * arguments during one judge_report. */
typedef enum judge_key_state (*judge_key_fn)(void *data, const char *machine,
					     const char *key_id);

#define JUDGE_ROTATE_MAX (COMPLIANCE_VOLUMES_MAX * COMPLIANCE_KEY_IDS_MAX)

/* Compliant or not, and why. */
struct judge_verdict {
	uint8_t status;   /* COMPLIANCE_STATUS_COMPLIANT or _NONCOMPLIANT */
	uint32_t reasons; /* COMPLIANCE_REASON_* mask: every reason that applies */
	unsigned n_rotate;
	/* The listed keys that were disclosed, in report order (volume, then
	 * key_ids), each once. */
	char rotate_key_ids[JUDGE_ROTATE_MAX][VALIDATE_GUID_LEN + 1];
};

/*
 * The rules. "Protected" means conversion fully_encrypted and protection on;
 * "encrypted" means any conversion but fully_decrypted (encrypting,
 * decrypting and paused volumes hold encrypted data). percent_encrypted is
 * reported, not judged. Every reason that applies is set, not the first.
 *
 * | reason                          | set when                                              |
 * | ------------------------------- | ----------------------------------------------------- |
 * | os_volume_not_protected         | os_volume required, and the report has no os volume,  |
 * |                                 | or an os volume is not protected                      |
 * | fixed_volume_not_protected      | fixed_volumes required and a fixed volume is not      |
 * |                                 | protected (no fixed volume at all is fine)            |
 * | removable_volume_not_protected  | the same for removable_volumes and removable volumes  |
 * | protection_suspended            | any volume, of any type, has protection suspended     |
 * | encryption_method_not_allowed   | an encrypted volume's method is not in the policy's   |
 * |                                 | encryption_methods (fully_decrypted: not judged)      |
 * | os_protector_not_allowed        | os_protectors is not empty and an encrypted os volume |
 * |                                 | has none of them                                      |
 * | no_recovery_password            | an encrypted volume lists no key_ids                  |
 * | recovery_key_not_escrowed       | key_state says MISSING for a listed key (any volume)  |
 * | rotation_pending                | key_state says DISCLOSED for a listed key             |
 *
 * "optional" for a volume type means its volumes are not judged on being
 * protected (the two or three *_not_protected reasons); the other reasons
 * apply to every volume whatever the policy says of its type: a volume that
 * is encrypted must use an allowed method, list a recovery password and have
 * it escrowed, even where encryption is optional. A report may list more
 * than one os volume; each is judged.
 *
 * status: noncompliant with any reason, else compliant (exempt and unknown
 * are judged when read, by the clock: not here).
 */

/* Judges r (checked by compliance_report_check) against p, asking key_state
 * (with data) about each listed key, and fills *out. Pure and deterministic;
 * r, p and data are borrowed for the call. */
void judge_report(const struct compliance_report *r, const struct compliance_policy *p,
		  judge_key_fn key_state, void *data, struct judge_verdict *out);

#endif
