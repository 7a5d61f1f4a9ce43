/* drill run's slow disks: blkio cgroup v1 throttles on a node's loop devices. */
#include "tools/drill/drill_blkio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "lib/error.h"

#define MOUNT "/sys/fs/cgroup/blkio"
#define PREFIX "escrow-drill-"
#define PATH_MAX_ 512

/* The drill's own blkio cgroup dir, from /proc/self/cgroup ("7:blkio:/"). */
static void base_path(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[600], *rel = NULL;

	while (f != NULL && rel == NULL && fgets(line, sizeof line, f) != NULL) {
		char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
		if (path == NULL)
			continue;
		*path++ = '\0';
		for (char *tok = strtok(ctrl + 1, ","); tok != NULL; tok = strtok(NULL, ","))
			if (strcmp(tok, "blkio") == 0)
				rel = path;
	}
	if (f != NULL)
		fclose(f);
	if (rel != NULL)
		rel[strcspn(rel, "\n")] = '\0';
	snprintf(out, size, "%s%s", MOUNT, rel == NULL || strcmp(rel, "/") == 0 ? "" : rel);
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX_ + 64];
	ssize_t n, len = (ssize_t)strlen(text);
	int fd, err;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = write(fd, text, (size_t)len);
	err = n == len ? 0 : n < 0 ? errno : EIO;
	close(fd);
	return err;
}

const char *dblkio_unavailable(void)
{
	char base[PATH_MAX_], probe[PATH_MAX_ + 64];

	base_path(base, sizeof base);
	snprintf(probe, sizeof probe, "%s/blkio.throttle.write_iops_device", base);
	if (access(probe, F_OK) != 0)
		return "no blkio cgroup (v1) with throttles at " MOUNT;
	if (access(base, W_OK) != 0 || access(probe, W_OK) != 0)
		return "the blkio cgroup (v1) is not writable here";
	return NULL;
}

void dblkio_path(unsigned id, char *out, size_t size)
{
	char base[PATH_MAX_];

	base_path(base, sizeof base);
	snprintf(out, size, "%s/" PREFIX "%ld-%u", base, (long)getpid(), id);
}

static void move_to_parent(const char *path, pid_t pid)
{
	char parent[PATH_MAX_], text[24];
	const char *slash = strrchr(path, '/');

	snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - path) : 0, path);
	snprintf(text, sizeof text, "%ld", (long)pid);
	write_file(parent, "cgroup.procs", text);
}

/* Everything still in the cgroup goes to its parent; then rmdir, retried
 * while the kernel still counts an exiting process in it. */
static void remove_cgroup(const char *path, pid_t pid)
{
	char procs[PATH_MAX_ + 16];

	snprintf(procs, sizeof procs, "%s/cgroup.procs", path);
	for (int attempt = 0; attempt < 50; attempt++) {
		FILE *f = fopen(procs, "r");
		long p;
		if (pid > 0)
			move_to_parent(path, pid);
		while (f != NULL && fscanf(f, "%ld", &p) == 1)
			move_to_parent(path, (pid_t)p);
		if (f != NULL)
			fclose(f);
		if (rmdir(path) == 0 || errno != EBUSY)
			return;
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	}
}

int dblkio_throttle(const char *path, const dev_t *devs, size_t n, unsigned iops,
		    unsigned long bps, pid_t pid, char *errmsg)
{
	static const char *const files[] = {
		"blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device",
		"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"
	};
	char text[64];
	int err;

	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return esc_errorf(errmsg, ESC_EIO, "cannot create the cgroup %s: %s", path,
				  strerror(errno));
	for (size_t d = 0; d < n; d++)
		for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
			snprintf(text, sizeof text, "%u:%u %lu", major(devs[d]), minor(devs[d]),
				 k < 2 ? (unsigned long)iops : bps);
			if ((err = write_file(path, files[k], text)) != 0) {
				esc_errorf(errmsg, ESC_EIO, "cannot write \"%s\" to %s/%s: %s",
					   text, path, files[k], strerror(err));
				goto fail;
			}
		}
	snprintf(text, sizeof text, "%ld", (long)pid);
	if ((err = write_file(path, "cgroup.procs", text)) != 0) {
		esc_errorf(errmsg, ESC_EIO, "cannot move process %ld into %s: %s", (long)pid,
			   path, strerror(err));
		goto fail;
	}
	return ESC_OK;
fail:
	remove_cgroup(path, 0);
	return ESC_EIO;
}

void dblkio_release(const char *path, pid_t pid)
{
	remove_cgroup(path, pid);
}

void dblkio_sweep(void)
{
	char base[PATH_MAX_], path[PATH_MAX_ + 300];
	struct dirent *e;
	DIR *dir;

	base_path(base, sizeof base);
	dir = opendir(base);
	while (dir != NULL && (e = readdir(dir)) != NULL) {
		char *end;
		long pid;
		if (strncmp(e->d_name, PREFIX, sizeof PREFIX - 1) != 0)
			continue;
		pid = strtol(e->d_name + sizeof PREFIX - 1, &end, 10);
		if (pid <= 0 || *end != '-' || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		snprintf(path, sizeof path, "%s/%s", base, e->d_name);
		remove_cgroup(path, 0);
	}
	if (dir != NULL)
		closedir(dir);
}
