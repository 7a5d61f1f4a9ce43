/* The JSON helpers node/body.c shares with the other body parsers (node/body_*.c). */
#ifndef ESCROW_BODY_INTERNAL_H
#define ESCROW_BODY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/validate.h"

/* Parses len bytes of body as a JSON object, duplicate names refused at
 * every depth. Returns the object (the caller json_decref's it), or NULL
 * with e set to invalid_json. The message gives the byte offset, never the
 * bytes, which may be part of a recovery password. */
json_t *body_load(const char *body, size_t len, struct verr *e);

/* Reads the string member name of o into out (size bytes). An absent member,
 * or a null one when not required, leaves out empty and succeeds. Refusals:
 * missing_field (required and absent), invalid_type (not a string, or null
 * when required), invalid_<name> (size bytes or more, or a NUL inside). */
bool body_get_string(json_t *o, const char *name, bool required, char *out, size_t size,
		     struct verr *e);


#endif
