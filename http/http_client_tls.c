/* The TLS layer under a client connection (lib/tls_stream.c does the TLS).
 *
 * The request's plaintext goes into the stream as soon as the TCP
 * connection is up; the stream keeps it until its handshake is done. The
 * server must show a node certificate (OU "node") whose subject alternative
 * names hold the host the connection was made for (a DNS name for a name,
 * an IP address for a literal): forwarded requests carry a client's identity and its
 * passwords, and go to nodes only. Each flush of the stream's output is a
 * write of its own; a failed one fails the connection as a plain write
 * would. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client_conn.h"
#include "lib/tls_stream.h"
#include "lib/error.h"

struct tls_write {
	uv_write_t req;
	struct http_client_conn *conn;
	char *buf;
};

static void fail(struct http_client_conn *conn, const char *why)
{
	client_note(conn->client, "%.63s: %.180s", conn->addr, why);
	client_conn_lost(conn);
}

static void write_cb(uv_write_t *req, int status)
{
	struct tls_write *w = (struct tls_write *)req;
	struct http_client_conn *conn = w->conn;

	free(w->buf);
	free(w);
	conn->tls_writes--;
	client_conn_written(conn, status);
}

/* Sends what the stream has for the socket. ESC_OK, or conn was failed. */
static int flush(struct http_client_conn *conn)
{
	size_t len = tls_stream_outgoing(conn->tls);
	struct tls_write *w;
	uv_buf_t b;

	if (len == 0)
		return ESC_OK;
	w = calloc(1, sizeof *w);
	if (w == NULL || (w->buf = malloc(len)) == NULL) {
		free(w);
		client_conn_lost(conn);
		return ESC_ENOMEM;
	}
	w->conn = conn;
	b = uv_buf_init(w->buf, (unsigned)tls_stream_take(conn->tls, w->buf, len));
	if (uv_write(&w->req, (uv_stream_t *)&conn->tcp, &b, 1, write_cb) != 0) {
		free(w->buf);
		free(w);
		client_conn_lost(conn);
		return ESC_EIO;
	}
	conn->tls_writes++;
	return ESC_OK;
}

int client_tls_send(struct http_client_conn *conn, const char *data, size_t len)
{
	char errmsg[256];

	if (conn->tls == NULL) {
		conn->tls = calloc(1, sizeof *conn->tls);
		if (conn->tls == NULL) {
			client_conn_lost(conn);
			return ESC_ENOMEM;
		}
		/* The certificate must hold what was dialled: a DNS name
		 * for a name, an IP address for a literal. */
		if (tls_stream_init(conn->tls, conn->client->tls, conn->na.host, errmsg) !=
		    ESC_OK) {
			free(conn->tls);
			conn->tls = NULL;
			fail(conn, errmsg);
			return ESC_ECRYPTO;
		}
	}
	if (tls_stream_write(conn->tls, data, len, errmsg) != ESC_OK) {
		fail(conn, errmsg);
		return ESC_ECRYPTO;
	}
	return flush(conn);
}

void client_tls_bytes(struct http_client_conn *conn, const char *data, size_t len)
{
	char plain[CLIENT_READ_SIZE], errmsg[256];
	bool was_established = conn->tls->established;
	ssize_t n;

	if (tls_stream_feed(conn->tls, data, len) != ESC_OK) {
		client_conn_lost(conn);
		return;
	}
	for (;;) {
		n = tls_stream_read(conn->tls, plain, sizeof plain, errmsg);
		if (!was_established && conn->tls->established) {
			was_established = true;
			if (strcmp(conn->tls->peer_ou, "node") != 0) {
				fail(conn, "the server's certificate is not a node's (OU is not node)");
				return;
			}
		}
		if (n == 0)
			break;
		if (n == TLS_STREAM_EOF) {
			client_conn_ended(conn, UV_EOF);
			return;
		}
		if (n == TLS_STREAM_ERROR) {
			fail(conn, errmsg);
			return;
		}
		client_conn_bytes(conn, plain, (size_t)n);
		OPENSSL_cleanse(plain, (size_t)n);
		if (conn->closing || conn->tls == NULL)
			return;
		if (conn->state != CLIENT_CONN_BUSY) {
			/* The response is complete and its callback is due: what
			 * follows (a close_notify, stray bytes) only ends reuse. */
			if (tls_stream_read(conn->tls, plain, sizeof plain, errmsg) != 0)
				conn->keep_alive = false;
			OPENSSL_cleanse(plain, sizeof plain);
			return;
		}
	}
	flush(conn);
}

void client_tls_free(struct http_client_conn *conn)
{
	if (conn->tls == NULL)
		return;
	tls_stream_free(conn->tls);
	free(conn->tls);
	conn->tls = NULL;
}
