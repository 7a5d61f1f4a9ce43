/* drill run's report: the faults, a timeline, and the verdict, as text for a
 * person or as one JSON object. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/drill/drill_run_internal.h"

static void print_faults_text(const struct run *r)
{
	printf("  faults (seed %" PRIu64 ", %zu nodes)\n", r->o->seed, r->c.n);
	for (size_t i = 0; i < r->n_faults; i++) {
		const struct fault *f = &r->faults[i];
		printf("    at %7.1f s  %-14s", f->at_ms / 1e3, drill_fault_name(f->kind));
		for (int k = 0; k < 2; k++)
			if (f->nodes[k] >= 0)
				printf(" node %u", r->c.nodes[f->nodes[k]].id);
		for (size_t k = 0; k < r->c.n; k++)
			if ((f->killed >> k) & 1u)
				printf(" node %u", r->c.nodes[k].id);
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
			if (f->kind == F_QUORUM_LOSS)
				printf(" (each from every other)");
		}
		if (f->kind == F_QUORUM_LOSS) {
			printf(", break-glass: %u sent, %u served", f->bg_sent, f->bg_served);
			if (f->bg_first_ms >= 0)
				printf(" (first %.0f ms after the fault)", f->bg_first_ms);
			printf(", %u not on the node", f->bg_missed);
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
			if ((f->killed >> k) & 1u)
				json_array_append_new(nodes, json_integer(r->c.nodes[k].id));
		for (size_t k = 0; k < r->c.n; k++)
			if ((f->cut >> k) & 1u)
				json_array_append_new(cut, json_integer(r->c.nodes[k].id));
		json_t *o = json_pack("{s:s, s:o, s:f, s:f, s:f, s:f, s:b}", "kind",
				      drill_fault_name(f->kind), "nodes", nodes, "at_ms", f->at_ms,
				      "healed_ms", f->healed_ms, "failover_ms", f->failover_ms,
				      "longest_unavailable_ms", f->longest_ms, "leader_lost",
				      f->leader_lost);
		if (f->cut != 0) {
			json_object_set_new(o, "cut_off", cut);
			json_object_set_new(o, "stepdown_ms", json_real(f->stepdown_ms));
		} else {
			json_decref(cut);
		}
		if (f->cut != 0 || f->kind == F_SLOW_DISK)
			json_object_set_new(o, "catchup_ms", json_real(f->catchup_ms));
		if (f->kind == F_PARTITION_ONEWAY)
			json_object_set_new(o, "dropped", json_string(f->oneway_in ? "to" : "from"));
		if (f->kind == F_QUORUM_LOSS)
			json_object_set_new(o, "break_glass",
					    json_pack("{s:i, s:i, s:i, s:f}", "sent", (int)f->bg_sent,
						      "served", (int)f->bg_served, "not_found",
						      (int)f->bg_missed, "first_ms", f->bg_first_ms));
		if (f->outcome[0] != '\0')
			json_object_set_new(o, "outcome", json_string(f->outcome));
		if (f->violation != NULL)
			json_object_set_new(o, "violation", json_string(f->violation));
		json_array_append_new(a, o);
	}
	return a;
}

/* The kinds asked for that could not run here, with why. */
static json_t *skipped_json(const struct run *r)
{
	json_t *a = json_array();

	for (int k = 0; k < F__COUNT; k++)
		if (r->skipped[k][0] != '\0')
			json_array_append_new(a, json_pack("{s:s, s:s}", "kind",
							   drill_fault_name((enum fault_kind)k),
							   "reason", r->skipped[k]));
	return a;
}

/* The contract's failover_ms: one per fault that took the leader away. */
static json_t *fault_failovers(const struct run *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < r->n_faults; i++)
		if (r->faults[i].leader_lost)
			json_array_append_new(a, json_real(r->faults[i].failover_ms));
	return a;
}

struct event {
	double at_ms;
	char text[120];
};

static int by_time(const void *a, const void *b)
{
	double x = ((const struct event *)a)->at_ms, y = ((const struct event *)b)->at_ms;

	return (x > y) - (x < y);
}

static void fault_nodes(const struct run *r, const struct fault *f, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (int k = 0; k < 2; k++)
		if (f->nodes[k] >= 0 && off < size)
			off += (size_t)snprintf(out + off, size - off, " node %u",
						r->c.nodes[f->nodes[k]].id);
	for (size_t k = 0; k < r->c.n && off < size; k++)
		if ((f->killed >> k) & 1u)
			off += (size_t)snprintf(out + off, size - off, " node %u",
						r->c.nodes[k].id);
	for (size_t k = 0; k < r->c.n && off < size; k++)
		if ((f->cut >> k) & 1u)
			off += (size_t)snprintf(out + off, size - off, " cut-off %u",
						r->c.nodes[k].id);
}

/* Faults, heals, leader changes and the longer unavailability windows, in
 * the order they happened. */
static void print_timeline(const struct run *r, const struct drill_report *rep)
{
	const struct drill *d = r->d;
	size_t cap = 2 * r->n_faults + d->n_leaders + rep->n_windows, n = 0;
	struct event *ev = cap ? calloc(cap, sizeof *ev) : NULL;
	char nodes[64];

	if (ev == NULL)
		return;
	for (size_t i = 0; i < r->n_faults; i++) {
		const struct fault *f = &r->faults[i];
		fault_nodes(r, f, nodes, sizeof nodes);
		ev[n].at_ms = f->at_ms;
		snprintf(ev[n++].text, sizeof ev[0].text, "fault    %s%s",
			 drill_fault_name(f->kind), nodes);
		ev[n].at_ms = f->healed_ms;
		snprintf(ev[n++].text, sizeof ev[0].text, "healed   %s", drill_fault_name(f->kind));
	}
	for (size_t i = 0; i < d->n_leaders; i++) {
		ev[n].at_ms = d->leaders[i].at_ms;
		if (d->leaders[i].leader > 0)
			snprintf(ev[n++].text, sizeof ev[0].text, "leader   node %ld",
				 d->leaders[i].leader);
		else
			snprintf(ev[n++].text, sizeof ev[0].text, "leader   none");
	}
	for (size_t i = 0; i < rep->n_windows; i++)
		if (rep->windows[i].length_ms >= DRILL_WINDOW_LISTED_MS) {
			ev[n].at_ms = rep->windows[i].start_ms;
			snprintf(ev[n++].text, sizeof ev[0].text, "unavailable for %.0f ms",
				 rep->windows[i].length_ms);
		}
	qsort(ev, n, sizeof *ev, by_time);
	printf("  timeline\n");
	for (size_t i = 0; i < n; i++)
		printf("    %8.1f s  %s\n", ev[i].at_ms / 1e3, ev[i].text);
	free(ev);
}

enum drill_outcome run_report(struct run *r, const struct drill_report *rep,
			      const struct run_end *e)
{
	struct drill *d = r->d;
	enum drill_outcome rv = drill_engine_verdict(rep);

	if (rv == DRILL_OUTCOME_OK &&
	    (e->converge_ms < 0 || e->log_problems > 0 || r->error != DRILL_OUTCOME_OK))
		rv = DRILL_OUTCOME_FAILED;
	for (size_t i = 0; i < r->n_faults; i++)
		if (r->faults[i].violation != NULL)
			rv = DRILL_OUTCOME_FAILED;
	if (d->opts.json) {
		json_t *j = drill_engine_report_json(d, rep);
		char *text;
		json_object_set_new(j, "faults", faults_json(r));
		json_object_set_new(j, "failover_ms", fault_failovers(r));
		json_object_set_new(j, "seed", json_integer((json_int_t)r->o->seed));
		json_object_set_new(j, "size", json_integer((json_int_t)r->c.n));
		json_object_set_new(j, "transport", json_string(drill_run_transport(&r->c)));
		json_object_set_new(j, "converged_ms", json_real(e->converge_ms));
		json_object_set_new(j, "converged_index", json_integer((json_int_t)e->index));
		json_object_set_new(j, "log_problems", json_integer((json_int_t)e->log_problems));
		json_object_set_new(j, "skipped", skipped_json(r));
		json_object_set_new(j, "ok", json_boolean(rv == DRILL_OUTCOME_OK));
		text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (text == NULL)
			return drill_fail(DRILL_OUTCOME_FAILED, "out of memory");
		printf("%s\n", text);
		free(text);
		return rv;
	}
	drill_engine_report_text(d, rep);
	printf("  transport      %s\n", r->c.tls ? "tls (mutual TLS: API, forwarding and Raft)"
						  : "plain (--insecure: HTTP and plain Raft)");
	print_faults_text(r);
	for (int k = 0; k < F__COUNT; k++)
		if (r->skipped[k][0] != '\0')
			printf("  skipped        %s: %s\n", drill_fault_name((enum fault_kind)k),
			       r->skipped[k]);
	print_timeline(r, rep);
	if (e->converge_ms >= 0)
		printf("  converged      every node at index %llu with the same digest %.0f ms "
		       "after the last heal\n", e->index, e->converge_ms);
	else
		printf("  converged      NO: %s\n", r->errmsg);
	printf("  node logs      %zu problem line(s)%s%s\n", e->log_problems,
	       e->log_problems ? ": " : "", e->log_problems ? e->first_problem : "");
	printf("%s\n", rv == DRILL_OUTCOME_OK ? "DRILL PASSED" : "DRILL FAILED");
	return rv;
}

