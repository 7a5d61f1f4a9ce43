/* POST /v1/internal/forward on the leader: the requests a follower forwards
 * in one exchange. Each runs as if it had come alone (same routes, checks,
 * metrics); the answer holds all of theirs, in order, once the last is in. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "lib/text.h"
#include "node/api.h"
#include "node/fwd_wire.h"

#define ANSWER_MAX HTTP_CLIENT_RESPONSE_MAX

struct fwd_run;

/* The answer to one request of the batch. */
struct fwd_slot {
	struct fwd_run *run;
	char status[FWD_WORD_MAX];
	char *type, *head, *body; /* copies; body may hold a password */
	size_t type_len, head_len, body_len;
};

struct fwd_run {
	struct op *op;            /* the batch's own request */
	size_t n;
	size_t left;              /* slots not answered yet (+1 while starting them) */
	struct fwd_slot slot[];
};

static char *dup_bytes(const char *p, size_t len)
{
	char *out = malloc(len + 1);

	if (out != NULL) {
		if (len > 0)
			memcpy(out, p, len);
		out[len] = '\0';
	}
	return out;
}

static void run_free(struct fwd_run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		struct fwd_slot *s = &run->slot[i];

		free(s->type);
		free(s->head);
		if (s->body != NULL)
			OPENSSL_clear_free(s->body, s->body_len + 1);
	}
	free(run);
}

/* Every slot is answered: one body with all the answers. */
static void run_finish(struct fwd_run *run)
{
	struct http_parse_buf out = {0};
	size_t total = 0;
	int rv = ESC_OK;

	for (size_t i = 0; i < run->n; i++) {
		struct fwd_slot *s = &run->slot[i];

		total += fwd_wire_size(s->type_len, s->head_len, s->body_len);
	}
	/* Sized once: the answers hold passwords, so no copy may be left
	 * behind by a growing buffer. */
	if (total > ANSWER_MAX || http_parse_buf_reserve(&out, total) != 0)
		rv = ESC_ETOOBIG;
	for (size_t i = 0; i < run->n && rv == ESC_OK; i++) {
		struct fwd_slot *s = &run->slot[i];

		rv = fwd_wire_put(&out, ANSWER_MAX, s->status, s->type, s->type_len, s->head,
				  s->head_len, s->body, s->body_len);
	}
	if (rv == ESC_OK)
		op_respond(run->op, 200, NULL, FWD_CONTENT_TYPE, out.p, out.len);
	else
		op_respond_error(run->op, 500, "internal",
				 "the answers to the forwarded requests do not fit in one answer");
	if (out.p != NULL)
		OPENSSL_clear_free(out.p, out.cap);
	run_free(run);
}

static void slot_set(struct fwd_slot *s, int status, const char *headers, const char *type,
		     const char *body, size_t len)
{
	struct fwd_run *run = s->run;

	if (status < 100 || status > 999)
		status = 500; /* never: answers are HTTP statuses */
	s->status[text_u64(s->status, (uint64_t)status)] = '\0';
	s->type_len = type != NULL ? strlen(type) : 0;
	s->head_len = headers != NULL ? strlen(headers) : 0;
	s->body_len = len;
	s->type = dup_bytes(type, s->type_len);
	s->head = dup_bytes(headers, s->head_len);
	s->body = dup_bytes(body, len);
	if (s->type == NULL || s->head == NULL || s->body == NULL) {
		/* Out of memory: the follower sees a 500 for this one. */
		free(s->type);
		free(s->head);
		if (s->body != NULL)
			OPENSSL_clear_free(s->body, len + 1);
		snprintf(s->status, sizeof s->status, "500");
		s->type = s->head = s->body = NULL;
		s->type_len = s->head_len = s->body_len = 0;
	}
	if (--run->left == 0)
		run_finish(run);
}

static void slot_answered(struct http_request *req, int status, const char *headers,
			  const char *content_type, const char *body, size_t len)
{
	slot_set(req->respond_data, status, headers, content_type, body, len);
}

static void slot_refuse(struct fwd_slot *s, const char *message)
{
	char body[256];
	int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"bad_request\",\"message\":\"%s\"}}",
			 message);

	slot_set(s, 400, NULL, "application/json", body, (size_t)n);
}

/* Counts the items of the body; false when it is not a whole batch. */
static bool count_items(const struct http_request *req, size_t *n)
{
	struct fwd_item it;
	size_t pos = 0;

	*n = 0;
	while (pos < req->body_len) {
		if (fwd_wire_next(req->body, req->body_len, &pos, &it) != ESC_OK ||
		    ++*n > FWD_ITEMS_MAX)
			return false;
	}
	return *n > 0;
}

void api_forward(struct op *op)
{
	struct http_request *req = op->req, *sub;
	struct fwd_run *run;
	struct fwd_item it;
	size_t n, pos = 0;

	if (!count_items(req, &n)) {
		op_respond_error(op, 400, "bad_request",
				 "the body is not a batch of forwarded requests");
		return;
	}
	run = calloc(1, sizeof *run + n * sizeof run->slot[0]);
	if (run == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	run->op = op;
	run->n = n;
	run->left = n + 1;
	for (size_t i = 0; i < n; i++) {
		struct fwd_slot *s = &run->slot[i];
		int rv;

		s->run = run;
		fwd_wire_next(req->body, req->body_len, &pos, &it);
		rv = http_request_detached(req, it.word, it.part[0], it.len[0], it.part[1],
					   it.len[1], it.part[2], it.len[2], slot_answered, s, &sub);
		if (rv == ESC_ENOMEM) {
			snprintf(s->status, sizeof s->status, "500");
			run->left--;
		} else if (rv != ESC_OK) {
			slot_refuse(s, "malformed forwarded request");
		} else if (http_request_header(sub, DISPATCH_HDR_FORWARDED) == NULL) {
			/* Only what a node forwards comes this way. */
			http_respond_error(sub, 400, NULL, "bad_request",
					   "a forwarded request without " DISPATCH_HDR_FORWARDED);
		} else {
			api_handle(sub);
		}
	}
	if (--run->left == 0)
		run_finish(run);
}
