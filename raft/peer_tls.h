/* Raft peer traffic over mutual TLS: a raft_uv_transport for libraft's libuv
 * I/O in which every connection is a TLS stream between two node
 * certificates of the cluster CA, and the id a peer claims must be its
 * certificate's.
 *
 * libraft gets one end of a socketpair for each connection; the transport
 * relays the other end through a TLS stream (lib/tls_stream.h) to the TCP
 * connection. A connection is handed to libraft only once:
 *   - the TLS handshake is done with a certificate of the CA (both ways);
 *   - on a connect, the certificate's subject alternative names hold what
 *     was dialled: the DNS name of a "HOST:PORT" address, the IP address of
 *     an "IPv4:PORT" or "[IPv6]:PORT" one;
 *   - the peer's certificate has OU "node" and CN "node-<id>": on a connect,
 *     <id> is the node libraft asked for; on an accept, <id> must equal the
 *     id in the peer's preamble;
 *   - the preamble (dialer to listener) and the reply (listener to dialer)
 *     below were exchanged inside TLS.
 * Anything else is dropped, with the reason in peer_tls_last_error and, for
 * what a person should see, the log callback. Every phase before the
 * hand-over is bounded by a timeout (5 s by default). */
#ifndef ESCROW_PEER_TLS_H
#define ESCROW_PEER_TLS_H

#include <netinet/in.h>

#include "lib/netaddr.h"
#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tls_ctx;

#define PEER_TLS_TIMEOUT_MS 5000     /* connect, handshake, preamble; linger on close */
#define PEER_TLS_USER_TIMEOUT_MS 3000 /* TCP_USER_TIMEOUT: unacknowledged data drops the link */
#define PEER_TLS_KEEPALIVE_S 1       /* TCP keepalive idle and interval */
#define PEER_TLS_KEEPALIVE_COUNT 2
#define PEER_TLS_QUEUE_HIGH (1 << 20) /* bytes queued on one side: stop reading the other */
#define PEER_TLS_QUEUE_LOW (256 << 10) /* ... and resume below this */
#define PEER_TLS_HANDSHAKES_MAX 64   /* inbound connections not yet authenticated */

/* Logs one line (msg, borrowed for the call) about a refused peer or a
 * failed or lost connection. At most 20 lines every 10 s; the number left
 * out is logged with the next one. Plain TCP connect failures (a peer that is
 * down) are only kept in peer_tls_last_error. */
typedef void (*peer_tls_log_cb)(void *data, const char *msg);

/* Counters since peer_tls_init. */
struct peer_tls_stats {
	uint64_t accepted;           /* inbound connections handed to libraft */
	uint64_t refused;            /* inbound connections dropped before that */
	uint64_t connected;          /* outbound connections handed to libraft */
	uint64_t connect_failed;     /* outbound attempts that failed (not canceled) */
	uint64_t lost;               /* handed-over connections that ended in an error */
};

/* Makes t our transport, for raft_uv_init (like raft_uv_tcp_init). server
 * and client are the TLS contexts for accepted and dialed connections
 * (tls_ctx_new with server true and false), borrowed: see peer_tls_set_ctx
 * for when they may be freed. t->data belongs to libraft. Errors:
 * ESC_ENOMEM. */
int peer_tls_init(struct raft_uv_transport *t, uv_loop_t *loop, struct tls_ctx *server,
		  struct tls_ctx *client, char *errmsg);

/* Frees what peer_tls_init allocated (like raft_uv_tcp_close): after the
 * close callback of the transport fired (raft_close's callback), or when it
 * never listened nor connected (raft_init failed). */
void peer_tls_close(struct raft_uv_transport *t);

/* New connections use server and client from now on (certificate reload).
 * Connections already open or in their handshake keep the OpenSSL context
 * they started with (an SSL holds a reference to its SSL_CTX), so the caller
 * may tls_ctx_free the old contexts as soon as this returns. */
void peer_tls_set_ctx(struct raft_uv_transport *t, struct tls_ctx *server,
		      struct tls_ctx *client);

/* cb may be NULL. */
void peer_tls_set_log(struct raft_uv_transport *t, peer_tls_log_cb cb, void *data);

/* Bound of each phase before the hand-over, and of the linger on close
 * (tests use a short one). 0: PEER_TLS_TIMEOUT_MS. */
void peer_tls_set_timeout(struct raft_uv_transport *t, unsigned msecs);

void peer_tls_get_stats(const struct raft_uv_transport *t, struct peer_tls_stats *out);

/* Why the last connection failed or was refused ("" if none), borrowed. */
const char *peer_tls_last_error(const struct raft_uv_transport *t);

/*
 * Framing, version 1: the first plaintext bytes inside TLS, little-endian.
 *
 * Preamble, dialer to listener:
 *   0  u8[4] magic "ESCP"
 *   4  u8    version (1)
 *   5  u8    flags, 0
 *   6  u16   address length A, 1..PEER_TLS_ADDRESS_MAX
 *   8  u64   the dialer's node id, > 0
 *  16  u8[A] the dialer's raft address: printable ASCII, no space, no NUL
 *
 * Reply, listener to dialer, once the preamble is accepted (a refusal is a
 * closed connection):
 *   0  u8[4] magic "ESCP"
 *   4  u8    version (1)
 *   5  u8    status, 0: accepted
 *   6  u16   reserved, 0
 *
 * Then both directions carry libraft's own messages unchanged.
 */
#define PEER_TLS_MAGIC "ESCP"
#define PEER_TLS_VERSION 1
#define PEER_TLS_PREAMBLE_HEADER 16
#define PEER_TLS_ADDRESS_MAX 255
#define PEER_TLS_PREAMBLE_MAX (PEER_TLS_PREAMBLE_HEADER + PEER_TLS_ADDRESS_MAX)
#define PEER_TLS_REPLY_SIZE 8

struct peer_tls_preamble {
	raft_id id;
	char address[PEER_TLS_ADDRESS_MAX + 1];
};

/* Writes the preamble of node id at address into buf (size bytes); returns
 * its length, or 0 when id is 0, address is empty, too long or not
 * printable, or buf too small. */
size_t peer_tls_preamble_encode(raft_id id, const char *address, uint8_t *buf, size_t size);

/* Parses a preamble from the first len bytes of buf (borrowed). ESC_OK with
 * *used > 0 (bytes it took; what follows is the peer's Raft traffic) and p
 * filled, or ESC_OK with *used == 0 when more bytes are needed;
 * ESC_ECORRUPT (bad magic, flags, length, id or address byte) or
 * ESC_EVERSION, with errmsg. */
int peer_tls_preamble_parse(const uint8_t *buf, size_t len, struct peer_tls_preamble *p,
			    size_t *used, char *errmsg);

void peer_tls_reply_encode(uint8_t buf[PEER_TLS_REPLY_SIZE]);

/* Like peer_tls_preamble_parse for the reply: *used is 0 or
 * PEER_TLS_REPLY_SIZE. */
int peer_tls_reply_parse(const uint8_t *buf, size_t len, size_t *used, char *errmsg);

/* The id in a node certificate's CN "node-<id>" (decimal, no sign, no
 * leading zero, > 0). ESC_OK or ESC_EINVAL. */
int peer_tls_cn_id(const char *cn, raft_id *id);

/* A raft address: "HOST:PORT", "IPv4:PORT" or "[IPv6]:PORT" (netaddr_parse)
 * of at most PEER_TLS_ADDRESS_MAX bytes, into a. a->host is what the peer's
 * certificate must hold: a DNS name for a name, an IP address for a
 * literal. A name is resolved each time it is dialled (on the loop's thread
 * pool) and its addresses tried in turn; one that does not resolve fails
 * that connect (logged, rate-limited) and libraft tries again later.
 * ESC_OK or ESC_EINVAL. */
int peer_tls_address_parse(const char *address, struct netaddr *a);

#endif
