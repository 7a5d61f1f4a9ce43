/* drill run's faults: how each kind is injected and healed, and what is
 * watched while it lasts. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "tools/drill/drill_breakglass.h"
#include "tools/drill/drill_run_internal.h"

static bool up(const struct run *r, size_t i)
{
	return r->c.nodes[i].pid > 0 && !r->c.nodes[i].paused;
}

static int running_other_than(struct run *r, int except)
{
	int pick[DCLUSTER_NODES_MAX];
	size_t n = 0;

	for (size_t i = 0; i < r->c.n; i++)
		if (up(r, i) && (int)i != except)
			pick[n++] = (int)i;
	return n == 0 ? -1 : pick[run_rnd(r) % n];
}

/* The leader as the running nodes see it now (the workload's view is up to
 * a second old), else any running node. */
static int leader_index(struct run *r)
{
	for (size_t i = 0; i < r->c.n; i++) {
		json_t *st = up(r, i) ? dcluster_status(&r->c, r->d->client, i) : NULL;
		json_int_t id = 0;
		int k = -1;
		if (st != NULL && json_unpack(st, "{s:{s:I}}", "leader", "id", &id) == 0)
			k = dcluster_find(&r->c, (long)id);
		json_decref(st);
		if (k >= 0 && up(r, (size_t)k))
			return k;
	}
	return running_other_than(r, -1);
}

static bool in_cut(const struct fault *f, size_t i)
{
	return (f->cut >> i) & 1u;
}

/* A node that may lag after the heal: cut off, or with a slow disk. */
static bool lagging(const struct fault *f, size_t i)
{
	return in_cut(f, i) || (f->kind == F_SLOW_DISK && f->nodes[0] == (int)i);
}

/* Blackhole routes between the cut-off nodes and the others. */
static void partition(struct run *r, struct fault *f)
{
	bool out = f->kind != F_PARTITION_ONEWAY || !f->oneway_in;
	bool in = f->kind != F_PARTITION_ONEWAY || f->oneway_in;

	for (size_t a = 0; a < r->c.n && r->error == DRILL_OUTCOME_OK; a++)
		for (size_t b = 0; b < r->c.n && r->error == DRILL_OUTCOME_OK; b++) {
			if (!in_cut(f, a) || in_cut(f, b))
				continue;
			if ((out && dnet_block(&r->c.net, a, b, r->errmsg) != ESC_OK) ||
			    (in && dnet_block(&r->c.net, b, a, r->errmsg) != ESC_OK))
				r->error = DRILL_OUTCOME_FAILED;
		}
	f->cut_ms = drill_since(r->d);
}

/* A random minority: (n - 1) / 2 nodes. */
static unsigned minority(struct run *r)
{
	unsigned cut = 0;
	size_t want = (r->c.n - 1) / 2;

	while (want > 0) {
		size_t i = (size_t)(run_rnd(r) % r->c.n);
		if (!((cut >> i) & 1u)) {
			cut |= 1u << i;
			want--;
		}
	}
	return cut;
}

/* No node keeps a quorum: with the network, every node cut off from every
 * other (half the time); else the leader and enough others killed. */
static void quorum_loss(struct run *r, struct fault *f, int lead)
{
	size_t want = r->c.n / 2 + 1;

	f->leader_lost = true;
	if (r->c.net.n > 0 && (run_rnd(r) & 1)) {
		f->cut = (1u << r->c.n) - 1;
		for (size_t a = 0; a < r->c.n && r->error == DRILL_OUTCOME_OK; a++)
			for (size_t b = 0; b < r->c.n && r->error == DRILL_OUTCOME_OK; b++)
				if (a != b && dnet_block(&r->c.net, a, b, r->errmsg) != ESC_OK)
					r->error = DRILL_OUTCOME_FAILED;
		f->cut_ms = drill_since(r->d);
	} else {
		if (lead >= 0) {
			f->killed = 1u << lead;
			want--;
		}
		while (want > 0) {
			size_t i = (size_t)(run_rnd(r) % r->c.n);
			if (!((f->killed >> i) & 1u)) {
				f->killed |= 1u << i;
				want--;
			}
		}
		for (size_t i = 0; i < r->c.n; i++)
			if ((f->killed >> i) & 1u)
				dcluster_stop(&r->c, i, SIGKILL, 5000);
	}
	r->watch = WATCH_BREAK_GLASS;
	r->watch_next = f->at_ms + RUN_BG_FIRST_MS;
}

/* One break-glass lookup on a node left alone, of a key kept for it. The
 * choices come from the fault's own counts, not the schedule's numbers:
 * how many lookups a fault makes depends on timing, the schedule must not. */
static void break_glass_step(struct run *r, struct fault *f)
{
	uint64_t pick = (uint64_t)r->n_faults * 7919u + f->bg_sent;
	int node = -1;

	for (size_t k = 0; k < r->c.n && node < 0; k++) {
		size_t i = (size_t)((pick + k) % r->c.n);
		if (up(r, i))
			node = (int)i;
	}
	if (f->bg_key < 0)
		f->bg_key = dbg_pick_key(r->d);
	if (node < 0 || f->bg_key < 0) {
		r->watch = WATCH_NONE; /* no node or no key left: said in the report */
		return;
	}
	f->bg_sent++;
	switch (dbg_lookup(r->d, (uint16_t)node, (uint32_t)f->bg_key)) {
	case DBG_SERVED:
		f->bg_served++;
		if (f->bg_first_ms < 0)
			f->bg_first_ms = drill_since(r->d) - f->at_ms;
		f->bg_key = -1;
		break;
	case DBG_MISSED:
		f->bg_missed++;
		f->bg_key = -1;
		break;
	case DBG_TOO_SOON:
		break; /* the same key again */
	case DBG_OTHER:
		f->bg_key = -1;
		break;
	}
	if (f->bg_served + f->bg_missed >= RUN_BG_LOOKUPS)
		r->watch = WATCH_NONE;
}

void fault_inject(struct run *r, struct fault *f)
{
	int lead = leader_index(r);

	/* The fault begins now, not before the status calls that found the
	 * leader (a status call can take the leader a while: its digest). */
	f->at_ms = drill_since(r->d);
	switch (f->kind) {
	case F_KILL_LEADER:
	case F_KILL_TWO:
		f->leader_lost = lead >= 0;
		f->nodes[0] = lead;
		if (f->kind == F_KILL_TWO)
			f->nodes[1] = running_other_than(r, lead);
		for (int k = 0; k < 2; k++)
			if (f->nodes[k] >= 0)
				dcluster_stop(&r->c, (size_t)f->nodes[k], SIGKILL, 5000);
		break;
	case F_KILL_FOLLOWER:
		f->nodes[0] = running_other_than(r, lead);
		if (f->nodes[0] >= 0)
			dcluster_stop(&r->c, (size_t)f->nodes[0], SIGKILL, 5000);
		break;
	case F_PAUSE_LEADER:
		f->leader_lost = lead >= 0;
		f->nodes[0] = lead;
		if (lead >= 0)
			dcluster_signal(&r->c, (size_t)lead, SIGSTOP);
		break;
	case F_RESTART_ALL:
		f->leader_lost = true;
		for (size_t i = 0; i < r->c.n; i++)
			dcluster_signal(&r->c, i, SIGTERM);
		break;
	case F_DAMAGED_SEGMENT:
		f->nodes[0] = running_other_than(r, lead);
		if (f->nodes[0] < 0)
			break;
		dcluster_stop(&r->c, (size_t)f->nodes[0], SIGTERM, 10000);
		if (dcluster_damage_segment(&r->c, (size_t)f->nodes[0], r->errmsg) != ESC_OK ||
		    dcluster_start(&r->c, (size_t)f->nodes[0], NULL, r->errmsg) != ESC_OK)
			r->error = DRILL_OUTCOME_FAILED;
		break;
	case F_PARTITION_LEADER:
	case F_PARTITION_ONEWAY:
	case F_PARTITION_SPLIT:
		if (f->kind == F_PARTITION_SPLIT)
			f->cut = minority(r);
		else if (lead >= 0)
			f->cut = 1u << lead;
		f->oneway_in = f->kind == F_PARTITION_ONEWAY && (run_rnd(r) & 1);
		partition(r, f);
		if (lead >= 0 && in_cut(f, (size_t)lead)) {
			f->leader_lost = true;
			f->nodes[0] = lead; /* the leader cut off: it must step down */
			r->watch = WATCH_STEPDOWN;
			r->watch_next = 0;
		}
		break;
	case F_DISK_FULL:
		f->nodes[0] = run_rnd(r) & 1 ? lead : running_other_than(r, lead);
		f->leader_lost = f->nodes[0] >= 0 && f->nodes[0] == lead; /* it stops */
		f->raft_disk = run_rnd(r) & 1;
		if (f->nodes[0] >= 0 &&
		    dcluster_fill_disk(&r->c, (size_t)f->nodes[0], f->raft_disk, r->errmsg) != ESC_OK)
			r->error = DRILL_OUTCOME_FAILED;
		break;
	case F_QUORUM_LOSS:
		quorum_loss(r, f, lead);
		break;
	case F_SLOW_DISK:
		f->nodes[0] = run_rnd(r) & 1 ? lead : running_other_than(r, lead);
		if (f->nodes[0] >= 0 &&
		    dcluster_slow_disk(&r->c, (size_t)f->nodes[0], r->errmsg) != ESC_OK)
			r->error = DRILL_OUTCOME_FAILED;
		break;
	default:
		break;
	}
}

bool fault_over(struct run *r, struct fault *f)
{
	/* Reaped here, reported by heal_disk or heal_damaged; the heal comes
	 * a second later (a full disk), or at once (a damaged log refused). */
	if ((f->kind == F_DISK_FULL || f->kind == F_DAMAGED_SEGMENT) && f->nodes[0] >= 0 &&
	    !f->exited && dcluster_exited(&r->c, (size_t)f->nodes[0], &f->status)) {
		f->exited = true;
		f->exited_ms = drill_since(r->d);
	}
	return f->exited &&
	       drill_since(r->d) > f->exited_ms + (f->kind == F_DISK_FULL ? 1000 : 0);
}

/* The node whose disk filled up may stop (with a clear line, and an exit
 * code) or go on; it must not crash. Then it gets its room back. */
static void heal_disk(struct run *r, struct fault *f)
{
	size_t i = (size_t)f->nodes[0];
	int status = f->status;
	char line[300] = "";

	if (f->exited || dcluster_exited(&r->c, i, &status)) {
		dcluster_log_last(&r->c, i, "fatal", line, sizeof line);
		if (WIFSIGNALED(status))
			f->violation = "it died of a signal";
		else if (WEXITSTATUS(status) == 0)
			f->violation = "it exited with code 0";
		else if (line[0] == '\0')
			f->violation = "it exited without a fatal line";
		snprintf(f->outcome, sizeof f->outcome, "%s full, exited (%s %d): %.150s",
			 f->raft_disk ? "Raft log" : "store", WIFSIGNALED(status) ? "signal" : "code",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			 line[0] ? strstr(line, "fatal") : "no fatal line");
	} else {
		snprintf(f->outcome, sizeof f->outcome, "%s full, kept running",
			 f->raft_disk ? "Raft log" : "store");
	}
	if (dcluster_free_disk(&r->c, i, f->raft_disk, r->errmsg) != ESC_OK)
		r->error = DRILL_OUTCOME_FAILED;
}

/* The damaged node must have refused to start, saying why; the documented
 * recovery follows: empty its data dir (but for its break-glass journal)
 * and join it again. */
static void heal_damaged(struct run *r, struct fault *f)
{
	size_t i = (size_t)f->nodes[0];
	int status = f->status, other = running_other_than(r, (int)i);
	char url[64];

	if (!f->exited && !dcluster_exited(&r->c, i, &status)) {
		f->violation = "it started on a damaged log";
		dcluster_stop(&r->c, i, SIGKILL, 5000);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) == 0) {
		f->violation = "it did not exit with an error";
	} else if (!dcluster_log_last(&r->c, i, "damaged Raft log", NULL, 0)) {
		f->violation = "it gave no clear message";
	}
	if (other < 0) {
		r->error = DRILL_OUTCOME_FAILED;
		snprintf(r->errmsg, sizeof r->errmsg, "no running node to join");
		return;
	}
	snprintf(url, sizeof url, "%s://%s", dcluster_scheme(&r->c), r->c.nodes[other].api);
	if (dcluster_wipe(&r->c, i, r->errmsg) != ESC_OK ||
	    dcluster_start(&r->c, i, url, r->errmsg) != ESC_OK)
		r->error = DRILL_OUTCOME_FAILED;
}

/* The commit index the majority side reached, as any of its nodes knows it. */
static unsigned long long majority_commit(struct run *r, const struct fault *f)
{
	json_int_t best = 0;

	for (size_t i = 0; i < r->c.n; i++) {
		json_t *st = lagging(f, i) || !up(r, i)
				     ? NULL : dcluster_status(&r->c, r->d->client, i);
		json_int_t ci = 0;
		if (st != NULL && json_unpack(st, "{s:I}", "commit_index", &ci) == 0 && ci > best)
			best = ci;
		json_decref(st);
	}
	return (unsigned long long)best;
}

static void heal_partition(struct run *r, struct fault *f)
{
	double to = drill_since(r->d);

	if (r->watch == WATCH_STEPDOWN && f->stepdown_ms < 0)
		f->violation = "the cut-off leader still said it was leader at the heal";
	for (size_t i = 0; i < r->c.n; i++) {
		struct drill_cut cut = { .node = (uint16_t)i, .from_ms = f->cut_ms, .to_ms = to };
		if (in_cut(f, i) && !drill_cut_add(&r->d->h, &cut))
			r->d->nomem = true;
	}
	r->catchup_target = majority_commit(r, f);
	if (dnet_heal(&r->c.net, r->errmsg) != ESC_OK)
		r->error = DRILL_OUTCOME_FAILED;
	r->watch = WATCH_CATCHUP;
	r->watch_next = 0;
}

/* The nodes were alone for the whole hold: each must have served. */
static void heal_quorum_loss(struct run *r, struct fault *f)
{
	double to = drill_since(r->d);

	r->watch = WATCH_NONE;
	if (f->bg_served == 0 && f->bg_missed == 0 && f->bg_sent > 0)
		f->violation = "no break-glass lookup was served by a node without a quorum";
	if (f->cut == 0)
		return; /* the killed nodes are started again by the caller */
	for (size_t i = 0; i < r->c.n; i++) {
		struct drill_cut cut = { .node = (uint16_t)i, .from_ms = f->cut_ms, .to_ms = to };
		if (!drill_cut_add(&r->d->h, &cut))
			r->d->nomem = true;
	}
	if (dnet_heal(&r->c.net, r->errmsg) != ESC_OK)
		r->error = DRILL_OUTCOME_FAILED;
}

/* The node with the slow disk must have kept running (slower, not dead);
 * it gets its speed back and must catch up with the others. */
static void heal_slow_disk(struct run *r, struct fault *f)
{
	size_t i = (size_t)f->nodes[0];
	int status = 0;
	char line[300] = "";

	if (dcluster_exited(&r->c, i, &status)) {
		dcluster_log_last(&r->c, i, "fatal", line, sizeof line);
		f->violation = "the node stopped while its disk was slow";
		snprintf(f->outcome, sizeof f->outcome, "had its disks slowed, exited (%s %d): %.150s",
			 WIFSIGNALED(status) ? "signal" : "code",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			 line[0] ? strstr(line, "fatal") : "no fatal line");
	} else {
		snprintf(f->outcome, sizeof f->outcome, "had its disks slowed to %d IO/s and %lu KiB/s "
			 "and kept running", DCLUSTER_SLOW_IOPS,
			 (unsigned long)DCLUSTER_SLOW_BPS / 1024);
	}
	dcluster_fast_disk(&r->c, i);
	r->catchup_target = majority_commit(r, f);
	r->watch = WATCH_CATCHUP;
	r->watch_next = 0;
}

void fault_heal(struct run *r, struct fault *f)
{
	switch (f->kind) {
	case F_PAUSE_LEADER:
		if (f->nodes[0] >= 0)
			dcluster_signal(&r->c, (size_t)f->nodes[0], SIGCONT);
		break;
	case F_RESTART_ALL:
		for (size_t i = 0; i < r->c.n; i++)
			dcluster_stop(&r->c, i, SIGTERM, 10000);
		break;
	case F_DAMAGED_SEGMENT:
		if (f->nodes[0] >= 0)
			heal_damaged(r, f);
		break;
	case F_PARTITION_LEADER:
	case F_PARTITION_SPLIT:
	case F_PARTITION_ONEWAY:
		heal_partition(r, f);
		break;
	case F_DISK_FULL:
		if (f->nodes[0] >= 0)
			heal_disk(r, f);
		break;
	case F_QUORUM_LOSS:
		heal_quorum_loss(r, f);
		break;
	case F_SLOW_DISK:
		if (f->nodes[0] >= 0)
			heal_slow_disk(r, f);
		break;
	default:
		break;
	}
}

/* Every cut-off node has applied the target index. */
static bool caught_up(struct run *r, const struct fault *f)
{
	for (size_t i = 0; i < r->c.n; i++) {
		json_t *st;
		json_int_t applied = 0;
		bool ok;
		if (!lagging(f, i))
			continue;
		st = dcluster_status(&r->c, r->d->client, i);
		ok = st != NULL && json_unpack(st, "{s:I}", "applied_index", &applied) == 0 &&
		     (unsigned long long)applied >= r->catchup_target;
		json_decref(st);
		if (!ok)
			return false;
	}
	return true;
}

bool fault_watch(struct run *r, double t)
{
	struct fault *f = r->n_faults ? &r->faults[r->n_faults - 1] : NULL;

	if (f == NULL || r->watch == WATCH_NONE)
		return false;
	if (r->watch == WATCH_BREAK_GLASS) {
		if (t >= r->watch_next) {
			break_glass_step(r, f);
			r->watch_next = drill_since(r->d) + RUN_BG_EVERY_MS;
		}
		return false; /* the heal comes at its time */
	}
	if (t < r->watch_next)
		return true;
	r->watch_next = t + RUN_WATCH_EVERY_MS;
	if (r->watch == WATCH_STEPDOWN) {
		json_t *st = dcluster_status(&r->c, r->d->client, (size_t)f->nodes[0]);
		const char *role = NULL;
		if (st != NULL && json_unpack(st, "{s:s}", "role", &role) == 0 &&
		    strcmp(role, "leader") != 0) {
			f->stepdown_ms = drill_since(r->d) - f->cut_ms;
			r->watch = WATCH_NONE;
		}
		json_decref(st);
		return false; /* the heal comes at its time */
	}
	if (caught_up(r, f)) {
		f->catchup_ms = drill_since(r->d) - f->healed_ms;
		r->watch = WATCH_NONE;
		return false;
	}
	if (t - f->healed_ms > RUN_CATCHUP_MAX_MS) {
		f->violation = "a cut-off or slowed node did not catch up within 60 s of the heal";
		r->watch = WATCH_NONE;
		return false;
	}
	return true;
}
