/* --join: asks a running cluster to add this node, until it has. */
#include "node/join.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/error.h"

static struct {
	const struct api_ctx *ctx;
	char addr[NETADDR_TEXT_MAX]; /* "HOST:PORT" of the node asked */
	char body[3 * NETADDR_TEXT_MAX];
	char raft_addr[NETADDR_TEXT_MAX]; /* this node's --raft-addr */
	uv_timer_t timer;
	bool timer_open;
	struct http_client_req req;
	bool in_flight;
	unsigned attempts;
} join;

static void attempt(uv_timer_t *t);

static void retry_later(void)
{
	if (!*join.ctx->stopping)
		uv_timer_start(&join.timer, attempt, JOIN_RETRY_MS, 0);
}

static void response_cb(struct http_client_req *req, int status, const struct http_response *resp)
{
	json_t *j = NULL;
	const char *code = "";

	join.in_flight = false;
	if (*join.ctx->stopping)
		return;
	if (status != ESC_OK) {
		log_warn("join: %s did not answer (%s); retrying", join.addr, esc_err_str(status));
		retry_later();
		return;
	}
	if (resp->status == 200 || resp->status == 201) {
		log_info("join: added to the cluster as a voter (asked %s, %u attempts)", join.addr,
			 join.attempts);
		return;
	}
	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	json_unpack(j, "{s:{s:s}}", "error", "code", &code);
	/* The leader gave up promoting this node. Retried once something got
	 * here (a large snapshot took longer than its --catch-up-timeout);
	 * with nothing received, the others cannot reach this node. */
	if (resp->status == 503 && strcmp(code, "catch_up_timeout") == 0 &&
	    replica_last_index(join.ctx->replica) == 0) {
		log_error("join: %s gave up adding this node: nothing reached its Raft address %s "
			  "within the leader's --catch-up-timeout; can the other nodes connect to it, "
			  "and does its certificate name it?", join.addr, join.raft_addr);
		json_decref(j);
		join.ctx->stop(join.ctx, 1);
		return;
	}
	if (resp->status == 503 || (resp->status == 409 && (strcmp(code, "change_in_progress") == 0 ||
							    strcmp(code, "snapshot_pending") == 0))) {
		log_warn("join: %s answered %d %s; retrying", join.addr, resp->status, code);
		json_decref(j);
		retry_later();
		return;
	}
	log_error("join: %s refused to add this node: %d %s", join.addr, resp->status, code);
	json_decref(j);
	join.ctx->stop(join.ctx, 1);
}

static void attempt(uv_timer_t *t)
{
	if (*join.ctx->stopping || join.in_flight)
		return;
	join.attempts++;
	join.req.data = NULL;
	if (http_client_send(join.ctx->client, &join.req, join.addr, "POST", "/v1/cluster/members",
			     NULL, join.body, strlen(join.body), JOIN_ATTEMPT_TIMEOUT_MS,
			     response_cb) != ESC_OK) {
		retry_later();
		return;
	}
	join.in_flight = true;
}

void join_start(const struct api_ctx *ctx, const struct options *o)
{
	struct netaddr a;

	join.ctx = ctx;
	if (!url_addr_parse(o->join, &a, NULL) ||
	    netaddr_format(&a, join.addr, sizeof join.addr) == 0) {
		log_error("--join %s: not an http(s)://HOST[:PORT] URL", o->join);
		ctx->stop(ctx, 1);
		return;
	}
	snprintf(join.body, sizeof join.body,
		 "{\"id\":%u,\"raft\":\"%s\",\"api\":\"%s\",\"role\":\"voter\"}", o->id,
		 o->raft_addr, o->api_addr);
	snprintf(join.raft_addr, sizeof join.raft_addr, "%s", o->raft_addr);
	uv_timer_init(ctx->loop, &join.timer);
	join.timer_open = true;
	log_info("join: asking %s to add node %u", join.addr, o->id);
	uv_timer_start(&join.timer, attempt, 0, 0);
}

void join_stop(void)
{
	if (join.timer_open) {
		join.timer_open = false;
		uv_close((uv_handle_t *)&join.timer, NULL);
	}
}
