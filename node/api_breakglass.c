/* Break-glass lookups: a helpdesk lookup served from this node's own copy
 * when it has had no leader for --break-glass-after, after its audit entry
 * is durable in the node's journal (store/journal.h). */
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/breakglass.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"
#include "store/compliance.h"
#include "store/journal.h"
#include "store/validate.h"

/* The journal record of this lookup: the audit entry the leader will write;
 * id (CMD_BG_ID_MAX + 1 bytes) gets its unique id. NULL when out of memory
 * or random bytes fail. */
static char *entry_json(struct op *op, const struct store_key *k, uint64_t index, char *id)
{
	const struct cmd *c = &op->cmd;
	unsigned char rnd[16];
	int n;
	json_t *j;
	char *text;

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return NULL;
	n = snprintf(id, CMD_BG_ID_MAX + 1, "%u-", op->ctx->node_id);
	for (size_t i = 0; i < sizeof rnd && n > 0; i++)
		n += snprintf(id + n, CMD_BG_ID_MAX + 1 - (size_t)n, "%02x", rnd[i]);
	j = json_pack("{s:i, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "v", 1, "id", id,
		      "at_ms", (json_int_t)c->at_ms, "node", (json_int_t)op->ctx->node_id,
		      "actor", c->actor, "role", c->role, "key_id", k->key_id, "machine",
		      k->machine, "reason", c->reason, "note", c->note, "index",
		      (json_int_t)index);
	if (j == NULL)
		return NULL;
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return text;
}

void api_break_glass(struct op *op)
{
	const struct api_ctx *ctx = op->ctx;
	struct compliance_policy policy;
	uint8_t plain[SEAL_PLAIN_MAX + 1];
	char errmsg[ESC_ERRMSG_SIZE], path[DATADIR_PATH_MAX + 32], id[CMD_BG_ID_MAX + 1];
	struct store_key k;
	uint64_t index, policy_index;
	size_t len;
	char *entry;
	json_t *body;
	int rv;

	if (store_policy(ctx->store, &policy, &policy_index, errmsg) != ESC_OK) {
		log_error("break-glass: policy: %s", errmsg);
		op_respond_error(op, 500, "internal", "the store could not be read");
		return;
	}
	if (policy.break_glass_off) {
		op_respond_error(op, 403, "break_glass_disabled",
				 "the policy does not allow break-glass lookups (an operator "
				 "sets break_glass in PUT /v1/policy)");
		return;
	}
	index = store_applied_index(ctx->store);
	rv = store_key_read(ctx->store, op->cmd.key_id, &k, errmsg);
	if (rv == ESC_ENOTFOUND) {
		log_warn("break-glass lookup of key %s by %s (%s): not in this node's copy at "
			 "index %" PRIu64,
			 op->cmd.key_id, op->cmd.actor, op->cmd.reason, index);
		op_respond_error(op, 404, "not_found_break_glass",
				 "this node, cut off from the majority, has no key with this "
				 "key_id; it may exist on nodes this one cannot reach");
		return;
	}
	if (rv != ESC_OK) {
		log_error("break-glass: %s", errmsg);
		op_respond_error(op, 500, "internal", "the store could not be read");
		return;
	}
	if (seal_open(ctx->seal, k.key_id, k.sealed, k.sealed_len, plain, &len, errmsg) !=
	    ESC_OK) {
		log_error("key %s: %s", k.key_id, errmsg);
		op_respond_error(op, 500, "unseal_failed",
				 "a recovery password could not be unsealed with this node's "
				 "seal key");
		return;
	}
	plain[len] = '\0';
	/* The audit entry is durable before the password leaves. */
	entry = entry_json(op, &k, index, id);
	if (entry == NULL || breakglass_journal_path(ctx, path, sizeof path) != ESC_OK)
		rv = esc_errorf(errmsg, ESC_ENOMEM, "the audit entry could not be made");
	else
		rv = journal_append(path, entry, strlen(entry), errmsg);
	free(entry);
	if (rv != ESC_OK) {
		OPENSSL_cleanse(plain, sizeof plain);
		log_error("break-glass lookup of key %s refused: journal: %s", k.key_id, errmsg);
		op_respond_error(op, 503, "journal_failed",
				 "the audit entry could not be written durably on this node; "
				 "no password was sent");
		return;
	}
	body = json_key(&k, (const char *)plain);
	OPENSSL_cleanse(plain, sizeof plain);
	if (body == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	json_object_set_new(body, "break_glass", json_true());
	json_object_set_new(body, "index", json_integer((json_int_t)index));
	json_object_set_new(body, "break_glass_id", json_string(id));
	log_warn("break-glass lookup %s: key %s (machine %s) disclosed to %s (%s, reason %s) "
		 "from this node's copy at index %" PRIu64 " without a leader; journaled",
		 id, k.key_id, k.machine, op->cmd.actor, op->cmd.role, op->cmd.reason, index);
	json_respond(op, 200, body);
}

/* A string member of o into out (size bytes); false when absent, not a
 * string, empty (unless may_be_empty) or too long. */
static bool get_str(json_t *o, const char *name, char *out, size_t size, bool may_be_empty)
{
	const char *s = json_string_value(json_object_get(o, name));
	size_t n = s != NULL ? strlen(s) : 0;

	if (s == NULL || n >= size || (n == 0 && !may_be_empty))
		return false;
	memcpy(out, s, n + 1);
	return true;
}

/* Fills op->cmd from a journal record; false when it is not one. */
static bool entry_cmd(struct op *op, json_t *o)
{
	struct cmd *c = &op->cmd;
	char key_id[64];
	json_int_t node, at;

	api_cmd_begin(op, CMD_BREAK_GLASS, "helpdesk");
	if (!json_is_object(o) || !json_is_integer(json_object_get(o, "node")) ||
	    !json_is_integer(json_object_get(o, "at_ms")))
		return false;
	node = json_integer_value(json_object_get(o, "node"));
	at = json_integer_value(json_object_get(o, "at_ms"));
	/* Only the node that served it replays an entry. */
	if (node != (json_int_t)op->origin_node || at < 0)
		return false;
	c->node_id = (uint32_t)node;
	c->at_ms = at;
	return get_str(o, "id", c->bg_id, sizeof c->bg_id, false) &&
	       get_str(o, "actor", c->actor, sizeof c->actor, false) &&
	       get_str(o, "role", c->role, sizeof c->role, false) &&
	       get_str(o, "key_id", key_id, sizeof key_id, false) &&
	       validate_key_id(key_id, c->key_id, NULL) &&
	       get_str(o, "reason", c->reason, sizeof c->reason, false) &&
	       get_str(o, "note", c->note, sizeof c->note, true) &&
	       validate_reason(c->reason, c->note, NULL) &&
	       (c->note[0] == '\0' || validate_note(c->note, NULL));
}

static void replay_done(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;

	if (api_applied(op, status, res))
		json_respond(op, 200, json_pack("{s:I, s:b}", "index", (json_int_t)res->index,
						"duplicate", res->duplicate));
}

static void replay_run(struct op *op)
{
	api_apply(op, replay_done);
}

void api_break_glass_replay(struct op *op)
{
	json_error_t jerr;
	json_t *o;
	bool ok;

	if (!op->forwarded_in) {
		op_respond_error(op, 403, "forbidden",
				 "only the node that served a break-glass lookup replays it");
		return;
	}
	o = json_loadb(op->req->body, op->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	ok = entry_cmd(op, o);
	json_decref(o);
	if (!ok) {
		op_respond_error(op, 400, "invalid_break_glass_entry",
				 "the body is not a break-glass journal entry of the sending node");
		return;
	}
	op->run = replay_run;
	dispatch(op);
}
