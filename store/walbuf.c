/* Write-behind for SQLite WAL files (see walbuf.h): a VFS shim over the default VFS. */
#include "store/walbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/durable.h"
#include "lib/error.h"
#include "store/walbuf_internal.h"


#define READ_RETRIES 3 /* optimistic reads before one made under the lock */

/* The writer thread writes a run of contiguous pending writes with one
 * pwritev: at most this many writes, and it stops after this many bytes. */
#define RUN_WRITES (IOV_MAX < 1024 ? IOV_MAX : 1024)
#define RUN_BYTES (1u << 20)



/* A WAL frame's header (SQLite's file format): the page number, then the
 * database's size in pages after the commit for a commit frame, 0 for any
 * other; SQLite writes the header and the page with two writes. */
#define FRAME_HEADER 24


/* A file opened through the shim: a WAL file wraps the real one. */
struct wb_file {
	sqlite3_file base;
	struct walbuf *wb;
	bool flushed_reads;           /* WALBUF_VFS_FLUSHED */
	sqlite3_file *real;           /* follows this struct in the same block */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs vfs_plain, vfs_flushed;
/* Lock order: registry_lock, then a walbuf's lock, then pool_lock. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct walbuf *registry;
static atomic_size_t total_pending;

size_t walbuf_pending(void)
{
	return atomic_load(&total_pending);
}

static void pending_add(long delta)
{
	if (delta >= 0)
		atomic_fetch_add(&total_pending, (size_t)delta);
	else
		atomic_fetch_sub(&total_pending, (size_t)-delta);
}

/* --- the writer thread --- */

static atomic_long writes_allowed = -1; /* -1: no limit; for tests */
void (*walbuf_truncate_queued)(sqlite3_int64 size);

/* Whether the thread has writes to make now: those up to want_seq. The
 * frames of a transaction wait until its commit frame is queued (or a run's
 * worth is pending, or someone waits for them), so that the thread wakes
 * once per commit, not once per frame. Under wb->lock. */
static bool writer_has_work(const struct walbuf *wb)
{
	return wb->head != NULL && wb->done_seq < wb->want_seq &&
	       atomic_load(&writes_allowed) != 0;
}

/* Asks the thread to write every write queued up to seq. Under wb->lock. */
static void want_written(struct walbuf *wb, uint64_t seq)
{
	if (wb->want_seq < seq) {
		wb->want_seq = seq;
		pthread_cond_broadcast(&wb->cond);
	}
}

void walbuf_hold_writes(long allow)
{
	struct walbuf *wb;

	atomic_store(&writes_allowed, allow);
	pthread_mutex_lock(&registry_lock);
	for (wb = registry; wb != NULL; wb = wb->next) {
		pthread_mutex_lock(&wb->lock);
		if (allow != 0)
			want_written(wb, wb->queued_seq);
		pthread_cond_broadcast(&wb->cond);
		pthread_mutex_unlock(&wb->lock);
	}
	pthread_mutex_unlock(&registry_lock);
}

/* The writes from the head up to *last (returned) that follow each other
 * in the file, as iovecs; their bytes in *bytes. Under wb->lock. */
static int run_gather(struct walbuf *wb, struct iovec *iov, struct pending **last, size_t *bytes)
{
	struct pending *p = wb->head;
	long allowed = atomic_load(&writes_allowed);
	int n = 0;

	*bytes = 0;
	for (;;) {
		iov[n].iov_base = p->data;
		iov[n].iov_len = (size_t)p->len;
		n++;
		*bytes += (size_t)p->len;
		if (p->next == NULL || n == RUN_WRITES || *bytes >= RUN_BYTES ||
		    p->next->truncate || p->next->off != p->off + p->len || n == allowed)
			break;
		p = p->next;
	}
	*last = p;
	if (allowed > 0)
		atomic_fetch_sub(&writes_allowed, n);
	return n;
}

/* After a failed write nothing more is written: the WAL on disk stays a
 * prefix of what was written. Every pending write is dropped; waiters see
 * the sticky error. Under wb->lock; returns the blocks to free. */
static struct pending *drop_all(struct walbuf *wb)
{
	struct pending *p = wb->head;

	pending_add(-(long)wb->bytes);
	wb->bytes = 0;
	wb->head = wb->tail = NULL;
	wb->irregular = 0;
	wb->truncates = 0;
	memset(wb->index, 0, sizeof wb->index);
	return p;
}

/* Makes the run that starts at the head: the writes gathered by run_gather
 * with one pwritev, or a truncation alone (*last is then the head, *bytes
 * 0). Under wb->lock, which it drops meanwhile; 0 or an errno. */
static int run_make(struct walbuf *wb, struct pending **last, size_t *bytes)
{
	struct iovec iov[RUN_WRITES];
	struct pending *first = wb->head;
	int n = 1, err = 0;

	if (first->truncate) {
		*last = first;
		*bytes = 0;
		if (atomic_load(&writes_allowed) > 0)
			atomic_fetch_sub(&writes_allowed, 1);
	} else {
		n = run_gather(wb, iov, last, bytes);
	}
	pthread_mutex_unlock(&wb->lock);
	if (first->truncate ? ftruncate(wb->fd, (off_t)first->off) != 0
			    : durable_pwritev(wb->fd, iov, n, (off_t)first->off) != 0)
		err = errno;
	pthread_mutex_lock(&wb->lock);
	return err;
}

static void *writer_main(void *arg)
{
	struct walbuf *wb = arg;
	struct pending *first, *last, *p;
	size_t bytes;
	int err;

	pthread_mutex_lock(&wb->lock);
	for (;;) {
		while (!writer_has_work(wb) && !wb->stop)
			pthread_cond_wait(&wb->cond, &wb->lock);
		if (wb->head == NULL)
			break;
		first = wb->head;
		err = run_make(wb, &last, &bytes);
		if (err != 0) {
			if (wb->err == 0)
				wb->err = err;
			first = drop_all(wb);
		} else {
			wb->head = last->next;
			last->next = NULL;
			if (wb->head == NULL)
				wb->tail = NULL;
			for (p = first; p != NULL; p = p->next)
				walbuf_index_remove(wb, p);
			walbuf_index_bounds(wb);
			wb->bytes -= bytes;
			wb->done_seq = last->seq;
			pending_add(-(long)bytes);
		}
		pthread_cond_broadcast(&wb->cond);
		pthread_mutex_unlock(&wb->lock);
		pending_free(first);
		pthread_mutex_lock(&wb->lock);
	}
	pthread_mutex_unlock(&wb->lock);
	return NULL;
}

/* The registry entry for path, created with its thread on first use. */
static struct walbuf *walbuf_get(const char *path)
{
	struct walbuf *wb;

	pthread_mutex_lock(&registry_lock);
	for (wb = registry; wb != NULL; wb = wb->next)
		if (strcmp(wb->path, path) == 0)
			break;
	if (wb != NULL) {
		wb->refs++;
		pthread_mutex_unlock(&registry_lock);
		return wb;
	}
	wb = calloc(1, sizeof *wb);
	if (wb == NULL || (wb->path = strdup(path)) == NULL)
		goto err;
	wb->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (wb->fd < 0)
		goto err;
	pthread_mutex_init(&wb->lock, NULL);
	pthread_cond_init(&wb->cond, NULL);
	if (pthread_create(&wb->thread, NULL, writer_main, wb) != 0) {
		pthread_cond_destroy(&wb->cond);
		pthread_mutex_destroy(&wb->lock);
		close(wb->fd);
		goto err;
	}
	wb->refs = 1;
	wb->next = registry;
	registry = wb;
	pthread_mutex_unlock(&registry_lock);
	return wb;
err:
	if (wb != NULL)
		free(wb->path);
	free(wb);
	pthread_mutex_unlock(&registry_lock);
	return NULL;
}

static void walbuf_put(struct walbuf *wb);

/* Waits until every write queued up to seq is in the file (all when seq is
 * UINT64_MAX). Returns the sticky error, 0 if none. */
static int walbuf_wait(struct walbuf *wb, uint64_t seq)
{
	int err;

	pthread_mutex_lock(&wb->lock);
	if (seq == UINT64_MAX)
		seq = wb->queued_seq;
	want_written(wb, seq);
	while (wb->done_seq < seq && wb->head != NULL)
		pthread_cond_wait(&wb->cond, &wb->lock);
	err = wb->err;
	pthread_mutex_unlock(&wb->lock);
	return err;
}

void walbuf_flush_all(void)
{
	struct walbuf *wb;

	pthread_mutex_lock(&registry_lock);
	for (wb = registry; wb != NULL; wb = wb->next)
		wb->refs++;   /* keep each alive while waiting without the lock */
	wb = registry;
	pthread_mutex_unlock(&registry_lock);
	while (wb != NULL) {
		struct walbuf *next;

		walbuf_wait(wb, UINT64_MAX);
		pthread_mutex_lock(&registry_lock);
		next = wb->next;
		pthread_mutex_unlock(&registry_lock);
		walbuf_put(wb);
		wb = next;
	}
}

static void walbuf_put(struct walbuf *wb)
{
	struct walbuf **pp;
	bool last;

	walbuf_wait(wb, UINT64_MAX);
	pthread_mutex_lock(&registry_lock);
	if (--wb->refs > 0) {
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	for (pp = &registry; *pp != wb; pp = &(*pp)->next)
		;
	*pp = wb->next;
	last = registry == NULL;
	pthread_mutex_unlock(&registry_lock);
	pthread_mutex_lock(&wb->lock);
	wb->stop = true;
	pthread_cond_broadcast(&wb->cond);
	pthread_mutex_unlock(&wb->lock);
	pthread_join(wb->thread, NULL);
	pthread_cond_destroy(&wb->cond);
	pthread_mutex_destroy(&wb->lock);
	close(wb->fd);
	free(wb->path);
	free(wb);
	if (last)
		pool_drain(); /* the memory returns when no WAL is open */
}

/* --- the WAL file methods --- */

static int wal_close(sqlite3_file *f)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc = w->real->pMethods->xClose(w->real);

	walbuf_put(w->wb);
	return rc;
}

static bool is_commit_header(const unsigned char *h)
{
	return (h[4] | h[5] | h[6] | h[7]) != 0;
}

/* Gives p the next sequence number and puts it at the end of the list.
 * Under wb->lock. */
static void append(struct walbuf *wb, struct pending *p)
{
	p->seq = ++wb->queued_seq;
	if (wb->tail != NULL)
		wb->tail->next = p;
	else
		wb->head = p;
	wb->tail = p;
}

static int wal_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct walbuf *wb = ((struct wb_file *)f)->wb;
	struct pending *p;

	if (amt <= 0)
		return amt == 0 ? SQLITE_OK : SQLITE_IOERR_WRITE;
	p = pending_alloc(amt);
	if (p == NULL)
		return SQLITE_IOERR_NOMEM;
	memcpy(p->data, buf, (size_t)amt);
	p->off = off;
	p->len = amt;
	p->next = NULL;
	p->truncate = false;
	pthread_mutex_lock(&wb->lock);
	while (wb->err == 0 && wb->bytes > 0 && wb->bytes + (size_t)amt > WALBUF_MAX_PENDING) {
		want_written(wb, wb->queued_seq);
		pthread_cond_wait(&wb->cond, &wb->lock);
	}
	if (wb->err != 0) {
		int err = wb->err;
		pthread_mutex_unlock(&wb->lock);
		pending_free(p);
		/* SQLite names a full disk as such ("database or disk is full"). */
		return err == ENOSPC ? SQLITE_FULL : SQLITE_IOERR_WRITE;
	}
	walbuf_index_add(wb, p); /* before append: it looks at the list as it was */
	append(wb, p);
	wb->bytes += (size_t)amt;
	pending_add(amt);
	/* The page after a commit frame's header ends a transaction. */
	if (wb->commit_next || wb->bytes >= RUN_BYTES)
		want_written(wb, p->seq);
	wb->commit_next = amt == FRAME_HEADER && is_commit_header(buf);
	pthread_mutex_unlock(&wb->lock);
	return SQLITE_OK;
}

static sqlite3_int64 file_size(const struct walbuf *wb)
{
	struct stat st;

	return fstat(wb->fd, &st) == 0 ? (sqlite3_int64)st.st_size : 0;
}

static int wal_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct wb_file *w = (struct wb_file *)f;
	struct walbuf *wb = w->wb;
	uint64_t done;
	sqlite3_int64 size;
	bool idle;
	int rc;

	if (w->flushed_reads && walbuf_wait(wb, UINT64_MAX) != 0)
		return SQLITE_IOERR_READ;
	for (int attempt = 0;; attempt++) {
		bool locked = attempt >= READ_RETRIES;

		pthread_mutex_lock(&wb->lock);
		done = wb->done_seq;
		/* Nothing pending: the file alone answers, and its size (a
		 * syscall per page a checkpoint copies) is not needed. */
		idle = wb->head == NULL;
		if (!locked)
			pthread_mutex_unlock(&wb->lock);
		size = idle ? 0 : file_size(wb);
		rc = w->real->pMethods->xRead(w->real, buf, amt, off);
		if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
			if (locked)
				pthread_mutex_unlock(&wb->lock);
			return rc;
		}
		if (!locked)
			pthread_mutex_lock(&wb->lock);
		/* A write that reached the file during the read may be missing
		 * from the bytes read and the pending list; one queued meanwhile
		 * needs the size: read again. */
		if (!locked && (wb->done_seq != done || (idle && wb->head != NULL))) {
			pthread_mutex_unlock(&wb->lock);
			continue;
		}
		if (wb->err != 0) {
			pthread_mutex_unlock(&wb->lock);
			return SQLITE_IOERR_READ;
		}
		if (!idle && walbuf_overlay(wb, buf, amt, off, size > off ? size : off))
			rc = SQLITE_OK;
		else if (!idle && wb->truncates > 0)
			rc = SQLITE_IOERR_SHORT_READ; /* the file is longer than it will be */
		pthread_mutex_unlock(&wb->lock);
		return rc;
	}
}

/* Queued after the pending writes, as they are, instead of waiting for
 * them: cutting a WAL of 16 MiB took 3-9 ms (issue 16), and a TRUNCATE
 * checkpoint holds SQLite's write lock while it empties the file. Reads
 * and the size see the cut at once (walbuf_overlay, walbuf_logical_size). */
static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct walbuf *wb = ((struct wb_file *)f)->wb;
	struct pending *t;

	if (size < 0)
		return SQLITE_IOERR_TRUNCATE;
	t = pending_alloc(1);
	if (t == NULL)
		return SQLITE_IOERR_NOMEM;
	t->off = size;
	t->len = 0;
	t->next = NULL;
	t->truncate = true;
	t->indexed = t->regular = false;
	pthread_mutex_lock(&wb->lock);
	if (wb->err != 0) {
		pthread_mutex_unlock(&wb->lock);
		pending_free(t);
		return SQLITE_IOERR_TRUNCATE;
	}
	append(wb, t);
	wb->truncates++;
	want_written(wb, t->seq);
	pthread_mutex_unlock(&wb->lock);
	if (walbuf_truncate_queued != NULL)
		walbuf_truncate_queued(size);
	return SQLITE_OK;
}

static int wal_sync(sqlite3_file *f, int flags)
{
	struct wb_file *w = (struct wb_file *)f;

	if (walbuf_wait(w->wb, UINT64_MAX) != 0)
		return SQLITE_IOERR_FSYNC;
	return w->real->pMethods->xSync(w->real, flags);
}

/* Under the lock, so that what the file holds and what is pending agree:
 * a write or truncation leaves the list only after it is made, and one
 * made but still listed comes out the same when applied again. */
static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wb_file *w = (struct wb_file *)f;
	struct walbuf *wb = w->wb;
	int rc;

	pthread_mutex_lock(&wb->lock);
	rc = w->real->pMethods->xFileSize(w->real, size);
	if (rc == SQLITE_OK)
		*size = walbuf_logical_size(wb, *size);
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

/* The rest goes to the real file. */
#define REAL(f) (((struct wb_file *)(f))->real)

static int wal_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int wal_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int wal_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int wal_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int wal_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int wal_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, pp);
}
static int wal_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void wal_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int wal_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
/* Never memory-mapped: every read goes through wal_read. */
static int wal_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	(void)f;
	(void)off;
	(void)amt;
	*pp = NULL;
	return SQLITE_OK;
}
static int wal_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	(void)f;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static const sqlite3_io_methods wal_methods = {
	.iVersion = 3,
	.xClose = wal_close,
	.xRead = wal_read,
	.xWrite = wal_write,
	.xTruncate = wal_truncate,
	.xSync = wal_sync,
	.xFileSize = wal_file_size,
	.xLock = wal_lock,
	.xUnlock = wal_unlock,
	.xCheckReservedLock = wal_check_reserved,
	.xFileControl = wal_file_control,
	.xSectorSize = wal_sector_size,
	.xDeviceCharacteristics = wal_device,
	.xShmMap = wal_shm_map,
	.xShmLock = wal_shm_lock,
	.xShmBarrier = wal_shm_barrier,
	.xShmUnmap = wal_shm_unmap,
	.xFetch = wal_fetch,
	.xUnfetch = wal_unfetch,
};

/* --- the VFS --- */

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
		    int *out_flags)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	if (!(flags & SQLITE_OPEN_WAL) || name == NULL)
		return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	memset(w, 0, sizeof *w);
	w->real = (sqlite3_file *)(w + 1);
	rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	w->wb = walbuf_get(name);
	if (w->wb == NULL) {
		if (w->real->pMethods != NULL)
			w->real->pMethods->xClose(w->real);
		return SQLITE_CANTOPEN;
	}
	w->flushed_reads = vfs == &vfs_flushed;
	w->base.pMethods = &wal_methods;
	return SQLITE_OK;
}

static int register_rc = SQLITE_ERROR;

static void register_once(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	if (real_vfs == NULL)
		return;
	vfs_plain = *real_vfs;
	vfs_plain.szOsFile = (int)sizeof(struct wb_file) + real_vfs->szOsFile;
	vfs_plain.pNext = NULL;
	vfs_plain.xOpen = vfs_open;
	vfs_flushed = vfs_plain;
	vfs_plain.zName = WALBUF_VFS;
	vfs_flushed.zName = WALBUF_VFS_FLUSHED;
	register_rc = sqlite3_vfs_register(&vfs_flushed, 0);
	if (register_rc == SQLITE_OK)
		register_rc = sqlite3_vfs_register(&vfs_plain, 1);
}

int walbuf_register(char *errmsg)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_once);
	if (register_rc != SQLITE_OK)
		return esc_errorf(errmsg, ESC_EDB, "cannot register the %s VFS: %s", WALBUF_VFS,
				  sqlite3_errstr(register_rc));
	return ESC_OK;
}
