/* The TLS layer under a server connection (lib/tls_stream.c does the TLS).
 *
 * The socket's bytes land in c->raw and go into the TLS stream; plaintext
 * comes out into c->in, where http_request.c parses it, only while the
 * connection reads requests (IDLE, READING): while a request is answered
 * what follows waits in the stream, not yet decrypted, until
 * http_conn_tls_pull (the socket is still read, up to HTTP_CONN_READ_SIZE
 * bytes waiting: http_server.c). Every
 * call that may produce TLS records (handshake, alerts, close_notify) is
 * followed by a flush of the stream's output to the socket.
 *
 * A first byte that cannot start a TLS handshake record is a plain HTTP
 * client on the TLS port: it gets one plain 400 saying so, then the close. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_conn.h"
#include "lib/tls_stream.h"
#include "lib/error.h"

#define TLS_RECORD_HANDSHAKE 0x16

static const char plain_refusal[] =
	"{\"error\":{\"code\":\"tls_required\",\"message\":\"this node serves HTTPS with client "
	"certificates: use an https:// URL and a certificate of the cluster CA\"}}";

static void refused(struct http_conn *c, const char *why)
{
	struct http_server *s = c->server;

	if (s->tls_refused != NULL && c->state == HTTP_CONN_IDLE)
		s->tls_refused(s, c->peer, why);
}

/* Sends what the stream has for the socket. */
static int flush(struct http_conn *c, bool stream)
{
	size_t len = tls_stream_outgoing(c->tls);
	char *buf;

	if (len == 0)
		return ESC_OK;
	buf = malloc(len);
	if (buf == NULL) {
		http_conn_close(c);
		return ESC_ENOMEM;
	}
	len = tls_stream_take(c->tls, buf, len);
	return http_conn_write_raw(c, buf, len, stream);
}

int http_conn_tls_start(struct http_conn *c)
{
	char errmsg[256];

	c->tls = calloc(1, sizeof *c->tls);
	if (c->tls == NULL)
		return ESC_ENOMEM;
	if (tls_stream_init(c->tls, c->server->tls, NULL, errmsg) != ESC_OK) {
		free(c->tls);
		c->tls = NULL;
		return ESC_ECRYPTO;
	}
	return ESC_OK;
}

void http_conn_tls_free(struct http_conn *c)
{
	if (c->tls != NULL) {
		tls_stream_free(c->tls);
		free(c->tls);
		c->tls = NULL;
	}
	free(c->raw);
	c->raw = NULL;
}

/* Plain HTTP on the TLS port: answer in plain text, then close. */
static void refuse_plain(struct http_conn *c)
{
	char *resp;
	int len;

	refused(c, "plain HTTP sent to the TLS port");
	tls_stream_free(c->tls);
	free(c->tls);
	c->tls = NULL;
	len = asprintf(&resp, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
			      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		       strlen(plain_refusal), plain_refusal);
	if (len < 0) {
		http_conn_close(c);
		return;
	}
	http_conn_send(c, resp, (size_t)len, true);
}

void http_conn_tls_pull(struct http_conn *c)
{
	char errmsg[256];
	ssize_t n;

	while (!c->closing && c->tls != NULL &&
	       (c->state == HTTP_CONN_IDLE || c->state == HTTP_CONN_READING)) {
		if (c->in != NULL && c->in_off < c->in_len) {
			/* Left by a pause: parse it before reading more. */
			http_conn_feed(c);
			continue;
		}
		if (c->in == NULL) {
			c->in = http_conn_in_take(c);
			c->in_off = 0;
			c->in_len = 0;
			if (c->in == NULL) {
				http_conn_close(c);
				return;
			}
		}
		n = tls_stream_read(c->tls, c->in + c->in_len, HTTP_CONN_READ_SIZE - c->in_len,
				    errmsg);
		if (n == 0)
			break;
		if (n == TLS_STREAM_EOF) {
			http_conn_close(c);
			return;
		}
		if (n == TLS_STREAM_ERROR) {
			refused(c, errmsg);
			/* The alert goes out before the end. */
			if (flush(c, false) == ESC_OK && !c->closing)
				http_conn_linger(c);
			return;
		}
		c->in_len += (size_t)n;
		http_conn_feed(c);
	}
	if (!c->closing && c->tls != NULL)
		flush(c, false);
}

size_t http_conn_tls_waiting(const struct http_conn *c)
{
	return tls_stream_incoming(c->tls);
}

void http_conn_tls_bytes(struct http_conn *c, size_t n)
{
	if (c->state == HTTP_CONN_LINGER)
		return;
	if (!c->raw_seen && n > 0) {
		c->raw_seen = true;
		if ((unsigned char)c->raw[0] != TLS_RECORD_HANDSHAKE) {
			refuse_plain(c);
			return;
		}
	}
	if (tls_stream_feed(c->tls, c->raw, n) != ESC_OK) {
		http_conn_close(c);
		return;
	}
	http_conn_tls_pull(c);
}

int http_conn_tls_write(struct http_conn *c, const void *data, size_t len, char *owned,
			bool stream)
{
	char errmsg[256];
	int rv;

	rv = tls_stream_write(c->tls, data, len, errmsg);
	if (owned != NULL)
		OPENSSL_clear_free(owned, len);
	if (rv != ESC_OK) {
		http_conn_close(c);
		return rv;
	}
	return flush(c, stream);
}

void http_conn_tls_close_notify(struct http_conn *c)
{
	tls_stream_close(c->tls);
	flush(c, false);
}
