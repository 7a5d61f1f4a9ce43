/* Helpers shared by the HTTP server and client: headers, buffers, percent-decoding, addresses. */
#ifndef ESCROW_HTTP_PARSE_UTIL_H
#define ESCROW_HTTP_PARSE_UTIL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/http_server.h"

/* Where the names and values of header lines are: a list of blocks, so that
 * a request's head costs one or two allocations instead of four per line. */
struct http_parse_block {
	struct http_parse_block *next;
	size_t used, size;
	char data[];
};

/* Header lines collected from http_parser's field and value fragments, at
 * most HTTP_HEADERS_MAX lines and HTTP_HEADER_BYTES_MAX bytes. Zero it (or
 * call http_parse_headers_free) before use. */
struct http_parse_headers {
	struct http_header *v; /* n lines, each name and value NUL-terminated,
				  in blocks (or a shared "" never written) */
	size_t n;
	size_t cap;
	size_t bytes;          /* bytes counted against the limit so far */
	size_t frag_len;       /* length of the string being appended to */
	bool in_value;         /* the last fragment was a value */
	struct http_parse_block *blocks; /* newest first */
};

/* A growing NUL-terminated byte buffer. Zero it before use. */
struct http_parse_buf {
	char *p;
	size_t len;            /* not counting the NUL */
	size_t cap;            /* allocated bytes */
};

/* Appends a fragment of a header name (a new line starts when the previous
 * fragment was a value). Errors: ESC_ETOOBIG over the limits, ESC_ENOMEM. */
int http_parse_headers_field(struct http_parse_headers *h, const char *at, size_t len);

/* Appends a fragment of the value of the last header name. Same errors, and
 * ESC_ECORRUPT when no name came first. */
int http_parse_headers_value(struct http_parse_headers *h, const char *at, size_t len);

/* Counts len bytes (e.g. the request target) against HTTP_HEADER_BYTES_MAX.
 * ESC_ETOOBIG when over. */
int http_parse_headers_charge(struct http_parse_headers *h, size_t len);

/* Frees every line and zeroes h. */
void http_parse_headers_free(struct http_parse_headers *h);

/* Frees lines v (from a struct http_parse_headers) and their blocks. */
void http_parse_headers_release(struct http_header *v, struct http_parse_block *blocks);

/* Case-insensitive lookup of name in v[0..n); NULL if absent. */
const char *http_parse_header_find(const struct http_header *v, size_t n, const char *name);

/* Appends len bytes, keeping p NUL-terminated; fails with ESC_ETOOBIG when
 * the content would exceed max bytes, ESC_ENOMEM. */
int http_parse_buf_append(struct http_parse_buf *b, const char *at, size_t len, size_t max);

/* Makes room for size content bytes (and the NUL) at once; allocates "" when
 * size is 0. ESC_ENOMEM. */
int http_parse_buf_reserve(struct http_parse_buf *b, size_t size);

/* Moves the content out (never NULL on success: "" when empty); b is zeroed.
 * ESC_ENOMEM. */
int http_parse_buf_take(struct http_parse_buf *b, char **out, size_t *len);

void http_parse_buf_free(struct http_parse_buf *b);

/* Percent-decodes in[0..len) into out (size bytes, NUL-terminated); '+'
 * becomes a space when plus_space. *out_len (may be NULL) gets the decoded
 * length. Errors: ESC_EINVAL for a bad escape or %00, ESC_ETOOBIG when the
 * result and its NUL do not fit. */
int http_parse_pct_decode(const char *in, size_t len, bool plus_space, char *out,
			  size_t size, size_t *out_len);

#endif
