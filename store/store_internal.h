/* Inside the store: the struct, its prepared statements and shared helpers. */
#ifndef ESCROW_STORE_INTERNAL_H
#define ESCROW_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/judge.h"
#include "store/store.h"

#define STORE_SCHEMA_VERSION 7
#define STORE_PREFIX_LIMIT 100 /* keys returned by one prefix lookup */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_BUSY_NAP_US 50     /* the loop connection's wait for a lock, per try */
#define STORE_BATCH_MAX 1024   /* entries applied in one transaction at most */
#define STORE_REPORT_KEYS_MAX (COMPLIANCE_VOLUMES_MAX * COMPLIANCE_KEY_IDS_MAX)
#define STORE_TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* The columns of keys read into a struct store_key, in store_row_key order. */
#define STORE_KEY_COLUMNS                                                    \
	"key_id, volume_id, volume_type, machine, user, tpm_owner_hash, "    \
	"sealed, escrowed_at, disclosed_at, escrowed_by, retired_at"
#define STORE_KEY_NCOLUMNS 11

/* The audit entries naming a machine that audit_machine holds (schema
 * version 7): neither reads nor the escrows that created keys, which the
 * machine filter finds through the machine's keys (store/query.c). The
 * filter repeats this text so that SQLite can use the partial index; it is
 * part of version 7's schema text, so it never changes (a later version
 * gets a text of its own). */
#define STORE_AUDIT_MACHINE_INDEXED                                             \
	"action <> 'key.read' AND (action <> 'key.escrow' OR outcome IS NOT 'created')"

/* Statements prepared once at open and reused (reset after every use). */
enum store_stmt {
	ST_BEGIN,        /* BEGIN IMMEDIATE */
	ST_COMMIT,
	ST_ROLLBACK,
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

	/* Compliance (apply_compliance.c, query_compliance.c) */
	ST_KEY_STATE,      /* ?1 key_id -> machine, disclosed_at */
	ST_KEY_RETIRE,     /* ?1 key_id, ?2 machine, ?3 at: only where not retired */
	ST_KEY_UNRETIRE,   /* ?1 key_id, ?2 machine: only where retired */
	ST_MACHINE_PUT,    /* ?1 machine, ?2 user, ?3 os, ?4 reported_at, ?5 status,
			      ?6 reasons, ?7 judged_index */
	ST_MACHINE_JUDGED, /* ?1 machine, ?2 status, ?3 reasons, ?4 judged_index */
	ST_REPORT_PUT,     /* ?1 machine, ?2 report */
	ST_REPORT_NEXT,    /* ?1 machine after -> machine, report, status, reasons */
	ST_REPORT_GET,     /* ?1 machine -> report, status, reasons */
	ST_VERDICT_ADD,    /* ?1 machine, ?2 idx, ?3 at, ?4 status, ?5 reasons */
	ST_VERDICT_TRIM,   /* ?1 machine: all but the STORE_HISTORY_MAX newest */
	ST_EXEMPT_PUT,     /* ?1 machine, ?2 until, ?3 note, ?4 at, ?5 actor */
	ST_EXEMPT_DELETE,  /* ?1 machine */
	ST_MACHINE_READ,   /* ?1 machine -> user, os, reported_at, status, reasons,
			      judged_index, report, until, note, at, actor */
	ST_VERDICTS_OF,    /* ?1 machine -> idx, at, status, reasons, newest first */
	ST_COMPLIANCE_PAGE, /* ?1 machine after -> machine, user, reported_at,
			       status, reasons, until; in machine order */
	ST_COMPLIANCE_COUNT, /* ?1 stale cutoff -> fresh compliant, fresh
				noncompliant, all, oldest fresh compliant and
				noncompliant reported_at */
	ST_EXEMPT_ACTIVE,  /* ?1 now -> reported_at, status, until of the
			      machines exempt at now */
	ST_MACHINES_FROM,  /* ?1 machine from (itself included) -> as
			      ST_COMPLIANCE_PAGE */
	ST_AUDIT_SEEN,     /* ?1 key_id, ?2 outcome -> a row when an entry has both */
	ST_READ_SEEN,      /* ?1 key_id, ?2 at, ?3 node, ?4 actor -> a row when that
			      read disclosed the key already */
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

	/* The last compliance counts: valid while counts_valid, nothing was
	 * applied since counts_index, and the reader's clock is in
	 * [counts_from_ms, counts_until_ms), where no report goes stale and no
	 * exemption ends. Paging through the report counts once. */
	bool counts_valid;
	uint64_t counts_index;
	int64_t counts_from_ms, counts_until_ms;
	uint64_t counts[4];

	char *path;           /* the database file, for extra connections */
	sqlite3 *image_db;    /* second connection for asynchronous images */
	bool image_pinned;    /* image_db holds a read transaction */

	/* Entries applied in the open transaction (0: none open). */
	unsigned batch;
	uint64_t commits;     /* batches committed (store_flush) */
	/* Set when a batch failed to commit: entries libraft counts as applied
	 * are not in the database, so every later apply and flush fails with
	 * it (the node stops and applies them again at restart). */
	char lost[ESC_ERRMSG_SIZE];

	/* Records returned by lookups; reused across applies. */
	struct store_key *keys;
	size_t keys_cap;

	/* The compliance policy in force (meta policy, or the default) and the
	 * entry that set it (0: the default); changed only after a RELEASE. */
	struct compliance_policy policy;
	uint64_t policy_index;
	/* meta rejudge_after: a re-judge runs, the last machine it judged. */
	bool rejudging;
	char rejudge_after[VALIDATE_MACHINE_MAX + 1];

	/* Room for judging, too big for the stack; the verdict of the last
	 * CMD_COMPLIANCE is returned from here (valid until the next apply). */
	struct store_scratch *scratch;
};

/* Room for judging one report. */
struct store_scratch {
	struct compliance_report report;
	struct judge_verdict verdict;
	/* The keys the report lists, sorted, each once. */
	char key_ids[STORE_REPORT_KEYS_MAX][VALIDATE_GUID_LEN + 1];
	size_t n_key_ids;
	/* The same of the report it replaces (apply_compliance). */
	struct compliance_report old_report;
	char old_key_ids[STORE_REPORT_KEYS_MAX][VALIDATE_GUID_LEN + 1];
	size_t n_old_key_ids;
};

/* What one store_apply has done so far (apply.c, apply_compliance.c); the
 * store's cached values change only after the entry's RELEASE, from here. */
struct apply {
	struct store *s;
	uint64_t index;
	const struct cmd *c;
	struct store_result *r;
	uint64_t seq;   /* last audit seq written */
	bool init_done; /* CMD_INIT set cluster_id and members */
	bool members_done; /* CMD_MEMBERS set members */
	bool policy_done;  /* CMD_POLICY set policy */
	struct compliance_policy policy; /* the policy CMD_POLICY set */
	bool rejudge_done;   /* CMD_POLICY, CMD_REJUDGE set meta rejudge_after */
	bool rejudging;      /* ... to this */
	char rejudge_after[VALIDATE_MACHINE_MAX + 1];
	char *errmsg;
};

/* Writes an audit entry of the command being applied (apply.c). */
int apply_audit(struct apply *a, const char *action, const char *key_id,
		const char *machine, const char *note, const char *outcome);

/* The compliance commands (apply_compliance.c). A payload that does not
 * decode, or a report of another machine than the command's, is a no-op
 * with status ESC_EINVAL. */
int apply_compliance(struct apply *a);
int apply_policy(struct apply *a);
int apply_exempt(struct apply *a);
int apply_rejudge(struct apply *a);

/* Judges machine's stored report again, if it has one, after one of its
 * keys changed: an escrow stored it, or a lookup first disclosed it. Only
 * the owner's verdict can change: a key counts for the machine it was
 * escrowed for alone (judge.h). */
int apply_rejudge_machine(struct apply *a, const char *machine);

/* Translates a SQLite failure into ESC_EDB (ESC_ENOMEM, ESC_ECORRUPT where
 * they fit) with errmsg "what: sqlite's message". */
int store_db_error(sqlite3 *db, int rc, const char *what, char *errmsg);

/* Copies text column col of st's row into out (size bytes), cut to fit and
 * NUL-terminated; "" for NULL. */
void store_copy_text(sqlite3_stmt *st, int col, char *out, size_t size);

/* Runs sql (no results) on db. */
int store_exec(sqlite3 *db, const char *sql, char *errmsg);

/* Steps a prepared statement whose rows are not wanted, then resets it and
 * clears its bindings. */
int store_step_done(struct store *s, enum store_stmt which, const char *what,
		    char *errmsg);

/* Fills k from columns 0..STORE_KEY_NCOLUMNS-1 of the current row, copying
 * within bounds (a longer value from a restored image is cut). */
void store_row_key(sqlite3_stmt *st, struct store_key *k);

/* The range [lo, hi) of stored key IDs that begin with hex, a prefix in
 * validate_prefix's form: lo is hex in the stored form ("0123456789AB" ->
 * "01234567-89AB"), hi the same followed by 'Z' (key IDs hold only
 * [0-9A-F-], all below 'Z'), so that the primary key index serves it. */
void store_prefix_range(const char *hex, char lo[VALIDATE_GUID_LEN + 1],
			char hi[VALIDATE_GUID_LEN + 2]);

/* Makes room for n records in s->keys. */
int store_keys_reserve(struct store *s, size_t n, char *errmsg);

/* Reloads the cached meta values and audit seq from the database. */
int store_load_cache(struct store *s, char *errmsg);

/* Checks a database opened by someone else (a snapshot's payload, say) the
 * way store_restore_image checks an image: PRAGMA integrity_check, then
 * store_schema_upgrade (db must be writable), then exactly this build's
 * tables and indexes, and sound meta values. db is borrowed. ESC_ECORRUPT
 * or ESC_EVERSION with the reason; ESC_EDB, ESC_ENOMEM. */
int store_check_db(sqlite3 *db, char *errmsg);

/* Makes the schema of a new database, at STORE_SCHEMA_VERSION; on an
 * existing one, upgrades it as store_schema_upgrade. Inside the caller's
 * transaction (schema.c). */
int store_schema_create(sqlite3 *db, char *errmsg);

/* The one place where an older database becomes this build's: a database
 * whose meta schema_version is 1 gets keys.retired_at, the compliance tables
 * and the policy meta rows, and version 2, all or nothing; one of version 2
 * (either way) gets the audit indexes and version 3; one of version 3 the
 * index audit_read_at and version 4; one of version 4 audit_key_at in place
 * of audit_key_id and audit_read_at, and version 5; one of version 5 an
 * audit_machine without the key.read entries, and version 6; one of
 * version 6 an audit_machine without the escrows that created keys, and
 * version 7. Any other database, ours or not, is left as it is for the
 * checks that follow.
 * Used when the store opens, and when an image or a snapshot file is
 * restored. ESC_ECORRUPT when the version-1 tables are not as version 1
 * made them (the upgrade fails on them), ESC_EDB, ESC_ENOMEM. */
int store_schema_upgrade(sqlite3 *db, char *errmsg);

#endif
