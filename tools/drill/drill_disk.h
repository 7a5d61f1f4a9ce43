/* The disks of `escrowctl drill run`'s disk-full fault (root only): each data
 * dir a tmpfs of its own, shrunk to what it holds to make it full, grown back
 * to heal. The mounts are named (their source) after the drill's pid, so that
 * a later drill unmounts those of a drill that was killed. */
#ifndef ESCROW_DRILL_DISK_H
#define ESCROW_DRILL_DISK_H

#include <stddef.h>

/* Unmounts tmpfs named "escdPID-disk" whose drill process is gone. */
void ddisk_sweep(void);

/* The mount source for this process: "escdPID-disk". */
void ddisk_source(char *out, size_t size);

/* Mounts a tmpfs of `size` (as mount -o size=) on the existing dir path. */
int ddisk_mount(const char *source, const char *path, const char *size, char *errmsg);

/* Remounts path's tmpfs with room for what it holds plus headroom bytes. */
int ddisk_fill(const char *path, unsigned long headroom, char *errmsg);

/* Remounts path's tmpfs with `size` again. */
int ddisk_resize(const char *path, const char *size, char *errmsg);

/* Detaches the mount on path; async-signal-safe. */
void ddisk_unmount(const char *path);

#endif
