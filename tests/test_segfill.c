/* Unit tests of raft/segfill.c: libraft's new segments (open-N) written
 * whole by posix_fallocate once enabled, so that a RWF_NOWAIT direct append
 * starting in a written block is not refused. They need a file system with
 * unwritten extents (ext4, XFS); elsewhere they are skipped, saying why. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "raft/segfill.h"
#include "tests/unit.h"

#define SIZE (1 << 20)
#define BLOCK 4096
#define APPEND (4 * BLOCK)

static char tmp_dir[] = "/tmp/test_segfill.XXXXXX";
static const char *no_unwritten; /* why the file system cannot tell */

/* A new file DIR/name, O_WRONLY | O_DSYNC as libraft opens a segment. */
static int create(const char *name, char *path)
{
	snprintf(path, 256, "%s/%s", tmp_dir, name);
	return open(path, O_WRONLY | O_CREAT | O_EXCL | O_DSYNC | O_CLOEXEC, 0600);
}

/* How many of path's extents are unwritten; -1 when FIEMAP fails. */
static int unwritten_extents(const char *path)
{
	struct {
		struct fiemap map;
		struct fiemap_extent ext[64];
	} f;
	int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;

	memset(&f, 0, sizeof f);
	f.map.fm_length = FIEMAP_MAX_OFFSET;
	f.map.fm_extent_count = 64;
	if (fd < 0 || ioctl(fd, FS_IOC_FIEMAP, &f.map) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	for (unsigned i = 0; i < f.map.fm_mapped_extents; i++)
		n += (f.ext[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN) != 0;
	return n;
}

/* As libraft appends: a direct write of the first APPEND bytes, then a
 * RWF_NOWAIT one starting in its last block. 0 when both were taken, EAGAIN
 * when the second was refused, another errno value on failure. */
static int append_nowait(const char *path)
{
	void *buf = NULL;
	int fd = open(path, O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC), rv = 0;
	struct iovec iov;

	if (fd < 0)
		return errno;
	if (posix_memalign(&buf, BLOCK, APPEND) != 0) {
		close(fd);
		return ENOMEM;
	}
	memset(buf, 0x5a, APPEND);
	iov.iov_base = buf;
	iov.iov_len = APPEND;
	if (pwritev2(fd, &iov, 1, 0, 0) != APPEND ||
	    pwritev2(fd, &iov, 1, APPEND - BLOCK, RWF_NOWAIT) != APPEND)
		rv = errno;
	free(buf);
	close(fd);
	return rv;
}

/* The pages of path in the page cache. */
static size_t cached_pages(const char *path)
{
	unsigned char vec[SIZE / BLOCK];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *map = fd >= 0 ? mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	size_t n = 0;
	long page = sysconf(_SC_PAGESIZE);

	if (map != MAP_FAILED && page == BLOCK && mincore(map, SIZE, vec) == 0)
		for (size_t i = 0; i < sizeof vec; i++)
			n += vec[i] & 1;
	else
		n = (size_t)-1;
	if (map != MAP_FAILED)
		munmap(map, SIZE);
	if (fd >= 0)
		close(fd);
	return n;
}

/* Whether path's bytes from `from` to SIZE are zeros (reading caches them). */
static bool zero_from(const char *path, size_t from)
{
	static char buf[SIZE];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, buf, SIZE, 0) : -1;

	if (fd >= 0)
		close(fd);
	if (n != SIZE)
		return false;
	for (size_t i = from; i < SIZE; i++)
		if (buf[i] != 0)
			return false;
	return true;
}

/* First, before segfill_enable: glibc's allocation, unwritten extents, and
 * the append refused, which is what the module is for. */
TEST(before_enable_a_segment_is_only_allocated)
{
	char path[256];
	int fd = create("open-1", path), rv;

	CHECK(fd >= 0);
	CHECK(!segfill_enabled());
	CHECK_INT(posix_fallocate(fd, 0, SIZE), 0);
	close(fd);
	if (unwritten_extents(path) <= 0) {
		no_unwritten = "the file system of /tmp keeps no unwritten extents";
		UNIT_SKIP(no_unwritten);
		return;
	}
	/* ext4 refuses it; a file system that takes it has nothing to fix,
	 * but the next test still checks the segment's blocks and pages. */
	rv = append_nowait(path);
	if (rv == 0)
		UNIT_SKIP("this file system takes a RWF_NOWAIT append into unwritten blocks");
	else
		CHECK_INT(rv, EAGAIN);
}

TEST(enabled_a_new_segment_is_written_whole_and_uncached)
{
	char path[256];
	int fd = create("open-2", path);

	segfill_enable();
	CHECK(segfill_enabled());
	CHECK(fd >= 0);
	CHECK_INT(posix_fallocate(fd, 0, SIZE), 0);
	close(fd);
	if (no_unwritten != NULL) {
		UNIT_SKIP(no_unwritten);
		return;
	}
	CHECK_INT(unwritten_extents(path), 0);
	CHECK_INT((long)cached_pages(path), 0);
	CHECK_INT(append_nowait(path), 0);
	CHECK(zero_from(path, 2 * APPEND));
}

TEST(enabled_other_files_are_only_allocated)
{
	const char *names[] = { "0000000000000001-0000000000000002", "open-", "opened-1",
				"snapshot-1-2-3" };
	char path[256];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		int fd = create(names[i], path);
		CHECK(fd >= 0);
		CHECK_INT(posix_fallocate(fd, 0, SIZE), 0);
		close(fd);
		if (no_unwritten == NULL)
			CHECK(unwritten_extents(path) > 0);
	}
}

TEST(errors_are_glibcs)
{
	char path[256];
	int fd = create("open-3", path);

	CHECK_INT(posix_fallocate(-1, 0, SIZE), EBADF);
	CHECK_INT(posix_fallocate(fd, 0, -1), EINVAL);
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK_INT(posix_fallocate(fd, 0, SIZE), EBADF);
	close(fd);
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(before_enable_a_segment_is_only_allocated);
	RUN(enabled_a_new_segment_is_written_whole_and_uncached);
	RUN(enabled_other_files_are_only_allocated);
	RUN(errors_are_glibcs);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
