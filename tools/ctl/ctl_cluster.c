/* escrowctl cluster add|remove|transfer: membership changes through any node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl/ctl_commands.h"
#include "lib/error.h"
#include "lib/netaddr.h"

static int parse_id(struct ctl_ctx *ctx, const char *text, long *id)
{
	return ctl_opt_long(ctx, text, "ID", 1, 65535, id);
}

/* Prints the answer of a membership request. */
static int change_print(struct ctl_ctx *ctx, const struct ctl_response *r, const char *done)
{
	if (ctx->json) {
		ctl_print_body(r);
		return CTL_EXIT_OK;
	}
	printf("%s\n", done);
	return CTL_EXIT_OK;
}

static int cluster_add(struct ctl_ctx *ctx, int argc, char **argv)
{
	struct ctl_response r;
	char body[3 * NETADDR_TEXT_MAX], done[128], errmsg[ESC_ERRMSG_SIZE];
	struct netaddr a;
	long id;
	int rv;

	if (argc != 3)
		return ctl_usage_error(ctx, "cluster add needs ID RAFT-ADDR API-ADDR");
	rv = parse_id(ctx, argv[0], &id);
	if (rv != CTL_EXIT_OK)
		return rv;
	for (int i = 1; i <= 2; i++)
		if (netaddr_parse(argv[i], &a, errmsg) != ESC_OK)
			return ctl_usage_error(ctx, "cluster add: %s %s", i == 1 ? "RAFT-ADDR" : "API-ADDR",
					       errmsg);
	snprintf(body, sizeof body, "{\"id\":%ld,\"raft\":\"%s\",\"api\":\"%s\",\"role\":\"voter\"}",
		 id, argv[1], argv[2]);
	rv = ctl_call(ctx, "POST", "/v1/cluster/members", body, &r);
	if (rv != CTL_EXIT_OK)
		return rv;
	snprintf(done, sizeof done, "node %ld is a voter", id);
	rv = change_print(ctx, &r, done);
	ctl_response_close(&r);
	return rv;
}

static int cluster_remove(struct ctl_ctx *ctx, int argc, char **argv)
{
	struct ctl_response r;
	char path[64], done[64];
	long id;
	int rv;

	if (argc != 1)
		return ctl_usage_error(ctx, "cluster remove needs ID");
	rv = parse_id(ctx, argv[0], &id);
	if (rv != CTL_EXIT_OK)
		return rv;
	snprintf(path, sizeof path, "/v1/cluster/members/%ld", id);
	rv = ctl_call(ctx, "DELETE", path, NULL, &r);
	if (rv != CTL_EXIT_OK)
		return rv;
	snprintf(done, sizeof done, "node %ld removed; stop its escrowd now", id);
	rv = change_print(ctx, &r, done);
	ctl_response_close(&r);
	return rv;
}

static int cluster_transfer(struct ctl_ctx *ctx, int argc, char **argv)
{
	struct ctl_response r;
	char body[32];
	long id = 0;
	int rv;

	if (argc > 1)
		return ctl_usage_error(ctx, "cluster transfer takes at most one ID");
	if (argc == 1) {
		rv = parse_id(ctx, argv[0], &id);
		if (rv != CTL_EXIT_OK)
			return rv;
		snprintf(body, sizeof body, "{\"id\":%ld}", id);
	} else {
		snprintf(body, sizeof body, "{}");
	}
	rv = ctl_call(ctx, "POST", "/v1/cluster/transfer", body, &r);
	if (rv != CTL_EXIT_OK)
		return rv;
	rv = change_print(ctx, &r, "leadership transfer started; see escrowctl status");
	ctl_response_close(&r);
	return rv;
}

int ctl_cmd_cluster(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CTL_OPTS_COMMON };
	int c, rv = CTL_EXIT_OK;

	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1)
		;
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind >= argc)
		return ctl_usage_error(ctx, "give add, remove or transfer");
	rv = ctl_connect(ctx);
	if (rv != CTL_EXIT_OK)
		return rv;
	if (strcmp(argv[optind], "add") == 0)
		return cluster_add(ctx, argc - optind - 1, argv + optind + 1);
	if (strcmp(argv[optind], "remove") == 0)
		return cluster_remove(ctx, argc - optind - 1, argv + optind + 1);
	if (strcmp(argv[optind], "transfer") == 0)
		return cluster_transfer(ctx, argc - optind - 1, argv + optind + 1);
	return ctl_usage_error(ctx, "unknown cluster command '%.32s': give add, remove or transfer",
			       argv[optind]);
}
