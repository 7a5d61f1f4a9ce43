/* One server connection, shared by http_server.c (I/O, lifetime) and http_request.c (parsing). */
#ifndef ESCROW_HTTP_CONN_H
#define ESCROW_HTTP_CONN_H

#include <http_parser.h>
#include <stdbool.h>
#include <uv.h>

#include "http/http_parse_util.h"
#include "http/http_server.h"

#define HTTP_CONN_READ_SIZE (16 * 1024) /* receive buffer of a connection */

/* A receive buffer of HTTP_CONN_READ_SIZE bytes for c: a spare one of its
 * server's, or a new one (NULL when out of memory). */
char *http_conn_in_take(struct http_conn *c);

/* Gives back c->in, of which the first c->in_len bytes were received (they
 * are wiped: a request can hold a password), and leaves c->in NULL. A
 * malloc and free of 16 KiB per request cost more than parsing it. */
void http_conn_in_give(struct http_conn *c);

enum http_conn_state {
	HTTP_CONN_IDLE,      /* between requests: reading, idle timer */
	HTTP_CONN_READING,   /* a request is arriving: reading, request deadline */
	HTTP_CONN_PENDING,   /* the handler holds the request: no reading, no timer */
	HTTP_CONN_STREAMING, /* the handler streams the body: no reading, stall guard */
	HTTP_CONN_WRITING,   /* a response is being written: write deadline */
	HTTP_CONN_LINGER,    /* final response written, write side shut: discarding input */
};

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;                 /* the deadline of the current state */
	uv_shutdown_t shutdown;
	struct http_server *server;
	struct http_conn *prev;           /* in server->conns */
	struct http_conn *next;
	enum http_conn_state state;
	bool closing;                     /* uv_close called */
	int open_handles;                 /* freed when this reaches 0 */
	unsigned n_writes;                /* writes handed to libuv, not yet done */
	bool close_after;                 /* close once the response is written */
	bool reading;                     /* uv_read_start is in effect */
	bool peer_eof;                    /* plain: the client ended its side while
					     a request was being answered */
	char peer[64];
	struct tls_stream *tls;           /* NULL: plain HTTP */
	char *raw;                        /* TLS: HTTP_CONN_READ_SIZE bytes from the socket */
	bool raw_seen;                    /* TLS: a first byte arrived */
	http_parser parser;
	char *in;                         /* HTTP_CONN_READ_SIZE bytes, or NULL */
	size_t in_off;                    /* in[in_off..in_len) not parsed yet */
	size_t in_len;
	/* The request being parsed. */
	struct http_parse_buf target;
	struct http_parse_headers headers;
	struct http_parse_buf body;
	char *path;
	char *query;
	int err_status;                   /* set by a parser callback: reply and close */
	const char *err_code;
	const char *err_message;
	/* Response shaping for the current request. */
	bool head;                        /* HEAD: no body in the response */
	bool http10;                      /* HTTP/1.0 client */
	bool keep_alive;
	struct http_request *ready;       /* complete, not yet handed out */
	struct http_request *pending;     /* held by the handler */
	/* A streamed response (state STREAMING). */
	uint64_t stream_left;             /* announced body bytes not yet written */
	http_stream_cb stream_cb;         /* of the stream write in flight, or NULL */
	bool stream_skip;                 /* HEAD: the write in flight is only a callback */
};

/* http_server.c */

/* Closes both handles; memory goes in the last close callback. Idempotent. */
void http_conn_close(struct http_conn *c);

/* Writes len bytes of buf (ownership passes, always). In state WRITING the
 * response ends once every write is done. On error the connection is closed. */
int http_conn_write_bytes(struct http_conn *c, char *buf, size_t len);

/* Writes a whole response (buf owned) and stops reading meanwhile. */
void http_conn_send(struct http_conn *c, char *buf, size_t len, bool close_after);

/* Writes a streamed response's head (buf owned) and enters STREAMING with
 * body_len bytes to come. On error the connection is closed. */
int http_conn_stream_begin(struct http_conn *c, char *buf, size_t len, uint64_t body_len,
			   bool close_after);

/* Writes len bytes of data (borrowed until cb) of the stream; cb fires once
 * when written, with ESC_EIO from the connection's close if it fails. On
 * error nothing fires and the connection is closed. */
int http_conn_stream_write(struct http_conn *c, const void *data, size_t len,
			   http_stream_cb cb);

/* The handler ended the stream (no write in flight): a complete response
 * ends as any other; a short one closes the connection. */
void http_conn_stream_end(struct http_conn *c);

/* A request's first byte arrived: start its deadline. */
void http_conn_start_request(struct http_conn *c);

/* A request is complete: stop reading and the timer until the response. */
void http_conn_hold(struct http_conn *c);

/* Called when the last pending request is answered or dropped: while
 * stopping, closes the connections not finishing a response. */
void http_server_drained(struct http_server *s);

/* http_server_stop.c: the last step of a stop, once every connection and
 * the listener are closed (a no-op before). */
void http_server_stop_check(struct http_server *s);

/* Writes owned (len bytes, wiped and freed when written) to the socket as
 * they are: ciphertext under TLS. stream: the write of a streamed response. */
int http_conn_write_raw(struct http_conn *c, char *owned, size_t len, bool stream);

/* Ends the connection after a final response: shuts the write side, then
 * discards input for a moment before closing. */
void http_conn_linger(struct http_conn *c);

/* http_server_tls.c: the TLS layer under a connection. */

/* A new connection of a TLS server: ESC_OK or ESC_ENOMEM/ESC_ECRYPTO. */
int http_conn_tls_start(struct http_conn *c);

/* n bytes arrived in c->raw: decrypts what it can and parses it. */
void http_conn_tls_bytes(struct http_conn *c, size_t n);

/* Decrypts and parses buffered bytes while the connection reads requests. */
void http_conn_tls_pull(struct http_conn *c);

/* Bytes received and not yet decrypted (they wait while a request is
 * answered). */
size_t http_conn_tls_waiting(const struct http_conn *c);

/* Encrypts len bytes of data and writes them; owned (may be NULL) is wiped
 * and freed. stream: see http_conn_write_raw. */
int http_conn_tls_write(struct http_conn *c, const void *data, size_t len, char *owned,
			bool stream);

/* Queues close_notify before the write side is shut. */
void http_conn_tls_close_notify(struct http_conn *c);

/* Frees the TLS state with the connection. */
void http_conn_tls_free(struct http_conn *c);

/* http_request.c */

/* Parses the buffered bytes; replies to bad requests; hands a complete
 * request to the handler. */
void http_conn_feed(struct http_conn *c);

/* Frees the partly parsed request. */
void http_conn_reset_request(struct http_conn *c);

void http_conn_request_free(struct http_request *req);

/* Splits target t into its percent-decoded path and raw query (both
 * allocated, freed by the caller also on error). ESC_EINVAL (not starting
 * with '/', a bad escape, a control byte in the path), ESC_ENOMEM. */
int http_target_split(const char *t, char **path, char **query);

#endif
