/* The binary form of a compliance report and a policy: what the replicated
 * commands carry and what the store keeps of a machine's latest report. */
#ifndef ESCROW_COMPLIANCE_WIRE_H
#define ESCROW_COMPLIANCE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "store/compliance.h"

/*
 * Report, format version 1, little-endian. A string is a u16 length L, then
 * L bytes without NUL:
 *
 *   u8   version (1)
 *   u8   number of volumes V (1-64)
 *   str  machine (lower-case, 1-253)
 *   str  user (0-256)
 *   str  os (0-128)
 *   V times:
 *     str  volume_id (1-128)
 *     u8   volume type, protection, conversion, method (store/compliance.h
 *          enum values), percent encrypted (0-100), number of key ids K (0-16)
 *     u32  protectors mask
 *     K times: 36 bytes, a key id as text (upper-case GUID, no braces)
 *
 * Policy, format version 1, 16 bytes:
 *
 *   0  u8   version (1)
 *   1  u8   os_volume, 2 u8 fixed_volumes, 3 u8 removable_volumes
 *   4  u32  allowed methods mask
 *   8  u32  os_protectors mask
 *  12  u16  stale_after_days
 *  14  u8   break-glass lookups: 0 allowed (the default, and what every
 *           encoder before this flag wrote), 1 refused; a node of an older
 *           build refuses a policy with 1 as corrupt: set it only once every
 *           node runs a build that knows it
 *  15  u8   reserved, 0
 *
 * A decoder accepts only what the encoder of a sound report or policy
 * writes: every length and value is checked, then the whole is held to
 * compliance_report_check or compliance_policy_check.
 */

#define COMPLIANCE_WIRE_VERSION 1
#define COMPLIANCE_WIRE_POLICY_SIZE 16

/* The largest encoded report: 64 volumes of 128-byte ids and 16 keys each. */
#define COMPLIANCE_WIRE_REPORT_MAX                                               \
	(2 + 3 * 2 + VALIDATE_MACHINE_MAX + VALIDATE_USER_MAX + COMPLIANCE_OS_MAX +    \
	 COMPLIANCE_VOLUMES_MAX * (2 + VALIDATE_VOLUME_ID_MAX + 6 + 4 +              \
				   COMPLIANCE_KEY_IDS_MAX * VALIDATE_GUID_LEN))

/* Bytes compliance_report_encode writes for r. */
size_t compliance_report_encoded_size(const struct compliance_report *r);

/* Encodes r (a report that passed compliance_report_check) into buf of size
 * bytes. Returns the bytes written, or 0 when buf is too small or r breaks
 * a bound (a programmer error). */
size_t compliance_report_encode(const struct compliance_report *r, uint8_t *buf, size_t size);

/* Decodes len bytes of buf (borrowed) into r. ESC_ECORRUPT, with errmsg
 * saying why, for anything its encoder would not write; ESC_EVERSION for an
 * unknown version. r is reset first. */
int compliance_report_decode(const uint8_t *buf, size_t len, struct compliance_report *r,
			     char *errmsg);

/* Encodes p (sound) into buf, COMPLIANCE_WIRE_POLICY_SIZE bytes. */
void compliance_policy_encode(const struct compliance_policy *p,
			      uint8_t buf[COMPLIANCE_WIRE_POLICY_SIZE]);

/* Decodes a policy: ESC_OK, ESC_EVERSION, or ESC_ECORRUPT with errmsg. */
int compliance_policy_decode(const uint8_t *buf, size_t len, struct compliance_policy *p,
			     char *errmsg);

#endif
