/* --join: asks a running cluster to add this node, until it has. */
#ifndef ESCROW_JOIN_H
#define ESCROW_JOIN_H

#include "node/api_ctx.h"
#include "node/options.h"

#define JOIN_RETRY_MS 1000           /* between two attempts */
#define JOIN_ATTEMPT_TIMEOUT_MS 120000 /* one attempt: catching up can take long */

/* Sends POST URL/v1/cluster/members for the node o describes (--join URL),
 * through ctx's client, retrying on connection errors, 503 and 409
 * change_in_progress; any other refusal stops the node with exit code 1,
 * and so does 503 catch_up_timeout while nothing has reached this node's
 * Raft log (the others cannot reach it).
 * Runs once per process; ctx is borrowed until join_stop, o for the call. */
void join_start(const struct api_ctx *ctx, const struct options *o);

/* Stops retrying (the node is stopping). */
void join_stop(void);

#endif
