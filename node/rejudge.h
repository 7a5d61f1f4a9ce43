/* Drives a policy's re-judge on the leader: the next CMD_REJUDGE batch is
 * proposed as soon as the last one is applied, so that the stored verdicts
 * catch up with a new policy in short entries while requests go on. */
#ifndef ESCROW_REJUDGE_H
#define ESCROW_REJUDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "node/api_ctx.h"
#include "raft/replica.h"
#include "store/command.h"

struct rejudge {
	const struct api_ctx *ctx;  /* borrowed; set before the first step */
	struct replica_req req;
	struct cmd cmd;
	bool in_flight;             /* a batch proposed, its callback not run yet */
	uint64_t batches;           /* batches this node proposed that applied */
};

/* Proposes the next batch when this node is the ready leader, a re-judge
 * runs and no batch is in flight; else does nothing. Call it often (the
 * daemon's tick): a new leader, or a new policy, is picked up there. */
void rejudge_step(struct rejudge *rj);

#endif
