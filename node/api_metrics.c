/* GET /metrics: this node's counters in Prometheus text format 0.0.4. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/histogram.h"
#include "node/api.h"
#include "raft/codec.h"
#include "store/walbuf.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

/* The metrics that were here before the histograms, unchanged. */
static void write_counters(FILE *f, const struct api_ctx *ctx)
{
	const struct api_metrics *m = ctx->metrics;
	struct replica *r = ctx->replica;
	const struct fsm *fsm = replica_fsm(r);

	fprintf(f,
		"# TYPE escrow_is_leader gauge\nescrow_is_leader %d\n"
		"# TYPE escrow_term gauge\nescrow_term %" PRIu64 "\n"
		"# TYPE escrow_commit_index gauge\nescrow_commit_index %" PRIu64 "\n"
		"# TYPE escrow_applied_index gauge\nescrow_applied_index %" PRIu64 "\n"
		"# TYPE escrow_forwarded_total counter\nescrow_forwarded_total %" PRIu64 "\n"
		"# TYPE escrow_errors_5xx_total counter\nescrow_errors_5xx_total %" PRIu64 "\n"
		"# TYPE escrow_loop_lag_max_seconds gauge\nescrow_loop_lag_max_seconds %.6f\n"
		"# TYPE escrow_api_connections_total counter\nescrow_api_connections_total "
		"%" PRIu64 "\n# TYPE escrow_requests_total counter\n",
		replica_is_leader(r), replica_term(r), replica_commit_index(r),
		store_applied_index(ctx->store), m->forwarded, m->errors_5xx,
		(double)ctx->lag->max_late_us / 1e6, ctx->http->accepted);
	for (int i = 0; i < API_ROUTES; i++)
		fprintf(f, "escrow_requests_total{route=\"%s\"} %" PRIu64 "\n", api_route_name(i),
			m->requests[i]);
	fprintf(f,
		"# TYPE escrow_raft_snapshots_total counter\nescrow_raft_snapshots_total %" PRIu64
		"\n# TYPE escrow_raft_snapshot_seconds_sum counter\n"
		"escrow_raft_snapshot_seconds_sum %.6f\n"
		"# TYPE escrow_raft_snapshot_last_seconds gauge\n"
		"escrow_raft_snapshot_last_seconds %.6f\n"
		"# TYPE escrow_raft_snapshot_loop_max_seconds gauge\n"
		"escrow_raft_snapshot_loop_max_seconds %.6f\n"
		"# TYPE escrow_raft_snapshot_restores_total counter\n"
		"escrow_raft_snapshot_restores_total %" PRIu64 "\n"
		"# TYPE escrow_snapshots_served_total counter\n"
		"escrow_snapshots_served_total %" PRIu64 "\n"
		"# TYPE escrow_snapshot_seconds_sum counter\n"
		"escrow_snapshot_seconds_sum %.6f\n"
		"# TYPE escrow_wal_pending_bytes gauge\nescrow_wal_pending_bytes %zu\n",
		fsm->snapshots, (double)fsm->snapshot_ns / 1e9,
		(double)fsm->snapshot_last_ns / 1e9, (double)fsm->snapshot_loop_max_ns / 1e9,
		fsm->restores, m->snapshots_served, m->snapshot_seconds, walbuf_pending());
	fputs("# TYPE escrow_request_seconds_sum counter\n", f);
	for (int i = 0; i < API_ROUTES; i++)
		fprintf(f, "escrow_request_seconds_sum{route=\"%s\"} %.6f\n", api_route_name(i),
			m->seconds[i]);
}

/* Requests by route and status code. */
static void write_http(FILE *f, const struct api_metrics *m)
{
	char labels[64];

	fputs("# TYPE escrow_http_request_duration_seconds histogram\n", f);
	for (int i = 0; i < API_ROUTES; i++) {
		snprintf(labels, sizeof labels, "route=\"%s\"", api_route_name(i));
		histogram_write(f, "escrow_http_request_duration_seconds", labels,
				&m->duration[i]);
	}
	/* Codes never answered are left out, as Prometheus clients do. */
	fputs("# TYPE escrow_http_responses_total counter\n", f);
	for (int code = 100; code < API_STATUS_MAX; code++)
		if (m->responses[code] != 0)
			fprintf(f, "escrow_http_responses_total{code=\"%d\"} %" PRIu64 "\n", code,
				m->responses[code]);
}

/* Raft: the role, a leader known, and the time entries take. */
static void write_raft(FILE *f, const struct api_ctx *ctx)
{
	static const char *const roles[] = { "leader", "follower", "candidate", "unavailable" };
	struct replica *r = ctx->replica;
	const char *role = replica_role(r);

	fputs("# TYPE escrow_raft_role gauge\n", f);
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		fprintf(f, "escrow_raft_role{role=\"%s\"} %d\n", roles[i],
			strcmp(role, roles[i]) == 0);
	fprintf(f, "# TYPE escrow_raft_has_leader gauge\nescrow_raft_has_leader %d\n",
		replica_leader(r) != 0);
	fputs("# TYPE escrow_apply_duration_seconds histogram\n", f);
	histogram_write(f, "escrow_apply_duration_seconds", "", &replica_fsm(r)->apply_seconds);
	fputs("# TYPE escrow_raft_commit_duration_seconds histogram\n", f);
	histogram_write(f, "escrow_raft_commit_duration_seconds", "", replica_commit_seconds(r));
	fputs("# TYPE escrow_forward_duration_seconds histogram\n", f);
	histogram_write(f, "escrow_forward_duration_seconds", "", &ctx->metrics->forward);
}

void api_metrics(struct op *op)
{
	const struct api_ctx *ctx = op->ctx;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int failed;

	if (f == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	write_counters(f, ctx);
	write_http(f, ctx->metrics);
	write_raft(f, ctx);
	fprintf(f,
		"# TYPE escrow_build_info gauge\n"
		"escrow_build_info{version=\"%s\",command_version=\"%d\"} 1\n",
		PACKAGE_VERSION, CODEC_VERSION);
	failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		free(text);
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	op_respond(op, 200, NULL, "text/plain; version=0.0.4", text, len);
	free(text);
}
