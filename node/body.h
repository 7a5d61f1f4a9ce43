/* JSON request bodies of the API, read into commands: no I/O, no state, so
 * that the fuzzer (tests/fuzz_body.c) reaches exactly what a client does. */
#ifndef ESCROW_BODY_H
#define ESCROW_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/options.h"
#include "store/command.h"
#include "store/compliance.h"
#include "store/validate.h"

#define BODY_PASSWORD_SIZE 128  /* longer passwords are refused before validation */

/* POST /v1/keys: parses len bytes of body (a JSON object, duplicate names
 * refused), checks every field by the data rules (docs/api.md section 4) and fills c's key_id,
 * volume_id, volume_type, machine, user and tpm_owner_hash (normalised) and
 * pw with the plain recovery password (the caller seals it, then wipes pw).
 * false with e set (invalid_json, missing_field, invalid_type, invalid_*). */
bool body_escrow(const char *body, size_t len, struct cmd *c, char pw[BODY_PASSWORD_SIZE],
		 struct verr *e);

/* POST /v1/cluster/members: {"id": 1-65535, "raft": "HOST:PORT", "api":
 * "HOST:PORT", "role": "voter"} (role optional; addresses as netaddr_parse
 * takes them) into m; false if not so. */
bool body_member(const char *body, size_t len, struct bootstrap_member *m);

/* POST /v1/cluster/transfer: {"id": N} or {} (*id 0: the most caught-up
 * voter); false if not so. */
bool body_transfer(const char *body, size_t len, unsigned *id);

/* The compliance service's bodies (node/body_compliance.c). Each parses len
 * bytes of body as a JSON object, duplicate names refused (invalid_json),
 * unknown fields refused, types checked (invalid_type: a string where a
 * string is due, an array of strings where a list is, a JSON integer where a
 * number is: 100.0 and "100" are refused), and returns false with e set to
 * the first broken rule. body is borrowed; nothing is kept. */

/* POST /v1/compliance (API.md section 1) into *r: machine (required,
 * lower-cased), user and os (optional; null is absent), volumes (required,
 * 1-64: invalid_volumes). Each volume: volume_id, volume_type, protection,
 * conversion, encryption_method (unknown words: invalid_<field>) and
 * percent_encrypted (0-100: invalid_percent_encrypted) required; protectors
 * (invalid_protector) and key_ids (at most 16: too_many_key_ids; GUIDs,
 * normalised: invalid_key_id) optional, absent meaning none. Other codes:
 * missing_field, unknown_field, and those of compliance_report_check
 * (duplicate_volume_id, invalid_os, ...). Messages name a volume by its
 * 1-based index. *r is written even on failure. */
bool body_compliance(const char *body, size_t len, struct compliance_report *r, struct verr *e);

/* PUT /v1/policy into *p: the fields of the policy, each optional: a missing
 * one (or null) takes its default (compliance_policy_default), so {} is the
 * default policy. Unknown fields: unknown_policy_field; requirements
 * required|optional (invalid_policy_requirement); encryption_methods a
 * non-empty list of methods and os_protectors a list of protectors, repeats
 * allowed (invalid_encryption_method, invalid_protector);
 * stale_after_days 1-365 (invalid_stale_after_days). *p is set only on
 * success. */
bool body_policy(const char *body, size_t len, struct compliance_policy *p, struct verr *e);

/* POST /v1/machines/{machine}/exemption: {"until": RFC 3339, "note": T}.
 * until is required: YYYY-MM-DDTHH:MM:SS, optional fraction (kept to the
 * millisecond), then Z or an offset +hh:mm/-hh:mm ('t' and 'z' accepted);
 * unparseable or not after now_ms (ms since the epoch): invalid_until. note
 * is optional ("" when absent), checked by validate_note and copied into
 * note (note_size bytes; longer: invalid_note). Unknown fields:
 * unknown_field. *until_ms and note are set only on success. */
bool body_exemption(const char *body, size_t len, int64_t now_ms, int64_t *until_ms, char *note,
		    size_t note_size, struct verr *e);

#endif
