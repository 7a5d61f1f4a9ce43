/* The escrowd process: owns the loop and every service, starts and stops them. */
#include "node/daemon.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/api.h"
#include "node/daemon_tls.h"
#include "node/diskwatch.h"
#include "node/dispatch.h"
#include "node/join.h"
#include "lib/log.h"
#include "node/storeguard.h"
#include "lib/error.h"
#include "lib/netaddr.h"
#include "raft/codec.h"
#include "raft/segtail.h"
#include "store/journal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

int64_t daemon_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void api_stop(const struct api_ctx *ctx, int exit_code)
{
	daemon_stop(ctx->data, exit_code);
}

/* Fills what requests see of d: everything but the store, which start
 * adds once it is open. */
static void api_ctx_fill(struct daemon *d)
{
	struct api_ctx *c = &d->api;

	c->loop = &d->loop;
	c->node_id = d->opts->id;
	c->bootstrap = d->opts->bootstrap;
	c->restored = d->restored;
	c->replica = &d->replica;
	c->seal = &d->seal;
	c->dir = &d->dir;
	c->client = &d->client;
	c->metrics = &d->metrics;
	c->lag = &d->lag;
	c->http = &d->http;
	c->stopping = &d->stopping;
	c->clock_ms = daemon_clock_ms;
	c->stop = api_stop;
	c->data = d;
	c->queue = &d->queue;
	c->stamps = &d->stamps;
	c->break_glass_after_ms = (uint64_t)d->opts->break_glass_after * 1000;
}

/* The HTTP server's data is the API context (api_handle). */
static struct daemon *server_daemon(struct http_server *s)
{
	return ((struct api_ctx *)s->data)->data;
}

static const char *common_headers_cb(struct http_server *s, const struct http_request *req)
{
	struct daemon *d = server_daemon(s);
	unsigned leader = replica_leader(&d->replica);
	size_t n = d->common_node_len;

	/* The node and leader lines are written again only when the leader
	 * changes; what follows them depends on the request. */
	if (n == 0 || leader != d->common_leader) {
		if (leader != 0)
			snprintf(d->common_headers, sizeof d->common_headers,
				 "X-Escrow-Node: %u\r\nX-Escrow-Leader: %u\r\n", d->opts->id,
				 leader);
		else
			snprintf(d->common_headers, sizeof d->common_headers,
				 "X-Escrow-Node: %u\r\n", d->opts->id);
		n = d->common_node_len = strlen(d->common_headers);
		d->common_leader = leader;
	}
	origin_headers(s->data, req, req != NULL && api_console_path(req->path),
		       d->common_headers + n, sizeof d->common_headers - n);
	return d->common_headers;
}

/* The store refused a committed entry, or it is a later build's command:
 * stopping beats diverging. The entry stays in the Raft log, unapplied,
 * and is met again at the next start. _exit from the apply callback is
 * safe: entries applied since the last flush are in an uncommitted SQLite
 * transaction and are applied again (the store skips what it holds). */
static void fatal_apply_cb(struct fsm *f, const char *errmsg)
{
	log_error("fatal: %s", errmsg);
	_exit(1);
}

static struct replica_req init_req;

static void init_done(struct replica_req *req, int status, const struct store_result *res)
{
	if (status == ESC_OK)
		log_info("cluster initialised at index %llu", (unsigned long long)res->index);
}

/* The first leader of a new cluster records its id and members. */
static void cluster_init(struct daemon *d)
{
	static struct cmd c;
	uint8_t raw[CMD_CLUSTER_ID_LEN / 2];

	if (store_cluster_id(d->store)[0] != '\0' || d->opts->bootstrap == NULL)
		return;
	if (RAND_bytes(raw, sizeof raw) != 1)
		return;
	memset(&c, 0, sizeof c);
	c.type = CMD_INIT;
	c.node_id = d->opts->id;
	c.at_ms = daemon_clock_ms();
	snprintf(c.actor, sizeof c.actor, "escrowd");
	snprintf(c.role, sizeof c.role, "operator");
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(c.cluster_id + 2 * i, 3, "%02x", raw[i]);
	snprintf(c.members, sizeof c.members, "%s", d->opts->bootstrap);
	if (replica_apply(&d->replica, &init_req, &c, init_done) != ESC_OK)
		log_warn("cluster init could not be submitted; the next leader will");
}

static void leader_cb(struct replica *r, bool ready)
{
	struct daemon *d = r->data;

	log_info(ready ? "leader of term %llu, serving" : "no longer leader (term %llu)",
		 (unsigned long long)replica_term(r));
	if (!ready)
		return;
	cluster_init(d);
	dispatch_flush(&d->queue);
}

/* A disk nearly full (libraft 0.15 crashes or stops storing when its
 * writes fail), or log writes or applies that stopped moving (a failing or
 * hung disk; libraft would go on, a leader staying leader): stop instead,
 * saying why. The others elect a leader; a restart starts clean. */
static void health_check(struct daemon *d)
{
	struct replica *r = &d->replica;
	const char *paths[2] = { d->dir.raft_dir, d->dir.path };
	uint64_t now = uv_hrtime(), free_bytes;
	char why[512];

	if (!replica_running(r) || d->stopping)
		return;
	if (now - d->disk_checked_ns >= (uint64_t)DISKWATCH_EVERY_MS * 1000000) {
		d->disk_checked_ns = now;
		for (int i = 0; i < 2; i++)
			if (diskwatch_free(paths[i], &free_bytes) &&
			    diskwatch_low(paths[i], free_bytes,
					  diskwatch_min_free(d->opts->raft_segment_size), why,
					  sizeof why)) {
				log_error("fatal: %s; stopping (the other nodes carry on; restart "
					  "this one once its disk has room)", why);
				_exit(1);
			}
	}
	if (!stallwatch_check(&d->stall, now, replica_stored_index(r), replica_last_index(r),
			      replica_applied_index(r), replica_commit_index(r), why, sizeof why))
		return;
	log_error("fatal: %s; stopping (the other nodes carry on; restart this one once its "
		  "disk works)", why);
	_exit(1);
}

/* A loop that runs late stalls every request: record the worst delay, and
 * say what the loop thread was doing meanwhile, to find the cause. */
static void tick_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct looplag_report r;

	health_check(d);
	rejudge_step(&d->rejudge);
	if (d->http_started)
		breakglass_tick(&d->breakglass);
	if (!looplag_tick(&d->lag, uv_hrtime(), DAEMON_LAG_WARN_MS, &r))
		return;
	log_warn("event loop ran %llu ms late: %llu ms on the CPU, %llu ms waiting for a CPU, "
		 "%llu ms blocked (raft snapshot %s, applied %llu)",
		 (unsigned long long)(r.late_us / 1000), (unsigned long long)(r.cpu_us / 1000),
		 (unsigned long long)(r.wait_us / 1000), (unsigned long long)(r.blocked_us / 1000),
		 replica_snapshot_in_progress(&d->replica) ? "in progress" : "idle",
		 (unsigned long long)store_applied_index(d->store));
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	log_info("signal %d: stopping", signum);
	daemon_stop(d, 0);
}

static void sighup_cb(uv_signal_t *h, int signum)
{
	(void)signum;
	daemon_tls_reload(h->data);
}

static void handle_closed_cb(uv_handle_t *h)
{
	(void)h;
}

static void client_closed_cb(struct http_client *c)
{
	struct daemon *d = c->data;

	uv_close((uv_handle_t *)&d->sigterm, handle_closed_cb);
	uv_close((uv_handle_t *)&d->sigint, handle_closed_cb);
	uv_close((uv_handle_t *)&d->sighup, handle_closed_cb);
	uv_close((uv_handle_t *)&d->queue.retry_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&d->queue.batch_check, handle_closed_cb);
	uv_close((uv_handle_t *)&d->tick, handle_closed_cb);
}

static void replica_closed_cb(struct replica *r)
{
	struct daemon *d = r->data;

	log_info("raft closed");
	http_client_close(&d->client, client_closed_cb);
}

static void close_replica(struct daemon *d)
{
	if (d->replica_inited)
		replica_close(&d->replica, replica_closed_cb);
	else
		http_client_close(&d->client, client_closed_cb);
}

static void http_stopped_cb(struct http_server *s)
{
	struct daemon *d = server_daemon(s);

	dispatch_close(&d->queue);
	close_replica(d);
}

/* The chain of closes: HTTP (drained), Raft, the forwarding client, then
 * our own handles; uv_run returns once all are closed. */
void daemon_stop(struct daemon *d, int exit_code)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = exit_code;
	uv_signal_stop(&d->sigterm);
	uv_signal_stop(&d->sigint);
	uv_signal_stop(&d->sighup);
	uv_timer_stop(&d->tick);
	join_stop();
	dispatch_close(&d->queue);
	metrics_listener_stop(&d->metrics_listener);
	if (d->http_started)
		http_server_stop(&d->http, http_stopped_cb);
	else
		close_replica(d);
}

/* True when the raft directory already holds a cluster's state. */
static bool raft_has_state(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/metadata1", dir);
	if (access(path, F_OK) == 0)
		return true;
	snprintf(path, sizeof path, "%s/metadata2", dir);
	return access(path, F_OK) == 0;
}

static int bootstrap(struct daemon *d, const char *members, char *errmsg)
{
	struct bootstrap_member m[API_MEMBERS_MAX];
	unsigned ids[API_MEMBERS_MAX], n;
	const char *addrs[API_MEMBERS_MAX];
	int rv;

	rv = bootstrap_parse(members, m, API_MEMBERS_MAX, &n, errmsg);
	if (rv != ESC_OK)
		return rv;
	for (unsigned i = 0; i < n; i++) {
		ids[i] = m[i].id;
		addrs[i] = m[i].raft;
	}
	rv = replica_bootstrap(&d->replica, n, ids, addrs, errmsg);
	return rv == ESC_EBUSY ? ESC_OK : rv;
}

/* An election started early because the leader's process is gone
 * (raft/leaderprobe.h). */
static void election_log_cb(struct replica *r, const char *msg)
{
	(void)r;
	log_info("raft: %s", msg);
}

/* Before libraft loads the log: an open segment it would fail to load
 * (and double-free on) is cut after its last whole batch (raft/segtail.h). */
static int trim_open_segments(struct daemon *d, char *errmsg)
{
	struct segtail_fix fixes[SEGTAIL_FIXES_MAX];
	unsigned n;
	int rv = segtail_trim(d->dir.raft_dir, fixes, &n, errmsg);

	if (rv != ESC_OK) {
		esc_errprefix(errmsg, "raft log");
		return rv;
	}
	for (unsigned i = 0; i < n && i < SEGTAIL_FIXES_MAX; i++)
		log_warn("raft log: open segment %s ends in a batch that cannot be read whole "
			 "(the node stopped before closing it): cut from %zu to %zu bytes after "
			 "its %u whole batches, as libraft drops a damaged end",
			 fixes[i].name, fixes[i].size, fixes[i].kept, fixes[i].batches);
	if (n > SEGTAIL_FIXES_MAX)
		log_warn("raft log: %u more open segments cut the same way", n - SEGTAIL_FIXES_MAX);
	return ESC_OK;
}

/* A node seeded by `escrowctl snapshot restore` bootstraps the one-node
 * cluster written in its marker, which must name this node as started. */
static int read_restored(struct daemon *d, char *errmsg)
{
	struct bootstrap_member m[API_MEMBERS_MAX];
	unsigned n;
	int rv;

	rv = datadir_read_file(&d->dir, DATADIR_RESTORED, d->restored, sizeof d->restored,
			       errmsg);
	if (rv == ESC_ENOTFOUND) {
		d->restored[0] = '\0';
		return ESC_OK;
	}
	if (rv != ESC_OK)
		return rv;
	rv = bootstrap_parse(d->restored, m, API_MEMBERS_MAX, &n, errmsg);
	if (rv != ESC_OK || n != 1 || m[0].id != d->opts->id ||
	    strcmp(m[0].raft, d->opts->raft_addr) != 0 || strcmp(m[0].api, d->opts->api_addr) != 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "data dir %s was restored for %s; start this node with that id "
				  "and those addresses",
				  d->dir.path, d->restored);
	d->replica.seeded = true;
	return ESC_OK;
}

static void seeded_cb(struct replica *r)
{
	struct daemon *d = r->data;
	char errmsg[ESC_ERRMSG_SIZE];

	if (datadir_remove_file(&d->dir, DATADIR_RESTORED, errmsg) != ESC_OK)
		log_warn("%s", errmsg);
	log_info("restored state is in a Raft snapshot: other nodes may join now");
}

/* Why a connection to another node's API failed (TLS, an unresolvable
 * name): the client rate-limits these. */
static void client_log_cb(struct http_client *c, const char *msg)
{
	(void)c;
	log_warn("forwarding: %s", msg);
}

/* A listening address given as a name is bound to the first address it
 * resolves to: say which. */
static void log_listen_choice(const char *what, const char *addr)
{
	char errmsg[ESC_ERRMSG_SIZE], text[NETADDR_TEXT_MAX];
	struct sockaddr_storage ss;
	struct netaddr a;
	socklen_t len;

	if (netaddr_parse(addr, &a, errmsg) != ESC_OK || a.kind != NETADDR_NAME)
		return;
	if (netaddr_resolve(&a, &ss, &len, NULL, errmsg) != ESC_OK)
		return; /* the bind reports it */
	netaddr_sockaddr_text((struct sockaddr *)&ss, text, sizeof text);
	log_info("%s address %s: listening on %s, the first address the name resolves to",
		 what, addr, text);
}

/* Opens the store, first throwing it away when the machine went down under a
 * running escrowd: libraft then restores its snapshot into the new store and
 * applies its log (node/storeguard.h). */
static int open_store(struct daemon *d, char *errmsg)
{
	char recorded[64];
	bool rebuild;
	int rv;

	rv = storeguard_check(&d->dir, d->replica.seeded, &rebuild, recorded, sizeof recorded,
			      errmsg);
	if (rv != ESC_OK)
		return rv;
	if (rebuild) {
		log_warn("the machine restarted while escrowd ran (boot %s): the store may have "
			 "lost writes, so it is rebuilt from the Raft snapshot and log", recorded);
		rv = store_remove_files(d->dir.db_path, errmsg);
		if (rv != ESC_OK)
			return rv;
	}
	rv = storeguard_arm(&d->dir, errmsg);
	if (rv != ESC_OK)
		return rv;
	return store_open(&d->store, d->dir.db_path, errmsg);
}

/* After a clean close: makes the store durable, then says it can be trusted. */
static void release_store(struct daemon *d)
{
	char errmsg[ESC_ERRMSG_SIZE];

	if (store_sync_files(d->dir.db_path, errmsg) != ESC_OK ||
	    storeguard_release(&d->dir, errmsg) != ESC_OK)
		log_warn("%s (the next start checks the store again)", errmsg);
}

/* Opens everything in order; on error daemon_stop closes what was opened. */
static int start(struct daemon *d, char *errmsg)
{
	const struct options *o = d->opts;
	bool has_state;
	int rv;

	/* First, so that a taken port leaves the data dir untouched. No
	 * request is served before the loop runs, once all below is open. */
	if (o->metrics_addr != NULL) {
		rv = metrics_listener_start(&d->metrics_listener, &d->loop, &d->api,
					    o->metrics_addr, errmsg);
		if (rv != ESC_OK)
			return rv;
	}
	rv = datadir_open(&d->dir, o->data_dir, o->id, errmsg);
	if (rv != ESC_OK)
		return rv;
	d->dir_open = true;
	api_snapshot_cleanup(d->dir.path);
	rv = breakglass_init(&d->breakglass, &d->api, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = seal_key_load(&d->seal, o->seal_key, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = datadir_check_seal(&d->dir, d->seal.fingerprint, o->seal_key, errmsg);
	if (rv != ESC_OK)
		return rv;
	/* Without memory for it each MAC makes its own context. */
	d->seal_mac = seal_mac_ctx_new(&d->seal);
	d->api.seal_mac = d->seal_mac;
	rv = read_restored(d, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = open_store(d, errmsg);
	if (rv != ESC_OK)
		return rv;
	d->api.store = d->store;
	has_state = raft_has_state(d->dir.raft_dir);
	if (!has_state && o->bootstrap == NULL && o->join == NULL && d->restored[0] == '\0')
		return esc_errorf(errmsg, ESC_EINVAL,
				  "data dir %s holds no cluster state: give --bootstrap for a "
				  "new cluster or --join URL to join a running one",
				  o->data_dir);
	d->replica.data = d;
	d->replica.leader_cb = leader_cb;
	d->replica.fatal_cb = fatal_apply_cb;
	d->replica.seeded_cb = seeded_cb;
	d->replica.election_log_cb = election_log_cb;
	d->replica.snapshot_threshold = o->snapshot_threshold;
	d->replica.segment_size = o->raft_segment_size;
	d->replica.snapshot_trailing = o->snapshot_trailing;
	d->replica.catch_up_ms = o->catch_up_timeout * 1000;
	d->replica.snapshot_growth = o->snapshot_growth;
	rv = daemon_tls_load(d, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = trim_open_segments(d, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = replica_init(&d->replica, &d->loop, o->id, o->raft_addr, d->dir.raft_dir, d->store,
			  errmsg);
	if (rv != ESC_OK)
		return rv;
	d->replica_inited = true;
	/* A restored data dir starts as the one-node cluster of its marker even
	 * when the config still names --bootstrap or --join (a config file kept
	 * from the cluster that was lost): as on any restart with state, those
	 * flags do not apply to it. */
	if (!has_state && d->restored[0] != '\0' && (o->bootstrap != NULL || o->join != NULL))
		log_info("data dir %s was restored from a snapshot: it starts as the one-node "
			 "cluster %s, and --bootstrap/--join are ignored", d->dir.path, d->restored);
	if (!has_state && (o->bootstrap != NULL || d->restored[0] != '\0')) {
		rv = bootstrap(d, d->restored[0] != '\0' ? d->restored : o->bootstrap, errmsg);
		if (rv != ESC_OK)
			return rv;
	}
	log_listen_choice("api", o->api_addr);
	log_listen_choice("raft", o->raft_addr);
	d->http.data = &d->api;
	d->http.handler = api_handle;
	d->http.common_headers = common_headers_cb;
	rv = http_server_start(&d->http, &d->loop, o->api_addr, errmsg);
	if (rv != ESC_OK)
		return rv;
	d->http_started = true;
	rv = replica_start(&d->replica, errmsg);
	if (rv == ESC_ECORRUPT) {
		/* Never start on a damaged log: committed entries could be
		 * dropped silently. The other nodes hold them. */
		size_t pending = breakglass_pending(&d->breakglass);
		log_error("%s", errmsg);
		if (pending > 0)
			log_error("%s holds %zu break-glass lookup(s) served without a leader "
				  "and not yet in the audit log: keep it when emptying the data "
				  "dir; it is replayed once this node has joined again",
				  d->breakglass.path, pending);
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "damaged Raft log: this node does not start on it (the other "
				  "nodes hold the log); recover: empty %s but for its "
				  JOURNAL_FILE "* files, then start with --join "
				  "URL-of-a-running-node",
				  d->dir.path);
	}
	if (rv != ESC_OK)
		return rv;
	rv = datadir_commit_id(&d->dir, errmsg);
	if (rv != ESC_OK)
		return rv;
	if (!has_state && o->join != NULL && o->bootstrap == NULL && d->restored[0] == '\0')
		join_start(&d->api, o);
	return ESC_OK;
}

int daemon_run(const struct options *o)
{
	static struct daemon daemon;
	struct daemon *d = &daemon;
	char errmsg[ESC_ERRMSG_SIZE] = "";
	int rv;

	memset(d, 0, sizeof *d);
	d->opts = o;
	/* Says which build met what, should a newer command stop it. */
	log_info("escrowd %s (command format %u) starting", PACKAGE_VERSION, codec_version);
	if (uv_loop_init(&d->loop) != 0) {
		log_error("event loop: cannot initialise");
		return 1;
	}
	http_client_init(&d->client, &d->loop);
	d->client.log_cb = client_log_cb;
	d->client.data = d;
	dispatch_queue_init(&d->queue, &d->loop);
	api_ctx_fill(d);
	d->rejudge.ctx = &d->api;
	uv_timer_init(&d->loop, &d->tick);
	looplag_init(&d->lag, DAEMON_TICK_MS);
	d->tick.data = d;
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sighup);
	d->sigterm.data = d;
	d->sigint.data = d;
	d->sighup.data = d;

	rv = start(d, errmsg);
	if (rv != ESC_OK) {
		log_error("%s", errmsg);
		daemon_stop(d, 1);
	} else {
		/* Counted from here: loading a large state at start is no stall. */
		stallwatch_init(&d->stall, uv_hrtime());
		uv_timer_start(&d->tick, tick_cb, DAEMON_TICK_MS, DAEMON_TICK_MS);
		uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
		uv_signal_start(&d->sigint, signal_cb, SIGINT);
		uv_signal_start(&d->sighup, sighup_cb, SIGHUP);
		log_info("serving the API on %s, raft on %s, data in %s", o->api_addr,
			 o->raft_addr, o->data_dir);
		if (o->metrics_addr != NULL)
			log_info("serving /metrics and /v1/health on %s (plain HTTP)",
				 o->metrics_addr);
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	rv = uv_loop_close(&d->loop);
	if (rv != 0)
		log_warn("event loop: %s at close", uv_strerror(rv));
	looplag_close(&d->lag);
	if (d->store != NULL) {
		store_close(d->store);
		release_store(d);
	}
	seal_mac_ctx_free(d->seal_mac);
	seal_key_close(&d->seal);
	breakglass_free(&d->breakglass);
	daemon_tls_free(d);
	if (d->dir_open)
		datadir_close(&d->dir);
	if (d->exit_code == 0)
		log_info("stopped");
	return d->exit_code;
}
