/* A log rate limit: at most so many lines per time window, the rest counted. */
#ifndef ESCROW_RATELIMIT_H
#define ESCROW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint64_t window_ms;   /* length of a window (set by the owner) */
	unsigned lines_max;   /* lines allowed in one window (set by the owner) */
	uint64_t start;       /* when the current window began, in ms */
	unsigned lines;       /* lines allowed in it so far */
	unsigned dropped;     /* lines refused in it so far */
};

#define RATELIMIT_INIT(window_ms, lines_max) { (window_ms), (lines_max), 0, 0, 0 }

/* True when one more line may be logged at now_ms (any monotonic or wall
 * clock in ms, always the same one). When now_ms opens a new window,
 * *dropped is set to the lines refused in the previous one, for the caller
 * to sum up in a line of its own; it is 0 otherwise. */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms, unsigned *dropped);

#endif
