/* Unique audit times for key reads (see readstamp.h). */
#include "node/readstamp.h"

#include <ctype.h>

int64_t readstamp_take(struct readstamp *r, const char *key_or_prefix, int64_t now_ms)
{
	uint32_t h = 2166136261u; /* FNV-1a of the first 8 characters, any case */
	int64_t t;

	for (int i = 0; i < 8 && key_or_prefix[i] != '\0'; i++)
		h = (h ^ (uint8_t)toupper((unsigned char)key_or_prefix[i])) * 16777619u;
	h %= READSTAMP_SLOTS;
	t = now_ms > r->last[h] ? now_ms : r->last[h] + 1;
	r->last[h] = t;
	return t;
}
