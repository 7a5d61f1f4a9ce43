/* drill run's small disks: tmpfs mounts shrunk and grown with mount(2). */
#include "tools/drill/drill_disk.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/error.h"

#define SOURCE_PREFIX "escd"
#define SOURCE_SUFFIX "-disk"

void ddisk_source(char *out, size_t size)
{
	snprintf(out, size, SOURCE_PREFIX "%ld" SOURCE_SUFFIX, (long)getpid());
}

void ddisk_sweep(void)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[1024], source[256], path[768];

	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		char *end;
		long pid;
		if (sscanf(line, "%255s %767s", source, path) != 2 ||
		    strncmp(source, SOURCE_PREFIX, sizeof SOURCE_PREFIX - 1) != 0)
			continue;
		pid = strtol(source + sizeof SOURCE_PREFIX - 1, &end, 10);
		if (pid > 0 && strcmp(end, SOURCE_SUFFIX) == 0 && kill((pid_t)pid, 0) != 0 &&
		    errno == ESRCH)
			umount2(path, MNT_DETACH);
	}
	if (f != NULL)
		fclose(f);
}

int ddisk_mount(const char *source, const char *path, const char *size, char *errmsg)
{
	char opts[64];

	snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
	if (mount(source, path, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
		return esc_errorf(errmsg, ESC_EIO, "cannot mount a tmpfs on %s: %s", path,
				  strerror(errno));
	return ESC_OK;
}

int ddisk_resize(const char *path, const char *size, char *errmsg)
{
	char opts[64];

	snprintf(opts, sizeof opts, "size=%s", size);
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) != 0)
		return esc_errorf(errmsg, ESC_EIO, "cannot resize the tmpfs on %s to %s: %s", path,
				  size, strerror(errno));
	return ESC_OK;
}

int ddisk_fill(const char *path, unsigned long headroom, char *errmsg)
{
	/* The node keeps writing: if it outgrew the size between the look and
	 * the remount (EINVAL), look again. */
	for (int attempt = 0; attempt < 5; attempt++) {
		struct statvfs st;
		unsigned long long used;
		char size[32];
		if (statvfs(path, &st) != 0)
			return esc_errorf(errmsg, ESC_EIO, "statvfs %s: %s", path, strerror(errno));
		used = (unsigned long long)(st.f_blocks - st.f_bfree) * st.f_frsize;
		snprintf(size, sizeof size, "%llu", (used + headroom + 4095) / 4096 * 4096);
		if (ddisk_resize(path, size, errmsg) == ESC_OK)
			return ESC_OK;
	}
	return ESC_EIO;
}

void ddisk_unmount(const char *path)
{
	umount2(path, MNT_DETACH);
}
