/* The HTTP API: routes every request of docs/api.md section 3 to its handler. */
#include "node/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/error.h"
#include "lib/text.h"
#include "node/fwd_wire.h"
#include "node/origin.h"
#include "store/validate.h"

_Static_assert(ROUTE_FORWARD + 1 == API_ROUTES, "API_ROUTES counts enum api_route");

static const char *route_names[API_ROUTES] = {
	[ROUTE_OTHER] = "other",
	[ROUTE_ESCROW] = "escrow",
	[ROUTE_LOOKUP] = "lookup",
	[ROUTE_LOOKUP_PREFIX] = "lookup_prefix",
	[ROUTE_MACHINE_KEYS] = "machine_keys",
	[ROUTE_STATUS] = "status",
	[ROUTE_HEALTH] = "health",
	[ROUTE_METRICS] = "metrics",
	[ROUTE_CLUSTER] = "cluster",
	[ROUTE_SNAPSHOT] = "snapshot",
	[ROUTE_REPORTS] = "reports",
	[ROUTE_COMPLIANCE] = "compliance",
	[ROUTE_POLICY] = "policy",
	[ROUTE_EXEMPTION] = "exemption",
	[ROUTE_MACHINE] = "machine",
	[ROUTE_REPORT_COMPLIANCE] = "report_compliance",
	[ROUTE_MACHINES] = "machines",
	[ROUTE_UI] = "ui",
	[ROUTE_WHOAMI] = "whoami",
	[ROUTE_FORWARD] = "forward",
};

const char *api_route_name(int route)
{
	return route >= 0 && route < API_ROUTES ? route_names[route] : "other";
}

/* True when op's sender holds a role in need; else answers 403. */
static bool allowed(struct op *op, unsigned need)
{
	char msg[320];

	if (op->id.roles & need)
		return true;
	auth_refusal(&op->id, need, msg, sizeof msg);
	op_respond_error(op, 403, "forbidden", msg);
	return false;
}

bool api_json_body(struct op *op)
{
	const char *type = http_request_header(op->req, "Content-Type");
	size_t n = strlen("application/json");

	if (type != NULL && strncasecmp(type, "application/json", n) == 0 &&
	    (type[n] == '\0' || type[n] == ';' || type[n] == ' '))
		return true;
	op_respond_error(op, 415, "unsupported_media_type",
			 "the body must be JSON (Content-Type: application/json)");
	return false;
}

void api_bad_input(struct op *op, const struct verr *e)
{
	op_respond_error(op, 400, e->code, e->msg);
}

/* Splits "/v1/machines/NAME/keys" and friends: copies the segment after
 * prefix up to the next '/' (or the end) into out, returns the rest. */
static const char *segment(const char *path, const char *prefix, char *out, size_t size)
{
	size_t plen = strlen(prefix), n;
	const char *end;

	if (strncmp(path, prefix, plen) != 0)
		return NULL;
	path += plen;
	end = strchr(path, '/');
	n = end != NULL ? (size_t)(end - path) : strlen(path);
	if (n == 0 || n >= size)
		return NULL;
	memcpy(out, path, n);
	out[n] = '\0';
	return path + n;
}

/* A POST only another node of the cluster makes (its node certificate, or
 * --insecure): fn serves it; anyone else gets 403 naming what it does. */
static void node_post(struct op *op, bool post, void (*fn)(struct op *), const char *does)
{
	if (!post) {
		op_respond_error(op, 405, "method_not_allowed", "use POST here");
		return;
	}
	if (!op->id.peer && !op->id.insecure) {
		char msg[160];

		snprintf(msg, sizeof msg,
			 "this needs the node role: only a node of the cluster %s", does);
		op_respond_error(op, 403, "forbidden", msg);
		return;
	}
	fn(op);
}

static void route(struct op *op)
{
	struct http_request *req = op->req;
	const char *path = req->path, *rest;
	bool get = strcmp(req->method, "GET") == 0;
	bool post = strcmp(req->method, "POST") == 0;
	bool put = strcmp(req->method, "PUT") == 0;
	bool del = strcmp(req->method, "DELETE") == 0;
	char seg[512];

	if (strcmp(path, "/v1/keys") == 0) {
		if (post) {
			op->route = ROUTE_ESCROW;
			if (allowed(op, AUTH_AGENT))
				api_escrow(op);
		} else if (get) {
			op->route = ROUTE_LOOKUP_PREFIX;
			if (allowed(op, AUTH_HELPDESK))
				api_lookup_prefix(op);
		} else {
			op_respond_error(op, 405, "method_not_allowed", "use GET or POST on /v1/keys");
		}
		return;
	}
	if ((rest = segment(path, "/v1/keys/", seg, sizeof seg)) != NULL && *rest == '\0') {
		op->route = ROUTE_LOOKUP;
		if (!get)
			op_respond_error(op, 405, "method_not_allowed", "use GET on /v1/keys/{key_id}");
		else if (allowed(op, AUTH_HELPDESK))
			api_lookup(op, seg);
		return;
	}
	if (strcmp(path, "/v1/machines") == 0) {
		op->route = ROUTE_MACHINES;
		if (!get)
			op_respond_error(op, 405, "method_not_allowed", "use GET on /v1/machines");
		else if (allowed(op, AUTH_HELPDESK | AUTH_AUDITOR))
			api_machines(op);
		return;
	}
	if ((rest = segment(path, "/v1/machines/", seg, sizeof seg)) != NULL &&
	    strcmp(rest, "/keys") == 0) {
		op->route = ROUTE_MACHINE_KEYS;
		if (!get)
			op_respond_error(op, 405, "method_not_allowed",
					 "use GET on /v1/machines/{machine}/keys");
		else if (allowed(op, AUTH_HELPDESK))
			api_machine_keys(op, seg);
		return;
	}
	if ((rest = segment(path, "/v1/machines/", seg, sizeof seg)) != NULL &&
	    strcmp(rest, "/exemption") == 0) {
		op->route = ROUTE_EXEMPTION;
		if (!post && !del)
			op_respond_error(op, 405, "method_not_allowed",
					 "use POST or DELETE on /v1/machines/{machine}/exemption");
		else if (allowed(op, AUTH_OPERATOR))
			api_exemption(op, seg, del);
		return;
	}
	if ((rest = segment(path, "/v1/machines/", seg, sizeof seg)) != NULL && *rest == '\0') {
		op->route = ROUTE_MACHINE;
		if (!get)
			op_respond_error(op, 405, "method_not_allowed",
					 "use GET on /v1/machines/{machine}");
		else if (allowed(op, AUTH_HELPDESK | AUTH_AUDITOR))
			api_machine(op, seg);
		return;
	}
	if (strcmp(path, "/v1/compliance") == 0) {
		op->route = ROUTE_COMPLIANCE;
		if (!post)
			op_respond_error(op, 405, "method_not_allowed", "use POST on /v1/compliance");
		else if (allowed(op, AUTH_AGENT))
			api_compliance(op);
		return;
	}
	if (strcmp(path, "/v1/policy") == 0) {
		op->route = ROUTE_POLICY;
		if (get)
			api_policy_get(op); /* any client of the cluster's CA */
		else if (!put)
			op_respond_error(op, 405, "method_not_allowed", "use GET or PUT on /v1/policy");
		else if (allowed(op, AUTH_OPERATOR))
			api_policy_set(op);
		return;
	}
	if (strcmp(path, "/v1/reports/compliance") == 0) {
		op->route = ROUTE_REPORT_COMPLIANCE;
		if (!get)
			op_respond_error(op, 405, "method_not_allowed", "use GET here");
		else if (allowed(op, AUTH_AUDITOR))
			api_compliance_report(op);
		return;
	}
	if (strcmp(path, "/v1/cluster/members") == 0 || strcmp(path, "/v1/cluster/transfer") == 0) {
		op->route = ROUTE_CLUSTER;
		if (!post)
			op_respond_error(op, 405, "method_not_allowed", "use POST here");
		else if (strcmp(path, "/v1/cluster/members") == 0 && (op->id.roles & AUTH_NODE))
			api_members_add(op); /* a node joining: checked there */
		else if (!allowed(op, AUTH_OPERATOR))
			return;
		else if (strcmp(path, "/v1/cluster/members") == 0)
			api_members_add(op);
		else
			api_transfer(op);
		return;
	}
	if ((rest = segment(path, "/v1/cluster/members/", seg, sizeof seg)) != NULL &&
	    *rest == '\0') {
		op->route = ROUTE_CLUSTER;
		if (strcmp(req->method, "DELETE") != 0)
			op_respond_error(op, 405, "method_not_allowed",
					 "use DELETE on /v1/cluster/members/{id}");
		else if (allowed(op, AUTH_OPERATOR))
			api_members_remove(op, seg);
		return;
	}
	if (strcmp(path, "/v1/reports/audit") == 0) {
		op->route = ROUTE_REPORTS;
		if (!get)
			op_respond_error(op, 405, "method_not_allowed", "use GET here");
		else if (allowed(op, AUTH_AUDITOR))
			api_audit_report(op);
		return;
	}
	if (strcmp(path, "/v1/break-glass/replay") == 0) {
		/* Only the node that served the lookups replays them. */
		node_post(op, post, api_break_glass_replay, "replays its break-glass journal");
		return;
	}
	if (strcmp(path, FWD_PATH) == 0) {
		op->route = ROUTE_FORWARD;
		node_post(op, post, api_forward, "forwards requests to the leader");
		return;
	}
	if (strcmp(path, "/v1/snapshot/audit") == 0) {
		op->route = ROUTE_SNAPSHOT;
		/* Only a node asks for this, for the operator whose
		 * snapshot it serves. */
		node_post(op, post, api_snapshot_audit, "records a snapshot");
		return;
	}
	/* need 0: any client of the cluster's CA. */
	struct {
		const char *path;
		int route;
		void (*fn)(struct op *);
		unsigned need;
	} local[] = {
		{"/v1/snapshot", ROUTE_SNAPSHOT, api_snapshot, AUTH_OPERATOR},
		{"/v1/status", ROUTE_STATUS, api_status, 0},
		{"/v1/whoami", ROUTE_WHOAMI, api_whoami, 0},
		{"/v1/health", ROUTE_HEALTH, api_health, 0},
		{"/metrics", ROUTE_METRICS, api_metrics, 0},
	};
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
		if (strcmp(path, local[i].path) != 0)
			continue;
		op->route = local[i].route;
		if (!get)
			op_respond_error(op, 405, "method_not_allowed", "use GET here");
		else if (local[i].need == 0 || allowed(op, local[i].need))
			local[i].fn(op);
		return;
	}
	op_respond_error(op, 404, "not_found", "no such endpoint");
}

void api_cmd_begin(struct op *op, uint32_t type, const char *role)
{
	struct cmd *c = &op->cmd;

	memset(c, 0, sizeof *c);
	c->type = type;
	c->node_id = op->origin_node;
	c->at_ms = op->origin_ms;
	text_copy(c->actor, sizeof c->actor, op->id.actor);
	/* Insecure: the role the route needs; else the certificate's. */
	text_copy(c->role, sizeof c->role, op->id.insecure ? role : op->id.role);
}

void api_audit_cmd(struct op *op, const char *action)
{
	api_cmd_begin(op, CMD_AUDIT, "operator");
	text_copy(op->cmd.action, sizeof op->cmd.action, action);
}

void api_apply(struct op *op, replica_apply_cb done)
{
	op->rreq.data = op;
	if (replica_apply(op->ctx->replica, &op->rreq, &op->cmd, done) != ESC_OK)
		dispatch_again(op);
}

void api_barrier(struct op *op, replica_barrier_cb done)
{
	op->rreq.data = op;
	if (replica_barrier(op->ctx->replica, &op->rreq, done) != ESC_OK)
		dispatch_again(op);
}

bool api_wait_rejudged(struct op *op)
{
	if (!store_rejudging(op->ctx->store))
		return false;
	if (uv_now(op->ctx->loop) >= op->deadline)
		op_respond_error(op, 503, "busy",
				 "the stored reports are being judged against the new policy; "
				 "retry shortly");
	else
		dispatch_again(op);
	return true;
}

bool api_applied(struct op *op, int status, const struct store_result *res)
{
	if (status != ESC_OK) {
		dispatch_again(op);
		return false;
	}
	if (res->status != ESC_OK) {
		op_respond_error(op, 500, "internal", esc_err_str(res->status));
		return false;
	}
	return true;
}

void api_handle(struct http_request *req)
{
	const struct api_ctx *ctx = req->server->data;
	struct op *op = op_create(ctx, req, NULL, ROUTE_OTHER);

	if (op == NULL) {
		http_respond_error(req, 500, NULL, "out_of_memory", "the node ran out of memory");
		return;
	}
	if (api_console_path(req->path)) {
		api_console(op); /* the console itself may be linked to from anywhere */
		return;
	}
	/* A browser sends its certificate whichever page asks: a page of
	 * another site must not read or disclose anything with it. */
	if (!origin_allowed(ctx, req)) {
		op_respond_error(op, 403, "cross_origin",
				 "a browser request from another site: only this node's and the "
				 "cluster members' pages may call the API");
		return;
	}
	if (strcmp(req->method, "OPTIONS") == 0 && http_request_header(req, "Origin") != NULL) {
		op_respond(op, 204, ORIGIN_PREFLIGHT_HEADERS, NULL, NULL, 0);
		return;
	}
	route(op);
}
