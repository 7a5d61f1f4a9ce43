/* One peer connection's life (see peer_conn.h): TCP connect or accept,
 * socket options, deadlines, failure and close; its I/O is in peer_relay.c.
 *
 * Lifetime: the TCP and timer handles exist from the start, the pipes from
 * the hand-over. peer_conn_close closes every handle at once; the last close
 * callback frees the connection and only then fires a connect request's
 * callback that never got a stream. Writes in flight complete (or are
 * canceled) before their handle's close callback, so nothing outlives it. */
#include "raft/peer_conn.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/error.h"

static const char *const state_names[] = {
	"TCP connect", "TLS handshake", "preamble", "reply", "relay", "drain", "close",
};

const char *peer_conn_state_name(enum peer_conn_state s)
{
	return state_names[s];
}

static void conn_free(struct peer_conn *c)
{
	struct peer_tls *t = c->t;
	struct raft_uv_connect *req = c->req;
	int status = c->status;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->counted)
		t->handshakes--;
	if (c->tls_open)
		tls_stream_free(&c->tls);
	if (c->res != NULL)
		uv_freeaddrinfo(c->res);
	free(c);
	if (req != NULL)
		req->cb(req, NULL, status);
	peer_tls_maybe_closed(t); /* may free t: nothing after */
}

static void on_closed(uv_handle_t *h)
{
	struct peer_conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

static void on_raft_end_closed(uv_handle_t *h)
{
	struct peer_conn *c = h->data;

	raft_free(h);
	if (--c->handles == 0)
		conn_free(c);
}

void peer_conn_close(struct peer_conn *c)
{
	if (c->state == PEER_CLOSING)
		return;
	c->state = PEER_CLOSING;
	if (c->resolving)
		uv_cancel((uv_req_t *)&c->gai); /* its callback still comes */
	uv_close((uv_handle_t *)&c->timer, on_closed);
	uv_close((uv_handle_t *)&c->tcp, on_closed);
	if (c->pipe_open)
		uv_close((uv_handle_t *)&c->pipe, on_closed);
	if (c->raft_end != NULL) {
		uv_close((uv_handle_t *)c->raft_end, on_raft_end_closed);
		c->raft_end = NULL;
	}
}

void peer_conn_abort(struct peer_conn *c)
{
	if (c->req != NULL)
		c->status = RAFT_CANCELED;
	peer_conn_close(c);
}

/* Best effort, before closing: what TLS still has to say (an alert tells a
 * refused peer why). */
static void conn_send_now(struct peer_conn *c)
{
	char buf[512];
	size_t n;

	if (!c->tls_open || c->state == PEER_DIALING)
		return;
	while ((n = tls_stream_take(&c->tls, buf, sizeof buf)) > 0) {
		uv_buf_t b = uv_buf_init(buf, (unsigned)n);
		if (uv_try_write((uv_stream_t *)&c->tcp, &b, 1) != (int)n)
			break;
	}
}

/* Connections that never finish their handshake must not lock the peers
 * out: past the limit the oldest unfinished one (the list's newest is
 * first) makes room for the new one. */
static void evict_oldest(struct peer_tls *t)
{
	struct peer_conn *p, *oldest = NULL;
	unsigned live = 0;

	for (p = t->conns; p != NULL; p = p->next) {
		if (p->outbound || !p->counted || p->state >= PEER_RELAY)
			continue;
		live++;
		oldest = p;
	}
	if (live > PEER_TLS_HANDSHAKES_MAX && oldest != NULL)
		peer_conn_fail(oldest, true, "dropped: the oldest of %u connections still in their "
			       "handshake", live);
}

void peer_conn_fail(struct peer_conn *c, bool log, const char *fmt, ...)
{
	struct peer_tls *t = c->t;
	char why[384];
	va_list ap;

	if (c->state == PEER_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (c->state >= PEER_RELAY) {
		t->stats.lost++;
		peer_tls_note(t, log, "connection with %s lost: %s", c->who, why);
	} else if (c->outbound) {
		t->stats.connect_failed++;
		c->status = RAFT_NOCONNECTION;
		peer_tls_note(t, log, "connect to %s: %s", c->who, why);
	} else {
		t->stats.refused++;
		peer_tls_note(t, log, "refused %s: %s", c->who, why);
	}
	conn_send_now(c);
	peer_conn_close(c);
}

static void on_timer(uv_timer_t *h)
{
	struct peer_conn *c = h->data;

	if (c->state == PEER_DRAINING) {
		peer_conn_close(c);
		return;
	}
	peer_conn_fail(c, c->state != PEER_DIALING, "timed out after %u ms in the %s",
		       c->t->timeout_ms, peer_conn_state_name(c->state));
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	peer_conn_close(req->data);
}

void peer_conn_drain(struct peer_conn *c, uv_stream_t *s)
{
	if (c->state != PEER_RELAY)
		return;
	c->state = PEER_DRAINING;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_read_stop((uv_stream_t *)&c->pipe);
	if (uv_shutdown(&c->shutdown, s, on_shutdown) != 0) {
		peer_conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, c->t->timeout_ms, 0);
}

/* Noticing a dead peer in seconds: no Nagle delay on small Raft messages,
 * keepalive on idle links, and TCP_USER_TIMEOUT on unacknowledged data
 * (instead of minutes of retransmission backoff). Best effort. */
static void tune_socket(uv_tcp_t *tcp)
{
	int interval = PEER_TLS_KEEPALIVE_S, count = PEER_TLS_KEEPALIVE_COUNT;
	unsigned timeout = PEER_TLS_USER_TIMEOUT_MS;
	uv_os_fd_t fd;

	uv_tcp_nodelay(tcp, 1);
	uv_tcp_keepalive(tcp, 1, PEER_TLS_KEEPALIVE_S);
	if (uv_fileno((uv_handle_t *)tcp, &fd) != 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout);
}

static struct peer_conn *conn_new(struct peer_tls *t, bool outbound)
{
	struct peer_conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	if (uv_tcp_init(t->loop, &c->tcp) != 0) {
		free(c);
		return NULL;
	}
	uv_timer_init(t->loop, &c->timer);
	c->t = t;
	c->outbound = outbound;
	c->state = outbound ? PEER_DIALING : PEER_HANDSHAKE;
	c->status = RAFT_NOCONNECTION;
	c->handles = 2;
	c->tcp.data = c;
	c->timer.data = c;
	c->connect.data = c;
	c->shutdown.data = c;
	c->next = t->conns;
	if (c->next != NULL)
		c->next->prev = c;
	t->conns = c;
	return c;
}

static void dial_next(struct peer_conn *c);

static void on_connect(uv_connect_t *req, int status)
{
	struct peer_conn *c = req->data;

	if (c->state == PEER_CLOSING)
		return;
	if (status < 0 && c->cur != NULL && c->cur->ai_next != NULL) {
		dial_next(c);
		return;
	}
	if (status < 0) {
		peer_conn_fail(c, false, "%s", uv_strerror(status));
		return;
	}
	tune_socket(&c->tcp);
	c->state = PEER_HANDSHAKE;
	peer_conn_start(c); /* the client hello */
}

static void connect_to(struct peer_conn *c, const struct sockaddr *sa)
{
	int rv = uv_tcp_connect(&c->connect, &c->tcp, sa, on_connect);

	/* An address this host cannot use (say IPv6 where it is off) fails
	 * here, not in on_connect: the name's next address is tried alike. */
	if (rv != 0 && c->cur != NULL && c->cur->ai_next != NULL)
		dial_next(c);
	else if (rv != 0)
		peer_conn_fail(c, false, "%s", uv_strerror(rv));
}

/* The next address of the name on a fresh connection (a libuv handle
 * connects once), which takes over the request and the addresses. */
static void dial_next(struct peer_conn *c)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct peer_conn *n = conn_new(c->t, true);

	if (n == NULL || tls_stream_init(&n->tls, c->t->client_ctx, c->host, errmsg) != ESC_OK) {
		if (n != NULL)
			peer_conn_close(n);
		peer_conn_fail(c, false, "no memory to try its next address");
		return;
	}
	n->tls_open = true;
	n->id = c->id;
	n->na = c->na;
	memcpy(n->host, c->host, sizeof n->host);
	memcpy(n->who, c->who, sizeof n->who);
	n->res = c->res;
	n->cur = c->cur->ai_next;
	n->req = c->req;
	c->res = c->cur = NULL;
	c->req = NULL;
	peer_conn_close(c);
	uv_timer_start(&n->timer, on_timer, n->t->timeout_ms, 0);
	connect_to(n, n->cur->ai_addr);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
	struct peer_conn *c = g->data;

	c->resolving = false;
	if (c->state == PEER_CLOSING) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		if (--c->handles == 0)
			conn_free(c);
		return;
	}
	c->handles--;
	if (status < 0 || res == NULL) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		/* Not fatal: libraft dials again on its heartbeat schedule. */
		peer_conn_fail(c, true, "%s does not resolve (%s); retrying", c->na.host,
			       uv_strerror(status < 0 ? status : UV_EAI_NONAME));
		return;
	}
	c->res = c->cur = res;
	connect_to(c, res->ai_addr);
}

int peer_conn_dial(struct peer_tls *t, struct raft_uv_connect *req, raft_id id,
		   const char *address, raft_uv_connect_cb cb)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char errmsg[ESC_ERRMSG_SIZE], port[8];
	struct sockaddr_storage sa;
	struct peer_conn *c;
	socklen_t len;
	int rv;

	c = conn_new(t, true);
	if (c == NULL) {
		snprintf(t->transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "out of memory");
		return RAFT_NOMEM;
	}
	c->id = id;
	snprintf(c->who, sizeof c->who, "node %llu at %.*s", id, PEER_TLS_ADDRESS_MAX, address);
	if (peer_tls_address_parse(address, &c->na) != ESC_OK) {
		snprintf(t->transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "%.96s: not HOST:PORT", c->who);
		peer_conn_close(c);
		return RAFT_NOCONNECTION;
	}
	snprintf(c->host, sizeof c->host, "%s", c->na.host);
	/* The certificate must hold what is dialled: a DNS name for a name, an
	 * IP address for a literal (tls_stream_init sets which). */
	if (tls_stream_init(&c->tls, t->client_ctx, c->host, errmsg) != ESC_OK) {
		snprintf(t->transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "%.96s: %.128s", c->who, errmsg);
		peer_conn_close(c);
		return RAFT_NOCONNECTION;
	}
	c->tls_open = true;
	if (netaddr_sockaddr(&c->na, &sa, &len)) {
		rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sa, on_connect);
	} else {
		/* On the loop's thread pool: the loop never blocks on DNS. */
		snprintf(port, sizeof port, "%u", c->na.port);
		c->gai.data = c;
		rv = uv_getaddrinfo(t->loop, &c->gai, on_resolved, c->na.host, port, &hints);
		if (rv == 0) {
			c->resolving = true;
			c->handles++;
		}
	}
	if (rv != 0) {
		snprintf(t->transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "%.96s: %s", c->who,
			 uv_strerror(rv));
		peer_conn_close(c);
		return RAFT_NOCONNECTION;
	}
	req->cb = cb;
	c->req = req;
	uv_timer_start(&c->timer, on_timer, t->timeout_ms, 0);
	return 0;
}

static void on_spare_closed(uv_handle_t *h)
{
	struct peer_tls *t = h->data;

	t->spare_open = false;
	if (t->accept_stalled && !t->closing) {
		t->accept_stalled = false;
		peer_conn_accept(t);
		return;
	}
	peer_tls_maybe_closed(t);
}

/* Out of memory: the connection is taken and closed anyway, or libuv would
 * stop listening until the next uv_accept. */
static void accept_refuse(struct peer_tls *t)
{
	peer_tls_note(t, true, "refused a connection: out of memory");
	t->stats.refused++;
	if (t->spare_open) {
		t->accept_stalled = true; /* retried when the spare is closed */
		return;
	}
	uv_tcp_init(t->loop, &t->spare);
	t->spare.data = t;
	t->spare_open = true;
	uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&t->spare);
	uv_close((uv_handle_t *)&t->spare, on_spare_closed);
}

void peer_conn_accept(struct peer_tls *t)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct sockaddr_storage sa;
	int len = sizeof sa;
	struct peer_conn *c = conn_new(t, false);

	if (c == NULL) {
		accept_refuse(t);
		return;
	}
	if (uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&c->tcp) != 0) {
		snprintf(c->who, sizeof c->who, "a peer");
		peer_conn_fail(c, false, "accept failed");
		return;
	}
	c->counted = true;
	t->handshakes++;
	memset(&sa, 0, sizeof sa);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0)
		netaddr_sockaddr_text((struct sockaddr *)&sa, c->who, sizeof c->who);
	else
		snprintf(c->who, sizeof c->who, "a peer");
	if (t->handshakes > PEER_TLS_HANDSHAKES_MAX)
		evict_oldest(t);
	if (tls_stream_init(&c->tls, t->server_ctx, NULL, errmsg) != ESC_OK) {
		peer_conn_fail(c, true, "%s", errmsg);
		return;
	}
	c->tls_open = true;
	tune_socket(&c->tcp);
	uv_timer_start(&c->timer, on_timer, t->timeout_ms, 0);
	peer_conn_start(c);
}
