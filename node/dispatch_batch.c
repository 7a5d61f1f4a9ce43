/* Forwarding many requests to the leader in one exchange (POST
 * /v1/internal/forward, node/fwd_wire.h): what a follower's loop read in one
 * turn goes together, up to DISPATCH_BATCH_IN_FLIGHT batches at once. The
 * leader runs each as if it had come alone; a failed exchange sends each
 * request back to dispatch, as a failed single forward does. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/error.h"
#include "lib/log.h"
#include "node/api.h"
#include "node/fwd_wire.h"

#define JSON_HEAD "Content-Type: application/json\r\n"

/* One exchange with the leader. */
struct fwd_batch {
	struct dispatch_queue *q;
	struct http_client_req creq;
	struct op *ops;   /* in the order of the body */
};

/* Only the hot requests of agents and helpdesk go together: each is small,
 * and answered as soon as its Raft entry is applied. */
static bool batchable(const struct op *op)
{
	return !op->patient && (op->route == ROUTE_ESCROW || op->route == ROUTE_LOOKUP ||
				op->route == ROUTE_COMPLIANCE);
}

/* Writes the header lines of op's forwarded copy into op->fwd_head, once:
 * batch_body sends them as they are; the item's encoded size. A request
 * with a body type has a JSON one (api_json_body): also an empty body,
 * which the leader then refuses as the body it is, not as one of no type. */
static size_t op_head(struct op *op)
{
	size_t n;

	dispatch_forward_headers(op, op->fwd_head, sizeof op->fwd_head);
	n = strlen(op->fwd_head);
	if ((op->req->body_len > 0 || http_request_header(op->req, "Content-Type") != NULL) &&
	    n + strlen(JSON_HEAD) < sizeof op->fwd_head) {
		memcpy(op->fwd_head + n, JSON_HEAD, strlen(JSON_HEAD) + 1);
		n += strlen(JSON_HEAD);
	}
	op->fwd_head_len = n;
	return fwd_wire_size(strlen(op->req->target), n, op->req->body_len);
}

/* Every op of the list back to dispatch (it retries or gives up). */
static void ops_again(struct op *list)
{
	struct op *next;

	for (; list != NULL; list = next) {
		next = list->next;
		list->next = NULL;
		dispatch_again(list);
	}
}

static void batch_send(struct dispatch_queue *q);

/* The value of header name in the lines head[0..len), copied into buf. */
static const char *head_value(const char *head, size_t len, const char *name, char *buf,
			      size_t size)
{
	size_t nlen = strlen(name), off = 0;

	while (off < len) {
		const char *line = head + off, *end = memchr(line, '\n', len - off);
		size_t llen = end != NULL ? (size_t)(end - line) : len - off, v;

		off += llen + 1;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
			continue;
		for (v = nlen + 1; v < llen && line[v] == ' '; v++)
			;
		if (llen - v >= size || memchr(line + v, '\0', llen - v) != NULL)
			return NULL;
		memcpy(buf, line + v, llen - v);
		buf[llen - v] = '\0';
		return buf;
	}
	return NULL;
}

/* Answers op with the leader's answer it, or sends it back to dispatch. */
static void op_answer(struct op *op, const struct fwd_item *it)
{
	char type[128], retry[32], next[320], headers[512];
	long status;
	char *end;

	status = strtol(it->word, &end, 10);
	if (*end != '\0' || status < 100 || status > 599 || it->len[0] >= sizeof type) {
		op->next = NULL;
		ops_again(op);
		return;
	}
	/* The leader moved or stepped down: find the new one. */
	if (status == 503) {
		dispatch_again(op);
		return;
	}
	memcpy(type, it->part[0], it->len[0]);
	type[it->len[0]] = '\0';
	dispatch_answer_headers(headers, sizeof headers,
				head_value(it->part[1], it->len[1], "Retry-After", retry, sizeof retry),
				head_value(it->part[1], it->len[1], "X-Escrow-Next", next, sizeof next));
	op_respond(op, (int)status, headers, it->len[0] > 0 ? type : NULL, it->part[2], it->len[2]);
}

static void batch_cb(struct http_client_req *creq, int status, const struct http_response *resp)
{
	struct fwd_batch *b = creq->data;
	struct dispatch_queue *q = b->q;
	struct op *list = b->ops, *op;
	const struct api_ctx *ctx = list->ctx;
	uint64_t now = uv_hrtime();
	struct fwd_item it;
	size_t pos = 0;

	q->batches_out--;
	for (op = list; op != NULL; op = op->next)
		histogram_observe_ns(&ctx->metrics->forward, now - op->forward_started);
	if (status == ESC_OK && resp->status != 200 && resp->status != 503) {
		/* A leader of an older version (404), or one that refuses the
		 * batch: forward one by one for a while. */
		log_warn("the leader answered a forwarded batch with %d: forwarding requests "
			 "one by one for %d s", resp->status, DISPATCH_BATCH_REFUSED_MS / 1000);
		q->batch_refused_until = uv_now(ctx->loop) + DISPATCH_BATCH_REFUSED_MS;
	}
	if (status != ESC_OK || resp->status != 200 || *ctx->stopping) {
		if (status != ESC_OK)
			log_debug("forward of a batch failed: %s", esc_err_str(status));
		ops_again(list);
		list = NULL;
	}
	while (list != NULL) {
		op = list;
		list = op->next;
		op->next = NULL;
		if (fwd_wire_next(resp->body, resp->body_len, &pos, &it) != ESC_OK) {
			log_warn("the leader's answer to a forwarded batch is malformed");
			op->next = list;
			ops_again(op);
			break;
		}
		op_answer(op, &it);
	}
	free(b);
	if (q->batch_n > 0 && q->batches_out < DISPATCH_BATCH_IN_FLIGHT)
		batch_send(q);
}

/* The body of the batch, sized once (escrows hold passwords: no copy left
 * behind by a growing buffer). */
static int batch_body(struct dispatch_queue *q, struct http_parse_buf *out)
{
	int rv = http_parse_buf_reserve(out, q->batch_bytes);

	for (struct op *op = q->batch; op != NULL && rv == ESC_OK; op = op->next)
		rv = fwd_wire_put(out, q->batch_bytes, op->req->method, op->req->target,
				  strlen(op->req->target), op->fwd_head, op->fwd_head_len,
				  op->req->body, op->req->body_len);
	return rv;
}

static void batch_send(struct dispatch_queue *q)
{
	struct op *list = q->batch, *op;
	const struct api_ctx *ctx = list->ctx;
	struct http_parse_buf body = {0};
	struct fwd_batch *b = calloc(1, sizeof *b);
	uint64_t now = uv_now(ctx->loop), timeout = DISPATCH_FORWARD_ATTEMPT_MS;
	int rv = b != NULL ? batch_body(q, &body) : ESC_ENOMEM;

	q->batch = NULL;
	q->batch_tail = &q->batch;
	q->batch_n = 0;
	q->batch_bytes = 0;
	if (rv == ESC_OK) {
		b->q = q;
		b->ops = list;
		b->creq.data = b;
		for (op = list; op != NULL; op = op->next) {
			op->forward_started = uv_hrtime();
			ctx->metrics->forwarded++;
			/* A leader that stopped answering gets a slice of
			 * each request's time, as a single forward does. */
			if (op->deadline > now && op->deadline - now < timeout)
				timeout = op->deadline - now;
		}
		ctx->metrics->forward_batches++;
		rv = http_client_send(ctx->client, &b->creq, q->batch_api, "POST", FWD_PATH, NULL,
				      body.p, body.len, timeout, batch_cb);
	}
	if (body.p != NULL)
		OPENSSL_clear_free(body.p, body.cap);
	if (rv != ESC_OK) {
		free(b);
		ops_again(list);
		return;
	}
	q->batches_out++;
}

static void check_cb(uv_check_t *h)
{
	struct dispatch_queue *q = h->data;

	if (q->batch_n == 0)
		uv_check_stop(h);
	else if (q->batches_out < DISPATCH_BATCH_IN_FLIGHT)
		batch_send(q);
}

bool dispatch_batch_add(struct op *op, const char *api)
{
	const struct api_ctx *ctx = op->ctx;
	struct dispatch_queue *q = ctx->queue;
	size_t size;

	if (!batchable(op) || uv_now(ctx->loop) < q->batch_refused_until)
		return false;
	size = op_head(op);
	if (size > DISPATCH_BATCH_BYTES)
		return false;
	if (q->batch_n > 0 &&
	    (strcmp(q->batch_api, api) != 0 ||
	     q->batch_n == FWD_ITEMS_MAX || q->batch_bytes + size > DISPATCH_BATCH_BYTES))
		batch_send(q); /* full, or for another leader: goes now */
	if (q->batch_n == 0)
		snprintf(q->batch_api, sizeof q->batch_api, "%s", api);
	op->next = NULL;
	*q->batch_tail = op;
	q->batch_tail = &op->next;
	q->batch_n++;
	q->batch_bytes += size;
	uv_check_start(&q->batch_check, check_cb);
	return true;
}

void dispatch_batch_close(struct dispatch_queue *q)
{
	struct op *list = q->batch;

	q->batch = NULL;
	q->batch_tail = &q->batch;
	q->batch_n = 0;
	q->batch_bytes = 0;
	uv_check_stop(&q->batch_check);
	ops_again(list); /* stopping: each gets its 503 */
}
