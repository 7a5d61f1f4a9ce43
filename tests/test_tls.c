/* Unit tests of lib/tls_stream: two streams, a server and a client, pumped
 * into each other in memory, with certificates made here (lib/pki.c): a
 * good handshake both ways and the peer's CN and OU; a foreign CA, an
 * expired certificate, a wrong host name and garbage refused; close_notify;
 * a megabyte each way. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/tls_stream.h"
#include "lib/error.h"
#include "tests/tls_files.h"
#include "tests/unit.h"
#include "lib/pki.h"

static char dir[64];

/* ca, node-1 (server), helpdesk, expired (a helpdesk certificate that ended
 * yesterday) and, from another CA, rogue. */
static bool make_pki(void)
{
	static const struct test_leaf leaves[] = {
		{ "node-1", "node-1", "node", PKI_NODE, BY_CA, 0, 30 },
		{ "helpdesk", "alice", "helpdesk", PKI_CLIENT, BY_CA, 0, 30 },
		{ "expired", "bob", "helpdesk", PKI_CLIENT, BY_CA, -10, 9 },
		{ "rogue", "mallory", "operator", PKI_CLIENT, BY_OTHER_CA, 0, 30 },
	};

	return test_make_pki(dir, leaves, sizeof leaves / sizeof leaves[0], NULL);
}

static struct tls_ctx *ctx_for(bool server, const char *name)
{
	return test_tls_ctx(dir, server, name);
}

struct side {
	struct tls_stream s;
	char got[1 << 21];
	size_t got_len;
	ssize_t last;            /* last tls_stream_read result but 0 */
	char errmsg[ESC_ERRMSG_SIZE];
};

/* Moves bytes both ways until neither side has anything to say. */
static void pump(struct side *a, struct side *b)
{
	static char buf[1 << 16];
	bool moved = true;

	for (int round = 0; moved && round < 100000; round++) {
		struct side *sides[2] = { a, b };
		moved = false;
		for (int i = 0; i < 2; i++) {
			struct side *me = sides[i], *peer = sides[1 - i];
			size_t n;
			ssize_t r;
			while ((n = tls_stream_take(&me->s, buf, sizeof buf)) > 0) {
				tls_stream_feed(&peer->s, buf, n);
				moved = true;
			}
			if (me->last < 0)
				continue; /* it failed: its first reason stays */
			while ((r = tls_stream_read(&me->s, me->got + me->got_len,
						    sizeof me->got - me->got_len, me->errmsg)) > 0) {
				me->got_len += (size_t)r;
				moved = true;
			}
			if (r != 0)
				me->last = r;
			/* Reading may have produced bytes for the peer. */
			moved |= tls_stream_outgoing(&me->s) > 0;
		}
	}
}

static struct side client, server;

/* Streams for the server node-1 and a client with name's certificate. */
static bool start(const char *name, const char *host, struct tls_ctx **sc, struct tls_ctx **cc)
{
	char errmsg[ESC_ERRMSG_SIZE];

	memset(&client, 0, sizeof client);
	memset(&server, 0, sizeof server);
	*sc = ctx_for(true, "node-1");
	*cc = ctx_for(false, name);
	return *sc != NULL && *cc != NULL &&
	       tls_stream_init(&server.s, *sc, NULL, errmsg) == ESC_OK &&
	       tls_stream_init(&client.s, *cc, host, errmsg) == ESC_OK;
}

static void stop(struct tls_ctx *sc, struct tls_ctx *cc)
{
	tls_stream_free(&server.s);
	tls_stream_free(&client.s);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

TEST(handshake_both_ways_and_peer_names)
{
	struct tls_ctx *sc, *cc;
	char errmsg[ESC_ERRMSG_SIZE];
	static const char req[] = "GET /v1/status HTTP/1.1\r\n\r\n";

	CHECK(start("helpdesk", "127.0.0.1", &sc, &cc));
	/* Written before the handshake: sent once it is done. */
	CHECK_INT(tls_stream_write(&client.s, req, strlen(req), errmsg), ESC_OK);
	pump(&client, &server);
	CHECK(server.s.established && client.s.established);
	CHECK_STR(server.s.peer_cn, "alice");
	CHECK_STR(server.s.peer_ou, "helpdesk");
	CHECK_STR(client.s.peer_cn, "node-1");
	CHECK_STR(client.s.peer_ou, "node");
	CHECK_INT(server.got_len, strlen(req));
	/* An error left on the queue by other OpenSSL work is not this
	 * stream's: with nothing fed, a read is "not yet". */
	ERR_put_error(ERR_LIB_PEM, 0, PEM_R_NO_START_LINE, __FILE__, __LINE__);
	CHECK_INT(tls_stream_read(&server.s, server.got, 16, errmsg), 0);
	CHECK(memcmp(server.got, req, strlen(req)) == 0);
	CHECK_INT(tls_stream_write(&server.s, "HTTP/1.1 200 OK\r\n", 17, errmsg), ESC_OK);
	pump(&client, &server);
	CHECK_INT(client.got_len, 17);
	/* close_notify: the server sees the end of the stream. */
	tls_stream_close(&client.s);
	pump(&client, &server);
	CHECK_INT(server.last, TLS_STREAM_EOF);
	stop(sc, cc);
}

TEST(a_megabyte_each_way)
{
	struct tls_ctx *sc, *cc;
	char errmsg[ESC_ERRMSG_SIZE];
	static char data[1 << 20];

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)(i * 7 + i / 4096);
	CHECK(start("helpdesk", "localhost", &sc, &cc));
	CHECK_INT(tls_stream_write(&client.s, data, sizeof data, errmsg), ESC_OK);
	pump(&client, &server);
	CHECK_INT(tls_stream_write(&server.s, data, sizeof data, errmsg), ESC_OK);
	pump(&client, &server);
	CHECK_INT(server.got_len, sizeof data);
	CHECK_INT(client.got_len, sizeof data);
	CHECK(memcmp(server.got, data, sizeof data) == 0 && memcmp(client.got, data, sizeof data) == 0);
	stop(sc, cc);
}

/* The server refuses; the client learns nothing of the server's data. */
static void refused(const char *name, const char *host, const char *server_words,
		    const char *client_words)
{
	struct tls_ctx *sc, *cc;
	char errmsg[ESC_ERRMSG_SIZE];

	if (!start(name, host, &sc, &cc)) {
		unit_current_failed = 1;
		return;
	}
	tls_stream_write(&client.s, "secret?", 7, errmsg);
	pump(&client, &server);
	if (server_words != NULL && (server.last != TLS_STREAM_ERROR ||
				     strstr(server.errmsg, server_words) == NULL)) {
		printf("# %s: server %zd %s\n", name, server.last, server.errmsg);
		unit_current_failed = 1;
	}
	if (client_words != NULL && (client.last != TLS_STREAM_ERROR ||
				     strstr(client.errmsg, client_words) == NULL)) {
		printf("# %s: client %zd %s\n", name, client.last, client.errmsg);
		unit_current_failed = 1;
	}
	printf("# %s as %s: server: %s; client: %s\n", name, host ? host : "any name",
	       server.errmsg[0] ? server.errmsg : "-", client.errmsg[0] ? client.errmsg : "-");
	if (server.got_len != 0 || server.s.established) {
		printf("# %s: the server took the stream\n", name);
		unit_current_failed = 1;
	}
	stop(sc, cc);
}

TEST(foreign_ca_expired_and_wrong_host_are_refused)
{
	refused("rogue", "127.0.0.1", "certificate", NULL);
	refused("expired", "127.0.0.1", "expired", NULL);
	refused("helpdesk", "escrow.example.com", NULL, "certificate");
}

TEST(garbage_is_an_error_not_a_crash)
{
	struct tls_ctx *sc, *cc;
	char buf[64], errmsg[ESC_ERRMSG_SIZE];
	static const char junk[] = "GET / HTTP/1.1\r\nHost: plain-http-to-a-tls-port\r\n\r\n";

	CHECK(start("helpdesk", NULL, &sc, &cc));
	CHECK_INT(tls_stream_feed(&server.s, junk, strlen(junk)), ESC_OK);
	CHECK_INT(tls_stream_read(&server.s, buf, sizeof buf, errmsg), TLS_STREAM_ERROR);
	CHECK(errmsg[0] != '\0');
	CHECK_INT(tls_stream_read(&server.s, buf, sizeof buf, errmsg), TLS_STREAM_ERROR);
	stop(sc, cc);
}

TEST(bad_files_are_named)
{
	struct tls_ctx *ctx = NULL;
	char ca[160], crt[160], key[160], errmsg[ESC_ERRMSG_SIZE];

	snprintf(ca, sizeof ca, "%s/ca.crt", dir);
	snprintf(crt, sizeof crt, "%s/node-1.crt", dir);
	snprintf(key, sizeof key, "%s/helpdesk.key", dir);
	CHECK_INT(tls_ctx_new(&ctx, true, ca, crt, key, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "--tls-key") != NULL && strstr(errmsg, "helpdesk.key") != NULL);
	CHECK_INT(tls_ctx_new(&ctx, true, "/nonexistent/ca.crt", crt, key, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "--tls-ca /nonexistent/ca.crt") != NULL);
	CHECK(ctx == NULL);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_tls.XXXXXX");
	if (mkdtemp(dir) == NULL || !make_pki()) {
		printf("Bail out! cannot make the test PKI in %s\n", dir);
		return 1;
	}
	RUN(handshake_both_ways_and_peer_names);
	RUN(a_megabyte_each_way);
	RUN(foreign_ca_expired_and_wrong_host_are_refused);
	RUN(garbage_is_an_error_not_a_crash);
	RUN(bad_files_are_named);
	unit_remove_tree(dir);
	return unit_done();
}
