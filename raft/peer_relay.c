/* A peer connection's I/O (see peer_conn.h): the TLS handshake and the
 * peer's identity, the preamble and the reply, the hand-over of a socketpair
 * to libraft, then the relay between it and the TLS stream with
 * backpressure both ways, until one side ends. */
#include "raft/peer_conn.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/error.h"

struct peer_write {
	uv_write_t req;              /* first: the callback gets it */
	struct peer_conn *c;
	size_t len;
	char data[];
};

static void conn_pump(struct peer_conn *c);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct peer_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_tcp_written(uv_write_t *req, int status)
{
	struct peer_write *w = (struct peer_write *)req;
	struct peer_conn *c = w->c;

	c->tcp_queued -= w->len;
	free(w);
	if (status < 0) {
		peer_conn_fail(c, true, "send: %s", uv_strerror(status));
		return;
	}
	if (c->pipe_paused && c->state == PEER_RELAY && c->tcp_queued < PEER_TLS_QUEUE_LOW) {
		c->pipe_paused = false;
		if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_pipe_read) != 0)
			peer_conn_fail(c, false, "cannot read libraft's stream");
	}
}

/* Sends what TLS has for the network; false when c failed. */
static bool conn_flush(struct peer_conn *c)
{
	size_t n;
	int rv;

	while (c->state < PEER_CLOSING && (n = tls_stream_outgoing(&c->tls)) > 0) {
		struct peer_write *w = malloc(sizeof *w + n);
		uv_buf_t b;
		if (w == NULL) {
			peer_conn_fail(c, false, "out of memory");
			return false;
		}
		w->c = c;
		w->len = tls_stream_take(&c->tls, w->data, n);
		b = uv_buf_init(w->data, (unsigned)w->len);
		rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_tcp_written);
		if (rv != 0) {
			free(w);
			peer_conn_fail(c, false, "send: %s", uv_strerror(rv));
			return false;
		}
		c->tcp_queued += w->len;
	}
	if (c->state == PEER_RELAY && !c->pipe_paused && c->tcp_queued >= PEER_TLS_QUEUE_HIGH) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->pipe_paused = true;
	}
	return c->state < PEER_CLOSING;
}

static void on_pipe_written(uv_write_t *req, int status)
{
	struct peer_write *w = (struct peer_write *)req;
	struct peer_conn *c = w->c;

	c->pipe_queued -= w->len;
	OPENSSL_cleanse(w->data, w->len);
	free(w);
	if (status < 0) {
		peer_conn_fail(c, false, "libraft's end: %s", uv_strerror(status));
		return;
	}
	if (c->tcp_paused && c->state == PEER_RELAY && c->pipe_queued < PEER_TLS_QUEUE_LOW) {
		c->tcp_paused = false;
		conn_pump(c); /* what the TLS stream already holds, first */
		if (c->state == PEER_RELAY && !c->tcp_paused &&
		    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tcp_read) != 0)
			peer_conn_fail(c, false, "cannot read the connection");
	}
}

/* Queues len bytes of plaintext (copied) for libraft; false when c failed. */
static bool pipe_send(struct peer_conn *c, const void *data, size_t len)
{
	struct peer_write *w = malloc(sizeof *w + len);
	uv_buf_t b;
	int rv;

	if (w == NULL) {
		peer_conn_fail(c, false, "out of memory");
		return false;
	}
	w->c = c;
	w->len = len;
	memcpy(w->data, data, len);
	b = uv_buf_init(w->data, (unsigned)len);
	rv = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_pipe_written);
	if (rv != 0) {
		OPENSSL_cleanse(w->data, len);
		free(w);
		peer_conn_fail(c, false, "libraft's end: %s", uv_strerror(rv));
		return false;
	}
	c->pipe_queued += len;
	return true;
}

/* libraft closed its end: close_notify, then the TCP connection. */
static void on_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct peer_conn *c = s->data;
	char errmsg[ESC_ERRMSG_SIZE];
	int rv;

	if (n == 0)
		return;
	if (n < 0) {
		tls_stream_close(&c->tls);
		if (conn_flush(c))
			peer_conn_drain(c, (uv_stream_t *)&c->tcp);
		return;
	}
	rv = tls_stream_write(&c->tls, buf->base, (size_t)n, errmsg);
	OPENSSL_cleanse(buf->base, (size_t)n);
	if (rv != ESC_OK) {
		peer_conn_fail(c, true, "%s", errmsg);
		return;
	}
	conn_flush(c);
}

/* Gives libraft its end of a new socketpair: the connect callback or the
 * accept callback, with address (the preamble's) for an accept. The frame
 * bytes after used are the peer's first Raft bytes. */
static void hand_over(struct peer_conn *c, size_t used, const char *address)
{
	struct peer_tls *t = c->t;
	struct raft_uv_connect *req;
	uv_stream_t *stream;
	int fds[2], rv;

	c->raft_end = raft_malloc(sizeof *c->raft_end);
	if (c->raft_end == NULL) {
		peer_conn_fail(c, true, "out of memory");
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		raft_free(c->raft_end);
		c->raft_end = NULL;
		peer_conn_fail(c, true, "socketpair: %s", strerror(errno));
		return;
	}
	uv_pipe_init(t->loop, &c->pipe, 0);
	uv_pipe_init(t->loop, c->raft_end, 0);
	c->pipe.data = c;
	c->raft_end->data = c;
	c->pipe_open = true;
	c->handles += 2;
	rv = uv_pipe_open(&c->pipe, fds[0]);
	if (rv != 0)
		close(fds[0]);
	if (rv != 0 || (rv = uv_pipe_open(c->raft_end, fds[1])) != 0) {
		close(fds[1]);
		peer_conn_fail(c, true, "socketpair: %s", uv_strerror(rv));
		return;
	}
	rv = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_pipe_read);
	if (rv != 0) {
		peer_conn_fail(c, true, "socketpair: %s", uv_strerror(rv));
		return;
	}
	if (c->frame_len > used && !pipe_send(c, c->frame + used, c->frame_len - used))
		return;
	if (!conn_flush(c))
		return;
	uv_timer_stop(&c->timer);
	c->state = PEER_RELAY;
	stream = (uv_stream_t *)c->raft_end;
	c->raft_end = NULL;
	c->handles--;
	if (c->outbound) {
		req = c->req;
		c->req = NULL;
		t->stats.connected++;
		req->cb(req, stream, 0);
	} else {
		c->counted = false;
		t->handshakes--;
		t->stats.accepted++;
		t->accept_cb(t->transport, c->id, address, stream);
	}
}

/* The handshake is done: is the peer the node it must be? The dialer then
 * sends its preamble. False when c failed. */
static bool identity_ok(struct peer_conn *c)
{
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t pre[PEER_TLS_PREAMBLE_MAX];
	raft_id id;
	size_t n;

	if (strcmp(c->tls.peer_ou, "node") != 0) {
		peer_conn_fail(c, true, "its certificate (CN \"%s\") is not a node's: OU \"%s\"",
			       c->tls.peer_cn, c->tls.peer_ou);
		return false;
	}
	if (peer_tls_cn_id(c->tls.peer_cn, &id) != ESC_OK) {
		peer_conn_fail(c, true, "its certificate's CN \"%s\" is not node-<id>",
			       c->tls.peer_cn);
		return false;
	}
	if (!c->outbound) {
		c->id = id;
		snprintf(c->who + strlen(c->who), sizeof c->who - strlen(c->who), " (node-%llu)", id);
		c->state = PEER_PREAMBLE;
		return true;
	}
	if (id != c->id) {
		peer_conn_fail(c, true, "its certificate is node-%llu's, not node-%llu's", id, c->id);
		return false;
	}
	n = peer_tls_preamble_encode(c->t->id, c->t->address, pre, sizeof pre);
	if (n == 0 || tls_stream_write(&c->tls, pre, n, errmsg) != ESC_OK) {
		peer_conn_fail(c, true, "preamble: %s", n == 0 ? "our address does not fit" : errmsg);
		return false;
	}
	c->state = PEER_REPLY;
	return true;
}

/* More of the preamble or the reply arrived. */
static void frame_progress(struct peer_conn *c)
{
	struct peer_tls_preamble p;
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t reply[PEER_TLS_REPLY_SIZE];
	size_t used;

	if (c->state == PEER_REPLY) {
		if (peer_tls_reply_parse(c->frame, c->frame_len, &used, errmsg) != ESC_OK)
			peer_conn_fail(c, true, "%s", errmsg);
		else if (used > 0)
			hand_over(c, used, NULL);
		return;
	}
	if (peer_tls_preamble_parse(c->frame, c->frame_len, &p, &used, errmsg) != ESC_OK) {
		peer_conn_fail(c, true, "%s", errmsg);
		return;
	}
	if (used == 0)
		return;
	if (p.id != c->id) {
		peer_conn_fail(c, true,
			       "its certificate is node-%llu's but its preamble claims node %llu",
			       c->id, p.id);
		return;
	}
	if (p.id == c->t->id) {
		peer_conn_fail(c, true, "it claims to be this node (%llu)", p.id);
		return;
	}
	peer_tls_reply_encode(reply);
	if (tls_stream_write(&c->tls, reply, sizeof reply, errmsg) != ESC_OK) {
		peer_conn_fail(c, true, "%s", errmsg);
		return;
	}
	hand_over(c, used, p.address);
}

/* The TLS stream reached its end (close_notify). */
static void tls_ended(struct peer_conn *c)
{
	if (c->state == PEER_RELAY)
		peer_conn_drain(c, (uv_stream_t *)&c->pipe);
	else
		peer_conn_fail(c, true, "it closed TLS in the %s", peer_conn_state_name(c->state));
}

/* Moves everything the TLS stream can give along: handshake, frames, then
 * plaintext to libraft while its queue allows. */
static void conn_pump(struct peer_conn *c)
{
	char errmsg[ESC_ERRMSG_SIZE];
	ssize_t r = 0;
	size_t got;

	while (c->state >= PEER_HANDSHAKE && c->state <= PEER_RELAY) {
		if (c->state == PEER_HANDSHAKE) {
			r = tls_stream_read(&c->tls, NULL, 0, errmsg);
			if (r == 0 && !c->tls.established)
				break;
			if (r == 0 && !identity_ok(c))
				return;
			if (r == 0)
				continue;
		} else if (c->state != PEER_RELAY) {
			size_t want = c->state == PEER_PREAMBLE ? sizeof c->frame : PEER_TLS_REPLY_SIZE;
			r = tls_stream_read(&c->tls, c->frame + c->frame_len, want - c->frame_len,
					    errmsg);
			if (r > 0) {
				c->frame_len += (size_t)r;
				frame_progress(c);
				continue;
			}
		} else {
			if (c->pipe_queued >= PEER_TLS_QUEUE_HIGH) {
				if (!c->tcp_paused)
					uv_read_stop((uv_stream_t *)&c->tcp);
				c->tcp_paused = true;
				break;
			}
			/* One write to libraft for many TLS records. */
			got = 0;
			while (got < sizeof c->rbuf &&
			       (r = tls_stream_read(&c->tls, c->rbuf + got, sizeof c->rbuf - got,
						    errmsg)) > 0)
				got += (size_t)r;
			if (got > 0) {
				bool ok = pipe_send(c, c->rbuf, got);
				OPENSSL_cleanse(c->rbuf, got);
				if (!ok)
					return;
			}
			if (got == sizeof c->rbuf)
				continue;
		}
		if (r == 0)
			break;
		if (r == TLS_STREAM_EOF)
			tls_ended(c);
		else
			peer_conn_fail(c, true, "%s", errmsg);
		return;
	}
	if (c->state < PEER_CLOSING)
		conn_flush(c);
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct peer_conn *c = s->data;

	if (n == 0)
		return;
	if (n == UV_EOF && c->state == PEER_RELAY) {
		peer_conn_drain(c, (uv_stream_t *)&c->pipe);
	} else if (n == UV_EOF && !c->outbound && !c->got_bytes) {
		/* A dial that sent nothing: a follower's leader probe
		 * (raft/leaderprobe.h) or a port scan. Not worth a line. */
		peer_conn_fail(c, false, "it closed the connection before sending a byte");
	} else if (n == UV_EOF) {
		peer_conn_fail(c, true, "it closed the connection in the %s%s",
			       peer_conn_state_name(c->state),
			       c->state == PEER_REPLY ? " (it refused our certificate or preamble: "
							"see its log)"
						      : "");
	} else if (n < 0) {
		peer_conn_fail(c, true, "%s", uv_strerror((int)n));
	} else {
		c->got_bytes = true;
		if (tls_stream_feed(&c->tls, buf->base, (size_t)n) != ESC_OK)
			peer_conn_fail(c, false, "out of memory");
		else
			conn_pump(c);
	}
}

void peer_conn_start(struct peer_conn *c)
{
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tcp_read) != 0) {
		peer_conn_fail(c, false, "cannot read the connection");
		return;
	}
	conn_pump(c);
}
