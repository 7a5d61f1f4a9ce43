/* The framing of forwarded batches: a line of lengths, then the bytes. */
#include "node/fwd_wire.h"

#include <stdbool.h>
#include <string.h>

#include "lib/error.h"
#include "lib/text.h"

#define LEN_DIGITS_MAX 9 /* lengths stay under a billion bytes */

static size_t digits(size_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

size_t fwd_wire_size(size_t l0, size_t l1, size_t l2)
{
	return FWD_WORD_MAX + digits(l0) + digits(l1) + digits(l2) + 4 + l0 + l1 + l2;
}

static bool word_ok(const char *w, size_t n)
{
	if (n == 0 || n >= FWD_WORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((w[i] >= 'A' && w[i] <= 'Z') || (w[i] >= '0' && w[i] <= '9')))
			return false;
	}
	return true;
}

int fwd_wire_put(struct http_parse_buf *b, size_t max, const char *word, const char *p0,
		 size_t l0, const char *p1, size_t l1, const char *p2, size_t l2)
{
	char line[FWD_WORD_MAX + 3 * (LEN_DIGITS_MAX + 1) + 2];
	const size_t lens[3] = { l0, l1, l2 };
	size_t old = b->len;
	struct text t;

	if (!word_ok(word, strlen(word)) || digits(l0) > LEN_DIGITS_MAX ||
	    digits(l1) > LEN_DIGITS_MAX || digits(l2) > LEN_DIGITS_MAX)
		return ESC_EINVAL;
	if (max < b->len || fwd_wire_size(l0, l1, l2) > max - b->len)
		return ESC_ETOOBIG;
	text_init(&t, line, sizeof line);
	text_str(&t, word);
	for (int i = 0; i < 3; i++) {
		text_put(&t, " ", 1);
		text_uint(&t, lens[i]);
	}
	text_put(&t, "\n", 1);
	if (t.cut)
		return ESC_EINVAL;
	if (http_parse_buf_append(b, line, t.len, max) != 0 ||
	    (l0 > 0 && http_parse_buf_append(b, p0, l0, max) != 0) ||
	    (l1 > 0 && http_parse_buf_append(b, p1, l1, max) != 0) ||
	    (l2 > 0 && http_parse_buf_append(b, p2, l2, max) != 0)) {
		b->len = old;
		if (b->p != NULL)
			b->p[old] = '\0';
		return ESC_ENOMEM;
	}
	return ESC_OK;
}

/* A strict decimal of at most LEN_DIGITS_MAX digits at s[*i], ended by end. */
static bool read_len(const char *s, size_t n, size_t *i, char end, size_t *out)
{
	size_t v = 0, k = 0;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		if (++k > LEN_DIGITS_MAX)
			return false;
		v = v * 10 + (size_t)(s[*i] - '0');
		(*i)++;
	}
	if (k == 0 || (k > 1 && s[*i - k] == '0') || *i >= n || s[*i] != end)
		return false;
	(*i)++;
	*out = v;
	return true;
}

int fwd_wire_next(const char *body, size_t len, size_t *pos, struct fwd_item *it)
{
	size_t i = *pos, w = 0;

	while (i < len && w < FWD_WORD_MAX && body[i] != ' ')
		it->word[w++] = body[i++];
	if (i >= len || body[i] != ' ' || !word_ok(it->word, w))
		return ESC_ECORRUPT;
	it->word[w] = '\0';
	i++;
	if (!read_len(body, len, &i, ' ', &it->len[0]) ||
	    !read_len(body, len, &i, ' ', &it->len[1]) ||
	    !read_len(body, len, &i, '\n', &it->len[2]))
		return ESC_ECORRUPT;
	for (int k = 0; k < 3; k++) {
		if (it->len[k] > len - i)
			return ESC_ECORRUPT;
		it->part[k] = body + i;
		i += it->len[k];
	}
	*pos = i;
	return ESC_OK;
}
