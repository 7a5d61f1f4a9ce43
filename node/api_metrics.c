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

/* Starts a family: its # HELP and # TYPE lines, once, before its samples. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void one_u64(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	family(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void one_seconds(FILE *f, const char *name, const char *type, const char *help, double v)
{
	family(f, name, type, help);
	fprintf(f, "%s %.6f\n", name, v);
}

/* A family with one sample per route. */
static void per_route(FILE *f, const char *name, const char *help, const uint64_t *counts,
		      const double *seconds)
{
	family(f, name, "counter", help);
	for (int i = 0; i < API_ROUTES; i++)
		if (counts != NULL)
			fprintf(f, "%s{route=\"%s\"} %" PRIu64 "\n", name, api_route_name(i),
				counts[i]);
		else
			fprintf(f, "%s{route=\"%s\"} %.6f\n", name, api_route_name(i),
				seconds[i]);
}

/* The metrics that were here before the histograms: names and values unchanged. */
static void write_counters(FILE *f, const struct api_ctx *ctx)
{
	const struct api_metrics *m = ctx->metrics;
	struct replica *r = ctx->replica;
	const struct fsm *fsm = replica_fsm(r);

	one_u64(f, "escrow_is_leader", "gauge", "1 when this node is the Raft leader",
		replica_is_leader(r));
	one_u64(f, "escrow_term", "gauge", "the current Raft term", replica_term(r));
	one_u64(f, "escrow_commit_index", "gauge", "the last Raft index known committed",
		replica_commit_index(r));
	one_u64(f, "escrow_applied_index", "gauge", "the last Raft index applied to the store",
		store_applied_index(ctx->store));
	one_u64(f, "escrow_store_commits_total", "counter",
		"transactions that committed applied entries to the store",
		store_commits(ctx->store));
	one_u64(f, "escrow_forwarded_total", "counter", "requests forwarded to the leader",
		m->forwarded);
	one_u64(f, "escrow_forward_batches_total", "counter",
		"exchanges with the leader that carried forwarded requests together",
		m->forward_batches);
	one_u64(f, "escrow_errors_5xx_total", "counter", "answers with a status of 500 or more",
		m->errors_5xx);
	one_seconds(f, "escrow_loop_lag_max_seconds", "gauge",
		    "the longest event-loop delay seen", (double)ctx->lag->max_late_us / 1e6);
	one_u64(f, "escrow_api_connections_total", "counter", "API connections accepted",
		ctx->http->accepted);
	per_route(f, "escrow_requests_total", "answers per route", m->requests, NULL);
	one_u64(f, "escrow_raft_snapshots_total", "counter", "Raft snapshots taken",
		fsm->snapshots);
	one_seconds(f, "escrow_raft_snapshot_seconds_sum", "counter",
		    "the time Raft snapshots took, in total", (double)fsm->snapshot_ns / 1e9);
	one_seconds(f, "escrow_raft_snapshot_last_seconds", "gauge",
		    "the time the last Raft snapshot took", (double)fsm->snapshot_last_ns / 1e9);
	one_seconds(f, "escrow_raft_snapshot_loop_max_seconds", "gauge",
		    "the longest event-loop time a Raft snapshot took",
		    (double)fsm->snapshot_loop_max_ns / 1e9);
	one_u64(f, "escrow_raft_snapshot_period_entries", "gauge",
		"Raft entries between this node's snapshots (grows with the store, "
		"--snapshot-growth)",
		replica_snapshot_period(r));
	one_u64(f, "escrow_raft_snapshot_restores_total", "counter", "Raft snapshots installed",
		fsm->restores);
	one_u64(f, "escrow_raft_apply_batches_total", "counter",
		"raft_apply calls this node made as the leader", r->applyq.batches);
	one_u64(f, "escrow_raft_apply_entries_total", "counter",
		"commands those calls carried (at most 64 each)", r->applyq.entries);
	one_u64(f, "escrow_snapshots_served_total", "counter",
		"GET /v1/snapshot bodies sent whole", m->snapshots_served);
	one_seconds(f, "escrow_snapshot_seconds_sum", "counter",
		    "the time of the snapshots served, request to last byte",
		    m->snapshot_seconds);
	one_u64(f, "escrow_wal_pending_bytes", "gauge", "SQLite WAL bytes not yet written",
		walbuf_pending());
	per_route(f, "escrow_request_seconds_sum", "time from arrival to answer, per route", NULL,
		  m->seconds);
}

/* Requests by route and status code. */
static void write_http(FILE *f, const struct api_metrics *m)
{
	char labels[64];

	family(f, "escrow_http_request_duration_seconds", "histogram",
	       "time from a request's arrival to its answer, per route");
	for (int i = 0; i < API_ROUTES; i++) {
		snprintf(labels, sizeof labels, "route=\"%s\"", api_route_name(i));
		histogram_write(f, "escrow_http_request_duration_seconds", labels,
				&m->duration[i]);
	}
	/* Codes never answered are left out, as Prometheus clients do. */
	family(f, "escrow_http_responses_total", "counter", "answers by HTTP status code");
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

	family(f, "escrow_raft_role", "gauge", "1 for this node's Raft role, 0 for the others");
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		fprintf(f, "escrow_raft_role{role=\"%s\"} %d\n", roles[i],
			strcmp(role, roles[i]) == 0);
	one_u64(f, "escrow_raft_has_leader", "gauge", "1 when this node knows a leader",
		replica_leader(r) != 0);
	family(f, "escrow_apply_duration_seconds", "histogram",
	       "time the state machine takes to apply one committed entry");
	histogram_write(f, "escrow_apply_duration_seconds", "", &replica_fsm(r)->apply_seconds);
	family(f, "escrow_raft_commit_duration_seconds", "histogram",
	       "on the leader, from submitting an entry to its apply (log write, fsync, "
	       "replication to a majority)");
	histogram_write(f, "escrow_raft_commit_duration_seconds", "", replica_commit_seconds(r));
	family(f, "escrow_forward_duration_seconds", "histogram",
	       "one attempt of a follower forwarding a request to the leader, round trip");
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
	family(f, "escrow_build_info", "gauge",
	       "always 1: escrowd's version and the format version of the commands it writes");
	fprintf(f, "escrow_build_info{version=\"%s\",command_version=\"%d\"} 1\n",
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
