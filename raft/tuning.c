/* Every libraft tuning knob escrow sets, in one place (values in tuning.h). */
#include "raft/tuning.h"

#include <raft/uv.h>

void tuning_io(struct raft_io *io, size_t segment_size)
{
	raft_uv_set_segment_size(io, segment_size);
	raft_uv_set_connect_retry_delay(io, TUNING_CONNECT_RETRY_MS);
	/* Auto-recovery renames a segment it cannot load and carries on without
	 * its entries: committed data would vanish silently. */
	raft_uv_set_auto_recovery(io, false);
	raft_uv_set_snapshot_compression(io, false);
}

void tuning_raft(struct raft *r, unsigned threshold, unsigned trailing)
{
	raft_set_election_timeout(r, TUNING_ELECTION_TIMEOUT_MS);
	raft_set_heartbeat_timeout(r, TUNING_HEARTBEAT_TIMEOUT_MS);
	raft_set_install_snapshot_timeout(r, TUNING_INSTALL_SNAPSHOT_TIMEOUT_MS);
	/* Without pre-vote a crashed leader always causes a split vote. */
	raft_set_pre_vote(r, true);
	raft_set_snapshot_threshold(r, threshold);
	raft_set_snapshot_trailing(r, trailing);
}

void tuning_raft_seeded(struct raft *r)
{
	raft_set_snapshot_threshold(r, 1);
	raft_set_snapshot_trailing(r, 0);
}
