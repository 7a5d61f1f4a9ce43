/* The drill's compliance uploads: the canary machine's reports, their
 * answers, and the report read back after the heal (drill_check judges). */
#ifndef ESCROW_DRILL_COMPLY_H
#define ESCROW_DRILL_COMPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/drill/drill_engine.h"

/* Writes the body of the canary machine's next report (POST /v1/compliance)
 * into body (size bytes) and adds its upload to d->h, *seq its sequence
 * number (the report's os is "drill report SEQ"). The report has one OS
 * volume listing the keys lookups returned last, then the keys acknowledged
 * last, DRILL_UPLOAD_KEYS at most. Returns false when out of memory. */
bool drill_comply_body(struct drill *d, char *body, size_t size, uint32_t *seq);

/* Reads the 200 answer resp of upload seq: the canary keys of its
 * rotate_key_ids go to the upload. False when resp is not such an answer. */
bool drill_comply_answer(struct drill *d, uint32_t seq, const char *resp);

/* Notes that a lookup returned key's password: the next reports list it. */
void drill_comply_disclosed(struct drill *d, uint32_t key);

/* Reads the canary machine's report back (GET /v1/machines/{machine}),
 * retrying for DRILL_READBACK_S, into d->h.report_*. Nothing to do when no
 * upload was sent. DRILL_OUTCOME_OK, or another outcome with the error
 * printed when no node answered. */
enum drill_outcome drill_comply_readback(struct drill *d);

#endif
