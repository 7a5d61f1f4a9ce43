/* A VFS for tests that sits on the default one: see counting_vfs.h. */
#include <sqlite3.h>
#include <string.h>

#include "tests/counting_vfs.h"

/* The file of the VFS below follows this struct (szOsFile makes room). */
struct counted {
	sqlite3_file base;
	const char *name; /* SQLite keeps it valid until xClose */
	int open_flags;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs counting_vfs;
static counting_vfs_sync_fn on_sync;
static counting_vfs_sleep_fn on_sleep;

static const sqlite3_io_methods counted_methods;

#define REAL(f) ((sqlite3_file *)((struct counted *)(f) + 1))

static int c_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int c_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int c_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int c_sync(sqlite3_file *f, int flags)
{
	struct counted *c = (struct counted *)f;

	if (on_sync != NULL)
		on_sync(c->name, c->open_flags, flags);
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int c_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int c_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int c_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int c_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int c_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int c_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int c_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int c_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}

static int c_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void c_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int c_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int c_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}

static int c_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods counted_methods = {
	.iVersion = 3, .xClose = c_close, .xRead = c_read, .xWrite = c_write,
	.xTruncate = c_truncate, .xSync = c_sync, .xFileSize = c_file_size,
	.xLock = c_lock, .xUnlock = c_unlock, .xCheckReservedLock = c_check_reserved,
	.xFileControl = c_file_control, .xSectorSize = c_sector_size,
	.xDeviceCharacteristics = c_device, .xShmMap = c_shm_map, .xShmLock = c_shm_lock,
	.xShmBarrier = c_shm_barrier, .xShmUnmap = c_shm_unmap, .xFetch = c_fetch,
	.xUnfetch = c_unfetch,
};

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct counted *c = (struct counted *)f;
	int rc;

	(void)vfs;
	memset(c, 0, sizeof *c);
	c->name = name;
	c->open_flags = flags;
	rc = real_vfs->xOpen(real_vfs, name, REAL(c), flags, out_flags);
	if (rc == SQLITE_OK)
		c->base.pMethods = &counted_methods;
	return rc;
}

static int c_sleep(sqlite3_vfs *vfs, int us)
{
	if (on_sleep != NULL)
		on_sleep(us);
	return real_vfs->xSleep(vfs, us);
}

void counting_vfs_register(counting_vfs_sync_fn sync_fn, counting_vfs_sleep_fn sleep_fn)
{
	on_sync = sync_fn;
	on_sleep = sleep_fn;
	real_vfs = sqlite3_vfs_find(NULL);
	counting_vfs = *real_vfs;
	counting_vfs.zName = "test-counting";
	counting_vfs.szOsFile = (int)sizeof(struct counted) + real_vfs->szOsFile;
	counting_vfs.pNext = NULL;
	counting_vfs.xOpen = c_open;
	counting_vfs.xSleep = c_sleep;
	sqlite3_vfs_register(&counting_vfs, 1);
}
