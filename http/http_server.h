/* HTTP/1.1 server connections on a libuv loop; http_parser reads the bytes. */
#ifndef ESCROW_HTTP_SERVER_H
#define ESCROW_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_BODY_MAX (64 * 1024)      /* larger bodies: 413 */
#define HTTP_HEADERS_MAX 64            /* more header lines: 431 */
#define HTTP_HEADER_BYTES_MAX (16 * 1024) /* total header bytes: 431 */
#define HTTP_REQUEST_TIMEOUT_MS 10000  /* headers + body must arrive within this */
#define HTTP_IDLE_TIMEOUT_MS 60000     /* keep-alive connection with no request */
#define HTTP_CONNECTIONS_MAX 4096
#define HTTP_DRAIN_TIMEOUT_MS 5000     /* stop: wait this long for pending requests */
#define HTTP_STREAM_STALL_MS 30000     /* a streamed write not done by then: closed */
#define HTTP_SPARE_BUFFERS 64          /* receive buffers kept between requests */

struct http_server;
struct http_parse_block;
struct http_conn;

struct http_header {
	char *name;  /* as received */
	char *value;
};

struct http_request;

/* Receives the answer to a detached request (http_request_detached); the
 * request is freed when this returns, and body may point into it. */
typedef void (*http_respond_cb)(struct http_request *req, int status, const char *headers,
				const char *content_type, const char *body, size_t len);

/* One request, complete with its body. Valid from the handler call until
 * http_respond (or http_stream_end) is called for it; the server owns it. While a request is
 * pending the server reads no more bytes from its connection. */
struct http_request {
	void *data;                /* free for the handler */
	struct http_server *server;
	struct http_conn *conn;    /* internal */
	const char *method;        /* "GET", "POST", ... */
	char *target;              /* request target as received, e.g. "/v1/keys?prefix=AB" */
	char *path;                /* target up to '?', percent-decoded */
	char *query;               /* after '?', raw ("" if none) */
	struct http_header *headers;
	size_t n_headers;
	char *body;                /* NUL-terminated (NUL not counted); "" if none */
	size_t body_len;
	uint64_t received_ms;      /* uv_now when the request was complete */
	char peer[64];             /* "ip:port" of the client */
	bool tls;                  /* came over TLS: the client's certificate ... */
	char client_cn[65];        /* ... gave this CN */
	char client_ou[65];        /* ... and this OU */
	struct http_parse_block *header_blocks; /* internal: where the headers are */
	http_respond_cb respond_cb;  /* a detached request's answer goes here ... */
	void *respond_data;          /* ... with this, free for its maker */
};

/* Called once per complete request. Must eventually call http_respond, or
 * stream the response (http_stream_start ... http_stream_end). */
typedef void (*http_handler_cb)(struct http_request *req);

/* Extra header lines the server adds to every response it sends, including
 * its own errors: "Name: value\r\n..." (borrowed until the next call). req
 * is the request answered, or NULL for an error the server answers itself
 * (a malformed request). */
typedef const char *(*http_common_headers_cb)(struct http_server *s,
					      const struct http_request *req);

typedef void (*http_server_stop_cb)(struct http_server *s);

/* A TLS connection failed before its first request (a handshake refused:
 * no or foreign certificate, plain HTTP on the TLS port, a corrupt record):
 * peer is "ip:port", why says what happened. */
typedef void (*http_tls_refused_cb)(struct http_server *s, const char *peer, const char *why);

struct tls_ctx;

struct http_server {
	void *data;                              /* free for the owner */
	http_handler_cb handler;                 /* set before start */
	http_common_headers_cb common_headers;   /* may be NULL */
	struct tls_ctx *tls;                     /* NULL: plain HTTP. A server ctx
						    (tls_stream.h); may be replaced at
						    any time: it applies to new
						    connections, and the old one may be
						    freed at once */
	http_tls_refused_cb tls_refused;         /* may be NULL */
	uint64_t accepted;                       /* connections accepted so far */
	/* private */
	uv_loop_t *loop;
	uv_tcp_t listener;
	int port;
	bool listening;
	bool stopping;
	struct http_conn *conns;                 /* list of open connections */
	size_t n_conns;
	char *spare_in[HTTP_SPARE_BUFFERS];      /* receive buffers kept for reuse */
	unsigned n_spare_in;
	size_t n_pending;                        /* requests held by the handler, streams included */
	uv_timer_t drain_timer;
	http_server_stop_cb stop_cb;
};

/* Binds and listens on addr ("HOST:PORT", "IPv4:PORT", "[IPv6]:PORT"; port 0
 * picks a free one); a name is resolved now (blocking) and the first of its
 * addresses bound. Errors: ESC_EADDRINUSE ("address 127.0.0.1:8080 is
 * already in use"), ESC_EINVAL (unparsable address), ESC_ENOTFOUND (a name
 * that does not resolve), ESC_EIO. handler must be set. */
int http_server_start(struct http_server *s, uv_loop_t *loop, const char *addr,
		      char *errmsg);

/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);

/* Sends the response to req and releases req. status is the HTTP code;
 * headers are extra lines "Name: value\r\n" (may be NULL); content_type may be
 * NULL when len is 0. body is copied. Content-Length is always set; the
 * connection is kept alive unless the client asked otherwise or the server is
 * stopping. If the client went away the response is dropped silently. */
void http_respond(struct http_request *req, int status, const char *headers,
		  const char *content_type, const char *body, size_t len);

/* Convenience: {"error":{"code":code,"message":message}} with status. */
void http_respond_error(struct http_request *req, int status, const char *headers,
			const char *code, const char *message);

/* Called when a stream write has been handed to the kernel (status ESC_OK),
 * or the client went away / the connection failed (ESC_EIO): then the caller
 * must stop writing and call http_stream_end. Never called from inside
 * http_stream_write; http_stream_write and http_stream_end may be called
 * from inside it. */
typedef void (*http_stream_cb)(struct http_request *req, int status);

/* Starts a response whose body the caller streams: sends the status line and
 * headers (common headers, the caller's headers, Content-Type, Content-Length:
 * len; headers and content_type are copied). Call instead of http_respond,
 * then http_stream_write until len bytes are out, then http_stream_end. No
 * timeout applies to the stream except the stall guard of each write.
 * Returns ESC_OK, or ESC_EIO if the response cannot go out (client gone,
 * connection failed, out of memory): then call http_stream_end. */
int http_stream_start(struct http_request *req, int status, const char *headers,
		      const char *content_type, uint64_t len);

/* Sends len bytes of data (borrowed until cb fires: no copy). At most one
 * write in flight per request; cb fires exactly once per successful call, and
 * never for a call that returns an error. A write the kernel has not taken
 * within HTTP_STREAM_STALL_MS closes the connection (cb gets ESC_EIO). For a
 * HEAD request nothing is sent and cb still fires. Errors: ESC_EINVAL (len is
 * 0 or past the announced length: nothing sent, the stream goes on), ESC_EIO
 * (the connection is gone: call http_stream_end). */
int http_stream_write(struct http_request *req, const void *data, size_t len,
		      http_stream_cb cb);

/* Ends the streamed response and releases req; call with no write in
 * flight, also after http_stream_start failed and after the server stopped.
 * Once all announced bytes are out the connection is kept alive as with
 * http_respond. If fewer bytes than announced were sent (an error midway),
 * the connection is closed (never reused), so the client sees a truncated
 * body. */
void http_stream_end(struct http_request *req);

/* A request that arrived inside outer's body (a batch a node forwards): it
 * has outer's server, peer, receipt time and TLS identity, and the method,
 * target, header lines ("Name: value\r\n" each) and body given (copied).
 * Hand it to the server's handler as any other; its answer goes to respond
 * (with respond_data set to data), never to a connection, and a streamed
 * answer becomes a 500. Returns ESC_OK with *out set, ESC_EINVAL (unknown
 * method, malformed target or header lines, over the limits of a request
 * from a socket) or ESC_ENOMEM. */
int http_request_detached(const struct http_request *outer, const char *method,
			  const char *target, size_t target_len, const char *head, size_t head_len,
			  const char *body, size_t body_len, http_respond_cb respond, void *data,
			  struct http_request **out);

/* Case-insensitive header lookup; NULL if absent. */
const char *http_request_header(const struct http_request *req, const char *name);

/* Value of query parameter name, percent-decoded into buf (size bytes);
 * returns NULL if absent, buf otherwise ("" for "name" or "name="). Also
 * NULL when the value is malformed (bad escape, %00) or longer than size - 1:
 * a caller that needs the parameter answers 400 on NULL. */
const char *http_query_param(const struct http_request *req, const char *name,
			     char *buf, size_t size);

/* Stops accepting, waits up to HTTP_DRAIN_TIMEOUT_MS for pending requests to
 * be answered, streamed responses included (new requests on open connections
 * get 503 shutting_down), then closes every connection and the listener and
 * calls cb. A stream cut by the deadline gets ESC_EIO in its write callback;
 * a request still held afterwards is only freed by http_respond or
 * http_stream_end. */
void http_server_stop(struct http_server *s, http_server_stop_cb cb);

#endif
