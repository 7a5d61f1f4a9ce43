/* Getting a request to the leader: run it here, forward it, or wait for an election. */
#ifndef ESCROW_DISPATCH_H
#define ESCROW_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "node/api_ctx.h"
#include "node/auth.h"
#include "http/http_client.h"
#include "raft/replica.h"
#include "store/command.h"

#define DISPATCH_DEADLINE_MS 10000        /* a request waits out an election this long */
#define DISPATCH_FORWARDED_WAIT_MS 2000   /* a forwarded request waits this long here */
#define DISPATCH_RETRY_MS 20              /* waiting requests are retried this often */
#define DISPATCH_FORWARD_ATTEMPT_MS 3000  /* one forwarding attempt waits this long */
#define DISPATCH_CHANGE_DEADLINE_MS 120000 /* membership changes wait for a catch-up */

/* Headers of a request a node forwards to the leader. */
#define DISPATCH_HDR_FORWARDED "X-Escrow-Forwarded-By"  /* the origin node's id */
#define DISPATCH_HDR_TIME "X-Escrow-Origin-Time"        /* its clock, ms */

struct op;

/* Runs op on this node, the ready leader: must end with op_respond. */
typedef void (*op_run_fn)(struct op *op);

#define DISPATCH_FWD_HEAD_MAX 768 /* a forwarded request's header lines */

/* One API request on its way through dispatch. */
struct op {
	const struct api_ctx *ctx;    /* the node, as requests see it */
	struct http_request *req;     /* owned until op_respond */
	op_run_fn run;                /* what to do on the leader */
	op_run_fn leaderless_run;     /* when set: run instead of waiting once this
					 node has had no leader for
					 --break-glass-after (break-glass) */
	bool (*prepare)(struct op *op); /* when set: called once, before op
					   runs here or waits, not when it
					   is forwarded; false when it
					   answered op (a bad body) */
	uint64_t deadline;            /* uv_now ms; 503 past it */
	unsigned origin_node;         /* node that took the request */
	int64_t origin_ms;            /* its clock when it took it */
	bool forwarded_in;            /* came from a peer: never forward again */
	struct auth_identity id;      /* who asked (the original client when forwarded) */
	bool patient;                 /* slow by nature: one forwarding attempt
					 gets the whole deadline */
	struct cmd cmd;               /* the command, for ops that replicate one */
	struct replica_req rreq;
	struct http_client_req creq;
	struct op *next;              /* in the dispatch queue */
	void *data;                   /* the handler's own state ... */
	void (*data_free)(void *);    /* ... released with op when set */
	int route;                    /* metrics slot */
	uint64_t started;             /* uv_hrtime() at op_create */
	uint64_t forward_started;     /* uv_hrtime() when the last forwarding attempt began */
	char fwd_head[DISPATCH_FWD_HEAD_MAX]; /* header lines of a batched forward */
	size_t fwd_head_len;
};

#define DISPATCH_OP_SPARES 256           /* freed ops kept for reuse */
#define DISPATCH_BATCH_IN_FLIGHT 16      /* forwarded batches a follower has out at once */
#define DISPATCH_BATCH_BYTES (HTTP_BODY_MAX - 1024) /* a batch's body, under the
						     leader's limit */
#define DISPATCH_BATCH_REFUSED_MS 60000   /* a leader without the batch endpoint
					     (older version): forward alone this long */

/* Requests waiting for a leader, and the forwarded requests waiting to go to
 * it together (dispatch_batch.c). The daemon owns it and closes the timer and
 * the check handle in its chain of closes; only dispatch*.c touch it. */
struct dispatch_queue {
	struct op *waiting;
	uv_timer_t retry_timer;       /* re-dispatches them */
	struct op *batch;             /* to forward in one exchange, oldest first */
	struct op **batch_tail;
	size_t batch_n;
	size_t batch_bytes;           /* their encoded size */
	char batch_api[API_ADDR_MAX]; /* where they go: the leader's API address */
	unsigned batches_out;         /* exchanges waiting for the leader's answer */
	uint64_t batch_refused_until; /* uv_now ms: the leader had no batch endpoint */
	uv_check_t batch_check;       /* sends the batch once the loop has read what came */
};

/* Sets up q, empty, with its timer on loop. */
void dispatch_queue_init(struct dispatch_queue *q, uv_loop_t *loop);

/* Allocates an op for req (NULL when out of memory) with its deadline,
 * origin node and time, reading the forwarding headers of a peer. ctx is
 * borrowed for the op's life. */
struct op *op_create(const struct api_ctx *ctx, struct http_request *req, op_run_fn run,
		     int route);

/* Writes the header lines a forwarded copy of op's request carries: the
 * origin node and clock, and over TLS the client's actor and role. */
void dispatch_forward_headers(const struct op *op, char *buf, size_t size);

/* Takes op: runs it here if this node is the ready leader, forwards the
 * request to the leader, or waits for one until the deadline (503).
 * op->prepare, when set, is called first unless the request is forwarded:
 * always before op->run. */
void dispatch(struct op *op);

/* For a run function whose Raft request failed with an unknown outcome
 * (leadership lost): dispatch op again if time is left, else 503. */
void dispatch_again(struct op *op);

/* Answers op's request and frees op. */
void op_respond(struct op *op, int status, const char *headers, const char *content_type,
		const char *body, size_t len);

/* Ends op's streamed response (see http_stream_start) and frees op. */
void op_stream_end(struct op *op, int status);

/* Answers op's request with the JSON error shape and frees op. */
void op_respond_error(struct op *op, int status, const char *code, const char *message);

/* True when this node has had no leader for --break-glass-after: it
 * cannot reach a majority (or none is up). */
bool dispatch_no_quorum(const struct api_ctx *ctx);

/* Answers every waiting request (shutting down) and stops the retry timer. */
void dispatch_close(struct dispatch_queue *q);

/* Called when this node becomes a ready leader: runs the waiting ops now. */
void dispatch_flush(struct dispatch_queue *q);

/* For the forwarding paths (dispatch.c, dispatch_batch.c). */

/* The header lines a follower passes back from the leader's answer:
 * Retry-After and X-Escrow-Next (either may be NULL). */
void dispatch_answer_headers(char *buf, size_t size, const char *retry, const char *next);

/* Takes op, forwarded to the leader at api, into the next batch; false when it
 * must go alone (not a request batched, too large, a leader of an older
 * version). */
bool dispatch_batch_add(struct op *op, const char *api);

/* Answers the requests of the batch not sent yet (shutting down). */
void dispatch_batch_close(struct dispatch_queue *q);

#endif
