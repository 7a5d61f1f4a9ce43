/* The disk watermark's arithmetic and its statvfs. */
#include "node/diskwatch.h"

#include <stdio.h>
#include <sys/statvfs.h>

uint64_t diskwatch_min_free(size_t segment_size)
{
	uint64_t want = (uint64_t)segment_size * DISKWATCH_SEGMENTS;

	return want > DISKWATCH_FLOOR_BYTES ? want : DISKWATCH_FLOOR_BYTES;
}

bool diskwatch_free(const char *path, uint64_t *free_bytes)
{
	struct statvfs st;

	if (statvfs(path, &st) != 0)
		return false;
	*free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	return true;
}

bool diskwatch_low(const char *path, uint64_t free_bytes, uint64_t min_free, char *why,
		   size_t size)
{
	if (free_bytes >= min_free)
		return false;
	snprintf(why, size, "the disk of %s is nearly full: %llu KiB free, %llu KiB needed "
		 "for the Raft log to go on", path, (unsigned long long)(free_bytes >> 10),
		 (unsigned long long)(min_free >> 10));
	return true;
}
