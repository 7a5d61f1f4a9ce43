/* Unit tests of store/journal: records appended and read back, a torn last
 * record told apart from damage, recovery that cuts the one and moves the
 * other aside, and consuming replayed records. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "store/journal.h"
#include "tests/unit.h"

static char tmp_dir[] = "/tmp/test_journal.XXXXXX";
static char path[512], errmsg[ESC_ERRMSG_SIZE];

static int count_cb(void *arg, const uint8_t *data, size_t len)
{
	(void)data;
	*(size_t *)arg += len;
	return ESC_OK;
}

static off_t file_size(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

/* Appends n records "entry 0", "entry 1", ...; returns the file size. */
static off_t write_records(int n)
{
	char rec[32];

	unlink(path);
	for (int i = 0; i < n; i++) {
		snprintf(rec, sizeof rec, "entry %d", i);
		if (journal_append(path, rec, strlen(rec), errmsg) != ESC_OK) {
			printf("# append: %s\n", errmsg);
			return -1;
		}
	}
	return file_size(path);
}

static void flip_byte(off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	CHECK(fd >= 0);
	CHECK(pread(fd, &b, 1, at) == 1);
	b ^= 0x5a;
	CHECK(pwrite(fd, &b, 1, at) == 1);
	close(fd);
}

TEST(append_and_read_back)
{
	struct journal_scan scan;
	size_t bytes = 0;

	CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_OK); /* missing: empty */
	CHECK_INT(scan.records, 0);
	CHECK_INT(write_records(3), 3 * JOURNAL_HEAD_SIZE + 3 * 7);
	CHECK_INT(journal_read(path, count_cb, &bytes, &scan, errmsg), ESC_OK);
	CHECK_INT(scan.records, 3);
	CHECK_INT(bytes, 21);
	CHECK(!scan.torn && scan.good_len == scan.file_len);
	CHECK_INT(journal_append(path, "", 0, errmsg), ESC_EINVAL);
	CHECK_INT(file_size(path), scan.file_len);
}

TEST(torn_last_record_is_cut_at_recovery)
{
	struct journal_scan scan;
	char moved[600];
	off_t whole = write_records(2), two;
	bool torn;

	/* Every cut inside the last record is a torn append. */
	two = whole;
	for (off_t cut = whole - 1; cut > whole - JOURNAL_HEAD_SIZE - 7; cut--) {
		CHECK_INT(truncate(path, cut), 0);
		CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_OK);
		CHECK(scan.torn && scan.records == 1);
	}
	two = write_records(2);
	/* A last record whose bytes fail their check: damage, unless they end
	 * in zero bytes the crash kept from the file. */
	flip_byte(two - 1);
	CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_ECORRUPT);
	{
		int fd = open(path, O_WRONLY);
		CHECK(fd >= 0 && pwrite(fd, "\0\0\0", 3, two - 3) == 3);
		close(fd);
	}
	CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_OK);
	CHECK(scan.torn && scan.records == 1);
	CHECK_INT(journal_recover(path, "T", &torn, moved, sizeof moved, errmsg), ESC_OK);
	CHECK(torn && moved[0] == '\0');
	CHECK_INT(file_size(path), JOURNAL_HEAD_SIZE + 7);
	CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_OK);
	CHECK(!scan.torn && scan.records == 1);
	CHECK_INT(journal_recover(path, "T", &torn, moved, sizeof moved, errmsg), ESC_OK);
	CHECK(!torn);
}

TEST(damage_before_the_last_record_moves_the_file_aside)
{
	struct journal_scan scan;
	char moved[600], expect[600];
	bool torn;

	write_records(3);
	flip_byte(JOURNAL_HEAD_SIZE + 2); /* inside the first record's payload */
	CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "SHA-256") != NULL);
	CHECK_INT(journal_recover(path, "20261204T000000Z", &torn, moved, sizeof moved, errmsg),
		  ESC_ECORRUPT);
	snprintf(expect, sizeof expect, "%s.damaged-20261204T000000Z", path);
	CHECK_STR(moved, expect);
	CHECK_INT(file_size(path), -1);
	CHECK_INT(file_size(moved), 3 * JOURNAL_HEAD_SIZE + 21);
	unlink(moved);

	/* A damaged length, even one that runs past the end, is damage. */
	write_records(3);
	flip_byte(1);
	CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "damaged length") != NULL);
	CHECK_INT(journal_recover(path, "X", &torn, moved, sizeof moved, errmsg), ESC_ECORRUPT);
	CHECK_INT(file_size(path), -1);
	unlink(moved);
	/* Zero bytes after whole records: a torn append. */
	write_records(2);
	{
		int fd = open(path, O_WRONLY | O_APPEND);
		char zeros[100] = { 0 };
		CHECK(fd >= 0 && write(fd, zeros, sizeof zeros) == (ssize_t)sizeof zeros);
		close(fd);
	}
	CHECK_INT(journal_recover(path, "X", &torn, moved, sizeof moved, errmsg), ESC_OK);
	CHECK(torn);
	CHECK_INT(file_size(path), 2 * JOURNAL_HEAD_SIZE + 14);
	CHECK_INT(journal_append(path, "x\0", 2, errmsg), ESC_EINVAL);
	unlink(path);
}

TEST(consume_removes_what_was_replayed_and_keeps_the_rest)
{
	struct journal_scan scan;
	off_t two = write_records(2);

	CHECK_INT(journal_consume(path, two, errmsg), ESC_OK);
	CHECK_INT(file_size(path), -1);
	CHECK_INT(journal_consume(path, two, errmsg), ESC_OK); /* nothing there */
	write_records(3);
	CHECK_INT(journal_consume(path, two, errmsg), ESC_OK);
	CHECK_INT(journal_read(path, NULL, NULL, &scan, errmsg), ESC_OK);
	CHECK(scan.records == 1 && !scan.torn);
	unlink(path);
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/%s", tmp_dir, JOURNAL_FILE);
	RUN(append_and_read_back);
	RUN(torn_last_record_is_cut_at_recovery);
	RUN(damage_before_the_last_record_moves_the_file_aside);
	RUN(consume_removes_what_was_replayed_and_keeps_the_rest);
	unlink(path);
	rmdir(tmp_dir);
	return unit_done();
}
