/* escrowctl's HTTP client: libcurl requests that fail over across the --nodes list. */
#include "tools/client/ctl_client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "tools/client/ctl_client_internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#define CTL_USER_AGENT "escrowctl/" PACKAGE_VERSION

static void buf_close(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

bool ctl_buf_append(struct buf *b, const char *p, size_t n)
{
	size_t need, cap;
	char *d;

	if (n > b->max || b->len > b->max - n) {
		b->over = true;
		return false;
	}
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 1024;
		while (cap < need)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL) {
			b->nomem = true;
			return false;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

static size_t body_cb(char *p, size_t size, size_t nmemb, void *data)
{
	struct xfer *x = data;
	size_t n = size * nmemb;

	return ctl_buf_append(&x->body, p, n) ? n : 0;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *data)
{
	struct xfer *x = data;
	size_t n = size * nmemb;

	/* A status line starts the header block of a new response (after a
	 * 100 Continue, say): keep only the final one. */
	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
		x->hdr.len = 0;
	/* Header lines past the limit are dropped, not fatal. */
	ctl_buf_append(&x->hdr, p, n);
	return n;
}

void ctl_xfer_init(struct xfer *x)
{
	memset(x, 0, sizeof(*x));
	x->body.max = CTL_BODY_MAX;
	x->hdr.max = CTL_HEADERS_MAX;
}

void ctl_xfer_close(struct xfer *x)
{
	buf_close(&x->body);
	buf_close(&x->hdr);
	curl_slist_free_all(x->headers);
	x->headers = NULL;
}

int ctl_xfer_take(struct xfer *x, CURL *h, const char *node, struct ctl_response *r)
{
	memset(r, 0, sizeof(*r));
	if (x->body.data == NULL && !ctl_buf_append(&x->body, "", 0))
		return ESC_ENOMEM;
	if (x->hdr.data == NULL && !ctl_buf_append(&x->hdr, "", 0))
		return ESC_ENOMEM;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = x->body.data;
	r->body_len = x->body.len;
	r->headers = x->hdr.data;
	r->headers_len = x->hdr.len;
	r->node = node;
	memset(&x->body, 0, sizeof(x->body));
	memset(&x->hdr, 0, sizeof(x->hdr));
	return ESC_OK;
}

const char *ctl_shown(const char *name, size_t max, char *out)
{
	size_t n = strlen(name);

	if (n <= max)
		memcpy(out, name, n + 1);
	else
		snprintf(out, max + 1, "...%s", name + n - (max - 3));
	return out;
}

const char *ctl_scheme_of(const char *node_url)
{
	return strncasecmp(node_url, "https://", 8) == 0 ? "https" : "http";
}

/* Copies one trimmed URL of the list into a heap string, checked. */
static int client_add_node(struct ctl_client *c, const char *s, size_t n, char *errmsg)
{
	const char *scheme = "";
	size_t i;
	char *u;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && (isspace((unsigned char)s[n - 1]) || s[n - 1] == '/'))
		n--;
	if (n == 0)
		return esc_errorf(errmsg, ESC_EINVAL, "--nodes: empty URL in the list");
	if (n >= CTL_URL_MAX)
		return esc_errorf(errmsg, ESC_EINVAL, "--nodes: a URL is over %d bytes",
				  CTL_URL_MAX - 1);
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]))
			return esc_errorf(errmsg, ESC_EINVAL,
					  "--nodes: '%.*s' contains a blank or control character",
					  (int)(n > 64 ? 64 : n), s);
	if (c->n_nodes == CTL_NODES_MAX)
		return esc_errorf(errmsg, ESC_EINVAL, "--nodes: more than %d URLs",
				  CTL_NODES_MAX);
	if (memmem(s, n, "://", 3) == NULL)
		scheme = (c->ca != NULL) ? "https://" : "http://";
	else if (!(n > 7 && strncasecmp(s, "http://", 7) == 0) &&
		 !(n > 8 && strncasecmp(s, "https://", 8) == 0))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--nodes: '%.*s' is not an http:// or https:// URL",
				  (int)(n > 64 ? 64 : n), s);
	if (asprintf(&u, "%s%.*s", scheme, (int)n, s) < 0)
		return esc_errorf(errmsg, ESC_ENOMEM, "--nodes: out of memory");
	c->nodes[c->n_nodes++] = u;
	return ESC_OK;
}

int ctl_client_init(struct ctl_client *c, const char *nodes_csv, const char *ca,
		    const char *cert, const char *key, long timeout_ms, char *errmsg)
{
	const char *p, *comma;
	int rv;

	memset(c, 0, sizeof(*c));
	c->ca = (ca != NULL && *ca != '\0') ? ca : NULL;
	c->cert = (cert != NULL && *cert != '\0') ? cert : NULL;
	c->key = (key != NULL && *key != '\0') ? key : NULL;
	c->ca_name = "--ca";
	c->cert_name = "--cert";
	c->key_name = "--key";
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : CTL_TIMEOUT_DEFAULT_MS;
	c->trace = getenv("ESCROWCTL_TRACE") != NULL && *getenv("ESCROWCTL_TRACE") != '\0';
	if (nodes_csv == NULL || *nodes_csv == '\0')
		return esc_errorf(errmsg, ESC_EINVAL, "no nodes: use --nodes or ESCROW_NODES");
	for (p = nodes_csv;; p = comma + 1) {
		comma = strchr(p, ',');
		rv = client_add_node(c, p, comma ? (size_t)(comma - p) : strlen(p), errmsg);
		if (rv != ESC_OK)
			goto err_nodes;
		if (comma == NULL)
			break;
	}
	c->easy = curl_easy_init();
	if (c->easy == NULL) {
		rv = esc_errorf(errmsg, ESC_EIO, "libcurl: cannot create a handle");
		goto err_nodes;
	}
	return ESC_OK;

err_nodes:
	ctl_client_close(c);
	return rv;
}
void ctl_client_close(struct ctl_client *c)
{
	size_t i;

	for (i = 0; i < c->n_nodes; i++)
		free(c->nodes[i]);
	c->n_nodes = 0;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
}

void ctl_client_setup_easy(const struct ctl_client *c, CURL *h, long timeout_ms)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, CTL_USER_AGENT);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (c->ca != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
	if (c->cert != NULL)
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
	if (c->key != NULL)
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
}

int ctl_client_prepare(const struct ctl_client *c, CURL *h, struct xfer *x,
		       const char *url, const char *method, const char *body,
		       long timeout_ms)
{
	struct curl_slist *l;

	ctl_client_setup_easy(c, h, timeout_ms);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	l = curl_slist_append(NULL, "Accept: application/json");
	if (l == NULL)
		return ESC_ENOMEM;
	x->headers = l;
	/* No "Expect: 100-continue" round trip before a body. */
	if (curl_slist_append(l, "Expect:") == NULL)
		return ESC_ENOMEM;
	if (body != NULL && curl_slist_append(l, "Content-Type: application/json") == NULL)
		return ESC_ENOMEM;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, "");
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	return ESC_OK;
}

const char *ctl_curl_why(const struct xfer *x, CURLcode cc, size_t room)
{
	return x->errbuf[0] != '\0' && strlen(x->errbuf) < room ? x->errbuf
								  : curl_easy_strerror(cc);
}

int ctl_xfer_failure(const struct ctl_client *c, const struct xfer *x, CURLcode cc,
		     const char *where, char *errmsg)
{
	char w[CTL_NAME_FULL];
	int rv;

	ctl_shown(where, 96, w);
	if (x->body.over)
		return esc_errorf(errmsg, ESC_ETOOBIG, "%s: response over %d bytes", w,
				  CTL_BODY_MAX);
	if (x->body.nomem || cc == CURLE_OUT_OF_MEMORY)
		return esc_errorf(errmsg, ESC_ENOMEM, "%s: out of memory", w);
	rv = ctl_tls_failure(c, cc, x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc), where,
			     errmsg);
	if (rv != ESC_OK)
		return rv;
	return esc_errorf(errmsg, cc == CURLE_OPERATION_TIMEDOUT ? ESC_ETIMEOUT : ESC_EIO,
			  "%s: %s", w, ctl_curl_why(x, cc, ESC_ERRMSG_SIZE - strlen(w) - 2));
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One attempt at one node. Returns ESC_OK with r filled, or an error. */
static int client_attempt(struct ctl_client *c, const char *node, const char *method,
			  const char *path, const char *body, struct ctl_response *r,
			  char *errmsg)
{
	struct xfer x;
	CURLcode cc;
	char *url;
	double t0;
	int rv;

	if (asprintf(&url, "%s%s", node, path) < 0)
		return esc_errorf(errmsg, ESC_ENOMEM, "request: out of memory");
	ctl_xfer_init(&x);
	curl_easy_reset(c->easy);
	rv = ctl_client_prepare(c, c->easy, &x, url, method, body, c->timeout_ms);
	if (rv != ESC_OK) {
		esc_errorf(errmsg, rv, "%s: out of memory", url);
		goto out;
	}
	t0 = now_ms();
	cc = curl_easy_perform(c->easy);
	if (cc != CURLE_OK) {
		rv = ctl_xfer_failure(c, &x, cc, node, errmsg);
		if (c->trace)
			fprintf(stderr, "escrowctl: trace: %s %s: %s\n", method, url, errmsg);
		goto out;
	}
	rv = ctl_xfer_take(&x, c->easy, node, r);
	if (rv != ESC_OK) {
		esc_errorf(errmsg, rv, "%s: out of memory", url);
		goto out;
	}
	if (c->trace) {
		char who[16] = "?", leader[16] = "?";

		ctl_response_header(r, "X-Escrow-Node", who, sizeof(who));
		ctl_response_header(r, "X-Escrow-Leader", leader, sizeof(leader));
		fprintf(stderr, "escrowctl: trace: %s %s: %ld in %.1f ms (node %s, leader %s)\n",
			method, url, r->status, now_ms() - t0, who, leader);
	}
out:
	ctl_xfer_close(&x);
	free(url);
	return rv;
}

void ctl_unavailable(const char *node, const struct ctl_response *r, char *errmsg)
{
	char w[CTL_NAME_FULL], why[CTL_REFUSAL_MAX];

	ctl_shown(node, 96, w);
	ctl_response_error(r, why, sizeof(why));
	if (strlen(w) + 2 + strlen(why) < ESC_ERRMSG_SIZE)
		esc_errorf(errmsg, ESC_EIO, "%s: %s", w, why);
	else
		esc_errorf(errmsg, ESC_EIO, "%s: the node answered 503 (service unavailable)", w);
}

void ctl_keep_refusal(int rv, const char *errmsg, char kept[ESC_ERRMSG_SIZE])
{
	if (rv == ESC_ECRYPTO && kept[0] == '\0')
		snprintf(kept, ESC_ERRMSG_SIZE, "%s", errmsg);
}

int ctl_client_request(struct ctl_client *c, const char *method, const char *path,
		       const char *body, struct ctl_response *r, char *errmsg)
{
	char refused[ESC_ERRMSG_SIZE] = "";
	size_t i;
	int rv;

	memset(r, 0, sizeof(*r));
	esc_errorf(errmsg, ESC_EIO, "no node to ask");
	for (i = 0; i < c->n_nodes; i++) {
		ctl_response_close(r);
		rv = client_attempt(c, c->nodes[i], method, path, body, r, errmsg);
		if (rv == ESC_ENOMEM || rv == ESC_ETOOBIG || rv == ESC_EINVAL)
			return rv;
		ctl_keep_refusal(rv, errmsg, refused);
		if (rv != ESC_OK)
			continue;
		if (r->status != 503)
			return ESC_OK;
		ctl_unavailable(c->nodes[i], r, errmsg);
	}
	if (refused[0] != '\0') {
		ctl_response_close(r);
		return esc_errorf(errmsg, ESC_ECRYPTO, "%s", refused);
	}
	return ESC_EIO;
}
bool ctl_response_header(const struct ctl_response *r, const char *name, char *out,
			 size_t size)
{
	size_t nlen = strlen(name), vlen;
	const char *p, *eol, *v;

	if (r->headers == NULL || size == 0)
		return false;
	for (p = r->headers; *p != '\0'; p = *eol ? eol + 1 : eol) {
		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		if ((size_t)(eol - p) <= nlen || p[nlen] != ':' ||
		    strncasecmp(p, name, nlen) != 0)
			continue;
		v = p + nlen + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		vlen = (size_t)(eol - v);
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen >= size)
			vlen = size - 1;
		memcpy(out, v, vlen);
		out[vlen] = '\0';
		return true;
	}
	return false;
}

/* Copies s into out, dropping control characters, bounded by size. */
static void copy_printable(char *out, size_t size, const char *s, size_t max)
{
	size_t o = 0, i;

	for (i = 0; s[i] != '\0' && i < max && o + 1 < size; i++)
		if ((unsigned char)s[i] >= 0x20 && s[i] != 0x7f)
			out[o++] = s[i];
	out[o] = '\0';
}

void ctl_response_error(const struct ctl_response *r, char *out, size_t size)
{
	const char *code = NULL, *message = NULL;
	char c[64], msg[512];
	json_t *root;

	if (size == 0)
		return;
	root = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	if (root != NULL &&
	    json_unpack(root, "{s:{s:s,s:s}}", "error", "code", &code, "message",
			&message) == 0) {
		copy_printable(c, sizeof(c), code, sizeof(c));
		copy_printable(msg, sizeof(msg), message, sizeof(msg));
		snprintf(out, size, "%s: %s", c, msg);
	} else {
		copy_printable(msg, sizeof(msg), r->body ? r->body : "", 200);
		snprintf(out, size, "HTTP %ld%s%s", r->status, msg[0] ? ": " : "", msg);
	}
	json_decref(root);
}

void ctl_response_close(struct ctl_response *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

char *ctl_escape(const char *s)
{
	return curl_easy_escape(NULL, s, (int)strnlen(s, 1 << 20));
}
