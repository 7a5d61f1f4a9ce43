/* Unit tests of store/snapfile: the snapshot file's header, taking a
 * snapshot of a live store, and checking and restoring files, sound and
 * hostile. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/error.h"
#include "store/seal.h"
#include "store/snapfile.h"
#include "store/store.h"
#include "tests/counting_vfs.h"
#include "tests/unit.h"

#define PW "000000-000011-000022-000033-000044-000055-000066-000077"
#define T0 1700000000000LL
#define CLUSTER "00112233445566778899aabbccddeeff"
#define NEW_CLUSTER "ffeeddccbbaa99887766554433221100"
#define FPR "0123456789abcdef"
#define MEMBERS "1=127.0.0.1:7101/127.0.0.1:8101"
#define N_KEYS 6000   /* a payload of several SNAPFILE_CHUNKs */
#define N_MACHINES 50

static char tmpdir[64];
static char live_path[128];   /* the store every snapshot is taken from */
static char good_path[128];   /* a sound snapshot file of it */
static char work_dir[128];    /* restores and verifies go here: must end up empty */
static struct seal_key seal;
static struct store *live;
static uint64_t live_index;
/* A scratch copy of prepare's, and its syncs (tests/counting_vfs.c); the
 * name is set before any thread runs. */
static char copy_path[128];
static atomic_int copy_syncs;

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void cmd_base(struct cmd *c, uint32_t type, int64_t at)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	c->node_id = 1;
	c->at_ms = at;
	snprintf(c->actor, sizeof(c->actor), "agent-7");
	snprintf(c->role, sizeof(c->role), "agent");
}

static void cmd_escrow(struct cmd *c, unsigned n)
{
	size_t len = 0;

	cmd_base(c, CMD_ESCROW, T0 + n);
	snprintf(c->key_id, sizeof(c->key_id), "%08X-0000-1111-2222-333344445555", n);
	snprintf(c->volume_id, sizeof(c->volume_id), "vol-%u", n);
	snprintf(c->volume_type, sizeof(c->volume_type), "os");
	snprintf(c->machine, sizeof(c->machine), "pc-%u", n % N_MACHINES);
	snprintf(c->user, sizeof(c->user), "CORP\\alice");
	seal_seal(&seal, c->key_id, (const uint8_t *)PW, strlen(PW), c->sealed, &len, NULL);
	c->sealed_len = (uint32_t)len;
	seal_mac(&seal, c->key_id, PW, c->pw_mac);
}

/* Applies entry index of s: CMD_INIT at 1, then escrows of key index - 1. */
static int apply_entry(struct store *s, uint64_t index, bool flush)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct store_result r;
	struct cmd c;

	if (index == 1) {
		cmd_base(&c, CMD_INIT, T0);
		snprintf(c.cluster_id, sizeof(c.cluster_id), CLUSTER);
		snprintf(c.members, sizeof(c.members), "1=127.0.0.1:7001/127.0.0.1:8001");
	} else {
		cmd_escrow(&c, (unsigned)(index - 1));
	}
	if (store_apply(s, index, &c, &r, errmsg) != ESC_OK ||
	    (flush && store_flush(s, errmsg) != ESC_OK)) {
		printf("# apply %llu: %s\n", (unsigned long long)index, errmsg);
		return -1;
	}
	return 0;
}

/* Takes a snapshot of db into out as a node would: prepare, header, payload. */
static int snapshot_write(const char *db, const char *out, struct snapfile_header *h)
{
	char tmp[160], errmsg[ESC_ERRMSG_SIZE], buf[65536];
	uint8_t hdr[SNAPFILE_HEADER_SIZE];
	FILE *in, *f;
	size_t n;
	int rv;

	snprintf(tmp, sizeof(tmp), "%s.prepare", out);
	rv = snapfile_prepare(db, tmp, FPR, h, errmsg);
	if (rv != ESC_OK) {
		printf("# snapfile_prepare: %s\n", errmsg);
		return -1;
	}
	h->term = 7;
	snapfile_header_encode(h, hdr);
	in = fopen(tmp, "rb");
	f = fopen(out, "wb");
	rv = (in != NULL && f != NULL && fwrite(hdr, 1, sizeof(hdr), f) == sizeof(hdr)) ? 0 : -1;
	while (rv == 0 && in != NULL && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, f) != n)
			rv = -1;
	if (in != NULL)
		fclose(in);
	if (f != NULL && fclose(f) != 0)
		rv = -1;
	unlink(tmp);
	return rv;
}

static uint8_t *file_read(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	struct stat st;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (buf != NULL && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)st.st_size;
out:
	if (f != NULL)
		fclose(f);
	return buf;
}

static int file_write(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rv = 0;

	if (f == NULL)
		return -1;
	if (len > 0 && fwrite(buf, 1, len, f) != len)
		rv = -1;
	if (fclose(f) != 0)
		rv = -1;
	return rv;
}

/* Removes a database and its WAL files. */
static void db_remove(const char *db)
{
	char p[256];

	unlink(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
}

/* Entries in dir besides . and .. ; lists them when not expect. */
static int dir_count(const char *dir, int expect)
{
	struct dirent *d;
	DIR *dp;
	int n = 0;

	dp = opendir(dir);
	if (dp == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL)
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
			n++;
	if (n != expect) {
		rewinddir(dp);
		while ((d = readdir(dp)) != NULL)
			if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
				printf("# in %s: %s\n", dir, d->d_name);
	}
	closedir(dp);
	return n;
}

/* verify and restore both refuse path with code and a message containing
 * want, and leave nothing in work_dir. Returns 0 when so. */
static int refused(const char *path, int code, const char *want)
{
	char errmsg[ESC_ERRMSG_SIZE], db[160];
	struct snapfile_header h;
	int rv;

	path_in(db, sizeof(db), work_dir, "escrow.db");
	errmsg[0] = '\0';
	rv = snapfile_verify(path, work_dir, &h, errmsg);
	if (rv != code || strstr(errmsg, want) == NULL || strncmp(errmsg, "snapshot", 8) != 0) {
		printf("# verify %s: %d \"%s\", expected %d \"%s\"\n", path, rv, errmsg, code,
		       want);
		return -1;
	}
	errmsg[0] = '\0';
	rv = snapfile_restore(path, db, NEW_CLUSTER, MEMBERS, &h, errmsg);
	if (rv != code || strstr(errmsg, want) == NULL) {
		printf("# restore %s: %d \"%s\", expected %d \"%s\"\n", path, rv, errmsg, code,
		       want);
		return -1;
	}
	return dir_count(work_dir, 0) == 0 ? 0 : -1;
}

/* Writes buf (len bytes) as a hostile file and checks it is refused. */
static int hostile(const uint8_t *buf, size_t len, int code, const char *want)
{
	char path[160];
	int rv;

	path_in(path, sizeof(path), tmpdir, "hostile.snap");
	if (file_write(path, buf, len) != 0)
		return -1;
	rv = refused(path, code, want);
	unlink(path);
	return rv;
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL);
}

/* A sound header over payload (len bytes) and the file made of both. */
static uint8_t *wrap_payload(const uint8_t *payload, size_t len, uint64_t index, size_t *out_len)
{
	struct snapfile_header h;
	uint8_t *buf;

	memset(&h, 0, sizeof(h));
	h.index = index;
	h.term = 3;
	h.created_ms = T0;
	h.payload_len = len;
	sha256(payload, len, h.sha256);
	snprintf(h.cluster_id, sizeof(h.cluster_id), CLUSTER);
	snprintf(h.seal_fingerprint, sizeof(h.seal_fingerprint), FPR);
	buf = malloc(SNAPFILE_HEADER_SIZE + len);
	if (buf == NULL)
		return NULL;
	snapfile_header_encode(&h, buf);
	memcpy(buf + SNAPFILE_HEADER_SIZE, payload, len);
	*out_len = SNAPFILE_HEADER_SIZE + len;
	return buf;
}

TEST(header_round_trip)
{
	struct snapfile_header a, b;
	uint8_t buf[SNAPFILE_HEADER_SIZE];
	char errmsg[ESC_ERRMSG_SIZE];

	memset(&a, 0, sizeof(a));
	a.index = 0x0102030405060708ULL;
	a.term = 42;
	a.created_ms = T0;
	a.payload_len = 4096;
	memset(a.sha256, 0xab, 32);
	snprintf(a.cluster_id, sizeof(a.cluster_id), CLUSTER);
	snprintf(a.seal_fingerprint, sizeof(a.seal_fingerprint), FPR);
	snapfile_header_encode(&a, buf);
	CHECK(memcmp(buf, "ESCROWSN", 8) == 0);
	CHECK_INT(buf[8], 1);
	CHECK_INT(buf[12], 160);
	CHECK_INT(buf[16], 0x08); /* little-endian */
	CHECK_INT(snapfile_header_decode(buf, sizeof(buf), &b, errmsg), ESC_OK);
	CHECK(b.index == a.index);
	CHECK_INT(b.term, 42);
	CHECK_INT(b.created_ms, T0);
	CHECK_INT(b.payload_len, 4096);
	CHECK(memcmp(b.sha256, a.sha256, 32) == 0);
	CHECK_STR(b.cluster_id, CLUSTER);
	CHECK_STR(b.seal_fingerprint, FPR);
	/* Short buffers: every length below the header is refused. */
	CHECK_INT(snapfile_header_decode(buf, 0, &b, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "empty") != NULL);
	CHECK_INT(snapfile_header_decode(buf, 159, &b, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "shorter than its 160-byte header") != NULL);
	/* A payload too small to be a database, with a sound header hash. */
	a.payload_len = 100;
	snapfile_header_encode(&a, buf);
	CHECK_INT(snapfile_header_decode(buf, sizeof(buf), &b, errmsg), ESC_ECORRUPT);
	/* A cluster id that is not hex, with a sound header hash. */
	a.payload_len = 4096;
	a.cluster_id[5] = 'x';
	snapfile_header_encode(&a, buf);
	CHECK_INT(snapfile_header_decode(buf, sizeof(buf), &b, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "cluster id") != NULL);
}

TEST(prepare_fills_header_from_the_copy)
{
	char tmp[160], errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;
	uint8_t sum[32], *buf;
	size_t len = 0;
	int64_t now = (int64_t)time(NULL) * 1000;

	path_in(tmp, sizeof(tmp), tmpdir, "prepare.tmp");
	CHECK_INT(snapfile_prepare(live_path, tmp, FPR, &h, errmsg), ESC_OK);
	buf = file_read(tmp, &len);
	unlink(tmp);
	CHECK(buf != NULL);
	sha256(buf, len, sum);
	CHECK(memcmp(sum, h.sha256, 32) == 0);
	CHECK_INT(h.payload_len, len);
	CHECK(memcmp(buf, "SQLite format 3", 16) == 0);
	CHECK_INT(buf[18], 1); /* rollback journal mode */
	CHECK_INT(buf[19], 1);
	free(buf);
	CHECK_INT(h.index, live_index);
	CHECK_INT(h.term, 0);
	CHECK_STR(h.cluster_id, CLUSTER);
	CHECK_STR(h.seal_fingerprint, FPR);
	CHECK(h.created_ms >= now - 5000 && h.created_ms <= now + 5000);
}

static void note_sync(const char *name, int open_flags, int sync_flags)
{
	(void)open_flags;
	(void)sync_flags;
	if (name != NULL && strcmp(name, copy_path) == 0)
		atomic_fetch_add(&copy_syncs, 1);
}

/* The copy is sent and removed: it need not reach the disk, and a save of a
 * large store used to wait for it to (VACUUM INTO syncs as the connection
 * says). */
TEST(prepare_leaves_its_copy_unsynced)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;
	sqlite3 *db = NULL;

	CHECK_INT(snapfile_prepare(live_path, copy_path, FPR, &h, errmsg), ESC_OK);
	CHECK_INT(atomic_load(&copy_syncs), 0);
	/* The count sees this file: a write to it, synced, is counted. */
	CHECK_INT(sqlite3_open_v2(copy_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA synchronous = FULL; CREATE TABLE synced (x)", NULL,
			       NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK(atomic_load(&copy_syncs) > 0);
	unlink(copy_path);
}

TEST(prepare_refuses_bad_arguments)
{
	char tmp[160], missing[160], fresh[160], errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;
	struct store *s = NULL;

	path_in(tmp, sizeof(tmp), tmpdir, "prepare.tmp");
	CHECK_INT(snapfile_prepare(live_path, tmp, "0123", &h, errmsg), ESC_EINVAL);
	CHECK_INT(snapfile_prepare(live_path, tmp, "0123456789abcdeX", &h, errmsg), ESC_EINVAL);
	/* tmp_path must not exist: it is left alone. */
	CHECK(file_write(tmp, (const uint8_t *)"x", 1) == 0);
	CHECK_INT(snapfile_prepare(live_path, tmp, FPR, &h, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "already exists") != NULL);
	CHECK(access(tmp, F_OK) == 0);
	unlink(tmp);
	/* No database: an error, and nothing created. */
	path_in(missing, sizeof(missing), tmpdir, "missing.db");
	CHECK(snapfile_prepare(missing, tmp, FPR, &h, errmsg) != ESC_OK);
	CHECK(access(tmp, F_OK) != 0);
	CHECK(access(missing, F_OK) != 0);
	/* A store never initialised has no cluster id to put in the header. */
	path_in(fresh, sizeof(fresh), tmpdir, "fresh.db");
	CHECK_INT(store_open(&s, fresh, errmsg), ESC_OK);
	CHECK_INT(snapfile_prepare(fresh, tmp, FPR, &h, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "no cluster id") != NULL);
	CHECK(access(tmp, F_OK) != 0);
	store_close(s);
}

TEST(verify_accepts_a_sound_file)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;
	struct stat st;

	CHECK_INT(snapfile_verify(good_path, work_dir, &h, errmsg), ESC_OK);
	CHECK_INT(h.index, live_index);
	CHECK_INT(h.term, 7);
	CHECK_STR(h.cluster_id, CLUSTER);
	CHECK_STR(h.seal_fingerprint, FPR);
	CHECK(stat(good_path, &st) == 0);
	CHECK_INT(h.payload_len + SNAPFILE_HEADER_SIZE, st.st_size);
	CHECK(h.payload_len > 2 * 1024 * 1024); /* several read chunks */
	CHECK_INT(dir_count(work_dir, 0), 0);
}

/* Keys of machine in two stores are the same records. */
static int same_machine_keys(struct store *a, struct store *b, const char *machine)
{
	struct store_key *ka = NULL, *kb = NULL;
	size_t na = 0, nb = 0, i;
	int rv = -1;

	if (store_machine_keys(a, machine, &ka, &na, NULL) != ESC_OK ||
	    store_machine_keys(b, machine, &kb, &nb, NULL) != ESC_OK || na != nb || na == 0)
		goto out;
	for (i = 0; i < na; i++)
		if (strcmp(ka[i].key_id, kb[i].key_id) != 0 ||
		    ka[i].sealed_len != kb[i].sealed_len ||
		    memcmp(ka[i].sealed, kb[i].sealed, ka[i].sealed_len) != 0 ||
		    ka[i].escrowed_at_ms != kb[i].escrowed_at_ms)
			goto out;
	rv = 0;
out:
	free(ka);
	free(kb);
	return rv;
}

TEST(restore_round_trip)
{
	char db[160], errmsg[ESC_ERRMSG_SIZE];
	uint64_t keys_a, audit_a, keys_b, audit_b;
	struct snapfile_header h;
	struct store *s = NULL;

	path_in(db, sizeof(db), work_dir, "escrow.db");
	CHECK_INT(snapfile_restore(good_path, db, NEW_CLUSTER, MEMBERS, &h, errmsg), ESC_OK);
	CHECK_INT(h.index, live_index);
	CHECK_INT(dir_count(work_dir, 1), 1); /* escrow.db alone, no temporary file */
	CHECK_INT(store_open(&s, db, errmsg), ESC_OK);
	CHECK_INT(store_applied_index(s), 0);
	CHECK_STR(store_cluster_id(s), NEW_CLUSTER);
	CHECK_STR(store_members(s), MEMBERS);
	CHECK_INT(store_counts(s, &keys_b, &audit_b, NULL), ESC_OK);
	CHECK_INT(store_counts(live, &keys_a, &audit_a, NULL), ESC_OK);
	CHECK_INT(keys_b, keys_a);
	CHECK_INT(keys_b, N_KEYS);
	CHECK_INT(audit_b, audit_a);
	CHECK(same_machine_keys(live, s, "pc-0") == 0);
	CHECK(same_machine_keys(live, s, "PC-49") == 0);
	/* The restored store takes new entries. */
	CHECK(apply_entry(s, 2, true) == 0);
	store_close(s);
	s = NULL;
	/* A second restore over it is refused, and it stays. */
	CHECK_INT(snapfile_restore(good_path, db, NEW_CLUSTER, MEMBERS, &h, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "already exists") != NULL);
	CHECK_INT(store_open(&s, db, errmsg), ESC_OK);
	CHECK_INT(store_applied_index(s), 2);
	store_close(s);
	db_remove(db);
	CHECK_INT(dir_count(work_dir, 0), 0);
}

TEST(restore_refuses_bad_arguments)
{
	char db[160], errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;

	path_in(db, sizeof(db), work_dir, "escrow.db");
	CHECK_INT(snapfile_restore(good_path, db, "abc", MEMBERS, &h, errmsg), ESC_EINVAL);
	CHECK_INT(snapfile_restore(good_path, db, NEW_CLUSTER, "", &h, errmsg), ESC_EINVAL);
	CHECK_INT(snapfile_restore(good_path, db, NEW_CLUSTER, "1=a b", &h, errmsg), ESC_EINVAL);
	/* A stale WAL next to where the database would go. */
	path_in(db, sizeof(db), work_dir, "escrow.db-wal");
	CHECK(file_write(db, (const uint8_t *)"x", 1) == 0);
	path_in(db, sizeof(db), work_dir, "escrow.db");
	CHECK_INT(snapfile_restore(good_path, db, NEW_CLUSTER, MEMBERS, &h, errmsg), ESC_EINVAL);
	CHECK(access(db, F_OK) != 0);
	path_in(db, sizeof(db), work_dir, "escrow.db-wal");
	unlink(db);
	/* Into a directory that does not exist. */
	path_in(db, sizeof(db), work_dir, "no/escrow.db");
	CHECK_INT(snapfile_restore(good_path, db, NEW_CLUSTER, MEMBERS, &h, errmsg), ESC_EIO);
	CHECK_INT(dir_count(work_dir, 0), 0);
}

TEST(missing_and_empty_files_are_refused)
{
	char path[160];

	path_in(path, sizeof(path), tmpdir, "no-such.snap");
	CHECK(refused(path, ESC_ENOTFOUND, "No such file") == 0);
	CHECK(hostile((const uint8_t *)"", 0, ESC_ECORRUPT, "the file is empty") == 0);
	CHECK(refused(tmpdir, ESC_EIO, "not a regular file") == 0);
}

TEST(truncated_files_are_refused)
{
	size_t len = 0, i;
	uint8_t *buf;
	size_t cut[9];
	const char *want;

	buf = file_read(good_path, &len);
	CHECK(buf != NULL);
	cut[0] = 0, cut[1] = 1, cut[2] = 8, cut[3] = 100, cut[4] = 159, cut[5] = 160;
	cut[6] = 161, cut[7] = len / 2, cut[8] = len - 1;
	for (i = 0; i < 9; i++) {
		want = cut[i] == 0 ? "empty" :
		       cut[i] < SNAPFILE_HEADER_SIZE ? "shorter than its 160-byte header" :
						       "the header announces 160 + ";
		if (hostile(buf, cut[i], ESC_ECORRUPT, want) != 0) {
			printf("# cut at %zu\n", cut[i]);
			free(buf);
			CHECK(0);
		}
	}
	/* One byte too many is as wrong as one too few. */
	buf[len] = 0;
	i = (size_t)hostile(buf, len + 1, ESC_ECORRUPT, "the header announces 160 + ");
	free(buf);
	CHECK(i == 0);
}

TEST(flipped_header_bytes_are_refused)
{
	size_t len = 0, i;
	uint8_t *buf;
	int code;

	buf = file_read(good_path, &len);
	CHECK(buf != NULL);
	for (i = 0; i < SNAPFILE_HEADER_SIZE; i++) {
		const char *want = i < 8 ? "bad magic" :
				   i < 12 ? "format version" : "header checksum mismatch";

		code = (i >= 8 && i < 12) ? ESC_EVERSION : ESC_ECORRUPT;
		buf[i] ^= 0x10;
		if (hostile(buf, len, code, want) != 0) {
			printf("# header byte %zu flipped\n", i);
			free(buf);
			CHECK(0);
		}
		buf[i] ^= 0x10;
	}
	free(buf);
}

TEST(flipped_payload_bytes_are_refused)
{
	size_t len = 0, i, at[7];
	uint8_t *buf;

	buf = file_read(good_path, &len);
	CHECK(buf != NULL);
	at[0] = 160, at[1] = 160 + 18, at[2] = 160 + 99, at[3] = 160 + 4096;
	at[4] = len / 2, at[5] = 160 + 1024 * 1024, at[6] = len - 1;
	for (i = 0; i < 7; i++) {
		buf[at[i]] ^= 0x01;
		if (hostile(buf, len, ESC_ECORRUPT, "payload checksum mismatch: the file is "
			    "damaged") != 0) {
			printf("# payload byte %zu flipped\n", at[i]);
			free(buf);
			CHECK(0);
		}
		buf[at[i]] ^= 0x01;
	}
	free(buf);
}

TEST(wrong_magic_and_version_are_refused)
{
	size_t len = 0;
	uint8_t *buf;
	int rv;

	buf = file_read(good_path, &len);
	CHECK(buf != NULL);
	memcpy(buf, "SQLite f", 8);
	rv = hostile(buf, len, ESC_ECORRUPT, "snapshot: not a snapshot file (bad magic)");
	memcpy(buf, SNAPFILE_MAGIC, 8);
	/* Version 7 with a header hash that matches: the version check fires. */
	buf[8] = 7;
	sha256(buf, SNAPFILE_HEADER_HASHED, buf + SNAPFILE_HEADER_HASHED);
	if (rv == 0)
		rv = hostile(buf, len, ESC_EVERSION,
			     "snapshot: format version 7 is not supported (this build reads 1)");
	/* Header length 200 with a matching hash. */
	buf[8] = 1;
	buf[12] = 200;
	sha256(buf, SNAPFILE_HEADER_HASHED, buf + SNAPFILE_HEADER_HASHED);
	if (rv == 0)
		rv = hostile(buf, len, ESC_ECORRUPT, "header length 200");
	free(buf);
	CHECK(rv == 0);
}

/* A database file written by sql, read back. */
static uint8_t *sqlite_file(const char *sql, size_t *len)
{
	char path[160];
	uint8_t *buf = NULL;
	sqlite3 *db = NULL;

	path_in(path, sizeof(path), tmpdir, "made.sqlite");
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK) {
		sqlite3_close(db);
		db = NULL;
		buf = file_read(path, len);
	}
	sqlite3_close(db);
	unlink(path);
	return buf;
}

TEST(sound_header_over_a_bad_payload_is_refused)
{
	uint8_t *payload, *file, junk[4096];
	size_t plen = 0, flen = 0;
	int rv;

	/* A foreign SQLite database: a valid header and sha256 over it. */
	payload = sqlite_file("CREATE TABLE t(x); INSERT INTO t VALUES (1);", &plen);
	CHECK(payload != NULL);
	file = wrap_payload(payload, plen, 5, &flen);
	free(payload);
	CHECK(file != NULL);
	rv = hostile(file, flen, ESC_ECORRUPT, "schema differs");
	free(file);
	CHECK(rv == 0);

	/* Not SQLite at all. */
	memset(junk, 0x41, sizeof(junk));
	file = wrap_payload(junk, sizeof(junk), 5, &flen);
	CHECK(file != NULL);
	rv = hostile(file, flen, ESC_ECORRUPT, "not a SQLite database");
	free(file);
	CHECK(rv == 0);

	/* A WAL-mode database. */
	payload = sqlite_file("PRAGMA journal_mode = WAL; CREATE TABLE t(x);", &plen);
	CHECK(payload != NULL);
	file = wrap_payload(payload, plen, 5, &flen);
	free(payload);
	CHECK(file != NULL);
	rv = hostile(file, flen, ESC_ECORRUPT, "rollback-journal");
	free(file);
	CHECK(rv == 0);
}

TEST(header_index_must_match_the_payload)
{
	uint8_t *good, *file;
	size_t len = 0, flen = 0;
	int rv;

	good = file_read(good_path, &len);
	CHECK(good != NULL);
	file = wrap_payload(good + SNAPFILE_HEADER_SIZE, len - SNAPFILE_HEADER_SIZE,
			    live_index + 1, &flen);
	free(good);
	CHECK(file != NULL);
	rv = hostile(file, flen, ESC_ECORRUPT, "but the header says");
	free(file);
	CHECK(rv == 0);
}

/* Escrows entries while the main thread takes snapshots. */
struct writer {
	struct store *s;
	uint64_t first, last;
	int failed;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	uint64_t i;

	for (i = w->first; i <= w->last; i++)
		if (apply_entry(w->s, i, true) != 0) {
			w->failed = 1;
			break;
		}
	return NULL;
}

/* Snapshots taken while another thread writes are each exactly the state
 * at their index: one key per entry after the first. */
TEST(snapshots_while_writing_are_consistent)
{
	char path[160], db[160], errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;
	struct writer w;
	struct store *s = NULL, *r = NULL;
	uint64_t keys, audit, seen[4];
	pthread_t t;
	int i;

	path_in(path, sizeof(path), tmpdir, "busy.db");
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK(apply_entry(s, 1, true) == 0);
	w.s = s, w.first = 2, w.last = 3000, w.failed = 0;
	CHECK(pthread_create(&t, NULL, writer_run, &w) == 0);
	for (i = 0; i < 4; i++) {
		char snap[160];

		snprintf(snap, sizeof(snap), "%s/busy-%d.snap", tmpdir, i);
		path_in(db, sizeof(db), work_dir, "escrow.db");
		seen[i] = 0;
		if (snapshot_write(path, snap, &h) != 0 ||
		    snapfile_restore(snap, db, NEW_CLUSTER, MEMBERS, &h, errmsg) != ESC_OK ||
		    store_open(&r, db, errmsg) != ESC_OK ||
		    store_counts(r, &keys, &audit, errmsg) != ESC_OK) {
			printf("# snapshot %d: %s\n", i, errmsg);
			keys = UINT64_MAX;
		}
		store_close(r);
		r = NULL;
		unlink(snap);
		db_remove(db);
		if (keys + 1 != h.index) {
			printf("# snapshot %d at index %llu holds %llu keys\n", i,
			       (unsigned long long)h.index, (unsigned long long)keys);
			seen[i] = UINT64_MAX;
			break;
		}
		seen[i] = h.index;
		printf("# snapshot %d: index %llu\n", i, (unsigned long long)h.index);
	}
	pthread_join(t, NULL);
	store_close(s);
	CHECK(w.failed == 0);
	for (i = 0; i < 4; i++)
		CHECK(seen[i] != UINT64_MAX && seen[i] >= 1);
	CHECK_INT(dir_count(work_dir, 0), 0);
}

static void tree_remove(const char *dir)
{
	char path[512];
	struct dirent *d;
	DIR *dp;

	dp = opendir(dir);
	if (dp == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (unlink(path) != 0)
			tree_remove(path); /* a directory */
	}
	closedir(dp);
	rmdir(dir);
}

/* The live store with N_KEYS escrows, and a snapshot file of it. */
static int fixture_setup(void)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;
	uint64_t i;

	path_in(live_path, sizeof(live_path), tmpdir, "live.db");
	path_in(good_path, sizeof(good_path), tmpdir, "good.snap");
	path_in(work_dir, sizeof(work_dir), tmpdir, "work");
	if (mkdir(work_dir, 0700) != 0 || store_open(&live, live_path, errmsg) != ESC_OK)
		return -1;
	for (i = 1; i <= N_KEYS + 1; i++)
		if (apply_entry(live, i, i % 500 == 0 || i == N_KEYS + 1) != 0)
			return -1;
	live_index = store_applied_index(live);
	/* The live connection stays open: snapshots are taken beside it. */
	return snapshot_write(live_path, good_path, &h);
}

int main(void)
{
	uint8_t raw[SEAL_KEY_SIZE];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_snapfile.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	path_in(copy_path, sizeof(copy_path), tmpdir, "unsynced.tmp");
	counting_vfs_register(note_sync, NULL);
	memset(raw, 0x5a, sizeof(raw));
	seal_key_init(&seal, raw);
	if (fixture_setup() != 0) {
		printf("Bail out! fixture setup failed\n");
		store_close(live);
		tree_remove(tmpdir);
		return 1;
	}

	RUN(header_round_trip);
	RUN(prepare_fills_header_from_the_copy);
	RUN(prepare_leaves_its_copy_unsynced);
	RUN(prepare_refuses_bad_arguments);
	RUN(verify_accepts_a_sound_file);
	RUN(restore_round_trip);
	RUN(restore_refuses_bad_arguments);
	RUN(missing_and_empty_files_are_refused);
	RUN(truncated_files_are_refused);
	RUN(flipped_header_bytes_are_refused);
	RUN(flipped_payload_bytes_are_refused);
	RUN(wrong_magic_and_version_are_refused);
	RUN(sound_header_over_a_bad_payload_is_refused);
	RUN(header_index_must_match_the_payload);
	RUN(snapshots_while_writing_are_consistent);

	store_close(live);
	seal_key_close(&seal);
	tree_remove(tmpdir);
	return unit_done();
}
