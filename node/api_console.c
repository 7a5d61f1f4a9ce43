/* The web console: its files (GET, HEAD /ui/...; "/" leads there), compiled
 * into escrowd (node/ui_assets.h), and GET /v1/whoami, the identity the
 * console shows and decides its pages by. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "node/api.h"
#include "node/json_out.h"
#include "node/ui_assets.h"

#define UI_PREFIX "/ui/"

static const struct ui_asset *asset_find(const char *name)
{
	for (size_t i = 0; i < ui_assets_count; i++)
		if (strcmp(ui_assets[i].name, name) == 0)
			return &ui_assets[i];
	return NULL;
}

/* True when the request's If-None-Match names etag (or is "*"). */
static bool not_modified(const struct http_request *req, const char *etag)
{
	const char *inm = http_request_header(req, "If-None-Match");
	size_t n = strlen(etag);

	if (inm == NULL)
		return false;
	for (const char *p = inm; *p != '\0'; p++) {
		if (*p == '*')
			return true;
		/* W/"x" matches "x" too: a weak comparison is right for GET. */
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
	}
	return false;
}

/* True when Accept-Encoding lists gzip without refusing it (q=0). */
static bool accepts_gzip(const struct http_request *req)
{
	const char *p = http_request_header(req, "Accept-Encoding");

	while (p != NULL && (p = strcasestr(p, "gzip")) != NULL) {
		p += 4;
		p += strspn(p, " ");
		if (*p == '\0' || *p == ',')
			return true;
		if (*p != ';')
			continue;
		p++;
		p += strspn(p, " ");
		return strncasecmp(p, "q=", 2) != 0 || strtod(p + 2, NULL) > 0;
	}
	return false;
}

static void serve_asset(struct op *op, const struct ui_asset *a)
{
	bool gz = a->gz != NULL && accepts_gzip(op->req);
	char headers[256];

	snprintf(headers, sizeof headers,
		 "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n%s", a->etag,
		 gz ? "Content-Encoding: gzip\r\n" : "");
	if (not_modified(op->req, a->etag)) {
		op_respond(op, 304, headers, NULL, NULL, 0);
		return;
	}
	op_respond(op, 200, headers, a->type, (const char *)(gz ? a->gz : a->data),
		   gz ? a->gz_len : a->len);
}

bool api_console_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/ui") == 0 ||
	       strncmp(path, UI_PREFIX, strlen(UI_PREFIX)) == 0;
}

void api_console(struct op *op)
{
	const char *path = op->req->path;
	const struct ui_asset *a;

	op->route = ROUTE_UI;
	if (strcmp(op->req->method, "GET") != 0 && strcmp(op->req->method, "HEAD") != 0) {
		op_respond_error(op, 405, "method_not_allowed", "use GET on the console's files");
		return;
	}
	if (strcmp(path, "/") == 0 || strcmp(path, "/ui") == 0) {
		op_respond(op, strcmp(path, "/") == 0 ? 302 : 301, "Location: /ui/\r\n", NULL, NULL,
			   0);
		return;
	}
	path += strlen(UI_PREFIX);
	a = asset_find(*path == '\0' ? "index.html" : path);
	if (a == NULL) {
		op_respond_error(op, 404, "not_found", "no such file of the console");
		return;
	}
	serve_asset(op, a);
}

void api_whoami(struct op *op)
{
	static const unsigned roles[] = {AUTH_AGENT, AUTH_HELPDESK, AUTH_AUDITOR, AUTH_OPERATOR};
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < sizeof roles / sizeof roles[0]; i++)
		if (op->id.roles & roles[i])
			json_array_append_new(list, json_string(auth_role_name(roles[i])));
	json_respond(op, 200,
		     json_pack("{s:s, s:s, s:o?, s:I}", "actor", op->id.actor, "role",
			       op->id.insecure ? "insecure" : op->id.role, "roles", list, "node",
			       (json_int_t)op->ctx->node_id));
}
