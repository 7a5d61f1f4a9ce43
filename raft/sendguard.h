/* libraft's raft_io with its send guarded against a message to no server.
 *
 * libraft 0.15 answers an AppendEntries once its entries are on disk, to
 * the leader it knows at that moment (replication.c, appendFollowerCb). If
 * a RequestVote of a higher term arrived meanwhile, the node is a follower
 * of no leader yet: the answer goes to server 0 at address NULL, and
 * raft_uv's send takes strlen(NULL) to connect to it (uv_send.c,
 * uvClientInit): a SIGSEGV on a node catching up while an election runs.
 * Fixed upstream in 0.17.1 ("Don't respond to AppendEntries if role/term
 * has changed"), which drops that answer; the guard does the same. */
#ifndef ESCROW_RAFT_SENDGUARD_H
#define ESCROW_RAFT_SENDGUARD_H

#include <stdint.h>

#include <raft.h>

struct sendguard {
	struct raft_io io; /* what raft_uv_init fills and raft_init takes */
	int (*send)(struct raft_io *io, struct raft_io_send *req,
		    const struct raft_message *message, raft_io_send_cb cb);
	uint64_t dropped; /* messages to no server, refused */
};

/* Puts the guard in front of the io's send: call after raft_uv_init(&g->io)
 * and before raft_start. A message whose server id is 0 or address NULL is
 * refused with RAFT_NOCONNECTION, which every libraft caller takes as a
 * failed send (it frees the request; the callback never fires). */
void sendguard_install(struct sendguard *g);

#endif
