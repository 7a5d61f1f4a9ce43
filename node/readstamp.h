/* The audit times of key reads this node takes: never two in one
 * millisecond for keys that share their first 8 hex digits.
 *
 * A key read retried inside the cluster (its first Raft entry's fate
 * unknown after a leader change, or a forward to a leader that failed after
 * sending) can be applied twice; store/apply.c then recognises the second
 * by its key, node, time and actor and writes no second audit entry. That
 * is only right if two reads the same person asked for never share a time:
 * this module sees to it for every read that could disclose a key (a
 * prefix has at least 8 hex digits, so a prefix read and a read of a key
 * it matches take their times from the same slot). Nodes differ by node
 * id; a restart takes longer than a millisecond. */
#ifndef ESCROW_READSTAMP_H
#define ESCROW_READSTAMP_H

#include <stdint.h>

#define READSTAMP_SLOTS 1024

struct readstamp {
	int64_t last[READSTAMP_SLOTS]; /* the last time taken from each slot */
};

/* The time for a read of key_or_prefix (a key ID or hex prefix, at least
 * 8 hex digits first) taken at now_ms: now_ms, or 1 ms after the last time
 * its slot gave if that is not before. */
int64_t readstamp_take(struct readstamp *r, const char *key_or_prefix, int64_t now_ms);

#endif
