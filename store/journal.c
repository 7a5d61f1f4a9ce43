/* The break-glass journal: length- and SHA-256-checked records, appended and fsynced. */
#include "store/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/byteorder.h"
#include "lib/durable.h"
#include "lib/error.h"

#define HASH_SIZE 32

static bool sha256(const void *data, size_t len, uint8_t out[HASH_SIZE])
{
	unsigned n = 0;

	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == HASH_SIZE;
}

int journal_append(const char *path, const void *data, size_t len, char *errmsg)
{
	uint8_t *buf;
	bool created = false;
	struct stat sb;
	int fd, rv = ESC_OK;

	if (len == 0 || len > JOURNAL_RECORD_MAX || ((const uint8_t *)data)[len - 1] == 0)
		return esc_errorf(errmsg, ESC_EINVAL, "journal: a record of %zu bytes", len);
	buf = malloc(JOURNAL_HEAD_SIZE + len);
	if (buf == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "journal: out of memory");
	byteorder_put_u32(buf, (uint32_t)len);
	byteorder_put_u32(buf + 4, ~(uint32_t)len);
	memcpy(buf + JOURNAL_HEAD_SIZE, data, len);
	if (!sha256(data, len, buf + 8)) {
		free(buf);
		return esc_errorf(errmsg, ESC_ECRYPTO, "journal: SHA-256 failed");
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			  0600);
		created = fd >= 0;
	}
	if (fd < 0) {
		free(buf);
		return esc_errorf(errmsg, ESC_EIO, "open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "stat %s: %s", path, strerror(errno));
	} else if (durable_write(fd, buf, JOURNAL_HEAD_SIZE + len) != 0 || fsync(fd) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "append to %s: %s", path, strerror(errno));
		/* Best effort: no half record before the next one. */
		if (ftruncate(fd, sb.st_size) != 0)
			(void)0;
	}
	free(buf);
	if (close(fd) != 0 && rv == ESC_OK)
		rv = esc_errorf(errmsg, ESC_EIO, "close %s: %s", path, strerror(errno));
	if (rv == ESC_OK && created)
		rv = durable_sync_parent(path, errmsg);
	return rv;
}

/* Reads the whole file into *out (NULL and 0 when missing). */
static int slurp(const char *path, uint8_t **out, size_t *len, char *errmsg)
{
	struct stat sb;
	uint8_t *buf;
	ssize_t n;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return ESC_OK;
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return esc_errorf(errmsg, ESC_EIO, "stat %s: %s", path, strerror(errno));
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return esc_errorf(errmsg, ESC_ENOMEM, "journal: out of memory");
	}
	n = durable_read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (n < 0) {
		free(buf);
		return esc_errorf(errmsg, ESC_EIO, "read %s: %s", path, strerror(errno));
	}
	*out = buf;
	*len = (size_t)n;
	return ESC_OK;
}

int journal_read(const char *path, journal_record_cb cb, void *arg, struct journal_scan *scan,
		 char *errmsg)
{
	uint8_t *buf, hash[HASH_SIZE];
	size_t len, off = 0;
	int rv;

	memset(scan, 0, sizeof *scan);
	rv = slurp(path, &buf, &len, errmsg);
	if (rv != ESC_OK)
		return rv;
	scan->file_len = (off_t)len;
	while (rv == ESC_OK && off < len) {
		size_t left = len - off, n;
		/* Zero bytes at the end: data a crash kept from the file. */
		bool zero_tail = buf[len - 1] == 0;

		if (left < JOURNAL_HEAD_SIZE) {
			scan->torn = true; /* a prefix of a head */
			break;
		}
		n = byteorder_get_u32(buf + off);
		if (n == 0 || n > JOURNAL_RECORD_MAX ||
		    byteorder_get_u32(buf + off + 4) != (uint32_t)~n) {
			if (zero_tail)
				scan->torn = true;
			else
				rv = esc_errorf(errmsg, ESC_ECORRUPT,
						"%s: record at byte %zu has a damaged length", path,
						off);
			break;
		}
		if (n > left - JOURNAL_HEAD_SIZE) {
			scan->torn = true; /* a prefix of a record */
			break;
		}
		if (!sha256(buf + off + JOURNAL_HEAD_SIZE, n, hash)) {
			rv = esc_errorf(errmsg, ESC_ECRYPTO, "journal: SHA-256 failed");
			break;
		}
		if (memcmp(hash, buf + off + 8, HASH_SIZE) != 0) {
			if (n == left - JOURNAL_HEAD_SIZE && zero_tail)
				scan->torn = true;
			else
				rv = esc_errorf(errmsg, ESC_ECORRUPT,
						"%s: record at byte %zu fails its SHA-256 check",
						path, off);
			break;
		}
		if (cb != NULL)
			rv = cb(arg, buf + off + JOURNAL_HEAD_SIZE, n);
		if (rv != ESC_OK)
			break;
		off += JOURNAL_HEAD_SIZE + n;
		scan->records++;
		scan->good_len = (off_t)off;
	}
	free(buf);
	return rv;
}

int journal_recover(const char *path, const char *stamp, bool *dropped_torn, char *moved_to,
		    size_t moved_size, char *errmsg)
{
	struct journal_scan scan;
	char why[ESC_ERRMSG_SIZE];
	int fd, rv;

	*dropped_torn = false;
	if (moved_size > 0)
		moved_to[0] = '\0';
	rv = journal_read(path, NULL, NULL, &scan, why);
	if (rv == ESC_ECORRUPT) {
		if ((size_t)snprintf(moved_to, moved_size, "%s.damaged-%s", path, stamp) >=
		    moved_size)
			return esc_errorf(errmsg, ESC_EIO, "%s: path too long to move aside", path);
		if (rename(path, moved_to) != 0)
			return esc_errorf(errmsg, ESC_EIO, "%s (moving it to %s: %s)", why,
					  moved_to, strerror(errno));
		rv = durable_sync_parent(path, errmsg);
		if (rv != ESC_OK)
			return rv;
		return esc_errorf(errmsg, ESC_ECORRUPT, "%s", why);
	}
	if (rv != ESC_OK) {
		snprintf(errmsg, ESC_ERRMSG_SIZE, "%s", why);
		return rv;
	}
	if (!scan.torn)
		return ESC_OK;
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "open %s: %s", path, strerror(errno));
	if (ftruncate(fd, scan.good_len) != 0 || fsync(fd) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "cut %s: %s", path, strerror(errno));
		close(fd);
		return rv;
	}
	close(fd);
	*dropped_torn = true;
	return ESC_OK;
}

int journal_consume(const char *path, off_t good_len, char *errmsg)
{
	uint8_t *buf;
	size_t len;
	int rv;

	rv = slurp(path, &buf, &len, errmsg);
	if (rv != ESC_OK)
		return rv;
	if (buf == NULL)
		return ESC_OK;
	if ((off_t)len <= good_len) {
		free(buf);
		if (unlink(path) != 0 && errno != ENOENT)
			return esc_errorf(errmsg, ESC_EIO, "remove %s: %s", path, strerror(errno));
		return durable_sync_parent(path, errmsg);
	}
	/* Records appended since the replay began stay for the next one. */
	rv = durable_write_file(path, buf + good_len, len - (size_t)good_len, 0600, errmsg);
	free(buf);
	return rv;
}
