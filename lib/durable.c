/* Durable files: read and write loops, fsync, and the temp-rename sequence. */
#include "lib/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/error.h"

/* The read loop of durable_read (off < 0) and durable_pread. */
static ssize_t read_loop(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (off < 0)
			n = read(fd, (char *)buf + done, len - done);
		else
			n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* The write loop of durable_write (off < 0) and durable_pwrite. */
static int write_loop(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (off < 0)
			n = write(fd, (const char *)buf + done, len - done);
		else
			n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO; /* would loop for ever */
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

ssize_t durable_read(int fd, void *buf, size_t len)
{
	return read_loop(fd, buf, len, -1);
}

ssize_t durable_pread(int fd, void *buf, size_t len, off_t off)
{
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	return read_loop(fd, buf, len, off);
}

int durable_write(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, -1);
}

int durable_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	return write_loop(fd, buf, len, off);
}

int durable_pwritev(int fd, struct iovec *iov, int iovcnt, off_t off)
{
	ssize_t n;

	if (off < 0 || iovcnt < 0) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		/* Skip what is written, and empty buffers (a count of 0 must
		 * mean that the kernel took nothing). */
		while (iovcnt > 0 && iov->iov_len == 0) {
			iov++;
			iovcnt--;
		}
		if (iovcnt == 0)
			return 0;
		n = pwritev(fd, iov, iovcnt < IOV_MAX ? iovcnt : IOV_MAX, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO; /* would loop for ever */
			return -1;
		}
		off += (off_t)n;
		while ((size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov->iov_len = 0;
			iov++;
			iovcnt--;
			if (iovcnt == 0)
				break;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
}

int durable_sync_path(const char *path, bool optional, char *errmsg)
{
	int fd, rv = 0;

	/* O_RDONLY opens a directory as well as a file; O_NONBLOCK keeps a
	 * FIFO from hanging us (its fsync then fails). */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return esc_errorf(errmsg, ESC_EIO, "fsync %s: %s", path, strerror(errno));
	}
	if (fsync(fd) != 0)
		rv = esc_errorf(errmsg, ESC_EIO, "fsync %s: %s", path, strerror(errno));
	close(fd);
	return rv;
}

int durable_sync_parent(const char *path, char *errmsg)
{
	char dir[PATH_MAX];

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return esc_errorf(errmsg, ESC_EINVAL, "fsync the directory of %.64s...: path too long",
				  path);
	return durable_sync_path(dirname(dir), false, errmsg);
}

/* rename(2), or renameat2 with RENAME_NOREPLACE; errno set on failure. */
static int rename_once(const char *tmp, const char *path, bool noreplace)
{
	if (!noreplace)
		return rename(tmp, path);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	/* A file system without RENAME_NOREPLACE: the caller checked path. */
	if (errno == EINVAL || errno == ENOSYS)
		return rename(tmp, path);
	return -1;
}

int durable_rename(const char *tmp, const char *path, bool noreplace, char *errmsg)
{
	int rv;

	if (rename_once(tmp, path, noreplace) != 0) {
		if (noreplace && errno == EEXIST)
			return esc_errorf(errmsg, ESC_EINVAL, "%s already exists", path);
		return esc_errorf(errmsg, ESC_EIO, "rename %s to %s: %s", tmp, path,
				  strerror(errno));
	}
	rv = durable_sync_parent(path, errmsg);
	if (rv != 0)
		unlink(path);
	return rv;
}

int durable_write_file(const char *path, const void *data, size_t len, mode_t mode,
		       char *errmsg)
{
	char tmp[PATH_MAX];
	int fd, rv;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return esc_errorf(errmsg, ESC_EINVAL, "write %.64s...: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "create %s: %s", tmp, strerror(errno));
	if (durable_write(fd, data, len) != 0 || fsync(fd) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "write %s: %s", tmp, strerror(errno));
		close(fd);
		goto err_unlink_tmp;
	}
	if (close(fd) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "write %s: %s", tmp, strerror(errno));
		goto err_unlink_tmp;
	}
	rv = durable_rename(tmp, path, false, errmsg);
	if (rv != 0)
		goto err_unlink_tmp;
	return 0;

err_unlink_tmp:
	unlink(tmp);
	return rv;
}
