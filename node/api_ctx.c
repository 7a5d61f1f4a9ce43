/* What the API handlers and dispatch may use of the node (see api_ctx.h). */
#include "node/api_ctx.h"

#include <stdio.h>

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

bool api_ctx_member_api(const struct api_ctx *ctx, unsigned id, char *out, size_t size)
{
	static struct bootstrap_member members[API_MEMBERS_MAX];
	char errmsg[ESC_ERRMSG_SIZE];
	const char *text = api_ctx_members(ctx);
	unsigned n = 0;

	if (text == NULL ||
	    bootstrap_parse(text, members, API_MEMBERS_MAX, &n, errmsg) != ESC_OK)
		return false;
	for (unsigned i = 0; i < n; i++) {
		if (members[i].id == id) {
			snprintf(out, size, "%s", members[i].api);
			return true;
		}
	}
	return false;
}
