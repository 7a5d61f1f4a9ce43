/* Validation and normalisation of the data rules of docs/api.md section 4. */
#ifndef ESCROW_VALIDATE_H
#define ESCROW_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define VALIDATE_GUID_LEN 36        /* 8-4-4-4-12 hex digits joined by dashes */
#define VALIDATE_PASSWORD_LEN 55    /* 8 blocks of 6 digits and 7 dashes */
#define VALIDATE_VOLUME_ID_MAX 128
#define VALIDATE_MACHINE_MAX 253
#define VALIDATE_USER_MAX 256
#define VALIDATE_TPM_HASH_MAX 1024
#define VALIDATE_NOTE_MAX 1024
#define VALIDATE_REASON_MAX 31
#define VALIDATE_PREFIX_MIN 8
#define VALIDATE_PREFIX_MAX 32

/* Why a value was refused: a snake_case code for the API and a sentence. */
struct verr {
	char code[48]; /* e.g. "invalid_recovery_password_block" */
	char msg[192]; /* e.g. "recovery_password block 3 (123456) is not divisible by 11" */
};

/* Each validate_* returns true when the value obeys its rule; otherwise it
 * fills *e (when not NULL) and returns false. Inputs are NUL-terminated and
 * borrowed. */

/* GUID, hex in any case, braces allowed. On success writes the upper-case,
 * brace-less form into out (VALIDATE_GUID_LEN + 1 bytes). */
bool validate_key_id(const char *in, char *out, struct verr *e);

/* 48 digits in 8 blocks of 6 joined by '-', each block % 11 == 0 and
 * block / 11 < 65536. The error names the first wrong block (1-based). */
bool validate_recovery_password(const char *pw, struct verr *e);

bool validate_volume_id(const char *v, struct verr *e);   /* 1-128 printable */
bool validate_volume_type(const char *v, struct verr *e); /* os|fixed|removable */

/* DNS name, 1-253 of [A-Za-z0-9.-]. On success writes the lower-case form into
 * out (VALIDATE_MACHINE_MAX + 1 bytes): machines compare case-insensitively. */
bool validate_machine(const char *in, char *out, struct verr *e);

bool validate_user(const char *v, struct verr *e);           /* <= 256 chars */
bool validate_tpm_owner_hash(const char *v, struct verr *e); /* base64, <= 1024 */

/* Lookup reason code; "other" needs a non-empty note (note may be NULL). */
bool validate_reason(const char *reason, const char *note, struct verr *e);
bool validate_note(const char *note, struct verr *e); /* <= 1024 printable UTF-8 bytes */

/* 8-32 hex digits; writes the upper-case form into out (33 bytes). */
bool validate_prefix(const char *in, char *out, struct verr *e);

#define VALIDATE_ECHO_SIZE 28 /* 24 characters, "..." and the NUL */

/* Fills e (when not NULL) with code and a sentence made from fmt; returns
 * false, so that a check can end with "return validate_fail(...)". */
bool validate_fail(struct verr *e, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* For a message about a refused value (never a secret one): copies the start
 * of in, at most 24 characters, into out, anything unprintable as '?' and
 * "..." when cut short. Returns out. */
const char *validate_echo(const char *in, char out[VALIDATE_ECHO_SIZE]);

#endif
