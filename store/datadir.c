/* A node's data directory: layout, lock and node-id file. */
#include "store/datadir.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/durable.h"
#include "lib/error.h"

#define DATADIR_NAME_MAX 32 /* room for "/NAME.tmp" of the longest name in DIR */
#define NODE_ID_MAX 65535
#define PID_MAX 4194304 /* Linux PID_MAX_LIMIT */

/* Writes DIR/name into out (DATADIR_PATH_MAX bytes). */
static void path_join(char *out, const char *dir, const char *name)
{
	size_t dir_len = strlen(dir), name_len = strlen(name);

	/* datadir_open checked that DIR and any name of ours fit. */
	assert(dir_len + 1 + name_len < DATADIR_PATH_MAX);
	memcpy(out, dir, dir_len);
	out[dir_len] = '/';
	memcpy(out + dir_len + 1, name, name_len + 1);
}

/* Makes sure path is a directory, creating it (mode 0700) when missing and
 * then syncing its parent so that the new entry is durable. */
static int dir_ensure(const char *path, char *errmsg)
{
	struct stat st;
	int rv;

	if (mkdir(path, 0700) == 0) {
		rv = durable_sync_parent(path, errmsg);
		if (rv != 0)
			esc_errprefix(errmsg, "data dir");
		return rv;
	}
	if (errno != EEXIST)
		return esc_errorf(errmsg, ESC_EIO, "data dir: cannot create %s: %s",
				  path, strerror(errno));
	if (stat(path, &st) != 0)
		return esc_errorf(errmsg, ESC_EIO, "data dir: cannot stat %s: %s",
				  path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return esc_errorf(errmsg, ESC_EINVAL, "data dir: %s is not a directory",
				  path);
	return 0;
}

/* Reads up to size - 1 bytes from the start of fd, NUL-terminated.
 * Returns the length, or -1 on error or when the file holds more. */
static ssize_t file_read_small(int fd, char *buf, size_t size)
{
	ssize_t n;
	char more;

	n = durable_pread(fd, buf, size - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	if ((size_t)n == size - 1 && pread(fd, &more, 1, (off_t)n) != 0)
		return -1;
	return n;
}

/* Parses "N" or "N\n" with 1 <= N <= max; 0 when malformed. */
static unsigned long number_parse(const char *s, unsigned long max)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 10; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (i == 0 || (s[i] == '\n' ? s[i + 1] != '\0' : s[i] != '\0'))
		return 0;
	return v <= max ? v : 0;
}

/* Takes the exclusive lock on DIR/LOCK and writes our pid into it. */
static int lock_take(struct datadir *d, char *errmsg)
{
	char path[DATADIR_PATH_MAX], buf[32];
	unsigned long pid;
	int fd, rv, len;

	path_join(path, d->path, "LOCK");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "data dir %s: cannot open LOCK: %s",
				  d->path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			rv = esc_errorf(errmsg, ESC_EIO, "data dir %s: cannot lock LOCK: %s",
					d->path, strerror(errno));
			goto err_close;
		}
		/* The holder may not have written its pid yet. */
		pid = file_read_small(fd, buf, sizeof(buf)) > 0
			      ? number_parse(buf, PID_MAX)
			      : 0;
		if (pid != 0)
			rv = esc_errorf(errmsg, ESC_ELOCKED,
					"data dir %s is in use by another escrowd (pid %lu)",
					d->path, pid);
		else
			rv = esc_errorf(errmsg, ESC_ELOCKED,
					"data dir %s is in use by another escrowd",
					d->path);
		goto err_close;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || durable_pwrite(fd, buf, (size_t)len, 0) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "data dir %s: cannot write LOCK: %s",
				d->path, strerror(errno));
		goto err_close; /* closing the fd releases the lock */
	}
	d->lock_fd = fd;
	return 0;

err_close:
	close(fd);
	return rv;
}

/* Reads DIR/node-id: sets d->fresh when missing, fails when it names
 * another node. */
static int id_check(struct datadir *d, char *errmsg)
{
	char path[DATADIR_PATH_MAX], buf[32];
	unsigned long id;
	ssize_t n;
	int fd, err;

	path_join(path, d->path, "node-id");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		d->fresh = true;
		return 0;
	}
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "data dir %s: cannot open node-id: %s",
				  d->path, strerror(errno));
	n = file_read_small(fd, buf, sizeof(buf));
	err = errno;
	close(fd);
	if (n < 0)
		return esc_errorf(errmsg, ESC_EIO, "data dir %s: cannot read node-id: %s",
				  d->path, strerror(err));
	id = number_parse(buf, NODE_ID_MAX);
	if (id == 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "data dir %s: node-id file is malformed", d->path);
	if (id != d->id)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "data dir %s belongs to node %lu, not node %u", d->path,
				  id, d->id);
	d->fresh = false;
	return 0;
}

int datadir_open(struct datadir *d, const char *path, unsigned id, char *errmsg)
{
	size_t len = strlen(path);
	int rv;

	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
	if (len == 0)
		return esc_errorf(errmsg, ESC_EINVAL, "data dir: empty path");
	if (len + DATADIR_NAME_MAX >= DATADIR_PATH_MAX)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "data dir: path is longer than %d characters",
				  DATADIR_PATH_MAX - DATADIR_NAME_MAX - 1);
	if (id == 0 || id > NODE_ID_MAX)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "data dir: node id %u is not in 1..%d", id, NODE_ID_MAX);
	/* "dir/" would give "dir//raft": keep one spelling. */
	while (len > 1 && path[len - 1] == '/')
		len--;
	memcpy(d->path, path, len);
	d->path[len] = '\0';
	path_join(d->raft_dir, d->path, "raft");
	path_join(d->db_path, d->path, "escrow.db");
	d->id = id;

	rv = dir_ensure(d->path, errmsg);
	if (rv != 0)
		return rv;
	rv = lock_take(d, errmsg);
	if (rv != 0)
		return rv;
	/* Only with the lock held, and only for our own node: touch nothing
	 * in a directory that belongs to another process or node. */
	rv = id_check(d, errmsg);
	if (rv != 0)
		goto err_unlock;
	rv = dir_ensure(d->raft_dir, errmsg);
	if (rv != 0)
		goto err_unlock;
	return 0;

err_unlock:
	datadir_close(d);
	return rv;
}

int datadir_write_file(struct datadir *d, const char *name, const char *content,
		       char *errmsg)
{
	char path[DATADIR_PATH_MAX];
	int rv;

	path_join(path, d->path, name);
	rv = durable_write_file(path, content, strlen(content), 0600, errmsg);
	if (rv != 0)
		esc_errprefix(errmsg, "data dir");
	return rv;
}

int datadir_read_file(struct datadir *d, const char *name, char *buf, size_t size,
		      char *errmsg)
{
	char path[DATADIR_PATH_MAX];
	ssize_t n;
	int fd;

	path_join(path, d->path, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return ESC_ENOTFOUND;
		return esc_errorf(errmsg, ESC_EIO, "data dir %s: cannot open %s: %s", d->path,
				  name, strerror(errno));
	}
	n = file_read_small(fd, buf, size);
	close(fd);
	if (n < 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "data dir %s: %s is unreadable or too long",
				  d->path, name);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

int datadir_remove_file(struct datadir *d, const char *name, char *errmsg)
{
	char path[DATADIR_PATH_MAX];
	int rv;

	path_join(path, d->path, name);
	if (unlink(path) != 0 && errno != ENOENT)
		return esc_errorf(errmsg, ESC_EIO, "data dir %s: cannot remove %s: %s", d->path,
				  name, strerror(errno));
	rv = durable_sync_path(d->path, false, errmsg);
	if (rv != 0)
		esc_errprefix(errmsg, "data dir");
	return rv;
}

int datadir_check_seal(struct datadir *d, const char *fingerprint, const char *key_path,
		       char *errmsg)
{
	char recorded[64];
	int rv;

	rv = datadir_read_file(d, DATADIR_SEAL_FINGERPRINT, recorded, sizeof(recorded), errmsg);
	if (rv == ESC_ENOTFOUND)
		return datadir_write_file(d, DATADIR_SEAL_FINGERPRINT, fingerprint, errmsg);
	if (rv != 0)
		return rv;
	if (strcmp(recorded, fingerprint) != 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "wrong seal key: this data dir needs the key with fingerprint %s, "
				  "but %s has fingerprint %s",
				  recorded, key_path, fingerprint);
	return 0;
}

int datadir_commit_id(struct datadir *d, char *errmsg)
{
	char buf[32];
	int rv;

	if (!d->fresh)
		return 0;
	snprintf(buf, sizeof(buf), "%u\n", d->id);
	rv = datadir_write_file(d, "node-id", buf, errmsg);
	if (rv == 0)
		d->fresh = false;
	return rv;
}

void datadir_close(struct datadir *d)
{
	if (d->lock_fd < 0)
		return;
	/* LOCK stays: removing it would race with the next opener. */
	flock(d->lock_fd, LOCK_UN);
	close(d->lock_fd);
	d->lock_fd = -1;
}
