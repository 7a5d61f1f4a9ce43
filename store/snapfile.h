/* The snapshot file of docs/api.md section 6: a checked header over a SQLite database image. */
#ifndef ESCROW_SNAPFILE_H
#define ESCROW_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Snapshot file, format version 1, integers little-endian:
 *
 *     0   8  magic "ESCROWSN"
 *     8   4  u32 format version (1)
 *    12   4  u32 header length (160)
 *    16   8  u64 Raft index N: the state after applying exactly entries 1..N
 *    24   8  u64 term of the leader when the snapshot was taken
 *    32   8  i64 creation time, ms since the epoch, UTC
 *    40   8  u64 payload length L
 *    48  32  SHA-256 of the payload
 *    80  32  cluster id: 32 ASCII hex characters
 *   112  16  seal key fingerprint: 16 ASCII hex characters (never the key)
 *   128  32  SHA-256 of bytes 0..127, so that any flipped header byte is caught
 *   160   L  payload: a SQLite database file (rollback journal mode) whose
 *            meta table records N as applied_index
 *
 * Recovery passwords stay sealed inside it.
 */
#define SNAPFILE_MAGIC "ESCROWSN"
#define SNAPFILE_VERSION 1
#define SNAPFILE_HEADER_SIZE 160
#define SNAPFILE_HEADER_HASHED 128   /* bytes covered by the header hash */

struct snapfile_header {
	uint64_t index;
	uint64_t term;
	int64_t created_ms;
	uint64_t payload_len;
	uint8_t sha256[32];            /* of the payload */
	char cluster_id[33];
	char seal_fingerprint[17];
};

/* Writes h as the 160-byte header, computing the header hash. */
void snapfile_header_encode(const struct snapfile_header *h, uint8_t out[SNAPFILE_HEADER_SIZE]);

/* Reads a header from len bytes of buf. ESC_ECORRUPT ("snapshot: file is
 * shorter than its header", "not a snapshot file (bad magic)", "header
 * checksum mismatch", a string field not NUL-terminated or not hex...),
 * ESC_EVERSION for an unknown format version. */
int snapfile_header_decode(const uint8_t *buf, size_t len, struct snapfile_header *h,
			   char *errmsg);

/* Node side, safe on a worker thread (uses its own connections): writes a
 * consistent copy of the live database at db_path into tmp_path (VACUUM INTO,
 * in a read transaction of its own, so writers go on), then fills h from the
 * copy: index = its applied_index, cluster_id, payload_len, sha256 of the
 * copy; created_ms now; seal_fingerprint copied from the argument; term 0
 * (the caller sets it). tmp_path must not exist. */
int snapfile_prepare(const char *db_path, const char *tmp_path, const char *seal_fingerprint,
		     struct snapfile_header *h, char *errmsg);

/* Checks a whole snapshot file: header, file length == 160 + L, payload
 * SHA-256, then the payload as a database (copied to a temporary file next
 * to tmp_dir, PRAGMA integrity_check, exactly this build's schema once a
 * payload of an earlier schema version is upgraded in that copy, meta
 * applied_index equal to the header's index). Fills h. Every failure is one
 * clear errmsg and ESC_ECORRUPT / ESC_EVERSION / ESC_EIO / ESC_ENOTFOUND. */
int snapfile_verify(const char *path, const char *tmp_dir, struct snapfile_header *h,
		    char *errmsg);

/* Verifies path, then writes its payload as the database db_path (temporary
 * name, fsync, rename, fsync of the directory) and rewrites its meta for a
 * new one-node cluster: applied_index 0, cluster_id = new_cluster_id,
 * members = members. db_path must not exist. Fills h. */
int snapfile_restore(const char *path, const char *db_path, const char *new_cluster_id,
		     const char *members, struct snapfile_header *h, char *errmsg);

#endif
