/* Unit tests of raft/peer_tls, the Raft transport over mutual TLS, on one
 * loop on 127.0.0.1 with certificates made here (lib/pki.c; helpers in
 * tests/peer_harness.h): the framing; a relay that carries megabytes both
 * ways with backpressure and closes both ways; refusals (a foreign CA, an
 * operator's certificate, an id that is not the certificate's, a server
 * that is not the node asked for, plain bytes, silence, a dial that sends
 * nothing (quietly), a garbage or a truncated preamble, a peer that never
 * answers); a context reload; no
 * memory at the hand-over; three replicas that elect a leader and commit
 * over TLS; a rogue's AppendEntries that reaches the log of a plain TCP
 * replica but never of a TLS one; close with connections in every state. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/byteorder.h"
#include "raft/codec.h"
#include "tests/peer_harness.h"
#include "tests/unit.h"

TEST(framing_round_trips_and_refuses)
{
	struct peer_tls_preamble p;
	struct netaddr na;
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[PEER_TLS_PREAMBLE_MAX], reply[PEER_TLS_REPLY_SIZE];
	size_t n = peer_tls_preamble_encode(7, "10.1.2.3:9007", buf, sizeof buf), used;
	raft_id id;

	CHECK_INT(n, PEER_TLS_PREAMBLE_HEADER + 13);
	for (size_t cut = 0; cut < n; cut++) {
		CHECK_INT(peer_tls_preamble_parse(buf, cut, &p, &used, errmsg), ESC_OK);
		CHECK_INT(used, 0);
	}
	CHECK_INT(peer_tls_preamble_parse(buf, n, &p, &used, errmsg), ESC_OK);
	CHECK_INT(used, n);
	CHECK_INT(p.id, 7);
	CHECK_STR(p.address, "10.1.2.3:9007");
	buf[4] = 2;
	CHECK_INT(peer_tls_preamble_parse(buf, n, &p, &used, errmsg), ESC_EVERSION);
	buf[4] = 1;
	buf[PEER_TLS_PREAMBLE_HEADER + 2] = ' ';
	CHECK_INT(peer_tls_preamble_parse(buf, 19, &p, &used, errmsg), ESC_ECORRUPT);
	CHECK_INT(peer_tls_preamble_parse((const uint8_t *)"GET / HTTP/1.1", 14, &p, &used, errmsg),
		  ESC_ECORRUPT);
	CHECK_INT(peer_tls_preamble_encode(0, "1.2.3.4:5", buf, sizeof buf), 0);
	CHECK_INT(peer_tls_preamble_encode(1, "a b:5", buf, sizeof buf), 0);
	peer_tls_reply_encode(reply);
	CHECK_INT(peer_tls_reply_parse(reply, 7, &used, errmsg), ESC_OK);
	CHECK_INT(used, 0);
	CHECK_INT(peer_tls_reply_parse(reply, 8, &used, errmsg), ESC_OK);
	CHECK_INT(used, 8);
	reply[5] = 1;
	CHECK_INT(peer_tls_reply_parse(reply, 8, &used, errmsg), ESC_ECORRUPT);
	CHECK_INT(peer_tls_cn_id("node-42", &id), ESC_OK);
	CHECK_INT(id, 42);
	CHECK_INT(peer_tls_cn_id("node-042", &id), ESC_EINVAL);
	CHECK_INT(peer_tls_cn_id("node-0", &id), ESC_EINVAL);
	CHECK_INT(peer_tls_cn_id("node-18446744073709551616", &id), ESC_EINVAL);
	CHECK_INT(peer_tls_cn_id("node-2 ", &id), ESC_EINVAL);
	CHECK_INT(peer_tls_cn_id("nodes-2", &id), ESC_EINVAL);
	CHECK_INT(peer_tls_address_parse("localhost:9001", &na), ESC_OK);
	CHECK_STR(na.host, "localhost");
	CHECK_INT(na.kind, NETADDR_NAME);
	CHECK_INT(peer_tls_address_parse("[::1]:9001", &na), ESC_OK);
	CHECK_STR(na.host, "::1");
	CHECK_INT(na.port, 9001);
	CHECK_INT(peer_tls_address_parse("node1.example:9001", &na), ESC_OK);
	CHECK_INT(peer_tls_address_parse("10.0.0.1:0", &na), ESC_EINVAL);
	CHECK_INT(peer_tls_address_parse("10.0.0.1:65536", &na), ESC_EINVAL);
	CHECK_INT(peer_tls_address_parse("::1:9001", &na), ESC_EINVAL);
}

struct sink {
	uint8_t *buf;
	size_t cap, got;
	bool eof;
};

static void sink_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	struct sink *k = h->data;

	(void)size;
	*b = uv_buf_init((char *)k->buf + k->got, (unsigned)(k->cap - k->got));
}

static void sink_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct sink *k = s->data;

	(void)b;
	if (n < 0)
		k->eof = true;
	else
		k->got += (size_t)n;
}

static void sink_start(struct sink *k, uv_stream_t *s, uint8_t *buf, size_t cap)
{
	memset(k, 0, sizeof *k);
	k->buf = buf;
	k->cap = cap;
	s->data = k;
	uv_read_start(s, sink_alloc, sink_read);
}

static bool written;

static void write_cb(uv_write_t *req, int status)
{
	(void)req;
	written = status == 0;
}

static bool any_paused(struct peer *p)
{
	struct peer_tls *t = p->t.impl;

	for (struct peer_conn *c = t->conns; c != NULL; c = c->next)
		if (c->tcp_paused)
			return true;
	return false;
}

/* libraft's ends of the connection from cli (node 2) to srv (node 1). */
static bool connect_pair(struct dial *d, uv_stream_t **client, uv_stream_t **server)
{
	if (!peer_start(&srv, 1, "node-1", true) || !peer_start(&cli, 2, "node-2", false) ||
	    !peer_dial(&cli, d, 1, srv.addr))
		return false;
	RUN_UNTIL(d->done && srv.accepted == 1, 3000);
	if (!d->done || d->status != 0 || srv.accepted != 1)
		return false;
	peer_keep(&cli, d->stream);
	*client = d->stream;
	*server = srv.streams[0];
	return true;
}

TEST(relay_carries_megabytes_with_backpressure_and_closes_both_ways)
{
	static uint8_t out[4 << 20], in[(4 << 20) + 64];
	uv_stream_t *c, *s;
	static uv_write_t wr;
	static struct sink ks, kc;
	static struct dial d;
	uv_buf_t b = uv_buf_init((char *)out, sizeof out);

	CHECK(connect_pair(&d, &c, &s));
	CHECK_INT(srv.from_id, 2);
	CHECK_STR(srv.from_addr, cli.addr);
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (uint8_t)(i * 31 + i / 65536);
	/* Nobody reads on the server's side: its relay stops reading TCP. */
	written = false;
	CHECK_INT(uv_write(&wr, c, &b, 1, write_cb), 0);
	RUN_UNTIL(any_paused(&srv), 5000);
	CHECK(any_paused(&srv));
	sink_start(&ks, s, in, sizeof in);
	RUN_UNTIL(ks.got == sizeof out && written, 10000);
	CHECK_INT(ks.got, sizeof out);
	CHECK(memcmp(in, out, sizeof out) == 0);
	/* The other way (libraft never does, the relay does not care). */
	b.len = 1 << 20;
	written = false;
	CHECK_INT(uv_write(&wr, s, &b, 1, write_cb), 0);
	sink_start(&kc, c, in, sizeof in);
	RUN_UNTIL(kc.got == 1 << 20 && written, 10000);
	CHECK_INT(kc.got, 1 << 20);
	CHECK(memcmp(in, out, 1 << 20) == 0);
	/* libraft closes its end on one side: the other side sees the end. */
	cli.n_streams--;
	uv_close((uv_handle_t *)c, free_handle);
	RUN_UNTIL(ks.eof && peer_conns(&srv, -1) == 0 && peer_conns(&cli, -1) == 0, 3000);
	CHECK(ks.eof);
	CHECK_INT(peer_conns(&srv, -1), 0);
	CHECK_INT(peer_conns(&cli, -1), 0);
	CHECK_INT(peer_stats(&srv).lost, 0);
}

/* cli (node id, cert) dials srv (node-1): refused, the accept callback
 * never fires, and both sides say why. */
static void refused(raft_id id, const char *cert, const char *server_words,
		    const char *client_words)
{
	static struct dial d;

	if (!peer_start(&srv, 1, "node-1", true) || !peer_start(&cli, id, cert, false) ||
	    !peer_dial(&cli, &d, 1, srv.addr)) {
		unit_current_failed = 1;
		return;
	}
	RUN_UNTIL(d.done && peer_stats(&srv).refused == 1, 3000);
	printf("# %s as node %llu: server: %s; client: %s\n", cert, id,
	       peer_tls_last_error(&srv.t), peer_tls_last_error(&cli.t));
	if (!d.done || d.status != RAFT_NOCONNECTION || d.stream != NULL || srv.accepted != 0 ||
	    peer_stats(&srv).refused != 1 || peer_stats(&cli).connect_failed != 1 ||
	    strstr(peer_tls_last_error(&srv.t), server_words) == NULL ||
	    strstr(srv.log, server_words) == NULL ||
	    strstr(peer_tls_last_error(&cli.t), client_words) == NULL) {
		printf("# not refused as expected: done %d status %d accepted %u\n", d.done,
		       d.status, srv.accepted);
		unit_current_failed = 1;
	}
}

TEST(a_certificate_of_a_foreign_ca_is_refused)
{
	refused(2, "foreign", "certificate", "alert");
}

TEST(a_valid_certificate_that_is_not_a_nodes_is_refused)
{
	refused(2, "operator", "OU \"operator\"", "refused our certificate");
}

TEST(the_id_claimed_must_be_the_certificates)
{
	refused(3, "node-2", "claims node 3", "refused our certificate or preamble");
}

TEST(the_server_must_be_the_node_asked_for)
{
	static struct dial d;

	CHECK(peer_start(&srv, 2, "node-2", true));
	CHECK(peer_start(&cli, 1, "node-1", false));
	CHECK(peer_dial(&cli, &d, 3, srv.addr));
	RUN_UNTIL(d.done && peer_stats(&srv).refused == 1, 3000);
	printf("# client: %s; server: %s\n", peer_tls_last_error(&cli.t),
	       peer_tls_last_error(&srv.t));
	CHECK(d.done);
	CHECK_INT(d.status, RAFT_NOCONNECTION);
	CHECK(strstr(peer_tls_last_error(&cli.t), "node-2's, not node-3's") != NULL);
	CHECK_INT(srv.accepted, 0);
}

/* A raw client to srv is dropped without an accept callback. */
static void dropped(const char *cert, const void *data, size_t len, bool close_after,
		    const char *words)
{
	struct raw *r;

	if (!peer_start(&srv, 1, "node-1", true)) {
		unit_current_failed = 1;
		return;
	}
	r = raw_start(srv.addr, cert, data, len, close_after);
	RUN_UNTIL(r->eof && peer_stats(&srv).refused == 1, 3000);
	printf("# %s: %s\n", cert != NULL ? cert : "plain", peer_tls_last_error(&srv.t));
	if (!r->eof || srv.accepted != 0 || peer_stats(&srv).refused != 1 ||
	    strstr(peer_tls_last_error(&srv.t), words) == NULL)
		unit_current_failed = 1;
	harness_teardown();
}

TEST(plain_bytes_and_silence_are_refused)
{
	static const char http[] = "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n";

	dropped(NULL, http, sizeof http - 1, false, "TLS");
	dropped(NULL, NULL, 0, false, "timed out after 500 ms in the TLS handshake");
	dropped("node-2", NULL, 0, false, "timed out after 500 ms in the preamble");
}

/* A dial that connects and closes without a byte (a follower's leader
 * probe, raft/leaderprobe.h) is refused like any, without a log line. */
TEST(a_dial_that_sends_nothing_is_refused_quietly)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon;
	int fd;

	CHECK(peer_start(&srv, 1, "node-1", true));
	colon = strrchr(srv.addr, ':');
	CHECK(colon != NULL);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK_INT(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	RUN_UNTIL(peer_stats(&srv).refused == 1, 3000);
	CHECK_INT(peer_stats(&srv).refused, 1);
	CHECK_INT(srv.accepted, 0);
	CHECK_INT(srv.log_lines, 0);
	CHECK(strstr(peer_tls_last_error(&srv.t), "before sending a byte") != NULL);
}

TEST(garbage_and_truncated_preambles_are_refused)
{
	static const char junk[] = "hello, this is not a preamble";
	uint8_t pre[PEER_TLS_PREAMBLE_MAX];
	size_t n = peer_tls_preamble_encode(2, "127.0.0.1:1", pre, sizeof pre);

	dropped("node-2", junk, sizeof junk - 1, false, "preamble: bad magic");
	dropped("node-2", pre, n - 3, true, "closed TLS in the preamble");
	dropped("node-2", pre, 10, false, "timed out after 500 ms in the preamble");
}

TEST(a_peer_that_never_answers_times_out)
{
	struct mute *plain, *tls;
	static struct dial d1, d2;

	CHECK(peer_start(&cli, 2, "node-2", false));
	plain = mute_start(NULL);
	tls = mute_start("node-1");
	CHECK(peer_dial(&cli, &d1, 1, plain->addr));
	CHECK(peer_dial(&cli, &d2, 1, tls->addr));
	RUN_UNTIL(d1.done && d2.done, 3000);
	printf("# %s\n", peer_tls_last_error(&cli.t));
	CHECK(d1.done && d2.done);
	CHECK_INT(d1.status, RAFT_NOCONNECTION);
	CHECK_INT(d2.status, RAFT_NOCONNECTION);
	CHECK_INT(peer_stats(&cli).connect_failed, 2);
	CHECK(strstr(cli.log, "timed out after 500 ms in the") != NULL);
}

/* A socket connected to addr ("ip:port") that never sends a byte; -1 on error. */
static int silent_socket(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(addr, ':');
	char ip[32];
	int fd;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof ip)
		return -1;
	memcpy(ip, addr, (size_t)(colon - addr));
	ip[colon - addr] = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

TEST(silent_connections_past_the_limit_do_not_lock_peers_out)
{
	enum { SILENT = PEER_TLS_HANDSHAKES_MAX + 8 };
	static struct dial d;
	int fds[SILENT], opened = 0;

	CHECK(peer_start(&srv, 1, "node-1", true));
	peer_tls_set_timeout(&srv.t, 10000); /* they stay for the whole test */
	CHECK(peer_start(&cli, 2, "node-2", false));
	for (int i = 0; i < SILENT; i++) {
		fds[i] = silent_socket(srv.addr);
		opened += fds[i] >= 0;
	}
	CHECK_INT(opened, SILENT);
	RUN_UNTIL(peer_conns(&srv, PEER_HANDSHAKE) >= PEER_TLS_HANDSHAKES_MAX &&
		  peer_stats(&srv).refused >= SILENT - PEER_TLS_HANDSHAKES_MAX, 3000);
	CHECK_INT(peer_conns(&srv, PEER_HANDSHAKE), PEER_TLS_HANDSHAKES_MAX);
	/* The node that matters still gets in: the oldest silent one goes. */
	CHECK(peer_dial(&cli, &d, 1, srv.addr));
	RUN_UNTIL(d.done && srv.accepted == 1, 3000);
	CHECK_INT(d.status, 0);
	CHECK_INT(srv.accepted, 1);
	CHECK(strstr(srv.log, "dropped: the oldest") != NULL);
	if (d.stream != NULL)
		peer_keep(&cli, d.stream);
	for (int i = 0; i < SILENT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

TEST(a_context_reload_keeps_open_relays)
{
	static uint8_t out[65536], in[65536 + 64];
	struct tls_ctx *ns = ctx_for(true, "node-2"), *nc = ctx_for(false, "operator");
	uv_stream_t *c, *s;
	static uv_write_t wr;
	static struct sink k;
	static struct dial d, d2;
	uv_buf_t b = uv_buf_init((char *)out, sizeof out);

	CHECK(ns != NULL && nc != NULL);
	if (!connect_pair(&d, &c, &s)) {
		tls_ctx_free(ns);
		tls_ctx_free(nc);
		CHECK(false);
	}
	/* The old contexts are freed at once; the open relay keeps working. */
	peer_tls_set_ctx(&cli.t, ns, nc);
	tls_ctx_free(cli.sctx);
	tls_ctx_free(cli.cctx);
	cli.sctx = ns;
	cli.cctx = nc;
	memset(out, 0x5a, sizeof out);
	written = false;
	CHECK_INT(uv_write(&wr, c, &b, 1, write_cb), 0);
	sink_start(&k, s, in, sizeof in);
	RUN_UNTIL(k.got == sizeof out && written, 3000);
	CHECK_INT(k.got, sizeof out);
	/* A new connection shows the new (operator) certificate: refused. */
	CHECK(peer_dial(&cli, &d2, 1, srv.addr));
	RUN_UNTIL(d2.done && peer_stats(&srv).refused == 1, 3000);
	CHECK(d2.done);
	CHECK_INT(d2.status, RAFT_NOCONNECTION);
	CHECK(strstr(peer_tls_last_error(&srv.t), "operator") != NULL);
	CHECK_INT(srv.accepted, 1);
}

static bool heap_fails;

static void *heap_malloc(void *data, size_t size)
{
	(void)data;
	return heap_fails ? NULL : malloc(size);
}

static void heap_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

TEST(a_hand_over_without_memory_fails_cleanly)
{
	static struct raft_heap heap = { NULL, heap_malloc, heap_free, NULL, NULL, NULL, NULL };
	static struct dial d, d2;

	CHECK(peer_start(&srv, 1, "node-1", true));
	CHECK(peer_start(&cli, 2, "node-2", false));
	heap_fails = true;
	raft_heap_set(&heap); /* no libraft runs now: only hand_over's raft_malloc */
	CHECK(peer_dial(&cli, &d, 1, srv.addr));
	RUN_UNTIL(d.done, 3000);
	heap_fails = false;
	raft_heap_set_default();
	CHECK(d.done);
	CHECK_INT(d.status, RAFT_NOCONNECTION);
	CHECK_INT(srv.accepted, 0);
	CHECK(strstr(peer_tls_last_error(&srv.t), "out of memory") != NULL);
	/* Memory is back: so is the connection. */
	CHECK(peer_dial(&cli, &d2, 1, srv.addr));
	RUN_UNTIL(d2.done && srv.accepted == 1, 3000);
	CHECK_INT(d2.status, 0);
	peer_keep(&cli, d2.stream);
}

static raft_index applied_count;

static void apply_cb(struct replica_req *req, int status, const struct store_result *result)
{
	(void)req;
	(void)result;
	if (status == ESC_OK)
		applied_count++;
}

static struct member *ready_leader(void)
{
	for (size_t i = 0; i < 3; i++)
		if (members[i].inited && replica_ready(&members[i].r))
			return &members[i];
	return NULL;
}

static bool all_applied(raft_index index)
{
	for (size_t i = 0; i < 3; i++)
		if (store_applied_index(members[i].store) < index)
			return false;
	return true;
}

static void escrow_cmd(struct cmd *c, unsigned n, unsigned node)
{
	memset(c, 0, sizeof *c);
	c->type = CMD_ESCROW;
	c->node_id = node;
	c->at_ms = 1795000000000 + n;
	strcpy(c->actor, "insecure");
	strcpy(c->role, "agent");
	snprintf(c->key_id, sizeof c->key_id, "%08X-0000-0000-0000-000000000000", n);
	strcpy(c->volume_id, "vol");
	strcpy(c->volume_type, "os");
	snprintf(c->machine, sizeof c->machine, "pc-%u", n % 5);
	c->sealed_len = 40;
	memset(c->sealed, (int)n, c->sealed_len);
	memset(c->pw_mac, 1, sizeof c->pw_mac);
}

TEST(three_replicas_elect_and_commit_over_tls)
{
	static const char *const certs[] = { "node-1", "node-2", "node-3" };
	static struct replica_req reqs[20];
	char addrs[3][32], errmsg[ESC_ERRMSG_SIZE], digest[3][65];
	const char *ap[3];
	unsigned ids[3] = { 1, 2, 3 };
	struct member *leader;
	struct cmd c;

	for (unsigned i = 0; i < 3; i++) {
		free_addr(addrs[i], sizeof addrs[i]);
		ap[i] = addrs[i];
	}
	for (unsigned i = 0; i < 3; i++) {
		CHECK_INT(member_init(i + 1, addrs[i], certs[i], errmsg), ESC_OK);
		CHECK_INT(replica_bootstrap(&members[i].r, 3, ids, ap, errmsg), ESC_OK);
		CHECK_INT(replica_start(&members[i].r, errmsg), ESC_OK);
	}
	RUN_UNTIL((leader = ready_leader()) != NULL, 10000);
	CHECK(leader != NULL);
	applied_count = 0;
	for (unsigned n = 0; n < 20; n++) {
		escrow_cmd(&c, n, leader->r.id);
		CHECK_INT(replica_apply(&leader->r, &reqs[n], &c, apply_cb), ESC_OK);
	}
	RUN_UNTIL(applied_count == 20, 5000);
	CHECK_INT(applied_count, 20);
	RUN_UNTIL(all_applied(store_applied_index(leader->store)), 5000);
	CHECK(all_applied(store_applied_index(leader->store)));
	for (unsigned i = 0; i < 3; i++) {
		struct peer_tls_stats st;
		CHECK_INT(store_digest(members[i].store, digest[i], errmsg), ESC_OK);
		CHECK_STR(digest[i], digest[0]);
		peer_tls_get_stats(&members[i].r.transport, &st);
		CHECK(st.accepted >= 1 && st.connected >= 1);
		CHECK_INT(st.refused, 0);
	}
	/* A reload on a running replica. */
	CHECK_INT(replica_set_peer_tls(&members[0].r, members[0].sctx, members[0].cctx), ESC_OK);
}

TEST(a_replica_needs_both_contexts_or_none)
{
	char addr[32], errmsg[ESC_ERRMSG_SIZE];
	struct member *m = &members[0];
	char path[160];

	free_addr(addr, sizeof addr);
	snprintf(path, sizeof path, "%s/lone.db", dir);
	CHECK_INT(store_open(&m->store, path, errmsg), ESC_OK);
	m->sctx = ctx_for(true, "node-1");
	snprintf(m->dir, sizeof m->dir, "%s", dir);
	m->r.fatal_cb = member_fatal_cb;
	m->r.peer_server_ctx = m->sctx;
	CHECK_INT(replica_init(&m->r, &loop, 1, addr, m->dir, m->store, errmsg), ESC_EINVAL);
	printf("# %s\n", errmsg);
}

/* libraft 0.15's own TCP handshake from node from_id, then an
 * AppendEntries of term 1000 after entry 1 (term 1) with one 8-byte entry. */
static size_t libraft_append_entries(uint8_t *buf, raft_id from_id, const char *from_addr)
{
	size_t alen = (strlen(from_addr) + 1 + 7) / 8 * 8, n = 0;
	const uint64_t header[] = {
		RAFT_IO_APPEND_ENTRIES, 56, 1000, 1, 1, 1, 1, 1000,
	};

	byteorder_put_u64(buf + n, 1); /* handshake protocol */
	byteorder_put_u64(buf + n + 8, from_id);
	byteorder_put_u64(buf + n + 16, alen);
	n += 24;
	memset(buf + n, 0, alen);
	memcpy(buf + n, from_addr, strlen(from_addr));
	n += alen;
	/* type, header length; term, prev index, prev term, commit, n entries;
	 * the entry's term */
	for (size_t i = 0; i < sizeof header / sizeof header[0]; i++, n += 8)
		byteorder_put_u64(buf + n, header[i]);
	buf[n] = RAFT_COMMAND;
	memset(buf + n + 1, 0, 3);
	byteorder_put_u32(buf + n + 4, 8);
	n += 8;
	memcpy(buf + n, "rogue!!!", 8);
	return n + 8;
}

/* Node 1 of a two-node configuration whose node 2 is the rogue. */
static bool lone_member(const char *cert, char *addr, char *rogue_addr)
{
	char errmsg[ESC_ERRMSG_SIZE];
	unsigned ids[2] = { 1, 2 };
	const char *ap[2] = { addr, rogue_addr };

	free_addr(addr, 32);
	free_addr(rogue_addr, 32);
	if (member_init(1, addr, cert, errmsg) != ESC_OK ||
	    replica_bootstrap(&members[0].r, 2, ids, ap, errmsg) != ESC_OK ||
	    replica_start(&members[0].r, errmsg) != ESC_OK) {
		printf("# %s\n", errmsg);
		return false;
	}
	return raft_last_index(&members[0].r.raft) == 1;
}

TEST(a_rogue_append_entries_reaches_plain_tcp_but_never_tls)
{
	static uint8_t bytes[256];
	char addr[32], rogue_addr[32];
	struct peer_tls_stats st;
	size_t n;
	struct {
		const char *cert;
		const char *words;
	} rogues[] = {
		{ NULL, "TLS" },                     /* plain TCP */
		{ "selfsigned", "certificate" },     /* TLS, a self-signed node-2 */
		{ "foreign", "certificate" },        /* TLS, another CA's node-2 */
		{ "node-2", "preamble: bad magic" }, /* a real node-2 talking plain libraft */
	};

	/* Control: the bytes are an entry libraft takes over its plain TCP. */
	CHECK(lone_member(NULL, addr, rogue_addr));
	n = libraft_append_entries(bytes, 2, rogue_addr);
	raw_start(addr, NULL, bytes, n, false);
	RUN_UNTIL(raft_last_index(&members[0].r.raft) == 2, 3000);
	CHECK_INT(raft_last_index(&members[0].r.raft), 2);
	harness_teardown();

	CHECK(lone_member("node-1", addr, rogue_addr));
	for (size_t i = 0; i < sizeof rogues / sizeof rogues[0]; i++) {
		struct raw *r;

		members[0].refusal[0] = '\0';
		r = raw_start(addr, rogues[i].cert, bytes, n, false);
		RUN_UNTIL(r->eof, 3000);
		RUN_UNTIL(false, 50);
		peer_tls_get_stats(&members[0].r.transport, &st);
		/* Not peer_tls_last_error: a dial of the absent node 2 may have
		 * written it since. */
		printf("# rogue %s: %s\n", rogues[i].cert ? rogues[i].cert : "plain",
		       members[0].refusal);
		CHECK(r->eof);
		CHECK_INT(raft_last_index(&members[0].r.raft), 1);
		CHECK_INT(st.refused, i + 1);
		CHECK_INT(st.accepted, 0);
		CHECK(strstr(members[0].refusal, rogues[i].words) != NULL);
		uv_close((uv_handle_t *)&r->tcp, NULL);
		RUN_UNTIL(false, 5);
		if (r->ctx != NULL) {
			tls_stream_free(&r->tls);
			tls_ctx_free(r->ctx);
		}
		r->used = false;
	}
}

TEST(close_with_connections_in_every_state)
{
	static struct dial relay, handshake, reply, dialing;
	struct mute *plain, *tls;

	CHECK(peer_start(&srv, 1, "node-1", true));
	CHECK(peer_start(&cli, 2, "node-2", false));
	peer_tls_set_timeout(&srv.t, 5000);
	peer_tls_set_timeout(&cli.t, 5000);
	plain = mute_start(NULL);
	tls = mute_start("node-3");
	CHECK(peer_dial(&cli, &relay, 1, srv.addr));
	CHECK(peer_dial(&cli, &handshake, 3, plain->addr));
	CHECK(peer_dial(&cli, &reply, 3, tls->addr));
	raw_start(srv.addr, NULL, NULL, 0, false);     /* srv: in its handshake */
	raw_start(srv.addr, "node-3", NULL, 0, false); /* srv: waiting for a preamble */
	RUN_UNTIL(relay.done && peer_conns(&cli, PEER_HANDSHAKE) == 1 &&
			  peer_conns(&cli, PEER_REPLY) == 1 && peer_conns(&srv, PEER_HANDSHAKE) == 1 &&
			  peer_conns(&srv, PEER_PREAMBLE) == 1 && peer_conns(&srv, PEER_RELAY) == 1,
		  3000);
	CHECK(relay.done);
	CHECK_INT(relay.status, 0);
	peer_keep(&cli, relay.stream);
	CHECK(peer_dial(&cli, &dialing, 1, srv.addr)); /* no loop turn: still dialing */
	CHECK_INT(peer_conns(&cli, PEER_DIALING), 1);
	CHECK_INT(peer_conns(&cli, PEER_HANDSHAKE), 1);
	CHECK_INT(peer_conns(&cli, PEER_REPLY), 1);
	CHECK_INT(peer_conns(&cli, PEER_RELAY), 1);
	CHECK_INT(peer_conns(&srv, PEER_HANDSHAKE), 1);
	CHECK_INT(peer_conns(&srv, PEER_PREAMBLE), 1);
	CHECK_INT(peer_conns(&srv, PEER_RELAY), 1);
	peer_stop(&cli);
	CHECK(dialing.done && handshake.done && reply.done);
	CHECK_INT(dialing.status, RAFT_CANCELED);
	CHECK_INT(handshake.status, RAFT_CANCELED);
	CHECK_INT(reply.status, RAFT_CANCELED);
	CHECK_INT(peer_stats(&cli).connect_failed, 0);
	peer_stop(&srv);
	CHECK_INT(srv.accepted, 1);
}

/* A name is resolved when dialled (off the loop) and its certificate
 * checked for the name: localhost, a DNS SAN of the test certificates. */
TEST(a_name_is_resolved_when_dialled)
{
	static struct dial d;
	char addr[64];

	CHECK(peer_start(&srv, 1, "node-1", true));
	CHECK(peer_start(&cli, 2, "node-2", false));
	snprintf(addr, sizeof addr, "localhost:%s", strrchr(srv.addr, ':') + 1);
	CHECK(peer_dial(&cli, &d, 1, addr));
	RUN_UNTIL(d.done && srv.accepted == 1, 3000);
	CHECK(d.done);
	CHECK_INT(d.status, 0);
	CHECK_INT(srv.accepted, 1);
	peer_keep(&cli, d.stream);
}

/* RFC 2606: .invalid never resolves. The dial fails (libraft tries again
 * later), the owner's log says why, the transport carries on. */
TEST(a_name_that_does_not_resolve_fails_that_dial_only)
{
	static struct dial d, again;

	CHECK(peer_start(&cli, 2, "node-2", false));
	CHECK(peer_dial(&cli, &d, 1, "node1.invalid:7001"));
	RUN_UNTIL(d.done, 10000);
	CHECK(d.done);
	CHECK_INT(d.status, RAFT_NOCONNECTION);
	CHECK(d.stream == NULL);
	printf("# %s\n", cli.log);
	CHECK(strstr(cli.log, "connect to node 1 at node1.invalid:7001: node1.invalid does not "
			      "resolve") != NULL);
	CHECK_INT(peer_stats(&cli).connect_failed, 1);
	CHECK(peer_start(&srv, 1, "node-1", true));
	CHECK(peer_dial(&cli, &again, 1, srv.addr));
	RUN_UNTIL(again.done && srv.accepted == 1, 3000);
	CHECK_INT(again.status, 0);
	peer_keep(&cli, again.stream);
}

/* Closing the transport while a name is being resolved cancels the dial
 * and frees everything once the resolution comes back. */
TEST(close_while_resolving)
{
	static struct dial d;

	CHECK(peer_start(&cli, 2, "node-2", false));
	CHECK(peer_dial(&cli, &d, 1, "localhost:7001"));
	peer_stop(&cli);
	CHECK(d.done);
	CHECK_INT(d.status, RAFT_CANCELED);
}

TEST(the_loop_closes_with_nothing_left)
{
	CHECK(harness_loop_closes());
}

int main(void)
{
	if (!harness_start("test_peer_tls"))
		return 1;
	RUN_T(framing_round_trips_and_refuses);
	RUN_T(relay_carries_megabytes_with_backpressure_and_closes_both_ways);
	RUN_T(a_certificate_of_a_foreign_ca_is_refused);
	RUN_T(a_valid_certificate_that_is_not_a_nodes_is_refused);
	RUN_T(the_id_claimed_must_be_the_certificates);
	RUN_T(the_server_must_be_the_node_asked_for);
	RUN_T(plain_bytes_and_silence_are_refused);
	RUN_T(a_dial_that_sends_nothing_is_refused_quietly);
	RUN_T(garbage_and_truncated_preambles_are_refused);
	RUN_T(a_peer_that_never_answers_times_out);
	RUN_T(silent_connections_past_the_limit_do_not_lock_peers_out);
	RUN_T(a_context_reload_keeps_open_relays);
	RUN_T(a_hand_over_without_memory_fails_cleanly);
	RUN_T(three_replicas_elect_and_commit_over_tls);
	RUN_T(a_replica_needs_both_contexts_or_none);
	RUN_T(a_rogue_append_entries_reaches_plain_tcp_but_never_tls);
	RUN_T(close_with_connections_in_every_state);
	RUN_T(a_name_is_resolved_when_dialled);
	RUN_T(a_name_that_does_not_resolve_fails_that_dial_only);
	RUN_T(close_while_resolving);
	RUN(the_loop_closes_with_nothing_left);
	unit_remove_tree(dir);
	return unit_done();
}
