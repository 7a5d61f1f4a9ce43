/* drill run's small disks: ext4 images on loop devices, filled with a filler file. */
#include "tools/drill/drill_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/error.h"

#define PREFIX "escd"
#define SUFFIX "-disk"
#define FILLER ".drill-filler"
#define PATH_MAX_ 1024

extern char **environ;

void ddisk_prefix(char *out, size_t size)
{
	snprintf(out, size, PREFIX "%ld" SUFFIX, (long)getpid());
}

/* The pid an image's file name says it belongs to, or 0. */
static long image_pid(const char *file)
{
	const char *base = strrchr(file, '/');
	char *end;
	long pid;

	base = base != NULL ? base + 1 : file;
	if (strncmp(base, PREFIX, sizeof PREFIX - 1) != 0)
		return 0;
	pid = strtol(base + sizeof PREFIX - 1, &end, 10);
	return pid > 0 && strncmp(end, SUFFIX, sizeof SUFFIX - 1) == 0 ? pid : 0;
}

/* Undoes the octal escapes (\040) of a path in /proc/self/mountinfo. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* The file behind /dev/loopN, from sysfs; false when none. */
static bool loop_backing_file(const char *source, char *out, size_t size)
{
	char path[320];
	FILE *f;
	bool ok;

	if (strncmp(source, "/dev/loop", 9) != 0 || strspn(source + 9, "0123456789") == 0)
		return false;
	snprintf(path, sizeof path, "/sys/block/%s/loop/backing_file", source + 5);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	ok = fgets(out, (int)size, f) != NULL;
	fclose(f);
	out[ok ? strcspn(out, "\n") : 0] = '\0';
	return ok;
}

void ddisk_sweep(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[2048], mnt[1024], fstype[64], source[256], backing[1024];

	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE ..." */
	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		const char *tail = strstr(line, " - ");
		long pid;
		if (tail == NULL || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
		    sscanf(tail, " - %63s %255s", fstype, source) != 2 ||
		    strcmp(fstype, "ext4") != 0 ||
		    !loop_backing_file(source, backing, sizeof backing))
			continue;
		pid = image_pid(backing);
		if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
			unescape(mnt);
			umount2(mnt, MNT_DETACH);
		}
	}
	if (f != NULL)
		fclose(f);
}

/* Runs mkfs.ext4 on image; its complaint, if any, goes to errmsg. */
static int format(const char *image, char *errmsg)
{
	static const char *const paths[] = { "mkfs.ext4", "/usr/sbin/mkfs.ext4",
					     "/sbin/mkfs.ext4" };
	/* The image is sparse: its journal reads as zeros without being
	 * written (17 MiB less on disk per image). */
	char *argv[] = { "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_journal_init=1",
			 (char *)image, NULL };
	posix_spawn_file_actions_t fa;
	char out[512] = "";
	size_t len = 0;
	int pipefd[2], rv = ENOENT, status = 0;
	pid_t pid = -1;
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return esc_errorf(errmsg, ESC_EIO, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	/* Not every PATH holds the sbin dirs. */
	for (size_t k = 0; k < sizeof paths / sizeof paths[0] && rv == ENOENT; k++)
		rv = posix_spawnp(&pid, paths[k], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rv != 0) {
		close(pipefd[0]);
		return esc_errorf(errmsg, ESC_EIO, "cannot run mkfs.ext4: %s", strerror(rv));
	}
	/* Read to the end, keeping the start: a child blocked on a full pipe
	 * would never exit. */
	for (;;) {
		char more[512];
		n = read(pipefd[0], more, sizeof more);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < sizeof out - 1) {
			size_t take = (size_t)n < sizeof out - 1 - len ? (size_t)n
								       : sizeof out - 1 - len;
			memcpy(out + len, more, take);
			len += take;
		}
	}
	out[len] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return esc_errorf(errmsg, ESC_EIO, "mkfs.ext4 %s failed (status %d): %.*s", image,
				  status, (int)strcspn(out, "\n"), out);
	return ESC_OK;
}

/* Attaches the image open as ffd to a free loop device (autoclear: freed by
 * the last close once unmounted); returns the device's fd, open, or -1. */
static int loop_attach(int ffd, const char *image, char *dev, size_t size, char *errmsg)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), lfd = -1;
	const char *base = strrchr(image, '/');

	if (ctl < 0) {
		esc_errorf(errmsg, ESC_EIO, "no loop devices: /dev/loop-control: %s",
			   strerror(errno));
		return -1;
	}
	/* Another process may take the free device first: try the next. */
	for (int attempt = 0; attempt < 16 && lfd < 0; attempt++) {
		struct loop_config cfg;
		int err, n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			esc_errorf(errmsg, ESC_EIO, "no free loop device: %s", strerror(errno));
			break;
		}
		snprintf(dev, size, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			esc_errorf(errmsg, ESC_EIO, "cannot open %s: %s", dev, strerror(errno));
			break;
		}
		memset(&cfg, 0, sizeof cfg);
		cfg.fd = (__u32)ffd;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		snprintf((char *)cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s",
			 base != NULL ? base + 1 : image);
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
			break;
		err = errno;
		/* Before Linux 5.8: in two steps. */
		if ((err == EINVAL || err == ENOTTY) && ioctl(lfd, LOOP_SET_FD, ffd) == 0) {
			if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info) == 0)
				break;
			err = errno;
			ioctl(lfd, LOOP_CLR_FD, 0);
		} else if (err == EINVAL || err == ENOTTY) {
			err = errno;
		}
		close(lfd);
		lfd = -1;
		if (err != EBUSY) {
			esc_errorf(errmsg, ESC_EIO, "cannot attach %s to %s: %s", image, dev,
				   strerror(err));
			break;
		}
	}
	close(ctl);
	return lfd;
}

int ddisk_mount(const char *image, const char *path, unsigned long long size, dev_t *dev,
		char *errmsg)
{
	char loopdev[32], lost[PATH_MAX_];
	struct stat st;
	int ffd, lfd, rv = ESC_EIO;

	ffd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (ffd < 0)
		return esc_errorf(errmsg, ESC_EIO, "cannot create %s: %s", image,
				  strerror(errno));
	if (ftruncate(ffd, (off_t)size) != 0) {
		esc_errorf(errmsg, ESC_EIO, "cannot size %s: %s", image, strerror(errno));
		goto out_file;
	}
	if (format(image, errmsg) != ESC_OK)
		goto out_file;
	lfd = loop_attach(ffd, image, loopdev, sizeof loopdev, errmsg);
	if (lfd < 0)
		goto out_file;
	/* Keep the device open until mounted: its last close would free it. */
	if (fstat(lfd, &st) != 0 ||
	    mount(loopdev, path, "ext4", MS_NOSUID | MS_NODEV, NULL) != 0) {
		esc_errorf(errmsg, ESC_EIO, "cannot mount %s (%s) on %s: %s", loopdev, image,
			   path, strerror(errno));
		goto out_loop;
	}
	*dev = st.st_rdev;
	/* An empty dir, as the node would make it: ext4 lives without
	 * lost+found (only e2fsck uses it). */
	snprintf(lost, sizeof lost, "%s/lost+found", path);
	if ((rmdir(lost) != 0 && errno != ENOENT) || chmod(path, 0700) != 0) {
		esc_errorf(errmsg, ESC_EIO, "cannot prepare %s: %s", path, strerror(errno));
		umount2(path, MNT_DETACH);
		goto out_loop;
	}
	rv = ESC_OK;
out_loop:
	close(lfd);
out_file:
	close(ffd);
	return rv;
}

int ddisk_fill(const char *path, unsigned long headroom, char *errmsg)
{
	char filler[PATH_MAX_];
	unsigned long long shortfall = 0, avail = 0;
	int fd, rv = ESC_OK;

	snprintf(filler, sizeof filler, "%s/" FILLER, path);
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "cannot create %s: %s", filler,
				  strerror(errno));
	/* The node keeps writing, and the filler's own extents take room:
	 * when the room is gone, ask a little less, and look again. */
	for (int round = 0; round < 24; round++) {
		struct statvfs sv;
		struct stat st;
		if (fstatvfs(fd, &sv) != 0 || fstat(fd, &st) != 0) {
			rv = esc_errorf(errmsg, ESC_EIO, "statvfs %s: %s", path, strerror(errno));
			break;
		}
		avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
		if (avail <= headroom + 2 * sv.f_frsize || avail - headroom <= shortfall)
			break;
		if (fallocate(fd, 0, st.st_size, (off_t)(avail - headroom - shortfall)) != 0) {
			if (errno != ENOSPC) {
				rv = esc_errorf(errmsg, ESC_EIO, "fallocate %s: %s", filler,
						strerror(errno));
				break;
			}
			shortfall = shortfall * 2 + 16384;
		}
	}
	close(fd);
	if (rv == ESC_OK && avail > headroom + (1u << 20))
		rv = esc_errorf(errmsg, ESC_EIO, "cannot fill %s: %llu bytes still free", path,
				avail);
	return rv;
}

int ddisk_unfill(const char *path, char *errmsg)
{
	char filler[PATH_MAX_];
	int fd;

	snprintf(filler, sizeof filler, "%s/" FILLER, path);
	if (unlink(filler) != 0 && errno != ENOENT)
		return esc_errorf(errmsg, ESC_EIO, "cannot remove %s: %s", filler,
				  strerror(errno));
	/* ext4 reuses freed blocks only once the journal committed them. */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	return ESC_OK;
}

void ddisk_unmount(const char *path)
{
	umount2(path, MNT_DETACH);
}
