/* Durable files: EINTR-safe read and write loops, fsync of a path or its
 * directory, and the temporary name, fsync, rename, fsync-the-directory
 * sequence every durable file of escrow is written with. */
#ifndef ESCROW_DURABLE_H
#define ESCROW_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The five loops below work like the system calls they wrap (so callers
 * keep errno), but retry on EINTR and on short counts. */

/* Reads len bytes into buf, stopping early only at the end of the file.
 * Returns the count (less than len only at the end), or -1 with errno set. */
ssize_t durable_read(int fd, void *buf, size_t len);

/* durable_read from offset off, leaving the file offset alone. */
ssize_t durable_pread(int fd, void *buf, size_t len, off_t off);

/* Writes all len bytes of buf. Returns 0, or -1 with errno set (EIO when
 * the kernel accepts no byte without saying why). */
int durable_write(int fd, const void *buf, size_t len);

/* durable_write at offset off, leaving the file offset alone. */
int durable_pwrite(int fd, const void *buf, size_t len, off_t off);

/* durable_pwrite of the iovcnt buffers of iov, one after the other from
 * offset off, with as few pwritev calls as the kernel allows (IOV_MAX
 * buffers each). iov is the loop's scratch: its entries are changed. */
int durable_pwritev(int fd, struct iovec *iov, int iovcnt, off_t off);

/* fsync of the file or directory at path. A missing path (ENOENT) is fine
 * when optional. ESC_EIO on failure, with "fsync PATH: why" in errmsg
 * (which may be NULL). */
int durable_sync_path(const char *path, bool optional, char *errmsg);

/* fsync of the directory holding path (".", for a bare name), so that an
 * entry created, renamed or removed there survives a crash. ESC_EIO on
 * failure, ESC_EINVAL when path is longer than PATH_MAX. */
int durable_sync_parent(const char *path, char *errmsg);

/* Renames tmp to path, then fsyncs the directory of path. tmp's data must
 * be fsynced already. With noreplace an existing path is refused
 * (ESC_EINVAL, "PATH already exists") and left alone; a file system that
 * cannot refuse atomically gets a plain rename (the caller checked path
 * absent). ESC_EIO when a system call fails. On error tmp, if still there,
 * is the caller's to remove; when only the directory fsync failed, path is
 * removed (best effort), so that an error never leaves behind a new file a
 * crash could take back. */
int durable_rename(const char *tmp, const char *path, bool noreplace, char *errmsg);

/* Writes len bytes of data to path durably: into PATH.tmp (created with
 * mode under the umask, or truncated when a crash left one; O_NOFOLLOW),
 * fsync, rename over path, fsync of the directory. Writers of one path
 * must not run at once. data is borrowed for the call. ESC_EIO on failure
 * (ESC_EINVAL when path is too long): PATH.tmp is removed, and path is
 * unchanged unless only the directory fsync failed (then it is removed, as
 * by durable_rename). */
int durable_write_file(const char *path, const void *data, size_t len, mode_t mode,
		       char *errmsg);

#endif
