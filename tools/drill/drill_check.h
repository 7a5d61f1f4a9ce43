/* The drill checker: what a failover drill recorded, and what it proves.
 *
 * A drill records every request it made (a history); the checker reads the
 * history alone, so that its verdicts can be tested on made-up histories:
 *  - lost:  an escrow was acknowledged, but the read-back at the end did not
 *           return its password (not found, or never answered: unverified);
 *  - wrong: a lookup or read-back returned another password;
 *  - stale: a lookup answered 404 for a key whose escrow had been
 *           acknowledged before the lookup was sent;
 *  - cut:   a node answered a request with success although the request was
 *           sent while the node was cut off from the majority (a deposed
 *           leader must stop answering: nothing it says can be committed);
 *  - unaudited: a key whose lookups returned its password more often than
 *           the audit log holds key.read entries for it (when checked);
 *  - overaudited: a key with more key.read entries than its lookups that
 *           returned its password plus those whose outcome is unknown (a
 *           timeout or a 5xx may hide a read that was audited): one lookup
 *           audited twice. With unaudited: no password is returned without
 *           exactly one audit entry;
 *  - break_glass_unaudited: a break-glass lookup (served by a node without
 *           a quorum, from its own copy) whose id is not in the audit log
 *           exactly once after the heal, with break_glass true and its key;
 *  - break_glass_undisclosed: its key not marked disclosed after the heal;
 *  - lost_report: the canary machine's report read back after the heal is
 *           older than an acknowledged upload: one acknowledged before
 *           another acknowledged upload was sent (an upload of unknown
 *           outcome may take effect at any time after it was sent, so it
 *           may be the one stored), or a refused upload, or none at all;
 *  - rotation_missed: an acknowledged upload lists a canary key that a
 *           lookup had returned before the upload was sent, and its answer's
 *           rotate_key_ids lacks it.
 * It also measures unavailability: a window opens at the first failed
 * request after a success and closes when a request sent after it opened
 * succeeds. */
#ifndef ESCROW_DRILL_CHECK_H
#define ESCROW_DRILL_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRILL_KEY_ID_LEN 36
#define DRILL_PASSWORD_LEN 55
#define DRILL_CODE_MAX 40
#define DRILL_CODES_MAX 24        /* distinct error codes counted */
#define DRILL_WINDOWS_MAX 64      /* unavailability windows kept */
#define DRILL_FINDINGS_MAX 32     /* violations described one by one */
#define DRILL_UPLOAD_KEYS 16      /* canary keys listed in one compliance upload */

enum drill_kind {
	DRILL_ESCROW,    /* POST /v1/keys of a canary key */
	DRILL_LOOKUP,    /* GET /v1/keys/{id} while faults happen */
	DRILL_READBACK,  /* GET /v1/keys/{id} of an acknowledged key, at the end */
	DRILL_UPLOAD,    /* POST /v1/compliance of a report of the canary machine */
	DRILL_BREAK_GLASS, /* GET /v1/keys/{id}?break_glass=1 to a node without a
			      quorum (drill run's quorum-loss) */
};

enum drill_result {
	DRILL_OK,        /* escrow or upload acknowledged, or lookup returned the
			    password */
	DRILL_FAILED,    /* a refusal that says nothing was done */
	DRILL_UNKNOWN,   /* no answer (timeout, connection lost, 5xx): may or may not
			    have been applied */
	DRILL_NOT_FOUND, /* lookup: 404 key_not_found (break-glass: not_found_break_glass) */
	DRILL_WRONG,     /* lookup: 200 with another password */
};

/* One canary key. */
struct drill_key {
	char key_id[DRILL_KEY_ID_LEN + 1];
	char password[DRILL_PASSWORD_LEN + 1];
	bool reserved;           /* kept for a break-glass lookup: no ordinary lookup */
	bool bg_used;            /* a break-glass lookup took it */
};

/* A break-glass lookup that returned a password, and what the cluster
 * recorded of it after the heal. */
struct drill_break_glass {
	uint32_t key;            /* index in the key table */
	uint16_t node;           /* the node that served it */
	double at_ms;            /* when it answered */
	char id[48];             /* its break_glass_id */
	uint32_t entries;        /* audit entries with that id */
	uint32_t bad_entries;    /* of them: not break_glass, or another key */
	int disclosed;           /* the key's disclosed_at after the heal: 1 set, 0 not,
				    -1 unread (a violation once bg_checked) */
};

/* One request and what came of it; times in ms since the drill began. */
struct drill_op {
	enum drill_kind kind;
	enum drill_result result;
	uint32_t key;            /* index in the key table (not for uploads) */
	uint32_t upload;         /* DRILL_UPLOAD: index in the upload table */
	uint16_t node;           /* index in --nodes */
	double start_ms, end_ms;
	char code[DRILL_CODE_MAX]; /* why it did not succeed: "503 no_leader",
				      "timeout", "connect", ... ("" when ok) */
};

/* A node cut off from the majority by a partition, from from_ms (the cut in
 * place) to to_ms (the heal began). */
struct drill_cut {
	uint16_t node;           /* index in --nodes, as drill_op.node */
	double from_ms, to_ms;
};

/* One compliance upload of the canary machine: its report's sequence number
 * is its index in the upload table (the report's os is "drill report N"). */
struct drill_upload {
	uint32_t listed[DRILL_UPLOAD_KEYS];  /* canary keys the report lists */
	uint32_t rotated[DRILL_UPLOAD_KEYS]; /* those in the answer's rotate_key_ids */
	uint8_t n_listed, n_rotated;
};

struct drill_history {
	struct drill_key *keys;
	size_t n_keys, cap_keys;
	struct drill_op *ops;
	size_t n_ops, cap_ops;
	struct drill_cut *cuts;
	size_t n_cuts, cap_cuts;
	/* Per key: key.read entries found in the audit log, when checked. */
	uint32_t *audit_reads;
	bool audit_checked;
	struct drill_upload *uploads;
	size_t n_uploads, cap_uploads;
	struct drill_break_glass *bgs;
	size_t n_bgs, cap_bgs;
	bool bg_checked;         /* their audit entries were counted */
	/* The canary machine's report read back after the heal, when read. */
	bool report_checked;
	bool report_found;       /* false: 404, the machine has no report */
	long report_seq;         /* its sequence number; -1 when not a drill's */
};

struct drill_window {
	double start_ms, length_ms;
};

struct drill_code_count {
	char code[DRILL_CODE_MAX];
	uint64_t count;
};

struct drill_report {
	uint64_t escrows, acked, escrow_failed, escrow_unknown;
	uint64_t lookups, lookups_ok, lookup_failed;
	uint64_t readbacks, verified;
	uint64_t lost, unverified, wrong, stale;
	uint64_t cut_answers;   /* successes of a node cut off from the majority */
	uint64_t unaudited;     /* keys answered more often than audited */
	uint64_t overaudited;   /* keys audited more often than they can have been read */
	uint64_t answered;      /* passwords returned (lookups and read-backs) */
	uint64_t audited;       /* key.read entries found for them */
	uint64_t uploads, uploads_acked, upload_failed, upload_unknown;
	uint64_t lost_reports;     /* 1 when the stored report is not a possible last one */
	uint64_t rotations_missed; /* (upload, disclosed key) pairs missing a rotation */
	uint64_t rotations_due;    /* (upload, disclosed key) pairs checked */
	uint64_t bg_lookups, bg_served, bg_missed; /* break-glass: sent, password, 404 */
	uint64_t bg_unaudited;     /* served without exactly one audit entry */
	uint64_t bg_undisclosed;   /* served, their key not disclosed after the heal */
	char findings[DRILL_FINDINGS_MAX][160]; /* the first violations, in words */
	size_t n_findings;
	struct drill_window windows[DRILL_WINDOWS_MAX];
	size_t n_windows;
	uint64_t windows_dropped;               /* beyond DRILL_WINDOWS_MAX */
	double longest_window_ms;
	struct drill_code_count codes[DRILL_CODES_MAX];
	size_t n_codes;
	/* Latency of the requests that succeeded during the load (read-backs
	 * excluded): a failover the clients waited out shows here. */
	double latency_p50_ms, latency_p99_ms, latency_max_ms;
};

/* Adds a key (copied); returns its index, or -1 when out of memory. */
long drill_key_add(struct drill_history *h, const char *key_id, const char *password);

/* Appends op (copied); false when out of memory. */
bool drill_op_add(struct drill_history *h, const struct drill_op *op);

/* Adds an upload (copied); returns its index (its sequence number), or -1
 * when out of memory. */
long drill_upload_add(struct drill_history *h, const struct drill_upload *u);

/* Appends a served break-glass lookup (copied); false when out of memory. */
bool drill_bg_add(struct drill_history *h, const struct drill_break_glass *bg);

/* Appends a cut (copied); false when out of memory. */
bool drill_cut_add(struct drill_history *h, const struct drill_cut *cut);

void drill_history_free(struct drill_history *h);

/* Reads the history; fills r. */
void drill_check(const struct drill_history *h, struct drill_report *r);

/* True when r holds no lost, unverified, wrong, stale, cut-off, unaudited
 * or overaudited answer, no lost report, no missed rotation and no
 * break-glass lookup unaudited or undisclosed. */
bool drill_report_safe(const struct drill_report *r);

#endif
