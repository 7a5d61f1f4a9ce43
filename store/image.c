/* Whole-state images for snapshots: taking one, and checking and installing one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "store/compliance_wire.h"
#include "store/image_pack.h"
#include "store/store_internal.h"

#define SQLITE_HEADER_SIZE 100
/* Pages the backup copies per step (4 MiB of 4 KiB pages). */
#define IMAGE_STEP_PAGES 1024
static const char sqlite_magic[16] = "SQLite format 3";

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Marks an image as a rollback-journal database (header bytes 18 and 19):
 * an in-memory connection cannot read a WAL-mode image, and a file written
 * from it opens anywhere. The live database stays in WAL mode. */
static void image_unwal(uint8_t *img)
{
	if (img[18] == 2 && img[19] == 2)
		img[18] = img[19] = 1;
}

int store_image_begin(struct store *s, uint64_t *index, char *cluster_id, char *errmsg)
{
	int rc, rv;

	if (s->image_pinned)
		return esc_errorf(errmsg, ESC_EBUSY, "image: another image is being taken");
	rv = store_flush(s, errmsg);
	if (rv != ESC_OK)
		return rv;
	if (s->image_db == NULL) {
		rc = sqlite3_open_v2(s->path, &s->image_db,
				     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc != SQLITE_OK) {
			rv = store_db_error(s->image_db, rc, "image: open", errmsg);
			sqlite3_close(s->image_db);
			s->image_db = NULL;
			return rv;
		}
		sqlite3_busy_timeout(s->image_db, STORE_BUSY_TIMEOUT_MS);
	}
	/* A read transaction starts at its first read: pin it now, while the
	 * flushed state is exactly the cached one. */
	rv = store_exec(s->image_db, "BEGIN; SELECT count(*) FROM meta;", errmsg);
	if (rv != ESC_OK) {
		store_exec(s->image_db, "ROLLBACK", NULL);
		return rv;
	}
	s->image_pinned = true;
	*index = s->applied_index;
	snprintf(cluster_id, CMD_CLUSTER_ID_LEN + 1, "%s", s->cluster_id);
	return ESC_OK;
}

/* Copies the pinned state into a new file at tmp, page by page (the backup
 * API): nothing of the size of the store is held in memory. */
static int image_copy_file(struct store *s, const char *tmp, char *errmsg)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc, rv;

	rc = sqlite3_open_v2(tmp, &dst,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		rv = store_db_error(dst, rc, "image: create a copy", errmsg);
		goto out;
	}
	/* A scratch file, packed and removed right after: no journal, no sync. */
	rv = store_exec(dst, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF", errmsg);
	if (rv != ESC_OK)
		goto out;
	b = sqlite3_backup_init(dst, "main", s->image_db, "main");
	if (b == NULL) {
		rv = store_db_error(dst, sqlite3_errcode(dst), "image: copy", errmsg);
		goto out;
	}
	/* The source's read transaction stays open across steps: every step
	 * reads the same pinned state. */
	while ((rc = sqlite3_backup_step(b, IMAGE_STEP_PAGES)) == SQLITE_OK)
		;
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		rv = store_db_error(dst, rc, "image: copy", errmsg);
out:
	sqlite3_close(dst);
	return rv;
}

/* The copy keeps the source's WAL marks; see image_unwal. */
static int file_unwal(int fd, char *errmsg)
{
	uint8_t mode[2];

	if (pread(fd, mode, 2, 18) != 2)
		return esc_errorf(errmsg, ESC_EIO, "image: read the copy's header: %s",
				  strerror(errno));
	if (mode[0] == 2 && mode[1] == 2 && pwrite(fd, "\1\1", 2, 18) != 2)
		return esc_errorf(errmsg, ESC_EIO, "image: mark the copy: %s", strerror(errno));
	return ESC_OK;
}

int store_image_build(struct store *s, void **image, size_t *len, char *errmsg)
{
	char *tmp;
	struct stat st;
	int fd = -1, rv;

	if (!s->image_pinned)
		return esc_errorf(errmsg, ESC_EINVAL, "image: nothing pinned");
	tmp = sqlite3_mprintf("%s%s", s->path, STORE_IMAGE_SUFFIX);
	if (tmp == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "image: out of memory");
	/* Left over by a node that stopped while taking an image. */
	if (unlink(tmp) != 0 && errno != ENOENT) {
		rv = esc_errorf(errmsg, ESC_EIO, "image: remove %s: %s", tmp, strerror(errno));
		goto out;
	}
	rv = image_copy_file(s, tmp, errmsg);
	if (rv != ESC_OK)
		goto out;
	fd = open(tmp, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "image: open the copy: %s", strerror(errno));
		goto out;
	}
	if (st.st_size < SQLITE_HEADER_SIZE) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT, "image: %lld bytes", (long long)st.st_size);
		goto out;
	}
	rv = file_unwal(fd, errmsg);
	if (rv == ESC_OK)
		rv = image_pack_fd(fd, (uint64_t)st.st_size, image, len, errmsg);
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	sqlite3_free(tmp);
	return rv;
}

void store_image_free(void *image)
{
	sqlite3_free(image);
}

static void *free_main(void *image)
{
	sqlite3_free(image);
	return NULL;
}

void store_image_free_later(void *image)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc = -1;

	if (image == NULL)
		return;
	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, free_main, image);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0)
		sqlite3_free(image);
}

void store_image_end(struct store *s)
{
	if (!s->image_pinned)
		return;
	store_exec(s->image_db, "COMMIT", NULL);
	s->image_pinned = false;
}

int store_image(struct store *s, void *(*alloc_fn)(size_t), size_t headroom,
		void **buf, size_t *len, uint64_t *index, char *errmsg)
{
	sqlite3_int64 size = 0;
	unsigned char *img;
	uint8_t *out;
	int rv = ESC_OK;

	rv = store_flush(s, errmsg);
	if (rv != ESC_OK)
		return rv;
	img = sqlite3_serialize(s->db, "main", &size, 0);
	if (img == NULL) {
		if (sqlite3_errcode(s->db) != SQLITE_OK &&
		    sqlite3_errcode(s->db) != SQLITE_NOMEM)
			return store_db_error(s->db, sqlite3_errcode(s->db),
					      "image", errmsg);
		return esc_errorf(errmsg, ESC_ENOMEM, "image: out of memory");
	}
	if (size < SQLITE_HEADER_SIZE || (uint64_t)size > SIZE_MAX - headroom) {
		rv = esc_errorf(errmsg, ESC_ETOOBIG, "image: %lld bytes",
				(long long)size);
		goto out;
	}
	out = alloc_fn(headroom + (size_t)size);
	if (out == NULL) {
		rv = esc_errorf(errmsg, ESC_ENOMEM,
				"image: out of memory for %lld bytes",
				(long long)size);
		goto out;
	}
	memcpy(out + headroom, img, (size_t)size);
	image_unwal(out + headroom);
	*buf = out;
	*len = headroom + (size_t)size;
	*index = s->applied_index;
out:
	sqlite3_free(img);
	return rv;
}

/* The fixed-size header checks SQLite itself does lazily, done up front so
 * that a truncated or padded image is refused before it is opened. */
static int check_header(const uint8_t *p, size_t len, char *errmsg)
{
	uint32_t page, pages;

	if (len < SQLITE_HEADER_SIZE || memcmp(p, sqlite_magic, 16) != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "not a SQLite database image");
	page = (uint32_t)p[16] << 8 | p[17];
	if (page == 1)
		page = 65536;
	if (page < 512 || (page & (page - 1)) != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "bad page size %u in the image header", page);
	if (len % page != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "%zu bytes is not a whole number of %u-byte "
				  "pages", len, page);
	/* The in-header page count is valid when its change counter matches. */
	pages = get_u32(p + 28);
	if (get_u32(p + 92) == get_u32(p + 24) && pages != len / page)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "the header counts %u pages, the image has %zu",
				  pages, len / page);
	return ESC_OK;
}

/* Opens a private in-memory connection on img (sqlite3_malloc64), which it
 * takes over whatever happens. */
static int image_open(unsigned char *img, size_t len, sqlite3 **out, char *errmsg)
{
	sqlite3 *mem = NULL;
	int rc, rv;

	rc = sqlite3_open_v2(":memory:", &mem,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		sqlite3_free(img);
		rv = store_db_error(mem, rc, "open image", errmsg);
		goto err;
	}
	image_unwal(img);
	/* On failure sqlite3_deserialize frees img itself. */
	rc = sqlite3_deserialize(mem, "main", img, (sqlite3_int64)len,
				 (sqlite3_int64)len,
				 SQLITE_DESERIALIZE_FREEONCLOSE |
					 SQLITE_DESERIALIZE_RESIZEABLE);
	if (rc != SQLITE_OK) {
		rv = store_db_error(mem, rc, "open image", errmsg);
		goto err;
	}
	rv = store_exec(mem, "PRAGMA trusted_schema = OFF", errmsg);
	if (rv != ESC_OK)
		goto err;
	*out = mem;
	return ESC_OK;

err:
	sqlite3_close(mem);
	return rv;
}

static int integrity_cb(void *arg, int n, char **values, char **names)
{
	int *ok = arg;

	if (n == 1 && values[0] != NULL && strcmp(values[0], "ok") == 0 && *ok < 0)
		*ok = 1;
	else
		*ok = 0;
	return 0;
}

static int check_integrity(sqlite3 *mem, char *errmsg)
{
	char *why = NULL;
	int ok = -1, rc, rv;

	rc = sqlite3_exec(mem, "PRAGMA integrity_check", integrity_cb, &ok, &why);
	if (rc != SQLITE_OK) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT, "integrity check: %s",
				why != NULL ? why : sqlite3_errstr(rc));
		sqlite3_free(why);
		return rv;
	}
	if (ok != 1)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "integrity check found damage");
	return ESC_OK;
}

/* The schema as one string: every object's type, name, table and SQL. */
static int schema_text(sqlite3 *db, char **out, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	sqlite3_str *str;
	int rc, i, rv = ESC_OK;

	rc = sqlite3_prepare_v2(db,
				"SELECT type, name, tbl_name, sql FROM sqlite_schema "
				"ORDER BY type, name",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_db_error(db, rc, "read schema", errmsg);
	str = sqlite3_str_new(db);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < 4; i++) {
			const unsigned char *t = sqlite3_column_text(st, i);

			sqlite3_str_appendf(str, "%s\x1f", t != NULL ? (const char *)t : "");
		}
		sqlite3_str_appendchar(str, 1, '\x1e');
	}
	if (rc != SQLITE_DONE)
		rv = store_db_error(db, rc, "read schema", errmsg);
	else if (sqlite3_str_errcode(str) != SQLITE_OK)
		rv = esc_errorf(errmsg, ESC_ENOMEM, "read schema: out of memory");
	*out = sqlite3_str_finish(str);
	if (rv == ESC_OK && *out == NULL)
		rv = esc_errorf(errmsg, ESC_ENOMEM, "read schema: out of memory");
	if (rv != ESC_OK) {
		sqlite3_free(*out);
		*out = NULL;
	}
	sqlite3_finalize(st);
	return rv;
}

/* The image must hold exactly this build's tables and indexes, no triggers
 * or views, and a meta table with sound values. */
static int check_schema(sqlite3 *live, sqlite3 *mem, char *errmsg)
{
	static const char meta_sql[] =
		"SELECT (SELECT v FROM meta WHERE k = 'schema_version'),"
		" (SELECT typeof(v) FROM meta WHERE k = 'applied_index'),"
		" (SELECT v FROM meta WHERE k = 'applied_index'),"
		" (SELECT typeof(v) FROM meta WHERE k = 'cluster_id'),"
		" (SELECT typeof(v) FROM meta WHERE k = 'members'),"
		" (SELECT v FROM meta WHERE k = 'policy'),"
		" (SELECT typeof(v) FROM meta WHERE k = 'policy'),"
		" (SELECT typeof(v) FROM meta WHERE k = 'policy_index'),"
		" (SELECT v FROM meta WHERE k = 'policy_index')";
	struct compliance_policy policy;
	const char *type;
	char *want = NULL, *have = NULL;
	sqlite3_stmt *st = NULL;
	int rc, rv;

	/* A later build's tables differ from ours: say so before comparing. */
	rc = sqlite3_prepare_v2(mem, "SELECT v FROM meta WHERE k = 'schema_version'", -1, &st,
				NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
	    sqlite3_column_int64(st, 0) > STORE_SCHEMA_VERSION) {
		rv = esc_errorf(errmsg, ESC_EVERSION,
				"image schema version %lld, newer than this build's %d",
				(long long)sqlite3_column_int64(st, 0), STORE_SCHEMA_VERSION);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rv = schema_text(live, &want, errmsg);
	if (rv != ESC_OK)
		goto out;
	rv = schema_text(mem, &have, errmsg);
	if (rv != ESC_OK)
		goto out;
	if (strcmp(want, have) != 0) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT,
				"its tables are not escrow's (schema differs)");
		goto out;
	}
	rc = sqlite3_prepare_v2(mem, meta_sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rv = store_db_error(mem, rc, "read image meta", errmsg);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = store_db_error(mem, rc, "read image meta", errmsg);
		goto out;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
	    sqlite3_column_int64(st, 0) != STORE_SCHEMA_VERSION) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT,
				"image schema version is not %d",
				STORE_SCHEMA_VERSION);
		goto out;
	}
	if (sqlite3_column_text(st, 1) == NULL ||
	    strcmp((const char *)sqlite3_column_text(st, 1), "integer") != 0 ||
	    sqlite3_column_int64(st, 2) < 0) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT,
				"image meta has no valid applied_index");
		goto out;
	}
	if (sqlite3_column_text(st, 3) == NULL ||
	    strcmp((const char *)sqlite3_column_text(st, 3), "text") != 0 ||
	    sqlite3_column_text(st, 4) == NULL ||
	    strcmp((const char *)sqlite3_column_text(st, 4), "text") != 0) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT,
				"image meta has no valid cluster_id or members");
		goto out;
	}
	/* The policy must load as store_load_cache loads it. */
	type = (const char *)sqlite3_column_text(st, 6);
	if (type == NULL || (strcmp(type, "null") != 0 &&
			     (strcmp(type, "blob") != 0 ||
			      compliance_policy_decode(sqlite3_column_blob(st, 5),
						       (size_t)sqlite3_column_bytes(st, 5), &policy,
						       errmsg) != ESC_OK))) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT, "image meta has no valid policy");
		goto out;
	}
	if (sqlite3_column_text(st, 7) == NULL ||
	    strcmp((const char *)sqlite3_column_text(st, 7), "integer") != 0 ||
	    sqlite3_column_int64(st, 8) < 0) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT, "image meta has no valid policy_index");
		goto out;
	}
out:
	sqlite3_finalize(st);
	sqlite3_free(have);
	sqlite3_free(want);
	return rv;
}

int store_check_db(sqlite3 *db, char *errmsg)
{
	struct store *ref = NULL;
	int rv;

	rv = check_integrity(db, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = store_schema_upgrade(db, errmsg);
	if (rv != ESC_OK)
		return rv;
	/* This build's schema, as a new store creates it. */
	rv = store_open(&ref, ":memory:", errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = check_schema(ref->db, db, errmsg);
	store_close(ref);
	return rv;
}

static int copy_into(struct store *s, sqlite3 *mem, char *errmsg)
{
	sqlite3_backup *b;
	int rc;

	b = sqlite3_backup_init(s->db, "main", mem, "main");
	if (b == NULL)
		return store_db_error(s->db, sqlite3_errcode(s->db), "install image",
				      errmsg);
	/* One step copies every page inside one write transaction on the
	 * live database: it either completes or is rolled back by finish. */
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return store_db_error(s->db, rc, "install image", errmsg);
	return ESC_OK;
}

/* Installs img (sqlite3_malloc64, header checked), which it takes over. */
static int restore_owned(struct store *s, unsigned char *img, size_t len, char *errmsg)
{
	sqlite3 *mem = NULL;
	int rv;

	rv = image_open(img, len, &mem, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = check_integrity(mem, errmsg);
	if (rv != ESC_OK)
		goto out;
	/* An image of an older build (a snapshot libraft kept) is upgraded in
	 * its private copy; the schema is then held to this build's. */
	rv = store_schema_upgrade(mem, errmsg);
	if (rv != ESC_OK)
		goto out;
	rv = check_schema(s->db, mem, errmsg);
	if (rv != ESC_OK)
		goto out;
	rv = store_flush(s, errmsg);
	if (rv == ESC_OK)
		rv = copy_into(s, mem, errmsg);
	if (rv != ESC_OK)
		goto out;
	sqlite3_close(mem);
	mem = NULL;
	/* Prepared statements survive the copy (SQLite re-prepares them on
	 * the schema change); only the cached values need reloading. */
	rv = store_load_cache(s, errmsg);
out:
	sqlite3_close(mem);
	return rv;
}

int store_restore_image(struct store *s, const void *buf, size_t len,
			char *errmsg)
{
	unsigned char *copy;
	int rv;

	rv = check_header(buf, len, errmsg);
	if (rv == ESC_OK) {
		copy = sqlite3_malloc64(len);
		if (copy == NULL)
			rv = esc_errorf(errmsg, ESC_ENOMEM, "open image: out of memory");
		else
			rv = restore_owned(s, memcpy(copy, buf, len), len, errmsg);
	}
	if (rv != ESC_OK)
		esc_errprefix(errmsg, "restore image");
	return rv;
}

int store_restore_packed(struct store *s, const void *buf, size_t len, char *errmsg)
{
	void *img = NULL;
	size_t img_len = 0;
	int rv;

	rv = image_unpack(buf, len, &img, &img_len, errmsg);
	if (rv == ESC_OK)
		rv = check_header(img, img_len, errmsg);
	if (rv == ESC_OK)
		rv = restore_owned(s, img, img_len, errmsg);
	else
		sqlite3_free(img);
	if (rv != ESC_OK)
		esc_errprefix(errmsg, "restore image");
	return rv;
}
