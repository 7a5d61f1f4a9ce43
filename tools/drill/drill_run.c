/* escrowctl drill run: a cluster of its own, faults on a seeded schedule while the
 * canary workload runs, then healed, read back, converged and checked. */
#include "tools/drill/drill_run.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/drill/drill_audit.h"
#include "tools/drill/drill_breakglass.h"
#include "tools/drill/drill_comply.h"
#include "tools/drill/drill_run_internal.h"

#define RUN_READY_MS 60000.0
#define RUN_CONVERGE_MS 60000.0

static const char *const kind_names[F__COUNT] = {
	[F_KILL_LEADER] = "kill-leader", [F_KILL_FOLLOWER] = "kill-follower",
	[F_PAUSE_LEADER] = "pause-leader", [F_RESTART_ALL] = "restart-all",
	[F_KILL_TWO] = "kill-two", [F_DAMAGED_SEGMENT] = "damaged-segment",
	[F_PARTITION_LEADER] = "partition-leader", [F_PARTITION_SPLIT] = "partition-split",
	[F_PARTITION_ONEWAY] = "partition-oneway", [F_DISK_FULL] = "disk-full",
	[F_QUORUM_LOSS] = "quorum-loss", [F_SLOW_DISK] = "slow-disk",
};

/* How long each fault lasts before it is healed. */
static const double hold_ms[F__COUNT] = {
	[F_KILL_LEADER] = 2500, [F_KILL_FOLLOWER] = 2500,
	[F_PAUSE_LEADER] = 2000, /* several election timeouts (300 ms) */
	[F_RESTART_ALL] = 300, [F_KILL_TWO] = 2500,
	[F_DAMAGED_SEGMENT] = 20000, /* at most: healed once the node refused to start
					(a starved or sanitized node may take seconds) */
	[F_PARTITION_LEADER] = 3000, [F_PARTITION_SPLIT] = 3000, [F_PARTITION_ONEWAY] = 3000,
	[F_DISK_FULL] = 20000, /* at most: healed once the node stopped */
	/* the nodes left see no leader for --break-glass-after, then serve */
	[F_QUORUM_LOSS] = 7000,
	[F_SLOW_DISK] = 8000, /* about 40 fsyncs at 5 a second */
};

/* What the cluster may need after the heal before it serves again (killed
 * nodes start, elect): a fault starts only if its hold and this fit before
 * the load ends, so that its failover is measured. */
static const double recover_ms[F__COUNT] = {
	[F_KILL_LEADER] = 3000, [F_KILL_FOLLOWER] = 2000, [F_PAUSE_LEADER] = 3000,
	[F_RESTART_ALL] = 5000, [F_KILL_TWO] = 4000, [F_DAMAGED_SEGMENT] = 3000,
	[F_PARTITION_LEADER] = 3000, [F_PARTITION_SPLIT] = 3000, [F_PARTITION_ONEWAY] = 3000,
	[F_DISK_FULL] = 3000, [F_QUORUM_LOSS] = 12000, [F_SLOW_DISK] = 3000,
};

const char *drill_run_transport(const struct dcluster *c)
{
	return c->tls ? "tls" : "plain";
}

const char *drill_fault_name(enum fault_kind k)
{
	return k < F__COUNT ? kind_names[k] : "?";
}

int drill_fault_parse(const char *name, enum fault_kind *k)
{
	for (int i = 0; i < F__COUNT; i++)
		if (strcmp(name, kind_names[i]) == 0) {
			*k = (enum fault_kind)i;
			return 0;
		}
	return -1;
}

/* xorshift64*: the schedule depends on the seed alone. */
/* splitmix64's finaliser: nearby seeds (1, 2, ...) give unrelated schedules. */
static uint64_t mix_seed(uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z != 0 ? z : 0x9e3779b97f4a7c15ULL;
}

uint64_t run_rnd(struct run *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 2685821657736338717ULL;
}

static void shuffle(struct run *r)
{
	for (size_t i = r->n_kinds; i > 1; i--) {
		size_t j = (size_t)(run_rnd(r) % i);
		enum fault_kind t = r->order[i - 1];
		r->order[i - 1] = r->order[j];
		r->order[j] = t;
	}
}

static void say(struct run *r, double t, const char *what, const struct fault *f)
{
	if (r->d->opts.json)
		return;
	fprintf(stderr, "drill: %6.1f s  %s %s", t / 1e3, what, drill_fault_name(f->kind));
	for (int k = 0; k < 2; k++)
		if (f->nodes[k] >= 0)
			fprintf(stderr, " node %u", r->c.nodes[f->nodes[k]].id);
	for (size_t i = 0; i < r->c.n; i++)
		if ((f->killed >> i) & 1u)
			fprintf(stderr, " node %u", r->c.nodes[i].id);
	for (size_t i = 0; i < r->c.n; i++)
		if ((f->cut >> i) & 1u)
			fprintf(stderr, " cut-off %u", r->c.nodes[i].id);
	fputc('\n', stderr);
}

static void inject(struct run *r, double t)
{
	struct fault *f = &r->faults[r->n_faults];

	memset(f, 0, sizeof *f);
	f->kind = r->order[r->next_kind++ % r->n_kinds];
	if (r->next_kind % r->n_kinds == 0)
		shuffle(r);
	f->nodes[0] = f->nodes[1] = -1;
	f->at_ms = t;
	f->failover_ms = f->stepdown_ms = f->catchup_ms = f->bg_first_ms = -1;
	f->bg_key = -1;
	r->n_faults++;
	r->active = true;
	fault_inject(r, f);
	say(r, t, "fault", f);
}

static void heal(struct run *r, double t)
{
	struct fault *f = &r->faults[r->n_faults - 1];

	fault_heal(r, f);
	/* Every node that is down starts again. */
	for (size_t i = 0; i < r->c.n; i++)
		if (r->c.nodes[i].pid <= 0 && r->error == DRILL_OUTCOME_OK &&
		    dcluster_start(&r->c, i, NULL, r->errmsg) != ESC_OK)
			r->error = DRILL_OUTCOME_FAILED;
	f->healed_ms = drill_since(r->d);
	r->active = false;
	r->next_at = f->healed_ms + RUN_SETTLE_MS;
	r->recovered = false;
	r->ops_seen = r->d->h.n_ops;
	say(r, t, "healed", f);
}

/* The cluster serves again since the last heal: an escrow sent after it
 * succeeded (RUN_RECOVER_MAX_MS at most, then the schedule goes on). Each
 * fault then starts from a cluster that serves, and is measured alone. */
static bool recovered(struct run *r, double t)
{
	const struct drill_history *h = &r->d->h;
	double healed = r->faults[r->n_faults - 1].healed_ms;

	for (; !r->recovered && r->ops_seen < h->n_ops; r->ops_seen++) {
		const struct drill_op *o = &h->ops[r->ops_seen];
		r->recovered = o->kind == DRILL_ESCROW && o->result == DRILL_OK &&
			       o->start_ms >= healed;
	}
	return r->recovered || t >= healed + RUN_RECOVER_MAX_MS;
}

/* Called on every turn of the workload loop. */
static void tick(struct drill *d, double t)
{
	struct run *r = d->tick_data;
	enum fault_kind next;

	if (r->error != DRILL_OUTCOME_OK)
		return;
	if (fault_watch(r, t))
		return;
	if (r->active) {
		if (t >= r->faults[r->n_faults - 1].at_ms +
				 hold_ms[r->faults[r->n_faults - 1].kind] ||
		    fault_over(r, &r->faults[r->n_faults - 1]))
			heal(r, t);
		return;
	}
	/* A fault starts once the last one settled and the cluster serves
	 * again, and only if it can be healed and recover before the load ends. */
	next = r->order[r->next_kind % r->n_kinds];
	if (t >= r->next_at && (r->n_faults == 0 || recovered(r, t)) &&
	    t + hold_ms[next] + recover_ms[next] < d->opts.duration_ms &&
	    r->n_faults < RUN_FAULTS_MAX)
		inject(r, t);
}

/* Per fault: time until the first escrow sent after it succeeded, and the
 * longest unavailability window that began during it. A window opens when
 * a failed request was sent, and one in flight when the fault began may fail
 * by it: a fault's time begins RUN_WINDOW_EARLY_MS before it, and ends where
 * the next one's begins (or with the load). */
static void measure(struct run *r, const struct drill_report *rep)
{
	const struct drill_history *h = &r->d->h;

	for (size_t w = 0; w < rep->n_windows; w++) {
		const struct drill_window *win = &rep->windows[w];
		for (size_t i = 0; i < r->n_faults; i++) {
			struct fault *f = &r->faults[i];
			bool last = i + 1 == r->n_faults;
			if (win->start_ms >= f->at_ms - RUN_WINDOW_EARLY_MS &&
			    (last || win->start_ms < r->faults[i + 1].at_ms - RUN_WINDOW_EARLY_MS) &&
			    win->length_ms > f->longest_ms)
				f->longest_ms = win->length_ms;
		}
	}
	for (size_t i = 0; i < r->n_faults; i++) {
		struct fault *f = &r->faults[i];
		for (size_t k = 0; k < h->n_ops; k++) {
			const struct drill_op *o = &h->ops[k];
			if (o->kind == DRILL_ESCROW && o->result == DRILL_OK &&
			    o->start_ms >= f->at_ms &&
			    (f->failover_ms < 0 || o->end_ms - f->at_ms < f->failover_ms))
				f->failover_ms = o->end_ms - f->at_ms;
		}
	}
}

/* After the load: every node running, ready, read back, converged, logs clean. */
static enum drill_outcome finish_run(struct run *r, struct drill_report *rep,
				      struct run_end *e)
{
	struct drill *d = r->d;
	double healed;
	enum drill_outcome rv;

	if (r->active)
		heal(r, drill_since(d));
	for (size_t i = 0; i < r->c.n; i++)
		if (r->c.nodes[i].pid <= 0 && dcluster_start(&r->c, i, NULL, r->errmsg) != ESC_OK)
			return drill_fail(DRILL_OUTCOME_FAILED, "%s", r->errmsg);
	/* A partition healed near the end: its catch-up is still measured. */
	while (r->watch == WATCH_CATCHUP && fault_watch(r, drill_since(d)))
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	healed = drill_now_ms();
	if (dcluster_wait_ready(&r->c, d->client, RUN_READY_MS, r->errmsg) != ESC_OK)
		fprintf(stderr, "drill: %s\n", r->errmsg);
	/* Before the read-back discloses every key: the break-glass keys must be
	 * disclosed by the replay of the journals alone. */
	rv = dbg_await(d);
	if (rv == DRILL_OUTCOME_OK)
		rv = drill_engine_readback(d);
	if (rv == DRILL_OUTCOME_OK)
		rv = drill_comply_readback(d);
	if (rv == DRILL_OUTCOME_OK)
		rv = drill_audit_collect(d);
	if (rv != DRILL_OUTCOME_OK)
		return rv;
	if (dcluster_wait_converged(&r->c, d->client, RUN_CONVERGE_MS, &e->index,
				    r->errmsg) == ESC_OK) {
		e->converge_ms = drill_now_ms() - healed;
	} else {
		e->converge_ms = -1;
		fprintf(stderr, "drill: %s\n", r->errmsg);
	}
	e->log_problems = dcluster_scan_logs(&r->c, e->first_problem, sizeof e->first_problem);
	drill_check(&d->h, rep);
	measure(r, rep);
	return DRILL_OUTCOME_OK;
}

/* Partitions or disk faults cannot be had here: say why (and in the
 * report), run the rest. */
static unsigned without(struct run *r, unsigned kinds, unsigned mask, const char *why)
{
	if (!r->d->opts.json)
		fprintf(stderr, "drill: %s; running the other faults\n", why);
	for (int k = 0; k < F__COUNT; k++)
		if (kinds & mask & (1u << k))
			snprintf(r->skipped[k], sizeof r->skipped[k], "%s", why);
	return kinds & ~mask;
}

/* The client of the cluster's nodes: with TLS, the drill's own CA and the
 * operator's certificate (each request of the workload shows its role's,
 * drill_engine.h); plain, the caller's files (as escrowctl would make it
 * from --nodes). The caller's timeout either way. */
static enum drill_outcome connect_client(struct run *r)
{
	const struct dpki *p = &r->c.pki;
	char errmsg[ESC_ERRMSG_SIZE];
	int rv;

	if (r->c.tls) {
		rv = ctl_client_init(&r->client, r->c.urls, p->ca, p->cert[DPKI_OPERATOR],
				     p->key[DPKI_OPERATOR], r->o->timeout_ms, errmsg);
		for (int k = 0; k < DPKI__ROLES; k++)
			r->d->as[k] = (struct drill_identity){ p->cert[k], p->key[k] };
	} else {
		rv = ctl_client_init(&r->client, r->c.urls, r->o->ca, r->o->cert, r->o->key,
				     r->o->timeout_ms, errmsg);
	}
	if (rv != ESC_OK)
		return drill_fail(rv == ESC_EINVAL ? DRILL_OUTCOME_USAGE : DRILL_OUTCOME_FAILED,
				  "%s", errmsg);
	r->connected = true;
	return DRILL_OUTCOME_OK;
}

/* SIGTERM or SIGHUP: remove the namespaces, then die of the signal (the
 * nodes die with this process). */
static void on_fatal_signal(int sig)
{
	dcluster_emergency_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
}

enum drill_outcome drill_run(struct drill *d, const struct drill_opts *opts,
			     const struct drill_run_opts *o)
{
	static struct run r;
	struct drill_report rep;
	struct run_end end = { .converge_ms = -1 };
	unsigned kinds = o->kinds, tls = o->insecure ? 0 : DCLUSTER_TLS;
	const char *why;
	enum drill_outcome rv;

	memset(&r, 0, sizeof r);
	drill_engine_init(d, &r.client, opts);
	r.d = d;
	r.o = o;
	r.rng = mix_seed(o->seed);
	if ((kinds & DRILL_NET_FAULTS) && (why = dnet_unavailable()) != NULL)
		kinds = without(&r, kinds, DRILL_NET_FAULTS, why);
	if ((kinds & DRILL_ROOT_FAULTS) && geteuid() != 0)
		kinds = without(&r, kinds, DRILL_ROOT_FAULTS,
				"the disk faults need root (loop-mounted disks)");
	if (kinds & DRILL_ROOT_FAULTS) {
		catch_signals();
		if (dcluster_create(&r.c, o->size, o->escrowd, tls |
				    (kinds & DRILL_NET_FAULTS ? DCLUSTER_NETNS : 0) |
				    (kinds & DRILL_DISK_FAULTS ? DCLUSTER_DISKS : 0),
				    r.errmsg) != ESC_OK) {
			dcluster_destroy(&r.c, false);
			kinds = without(&r, kinds, DRILL_ROOT_FAULTS, r.errmsg);
		} else if ((kinds & (1u << F_SLOW_DISK)) &&
			   (why = dcluster_slow_unavailable(&r.c)) != NULL) {
			kinds = without(&r, kinds, 1u << F_SLOW_DISK, why);
		}
	}
	if (kinds == 0) {
		rv = drill_fail(DRILL_OUTCOME_USAGE, "no fault left to inject");
		goto out;
	}
	for (int k = 0; k < F__COUNT; k++)
		if (kinds & (1u << k))
			r.order[r.n_kinds++] = (enum fault_kind)k;
	shuffle(&r);
	r.next_at = 3000;
	if (!(kinds & DRILL_ROOT_FAULTS) &&
	    dcluster_create(&r.c, o->size, o->escrowd, tls, r.errmsg) != ESC_OK) {
		rv = drill_fail(DRILL_OUTCOME_FAILED, "%s", r.errmsg);
		goto out;
	}
	for (size_t i = 0; i < r.c.n; i++)
		if (dcluster_start(&r.c, i, NULL, r.errmsg) != ESC_OK) {
			rv = drill_fail(DRILL_OUTCOME_FAILED, "%s", r.errmsg);
			goto out;
		}
	if ((rv = connect_client(&r)) != DRILL_OUTCOME_OK)
		goto out;
	if (dcluster_wait_ready(&r.c, d->client, RUN_READY_MS, r.errmsg) != ESC_OK) {
		rv = drill_fail(DRILL_OUTCOME_FAILED, "the cluster did not start: %s (logs in %s)",
				r.errmsg, r.c.root);
		goto out;
	}
	if (!d->opts.json)
		fprintf(stderr, "drill: %zu nodes of %s in %s over %s, seed %" PRIu64 ", "
			"%.0f requests/s for %.0f s\n", r.c.n, o->escrowd, r.c.root,
			drill_run_transport(&r.c), o->seed, d->opts.rate, d->opts.duration_ms / 1e3);
	if ((rv = drill_engine_setup(d)) != DRILL_OUTCOME_OK)
		goto out;
	drill_audit_mark(d);
	d->tick = tick;
	d->tick_data = &r;
	d->t0 = drill_now_ms();
	if ((rv = drill_engine_workload(d)) != DRILL_OUTCOME_OK)
		goto out;
	if (r.error != DRILL_OUTCOME_OK) {
		rv = drill_fail(r.error, "%s", r.errmsg);
		goto out;
	}
	rv = finish_run(&r, &rep, &end);
	if (rv == DRILL_OUTCOME_OK && d->opts.history_path != NULL)
		rv = drill_engine_write_history(d, d->opts.history_path);
	if (rv == DRILL_OUTCOME_OK)
		rv = run_report(&r, &rep, &end);
out:
	drill_engine_teardown(d);
	if (rv != DRILL_OUTCOME_OK && r.c.root[0] != '\0')
		fprintf(stderr, "drill: node logs and data kept in %s\n", r.c.root);
	dcluster_destroy(&r.c, o->keep || rv != DRILL_OUTCOME_OK);
	if (r.connected)
		ctl_client_close(&r.client);
	return rv;
}
