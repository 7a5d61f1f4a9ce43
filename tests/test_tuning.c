/* Staggered Raft snapshots: where each voter's next snapshot falls, the
 * threshold tuning_snapshot_stagger gives libraft for it, and how the period
 * grows with the store. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <raft.h>

#include "raft/tuning.h"
#include "tests/unit.h"

/* The first snapshots of a fresh 3-node cluster with the default period:
 * one voter at each third of it, the ranks in the order of their phases. */
TEST(first_snapshots_at_each_third)
{
	CHECK_INT(tuning_snapshot_next(0, 65536, 0, 3), 65536);
	CHECK_INT(tuning_snapshot_next(0, 65536, 1, 3), 65536 + 21845);
	CHECK_INT(tuning_snapshot_next(0, 65536, 2, 3), 43690);
	/* One voter: every period, as libraft's own threshold would. */
	CHECK_INT(tuning_snapshot_next(0, 100, 0, 1), 100);
	CHECK_INT(tuning_snapshot_next(100, 100, 0, 1), 200);
	/* No voter known (a configuration not yet loaded): phase 0. */
	CHECK_INT(tuning_snapshot_next(0, 100, 0, 0), 100);
}

/* Late (batches of entries are applied at once, a snapshot installed at
 * any index): the next snapshot goes back to the phase, no sooner than half
 * a period, no later than a period and a half. */
TEST(next_is_at_the_phase_within_bounds)
{
	static const unsigned periods[] = { 8, 64, 1000, 65536, 100000000 };
	unsigned p, voters, rank;
	uint64_t last;

	for (p = 0; p < sizeof periods / sizeof periods[0]; p++) {
		unsigned period = periods[p];

		for (voters = 1; voters <= 7; voters++) {
			for (rank = 0; rank < voters; rank++) {
				uint64_t phase = (uint64_t)period * rank / voters;

				for (last = 0; last < 3ull * period; last += period / 7 + 1) {
					uint64_t next = tuning_snapshot_next(last, period, rank,
									     voters);

					CHECK(next > last + period / 2);
					CHECK(next - last <= period / 2 + period);
					CHECK_INT(next % period, phase);
				}
			}
		}
	}
}

/* Snapshots taken where they are due: the voters of a 3-node cluster never
 * take one at the same index, and keep a third of a period apart. */
TEST(voters_stay_a_third_apart)
{
	const unsigned period = 64, voters = 3;
	uint64_t last[3] = { 0, 0, 0 }, taken[3][12];
	unsigned rank, i, j, k;

	for (rank = 0; rank < voters; rank++)
		for (i = 0; i < 12; i++)
			taken[rank][i] = last[rank] =
				tuning_snapshot_next(last[rank], period, rank, voters);
	for (rank = 0; rank < voters; rank++) {
		for (i = 1; i < 12; i++)
			CHECK_INT(taken[rank][i] - taken[rank][i - 1], period);
		for (k = rank + 1; k < voters; k++)
			for (i = 0; i < 12; i++)
				for (j = 0; j < 12; j++) {
					uint64_t a = taken[rank][i], b = taken[k][j];

					CHECK((a > b ? a - b : b - a) >= period / voters);
				}
	}
}

static void add(struct raft_configuration *c, raft_id id, int role)
{
	char address[32];

	snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)(9000 + id));
	raft_configuration_add(c, id, address, role);
}

/* The threshold set on a raft: ranks follow the voters' ids, not the order
 * of the configuration, and non-voters are not counted. */
TEST(stagger_sets_the_threshold_from_the_configuration)
{
	struct raft r;

	memset(&r, 0, sizeof r);
	raft_configuration_init(&r.configuration);
	add(&r.configuration, 7, RAFT_VOTER);
	add(&r.configuration, 2, RAFT_SPARE);
	add(&r.configuration, 5, RAFT_VOTER);
	add(&r.configuration, 9, RAFT_STANDBY);
	add(&r.configuration, 3, RAFT_VOTER);

	r.id = 5; /* voters 3, 5, 7: rank 1 */
	r.log.snapshot.last_index = 0;
	tuning_snapshot_stagger(&r, 90);
	CHECK_INT(r.snapshot.threshold, 120); /* phase 30, at least 46 */

	r.log.snapshot.last_index = 121; /* taken one entry late */
	tuning_snapshot_stagger(&r, 90);
	CHECK_INT(r.snapshot.threshold, 210 - 121);

	r.id = 7; /* rank 2: phase 60 */
	r.log.snapshot.last_index = 0;
	tuning_snapshot_stagger(&r, 90);
	CHECK_INT(r.snapshot.threshold, 60);

	r.id = 9; /* a standby: rank 0 */
	tuning_snapshot_stagger(&r, 90);
	CHECK_INT(r.snapshot.threshold, 90);
	raft_configuration_close(&r.configuration);
}

#define MIB (1024ull * 1024)

/* One entry per KiB of store, in powers of two of the threshold, at most
 * growth thresholds: the default threshold doubles at 64 MiB and 128 MiB
 * and stops at four times. */
TEST(period_grows_with_the_store_in_powers_of_two)
{
	CHECK_INT(tuning_snapshot_period(65536, 4, 0), 65536);
	CHECK_INT(tuning_snapshot_period(65536, 4, 64 * MIB), 65536);
	CHECK_INT(tuning_snapshot_period(65536, 4, 64 * MIB + 1024), 131072);
	CHECK_INT(tuning_snapshot_period(65536, 4, 128 * MIB), 131072);
	CHECK_INT(tuning_snapshot_period(65536, 4, 128 * MIB + 1024), 262144);
	CHECK_INT(tuning_snapshot_period(65536, 4, 450 * MIB), 262144);
	CHECK_INT(tuning_snapshot_period(65536, 4, 1024 * 1024 * MIB), 262144);
	/* Growth 3 allows no second doubling; 1 and 0 keep the threshold. */
	CHECK_INT(tuning_snapshot_period(65536, 3, 450 * MIB), 131072);
	CHECK_INT(tuning_snapshot_period(65536, 1, 450 * MIB), 65536);
	CHECK_INT(tuning_snapshot_period(65536, 0, 450 * MIB), 65536);
	/* A small threshold on a small store (the tests' clusters). */
	CHECK_INT(tuning_snapshot_period(64, 64, 100 * 1024), 128);
	CHECK_INT(tuning_snapshot_period(64, 16, 10 * MIB), 1024);
	/* The largest threshold and growth stay within an unsigned. */
	CHECK(tuning_snapshot_period(100000000, 64, UINT64_MAX) >= 100000000u);
	CHECK(tuning_snapshot_period(100000000, 64, UINT64_MAX) <= 4000000000u);
}

int main(void)
{
	RUN(first_snapshots_at_each_third);
	RUN(next_is_at_the_phase_within_bounds);
	RUN(voters_stay_a_third_apart);
	RUN(stagger_sets_the_threshold_from_the_configuration);
	RUN(period_grows_with_the_store_in_powers_of_two);
	return unit_done();
}
