/* What the API handlers and dispatch may use of the node: filled once by the daemon. */
#ifndef ESCROW_API_CTX_H
#define ESCROW_API_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http_client.h"
#include "http/http_server.h"
#include "lib/histogram.h"
#include "lib/netaddr.h"
#include "node/looplag.h"
#include "node/readstamp.h"
#include "raft/replica.h"
#include "store/datadir.h"
#include "store/seal.h"
#include "store/store.h"

#define API_ROUTES 20       /* routes counted in metrics: enum api_route (api.h) */
#define API_MEMBERS_MAX 64  /* members in a members text */
#define API_ADDR_MAX NETADDR_TEXT_MAX /* "HOST:PORT" of a member's API, with its NUL */

#define API_STATUS_MAX 600  /* HTTP status codes counted: 100..599 */

/* Counters for GET /metrics (rendered by api_metrics.c). */
struct api_metrics {
	uint64_t requests[API_ROUTES];
	double seconds[API_ROUTES];
	struct histogram duration[API_ROUTES]; /* request to answer, per route */
	uint64_t responses[API_STATUS_MAX];    /* answers by status code */
	struct histogram forward;     /* one forwarding attempt: request to the leader's answer */
	uint64_t forwarded;
	uint64_t forward_batches;   /* exchanges that carried several forwarded requests */
	uint64_t errors_5xx;
	uint64_t snapshots_served;  /* GET /v1/snapshot bodies sent whole */
	double snapshot_seconds;    /* their time from request to last byte */
};

struct dispatch_queue;

/* The node as requests see it. Every pointer is borrowed from the daemon,
 * which outlives every request; the context itself does not change once
 * the HTTP server runs. */
struct api_ctx {
	uv_loop_t *loop;
	unsigned node_id;               /* --id */
	const char *bootstrap;          /* --bootstrap members text, or NULL */
	const char *restored;           /* a seeded node's members text, "" if none */
	struct store *store;
	struct replica *replica;
	const struct seal_key *seal;    /* seals and opens recovery passwords */
	struct seal_mac_ctx *seal_mac;  /* seal's password MAC, keyed once (may be NULL) */
	const struct datadir *dir;      /* db_path and path, for copies of the store */
	struct http_client *client;     /* requests to other nodes */
	struct api_metrics *metrics;
	const struct looplag *lag;      /* loop lag, for /metrics */
	const struct http_server *http; /* connections accepted, for /metrics */
	const bool *stopping;           /* true once the node stops */
	int64_t (*clock_ms)(void);      /* wall clock: ms since the epoch, UTC */
	void (*stop)(const struct api_ctx *ctx, int exit_code); /* the node's orderly stop */
	void *data;                     /* the daemon's, for stop */
	struct dispatch_queue *queue;   /* dispatch.c's: requests waiting for a leader */
	uint64_t break_glass_after_ms;  /* --break-glass-after: no leader this long is
					   a lost quorum (503 no_quorum, break-glass) */
	struct readstamp *stamps;       /* the times of the key reads taken here */
};

/* The members text ("ID=RAFT/API,..."): replicated, else from --bootstrap
 * or the restored marker; NULL when unknown. Borrowed. */
const char *api_ctx_members(const struct api_ctx *ctx);

/* The members text parsed (at most API_MEMBERS_MAX), *n of them; NULL when
 * the text is unknown or does not parse. Parsed again only when the text
 * changes; borrowed until the next call (from the loop's thread only). */
const struct bootstrap_member *api_ctx_member_list(const struct api_ctx *ctx, unsigned *n);

/* Writes the API address ("ip:port") of member id, from the members text,
 * into out; false if unknown. */
bool api_ctx_member_api(const struct api_ctx *ctx, unsigned id, char *out, size_t size);

#endif
