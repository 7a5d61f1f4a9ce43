/* The plain-HTTP listener of --metrics-addr: GET /metrics and GET /v1/health only. */
#ifndef ESCROW_METRICS_LISTENER_H
#define ESCROW_METRICS_LISTENER_H

#include <stdbool.h>
#include <uv.h>

#include "http/http_server.h"
#include "node/api_ctx.h"

/* For Prometheus and load balancers, which hold no client certificate: the
 * answers are the API's own (api_metrics, api_health), nothing secret is
 * served, no identity is taken, nothing is audited, and no CORS headers are
 * sent (only X-Escrow-Node). Any other path is 404, any other method 405. */
struct metrics_listener {
	struct http_server http; /* first: its callbacks find the listener */
	bool started;
	char headers[32]; /* "X-Escrow-Node: N\r\n" on every answer */
};

/* Listens on addr ("ip:port") on loop, plain HTTP, answering with ctx
 * (borrowed: it must outlive the listener). Errors: ESC_EADDRINUSE
 * ("metrics address 127.0.0.1:9100 is already in use (--metrics-addr)"),
 * ESC_EINVAL, ESC_EIO; nothing is left to stop on error. */
int metrics_listener_start(struct metrics_listener *m, uv_loop_t *loop, const struct api_ctx *ctx,
			   const char *addr, char *errmsg);

/* Stops listening and closes the connections (http_server_stop); a no-op
 * when it was not started. The loop ends once its handles are closed. */
void metrics_listener_stop(struct metrics_listener *m);

#endif
