/* HTTP/1.1 client on a libuv loop with keep-alive connection pools, for forwarding. */
#ifndef ESCROW_HTTP_CLIENT_H
#define ESCROW_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http_server.h"
#include "lib/ratelimit.h"

#define HTTP_CLIENT_RESPONSE_MAX (8 * 1024 * 1024) /* larger responses fail with ESC_ETOOBIG */
#define HTTP_CLIENT_LOG_WINDOW_MS 10000
#define HTTP_CLIENT_LOG_LINES 20

struct http_client_conn;

/* A response, valid only during the callback. */
struct http_response {
	int status;                 /* HTTP status code */
	struct http_header *headers;
	size_t n_headers;
	const char *body;           /* NUL-terminated */
	size_t body_len;
};

struct http_client_req;

/* status: ESC_OK with resp set, or ESC_EIO (could not connect, connection
 * lost before a full response), ESC_ETIMEOUT, ESC_ECORRUPT (unparsable
 * response), ESC_ETOOBIG, ESC_ESHUTDOWN (client closing); resp is NULL then. */
typedef void (*http_client_cb)(struct http_client_req *req, int status,
			       const struct http_response *resp);

/* A request, allocated by the caller; must live until its callback. */
struct http_client_req {
	void *data;                       /* free for the caller */
	/* private */
	struct http_client *client;
	struct http_client_conn *conn;
	char *wire;                       /* serialised request */
	size_t wire_len;
	http_client_cb cb;
	uv_timer_t timer;
	bool timer_started;
	struct http_client_req *next;     /* waiting for a connection */
	int status;                       /* result, delivered once the timer has closed */
};

typedef void (*http_client_close_cb)(struct http_client *c);

struct tls_ctx;

struct http_client {
	void *data;
	struct tls_ctx *tls;              /* NULL: plain HTTP. A client ctx of this
					     node's certificate (tls_stream.h): the
					     server must show a node certificate
					     (OU node) whose SANs hold the
					     address's host (DNS name or IP). May be
					     replaced at any time (new connections);
					     the old one may be freed at once */
	char tls_error[256];              /* the last TLS or name resolution
					     failure, for the log */
	void (*log_cb)(struct http_client *c, const char *msg); /* may be NULL: told
					     tls_error each time, at most
					     HTTP_CLIENT_LOG_LINES per
					     HTTP_CLIENT_LOG_WINDOW_MS */
	struct ratelimit log_limit;
	/* private */
	uv_loop_t *loop;
	struct http_client_conn *conns;   /* all connections, idle or busy */
	bool closing;
	http_client_close_cb close_cb;
	size_t n_reqs;                    /* requests whose callback has not run yet */
};

int http_client_init(struct http_client *c, uv_loop_t *loop);

/* Sends method target to addr ("HOST:PORT", "IPv4:PORT" or "[IPv6]:PORT";
 * a name is resolved on the loop for each new connection, and its addresses
 * tried in turn) with extra header lines headers
 * ("Name: value\r\n", may be NULL) and body (copied; may be NULL when len is
 * 0; sent as application/json). Reuses an idle keep-alive connection to addr
 * or opens one. The callback fires exactly once, unless this returns an
 * error. timeout_ms bounds the whole exchange. */
int http_client_send(struct http_client *c, struct http_client_req *req,
		     const char *addr, const char *method, const char *target,
		     const char *headers, const char *body, size_t len,
		     uint64_t timeout_ms, http_client_cb cb);

/* Header lookup in a response, case-insensitive. */
const char *http_response_header(const struct http_response *r, const char *name);

/* Fails pending requests with ESC_ESHUTDOWN, closes every connection, then
 * calls cb (before returning when nothing was open). Call once. */
void http_client_close(struct http_client *c, http_client_close_cb cb);

#endif
