/* What the API handlers and dispatch may use of the node (see api_ctx.h). */
#include "node/api_ctx.h"

#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "lib/text.h"
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
 * forwarded request asks for the leader's address and every answer names
 * the members (origin.c's CSP line); parsing the text each time was 1 % of
 * a forwarding follower's CPU, for each of the two (issue 16). */
static struct {
	char *text;
	struct bootstrap_member members[API_MEMBERS_MAX];
	unsigned n;
} parsed;

const struct bootstrap_member *api_ctx_member_list(const struct api_ctx *ctx, unsigned *n)
{
	char errmsg[ESC_ERRMSG_SIZE];
	const char *text = api_ctx_members(ctx);

	*n = 0;
	if (text == NULL)
		return NULL;
	if (parsed.text == NULL || strcmp(parsed.text, text) != 0) {
		free(parsed.text);
		parsed.text = NULL;
		if (bootstrap_parse(text, parsed.members, API_MEMBERS_MAX, &parsed.n, errmsg) !=
		    ESC_OK)
			return NULL; /* parsed.text NULL: parsed again, n not read */
		/* Out of memory: parsed again next time. */
		parsed.text = strdup(text);
	}
	*n = parsed.n;
	return parsed.members;
}

bool api_ctx_member_api(const struct api_ctx *ctx, unsigned id, char *out, size_t size)
{
	unsigned n;
	const struct bootstrap_member *m = api_ctx_member_list(ctx, &n);

	for (unsigned i = 0; m != NULL && i < n; i++) {
		if (m[i].id == id) {
			text_copy(out, size, m[i].api);
			return true;
		}
	}
	return false;
}
