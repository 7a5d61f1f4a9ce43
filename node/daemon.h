/* The escrowd process: owns the loop and every service, starts and stops them. */
#ifndef ESCROW_DAEMON_H
#define ESCROW_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/datadir.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "node/looplag.h"
#include "node/options.h"
#include "raft/replica.h"
#include "raft/stallwatch.h"
#include "store/seal.h"
#include "store/store.h"

#define DAEMON_MEMBERS_MAX 64
#define DAEMON_ROUTES 11         /* routes counted in metrics, see api.c */

struct op;

/* Counters for GET /metrics. */
struct daemon_metrics {
	uint64_t requests[DAEMON_ROUTES];
	double seconds[DAEMON_ROUTES];
	uint64_t forwarded;
	uint64_t errors_5xx;
	uint64_t snapshots_served;  /* GET /v1/snapshot bodies sent whole */
	double snapshot_seconds;    /* their time from request to last byte */
};

#define DAEMON_TICK_MS 50          /* loop-lag probe period */
#define DAEMON_LAG_WARN_MS 100     /* a later tick is logged */

struct daemon {
	uv_loop_t loop;
	const struct options *opts;    /* borrowed from main */
	struct datadir dir;
	struct seal_key seal;
	struct store *store;
	struct replica replica;
	struct http_server http;
	struct http_client client;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	uv_signal_t sighup;            /* reloads the certificates */
	struct tls_ctx *tls_server;    /* NULL with --insecure (daemon_tls.h) */
	struct tls_ctx *tls_client;
	uv_timer_t retry_timer;        /* re-dispatches waiting requests */
	uv_timer_t tick;               /* measures how late the loop runs */
	struct looplag lag;
	struct stallwatch stall;       /* log writes and applies must progress */
	uint64_t disk_checked_ns;      /* last free-space check (diskwatch.h) */
	struct op *waiting;            /* requests waiting for a leader */
	char common_headers[128];
	char restored[1024];           /* members text of a seeded node ("" if none) */
	char digest[65];               /* state digest cache ... */
	uint64_t digest_index;         /* ... valid at this applied index */
	struct daemon_metrics metrics;
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

/* The members text ("ID=RAFT/API,..."): replicated, else from --bootstrap
 * or the restored marker; NULL when unknown. Borrowed. */
const char *daemon_members(struct daemon *d);

#define DAEMON_API_ADDR_MAX 64 /* "ip:port" of a member's API, with its NUL */

/* Writes the API address ("ip:port") of member id, from the replicated
 * members or the --bootstrap string, into out; false if unknown. */
bool daemon_member_api(struct daemon *d, unsigned id, char *out, size_t size);

/* This node's wall clock in ms since the epoch (UTC): the time that goes
 * into the commands it takes. */
int64_t daemon_clock_ms(void);

/* Starts an orderly stop: drain HTTP, close Raft, close the loop. */
void daemon_stop(struct daemon *d, int exit_code);

#endif
