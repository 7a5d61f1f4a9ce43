/* Browsers and the API. A browser sends a client certificate with every
 * request to a node, whichever page asked, so a request that a browser
 * makes (it carries Origin or Sec-Fetch-Site) is served only when it comes
 * from this node's own origin or a cluster member's; the console's pages on
 * one node call the others (failover), and nothing else may. Also the
 * headers every response carries: the Content-Security-Policy, no framing,
 * no sniffing, no referrer, no caching of API answers, and CORS for a
 * member's origin. */
#ifndef ESCROW_ORIGIN_H
#define ESCROW_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_server.h"
#include "node/api_ctx.h"

#define ORIGIN_HEADERS_MAX 4096 /* room for origin_headers' lines */

/* True when req is no browser's, or a browser's from an origin allowed
 * above: an Origin header naming this node (as the request's Host) or a
 * member's API address, with this server's scheme; or, without Origin,
 * Sec-Fetch-Site "same-origin" or "none" (the person typed the address).
 * Origin "null", "same-site" and "cross-site" without Origin are refused. */
bool origin_allowed(const struct api_ctx *ctx, const struct http_request *req);

/* The header lines for the answer to req (NULL: an error the server
 * answers itself), into out (size bytes, ORIGIN_HEADERS_MAX is enough for
 * API_MEMBERS_MAX members). console: a file of the console (it sets its own
 * caching); anything else gets Cache-Control: no-store. */
void origin_headers(const struct api_ctx *ctx, const struct http_request *req, bool console,
		    char *out, size_t size);

/* The CORS preflight answer's extra lines for an allowed OPTIONS request. */
#define ORIGIN_PREFLIGHT_HEADERS                                                  \
	"Access-Control-Allow-Methods: GET, POST, PUT, DELETE\r\n"                \
	"Access-Control-Allow-Headers: Content-Type\r\n"                           \
	"Access-Control-Max-Age: 600\r\n"

#endif
