/* Open Raft log segments whose end libraft 0.15 cannot load (see segtail.h). */
#include "raft/segtail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/byteorder.h"
#include "lib/durable.h"
#include "lib/error.h"

/* libraft 0.15's segment format (src/uv_encoding.h, uv.h, uv_segment.c). */
#define SEG_FORMAT 1
#define SEG_MAX_SIZE (8u * 1024 * 1024)
#define SEG_MAX_ENTRIES (SEG_MAX_SIZE / (8 * 4))
#define SEG_PREAMBLE 16 /* two checksums and the entry count */
#define SEG_ENTRY_HEADER 16 /* term, type, 3 unused bytes, data length */
/* Larger files are left to libraft (which reads them whole too). */
#define SEG_READ_MAX ((size_t)1 << 30)

uint32_t segtail_crc32(const void *buf, size_t len, uint32_t init)
{
	const uint8_t *p = buf;
	uint32_t crc = init;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint32_t)p[i] << 24;
		for (int bit = 0; bit < 8; bit++)
			crc = crc & 0x80000000u ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
	}
	return crc;
}

enum walk_end {
	WALK_LOADS,	/* libraft loads it, or drops its damaged end itself */
	WALK_TRIM,	/* libraft's loader fails on the batch at *kept */
};

/* Reads the batches of an open segment as uvLoadEntriesBatch does. Where
 * that returns RAFT_CORRUPT (a zero or absurd count, a checksum mismatch),
 * libraft truncates the segment itself; where it returns anything else (a
 * short read, an unknown entry type), the load fails. */
static enum walk_end walk(const uint8_t *seg, size_t size, size_t *kept, unsigned *batches)
{
	size_t off = 8;

	*batches = 0;
	if (size < 8 || byteorder_get_u64(seg) != SEG_FORMAT)
		return WALK_LOADS; /* refused, or a preallocated segment never written */
	for (;;) {
		size_t left = size - off, header, data = 0;
		const uint8_t *b = seg + off;
		uint64_t n;

		*kept = off;
		if (left < SEG_PREAMBLE)
			return WALK_TRIM;
		n = byteorder_get_u64(b + 8);
		if (n == 0 || n > SEG_MAX_ENTRIES)
			return WALK_LOADS;
		header = 8 + SEG_ENTRY_HEADER * (size_t)n;
		if (left - 8 < header)
			return WALK_TRIM;
		if (segtail_crc32(b + 8, header, 0) != byteorder_get_u32(b))
			return WALK_LOADS;
		for (size_t i = 0; i < n; i++) {
			const uint8_t *e = b + 16 + SEG_ENTRY_HEADER * i;

			if (e[8] < 1 || e[8] > 3) /* RAFT_COMMAND, RAFT_BARRIER, RAFT_CHANGE */
				return WALK_TRIM;
			data += byteorder_get_u32(e + 12);
		}
		if (left - 8 - header < data)
			return WALK_TRIM;
		if (segtail_crc32(b + 8 + header, data, 0) != byteorder_get_u32(b + 4))
			return WALK_LOADS;
		off += 8 + header + data;
		++*batches;
		if (off == size)
			return WALK_LOADS;
	}
}

static bool is_open_segment(const char *name)
{
	size_t digits;

	if (strncmp(name, "open-", 5) != 0)
		return false;
	digits = strspn(name + 5, "0123456789");
	return digits > 0 && name[5 + digits] == '\0';
}

/* Reads DIR/NAME and trims it if libraft could not load it. */
static int trim_one(const char *dir, const char *name, struct segtail_fix *fix, bool *trimmed,
		    char *errmsg)
{
	char path[4096];
	struct stat st;
	uint8_t *seg = NULL;
	size_t kept = 0;
	unsigned batches;
	int fd, rv = ESC_OK;

	*trimmed = false;
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return esc_errorf(errmsg, ESC_EINVAL, "%s: path too long", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 || (size_t)st.st_size > SEG_READ_MAX)
		goto out;
	seg = malloc((size_t)st.st_size);
	if (seg == NULL) {
		rv = esc_errorf(errmsg, ESC_ENOMEM, "%s: no memory to read it", path);
		goto out;
	}
	if (durable_pread(fd, seg, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
		rv = esc_errorf(errmsg, ESC_EIO, "read %s: %s", path,
				errno != 0 ? strerror(errno) : "short read");
		goto out;
	}
	if (walk(seg, (size_t)st.st_size, &kept, &batches) == WALK_LOADS)
		goto out;
	/* No whole batch: an empty open segment, which libraft removes. */
	if (batches == 0)
		kept = 0;
	if (ftruncate(fd, (off_t)kept) != 0 || fsync(fd) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "truncate %s to %zu bytes: %s", path, kept,
				strerror(errno));
		goto out;
	}
	snprintf(fix->name, sizeof fix->name, "%s", name);
	fix->size = (size_t)st.st_size;
	fix->kept = kept;
	fix->batches = batches;
	*trimmed = true;
out:
	free(seg);
	close(fd);
	return rv;
}

int segtail_trim(const char *dir, struct segtail_fix *fixes, unsigned *n, char *errmsg)
{
	struct segtail_fix fix;
	struct dirent *e;
	DIR *d;
	int rv = ESC_OK;

	*n = 0;
	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return ESC_OK;
		return esc_errorf(errmsg, ESC_EIO, "open %s: %s", dir, strerror(errno));
	}
	while (rv == ESC_OK && (e = readdir(d)) != NULL) {
		bool trimmed;

		if (!is_open_segment(e->d_name))
			continue;
		rv = trim_one(dir, e->d_name, &fix, &trimmed, errmsg);
		if (rv == ESC_OK && trimmed) {
			if (*n < SEGTAIL_FIXES_MAX)
				fixes[*n] = fix;
			++*n;
		}
	}
	closedir(d);
	return rv;
}
