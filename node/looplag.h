/* How late the event loop runs, and why: on the CPU, waiting for a CPU, or
 * blocked (disk, locks), from the loop thread's scheduler statistics. */
#ifndef ESCROW_LOOPLAG_H
#define ESCROW_LOOPLAG_H

#include <stdbool.h>
#include <stdint.h>

/* One late period, split by what the loop thread was doing meanwhile. The
 * three parts add up to the whole period; cpu and wait are 0 when the kernel
 * gives no scheduler statistics. */
struct looplag_report {
	uint64_t late_us;     /* beyond the expected period */
	uint64_t period_us;   /* the whole period */
	uint64_t cpu_us;      /* running */
	uint64_t wait_us;     /* runnable, waiting for a CPU */
	uint64_t blocked_us;  /* sleeping: I/O, a lock, a syscall */
};

struct looplag {
	uint64_t expected_us;  /* the timer period */
	uint64_t last_ns;      /* previous tick, 0 before the first */
	uint64_t cpu_ns;       /* schedstat at the previous tick */
	uint64_t wait_ns;
	uint64_t max_late_us;  /* worst so far */
	int fd;                /* /proc/thread-self/schedstat, -1 if unavailable */
};

/* Call on the thread to watch (it reads that thread's statistics). */
void looplag_init(struct looplag *l, uint64_t expected_ms);
void looplag_close(struct looplag *l);

/* One tick at now_ns (uv_hrtime()). Returns true and fills *r when the tick
 * came at least warn_ms late. */
bool looplag_tick(struct looplag *l, uint64_t now_ns, uint64_t warn_ms,
		  struct looplag_report *r);

#endif
