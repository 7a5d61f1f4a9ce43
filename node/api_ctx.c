/* What the API handlers and dispatch may use of the node (see api_ctx.h). */
#include "node/api_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "node/options.h"

const char *api_ctx_members(const struct api_ctx *ctx)
{
	const char *text = store_members(ctx->store);

	if (text[0] != '\0')
		return text;
	if (ctx->restored[0] != '\0')
		return ctx->restored;
	return ctx->bootstrap;
}

/* The members as last parsed, and the text they were parsed from: every
 * forwarded request asks for the leader's address, and parsing the text
 * each time was 1 % of a forwarding follower's CPU (issue 16). Used from the
 * loop's thread only. */
static struct {
	char *text;
	struct bootstrap_member members[API_MEMBERS_MAX];
	unsigned n;
} parsed;

bool api_ctx_member_api(const struct api_ctx *ctx, unsigned id, char *out, size_t size)
{
	char errmsg[ESC_ERRMSG_SIZE];
	const char *text = api_ctx_members(ctx);

	if (text == NULL)
		return false;
	if (parsed.text == NULL || strcmp(parsed.text, text) != 0) {
		free(parsed.text);
		parsed.text = NULL;
		parsed.n = 0;
		if (bootstrap_parse(text, parsed.members, API_MEMBERS_MAX, &parsed.n, errmsg) !=
		    ESC_OK)
			return false;
		/* Out of memory: parsed again next time. */
		parsed.text = strdup(text);
	}
	for (unsigned i = 0; i < parsed.n; i++) {
		if (parsed.members[i].id == id) {
			snprintf(out, size, "%s", parsed.members[i].api);
			return true;
		}
	}
	return false;
}
