/* escrowctl's HTTP client: libcurl requests that fail over across the --nodes list. */
#ifndef ESCROW_CTL_CLIENT_H
#define ESCROW_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "lib/error.h"

#define CTL_NODES_MAX 64                    /* URLs in --nodes */
#define CTL_URL_MAX 1024                    /* bytes in one node URL */
#define CTL_BODY_MAX (16 * 1024 * 1024)     /* larger responses fail with ESC_ETOOBIG */
#define CTL_HEADERS_MAX (64 * 1024)         /* bytes of response header lines kept */
#define CTL_TIMEOUT_DEFAULT_MS 15000L       /* a leader election may hold a request ~10 s */
#define CTL_REFUSAL_MAX 640                 /* room for all ctl_response_error writes */

struct ctl_client {
	char *nodes[CTL_NODES_MAX]; /* base URLs, no trailing '/', owned */
	size_t n_nodes;
	const char *ca;             /* CURLOPT_CAINFO or NULL, borrowed */
	const char *cert;           /* CURLOPT_SSLCERT or NULL, borrowed */
	const char *key;            /* CURLOPT_SSLKEY or NULL, borrowed */
	const char *ca_name;        /* what the user called ca, for messages: "--ca" or */
	const char *cert_name;      /* "ESCROW_CA" (and so on); static strings, set by */
	const char *key_name;       /* ctl_client_init and ctl_client_check_tls */
	long timeout_ms;            /* bound on one request to one node */
	bool trace;                 /* $ESCROWCTL_TRACE set: each attempt to stderr */
	CURL *easy;                 /* reused so connections are kept alive */
};

/* One HTTP response. Free with ctl_response_close. */
struct ctl_response {
	long status;      /* HTTP status code */
	char *body;       /* NUL-terminated, owned, never NULL after a response */
	size_t body_len;
	char *headers;    /* raw header lines of the final response, owned */
	size_t headers_len;
	const char *node; /* base URL that answered, borrowed from the client */
};

/* One GET of ctl_client_fetch_all, allocated by the caller. */
struct ctl_fetch {
	const char *url;              /* full URL, borrowed */
	int err;                      /* ESC_OK when resp holds a response */
	char errmsg[ESC_ERRMSG_SIZE]; /* "url: why" when err != ESC_OK */
	struct ctl_response resp;     /* valid when err == ESC_OK */
};

/* Parses nodes_csv ("URL[,URL...]": http:// or https:// URLs, or bare
 * HOST:PORT which gets https:// when ca is set, else http://) and keeps the
 * TLS file names (borrowed: they must outlive the client; NULL or "" for
 * none). timeout_ms bounds each request to one node. Returns ESC_OK,
 * ESC_EINVAL (errmsg names the bad URL), ESC_ENOMEM or ESC_EIO (libcurl
 * failed to start). Call curl_global_init first. */
int ctl_client_init(struct ctl_client *c, const char *nodes_csv, const char *ca,
		    const char *cert, const char *key, long timeout_ms, char *errmsg);

void ctl_client_close(struct ctl_client *c);

/* Checks before any connection what can be checked of c's TLS settings:
 * each file given opens, reads, and holds the PEM block it should (CA
 * certificates, a certificate, a private key), and https nodes have a
 * client certificate to be offered (escrowd asks every client for one).
 * ca_name, cert_name and key_name say what the user called the files
 * ("--ca" or "ESCROW_CA", ...; static strings, NULL keeps the option
 * names) for this and later messages. Returns ESC_OK, or ESC_EINVAL with
 * errmsg "--cert pki/x.crt: No such file or directory". */
int ctl_client_check_tls(struct ctl_client *c, const char *ca_name, const char *cert_name,
			 const char *key_name, char *errmsg);

/* Sends method path (starting with '/', already URL-encoded) with body (a
 * JSON text, copied; NULL for none) to each node in turn until one answers
 * with a status other than 503. Returns:
 *  ESC_OK: r holds that answer (any status but 503); free with
 *          ctl_response_close.
 *  ESC_EIO: no node answered, or every node answered 503. errmsg holds the
 *          last failure ("url: why"); when the last node answered 503, r
 *          holds that answer (else r->status is 0). Free r in both cases.
 *  ESC_ECRYPTO: a node refused the TLS handshake (or we refused its
 *          certificate) and no node answered: errmsg says what was refused.
 *  ESC_EINVAL: libcurl could not use our own TLS files; errmsg names them.
 *  ESC_ETOOBIG: a node's answer was over CTL_BODY_MAX; ESC_ENOMEM. r is empty.
 * Every message fits ESC_ERRMSG_SIZE whole (long names are shortened). */
int ctl_client_request(struct ctl_client *c, const char *method, const char *path,
		       const char *body, struct ctl_response *r, char *errmsg);

/* Where ctl_client_stream puts a 2xx body. Each callback returns ESC_OK,
 * or an error code with errmsg written, which stops the transfer. */
struct ctl_sink {
	/* Takes the next n bytes of the body. */
	int (*write)(void *data, const char *p, size_t n, char *errmsg);
	/* Drops what was written: the next node's body starts afresh. */
	int (*reset)(void *data, char *errmsg);
	/* Called often (several times a second) with the body bytes taken so
	 * far; may be NULL. An error here aborts, e.g. on an interrupt. */
	int (*progress)(void *data, uint64_t received, char *errmsg);
	void *data;
};

/* GETs path from each node in turn like ctl_client_request, but hands a
 * 2xx body to sink as it arrives instead of keeping it, so that a body of
 * any size goes straight to disk. There is no bound on the whole transfer;
 * it fails when no byte arrives for stall_ms (the wait for the headers
 * included). A connection error, a 503, or a 2xx body cut short moves on
 * to the next node (sink->reset first when something was written). Returns:
 *  ESC_OK: r holds a node's answer, any status but 503, with its headers;
 *          for a 2xx the whole body went to sink and r->body is empty, for
 *          another status r->body holds the start of the body.
 *  ESC_EIO, ESC_ECRYPTO, ESC_EINVAL: as for ctl_client_request.
 *  ESC_ECORRUPT: a node answered 2xx but its body was cut short, and no
 *          later node did better; errmsg says after how many bytes.
 *  a sink callback's own code (its errmsg): the transfer stopped there.
 *  ESC_ENOMEM. Free r in every case. */
int ctl_client_stream(struct ctl_client *c, const char *path, long stall_ms,
		      const struct ctl_sink *sink, struct ctl_response *r, char *errmsg);

/* GETs n full URLs in parallel, each bounded by timeout_ms, with the TLS
 * settings of c and no fail-over. Each f[i] gets its own result (f[i].err
 * as the codes of ctl_client_request: ESC_EIO or ESC_ETIMEOUT when the node
 * did not answer, ESC_ECRYPTO when TLS was refused, ...). Returns
 * ESC_OK once every fetch ended (whatever their outcome) or ESC_ENOMEM/ESC_EIO
 * when libcurl could not be set up (then no f[i].resp needs closing, and
 * every f[i].err is set). */
int ctl_client_fetch_all(struct ctl_client *c, struct ctl_fetch *f, size_t n,
			 long timeout_ms, char *errmsg);

/* Applies the common options to an easy handle: TLS files, http/https only,
 * no signals, timeout_ms, keep-alive. Used by the bench too. */
void ctl_client_setup_easy(const struct ctl_client *c, CURL *h, long timeout_ms);

/* Copies the value of header name (case-insensitive) of r into out (size
 * bytes, truncated, NUL-terminated); returns false when absent. */
bool ctl_response_header(const struct ctl_response *r, const char *name, char *out,
			 size_t size);

/* Frees the body and headers; r may be zeroed or already closed. */
void ctl_response_close(struct ctl_response *r);

/* Writes the refusal in r as "code: message" from the server's
 * {"error":{"code","message"}} body, or "HTTP 500: first bytes of the body"
 * when the body is not of that shape; control characters are dropped. With
 * size CTL_REFUSAL_MAX, nothing is cut (the code is kept to 63 bytes, the
 * message to 511). */
void ctl_response_error(const struct ctl_response *r, char *out, size_t size);

/* Percent-encodes s for a URL path segment or query value. Returns a heap
 * string to free with curl_free, or NULL when out of memory. */
char *ctl_escape(const char *s);

/* "http" or "https": the scheme of the node that answered r, for building
 * the URLs of other members from their "ip:port". */
const char *ctl_scheme_of(const char *node_url);

#endif
