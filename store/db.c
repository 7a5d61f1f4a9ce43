/* The store's database: opening, the schema, statements and cached meta. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "store/checkpoint.h"
#include "store/compliance_wire.h"
#include "store/walbuf.h"
#include "store/store_internal.h"

/* The schema and its upgrades are in schema.c. */

/* A number macro as SQL text. */
#define SQL_NUMBER_(n) #n
#define SQL_NUMBER(n) SQL_NUMBER_(n)

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_META_SET] = "INSERT INTO meta (k, v) VALUES (?1, ?2) "
			"ON CONFLICT (k) DO UPDATE SET v = excluded.v",
	[ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
	[ST_AUDIT_MAX] = "SELECT max(seq) FROM audit",
	[ST_KEY_GET] = "SELECT " STORE_KEY_COLUMNS ", pw_mac FROM keys "
		       "WHERE key_id = ?1",
	[ST_KEY_INSERT] = "INSERT INTO keys (key_id, volume_id, volume_type, "
			  "machine, user, tpm_owner_hash, sealed, pw_mac, "
			  "escrowed_at, escrowed_by) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
			  "ON CONFLICT (key_id) DO NOTHING",
	[ST_KEY_DISCLOSE] = "UPDATE keys SET disclosed_at = ?2 "
			    "WHERE key_id = ?1 AND disclosed_at IS NULL",
	[ST_KEY_RANGE] = "SELECT " STORE_KEY_COLUMNS " FROM keys "
			 "WHERE key_id >= ?1 AND key_id < ?2 "
			 "ORDER BY key_id LIMIT ?3",
	[ST_AUDIT_INSERT] = "INSERT INTO audit (seq, at, actor, role, action, "
			    "key_id, machine, reason, note, node, outcome, idx) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
			    "?11, ?12)",
	[ST_MACHINE_KEYS] = "SELECT " STORE_KEY_COLUMNS " FROM keys "
			    "WHERE machine = ?1 "
			    "ORDER BY escrowed_at DESC, key_id",
	[ST_COUNT_KEYS] = "SELECT count(*) FROM keys",
	[ST_COUNT_AUDIT] = "SELECT count(*) FROM audit",
	[ST_AUDIT_SINCE] = "SELECT seq, at, actor, role, action, key_id, machine, reason, "
			   "note, node, outcome, idx FROM audit WHERE seq > ?1 "
			   "ORDER BY seq LIMIT ?2",

	[ST_KEY_STATE] = "SELECT machine, disclosed_at FROM keys WHERE key_id = ?1",
	[ST_KEY_RETIRE] = "UPDATE keys SET retired_at = ?3 "
			  "WHERE key_id = ?1 AND machine = ?2 AND retired_at IS NULL",
	[ST_KEY_UNRETIRE] = "UPDATE keys SET retired_at = NULL "
			    "WHERE key_id = ?1 AND machine = ?2 AND retired_at IS NOT NULL",
	[ST_MACHINE_PUT] = "INSERT INTO machines (machine, user, os, reported_at, status, "
			   "reasons, judged_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
			   "ON CONFLICT (machine) DO UPDATE SET user = excluded.user, "
			   "os = excluded.os, reported_at = excluded.reported_at, "
			   "status = excluded.status, reasons = excluded.reasons, "
			   "judged_index = excluded.judged_index",
	[ST_MACHINE_JUDGED] = "UPDATE machines SET status = ?2, reasons = ?3, "
			      "judged_index = ?4 WHERE machine = ?1",
	[ST_REPORT_PUT] = "INSERT INTO reports (machine, report) VALUES (?1, ?2) "
			  "ON CONFLICT (machine) DO UPDATE SET report = excluded.report",
	[ST_REPORT_NEXT] = "SELECT m.machine, r.report, m.status, m.reasons "
			   "FROM machines m JOIN reports r ON r.machine = m.machine "
			   "WHERE m.machine > ?1 ORDER BY m.machine LIMIT 1",
	[ST_REPORT_GET] = "SELECT r.report, m.status, m.reasons "
			  "FROM machines m JOIN reports r ON r.machine = m.machine "
			  "WHERE m.machine = ?1",
	[ST_VERDICT_ADD] = "INSERT INTO verdicts (machine, idx, at, status, reasons) "
			   "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (machine, idx) "
			   "DO UPDATE SET at = excluded.at, status = excluded.status, "
			   "reasons = excluded.reasons",
	[ST_VERDICT_TRIM] = "DELETE FROM verdicts WHERE machine = ?1 AND idx <= "
			    "(SELECT idx FROM verdicts WHERE machine = ?1 "
			    "ORDER BY idx DESC LIMIT 1 OFFSET " SQL_NUMBER(STORE_HISTORY_MAX) ")",
	[ST_EXEMPT_PUT] = "INSERT INTO exemptions (machine, until, note, at, actor) "
			  "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (machine) DO UPDATE SET "
			  "until = excluded.until, note = excluded.note, at = excluded.at, "
			  "actor = excluded.actor",
	[ST_EXEMPT_DELETE] = "DELETE FROM exemptions WHERE machine = ?1",
	[ST_MACHINE_READ] = "SELECT m.user, m.os, m.reported_at, m.status, m.reasons, "
			    "m.judged_index, r.report, e.until, e.note, e.at, e.actor "
			    "FROM machines m JOIN reports r ON r.machine = m.machine "
			    "LEFT JOIN exemptions e ON e.machine = m.machine "
			    "WHERE m.machine = ?1",
	[ST_VERDICTS_OF] = "SELECT idx, at, status, reasons FROM verdicts "
			   "WHERE machine = ?1 ORDER BY idx DESC "
			   "LIMIT " SQL_NUMBER(STORE_HISTORY_MAX),
	[ST_COMPLIANCE_PAGE] = "SELECT m.machine, m.user, m.reported_at, m.status, "
			       "m.reasons, e.until FROM machines m "
			       "LEFT JOIN exemptions e ON e.machine = m.machine "
			       "WHERE m.machine > ?1 ORDER BY m.machine",
	[ST_COMPLIANCE_COUNT] =
		"SELECT (SELECT count(*) FROM machines WHERE status = 1 AND reported_at >= ?1),"
		" (SELECT count(*) FROM machines WHERE status = 2 AND reported_at >= ?1),"
		" (SELECT count(*) FROM machines),"
		" (SELECT min(reported_at) FROM machines WHERE status = 1 AND reported_at >= ?1),"
		" (SELECT min(reported_at) FROM machines WHERE status = 2 AND reported_at >= ?1)",
	[ST_EXEMPT_ACTIVE] = "SELECT m.reported_at, m.status, e.until FROM exemptions e "
			     "JOIN machines m ON m.machine = e.machine WHERE e.until > ?1",
	[ST_MACHINES_FROM] = "SELECT m.machine, m.user, m.reported_at, m.status, "
			     "m.reasons, e.until FROM machines m "
			     "LEFT JOIN exemptions e ON e.machine = m.machine "
			     "WHERE m.machine >= ?1 ORDER BY m.machine",
	/* Both look among one key's audit entries. INDEXED BY: with no
	 * statistics SQLite took audit_action for ST_READ_SEEN, so every
	 * lookup walked every key.read entry ever written (360 lookups/s at
	 * 64 clients after some 100,000 reads); with an index of the key alone
	 * it walked every entry of its key. audit_key_at (schema version 5)
	 * holds the key and the time: a read's check goes straight to it. */
	[ST_AUDIT_SEEN] = "SELECT 1 FROM audit INDEXED BY audit_key_at "
			  "WHERE key_id = ?1 AND outcome = ?2 LIMIT 1",
	[ST_READ_SEEN] = "SELECT 1 FROM audit INDEXED BY audit_key_at "
			 "WHERE key_id = ?1 AND at = ?2 AND node = ?3 AND "
			 "actor = ?4 AND action = 'key.read' AND outcome = 'disclosed' LIMIT 1",
};


int store_db_error(sqlite3 *db, int rc, const char *what, char *errmsg)
{
	const char *why = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return esc_errorf(errmsg, ESC_ENOMEM, "%s: out of memory", what);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return esc_errorf(errmsg, ESC_ECORRUPT, "%s: %s", what, why);
	default:
		return esc_errorf(errmsg, ESC_EDB, "%s: %s", what, why);
	}
}

int store_exec(sqlite3 *db, const char *sql, char *errmsg)
{
	char *why = NULL;
	int rc, rv;

	rc = sqlite3_exec(db, sql, NULL, NULL, &why);
	if (rc == SQLITE_OK)
		return ESC_OK;
	rv = store_db_error(NULL, rc, "sql", errmsg);
	if (why != NULL) {
		/* sqlite3_exec's own message is more precise than errstr. */
		esc_errorf(errmsg, rv, "%s", why);
		sqlite3_free(why);
	}
	return rv;
}

int store_step_done(struct store *s, enum store_stmt which, const char *what,
		    char *errmsg)
{
	sqlite3_stmt *st = s->st[which];
	int rc, rv = ESC_OK;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rv = store_db_error(s->db, rc, what, errmsg);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

void store_copy_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = 0;

	if (t != NULL) {
		n = (size_t)sqlite3_column_bytes(st, col);
		if (n > size - 1)
			n = size - 1;
		memcpy(out, t, n);
	}
	out[n] = '\0';
}

void store_row_key(sqlite3_stmt *st, struct store_key *k)
{
	const void *b;
	size_t n;

	store_copy_text(st, 0, k->key_id, sizeof(k->key_id));
	store_copy_text(st, 1, k->volume_id, sizeof(k->volume_id));
	store_copy_text(st, 2, k->volume_type, sizeof(k->volume_type));
	store_copy_text(st, 3, k->machine, sizeof(k->machine));
	store_copy_text(st, 4, k->user, sizeof(k->user));
	store_copy_text(st, 5, k->tpm_owner_hash, sizeof(k->tpm_owner_hash));
	b = sqlite3_column_blob(st, 6);
	n = (size_t)sqlite3_column_bytes(st, 6);
	if (b == NULL || n > sizeof(k->sealed))
		n = 0; /* opening an empty blob fails as corrupt later */
	if (n > 0)
		memcpy(k->sealed, b, n);
	k->sealed_len = (uint32_t)n;
	k->escrowed_at_ms = sqlite3_column_int64(st, 7);
	k->disclosed_at_ms = sqlite3_column_type(st, 8) == SQLITE_NULL ?
				     0 : sqlite3_column_int64(st, 8);
	k->escrowed_by = (uint32_t)sqlite3_column_int64(st, 9);
	k->retired_at_ms = sqlite3_column_type(st, 10) == SQLITE_NULL ?
				   0 : sqlite3_column_int64(st, 10);
}

int store_keys_reserve(struct store *s, size_t n, char *errmsg)
{
	struct store_key *keys;
	size_t cap;

	if (n <= s->keys_cap)
		return ESC_OK;
	cap = s->keys_cap ? s->keys_cap : 4;
	while (cap < n)
		cap *= 2;
	keys = realloc(s->keys, cap * sizeof(*keys));
	if (keys == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "key records: out of memory");
	s->keys = keys;
	s->keys_cap = cap;
	return ESC_OK;
}

/* Steps ST_META_GET for k. When *found, its row is current and the caller
 * reads column 0, then resets the statement. */
static int meta_get(struct store *s, const char *k, char *errmsg, int *found)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	int rc, rv;

	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*found = 1;
		return ESC_OK;
	}
	*found = 0;
	rv = rc == SQLITE_DONE ? ESC_OK :
				 store_db_error(s->db, rc, "read meta", errmsg);
	sqlite3_reset(st);
	return rv;
}

static int load_text(struct store *s, const char *k, char *out, size_t size,
		     char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	int found, rv;

	rv = meta_get(s, k, errmsg, &found);
	if (rv != ESC_OK)
		return rv;
	if (!found)
		return esc_errorf(errmsg, ESC_ECORRUPT, "meta has no %s", k);
	store_copy_text(st, 0, out, size);
	sqlite3_reset(st);
	return ESC_OK;
}

/* meta policy (NULL: the default), policy_index and rejudge_after into the
 * cache. */
static int load_policy(struct store *s, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	int64_t index;
	int found, rv;

	rv = meta_get(s, "policy", errmsg, &found);
	if (rv != ESC_OK)
		return rv;
	if (!found)
		return esc_errorf(errmsg, ESC_ECORRUPT, "meta has no policy");
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		compliance_policy_default(&s->policy);
	} else {
		rv = compliance_policy_decode(sqlite3_column_blob(st, 0),
					      (size_t)sqlite3_column_bytes(st, 0), &s->policy,
					      errmsg);
		if (rv != ESC_OK) {
			sqlite3_reset(st);
			esc_errprefix(errmsg, "meta policy");
			return rv;
		}
	}
	sqlite3_reset(st);

	rv = meta_get(s, "policy_index", errmsg, &found);
	if (rv != ESC_OK)
		return rv;
	if (!found)
		return esc_errorf(errmsg, ESC_ECORRUPT, "meta has no policy_index");
	index = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (index < 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "meta policy_index is negative");
	s->policy_index = (uint64_t)index;

	rv = meta_get(s, "rejudge_after", errmsg, &found);
	if (rv != ESC_OK)
		return rv;
	if (!found)
		return esc_errorf(errmsg, ESC_ECORRUPT, "meta has no rejudge_after");
	s->rejudging = sqlite3_column_type(st, 0) != SQLITE_NULL;
	s->rejudge_after[0] = '\0';
	if (s->rejudging)
		store_copy_text(st, 0, s->rejudge_after, sizeof(s->rejudge_after));
	sqlite3_reset(st);
	return ESC_OK;
}

int store_load_cache(struct store *s, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	int64_t version, applied;
	int found, rc, rv;

	rv = meta_get(s, "schema_version", errmsg, &found);
	if (rv != ESC_OK)
		return rv;
	if (!found)
		return esc_errorf(errmsg, ESC_ECORRUPT, "meta has no schema_version");
	version = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (version != STORE_SCHEMA_VERSION)
		return esc_errorf(errmsg, ESC_EVERSION,
				  "schema version %lld, this build knows %d",
				  (long long)version, STORE_SCHEMA_VERSION);

	rv = meta_get(s, "applied_index", errmsg, &found);
	if (rv != ESC_OK)
		return rv;
	if (!found)
		return esc_errorf(errmsg, ESC_ECORRUPT, "meta has no applied_index");
	applied = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (applied < 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "meta applied_index is negative");

	rv = load_text(s, "cluster_id", s->cluster_id, sizeof(s->cluster_id), errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = load_text(s, "members", s->members, sizeof(s->members), errmsg);
	if (rv != ESC_OK)
		return rv;

	rv = load_policy(s, errmsg);
	if (rv != ESC_OK)
		return rv;

	st = s->st[ST_AUDIT_MAX];
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = store_db_error(s->db, rc, "read audit seq", errmsg);
		sqlite3_reset(st);
		return rv;
	}
	s->audit_seq = (uint64_t)sqlite3_column_int64(st, 0); /* NULL reads 0 */
	sqlite3_reset(st);
	s->applied_index = (uint64_t)applied;
	s->digest_valid = false;
	s->counts_valid = false;
	return ESC_OK;
}

static int journal_mode_cb(void *arg, int n, char **values, char **names)
{
	char *mode = arg;

	if (n > 0 && values[0] != NULL)
		snprintf(mode, 16, "%s", values[0]);
	return 0;
}

/* The loop's connection waits for the WAL's write lock (held by a TRUNCATE
 * checkpoint, store/checkpoint.c, for about a millisecond) in short naps.
 * SQLite's own busy_timeout sleeps 1, 2, 5, 10, 15 ms... in turn: about
 * three times a second under load, each node's loop slept 1 to 15 ms (5.4
 * on average) for a lock released within one (issue 16). Gives up after
 * STORE_BUSY_TIMEOUT_MS of naps, as the timeout did. arg: the connection's
 * VFS. */
static int busy_nap(void *arg, int count)
{
	sqlite3_vfs *vfs = arg;

	if ((long long)count * STORE_BUSY_NAP_US >= STORE_BUSY_TIMEOUT_MS * 1000LL)
		return 0;
	vfs->xSleep(vfs, STORE_BUSY_NAP_US);
	return 1;
}

static int configure(sqlite3 *db, char *errmsg)
{
	sqlite3_vfs *vfs = NULL;
	char mode[16] = "";
	const char *file;
	char *why = NULL;
	int rc, rv;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) != SQLITE_OK ||
	    vfs == NULL)
		vfs = sqlite3_vfs_find(NULL);
	sqlite3_busy_handler(db, busy_nap, vfs);
	rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", journal_mode_cb, mode,
			  &why);
	if (rc != SQLITE_OK) {
		rv = store_db_error(db, rc, "set WAL mode", errmsg);
		sqlite3_free(why);
		return rv;
	}
	/* An in-memory database (tests) has no WAL; a file must. */
	file = sqlite3_db_filename(db, "main");
	if (strcmp(mode, "wal") != 0 && file != NULL && file[0] != '\0')
		return esc_errorf(errmsg, ESC_EDB,
				  "set WAL mode: the database stays in %s mode",
				  mode);
	/* No fsync while running: see store_open in store.h. */
	rv = store_exec(db, "PRAGMA synchronous = OFF;"
			    "PRAGMA foreign_keys = ON;"
			    "PRAGMA cache_size = -32768;"
			    "PRAGMA trusted_schema = OFF;", errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = store_exec(db, "BEGIN IMMEDIATE", errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = store_schema_create(db, errmsg);
	if (rv != ESC_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rv;
	}
	return store_exec(db, "COMMIT", errmsg);
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

/* SQLite counts every allocation under a global mutex unless told not to,
 * and nothing here reads the counts. Only before SQLite's first use: later
 * it is refused, harmlessly. */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(struct store **out, const char *path, char *errmsg)
{
	struct store *s;
	int i, rc, rv;

	/* Commits must never wait for the disk on the caller's thread. */
	rv = walbuf_register(errmsg);
	if (rv != ESC_OK)
		return rv;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "open store: out of memory");
	s->path = strdup(path);
	s->scratch = malloc(sizeof(*s->scratch));
	if (s->path == NULL || s->scratch == NULL) {
		free(s->scratch);
		free(s->path);
		free(s);
		return esc_errorf(errmsg, ESC_ENOMEM, "open store: out of memory");
	}

	pthread_once(&sqlite_once, sqlite_setup);
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		rv = store_db_error(s->db, rc, "open", errmsg);
		goto err;
	}
	sqlite3_extended_result_codes(s->db, 1);
	rv = configure(s->db, errmsg);
	if (rv != ESC_OK)
		goto err;
	for (i = 0; i < ST__COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK) {
			rv = store_db_error(s->db, rc, "prepare", errmsg);
			goto err;
		}
	}
	rv = store_load_cache(s, errmsg);
	if (rv != ESC_OK)
		goto err;
	/* Checkpoints copy pages into the database file: on the loop thread
	 * they stalled every request for 15-20 ms several times a second. */
	if (path[0] != '\0' && strcmp(path, ":memory:") != 0) {
		rv = store_exec(s->db, "PRAGMA wal_autocheckpoint = 0", errmsg);
		if (rv == ESC_OK)
			rv = checkpointer_start(&s->checkpointer, path, errmsg);
		if (rv != ESC_OK)
			goto err;
	}
	*out = s;
	return ESC_OK;

err:
	esc_errprefix(errmsg, path);
	esc_errprefix(errmsg, "open store");
	store_close(s);
	return rv;
}

void store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	checkpointer_stop(s->checkpointer);
	store_image_end(s);
	sqlite3_close(s->image_db);
	free(s->path);
	/* Entries of an unflushed batch are still in the Raft log: losing
	 * them here only means applying them again at the next start. */
	store_flush(s, NULL);
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	/* The last close checkpoints: only from frames already in the file. */
	walbuf_flush_all();
	sqlite3_close(s->db);
	free(s->keys);
	free(s->scratch);
	free(s);
}

uint64_t store_applied_index(const struct store *s)
{
	return s->applied_index;
}

unsigned store_unflushed(const struct store *s)
{
	return s->batch;
}

uint64_t store_commits(const struct store *s)
{
	return s->commits;
}

const char *store_cluster_id(const struct store *s)
{
	return s->cluster_id;
}

const char *store_members(const struct store *s)
{
	return s->members;
}
