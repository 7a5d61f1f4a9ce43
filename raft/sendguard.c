/* libraft's send guarded against a message to no server (see sendguard.h). */
#include "raft/sendguard.h"

#include <stddef.h>

static int guarded_send(struct raft_io *io, struct raft_io_send *req,
			const struct raft_message *message, raft_io_send_cb cb)
{
	struct sendguard *g = (struct sendguard *)((char *)io - offsetof(struct sendguard, io));

	if (message->server_id == 0 || message->server_address == NULL) {
		g->dropped++;
		return RAFT_NOCONNECTION;
	}
	return g->send(io, req, message, cb);
}

void sendguard_install(struct sendguard *g)
{
	g->send = g->io.send;
	g->dropped = 0;
	g->io.send = guarded_send;
}
