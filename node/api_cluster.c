/* Membership endpoints: add and remove nodes, hand leadership over. */
#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/body.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"
#include "lib/netaddr.h"

/* One membership change at a time, across its Raft change and its
 * members-text entry. */
static struct op *change_op;

static bool raft_addr_plain_ok(const char *raft)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct netaddr a;

	return netaddr_parse(raft, &a, errmsg) == ESC_OK && a.kind == NETADDR_IPV4;
}

/* State of a membership request while it runs. */
struct change {
	struct replica_change ch;
	struct bootstrap_member m;
	bool remove;
};

/* The members text with m added (or replaced) or removed, in id order. */
static int members_edit(const struct api_ctx *ctx, const struct bootstrap_member *m,
			bool remove, char *out, size_t size)
{
	struct bootstrap_member *list = calloc(API_MEMBERS_MAX + 1, sizeof *list);
	const char *text = api_ctx_members(ctx);
	char errmsg[ESC_ERRMSG_SIZE];
	unsigned n = 0, i, j;
	size_t used = 0;
	int rv = ESC_OK;

	if (list == NULL)
		return ESC_ENOMEM;
	if (text != NULL && bootstrap_parse(text, list, API_MEMBERS_MAX, &n, errmsg) != ESC_OK)
		n = 0;
	for (i = j = 0; i < n; i++)
		if (list[i].id != m->id)
			list[j++] = list[i];
	n = j;
	if (!remove) {
		for (i = n; i > 0 && list[i - 1].id > m->id; i--)
			list[i] = list[i - 1];
		list[i] = *m;
		n++;
	}
	out[0] = '\0';
	for (i = 0; i < n && rv == ESC_OK; i++) {
		int w = snprintf(out + used, size - used, "%s%u=%s/%s", i > 0 ? "," : "",
				 list[i].id, list[i].raft, list[i].api);
		if (w < 0 || (size_t)w >= size - used)
			rv = ESC_ETOOBIG;
		else
			used += (size_t)w;
	}
	free(list);
	return rv;
}

/* Whether the members text with m added fits in a command. */
static bool members_fit(const struct api_ctx *ctx, const struct bootstrap_member *m)
{
	char *text = malloc(CMD_MEMBERS_MAX + 1);
	int rv = text != NULL ? members_edit(ctx, m, false, text, CMD_MEMBERS_MAX + 1) : ESC_OK;

	free(text);
	return rv != ESC_ETOOBIG;
}

static void change_finish(struct op *op, int status, json_t *body)
{
	change_op = NULL;
	json_respond(op, status, body);
}

static void change_fail(struct op *op, int rv, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof msg, "%s: %s", what, esc_err_str(rv));
	change_op = NULL;
	switch (rv) {
	case ESC_EBUSY:
		op_respond_error(op, 409, "change_in_progress",
				 "another membership change is running; retry when it is done");
		return;
	case ESC_ECONFLICT:
		op_respond_error(op, 409, "member_conflict", msg);
		return;
	case ESC_ENOTFOUND:
		op_respond_error(op, 404, "member_not_found", "no member with this id");
		return;
	case ESC_ENOLEADER:
		op_respond_error(op, 503, "no_leader", msg);
		return;
	case ESC_ETIMEOUT:
		/* A promotion's catch-up round outlasted --catch-up-timeout: the
		 * node stays a spare with what it received; asking again
		 * promotes it from there. */
		op_respond_error(op, 503, "catch_up_timeout",
				 "the new node did not catch up within the leader's "
				 "--catch-up-timeout; it stays a spare: ask again");
		return;
	default:
		op_respond_error(op, 500, "change_failed", msg);
	}
}

/* Records the new members text; then answers. */
static void members_applied(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;
	struct change *c = op->data;

	if (status != ESC_OK) {
		change_fail(op, status, "recording the members");
		return;
	}
	log_info("membership: node %u %s", c->m.id, c->remove ? "removed" : "added as voter");
	change_finish(op, c->remove ? 200 : 201,
		      json_pack("{s:I, s:s}", "id", (json_int_t)c->m.id, "role",
				c->remove ? "removed" : "voter"));
}

static void apply_members(struct op *op)
{
	struct change *c = op->data;
	struct cmd *cmd = &op->cmd;
	int rv;

	api_cmd_begin(op, CMD_MEMBERS, "operator");
	snprintf(cmd->action, sizeof cmd->action, "%s", c->remove ? "cluster.remove" : "cluster.add");
	snprintf(cmd->note, sizeof cmd->note, "node %u raft %s api %s", c->m.id, c->m.raft,
		 c->m.api);
	rv = members_edit(op->ctx, &c->m, c->remove, cmd->members, sizeof cmd->members);
	if (rv == ESC_OK) {
		op->rreq.data = op;
		rv = replica_apply(op->ctx->replica, &op->rreq, cmd, members_applied);
	}
	if (rv != ESC_OK)
		change_fail(op, rv, "recording the members");
}

static void raft_changed(struct replica_change *ch, int status)
{
	struct op *op = ch->data;

	if (status != ESC_OK) {
		change_fail(op, status, "raft membership change");
		return;
	}
	apply_members(op);
}

/* True (and op answered with 409) when another change runs. */
static bool change_busy(struct op *op)
{
	if (change_op == NULL && !replica_changing(op->ctx->replica))
		return false;
	op_respond_error(op, 409, "change_in_progress",
			 "another membership change is running; retry when it is done");
	return true;
}

/* Makes op the one running change. */
static void change_begin(struct op *op)
{
	change_op = op;
	((struct change *)op->data)->ch.data = op;
}

static void add_run(struct op *op)
{
	struct change *c = op->data;
	const char *addr = NULL;
	int rv;

	if (change_busy(op))
		return;
	if (op->ctx->replica->seeded) {
		op_respond_error(op, 409, "snapshot_pending",
				 "this restored node has not written its first Raft snapshot yet; "
				 "retry in a moment");
		return;
	}
	change_begin(op);
	/* A retried join of a node that is already a voter: only make sure
	 * its addresses are recorded. */
	if (replica_is_voter(op->ctx->replica, c->m.id, &addr) && strcmp(addr, c->m.raft) == 0) {
		apply_members(op);
		return;
	}
	rv = replica_add_voter(op->ctx->replica, &c->ch, c->m.id, c->m.raft, raft_changed);
	if (rv != ESC_OK)
		change_fail(op, rv, "add");
}

static void remove_run(struct op *op)
{
	struct change *c = op->data;
	int rv;

	if (change_busy(op))
		return;
	if (c->m.id == op->ctx->node_id) {
		op_respond_error(op, 409, "is_leader",
				 "this node is the leader: hand leadership over first "
				 "(POST /v1/cluster/transfer)");
		return;
	}
	change_begin(op);
	rv = replica_remove(op->ctx->replica, &c->ch, c->m.id, raft_changed);
	if (rv != ESC_OK)
		change_fail(op, rv, "remove");
}

void api_members_add(struct op *op)
{
	struct change *c = calloc(1, sizeof *c);

	if (c == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	if (!body_member(op->req->body, op->req->body_len, &c->m)) {
		free(c);
		op_respond_error(op, 400, "invalid_member",
				 "give {\"id\": 1-65535, \"raft\": \"HOST:PORT\", \"api\": "
				 "\"HOST:PORT\", \"role\": \"voter\"} (HOST a name, IPv4 or "
				 "[IPv6])");
		return;
	}
	/* libraft's plain TCP transport (--insecure) dials IPv4 only. */
	if (op->id.insecure && !raft_addr_plain_ok(c->m.raft)) {
		free(c);
		op_respond_error(op, 400, "invalid_member",
				 "this cluster runs with --insecure: its raft addresses must be "
				 "IPv4:PORT (names and [IPv6] need TLS)");
		return;
	}
	/* The replicated members text has a bound: refuse before Raft changes. */
	if (!members_fit(op->ctx, &c->m)) {
		free(c);
		op_respond_error(op, 400, "invalid_member",
				 "with this member the members' addresses would not fit in the "
				 "replicated members text (1023 bytes): use shorter names");
		return;
	}
	/* A node's certificate (escrowd --join) may add that node only. */
	if (!(op->id.roles & AUTH_OPERATOR) && c->m.id != op->id.self_node) {
		free(c);
		op_respond_error(op, 403, "forbidden",
				 "this needs the operator role; a node's certificate may only add "
				 "its own node");
		return;
	}
	op->data = c;
	op->data_free = free;
	op->run = add_run;
	op->patient = true;
	if (!op->forwarded_in)
		op->deadline = op->req->received_ms + DISPATCH_CHANGE_DEADLINE_MS;
	dispatch(op);
}

void api_members_remove(struct op *op, const char *id_text)
{
	struct change *c;
	char *end;
	unsigned long id = strtoul(id_text, &end, 10);

	if (*id_text < '1' || *id_text > '9' || *end != '\0' || id > 65535) {
		op_respond_error(op, 400, "invalid_member", "the member id must be 1-65535");
		return;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	c->m.id = (unsigned)id;
	c->remove = true;
	op->data = c;
	op->data_free = free;
	op->run = remove_run;
	dispatch(op);
}

static void transfer_start(struct op *op)
{
	unsigned id = (unsigned)(uintptr_t)op->data;
	int rv = replica_transfer(op->ctx->replica, id);

	op->data = NULL;
	if (rv == ESC_EINVAL) {
		op_respond_error(op, 400, "invalid_member", "the target is not another voter");
		return;
	}
	if (rv != ESC_OK) {
		dispatch_again(op);
		return;
	}
	json_respond(op, 202, json_pack("{s:b}", "transferring", 1));
}

static void transfer_audited(struct replica_req *rreq, int status,
			     const struct store_result *res)
{
	struct op *op = rreq->data;

	if (api_applied(op, status, res))
		transfer_start(op);
}

/* The transfer is audited first: once it runs, the leader takes no entry. */
static void transfer_run(struct op *op)
{
	unsigned id = (unsigned)(uintptr_t)op->data;

	if (id != 0 && (id == op->ctx->node_id || !replica_is_voter(op->ctx->replica, id, NULL))) {
		op_respond_error(op, 400, "invalid_member", "the target is not another voter");
		return;
	}
	api_audit_cmd(op, "cluster.transfer");
	if (id != 0)
		snprintf(op->cmd.note, sizeof op->cmd.note, "to node %u", id);
	else
		snprintf(op->cmd.note, sizeof op->cmd.note, "to the most caught-up voter");
	api_apply(op, transfer_audited);
}

void api_transfer(struct op *op)
{
	unsigned id;

	if (!body_transfer(op->req->body, op->req->body_len, &id)) {
		op_respond_error(op, 400, "invalid_member",
				 "give {\"id\": N} or {} for the most caught-up voter");
		return;
	}
	op->data = (void *)(uintptr_t)id;
	op->run = transfer_run;
	dispatch(op);
}
