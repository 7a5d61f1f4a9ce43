/* escrowctl drill watch: the canary workload against a running cluster. */
#ifndef ESCROW_DRILL_WATCH_H
#define ESCROW_DRILL_WATCH_H

#include "tools/drill/drill_engine.h"

/* Runs the workload of opts through client (connected, borrowed) until the
 * duration or a SIGINT (see drill_interrupted), reads every acknowledged
 * key back, checks the history and prints the report (stdout; progress and
 * errors on stderr). d is the drill's storage, overwritten. Returns
 * DRILL_OUTCOME_OK when the drill was safe. */
enum drill_outcome drill_watch(struct drill *d, struct ctl_client *client,
			       const struct drill_opts *opts);

#endif
