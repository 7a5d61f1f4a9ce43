/* Unit tests of drill run's disks (drill_disk.c: ext4 images on loop
 * devices) and their throttles (drill_blkio.c: blkio cgroups). They need
 * root, loop devices and mkfs.ext4 (and a writable blkio cgroup v1 for the
 * throttles); elsewhere the file is skipped, saying why (the throttle tests
 * pass with a note when only the blkio cgroup is missing). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/error.h"
#include "tests/unit.h"
#include "tools/drill/drill_blkio.h"
#include "tools/drill/drill_disk.h"

#define DISK_SIZE (64ull << 20)

static char tmp_dir[] = "/tmp/test_drill_disk.XXXXXX";
static const char *const names[] = { "empty", "full", "dead", "live", "slow" };

/* Skips the current test (TAP "# SKIP", not a pass) when reason is not
 * NULL: a machine without the blkio throttles cannot try it. */
#define SKIP_IF(reason)                                 \
	do {                                            \
		const char *skip_why_ = (reason);       \
		if (skip_why_ != NULL) {                \
			UNIT_SKIP(skip_why_);           \
			return;                         \
		}                                       \
	} while (0)

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
}

/* A pid that was ours and is gone: a child reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

/* Makes DIR/name and the image DIR/PREFIX-name.img; mounts one on the other. */
static int mount_disk(const char *prefix, const char *name, char *dir, dev_t *dev, char *errmsg)
{
	char image[256];

	snprintf(dir, 256, "%s/%s", tmp_dir, name);
	snprintf(image, sizeof image, "%s/%s-%s.img", tmp_dir, prefix, name);
	if (mkdir(dir, 0700) != 0)
		return esc_errorf(errmsg, ESC_EIO, "mkdir %s: %s", dir, strerror(errno));
	return ddisk_mount(image, dir, DISK_SIZE, dev, errmsg);
}

static bool is_mountpoint(const char *dir)
{
	char parent[300];
	struct stat a, b;

	snprintf(parent, sizeof parent, "%s/..", dir);
	return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* True once /dev/loopN (of dev) has no file behind it, waited for a while:
 * a loop device with autoclear frees itself when its filesystem goes. */
static bool loop_freed(dev_t dev)
{
	char path[96];

	snprintf(path, sizeof path, "/sys/block/loop%u/loop/backing_file", minor(dev));
	for (int i = 0; i < 100 && access(path, F_OK) == 0; i++)
		sleep_ms(50);
	return access(path, F_OK) != 0;
}

static unsigned long long free_bytes(const char *dir)
{
	struct statvfs sv;

	return statvfs(dir, &sv) == 0 ? (unsigned long long)sv.f_bavail * sv.f_frsize : 0;
}

/* Writes size bytes to DIR/name and fsyncs: 0 or the errno. */
static int write_synced(const char *dir, const char *name, size_t size)
{
	static char buf[65536];
	char path[300];
	int fd, err = 0;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	memset(buf, 'x', sizeof buf);
	for (size_t done = 0; done < size && err == 0; done += sizeof buf)
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			err = errno ? errno : EIO;
	if (err == 0 && fsync(fd) != 0)
		err = errno;
	close(fd);
	unlink(path);
	return err;
}

TEST(mount_gives_an_empty_dir_on_a_loop_device_freed_by_the_unmount)
{
	char dir[256], errmsg[ESC_ERRMSG_SIZE], prefix[32];
	struct stat st;
	dev_t dev;

	ddisk_prefix(prefix, sizeof prefix);
	CHECK(mount_disk(prefix, "empty", dir, &dev, errmsg) == ESC_OK);
	CHECK(is_mountpoint(dir));
	CHECK(stat(dir, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0700);
	CHECK(major(dev) == 7); /* LOOP_MAJOR */
	{
		char lost[300];
		snprintf(lost, sizeof lost, "%s/lost+found", dir);
		CHECK(access(lost, F_OK) != 0); /* the node finds its dir empty */
	}
	CHECK_INT(write_synced(dir, "file", 1 << 20), 0);
	ddisk_unmount(dir);
	CHECK(!is_mountpoint(dir));
	CHECK(loop_freed(dev));
}

TEST(fill_leaves_the_headroom_and_unfill_gives_the_room_back)
{
	char dir[256], errmsg[ESC_ERRMSG_SIZE], prefix[32];
	unsigned long long left;
	dev_t dev;

	ddisk_prefix(prefix, sizeof prefix);
	CHECK(mount_disk(prefix, "full", dir, &dev, errmsg) == ESC_OK);
	CHECK(ddisk_fill(dir, 32768, errmsg) == ESC_OK);
	left = free_bytes(dir);
	printf("# %llu bytes free once filled\n", left);
	CHECK(left <= 32768 + 8192);
	CHECK_INT(write_synced(dir, "big", 1 << 20), ENOSPC);
	CHECK(ddisk_unfill(dir, errmsg) == ESC_OK);
	CHECK(free_bytes(dir) > DISK_SIZE / 2);
	CHECK_INT(write_synced(dir, "big", 1 << 20), 0);
	CHECK(ddisk_unfill(dir, errmsg) == ESC_OK); /* no filler: nothing to do */
	ddisk_unmount(dir);
	CHECK(loop_freed(dev));
}

TEST(sweep_unmounts_the_disks_of_dead_drills_only)
{
	char dead_dir[256], live_dir[256], dead[32], live[32], errmsg[ESC_ERRMSG_SIZE];
	dev_t dead_dev, live_dev;

	snprintf(dead, sizeof dead, "escd%ld-disk", (long)dead_pid());
	ddisk_prefix(live, sizeof live);
	CHECK(mount_disk(dead, "dead", dead_dir, &dead_dev, errmsg) == ESC_OK);
	CHECK(mount_disk(live, "live", live_dir, &live_dev, errmsg) == ESC_OK);
	ddisk_sweep();
	CHECK(!is_mountpoint(dead_dir));
	CHECK(loop_freed(dead_dev));
	CHECK(is_mountpoint(live_dir));
	ddisk_unmount(live_dir);
	CHECK(loop_freed(live_dev));
}

/* Reads the count of writes the cgroup's throttle saw on dev. */
static long long throttled_writes(const char *cgroup, dev_t dev)
{
	char path[600], line[128], op[16];
	unsigned maj, min;
	long long n = -1, v;
	FILE *f;

	snprintf(path, sizeof path, "%s/blkio.throttle.io_serviced", cgroup);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%u:%u %15s %lld", &maj, &min, op, &v) == 4 &&
		    maj == major(dev) && min == minor(dev) && strcmp(op, "Write") == 0)
			n = v;
	if (f != NULL)
		fclose(f);
	return n;
}

static bool file_holds(const char *dir, const char *name, const char *text)
{
	char path[600], buf[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, text) != NULL;
}

TEST(throttle_takes_the_process_and_its_synced_writes_release_removes_it)
{
	char dir[256], cg[512], errmsg[ESC_ERRMSG_SIZE], prefix[32], text[64];
	int go[2], status = -1;
	dev_t dev;
	pid_t child;

	SKIP_IF(dblkio_unavailable());
	ddisk_prefix(prefix, sizeof prefix);
	CHECK(mount_disk(prefix, "slow", dir, &dev, errmsg) == ESC_OK);
	CHECK(pipe(go) == 0);
	child = fork();
	if (child == 0) {
		char c;
		int err = 0;
		close(go[1]);
		/* Three 4 KiB synced writes once inside the cgroup. */
		if (read(go[0], &c, 1) == 1)
			for (int k = 0; k < 3 && err == 0; k++)
				err = write_synced(dir, "w", 4096);
		_exit(err);
	}
	close(go[0]);
	dblkio_path(1, cg, sizeof cg);
	CHECK(dblkio_throttle(cg, &dev, 1, 5, 262144, child, errmsg) == ESC_OK);
	snprintf(text, sizeof text, "%ld\n", (long)child);
	CHECK(file_holds(cg, "cgroup.procs", text));
	snprintf(text, sizeof text, "%u:%u 5", major(dev), minor(dev));
	CHECK(file_holds(cg, "blkio.throttle.write_iops_device", text));
	CHECK(file_holds(cg, "blkio.throttle.read_iops_device", text));
	snprintf(text, sizeof text, "%u:%u 262144", major(dev), minor(dev));
	CHECK(file_holds(cg, "blkio.throttle.write_bps_device", text));
	CHECK(write(go[1], "g", 1) == 1);
	close(go[1]);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The fsyncs' writes went through the throttle of that cgroup. */
	CHECK(throttled_writes(cg, dev) >= 3);
	dblkio_release(cg, child);
	CHECK(access(cg, F_OK) != 0);
	ddisk_unmount(dir);
	CHECK(loop_freed(dev));
}

TEST(sweep_removes_the_cgroups_of_dead_drills_only)
{
	char dead[600], live[512], base[512];
	const char *slash;

	SKIP_IF(dblkio_unavailable());
	dblkio_path(9, live, sizeof live);
	slash = strrchr(live, '/');
	snprintf(base, sizeof base, "%.*s", (int)(slash - live), live);
	snprintf(dead, sizeof dead, "%s/escrow-drill-%ld-9", base, (long)dead_pid());
	CHECK(mkdir(dead, 0755) == 0);
	CHECK(mkdir(live, 0755) == 0);
	dblkio_sweep();
	CHECK(access(dead, F_OK) != 0);
	CHECK(access(live, F_OK) == 0);
	dblkio_release(live, 0);
	CHECK(access(live, F_OK) != 0);
}

/* Why the disks cannot be tried here, or NULL. */
static const char *no_disks(void)
{
	if (geteuid() != 0)
		return "not root: no loop devices";
	if (access("/dev/loop-control", W_OK) != 0)
		return "no /dev/loop-control";
	if (access("/usr/sbin/mkfs.ext4", X_OK) != 0 && access("/sbin/mkfs.ext4", X_OK) != 0)
		return "no mkfs.ext4";
	return NULL;
}

/* What a failed test may have left: its mounts and cgroups. */
static void cleanup(void)
{
	char path[512];

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		snprintf(path, sizeof path, "%s/%s", tmp_dir, names[k]);
		ddisk_unmount(path);
	}
	for (unsigned id = 1; id <= 9; id += 8) { /* the ids the throttle tests use */
		dblkio_path(id, path, sizeof path);
		if (access(path, F_OK) == 0)
			dblkio_release(path, 0);
	}
}

int main(void)
{
	const char *why = no_disks();

	if (why != NULL) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	umask(022);
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(mount_gives_an_empty_dir_on_a_loop_device_freed_by_the_unmount);
	RUN(fill_leaves_the_headroom_and_unfill_gives_the_room_back);
	RUN(sweep_unmounts_the_disks_of_dead_drills_only);
	RUN(throttle_takes_the_process_and_its_synced_writes_release_removes_it);
	RUN(sweep_removes_the_cgroups_of_dead_drills_only);
	cleanup();
	unit_remove_tree(tmp_dir);
	return unit_done();
}
