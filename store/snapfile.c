/* The snapshot file of docs/api.md section 6: its header, writing a payload from
 * a live database, and checking and restoring a file. Files are streamed in
 * SNAPFILE_CHUNK pieces: a database is never held in memory. */
#include "store/snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/durable.h"
#include "lib/error.h"
#include "store/store_internal.h"

#define SNAPFILE_CHUNK (1024 * 1024)
#define SNAPFILE_PAYLOAD_MIN 512 /* one page: the smallest SQLite database */
#define SNAPFILE_PATH_MAX 4096
#define SQLITE_HEADER_SIZE 100
#define SNAPFILE_BUSY_MS 10000

static void put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* A NUL-terminated string of exactly len hex digits. */
static bool is_hex_string(const char *s, size_t len)
{
	return strnlen(s, len + 1) == len && is_hex(s, len);
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 || errno != ENOENT;
}

void snapfile_header_encode(const struct snapfile_header *h, uint8_t out[SNAPFILE_HEADER_SIZE])
{
	memset(out, 0, SNAPFILE_HEADER_SIZE);
	memcpy(out, SNAPFILE_MAGIC, 8);
	put_le(out + 8, SNAPFILE_VERSION, 4);
	put_le(out + 12, SNAPFILE_HEADER_SIZE, 4);
	put_le(out + 16, h->index, 8);
	put_le(out + 24, h->term, 8);
	put_le(out + 32, (uint64_t)h->created_ms, 8);
	put_le(out + 40, h->payload_len, 8);
	memcpy(out + 48, h->sha256, 32);
	memcpy(out + 80, h->cluster_id, strnlen(h->cluster_id, 32));
	memcpy(out + 112, h->seal_fingerprint, strnlen(h->seal_fingerprint, 16));
	/* A failing digest leaves zeros, which no decoder accepts. */
	EVP_Digest(out, SNAPFILE_HEADER_HASHED, out + SNAPFILE_HEADER_HASHED, NULL,
		   EVP_sha256(), NULL);
}

int snapfile_header_decode(const uint8_t *buf, size_t len, struct snapfile_header *h,
			   char *errmsg)
{
	uint8_t sum[EVP_MAX_MD_SIZE];
	uint32_t version, hlen;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "snapshot: the file is empty");
	if (memcmp(buf, SNAPFILE_MAGIC, len < 8 ? len : 8) != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: not a snapshot file (bad magic)");
	if (len < SNAPFILE_HEADER_SIZE)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: file has %zu bytes, shorter than its %d-byte header",
				  len, SNAPFILE_HEADER_SIZE);
	/* The version decides the layout, so it is read before anything else
	 * that a later format might move. */
	version = (uint32_t)get_le(buf + 8, 4);
	if (version != SNAPFILE_VERSION)
		return esc_errorf(errmsg, ESC_EVERSION,
				  "snapshot: format version %u is not supported (this build "
				  "reads %d)", version, SNAPFILE_VERSION);
	if (EVP_Digest(buf, SNAPFILE_HEADER_HASHED, sum, NULL, EVP_sha256(), NULL) != 1)
		return esc_errorf(errmsg, ESC_ECRYPTO, "snapshot: SHA-256 failed");
	if (memcmp(sum, buf + SNAPFILE_HEADER_HASHED, 32) != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: header checksum mismatch: the header is damaged");
	hlen = (uint32_t)get_le(buf + 12, 4);
	if (hlen != SNAPFILE_HEADER_SIZE)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: header length %u, format version %d has %d", hlen,
				  SNAPFILE_VERSION, SNAPFILE_HEADER_SIZE);
	h->index = get_le(buf + 16, 8);
	h->term = get_le(buf + 24, 8);
	h->created_ms = (int64_t)get_le(buf + 32, 8);
	h->payload_len = get_le(buf + 40, 8);
	memcpy(h->sha256, buf + 48, 32);
	if (h->payload_len < SNAPFILE_PAYLOAD_MIN ||
	    h->payload_len > (uint64_t)INT64_MAX - SNAPFILE_HEADER_SIZE)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: the header announces a payload of %llu bytes, "
				  "which is no database", (unsigned long long)h->payload_len);
	if (!is_hex((const char *)buf + 80, 32))
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: the header's cluster id is not 32 hex characters");
	if (!is_hex((const char *)buf + 112, 16))
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: the header's seal key fingerprint is not 16 hex "
				  "characters");
	memcpy(h->cluster_id, buf + 80, 32);
	h->cluster_id[32] = '\0';
	memcpy(h->seal_fingerprint, buf + 112, 16);
	h->seal_fingerprint[16] = '\0';
	return ESC_OK;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens path with its own connection; flags as for sqlite3_open_v2. The
 * file may come from anywhere: nothing in it runs with our trust. */
static int db_open(const char *path, int flags, sqlite3 **out, char *errmsg)
{
	sqlite3 *db = NULL;
	int rc, rv;

	rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rv = store_db_error(db, rc, "open", errmsg);
		sqlite3_close(db);
		return rv;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, SNAPFILE_BUSY_MS);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	rv = store_exec(db, "PRAGMA trusted_schema = OFF", errmsg);
	if (rv != ESC_OK) {
		sqlite3_close(db);
		return rv;
	}
	*out = db;
	return ESC_OK;
}

/* Writes a consistent copy of db_path to tmp_path. VACUUM INTO reads inside
 * one read transaction of this connection, so the live writer goes on. The
 * copy is a scratch file, sent and removed (the client makes its own file
 * durable): VACUUM INTO syncs its output as the connection's synchronous
 * setting says, and with it off the copy need not reach the disk at all. */
static int vacuum_into(const char *db_path, const char *tmp_path, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int rc, rv;

	rv = db_open(db_path, SQLITE_OPEN_READONLY, &db, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = store_exec(db, "PRAGMA synchronous = OFF", errmsg);
	if (rv != ESC_OK) {
		sqlite3_close(db);
		return rv;
	}
	rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, tmp_path, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	rv = rc == SQLITE_DONE ? ESC_OK : store_db_error(db, rc, "copy the database", errmsg);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

/* Marks the copy as a rollback-journal database (header bytes 18 and 19),
 * as store/image.c does for images: the payload opens anywhere alone. */
static int payload_unwal(const char *path, char *errmsg)
{
	uint8_t hdr[SQLITE_HEADER_SIZE];
	static const uint8_t one[2] = { 1, 1 };
	int fd, rv = ESC_OK;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "open %s: %s", path, strerror(errno));
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		rv = esc_errorf(errmsg, ESC_EIO, "read %s: short or failed read", path);
	else if ((hdr[18] != 1 || hdr[19] != 1) && pwrite(fd, one, 2, 18) != 2)
		rv = esc_errorf(errmsg, ESC_EIO, "write %s: %s", path, strerror(errno));
	if (close(fd) != 0 && rv == ESC_OK)
		rv = esc_errorf(errmsg, ESC_EIO, "write %s: %s", path, strerror(errno));
	return rv;
}

/* Reads meta applied_index and cluster_id of the copy into h. */
static int copy_read_meta(const char *path, struct snapfile_header *h, char *errmsg)
{
	static const char sql[] = "SELECT (SELECT v FROM meta WHERE k = 'applied_index'),"
				  " (SELECT v FROM meta WHERE k = 'cluster_id')";
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	const char *cid;
	int rc, rv;

	rv = db_open(path, SQLITE_OPEN_READONLY, &db, errmsg);
	if (rv != ESC_OK)
		return rv;
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = store_db_error(db, rc, "read meta", errmsg);
		goto out;
	}
	cid = (const char *)sqlite3_column_text(st, 1);
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || sqlite3_column_int64(st, 0) < 0) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT, "meta has no valid applied_index");
		goto out;
	}
	if (cid == NULL || !is_hex_string(cid, CMD_CLUSTER_ID_LEN)) {
		rv = esc_errorf(errmsg, ESC_EINVAL,
				"the database has no cluster id yet (the cluster was never "
				"initialised)");
		goto out;
	}
	h->index = (uint64_t)sqlite3_column_int64(st, 0);
	memcpy(h->cluster_id, cid, CMD_CLUSTER_ID_LEN + 1);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

/* SHA-256 and length of a whole file, read in SNAPFILE_CHUNK pieces. */
static int file_sha256(const char *path, uint8_t sum[32], uint64_t *len, char *errmsg)
{
	EVP_MD_CTX *ctx;
	uint8_t *buf;
	ssize_t n;
	int fd, rv = ESC_OK;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "open %s: %s", path, strerror(errno));
	buf = malloc(SNAPFILE_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (buf == NULL || ctx == NULL) {
		rv = esc_errorf(errmsg, ESC_ENOMEM, "hash %s: out of memory", path);
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "hash %s: SHA-256 failed", path);
		goto out;
	}
	while ((n = durable_read(fd, buf, SNAPFILE_CHUNK)) > 0) {
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			rv = esc_errorf(errmsg, ESC_ECRYPTO, "hash %s: SHA-256 failed", path);
			goto out;
		}
		*len += (uint64_t)n;
	}
	if (n < 0)
		rv = esc_errorf(errmsg, ESC_EIO, "read %s: %s", path, strerror(errno));
	else if (EVP_DigestFinal_ex(ctx, sum, NULL) != 1)
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "hash %s: SHA-256 failed", path);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return rv;
}

/* Removes a database file we made and the journal SQLite may have left. */
static void db_unlink(const char *path)
{
	char journal[SNAPFILE_PATH_MAX + 16];

	unlink(path);
	snprintf(journal, sizeof(journal), "%s-journal", path);
	unlink(journal);
}

int snapfile_prepare(const char *db_path, const char *tmp_path, const char *seal_fingerprint,
		     struct snapfile_header *h, char *errmsg)
{
	int rv;

	memset(h, 0, sizeof(*h));
	if (!is_hex_string(seal_fingerprint, 16))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "snapshot: seal key fingerprint is not 16 hex characters");
	if (strlen(tmp_path) >= SNAPFILE_PATH_MAX)
		return esc_errorf(errmsg, ESC_EINVAL, "snapshot: temporary path too long");
	if (path_exists(tmp_path))
		return esc_errorf(errmsg, ESC_EINVAL, "snapshot: %s already exists", tmp_path);
	h->created_ms = now_ms();
	rv = vacuum_into(db_path, tmp_path, errmsg);
	if (rv != ESC_OK)
		goto err;
	rv = payload_unwal(tmp_path, errmsg);
	if (rv != ESC_OK)
		goto err;
	rv = copy_read_meta(tmp_path, h, errmsg);
	if (rv != ESC_OK)
		goto err;
	rv = file_sha256(tmp_path, h->sha256, &h->payload_len, errmsg);
	if (rv != ESC_OK)
		goto err;
	memcpy(h->seal_fingerprint, seal_fingerprint, 17);
	return ESC_OK;

err:
	db_unlink(tmp_path);
	esc_errprefix(errmsg, "snapshot");
	return rv;
}

/* Opens the checked copy and holds it to this build's rules. */
static int payload_check_db(const char *path, uint64_t index, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int64_t have;
	int rc, rv;

	/* Writable: a payload of an older build is upgraded in this copy. */
	rv = db_open(path, SQLITE_OPEN_READWRITE, &db, errmsg);
	if (rv != ESC_OK)
		goto out;
	rv = store_check_db(db, errmsg);
	if (rv != ESC_OK)
		goto out;
	rc = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'applied_index'", -1, &st,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = store_db_error(db, rc, "read meta", errmsg);
		goto out;
	}
	have = sqlite3_column_int64(st, 0);
	if (have < 0 || (uint64_t)have != index)
		rv = esc_errorf(errmsg, ESC_ECORRUPT,
				"it is at index %lld but the header says %llu",
				(long long)have, (unsigned long long)index);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (rv != ESC_OK)
		esc_errprefix(errmsg, "snapshot: the payload database is refused");
	return rv;
}

/* The SQLite header of the payload, before SQLite reads it. */
static int payload_check_header(const uint8_t *p, char *errmsg)
{
	if (memcmp(p, "SQLite format 3", 16) != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: the payload is not a SQLite database");
	if (p[18] != 1 || p[19] != 1)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "snapshot: the payload database is not in rollback-journal mode");
	return ESC_OK;
}

/* Streams the payload of fd (positioned after the header) into out,
 * hashing it, and checks the hash against h. */
static int payload_copy(int fd, int out, const char *path, const struct snapfile_header *h,
			char *errmsg)
{
	uint8_t sum[EVP_MAX_MD_SIZE], first[SQLITE_HEADER_SIZE];
	uint64_t done = 0, want;
	EVP_MD_CTX *ctx;
	uint8_t *buf;
	ssize_t n;
	int rv = ESC_OK;

	buf = malloc(SNAPFILE_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (buf == NULL || ctx == NULL) {
		rv = esc_errorf(errmsg, ESC_ENOMEM, "snapshot: out of memory");
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "snapshot: SHA-256 failed");
		goto out;
	}
	while (done < h->payload_len) {
		want = h->payload_len - done;
		n = durable_read(fd, buf, want < SNAPFILE_CHUNK ? (size_t)want : SNAPFILE_CHUNK);
		if (n < 0) {
			rv = esc_errorf(errmsg, ESC_EIO, "snapshot: read %s: %s", path,
					strerror(errno));
			goto out;
		}
		if (n == 0) {
			rv = esc_errorf(errmsg, ESC_ECORRUPT,
					"snapshot: %s ended after %llu of %llu payload bytes (it "
					"changed while being read)", path,
					(unsigned long long)done,
					(unsigned long long)h->payload_len);
			goto out;
		}
		if (done < SQLITE_HEADER_SIZE)
			memcpy(first + done, buf,
			       (size_t)n < SQLITE_HEADER_SIZE - done ? (size_t)n :
								      SQLITE_HEADER_SIZE - done);
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			rv = esc_errorf(errmsg, ESC_ECRYPTO, "snapshot: SHA-256 failed");
			goto out;
		}
		if (durable_write(out, buf, (size_t)n) != 0) {
			rv = esc_errorf(errmsg, ESC_EIO, "snapshot: write a temporary copy: %s",
					strerror(errno));
			goto out;
		}
		done += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(ctx, sum, NULL) != 1) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "snapshot: SHA-256 failed");
		goto out;
	}
	if (memcmp(sum, h->sha256, 32) != 0) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT,
				"snapshot: payload checksum mismatch: the file is damaged");
		goto out;
	}
	rv = payload_check_header(first, errmsg);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rv;
}

/* Checks the snapshot at path and leaves its payload in a new file made from
 * tmpl (mkstemp; tmpl gets the name), not yet fsynced. Every check is made
 * on the bytes of that copy, so what passed is what a restore installs. On
 * error no copy is left. */
static int snap_check(const char *path, char *tmpl, struct snapfile_header *h, char *errmsg)
{
	uint8_t hdr[SNAPFILE_HEADER_SIZE];
	struct stat st;
	ssize_t n;
	int fd, out, rv;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return esc_errorf(errmsg, errno == ENOENT ? ESC_ENOTFOUND : ESC_EIO,
				  "snapshot: cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rv = esc_errorf(errmsg, ESC_EIO, "snapshot: %s is not a regular file", path);
		goto err_close;
	}
	n = durable_read(fd, hdr, sizeof(hdr));
	if (n < 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "snapshot: read %s: %s", path, strerror(errno));
		goto err_close;
	}
	rv = snapfile_header_decode(hdr, (size_t)n, h, errmsg);
	if (rv != ESC_OK)
		goto err_close;
	if ((uint64_t)st.st_size != SNAPFILE_HEADER_SIZE + h->payload_len) {
		rv = esc_errorf(errmsg, ESC_ECORRUPT,
				"snapshot: file has %lld bytes, the header announces %d + %llu",
				(long long)st.st_size, SNAPFILE_HEADER_SIZE,
				(unsigned long long)h->payload_len);
		goto err_close;
	}
	out = mkostemp(tmpl, O_CLOEXEC);
	if (out < 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "snapshot: create a temporary copy %s: %s", tmpl,
				strerror(errno));
		goto err_close;
	}
	rv = payload_copy(fd, out, path, h, errmsg);
	if (close(out) != 0 && rv == ESC_OK)
		rv = esc_errorf(errmsg, ESC_EIO, "snapshot: write %s: %s", tmpl, strerror(errno));
	if (rv == ESC_OK)
		rv = payload_check_db(tmpl, h->index, errmsg);
	if (rv != ESC_OK)
		goto err_unlink;
	close(fd);
	return ESC_OK;

err_unlink:
	db_unlink(tmpl);
err_close:
	close(fd);
	return rv;
}

int snapfile_verify(const char *path, const char *tmp_dir, struct snapfile_header *h,
		    char *errmsg)
{
	char tmpl[SNAPFILE_PATH_MAX];
	int rv;

	memset(h, 0, sizeof(*h));
	if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s/.escrow-snapshot-XXXXXX", tmp_dir) >=
	    sizeof(tmpl))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "snapshot: temporary directory path too long");
	rv = snap_check(path, tmpl, h, errmsg);
	if (rv == ESC_OK)
		db_unlink(tmpl);
	return rv;
}

/* Gives the checked copy its new cluster's meta. */
static int restore_meta(const char *path, const char *cluster_id, const char *members,
			char *errmsg)
{
	static const char sql[] = "INSERT OR REPLACE INTO meta (k, v) VALUES"
				  " ('applied_index', 0), ('cluster_id', ?1), ('members', ?2)";
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int rc, rv;

	rv = db_open(path, SQLITE_OPEN_READWRITE, &db, errmsg);
	if (rv != ESC_OK)
		goto out;
	rv = store_exec(db, "PRAGMA synchronous = FULL", errmsg);
	if (rv != ESC_OK)
		goto out;
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, cluster_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, members, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		rv = store_db_error(db, rc, "rewrite meta", errmsg);
out:
	sqlite3_finalize(st);
	if (db != NULL && sqlite3_close(db) != SQLITE_OK && rv == ESC_OK)
		rv = esc_errorf(errmsg, ESC_EDB, "rewrite meta: close failed");
	if (rv != ESC_OK)
		esc_errprefix(errmsg, "snapshot: restore");
	return rv;
}

static int restore_check_args(const char *db_path, const char *cluster_id,
			      const char *members, char *errmsg)
{
	static const char *const suffixes[] = { "", "-wal", "-journal" };
	char p[SNAPFILE_PATH_MAX];
	size_t i, n;

	if (!is_hex_string(cluster_id, CMD_CLUSTER_ID_LEN))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "snapshot: restore: the new cluster id is not 32 hex characters");
	n = strnlen(members, CMD_MEMBERS_MAX + 1);
	if (n == 0 || n > CMD_MEMBERS_MAX)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "snapshot: restore: the members text is empty or over %d bytes",
				  CMD_MEMBERS_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)members[i] < 0x21 || members[i] == 0x7f)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "snapshot: restore: the members text has a blank or "
					  "control character");
	/* 64: room for the suffixes here and mkstemp's ".tmp-XXXXXX" + "-journal". */
	if (strlen(db_path) + 64 >= sizeof(p))
		return esc_errorf(errmsg, ESC_EINVAL, "snapshot: restore: database path too long");
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", db_path, suffixes[i]);
		if (path_exists(p))
			return esc_errorf(errmsg, ESC_EINVAL,
					  "snapshot: restore: %s already exists", p);
	}
	return ESC_OK;
}

int snapfile_restore(const char *path, const char *db_path, const char *new_cluster_id,
		     const char *members, struct snapfile_header *h, char *errmsg)
{
	char tmpl[SNAPFILE_PATH_MAX];
	int rv;

	memset(h, 0, sizeof(*h));
	rv = restore_check_args(db_path, new_cluster_id, members, errmsg);
	if (rv != ESC_OK)
		return rv;
	snprintf(tmpl, sizeof(tmpl), "%s.tmp-XXXXXX", db_path);
	rv = snap_check(path, tmpl, h, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = restore_meta(tmpl, new_cluster_id, members, errmsg);
	if (rv != ESC_OK)
		goto err_unlink_tmp;
	/* Refuses a db_path created meanwhile; an error after the rename
	 * removes db_path again. */
	rv = durable_sync_path(tmpl, false, errmsg);
	if (rv == ESC_OK)
		rv = durable_rename(tmpl, db_path, true, errmsg);
	if (rv != ESC_OK) {
		esc_errprefix(errmsg, "snapshot: restore");
		goto err_unlink_tmp;
	}
	return ESC_OK;

err_unlink_tmp:
	db_unlink(tmpl);
	return rv;
}
