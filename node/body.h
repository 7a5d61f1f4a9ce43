/* JSON request bodies of the API, read into commands: no I/O, no state, so
 * that the fuzzer (tests/fuzz_body.c) reaches exactly what a client does. */
#ifndef ESCROW_BODY_H
#define ESCROW_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "node/options.h"
#include "store/command.h"
#include "store/validate.h"

#define BODY_PASSWORD_SIZE 128  /* longer passwords are refused before validation */

/* POST /v1/keys: parses len bytes of body (a JSON object, duplicate names
 * refused), checks every field by the data rules (docs/api.md section 4) and fills c's key_id,
 * volume_id, volume_type, machine, user and tpm_owner_hash (normalised) and
 * pw with the plain recovery password (the caller seals it, then wipes pw).
 * false with e set (invalid_json, missing_field, invalid_type, invalid_*). */
bool body_escrow(const char *body, size_t len, struct cmd *c, char pw[BODY_PASSWORD_SIZE],
		 struct verr *e);

/* POST /v1/cluster/members: {"id": 1-65535, "raft": "IPV4:PORT", "api":
 * "IPV4:PORT", "role": "voter"} (role optional) into m; false if not so. */
bool body_member(const char *body, size_t len, struct bootstrap_member *m);

/* POST /v1/cluster/transfer: {"id": N} or {} (*id 0: the most caught-up
 * voter); false if not so. */
bool body_transfer(const char *body, size_t len, unsigned *id);

#endif
