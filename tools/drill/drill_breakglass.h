/* drill run's break-glass lookups: during a quorum-loss fault, lookups with
 * break_glass=1 sent as helpdesk to a node without a quorum; after the
 * heal, the wait for their audit entries and the read of their keys'
 * disclosure. */
#ifndef ESCROW_DRILL_BREAKGLASS_H
#define ESCROW_DRILL_BREAKGLASS_H

#include <stdint.h>

#include "tools/drill/drill_engine.h"

#define DBG_TIMEOUT_MS 2000   /* one break-glass lookup */
#define DBG_AWAIT_MS 60000.0  /* the heal until every entry is in the audit log */

/* What one break-glass lookup came to. */
enum dbg_result {
	DBG_SERVED,   /* the password, from the node's copy (history: ok) */
	DBG_MISSED,   /* 404 not_found_break_glass (history: not_found) */
	DBG_TOO_SOON, /* 503 no_quorum: the node has not been without a leader long
			 enough yet; try again (history: failed) */
	DBG_OTHER,    /* anything else (history: as the workload would count it) */
};

/* The oldest acknowledged key kept from the load's lookups (so that its
 * disclosure after the heal is the replay's) that no break-glass lookup
 * took yet; it is taken. -1 when there is none. */
long dbg_pick_key(struct drill *d);

/* GET /v1/keys/ID?...&break_glass=1 to node (index in the client's nodes)
 * as helpdesk; the request goes into the history (DRILL_BREAK_GLASS), and a
 * served one into its break-glass table with its id. */
enum dbg_result dbg_lookup(struct drill *d, uint16_t node, uint32_t key);

/* After the heal: waits (DBG_AWAIT_MS at most) until the audit log holds
 * every served lookup's id, then reads each key's disclosed_at without
 * disclosing it (list=1) into the table. DRILL_OUTCOME_OK (what was found
 * is the checker's to judge), or another outcome with the error printed. */
enum drill_outcome dbg_await(struct drill *d);

#endif
