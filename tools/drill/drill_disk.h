/* The disks of `escrowctl drill run` (root only): each an ext4 filesystem in
 * a sparse image file, attached to a loop device of its own and mounted on
 * a node's dir; filled up with a filler file for disk-full, throttled with a
 * blkio cgroup for slow-disk (drill_blkio.h). The images are named after the
 * drill's pid ("escdPID-disk-..."), so that a later drill unmounts those of
 * a drill that was killed: the loop device names its image in
 * /sys/block/loopN/loop/backing_file. */
#ifndef ESCROW_DRILL_DISK_H
#define ESCROW_DRILL_DISK_H

#include <stddef.h>
#include <sys/types.h>

/* Unmounts (MNT_DETACH) the ext4 loop mounts whose image is named for a
 * drill process that is gone; the loop devices free themselves. */
void ddisk_sweep(void);

/* The image name prefix for this process: "escdPID-disk". */
void ddisk_prefix(char *out, size_t size);

/* Makes a sparse image file of size bytes at image (it must not exist),
 * formats it ext4 (mkfs.ext4 run as a child), attaches it to a free loop
 * device that frees itself once unmounted, mounts it on the existing dir
 * path (nosuid, nodev) and leaves that dir empty (no lost+found), mode 0700.
 * *dev gets the loop device's number (for throttles). */
int ddisk_mount(const char *image, const char *path, unsigned long long size, dev_t *dev,
		char *errmsg);

/* Fills the filesystem on path with a filler file (DIR/.drill-filler), so
 * that about headroom bytes stay free. */
int ddisk_fill(const char *path, unsigned long headroom, char *errmsg);

/* Removes the filler of path and makes its room usable at once. */
int ddisk_unfill(const char *path, char *errmsg);

/* Detaches the mount on path; async-signal-safe. */
void ddisk_unmount(const char *path);

#endif
