/* Every libraft tuning knob escrow sets, in one place (values in tuning.h). */
#include "raft/tuning.h"

#include <limits.h>
#include <raft/uv.h>
#include <stdbool.h>

void tuning_io(struct raft_io *io, size_t segment_size)
{
	raft_uv_set_segment_size(io, segment_size);
	raft_uv_set_connect_retry_delay(io, TUNING_CONNECT_RETRY_MS);
	/* Auto-recovery renames a segment it cannot load and carries on without
	 * its entries: committed data would vanish silently. */
	raft_uv_set_auto_recovery(io, false);
	raft_uv_set_snapshot_compression(io, false);
}

void tuning_raft(struct raft *r, unsigned threshold, unsigned trailing, unsigned catch_up_ms)
{
	raft_set_election_timeout(r, TUNING_ELECTION_TIMEOUT_MS);
	raft_set_heartbeat_timeout(r, TUNING_HEARTBEAT_TIMEOUT_MS);
	raft_set_install_snapshot_timeout(r, TUNING_INSTALL_SNAPSHOT_TIMEOUT_MS);
	/* Without pre-vote a crashed leader always causes a split vote. */
	raft_set_pre_vote(r, true);
	raft_set_snapshot_threshold(r, threshold);
	raft_set_snapshot_trailing(r, trailing);
	/* A round longer than this aborts the promotion (RAFT_NOCONNECTION): the
	 * first round of a join holds the whole InstallSnapshot. */
	raft_set_max_catch_up_round_duration(r, catch_up_ms > 0 ? catch_up_ms
							       : TUNING_CATCH_UP_ROUND_S * 1000);
}

uint64_t tuning_snapshot_next(uint64_t last, unsigned period, unsigned rank, unsigned voters)
{
	uint64_t phase = voters > 0 ? (uint64_t)period * (rank % voters) / voters : 0;
	uint64_t earliest = last + period / 2 + 1;
	uint64_t next = earliest - earliest % period + phase;

	return next < earliest ? next + period : next;
}

unsigned tuning_snapshot_period(unsigned threshold, unsigned growth, uint64_t store_bytes)
{
	uint64_t want = store_bytes / TUNING_SNAPSHOT_BYTES_PER_ENTRY, period = threshold;

	if (growth == 0)
		growth = 1;
	while (period < want && period * 2 <= (uint64_t)threshold * growth &&
	       period * 2 <= UINT_MAX)
		period *= 2;
	return (unsigned)period;
}

void tuning_snapshot_stagger(struct raft *r, unsigned period)
{
	const struct raft_configuration *c = &r->configuration;
	unsigned voters = 0, rank = 0, i;
	bool voter = false;
	uint64_t last = r->log.snapshot.last_index, next;

	for (i = 0; i < c->n; i++) {
		if (c->servers[i].role != RAFT_VOTER)
			continue;
		voters++;
		if (c->servers[i].id < r->id)
			rank++;
		voter = voter || c->servers[i].id == r->id;
	}
	if (!voter)
		rank = 0;
	next = tuning_snapshot_next(last, period, rank, voters);
	if (next - last != r->snapshot.threshold)
		raft_set_snapshot_threshold(r, (unsigned)(next - last));
}

void tuning_raft_seeded(struct raft *r)
{
	raft_set_snapshot_threshold(r, 1);
	raft_set_snapshot_trailing(r, 0);
}
