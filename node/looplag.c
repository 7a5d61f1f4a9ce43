/* Loop-lag probe: a tick that comes late is split into CPU, run-queue wait and blocked time. */
#include "node/looplag.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void looplag_init(struct looplag *l, uint64_t expected_ms)
{
	memset(l, 0, sizeof *l);
	l->expected_us = expected_ms * 1000;
	l->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
}

void looplag_close(struct looplag *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* schedstat: nanoseconds on the CPU, nanoseconds runnable on a run queue,
 * time slices. */
static bool read_schedstat(const struct looplag *l, uint64_t *cpu_ns, uint64_t *wait_ns)
{
	char buf[128];
	ssize_t n;

	if (l->fd < 0)
		return false;
	n = pread(l->fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return sscanf(buf, "%" SCNu64 " %" SCNu64, cpu_ns, wait_ns) == 2;
}

static uint64_t part_us(uint64_t now, uint64_t before, uint64_t cap_us)
{
	uint64_t us = now > before ? (now - before) / 1000 : 0;

	return us < cap_us ? us : cap_us;
}

bool looplag_tick(struct looplag *l, uint64_t now_ns, uint64_t warn_ms,
		  struct looplag_report *r)
{
	uint64_t cpu_ns = 0, wait_ns = 0, period_us;
	bool have = read_schedstat(l, &cpu_ns, &wait_ns), late = false;

	if (l->last_ns != 0 && now_ns > l->last_ns) {
		period_us = (now_ns - l->last_ns) / 1000;
		memset(r, 0, sizeof *r);
		r->period_us = period_us;
		r->late_us = period_us > l->expected_us ? period_us - l->expected_us : 0;
		if (r->late_us > l->max_late_us)
			l->max_late_us = r->late_us;
		late = r->late_us >= warn_ms * 1000;
		if (late && have) {
			r->cpu_us = part_us(cpu_ns, l->cpu_ns, period_us);
			r->wait_us = part_us(wait_ns, l->wait_ns, period_us - r->cpu_us);
		}
		if (late)
			r->blocked_us = period_us - r->cpu_us - r->wait_us;
	}
	l->last_ns = now_ns;
	l->cpu_ns = cpu_ns;
	l->wait_ns = wait_ns;
	return late;
}
