/* HTTP/1.1 server: the listener, connection lifetimes, byte I/O and timeouts
 * (its stop: http_server_stop.c).
 *
 * A connection moves through these states:
 *
 *   IDLE ---first byte---> READING ---request complete---> PENDING
 *    ^                        |                              |    |
 *    |                   error reply              http_respond    http_stream_start
 *    |                        v                              |    v
 *    +--written, keep-alive-- WRITING <----------------------+  STREAMING
 *                             |    ^                              |    |
 *                             |    +--http_stream_end, all sent---+    |
 *                     written, closing                                 |
 *                             v                                        |
 *                           LINGER <------http_stream_end, short-------+
 *                             |
 *                             v
 *                           closed
 *
 * IDLE and READING read from the socket under a timer (idle, or the whole
 * request's deadline). PENDING parses nothing and has no timer: the handler
 * owns the request and the daemon has its own deadline. STREAMING parses
 * nothing either, and its timer is only the stall guard of a write in
 * flight: the handler paces the body. WRITING has a write deadline. In these
 * three a connection still reads (a next request waits, a buffer's worth at
 * most; an end of input for the answers: no epoll_ctl per request).
 * LINGER has shut the write side after a final response (or a short stream)
 * and discards input for a moment, so that closing does not reset the
 * connection before the client has read what was sent. Any state can go to
 * closed.
 *
 * All bytes go through conn_on_bytes (in), conn_write_bytes and
 * conn_shutdown_bytes (out); under TLS (http_server_tls.c) they are
 * plaintext, and the socket's ciphertext goes through c->raw and
 * http_conn_write_raw.
 * Memory is freed only in close callbacks. A request still held by the
 * handler when its connection closes is detached (req->conn = NULL) and
 * http_respond or http_stream_end then only frees it; a stream write cut
 * short by the close learns it (ESC_EIO) in the last close callback, after
 * libuv has given the buffer back. */
#include "http/http_server.h"

#include <assert.h>
#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_conn.h"
#include "lib/error.h"
#include "lib/netaddr.h"

#define CONN_LINGER_MS 2000 /* after a final response, wait this long for EOF */
#define SERVER_BACKLOG 511

struct conn_write {
	uv_write_t req;
	struct http_conn *conn;
	char *owned;  /* wiped and freed when done, or NULL: borrowed stream data */
	size_t owned_len;
	bool stream;  /* a stream write: its callback fires when done */
};

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void conn_timeout_cb(uv_timer_t *timer);

/* Tells the handler how its stream write went. It may write again or end
 * the stream from the callback: call last. */
static void conn_stream_done(struct http_conn *c, int status)
{
	http_stream_cb cb = c->stream_cb;

	c->stream_cb = NULL;
	cb(c->pending, status);
}

static void conn_close_cb(uv_handle_t *handle)
{
	struct http_conn *c = handle->data;
	struct http_server *s = c->server;

	if (--c->open_handles > 0)
		return;
	/* Every write callback has run: a stream write cut short learns it
	 * now, and may end the stream from its callback. */
	if (c->stream_cb != NULL)
		conn_stream_done(c, ESC_EIO);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	if (c->pending != NULL) {
		/* The handler still holds it: http_respond will only free it. */
		c->pending->conn = NULL;
		if (--s->n_pending == 0)
			http_server_drained(s);
	}
	if (c->ready != NULL)
		http_conn_request_free(c->ready);
	http_conn_reset_request(c);
	http_conn_tls_free(c);
	http_conn_in_give(c);
	free(c);
	http_server_stop_check(s);
}

void http_conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

static void conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = handle->data;

	if (c->tls != NULL) {
		if (c->raw == NULL)
			c->raw = malloc(HTTP_CONN_READ_SIZE);
		*buf = uv_buf_init(c->raw, c->raw != NULL ? HTTP_CONN_READ_SIZE : 0);
		return;
	}
	if (c->in == NULL) {
		c->in = http_conn_in_take(c);
		c->in_off = 0;
		c->in_len = 0;
	}
	/* Reading only happens with room left: a pause stops reading first. */
	if (c->in == NULL || c->in_len >= HTTP_CONN_READ_SIZE) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(HTTP_CONN_READ_SIZE - c->in_len));
}

char *http_conn_in_take(struct http_conn *c)
{
	struct http_server *s = c->server;

	if (s->n_spare_in > 0)
		return s->spare_in[--s->n_spare_in];
	return malloc(HTTP_CONN_READ_SIZE);
}

void http_conn_in_give(struct http_conn *c)
{
	struct http_server *s = c->server;

	if (c->in == NULL)
		return;
	OPENSSL_cleanse(c->in, c->in_len);
	if (s->n_spare_in < HTTP_SPARE_BUFFERS && !s->stopping)
		s->spare_in[s->n_spare_in++] = c->in;
	else
		free(c->in);
	c->in = NULL;
	c->in_off = 0;
	c->in_len = 0;
}

/* A request is being answered: what arrives now waits for the answer. */
static bool conn_answering(const struct http_conn *c)
{
	return c->state == HTTP_CONN_PENDING || c->state == HTTP_CONN_STREAMING ||
	       c->state == HTTP_CONN_WRITING;
}

static void conn_read_stop(struct http_conn *c)
{
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
}

/* The single entry point of received bytes: they are already in c->in. */
static void conn_on_bytes(struct http_conn *c, size_t n)
{
	if (c->tls != NULL) {
		http_conn_tls_bytes(c, n);
		/* Answering: what follows waits in the stream, a buffer's worth. */
		if (!c->closing && c->tls != NULL && conn_answering(c) &&
		    http_conn_tls_waiting(c) >= HTTP_CONN_READ_SIZE)
			conn_read_stop(c);
		return;
	}
	c->in_len += n;
	if (c->state == HTTP_CONN_LINGER) {
		OPENSSL_cleanse(c->in, c->in_len);
		c->in_off = 0;
		c->in_len = 0;
		return;
	}
	if (conn_answering(c))
		return; /* parsed after the answer (conn_resume) */
	http_conn_feed(c);
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = stream->data;

	if (nread == 0)
		return;
	if (nread < 0 && conn_answering(c) && (nread == UV_EOF || nread == UV_ENOBUFS)) {
		/* Full of what comes next, or the client's end: the answer
		 * goes out first, then conn_resume carries on. */
		conn_read_stop(c);
		if (nread == UV_EOF)
			c->peer_eof = true;
		return;
	}
	if (nread < 0) {
		/* EOF, reset, or no buffer: the connection is over. */
		http_conn_close(c);
		return;
	}
	conn_on_bytes(c, (size_t)nread);
}

static int conn_read_start(struct http_conn *c)
{
	if (c->reading)
		return 0;
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb) != 0) {
		http_conn_close(c);
		return ESC_EIO;
	}
	c->reading = true;
	return 0;
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;

	if (status < 0 && !c->closing)
		http_conn_close(c);
}

/* The single exit point for the end of our byte stream. */
static void conn_shutdown_bytes(struct http_conn *c)
{
	if (c->tls != NULL)
		http_conn_tls_close_notify(c);
	if (c->closing)
		return;
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn_shutdown_cb) != 0)
		http_conn_close(c);
}

void http_conn_linger(struct http_conn *c)
{
	conn_read_stop(c); /* restarted below, with the linger's purpose */
	c->state = HTTP_CONN_LINGER;
	if (c->in != NULL)
		OPENSSL_cleanse(c->in, c->in_len);
	c->in_off = 0;
	c->in_len = 0;
	uv_timer_start(&c->timer, conn_timeout_cb, CONN_LINGER_MS, 0);
	conn_shutdown_bytes(c);
	if (!c->closing)
		conn_read_start(c);
}

/* After a response on a keep-alive connection: next request, maybe already buffered. */
static void conn_resume(struct http_conn *c)
{
	c->state = HTTP_CONN_IDLE;
	http_parser_pause(&c->parser, 0);
	uv_timer_start(&c->timer, conn_timeout_cb, HTTP_IDLE_TIMEOUT_MS, 0);
	if (c->tls != NULL)
		http_conn_tls_pull(c);
	else if (c->in != NULL && c->in_off < c->in_len)
		http_conn_feed(c);
	if (c->closing)
		return;
	if (c->state != HTTP_CONN_IDLE && c->state != HTTP_CONN_READING)
		return;
	/* The client ended its side: what it sent is answered, and a
	 * request it did not finish never will be. */
	if (c->peer_eof)
		http_conn_close(c);
	else
		conn_read_start(c);
}

/* The response is all written: next request, or close. */
static void conn_finish(struct http_conn *c)
{
	if (c->close_after || c->server->stopping)
		http_conn_linger(c);
	else
		conn_resume(c);
}

static void conn_finish_cb(uv_timer_t *timer)
{
	conn_finish(timer->data);
}

static void conn_stream_skip_cb(uv_timer_t *timer);

/* The timer while streaming: a skipped (HEAD) write completes on the next
 * loop turn; otherwise bytes out on the socket are under the stall guard,
 * restarted whenever a write starts or ends; otherwise none. */
static void conn_stream_timer(struct http_conn *c)
{
	if (c->stream_skip)
		uv_timer_start(&c->timer, conn_stream_skip_cb, 0, 0);
	else if (c->n_writes > 0)
		uv_timer_start(&c->timer, conn_timeout_cb, HTTP_STREAM_STALL_MS, 0);
	else
		uv_timer_stop(&c->timer);
}

static void conn_stream_skip_cb(uv_timer_t *timer)
{
	struct http_conn *c = timer->data;

	c->stream_skip = false;
	conn_stream_timer(c);
	conn_stream_done(c, ESC_OK);
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct conn_write *w = (struct conn_write *)req;
	struct http_conn *c = w->conn;
	bool stream = w->stream;

	OPENSSL_clear_free(w->owned, w->owned_len);
	free(w);
	c->n_writes--;
	/* A failed stream write is told in the last close callback. */
	if (c->closing)
		return;
	if (status < 0) {
		http_conn_close(c);
		return;
	}
	if (c->state == HTTP_CONN_STREAMING)
		conn_stream_timer(c);
	if (stream)
		conn_stream_done(c, ESC_OK);
	else if (c->state == HTTP_CONN_WRITING && c->n_writes == 0)
		conn_finish(c);
}

/* Bytes to the socket. owned (owned_len bytes, b's or more; NULL for a
 * stream write, which borrows b's bytes until its callback) is wiped and
 * freed when done, or here on error: responses hold passwords. */
static int conn_write_socket(struct http_conn *c, uv_buf_t b, char *owned, size_t owned_len,
			     bool stream)
{
	struct conn_write *w;

	w = malloc(sizeof(*w));
	if (w == NULL) {
		OPENSSL_clear_free(owned, owned_len);
		http_conn_close(c);
		return ESC_ENOMEM;
	}
	w->conn = c;
	w->owned = owned;
	w->owned_len = owned_len;
	w->stream = stream;
	/* A synchronous error never calls the callback: release here. */
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb) != 0) {
		OPENSSL_clear_free(owned, owned_len);
		free(w);
		http_conn_close(c);
		return ESC_EIO;
	}
	c->n_writes++;
	if (c->state == HTTP_CONN_STREAMING)
		conn_stream_timer(c);
	return 0;
}

int http_conn_write_raw(struct http_conn *c, char *owned, size_t len, bool stream)
{
	return conn_write_socket(c, uv_buf_init(owned, (unsigned)len), owned, len, stream);
}

/* Where response bytes leave (but for a whole response sent at once,
 * conn_try_write): see conn_write_socket. */
static int conn_write_bytes(struct http_conn *c, uv_buf_t b, char *owned, bool stream)
{
	if (c->tls != NULL)
		return http_conn_tls_write(c, b.base, b.len, owned, stream);
	return conn_write_socket(c, b, owned, b.len, stream);
}

int http_conn_write_bytes(struct http_conn *c, char *buf, size_t len)
{
	uv_buf_t b = { .base = buf, .len = len };

	return conn_write_bytes(c, b, buf, false);
}

/* A plain response with nothing queued before it goes to the socket at
 * once: uv_write would, but once done it stops watching for writability
 * again, an epoll_ctl call per response. Returns the bytes written, 0 when
 * none could be (the socket full, or an error uv_write will report). */
static size_t conn_try_write(struct http_conn *c, char *buf, size_t len)
{
	uv_buf_t b = uv_buf_init(buf, (unsigned)len);
	int n;

	if (c->tls != NULL || c->closing || c->n_writes > 0)
		return 0;
	n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	return n > 0 ? (size_t)n : 0;
}

void http_conn_send(struct http_conn *c, char *buf, size_t len, bool close_after)
{
	size_t done = conn_try_write(c, buf, len);

	c->state = HTTP_CONN_WRITING;
	c->close_after = close_after;
	if (done == len) {
		OPENSSL_clear_free(buf, len);
		/* Finish from the loop, never inside the handler's call. */
		uv_timer_start(&c->timer, conn_finish_cb, 0, 0);
		return;
	}
	uv_timer_start(&c->timer, conn_timeout_cb, HTTP_REQUEST_TIMEOUT_MS, 0);
	if (done == 0)
		http_conn_write_bytes(c, buf, len);
	else /* plain: the rest as any write, buf released once it is out */
		conn_write_socket(c, uv_buf_init(buf + done, (unsigned)(len - done)), buf, len,
				  false);
}

int http_conn_stream_begin(struct http_conn *c, char *buf, size_t len, uint64_t body_len,
			   bool close_after)
{
	assert(c->state == HTTP_CONN_PENDING);
	c->state = HTTP_CONN_STREAMING;
	c->close_after = close_after;
	c->stream_left = body_len;
	return http_conn_write_bytes(c, buf, len);
}

int http_conn_stream_write(struct http_conn *c, const void *data, size_t len,
			   http_stream_cb cb)
{
	uv_buf_t b = { .base = (char *)data, .len = len };
	int rv;

	assert(c->state == HTTP_CONN_STREAMING && c->stream_cb == NULL);
	if (c->head) {
		/* The head announced the length; the body is not sent. */
		c->stream_skip = true;
		conn_stream_timer(c);
	} else {
		rv = conn_write_bytes(c, b, NULL, true);
		if (rv != 0)
			return rv;
	}
	c->stream_cb = cb;
	return 0;
}

void http_conn_stream_end(struct http_conn *c)
{
	assert(c->stream_cb == NULL);
	if (c->closing)
		return;
	if (c->state != HTTP_CONN_STREAMING || (c->stream_left > 0 && !c->head)) {
		/* Short: what was sent goes out, then the end of the stream
		 * tells the client its body is truncated. */
		http_conn_linger(c);
		return;
	}
	c->state = HTTP_CONN_WRITING;
	c->stream_left = 0;
	/* Finish from the loop, never inside the handler's call. */
	if (c->n_writes > 0)
		uv_timer_start(&c->timer, conn_timeout_cb, HTTP_REQUEST_TIMEOUT_MS, 0);
	else
		uv_timer_start(&c->timer, conn_finish_cb, 0, 0);
}

void http_conn_start_request(struct http_conn *c)
{
	c->state = HTTP_CONN_READING;
	uv_timer_start(&c->timer, conn_timeout_cb, HTTP_REQUEST_TIMEOUT_MS, 0);
}

void http_conn_hold(struct http_conn *c)
{
	c->state = HTTP_CONN_PENDING;
	uv_timer_stop(&c->timer);
}

static void conn_timeout_cb(uv_timer_t *timer)
{
	http_conn_close(timer->data);
}

static void conn_peer_name(struct http_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];
	int port;

	snprintf(c->peer, sizeof(c->peer), "unknown");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		uv_ip4_name(in, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		uv_ip6_name(in6, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	} else {
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
}

static void server_connection_cb(uv_stream_t *listener, int status)
{
	struct http_server *s = listener->data;
	struct http_conn *c;

	if (status < 0 || s->stopping)
		return;
	/* Without memory the pending connection stays in libuv's hands and
	 * the listener pauses until the next successful accept. */
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->server = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
	    s->n_conns > HTTP_CONNECTIONS_MAX) {
		http_conn_close(c);
		return;
	}
	s->accepted++;
	uv_tcp_nodelay(&c->tcp, 1);
	conn_peer_name(c);
	if (s->tls != NULL && http_conn_tls_start(c) != 0) {
		http_conn_close(c);
		return;
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->state = HTTP_CONN_IDLE;
	/* A new connection gets the request deadline for its first byte. */
	uv_timer_start(&c->timer, conn_timeout_cb, HTTP_REQUEST_TIMEOUT_MS, 0);
	conn_read_start(c);
}

int http_server_start(struct http_server *s, uv_loop_t *loop, const char *addr,
		      char *errmsg)
{
	struct sockaddr_storage sa;
	struct sockaddr_storage bound;
	struct netaddr na;
	socklen_t sa_len;
	int len = sizeof(bound);
	int one = 1;
	int fd;
	int rv;

	assert(s->handler != NULL);
	rv = netaddr_parse_bind(addr, &na, errmsg);
	if (rv == ESC_OK)
		rv = netaddr_resolve(&na, &sa, &sa_len, NULL, errmsg);
	if (rv != ESC_OK) {
		esc_errprefix(errmsg, "api address");
		return rv;
	}
	/* Bind by hand so that the common errors leave no libuv handle behind. */
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "api socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&sa, sa_len) != 0 ||
	    listen(fd, SERVER_BACKLOG) != 0) {
		if (errno == EADDRINUSE)
			rv = esc_errorf(errmsg, ESC_EADDRINUSE,
					"api address %s is already in use", addr);
		else
			rv = esc_errorf(errmsg, ESC_EIO, "api address %s: %s", addr,
					strerror(errno));
		goto err_fd;
	}
	s->loop = loop;
	s->conns = NULL;
	s->n_conns = 0;
	s->n_pending = 0;
	s->n_spare_in = 0;
	s->stopping = false;
	s->stop_cb = NULL;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	rv = uv_tcp_open(&s->listener, fd);
	if (rv != 0) {
		esc_errorf(errmsg, ESC_EIO, "api address %s: %s", addr, uv_strerror(rv));
		uv_close((uv_handle_t *)&s->listener, NULL);
		goto err_fd;
	}
	/* From here the handle owns fd. The listener is closing after an
	 * error: the owner runs the loop once before uv_loop_close. */
	rv = uv_listen((uv_stream_t *)&s->listener, SERVER_BACKLOG, server_connection_cb);
	if (rv == 0)
		rv = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
	if (rv != 0) {
		esc_errorf(errmsg, ESC_EIO, "api address %s: %s", addr, uv_strerror(rv));
		uv_close((uv_handle_t *)&s->listener, NULL);
		return ESC_EIO;
	}
	s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
					      : ntohs(((struct sockaddr_in *)&bound)->sin_port);
	uv_timer_init(loop, &s->drain_timer);
	s->drain_timer.data = s;
	s->listening = true;
	return 0;

err_fd:
	close(fd);
	return rv;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}
