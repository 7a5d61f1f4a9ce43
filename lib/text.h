/* Text put together without printf, for what every request formats: header
 * lines, the forwarding wire's lines, small answers. Through snprintf's
 * format parsing these cost some 16,000 instructions per escrow forwarded
 * by a follower, over the three nodes (bench/instructions.sh, issue 16). */
#ifndef ESCROW_TEXT_H
#define ESCROW_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXT_U64_MAX 20 /* digits of UINT64_MAX */

/* Copies src into dst, size bytes (size > 0), cut to fit and always ended
 * by NUL, as snprintf(dst, size, "%s", src) did; returns the length
 * copied. */
size_t text_copy(char *dst, size_t size, const char *src);

/* Writes v's decimal digits at out (room for TEXT_U64_MAX), no NUL;
 * returns their count. */
size_t text_u64(char *out, uint64_t v);

/* A buffer being filled: out[0..len) written and out[len] == '\0' at every
 * step. A piece that does not fit whole is not written, nor is anything
 * after it: cut says so. */
struct text {
	char *out;
	size_t size; /* > 0 */
	size_t len;
	bool cut;
};

void text_init(struct text *t, char *out, size_t size);
void text_put(struct text *t, const char *s, size_t n);
void text_str(struct text *t, const char *s);
void text_uint(struct text *t, uint64_t v);
void text_int(struct text *t, int64_t v);

#endif
