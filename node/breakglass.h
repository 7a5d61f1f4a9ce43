/* Break-glass: this node's journal of lookups served without a leader, kept
 * at start and replayed to the leader once there is one. */
#ifndef ESCROW_BREAKGLASS_H
#define ESCROW_BREAKGLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/http_client.h"
#include "node/api_ctx.h"

#define BREAKGLASS_RETRY_MS 1000    /* a journal is looked at this often */
#define BREAKGLASS_SEND_MS 5000     /* one replayed entry waits this long */

/* The replay of the journal: owned by the daemon. */
struct breakglass {
	const struct api_ctx *ctx;
	char path[DATADIR_PATH_MAX + 32]; /* DIR/break-glass.journal */
	uint64_t next_try;          /* uv_now ms of the next look */
	bool sending;               /* a request is out: creq is busy */
	struct http_client_req creq;
	char **records;             /* the journal's records, NUL-terminated */
	size_t n, next;             /* how many; the next to send */
	off_t good_len;             /* the bytes they take in the file */
};

/* Writes DIR/break-glass.journal into out. ESC_OK, or ESC_EINVAL when it
 * does not fit. */
int breakglass_journal_path(const struct api_ctx *ctx, char *out, size_t size);

/* At start, before the API serves: checks the journal. A torn last record
 * (an append cut by a crash before its fsync: its password was never sent)
 * is dropped with a warning; other damage moves the file aside
 * (break-glass.journal.damaged-STAMP) with an error logged, and the node
 * runs on. ESC_EIO only when the file could be neither read, cut nor moved
 * (the node must not serve break-glass lookups over it). */
int breakglass_init(struct breakglass *b, const struct api_ctx *ctx, char *errmsg);

/* From the daemon's tick: while a leader is known and the journal holds
 * entries, sends them one by one to the leader (POST
 * /v1/break-glass/replay), then removes them from the journal once every
 * one is committed and applied. A failure retries later from the first
 * entry (the leader ignores ids it applied). */
void breakglass_tick(struct breakglass *b);

/* How many records the journal holds (0 when none, or unreadable): the
 * lookups served without a leader that are not yet in the audit log. */
size_t breakglass_pending(const struct breakglass *b);

/* Frees what b holds; call after the HTTP client is closed. */
void breakglass_free(struct breakglass *b);

#endif
