/* The plain-HTTP listener of --metrics-addr: GET /metrics and GET /v1/health only. */
#include "node/metrics_listener.h"

#include <stdio.h>
#include <string.h>

#include "lib/error.h"
#include "node/api.h"

static void metrics_handle(struct http_request *req)
{
	const struct api_ctx *ctx = req->server->data;
	struct op *op = op_create(ctx, req, NULL, ROUTE_OTHER);
	void (*fn)(struct op *);

	if (op == NULL) {
		http_respond_error(req, 500, NULL, "out_of_memory", "the node ran out of memory");
		return;
	}
	/* Plain HTTP would count as --insecure's every role: hold none, so
	 * that nothing here can act for anyone. */
	memset(&op->id, 0, sizeof op->id);
	snprintf(op->id.actor, sizeof op->id.actor, "anonymous");
	if (strcmp(req->path, "/metrics") == 0) {
		op->route = ROUTE_METRICS;
		fn = api_metrics;
	} else if (strcmp(req->path, "/v1/health") == 0) {
		op->route = ROUTE_HEALTH;
		fn = api_health;
	} else {
		op_respond_error(op, 404, "not_found",
				 "the metrics listener serves only GET /metrics and GET "
				 "/v1/health");
		return;
	}
	if (strcmp(req->method, "GET") != 0) {
		op_respond_error(op, 405, "method_not_allowed", "use GET here");
		return;
	}
	fn(op);
}

static const char *common_headers_cb(struct http_server *s, const struct http_request *req)
{
	return ((struct metrics_listener *)(void *)s)->headers;
}

int metrics_listener_start(struct metrics_listener *m, uv_loop_t *loop, const struct api_ctx *ctx,
			   const char *addr, char *errmsg)
{
	int rv;

	memset(m, 0, sizeof *m);
	m->http.data = (void *)ctx;
	m->http.handler = metrics_handle;
	m->http.common_headers = common_headers_cb;
	snprintf(m->headers, sizeof m->headers, "X-Escrow-Node: %u\r\n", ctx->node_id);
	rv = http_server_start(&m->http, loop, addr, errmsg);
	if (rv == ESC_EADDRINUSE)
		return esc_errorf(errmsg, rv,
				  "metrics address %s is already in use (--metrics-addr)", addr);
	if (rv != ESC_OK) {
		/* The server's message says "api address ADDR: why": keep the why. */
		char why[ESC_ERRMSG_SIZE];
		const char *p = errmsg, *next;

		while ((next = strstr(p, ": ")) != NULL)
			p = next + 2;
		snprintf(why, sizeof why, "%s", p);
		return esc_errorf(errmsg, rv, "metrics address %s (--metrics-addr): %s", addr,
				  why);
	}
	m->started = true;
	return ESC_OK;
}

void metrics_listener_stop(struct metrics_listener *m)
{
	if (!m->started || m->http.stopping)
		return;
	http_server_stop(&m->http, NULL);
}
