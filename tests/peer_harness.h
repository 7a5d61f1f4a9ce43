/* Helpers of tests/test_peer_tls.c and tests/test_replica_apply.c: one
 * loop, a test PKI, transports driven by hand ("peers"), replicas over the
 * transport ("members"), and raw clients and mute servers that do not
 * follow the protocol. Everything started is stopped by harness_teardown
 * after each test. */
#ifndef ESCROW_PEER_HARNESS_H
#define ESCROW_PEER_HARNESS_H

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/tls_stream.h"
#include "raft/peer_conn.h"
#include "raft/peer_tls.h"
#include "raft/replica.h"
#include "lib/error.h"
#include "store/store.h"
#include "tests/tls_files.h"
#include "tests/unit.h"
#include "lib/pki.h"

extern char dir[64];
extern uv_loop_t loop;
extern uv_timer_t tick;

/* The timer callback RUN_UNTIL uses to wake the loop; does nothing. */
void tick_cb(uv_timer_t *h);

/* Runs the loop until cond holds or ms pass. */
#define RUN_UNTIL(cond, ms)                                                   \
	do {                                                                  \
		uint64_t end_;                                                \
		uv_update_time(&loop);                                        \
		end_ = uv_now(&loop) + (ms);                                  \
		uv_timer_start(&tick, tick_cb, 5, 5);                         \
		while (!(cond) && uv_now(&loop) < end_)                       \
			uv_run(&loop, UV_RUN_ONCE);                           \
		uv_timer_stop(&tick);                                         \
	} while (0)

/* ---- PKI: ca; node-1..3; operator (OU operator, CN node-2); foreign (a
 * node-2 of another CA); selfsigned (a node-2 that signed itself). */

bool make_pki(void);

/* A context with name's certificate that trusts the cluster CA. */
struct tls_ctx *ctx_for(bool server, const char *name);

/* "127.0.0.1:PORT" with a port the kernel just gave. */
void free_addr(char *out, size_t size);

void free_handle(uv_handle_t *h);

/* ---- Peers: a transport used the way libraft uses it. */

#define PEER_STREAMS 8

struct peer {
	bool started, closed;
	struct raft_uv_transport t;
	struct tls_ctx *sctx, *cctx;
	char addr[32];
	unsigned accepted;
	raft_id from_id;
	char from_addr[64];
	uv_stream_t *streams[PEER_STREAMS]; /* handed over; closed at teardown */
	unsigned n_streams;
	unsigned log_lines;
	char log[512];
	struct peer_tls_stats stopped; /* the counters when stopped */
};

struct dial {
	struct raft_uv_connect req;
	bool done;
	int status;
	uv_stream_t *stream;
};

extern struct peer srv, cli;

void peer_keep(struct peer *p, uv_stream_t *s);

bool peer_start(struct peer *p, raft_id id, const char *cert, bool listen);

/* Dials node id at addr; a stream it gets is p's to close. */
bool peer_dial(struct peer *p, struct dial *d, raft_id id, const char *addr);

struct peer_tls_stats peer_stats(struct peer *p);

unsigned peer_conns(struct peer *p, int state);

void peer_stop(struct peer *p);

/* ---- Raw clients: TCP (TLS with a certificate, or not) that send what a
 * test says, then read until the other side drops them. */

struct raw {
	bool used, eof, close_after, closed_tls;
	uv_tcp_t tcp;
	uv_connect_t conn;
	struct tls_ctx *ctx;         /* NULL: plain bytes */
	struct tls_stream tls;
	const void *data;
	size_t len;
	char buf[1 << 16];
};

/* Connects to addr; cert NULL for plain TCP. data is borrowed. */
struct raw *raw_start(const char *addr, const char *cert, const void *data, size_t len,
			bool close_after);

/* ---- Mute servers: accept and never answer (tls: only the handshake). */

struct mute {
	bool used, accepted;
	uv_tcp_t listener, conn;
	struct tls_ctx *ctx;
	struct tls_stream tls;
	char addr[32];
	char buf[1 << 16];
};

struct mute *mute_start(const char *cert);

/* ---- Members: replicas with a store, over TLS (cert) or plain TCP. */

struct member {
	bool inited, started, closed;
	struct replica r;
	struct store *store;
	struct tls_ctx *sctx, *cctx;
	char dir[96];
	unsigned applied;
	char refusal[512];   /* the last "refused ..." line its transport logged */
};

extern struct member members[3];

void member_fatal_cb(struct fsm *f, const char *errmsg);

/* Sets up member id (1-based) at addr; cert NULL for plain TCP. */
int member_init(unsigned id, const char *addr, const char *cert, char *errmsg);

/* ---- Set up before the first test, teardown after every test. */

/* Makes dir (/tmp/NAME.XXXXXX), the test PKI, the loop and its tick, and
 * ignores SIGPIPE; false with a "Bail out!" line on failure. */
bool harness_start(const char *name);

void harness_teardown(void);

/* Closes the tick and runs the loop out; true when the loop then closes
 * (nothing was left open). For the last test of a file. */
bool harness_loop_closes(void);

/* Runs a test, then harness_teardown. */
#define RUN_T(name)                                                           \
	do {                                                                  \
		RUN(name);                                                    \
		harness_teardown();                                           \
	} while (0)

#endif
