/* The replicated state in SQLite: recovery keys, compliance, audit entries, applied index. */
#ifndef ESCROW_STORE_H
#define ESCROW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/command.h"
#include "store/compliance.h"

struct store; /* opaque */

/* One escrowed key as stored. Strings are NUL-terminated. */
struct store_key {
	char key_id[VALIDATE_GUID_LEN + 1];
	char volume_id[VALIDATE_VOLUME_ID_MAX + 1];
	char volume_type[16];
	char machine[VALIDATE_MACHINE_MAX + 1];
	char user[VALIDATE_USER_MAX + 1];
	char tpm_owner_hash[VALIDATE_TPM_HASH_MAX + 1];
	uint8_t sealed[SEAL_SEALED_MAX];
	uint32_t sealed_len;
	int64_t escrowed_at_ms;
	int64_t disclosed_at_ms; /* 0: never disclosed */
	uint32_t escrowed_by;    /* node that took the escrow */
	int64_t retired_at_ms;   /* 0: not retired (the machine's reports list
				    it, or never did) */
};

/* The outcome of a key.read audit entry replayed from a node's break-glass
 * journal begins with this, followed by the entry's unique id. */
#define STORE_BREAK_GLASS_OUTCOME "break_glass:"

/* The outcome of applying one command. */
struct store_result {
	int status;          /* ESC_OK, ESC_ECONFLICT (escrow), ESC_ENOTFOUND (lookup) */
	bool created;        /* escrow: a new key was stored */
	bool skipped;        /* index <= applied index: nothing was done */
	bool duplicate;      /* CMD_BREAK_GLASS: its entry id was applied before;
				CMD_LOOKUP(_PREFIX): a key read applied before (no
				second audit entry) */
	uint64_t index;      /* the entry's index */
	uint64_t audit_seq;  /* seq of the audit entry written, 0 if none */
	struct store_key *keys; /* lookups: the records; owned by the store,
				   valid until the next store_apply */
	size_t n_keys;

	/* CMD_COMPLIANCE applied (status ESC_OK): the verdict on the report. */
	uint8_t verdict;    /* COMPLIANCE_STATUS_COMPLIANT or _NONCOMPLIANT; 0 else */
	uint32_t reasons;   /* COMPLIANCE_REASON_* mask */
	/* The listed keys a lookup disclosed, to be rotated, in report order;
	 * owned by the store, valid until the next store_apply. */
	char (*rotate_key_ids)[VALIDATE_GUID_LEN + 1];
	size_t n_rotate;
};

/* Opens (creating if needed) the database at path, in WAL mode, and creates
 * the schema. Errors: ESC_EDB, ESC_ENOMEM.
 *
 * The store never fsyncs on the loop thread or under the WAL write lock
 * (synchronous = OFF): the Raft log and snapshots are the durable copy, and
 * such an fsync stalled the node for hundreds of milliseconds whenever the
 * disk was busy. Commits do not even write the WAL file themselves:
 * store/walbuf.h writes it behind them. Only the checkpointer's thread
 * syncs the files, once a second at most, to pace their write-back
 * (store/checkpoint.c), not for durability. A process crash leaves a consistent
 * store, possibly missing its last commits, which Raft applies again; after
 * a machine crash the store may be damaged and must be rebuilt from Raft
 * (node/storeguard.h decides). A clean stop makes it durable with
 * store_sync_files after store_close. */
int store_open(struct store **out, const char *path, char *errmsg);

/* Closes the database and frees everything. NULL is fine. */
void store_close(struct store *s);

/* fsync of the closed store's database file, its WAL if one is left, and
 * their directory. ESC_EIO. */
int store_sync_files(const char *path, char *errmsg);

/* Removes the database at path with its WAL and shared-memory files (missing
 * ones are fine), durably. ESC_EIO. */
int store_remove_files(const char *path, char *errmsg);

/* Index of the last applied entry (0 on a new store). */
uint64_t store_applied_index(const struct store *s);

/* Cluster id set by CMD_INIT ("" before). Borrowed until the next apply. */
const char *store_cluster_id(const struct store *s);

/* Members text set by CMD_INIT ("" before). Borrowed until the next apply. */
const char *store_members(const struct store *s);

/* Applies command c as entry index, atomically with storing the index, in
 * the open batch (see store_flush). An entry at or below the applied index is skipped (result->skipped).
 * Deterministic: depends only on the store's state, index and c. Application
 * outcomes (conflict, not found) go in result->status and return ESC_OK; a
 * non-zero return means the database itself failed (ESC_EDB). Then the
 * entries before it in the open batch are undone with it (no savepoint per
 * entry: it cost more than the entry): when there were none, the store is
 * as before; otherwise the applied index goes back and every later apply
 * and flush fails (ESC_EIO), as after a failed flush: the node must stop
 * and apply them again from its Raft log. */
int store_apply(struct store *s, uint64_t index, const struct cmd *c,
		struct store_result *result, char *errmsg);

/* Commits the entries applied since the last flush, and the index of the
 * last as the applied index (written once per batch). store_apply keeps one
 * transaction open across entries (at most STORE_BATCH_MAX) because a commit
 * per entry costs more than the entry; the Raft log holds every applied
 * entry durably, so a crash before a flush only means applying them again.
 * The node calls it within a few milliseconds of an apply, and whoever
 * reads the database through another connection calls it first. On error
 * every entry of the batch is undone (the applied index goes back) and
 * ESC_EDB is returned. */
int store_flush(struct store *s, char *errmsg);

/* Entries applied since the last flush (0: no transaction open). */
unsigned store_unflushed(const struct store *s);

/* Batches committed by store_flush since the store was opened. */
uint64_t store_commits(const struct store *s);

/* A machine's keys (machine in any case), newest first, passwords sealed.
 * On success *keys is malloc'ed (free with free()), *n set. */
int store_machine_keys(struct store *s, const char *machine,
		       struct store_key **keys, size_t *n, char *errmsg);

/* This node's copy of key key_id (the stored form, as validate_key_id
 * writes it), password sealed, as applied so far: no barrier, no audit,
 * no disclosure (break-glass lookups journal their own audit entry).
 * ESC_OK, ESC_ENOTFOUND, ESC_EDB. */
int store_key_read(struct store *s, const char *key_id, struct store_key *k, char *errmsg);

/* The keys whose ID begins with prefix (8-32 hex digits, upper case, as
 * validate_prefix writes it), in key ID order, at most max of them, with
 * *truncated set when more exist. A read only: nothing is disclosed or
 * audited. Passwords stay sealed (a listing leaves them out). ESC_EINVAL
 * for a prefix of another form. On success *keys is malloc'ed (free with
 * free(); NULL when none), *n set. */
int store_keys_by_prefix(struct store *s, const char *prefix, size_t max,
			 struct store_key **keys, size_t *n, bool *truncated, char *errmsg);

/* One audit entry as read back; strings are "" when the column is NULL and
 * stay valid only during the callback. */
struct store_audit_row {
	uint64_t seq;
	int64_t at_ms;
	const char *actor, *role, *action, *key_id, *machine, *reason, *note, *outcome;
	uint32_t node;
	uint64_t index;       /* the Raft index of the entry that wrote it */
};

/* Which audit entries store_audit_each reads. The strings are borrowed;
 * NULL or "" matches any value, anything else only entries with exactly
 * that value (so never one whose column is null). */
struct store_audit_filter {
	uint64_t since;      /* entries with seq > since */
	size_t limit;        /* at most this many */
	const char *action;  /* e.g. "key.read" */
	const char *actor;
	const char *key_id;  /* the stored form: upper case, no braces */
	const char *machine; /* any case: machines are stored in lower case */
};

/* Calls cb for the audit entries f selects, in seq order; a non-zero return
 * of cb stops the walk (and is returned). Filters use an index each
 * (schema version 3): a page reads the entries it returns and those that
 * match its most selective filter (key_id, then machine, actor, action),
 * not the whole log. ESC_EINVAL for a machine over 253 characters. */
int store_audit_each(struct store *s, const struct store_audit_filter *f,
		     int (*cb)(const struct store_audit_row *row, void *arg), void *arg,
		     char *errmsg);

/* Compliance (API.md section 1). CMD_COMPLIANCE stores a machine's latest
 * report judged against the policy and the keys held (status ESC_EINVAL,
 * nothing written, for a payload that does not decode or a report of
 * another machine), retires the keys its previous report listed and this
 * one does not, and records the verdict in the machine's history when it
 * changed; uploads are not audited. CMD_POLICY replaces the policy (audit
 * policy.set); when it changed, a re-judge starts: the stored reports are
 * judged against it in machine order, STORE_REJUDGE_BATCH per CMD_REJUDGE
 * entry, which the leader proposes one after the other (store_rejudge_due)
 * so that no entry holds the loop long. Meanwhile uploads, escrows and
 * disclosures judge against the new policy, and store_rejudging says that
 * some stored verdicts may still be the old policy's. A CMD_REJUDGE that is
 * not the next batch of the policy in force changes nothing.
 * CMD_EXEMPT sets (until_ms > 0) or ends (0; ESC_ENOTFOUND when there was
 * none, nothing written) a machine's exemption (audit machine.exempt, the
 * outcome "until <RFC 3339>" or "end"). An escrow of a key that a report
 * lists, and the first disclosure of one, judge those reports again. */

#define STORE_HISTORY_MAX 32 /* verdict changes kept per machine */
#define STORE_REJUDGE_BATCH 1000 /* stored reports one CMD_REJUDGE judges at most */

/* True while stored verdicts may predate the policy in force. */
bool store_rejudging(const struct store *s);

/* While a re-judge runs: sets the type, machine and policy_index of c (the
 * caller adds node, time and actor) to the next batch, and returns true. */
bool store_rejudge_due(const struct store *s, struct cmd *c);

/* The policy in force (the default until a CMD_POLICY) and the index of
 * the entry that set it (0: the default). */
int store_policy(struct store *s, struct compliance_policy *p, uint64_t *index,
		 char *errmsg);

/* One verdict change of a machine. */
struct store_verdict {
	uint64_t index;  /* the entry that made it */
	int64_t at_ms;   /* that entry's time */
	uint8_t status;  /* COMPLIANCE_STATUS_COMPLIANT or _NONCOMPLIANT */
	uint32_t reasons;
};

/* A machine as GET /v1/machines/{m} shows it, without its keys. Fixed
 * size, no heap (about 50 KB: allocate it, do not put it on a small stack). */
struct store_machine {
	struct compliance_report report; /* the latest, decoded: machine, user,
					    os, volumes */
	int64_t reported_at_ms;
	uint8_t status;        /* effective at now_ms: COMPLIANCE_STATUS_* */
	uint32_t reasons;      /* the stored verdict's, whatever status shows */
	bool stale;            /* status unknown because the report is older
				  than the policy's stale_after_days */
	uint8_t verdict;       /* the stored verdict: compliant or noncompliant */
	uint64_t judged_index; /* the entry that made it */
	bool exempt;           /* an exemption is recorded (maybe expired) */
	int64_t exempt_until_ms;
	int64_t exempt_at_ms;  /* when it was set */
	char exempt_note[VALIDATE_NOTE_MAX + 1];
	char exempt_actor[CMD_ACTOR_MAX + 1];
	unsigned n_history;
	struct store_verdict history[STORE_HISTORY_MAX]; /* newest first */
};

/* Reads machine (any case) into *out as of now_ms (the reader's clock): the
 * effective status is exempt while an exemption's until is after now_ms,
 * else unknown with stale when reported_at + stale_after_days days is
 * before now_ms, else the stored verdict. ESC_ENOTFOUND for a machine that
 * never reported (an exemption alone does not count), ESC_EINVAL for a name
 * over 253 characters, ESC_ECORRUPT for a stored report that does not
 * decode. */
int store_machine(struct store *s, const char *machine, int64_t now_ms,
		  struct store_machine *out, char *errmsg);

/* One machine of the compliance report; strings valid during the callback. */
struct store_compliance_row {
	const char *machine;
	const char *user;      /* "" when not given */
	uint8_t status;        /* effective, as for store_machine */
	uint32_t reasons;
	bool stale;
	int64_t reported_at_ms;
};

/* Calls cb for the machines after `after` (NULL or "": from the first; any
 * case) in name order whose effective status at now_ms is status_filter
 * (0: any), at most limit of them; a non-zero return of cb stops the walk
 * and is returned. To know whether a page is the last, ask for one more
 * than the page and stop there. counts (when not NULL) gets the number of
 * ALL machines by effective status, whatever the page and filter:
 * [0] compliant, [1] noncompliant, [2] exempt, [3] unknown. ESC_EINVAL for
 * a filter that is no status or an `after` over 253 characters. */
int store_compliance_each(struct store *s, const char *after, int status_filter,
			  size_t limit, int64_t now_ms,
			  int (*cb)(const struct store_compliance_row *row, void *data),
			  void *data, uint64_t counts[4], char *errmsg);

/* The machines whose name begins with prefix (NULL or "": all; any case,
 * at most 253 characters) after `after` (NULL or "": from the first; any
 * case), in name order, rows as for store_compliance_each (status at
 * now_ms), at most limit of them; a non-zero return of cb stops the walk
 * and is returned. Reads only the machines it passes to cb (and one more).
 * ESC_EINVAL for a prefix or an `after` over 253 characters. */
int store_machines_each(struct store *s, const char *prefix, const char *after, size_t limit,
			int64_t now_ms,
			int (*cb)(const struct store_compliance_row *row, void *data),
			void *data, char *errmsg);

/* Number of keys and of audit entries. */
int store_counts(struct store *s, uint64_t *keys, uint64_t *audit, char *errmsg);

/* SHA-256, in hex (65 bytes with NUL), of every replicated table in a fixed
 * order: equal on every node at the same applied index. */
int store_digest(struct store *s, char hex[65], char *errmsg);

/* store_digest of the database file at path through a connection of its
 * own (safe on a worker thread while the store writes), with the applied
 * index it reflects. */
int store_digest_file(const char *path, char hex[65], uint64_t *index, char *errmsg);

/* The highest audit seq: grows with every entry, a cheap size hint. */
uint64_t store_audit_seq(const struct store *s);

/* The database's size in bytes (its pages, committed or in the current
 * batch), what a Raft snapshot copies; 0 when SQLite cannot say. */
uint64_t store_bytes(struct store *s);

/* A consistent image of the database (a SQLite file image) in one buffer
 * allocated with alloc_fn (e.g. raft_malloc): headroom bytes left for the
 * caller's header, then the image. *len is the total, *index the applied
 * index the image reflects. Ownership of *buf passes to the caller. */
int store_image(struct store *s, void *(*alloc_fn)(size_t), size_t headroom,
		void **buf, size_t *len, uint64_t *index, char *errmsg);

/* Packed images in three steps, so that the copy happens off the loop
 * thread: store_image_begin (loop thread) flushes and pins the current state
 * in a read transaction on a second connection, recording its applied index
 * and cluster id (33 bytes); store_image_build (any one thread at a time)
 * copies that pinned state into the file beside the database named with
 * STORE_IMAGE_SUFFIX, packs the file into *image (one zstd frame; free with
 * store_image_free; store_restore_packed installs it) and removes it, writers
 * going on meanwhile; store_image_end (loop thread) releases the pin.
 * ESC_EBUSY when an image is already pinned. */
#define STORE_IMAGE_SUFFIX ".image"
int store_image_begin(struct store *s, uint64_t *index, char *cluster_id, char *errmsg);
int store_image_build(struct store *s, void **image, size_t *len, char *errmsg);
void store_image_free(void *image);

/* The same on a thread of its own: returning a few hundred MB to the kernel
 * took the loop 80-110 ms at a million keys. */
void store_image_free_later(void *image);
void store_image_end(struct store *s);

/* Replaces the whole state with an image (the bytes after the headroom of
 * store_image; borrowed). Checks the image first (ESC_ECORRUPT: not a SQLite
 * image, integrity_check fails, or tables missing; ESC_EVERSION: its schema
 * is newer than this build's); on error the old state stays. */
int store_restore_image(struct store *s, const void *buf, size_t len, char *errmsg);

/* The same for a packed image of store_image_build (ESC_ECORRUPT also when
 * the frame is damaged; ESC_ETOOBIG over IMAGE_PACK_MAX). Peak memory: the
 * packed image and one unpacked copy. */
int store_restore_packed(struct store *s, const void *buf, size_t len, char *errmsg);

#endif
