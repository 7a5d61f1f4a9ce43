/* Recycled blocks of pending WAL writes (see walbuf_internal.h). */
#include <pthread.h>
#include <stdlib.h>

#include "store/walbuf_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

/* Blocks of the two sizes SQLite writes (frame headers and the WAL header;
 * pages) are kept for the next writes instead of freed, up to a count per
 * size: no malloc, and no page fault on fresh memory, per frame. */
#define POOL_SMALL 64      /* data bytes of a small block: writes of up to 64 */
#define POOL_PAGE 4096     /* of a page block: writes of 2049 to 4096 bytes */
#define POOL_SMALL_MAX 512 /* small blocks kept */
#define POOL_PAGE_MAX 256  /* page blocks kept (1 MiB) */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending *pool_small, *pool_page; /* under pool_lock */
static int pool_small_n, pool_page_n;

/* A block for a write of len bytes (1 or more): from the pool when one of
 * its size is there. NULL when out of memory. */
struct pending *pending_alloc(int len)
{
	int cap = len <= POOL_SMALL ? POOL_SMALL : len;
	struct pending *p = NULL;

	if (len > POOL_PAGE / 2 && len <= POOL_PAGE)
		cap = POOL_PAGE;
	if (cap == POOL_SMALL || cap == POOL_PAGE) {
		pthread_mutex_lock(&pool_lock);
		if (cap == POOL_SMALL && pool_small != NULL) {
			p = pool_small;
			pool_small = p->next;
			pool_small_n--;
		} else if (cap == POOL_PAGE && pool_page != NULL) {
			p = pool_page;
			pool_page = p->next;
			pool_page_n--;
		}
		pthread_mutex_unlock(&pool_lock);
	}
	if (p != NULL) {
		ASAN_UNPOISON_MEMORY_REGION(p->data, (size_t)cap);
		return p;
	}
	p = malloc(sizeof *p + (size_t)cap);
	if (p != NULL)
		p->cap = cap;
	return p;
}

/* Frees the blocks of a list linked by next (NULL-terminated), keeping
 * what the pool has room for. The blocks must be in no write list. */
void pending_free(struct pending *p)
{
	struct pending *next, *spill = NULL;

	pthread_mutex_lock(&pool_lock);
	for (; p != NULL; p = next) {
		next = p->next;
		if (p->cap == POOL_SMALL && pool_small_n < POOL_SMALL_MAX) {
			p->next = pool_small;
			pool_small = p;
			pool_small_n++;
		} else if (p->cap == POOL_PAGE && pool_page_n < POOL_PAGE_MAX) {
			p->next = pool_page;
			pool_page = p;
			pool_page_n++;
		} else {
			p->next = spill;
			spill = p;
			continue;
		}
		/* Under ASan, a pooled block still read or written is caught. */
		ASAN_POISON_MEMORY_REGION(p->data, (size_t)p->cap);
	}
	pthread_mutex_unlock(&pool_lock);
	for (; spill != NULL; spill = next) {
		next = spill->next;
		free(spill);
	}
}

/* Frees the pool (when no WAL is open). */
void pool_drain(void)
{
	struct pending *p, *next;

	pthread_mutex_lock(&pool_lock);
	p = pool_small;
	for (int pass = 0; pass < 2; pass++, p = pool_page)
		for (; p != NULL; p = next) {
			next = p->next;
			free(p);
		}
	pool_small = pool_page = NULL;
	pool_small_n = pool_page_n = 0;
	pthread_mutex_unlock(&pool_lock);
}

size_t walbuf_pooled(void)
{
	size_t n;

	pthread_mutex_lock(&pool_lock);
	n = (size_t)pool_small_n + (size_t)pool_page_n;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

