/* Getting a request to the leader: run it here, forward it, or wait for an election. */
#include "node/dispatch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/error.h"
#include "lib/text.h"

/* Strict unsigned decimal; false for anything else. */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

void dispatch_queue_init(struct dispatch_queue *q, uv_loop_t *loop)
{
	memset(q, 0, sizeof *q);
	uv_timer_init(loop, &q->retry_timer);
	q->retry_timer.data = q;
	q->batch_tail = &q->batch;
	uv_check_init(loop, &q->batch_check);
	q->batch_check.data = q;
}

/* Ops freed, kept for the next requests: an op is 5 KiB, and glibc serves
 * an allocation that large by first merging every small free chunk
 * (malloc_consolidate), which made malloc a sixth of a busy node's CPU. Only
 * the loop thread makes and frees ops. */
static struct op *op_spare;
static unsigned op_spares;

static struct op *op_alloc(void)
{
	struct op *op = op_spare;

	if (op == NULL)
		return calloc(1, sizeof *op);
	op_spare = op->next;
	op_spares--;
	memset(op, 0, sizeof *op);
	return op;
}

static void op_free(struct op *op)
{
	if (op_spares >= DISPATCH_OP_SPARES) {
		free(op);
		return;
	}
	op->next = op_spare;
	op_spare = op;
	op_spares++;
}

struct op *op_create(const struct api_ctx *ctx, struct http_request *req, op_run_fn run,
		     int route)
{
	struct op *op = op_alloc();
	uint64_t node, at;

	if (op == NULL)
		return NULL;
	op->ctx = ctx;
	op->req = req;
	op->run = run;
	op->route = route;
	op->started = uv_hrtime();
	op->deadline = req->received_ms + DISPATCH_DEADLINE_MS;
	op->origin_node = ctx->node_id;
	op->origin_ms = ctx->clock_ms();
	auth_identify(req, &op->id);
	/* A peer forwarding a request keeps the origin's node id and clock in
	 * the command, and the client's identity. Only a node's certificate
	 * naming that node vouches for them; in insecure mode anyone does. */
	if (parse_u64(http_request_header(req, DISPATCH_HDR_FORWARDED), &node) &&
	    node > 0 && node <= 65535 && (op->id.insecure || op->id.peer_id == node)) {
		auth_take_forwarded(req, &op->id);
		op->forwarded_in = true;
		op->origin_node = (unsigned)node;
		op->deadline = req->received_ms + DISPATCH_FORWARDED_WAIT_MS;
		if (parse_u64(http_request_header(req, DISPATCH_HDR_TIME), &at) && at < INT64_MAX)
			op->origin_ms = (int64_t)at;
	}
	return op;
}

/* Counts op's answer in the metrics and releases the handler's state. */
static void count(struct op *op, int status)
{
	struct api_metrics *m = op->ctx->metrics;
	uint64_t elapsed = uv_hrtime() - op->started;

	m->requests[op->route]++;
	m->seconds[op->route] += (double)elapsed / 1e9;
	histogram_observe_ns(&m->duration[op->route], elapsed);
	if (status >= 100 && status < API_STATUS_MAX)
		m->responses[status]++;
	if (status >= 500)
		m->errors_5xx++;
	if (op->data != NULL && op->data_free != NULL)
		op->data_free(op->data);
	op->data = NULL;
}

void op_respond(struct op *op, int status, const char *headers, const char *content_type,
		const char *body, size_t len)
{
	count(op, status);
	http_respond(op->req, status, headers, content_type, body, len);
	op_free(op);
}

void op_stream_end(struct op *op, int status)
{
	count(op, status);
	http_stream_end(op->req);
	op_free(op);
}

void op_respond_error(struct op *op, int status, const char *code, const char *message)
{
	count(op, status);
	http_respond_error(op->req, status, status == 503 ? "Retry-After: 1\r\n" : NULL, code,
			   message);
	op_free(op);
}

static void retry_cb(uv_timer_t *t);

static void wait_for_leader(struct op *op)
{
	struct dispatch_queue *q = op->ctx->queue;

	op->next = q->waiting;
	q->waiting = op;
	if (!uv_is_active((uv_handle_t *)&q->retry_timer))
		uv_timer_start(&q->retry_timer, retry_cb, DISPATCH_RETRY_MS, DISPATCH_RETRY_MS);
}

bool dispatch_no_quorum(const struct api_ctx *ctx)
{
	return replica_leaderless_ms(ctx->replica) >= ctx->break_glass_after_ms;
}

static void give_up(struct op *op)
{
	if (*op->ctx->stopping)
		op_respond_error(op, 503, "shutting_down", "this node is shutting down");
	else if (op->forwarded_in)
		op_respond_error(op, 503, "not_leader", "this node is not the leader");
	else if (dispatch_no_quorum(op->ctx))
		op_respond_error(op, 503, "no_quorum",
				 "this node has had no leader for a while: a majority of the "
				 "cluster is down or cut off; helpdesk staff may add "
				 "break_glass=1 to a key lookup to be served from this node's "
				 "own copy (audited)");
	else
		op_respond_error(op, 503, "no_leader",
				 "no leader could be reached in time; retry shortly");
}

/* Copies the response of the leader back to the client. */
static void forward_cb(struct http_client_req *creq, int status, const struct http_response *resp)
{
	struct op *op = creq->data;
	char headers[512];
	const char *type, *retry, *next;

	histogram_observe_ns(&op->ctx->metrics->forward, uv_hrtime() - op->forward_started);
	if (*op->ctx->stopping) {
		give_up(op);
		return;
	}
	/* The leader moved or stepped down: find the new one. A connection
	 * error may also mean the leader died; only a response is final. */
	if (status != ESC_OK || resp->status == 503) {
		if (status != ESC_OK)
			log_debug("forward to leader failed: %s", esc_err_str(status));
		dispatch_again(op);
		return;
	}
	type = http_response_header(resp, "Content-Type");
	retry = http_response_header(resp, "Retry-After");
	next = http_response_header(resp, "X-Escrow-Next");
	dispatch_answer_headers(headers, sizeof headers, retry, next);
	op_respond(op, resp->status, headers, type, resp->body, resp->body_len);
}

void dispatch_answer_headers(char *buf, size_t size, const char *retry, const char *next)
{
	size_t n = 0;

	buf[0] = '\0';
	if (retry != NULL)
		n = (size_t)snprintf(buf, size, "Retry-After: %.16s\r\n", retry);
	/* A page of a CSV report names the next one here (a machine name). */
	if (next != NULL && n < size)
		snprintf(buf + n, size - n, "X-Escrow-Next: %.300s\r\n", next);
}

static void forward(struct op *op, unsigned leader)
{
	const struct api_ctx *ctx = op->ctx;
	char api[API_ADDR_MAX], headers[512];
	uint64_t now = uv_now(ctx->loop), timeout;
	int rv;

	if (!api_ctx_member_api(ctx, leader, api, sizeof api)) {
		wait_for_leader(op);
		return;
	}
	if (dispatch_batch_add(op, api))
		return;
	dispatch_forward_headers(op, headers, sizeof headers);
	op->creq.data = op;
	ctx->metrics->forwarded++;
	/* A leader that stopped answering (paused, cut off) must not hold the
	 * request for its whole deadline: each attempt gets a slice. */
	timeout = op->deadline - now;
	if (!op->patient && timeout > DISPATCH_FORWARD_ATTEMPT_MS)
		timeout = DISPATCH_FORWARD_ATTEMPT_MS;
	op->forward_started = uv_hrtime();
	rv = http_client_send(ctx->client, &op->creq, api, op->req->method, op->req->target,
			      headers, op->req->body, op->req->body_len, timeout, forward_cb);
	if (rv != ESC_OK)
		wait_for_leader(op);
}

void dispatch_forward_headers(const struct op *op, char *buf, size_t size)
{
	struct text t;

	text_init(&t, buf, size);
	text_str(&t, DISPATCH_HDR_FORWARDED ": ");
	text_uint(&t, op->origin_node);
	text_str(&t, "\r\n" DISPATCH_HDR_TIME ": ");
	text_int(&t, op->origin_ms);
	text_str(&t, "\r\n");
	if (!op->id.insecure) {
		text_str(&t, AUTH_HDR_ACTOR ": ");
		text_str(&t, op->id.actor);
		text_str(&t, "\r\n" AUTH_HDR_ROLE ": ");
		text_str(&t, op->id.role);
		text_str(&t, "\r\n");
	}
}

/* True when op's request goes to the leader now: this node is not the
 * ready leader, a leader is known, with its API address, and op did not
 * come from a peer. The one definition of it: dispatch forwards exactly
 * then, and calls op->prepare only otherwise. */
static bool forwards_now(const struct op *op, unsigned leader)
{
	const struct api_ctx *ctx = op->ctx;
	char api[API_ADDR_MAX];

	if (*ctx->stopping || op->forwarded_in || replica_ready(ctx->replica) ||
	    uv_now(ctx->loop) >= op->deadline ||
	    (op->leaderless_run != NULL && dispatch_no_quorum(ctx)))
		return false;
	return leader != 0 && leader != ctx->node_id &&
	       api_ctx_member_api(ctx, leader, api, sizeof api);
}

void dispatch(struct op *op)
{
	const struct api_ctx *ctx = op->ctx;
	unsigned leader;

	if (*ctx->stopping) {
		give_up(op);
		return;
	}
	leader = replica_leader(ctx->replica);
	if (forwards_now(op, leader)) {
		forward(op, leader);
		return;
	}
	if (op->prepare != NULL) {
		bool (*prepare)(struct op *) = op->prepare;

		op->prepare = NULL;
		if (!prepare(op))
			return;
	}
	if (replica_ready(ctx->replica)) {
		op->run(op);
		return;
	}
	if (op->leaderless_run != NULL && !op->forwarded_in && dispatch_no_quorum(ctx)) {
		op->leaderless_run(op);
		return;
	}
	if (uv_now(ctx->loop) >= op->deadline) {
		give_up(op);
		return;
	}
	wait_for_leader(op);
}

void dispatch_again(struct op *op)
{
	if (*op->ctx->stopping || uv_now(op->ctx->loop) >= op->deadline) {
		give_up(op);
		return;
	}
	wait_for_leader(op);
}

/* Re-dispatches every waiting op; the timer stops when none is left. */
static void retry_cb(uv_timer_t *t)
{
	struct dispatch_queue *q = t->data;
	struct op *list = q->waiting, *next;

	q->waiting = NULL;
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = NULL;
		dispatch(list);
	}
	if (q->waiting == NULL)
		uv_timer_stop(&q->retry_timer);
}

void dispatch_flush(struct dispatch_queue *q)
{
	if (q->waiting != NULL)
		retry_cb(&q->retry_timer);
}

void dispatch_close(struct dispatch_queue *q)
{
	struct op *list, *next;

	dispatch_batch_close(q); /* before: what it sends back waits here */
	list = q->waiting;
	q->waiting = NULL;
	for (; list != NULL; list = next) {
		next = list->next;
		give_up(list);
	}
	uv_timer_stop(&q->retry_timer);
}
