/* The pending writes of a WAL file as reads see them (walbuf.c): the index
 * by offset, the bounds, and the overlay of pending bytes on a read. All
 * under wb->lock. */
#include "store/walbuf_internal.h"

#include <string.h>

static struct pending **index_bucket(struct walbuf *wb, sqlite3_int64 off)
{
	return &wb->index[((uint64_t)off * 0x9e3779b97f4a7c15u) >> 54]; /* 10 bits */
}

/* The newest pending write at off, or NULL. */
static struct pending *index_find(struct walbuf *wb, sqlite3_int64 off)
{
	struct pending *p = *index_bucket(wb, off);

	while (p != NULL && p->off != off)
		p = p->hnext;
	return p;
}

/* Records q, the newest write, in the index and the bounds. */
void walbuf_index_add(struct walbuf *wb, struct pending *q)
{
	struct pending **pp = index_bucket(wb, q->off), *p;

	while (*pp != NULL && (*pp)->off != q->off)
		pp = &(*pp)->hnext;
	p = *pp;
	q->regular = wb->head == NULL || q->off >= wb->max_end ||
		     (p != NULL && p->regular && p->len == q->len);
	if (!q->regular)
		wb->irregular++;
	if (p != NULL) {
		q->hnext = p->hnext;
		p->indexed = false;
	} else {
		q->hnext = NULL;
	}
	*pp = q;
	q->indexed = true;
	if (wb->head == NULL) {
		wb->min_off = q->off;
		wb->max_end = q->off + q->len;
	} else {
		if (q->off < wb->min_off)
			wb->min_off = q->off;
		if (q->off + q->len > wb->max_end)
			wb->max_end = q->off + q->len;
	}
}

/* Forgets p, the oldest pending write or truncation, which leaves the
 * list. */
void walbuf_index_remove(struct walbuf *wb, struct pending *p)
{
	struct pending **pp;

	if (p->truncate) {
		wb->truncates--;
		return;
	}
	if (!p->regular)
		wb->irregular--;
	if (!p->indexed)
		return;
	for (pp = index_bucket(wb, p->off); *pp != p; pp = &(*pp)->hnext)
		;
	*pp = p->hnext;
}

/* The bounds, exact again once writes left the list. */
void walbuf_index_bounds(struct walbuf *wb)
{
	const struct pending *p = wb->head;

	while (p != NULL && p->truncate)
		p = p->next;
	if (p == NULL)
		return;
	wb->min_off = p->off;
	wb->max_end = p->off + p->len;
	for (p = p->next; p != NULL; p = p->next) {
		if (p->truncate)
			continue;
		if (p->off < wb->min_off)
			wb->min_off = p->off;
		if (p->off + p->len > wb->max_end)
			wb->max_end = p->off + p->len;
	}
}

/* Copies the pending writes at [off, off + amt) over buf when those of
 * the index cover it all, one after the other; says whether they did.
 * Only when every pending write is regular: then each byte of a write
 * found is newest in the write found (any other over it has its offset
 * and is older). Under wb->lock. */
static bool overlay_indexed(struct walbuf *wb, void *buf, int amt, sqlite3_int64 off)
{
	sqlite3_int64 pos = off, end = off + amt;

	while (pos < end) {
		const struct pending *p = index_find(wb, pos);
		sqlite3_int64 hi;

		if (p == NULL)
			return false;
		hi = p->off + p->len < end ? p->off + p->len : end;
		memcpy((unsigned char *)buf + (pos - off), p->data, (size_t)(hi - pos));
		pos = hi;
	}
	return true;
}

/* The file's size once the pending writes and truncations are made, from
 * its size now. Under wb->lock. */
sqlite3_int64 walbuf_logical_size(const struct walbuf *wb, sqlite3_int64 size)
{
	if (wb->truncates == 0)
		return wb->head != NULL && wb->max_end > size ? wb->max_end : size;
	for (const struct pending *p = wb->head; p != NULL; p = p->next)
		if (p->truncate)
			size = p->off;
		else if (p->off + p->len > size)
			size = p->off + p->len;
	return size;
}

/* walbuf_overlay with truncations pending: every write and truncation in
 * its order over buf, and whether the file will then reach its end. A
 * truncation is rare (the checkpointer's, when the WAL starts over) and
 * soon done. */
static bool overlay_in_order(struct walbuf *wb, void *buf, int amt, sqlite3_int64 off,
			     sqlite3_int64 size)
{
	sqlite3_int64 end = off + amt;

	for (const struct pending *p = wb->head; p != NULL; p = p->next) {
		sqlite3_int64 lo = p->off > off ? p->off : off;
		sqlite3_int64 hi = p->off + p->len < end ? p->off + p->len : end;

		if (p->truncate && lo < end)
			memset((unsigned char *)buf + (lo - off), 0, (size_t)(end - lo));
		else if (!p->truncate && lo < hi)
			memcpy((unsigned char *)buf + (lo - off), p->data + (lo - p->off),
			       (size_t)(hi - lo));
	}
	return walbuf_logical_size(wb, size) >= end;
}

/* Copies the pending writes over buf (the file's bytes at off) and says
 * whether they cover [from, off + amt). Under wb->lock. */
bool walbuf_overlay(struct walbuf *wb, void *buf, int amt, sqlite3_int64 off, sqlite3_int64 from)
{
	sqlite3_int64 end = off + amt, covered = from;
	bool progress = true;

	if (wb->truncates > 0)
		return overlay_in_order(wb, buf, amt, off, from);
	if (wb->head == NULL || end <= wb->min_off || off >= wb->max_end)
		return covered >= end; /* no pending write there */
	if (wb->irregular == 0 && overlay_indexed(wb, buf, amt, off))
		return true;
	/* The general case: every pending write, newest last. */
	for (const struct pending *p = wb->head; p != NULL; p = p->next) {
		sqlite3_int64 lo = p->off > off ? p->off : off;
		sqlite3_int64 hi = p->off + p->len < end ? p->off + p->len : end;
		if (lo < hi)
			memcpy((unsigned char *)buf + (lo - off), p->data + (lo - p->off),
			       (size_t)(hi - lo));
	}
	/* Coverage of the tail past the file's end, in as many passes as
	 * needed (writes come in any order of offsets). */
	while (covered < end && progress) {
		progress = false;
		for (const struct pending *p = wb->head; p != NULL; p = p->next)
			if (p->off <= covered && p->off + p->len > covered) {
				covered = p->off + p->len;
				progress = true;
			}
	}
	return covered >= end;
}
