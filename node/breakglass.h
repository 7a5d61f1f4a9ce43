/* Break-glass: this node's journal of lookups served without a leader. */
#ifndef ESCROW_BREAKGLASS_H
#define ESCROW_BREAKGLASS_H

#include <stddef.h>

#include "node/api_ctx.h"

/* Writes DIR/break-glass.journal into out. ESC_OK, or ESC_EINVAL when it
 * does not fit. */
int breakglass_journal_path(const struct api_ctx *ctx, char *out, size_t size);

#endif
