/* Shared by ctl_client.c, ctl_stream.c, ctl_tls.c: a transfer's buffers, setup, failure. */
#ifndef ESCROW_CTL_CLIENT_INTERNAL_H
#define ESCROW_CTL_CLIENT_INTERNAL_H

#include "tools/client/ctl_client.h"

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

/* Appends n bytes of p (copied) to b, keeping the data NUL-terminated;
 * false when that would pass b->max (b->over set) or memory ran out
 * (b->nomem set). */
bool ctl_buf_append(struct buf *b, const char *p, size_t n);

/* Zeroes x and sets the limits of a request: CTL_BODY_MAX, CTL_HEADERS_MAX. */
void ctl_xfer_init(struct xfer *x);

/* Frees what x holds; x may be taken (ctl_xfer_take) or never used. */
void ctl_xfer_close(struct xfer *x);

/* Moves the buffers of x into r (x keeps nothing; r owns them, free with
 * ctl_response_close), with the status of h and node (borrowed). ESC_OK or
 * ESC_ENOMEM. */
int ctl_xfer_take(struct xfer *x, CURL *h, const char *node, struct ctl_response *r);

/* Sets up h for one request of method to url (borrowed until the transfer
 * ends) with body (a JSON text, copied; NULL for none), bounded by
 * timeout_ms; x receives the answer and owns the header list. ESC_OK or
 * ESC_ENOMEM. */
int ctl_client_prepare(const struct ctl_client *c, CURL *h, struct xfer *x,
		       const char *url, const char *method, const char *body,
		       long timeout_ms);

/* The reason a finished transfer has no usable answer, into errmsg, as
 * "where: why": ESC_EINVAL (our TLS files), ESC_ECRYPTO (TLS refused),
 * ESC_ETIMEOUT or ESC_EIO (the node did not answer), ESC_ETOOBIG, ESC_ENOMEM. */
int ctl_xfer_failure(const struct ctl_client *c, const struct xfer *x, CURLcode cc,
		     const char *where, char *errmsg);

/* libcurl's own words for cc (x's error buffer) when they are shorter than
 * room bytes, else its shorter sentence: a message built from them is never
 * cut short. Returns a string borrowed from x or libcurl. */
const char *ctl_curl_why(const struct xfer *x, CURLcode cc, size_t room);

/* Copies name into out (at least max + 1 bytes): whole when it is at most
 * max bytes long, else "..." and its tail, so that a message built from it
 * fits its buffer whole instead of being cut short. Returns out. */
const char *ctl_shown(const char *name, size_t max, char *out);

/* "node: code: message" for a 503 answer r into errmsg, or only that the
 * node answered 503 when the whole would not fit. */
void ctl_unavailable(const char *node, const struct ctl_response *r, char *errmsg);

/* Keeps the first TLS refusal (rv ESC_ECRYPTO, errmsg) of a fail-over loop
 * in kept: it tells more than a later node that did not answer. */
void ctl_keep_refusal(int rv, const char *errmsg, char kept[ESC_ERRMSG_SIZE]);

/* A TLS failure in words, from libcurl's code cc and error text e (borrowed),
 * at where (a URL), into errmsg: with names whole when the message fits,
 * else with them shortened. Returns ESC_EINVAL when our own files are at
 * fault (the same at every node), ESC_ECRYPTO when the handshake was
 * refused, ESC_OK (errmsg untouched) when cc and e tell of no TLS failure. */
int ctl_tls_failure(const struct ctl_client *c, CURLcode cc, const char *e, const char *where,
		    char *errmsg);

#endif
