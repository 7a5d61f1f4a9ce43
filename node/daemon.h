/* The escrowd process: owns the loop and every service, starts and stops them. */
#ifndef ESCROW_DAEMON_H
#define ESCROW_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/datadir.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "node/api_ctx.h"
#include "node/breakglass.h"
#include "node/dispatch.h"
#include "node/looplag.h"
#include "node/metrics_listener.h"
#include "node/rejudge.h"
#include "node/options.h"
#include "node/origin.h"
#include "raft/replica.h"
#include "raft/stallwatch.h"
#include "store/seal.h"
#include "store/store.h"

#define DAEMON_TICK_MS 50          /* loop-lag probe period */
#define DAEMON_LAG_WARN_MS 100     /* a later tick is logged */

struct daemon {
	uv_loop_t loop;
	const struct options *opts;    /* borrowed from main */
	struct datadir dir;
	struct seal_key seal;
	struct seal_mac_ctx *seal_mac;  /* the password MAC, keyed once (may be NULL) */
	struct store *store;
	struct replica replica;
	struct http_server http;
	struct http_client client;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	uv_signal_t sighup;            /* reloads the certificates */
	struct tls_ctx *tls_server;    /* NULL with --insecure (daemon_tls.h) */
	struct tls_ctx *tls_client;
	uv_timer_t tick;               /* measures how late the loop runs */
	struct looplag lag;
	struct stallwatch stall;       /* log writes and applies must progress */
	uint64_t disk_checked_ns;      /* last free-space check (diskwatch.h) */
	struct dispatch_queue queue;   /* requests waiting for a leader */
	struct rejudge rejudge;        /* proposes a new policy's re-judge */
	struct api_ctx api;            /* what requests see of the daemon */
	char common_headers[128 + ORIGIN_HEADERS_MAX];
	size_t common_node_len;        /* its node and leader lines, 0 before the first */
	unsigned common_leader;        /* the leader they name (0: none) */
	char restored[1024];           /* members text of a seeded node ("" if none) */
	struct api_metrics metrics;
	struct readstamp stamps;
	struct metrics_listener metrics_listener; /* --metrics-addr */
	struct breakglass breakglass;  /* the journal of break-glass lookups */
	bool dir_open;
	bool replica_inited;
	bool http_started;
	bool stopping;
	int exit_code;
};

/* Runs the node described by o until SIGTERM/SIGINT or a fatal error.
 * Returns the process exit code; every startup failure is logged as one
 * line first. */
int daemon_run(const struct options *o);

/* This node's wall clock in ms since the epoch (UTC): the time that goes
 * into the commands it takes. */
int64_t daemon_clock_ms(void);

/* Starts an orderly stop: drain HTTP, close Raft, close the loop. */
void daemon_stop(struct daemon *d, int exit_code);

#endif
