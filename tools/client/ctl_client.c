/* escrowctl's HTTP client: libcurl requests that fail over across the --nodes list. */
#include "tools/client/ctl_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#define CTL_USER_AGENT "escrowctl/" PACKAGE_VERSION
#define CTL_STREAM_ERROR_MAX (64 * 1024) /* bytes of a streamed refusal kept */
#define CTL_PEM_SCAN (64 * 1024)         /* bytes of a TLS file searched for its PEM line */
#define CTL_NAME_FULL 1024  /* bytes kept of a path or URL in a first draft of a message */
#define CTL_NAME_SHORT 48   /* ... and in a message that would not fit with them whole */

/* A growing buffer with a hard limit. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
	bool over;  /* more than max bytes were offered */
	bool nomem;
};

/* The private state of one transfer. */
struct xfer {
	struct buf body;
	struct buf hdr;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers;
	CURL *easy; /* set when the transfer runs in a multi handle */
};

static void buf_close(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Appends n bytes, keeping the data NUL-terminated; false on overflow. */
static bool buf_append(struct buf *b, const char *p, size_t n)
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

	return buf_append(&x->body, p, n) ? n : 0;
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
	buf_append(&x->hdr, p, n);
	return n;
}

static void xfer_init(struct xfer *x)
{
	memset(x, 0, sizeof(*x));
	x->body.max = CTL_BODY_MAX;
	x->hdr.max = CTL_HEADERS_MAX;
}

static void xfer_close(struct xfer *x)
{
	buf_close(&x->body);
	buf_close(&x->hdr);
	curl_slist_free_all(x->headers);
	x->headers = NULL;
}

/* Moves the buffers of x into r (x keeps nothing). */
static int xfer_take(struct xfer *x, CURL *h, const char *node, struct ctl_response *r)
{
	memset(r, 0, sizeof(*r));
	if (x->body.data == NULL && !buf_append(&x->body, "", 0))
		return ESC_ENOMEM;
	if (x->hdr.data == NULL && !buf_append(&x->hdr, "", 0))
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

/* Copies name into out (at least max + 1 bytes): whole when it is at most
 * max bytes long, else "..." and its tail, so that a message built from it
 * fits its buffer whole instead of being cut short. Returns out. */
static const char *shown(const char *name, size_t max, char *out)
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

/* What a TLS file must hold: the end of its PEM "-----BEGIN ...-----" label. */
enum pem_kind { PEM_CERTIFICATE, PEM_PRIVATE_KEY };

/* Whether one of the PEM lines in p[0..n) has a label ending in suffix. */
static bool pem_has_block(const char *p, size_t n, const char *suffix)
{
	static const char begin[] = "-----BEGIN ";
	size_t slen = strlen(suffix), i, j;

	for (i = 0; i + sizeof(begin) - 1 <= n; i++) {
		if (memcmp(p + i, begin, sizeof(begin) - 1) != 0)
			continue;
		for (j = i + sizeof(begin) - 1; j + 5 <= n && p[j] != '\n'; j++)
			if (memcmp(p + j, "-----", 5) == 0)
				break;
		if (j + 5 <= n && memcmp(p + j, "-----", 5) == 0 &&
		    j - (i + sizeof(begin) - 1) >= slen && memcmp(p + j - slen, suffix, slen) == 0)
			return true;
	}
	return false;
}

/* Opens and reads the start of path (what the user called name) and looks
 * for the PEM block of kind: what can be known of the file before a
 * connection. ESC_OK or ESC_EINVAL with errmsg. */
static int tls_file_check(const char *name, const char *path, enum pem_kind kind,
			  char *errmsg)
{
	const char *suffix = kind == PEM_CERTIFICATE ? "CERTIFICATE" : "PRIVATE KEY";
	char shown_path[CTL_NAME_FULL];
	size_t n = 0;
	ssize_t got;
	char *buf;
	int fd, rv = ESC_OK;

	/* Room for the longest message below, the longest name and strerror. */
	shown(path, ESC_ERRMSG_SIZE - 110, shown_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EINVAL, "%s %s: %s", name, shown_path,
				  strerror(errno));
	buf = malloc(CTL_PEM_SCAN);
	if (buf == NULL) {
		rv = esc_errorf(errmsg, ESC_ENOMEM, "%s %s: out of memory", name, shown_path);
		goto out;
	}
	while (n < CTL_PEM_SCAN) {
		got = read(fd, buf + n, CTL_PEM_SCAN - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rv = esc_errorf(errmsg, ESC_EINVAL, "%s %s: %s", name, shown_path,
					strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n == 0)
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s %s: the file is empty", name, shown_path);
	else if (!pem_has_block(buf, n, suffix))
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s %s: not a PEM %s file (no "
				"\"-----BEGIN %s-----\" line)", name, shown_path,
				kind == PEM_CERTIFICATE ? "certificate" : "private key", suffix);
out:
	free(buf);
	close(fd);
	return rv;
}

int ctl_client_check_tls(struct ctl_client *c, const char *ca_name, const char *cert_name,
			 const char *key_name, char *errmsg)
{
	char node[CTL_NAME_FULL];
	size_t i;
	int rv;

	c->ca_name = ca_name ? ca_name : "--ca";
	c->cert_name = cert_name ? cert_name : "--cert";
	c->key_name = key_name ? key_name : "--key";
	if (c->ca != NULL && (rv = tls_file_check(c->ca_name, c->ca, PEM_CERTIFICATE,
						  errmsg)) != ESC_OK)
		return rv;
	if (c->cert != NULL && (rv = tls_file_check(c->cert_name, c->cert, PEM_CERTIFICATE,
						    errmsg)) != ESC_OK)
		return rv;
	if (c->key != NULL && (rv = tls_file_check(c->key_name, c->key, PEM_PRIVATE_KEY,
						   errmsg)) != ESC_OK)
		return rv;
	if (c->cert != NULL && c->key != NULL)
		return ESC_OK;
	for (i = 0; i < c->n_nodes; i++) {
		if (strcmp(ctl_scheme_of(c->nodes[i]), "https") != 0)
			continue;
		shown(c->nodes[i], CTL_NAME_SHORT, node);
		if (c->ca == NULL)
			return esc_errorf(errmsg, ESC_EINVAL, "%s is a TLS node, and --ca, --cert "
					  "and --key are not given (nor ESCROW_CA, ESCROW_CERT and "
					  "ESCROW_KEY): give the cluster's CA and your client "
					  "certificate and key", node);
		return esc_errorf(errmsg, ESC_EINVAL, "%s is a TLS node, and --cert and --key "
				  "are not given (nor ESCROW_CERT and ESCROW_KEY): give your "
				  "client certificate and key", node);
	}
	return ESC_OK;
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

/* Sets up h for one request; x receives the answer. */
static int client_prepare(const struct ctl_client *c, CURL *h, struct xfer *x,
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

/* The name of the TLS alert in a libcurl/OpenSSL error ("tlsv13 alert
 * certificate required, errno 0" gives "certificate required"), copied into
 * out; false when e names no alert. */
static bool tls_alert(const char *e, char *out, size_t size)
{
	const char *a = strstr(e, "alert "), *end;

	if (a == NULL || size == 0)
		return false;
	a += 6;
	end = a + strcspn(a, ",:;(\n");
	while (end > a && end[-1] == ' ')
		end--;
	snprintf(out, size, "%.*s", (int)(end - a), a);
	return true;
}

/* snprintf into out, returning code. */
static int words(char *out, size_t size, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int words(char *out, size_t size, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return code;
}

/* A TLS failure in words, from libcurl's code cc and error text e, at
 * where (a URL), into out (size bytes), with file names and where shown up
 * to max bytes. Returns ESC_EINVAL when our own files are at fault (the
 * same at every node), ESC_ECRYPTO when the handshake was refused, ESC_OK
 * (out untouched) when cc and e tell of no TLS failure. */
static int tls_words(const struct ctl_client *c, CURLcode cc, const char *e, const char *where,
		     size_t max, char *out, size_t size)
{
	char w[CTL_NAME_FULL], ca[CTL_NAME_FULL], cert[CTL_NAME_FULL], key[CTL_NAME_FULL];
	char alert[64];

	if (max >= CTL_NAME_FULL)
		max = CTL_NAME_FULL - 1;
	shown(where, max, w);
	shown(c->ca ? c->ca : "(the system's)", max, ca);
	shown(c->cert ? c->cert : "(none)", max, cert);
	shown(c->key ? c->key : "(none)", max, key);
	/* Our own files, found wanting by libcurl: the same at every node. */
	if (cc == CURLE_SSL_CACERT_BADFILE)
		return words(out, size, ESC_EINVAL, "%s %s: no CA certificate could be loaded "
			     "from it", c->ca_name, ca);
	if (cc == CURLE_SSL_CERTPROBLEM && strstr(e, "private key") != NULL)
		return words(out, size, ESC_EINVAL, "%s %s: not the key of %s %s, or not a "
			     "usable private key", c->key_name, key, c->cert_name, cert);
	if (cc == CURLE_SSL_CERTPROBLEM)
		return words(out, size, ESC_EINVAL, "%s %s: not a usable PEM certificate",
			     c->cert_name, cert);
	/* The node's certificate, refused by us. */
	if (cc == CURLE_PEER_FAILED_VERIFICATION) {
		if (strstr(e, "subject name") != NULL || strstr(e, "host name") != NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not "
				     "made out to the host name of this URL", w);
		if (strstr(e, "expired") != NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate has "
				     "expired", w);
		if (strstr(e, "not yet valid") != NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not "
				     "valid yet", w);
		if (c->ca == NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not "
				     "signed by a CA this system trusts (unknown CA): give the "
				     "cluster's CA with --ca (or ESCROW_CA)", w);
		return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not signed "
			     "by %s %s (unknown CA)", w, c->ca_name, ca);
	}
	/* Ours, refused by the node: a TLS alert, seen at the handshake (TLS
	 * 1.2) or at the first read (TLS 1.3: CURLE_RECV_ERROR). */
#if LIBCURL_VERSION_NUM >= 0x074d00
	if (cc == CURLE_SSL_CLIENTCERT)
		snprintf(alert, sizeof(alert), "certificate required");
	else
#endif
	if (!tls_alert(e, alert, sizeof(alert)))
		alert[0] = '\0';
	if (strcmp(alert, "certificate required") == 0)
		return words(out, size, ESC_ECRYPTO, "%s: the node requires a client "
			     "certificate: give --cert and --key (or ESCROW_CERT and "
			     "ESCROW_KEY)", w);
	if (strcmp(alert, "unknown ca") == 0)
		return words(out, size, ESC_ECRYPTO, "%s: the node refused our certificate %s "
			     "%s: it is not signed by the cluster's CA (unknown CA)", w,
			     c->cert_name, cert);
	if (strcmp(alert, "certificate expired") == 0)
		return words(out, size, ESC_ECRYPTO, "%s: the node refused our certificate %s "
			     "%s: it has expired", w, c->cert_name, cert);
	if (strstr(alert, "certificate") != NULL)
		return words(out, size, ESC_ECRYPTO, "%s: the node refused our certificate %s "
			     "%s (TLS alert: %s)", w, c->cert_name, cert, alert);
	if (alert[0] != '\0')
		return words(out, size, ESC_ECRYPTO, "%s: the node refused the TLS handshake "
			     "(TLS alert: %s)", w, alert);
	if (strstr(e, "wrong version number") != NULL ||
	    strstr(e, "packet length too long") != NULL)
		return words(out, size, ESC_ECRYPTO, "%s: the node does not speak TLS at this "
			     "address (an http:// node?)", w);
	if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CIPHER ||
	    cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
	    cc == CURLE_SSL_INVALIDCERTSTATUS || cc == CURLE_SSL_ENGINE_NOTFOUND ||
	    cc == CURLE_SSL_ENGINE_SETFAILED || cc == CURLE_SSL_ENGINE_INITFAILED ||
	    cc == CURLE_SSL_CRL_BADFILE || cc == CURLE_SSL_SHUTDOWN_FAILED)
		return words(out, size, ESC_ECRYPTO, "%s: the TLS handshake failed (%s)", w,
			     curl_easy_strerror(cc));
	return ESC_OK;
}

/* tls_words into errmsg: with names whole when the message fits, else
 * with them shortened. */
static int tls_failure(const struct ctl_client *c, CURLcode cc, const char *e, const char *where,
		       char *errmsg)
{
	char draft[4 * CTL_NAME_FULL + 256];
	int rv;

	rv = tls_words(c, cc, e, where, CTL_NAME_FULL - 1, draft, sizeof(draft));
	if (rv != ESC_OK && strlen(draft) >= ESC_ERRMSG_SIZE)
		tls_words(c, cc, e, where, CTL_NAME_SHORT, draft, sizeof(draft));
	if (rv != ESC_OK)
		esc_errorf(errmsg, rv, "%s", draft);
	return rv;
}

/* libcurl's own words for cc when they are shorter than room bytes, else
 * its shorter sentence: a message built from them is never cut short. */
static const char *curl_why(const struct xfer *x, CURLcode cc, size_t room)
{
	return x->errbuf[0] != '\0' && strlen(x->errbuf) < room ? x->errbuf
								  : curl_easy_strerror(cc);
}

/* The reason a finished transfer has no usable answer, into errmsg, as
 * "where: why": ESC_EINVAL (our TLS files), ESC_ECRYPTO (TLS refused),
 * ESC_ETIMEOUT or ESC_EIO (the node did not answer), ESC_ETOOBIG, ESC_ENOMEM. */
static int xfer_failure(const struct ctl_client *c, const struct xfer *x, CURLcode cc,
			const char *where, char *errmsg)
{
	char w[CTL_NAME_FULL];
	int rv;

	shown(where, 96, w);
	if (x->body.over)
		return esc_errorf(errmsg, ESC_ETOOBIG, "%s: response over %d bytes", w,
				  CTL_BODY_MAX);
	if (x->body.nomem || cc == CURLE_OUT_OF_MEMORY)
		return esc_errorf(errmsg, ESC_ENOMEM, "%s: out of memory", w);
	rv = tls_failure(c, cc, x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc), where, errmsg);
	if (rv != ESC_OK)
		return rv;
	return esc_errorf(errmsg, cc == CURLE_OPERATION_TIMEDOUT ? ESC_ETIMEOUT : ESC_EIO,
			  "%s: %s", w, curl_why(x, cc, ESC_ERRMSG_SIZE - strlen(w) - 2));
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
	xfer_init(&x);
	curl_easy_reset(c->easy);
	rv = client_prepare(c, c->easy, &x, url, method, body, c->timeout_ms);
	if (rv != ESC_OK) {
		esc_errorf(errmsg, rv, "%s: out of memory", url);
		goto out;
	}
	t0 = now_ms();
	cc = curl_easy_perform(c->easy);
	if (cc != CURLE_OK) {
		rv = xfer_failure(c, &x, cc, node, errmsg);
		if (c->trace)
			fprintf(stderr, "escrowctl: trace: %s %s: %s\n", method, url, errmsg);
		goto out;
	}
	rv = xfer_take(&x, c->easy, node, r);
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
	xfer_close(&x);
	free(url);
	return rv;
}

/* "node: code: message" for a 503 answer r into errmsg, or only that the
 * node answered 503 when the whole would not fit. */
static void unavailable(const char *node, const struct ctl_response *r, char *errmsg)
{
	char w[CTL_NAME_FULL], why[CTL_REFUSAL_MAX];

	shown(node, 96, w);
	ctl_response_error(r, why, sizeof(why));
	if (strlen(w) + 2 + strlen(why) < ESC_ERRMSG_SIZE)
		esc_errorf(errmsg, ESC_EIO, "%s: %s", w, why);
	else
		esc_errorf(errmsg, ESC_EIO, "%s: the node answered 503 (service unavailable)", w);
}

/* Keeps the first TLS refusal of a fail-over loop in kept: it tells more
 * than a later node that did not answer. */
static void keep_refusal(int rv, const char *errmsg, char kept[ESC_ERRMSG_SIZE])
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
		keep_refusal(rv, errmsg, refused);
		if (rv != ESC_OK)
			continue;
		if (r->status != 503)
			return ESC_OK;
		unavailable(c->nodes[i], r, errmsg);
	}
	if (refused[0] != '\0') {
		ctl_response_close(r);
		return esc_errorf(errmsg, ESC_ECRYPTO, "%s", refused);
	}
	return ESC_EIO;
}

/* One streamed GET: the answer's headers and error body in x, a 2xx body
 * passed to the sink. */
struct stream {
	struct xfer x;
	const struct ctl_sink *sink;
	CURL *easy;
	uint64_t received; /* 2xx body bytes the sink took */
	int sink_err;      /* a sink callback failed: its code, message in errmsg */
	char *errmsg;
};

static bool status_2xx(CURL *h)
{
	long status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status >= 200 && status <= 299;
}

static size_t stream_body_cb(char *p, size_t size, size_t nmemb, void *data)
{
	struct stream *s = data;
	size_t n = size * nmemb;

	if (!status_2xx(s->easy)) {
		/* A refusal: its start is enough for the message. */
		buf_append(&s->x.body, p, n);
		return s->x.body.nomem ? 0 : n;
	}
	s->sink_err = s->sink->write(s->sink->data, p, n, s->errmsg);
	if (s->sink_err != ESC_OK)
		return 0;
	s->received += n;
	return n;
}

static int stream_progress_cb(void *data, curl_off_t dltotal, curl_off_t dlnow,
			      curl_off_t ultotal, curl_off_t ulnow)
{
	struct stream *s = data;

	if (s->sink->progress == NULL)
		return 0;
	s->sink_err = s->sink->progress(s->sink->data, s->received, s->errmsg);
	return s->sink_err != ESC_OK;
}

/* One streamed attempt at one node; *cut set when a 2xx body broke off. */
static int stream_attempt(struct ctl_client *c, const char *node, const char *path,
			  long stall_ms, struct stream *s, struct ctl_response *r, bool *cut,
			  char *errmsg)
{
	CURLcode cc;
	char *url;
	int rv;

	*cut = false;
	if (asprintf(&url, "%s%s", node, path) < 0)
		return esc_errorf(errmsg, ESC_ENOMEM, "request: out of memory");
	xfer_init(&s->x);
	s->x.body.max = CTL_STREAM_ERROR_MAX;
	s->easy = c->easy;
	s->received = 0;
	s->sink_err = ESC_OK;
	s->errmsg = errmsg;
	curl_easy_reset(c->easy);
	rv = client_prepare(c, c->easy, &s->x, url, "GET", NULL, stall_ms);
	if (rv != ESC_OK) {
		esc_errorf(errmsg, rv, "%s: out of memory", url);
		goto out;
	}
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, stream_body_cb);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, stream_progress_cb);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	/* No bound on the whole transfer, only on a stall. */
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 0L);
	curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_TIME, (stall_ms + 999) / 1000);
	cc = curl_easy_perform(c->easy);
	if (s->sink_err != ESC_OK) {
		rv = s->sink_err;
		goto out;
	}
	if (cc != CURLE_OK) {
		s->x.body.over = false; /* a long refusal was cut on purpose */
		rv = xfer_failure(c, &s->x, cc, node, errmsg);
		if (rv != ESC_ENOMEM && status_2xx(c->easy)) {
			char w[CTL_NAME_FULL];

			*cut = true;
			esc_errorf(errmsg, ESC_ECORRUPT, "%s: the transfer broke off after %llu "
				   "bytes: %s", shown(node, 96, w), (unsigned long long)s->received,
				   curl_why(&s->x, cc, ESC_ERRMSG_SIZE - strlen(w) - 64));
		}
		if (c->trace)
			fprintf(stderr, "escrowctl: trace: GET %s: %s\n", url, errmsg);
		goto out;
	}
	rv = xfer_take(&s->x, c->easy, node, r);
	if (rv != ESC_OK) {
		esc_errorf(errmsg, rv, "%s: out of memory", url);
		goto out;
	}
	if (c->trace)
		fprintf(stderr, "escrowctl: trace: GET %s: %ld, %llu bytes streamed\n", url,
			r->status, (unsigned long long)s->received);
out:
	xfer_close(&s->x);
	free(url);
	return rv;
}

int ctl_client_stream(struct ctl_client *c, const char *path, long stall_ms,
		      const struct ctl_sink *sink, struct ctl_response *r, char *errmsg)
{
	char cut_msg[ESC_ERRMSG_SIZE] = "", refused[ESC_ERRMSG_SIZE] = "";
	struct stream s;
	bool cut, dirty = false;
	size_t i;
	int rv;

	memset(r, 0, sizeof(*r));
	memset(&s, 0, sizeof(s));
	s.sink = sink;
	esc_errorf(errmsg, ESC_EIO, "no node to ask");
	for (i = 0; i < c->n_nodes; i++) {
		ctl_response_close(r);
		if (dirty) {
			rv = sink->reset(sink->data, errmsg);
			if (rv != ESC_OK)
				return rv;
		}
		rv = stream_attempt(c, c->nodes[i], path, stall_ms, &s, r, &cut, errmsg);
		dirty = s.received > 0;
		if (rv == ESC_OK && r->status != 503)
			return ESC_OK;
		keep_refusal(rv, errmsg, refused);
		if (rv == ESC_OK) {
			unavailable(c->nodes[i], r, errmsg);
		} else if (cut) {
			snprintf(cut_msg, sizeof(cut_msg), "%s", errmsg);
		} else if (s.sink_err != ESC_OK || rv == ESC_ENOMEM || rv == ESC_EINVAL) {
			return rv;
		}
	}
	if (cut_msg[0] != '\0') {
		ctl_response_close(r);
		return esc_errorf(errmsg, ESC_ECORRUPT, "%s", cut_msg);
	}
	if (refused[0] != '\0') {
		ctl_response_close(r);
		return esc_errorf(errmsg, ESC_ECRYPTO, "%s", refused);
	}
	return ESC_EIO;
}

int ctl_client_fetch_all(struct ctl_client *c, struct ctl_fetch *f, size_t n,
			 long timeout_ms, char *errmsg)
{
	struct xfer *xs;
	CURLM *m;
	CURLMsg *msg;
	size_t i;
	int running, left, rv = ESC_OK;

	for (i = 0; i < n; i++) {
		f[i].err = esc_errorf(f[i].errmsg, ESC_EIO, "%s: not fetched", f[i].url);
		memset(&f[i].resp, 0, sizeof(f[i].resp));
	}
	if (n == 0)
		return ESC_OK;
	xs = calloc(n, sizeof(*xs));
	if (xs == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "fetch: out of memory");
	m = curl_multi_init();
	if (m == NULL) {
		rv = esc_errorf(errmsg, ESC_EIO, "fetch: libcurl cannot create a multi handle");
		goto err_xs;
	}
	for (i = 0; i < n; i++) {
		CURL *h = curl_easy_init();

		xfer_init(&xs[i]);
		if (h == NULL || client_prepare(c, h, &xs[i], f[i].url, "GET", NULL,
						timeout_ms) != ESC_OK ||
		    curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)&f[i]) != CURLE_OK ||
		    curl_multi_add_handle(m, h) != CURLM_OK) {
			if (h != NULL)
				curl_easy_cleanup(h);
			rv = esc_errorf(errmsg, ESC_ENOMEM, "fetch: cannot set up a request");
			goto err_multi;
		}
		xs[i].easy = h;
	}
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK ||
		    curl_multi_poll(m, NULL, 0, 200, NULL) != CURLM_OK) {
			rv = esc_errorf(errmsg, ESC_EIO, "fetch: libcurl multi interface failed");
			goto err_multi;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct ctl_fetch *fi;
			void *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			fi = priv;
			i = (size_t)(fi - f);
			if (msg->data.result != CURLE_OK)
				fi->err = xfer_failure(c, &xs[i], msg->data.result, fi->url,
						       fi->errmsg);
			else if ((fi->err = xfer_take(&xs[i], msg->easy_handle, fi->url,
						      &fi->resp)) != ESC_OK)
				esc_errorf(fi->errmsg, fi->err, "%s: out of memory", fi->url);
			if (c->trace && fi->err != ESC_OK)
				fprintf(stderr, "escrowctl: trace: GET %s\n", fi->errmsg);
			else if (c->trace)
				fprintf(stderr, "escrowctl: trace: GET %s: %ld\n", fi->url,
					fi->resp.status);
		}
	} while (running > 0);
	goto out;

err_multi:
	for (i = 0; i < n; i++) {
		ctl_response_close(&f[i].resp);
		f[i].err = esc_errorf(f[i].errmsg, rv, "%s: not fetched", f[i].url);
	}
out:
	for (i = 0; i < n; i++) {
		if (xs[i].easy == NULL)
			continue;
		curl_multi_remove_handle(m, xs[i].easy);
		curl_easy_cleanup(xs[i].easy);
	}
	curl_multi_cleanup(m);
err_xs:
	for (i = 0; i < n; i++)
		xfer_close(&xs[i]);
	free(xs);
	return rv;
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
