/* Recovery key endpoints: escrow, helpdesk lookups, a machine's keys. */
#include <stdint.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/body.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"
#include "lib/text.h"
#include "store/validate.h"

#define PREFIX_LIST_MAX 100 /* keys one listing by prefix returns */
#define LOOKUP_TEXT_MAX 4096 /* a key's answer is written here; larger ones by jansson */

/* Seals the plain password of an escrow into op->cmd (sealed, pw_mac). */
static bool escrow_seal(struct op *op, const char *pw, struct verr *e)
{
	struct cmd *c = &op->cmd;
	char errmsg[ESC_ERRMSG_SIZE];
	size_t sealed_len;

	if (seal_seal(op->ctx->seal, c->key_id, (const uint8_t *)pw, strlen(pw), c->sealed,
		      &sealed_len, errmsg) != ESC_OK) {
		log_error("seal: %s", errmsg);
		snprintf(e->code, sizeof e->code, "internal");
		snprintf(e->msg, sizeof e->msg, "the password could not be sealed");
		return false;
	}
	c->sealed_len = (uint32_t)sealed_len;
	seal_mac_with(op->ctx->seal_mac, op->ctx->seal, c->key_id, pw, c->pw_mac);
	return true;
}

/* {"key_id":..., "created":..., "index":...} as jansson would dump it,
 * without building it (a tenth of the leader's CPU went to json_respond
 * under escrows): the key ID is in its normal form, upper-case hex and
 * dashes (validate_key_id), which JSON takes as they are. */
static void escrow_answer(struct op *op, const struct store_result *res)
{
	char buf[128];
	struct text t;

	text_init(&t, buf, sizeof buf);
	text_str(&t, "{\"key_id\":\"");
	text_str(&t, op->cmd.key_id);
	text_str(&t, res->created ? "\",\"created\":true,\"index\":" :
				    "\",\"created\":false,\"index\":");
	text_uint(&t, res->index);
	text_put(&t, "}", 1);
	op_respond(op, res->created ? 201 : 200, NULL, "application/json", buf, t.len);
}

static void escrow_done(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (res->status == ESC_ECONFLICT) {
		op_respond_error(op, 409, "key_conflict",
				 "this key_id is escrowed with another recovery password or volume");
		return;
	}
	if (res->status != ESC_OK) {
		op_respond_error(op, 500, "internal", esc_err_str(res->status));
		return;
	}
	escrow_answer(op, res);
}

/* An escrow on its way: its password, read from the body (op->prepare,
 * before any run), sealed into op->cmd or not yet. */
struct escrow_state {
	bool sealed;
	char pw[BODY_PASSWORD_SIZE]; /* plain, between its check and its seal */
};

static void escrow_state_free(void *p)
{
	OPENSSL_clear_free(p, sizeof(struct escrow_state));
}

/* op->prepare: reads and checks the body; false when op was answered
 * (400). */
static bool escrow_read(struct op *op)
{
	struct escrow_state *st = op->data;
	struct verr e;

	if (!body_escrow(op->req->body, op->req->body_len, &op->cmd, st->pw, &e)) {
		api_bad_input(op, &e);
		return false;
	}
	return true;
}

/* On the leader, the body read (dispatch calls op->prepare first). Sealed
 * only here: a follower forwards the request as it came, and its seal was
 * 8 % of its CPU for nothing. A run again after a lost leadership keeps the
 * seal. */
static void escrow_run(struct op *op)
{
	struct escrow_state *st = op->data;
	struct verr e;

	if (!st->sealed) {
		bool ok = escrow_seal(op, st->pw, &e);

		OPENSSL_cleanse(st->pw, sizeof st->pw);
		if (!ok) {
			op_respond_error(op, 500, e.code, e.msg);
			return;
		}
		st->sealed = true;
	}
	api_apply(op, escrow_done);
}

void api_escrow(struct op *op)
{
	struct escrow_state *st;

	if (!api_json_body(op))
		return;
	st = calloc(1, sizeof *st);
	if (st == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	op->data = st;
	op->data_free = escrow_state_free;
	api_cmd_begin(op, CMD_ESCROW, "agent");
	op->run = escrow_run;
	/* The body is read where the escrow runs or waits, not by a follower
	 * that forwards it at once: the leader reads and checks it anyway, and
	 * reading it on both cost a forwarded escrow a second JSON parse, 8 %
	 * of the follower's CPU (issue 16). */
	op->prepare = escrow_read;
	dispatch(op);
}

/* Reads reason and note from the query string into op->cmd. */
static bool reason_parse(struct op *op, struct verr *e)
{
	struct cmd *c = &op->cmd;
	char reason[VALIDATE_REASON_MAX + 1];

	/* Absent or too long for any reason code: both are invalid. */
	if (http_query_param(op->req, "reason", reason, sizeof reason) == NULL)
		reason[0] = '\0';
	if (http_query_param(op->req, "note", c->note, sizeof c->note) == NULL)
		c->note[0] = '\0';
	if (!validate_reason(reason, c->note, e) ||
	    (c->note[0] != '\0' && !validate_note(c->note, e)))
		return false;
	/* validate_reason accepts only the short codes: it fits. */
	memcpy(c->reason, reason, strlen(reason) + 1);
	return true;
}

/* Adds k to arr with its password opened; false if it cannot be opened. */
static bool append_opened(struct op *op, json_t *arr, const struct store_key *k)
{
	uint8_t plain[SEAL_PLAIN_MAX + 1];
	char errmsg[ESC_ERRMSG_SIZE];
	size_t len;
	json_t *j;

	if (seal_open(op->ctx->seal, k->key_id, k->sealed, k->sealed_len, plain, &len, errmsg) !=
	    ESC_OK) {
		log_error("key %s: %s", k->key_id, errmsg);
		return false;
	}
	plain[len] = '\0';
	j = json_key(k, (const char *)plain);
	OPENSSL_cleanse(plain, sizeof plain);
	return j != NULL && json_array_append_new(arr, j) == 0;
}

static void respond_unseal_failed(struct op *op)
{
	op_respond_error(op, 500, "unseal_failed",
			 "a recovery password could not be unsealed with this node's seal key");
}

/* One key's answer, written as text without jansson (json_key_text). */
static void respond_one(struct op *op, const struct store_key *k)
{
	uint8_t plain[SEAL_PLAIN_MAX + 1];
	char text[LOOKUP_TEXT_MAX], errmsg[ESC_ERRMSG_SIZE];
	size_t len;

	if (seal_open(op->ctx->seal, k->key_id, k->sealed, k->sealed_len, plain, &len, errmsg) !=
	    ESC_OK) {
		log_error("key %s: %s", k->key_id, errmsg);
		respond_unseal_failed(op);
		return;
	}
	plain[len] = '\0';
	len = json_key_text(k, (const char *)plain, text, sizeof text);
	if (len > 0)
		op_respond(op, 200, NULL, "application/json", text, len);
	else
		json_respond(op, 200, json_key(k, (const char *)plain));
	OPENSSL_cleanse(plain, sizeof plain);
	/* What did not fit was written up to the end of the buffer. */
	OPENSSL_cleanse(text, len > 0 ? len : sizeof text);
}

static void lookup_done(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;
	json_t *arr;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (res->status == ESC_ENOTFOUND && op->cmd.type == CMD_LOOKUP) {
		op_respond_error(op, 404, "key_not_found", "no recovery key with this key_id");
		return;
	}
	if (res->status != ESC_OK && res->status != ESC_ENOTFOUND) {
		op_respond_error(op, 500, "internal", esc_err_str(res->status));
		return;
	}
	if (op->cmd.type == CMD_LOOKUP) {
		respond_one(op, &res->keys[0]);
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < res->n_keys; i++) {
		if (!append_opened(op, arr, &res->keys[i])) {
			json_decref(arr);
			respond_unseal_failed(op);
			return;
		}
	}
	json_respond(op, 200, json_pack("{s:o}", "keys", arr));
}

/* A read taken here gets a time no other read of its key taken here has
 * (readstamp.h); a forwarded one keeps the time its node gave it. */
static void stamp_read(struct op *op, const char *key_or_prefix)
{
	if (op->forwarded_in)
		return;
	op->origin_ms = readstamp_take(op->ctx->stamps, key_or_prefix, op->origin_ms);
	op->cmd.at_ms = op->origin_ms;
}

static void lookup_run(struct op *op)
{
	api_apply(op, lookup_done);
}

void api_lookup(struct op *op, const char *key_id)
{
	char bg[4];
	struct verr e;
	bool bad;

	api_cmd_begin(op, CMD_LOOKUP, "helpdesk");
	if (!validate_key_id(key_id, op->cmd.key_id, &e) || !reason_parse(op, &e)) {
		api_bad_input(op, &e);
		return;
	}
	stamp_read(op, op->cmd.key_id);
	if (api_query_param(op, "break_glass", bg, sizeof bg, &bad) != NULL || bad) {
		if (bad || (strcmp(bg, "1") != 0 && strcmp(bg, "0") != 0)) {
			op_respond_error(op, 400, "bad_break_glass",
					 "break_glass must be 1 (serve from this node's copy when "
					 "it has no leader) or 0");
			return;
		}
		/* With a leader the parameter changes nothing. */
		if (bg[0] == '1')
			op->leaderless_run = api_break_glass;
	}
	op->run = lookup_run;
	dispatch(op);
}

/* GET /v1/keys?prefix=HEX&list=1: the matching keys without passwords,
 * read on the leader after a barrier; no disclosure, no audit entry. */
static void prefix_list_done(struct replica_req *rreq, int status)
{
	struct op *op = rreq->data;
	char errmsg[ESC_ERRMSG_SIZE];
	struct store_key *keys;
	bool truncated;
	size_t n;
	json_t *arr;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (store_keys_by_prefix(op->ctx->store, op->cmd.prefix, PREFIX_LIST_MAX, &keys, &n,
				 &truncated, errmsg) != ESC_OK) {
		log_error("keys by prefix: %s", errmsg);
		op_respond_error(op, 500, "internal", "the store could not be read");
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, json_key(&keys[i], NULL));
	free(keys);
	json_respond(op, 200, json_pack("{s:o, s:b}", "keys", arr, "truncated", truncated));
}

static void prefix_list_run(struct op *op)
{
	api_barrier(op, prefix_list_done);
}

void api_lookup_prefix(struct op *op)
{
	char prefix[64], list[4];
	struct verr e;
	bool bad;

	api_cmd_begin(op, CMD_LOOKUP_PREFIX, "helpdesk");
	if (http_query_param(op->req, "prefix", prefix, sizeof prefix) == NULL) {
		op_respond_error(op, 400, "missing_prefix",
				 "give ?prefix= with 8 to 32 hex digits of the key ID");
		return;
	}
	if (!validate_prefix(prefix, op->cmd.prefix, &e)) {
		api_bad_input(op, &e);
		return;
	}
	if (api_query_param(op, "list", list, sizeof list, &bad) != NULL || bad) {
		if (bad || strcmp(list, "1") != 0) {
			op_respond_error(op, 400, "bad_list",
					 "list must be 1 (list the keys without passwords) or absent");
			return;
		}
		op->run = prefix_list_run;
		dispatch(op);
		return;
	}
	if (!reason_parse(op, &e)) {
		api_bad_input(op, &e);
		return;
	}
	stamp_read(op, op->cmd.prefix);
	op->run = lookup_run;
	dispatch(op);
}

static void machine_keys_done(struct replica_req *rreq, int status)
{
	struct op *op = rreq->data;
	char errmsg[ESC_ERRMSG_SIZE];
	struct store_key *keys;
	size_t n;
	json_t *arr;

	if (status != ESC_OK) {
		dispatch_again(op);
		return;
	}
	if (store_machine_keys(op->ctx->store, op->cmd.machine, &keys, &n, errmsg) != ESC_OK) {
		log_error("machine keys: %s", errmsg);
		op_respond_error(op, 500, "internal", "the store could not be read");
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, json_key(&keys[i], NULL));
	free(keys);
	json_respond(op, 200, json_pack("{s:s, s:o}", "machine", op->cmd.machine, "keys", arr));
}

static void machine_keys_run(struct op *op)
{
	api_barrier(op, machine_keys_done);
}

void api_machine_keys(struct op *op, const char *machine)
{
	struct verr e;

	memset(&op->cmd, 0, sizeof op->cmd);
	if (!validate_machine(machine, op->cmd.machine, &e)) {
		api_bad_input(op, &e);
		return;
	}
	op->run = machine_keys_run;
	dispatch(op);
}
