/* Compliance writes: a machine's report (POST /v1/compliance), the policy
 * (GET, PUT /v1/policy) and exemptions (POST, DELETE
 * /v1/machines/{machine}/exemption). Each is replicated like an escrow. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/body.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"
#include "store/compliance_wire.h"

static json_t *policy_json(const struct compliance_policy *p)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:b}", "os_volume",
			 compliance_name(COMPLIANCE_KIND_REQUIREMENT, p->os_volume), "fixed_volumes",
			 compliance_name(COMPLIANCE_KIND_REQUIREMENT, p->fixed_volumes),
			 "removable_volumes",
			 compliance_name(COMPLIANCE_KIND_REQUIREMENT, p->removable_volumes),
			 "encryption_methods", json_names(COMPLIANCE_KIND_METHOD, p->methods),
			 "os_protectors", json_names(COMPLIANCE_KIND_PROTECTOR, p->os_protectors),
			 "stale_after_days", (int)p->stale_after_days, "break_glass",
			 !p->break_glass_off);
}

/* Answers op with the policy in force. */
static void policy_respond(struct op *op)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct compliance_policy p;
	uint64_t index;

	if (store_policy(op->ctx->store, &p, &index, errmsg) != ESC_OK) {
		log_error("policy: %s", errmsg);
		op_respond_error(op, 500, "internal", "the store could not be read");
		return;
	}
	json_respond(op, 200, policy_json(&p));
}

/* POST /v1/compliance */

static void compliance_done(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;
	json_t *rotate;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (res->status == ESC_EINVAL) {
		op_respond_error(op, 400, "invalid_report", "the report could not be applied");
		return;
	}
	if (!api_applied(op, status, res))
		return;
	rotate = json_array();
	for (size_t i = 0; rotate != NULL && i < res->n_rotate; i++)
		json_array_append_new(rotate, json_string(res->rotate_key_ids[i]));
	json_respond(op, 200,
		     json_pack("{s:s, s:s, s:o, s:o, s:I}", "machine", op->cmd.machine, "status",
			       compliance_name(COMPLIANCE_KIND_STATUS, res->verdict), "reasons",
			       json_names(COMPLIANCE_KIND_REASON, res->reasons), "rotate_key_ids",
			       rotate, "index", (json_int_t)res->index));
}

static void compliance_run(struct op *op)
{
	api_apply(op, compliance_done);
}

void api_compliance(struct op *op)
{
	struct http_request *req = op->req;
	struct compliance_report *r;
	uint8_t *payload = NULL;
	size_t len = 0;
	struct verr e;

	if (!api_json_body(op))
		return;
	r = malloc(sizeof *r);
	if (r == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	if (!body_compliance(req->body, req->body_len, r, &e)) {
		free(r);
		api_bad_input(op, &e);
		return;
	}
	len = compliance_report_encoded_size(r);
	payload = malloc(len);
	if (payload == NULL || compliance_report_encode(r, payload, len) != len) {
		free(payload);
		free(r);
		op_respond_error(op, 500, "internal", "the report could not be encoded");
		return;
	}
	api_cmd_begin(op, CMD_COMPLIANCE, "agent");
	memcpy(op->cmd.machine, r->machine, sizeof op->cmd.machine);
	free(r);
	/* The command borrows the payload until replica_apply encodes it. */
	op->cmd.payload = payload;
	op->cmd.payload_len = (uint32_t)len;
	op->data = payload;
	op->data_free = free;
	op->run = compliance_run;
	dispatch(op);
}

/* GET /v1/policy */

static void policy_get_done(struct replica_req *rreq, int status)
{
	struct op *op = rreq->data;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	policy_respond(op);
}

static void policy_get_run(struct op *op)
{
	api_barrier(op, policy_get_done);
}

void api_policy_get(struct op *op)
{
	op->run = policy_get_run;
	dispatch(op);
}

/* PUT /v1/policy */

static void policy_set_done(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;

	if (!api_applied(op, status, res))
		return;
	policy_respond(op);
}

static void policy_set_run(struct op *op)
{
	api_apply(op, policy_set_done);
}

void api_policy_set(struct op *op)
{
	struct compliance_policy p;
	uint8_t *payload;
	struct verr e;

	if (!api_json_body(op))
		return;
	if (!body_policy(op->req->body, op->req->body_len, &p, &e)) {
		api_bad_input(op, &e);
		return;
	}
	payload = malloc(COMPLIANCE_WIRE_POLICY_SIZE);
	if (payload == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	compliance_policy_encode(&p, payload);
	api_cmd_begin(op, CMD_POLICY, "operator");
	op->cmd.payload = payload;
	op->cmd.payload_len = COMPLIANCE_WIRE_POLICY_SIZE;
	op->data = payload;
	op->data_free = free;
	op->run = policy_set_run;
	dispatch(op);
}

/* POST and DELETE /v1/machines/{machine}/exemption */

static void exempt_done(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;
	char until[JSON_TIME_LEN];

	if (status == ESC_OK && res->status == ESC_ENOTFOUND) {
		op_respond_error(op, 404, "not_found", "this machine has no exemption");
		return;
	}
	if (!api_applied(op, status, res))
		return;
	if (op->cmd.until_ms == 0) {
		json_respond(op, 200, json_pack("{s:s, s:b, s:I}", "machine", op->cmd.machine,
						"ended", 1, "index", (json_int_t)res->index));
		return;
	}
	json_time(op->cmd.until_ms, until);
	json_respond(op, 200, json_pack("{s:s, s:s, s:s, s:I}", "machine", op->cmd.machine, "until",
					until, "note", op->cmd.note, "index",
					(json_int_t)res->index));
}

static void exempt_run(struct op *op)
{
	api_apply(op, exempt_done);
}

void api_exemption(struct op *op, const char *machine, bool end)
{
	char name[VALIDATE_MACHINE_MAX + 1];
	struct verr e;

	if (!end && !api_json_body(op))
		return;
	if (!validate_machine(machine, name, &e)) {
		api_bad_input(op, &e);
		return;
	}
	api_cmd_begin(op, CMD_EXEMPT, "operator");
	memcpy(op->cmd.machine, name, sizeof name);
	if (!end && !body_exemption(op->req->body, op->req->body_len, op->ctx->clock_ms(),
				    &op->cmd.until_ms, op->cmd.note, sizeof op->cmd.note, &e)) {
		api_bad_input(op, &e);
		return;
	}
	op->run = exempt_run;
	dispatch(op);
}
