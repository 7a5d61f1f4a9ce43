/* HTTP/1.1 client with keep-alive pools keyed by "HOST:PORT".
 *
 * A connection carries one request at a time:
 *
 *   CONNECTING --connected--> BUSY --response complete--> HOLDING
 *                              ^                             |
 *                              +---- reused ---- IDLE <------+ callback ran
 *
 * IDLE connections keep reading so that a close by the server is noticed;
 * they are dropped after CLIENT_IDLE_MS. A request completes by closing its
 * timer; its callback runs in the timer's close callback, so the caller may
 * free the request there. The response lives in the connection (HOLDING)
 * until then. A reused connection that fails before any response byte is
 * retried once on a fresh connection: the server never saw the request. */
#include "http/http_client.h"

#include <http_parser.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client_conn.h"
#include "http/http_parse_util.h"
#include "lib/error.h"
#include "lib/netaddr.h"

#define CLIENT_IDLE_MS 30000     /* below the server's idle timeout */
#define CLIENT_IDLE_PER_ADDR 128 /* more idle connections to one address: closed (a TLS
				   handshake costs more than keeping one) */

static void conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void conn_attach(struct http_client_conn *conn, struct http_client_req *req);
static void conn_try_next(struct http_client_conn *conn);

static void client_close_check(struct http_client *c)
{
	http_client_close_cb cb = c->close_cb;

	if (!c->closing || c->conns != NULL || c->n_reqs > 0 || cb == NULL)
		return;
	c->close_cb = NULL;
	cb(c);
}

/* One of conn's handles (or its name resolution) is done with it. */
static void conn_release(struct http_client_conn *conn)
{
	struct http_client *c = conn->client;
	struct http_client_conn **pp;

	if (--conn->open_handles > 0)
		return;
	for (pp = &c->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == conn) {
			*pp = conn->next;
			break;
		}
	}
	http_parse_headers_free(&conn->headers);
	http_parse_buf_free(&conn->body);
	if (conn->wbuf != NULL) /* NULL: the write callback ran before this */
		OPENSSL_clear_free(conn->wbuf, conn->wbuf_len);
	if (conn->res != NULL)
		uv_freeaddrinfo(conn->res);
	client_tls_free(conn);
	if (conn->in != NULL)
		OPENSSL_clear_free(conn->in, CLIENT_READ_SIZE);
	free(conn);
	client_close_check(c);
}

static void conn_close_cb(uv_handle_t *handle)
{
	conn_release(handle->data);
}

static void conn_close(struct http_client_conn *conn)
{
	if (conn->closing)
		return;
	conn->closing = true;
	if (conn->resolving)
		uv_cancel((uv_req_t *)&conn->gai); /* its callback still comes */
	uv_close((uv_handle_t *)&conn->tcp, conn_close_cb);
	uv_close((uv_handle_t *)&conn->idle_timer, conn_close_cb);
}

static void conn_idle_timeout_cb(uv_timer_t *timer)
{
	conn_close(timer->data);
}

static struct http_client_conn *conn_create(struct http_client *c, const char *addr,
					    const struct netaddr *na)
{
	struct http_client_conn *conn;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL)
		return NULL;
	conn->client = c;
	snprintf(conn->addr, sizeof(conn->addr), "%s", addr);
	conn->na = *na;
	conn->state = CLIENT_CONN_CONNECTING;
	uv_tcp_init(c->loop, &conn->tcp);
	uv_timer_init(c->loop, &conn->idle_timer);
	conn->tcp.data = conn;
	conn->idle_timer.data = conn;
	conn->connect.data = conn;
	conn->write.data = conn;
	conn->open_handles = 2;
	conn->next = c->conns;
	c->conns = conn;
	return conn;
}

static struct http_client_conn *pool_take(struct http_client *c, const char *addr)
{
	struct http_client_conn *conn;

	for (conn = c->conns; conn != NULL; conn = conn->next) {
		if (conn->state == CLIENT_CONN_IDLE && !conn->closing &&
		    strcmp(conn->addr, addr) == 0)
			return conn;
	}
	return NULL;
}

static size_t pool_idle_count(struct http_client *c, const char *addr)
{
	struct http_client_conn *conn;
	size_t n = 0;

	for (conn = c->conns; conn != NULL; conn = conn->next) {
		if (conn->state == CLIENT_CONN_IDLE && !conn->closing &&
		    strcmp(conn->addr, addr) == 0)
			n++;
	}
	return n;
}

static void req_closed_cb(uv_handle_t *handle)
{
	struct http_client_req *req = handle->data;
	struct http_client *c = req->client;
	struct http_client_conn *conn = req->conn;
	struct http_response resp;

	c->n_reqs--;
	if (req->status != ESC_OK) {
		req->cb(req, req->status, NULL);
		client_close_check(c);
		return;
	}
	resp.status = (int)conn->parser.status_code;
	resp.headers = conn->headers.v;
	resp.n_headers = conn->headers.n;
	resp.body = conn->body.p ? conn->body.p : "";
	resp.body_len = conn->body.len;
	req->cb(req, ESC_OK, &resp); /* req may be gone now */
	conn->req = NULL;
	http_parse_headers_free(&conn->headers);
	http_parse_buf_free(&conn->body);
	if (c->closing || conn->closing || !conn->keep_alive || conn->wbuf != NULL ||
	    conn->tls_writes > 0 ||
	    pool_idle_count(c, conn->addr) >= CLIENT_IDLE_PER_ADDR) {
		conn_close(conn);
	} else {
		conn->state = CLIENT_CONN_IDLE;
		conn->reused = true;
		if (uv_read_start((uv_stream_t *)&conn->tcp, conn_alloc_cb, conn_read_cb) == 0)
			uv_timer_start(&conn->idle_timer, conn_idle_timeout_cb, CLIENT_IDLE_MS, 0);
		else
			conn_close(conn);
	}
	client_close_check(c);
}

/* Ends req with status; its callback runs once the timer has closed. With
 * ESC_OK req stays attached to its connection, which holds the response. */
static void req_finish(struct http_client_req *req, int status)
{
	req->status = status;
	if (req->wire != NULL)
		OPENSSL_clear_free(req->wire, req->wire_len);
	req->wire = NULL;
	req->timer_started = false;
	uv_timer_stop(&req->timer);
	uv_close((uv_handle_t *)&req->timer, req_closed_cb);
}

static void conn_fail(struct http_client_conn *conn, int status)
{
	struct http_client_req *req = conn->req;

	if (req != NULL) {
		conn->req = NULL;
		req->conn = NULL;
		req_finish(req, status);
	}
	conn_close(conn);
}

void client_conn_lost(struct http_client_conn *conn)
{
	struct http_client_req *req = conn->req;
	struct http_client_conn *fresh;

	if (conn->state == CLIENT_CONN_HOLDING) {
		/* The response is whole and its callback due: no reuse. */
		conn->keep_alive = false;
		return;
	}
	if (req != NULL && conn->reused && !conn->got_bytes && !conn->client->closing) {
		fresh = conn_create(conn->client, conn->addr, &conn->na);
		if (fresh != NULL) {
			conn->req = NULL;
			req->conn = NULL;
			conn_close(conn);
			conn_attach(fresh, req);
			return;
		}
	}
	conn_fail(conn, ESC_EIO);
}

static void conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct http_client_conn *conn = handle->data;

	if (conn->in == NULL)
		conn->in = malloc(CLIENT_READ_SIZE);
	*buf = uv_buf_init(conn->in, conn->in ? CLIENT_READ_SIZE : 0);
}

static int resp_error(struct http_client_conn *conn, int rv)
{
	if (conn->err == 0)
		conn->err = rv == ESC_ENOMEM ? ESC_EIO : rv;
	return -1;
}

static int resp_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_client_conn *conn = p->data;
	int rv = http_parse_headers_field(&conn->headers, at, len);

	return rv ? resp_error(conn, rv) : 0;
}

static int resp_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_client_conn *conn = p->data;
	int rv = http_parse_headers_value(&conn->headers, at, len);

	return rv ? resp_error(conn, rv) : 0;
}

static int resp_on_headers_complete(http_parser *p)
{
	struct http_client_conn *conn = p->data;
	bool has_length = (p->flags & F_CONTENTLENGTH) != 0;

	if (p->status_code == 101)
		return resp_error(conn, ESC_ECORRUPT);
	if (has_length && p->content_length > HTTP_CLIENT_RESPONSE_MAX)
		return resp_error(conn, ESC_ETOOBIG);
	if (has_length && !conn->head &&
	    http_parse_buf_reserve(&conn->body, (size_t)p->content_length) != 0)
		return resp_error(conn, ESC_ENOMEM);
	return conn->head ? 1 : 0; /* 1: no body follows */
}

static int resp_on_body(http_parser *p, const char *at, size_t len)
{
	struct http_client_conn *conn = p->data;
	int rv = http_parse_buf_append(&conn->body, at, len, HTTP_CLIENT_RESPONSE_MAX);

	return rv ? resp_error(conn, rv) : 0;
}

static int resp_on_message_complete(http_parser *p)
{
	struct http_client_conn *conn = p->data;

	if (p->status_code / 100 == 1) {
		/* An interim response: the real one follows. */
		http_parse_headers_free(&conn->headers);
		http_parse_buf_free(&conn->body);
		return 0;
	}
	conn->keep_alive = http_should_keep_alive(p);
	conn->complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings response_settings = {
	.on_header_field = resp_on_header_field,
	.on_header_value = resp_on_header_value,
	.on_headers_complete = resp_on_headers_complete,
	.on_body = resp_on_body,
	.on_message_complete = resp_on_message_complete,
};

static void conn_complete(struct http_client_conn *conn)
{
	conn->state = CLIENT_CONN_HOLDING;
	uv_read_stop((uv_stream_t *)&conn->tcp);
	req_finish(conn->req, ESC_OK);
}

/* Parses received bytes; len 0 tells the parser about EOF. */
static void conn_on_bytes(struct http_client_conn *conn, const char *data, size_t len)
{
	enum http_errno e;
	size_t n;

	n = http_parser_execute(&conn->parser, &response_settings, data, len);
	if (conn->err != 0) {
		conn_fail(conn, conn->err);
		return;
	}
	if (conn->complete) {
		/* Bytes after the response: the connection is not clean. */
		if (n != len)
			conn->keep_alive = false;
		conn_complete(conn);
		return;
	}
	e = HTTP_PARSER_ERRNO(&conn->parser);
	if (e != HPE_OK)
		conn_fail(conn, len == 0 ? ESC_EIO : ESC_ECORRUPT);
	else if (len == 0)
		conn_fail(conn, ESC_EIO);
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct http_client_conn *conn = stream->data;

	if (nread == 0 || conn->closing)
		return;
	if (nread < 0)
		client_conn_ended(conn, (int)nread);
	else if (conn->tls != NULL)
		client_tls_bytes(conn, buf->base, (size_t)nread);
	else
		client_conn_bytes(conn, buf->base, (size_t)nread);
}

void client_conn_ended(struct http_client_conn *conn, int status)
{
	if (status == UV_EOF && conn->state == CLIENT_CONN_BUSY && conn->got_bytes) {
		/* Maybe a body delimited by the close. */
		conn_on_bytes(conn, NULL, 0);
		return;
	}
	client_conn_lost(conn);
}

void client_conn_bytes(struct http_client_conn *conn, const char *data, size_t len)
{
	if (conn->state != CLIENT_CONN_BUSY) {
		/* Bytes nobody asked for on an idle connection. */
		conn_close(conn);
		return;
	}
	conn->got_bytes = true;
	conn_on_bytes(conn, data, len);
}

static void conn_write_cb(uv_write_t *w, int status)
{
	struct http_client_conn *conn = w->data;

	OPENSSL_clear_free(conn->wbuf, conn->wbuf_len);
	conn->wbuf = NULL;
	client_conn_written(conn, status);
}

void client_conn_written(struct http_client_conn *conn, int status)
{
	if (conn->closing || status == 0)
		return;
	if (conn->state == CLIENT_CONN_HOLDING) {
		/* The response came before the server read all the request. */
		conn->keep_alive = false;
		return;
	}
	client_conn_lost(conn);
}

static void conn_send_request(struct http_client_conn *conn)
{
	struct http_client_req *req = conn->req;
	size_t done;
	uv_buf_t b;
	int n;

	conn->state = CLIENT_CONN_BUSY;
	conn->got_bytes = false;
	conn->complete = false;
	conn->keep_alive = false;
	conn->err = 0;
	http_parse_headers_free(&conn->headers);
	http_parse_buf_free(&conn->body);
	http_parser_init(&conn->parser, HTTP_RESPONSE);
	conn->parser.data = conn;
	if (conn->client->tls != NULL) {
		client_tls_send(conn, req->wire, req->wire_len);
		return;
	}
	/* Most requests leave at once, with no copy and no uv_write (whose
	 * end costs an epoll_ctl); an error or a full socket leaves the rest
	 * to uv_write, which reports the error. */
	b = uv_buf_init(req->wire, (unsigned)req->wire_len);
	n = uv_try_write((uv_stream_t *)&conn->tcp, &b, 1);
	if (n > 0 && (size_t)n == req->wire_len)
		return;
	done = n > 0 ? (size_t)n : 0;
	/* The rest is copied: req may end before the write does. */
	conn->wbuf_len = req->wire_len - done;
	conn->wbuf = malloc(conn->wbuf_len);
	if (conn->wbuf == NULL) {
		conn_fail(conn, ESC_EIO);
		return;
	}
	memcpy(conn->wbuf, req->wire + done, conn->wbuf_len);
	b = uv_buf_init(conn->wbuf, (unsigned)conn->wbuf_len);
	if (uv_write(&conn->write, (uv_stream_t *)&conn->tcp, &b, 1, conn_write_cb) != 0) {
		/* No callback after a synchronous error. */
		OPENSSL_clear_free(conn->wbuf, conn->wbuf_len);
		conn->wbuf = NULL;
		client_conn_lost(conn);
	}
}

static void conn_connect_cb(uv_connect_t *cr, int status)
{
	struct http_client_conn *conn = cr->data;

	if (conn->closing)
		return;
	if (status < 0 && conn->cur != NULL && conn->cur->ai_next != NULL && conn->req != NULL &&
	    !conn->client->closing) {
		conn_try_next(conn);
		return;
	}
	if (status < 0) {
		client_conn_lost(conn);
		return;
	}
	uv_tcp_nodelay(&conn->tcp, 1);
	if (uv_read_start((uv_stream_t *)&conn->tcp, conn_alloc_cb, conn_read_cb) != 0) {
		client_conn_lost(conn);
		return;
	}
	conn_send_request(conn);
}

/* The next resolved address, on a fresh connection (a libuv handle
 * connects once) that takes over the request and the addresses. */
static void conn_try_next(struct http_client_conn *conn)
{
	struct http_client_req *req = conn->req;
	struct http_client_conn *fresh = conn_create(conn->client, conn->addr, &conn->na);

	if (fresh == NULL) {
		client_conn_lost(conn);
		return;
	}
	fresh->res = conn->res;
	fresh->cur = conn->cur->ai_next;
	conn->res = NULL;
	conn->cur = NULL;
	conn->req = NULL;
	req->conn = NULL;
	conn_close(conn);
	conn_attach(fresh, req);
}

static void conn_connect_to(struct http_client_conn *conn, const struct sockaddr *sa)
{
	if (uv_tcp_connect(&conn->connect, &conn->tcp, sa, conn_connect_cb) == 0)
		return;
	/* An address this host cannot use fails here, not in the callback:
	 * the name's next address is tried alike. */
	if (conn->cur != NULL && conn->cur->ai_next != NULL)
		conn_try_next(conn);
	else
		client_conn_lost(conn);
}

static void conn_resolved_cb(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
	struct http_client_conn *conn = gai->data;

	conn->resolving = false;
	if (conn->closing) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		conn_release(conn);
		return;
	}
	conn->open_handles--; /* the resolution held one; the handles hold the rest */
	if (status < 0 || res == NULL) {
		client_note(conn->client, "%.63s: %.160s does not resolve (%.64s)", conn->addr,
			    conn->na.host, uv_strerror(status < 0 ? status : UV_EAI_NONAME));
		if (res != NULL)
			uv_freeaddrinfo(res);
		client_conn_lost(conn);
		return;
	}
	conn->res = conn->cur = res;
	conn_connect_to(conn, res->ai_addr);
}

static void conn_attach(struct http_client_conn *conn, struct http_client_req *req)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct sockaddr_storage ss;
	socklen_t len;
	char port[8];

	conn->req = req;
	req->conn = conn;
	conn->head = strncmp(req->wire, "HEAD ", 5) == 0;
	if (conn->state == CLIENT_CONN_IDLE) {
		uv_timer_stop(&conn->idle_timer);
		conn_send_request(conn);
		return;
	}
	if (conn->cur != NULL) {
		conn_connect_to(conn, conn->cur->ai_addr);
		return;
	}
	if (netaddr_sockaddr(&conn->na, &ss, &len)) {
		conn_connect_to(conn, (const struct sockaddr *)&ss);
		return;
	}
	/* A name: resolved on the loop's thread pool, never blocking the loop. */
	snprintf(port, sizeof port, "%u", conn->na.port);
	conn->gai.data = conn;
	if (uv_getaddrinfo(conn->client->loop, &conn->gai, conn_resolved_cb, conn->na.host, port,
			   &hints) != 0) {
		client_conn_lost(conn);
		return;
	}
	conn->resolving = true;
	conn->open_handles++;
}

static void req_timeout_cb(uv_timer_t *timer)
{
	struct http_client_req *req = timer->data;

	if (req->conn != NULL)
		conn_fail(req->conn, ESC_ETIMEOUT);
	else
		req_finish(req, ESC_ETIMEOUT);
}

void client_note(struct http_client *c, const char *fmt, ...)
{
	char line[96];
	unsigned dropped;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->tls_error, sizeof c->tls_error, fmt, ap);
	va_end(ap);
	if (c->log_cb == NULL || !ratelimit_allow(&c->log_limit, uv_now(c->loop), &dropped))
		return;
	if (dropped > 0) {
		snprintf(line, sizeof line, "%u more connection failures in %d s were not logged",
			 dropped, HTTP_CLIENT_LOG_WINDOW_MS / 1000);
		c->log_cb(c, line);
	}
	c->log_cb(c, c->tls_error);
}

int http_client_init(struct http_client *c, uv_loop_t *loop)
{
	c->log_cb = NULL;
	c->log_limit = (struct ratelimit)RATELIMIT_INIT(HTTP_CLIENT_LOG_WINDOW_MS,
							HTTP_CLIENT_LOG_LINES);
	c->tls_error[0] = '\0';
	c->loop = loop;
	c->conns = NULL;
	c->closing = false;
	c->close_cb = NULL;
	c->n_reqs = 0;
	return 0;
}

int http_client_send(struct http_client *c, struct http_client_req *req,
		     const char *addr, const char *method, const char *target,
		     const char *headers, const char *body, size_t len,
		     uint64_t timeout_ms, http_client_cb cb)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct http_client_conn *conn;
	struct netaddr na;
	int rv;

	if (c->closing)
		return ESC_ESHUTDOWN;
	if (addr == NULL || method == NULL || target == NULL || cb == NULL ||
	    timeout_ms == 0 || (len > 0 && body == NULL))
		return ESC_EINVAL;
	if (strlen(addr) >= CLIENT_ADDR_MAX || netaddr_parse(addr, &na, errmsg) != ESC_OK ||
	    !client_method_valid(method) || !client_target_valid(target) ||
	    !client_headers_valid(headers))
		return ESC_EINVAL;
	req->client = c;
	req->conn = NULL;
	req->cb = cb;
	req->next = NULL;
	req->status = ESC_OK;
	rv = client_wire_build(req, addr, method, target, headers, body, len);
	if (rv != 0)
		return rv;
	conn = pool_take(c, addr);
	if (conn == NULL)
		conn = conn_create(c, addr, &na);
	if (conn == NULL) {
		OPENSSL_clear_free(req->wire, req->wire_len);
		req->wire = NULL;
		return ESC_ENOMEM;
	}
	uv_timer_init(c->loop, &req->timer);
	req->timer.data = req;
	uv_timer_start(&req->timer, req_timeout_cb, timeout_ms, 0);
	req->timer_started = true;
	c->n_reqs++;
	conn_attach(conn, req);
	return 0;
}

const char *http_response_header(const struct http_response *r, const char *name)
{
	return http_parse_header_find(r->headers, r->n_headers, name);
}

void http_client_close(struct http_client *c, http_client_close_cb cb)
{
	struct http_client_conn *conn;

	c->closing = true;
	c->close_cb = cb;
	for (conn = c->conns; conn != NULL; conn = conn->next) {
		/* A held response still goes to its callback first. */
		if (conn->state != CLIENT_CONN_HOLDING)
			conn_fail(conn, ESC_ESHUTDOWN);
	}
	client_close_check(c);
}
