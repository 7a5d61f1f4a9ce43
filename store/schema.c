/* The store's schema: version 1 as first made, and the upgrades to versions 2, 3 and 4. */
#include <stdio.h>

#include "lib/error.h"
#include "store/store_internal.h"

/* Version 1, exactly as every earlier build made it: a new database is made
 * as version 1 and upgraded like an old one, so that both end with the same
 * schema text (store_check_db and store_restore_image compare it). Never
 * edit this text; add an upgrade instead. */
static const char schema_v1_sql[] =
	"CREATE TABLE IF NOT EXISTS meta ("
	" k TEXT PRIMARY KEY NOT NULL,"
	" v"
	") WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS keys ("
	" key_id TEXT PRIMARY KEY NOT NULL,"
	" volume_id TEXT NOT NULL,"
	" volume_type TEXT NOT NULL,"
	" machine TEXT NOT NULL,"
	" user TEXT NOT NULL,"
	" tpm_owner_hash TEXT NOT NULL,"
	" sealed BLOB NOT NULL,"
	" pw_mac BLOB NOT NULL,"
	" escrowed_at INTEGER NOT NULL,"   /* ms since the epoch, UTC */
	" disclosed_at INTEGER,"           /* ms, NULL until a lookup */
	" escrowed_by INTEGER NOT NULL"    /* node id */
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS keys_machine ON keys (machine, escrowed_at);"
	"CREATE TABLE IF NOT EXISTS audit ("
	" seq INTEGER PRIMARY KEY,"
	" at INTEGER NOT NULL,"            /* ms since the epoch, UTC */
	" actor TEXT,"
	" role TEXT,"
	" action TEXT NOT NULL,"
	" key_id TEXT,"
	" machine TEXT,"
	" reason TEXT,"
	" note TEXT,"
	" node INTEGER,"
	" outcome TEXT,"
	" idx INTEGER NOT NULL"            /* Raft index of the entry */
	");"
	"INSERT OR IGNORE INTO meta (k, v) VALUES"
	" ('schema_version', 1), ('applied_index', 0),"
	" ('cluster_id', ''), ('members', '');";

/* Version 2: compliance (API.md section 1). Times are ms since the epoch,
 * UTC; a status is enum compliance_status, reasons a COMPLIANCE_REASON_*
 * mask. The report blob is kept apart from machines so that listing and
 * counting machines reads only their small rows. */
static const char upgrade_v2_sql[] =
	"ALTER TABLE keys ADD COLUMN retired_at INTEGER;" /* NULL: listed, or never */
	/* A machine's latest report as judged. */
	"CREATE TABLE IF NOT EXISTS machines ("
	" machine TEXT PRIMARY KEY NOT NULL,"
	" user TEXT NOT NULL,"
	" os TEXT NOT NULL,"
	" reported_at INTEGER NOT NULL,"
	" status INTEGER NOT NULL,"        /* compliant or noncompliant */
	" reasons INTEGER NOT NULL,"
	" judged_index INTEGER NOT NULL"   /* entry that set status and reasons */
	") WITHOUT ROWID;"
	/* Counting by status and staleness reads only this index. */
	"CREATE INDEX IF NOT EXISTS machines_status ON machines (status, reported_at);"
	/* The latest report, in store/compliance_wire.h's format. */
	"CREATE TABLE IF NOT EXISTS reports ("
	" machine TEXT PRIMARY KEY NOT NULL,"
	" report BLOB NOT NULL"
	") WITHOUT ROWID;"
	/* Verdict changes, at most STORE_HISTORY_MAX per machine. */
	"CREATE TABLE IF NOT EXISTS verdicts ("
	" machine TEXT NOT NULL,"
	" idx INTEGER NOT NULL,"           /* Raft index of the entry */
	" at INTEGER NOT NULL,"
	" status INTEGER NOT NULL,"
	" reasons INTEGER NOT NULL,"
	" PRIMARY KEY (machine, idx)"
	") WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS exemptions ("
	" machine TEXT PRIMARY KEY NOT NULL,"
	" until INTEGER NOT NULL,"
	" note TEXT NOT NULL,"
	" at INTEGER NOT NULL,"
	" actor TEXT NOT NULL"
	") WITHOUT ROWID;"
	/* policy: NULL (the default) or a policy in compliance_wire's format;
	 * policy_index: the entry that set it, 0 for the default;
	 * rejudge_after: NULL, or while the stored reports are judged against
	 * a new policy in batches, the last machine judged ("" for none). */
	"INSERT OR IGNORE INTO meta (k, v) VALUES ('policy', NULL), ('policy_index', 0),"
	" ('rejudge_after', NULL);"
	"UPDATE meta SET v = 2 WHERE k = 'schema_version';";

/* Version 3: indexes for the filters of the audit report (exact match on
 * key_id, machine, actor or action, in seq order). Each holds the column
 * and the rowid (seq), so a filtered page reads only its own entries. */
static const char upgrade_v3_sql[] =
	"CREATE INDEX IF NOT EXISTS audit_key_id ON audit (key_id) WHERE key_id IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS audit_machine ON audit (machine) WHERE machine IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor) WHERE actor IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS audit_action ON audit (action);"
	"UPDATE meta SET v = 3 WHERE k = 'schema_version';";

/* Version 4: the check that a lookup applied twice discloses once
 * (ST_READ_SEEN: this key, this time) finds its entry in this index. With
 * audit_key_id alone it read every audit entry of the key: a key read a
 * thousand times cost a thousand row reads per further read, on every
 * node. Only reads are in it: escrows do not pay for it. */
static const char upgrade_v4_sql[] =
	"CREATE INDEX IF NOT EXISTS audit_read_at ON audit (key_id, at) "
	"WHERE action = 'key.read';"
	"UPDATE meta SET v = 4 WHERE k = 'schema_version';";

/* Version 5: one index of an audit entry's key and time, for every action,
 * in place of audit_key_id (the key) and audit_read_at (the key and time of
 * reads): both checks of a key's entries (ST_AUDIT_SEEN, ST_READ_SEEN) and
 * the audit report's key filter find them there. A lookup's audit entry
 * went into three indexes at random places (the key's twice, its machine's
 * once); now two, a third fewer pages written per lookup on every node
 * (issue 16). The report's key filter reads the key's entries in time
 * order and sorts them by seq: a cost of the report, not of every read. */
static const char upgrade_v5_sql[] =
	"DROP INDEX audit_read_at;"
	"DROP INDEX audit_key_id;"
	"CREATE INDEX audit_key_at ON audit (key_id, at) WHERE key_id IS NOT NULL;"
	"UPDATE meta SET v = 5 WHERE k = 'schema_version';";

/* Version 6: a lookup's audit entry (key.read) no longer goes into the
 * machine's index, where it was written at a random place, a page per
 * lookup on every node (a fleet has a machine per key or two) (issue 16).
 * The report's machine filter finds those entries through the machine's
 * keys (keys_machine, then audit_key_at): a key.read names the machine its
 * key was escrowed from, and a key's machine never changes. */
static const char upgrade_v6_sql[] =
	"DROP INDEX audit_machine;"
	"CREATE INDEX audit_machine ON audit (machine) "
	"WHERE machine IS NOT NULL AND action <> 'key.read';"
	"UPDATE meta SET v = 6 WHERE k = 'schema_version';";

/* Version 7: the escrow that created a key (key.escrow, outcome "created")
 * leaves the machine's index too, where it was written at a random place,
 * a page per escrow on every node (issue 16). The report's machine filter
 * finds those entries through the machine's keys as it finds its reads:
 * the key was created with the machine that escrow names. An escrow of a
 * key that was there already (unchanged, conflict) may name another
 * machine, and stays in the index (STORE_AUDIT_MACHINE_INDEXED). */
static const char upgrade_v7_sql[] =
	"DROP INDEX audit_machine;"
	"CREATE INDEX audit_machine ON audit (machine) "
	"WHERE machine IS NOT NULL AND " STORE_AUDIT_MACHINE_INDEXED ";"
	"UPDATE meta SET v = 7 WHERE k = 'schema_version';";

/* The upgrade to each version, by version. */
static const char *const upgrades[] = {
	[2] = upgrade_v2_sql, [3] = upgrade_v3_sql, [4] = upgrade_v4_sql,
	[5] = upgrade_v5_sql, [6] = upgrade_v6_sql, [7] = upgrade_v7_sql,
};
_Static_assert(sizeof upgrades / sizeof upgrades[0] == STORE_SCHEMA_VERSION + 1,
	       "an upgrade to every version up to STORE_SCHEMA_VERSION");

/* Runs one upgrade's sql inside a savepoint: all or nothing. */
static int upgrade_step(sqlite3 *db, const char *sql, int to, char *errmsg)
{
	char *why = NULL;
	int rc, rv;

	rv = store_exec(db, "SAVEPOINT upgrade", errmsg);
	if (rv != ESC_OK)
		return rv;
	rc = sqlite3_exec(db, sql, NULL, NULL, &why);
	if (rc != SQLITE_OK) {
		/* A table of the older version missing, or changed already:
		 * the database (an image or a snapshot's payload) is not one
		 * of ours. */
		rv = (rc & 0xff) == SQLITE_ERROR ? ESC_ECORRUPT :
						   store_db_error(db, rc, "upgrade", errmsg);
		esc_errorf(errmsg, rv, "upgrade schema version %d to %d: %s", to - 1, to,
			   why != NULL ? why : sqlite3_errstr(rc));
		sqlite3_free(why);
		store_exec(db, "ROLLBACK TO upgrade", NULL);
		store_exec(db, "RELEASE upgrade", NULL);
		return rv;
	}
	return store_exec(db, "RELEASE upgrade", errmsg);
}

int store_schema_upgrade(sqlite3 *db, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	int64_t version = 0;
	int rc, rv, to;

	/* Anything but an escrow database of an older version is left to the
	 * checks that follow (a foreign file has no meta table at all). */
	rc = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'schema_version'", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return ESC_OK;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
	    (version = sqlite3_column_int64(st, 0)) < 1 || version >= STORE_SCHEMA_VERSION) {
		sqlite3_finalize(st);
		return rc == SQLITE_ROW || rc == SQLITE_DONE ?
			       ESC_OK :
			       store_db_error(db, rc, "upgrade schema: read its version", errmsg);
	}
	sqlite3_finalize(st);

	for (to = (int)version + 1; to <= STORE_SCHEMA_VERSION; to++) {
		rv = upgrade_step(db, upgrades[to], to, errmsg);
		if (rv != ESC_OK)
			return rv;
	}
	return ESC_OK;
}

int store_schema_create(sqlite3 *db, char *errmsg)
{
	int rv;

	rv = store_exec(db, schema_v1_sql, errmsg);
	if (rv != ESC_OK)
		return rv;
	return store_schema_upgrade(db, errmsg);
}
