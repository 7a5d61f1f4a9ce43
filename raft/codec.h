/* The wire format of replicated commands: versioned, bounded, padded to 8 bytes. */
#ifndef ESCROW_CODEC_H
#define ESCROW_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "store/command.h"

/*
 * Format version 1, little-endian:
 *
 *   0  u8   version (1)
 *   1  u8   type (enum cmd_type)
 *   2  u16  reserved, 0
 *   4  u32  body length B (bytes after this 24-byte header, before padding)
 *   8  u32  node id
 *  12  u32  reserved, 0
 *  16  i64  at_ms
 *  24  body: fields, each u16 length L then L bytes, in a fixed order per
 *      type (see codec.c); strings carry no NUL; each length is checked
 *      against the field's bound; an integer field (CMD_EXEMPT's until_ms,
 *      CMD_REJUDGE's policy_index) is L = 8 bytes, little-endian; a payload
 *      (CMD_COMPLIANCE, CMD_POLICY) is the report or policy in
 *      store/compliance_wire.h's format, up to 65535 bytes
 *  24+B zero padding up to a multiple of 8 bytes
 *
 * Byte 0 is the version in every version to come: a reader looks at it
 * before anything else, and stops at one newer than it knows.
 *
 * libraft 0.15 corrupts entries whose length is not a multiple of 8 (see
 * research/libraft-spike.md 3.1), so every encoding is padded and the
 * decoder refuses any other length.
 */

/* The newest format version this build knows, and the one it writes. A
 * later build that changes a command's meaning or adds a type raises it;
 * an entry of a newer version is never applied nor skipped here
 * (codec_check_version). tests/test_upgrade.py builds an escrowd with the
 * next version by defining it on the command line. */
#ifndef CODEC_VERSION
#define CODEC_VERSION 2
#endif
#define CODEC_VERSION_BREAK_GLASS 2 /* the version that added CMD_BREAK_GLASS */
#define CODEC_HEADER_SIZE 24

/* CODEC_VERSION of the codec linked in, for the logs and /v1/status. */
extern const unsigned codec_version;

/* Bytes codec_encode will write for c (a multiple of 8). */
size_t codec_encoded_size(const struct cmd *c);

/* Encodes c into buf, which holds size >= codec_encoded_size(c) bytes.
 * Returns the number of bytes written, or 0 if c holds an unknown type or a
 * string that does not fit its bound (a programmer error). */
size_t codec_encode(const struct cmd *c, void *buf, size_t size);

/* ESC_EVERSION when buf (len bytes, borrowed) is a command of a format
 * version newer than CODEC_VERSION, with errmsg naming both versions;
 * ESC_OK otherwise (also for bytes too short to say: the decoder judges
 * those). A node that meets such an entry must stop: it would misapply it,
 * and skipping it would make its state differ from the upgraded nodes'. */
int codec_check_version(const void *buf, size_t len, char *errmsg);

/* Decodes len bytes of buf (borrowed), a command of format version 1 to
 * CODEC_VERSION, into c. ESC_ECORRUPT for a length that is not a multiple
 * of 8, a truncated header or field, a length over its field's bound, a NUL
 * inside a string, non-zero padding or reserved bytes, or trailing bytes;
 * ESC_EVERSION for an unknown version (0 or newer) or type. errmsg says
 * which. c is fully reset first. c->payload points into buf: keep buf
 * while c is used. */
int codec_decode(const void *buf, size_t len, struct cmd *c, char *errmsg);

#endif
