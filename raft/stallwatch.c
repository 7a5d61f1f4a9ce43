/* The stall watchdog's arithmetic; the node's timer feeds it. */
#include "raft/stallwatch.h"

#include <stdio.h>

void stallwatch_init(struct stallwatch *w, uint64_t now_ns)
{
	w->stored.done = w->applied.done = 0;
	w->stored.since_ns = w->applied.since_ns = now_ns;
}

/* ms that m has been behind target without moving; 0 when caught up or
 * moving. */
static uint64_t behind_ms(struct stallwatch_mark *m, uint64_t now_ns, uint64_t done,
			  uint64_t target)
{
	if (done >= target || done != m->done) {
		m->done = done;
		m->since_ns = now_ns;
		return 0;
	}
	return now_ns > m->since_ns ? (now_ns - m->since_ns) / 1000000 : 0;
}

bool stallwatch_check(struct stallwatch *w, uint64_t now_ns, uint64_t last_stored,
		      uint64_t last_index, uint64_t last_applied, uint64_t commit_index,
		      char *why, size_t size)
{
	uint64_t log_ms = behind_ms(&w->stored, now_ns, last_stored, last_index);
	uint64_t apply_ms = behind_ms(&w->applied, now_ns, last_applied, commit_index);

	if (log_ms >= STALLWATCH_LOG_MS) {
		snprintf(why, size, "the Raft log has not been written for %.1f s (stored up to "
			 "index %llu of %llu): the disk is full, failing or hung",
			 (double)log_ms / 1e3, (unsigned long long)last_stored,
			 (unsigned long long)last_index);
		return true;
	}
	if (apply_ms >= STALLWATCH_APPLY_MS) {
		snprintf(why, size, "no committed entry has been applied for %.1f s (applied up "
			 "to index %llu of %llu)", (double)apply_ms / 1e3,
			 (unsigned long long)last_applied, (unsigned long long)commit_index);
		return true;
	}
	return false;
}
