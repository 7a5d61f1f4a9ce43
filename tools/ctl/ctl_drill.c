/* escrowctl drill: `watch` against a real cluster, `run` on a cluster of its own. */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/ctl/ctl_commands.h"
#include "tools/drill/drill_engine.h"
#include "tools/drill/drill_run.h"
#include "tools/drill/drill_watch.h"

static void on_sigint(int sig)
{
	(void)sig;
	drill_interrupted = drill_interrupted + 1; /* once: stop the load; twice: the read-back */
}

/* The exit code (docs/api.md section 7.2) for how a drill ended. */
static int exit_code(enum drill_outcome o)
{
	switch (o) {
	case DRILL_OUTCOME_OK:
		return CTL_EXIT_OK;
	case DRILL_OUTCOME_USAGE:
		return CTL_EXIT_USAGE;
	case DRILL_OUTCOME_UNREACHABLE:
		return CTL_EXIT_UNREACHABLE;
	case DRILL_OUTCOME_FAILED:
		break;
	}
	return CTL_EXIT_REFUSED;
}

/* The groups the contract names (kill, pause, partition, restart, disk-full,
 * corrupt), each standing for the fault kinds of its family. */
static const struct {
	const char *name;
	unsigned mask;
} fault_groups[] = {
	{ "kill", (1u << F_KILL_LEADER) | (1u << F_KILL_FOLLOWER) | (1u << F_KILL_TWO) },
	{ "pause", 1u << F_PAUSE_LEADER },
	{ "partition", DRILL_NET_FAULTS },
	{ "restart", 1u << F_RESTART_ALL },
	{ "corrupt", 1u << F_DAMAGED_SEGMENT },
};

/* --faults a,b,c (kinds or groups) into a bit mask. */
static int parse_faults(struct ctl_ctx *ctx, const char *list, size_t size, unsigned *mask)
{
	char buf[256], names[400] = "", *save = NULL;
	enum fault_kind k;
	size_t off = 0;

	for (int i = 0; i < F__COUNT; i++)
		off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "",
					drill_fault_name((enum fault_kind)i));
	for (size_t g = 0; g < sizeof fault_groups / sizeof fault_groups[0]; g++)
		off += (size_t)snprintf(names + off, sizeof names - off, ", %s",
					fault_groups[g].name);

	*mask = 0;
	if (strlen(list) >= sizeof buf)
		return ctl_usage_error(ctx, "--faults: too long");
	strcpy(buf, list);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		size_t g = 0;
		while (g < sizeof fault_groups / sizeof fault_groups[0] &&
		       strcmp(t, fault_groups[g].name) != 0)
			g++;
		if (g < sizeof fault_groups / sizeof fault_groups[0]) {
			/* kill-two needs 5 nodes: left out of "kill" on 3. */
			*mask |= fault_groups[g].mask & (size < 5 ? ~(1u << F_KILL_TWO) : ~0u);
			continue;
		}
		if (drill_fault_parse(t, &k) != 0)
			return ctl_usage_error(ctx, "--faults: unknown fault '%.32s' (%s)", t, names);
		if (k == F_KILL_TWO && size < 5)
			return ctl_usage_error(ctx, "--faults: kill-two needs --size 5");
		*mask |= 1u << k;
	}
	if (*mask == 0)
		return ctl_usage_error(ctx, "--faults: give at least one fault");
	return CTL_EXIT_OK;
}

/* escrowd to start: --escrowd, $ESCROWD, the escrowd next to this program
 * (installed), ../node/escrowd from it (a build directory), or escrowd from
 * $PATH. */
static const char *find_escrowd(const char *given)
{
	static char path[4096];
	const char *env = getenv("ESCROWD");
	ssize_t n;

	if (given != NULL)
		return given;
	if (env != NULL && *env != '\0')
		return env;
	n = readlink("/proc/self/exe", path, sizeof path - 16);
	if (n > 0) {
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		if (slash != NULL) {
			strcpy(slash + 1, "escrowd");
			if (access(path, X_OK) == 0)
				return path;
			strcpy(slash + 1, "../node/escrowd");
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	return "escrowd";
}

/* drill run's own options: the seed, the faults, the escrowd to start, and
 * the client settings for its cluster. */
static int run_options(struct ctl_ctx *ctx, long size, const char *s_seed,
		       const char *s_faults, const char *s_escrowd, struct drill_run_opts *ro)
{
	int rv;

	ro->size = (size_t)size;
	if (s_seed != NULL) {
		long seed;
		if ((rv = ctl_opt_long(ctx, s_seed, "--seed", 1, LONG_MAX, &seed)) != CTL_EXIT_OK)
			return rv;
		ro->seed = (uint64_t)seed;
	} else {
		ro->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	}
	ro->kinds = (1u << F_KILL_LEADER) | (1u << F_KILL_FOLLOWER) | (1u << F_PAUSE_LEADER) |
		    (1u << F_RESTART_ALL) | (1u << F_DAMAGED_SEGMENT) | (1u << F_QUORUM_LOSS) |
		    DRILL_ROOT_FAULTS |
		    (size >= 5 ? 1u << F_KILL_TWO : 0);
	if (s_faults && (rv = parse_faults(ctx, s_faults, ro->size, &ro->kinds)) != CTL_EXIT_OK)
		return rv;
	ro->escrowd = find_escrowd(s_escrowd);
	ro->ca = ctx->ca;
	ro->cert = ctx->cert;
	ro->key = ctx->key;
	ro->timeout_ms = ctx->timeout_ms;
	return CTL_EXIT_OK;
}

int ctl_cmd_drill(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "in-flight", required_argument, NULL, 's' },
		{ "request-timeout", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 'S' },
		{ "faults", required_argument, NULL, 'f' },
		{ "escrowd", required_argument, NULL, 'e' },
		{ "keep", no_argument, NULL, 'k' },
		{ "insecure", no_argument, NULL, 'i' },
		{ "history", required_argument, NULL, 'H' },
		CTL_OPTS_COMMON
	};
	const char *s_rate = NULL, *s_duration = NULL, *s_slots = NULL, *s_timeout = NULL;
	const char *s_size = NULL, *s_seed = NULL, *s_faults = NULL, *s_escrowd = NULL;
	const char *history = NULL;
	long rate = DRILL_RATE_DEFAULT, duration = DRILL_DURATION_DEFAULT_S;
	long slots = DRILL_SLOTS_DEFAULT, timeout = DRILL_REQUEST_TIMEOUT_MS, size = 3;
	struct drill_run_opts ro = { 0 };
	struct drill_opts o;
	static struct drill d;
	struct sigaction sa, old;
	enum drill_outcome outcome;
	bool run;
	int c, rv;

	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		switch (c) {
		case 'r': rv = ctl_opt_once(ctx, &s_rate, optarg, "--rate"); break;
		case 'd': rv = ctl_opt_once(ctx, &s_duration, optarg, "--duration"); break;
		case 's': rv = ctl_opt_once(ctx, &s_slots, optarg, "--in-flight"); break;
		case 't': rv = ctl_opt_once(ctx, &s_timeout, optarg, "--request-timeout"); break;
		case 'n': rv = ctl_opt_once(ctx, &s_size, optarg, "--size"); break;
		case 'S': rv = ctl_opt_once(ctx, &s_seed, optarg, "--seed"); break;
		case 'f': rv = ctl_opt_once(ctx, &s_faults, optarg, "--faults"); break;
		case 'e': rv = ctl_opt_once(ctx, &s_escrowd, optarg, "--escrowd"); break;
		case 'k': ro.keep = true; break;
		case 'i': ro.insecure = true; break;
		case 'H': rv = ctl_opt_once(ctx, &history, optarg, "--history"); break;
		}
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind >= argc)
		return ctl_usage_error(ctx, "give a subcommand: watch or run");
	run = strcmp(argv[optind], "run") == 0;
	if (!run && strcmp(argv[optind], "watch") != 0)
		return ctl_usage_error(ctx, "unknown subcommand '%.32s' (watch, run)", argv[optind]);
	if (optind + 1 < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind + 1]);
	if (!run && (s_size || s_seed || s_faults || s_escrowd || ro.keep || ro.insecure))
		return ctl_usage_error(ctx, "--size, --seed, --faults, --escrowd, --keep and "
				       "--insecure are for drill run");
	if (run && ctx->nodes != NULL && getenv("ESCROW_NODES") == NULL)
		return ctl_usage_error(ctx, "drill run starts its own cluster: --nodes is for "
				       "drill watch");
	if ((s_rate && (rv = ctl_opt_long(ctx, s_rate, "--rate", 1, DRILL_RATE_MAX, &rate))) ||
	    (s_duration && (rv = ctl_opt_long(ctx, s_duration, "--duration", 1,
					      DRILL_DURATION_MAX_S, &duration))) ||
	    (s_slots && (rv = ctl_opt_long(ctx, s_slots, "--in-flight", 1, DRILL_SLOTS_MAX,
					   &slots))) ||
	    (s_timeout && (rv = ctl_opt_long(ctx, s_timeout, "--request-timeout", 100, 600000,
					     &timeout))) ||
	    (s_size && (rv = ctl_opt_long(ctx, s_size, "--size", 3, 5, &size))))
		return rv;
	if (size != 3 && size != 5)
		return ctl_usage_error(ctx, "--size: 3 or 5");
	o = (struct drill_opts){
		.rate = (double)rate,
		.duration_ms = (double)duration * 1e3,
		.n_slots = (size_t)slots,
		.request_timeout_ms = timeout,
		.history_path = history,
		.json = ctx->json,
	};
	if (run)
		rv = run_options(ctx, size, s_seed, s_faults, s_escrowd, &ro);
	else
		rv = ctl_connect(ctx);
	if (rv != CTL_EXIT_OK)
		return rv;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, &old);
	outcome = run ? drill_run(&d, &o, &ro) : drill_watch(&d, &ctx->client, &o);
	sigaction(SIGINT, &old, NULL);
	return exit_code(outcome);
}
