/* escrowctl drill run: a cluster of its own, faults on a seeded schedule while the
 * canary workload runs, then healed, read back, converged and checked. */
#include "tools/drill_run.h"

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/drill_run_internal.h"

#define RUN_READY_MS 60000.0
#define RUN_CONVERGE_MS 60000.0

static const char *const kind_names[F__COUNT] = {
	[F_KILL_LEADER] = "kill-leader", [F_KILL_FOLLOWER] = "kill-follower",
	[F_PAUSE_LEADER] = "pause-leader", [F_RESTART_ALL] = "restart-all",
	[F_KILL_TWO] = "kill-two", [F_DAMAGED_SEGMENT] = "damaged-segment",
	[F_PARTITION_LEADER] = "partition-leader", [F_PARTITION_SPLIT] = "partition-split",
	[F_PARTITION_ONEWAY] = "partition-oneway", [F_DISK_FULL] = "disk-full",
};

/* How long each fault lasts before it is healed. */
static const double hold_ms[F__COUNT] = {
	[F_KILL_LEADER] = 2500, [F_KILL_FOLLOWER] = 2500,
	[F_PAUSE_LEADER] = 2000, /* several election timeouts (300 ms) */
	[F_RESTART_ALL] = 300, [F_KILL_TWO] = 2500,
	[F_DAMAGED_SEGMENT] = 3000, /* time for the node to refuse */
	[F_PARTITION_LEADER] = 3000, [F_PARTITION_SPLIT] = 3000, [F_PARTITION_ONEWAY] = 3000,
	[F_DISK_FULL] = 20000, /* at most: healed once the node stopped */
};

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
	if (r->d->ctx->json)
		return;
	fprintf(stderr, "drill: %6.1f s  %s %s", t / 1e3, what, drill_fault_name(f->kind));
	for (int k = 0; k < 2; k++)
		if (f->nodes[k] >= 0)
			fprintf(stderr, " node %u", r->c.nodes[f->nodes[k]].id);
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
	f->failover_ms = f->stepdown_ms = f->catchup_ms = -1;
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
		if (r->c.nodes[i].pid <= 0 && r->error == 0 &&
		    dcluster_start(&r->c, i, NULL, r->errmsg) != ESC_OK)
			r->error = CTL_EXIT_REFUSED;
	f->healed_ms = drill_since(r->d);
	r->active = false;
	r->next_at = f->healed_ms + RUN_SETTLE_MS;
	say(r, t, "healed", f);
}

/* Called on every turn of the workload loop. */
static void tick(struct drill *d, double t)
{
	struct run *r = d->tick_data;

	if (r->error != 0)
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
	/* A fault starts only if it can be healed before the load ends. */
	if (t >= r->next_at && t + hold_ms[r->order[r->next_kind % r->n_kinds]] + 1000 <
				       d->duration_ms && r->n_faults < RUN_FAULTS_MAX)
		inject(r, t);
}

/* Per fault: time until the first escrow sent after it succeeded, and the
 * longest unavailability window that began during it. */
static void measure(struct run *r, const struct drill_report *rep)
{
	const struct drill_history *h = &r->d->h;

	for (size_t i = 0; i < r->n_faults; i++) {
		struct fault *f = &r->faults[i];
		double until = f->healed_ms + RUN_SETTLE_MS;
		for (size_t k = 0; k < h->n_ops; k++) {
			const struct drill_op *o = &h->ops[k];
			if (o->kind == DRILL_ESCROW && o->result == DRILL_OK &&
			    o->start_ms >= f->at_ms &&
			    (f->failover_ms < 0 || o->end_ms - f->at_ms < f->failover_ms))
				f->failover_ms = o->end_ms - f->at_ms;
		}
		for (size_t w = 0; w < rep->n_windows; w++)
			if (rep->windows[w].start_ms >= f->at_ms && rep->windows[w].start_ms < until &&
			    rep->windows[w].length_ms > f->longest_ms)
				f->longest_ms = rep->windows[w].length_ms;
	}
}

static void print_faults_text(const struct run *r)
{
	printf("  faults (seed %" PRIu64 ", %zu nodes)\n", r->o->seed, r->c.n);
	for (size_t i = 0; i < r->n_faults; i++) {
		const struct fault *f = &r->faults[i];
		printf("    at %7.1f s  %-14s", f->at_ms / 1e3, drill_fault_name(f->kind));
		for (int k = 0; k < 2; k++)
			if (f->nodes[k] >= 0)
				printf(" node %u", r->c.nodes[f->nodes[k]].id);
		printf("  healed at %.1f s", f->healed_ms / 1e3);
		if (f->failover_ms >= 0)
			printf(", escrows again after %.0f ms", f->failover_ms);
		if (f->longest_ms > 0)
			printf(", unavailable %.0f ms at most", f->longest_ms);
		if (f->cut != 0) {
			printf(", cut off:");
			for (size_t k = 0; k < r->c.n; k++)
				if ((f->cut >> k) & 1u)
					printf(" node %u", r->c.nodes[k].id);
			if (f->kind == F_PARTITION_ONEWAY)
				printf(f->oneway_in ? " (packets to it dropped)"
						    : " (packets from it dropped)");
		}
		if (f->stepdown_ms >= 0)
			printf(", old leader stepped down after %.0f ms", f->stepdown_ms);
		if (f->catchup_ms >= 0)
			printf(", caught up %.0f ms after the heal", f->catchup_ms);
		if (f->kind == F_DAMAGED_SEGMENT && f->violation == NULL)
			printf(", refused to start, rejoined");
		if (f->outcome[0] != '\0')
			printf(", the node %s", f->outcome);
		if (f->violation != NULL)
			printf(", WRONG: %s", f->violation);
		putchar('\n');
	}
}

static json_t *faults_json(const struct run *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < r->n_faults; i++) {
		const struct fault *f = &r->faults[i];
		json_t *nodes = json_array(), *cut = json_array();
		for (int k = 0; k < 2; k++)
			if (f->nodes[k] >= 0)
				json_array_append_new(nodes,
						      json_integer(r->c.nodes[f->nodes[k]].id));
		for (size_t k = 0; k < r->c.n; k++)
			if ((f->cut >> k) & 1u)
				json_array_append_new(cut, json_integer(r->c.nodes[k].id));
		json_t *o = json_pack("{s:s, s:o, s:f, s:f, s:f, s:f}", "kind",
				      drill_fault_name(f->kind), "nodes", nodes, "at_ms", f->at_ms,
				      "healed_ms", f->healed_ms, "failover_ms", f->failover_ms,
				      "longest_unavailable_ms", f->longest_ms);
		if (f->cut != 0) {
			json_object_set_new(o, "cut_off", cut);
			json_object_set_new(o, "stepdown_ms", json_real(f->stepdown_ms));
			json_object_set_new(o, "catchup_ms", json_real(f->catchup_ms));
		} else {
			json_decref(cut);
		}
		if (f->kind == F_PARTITION_ONEWAY)
			json_object_set_new(o, "dropped", json_string(f->oneway_in ? "to" : "from"));
		if (f->outcome[0] != '\0')
			json_object_set_new(o, "outcome", json_string(f->outcome));
		if (f->violation != NULL)
			json_object_set_new(o, "violation", json_string(f->violation));
		json_array_append_new(a, o);
	}
	return a;
}

/* After the load: every node running, ready, read back, converged, logs clean. */
static int finish_run(struct run *r, struct drill_report *rep, double *converge_ms,
		      unsigned long long *index, size_t *log_problems, char *first_problem,
		      size_t size)
{
	struct drill *d = r->d;
	double healed;
	int rv;

	if (r->active)
		heal(r, drill_since(d));
	for (size_t i = 0; i < r->c.n; i++)
		if (r->c.nodes[i].pid <= 0 && dcluster_start(&r->c, i, NULL, r->errmsg) != ESC_OK)
			return ctl_fail(CTL_EXIT_REFUSED, "drill: %s", r->errmsg);
	/* A partition healed near the end: its catch-up is still measured. */
	while (r->watch == WATCH_CATCHUP && fault_watch(r, drill_since(d)))
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	healed = drill_now_ms();
	if (dcluster_wait_ready(&r->c, &d->ctx->client, RUN_READY_MS, r->errmsg) != ESC_OK)
		fprintf(stderr, "drill: %s\n", r->errmsg);
	rv = drill_engine_readback(d);
	if (rv != CTL_EXIT_OK)
		return rv;
	if (dcluster_wait_converged(&r->c, &d->ctx->client, RUN_CONVERGE_MS, index, r->errmsg) ==
	    ESC_OK) {
		*converge_ms = drill_now_ms() - healed;
	} else {
		*converge_ms = -1;
		fprintf(stderr, "drill: %s\n", r->errmsg);
	}
	*log_problems = dcluster_scan_logs(&r->c, first_problem, size);
	drill_check(&d->h, rep);
	measure(r, rep);
	return CTL_EXIT_OK;
}

static int report(struct run *r, const struct drill_report *rep, double converge_ms,
		  unsigned long long index, size_t log_problems, const char *first_problem)
{
	struct drill *d = r->d;
	int rv = drill_engine_verdict(rep);

	if (rv == CTL_EXIT_OK && (converge_ms < 0 || log_problems > 0 || r->error != 0))
		rv = CTL_EXIT_REFUSED;
	for (size_t i = 0; i < r->n_faults; i++)
		if (r->faults[i].violation != NULL)
			rv = CTL_EXIT_REFUSED;
	if (d->ctx->json) {
		json_t *j = drill_engine_report_json(d, rep);
		char *text;
		json_object_set_new(j, "faults", faults_json(r));
		json_object_set_new(j, "seed", json_integer((json_int_t)r->o->seed));
		json_object_set_new(j, "size", json_integer((json_int_t)r->c.n));
		json_object_set_new(j, "converged_ms", json_real(converge_ms));
		json_object_set_new(j, "converged_index", json_integer((json_int_t)index));
		json_object_set_new(j, "log_problems", json_integer((json_int_t)log_problems));
		json_object_set_new(j, "ok", json_boolean(rv == CTL_EXIT_OK));
		text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (text == NULL)
			return ctl_fail(CTL_EXIT_REFUSED, "drill: out of memory");
		printf("%s\n", text);
		free(text);
		return rv;
	}
	drill_engine_report_text(d, rep);
	print_faults_text(r);
	if (converge_ms >= 0)
		printf("  converged      every node at index %llu with the same digest %.0f ms "
		       "after the last heal\n", index, converge_ms);
	else
		printf("  converged      NO: %s\n", r->errmsg);
	printf("  node logs      %zu problem line(s)%s%s\n", log_problems,
	       log_problems ? ": " : "", log_problems ? first_problem : "");
	printf("%s\n", rv == CTL_EXIT_OK ? "DRILL PASSED" : "DRILL FAILED");
	return rv;
}

/* Partitions or disk-full cannot be had here: say why, run the rest. */
static unsigned without(unsigned kinds, unsigned mask, const char *why)
{
	fprintf(stderr, "drill: %s; running the other faults\n", why);
	return kinds & ~mask;
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

int drill_run(struct drill *d, const struct drill_run_opts *o)
{
	static struct run r;
	struct drill_report rep;
	char first_problem[300] = "";
	double converge_ms = -1;
	unsigned long long index = 0;
	size_t log_problems = 0;
	unsigned kinds = o->kinds;
	const char *why;
	int rv;

	memset(&r, 0, sizeof r);
	r.d = d;
	r.o = o;
	r.rng = o->seed ? o->seed : 0x9e3779b97f4a7c15ULL;
	if ((kinds & DRILL_NET_FAULTS) && (why = dnet_unavailable()) != NULL)
		kinds = without(kinds, DRILL_NET_FAULTS, why);
	if ((kinds & DRILL_ROOT_FAULTS) && geteuid() != 0)
		kinds = without(kinds, DRILL_ROOT_FAULTS, "a full disk needs root (tmpfs)");
	if (kinds & DRILL_ROOT_FAULTS) {
		catch_signals();
		if (dcluster_create(&r.c, o->size, o->escrowd,
				    (kinds & DRILL_NET_FAULTS ? DCLUSTER_NETNS : 0) |
				    (kinds & (1u << F_DISK_FULL) ? DCLUSTER_TMPFS : 0),
				    r.errmsg) != ESC_OK) {
			dcluster_destroy(&r.c, false);
			kinds = without(kinds, DRILL_ROOT_FAULTS, r.errmsg);
		}
	}
	if (kinds == 0) {
		rv = ctl_fail(CTL_EXIT_USAGE, "drill: no fault left to inject");
		goto out;
	}
	for (int k = 0; k < F__COUNT; k++)
		if (kinds & (1u << k))
			r.order[r.n_kinds++] = (enum fault_kind)k;
	shuffle(&r);
	r.next_at = 3000;
	if (!(kinds & DRILL_ROOT_FAULTS) &&
	    dcluster_create(&r.c, o->size, o->escrowd, 0, r.errmsg) != ESC_OK) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "drill: %s", r.errmsg);
		goto out;
	}
	for (size_t i = 0; i < r.c.n; i++)
		if (dcluster_start(&r.c, i, NULL, r.errmsg) != ESC_OK) {
			rv = ctl_fail(CTL_EXIT_REFUSED, "drill: %s", r.errmsg);
			goto out;
		}
	d->ctx->nodes = r.c.urls;
	if ((rv = ctl_connect(d->ctx)) != CTL_EXIT_OK)
		goto out;
	if (dcluster_wait_ready(&r.c, &d->ctx->client, RUN_READY_MS, r.errmsg) != ESC_OK) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "drill: the cluster did not start: %s (logs in %s)",
			      r.errmsg, r.c.root);
		goto out;
	}
	if (!d->ctx->json)
		fprintf(stderr, "drill: %zu nodes of %s in %s, seed %" PRIu64 ", %.0f requests/s "
			"for %.0f s\n", r.c.n, o->escrowd, r.c.root, o->seed, d->rate,
			d->duration_ms / 1e3);
	if ((rv = drill_engine_setup(d)) != CTL_EXIT_OK)
		goto out;
	d->tick = tick;
	d->tick_data = &r;
	d->t0 = drill_now_ms();
	if ((rv = drill_engine_workload(d)) != CTL_EXIT_OK)
		goto out;
	if (r.error != 0) {
		rv = ctl_fail(r.error, "drill: %s", r.errmsg);
		goto out;
	}
	rv = finish_run(&r, &rep, &converge_ms, &index, &log_problems, first_problem,
			sizeof first_problem);
	if (rv == CTL_EXIT_OK && d->history_path != NULL)
		rv = drill_engine_write_history(d, d->history_path);
	if (rv == CTL_EXIT_OK)
		rv = report(&r, &rep, converge_ms, index, log_problems, first_problem);
out:
	drill_engine_teardown(d);
	if (rv != CTL_EXIT_OK && r.c.root[0] != '\0')
		fprintf(stderr, "drill: node logs and data kept in %s\n", r.c.root);
	dcluster_destroy(&r.c, o->keep || rv != CTL_EXIT_OK);
	return rv;
}
