/* Requests that arrive inside another request's body, answered through a callback. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_conn.h"
#include "http/http_parse_util.h"
#include "lib/error.h"

/* The methods a detached request may have, as http_method_str spells them. */
static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};

static const char *method_known(const char *m)
{
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (strcmp(m, methods[i]) == 0)
			return methods[i];
	}
	return NULL;
}

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* One "Name: value\r\n" line of p[0..len) into h; *used gets its length. */
static int head_line(struct http_parse_headers *h, const char *p, size_t len, size_t *used)
{
	const char *end = NULL, *colon;
	size_t name_len, v, v_end;
	int rv;

	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n') {
			end = p + i;
			break;
		}
	}
	if (end == NULL)
		return ESC_EINVAL;
	colon = memchr(p, ':', (size_t)(end - p));
	if (colon == NULL || colon == p)
		return ESC_EINVAL;
	name_len = (size_t)(colon - p);
	for (size_t i = 0; i < name_len; i++) {
		if (!is_tchar((unsigned char)p[i]))
			return ESC_EINVAL;
	}
	v = name_len + 1;
	v_end = (size_t)(end - p);
	while (v < v_end && (p[v] == ' ' || p[v] == '\t'))
		v++;
	while (v_end > v && (p[v_end - 1] == ' ' || p[v_end - 1] == '\t'))
		v_end--;
	for (size_t i = v; i < v_end; i++) {
		unsigned char ch = (unsigned char)p[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return ESC_EINVAL;
	}
	rv = http_parse_headers_field(h, p, name_len);
	if (rv == 0)
		rv = http_parse_headers_value(h, p + v, v_end - v);
	if (rv != 0)
		return rv == ESC_ENOMEM ? ESC_ENOMEM : ESC_EINVAL;
	*used = (size_t)(end - p) + 2;
	return 0;
}

static int head_parse(struct http_parse_headers *h, const char *head, size_t len)
{
	size_t off = 0, used = 0;
	int rv;

	while (off < len) {
		rv = head_line(h, head + off, len - off, &used);
		if (rv != 0)
			return rv;
		off += used;
	}
	return 0;
}

int http_request_detached(const struct http_request *outer, const char *method,
			  const char *target, size_t target_len, const char *head, size_t head_len,
			  const char *body, size_t body_len, http_respond_cb respond, void *data,
			  struct http_request **out)
{
	struct http_parse_headers h;
	struct http_request *req;
	int rv;

	*out = NULL;
	method = method_known(method);
	if (method == NULL || target_len == 0 || target_len > HTTP_HEADER_BYTES_MAX ||
	    memchr(target, '\0', target_len) != NULL || body_len > HTTP_BODY_MAX)
		return ESC_EINVAL;
	req = calloc(1, sizeof *req);
	if (req == NULL)
		return ESC_ENOMEM;
	req->target = strndup(target, target_len);
	req->body = malloc(body_len + 1);
	if (req->target == NULL || req->body == NULL) {
		http_conn_request_free(req);
		return ESC_ENOMEM;
	}
	memcpy(req->body, body, body_len);
	req->body[body_len] = '\0';
	req->body_len = body_len;
	memset(&h, 0, sizeof h);
	rv = http_parse_headers_charge(&h, target_len) == 0 ? head_parse(&h, head, head_len)
							      : ESC_EINVAL;
	req->headers = h.v;
	req->n_headers = h.n;
	req->header_blocks = h.blocks;
	if (rv == 0)
		rv = http_target_split(req->target, &req->path, &req->query);
	if (rv != 0) {
		http_conn_request_free(req);
		return rv == ESC_ENOMEM ? ESC_ENOMEM : ESC_EINVAL;
	}
	req->server = outer->server;
	req->method = method;
	req->received_ms = outer->received_ms;
	memcpy(req->peer, outer->peer, sizeof req->peer);
	req->tls = outer->tls;
	memcpy(req->client_cn, outer->client_cn, sizeof req->client_cn);
	memcpy(req->client_ou, outer->client_ou, sizeof req->client_ou);
	req->respond_cb = respond;
	req->respond_data = data;
	*out = req;
	return ESC_OK;
}
