/* Internals of the peer transport (peer_tls.h): the transport's state and
 * one connection's, shared by peer_tls.c (the raft_uv_transport),
 * peer_conn.c (a connection's life: connect or accept, deadlines, failure,
 * close) and peer_relay.c (its I/O: handshake, identity, preamble, relay). */
#ifndef ESCROW_PEER_CONN_H
#define ESCROW_PEER_CONN_H

#include <stdbool.h>

#include "lib/ratelimit.h"
#include "lib/tls_stream.h"
#include "raft/peer_tls.h"

#define PEER_CHUNK (64 << 10)        /* bytes read or decrypted at a time */

struct peer_conn;

struct peer_tls {
	struct raft_uv_transport *transport;
	uv_loop_t *loop;
	struct tls_ctx *server_ctx, *client_ctx; /* borrowed */
	raft_id id;
	char address[PEER_TLS_ADDRESS_MAX + 1];  /* ours, from init */
	uv_tcp_t listener;
	bool listener_open;          /* initialised and not yet closed back */
	uv_tcp_t spare;              /* takes a connection to refuse without memory */
	bool spare_open, accept_stalled;
	raft_uv_accept_cb accept_cb;
	struct peer_conn *conns;     /* every connection until its memory is freed */
	unsigned handshakes;         /* inbound ones not yet handed to libraft */
	unsigned timeout_ms;
	bool closing;
	raft_uv_transport_close_cb close_cb;
	peer_tls_log_cb log_cb;
	void *log_data;
	struct ratelimit log_limit;  /* lines to log_cb, by uv_now */
	struct peer_tls_stats stats;
	char last_error[512];
};

/* States in order: a connection only moves forward. */
enum peer_conn_state {
	PEER_DIALING,                /* outbound: resolving a name, TCP connect in flight */
	PEER_HANDSHAKE,              /* TLS handshake */
	PEER_PREAMBLE,               /* inbound: waiting for the peer's preamble */
	PEER_REPLY,                  /* outbound: preamble sent, waiting for the reply */
	PEER_RELAY,                  /* handed to libraft */
	PEER_DRAINING,               /* one side ended: flushing the other, bounded */
	PEER_CLOSING,                /* handles closing; freed by the last close callback */
};

struct peer_conn {
	struct peer_tls *t;
	struct peer_conn *prev, *next;
	enum peer_conn_state state;
	bool outbound;
	raft_id id;                  /* outbound: the target; inbound: the certificate's */
	char host[PEER_TLS_ADDRESS_MAX + 1]; /* outbound: name the certificate must hold */
	struct netaddr na;           /* outbound: the address dialled */
	uv_getaddrinfo_t gai;        /* outbound: resolving na's name */
	bool resolving;              /* gai in flight: counts in handles */
	struct addrinfo *res;        /* what the name resolved to (owned), or NULL */
	struct addrinfo *cur;        /* the address being tried */
	char who[PEER_TLS_ADDRESS_MAX + 48]; /* "node 2 at ADDR" or "IP:PORT" for messages */
	unsigned handles;            /* initialised handles whose close callback is due */
	uv_tcp_t tcp;
	uv_timer_t timer;            /* deadline of the phase before RELAY, and of DRAINING */
	uv_connect_t connect;
	uv_shutdown_t shutdown;
	uv_pipe_t pipe;              /* our end of the socketpair */
	bool pipe_open;
	uv_pipe_t *raft_end;         /* libraft's end (raft_malloc) until handed over */
	struct tls_stream tls;
	bool tls_open;
	struct raft_uv_connect *req; /* outbound: until its callback */
	int status;                  /* for req's callback if it fails */
	bool counted;                /* in t->handshakes */
	uint8_t frame[PEER_TLS_PREAMBLE_MAX]; /* preamble or reply being read */
	size_t frame_len;
	size_t tcp_queued, pipe_queued; /* bytes in each side's write queue */
	bool got_bytes;              /* a byte came from the socket */
	bool tcp_paused, pipe_paused;   /* reading stopped for the other side's queue */
	char rbuf[PEER_CHUNK];
};

/* Starts a connection to node id at address (RAFT_NOCONNECTION, RAFT_NOMEM:
 * cb will not fire) whose callback fires once, with a stream or a failure. */
int peer_conn_dial(struct peer_tls *t, struct raft_uv_connect *req, raft_id id,
		   const char *address, raft_uv_connect_cb cb);

/* Takes the connection waiting on t->listener. */
void peer_conn_accept(struct peer_tls *t);

/* Closes c at once; a pending connect request fails with RAFT_CANCELED. */
void peer_conn_abort(struct peer_conn *c);

/* Closes every handle of c; its memory goes in the last close callback,
 * then a connect request still pending fails with c->status. */
void peer_conn_close(struct peer_conn *c);

/* Records why c ends ("connect to ...", "refused ...", "connection with ...
 * lost"; log: the owner's log too, rate-limited), then closes it. No-op
 * once c is closing. */
void peer_conn_fail(struct peer_conn *c, bool log, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One side ended in RELAY: flush the other (s) and close, within the
 * timeout. */
void peer_conn_drain(struct peer_conn *c, uv_stream_t *s);

/* Starts reading the TCP connection (connected or accepted) and the TLS
 * handshake (peer_relay.c). */
void peer_conn_start(struct peer_conn *c);

const char *peer_conn_state_name(enum peer_conn_state s);

/* Records why something failed; log: also tell the owner (rate-limited). */
void peer_tls_note(struct peer_tls *t, bool log, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fires the transport's close callback once nothing is left open. */
void peer_tls_maybe_closed(struct peer_tls *t);

#endif
