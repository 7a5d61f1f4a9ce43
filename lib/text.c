/* Text put together without printf (see text.h). */
#include "lib/text.h"

#include <string.h>

size_t text_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

size_t text_u64(char *out, uint64_t v)
{
	char rev[TEXT_U64_MAX];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	return n;
}

void text_init(struct text *t, char *out, size_t size)
{
	t->out = out;
	t->size = size;
	t->len = 0;
	t->cut = false;
	out[0] = '\0';
}

void text_put(struct text *t, const char *s, size_t n)
{
	if (t->cut || n >= t->size - t->len) {
		t->cut = true;
		return;
	}
	memcpy(t->out + t->len, s, n);
	t->len += n;
	t->out[t->len] = '\0';
}

void text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

void text_uint(struct text *t, uint64_t v)
{
	char d[TEXT_U64_MAX];

	text_put(t, d, text_u64(d, v));
}

void text_int(struct text *t, int64_t v)
{
	if (v < 0) {
		text_put(t, "-", 1);
		/* -(v + 1) + 1: INT64_MIN has no positive int64_t. */
		text_uint(t, (uint64_t)(-(v + 1)) + 1);
		return;
	}
	text_uint(t, (uint64_t)v);
}
