/* The body of a batch of forwarded requests (POST /v1/internal/forward) and
 * of its answer. Each item is a line "WORD LEN0 LEN1 LEN2\n" followed by its
 * three parts, LEN0, LEN1 and LEN2 bytes, back to back:
 *
 *   a request:  method,      then target, header lines, body
 *   an answer:  status code, then content type, header lines, body
 *
 * The answer holds one item per request, in the same order. */
#ifndef ESCROW_FWD_WIRE_H
#define ESCROW_FWD_WIRE_H

#include <stddef.h>

#include "http/http_parse_util.h"

#define FWD_WORD_MAX 8          /* the word and its NUL */
#define FWD_ITEMS_MAX 64        /* requests in one batch */
#define FWD_PATH "/v1/internal/forward"
#define FWD_CONTENT_TYPE "application/x-escrow-forward"

struct fwd_item {
	char word[FWD_WORD_MAX];    /* upper-case letters and digits */
	const char *part[3];        /* into the body read */
	size_t len[3];
};

/* Appends an item to b, its content kept under max bytes. word: 1 to 7
 * upper-case letters or digits. ESC_ETOOBIG (b unchanged past its old
 * length: the caller may send what it has), ESC_ENOMEM, ESC_EINVAL. */
int fwd_wire_put(struct http_parse_buf *b, size_t max, const char *word, const char *p0,
		 size_t l0, const char *p1, size_t l1, const char *p2, size_t l2);

/* The size fwd_wire_put adds for these part lengths. */
size_t fwd_wire_size(size_t l0, size_t l1, size_t l2);

/* Reads the item at *pos of body[0..len) into it (parts point into body) and
 * moves *pos past it. ESC_ECORRUPT when what is there is not a whole item. */
int fwd_wire_next(const char *body, size_t len, size_t *pos, struct fwd_item *it);

#endif
