/* Helpers of tests/test_peer_tls.c and tests/test_replica_apply.c (see
 * tests/peer_harness.h). */
#include "tests/peer_harness.h"

#include <signal.h>

char dir[64];
uv_loop_t loop;
uv_timer_t tick;

void tick_cb(uv_timer_t *h)
{
	(void)h;
}

/* ---- PKI: ca; node-1..3; operator (OU operator, CN node-2); foreign (a
 * node-2 of another CA); selfsigned (a node-2 that signed itself). */

bool make_pki(void)
{
	static const struct test_leaf leaves[] = {
		{ "node-1", "node-1", "node", PKI_NODE, BY_CA, 0, 30 },
		{ "node-2", "node-2", "node", PKI_NODE, BY_CA, 0, 30 },
		{ "node-3", "node-3", "node", PKI_NODE, BY_CA, 0, 30 },
		{ "operator", "node-2", "operator", PKI_CLIENT, BY_CA, 0, 30 },
		{ "foreign", "node-2", "node", PKI_NODE, BY_OTHER_CA, 0, 30 },
		{ "selfsigned", "node-2", "node", PKI_NODE, BY_ITSELF, 0, 30 },
	};

	return test_make_pki(dir, leaves, sizeof leaves / sizeof leaves[0],
			     "DNS:localhost,IP:127.0.0.1");
}

/* A context with name's certificate that trusts the cluster CA. */
struct tls_ctx *ctx_for(bool server, const char *name)
{
	return test_tls_ctx(dir, server, name);
}

/* "127.0.0.1:PORT" with a port the kernel just gave. */
void free_addr(char *out, size_t size)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		abort();
	close(fd);
	snprintf(out, size, "127.0.0.1:%u", ntohs(sa.sin_port));
}

void free_handle(uv_handle_t *h)
{
	raft_free(h);
}

struct peer srv, cli;

static void peer_log_cb(void *data, const char *msg)
{
	struct peer *p = data;

	p->log_lines++;
	snprintf(p->log, sizeof p->log, "%s", msg);
	printf("# log: %s\n", msg);
}

void peer_keep(struct peer *p, uv_stream_t *s)
{
	if (p->n_streams < PEER_STREAMS)
		p->streams[p->n_streams++] = s;
	else
		uv_close((uv_handle_t *)s, free_handle);
}

static void peer_accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
			   uv_stream_t *s)
{
	struct peer *p = t->data;

	p->accepted++;
	p->from_id = id;
	snprintf(p->from_addr, sizeof p->from_addr, "%s", address);
	peer_keep(p, s);
}

bool peer_start(struct peer *p, raft_id id, const char *cert, bool listen)
{
	char errmsg[ESC_ERRMSG_SIZE];

	memset(p, 0, sizeof *p);
	p->sctx = ctx_for(true, cert);
	p->cctx = ctx_for(false, cert);
	free_addr(p->addr, sizeof p->addr);
	p->t.data = p; /* libraft's field; no libraft here */
	if (p->sctx == NULL || p->cctx == NULL ||
	    peer_tls_init(&p->t, &loop, p->sctx, p->cctx, errmsg) != ESC_OK)
		return false;
	p->started = true;
	peer_tls_set_log(&p->t, peer_log_cb, p);
	peer_tls_set_timeout(&p->t, 500);
	return p->t.init(&p->t, id, p->addr) == 0 &&
	       (!listen || p->t.listen(&p->t, peer_accept_cb) == 0);
}

static void dial_cb(struct raft_uv_connect *req, uv_stream_t *s, int status)
{
	struct dial *d = req->data;

	d->done = true;
	d->status = status;
	d->stream = s;
}

/* Dials node id at addr; a stream it gets is p's to close. */
bool peer_dial(struct peer *p, struct dial *d, raft_id id, const char *addr)
{
	memset(d, 0, sizeof *d);
	d->req.data = d;
	return p->t.connect(&p->t, &d->req, id, addr, dial_cb) == 0;
}

static void peer_closed_cb(struct raft_uv_transport *t)
{
	((struct peer *)t->data)->closed = true;
}

struct peer_tls_stats peer_stats(struct peer *p)
{
	struct peer_tls_stats s;

	if (!p->started)
		return p->stopped;
	peer_tls_get_stats(&p->t, &s);
	return s;
}

unsigned peer_conns(struct peer *p, int state)
{
	struct peer_tls *t = p->t.impl;
	unsigned n = 0;

	for (struct peer_conn *c = t->conns; c != NULL; c = c->next)
		n += state < 0 || (int)c->state == state;
	return n;
}

void peer_stop(struct peer *p)
{
	if (!p->started)
		return;
	p->t.close(&p->t, peer_closed_cb);
	for (unsigned i = 0; i < p->n_streams; i++)
		uv_close((uv_handle_t *)p->streams[i], free_handle);
	RUN_UNTIL(p->closed, 3000);
	if (!p->closed) {
		printf("# Bail out! a transport did not close\n");
		exit(1);
	}
	peer_tls_get_stats(&p->t, &p->stopped);
	peer_tls_close(&p->t);
	tls_ctx_free(p->sctx);
	tls_ctx_free(p->cctx);
	p->started = false;
}

static struct raw raws[4];

static void raw_flush(struct raw *r)
{
	char b[16384];
	size_t n;

	while ((n = tls_stream_take(&r->tls, b, sizeof b)) > 0) {
		uv_buf_t ub = uv_buf_init(b, (unsigned)n);
		uv_try_write((uv_stream_t *)&r->tcp, &ub, 1);
	}
}

static void raw_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	struct raw *r = h->data;

	(void)size;
	*b = uv_buf_init(r->buf, sizeof r->buf);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct raw *r = s->data;
	char errmsg[ESC_ERRMSG_SIZE];
	ssize_t k;

	if (n < 0) {
		r->eof = true;
		uv_read_stop(s);
		return;
	}
	if (n == 0 || r->ctx == NULL)
		return;
	tls_stream_feed(&r->tls, b->base, (size_t)n);
	while ((k = tls_stream_read(&r->tls, r->buf, sizeof r->buf, errmsg)) > 0)
		;
	if (r->tls.established && r->close_after && !r->closed_tls) {
		tls_stream_close(&r->tls);
		r->closed_tls = true;
	}
	raw_flush(r);
}

static void raw_connected(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	char errmsg[ESC_ERRMSG_SIZE];
	uv_buf_t ub = uv_buf_init((char *)r->data, (unsigned)r->len);

	if (status < 0) {
		r->eof = true;
		return;
	}
	uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
	if (r->ctx == NULL) {
		if (r->len > 0)
			uv_try_write((uv_stream_t *)&r->tcp, &ub, 1);
		return;
	}
	/* Written before the handshake: sent once it is done. */
	if (r->len > 0)
		tls_stream_write(&r->tls, r->data, r->len, errmsg);
	tls_stream_read(&r->tls, NULL, 0, errmsg);
	raw_flush(r);
}

/* Connects to addr; cert NULL for plain TCP. data is borrowed. */
struct raw *raw_start(const char *addr, const char *cert, const void *data, size_t len,
			     bool close_after)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct sockaddr_storage sa;
	struct netaddr na;
	struct raw *r = NULL;
	socklen_t sa_len;

	for (size_t i = 0; r == NULL && i < sizeof raws / sizeof raws[0]; i++)
		if (!raws[i].used)
			r = &raws[i];
	if (r == NULL || peer_tls_address_parse(addr, &na) != ESC_OK ||
	    !netaddr_sockaddr(&na, &sa, &sa_len))
		abort();
	memset(r, 0, sizeof *r);
	r->used = true;
	r->data = data;
	r->len = len;
	r->close_after = close_after;
	uv_tcp_init(&loop, &r->tcp);
	r->tcp.data = r;
	r->conn.data = r;
	if (cert != NULL) {
		r->ctx = ctx_for(false, cert);
		if (r->ctx == NULL || tls_stream_init(&r->tls, r->ctx, na.host, errmsg) != ESC_OK)
			abort();
	}
	uv_tcp_connect(&r->conn, &r->tcp, (struct sockaddr *)&sa, raw_connected);
	return r;
}

static struct mute mutes[2];

static void mute_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	struct mute *m = h->data;

	(void)size;
	*b = uv_buf_init(m->buf, sizeof m->buf);
}

static void mute_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct mute *m = s->data;
	char errmsg[ESC_ERRMSG_SIZE], out[16384];
	size_t k;

	if (n <= 0 || m->ctx == NULL)
		return;
	tls_stream_feed(&m->tls, b->base, (size_t)n);
	while (tls_stream_read(&m->tls, m->buf, sizeof m->buf, errmsg) > 0)
		;
	while ((k = tls_stream_take(&m->tls, out, sizeof out)) > 0) {
		uv_buf_t ub = uv_buf_init(out, (unsigned)k);
		uv_try_write(s, &ub, 1);
	}
}

static void mute_connection(uv_stream_t *l, int status)
{
	struct mute *m = l->data;
	char errmsg[ESC_ERRMSG_SIZE];

	if (status < 0 || m->accepted)
		return;
	uv_tcp_init(&loop, &m->conn);
	m->conn.data = m;
	m->accepted = true; /* the handle is to close */
	uv_accept(l, (uv_stream_t *)&m->conn);
	if (m->ctx != NULL)
		tls_stream_init(&m->tls, m->ctx, NULL, errmsg);
	uv_read_start((uv_stream_t *)&m->conn, mute_alloc, mute_read);
}

struct mute *mute_start(const char *cert)
{
	struct sockaddr_storage sa;
	struct netaddr na;
	socklen_t len;
	struct mute *m = !mutes[0].used ? &mutes[0] : &mutes[1];

	memset(m, 0, sizeof *m);
	m->used = true;
	free_addr(m->addr, sizeof m->addr);
	if (peer_tls_address_parse(m->addr, &na) != ESC_OK || !netaddr_sockaddr(&na, &sa, &len))
		abort();
	if (cert != NULL)
		m->ctx = ctx_for(true, cert);
	uv_tcp_init(&loop, &m->listener);
	m->listener.data = m;
	if (uv_tcp_bind(&m->listener, (struct sockaddr *)&sa, 0) != 0 ||
	    uv_listen((uv_stream_t *)&m->listener, 4, mute_connection) != 0)
		abort();
	return m;
}

struct member members[3];

void member_fatal_cb(struct fsm *f, const char *errmsg)
{
	(void)f;
	printf("# fatal apply: %s\n", errmsg);
	abort();
}

static void member_log_cb(struct replica *r, const char *msg)
{
	struct member *m = r->data;

	printf("# node %u: %s\n", r->id, msg);
	if (strncmp(msg, "refused ", 8) == 0)
		snprintf(m->refusal, sizeof m->refusal, "%s", msg);
}

/* Sets up member id (1-based) at addr; cert NULL for plain TCP. */
int member_init(unsigned id, const char *addr, const char *cert, char *errmsg)
{
	struct member *m = &members[id - 1];
	char path[160];
	int rv;

	memset(m, 0, sizeof *m);
	snprintf(m->dir, sizeof m->dir, "%s/m%u", dir, id);
	unit_remove_tree(m->dir);
	mkdir(m->dir, 0700);
	snprintf(path, sizeof path, "%s/m%u.db", dir, id);
	unlink(path);
	rv = store_open(&m->store, path, errmsg);
	if (rv != ESC_OK)
		return rv;
	if (cert != NULL) {
		m->sctx = ctx_for(true, cert);
		m->cctx = ctx_for(false, cert);
	}
	m->r.data = m;
	m->r.fatal_cb = member_fatal_cb;
	m->r.peer_log_cb = member_log_cb;
	m->r.snapshot_threshold = 1024;
	m->r.snapshot_trailing = 128;
	m->r.peer_server_ctx = m->sctx;
	m->r.peer_client_ctx = m->cctx;
	rv = replica_init(&m->r, &loop, id, addr, m->dir, m->store, errmsg);
	m->inited = rv == ESC_OK;
	return rv;
}

static void member_closed_cb(struct replica *r)
{
	((struct member *)r->data)->closed = true;
}

/* ---- Teardown after every test. */

void harness_teardown(void)
{
	bool closed = true;

	peer_stop(&srv);
	peer_stop(&cli);
	for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
		if (members[i].inited)
			replica_close(&members[i].r, member_closed_cb);
	for (size_t i = 0; i < sizeof raws / sizeof raws[0]; i++)
		if (raws[i].used)
			uv_close((uv_handle_t *)&raws[i].tcp, NULL);
	for (size_t i = 0; i < sizeof mutes / sizeof mutes[0]; i++) {
		if (!mutes[i].used)
			continue;
		uv_close((uv_handle_t *)&mutes[i].listener, NULL);
		if (mutes[i].accepted)
			uv_close((uv_handle_t *)&mutes[i].conn, NULL);
	}
	for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
		if (members[i].inited)
			RUN_UNTIL(members[i].closed, 5000);
	RUN_UNTIL(false, 20); /* the close callbacks above */
	for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
		struct member *m = &members[i];
		if (m->inited && !m->closed)
			closed = false;
		if (m->store != NULL)
			store_close(m->store);
		tls_ctx_free(m->sctx);
		tls_ctx_free(m->cctx);
		memset(m, 0, sizeof *m);
	}
	for (size_t i = 0; i < sizeof raws / sizeof raws[0]; i++) {
		if (raws[i].used && raws[i].ctx != NULL) {
			tls_stream_free(&raws[i].tls);
			tls_ctx_free(raws[i].ctx);
		}
		raws[i].used = false;
	}
	for (size_t i = 0; i < sizeof mutes / sizeof mutes[0]; i++) {
		if (mutes[i].used && mutes[i].ctx != NULL) {
			if (mutes[i].accepted)
				tls_stream_free(&mutes[i].tls);
			tls_ctx_free(mutes[i].ctx);
		}
		mutes[i].used = false;
	}
	if (!closed) {
		printf("# Bail out! a replica did not close\n");
		exit(1);
	}
}

bool harness_start(const char *name)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "/tmp/%s.XXXXXX", name);
	if (mkdtemp(dir) == NULL || !make_pki() || uv_loop_init(&loop) != 0 ||
	    uv_timer_init(&loop, &tick) != 0) {
		printf("Bail out! cannot make the test PKI in %s\n", dir);
		return false;
	}
	return true;
}

bool harness_loop_closes(void)
{
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop) == 0;
}
