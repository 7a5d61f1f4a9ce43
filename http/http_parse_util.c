/* Helpers shared by the HTTP server and client. */
#include "http/http_parse_util.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "lib/error.h"

/* A block holds a usual request's head. With its header it stays under
 * 1 KiB: glibc serves larger requests by first merging every small free
 * chunk (malloc_consolidate), a cost paid per request otherwise. */
#define BLOCK_SIZE (1000 - sizeof(struct http_parse_block))

/* The name or value of a line before its first byte. */
static char empty[1];

/* Appends at[0..n) to *s, a string of len bytes in h's blocks (or empty).
 * The string being built is the last one of the newest block and grows in
 * place; when the block is full it moves, whole, to a new one with room for
 * twice its length (so a long value split in many fragments moves a few
 * times, not once per fragment). */
static int str_append(struct http_parse_headers *h, char **s, size_t len, const char *at,
		      size_t n)
{
	struct http_parse_block *b = h->blocks;
	size_t size;
	char *p;

	if (b != NULL && *s != empty && *s + len + 1 == b->data + b->used &&
	    b->size - b->used >= n) {
		p = *s;
		b->used += n;
	} else {
		if (b == NULL || b->size - b->used < len + n + 1) {
			size = 2 * (len + n + 1) > BLOCK_SIZE ? 2 * (len + n + 1) : BLOCK_SIZE;
			b = malloc(sizeof *b + size);
			if (b == NULL)
				return ESC_ENOMEM;
			b->size = size;
			b->used = 0;
			b->next = h->blocks;
			h->blocks = b;
		}
		p = b->data + b->used;
		memcpy(p, *s, len);
		b->used += len + n + 1;
	}
	memcpy(p + len, at, n);
	p[len + n] = '\0';
	*s = p;
	return 0;
}

static int headers_add_line(struct http_parse_headers *h)
{
	struct http_header *v;
	size_t cap;

	if (h->n >= HTTP_HEADERS_MAX)
		return ESC_ETOOBIG;
	if (h->n == h->cap) {
		cap = h->cap ? h->cap * 2 : 8;
		if (cap > HTTP_HEADERS_MAX)
			cap = HTTP_HEADERS_MAX;
		v = realloc(h->v, cap * sizeof(*v));
		if (v == NULL)
			return ESC_ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n].name = empty;
	h->v[h->n].value = empty;
	h->n++;
	h->frag_len = 0;
	h->in_value = false;
	return 0;
}

int http_parse_headers_charge(struct http_parse_headers *h, size_t len)
{
	if (len > HTTP_HEADER_BYTES_MAX - h->bytes)
		return ESC_ETOOBIG;
	h->bytes += len;
	return 0;
}

int http_parse_headers_field(struct http_parse_headers *h, const char *at, size_t len)
{
	struct http_header *line;
	int rv;

	if (len > HTTP_HEADER_BYTES_MAX - h->bytes)
		return ESC_ETOOBIG;
	if (h->n == 0 || h->in_value) {
		rv = headers_add_line(h);
		if (rv != 0)
			return rv;
	}
	line = &h->v[h->n - 1];
	rv = str_append(h, &line->name, h->frag_len, at, len);
	if (rv != 0)
		return rv;
	h->frag_len += len;
	h->bytes += len;
	return 0;
}

int http_parse_headers_value(struct http_parse_headers *h, const char *at, size_t len)
{
	struct http_header *line;
	int rv;

	if (h->n == 0)
		return ESC_ECORRUPT;
	if (len > HTTP_HEADER_BYTES_MAX - h->bytes)
		return ESC_ETOOBIG;
	if (!h->in_value) {
		h->in_value = true;
		h->frag_len = 0;
	}
	line = &h->v[h->n - 1];
	rv = str_append(h, &line->value, h->frag_len, at, len);
	if (rv != 0)
		return rv;
	h->frag_len += len;
	h->bytes += len;
	return 0;
}

void http_parse_headers_release(struct http_header *v, struct http_parse_block *blocks)
{
	struct http_parse_block *next;

	for (; blocks != NULL; blocks = next) {
		next = blocks->next;
		free(blocks);
	}
	free(v);
}

void http_parse_headers_free(struct http_parse_headers *h)
{
	http_parse_headers_release(h->v, h->blocks);
	memset(h, 0, sizeof(*h));
}

const char *http_parse_header_find(const struct http_header *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(v[i].name, name) == 0)
			return v[i].value;
	}
	return NULL;
}

int http_parse_buf_reserve(struct http_parse_buf *b, size_t size)
{
	char *p;

	if (b->p != NULL && b->cap > size)
		return 0;
	p = realloc(b->p, size + 1);
	if (p == NULL)
		return ESC_ENOMEM;
	if (b->p == NULL)
		p[0] = '\0';
	b->p = p;
	b->cap = size + 1;
	return 0;
}

int http_parse_buf_append(struct http_parse_buf *b, const char *at, size_t len, size_t max)
{
	size_t want;
	int rv;

	if (b->len > max || len > max - b->len)
		return ESC_ETOOBIG;
	if (b->p == NULL || b->cap - b->len <= len) {
		/* Grow by doubling, but never past what the limit allows. */
		want = b->cap ? b->cap * 2 : 256;
		if (want < b->len + len + 1)
			want = b->len + len + 1;
		if (want > max + 1)
			want = max + 1;
		rv = http_parse_buf_reserve(b, want - 1);
		if (rv != 0)
			return rv;
	}
	memcpy(b->p + b->len, at, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

int http_parse_buf_take(struct http_parse_buf *b, char **out, size_t *len)
{
	int rv;

	rv = http_parse_buf_reserve(b, 0);
	if (rv != 0)
		return rv;
	*out = b->p;
	if (len != NULL)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return 0;
}

void http_parse_buf_free(struct http_parse_buf *b)
{
	/* A body may hold a recovery password. */
	if (b->p != NULL)
		OPENSSL_clear_free(b->p, b->cap);
	memset(b, 0, sizeof(*b));
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int http_parse_pct_decode(const char *in, size_t len, bool plus_space, char *out,
			  size_t size, size_t *out_len)
{
	size_t i;
	size_t o = 0;
	int hi;
	int lo;
	char ch;

	if (size == 0)
		return ESC_ETOOBIG;
	for (i = 0; i < len; i++) {
		ch = in[i];
		if (ch == '%') {
			if (len - i < 3)
				return ESC_EINVAL;
			hi = hex_value(in[i + 1]);
			lo = hex_value(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return ESC_EINVAL;
			ch = (char)(hi * 16 + lo);
			i += 2;
		} else if (ch == '+' && plus_space) {
			ch = ' ';
		} else if (ch == '\0') {
			return ESC_EINVAL;
		}
		if (o + 1 >= size)
			return ESC_ETOOBIG;
		out[o++] = ch;
	}
	out[o] = '\0';
	if (out_len != NULL)
		*out_len = o;
	return 0;
}
