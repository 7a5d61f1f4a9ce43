/* One client connection, shared by http_client.c (HTTP, pools, lifetime)
 * and http_client_tls.c (the TLS layer under it). */
#ifndef ESCROW_HTTP_CLIENT_CONN_H
#define ESCROW_HTTP_CLIENT_CONN_H

#include <http_parser.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <uv.h>

#include "http/http_client.h"
#include "http/http_parse_util.h"
#include "lib/netaddr.h"

#define CLIENT_READ_SIZE (16 * 1024)
#define CLIENT_ADDR_MAX NETADDR_TEXT_MAX
#define CLIENT_METHOD_MAX 16
#define CLIENT_TARGET_MAX 8192

enum client_conn_state {
	CLIENT_CONN_CONNECTING, /* connect in progress, request attached */
	CLIENT_CONN_BUSY,       /* request sent or being sent, response arriving */
	CLIENT_CONN_HOLDING,    /* response complete, its callback not yet run */
	CLIENT_CONN_IDLE,       /* in the pool */
};

struct http_client_conn {
	uv_tcp_t tcp;
	uv_timer_t idle_timer;
	uv_connect_t connect;
	uv_write_t write;
	struct http_client *client;
	struct http_client_conn *next;    /* in client->conns */
	char addr[CLIENT_ADDR_MAX];
	struct netaddr na;                /* addr parsed: a literal or a name */
	uv_getaddrinfo_t gai;             /* resolving na's name */
	bool resolving;                   /* gai in flight: holds one of open_handles */
	struct addrinfo *res;             /* what the name resolved to (owned), or NULL */
	struct addrinfo *cur;             /* the one being tried */
	enum client_conn_state state;
	bool closing;                     /* uv_close called */
	int open_handles;
	bool reused;                      /* served a request before this one */
	bool got_bytes;                   /* a response byte arrived */
	bool keep_alive;
	bool complete;                    /* the response is complete */
	bool head;                        /* the request is a HEAD: no body */
	int err;                          /* set by a parser callback */
	char *wbuf;                       /* bytes being written (owned), or NULL */
	size_t wbuf_len;
	struct http_client_req *req;
	http_parser parser;
	char *in;                         /* CLIENT_READ_SIZE receive buffer */
	struct tls_stream *tls;           /* NULL: plain HTTP */
	unsigned tls_writes;              /* TLS records being written */
	struct http_parse_headers headers;
	struct http_parse_buf body;
};

/* http_client.c */

/* Received plaintext bytes of the response. */
void client_conn_bytes(struct http_client_conn *conn, const char *data, size_t len);

/* The server closed the connection (UV_EOF) or it failed (other status). */
void client_conn_ended(struct http_client_conn *conn, int status);

/* A write of the request ended with status (0 or a libuv error). */
void client_conn_written(struct http_client_conn *conn, int status);

/* The connection broke (not by us): retried once if the server cannot have
 * seen the request, else the request fails. */
void client_conn_lost(struct http_client_conn *conn);

/* Records why a connection failed (TLS, resolving) in tls_error and tells
 * the log callback, rate-limited. */
void client_note(struct http_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* http_client_wire.c */

/* An upper-case token of at most CLIENT_METHOD_MAX letters. */
bool client_method_valid(const char *method);
/* An origin-form target ("/..."), no controls or spaces, bounded. */
bool client_target_valid(const char *target);
/* "Name: value\r\n" lines, or NULL or "". */
bool client_headers_valid(const char *headers);
/* req->wire (owned) and req->wire_len: the request line, Host: addr, the
 * headers, the JSON content type and length, and body. */
int client_wire_build(struct http_client_req *req, const char *addr, const char *method,
		      const char *target, const char *headers, const char *body, size_t len);

/* http_client_tls.c */

/* Starts TLS on a connected connection and sends the request's bytes
 * (copied). ESC_OK, or the connection was failed. */
int client_tls_send(struct http_client_conn *conn, const char *data, size_t len);

/* Ciphertext received. */
void client_tls_bytes(struct http_client_conn *conn, const char *data, size_t len);

void client_tls_free(struct http_client_conn *conn);

#endif
