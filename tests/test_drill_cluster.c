/* Unit tests of drill run's cluster files (drill_cluster.c): the recovery of
 * a node refused on a damaged log empties its data dir as the documented
 * recovery says, keeping its break-glass journal files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "store/journal.h"
#include "tests/unit.h"
#include "tools/drill/drill_cluster.h"

static char tmp_dir[] = "/tmp/test_drill_cluster.XXXXXX";

/* DIR/name, in a static buffer: use it before the next call. */
static const char *at(const char *dir, const char *name)
{
	static char path[600];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return path;
}

static void put(const char *dir, const char *name)
{
	int fd = open(at(dir, name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, "x", 1) == 1);
		close(fd);
	}
}

static bool exists(const char *dir, const char *name)
{
	struct stat st;

	return lstat(at(dir, name), &st) == 0;
}

#define DAMAGED JOURNAL_FILE ".damaged-20261205T000000Z"

TEST(wipe_keeps_the_break_glass_journal_files_only)
{
	static struct dcluster c;
	char errmsg[ESC_ERRMSG_SIZE] = "", *data = c.nodes[0].data;

	c.n = 1;
	snprintf(data, sizeof c.nodes[0].data, "%s/n1", tmp_dir);
	CHECK(mkdir(data, 0700) == 0);
	CHECK(mkdir(at(data, "raft"), 0700) == 0);
	put(data, "escrow.db");
	put(data, "node-id");
	put(data, "raft/0000000000000001-0000000000000002");
	put(data, "raft/" JOURNAL_FILE); /* below the top: not the node's journal */
	put(data, JOURNAL_FILE);
	put(data, JOURNAL_REFUSED);
	put(data, DAMAGED);

	CHECK_INT(dcluster_wipe(&c, 0, errmsg), ESC_OK);
	CHECK(exists(data, JOURNAL_FILE));
	CHECK(exists(data, JOURNAL_REFUSED));
	CHECK(exists(data, DAMAGED));
	CHECK(!exists(data, "escrow.db"));
	CHECK(!exists(data, "node-id"));
	CHECK(!exists(data, "raft"));

	/* Nothing to keep: the directory is made again, empty. */
	CHECK(unlink(at(data, JOURNAL_FILE)) == 0);
	CHECK(unlink(at(data, JOURNAL_REFUSED)) == 0);
	CHECK(unlink(at(data, DAMAGED)) == 0);
	put(data, "escrow.db");
	CHECK_INT(dcluster_wipe(&c, 0, errmsg), ESC_OK);
	CHECK(exists(tmp_dir, "n1"));
	CHECK(!exists(data, "escrow.db"));
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(wipe_keeps_the_break_glass_journal_files_only);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
