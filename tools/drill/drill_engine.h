/* The drill engine shared by `escrowctl drill watch` and `drill run`: the
 * canary workload on libcurl's multi interface, the read-back, the report.
 * It talks to the cluster through tools/client only. */
#ifndef ESCROW_DRILL_ENGINE_H
#define ESCROW_DRILL_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tools/client/ctl_client.h"
#include "tools/drill/drill_check.h"
#include "tools/drill/drill_pki.h"

#define DRILL_RATE_DEFAULT 20          /* requests per second */
#define DRILL_RATE_MAX 2000
#define DRILL_DURATION_DEFAULT_S 60
#define DRILL_DURATION_MAX_S 86400
/* Requests in flight at most: enough that requests stuck on a paused node
 * (until their timeout) do not stop the load. */
#define DRILL_SLOTS_DEFAULT 64
#define DRILL_SLOTS_MAX 64
#define DRILL_REQUEST_TIMEOUT_MS 3000   /* one request; past it: unknown outcome */
#define DRILL_READBACK_S 60             /* read-back keeps retrying this long (the
					   keys: this long without one read back) */
#define DRILL_READBACK_MAX_S 900        /* the keys' read-back, at most */
#define DRILL_RETRY_MS 200              /* a read-back that failed waits this long */
#define DRILL_RESP_MAX 4096
#define DRILL_WINDOW_LISTED_MS 100    /* shorter windows are counted, not listed */
#define DRILL_LEADERS_MAX 256           /* leader changes kept for the timeline */
#define DRILL_DISCLOSED_KEPT 8          /* keys lookups returned last, listed in reports */
#define DRILL_KEPT_EVERY 5              /* one acknowledged key in 5 is kept from
					   lookups, for break-glass lookups */

/* How a drill ended; escrowctl turns it into its exit code. */
enum drill_outcome {
	DRILL_OUTCOME_OK = 0,      /* safe (drill run: every other check passed too) */
	DRILL_OUTCOME_FAILED,      /* unsafe, a check failed, or an error (printed) */
	DRILL_OUTCOME_USAGE,       /* the options leave nothing to run (printed) */
	DRILL_OUTCOME_UNREACHABLE, /* nothing succeeded: no node answered */
};

/* What the caller chooses for a drill. */
struct drill_opts {
	double rate;              /* requests per second */
	double duration_ms;       /* of the load */
	size_t n_slots;           /* requests in flight at most, 1..DRILL_SLOTS_MAX */
	long request_timeout_ms;  /* one request; past it: unknown outcome */
	const char *history_path; /* --history FILE, or NULL; borrowed */
	bool json;                /* the report as one JSON object, no progress lines */
};

struct drill;

/* One request in flight. */
struct dslot {
	struct drill *d;
	CURL *h;
	bool busy;
	bool status;            /* a GET /v1/status for the leader column */
	struct drill_op op;
	unsigned attempts;      /* nodes tried for this request */
	char path[160];         /* the request's path, sent to node op.node */
	char url[CTL_URL_MAX + 160];
	char body[1536];        /* an escrow, or a compliance report of 16 keys */
	char resp[DRILL_RESP_MAX];
	size_t resp_len;
	char errbuf[CURL_ERROR_SIZE];
};

/* A client certificate and its key (file names, borrowed). */
struct drill_identity {
	const char *cert, *key;
};

struct leader_change {
	double at_ms;
	long leader;            /* 0: none known */
};

struct drill {
	struct ctl_client *client; /* connected, borrowed */
	/* The certificate each kind of request shows: escrows and uploads as
	 * agent, lookups as helpdesk, audit and report reads as auditor,
	 * status as operator. cert NULL: the client's own (drill watch). */
	struct drill_identity as[DPKI__ROLES];
	struct drill_opts opts;
	struct drill_history h;
	CURLM *m;
	struct curl_slist *headers;
	struct dslot slots[DRILL_SLOTS_MAX + 1]; /* the last one polls the status */
	size_t n_slots;
	char machine[64];
	uint8_t run_id[6];
	double t0;
	uint64_t issued, next_node, status_node;
	uint64_t key_requests;  /* escrows and lookups issued (uploads aside) */
	uint64_t failovers;     /* requests sent again to the next node */
	uint32_t *acked;        /* keys acknowledged so far, for lookups */
	size_t n_acked, cap_acked;
	size_t bg_next;         /* acked[] before it: no key for break-glass lookups */
	uint32_t disclosed[DRILL_DISCLOSED_KEPT]; /* keys lookups returned last, oldest first */
	size_t n_disclosed;
	uint64_t sec_ok, sec_failed, sec_unknown;
	long leader;
	struct leader_change leaders[DRILL_LEADERS_MAX];
	size_t n_leaders;
	bool nomem;
	/* Called on every turn of the workload loop with the drill's time
	 * (drill run injects its faults there); may be NULL. */
	void (*tick)(struct drill *d, double t_ms);
	void *tick_data;
	uint64_t audit_since;   /* the audit log's last seq before the load */
	bool audit_marked;      /* audit_since known: the audit check runs */
	/* read-back */
	size_t rb_next;         /* next key to read back */
	double *rb_retry_at;    /* per key: when to try again, 0 when done */
	size_t rb_left;
};

/* SIGINT count while a drill runs: once ends the load, twice the read-back. */
extern volatile sig_atomic_t drill_interrupted;

/* Prints "escrowctl: drill: " and the message to stderr; returns o. */
enum drill_outcome drill_fail(enum drill_outcome o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

double drill_now_ms(void);

/* "503 no_leader" from an error body (NUL-terminated), or "HTTP 503". */
void drill_error_code(const char *body, long status, char *out, size_t size);

/* ms since the drill's t0. */
double drill_since(const struct drill *d);

/* Zeroes d and sets its client (borrowed until the drill ends; connected
 * before drill_engine_setup) and options (copied). */
void drill_engine_init(struct drill *d, struct ctl_client *client,
		       const struct drill_opts *o);

/* ctl_client_request of d's client (fail-over across its nodes) showing
 * the certificate of role; as ctl_client_request. */
int drill_engine_request(struct drill *d, enum dpki_role role, const char *method,
			 const char *path, struct ctl_response *r, char *errmsg);

/* GETs f->url from that one node (no fail-over) showing the certificate of
 * role, bounded by timeout_ms; f->err's code (f->resp valid on ESC_OK), or
 * ctl_client_fetch_all's own failure. */
int drill_engine_fetch(struct drill *d, enum dpki_role role, struct ctl_fetch *f,
		       long timeout_ms);

/* Makes the curl handles and the canary machine name. Each step below
 * returns DRILL_OUTCOME_OK, or another outcome with the error printed. */
enum drill_outcome drill_engine_setup(struct drill *d);

/* Runs the load until the duration or a SIGINT, calling d->tick. */
enum drill_outcome drill_engine_workload(struct drill *d);

/* The index of this run's canary key key_id (RUN-D811-0000-INDEX), or -1. */
long drill_engine_key_index(const struct drill *d, const char *key_id);

/* Reads every acknowledged key back, retrying unanswered ones. */
enum drill_outcome drill_engine_readback(struct drill *d);

json_t *drill_engine_report_json(const struct drill *d, const struct drill_report *r);
void drill_engine_report_text(const struct drill *d, const struct drill_report *r);

/* The outcome for r: DRILL_OUTCOME_OK when safe, DRILL_OUTCOME_UNREACHABLE
 * when nothing succeeded, else DRILL_OUTCOME_FAILED. */
enum drill_outcome drill_engine_verdict(const struct drill_report *r);

/* Writes every request of the history to path, one JSON object a line:
 * kind, key_id, node (1-based position in the node list), start_ms, end_ms,
 * result, code; a compliance upload has machine, seq, key_ids and
 * rotate_key_ids instead of key_id; then the report read back (kind
 * machine: machine, found, seq). No password. */
enum drill_outcome drill_engine_write_history(const struct drill *d, const char *path);

void drill_engine_teardown(struct drill *d);

#endif
