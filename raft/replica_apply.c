/* Commands on their way into the leader's log, many per raft_apply. */
#include "raft/replica_apply.h"

#include <stdlib.h>

#include "lib/error.h"
#include "raft/replica.h"

/* One raft_apply: libraft calls back once, for its first entry. */
struct batch {
	struct raft_apply apply;
	struct applyq *q;
	uint64_t first, end; /* its entries' indexes: [first, end) */
};

static int esc_status(int raft_status)
{
	return raft_status == RAFT_SHUTDOWN ? ESC_ESHUTDOWN : ESC_ENOLEADER;
}

/* Calls back every request of list (detached from any queue) with status,
 * freeing the buffers libraft has not taken. A callback may queue or fail
 * others: the list is no one's any more. */
static void fail_list(struct replica_req *list, int status)
{
	while (list != NULL) {
		struct replica_req *req = list;

		list = req->next;
		req->next = NULL;
		raft_free(req->buf.base);
		req->buf.base = NULL;
		req->apply_cb(req, status, NULL);
	}
}

/* Appends the chain first..last to the list *head, *tail. */
static void append(struct replica_req **head, struct replica_req **tail,
		   struct replica_req *first, struct replica_req *last)
{
	if (*tail != NULL)
		(*tail)->next = first;
	else
		*head = first;
	*tail = last;
}

static void flusher_cb(uv_prepare_t *h)
{
	applyq_flush(h->data);
}

void applyq_init(struct applyq *q, struct raft *raft)
{
	q->raft = raft;
	q->unsent = q->unsent_tail = NULL;
	q->applying = q->applying_tail = NULL;
	q->n_unsent = 0;
	q->batches = q->entries = q->batch_max = 0;
	q->flusher_active = false;
}

void applyq_start(struct applyq *q, uv_loop_t *loop)
{
	uv_prepare_init(loop, &q->flusher);
	q->flusher.data = q;
}

void applyq_push(struct applyq *q, struct replica_req *req)
{
	req->next = NULL;
	append(&q->unsent, &q->unsent_tail, req, req);
	q->n_unsent++;
	if (!q->flusher_active) {
		uv_prepare_start(&q->flusher, flusher_cb);
		q->flusher_active = true;
	}
}

/* Takes the requests whose entries are in [first, end) off the applying
 * list, in order. */
static struct replica_req *take_range(struct applyq *q, uint64_t first, uint64_t end)
{
	struct replica_req **at = &q->applying, *taken = NULL, **tail = &taken;

	q->applying_tail = NULL;
	while (*at != NULL) {
		struct replica_req *req = *at;

		if (req->index >= first && req->index < end) {
			*at = req->next;
			req->next = NULL;
			*tail = req;
			tail = &req->next;
		} else {
			q->applying_tail = req;
			at = &req->next;
		}
	}
	return taken;
}

static void batch_cb(struct raft_apply *apply, int status, void *result)
{
	struct batch *b = apply->data;

	(void)result; /* the first entry was answered by applyq_applied */
	if (status != 0)
		fail_list(take_range(b->q, b->first, b->end), esc_status(status));
	free(b);
}

/* Hands the first n requests of the unsent list to libraft in one batch. */
static void flush_one(struct applyq *q, unsigned n)
{
	struct raft_buffer bufs[APPLYQ_BATCH_MAX];
	struct replica_req *head = q->unsent, *req = head, *last = NULL;
	struct batch *b;
	int rv = RAFT_NOMEM;

	for (unsigned i = 0; i < n; i++, req = req->next) {
		bufs[i] = req->buf;
		last = req;
	}
	q->unsent = last->next;
	if (q->unsent == NULL)
		q->unsent_tail = NULL;
	last->next = NULL;
	q->n_unsent -= n;

	b = malloc(sizeof *b);
	if (b != NULL) {
		b->apply.data = b;
		rv = raft_apply(q->raft, &b->apply, bufs, n, batch_cb);
	}
	if (rv != 0) {
		/* libraft keeps none of the buffers when it fails. */
		free(b);
		fail_list(head, rv == RAFT_NOMEM ? ESC_ENOMEM : ESC_ENOLEADER);
		return;
	}
	b->q = q;
	b->first = b->apply.index;
	b->end = b->first + n;
	req = head;
	for (unsigned i = 0; i < n; i++, req = req->next) {
		req->index = b->first + i;
		req->term = q->raft->current_term;
		req->buf.base = NULL;
	}
	append(&q->applying, &q->applying_tail, head, last);
	q->batches++;
	q->entries += n;
	if (n > q->batch_max)
		q->batch_max = n;
}

void applyq_flush(struct applyq *q)
{
	if (q->flusher_active) {
		uv_prepare_stop(&q->flusher);
		q->flusher_active = false;
	}
	while (q->unsent != NULL)
		flush_one(q, q->n_unsent < APPLYQ_BATCH_MAX ? q->n_unsent : APPLYQ_BATCH_MAX);
}

void applyq_applied(struct applyq *q, uint64_t index, const struct store_result *result)
{
	struct replica_req *req = q->applying;

	if (req == NULL)
		return;
	/* Another leader's entries, or ours applied after we lost the term:
	 * which entry sits at an index is no longer known. */
	if (raft_state(q->raft) != RAFT_LEADER || q->raft->current_term != req->term ||
	    req->index < index) {
		applyq_fail(q, ESC_ENOLEADER);
		return;
	}
	if (req->index != index)
		return;
	q->applying = req->next;
	if (q->applying == NULL)
		q->applying_tail = NULL;
	req->next = NULL;
	histogram_observe_ns(&req->replica->commit_seconds, uv_hrtime() - req->submitted);
	req->apply_cb(req, ESC_OK, result);
}

void applyq_fail(struct applyq *q, int status)
{
	struct replica_req *unsent = q->unsent, *applying = q->applying;

	q->unsent = q->unsent_tail = NULL;
	q->n_unsent = 0;
	q->applying = q->applying_tail = NULL;
	fail_list(applying, status);
	fail_list(unsent, status);
}

void applyq_close(struct applyq *q, uv_close_cb cb, void *data)
{
	q->flusher.data = data;
	uv_close((uv_handle_t *)&q->flusher, cb);
}
