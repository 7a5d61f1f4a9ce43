/* Which browsers may call the API, and the headers of every answer (see origin.h). */
#include "node/origin.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/error.h"
#include "node/options.h"

#define ORIGIN_MAX 300 /* longer Origin values match nothing */

static const char security_headers[] =
	"X-Content-Type-Options: nosniff\r\n"
	"X-Frame-Options: DENY\r\n"
	"Referrer-Policy: no-referrer\r\n";

static const char csp_head[] =
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
	"img-src 'self' data:; connect-src";
static const char csp_tail[] =
	"; base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n";

static const char cors_headers[] =
	"Access-Control-Allow-Credentials: true\r\n"
	"Access-Control-Expose-Headers: X-Escrow-Node, X-Escrow-Leader, X-Escrow-Next, "
	"X-Escrow-Snapshot-Index, X-Escrow-Snapshot-Sha256\r\n"
	"Vary: Origin\r\n";

/* The API addresses of the current members ("ip:port"); how many. */
static unsigned member_apis(const struct api_ctx *ctx, struct bootstrap_member *m, unsigned max)
{
	unsigned n = 0, kept = 0, count = replica_member_count(ctx->replica);
	const struct bootstrap_member *all = api_ctx_member_list(ctx, &n);
	struct replica_member_info info;

	if (all == NULL)
		return 0;
	if (n > max)
		n = max;
	memcpy(m, all, n * sizeof m[0]);
	if (count == 0)
		return n; /* before the configuration is known: the text's */
	for (unsigned i = 0; i < n; i++) {
		bool member = false;

		for (unsigned j = 0; j < count && !member; j++) {
			replica_member_at(ctx->replica, j, &info);
			member = info.id == m[i].id;
		}
		if (member)
			m[kept++] = m[i];
	}
	return kept;
}

/* host[:port] with the scheme's default port added when absent, into out. */
static bool authority(const char *s, size_t len, bool tls, char *out, size_t size)
{
	const char *close = memchr(s, ']', len);
	const char *colon = close != NULL ? (close + 1 < s + len && close[1] == ':' ? close + 1
										    : NULL)
					  : memchr(s, ':', len);
	int n;

	if (len == 0 || memchr(s, '/', len) != NULL || memchr(s, '@', len) != NULL)
		return false;
	if (colon != NULL)
		n = snprintf(out, size, "%.*s", (int)len, s);
	else
		n = snprintf(out, size, "%.*s:%s", (int)len, s, tls ? "443" : "80");
	return n > 0 && (size_t)n < size;
}

/* True when origin ("scheme://host[:port]") is this node as req reached it,
 * or a member. */
static bool origin_known(const struct api_ctx *ctx, const struct http_request *req,
			 const char *origin)
{
	static struct bootstrap_member m[API_MEMBERS_MAX];
	const char *scheme = req->tls ? "https://" : "http://";
	const char *host = http_request_header(req, "Host");
	char want[ORIGIN_MAX], have[ORIGIN_MAX];
	unsigned n;

	if (strlen(origin) >= ORIGIN_MAX || strncasecmp(origin, scheme, strlen(scheme)) != 0)
		return false;
	origin += strlen(scheme);
	if (!authority(origin, strlen(origin), req->tls, have, sizeof have))
		return false;
	if (host != NULL && authority(host, strlen(host), req->tls, want, sizeof want) &&
	    strcasecmp(want, have) == 0)
		return true;
	n = member_apis(ctx, m, API_MEMBERS_MAX);
	for (unsigned i = 0; i < n; i++)
		if (strcasecmp(m[i].api, have) == 0)
			return true;
	return false;
}

bool origin_allowed(const struct api_ctx *ctx, const struct http_request *req)
{
	const char *origin = http_request_header(req, "Origin");
	const char *site = http_request_header(req, "Sec-Fetch-Site");

	if (origin != NULL)
		return origin_known(ctx, req, origin);
	return site == NULL || strcasecmp(site, "same-origin") == 0 ||
	       strcasecmp(site, "none") == 0;
}

/* Appends the strings of list (NULL-terminated) at *len when all fit; false
 * (and nothing appended) when they do not. Every answer carries these lines:
 * through vsnprintf's "%s" they were 4 % of a forwarding follower's
 * instructions (issue 16). */
static bool put(char *out, size_t size, size_t *len, const char *const *list)
{
	size_t at = *len;

	for (; *list != NULL; list++) {
		size_t n = strlen(*list);

		if (n >= size - at) {
			out[*len] = '\0';
			return false;
		}
		memcpy(out + at, *list, n);
		at += n;
	}
	out[at] = '\0';
	*len = at;
	return true;
}

#define PUT(out, size, len, ...) put(out, size, len, (const char *const[]){ __VA_ARGS__, NULL })

void origin_headers(const struct api_ctx *ctx, const struct http_request *req, bool console,
		    char *out, size_t size)
{
	static struct bootstrap_member m[API_MEMBERS_MAX];
	const char *scheme = req != NULL && !req->tls ? "http://" : "https://";
	const char *origin = req != NULL ? http_request_header(req, "Origin") : NULL;
	unsigned n = member_apis(ctx, m, API_MEMBERS_MAX);
	size_t len = 0, csp;
	bool ok;

	if (size == 0)
		return;
	out[0] = '\0';
	PUT(out, size, &len, security_headers);
	if (!console)
		PUT(out, size, &len, "Cache-Control: no-store\r\n");
	if (origin != NULL && origin_known(ctx, req, origin))
		PUT(out, size, &len, "Access-Control-Allow-Origin: ", origin, "\r\n", cors_headers);
	/* Pages may script only from here, and talk only to the members. */
	csp = len;
	ok = PUT(out, size, &len, csp_head, " 'self'");
	for (unsigned i = 0; ok && i < n; i++)
		ok = PUT(out, size, &len, " ", scheme, m[i].api);
	if (!ok || !PUT(out, size, &len, csp_tail)) {
		out[csp] = '\0'; /* too many members to name: this node only */
		len = csp;
		PUT(out, size, &len, csp_head, " 'self'", csp_tail);
	}
}
