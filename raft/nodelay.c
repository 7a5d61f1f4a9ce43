/* libraft's plain TCP transport with Nagle's algorithm off, and no stream
 * connected to itself. */
#include "raft/nodelay.h"

#include <stdbool.h>
#include <string.h>
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

/* Whether stream's two ends are one address and port: a dial of a local
 * port where nothing listens, given that very port as its own. */
static bool self_connected(struct uv_stream_s *stream)
{
	struct sockaddr_storage a, b;
	int alen = sizeof a, blen = sizeof b;

	if (stream == NULL || stream->type != UV_TCP)
		return false;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	if (uv_tcp_getsockname((uv_tcp_t *)stream, (struct sockaddr *)&a, &alen) != 0 ||
	    uv_tcp_getpeername((uv_tcp_t *)stream, (struct sockaddr *)&b, &blen) != 0)
		return false;
	return alen == blen && memcmp(&a, &b, (size_t)alen) == 0;
}

static void stream_free(uv_handle_t *h)
{
	raft_free(h);
}

static void connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	if (status == 0 && self_connected(stream)) {
		/* libraft would keep it as the peer's connection and never read
		 * it, so the port would stay taken: the peer could not start
		 * again there. Refused like a dial nobody answered (retried). */
		uv_close((uv_handle_t *)stream, stream_free);
		connect_next(req, NULL, RAFT_NOCONNECTION);
		return;
	}
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
