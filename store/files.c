/* The store's files on disk: made durable at a clean stop, removed when damaged. */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/durable.h"
#include "lib/error.h"

static const char *const suffixes[] = {"", "-wal", "-shm"};

static int file_name(char *out, size_t size, const char *path, const char *suffix,
		     char *errmsg)
{
	if ((size_t)snprintf(out, size, "%s%s", path, suffix) >= size)
		return esc_errorf(errmsg, ESC_EINVAL, "store path too long: %s", path);
	return ESC_OK;
}

int store_sync_files(const char *path, char *errmsg)
{
	char name[4096];
	int rv;

	for (size_t i = 0; i < 2; i++) { /* the database and its WAL, if any */
		rv = file_name(name, sizeof name, path, suffixes[i], errmsg);
		if (rv == ESC_OK)
			rv = durable_sync_path(name, i > 0, errmsg);
		if (rv != ESC_OK)
			return rv;
	}
	return durable_sync_parent(path, errmsg);
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
	return durable_sync_parent(path, errmsg);
}
