/* The raft_uv_transport over mutual TLS (see peer_tls.h): init, listen,
 * connect, close; each connection lives in peer_conn.c. */
#include "raft/peer_tls.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/peer_conn.h"
#include "lib/error.h"

#define LOG_WINDOW_MS 10000
#define LOG_LINES_MAX 20
#define LISTEN_BACKLOG 128

void peer_tls_note(struct peer_tls *t, bool log, const char *fmt, ...)
{
	unsigned dropped;
	char line[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->last_error, sizeof t->last_error, fmt, ap);
	va_end(ap);
	if (!log || t->log_cb == NULL)
		return;
	if (!ratelimit_allow(&t->log_limit, uv_now(t->loop), &dropped))
		return;
	if (dropped > 0) {
		snprintf(line, sizeof line,
			 "%u more peer transport messages in %u s were not logged", dropped,
			 LOG_WINDOW_MS / 1000);
		t->log_cb(t->log_data, line);
	}
	t->log_cb(t->log_data, t->last_error);
}

void peer_tls_maybe_closed(struct peer_tls *t)
{
	raft_uv_transport_close_cb cb = t->close_cb;

	if (!t->closing || cb == NULL || t->conns != NULL || t->listener_open || t->spare_open)
		return;
	t->close_cb = NULL;
	cb(t->transport); /* may free t */
}

static int transport_init(struct raft_uv_transport *rt, raft_id id, const char *address)
{
	struct peer_tls *t = rt->impl;
	struct netaddr a;

	if (id == 0 || peer_tls_address_parse(address, &a) != ESC_OK) {
		snprintf(rt->errmsg, RAFT_ERRMSG_BUF_SIZE, "raft address %.64s is not HOST:PORT",
			 address);
		return RAFT_INVALID;
	}
	t->id = id;
	strcpy(t->address, address);
	return 0;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct peer_tls *t = listener->data;

	if (status < 0) {
		peer_tls_note(t, true, "accept on %s: %s", t->address, uv_strerror(status));
		return;
	}
	if (!t->closing)
		peer_conn_accept(t);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct peer_tls *t = h->data;

	t->listener_open = false;
	peer_tls_maybe_closed(t);
}

static int transport_listen(struct raft_uv_transport *rt, raft_uv_accept_cb cb)
{
	struct peer_tls *t = rt->impl;
	char errmsg[ESC_ERRMSG_SIZE];
	struct sockaddr_storage sa;
	struct netaddr a;
	socklen_t len;
	int rv;

	/* A name is resolved here, once, blocking: listening starts with the
	 * node, before the loop runs. */
	if (peer_tls_address_parse(t->address, &a) != ESC_OK ||
	    netaddr_resolve(&a, &sa, &len, NULL, errmsg) != ESC_OK) {
		snprintf(rt->errmsg, RAFT_ERRMSG_BUF_SIZE, "raft address %.64s: cannot listen",
			 t->address);
		return RAFT_INVALID;
	}
	rv = uv_tcp_init(t->loop, &t->listener);
	if (rv != 0) {
		snprintf(rt->errmsg, RAFT_ERRMSG_BUF_SIZE, "listen: %s", uv_strerror(rv));
		return RAFT_IOERR;
	}
	t->listener.data = t;
	t->listener_open = true;
	t->accept_cb = cb;
	rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&sa, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&t->listener, LISTEN_BACKLOG, on_connection);
	if (rv != 0) {
		snprintf(rt->errmsg, RAFT_ERRMSG_BUF_SIZE, "listen on %.64s: %s", t->address,
			 uv_strerror(rv));
		uv_close((uv_handle_t *)&t->listener, on_listener_closed);
		return RAFT_IOERR;
	}
	return 0;
}

static int transport_connect(struct raft_uv_transport *rt, struct raft_uv_connect *req,
			     raft_id id, const char *address, raft_uv_connect_cb cb)
{
	struct peer_tls *t = rt->impl;

	if (t->closing)
		return RAFT_CANCELED;
	return peer_conn_dial(t, req, id, address, cb);
}

/* Stops accepting, cancels pending connects (their callbacks fire with
 * RAFT_CANCELED before cb), closes every relay; cb once all is closed. */
static void transport_close(struct raft_uv_transport *rt, raft_uv_transport_close_cb cb)
{
	struct peer_tls *t = rt->impl;

	assert(!t->closing);
	t->closing = true;
	t->close_cb = cb;
	if (t->listener_open && !uv_is_closing((uv_handle_t *)&t->listener))
		uv_close((uv_handle_t *)&t->listener, on_listener_closed);
	for (struct peer_conn *c = t->conns; c != NULL; c = c->next)
		peer_conn_abort(c); /* frees nothing before a close callback */
	peer_tls_maybe_closed(t);
}

int peer_tls_init(struct raft_uv_transport *rt, uv_loop_t *loop, struct tls_ctx *server,
		  struct tls_ctx *client, char *errmsg)
{
	void *data = rt->data;
	struct peer_tls *t;

	memset(rt, 0, sizeof *rt);
	rt->data = data;
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "peer transport: out of memory");
	t->transport = rt;
	t->loop = loop;
	t->server_ctx = server;
	t->client_ctx = client;
	t->timeout_ms = PEER_TLS_TIMEOUT_MS;
	t->log_limit = (struct ratelimit)RATELIMIT_INIT(LOG_WINDOW_MS, LOG_LINES_MAX);
	rt->impl = t;
	rt->init = transport_init;
	rt->listen = transport_listen;
	rt->connect = transport_connect;
	rt->close = transport_close;
	return ESC_OK;
}

void peer_tls_close(struct raft_uv_transport *rt)
{
	struct peer_tls *t = rt->impl;

	if (t == NULL)
		return;
	assert(t->conns == NULL && !t->listener_open && !t->spare_open);
	free(t);
	rt->impl = NULL;
}

void peer_tls_set_ctx(struct raft_uv_transport *rt, struct tls_ctx *server,
		      struct tls_ctx *client)
{
	struct peer_tls *t = rt->impl;

	t->server_ctx = server;
	t->client_ctx = client;
}

void peer_tls_set_log(struct raft_uv_transport *rt, peer_tls_log_cb cb, void *data)
{
	struct peer_tls *t = rt->impl;

	t->log_cb = cb;
	t->log_data = data;
}

void peer_tls_set_timeout(struct raft_uv_transport *rt, unsigned msecs)
{
	struct peer_tls *t = rt->impl;

	t->timeout_ms = msecs != 0 ? msecs : PEER_TLS_TIMEOUT_MS;
}

void peer_tls_get_stats(const struct raft_uv_transport *rt, struct peer_tls_stats *out)
{
	const struct peer_tls *t = rt->impl;

	*out = t->stats;
}

const char *peer_tls_last_error(const struct raft_uv_transport *rt)
{
	const struct peer_tls *t = rt->impl;

	return t->last_error;
}
