/* Break-glass: checking the journal at start and replaying it to a leader. */
#include "node/breakglass.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/log.h"
#include "node/dispatch.h"
#include "store/journal.h"

int breakglass_journal_path(const struct api_ctx *ctx, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", ctx->dir->path, JOURNAL_FILE);

	return n > 0 && (size_t)n < size ? ESC_OK : ESC_EINVAL;
}

int breakglass_init(struct breakglass *b, const struct api_ctx *ctx, char *errmsg)
{
	char stamp[32], moved[DATADIR_PATH_MAX + 64];
	time_t now = time(NULL);
	struct tm tm;
	bool torn;
	int rv;

	memset(b, 0, sizeof *b);
	b->ctx = ctx;
	if (breakglass_journal_path(ctx, b->path, sizeof b->path) != ESC_OK)
		return esc_errorf(errmsg, ESC_EINVAL, "data dir path too long for the journal");
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	rv = journal_recover(b->path, stamp, &torn, moved, sizeof moved, errmsg);
	if (rv == ESC_ECORRUPT) {
		log_error("break-glass journal damaged: %s; moved aside to %s, its entries are "
			  "NOT replayed: an operator must read them there",
			  errmsg, moved);
		return ESC_OK;
	}
	if (rv != ESC_OK)
		return rv;
	if (torn)
		log_warn("break-glass journal %s: a torn last record (an append cut by a crash "
			 "before its fsync, so its password was never sent) was dropped",
			 b->path);
	return ESC_OK;
}

static void records_free(struct breakglass *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->records[i]);
	free(b->records);
	b->records = NULL;
	b->n = 0;
	b->next = 0;
}

static int collect(void *arg, const uint8_t *data, size_t len)
{
	struct breakglass *b = arg;
	char **grown = realloc(b->records, (b->n + 1) * sizeof *grown);
	char *s;

	if (grown == NULL)
		return ESC_ENOMEM;
	b->records = grown;
	s = malloc(len + 1);
	if (s == NULL)
		return ESC_ENOMEM;
	memcpy(s, data, len);
	s[len] = '\0';
	b->records[b->n++] = s;
	return ESC_OK;
}

static void send_next(struct breakglass *b);

/* The leader refused the record itself (400: not an entry of this node, as
 * a record from another version could be): kept in DIR/JOURNAL_REFUSED for
 * an operator, so that the records after it are replayed. False when it
 * could not be kept (the replay is tried again later). */
static bool set_aside(struct breakglass *b, const struct http_response *resp)
{
	const char *rec = b->records[b->next];
	char path[DATADIR_PATH_MAX + 64], errmsg[ESC_ERRMSG_SIZE];
	int n = snprintf(path, sizeof path, "%s/%s", b->ctx->dir->path, JOURNAL_REFUSED);

	if (n <= 0 || (size_t)n >= sizeof path ||
	    journal_append(path, rec, strlen(rec), errmsg) != ESC_OK) {
		log_error("break-glass replay: the leader refused an entry and it could not be "
			  "set aside (%s); retrying", n > 0 && (size_t)n < sizeof path
							      ? errmsg : "path too long");
		return false;
	}
	log_error("break-glass replay: the leader refused an entry (%.*s); it is kept in %s "
		  "for an operator and NOT in the audit log: %.300s",
		  (int)(resp->body_len < 200 ? resp->body_len : 200), resp->body, path, rec);
	return true;
}

static void replay_cb(struct http_client_req *creq, int status, const struct http_response *resp)
{
	struct breakglass *b = creq->data;

	b->sending = false;
	if (status == ESC_OK && resp->status == 400 && set_aside(b, resp)) {
		b->next++;
		if (!*b->ctx->stopping)
			send_next(b);
		return;
	}
	if (status != ESC_OK || resp->status != 200) {
		if (status == ESC_OK)
			log_warn("break-glass replay: the leader answered %d: %.*s", resp->status,
				 (int)(resp->body_len < 300 ? resp->body_len : 300), resp->body);
		records_free(b);
		return;
	}
	b->next++;
	if (!*b->ctx->stopping)
		send_next(b);
}

static void send_next(struct breakglass *b)
{
	const struct api_ctx *ctx = b->ctx;
	char errmsg[ESC_ERRMSG_SIZE], api[API_ADDR_MAX], headers[512];
	unsigned leader = replica_leader(ctx->replica);

	if (b->next == b->n) {
		/* Every entry is committed and applied on the leader. */
		if (journal_consume(b->path, b->good_len, errmsg) != ESC_OK)
			log_error("break-glass journal: %s (its entries are replayed again, "
				  "which the leader ignores)", errmsg);
		else
			log_info("break-glass journal: %zu entries replayed through the leader "
				 "and removed", b->n);
		records_free(b);
		return;
	}
	if (leader == 0 || !api_ctx_member_api(ctx, leader, api, sizeof api)) {
		records_free(b);
		return;
	}
	/* The leader believes the origin node through this node's
	 * certificate, as for a forwarded request. */
	snprintf(headers, sizeof headers, "%s: %u\r\n%s: %" PRId64 "\r\n",
		 DISPATCH_HDR_FORWARDED, ctx->node_id, DISPATCH_HDR_TIME, ctx->clock_ms());
	b->creq.data = b;
	if (http_client_send(ctx->client, &b->creq, api, "POST", "/v1/break-glass/replay",
			     headers, b->records[b->next], strlen(b->records[b->next]),
			     BREAKGLASS_SEND_MS, replay_cb) != ESC_OK) {
		records_free(b);
		return;
	}
	b->sending = true;
}

void breakglass_tick(struct breakglass *b)
{
	const struct api_ctx *ctx = b->ctx;
	struct journal_scan scan;
	char errmsg[ESC_ERRMSG_SIZE];
	uint64_t now = uv_now(ctx->loop);
	int rv;

	if (b->sending || *ctx->stopping || now < b->next_try)
		return;
	b->next_try = now + BREAKGLASS_RETRY_MS;
	if (replica_leader(ctx->replica) == 0 || access(b->path, F_OK) != 0)
		return;
	records_free(b);
	rv = journal_read(b->path, collect, b, &scan, errmsg);
	if (rv != ESC_OK) {
		log_error("break-glass journal: %s; not replayed", errmsg);
		records_free(b);
		return;
	}
	b->good_len = scan.good_len;
	if (b->n > 0)
		log_info("break-glass journal: replaying %zu entries through the leader", b->n);
	send_next(b);
}

size_t breakglass_pending(const struct breakglass *b)
{
	struct journal_scan scan;
	char errmsg[ESC_ERRMSG_SIZE];

	return journal_read(b->path, NULL, NULL, &scan, errmsg) == ESC_OK ? scan.records : 0;
}

void breakglass_free(struct breakglass *b)
{
	records_free(b);
}
