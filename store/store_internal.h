/* Inside the store: the struct, its prepared statements and shared helpers. */
#ifndef ESCROW_STORE_INTERNAL_H
#define ESCROW_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_PREFIX_LIMIT 100 /* keys returned by one prefix lookup */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_BATCH_MAX 1024   /* entries applied in one transaction at most */

/* The columns of keys read into a struct store_key, in store_row_key order. */
#define STORE_KEY_COLUMNS                                                    \
	"key_id, volume_id, volume_type, machine, user, tpm_owner_hash, "    \
	"sealed, escrowed_at, disclosed_at, escrowed_by"
#define STORE_KEY_NCOLUMNS 10

/* Statements prepared once at open and reused (reset after every use). */
enum store_stmt {
	ST_BEGIN,        /* BEGIN IMMEDIATE */
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,    /* SAVEPOINT entry: one entry inside the batch */
	ST_RELEASE,      /* RELEASE entry */
	ST_ROLLBACK_TO,  /* ROLLBACK TO entry */
	ST_META_SET,     /* ?1 k, ?2 v */
	ST_META_GET,     /* ?1 k -> v */
	ST_AUDIT_MAX,    /* -> max(seq) */
	ST_KEY_GET,      /* ?1 key_id -> STORE_KEY_COLUMNS, pw_mac */
	ST_KEY_INSERT,   /* every column but disclosed_at */
	ST_KEY_DISCLOSE, /* ?1 key_id, ?2 at: only where disclosed_at IS NULL */
	ST_KEY_RANGE,    /* ?1 <= key_id < ?2 -> STORE_KEY_COLUMNS */
	ST_AUDIT_INSERT,
	ST_MACHINE_KEYS, /* ?1 machine -> STORE_KEY_COLUMNS, newest first */
	ST_COUNT_KEYS,
	ST_COUNT_AUDIT,
	ST_AUDIT_SINCE,  /* ?1 seq after, ?2 limit -> audit columns in seq order */
	ST__COUNT
};

struct checkpointer;

struct store {
	sqlite3 *db;
	struct checkpointer *checkpointer; /* NULL for an in-memory database */
	sqlite3_stmt *st[ST__COUNT];

	/* Cached copies of meta and audit, changed only after a COMMIT. */
	uint64_t applied_index;
	uint64_t audit_seq; /* highest seq in audit, 0 when empty */
	char cluster_id[CMD_CLUSTER_ID_LEN + 1];
	char members[CMD_MEMBERS_MAX + 1];

	/* The last digest, valid while digest_valid and nothing was applied. */
	bool digest_valid;
	uint64_t digest_index;
	char digest[65];

	char *path;           /* the database file, for extra connections */
	sqlite3 *image_db;    /* second connection for asynchronous images */
	bool image_pinned;    /* image_db holds a read transaction */

	/* Entries applied in the open transaction (0: none open). */
	unsigned batch;

	/* Records returned by lookups; reused across applies. */
	struct store_key *keys;
	size_t keys_cap;
};

/* Translates a SQLite failure into ESC_EDB (ESC_ENOMEM, ESC_ECORRUPT where
 * they fit) with errmsg "what: sqlite's message". */
int store_db_error(sqlite3 *db, int rc, const char *what, char *errmsg);

/* Runs sql (no results) on db. */
int store_exec(sqlite3 *db, const char *sql, char *errmsg);

/* Steps a prepared statement whose rows are not wanted, then resets it and
 * clears its bindings. */
int store_step_done(struct store *s, enum store_stmt which, const char *what,
		    char *errmsg);

/* Fills k from columns 0..STORE_KEY_NCOLUMNS-1 of the current row, copying
 * within bounds (a longer value from a restored image is cut). */
void store_row_key(sqlite3_stmt *st, struct store_key *k);

/* Makes room for n records in s->keys. */
int store_keys_reserve(struct store *s, size_t n, char *errmsg);

/* Reloads the cached meta values and audit seq from the database. */
int store_load_cache(struct store *s, char *errmsg);

/* Checks a database opened by someone else (a snapshot's payload, say) the
 * way store_restore_image checks an image: PRAGMA integrity_check, exactly
 * this build's tables and indexes, and sound meta values. db is borrowed.
 * ESC_ECORRUPT or ESC_EVERSION with the reason; ESC_EDB, ESC_ENOMEM. */
int store_check_db(sqlite3 *db, char *errmsg);

#endif
