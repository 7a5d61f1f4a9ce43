/* Unit tests of node/storeguard (when the store is trusted after a stop),
 * store_sync_files / store_remove_files, and node/looplag (loop delays). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/datadir.h"
#include "node/looplag.h"
#include "node/storeguard.h"
#include "lib/error.h"
#include "store/store.h"
#include "tests/unit.h"

static char tmp_dir[] = "/tmp/test_storeguard.XXXXXX";
static char errmsg[ESC_ERRMSG_SIZE];

static void write_guard(struct datadir *d, const char *content)
{
	char path[DATADIR_PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", d->path, STOREGUARD_FILE);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs(content, f);
		fclose(f);
	}
}

static int open_dir(struct datadir *d, const char *name)
{
	char path[256];

	snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
	return datadir_open(d, path, 1, errmsg);
}

TEST(test_boot_id_is_the_kernels)
{
	char id[64], raw[64] = "";
	FILE *f = fopen(STOREGUARD_BOOT_ID, "r");

	storeguard_boot_id(id, sizeof id);
	if (f == NULL) { /* no /proc: every unclean stop rebuilds */
		CHECK_STR(id, "unknown");
		return;
	}
	CHECK(fgets(raw, sizeof raw, f) != NULL);
	fclose(f);
	raw[strcspn(raw, "\n")] = '\0';
	CHECK_STR(id, raw);
	CHECK_INT(strlen(id), 36);
}

TEST(test_decisions)
{
	struct datadir d;
	char recorded[64], now[64];
	bool rebuild = true;

	storeguard_boot_id(now, sizeof now);
	CHECK_INT(open_dir(&d, "decide"), ESC_OK);
	/* No marker: a clean stop, or a new store. */
	CHECK_INT(storeguard_check(&d, false, &rebuild, recorded, sizeof recorded, errmsg), ESC_OK);
	CHECK(!rebuild);
	CHECK_STR(recorded, "");
	/* Armed under this boot: escrowd itself crashed, the kernel kept all. */
	CHECK_INT(storeguard_arm(&d, errmsg), ESC_OK);
	CHECK_INT(storeguard_check(&d, false, &rebuild, recorded, sizeof recorded, errmsg), ESC_OK);
	CHECK(!rebuild);
	CHECK_STR(recorded, now);
	CHECK_INT(storeguard_check(&d, true, &rebuild, recorded, sizeof recorded, errmsg), ESC_OK);
	CHECK(!rebuild);
	/* Armed under another boot: the machine went down under escrowd. */
	write_guard(&d, "11111111-2222-4333-8444-555555555555\n");
	CHECK_INT(storeguard_check(&d, false, &rebuild, recorded, sizeof recorded, errmsg), ESC_OK);
	CHECK(rebuild);
	CHECK_STR(recorded, "11111111-2222-4333-8444-555555555555");
	/* ... a seeded store has no copy in Raft: refused, with what to do. */
	rebuild = false;
	errmsg[0] = '\0';
	CHECK_INT(storeguard_check(&d, true, &rebuild, recorded, sizeof recorded, errmsg),
		  ESC_EINVAL);
	CHECK(!rebuild);
	CHECK(strstr(errmsg, "snapshot restore") != NULL);
	/* Released after a clean stop: trusted again. */
	CHECK_INT(storeguard_release(&d, errmsg), ESC_OK);
	CHECK_INT(storeguard_check(&d, false, &rebuild, recorded, sizeof recorded, errmsg), ESC_OK);
	CHECK(!rebuild);
	CHECK_INT(storeguard_release(&d, errmsg), ESC_OK); /* twice is harmless */
	datadir_close(&d);
}

TEST(test_unreadable_marker)
{
	struct datadir d;
	char recorded[64], big[200];
	bool rebuild = false;

	CHECK_INT(open_dir(&d, "toolong"), ESC_OK);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	write_guard(&d, big);
	CHECK_INT(storeguard_check(&d, false, &rebuild, recorded, sizeof recorded, errmsg),
		  ESC_ECORRUPT);
	CHECK(!rebuild);
	datadir_close(&d);
}

TEST(test_store_files)
{
	struct datadir d;
	struct store *s = NULL;
	char path[DATADIR_PATH_MAX + 8];

	CHECK_INT(open_dir(&d, "files"), ESC_OK);
	CHECK_INT(store_open(&s, d.db_path, errmsg), ESC_OK);
	store_close(s);
	CHECK_INT(store_sync_files(d.db_path, errmsg), ESC_OK);
	CHECK(access(d.db_path, F_OK) == 0);
	snprintf(path, sizeof path, "%s-shm", d.db_path);
	fclose(fopen(path, "w")); /* as a crash leaves it */
	CHECK_INT(store_remove_files(d.db_path, errmsg), ESC_OK);
	CHECK(access(d.db_path, F_OK) != 0);
	CHECK(access(path, F_OK) != 0);
	CHECK_INT(store_remove_files(d.db_path, errmsg), ESC_OK); /* nothing left: fine */
	CHECK_INT(store_sync_files(d.db_path, errmsg), ESC_EIO);   /* no database */
	CHECK(strstr(errmsg, "escrow.db") != NULL);
	datadir_close(&d);
}

TEST(test_looplag_splits_a_late_period)
{
	struct looplag l;
	struct looplag_report r;
	const uint64_t ms = 1000000;
	uint64_t t0 = 1000 * ms;
	volatile unsigned long spin = 0;

	looplag_init(&l, 50);
	CHECK(!looplag_tick(&l, t0, 100, &r));              /* first tick: no period */
	CHECK(!looplag_tick(&l, t0 + 50 * ms, 100, &r));    /* on time */
	CHECK(!looplag_tick(&l, t0 + 190 * ms, 100, &r));   /* 90 ms late: under warn */
	CHECK_INT(l.max_late_us, 90000);
	for (unsigned long i = 0; i < 20000000; i++)        /* some CPU time */
		spin += i;
	CHECK(looplag_tick(&l, t0 + 490 * ms, 100, &r));    /* 250 ms late */
	CHECK_INT(r.period_us, 300000);
	CHECK_INT(r.late_us, 250000);
	CHECK_INT(r.cpu_us + r.wait_us + r.blocked_us, r.period_us);
	CHECK_INT(l.max_late_us, 250000);
	if (l.fd >= 0)
		CHECK(r.cpu_us > 0);
	looplag_close(&l);
	looplag_close(&l);
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_boot_id_is_the_kernels);
	RUN(test_decisions);
	RUN(test_unreadable_marker);
	RUN(test_store_files);
	RUN(test_looplag_splits_a_late_period);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
