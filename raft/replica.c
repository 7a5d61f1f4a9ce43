/* One node's Raft replica: libraft with its libuv I/O, our FSM, leader readiness. */
#include "raft/replica.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "raft/codec.h"
#include "raft/nodelay.h"
#include "raft/segfill.h"
#include "raft/tuning.h"
#include "lib/error.h"
#include "lib/netaddr.h"

static int raft_error(char *errmsg, const char *what, int rv, const char *detail)
{
	return esc_errorf(errmsg, ESC_ERAFT, "%s: %s (%s)", what,
			  detail != NULL && detail[0] != '\0' ? detail : raft_strerror(rv),
			  raft_strerror(rv));
}

static void set_ready(struct replica *r, bool ready)
{
	if (r->ready == ready)
		return;
	r->ready = ready;
	/* Commands not yet answered belong to the term that ended. */
	if (!ready)
		applyq_fail(&r->applyq, ESC_ENOLEADER);
	if (r->leader_cb != NULL)
		r->leader_cb(r, ready);
}

static void ready_barrier_cb(struct raft_barrier *req, int status)
{
	struct replica *r = req->data;

	r->barrier_pending = false;
	if (r->closing)
		return;
	/* libraft 0.15 can commit entries of earlier terms by counting replicas
	 * (its bug #220): a new leader serves nothing until an entry of its own
	 * term is committed and applied. */
	if (status == 0 && raft_state(&r->raft) == RAFT_LEADER &&
	    r->raft.current_term == r->ready_term)
		set_ready(r, true);
}

static void commit_fatal_cb(void *data, const char *errmsg)
{
	struct replica *r = data;

	r->fatal_cb(&r->fsm, errmsg);
}

/* Whether this node has applied a configuration that holds it; once it
 * has, while it stays in the configuration. A node that joins knows a
 * leader, and has applied all it knows committed, long before its log
 * reaches the entry that added it: it would answer ready with no data. */
static bool member_applied(const struct replica *r)
{
	const struct raft *raft = &r->raft;
	raft_index at = raft->configuration_uncommitted_index != 0
				? raft->configuration_uncommitted_index
				: raft->configuration_index;

	return replica_member(r, r->id) != NULL &&
	       (r->member_applied || (at != 0 && raft->last_applied >= at));
}

/* After each loop turn: commit what was applied (when due: storecommit.h),
 * note whether this node is a member with its configuration applied,
 * notice a new term of leadership or its loss, aim the next Raft snapshot
 * at this node's own indexes (tuning_snapshot_stagger). */
static void watch_cb(uv_check_t *handle)
{
	struct replica *r = handle->data;
	bool leader = raft_state(&r->raft) == RAFT_LEADER && r->raft.transfer == NULL;

	storecommit_turn(&r->commit);
	if (r->closing)
		return;
	/* What the poll's callbacks submitted, in one batch. */
	applyq_flush(&r->applyq);
	r->member_applied = member_applied(r);
	if (replica_leader(r) != 0) {
		r->leader_known = true;
	} else if (r->leader_known) {
		r->leader_known = false;
		r->leader_lost_at = uv_now(r->loop);
	}
	if (r->seeded && r->raft.log.snapshot.last_index > 0) {
		r->seeded = false;
		tuning_raft(&r->raft, r->snapshot_threshold, r->snapshot_trailing, r->catch_up_ms);
		if (r->seeded_cb != NULL)
			r->seeded_cb(r);
	}
	if (!r->seeded) {
		/* Set once per snapshot: the store's size is a query. */
		if (r->period_for != r->raft.log.snapshot.last_index) {
			r->period_for = r->raft.log.snapshot.last_index;
			r->snapshot_period = tuning_snapshot_period(
				r->snapshot_threshold, r->snapshot_growth, store_bytes(r->fsm.store));
		}
		tuning_snapshot_stagger(&r->raft, r->snapshot_period);
	}
	if (!leader || r->raft.current_term != r->ready_term) {
		set_ready(r, false);
		if (!leader)
			return;
	}
	if (r->ready || r->barrier_pending)
		return;
	r->ready_term = r->raft.current_term;
	r->ready_barrier.data = r;
	if (raft_barrier(&r->raft, &r->ready_barrier, ready_barrier_cb) == 0)
		r->barrier_pending = true;
}

static void peer_log_cb(void *data, const char *msg)
{
	struct replica *r = data;

	if (r->peer_log_cb != NULL)
		r->peer_log_cb(r, msg);
}

/* Mutual TLS when both peer contexts are set, else libraft's plain TCP. */
static int transport_init(struct replica *r, char *errmsg)
{
	int rv;

	r->peer_tls = r->peer_server_ctx != NULL && r->peer_client_ctx != NULL;
	if (!r->peer_tls && (r->peer_server_ctx != NULL || r->peer_client_ctx != NULL))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "raft transport: a TLS context for one direction only");
	if (!r->peer_tls) {
		rv = raft_uv_tcp_init(&r->transport, r->loop);
		if (rv != 0)
			return raft_error(errmsg, "raft transport", rv, NULL);
		nodelay_install(&r->transport);
		return ESC_OK;
	}
	rv = peer_tls_init(&r->transport, r->loop, r->peer_server_ctx, r->peer_client_ctx,
			   errmsg);
	if (rv == ESC_OK)
		peer_tls_set_log(&r->transport, peer_log_cb, r);
	return rv;
}

/* Frees the transport: before raft_init's io->init, or after raft_close. */
static void transport_close(struct replica *r)
{
	if (r->peer_tls)
		peer_tls_close(&r->transport);
	else
		raft_uv_tcp_close(&r->transport);
}

static void fsm_applied_cb(struct fsm *f, uint64_t index, const struct store_result *result)
{
	struct replica *r = f->data;

	applyq_applied(&r->applyq, index, result);
}

int replica_init(struct replica *r, uv_loop_t *loop, unsigned id, const char *raft_addr,
		 const char *dir, struct store *store, char *errmsg)
{
	int rv;

	r->loop = loop;
	r->id = id;
	r->ready = false;
	r->barrier_pending = false;
	r->started = false;
	r->closing = false;
	r->ready_term = 0;
	memset(&r->commit_seconds, 0, sizeof r->commit_seconds);
	fsm_init(&r->fsm, store, r->fatal_cb, true);
	r->fsm.data = r;
	r->fsm.applied_cb = fsm_applied_cb;
	rv = transport_init(r, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = raft_uv_init(&r->guard.io, loop, dir, &r->transport);
	if (rv != 0) {
		raft_error(errmsg, "raft storage", rv, r->guard.io.errmsg);
		goto err_transport;
	}
	sendguard_install(&r->guard);
	segfill_enable();
	tuning_io(&r->guard.io, r->segment_size ? r->segment_size : TUNING_SEGMENT_SIZE);
	/* raft_uv_init says version 1 although it implements async_work, which
	 * the asynchronous snapshots of our FSM need (fixed upstream later). */
	r->guard.io.version = 2;
	rv = raft_init(&r->raft, &r->guard.io, &r->fsm.raft_fsm, id, raft_addr);
	if (rv != 0) {
		raft_error(errmsg, "raft", rv, raft_errmsg(&r->raft));
		goto err_io;
	}
	r->fsm.raft = &r->raft;
	r->raft.data = r;
	applyq_init(&r->applyq, &r->raft);
	tuning_raft(&r->raft, r->snapshot_threshold, r->snapshot_trailing, r->catch_up_ms);
	r->snapshot_period = r->snapshot_threshold;
	r->period_for = UINT64_MAX;
	if (r->seeded)
		tuning_raft_seeded(&r->raft);
	return ESC_OK;

err_io:
	raft_uv_close(&r->guard.io);
err_transport:
	transport_close(r);
	return ESC_ERAFT;
}

int replica_set_peer_tls(struct replica *r, struct tls_ctx *server, struct tls_ctx *client)
{
	if (!r->peer_tls || server == NULL || client == NULL)
		return ESC_EINVAL;
	r->peer_server_ctx = server;
	r->peer_client_ctx = client;
	peer_tls_set_ctx(&r->transport, server, client);
	return ESC_OK;
}

int replica_bootstrap(struct replica *r, unsigned n, const unsigned *ids,
		      const char *const *addrs, char *errmsg)
{
	struct raft_configuration conf;
	int rv;

	raft_configuration_init(&conf);
	for (unsigned i = 0; i < n; i++) {
		rv = raft_configuration_add(&conf, ids[i], addrs[i], RAFT_VOTER);
		if (rv != 0) {
			raft_configuration_close(&conf);
			return raft_error(errmsg, "bootstrap configuration", rv, NULL);
		}
	}
	rv = raft_bootstrap(&r->raft, &conf);
	raft_configuration_close(&conf);
	if (rv == RAFT_CANTBOOTSTRAP)
		return ESC_EBUSY;
	if (rv != 0)
		return raft_error(errmsg, "bootstrap", rv, raft_errmsg(&r->raft));
	return ESC_OK;
}

/* libraft reports a taken address as a bare "I/O error": try the bind
 * first to say what is wrong. */
static int check_bindable(const char *addr, char *errmsg)
{
	struct sockaddr_storage sa;
	struct netaddr na;
	socklen_t len;
	int fd, one = 1, rv;

	rv = netaddr_parse(addr, &na, errmsg);
	if (rv == ESC_OK)
		rv = netaddr_resolve(&na, &sa, &len, NULL, errmsg);
	if (rv != ESC_OK) {
		esc_errprefix(errmsg, "raft address");
		return rv;
	}
	fd = socket(sa.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return ESC_OK;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
		if (errno == EADDRINUSE)
			rv = esc_errorf(errmsg, ESC_EADDRINUSE,
					"raft address %s is already in use", addr);
		else
			rv = esc_errorf(errmsg, ESC_EIO, "raft address %s: %s", addr,
					strerror(errno));
	}
	close(fd);
	return rv;
}

/* The leader probe's view: a voter following a leader it has not heard
 * from for silent_ms. */
static void probe_look_cb(struct leaderprobe *p, struct leaderprobe_view *v)
{
	struct replica *r = p->data;
	const struct raft_server *me, *leader;
	raft_id id = 0;
	const char *addr = NULL;

	if (r->closing || raft_state(&r->raft) != RAFT_FOLLOWER)
		return;
	raft_leader(&r->raft, &id, &addr);
	me = replica_member(r, r->id);
	leader = id != 0 && id != r->id ? replica_member(r, (unsigned)id) : NULL;
	if (me == NULL || me->role != RAFT_VOTER || leader == NULL)
		return;
	v->follower = true;
	v->leader = (unsigned)id;
	v->address = leader->address;
	v->term = r->raft.current_term;
	v->silent_ms = r->guard.io.time(&r->guard.io) - r->raft.election_timer_start;
}

/* The leader's Raft port refuses connections: its process is gone. This
 * follower forgets it, so that it grants the (pre-)votes of the others at
 * once (libraft refuses them while it knows a leader), and its election
 * timer is made to expire after a random delay in [0, election timeout)
 * instead of [timeout, 2 x timeout): the followers that saw the leader go
 * together do not all stand at once and split the vote. The leader's
 * address stays allocated: libraft frees it at the next change. */
static void probe_gone_cb(struct leaderprobe *p, const struct leaderprobe_view *v)
{
	struct replica *r = p->data;
	struct raft_io *io = &r->guard.io;
	unsigned timeout = r->raft.follower_state.randomized_election_timeout;
	unsigned delay = (unsigned)io->random(io, 0, (int)r->raft.election_timeout);
	char msg[256];

	r->raft.follower_state.current_leader.id = 0;
	r->raft.election_timer_start = io->time(io) - (timeout - delay);
	if (r->election_log_cb == NULL)
		return;
	snprintf(msg, sizeof msg,
		 "leader %u at %.64s refuses connections after %llu ms of silence: its process "
		 "is gone; standing for election in %u ms instead of %u",
		 v->leader, v->address, (unsigned long long)v->silent_ms, delay, timeout);
	r->election_log_cb(r, msg);
}

int replica_start(struct replica *r, char *errmsg)
{
	const char *detail;
	int rv;

	rv = check_bindable(r->raft.address, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = raft_start(&r->raft);
	if (rv != 0) {
		detail = raft_errmsg(&r->raft);
		if (detail == NULL || detail[0] == '\0')
			detail = r->guard.io.errmsg;
		raft_error(errmsg, "raft start", rv, detail);
		return rv == RAFT_CORRUPT ? ESC_ECORRUPT : ESC_ERAFT;
	}
	r->started = true;
	applyq_start(&r->applyq, r->loop);
	uv_update_time(r->loop);
	r->leader_known = false;
	r->leader_lost_at = uv_now(r->loop);
	storecommit_init(&r->commit, r->loop, r->fsm.store, commit_fatal_cb, r);
	uv_check_init(r->loop, &r->watch);
	r->watch.data = r;
	uv_check_start(&r->watch, watch_cb);
	r->probe.data = r;
	r->probe.look = probe_look_cb;
	r->probe.gone = probe_gone_cb;
	leaderprobe_start(&r->probe, r->loop);
	return ESC_OK;
}

bool replica_ready(const struct replica *r)
{
	return r->ready && !r->closing && raft_state((struct raft *)&r->raft) == RAFT_LEADER;
}

unsigned replica_leader(const struct replica *r)
{
	raft_id id = 0;
	const char *addr = NULL;

	if (r->closing)
		return 0;
	raft_leader((struct raft *)&r->raft, &id, &addr);
	return (unsigned)id;
}

uint64_t replica_leaderless_ms(const struct replica *r)
{
	uint64_t now = uv_now(r->loop);

	if (replica_leader(r) != 0 || r->leader_known || now < r->leader_lost_at)
		return 0;
	return now - r->leader_lost_at;
}

bool replica_caught_up(const struct replica *r)
{
	unsigned leader = replica_leader(r);

	if (leader == 0)
		return false;
	if (leader == r->id)
		return replica_ready(r);
	return r->member_applied && r->raft.last_applied >= r->raft.commit_index;
}

int replica_apply(struct replica *r, struct replica_req *req, const struct cmd *c,
		  replica_apply_cb cb)
{
	if (!replica_ready(r))
		return ESC_ENOLEADER;
	req->buf.len = codec_encoded_size(c);
	req->buf.base = raft_malloc(req->buf.len);
	if (req->buf.base == NULL)
		return ESC_ENOMEM;
	if (codec_encode(c, req->buf.base, req->buf.len) != req->buf.len) {
		raft_free(req->buf.base);
		return ESC_EINVAL;
	}
	req->replica = r;
	req->apply_cb = cb;
	req->submitted = uv_hrtime();
	applyq_push(&r->applyq, req);
	return ESC_OK;
}

static void barrier_cb(struct raft_barrier *breq, int status)
{
	struct replica_req *req = breq->data;

	req->barrier_cb(req, status == 0 ? ESC_OK : ESC_ENOLEADER);
}

int replica_barrier(struct replica *r, struct replica_req *req, replica_barrier_cb cb)
{
	int rv;

	if (!replica_ready(r))
		return ESC_ENOLEADER;
	req->replica = r;
	req->barrier_cb = cb;
	req->barrier.data = req;
	/* Commands submitted before the barrier go into the log before it. */
	applyq_flush(&r->applyq);
	rv = raft_barrier(&r->raft, &req->barrier, barrier_cb);
	if (rv != 0)
		return rv == RAFT_NOMEM ? ESC_ENOMEM : ESC_ENOLEADER;
	return ESC_OK;
}

const char *replica_role(const struct replica *r)
{
	switch (raft_state((struct raft *)&r->raft)) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	default:
		return "unavailable";
	}
}

bool replica_running(const struct replica *r)
{
	return r->started && !r->closing;
}

bool replica_is_leader(const struct replica *r)
{
	return raft_state((struct raft *)&r->raft) == RAFT_LEADER;
}

uint64_t replica_term(const struct replica *r)
{
	return r->raft.current_term;
}

uint64_t replica_commit_index(const struct replica *r)
{
	return r->raft.commit_index;
}

uint64_t replica_applied_index(const struct replica *r)
{
	return r->raft.last_applied;
}

uint64_t replica_last_index(const struct replica *r)
{
	return raft_last_index((struct raft *)&r->raft);
}

uint64_t replica_stored_index(const struct replica *r)
{
	return r->raft.last_stored;
}

unsigned replica_snapshot_period(const struct replica *r)
{
	return r->snapshot_period;
}

bool replica_snapshot_in_progress(const struct replica *r)
{
	return r->raft.snapshot.pending.term != 0;
}

const struct fsm *replica_fsm(const struct replica *r)
{
	return &r->fsm;
}

const struct histogram *replica_commit_seconds(const struct replica *r)
{
	return &r->commit_seconds;
}

static void probe_closed_cb(struct leaderprobe *p)
{
	struct replica *r = p->data;

	r->close_cb(r);
}

static void flusher_close_cb(uv_handle_t *h)
{
	struct replica *r = h->data;

	leaderprobe_close(&r->probe, probe_closed_cb);
}

static void commit_close_cb(uv_handle_t *h)
{
	struct replica *r = h->data;

	applyq_close(&r->applyq, flusher_close_cb, r);
}

static void watch_close_cb(uv_handle_t *h)
{
	struct replica *r = h->data;

	storecommit_close(&r->commit, commit_close_cb, r);
}

static void raft_closed_cb(struct raft *raft)
{
	struct replica *r = raft->data;

	raft_uv_close(&r->guard.io);
	transport_close(r);
	if (r->started)
		uv_close((uv_handle_t *)&r->watch, watch_close_cb);
	else
		r->close_cb(r);
}

void replica_close(struct replica *r, replica_close_cb cb)
{
	r->close_cb = cb;
	r->closing = true;
	r->ready = false;
	applyq_fail(&r->applyq, ESC_ESHUTDOWN);
	raft_close(&r->raft, raft_closed_cb);
}
