/* libraft's plain TCP transport with Nagle's algorithm off. */
#include "raft/nodelay.h"

#include <uv.h>

/* libraft's own callbacks, the same functions for every transport (its
 * uv_recv.c and uv_send.c): which one a wrapped call must reach. */
static int (*tcp_listen)(struct raft_uv_transport *t, raft_uv_accept_cb cb);
static int (*tcp_connect)(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
			  const char *address, raft_uv_connect_cb cb);
static raft_uv_accept_cb accept_next;
static raft_uv_connect_cb connect_next;

static void nodelay(struct uv_stream_s *stream)
{
	if (stream != NULL && stream->type == UV_TCP)
		uv_tcp_nodelay((uv_tcp_t *)stream, 1); /* best effort */
}

static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
		      struct uv_stream_s *stream)
{
	nodelay(stream);
	accept_next(t, id, address, stream);
}

static int listen_nodelay(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	accept_next = cb;
	return tcp_listen(t, accept_cb);
}

static void connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	if (status == 0)
		nodelay(stream);
	connect_next(req, stream, status);
}

static int connect_nodelay(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
			   const char *address, raft_uv_connect_cb cb)
{
	connect_next = cb;
	return tcp_connect(t, req, id, address, connect_cb);
}

void nodelay_install(struct raft_uv_transport *t)
{
	tcp_listen = t->listen;
	tcp_connect = t->connect;
	t->listen = listen_nodelay;
	t->connect = connect_nodelay;
}
