/* The break-glass journal: audit entries of lookups a node served without a
 * leader, durable before the password left, until a leader has them.
 *
 * DIR/break-glass.journal is append-only (O_APPEND), a sequence of records:
 *   u32 little-endian length N (1..JOURNAL_RECORD_MAX)
 *   u32 little-endian ~N (so that a damaged length is seen as such)
 *   32 bytes: SHA-256 of the N payload bytes
 *   N payload bytes, never ending with a zero byte (the node writes one
 *   JSON object per record)
 * A record is written with one write() and fsynced (and the directory, when
 * the append created the file) before journal_append returns.
 *
 * A crash during an append leaves a prefix of the record, or (a file
 * system that grew the file before writing its data) a tail of zero bytes:
 * that is a torn last record, whose password was never sent. Anything else
 * that fails a check is damage. */
#ifndef ESCROW_JOURNAL_H
#define ESCROW_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JOURNAL_FILE "break-glass.journal"
#define JOURNAL_REFUSED "break-glass.journal.refused" /* records the leader refused */
#define JOURNAL_RECORD_MAX 4096
#define JOURNAL_HEAD_SIZE 40 /* length, its complement, SHA-256 */

/* Appends one record of len bytes (1..JOURNAL_RECORD_MAX) to path and
 * fsyncs it. ESC_OK only once the record is durable; ESC_EIO (the file is
 * cut back to its size before, best effort), ESC_EINVAL for a bad len or
 * data ending with a zero byte. */
int journal_append(const char *path, const void *data, size_t len, char *errmsg);

/* Called for each whole record in order; data is borrowed for the call. A
 * non-zero return stops the walk and is returned by journal_read. */
typedef int (*journal_record_cb)(void *arg, const uint8_t *data, size_t len);

/* What journal_read found. */
struct journal_scan {
	size_t records;   /* whole, checked records */
	off_t good_len;   /* bytes they take from the start */
	off_t file_len;   /* the file's size */
	bool torn;        /* the bytes after them are one incomplete or
			     unchecked last record: an append cut by a crash */
};

/* Reads path's records (cb may be NULL). A missing file is an empty
 * journal. ESC_ECORRUPT with errmsg for damage other than a torn last
 * record (a record that fails its check with whole records after it);
 * ESC_EIO. */
int journal_read(const char *path, journal_record_cb cb, void *arg, struct journal_scan *scan,
		 char *errmsg);

/* At start, before any append: a torn last record is cut off (the file is
 * truncated to its whole records and fsynced: *dropped_torn set); any other
 * damage moves the file aside to PATH.damaged-STAMP (stamp: the caller's
 * UTC time, e.g. "20261204T140000Z"; name written to moved_to) and
 * returns ESC_ECORRUPT with errmsg naming the damage. ESC_EIO when the file
 * could not be read, cut or moved (it is left as it was). */
int journal_recover(const char *path, const char *stamp, bool *dropped_torn, char *moved_to,
		    size_t moved_size, char *errmsg);

/* Removes the records of the first good_len bytes, which a leader has
 * committed: the file is unlinked when nothing follows them, else
 * rewritten with what follows (durably, by rename). The directory is
 * fsynced. ESC_EIO. */
int journal_consume(const char *path, off_t good_len, char *errmsg);

#endif
