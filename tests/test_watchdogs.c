/* Unit tests of the node's watchdogs: the stall watchdog (log writes and
 * applies must keep moving) and the disk watermark. */
#include <string.h>

#include "node/diskwatch.h"
#include "raft/stallwatch.h"
#include "tests/unit.h"

#define MS(x) ((uint64_t)(x) * 1000000u)

/* A log that keeps up, or lags but moves, never trips the watchdog. */
TEST(progress_is_not_a_stall)
{
	struct stallwatch w;
	char why[256] = "";

	stallwatch_init(&w, 0);
	for (uint64_t t = 0; t <= 60000; t += 1000)
		CHECK(!stallwatch_check(&w, MS(t), 100, 100, 100, 100, why, sizeof why));
	/* 20 entries behind all the time, but storing and applying move. */
	for (uint64_t t = 60000, i = 100; t <= 120000; t += 1000, i += 10)
		CHECK(!stallwatch_check(&w, MS(t), i, i + 20, i - 5, i, why, sizeof why));
	CHECK_STR(why, "");
}

/* Stored index stuck below the last index: tripped STALLWATCH_LOG_MS after
 * it was last seen caught up or moving. */
TEST(log_writes_that_stop_trip_it)
{
	struct stallwatch w;
	char why[256] = "";

	stallwatch_init(&w, 0);
	CHECK(!stallwatch_check(&w, MS(1000), 420, 420, 420, 420, why, sizeof why));
	CHECK(!stallwatch_check(&w, MS(2000), 420, 450, 420, 420, why, sizeof why));
	CHECK(!stallwatch_check(&w, MS(1000 + STALLWATCH_LOG_MS - 1), 420, 571, 420, 420, why,
				sizeof why));
	CHECK(stallwatch_check(&w, MS(1000 + STALLWATCH_LOG_MS), 420, 571, 420, 420, why,
			       sizeof why));
	CHECK(strstr(why, "the Raft log has not been written for 5.0 s (stored up to index "
			  "420 of 571)") != NULL);
}

/* Committed entries not applied for STALLWATCH_APPLY_MS trip it too; one
 * applied entry starts the count again. */
TEST(applies_that_stop_trip_it)
{
	struct stallwatch w;
	char why[256] = "";

	stallwatch_init(&w, 0);
	CHECK(!stallwatch_check(&w, MS(1000), 50, 50, 40, 50, why, sizeof why));
	CHECK(!stallwatch_check(&w, MS(1000 + STALLWATCH_APPLY_MS - 1), 50, 50, 40, 50, why,
				sizeof why));
	CHECK(!stallwatch_check(&w, MS(1000 + STALLWATCH_APPLY_MS), 50, 50, 41, 50, why,
				sizeof why));
	CHECK(!stallwatch_check(&w, MS(1000 + 2 * STALLWATCH_APPLY_MS - 1), 50, 50, 41, 50, why,
				sizeof why));
	CHECK(stallwatch_check(&w, MS(1000 + 2 * STALLWATCH_APPLY_MS), 50, 50, 41, 50, why,
			       sizeof why));
	CHECK(strstr(why, "applied up to index 41 of 50") != NULL);
}

TEST(disk_watermark)
{
	char why[256] = "";

	CHECK_INT(diskwatch_min_free(8u << 20), 32u << 20);
	CHECK_INT(diskwatch_min_free(16384), DISKWATCH_FLOOR_BYTES);
	CHECK(!diskwatch_low("/d/raft", 32u << 20, 32u << 20, why, sizeof why));
	CHECK(diskwatch_low("/d/raft", 32768, 4u << 20, why, sizeof why));
	CHECK_STR(why, "the disk of /d/raft is nearly full: 32 KiB free, 4096 KiB needed for "
		       "the Raft log to go on");
}

int main(void)
{
	RUN(progress_is_not_a_stall);
	RUN(log_writes_that_stop_trip_it);
	RUN(applies_that_stop_trip_it);
	RUN(disk_watermark);
	return unit_done();
}
