/* GET /v1/snapshot: a consistent snapshot file, prepared off the loop and streamed. */
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/api.h"
#include "node/json_out.h"
#include "lib/log.h"
#include "lib/error.h"
#include "store/snapfile.h"

#define SNAPSHOT_CHUNK (1024 * 1024)
#define SNAPSHOT_CONCURRENT_MAX 2
#define SNAPSHOT_TMP_PREFIX "snapshot-"
#define SNAPSHOT_TMP_SUFFIX ".tmp"
#define SNAPSHOT_POLL_MS 10

/* One snapshot request, from its consistency wait to the end of the body. */
struct snap {
	struct op *op;
	uint64_t target;            /* applied index to reach before the copy */
	uv_timer_t timer;           /* polls for target */
	bool timer_open;
	struct http_client_req creq;
	uv_work_t work;
	struct snapfile_header h;
	int rv;
	char errmsg[ESC_ERRMSG_SIZE];
	char tmp_path[1100];
	uint8_t header[SNAPFILE_HEADER_SIZE];
	uv_fs_t fs;
	uv_file fd;
	char *buf;
	uint64_t sent;
	bool streaming;
};

static unsigned active;
static unsigned counter;

static void snap_free(struct snap *s)
{
	if (s->fd >= 0) {
		uv_fs_t req;
		uv_fs_close(NULL, &req, s->fd, NULL);
		uv_fs_req_cleanup(&req);
	}
	if (s->tmp_path[0] != '\0')
		unlink(s->tmp_path);
	free(s->buf);
	free(s);
	active--;
}

static void timer_closed_cb(uv_handle_t *h)
{
	snap_free(h->data);
}

/* Releases s once its timer (if any) is closed. */
static void snap_release(struct snap *s)
{
	if (s->timer_open) {
		s->timer_open = false;
		uv_close((uv_handle_t *)&s->timer, timer_closed_cb);
		return;
	}
	snap_free(s);
}

static void snap_fail(struct snap *s, int status, const char *code, const char *message)
{
	op_respond_error(s->op, status, code, message);
	snap_release(s);
}

static void stream_done(struct snap *s)
{
	op_stream_end(s->op, 200);
	snap_release(s);
}

static void read_cb(uv_fs_t *req);

static void written_cb(struct http_request *req, int status)
{
	struct snap *s = req->data;
	uint64_t total = SNAPFILE_HEADER_SIZE + s->h.payload_len;
	uv_buf_t b;

	/* A stopping node lets the stream finish within the HTTP drain time;
	 * past it the server cuts the connection and status says so. */
	if (status != ESC_OK) {
		log_warn("snapshot: the client went away after %" PRIu64 " of %" PRIu64 " bytes",
			 s->sent, total);
		stream_done(s);
		return;
	}
	if (s->sent >= total) {
		const struct api_ctx *ctx = s->op->ctx;
		log_info("snapshot: index %" PRIu64 ", %" PRIu64 " bytes sent", s->h.index, total);
		ctx->metrics->snapshots_served++;
		ctx->metrics->snapshot_seconds +=
			(double)(uv_now(ctx->loop) - s->op->req->received_ms) / 1000.0;
		stream_done(s);
		return;
	}
	b = uv_buf_init(s->buf, SNAPSHOT_CHUNK);
	if (uv_fs_read(s->op->ctx->loop, &s->fs, s->fd, &b, 1,
		       (int64_t)(s->sent - SNAPFILE_HEADER_SIZE), read_cb) != 0) {
		log_error("snapshot: cannot read %s", s->tmp_path);
		stream_done(s);
	}
}

static void read_cb(uv_fs_t *req)
{
	struct snap *s = req->data;
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	if (n <= 0) {
		/* The announced length cannot be met: the connection is closed
		 * and the client sees a short body, never a wrong one. */
		log_error("snapshot: reading %s failed at byte %" PRIu64, s->tmp_path, s->sent);
		stream_done(s);
		return;
	}
	s->sent += (uint64_t)n;
	if (http_stream_write(s->op->req, s->buf, (size_t)n, written_cb) != ESC_OK)
		stream_done(s);
}

static void stream_start(struct snap *s)
{
	char headers[256], sha[65];
	uv_fs_t req;

	for (int i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", s->h.sha256[i]);
	s->h.term = replica_term(s->op->ctx->replica);
	snapfile_header_encode(&s->h, s->header);
	s->fd = uv_fs_open(NULL, &req, s->tmp_path, UV_FS_O_RDONLY, 0, NULL);
	uv_fs_req_cleanup(&req);
	s->buf = malloc(SNAPSHOT_CHUNK);
	if (s->fd < 0 || s->buf == NULL) {
		snap_fail(s, 500, "snapshot_failed", "the snapshot copy could not be read");
		return;
	}
	s->fs.data = s;
	s->op->req->data = s;
	snprintf(headers, sizeof headers,
		 "X-Escrow-Snapshot-Index: %" PRIu64 "\r\nX-Escrow-Snapshot-Sha256: %s\r\n"
		 "Content-Disposition: attachment; filename=\"escrow-%" PRIu64 ".snap\"\r\n",
		 s->h.index, sha, s->h.index);
	if (http_stream_start(s->op->req, 200, headers, "application/octet-stream",
			      SNAPFILE_HEADER_SIZE + s->h.payload_len) != ESC_OK) {
		stream_done(s);
		return;
	}
	s->streaming = true;
	s->sent = SNAPFILE_HEADER_SIZE;
	if (http_stream_write(s->op->req, s->header, sizeof s->header, written_cb) != ESC_OK)
		stream_done(s);
}

static void prepare_work_cb(uv_work_t *w)
{
	struct snap *s = w->data;
	const struct api_ctx *ctx = s->op->ctx;

	s->rv = snapfile_prepare(ctx->dir->db_path, s->tmp_path, ctx->seal->fingerprint, &s->h,
				 s->errmsg);
}

static void prepare_done_cb(uv_work_t *w, int status)
{
	struct snap *s = w->data;

	if (status != 0 || s->rv != ESC_OK) {
		log_error("snapshot: %s", status != 0 ? "cancelled" : s->errmsg);
		snap_fail(s, 500, "snapshot_failed", "the snapshot could not be taken");
		return;
	}
	/* The copy's index is that of the last command it holds. Every entry
	 * up to s->target was applied before the copy began, so a copy index
	 * below it only means the entries in between changed no state
	 * (barriers, configuration). */
	stream_start(s);
}

/* Every entry up to s->target is applied here: copy the database. */
static void prepare(struct snap *s)
{
	const struct api_ctx *ctx = s->op->ctx;
	char errmsg[ESC_ERRMSG_SIZE];

	if (store_flush(ctx->store, errmsg) != ESC_OK) {
		log_error("snapshot: %s", errmsg);
		snap_fail(s, 500, "snapshot_failed", "the store could not be flushed");
		return;
	}
	snprintf(s->tmp_path, sizeof s->tmp_path, "%s/%s%u-%u%s", ctx->dir->path,
		 SNAPSHOT_TMP_PREFIX, (unsigned)getpid(), counter++, SNAPSHOT_TMP_SUFFIX);
	s->work.data = s;
	if (uv_queue_work(ctx->loop, &s->work, prepare_work_cb, prepare_done_cb) != 0) {
		s->tmp_path[0] = '\0';
		snap_fail(s, 500, "snapshot_failed", "no worker thread for the snapshot");
	}
}

static void poll_cb(uv_timer_t *t)
{
	struct snap *s = t->data;
	const struct api_ctx *ctx = s->op->ctx;

	if (*ctx->stopping) {
		uv_timer_stop(t);
		snap_fail(s, 503, "shutting_down", "this node is shutting down");
		return;
	}
	if (replica_applied_index(ctx->replica) >= s->target) {
		uv_timer_stop(t);
		prepare(s);
		return;
	}
	if (uv_now(ctx->loop) >= s->op->deadline) {
		uv_timer_stop(t);
		snap_fail(s, 503, "catching_up",
			  "this node could not apply the leader's committed entries in time");
	}
}

/* A follower serves the snapshot once it has applied its own snapshot.save
 * audit entry, which the leader appended after everything it had committed
 * when the request arrived. */
static void leader_audit_cb(struct http_client_req *creq, int status,
			    const struct http_response *resp)
{
	struct snap *s = creq->data;
	json_t *j = NULL;
	json_int_t index = -1;

	if (status == ESC_OK && resp->status == 200)
		j = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (j == NULL || json_unpack(j, "{s:I}", "index", &index) != 0 || index <= 0) {
		json_decref(j);
		snap_fail(s, 503, "no_leader",
			  "the leader did not record the snapshot in the audit trail; retry "
			  "shortly");
		return;
	}
	json_decref(j);
	s->target = (uint64_t)index;
	s->timer.data = s;
	uv_timer_init(s->op->ctx->loop, &s->timer);
	s->timer_open = true;
	uv_timer_start(&s->timer, poll_cb, 0, SNAPSHOT_POLL_MS);
}

/* On the leader: the audit entry is applied, and with it every entry
 * committed before the request. */
static void audit_applied_cb(struct replica_req *rreq, int status,
			     const struct store_result *res)
{
	struct snap *s = rreq->data;

	if (status != ESC_OK) {
		snap_fail(s, 503, "no_leader", "leadership was lost; retry shortly");
		return;
	}
	if (res->status != ESC_OK) {
		snap_fail(s, 500, "snapshot_failed", "the snapshot.save audit entry was refused");
		return;
	}
	s->target = res->index;
	prepare(s);
}

void api_snapshot(struct op *op)
{
	const struct api_ctx *ctx = op->ctx;
	unsigned leader = replica_leader(ctx->replica);
	char api[API_ADDR_MAX], headers[512];
	bool have_api = leader != 0 && api_ctx_member_api(ctx, leader, api, sizeof api);
	struct snap *s;

	if (active >= SNAPSHOT_CONCURRENT_MAX) {
		op_respond_error(op, 503, "busy", "snapshots are already being taken here");
		return;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		op_respond_error(op, 500, "out_of_memory", "the node ran out of memory");
		return;
	}
	active++;
	s->op = op;
	s->fd = -1;
	/* The snapshot is audited before it is taken, and holds its own entry. */
	if (replica_ready(ctx->replica)) {
		api_audit_cmd(op, "snapshot.save");
		op->rreq.data = s;
		if (replica_apply(ctx->replica, &op->rreq, &op->cmd, audit_applied_cb) != ESC_OK)
			snap_fail(s, 503, "no_leader", "leadership was lost; retry shortly");
		return;
	}
	if (leader == 0 || leader == ctx->node_id || !have_api) {
		snap_fail(s, 503, "no_leader", "no leader is known; retry shortly");
		return;
	}
	dispatch_forward_headers(op, headers, sizeof headers);
	s->creq.data = s;
	if (http_client_send(ctx->client, &s->creq, api, "POST", "/v1/snapshot/audit", headers,
			     NULL, 0, DISPATCH_FORWARD_ATTEMPT_MS, leader_audit_cb) != ESC_OK)
		snap_fail(s, 503, "no_leader", "the leader could not be asked; retry shortly");
}

static void audit_done(struct replica_req *rreq, int status, const struct store_result *res)
{
	struct op *op = rreq->data;

	if (api_applied(op, status, res))
		json_respond(op, 200, json_pack("{s:I}", "index", (json_int_t)res->index));
}

static void audit_run(struct op *op)
{
	api_apply(op, audit_done);
}

/* Audit entries are written by the cluster, never by a client: only a peer
 * (a forwarded request: over TLS only a node's certificate naming the
 * forwarding node makes one) may ask. */
void api_snapshot_audit(struct op *op)
{
	if (!op->forwarded_in) {
		op_respond_error(op, 403, "forbidden",
				 "only a node serving GET /v1/snapshot writes this audit entry");
		return;
	}
	api_audit_cmd(op, "snapshot.save");
	op->run = audit_run;
	dispatch(op);
}

void api_snapshot_cleanup(const char *dir)
{
	size_t plen = strlen(SNAPSHOT_TMP_PREFIX), slen = strlen(SNAPSHOT_TMP_SUFFIX);
	char path[1100];
	struct dirent *e;
	DIR *dh = opendir(dir);

	if (dh == NULL)
		return;
	while ((e = readdir(dh)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n > plen + slen && strncmp(e->d_name, SNAPSHOT_TMP_PREFIX, plen) == 0 &&
		    strcmp(e->d_name + n - slen, SNAPSHOT_TMP_SUFFIX) == 0) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	}
	closedir(dh);
}
