/* A log rate limit: at most so many lines per time window, the rest counted. */
#include "lib/ratelimit.h"

bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms, unsigned *dropped)
{
	*dropped = 0;
	if (now_ms - rl->start >= rl->window_ms) {
		*dropped = rl->dropped;
		rl->start = now_ms;
		rl->lines = 0;
		rl->dropped = 0;
	}
	if (rl->lines >= rl->lines_max) {
		rl->dropped++;
		return false;
	}
	rl->lines++;
	return true;
}
