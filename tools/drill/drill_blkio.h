/* blkio cgroup (v1) throttles for drill run's slow-disk fault: a cgroup per
 * slowed node, "escrow-drill-PID-N" beside the drill's own blkio cgroup,
 * limiting reads and writes on the node's loop devices (drill_disk.h). A
 * later drill removes those of a drill that is gone. */
#ifndef ESCROW_DRILL_BLKIO_H
#define ESCROW_DRILL_BLKIO_H

#include <stddef.h>
#include <sys/types.h>

/* NULL when this process can make blkio cgroups with throttles, else why
 * not, in words. */
const char *dblkio_unavailable(void);

/* The cgroup dir for node id of this drill: BASE/escrow-drill-PID-ID, BASE
 * being the drill's own blkio cgroup. */
void dblkio_path(unsigned id, char *out, size_t size);

/* Makes the cgroup dir path (or reuses it), limits reads and writes on the
 * n devices to iops operations and bps bytes a second each way, and moves
 * pid, all its threads, into it. On error, the cgroup is removed again. */
int dblkio_throttle(const char *path, const dev_t *devs, size_t n, unsigned iops,
		    unsigned long bps, pid_t pid, char *errmsg);

/* Moves pid (if > 0 and still in it) back to the drill's cgroup and removes
 * the cgroup dir path, retrying a little while it is busy. */
void dblkio_release(const char *path, pid_t pid);

/* Removes the escrow-drill-PID-* cgroups whose drill process is gone,
 * moving any process still in them back to the parent first. */
void dblkio_sweep(void);

#endif
