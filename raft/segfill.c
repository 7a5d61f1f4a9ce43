/* libraft's new log segments written whole (see segfill.h). */
#include "raft/segfill.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SEGFILL_CHUNK (1u << 20)         /* bytes of zeros per write */
#define SEGFILL_PREFIX "open-"           /* libraft 0.15's new segments */

typedef int (*fallocate_fn)(int fd, off_t offset, off_t len);

static atomic_bool enabled;
static char zeros[SEGFILL_CHUNK];
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;
static fallocate_fn libc_posix_fallocate;

void segfill_enable(void)
{
	atomic_store(&enabled, true);
}

bool segfill_enabled(void)
{
	return atomic_load(&enabled);
}

static void libc_find(void)
{
	libc_posix_fallocate = (fallocate_fn)dlsym(RTLD_NEXT, "posix_fallocate");
}

/* The call glibc's posix_fallocate makes first: for the rare process where
 * dlsym found none. */
static int plain_fallocate(int fd, off_t offset, off_t len)
{
	return fallocate(fd, 0, offset, len) == 0 ? 0 : errno;
}

/* Whether fd is a file named open-N. */
static bool is_new_segment(int fd)
{
	char link[64], path[4096];
	const size_t prefix = sizeof SEGFILL_PREFIX - 1;
	const char *base;
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return false;
	path[n] = '\0';
	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	return strncmp(base, SEGFILL_PREFIX, prefix) == 0 && base[prefix] >= '0' &&
	       base[prefix] <= '9';
}

/* Zeros over [offset, offset + len) of fd, synced, then the file's pages
 * dropped from the page cache. 0 or an errno value. */
static int fill(int fd, off_t offset, off_t len)
{
	off_t done = 0;

	while (done < len) {
		size_t n = len - done < (off_t)SEGFILL_CHUNK ? (size_t)(len - done) : SEGFILL_CHUNK;
		ssize_t w = pwrite(fd, zeros, n, offset + done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		done += w;
	}
	if (fdatasync(fd) != 0)
		return errno;
	/* Advice only: a page it leaves costs a refused write, not data. */
	(void)posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED);
	return 0;
}

int posix_fallocate(int fd, off_t offset, off_t len)
{
	int rv;

	pthread_once(&libc_once, libc_find);
	rv = libc_posix_fallocate != NULL ? libc_posix_fallocate(fd, offset, len)
					  : plain_fallocate(fd, offset, len);
	if (rv != 0 || !atomic_load(&enabled) || len <= 0 || !is_new_segment(fd))
		return rv;
	return fill(fd, offset, len);
}
