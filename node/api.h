/* The HTTP API: routes every request of docs/api.md section 3 to its handler. */
#ifndef ESCROW_API_H
#define ESCROW_API_H

#include <stdio.h>

#include "node/dispatch.h"
#include "http/http_server.h"

/* Metrics slots, one per route (names in api.c). */
enum api_route {
	ROUTE_OTHER = 0,
	ROUTE_ESCROW,
	ROUTE_LOOKUP,
	ROUTE_LOOKUP_PREFIX,
	ROUTE_MACHINE_KEYS,
	ROUTE_STATUS,
	ROUTE_HEALTH,
	ROUTE_METRICS,
	ROUTE_CLUSTER,
	ROUTE_SNAPSHOT,
	ROUTE_REPORTS,
	ROUTE_COMPLIANCE,        /* POST /v1/compliance */
	ROUTE_POLICY,            /* GET, PUT /v1/policy */
	ROUTE_EXEMPTION,         /* POST, DELETE /v1/machines/{m}/exemption */
	ROUTE_MACHINE,           /* GET /v1/machines/{m} */
	ROUTE_REPORT_COMPLIANCE, /* GET /v1/reports/compliance */
	ROUTE_MACHINES,          /* GET /v1/machines?prefix= */
	ROUTE_UI,                /* the console's files (api_console.c) */
	ROUTE_WHOAMI,            /* GET /v1/whoami */
	ROUTE_FORWARD,           /* POST /v1/internal/forward: a follower's batch */
};

/* Name of a route for metrics labels. */
const char *api_route_name(int route);

/* The http_server handler; req->server->data is the struct api_ctx. */
void api_handle(struct http_request *req);

/* Handlers (api_keys.c): validate here, then dispatch to the leader. */
void api_escrow(struct op *op);
void api_lookup(struct op *op, const char *key_id);
void api_lookup_prefix(struct op *op);
void api_machine_keys(struct op *op, const char *machine);

/* A lookup with break_glass=1 (api_breakglass.c), run by dispatch instead
 * of waiting when this node has had no leader for --break-glass-after:
 * served from the node's own copy once its audit entry is in the journal. */
void api_break_glass(struct op *op);

/* POST /v1/break-glass/replay, from the node that served a break-glass
 * lookup: its journal record as the body; writes the audit entry (once per
 * entry id) and discloses the key. 200 {"index","duplicate"}. */
void api_break_glass_replay(struct op *op);

/* POST /v1/internal/forward (api_forward.c), from a follower: its
 * forwarded requests, each run here as if it had come alone. */
void api_forward(struct op *op);

/* Membership (api_cluster.c): run on the leader. */
void api_members_add(struct op *op);
void api_members_remove(struct op *op, const char *id);
void api_transfer(struct op *op);

/* GET /v1/reports/audit (api_reports.c): read on the leader. */
void api_audit_report(struct op *op);

/* The query parameter name's value in buf (api_reports.c); NULL when
 * absent. *bad when it is present but malformed or too long. */
const char *api_query_param(struct op *op, const char *name, char *buf, size_t size, bool *bad);

/* Writes s to f as a CSV field (RFC 4180: quoted when it holds a comma,
 * quote or line end), then ',' or, when last, a line end. */
void api_csv_field(FILE *f, const char *s, bool last);

/* Compliance writes (api_compliance.c), replicated through the leader. */
void api_compliance(struct op *op);
void api_policy_get(struct op *op);
void api_policy_set(struct op *op);
void api_exemption(struct op *op, const char *machine, bool end);

/* Compliance reads (api_machines.c): on the leader after a barrier. */
void api_machine(struct op *op, const char *machine);
void api_compliance_report(struct op *op);
void api_machines(struct op *op); /* GET /v1/machines: search by name prefix */

/* The web console (api_console.c): true when path is the console's ("/",
 * "/ui", "/ui/..."); api_console serves its files (GET, HEAD) with their
 * ETag and gzip'ed when the client accepts it. api_whoami answers GET
 * /v1/whoami: {"actor","role","roles":[...],"node"}. */
bool api_console_path(const char *path);
void api_console(struct op *op);
void api_whoami(struct op *op);

/* GET /v1/snapshot (api_snapshot.c). */
void api_snapshot(struct op *op);

/* POST /v1/snapshot/audit, from a peer serving a snapshot: writes its
 * snapshot.save audit entry and answers {"index"} once applied here. */
void api_snapshot_audit(struct op *op);

/* Removes snapshot copies a stopped node left in dir. */
void api_snapshot_cleanup(const char *dir);

/* Handlers answered by this node alone (api_status.c). */
void api_status(struct op *op);
void api_health(struct op *op);
void api_metrics(struct op *op);


/* Starts op->cmd: type, and the origin node, clock, actor and role. */
void api_cmd_begin(struct op *op, uint32_t type, const char *role);

/* Starts op->cmd as an audit entry alone (CMD_AUDIT) with action. */
void api_audit_cmd(struct op *op, const char *action);

/* Submits op->cmd on this node, the leader; done runs once it is applied.
 * A submission libraft refuses is dispatched again. */
void api_apply(struct op *op, replica_apply_cb done);

/* For a read on this node, the leader: done runs once a barrier shows every
 * entry committed before the request applied here. A barrier libraft
 * refuses dispatches op again. */
void api_barrier(struct op *op, replica_barrier_cb done);

/* For a read of verdicts, after its barrier: false when the stored verdicts
 * are the policy's. While a new policy's re-judge runs, op waits (it runs
 * again from the start) and true is returned; past its deadline it is
 * answered 503 busy. */
bool api_wait_rejudged(struct op *op);

/* For a done callback: true when the entry was applied without error;
 * otherwise op was dispatched again (outcome unknown) or answered 500. */
bool api_applied(struct op *op, int status, const struct store_result *res);

/* True when op's body is JSON (Content-Type application/json); else
 * answers 415. */
bool api_json_body(struct op *op);

/* Answers op with 400 and the validation error e. */
struct verr;
void api_bad_input(struct op *op, const struct verr *e);

#endif
