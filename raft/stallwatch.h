/* The stall watchdog: libraft 0.15 does not give up when this node's own log
 * writes fail or hang (a leader whose disk is full stays leader; an append
 * can stall after EAGAIN), nor does anything notice an apply that never
 * finishes. The node checks its progress once a second and stops, with a
 * line saying why, when one of them has not moved for too long: the other
 * nodes carry on, and a restart starts clean. */
#ifndef ESCROW_STALLWATCH_H
#define ESCROW_STALLWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STALLWATCH_LOG_MS 5000    /* log entries known but not stored this long */
#define STALLWATCH_APPLY_MS 15000 /* entries committed but not applied this long
				     (a snapshot install of a large state takes
				     seconds) */

/* One counter that must keep up with a target. */
struct stallwatch_mark {
	uint64_t done;          /* its value when it last moved */
	uint64_t since_ns;      /* when it last moved or caught up */
};

struct stallwatch {
	struct stallwatch_mark stored;   /* last_stored towards the last index */
	struct stallwatch_mark applied;  /* last_applied towards the commit index */
};

void stallwatch_init(struct stallwatch *w, uint64_t now_ns);

/* One check at now_ns with the replica's indexes. Returns true, with the
 * reason in why, when log writes or applies have stalled past their limit. */
bool stallwatch_check(struct stallwatch *w, uint64_t now_ns, uint64_t last_stored,
		      uint64_t last_index, uint64_t last_applied, uint64_t commit_index,
		      char *why, size_t size);

#endif
