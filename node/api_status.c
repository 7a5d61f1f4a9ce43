/* Endpoints this node answers alone: status, health (metrics: api_metrics.c). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"
#include "raft/codec.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

/* The digest hashes every table. On a small store it is computed here, at
 * the applied index; on a large one (seconds at a million keys) a worker
 * computes it on its own connection, and status reports the last one with
 * the index it reflects, so the loop never stalls on it. */
#define STATUS_DIGEST_SYNC_MAX 20000 /* audit entries: above, on a worker */

/* The last digest ("" if none) and the applied index it reflects. */
static struct {
	char hex[65];
	uint64_t index;
} digest;

static struct {
	uv_work_t work;
	bool busy;
	const char *db_path;
	char hex[65];
	uint64_t index;
	int rv;
	char errmsg[ESC_ERRMSG_SIZE];
} digest_job;

static void digest_work_cb(uv_work_t *w)
{
	digest_job.rv = store_digest_file(digest_job.db_path, digest_job.hex, &digest_job.index,
					  digest_job.errmsg);
}

static void digest_done_cb(uv_work_t *w, int status)
{
	digest_job.busy = false;
	if (status != 0 || digest_job.rv != ESC_OK) {
		log_warn("state digest: %s", status != 0 ? "cancelled" : digest_job.errmsg);
		return;
	}
	memcpy(digest.hex, digest_job.hex, sizeof digest.hex);
	digest.index = digest_job.index;
}

static void state_digest(const struct api_ctx *ctx)
{
	char errmsg[ESC_ERRMSG_SIZE];
	uint64_t applied = store_applied_index(ctx->store);

	if (digest.hex[0] != '\0' && digest.index == applied)
		return;
	if (store_audit_seq(ctx->store) <= STATUS_DIGEST_SYNC_MAX) {
		if (store_digest(ctx->store, digest.hex, errmsg) != ESC_OK) {
			log_error("state digest: %s", errmsg);
			digest.hex[0] = '\0';
			return;
		}
		digest.index = applied;
		return;
	}
	if (digest_job.busy || *ctx->stopping || store_flush(ctx->store, errmsg) != ESC_OK)
		return;
	digest_job.db_path = ctx->dir->db_path;
	if (uv_queue_work(ctx->loop, &digest_job.work, digest_work_cb, digest_done_cb) == 0)
		digest_job.busy = true;
}

void api_status(struct op *op)
{
	const struct api_ctx *ctx = op->ctx;
	struct replica *r = ctx->replica;
	struct replica_member_info m;
	unsigned leader = replica_leader(r);
	char leader_api[API_ADDR_MAX], api[API_ADDR_MAX];
	bool have_leader_api = leader != 0 &&
			       api_ctx_member_api(ctx, leader, leader_api, sizeof leader_api);
	json_t *members = json_array(), *leader_obj, *j;

	for (unsigned i = 0; members != NULL && i < replica_member_count(r); i++) {
		replica_member_at(r, i, &m);
		bool have_api = api_ctx_member_api(ctx, m.id, api, sizeof api);
		json_array_append_new(members, json_pack("{s:I, s:s, s:s?, s:s, s:b}", "id",
							 (json_int_t)m.id, "raft", m.raft_addr, "api",
							 have_api ? api : NULL, "role", m.role,
							 "reachable", m.reachable));
	}
	if (leader != 0)
		leader_obj = json_pack("{s:I, s:s?}", "id", (json_int_t)leader, "api",
				       have_leader_api ? leader_api : NULL);
	else
		leader_obj = json_null();
	state_digest(ctx);
	j = json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:I, s:I, s:I, s:s, s:I, s:b, s:o}", "id",
		      (json_int_t)ctx->node_id, "version", PACKAGE_VERSION, "command_version",
		      (json_int_t)codec_version, "cluster_id", store_cluster_id(ctx->store), "role",
		      replica_role(r), "leader", leader_obj, "term", (json_int_t)replica_term(r),
		      "commit_index", (json_int_t)replica_commit_index(r),
		      "applied_index", (json_int_t)store_applied_index(ctx->store), "state_digest",
		      digest.hex, "digest_index", (json_int_t)digest.index, "rejudging",
		      store_rejudging(ctx->store), "members", members);
	json_respond(op, 200, j);
}

void api_health(struct op *op)
{
	char buf[8];

	if (http_query_param(op->req, "ready", buf, sizeof buf) == NULL) {
		json_respond(op, 200, json_pack("{s:b}", "ok", 1));
		return;
	}
	if (!replica_caught_up(op->ctx->replica)) {
		op_respond_error(op, 503, replica_leader(op->ctx->replica) == 0 ? "no_leader"
									       : "catching_up",
				 "this node is not ready: no leader known or entries to apply");
		return;
	}
	json_respond(op, 200, json_pack("{s:b, s:b}", "ok", 1, "ready", 1));
}
