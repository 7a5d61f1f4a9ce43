/* The store's files on disk: made durable at a clean stop, removed when damaged. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/error.h"

static const char *const suffixes[] = {"", "-wal", "-shm"};

/* fsync of path; a missing file is fine when optional. */
static int sync_path(const char *path, bool optional, int flags, char *errmsg)
{
	int fd, rv = ESC_OK;

	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		if (optional && errno == ENOENT)
			return ESC_OK;
		return esc_errorf(errmsg, ESC_EIO, "sync %s: %s", path, strerror(errno));
	}
	if (fsync(fd) != 0)
		rv = esc_errorf(errmsg, ESC_EIO, "sync %s: %s", path, strerror(errno));
	close(fd);
	return rv;
}

static int file_name(char *out, size_t size, const char *path, const char *suffix,
		     char *errmsg)
{
	if ((size_t)snprintf(out, size, "%s%s", path, suffix) >= size)
		return esc_errorf(errmsg, ESC_EINVAL, "store path too long: %s", path);
	return ESC_OK;
}

static int sync_dir_of(const char *path, char *errmsg)
{
	char dir[4096];

	snprintf(dir, sizeof dir, "%s", path);
	return sync_path(dirname(dir), false, O_RDONLY | O_DIRECTORY, errmsg);
}

int store_sync_files(const char *path, char *errmsg)
{
	char name[4096];
	int rv;

	for (size_t i = 0; i < 2; i++) { /* the database and its WAL, if any */
		rv = file_name(name, sizeof name, path, suffixes[i], errmsg);
		if (rv == ESC_OK)
			rv = sync_path(name, i > 0, O_RDONLY, errmsg);
		if (rv != ESC_OK)
			return rv;
	}
	return sync_dir_of(path, errmsg);
}

int store_remove_files(const char *path, char *errmsg)
{
	char name[4096];
	int rv;

	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		rv = file_name(name, sizeof name, path, suffixes[i], errmsg);
		if (rv != ESC_OK)
			return rv;
		if (unlink(name) != 0 && errno != ENOENT)
			return esc_errorf(errmsg, ESC_EIO, "remove %s: %s", name, strerror(errno));
	}
	return sync_dir_of(path, errmsg);
}
