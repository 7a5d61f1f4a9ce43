/* HTTP/1.1 server requests: http_parser glue, limits, dispatch and responses. */
#include <assert.h>
#include <http_parser.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_conn.h"
#include "http/http_server.h"
#include "lib/tls_stream.h"
#include "lib/error.h"
#include "lib/text.h"

#define QUERY_NAME_MAX 128 /* longer parameter names never match */

/* Makes a parser callback fail: the connection answers status and closes. */
static int conn_reject(struct http_conn *c, int status, const char *code, const char *message)
{
	if (c->err_status == 0) {
		c->err_status = status;
		c->err_code = code;
		c->err_message = message;
	}
	return -1;
}

static int limit_error(struct http_conn *c, int rv, int status, const char *code,
		       const char *message)
{
	if (rv == ESC_ETOOBIG)
		return conn_reject(c, status, code, message);
	return conn_reject(c, 500, "internal", "out of memory");
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	c->head = false;
	c->http10 = false;
	c->keep_alive = false;
	http_conn_start_request(c);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	int rv;

	rv = http_parse_headers_charge(&c->headers, len);
	if (rv == 0)
		rv = http_parse_buf_append(&c->target, at, len, HTTP_HEADER_BYTES_MAX);
	if (rv != 0)
		return limit_error(c, rv, 414, "uri_too_long", "the request target is too long");
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	int rv;

	rv = http_parse_headers_field(&c->headers, at, len);
	if (rv != 0)
		return limit_error(c, rv, 431, "headers_too_large",
				   "too many header lines or header bytes");
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	int rv;

	rv = http_parse_headers_value(&c->headers, at, len);
	if (rv != 0)
		return limit_error(c, rv, 431, "headers_too_large",
				   "too many header lines or header bytes");
	return 0;
}

static bool path_has_control(const char *path)
{
	const unsigned char *q;

	for (q = (const unsigned char *)path; *q != '\0'; q++) {
		if (*q < 0x20 || *q == 0x7f)
			return true;
	}
	return false;
}

int http_target_split(const char *t, char **path, char **query)
{
	size_t path_len = strcspn(t, "?#");
	size_t query_len = 0;
	const char *q = "";

	*path = NULL;
	*query = NULL;
	if (t[0] != '/')
		return ESC_EINVAL;
	if (t[path_len] == '?') {
		q = t + path_len + 1;
		query_len = strcspn(q, "#");
	}
	*path = malloc(path_len + 1);
	*query = strndup(q, query_len);
	if (*path == NULL || *query == NULL)
		return ESC_ENOMEM;
	if (http_parse_pct_decode(t, path_len, false, *path, path_len + 1, NULL) != 0)
		return ESC_EINVAL;
	if (path_has_control(*path))
		return ESC_EINVAL;
	return 0;
}

/* Control bytes other than tab in a header value. */
static bool headers_have_control(const struct http_parse_headers *h)
{
	const unsigned char *q;
	size_t i;

	for (i = 0; i < h->n; i++) {
		for (q = (const unsigned char *)h->v[i].value; *q != '\0'; q++) {
			if ((*q < 0x20 && *q != '\t') || *q == 0x7f)
				return true;
		}
	}
	return false;
}

static bool method_needs_length(unsigned method)
{
	return method == HTTP_POST || method == HTTP_PUT || method == HTTP_PATCH;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	const char *expect;
	bool chunked = (p->flags & F_CHUNKED) != 0;
	bool has_length = (p->flags & F_CONTENTLENGTH) != 0;
	bool has_body = chunked || (has_length && p->content_length > 0);
	char *cont;
	int rv;

	c->head = p->method == HTTP_HEAD;
	c->http10 = p->http_major == 1 && p->http_minor == 0;
	if (c->server->stopping)
		return conn_reject(c, 503, "shutting_down", "the node is stopping");
	if (p->http_major != 1)
		return conn_reject(c, 505, "http_version_not_supported",
				   "only HTTP/1.0 and HTTP/1.1 are served");
	if (headers_have_control(&c->headers))
		return conn_reject(c, 400, "bad_request", "control character in a header");
	if (!chunked && http_parse_header_find(c->headers.v, c->headers.n,
					       "Transfer-Encoding") != NULL)
		return conn_reject(c, 400, "bad_request", "only chunked transfer coding is served");
	if (!chunked && !has_length && method_needs_length(p->method))
		return conn_reject(c, 411, "length_required",
				   "the request needs a Content-Length");
	if (has_length && p->content_length > HTTP_BODY_MAX)
		return conn_reject(c, 413, "body_too_large", "the body is over 64 KiB");
	rv = http_target_split(c->target.p ? c->target.p : "", &c->path, &c->query);
	if (rv == ESC_ENOMEM)
		return conn_reject(c, 500, "internal", "out of memory");
	if (rv != 0)
		return conn_reject(c, 400, "bad_request", "malformed request target");
	if (http_parse_buf_reserve(&c->body, has_length ? (size_t)p->content_length : 0) != 0)
		return conn_reject(c, 500, "internal", "out of memory");
	expect = http_parse_header_find(c->headers.v, c->headers.n, "Expect");
	if (expect != NULL) {
		if (strcasecmp(expect, "100-continue") != 0)
			return conn_reject(c, 417, "expectation_failed",
					   "only Expect: 100-continue is supported");
		if (has_body && !c->http10) {
			cont = strdup("HTTP/1.1 100 Continue\r\n\r\n");
			if (cont == NULL)
				return conn_reject(c, 500, "internal", "out of memory");
			if (http_conn_write_bytes(c, cont, strlen(cont)) != 0)
				return -1;
		}
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	int rv;

	rv = http_parse_buf_append(&c->body, at, len, HTTP_BODY_MAX);
	if (rv != 0)
		return limit_error(c, rv, 413, "body_too_large", "the body is over 64 KiB");
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *req;

	req = calloc(1, sizeof(*req));
	if (req == NULL)
		return conn_reject(c, 500, "internal", "out of memory");
	if (http_parse_buf_take(&c->target, &req->target, NULL) != 0 ||
	    http_parse_buf_take(&c->body, &req->body, &req->body_len) != 0) {
		http_conn_request_free(req);
		return conn_reject(c, 500, "internal", "out of memory");
	}
	req->server = c->server;
	req->conn = c;
	req->method = http_method_str((enum http_method)p->method);
	req->path = c->path;
	req->query = c->query;
	c->path = NULL;
	c->query = NULL;
	req->headers = c->headers.v;
	req->n_headers = c->headers.n;
	req->header_blocks = c->headers.blocks;
	memset(&c->headers, 0, sizeof(c->headers));
	req->received_ms = uv_now(c->server->loop);
	text_copy(req->peer, sizeof(req->peer), c->peer);
	if (c->tls != NULL) {
		req->tls = true;
		text_copy(req->client_cn, sizeof(req->client_cn), c->tls->peer_cn);
		text_copy(req->client_ou, sizeof(req->client_ou), c->tls->peer_ou);
	}
	/* After an Upgrade the parser stops reading HTTP: close after this one. */
	c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	c->ready = req;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings request_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_conn_request_free(struct http_request *req)
{
	http_parse_headers_release(req->headers, req->header_blocks);
	free(req->target);
	free(req->path);
	free(req->query);
	if (req->body != NULL)
		OPENSSL_clear_free(req->body, req->body_len + 1);
	free(req);
}

void http_conn_reset_request(struct http_conn *c)
{
	http_parse_buf_free(&c->target);
	http_parse_headers_free(&c->headers);
	http_parse_buf_free(&c->body);
	free(c->path);
	free(c->query);
	c->path = NULL;
	c->query = NULL;
}

/* The head announcing length bytes, then body_len bytes of body (none for
 * HEAD), in one buffer (caller frees); NULL without memory. Nothing goes
 * through snprintf: the header lines, some 500 bytes of them in every
 * answer, are copied (through vsnprintf's "%s" they were 7 % of a
 * forwarding follower's instructions, issue 16). */
static char *response_build(const struct http_conn *c, const struct http_request *req, int status,
			    const char *headers, const char *content_type, uint64_t length,
			    const char *body, size_t body_len, bool close, size_t *out_len)
{
	struct http_server *s = c->server;
	const char *common = s->common_headers ? s->common_headers(s, req) : NULL;
	const char *reason = http_status_str((enum http_status)status);
	const char *connection = "";
	size_t body_out = c->head ? 0 : body_len;
	const char *part[8];
	size_t len[8], n = 0, total, at;
	char first[128];
	char *buf;
	struct text t;

	assert(status >= 100 && status <= 999);
	if (strcmp(reason, "<unknown>") == 0)
		reason = "Unknown";
	if (close)
		connection = "Connection: close\r\n";
	else if (c->http10)
		connection = "Connection: keep-alive\r\n";
	text_init(&t, first, sizeof first);
	text_put(&t, "HTTP/1.1 ", 9);
	text_uint(&t, (uint64_t)status);
	text_put(&t, " ", 1);
	text_put(&t, reason, strnlen(reason, 40));
	text_str(&t, "\r\nContent-Length: ");
	text_uint(&t, length);
	text_str(&t, "\r\n");
	if (t.cut)
		return NULL;
	if (content_type != NULL) {
		part[n++] = "Content-Type: ";
		part[n++] = content_type;
		part[n++] = "\r\n";
	}
	part[n++] = connection;
	part[n++] = common != NULL ? common : "";
	part[n++] = headers != NULL ? headers : "";
	part[n++] = "\r\n";
	total = t.len;
	for (size_t i = 0; i < n; i++) {
		len[i] = strlen(part[i]);
		total += len[i];
	}
	buf = malloc(total + body_out + 1);
	if (buf == NULL)
		return NULL;
	memcpy(buf, first, t.len);
	at = t.len;
	for (size_t i = 0; i < n; i++) {
		memcpy(buf + at, part[i], len[i]);
		at += len[i];
	}
	if (body_out > 0)
		memcpy(buf + at, body, body_out);
	*out_len = total + body_out;
	return buf;
}

/* {"error":{"code":...,"message":...}}, caller frees; NULL without memory. */
static char *error_json(const char *code, const char *message, size_t *len)
{
	json_t *o;
	char *text;

	o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
	if (o == NULL) /* not UTF-8 */
		o = json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message",
			      "error message not valid UTF-8");
	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text != NULL)
		*len = strlen(text);
	return text;
}

static void conn_send(struct http_conn *c, const struct http_request *req, int status,
		      const char *headers, const char *content_type, const char *body, size_t len,
		      bool close)
{
	char *buf;
	size_t n;

	buf = response_build(c, req, status, headers, content_type, len, body, len, close, &n);
	if (buf == NULL) {
		http_conn_close(c);
		return;
	}
	http_conn_send(c, buf, n, close);
}

/* A request the server answers itself, then closes. */
static void conn_fail(struct http_conn *c, int status, const char *code, const char *message)
{
	char *body;
	size_t len = 0;

	http_conn_reset_request(c);
	body = error_json(code, message, &len);
	conn_send(c, NULL, status, status == 503 ? "Retry-After: 1\r\n" : NULL,
		  body ? "application/json" : NULL, body, body ? len : 0, true);
	free(body);
}

static void conn_dispatch(struct http_conn *c)
{
	struct http_server *s = c->server;
	struct http_request *req = c->ready;

	c->ready = NULL;
	c->pending = req;
	s->n_pending++;
	http_conn_hold(c);
	if (s->stopping) {
		http_respond_error(req, 503, "Retry-After: 1\r\n", "shutting_down",
				   "the node is stopping");
		return;
	}
	s->handler(req);
}

void http_conn_feed(struct http_conn *c)
{
	enum http_errno e;
	size_t avail = c->in_len - c->in_off;
	size_t n;

	n = http_parser_execute(&c->parser, &request_settings, c->in + c->in_off, avail);
	c->in_off += n;
	if (c->closing)
		return;
	if (c->err_status != 0) {
		conn_fail(c, c->err_status, c->err_code, c->err_message);
		return;
	}
	e = HTTP_PARSER_ERRNO(&c->parser);
	if (e == HPE_HEADER_OVERFLOW) {
		conn_fail(c, 431, "headers_too_large", "the request head is too large");
		return;
	}
	if ((e != HPE_OK && e != HPE_PAUSED) || (e == HPE_OK && n != avail)) {
		conn_fail(c, 400, "bad_request", http_errno_description(e));
		return;
	}
	if (c->in_off == c->in_len) {
		/* Only the bytes received can hold a secret: wiping the
		 * whole buffer per request cost more than parsing it. */
		http_conn_in_give(c);
	}
	if (c->ready != NULL)
		conn_dispatch(c);
}

void http_respond(struct http_request *req, int status, const char *headers,
		  const char *content_type, const char *body, size_t len)
{
	struct http_conn *c = req->conn;
	struct http_server *s;
	bool close;

	if (req->respond_cb != NULL) {
		req->respond_cb(req, status, headers, content_type, body, len);
		http_conn_request_free(req);
		return;
	}
	if (c == NULL) {
		/* The connection is gone: nothing to write. */
		http_conn_request_free(req);
		return;
	}
	assert(c->pending == req && (c->closing || c->state == HTTP_CONN_PENDING));
	s = c->server;
	c->pending = NULL;
	s->n_pending--;
	/* Copy first: body and headers may point into req. */
	if (!c->closing) {
		close = !c->keep_alive || s->stopping;
		conn_send(c, req, status, headers, content_type, body, len, close);
	}
	http_conn_request_free(req);
	if (s->n_pending == 0)
		http_server_drained(s);
}

int http_stream_start(struct http_request *req, int status, const char *headers,
		      const char *content_type, uint64_t len)
{
	struct http_conn *c = req->conn;
	bool close;
	char *buf;
	size_t n;

	if (c == NULL || c->closing)
		return ESC_EIO;
	assert(c->pending == req);
	close = !c->keep_alive || c->server->stopping;
	buf = response_build(c, req, status, headers, content_type, len, NULL, 0, close, &n);
	if (buf == NULL) {
		http_conn_close(c);
		return ESC_EIO;
	}
	if (http_conn_stream_begin(c, buf, n, len, close) != 0)
		return ESC_EIO;
	return ESC_OK;
}

int http_stream_write(struct http_request *req, const void *data, size_t len,
		      http_stream_cb cb)
{
	struct http_conn *c = req->conn;

	if (c == NULL || c->closing)
		return ESC_EIO;
	assert(c->pending == req && cb != NULL);
	if (len == 0 || len > c->stream_left)
		return ESC_EINVAL;
	if (http_conn_stream_write(c, data, len, cb) != 0)
		return ESC_EIO;
	c->stream_left -= len;
	return ESC_OK;
}

void http_stream_end(struct http_request *req)
{
	struct http_conn *c = req->conn;
	struct http_server *s;

	if (req->respond_cb != NULL) {
		/* A request inside a batch: http_stream_start refused it. */
		http_respond_error(req, 500, NULL, "internal",
				   "this response cannot be sent inside a batch");
		return;
	}
	if (c == NULL) {
		/* The connection is gone (maybe the server too): only free. */
		http_conn_request_free(req);
		return;
	}
	assert(c->pending == req);
	s = c->server;
	c->pending = NULL;
	s->n_pending--;
	http_conn_stream_end(c);
	http_conn_request_free(req);
	if (s->n_pending == 0)
		http_server_drained(s);
}

void http_respond_error(struct http_request *req, int status, const char *headers,
			const char *code, const char *message)
{
	char *body;
	size_t len = 0;

	body = error_json(code, message, &len);
	http_respond(req, status, headers, body ? "application/json" : NULL, body,
		     body ? len : 0);
	free(body);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	return http_parse_header_find(req->headers, req->n_headers, name);
}

/* Percent-decoded values; NULL also when the value is malformed (bad escape,
 * %00) or does not fit in size bytes: callers treat that as bad input. */
const char *http_query_param(const struct http_request *req, const char *name,
			     char *buf, size_t size)
{
	const char *p = req->query ? req->query : "";
	const char *end;
	const char *eq;
	char key[QUERY_NAME_MAX];
	size_t key_len;
	size_t name_len = strlen(name);

	while (*p != '\0') {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		if (http_parse_pct_decode(p, (size_t)((eq ? eq : end) - p), true, key,
					  sizeof(key), &key_len) == 0 &&
		    key_len == name_len && memcmp(key, name, name_len) == 0) {
			if (eq == NULL) {
				if (size == 0)
					return NULL;
				buf[0] = '\0';
				return buf;
			}
			if (http_parse_pct_decode(eq + 1, (size_t)(end - eq - 1), true, buf,
						  size, NULL) != 0)
				return NULL;
			return buf;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}
