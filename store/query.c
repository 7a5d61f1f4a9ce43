/* Reads of the store outside the replicated path: keys, counts, digest. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/error.h"
#include "store/store_internal.h"
#include "store/validate.h"

int store_machine_keys(struct store *s, const char *machine,
		       struct store_key **keys, size_t *n, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_MACHINE_KEYS];
	char lower[VALIDATE_MACHINE_MAX + 1];
	struct store_key *out = NULL, *grown;
	size_t len, cap = 0, count = 0, i;
	int rc, rv = ESC_OK;

	*keys = NULL;
	*n = 0;
	len = strnlen(machine, VALIDATE_MACHINE_MAX + 1);
	if (len > VALIDATE_MACHINE_MAX)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "machine keys: machine name longer than %d "
				  "characters", VALIDATE_MACHINE_MAX);
	for (i = 0; i < len; i++) {
		char c = machine[i];

		lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	lower[len] = '\0';

	sqlite3_bind_text(st, 1, lower, (int)len, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(out, cap * sizeof(*out));
			if (grown == NULL) {
				rv = esc_errorf(errmsg, ESC_ENOMEM,
						"machine keys: out of memory");
				goto err;
			}
			out = grown;
		}
		store_row_key(st, &out[count++]);
	}
	if (rc != SQLITE_DONE) {
		rv = store_db_error(s->db, rc, "machine keys", errmsg);
		goto err;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	*keys = out;
	*n = count;
	return ESC_OK;

err:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(out);
	return rv;
}

void store_prefix_range(const char *hex, char lo[VALIDATE_GUID_LEN + 1],
			char hi[VALIDATE_GUID_LEN + 2])
{
	size_t i, o = 0;

	for (i = 0; hex[i] != '\0' && i < VALIDATE_PREFIX_MAX; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			lo[o++] = '-';
		lo[o++] = hex[i];
	}
	lo[o] = '\0';
	memcpy(hi, lo, o);
	hi[o] = 'Z';
	hi[o + 1] = '\0';
}

int store_keys_by_prefix(struct store *s, const char *prefix, size_t max,
			 struct store_key **keys, size_t *n, bool *truncated, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_KEY_RANGE];
	char norm[VALIDATE_PREFIX_MAX + 1], lo[VALIDATE_GUID_LEN + 1], hi[VALIDATE_GUID_LEN + 2];
	struct store_key *out = NULL;
	size_t count = 0;
	int rc = SQLITE_DONE, rv = ESC_OK;

	*keys = NULL;
	*n = 0;
	*truncated = false;
	if (!validate_prefix(prefix, norm, NULL) || strcmp(norm, prefix) != 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "keys by prefix: not 8 to 32 upper-case hex digits");
	if (max == 0)
		return ESC_OK;
	out = malloc(max * sizeof(*out));
	if (out == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "keys by prefix: out of memory");
	store_prefix_range(prefix, lo, hi);
	sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	/* One more than max says whether there are more. */
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == max) {
			*truncated = true;
			break;
		}
		store_row_key(st, &out[count++]);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rv = store_db_error(s->db, rc, "keys by prefix", errmsg);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rv != ESC_OK || count == 0) {
		free(out);
		*truncated = false;
		return rv;
	}
	*keys = out;
	*n = count;
	return ESC_OK;
}

static int count_rows(struct store *s, enum store_stmt which, uint64_t *out,
		      char *errmsg)
{
	sqlite3_stmt *st = s->st[which];
	int rc, rv = ESC_OK;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	else
		rv = store_db_error(s->db, rc, "count rows", errmsg);
	sqlite3_reset(st);
	return rv;
}

int store_counts(struct store *s, uint64_t *keys, uint64_t *audit, char *errmsg)
{
	int rv;

	rv = count_rows(s, ST_COUNT_KEYS, keys, errmsg);
	if (rv != ESC_OK)
		return rv;
	return count_rows(s, ST_COUNT_AUDIT, audit, errmsg);
}

/* The digest's encoding, version 2. Every table in a fixed order, its rows
 * in primary-key order, every column:
 *   table: 'S' u32 name length, name | rows | 'E' u64 row count
 *   row:   'R' u32 column count | values
 *   value: 'N' (NULL) | 'I' i64 | 'F' f64 bits | 'T' u32 n, n bytes |
 *          'B' u32 n, n bytes
 * Integers big-endian. meta holds applied_index, so the digest names the
 * index it reflects as well as the data. */
static const char *const digest_tables[][2] = {
	{ "meta", "SELECT k, v FROM meta ORDER BY k" },
	{ "keys", "SELECT key_id, volume_id, volume_type, machine, user, "
		  "tpm_owner_hash, sealed, pw_mac, escrowed_at, disclosed_at, "
		  "escrowed_by, retired_at FROM keys ORDER BY key_id" },
	{ "audit", "SELECT seq, at, actor, role, action, key_id, machine, "
		   "reason, note, node, outcome, idx FROM audit ORDER BY seq" },
	{ "machines", "SELECT machine, user, os, reported_at, status, reasons, "
		      "judged_index FROM machines ORDER BY machine" },
	{ "reports", "SELECT machine, report FROM reports ORDER BY machine" },
	{ "verdicts", "SELECT machine, idx, at, status, reasons FROM verdicts "
		      "ORDER BY machine, idx" },
	{ "exemptions", "SELECT machine, until, note, at, actor FROM exemptions "
			"ORDER BY machine" },
};

/* v2: keys.retired_at and the compliance tables (schema version 2). */
static const char digest_magic[] = "escrow state digest v2";

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static int hash_bytes(EVP_MD_CTX *md, uint8_t tag, const void *data,
		      size_t len)
{
	uint8_t head[5];

	head[0] = tag;
	put_u32(head + 1, (uint32_t)len);
	return EVP_DigestUpdate(md, head, sizeof(head)) == 1 &&
	       (len == 0 || EVP_DigestUpdate(md, data, len) == 1);
}

static int hash_value(EVP_MD_CTX *md, sqlite3_stmt *st, int col)
{
	uint8_t buf[9];
	double d;
	uint64_t bits;

	switch (sqlite3_column_type(st, col)) {
	case SQLITE_NULL:
		buf[0] = 'N';
		return EVP_DigestUpdate(md, buf, 1) == 1;
	case SQLITE_INTEGER:
		buf[0] = 'I';
		put_u64(buf + 1, (uint64_t)sqlite3_column_int64(st, col));
		return EVP_DigestUpdate(md, buf, 9) == 1;
	case SQLITE_FLOAT:
		d = sqlite3_column_double(st, col);
		memcpy(&bits, &d, sizeof(bits));
		buf[0] = 'F';
		put_u64(buf + 1, bits);
		return EVP_DigestUpdate(md, buf, 9) == 1;
	case SQLITE_TEXT: {
		const unsigned char *t = sqlite3_column_text(st, col);

		return hash_bytes(md, 'T', t, (size_t)sqlite3_column_bytes(st, col));
	}
	default: {
		const void *b = sqlite3_column_blob(st, col);

		return hash_bytes(md, 'B', b, (size_t)sqlite3_column_bytes(st, col));
	}
	}
}

static int hash_table(sqlite3 *db, EVP_MD_CTX *md, const char *name, const char *sql,
		      char *errmsg)
{
	sqlite3_stmt *st = NULL;
	uint8_t head[9];
	uint64_t rows = 0;
	int rc, rv = ESC_OK, ncol, i;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_db_error(db, rc, "digest", errmsg);
	if (!hash_bytes(md, 'S', name, strlen(name)))
		goto err_crypto;
	ncol = sqlite3_column_count(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		head[0] = 'R';
		put_u32(head + 1, (uint32_t)ncol);
		if (EVP_DigestUpdate(md, head, 5) != 1)
			goto err_crypto;
		for (i = 0; i < ncol; i++) {
			if (!hash_value(md, st, i))
				goto err_crypto;
		}
		rows++;
	}
	if (rc != SQLITE_DONE) {
		rv = store_db_error(db, rc, "digest", errmsg);
		goto out;
	}
	head[0] = 'E';
	put_u64(head + 1, rows);
	if (EVP_DigestUpdate(md, head, 9) != 1)
		goto err_crypto;
	goto out;

err_crypto:
	rv = esc_errorf(errmsg, ESC_ECRYPTO, "digest: SHA-256 failed");
out:
	sqlite3_finalize(st);
	return rv;
}

/* Hashes every replicated table of db, inside a savepoint so that the
 * tables agree with each other (it nests in an open batch, too). */
static int digest_db(sqlite3 *db, char hex[65], char *errmsg)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t sum[32];
	unsigned int len = 0;
	EVP_MD_CTX *md;
	size_t t;
	int i, rv;

	md = EVP_MD_CTX_new();
	if (md == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "digest: out of memory");
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, digest_magic, sizeof(digest_magic)) != 1) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "digest: SHA-256 failed");
		goto out;
	}
	rv = store_exec(db, "SAVEPOINT digest", errmsg);
	if (rv != ESC_OK)
		goto out;
	for (t = 0; t < sizeof(digest_tables) / sizeof(digest_tables[0]); t++) {
		rv = hash_table(db, md, digest_tables[t][0], digest_tables[t][1], errmsg);
		if (rv != ESC_OK)
			break;
	}
	store_exec(db, "RELEASE digest", NULL);
	if (rv != ESC_OK)
		goto out;
	if (EVP_DigestFinal_ex(md, sum, &len) != 1 || len != sizeof(sum)) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "digest: SHA-256 failed");
		goto out;
	}
	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[sum[i] >> 4];
		hex[2 * i + 1] = digits[sum[i] & 0xf];
	}
	hex[64] = '\0';
out:
	EVP_MD_CTX_free(md);
	return rv;
}

int store_digest(struct store *s, char hex[65], char *errmsg)
{
	int rv;

	if (s->digest_valid && s->digest_index == s->applied_index) {
		memcpy(hex, s->digest, sizeof(s->digest));
		return ESC_OK;
	}
	/* meta's applied_index is written when the open batch commits: the
	 * digest must not see the batch's rows without it. */
	if (s->batch > 0) {
		rv = store_flush(s, errmsg);
		if (rv != ESC_OK)
			return rv;
	}
	rv = digest_db(s->db, hex, errmsg);
	if (rv != ESC_OK)
		return rv;
	memcpy(s->digest, hex, sizeof(s->digest));
	s->digest_index = s->applied_index;
	s->digest_valid = true;
	return ESC_OK;
}

int store_digest_file(const char *path, char hex[65], uint64_t *index, char *errmsg)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, rv;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rv = store_db_error(db, rc, "digest: open", errmsg);
		goto out;
	}
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	/* The index and the tables from one read transaction. */
	rv = store_exec(db, "BEGIN", errmsg);
	if (rv != ESC_OK)
		goto out;
	rc = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'applied_index'", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		*index = (uint64_t)sqlite3_column_int64(st, 0);
	else
		*index = 0;
	sqlite3_finalize(st);
	rv = digest_db(db, hex, errmsg);
	store_exec(db, "COMMIT", NULL);
out:
	sqlite3_close(db);
	return rv;
}

uint64_t store_audit_seq(const struct store *s)
{
	return s->audit_seq;
}

uint64_t store_bytes(struct store *s)
{
	sqlite3_stmt *st;
	int64_t bytes = 0;

	if (sqlite3_prepare_v2(s->db,
			       "SELECT page_count * page_size FROM pragma_page_count(), "
			       "pragma_page_size()",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		bytes = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return bytes > 0 ? (uint64_t)bytes : 0;
}

static const char *text_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

/* The filtered audit query: "seq > ?1", each filter given as "col = ?N",
 * LIMIT last. Only the most selective filter keeps its index; the others
 * get a unary '+' (no index), so that SQLite, which has no statistics,
 * cannot pick a common action over a rare machine. The machine's index
 * has neither key.read entries (schema version 6) nor the escrows that
 * created keys (version 7): when it is the one used, those come through
 * the machine's keys. */
static int audit_prepare(struct store *s, const struct store_audit_filter *f,
			 const char *machine, sqlite3_stmt **out, char *errmsg)
{
	enum { COL_KEY_ID, COL_MACHINE, COL_ACTOR, COL_ACTION };
	static const char *const cols[] = { "key_id", "machine", "actor", "action" };
	const char *vals[] = { f->key_id, machine, f->actor, f->action };
	bool indexed = false;
	sqlite3_str *sql = sqlite3_str_new(s->db);
	char *text;
	int rc, n = 1, i;

	sqlite3_str_appendall(sql, "SELECT seq, at, actor, role, action, key_id, machine, "
				   "reason, note, node, outcome, idx FROM audit WHERE seq > ?1");
	for (i = 0; i < 4; i++) {
		if (vals[i] == NULL || vals[i][0] == '\0')
			continue;
		++n;
		if (!indexed && i == COL_MACHINE)
			sqlite3_str_appendf(
				sql,
				" AND seq IN (SELECT seq FROM audit WHERE machine = ?%d"
				" AND " STORE_AUDIT_MACHINE_INDEXED " AND seq > ?1"
				" UNION ALL SELECT a.seq FROM keys AS k"
				" JOIN audit AS a INDEXED BY audit_key_at ON a.key_id = k.key_id"
				" WHERE k.machine = ?%d AND NOT (" STORE_AUDIT_MACHINE_INDEXED ")"
				" AND a.machine = ?%d AND a.seq > ?1)",
				n, n, n);
		else
			sqlite3_str_appendf(sql, " AND %s%s = ?%d", indexed ? "+" : "", cols[i], n);
		indexed = true;
	}
	sqlite3_str_appendf(sql, " ORDER BY seq LIMIT ?%d", n + 1);
	text = sqlite3_str_finish(sql);
	if (text == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "audit entries: out of memory");
	rc = sqlite3_prepare_v2(s->db, text, -1, out, NULL);
	sqlite3_free(text);
	if (rc != SQLITE_OK)
		return store_db_error(s->db, rc, "audit entries", errmsg);
	n = 1;
	sqlite3_bind_int64(*out, 1, (sqlite3_int64)f->since);
	for (i = 0; i < 4; i++) {
		if (vals[i] != NULL && vals[i][0] != '\0')
			sqlite3_bind_text(*out, ++n, vals[i], -1, SQLITE_TRANSIENT);
	}
	sqlite3_bind_int64(*out, n + 1, (sqlite3_int64)f->limit);
	return ESC_OK;
}

int store_audit_each(struct store *s, const struct store_audit_filter *f,
		     int (*cb)(const struct store_audit_row *row, void *arg), void *arg,
		     char *errmsg)
{
	char machine[VALIDATE_MACHINE_MAX + 1] = "";
	sqlite3_stmt *st = s->st[ST_AUDIT_SINCE];
	bool filtered = false;
	size_t len, i;
	int rc, rv = ESC_OK;

	if (f->machine != NULL && f->machine[0] != '\0') {
		len = strnlen(f->machine, VALIDATE_MACHINE_MAX + 1);
		if (len > VALIDATE_MACHINE_MAX)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "audit entries: machine name longer than %d characters",
					  VALIDATE_MACHINE_MAX);
		for (i = 0; i < len; i++) {
			char c = f->machine[i];

			machine[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		machine[len] = '\0';
	}
	filtered = machine[0] != '\0' || (f->action != NULL && f->action[0] != '\0') ||
		   (f->actor != NULL && f->actor[0] != '\0') ||
		   (f->key_id != NULL && f->key_id[0] != '\0');
	if (filtered) {
		/* Prepared per call (16 shapes, microseconds beside the page). */
		rv = audit_prepare(s, f, machine, &st, errmsg);
		if (rv != ESC_OK)
			return rv;
	} else {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)f->since);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)f->limit);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_audit_row row = {
			.seq = (uint64_t)sqlite3_column_int64(st, 0),
			.at_ms = sqlite3_column_int64(st, 1),
			.actor = text_col(st, 2),
			.role = text_col(st, 3),
			.action = text_col(st, 4),
			.key_id = text_col(st, 5),
			.machine = text_col(st, 6),
			.reason = text_col(st, 7),
			.note = text_col(st, 8),
			.node = (uint32_t)sqlite3_column_int64(st, 9),
			.outcome = text_col(st, 10),
			.index = (uint64_t)sqlite3_column_int64(st, 11),
		};
		if ((rv = cb(&row, arg)) != 0)
			break;
	}
	if (rv == ESC_OK && rc != SQLITE_DONE)
		rv = store_db_error(s->db, rc, "audit entries", errmsg);
	if (filtered)
		sqlite3_finalize(st);
	else
		sqlite3_reset(st);
	return rv;
}

int store_key_read(struct store *s, const char *key_id, struct store_key *k, char *errmsg)
{
	sqlite3_stmt *st = s->st[ST_KEY_GET];
	int rc, rv = ESC_OK;

	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_row_key(st, k);
	else if (rc == SQLITE_DONE)
		rv = ESC_ENOTFOUND;
	else
		rv = store_db_error(s->db, rc, "read key", errmsg);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}
