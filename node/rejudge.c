/* Proposing a policy's re-judge, batch after batch (see rejudge.h). */
#include "node/rejudge.h"

#include <string.h>

#include "lib/error.h"
#include "store/store.h"

static void applied_cb(struct replica_req *req, int status, const struct store_result *res)
{
	struct rejudge *rj = req->data;

	rj->in_flight = false;
	/* Leadership lost: the next leader goes on from the stored cursor.
	 * ESC_ECONFLICT: another leader's batch came first; the next one is
	 * proposed from the state as it is now. */
	if (status != ESC_OK)
		return;
	if (res->status == ESC_OK)
		rj->batches++;
	rejudge_step(rj);
}

void rejudge_step(struct rejudge *rj)
{
	const struct api_ctx *ctx = rj->ctx;

	if (rj->in_flight || *ctx->stopping || !replica_ready(ctx->replica))
		return;
	memset(&rj->cmd, 0, sizeof rj->cmd);
	if (!store_rejudge_due(ctx->store, &rj->cmd))
		return;
	rj->cmd.node_id = ctx->node_id;
	rj->cmd.at_ms = ctx->clock_ms();
	rj->req.data = rj;
	if (replica_apply(ctx->replica, &rj->req, &rj->cmd, applied_cb) == ESC_OK)
		rj->in_flight = true;
}
