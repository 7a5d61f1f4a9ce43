/* Unit tests of the store's compliance: reports judged on apply and again
 * when keys or the policy change, retired keys, exemptions and staleness
 * at read, history, paging and counts, the search by name prefix, schema
 * versions 2 and 3 and the upgrades,
 * digests and images; and how long 100,000 machines take (diagnostics). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/error.h"
#include "store/compliance_wire.h"
#include "store/seal.h"
#include "store/snapfile.h"
#include "store/store.h"
#include "tests/store_fixture.h"
#include "tests/unit.h"

#define DAY 86400000LL
#define CLUSTER "00112233445566778899aabbccddeeff"
#define BENCH_MACHINES 100000

#define COMPLIANT COMPLIANCE_STATUS_COMPLIANT
#define NONCOMPLIANT COMPLIANCE_STATUS_NONCOMPLIANT
#define EXEMPT COMPLIANCE_STATUS_EXEMPT
#define UNKNOWN COMPLIANCE_STATUS_UNKNOWN
#define NOT_ESCROWED COMPLIANCE_REASON_RECOVERY_KEY_NOT_ESCROWED
#define ROTATION COMPLIANCE_REASON_ROTATION_PENDING
#define FIXED_UNPROTECTED COMPLIANCE_REASON_FIXED_VOLUME_NOT_PROTECTED
#define OS_UNPROTECTED COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED

/* Big structs, one of each at a time. */
static struct compliance_report report;
static struct store_machine machine_out;
static uint8_t payload[COMPLIANCE_WIRE_REPORT_MAX];

static void cmd_escrow(struct cmd *c, const char *key_id, const char *pw, const char *machine,
		       int64_t at)
{
	size_t len = 0;

	cmd_base(c, CMD_ESCROW, at);
	snprintf(c->key_id, sizeof(c->key_id), "%s", key_id);
	snprintf(c->volume_id, sizeof(c->volume_id), "vol-%s", key_id);
	snprintf(c->volume_type, sizeof(c->volume_type), "os");
	snprintf(c->machine, sizeof(c->machine), "%s", machine);
	seal_seal(&seal, key_id, (const uint8_t *)pw, strlen(pw), c->sealed, &len, NULL);
	c->sealed_len = (uint32_t)len;
	seal_mac(&seal, key_id, pw, c->pw_mac);
}

static void cmd_lookup(struct cmd *c, const char *key_id, int64_t at)
{
	cmd_base(c, CMD_LOOKUP, at);
	snprintf(c->actor, sizeof(c->actor), "helpdesk-bob");
	snprintf(c->role, sizeof(c->role), "helpdesk");
	snprintf(c->key_id, sizeof(c->key_id), "%s", key_id);
	snprintf(c->reason, sizeof(c->reason), "lost_pin");
}

/* A report of machine with no volumes yet. */
static void report_start(const char *machine)
{
	memset(&report, 0, sizeof(report));
	snprintf(report.machine, sizeof(report.machine), "%s", machine);
	snprintf(report.user, sizeof(report.user), "CORP\\alice");
	snprintf(report.os, sizeof(report.os), "Windows 11 Enterprise 23H2");
}

/* Adds a volume: protected (fully encrypted, on, xts_aes_256) or not
 * (fully decrypted, off, none), listing the key ids given (NULL-ended). */
static void report_volume(unsigned type, int protected_, ...)
{
	struct compliance_volume *v = &report.volumes[report.n_volumes];
	const char *key_id;
	va_list ap;

	snprintf(v->volume_id, sizeof(v->volume_id), "\\\\?\\Volume{%u}", report.n_volumes);
	v->volume_type = (uint8_t)type;
	v->protection = protected_ ? COMPLIANCE_PROTECTION_ON : COMPLIANCE_PROTECTION_OFF;
	v->conversion = protected_ ? COMPLIANCE_CONVERSION_FULLY_ENCRYPTED :
				     COMPLIANCE_CONVERSION_FULLY_DECRYPTED;
	v->method = protected_ ? COMPLIANCE_METHOD_XTS_AES_256 : COMPLIANCE_METHOD_NONE;
	v->percent = protected_ ? 100 : 0;
	v->protectors = protected_ ? COMPLIANCE_PROTECTOR_TPM |
					     COMPLIANCE_PROTECTOR_RECOVERY_PASSWORD :
				     0;
	va_start(ap, protected_);
	while ((key_id = va_arg(ap, const char *)) != NULL)
		snprintf(v->key_ids[v->n_key_ids++], sizeof(v->key_ids[0]), "%s", key_id);
	va_end(ap);
	report.n_volumes++;
}

/* CMD_COMPLIANCE carrying the report built so far (payload is static). */
static void cmd_report(struct cmd *c, int64_t at)
{
	size_t n;

	cmd_base(c, CMD_COMPLIANCE, at);
	snprintf(c->machine, sizeof(c->machine), "%s", report.machine);
	n = compliance_report_encode(&report, payload, sizeof(payload));
	c->payload = payload;
	c->payload_len = (uint32_t)n;
}

static uint8_t policy_buf[COMPLIANCE_WIRE_POLICY_SIZE];

static void cmd_policy(struct cmd *c, const struct compliance_policy *p, int64_t at)
{
	cmd_base(c, CMD_POLICY, at);
	snprintf(c->actor, sizeof(c->actor), "ops-carol");
	snprintf(c->role, sizeof(c->role), "operator");
	compliance_policy_encode(p, policy_buf);
	c->payload = policy_buf;
	c->payload_len = sizeof(policy_buf);
}

static void cmd_exempt(struct cmd *c, const char *machine, int64_t until, const char *note,
		       int64_t at)
{
	cmd_base(c, CMD_EXEMPT, at);
	snprintf(c->actor, sizeof(c->actor), "ops-carol");
	snprintf(c->role, sizeof(c->role), "operator");
	snprintf(c->machine, sizeof(c->machine), "%s", machine);
	snprintf(c->note, sizeof(c->note), "%s", note);
	c->until_ms = until;
}

/* Reads machine into machine_out at now; its status, or -1. */
static int machine_status(struct store *s, const char *machine, int64_t now)
{
	char errmsg[ESC_ERRMSG_SIZE];
	int rv;

	rv = store_machine(s, machine, now, &machine_out, errmsg);
	if (rv != ESC_OK) {
		printf("# store_machine %s: %s\n", machine, errmsg);
		return -1;
	}
	return machine_out.status;
}

/* The last audit entry as "action|machine|note|outcome|actor|role". */
struct last_audit {
	uint64_t n;
	char text[1400];
};

static int last_audit_cb(const struct store_audit_row *row, void *arg)
{
	struct last_audit *l = arg;

	l->n++;
	snprintf(l->text, sizeof(l->text), "%s|%s|%s|%s|%s|%s", row->action, row->machine,
		 row->note, row->outcome, row->actor, row->role);
	return 0;
}

static struct last_audit audit_last(struct store *s)
{
	struct last_audit l = { 0, "" };

	struct store_audit_filter f = { .since = 0, .limit = 1000000 };

	store_audit_each(s, &f, last_audit_cb, &l, NULL);
	return l;
}

/* A key's record as store_machine_keys reads it; 0 when found. */
static int key_read(struct store *s, const char *machine, const char *key_id,
		    struct store_key *out)
{
	struct store_key *keys = NULL;
	size_t n = 0, i;
	int rv = -1;

	if (store_machine_keys(s, machine, &keys, &n, NULL) != ESC_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (strcmp(keys[i].key_id, key_id) == 0) {
			*out = keys[i];
			rv = 0;
		}
	}
	free(keys);
	return rv;
}

TEST(first_report_is_judged)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);

	/* Protected, its key held: compliant. */
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 10);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, COMPLIANT);
	CHECK_INT(r.reasons, 0);
	CHECK_INT(r.n_rotate, 0);
	CHECK_INT(r.audit_seq, 0); /* uploads are not audited */

	/* Its key not escrowed, a removable volume off: only the key counts
	 * under the default policy. */
	report_start("pc-02");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_B, NULL);
	report_volume(COMPLIANCE_VOLUME_REMOVABLE, 0, NULL);
	cmd_report(&c, T0 + 20);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, NONCOMPLIANT);
	CHECK_INT(r.reasons, NOT_ESCROWED);

	/* The os volume off and unlisted keys: every reason that applies. */
	report_start("pc-03");
	report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
	cmd_report(&c, T0 + 30);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, NONCOMPLIANT);
	CHECK_INT(r.reasons, COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED);

	CHECK_INT(machine_status(s, "PC-02", T0 + 40), NONCOMPLIANT);
	CHECK_STR(machine_out.report.machine, "pc-02");
	CHECK_STR(machine_out.report.user, "CORP\\alice");
	CHECK_INT(machine_out.report.n_volumes, 2);
	CHECK_INT(machine_out.reported_at_ms, T0 + 20);
	CHECK_INT(machine_out.reasons, NOT_ESCROWED);
	CHECK_INT(machine_out.judged_index, 3);
	CHECK(!machine_out.stale);
	CHECK(!machine_out.exempt);
	CHECK_INT(machine_out.n_history, 1);
	CHECK_INT(machine_out.history[0].index, 3);
	CHECK_INT(machine_out.history[0].at_ms, T0 + 20);
	CHECK_INT(machine_out.history[0].status, NONCOMPLIANT);
	CHECK_INT(store_machine(s, "pc-99", T0, &machine_out, NULL), ESC_ENOTFOUND);
	store_close(s);
}

TEST(escrow_of_a_listed_key_judges_again)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK_INT(r.reasons, NOT_ESCROWED);

	/* The key escrowed for another machine is not held for this one. */
	cmd_escrow(&c, KEY_B, PW_1, "pc-01", T0 + 5);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 6), NONCOMPLIANT);
	CHECK_INT(machine_out.n_history, 1);

	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0 + 10);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK(r.created);
	CHECK_INT(machine_status(s, "pc-01", T0 + 11), COMPLIANT);
	CHECK_INT(machine_out.reasons, 0);
	CHECK_INT(machine_out.judged_index, 3);
	CHECK_INT(machine_out.n_history, 2);
	CHECK_INT(machine_out.history[0].status, COMPLIANT);
	CHECK_INT(machine_out.history[0].at_ms, T0 + 10);
	CHECK_INT(machine_out.history[1].status, NONCOMPLIANT);
	/* The report's upload time stays the report's. */
	CHECK_INT(machine_out.reported_at_ms, T0);
	store_close(s);
}

TEST(disclosure_asks_for_rotation)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_B, PW_2, "pc-02", T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 1);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, COMPLIANT);
	/* pc-02 lists pc-01's key as well: not held for pc-02. */
	report_start("pc-02");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_B, KEY_A, NULL);
	cmd_report(&c, T0 + 2);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.reasons, NOT_ESCROWED);

	cmd_lookup(&c, KEY_A, T0 + 100);
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 101), NONCOMPLIANT);
	CHECK_INT(machine_out.reasons, ROTATION);
	CHECK_INT(machine_out.judged_index, 5);
	CHECK_INT(machine_out.n_history, 2);
	CHECK_INT(machine_status(s, "pc-02", T0 + 101), NONCOMPLIANT);
	CHECK_INT(machine_out.reasons, NOT_ESCROWED);
	CHECK_INT(machine_out.n_history, 1);

	/* A second lookup discloses nothing new: nothing judged. */
	cmd_lookup(&c, KEY_A, T0 + 150);
	CHECK_INT(apply(s, 6, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 151), NONCOMPLIANT);
	CHECK_INT(machine_out.judged_index, 5);

	/* The next report is told which key to rotate. */
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 200);
	CHECK_INT(apply(s, 7, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, NONCOMPLIANT);
	CHECK_INT(r.reasons, ROTATION);
	CHECK_INT(r.n_rotate, 1);
	CHECK_STR(r.rotate_key_ids[0], KEY_A);

	/* A prefix lookup disclosing B judges pc-02 again. */
	cmd_lookup(&c, "", T0 + 300);
	c.type = CMD_LOOKUP_PREFIX;
	snprintf(c.prefix, sizeof(c.prefix), "0A1B2C3D0000111122223333444455");
	CHECK_INT(apply(s, 8, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 2);
	CHECK_INT(machine_status(s, "pc-02", T0 + 301), NONCOMPLIANT);
	CHECK_INT(machine_out.reasons, NOT_ESCROWED | ROTATION);
	CHECK_INT(machine_out.n_history, 2);
	CHECK_INT(machine_out.history[0].index, 8);
	store_close(s);
}

TEST(unlisted_key_is_retired_and_still_found)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct store_key k;
	struct cmd c;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_B, PW_2, "pc-01", T0 + 1);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 10);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(key_read(s, "pc-01", KEY_A, &k), 0);
	CHECK_INT(k.retired_at_ms, 0);

	/* Rotated: the agent now lists B only. */
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_B, NULL);
	cmd_report(&c, T0 + 20);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, COMPLIANT);
	CHECK_INT(key_read(s, "pc-01", KEY_A, &k), 0);
	CHECK_INT(k.retired_at_ms, T0 + 20);
	CHECK_INT(key_read(s, "pc-01", KEY_B, &k), 0);
	CHECK_INT(k.retired_at_ms, 0);

	/* A later report keeps the first retirement time. */
	cmd_report(&c, T0 + 30);
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK_INT(key_read(s, "pc-01", KEY_A, &k), 0);
	CHECK_INT(k.retired_at_ms, T0 + 20);

	/* Still readable, marked retired. */
	cmd_lookup(&c, KEY_A, T0 + 40);
	CHECK_INT(apply(s, 6, &c, &r), ESC_OK);
	CHECK_INT(r.n_keys, 1);
	CHECK_INT(r.keys[0].retired_at_ms, T0 + 20);
	CHECK_INT(r.keys[0].disclosed_at_ms, T0 + 40);

	/* Listed again: no longer retired. */
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_B, KEY_A, NULL);
	cmd_report(&c, T0 + 50);
	CHECK_INT(apply(s, 7, &c, &r), ESC_OK);
	CHECK_INT(r.reasons, ROTATION);
	CHECK_INT(key_read(s, "pc-01", KEY_A, &k), 0);
	CHECK_INT(k.retired_at_ms, 0);
	store_close(s);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Applies the CMD_REJUDGE entries a leader would propose, from *index on,
 * until the re-judge ends; the longest one's time into *longest_ms when not
 * NULL. Returns how many were applied, -1 on an error. */
static int rejudge_run(struct store *s, uint64_t *index, int64_t at, double *longest_ms)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct store_result r;
	struct timespec t0;
	struct cmd c;
	double ms;
	int n = 0;

	if (longest_ms != NULL)
		*longest_ms = 0;
	for (;;) {
		cmd_base(&c, CMD_REJUDGE, at);
		if (!store_rejudge_due(s, &c))
			return n;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (store_apply(s, (*index)++, &c, &r, errmsg) != ESC_OK ||
		    store_flush(s, errmsg) != ESC_OK || r.status != ESC_OK) {
			printf("# re-judge: %s (status %d)\n", errmsg, r.status);
			return -1;
		}
		ms = seconds_since(&t0) * 1e3;
		if (longest_ms != NULL && ms > *longest_ms)
			*longest_ms = ms;
		n++;
	}
}

TEST(policy_change_judges_every_report_again)
{
	struct store *s = store_fresh();
	struct compliance_policy p, got;
	struct store_result r;
	struct last_audit l;
	uint64_t index = 9;
	char errmsg[ESC_ERRMSG_SIZE];
	struct cmd c;

	CHECK(s != NULL);
	CHECK_INT(store_policy(s, &got, &index, errmsg), ESC_OK);
	compliance_policy_default(&p);
	CHECK(memcmp(&got, &p, sizeof(p)) == 0);
	CHECK_INT(index, 0);

	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_escrow(&c, KEY_B, PW_2, "pc-02", T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	report_volume(COMPLIANCE_VOLUME_FIXED, 0, NULL);
	cmd_report(&c, T0 + 1);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, COMPLIANT);
	report_start("pc-02");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_B, NULL);
	cmd_report(&c, T0 + 2);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, COMPLIANT);

	p.fixed_volumes = COMPLIANCE_REQUIRED;
	cmd_policy(&c, &p, T0 + 100);
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK_INT(r.audit_seq, 3);
	l = audit_last(s);
	CHECK_STR(l.text, "policy.set|||set|ops-carol|operator");
	CHECK_INT(store_policy(s, &got, &index, errmsg), ESC_OK);
	CHECK(memcmp(&got, &p, sizeof(p)) == 0);
	CHECK_INT(index, 5);

	/* The stored verdicts change in the re-judge's own entries. */
	CHECK(store_rejudging(s));
	CHECK_INT(machine_status(s, "pc-01", T0 + 101), COMPLIANT);
	cmd_base(&c, CMD_REJUDGE, T0 + 101);
	CHECK(store_rejudge_due(s, &c));
	CHECK_STR(c.machine, "");
	CHECK_INT(c.policy_index, 5);
	CHECK_INT(apply(s, 6, &c, &r), ESC_OK);
	CHECK_INT(r.status, ESC_OK);
	CHECK(!store_rejudging(s));
	CHECK(!store_rejudge_due(s, &c));
	/* The same batch again (a new leader proposed it too): nothing. */
	CHECK_INT(apply(s, 7, &c, &r), ESC_ECONFLICT);

	CHECK_INT(machine_status(s, "pc-01", T0 + 101), NONCOMPLIANT);
	CHECK_INT(machine_out.reasons, FIXED_UNPROTECTED);
	CHECK_INT(machine_out.judged_index, 6);
	CHECK_INT(machine_out.n_history, 2);
	CHECK_INT(machine_out.history[0].at_ms, T0 + 101);
	CHECK_INT(machine_status(s, "pc-02", T0 + 101), COMPLIANT);
	CHECK_INT(machine_out.judged_index, 4);
	CHECK_INT(machine_out.n_history, 1);

	/* New reports are judged under it too. */
	report_start("pc-03");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_C, NULL);
	report_volume(COMPLIANCE_VOLUME_FIXED, 0, NULL);
	cmd_report(&c, T0 + 110);
	CHECK_INT(apply(s, 8, &c, &r), ESC_OK);
	CHECK_INT(r.reasons, FIXED_UNPROTECTED | NOT_ESCROWED);

	/* The same policy again: audited, nothing judged. */
	cmd_policy(&c, &p, T0 + 200);
	CHECK_INT(apply(s, 9, &c, &r), ESC_OK);
	l = audit_last(s);
	CHECK_STR(l.text, "policy.set|||unchanged|ops-carol|operator");
	CHECK_INT(store_policy(s, &got, &index, errmsg), ESC_OK);
	CHECK_INT(index, 9);
	CHECK(!store_rejudging(s));

	/* Back to the default: pc-01 is compliant again. */
	compliance_policy_default(&p);
	cmd_policy(&c, &p, T0 + 300);
	CHECK_INT(apply(s, 10, &c, &r), ESC_OK);
	index = 11;
	CHECK_INT(rejudge_run(s, &index, T0 + 301, NULL), 1);
	CHECK_INT(machine_status(s, "pc-01", T0 + 301), COMPLIANT);
	CHECK_INT(machine_out.n_history, 3);
	store_close(s);
}

/* More machines than one batch (each with its os volume off: noncompliant
 * under any policy, with the fixed one off too once fixed volumes are
 * required): each entry judges STORE_REJUDGE_BATCH in machine order and
 * leaves the rest; a batch of a replaced policy, or one
 * that is not the next, changes nothing; a new policy starts over; the
 * re-judge survives a reopen. */
TEST(policy_rejudge_in_batches)
{
	enum { MACHINES = 2 * STORE_REJUDGE_BATCH + 10 };
	char errmsg[ESC_ERRMSG_SIZE], name[64], path[128];
	struct compliance_policy p;
	struct store *s = store_fresh();
	struct store_result r;
	uint64_t index = 1, policy_at;
	struct cmd c, stale;
	int i;

	CHECK(s != NULL);
	for (i = 0; i < MACHINES; i++) {
		snprintf(name, sizeof(name), "pc-%05d", i);
		report_start(name);
		report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
		report_volume(COMPLIANCE_VOLUME_FIXED, 0, NULL);
		cmd_report(&c, T0 + i);
		CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	}
	compliance_policy_default(&p);
	p.fixed_volumes = COMPLIANCE_REQUIRED;
	cmd_policy(&c, &p, T0 + MACHINES);
	policy_at = index;
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);

	/* The first batch: the first STORE_REJUDGE_BATCH machines. */
	cmd_base(&c, CMD_REJUDGE, T0 + MACHINES + 1);
	CHECK(store_rejudge_due(s, &c));
	stale = c;
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	CHECK_INT(r.status, ESC_OK);
	CHECK(store_rejudging(s));
	snprintf(name, sizeof(name), "pc-%05d", STORE_REJUDGE_BATCH - 1);
	CHECK_INT(machine_status(s, name, T0 + MACHINES + 2), NONCOMPLIANT);
	CHECK_INT(machine_out.reasons, OS_UNPROTECTED | FIXED_UNPROTECTED);
	snprintf(name, sizeof(name), "pc-%05d", STORE_REJUDGE_BATCH);
	CHECK_INT(machine_status(s, name, T0 + MACHINES + 2), NONCOMPLIANT);
	CHECK_INT(machine_out.reasons, OS_UNPROTECTED);
	cmd_base(&c, CMD_REJUDGE, T0 + MACHINES + 2);
	CHECK(store_rejudge_due(s, &c));
	snprintf(name, sizeof(name), "pc-%05d", STORE_REJUDGE_BATCH - 1);
	CHECK_STR(c.machine, name);
	CHECK_INT(c.policy_index, (int64_t)policy_at);

	/* The first batch again, and a batch of another policy: nothing. */
	CHECK_INT(apply(s, index++, &stale, &r), ESC_ECONFLICT);
	stale = c;
	stale.policy_index = (int64_t)policy_at - 1;
	CHECK_INT(apply(s, index++, &stale, &r), ESC_ECONFLICT);
	cmd_base(&c, CMD_REJUDGE, T0 + MACHINES + 2);
	CHECK(store_rejudge_due(s, &c));
	CHECK_STR(c.machine, name);

	/* A reopened store goes on from where it was. */
	CHECK_INT(store_flush(s, errmsg), ESC_OK);
	store_close(s);
	CHECK_INT(store_open(&s, last_path(path, sizeof(path)), errmsg), ESC_OK);
	CHECK(store_rejudging(s));
	cmd_base(&c, CMD_REJUDGE, T0 + MACHINES + 2);
	CHECK(store_rejudge_due(s, &c));
	CHECK_STR(c.machine, name);

	/* A new policy mid-way starts over from the first machine. */
	compliance_policy_default(&p);
	cmd_policy(&c, &p, T0 + MACHINES + 3);
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	cmd_base(&c, CMD_REJUDGE, T0 + MACHINES + 4);
	CHECK(store_rejudge_due(s, &c));
	CHECK_STR(c.machine, "");
	CHECK_INT(rejudge_run(s, &index, T0 + MACHINES + 4, NULL), 3);
	CHECK(!store_rejudging(s));
	for (i = 0; i < MACHINES; i += 7) {
		snprintf(name, sizeof(name), "pc-%05d", i);
		CHECK_INT(machine_status(s, name, T0 + MACHINES + 5), NONCOMPLIANT);
		CHECK_INT(machine_out.reasons, OS_UNPROTECTED);
	}
	store_close(s);
}

TEST(policy_survives_reopen)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE];
	struct compliance_policy p, got;
	struct store *s = store_fresh();
	struct store_result r;
	uint64_t index = 0;
	struct cmd c;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	compliance_policy_default(&p);
	p.stale_after_days = 30;
	p.os_protectors = COMPLIANCE_PROTECTOR_TPM_PIN;
	cmd_policy(&c, &p, T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	store_close(s);
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK_INT(store_policy(s, &got, &index, errmsg), ESC_OK);
	CHECK(memcmp(&got, &p, sizeof(p)) == 0);
	CHECK_INT(index, 1);
	store_close(s);
}

TEST(exemption_shows_until_it_expires)
{
	char before[65], after[65];
	struct store *s = store_fresh();
	struct store_result r;
	struct last_audit l;
	uint64_t counts[4];
	struct cmd c;

	CHECK(s != NULL);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
	cmd_report(&c, T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, NONCOMPLIANT);

	cmd_exempt(&c, "pc-01", T0 + 10 * DAY, "lab machine, ticket 42", T0 + 1);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(r.audit_seq, 1);
	l = audit_last(s);
	CHECK_STR(l.text, "machine.exempt|pc-01|lab machine, ticket 42|"
			  "until 2023-11-24T22:13:20.000Z|ops-carol|operator");
	CHECK_INT(machine_status(s, "pc-01", T0 + 2), EXEMPT);
	CHECK(machine_out.exempt);
	CHECK_INT(machine_out.exempt_until_ms, T0 + 10 * DAY);
	CHECK_INT(machine_out.exempt_at_ms, T0 + 1);
	CHECK_STR(machine_out.exempt_note, "lab machine, ticket 42");
	CHECK_STR(machine_out.exempt_actor, "ops-carol");
	CHECK_INT(machine_out.reasons, COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED);
	CHECK_INT(machine_out.verdict, NONCOMPLIANT);
	CHECK_INT(store_compliance_each(s, NULL, 0, 0, T0 + 2, NULL, NULL, counts, NULL),
		  ESC_OK);
	CHECK_INT(counts[EXEMPT - 1], 1);
	CHECK_INT(counts[NONCOMPLIANT - 1], 0);
	/* Exempt while until is ahead of the reader's clock, not at it. */
	CHECK_INT(machine_status(s, "pc-01", T0 + 10 * DAY - 1), EXEMPT);
	CHECK_INT(machine_status(s, "pc-01", T0 + 10 * DAY), NONCOMPLIANT);
	CHECK(machine_out.exempt);
	CHECK_INT(store_compliance_each(s, NULL, 0, 0, T0 + 10 * DAY, NULL, NULL, counts, NULL),
		  ESC_OK);
	CHECK_INT(counts[EXEMPT - 1], 0);
	CHECK_INT(counts[NONCOMPLIANT - 1], 1);
	/* Counts are cached for a span of the clock: not for an earlier time. */
	CHECK_INT(store_compliance_each(s, NULL, 0, 0, T0 + 3, NULL, NULL, counts, NULL),
		  ESC_OK);
	CHECK_INT(counts[EXEMPT - 1], 1);
	CHECK_INT(store_compliance_each(s, NULL, 0, 0, T0 + 10 * DAY - 1, NULL, NULL, counts,
					NULL),
		  ESC_OK);
	CHECK_INT(counts[EXEMPT - 1], 1);

	/* Moved: the newer until replaces the older. */
	cmd_exempt(&c, "pc-01", T0 + 20 * DAY, "", T0 + 3);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 15 * DAY), EXEMPT);
	CHECK_STR(machine_out.exempt_note, "");

	cmd_exempt(&c, "pc-01", 0, "fixed", T0 + 4);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);
	l = audit_last(s);
	CHECK_STR(l.text, "machine.exempt|pc-01|fixed|end|ops-carol|operator");
	CHECK_INT(l.n, 3);
	CHECK_INT(machine_status(s, "pc-01", T0 + 5), NONCOMPLIANT);
	CHECK(!machine_out.exempt);

	/* Ending none: not found, nothing written but the applied index. */
	CHECK(digest(s, before) == 0);
	cmd_exempt(&c, "pc-01", 0, "", T0 + 6);
	CHECK_INT(apply(s, 5, &c, &r), ESC_ENOTFOUND);
	CHECK_INT(r.audit_seq, 0);
	CHECK_INT(audit_last(s).n, 3);
	CHECK(digest(s, after) == 0);
	CHECK(strcmp(before, after) != 0); /* applied_index moved */

	/* A machine may be exempted before it ever reports. */
	cmd_exempt(&c, "pc-new", T0 + DAY, "", T0 + 7);
	CHECK_INT(apply(s, 6, &c, &r), ESC_OK);
	CHECK_INT(store_machine(s, "pc-new", T0 + 8, &machine_out, NULL), ESC_ENOTFOUND);
	report_start("pc-new");
	report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
	cmd_report(&c, T0 + 9);
	CHECK_INT(apply(s, 7, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, NONCOMPLIANT);
	CHECK_INT(machine_status(s, "pc-new", T0 + 10), EXEMPT);
	store_close(s);
}

TEST(old_report_is_stale_at_read)
{
	struct compliance_policy p;
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 14 * DAY), COMPLIANT);
	CHECK(!machine_out.stale);
	CHECK_INT(machine_status(s, "pc-01", T0 + 14 * DAY + 1), UNKNOWN);
	CHECK(machine_out.stale);
	CHECK_INT(machine_out.verdict, COMPLIANT);

	/* An exemption outranks staleness. */
	cmd_exempt(&c, "pc-01", T0 + 100 * DAY, "", T0 + 1);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 20 * DAY), EXEMPT);
	CHECK(!machine_out.stale);
	cmd_exempt(&c, "pc-01", 0, "", T0 + 2);
	CHECK_INT(apply(s, 4, &c, &r), ESC_OK);

	/* A longer stale_after_days makes it fresh again. */
	compliance_policy_default(&p);
	p.stale_after_days = 30;
	cmd_policy(&c, &p, T0 + 3);
	CHECK_INT(apply(s, 5, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 20 * DAY), COMPLIANT);
	CHECK(!machine_out.stale);
	/* A new report is fresh. */
	cmd_report(&c, T0 + 40 * DAY);
	CHECK_INT(apply(s, 6, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, "pc-01", T0 + 41 * DAY), COMPLIANT);
	store_close(s);
}

TEST(history_keeps_the_32_newest_changes)
{
	struct store *s = store_fresh();
	struct store_result r;
	uint64_t index = 1;
	struct cmd c;
	int i;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	for (i = 0; i < 40; i++) {
		report_start("pc-01");
		report_volume(COMPLIANCE_VOLUME_OS, i % 2 == 0, KEY_A, NULL);
		cmd_report(&c, T0 + i);
		CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
		/* The same again: no change, no history. */
		cmd_report(&c, T0 + i);
		CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	}
	CHECK_INT(machine_status(s, "pc-01", T0 + 50), NONCOMPLIANT);
	CHECK_INT(machine_out.n_history, STORE_HISTORY_MAX);
	for (i = 0; i < STORE_HISTORY_MAX; i++) {
		/* Newest first: report 39 (off) at index 80, 38 at 78, ... */
		CHECK_INT(machine_out.history[i].index, 80 - 2 * i);
		CHECK_INT(machine_out.history[i].at_ms, T0 + 39 - i);
		CHECK_INT(machine_out.history[i].status, i % 2 == 0 ? NONCOMPLIANT : COMPLIANT);
	}
	store_close(s);

	/* Exactly 32 rows are left in the table. */
	{
		char path[128];
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		last_path(path, sizeof(path));
		CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
		CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM verdicts", -1, &st, NULL) ==
		      SQLITE_OK);
		CHECK(sqlite3_step(st) == SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(st, 0), STORE_HISTORY_MAX);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

/* Applies a command of no known type at index: a no-op that only moves
 * the applied index, for comparing digests. */
static int apply_noop(struct store *s, uint64_t index)
{
	struct store_result r;
	struct cmd c;

	cmd_base(&c, 99, T0);
	return apply(s, index, &c, &r);
}

TEST(bad_payloads_and_mismatches_change_nothing)
{
	char da[65], db[65];
	struct store *a = store_fresh(), *b = store_fresh();
	struct compliance_policy p;
	struct store_result r;
	struct cmd c;
	uint8_t bad[16];
	uint64_t i;

	CHECK(a != NULL && b != NULL);
	/* One command for both: a seal has a nonce of its own. */
	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(a, 1, &c, &r), ESC_OK);
	CHECK_INT(apply(b, 1, &c, &r), ESC_OK);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 1);
	CHECK_INT(apply(a, 2, &c, &r), ESC_OK);
	CHECK_INT(apply(b, 2, &c, &r), ESC_OK);

	/* Each on a only; b applies no-ops at the same indexes. */
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
	cmd_report(&c, T0 + 2);
	c.payload_len -= 1; /* truncated */
	CHECK_INT(apply(a, 3, &c, &r), ESC_EINVAL);
	CHECK_INT(r.verdict, 0);
	cmd_report(&c, T0 + 2);
	payload[0] = 7; /* unknown version */
	CHECK_INT(apply(a, 4, &c, &r), ESC_EINVAL);
	cmd_report(&c, T0 + 2);
	snprintf(c.machine, sizeof(c.machine), "pc-02"); /* another machine's report */
	CHECK_INT(apply(a, 5, &c, &r), ESC_EINVAL);
	cmd_report(&c, T0 + 2);
	c.payload = NULL;
	CHECK_INT(apply(a, 6, &c, &r), ESC_EINVAL);
	cmd_report(&c, T0 + 2);
	snprintf(c.machine, sizeof(c.machine), "PC-01"); /* not normalised */
	CHECK_INT(apply(a, 7, &c, &r), ESC_EINVAL);
	compliance_policy_default(&p);
	p.fixed_volumes = COMPLIANCE_REQUIRED;
	cmd_policy(&c, &p, T0 + 3);
	memcpy(bad, policy_buf, sizeof(bad));
	bad[12] = 0; /* stale_after_days 0 */
	bad[13] = 0;
	c.payload = bad;
	CHECK_INT(apply(a, 8, &c, &r), ESC_EINVAL);
	cmd_policy(&c, &p, T0 + 3);
	c.payload_len = 15;
	CHECK_INT(apply(a, 9, &c, &r), ESC_EINVAL);
	cmd_exempt(&c, "pc-01", -5, "", T0 + 4);
	CHECK_INT(apply(a, 10, &c, &r), ESC_EINVAL);
	cmd_exempt(&c, "pc-01", INT64_MAX, "", T0 + 4);
	CHECK_INT(apply(a, 11, &c, &r), ESC_EINVAL);
	for (i = 3; i <= 11; i++)
		CHECK_INT(apply_noop(b, i), ESC_EINVAL);

	CHECK(digest(a, da) == 0);
	CHECK(digest(b, db) == 0);
	CHECK_STR(da, db);
	CHECK_INT(machine_status(a, "pc-01", T0 + 5), COMPLIANT);
	CHECK_INT(audit_last(a).n, 1);
	store_close(a);
	store_close(b);
}

TEST(same_index_twice_is_skipped)
{
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
	cmd_report(&c, T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, NULL);
	cmd_report(&c, T0 + 1);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK(r.skipped);
	CHECK_INT(r.verdict, 0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK(r.skipped);
	CHECK_INT(machine_status(s, "pc-01", T0 + 2), NONCOMPLIANT);
	CHECK_INT(machine_out.reasons, COMPLIANCE_REASON_NO_RECOVERY_PASSWORD);
	CHECK_INT(machine_out.n_history, 2);
	CHECK_INT(machine_out.reported_at_ms, T0 + 1);
	store_close(s);
}

TEST(longest_machine_name_works)
{
	char name[VALIDATE_MACHINE_MAX + 1];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;

	CHECK(s != NULL);
	memset(name, 'm', VALIDATE_MACHINE_MAX);
	name[VALIDATE_MACHINE_MAX] = '\0';
	cmd_escrow(&c, KEY_A, PW_1, name, T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK(r.created);
	report_start(name);
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 1);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK_INT(r.verdict, COMPLIANT);
	cmd_exempt(&c, name, T0 + DAY, "", T0 + 2);
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK_INT(machine_status(s, name, T0 + 3), EXEMPT);
	CHECK_STR(machine_out.report.machine, name);
	store_close(s);
}

/* Collects rows as "machine:status:stale," */
struct page {
	char text[2048];
	size_t n;
	char last[VALIDATE_MACHINE_MAX + 1];
};

static int page_cb(const struct store_compliance_row *row, void *data)
{
	struct page *p = data;
	size_t len = strlen(p->text);

	snprintf(p->text + len, sizeof(p->text) - len, "%s:%u%s,", row->machine, row->status,
		 row->stale ? "s" : "");
	snprintf(p->last, sizeof(p->last), "%s", row->machine);
	p->n++;
	return 0;
}

static int page_read(struct store *s, const char *after, int filter, size_t limit, int64_t now,
		     struct page *p, uint64_t counts[4])
{
	char errmsg[ESC_ERRMSG_SIZE], from[VALIDATE_MACHINE_MAX + 1];
	int rv;

	snprintf(from, sizeof(from), "%s", after != NULL ? after : "");
	memset(p, 0, sizeof(*p));
	rv = store_compliance_each(s, from, filter, limit, now, page_cb, p, counts, errmsg);
	if (rv != ESC_OK)
		printf("# store_compliance_each: %s\n", errmsg);
	return rv;
}

TEST(report_pages_filters_and_counts)
{
	struct store *s = store_fresh();
	struct store_result r;
	uint64_t counts[4], index = 1;
	struct page p;
	struct cmd c;
	char name[32];
	int i;

	CHECK(s != NULL);
	cmd_escrow(&c, KEY_A, PW_1, "pc-00", T0);
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	/* pc-00 compliant; pc-01..pc-09 alternate; pc-08 stale; pc-03 exempt. */
	for (i = 9; i >= 0; i--) {
		snprintf(name, sizeof(name), "pc-%02d", i);
		report_start(name);
		if (i == 0)
			report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
		else
			report_volume(COMPLIANCE_VOLUME_OS, i % 2, NULL);
		cmd_report(&c, i == 8 ? T0 - 30 * DAY : T0 + i);
		CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	}
	cmd_exempt(&c, "pc-03", T0 + DAY, "", T0);
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	/* An exemption of a machine that never reported counts nowhere. */
	cmd_exempt(&c, "pc-zz", T0 + DAY, "", T0);
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);

	CHECK_INT(page_read(s, NULL, 0, 4, T0 + 100, &p, counts), ESC_OK);
	CHECK_STR(p.text, "pc-00:1,pc-01:2,pc-02:2,pc-03:3,");
	CHECK_INT(counts[0], 1); /* pc-00 */
	CHECK_INT(counts[1], 7); /* 01 02 04 05 06 07 09: os volume not protected or no key */
	CHECK_INT(counts[2], 1); /* pc-03 */
	CHECK_INT(counts[3], 1); /* pc-08 */
	CHECK_INT(page_read(s, p.last, 0, 4, T0 + 100, &p, counts), ESC_OK);
	CHECK_STR(p.text, "pc-04:2,pc-05:2,pc-06:2,pc-07:2,");
	CHECK_INT(counts[1], 7);
	CHECK_INT(page_read(s, p.last, 0, 4, T0 + 100, &p, counts), ESC_OK);
	CHECK_STR(p.text, "pc-08:4s,pc-09:2,");
	CHECK_INT(page_read(s, p.last, 0, 4, T0 + 100, &p, NULL), ESC_OK);
	CHECK_INT(p.n, 0);

	/* Filtered, paged; after in any case. */
	CHECK_INT(page_read(s, "", NONCOMPLIANT, 3, T0 + 100, &p, counts), ESC_OK);
	CHECK_STR(p.text, "pc-01:2,pc-02:2,pc-04:2,");
	CHECK_INT(counts[0] + counts[1] + counts[2] + counts[3], 10);
	CHECK_INT(page_read(s, "PC-04", NONCOMPLIANT, 3, T0 + 100, &p, NULL), ESC_OK);
	CHECK_STR(p.text, "pc-05:2,pc-06:2,pc-07:2,");
	CHECK_INT(page_read(s, "pc-07", NONCOMPLIANT, 3, T0 + 100, &p, NULL), ESC_OK);
	CHECK_STR(p.text, "pc-09:2,");
	CHECK_INT(page_read(s, NULL, UNKNOWN, 10, T0 + 100, &p, NULL), ESC_OK);
	CHECK_STR(p.text, "pc-08:4s,");
	CHECK_INT(page_read(s, NULL, EXEMPT, 10, T0 + 100, &p, NULL), ESC_OK);
	CHECK_STR(p.text, "pc-03:3,");
	CHECK_INT(page_read(s, NULL, COMPLIANT, 10, T0 + 100, &p, NULL), ESC_OK);
	CHECK_STR(p.text, "pc-00:1,");

	/* Later: the exemption ran out, pc-00's report went stale. */
	CHECK_INT(page_read(s, NULL, 0, 0, T0 + 14 * DAY + 1, &p, counts), ESC_OK);
	CHECK_INT(p.n, 0);
	CHECK_INT(counts[0], 0);
	CHECK_INT(counts[1], 8);
	CHECK_INT(counts[2], 0);
	CHECK_INT(counts[3], 2);

	CHECK_INT(store_compliance_each(s, NULL, 5, 10, T0, page_cb, &p, counts, NULL),
		  ESC_EINVAL);
	store_close(s);
}

/* store_machines_each into p; its return. */
static int search_read(struct store *s, const char *prefix, const char *after, size_t limit,
		       int64_t now, struct page *p)
{
	char errmsg[ESC_ERRMSG_SIZE];
	int rv;

	memset(p, 0, sizeof(*p));
	rv = store_machines_each(s, prefix, after, limit, now, page_cb, p, errmsg);
	if (rv != ESC_OK && rv != ESC_EINVAL)
		printf("# store_machines_each: %s\n", errmsg);
	return rv;
}

TEST(machines_by_name_prefix)
{
	static const char *const names[] = { "lab-1", "pc-01", "pc-02.corp", "pc-1",
					     "pc-10", "pc-2", "pcx", "pd-0" };
	char long_prefix[VALIDATE_MACHINE_MAX + 2];
	struct store *s = store_fresh();
	struct store_result r;
	struct page p;
	struct cmd c;
	uint64_t index = 1;
	size_t i;

	CHECK(s != NULL);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		report_start(names[i]);
		report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
		cmd_report(&c, i == 3 ? T0 - 30 * DAY : T0);
		CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
	}
	cmd_exempt(&c, "pc-10", T0 + DAY, "", T0);
	CHECK_INT(apply(s, index++, &c, &r), ESC_OK);

	/* Any case; names stored in lower case; rows as the report's. */
	CHECK_INT(search_read(s, "PC-", NULL, 100, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-01:2,pc-02.corp:2,pc-1:4s,pc-10:3,pc-2:2,");
	CHECK_INT(search_read(s, "pc-1", "", 100, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-1:4s,pc-10:3,");
	CHECK_INT(search_read(s, "pc", NULL, 100, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-01:2,pc-02.corp:2,pc-1:4s,pc-10:3,pc-2:2,pcx:2,");
	CHECK_INT(search_read(s, "PC-10", NULL, 100, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-10:3,");
	CHECK_INT(search_read(s, "pc-3", NULL, 100, T0 + 1, &p), ESC_OK);
	CHECK_INT(p.n, 0);
	CHECK_INT(search_read(s, "zz", NULL, 100, T0 + 1, &p), ESC_OK);
	CHECK_INT(p.n, 0);
	/* Empty or NULL: every machine. */
	CHECK_INT(search_read(s, "", NULL, 100, T0 + 1, &p), ESC_OK);
	CHECK_INT(p.n, 8);
	CHECK_INT(search_read(s, NULL, NULL, 3, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "lab-1:2,pc-01:2,pc-02.corp:2,");

	/* Paged with after (any case), which may lie before the prefix. */
	CHECK_INT(search_read(s, "pc-", NULL, 2, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-01:2,pc-02.corp:2,");
	CHECK_INT(search_read(s, "pc-", "PC-02.CORP", 2, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-1:4s,pc-10:3,");
	CHECK_INT(search_read(s, "pc-", "pc-10", 2, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-2:2,");
	CHECK_INT(search_read(s, "pc-", "pc-2", 2, T0 + 1, &p), ESC_OK);
	CHECK_INT(p.n, 0);
	CHECK_INT(search_read(s, "pc-", "a", 1, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-01:2,");
	CHECK_INT(search_read(s, "pc-", "pc-05", 10, T0 + 1, &p), ESC_OK);
	CHECK_STR(p.text, "pc-1:4s,pc-10:3,pc-2:2,");
	CHECK_INT(search_read(s, "pc-", "zz", 10, T0 + 1, &p), ESC_OK);
	CHECK_INT(p.n, 0);
	CHECK_INT(search_read(s, "pc-", NULL, 0, T0 + 1, &p), ESC_OK);
	CHECK_INT(p.n, 0);

	memset(long_prefix, 'a', sizeof(long_prefix) - 1);
	long_prefix[sizeof(long_prefix) - 1] = '\0';
	CHECK_INT(search_read(s, long_prefix, NULL, 10, T0 + 1, &p), ESC_EINVAL);
	CHECK_INT(search_read(s, "pc", long_prefix, 10, T0 + 1, &p), ESC_EINVAL);
	long_prefix[VALIDATE_MACHINE_MAX] = '\0';
	CHECK_INT(search_read(s, long_prefix, NULL, 10, T0 + 1, &p), ESC_OK);
	CHECK_INT(p.n, 0);
	store_close(s);
}

/* The version 1 schema, as builds before compliance made it. */
static const char schema_v1[] =
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
	" escrowed_at INTEGER NOT NULL,"
	" disclosed_at INTEGER,"
	" escrowed_by INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS keys_machine ON keys (machine, escrowed_at);"
	"CREATE TABLE IF NOT EXISTS audit ("
	" seq INTEGER PRIMARY KEY,"
	" at INTEGER NOT NULL,"
	" actor TEXT,"
	" role TEXT,"
	" action TEXT NOT NULL,"
	" key_id TEXT,"
	" machine TEXT,"
	" reason TEXT,"
	" note TEXT,"
	" node INTEGER,"
	" outcome TEXT,"
	" idx INTEGER NOT NULL"
	");"
	"INSERT OR IGNORE INTO meta (k, v) VALUES"
	" ('schema_version', 1), ('applied_index', 0),"
	" ('cluster_id', ''), ('members', '');";

/* A version 1 database at path with one key of pc-01 (KEY_A, disclosed) and
 * its two audit entries, at applied index 2. */
static int make_v1(const char *path)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(
			db,
			"BEGIN;"
			"INSERT INTO keys VALUES ('" KEY_A "', 'vol-1', 'os', 'pc-01', 'CORP\\alice', "
			"'', x'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', "
			"x'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', "
			"1700000000000, 1700000000500, 1);"
			"INSERT INTO audit VALUES (1, 1700000000000, 'agent-7', 'agent', "
			"'key.escrow', '" KEY_A "', 'pc-01', NULL, NULL, 1, 'created', 1);"
			"INSERT INTO audit VALUES (2, 1700000000500, 'helpdesk-bob', 'helpdesk', "
			"'key.read', '" KEY_A "', 'pc-01', 'lost_pin', NULL, 1, 'disclosed', 2);"
			"UPDATE meta SET v = 2 WHERE k = 'applied_index';"
			"UPDATE meta SET v = '" CLUSTER "' WHERE k = 'cluster_id';"
			"UPDATE meta SET v = '1=127.0.0.1:7001/127.0.0.1:8001' WHERE k = 'members';"
			"COMMIT;",
			NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static int create_v1(const char *path)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, schema_v1, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? make_v1(path) : rc;
}

/* meta schema_version of the database file at path, or -1. */
static int schema_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'schema_version'", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Checks what make_v1 stored, then that compliance works on top. */
static int v1_content_ok(struct store *s, uint64_t index)
{
	struct store_result r;
	struct store_key k;
	struct last_audit l;
	struct cmd c;

	if (store_applied_index(s) != index || key_read(s, "pc-01", KEY_A, &k) != 0 ||
	    k.disclosed_at_ms != T0 + 500 || k.retired_at_ms != 0 || k.sealed_len != 32)
		return -1;
	l = audit_last(s);
	if (l.n != 2 || strcmp(l.text, "key.read|pc-01||disclosed|helpdesk-bob|helpdesk") != 0)
		return -2;
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 1000);
	if (apply(s, index + 1, &c, &r) != ESC_OK || r.reasons != ROTATION)
		return -3;
	return 0;
}

TEST(version_1_database_is_upgraded_on_open)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE], da[65], db[65];
	struct store *s = NULL, *fresh = store_fresh();

	CHECK(fresh != NULL);
	db_path(path, sizeof(path));
	CHECK_INT(create_v1(path), SQLITE_OK);
	CHECK_INT(schema_version(path), 1);
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK_INT(schema_version(path), 7);
	CHECK_STR(store_cluster_id(s), CLUSTER);
	CHECK_INT(v1_content_ok(s, 2), 0);
	store_close(s);

	/* Opens again as version 7, unchanged. */
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK(digest(s, da) == 0);
	CHECK_INT(machine_status(s, "pc-01", T0 + 2000), NONCOMPLIANT);
	store_close(s);

	/* Upgraded and new stores hold the same schema: an image of one
	 * restores into the other. */
	{
		void *buf = NULL;
		size_t len = 0;
		uint64_t index = 0;

		CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
		CHECK_INT(store_image(s, malloc, 0, &buf, &len, &index, errmsg), ESC_OK);
		CHECK_INT(store_restore_image(fresh, buf, len, errmsg), ESC_OK);
		free(buf);
		CHECK(digest(fresh, db) == 0);
		CHECK_STR(da, db);
		store_close(s);
	}
	store_close(fresh);
}

/* The bytes of the file at path. */
static uint8_t *file_read(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	long n;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

TEST(version_1_image_and_snapshot_file_are_upgraded)
{
	char path[128], snap[160], restored[160], errmsg[ESC_ERRMSG_SIZE];
	struct store *s = store_fresh();
	struct snapfile_header h;
	uint8_t *img, *file;
	size_t len = 0;
	FILE *f;

	CHECK(s != NULL);
	db_path(path, sizeof(path));
	CHECK_INT(create_v1(path), SQLITE_OK);
	img = file_read(path, &len);
	CHECK(img != NULL);

	/* An image of version 1 (a Raft snapshot an older build took). */
	CHECK_INT(store_restore_image(s, img, len, errmsg), ESC_OK);
	CHECK_INT(v1_content_ok(s, 2), 0);
	store_close(s);

	/* A snapshot file of version 1. */
	memset(&h, 0, sizeof(h));
	h.index = 2;
	h.term = 1;
	h.created_ms = T0;
	h.payload_len = len;
	EVP_Digest(img, len, h.sha256, NULL, EVP_sha256(), NULL);
	snprintf(h.cluster_id, sizeof(h.cluster_id), CLUSTER);
	snprintf(h.seal_fingerprint, sizeof(h.seal_fingerprint), "0123456789abcdef");
	file = malloc(SNAPFILE_HEADER_SIZE + len);
	CHECK(file != NULL);
	snapfile_header_encode(&h, file);
	memcpy(file + SNAPFILE_HEADER_SIZE, img, len);
	free(img);
	snprintf(snap, sizeof(snap), "%s/v1.snap", tmpdir);
	f = fopen(snap, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(file, 1, SNAPFILE_HEADER_SIZE + len, f) == SNAPFILE_HEADER_SIZE + len);
	fclose(f);
	free(file);
	CHECK_INT(snapfile_verify(snap, tmpdir, &h, errmsg), ESC_OK);
	snprintf(restored, sizeof(restored), "%s/restored.sqlite", tmpdir);
	CHECK_INT(snapfile_restore(snap, restored, "ffeeddccbbaa99887766554433221100",
				   "1=127.0.0.1:7009/127.0.0.1:8009", &h, errmsg),
		  ESC_OK);
	CHECK_INT(schema_version(restored), 7);
	CHECK_INT(store_open(&s, restored, errmsg), ESC_OK);
	CHECK_INT(v1_content_ok(s, 0), 0);
	store_close(s);
	unlink(snap);
}

/* Runs sql on the database file at path through a connection of its own. */
static int db_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* Versions 3 to 5 indexed every entry naming a machine. */
#define OLD_AUDIT_MACHINE                                                          \
	"DROP INDEX audit_machine;"                                                \
	"CREATE INDEX audit_machine ON audit (machine) WHERE machine IS NOT NULL;"

/* What version 2 was: version 7 without the audit indexes. */
static const char to_v2_sql[] = "DROP INDEX audit_key_at; DROP INDEX audit_machine;"
				"DROP INDEX audit_actor; DROP INDEX audit_action;"
				"UPDATE meta SET v = 2 WHERE k = 'schema_version';";

/* What version 3 was: an index of the key alone in place of audit_key_at. */
static const char to_v3_sql[] = "DROP INDEX audit_key_at;"
				"CREATE INDEX audit_key_id ON audit (key_id) "
				"WHERE key_id IS NOT NULL;" OLD_AUDIT_MACHINE
				"UPDATE meta SET v = 3 WHERE k = 'schema_version';";

/* What version 4 was: version 3 and the reads' index audit_read_at. */
static const char to_v4_sql[] = "DROP INDEX audit_key_at;"
				"CREATE INDEX audit_key_id ON audit (key_id) "
				"WHERE key_id IS NOT NULL;"
				"CREATE INDEX audit_read_at ON audit (key_id, at) "
				"WHERE action = 'key.read';" OLD_AUDIT_MACHINE
				"UPDATE meta SET v = 4 WHERE k = 'schema_version';";

/* What version 5 was: key.read entries in audit_machine too. */
static const char to_v5_sql[] = OLD_AUDIT_MACHINE
				"UPDATE meta SET v = 5 WHERE k = 'schema_version';";

/* What version 6 was: the escrows that created keys in audit_machine. */
static const char to_v6_sql[] = "DROP INDEX audit_machine;"
				"CREATE INDEX audit_machine ON audit (machine) "
				"WHERE machine IS NOT NULL AND action <> 'key.read';"
				"UPDATE meta SET v = 6 WHERE k = 'schema_version';";

#define V7_AUDIT_INDEXES "audit_action,audit_actor,audit_key_at,audit_machine"

/* Whether audit_machine in the database file at path is version 7's: no
 * key.read entries, no escrows that created a key. */
static bool machine_index_is_current(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	bool current = false;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db,
			       "SELECT sql FROM sqlite_schema WHERE name = 'audit_machine'", -1,
			       &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		current = strstr((const char *)sqlite3_column_text(st, 0),
				 "action <> 'key.read' "
				 "AND (action <> 'key.escrow' OR outcome IS NOT 'created')") != NULL;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return current;
}

/* The names of the audit table's indexes in the database file at path, by
 * name, comma-separated, into out. */
static void audit_index_names(const char *path, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t off = 0;

	out[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db,
			       "SELECT name FROM sqlite_schema WHERE type = 'index' "
			       "AND tbl_name = 'audit' ORDER BY name",
			       -1, &st, NULL) == SQLITE_OK)
		while (off < size && sqlite3_step(st) == SQLITE_ROW)
			off += (size_t)snprintf(out + off, size - off, "%s%s", off ? "," : "",
						(const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A store made now, taken back to version by sql (which leaves it the
 * audit indexes named in indexes), opens upgraded in place and restores as
 * an image: the same state, version 7, its four audit indexes, the
 * machine's without key.read entries and the escrows that created keys. */
static void older_version_upgrades(const char *sql, int version, const char *indexes)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE], da[65], db[65], names[160];
	struct store *s = store_fresh(), *fresh;
	struct store_result r;
	struct last_audit l;
	struct cmd c;
	uint8_t *img;
	size_t len = 0;

	CHECK(s != NULL);
	last_path(path, sizeof(path));
	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	cmd_lookup(&c, KEY_A, T0 + 1);
	CHECK_INT(apply(s, 2, &c, &r), ESC_OK);
	CHECK(digest(s, da) == 0);
	store_close(s);
	audit_index_names(path, names, sizeof(names));
	CHECK_STR(names, V7_AUDIT_INDEXES);
	CHECK(machine_index_is_current(path));
	CHECK_INT(db_exec(path, sql), SQLITE_OK);
	CHECK(!machine_index_is_current(path));
	CHECK_INT(schema_version(path), version);
	audit_index_names(path, names, sizeof(names));
	CHECK_STR(names, indexes);
	img = file_read(path, &len);
	CHECK(img != NULL);

	/* Opened: upgraded in place, the same state. */
	CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
	CHECK_INT(schema_version(path), 7);
	audit_index_names(path, names, sizeof(names));
	CHECK_STR(names, V7_AUDIT_INDEXES);
	CHECK(machine_index_is_current(path));
	CHECK(digest(s, db) == 0);
	CHECK_STR(da, db);
	l = audit_last(s);
	CHECK_INT(l.n, 2);
	/* The same read applied again is still recognised. */
	CHECK_INT(apply(s, 3, &c, &r), ESC_OK);
	CHECK(r.duplicate);
	store_close(s);

	/* An image of that version (a snapshot an older build took) restores. */
	fresh = store_fresh();
	CHECK(fresh != NULL);
	CHECK_INT(store_restore_image(fresh, img, len, errmsg), ESC_OK);
	free(img);
	CHECK(digest(fresh, db) == 0);
	CHECK_STR(da, db);
	store_close(fresh);
}

TEST(version_2_database_and_image_get_the_audit_indexes)
{
	older_version_upgrades(to_v2_sql, 2, "");
}

TEST(version_3_database_and_image_get_audit_key_at)
{
	older_version_upgrades(to_v3_sql, 3, "audit_action,audit_actor,audit_key_id,audit_machine");
}

TEST(version_4_database_and_image_get_audit_key_at)
{
	older_version_upgrades(to_v4_sql, 4,
			       "audit_action,audit_actor,audit_key_id,audit_machine,audit_read_at");
}

TEST(version_5_database_and_image_keep_reads_out_of_audit_machine)
{
	older_version_upgrades(to_v5_sql, 5, V7_AUDIT_INDEXES);
}

TEST(version_6_database_and_image_keep_created_escrows_out_of_audit_machine)
{
	older_version_upgrades(to_v6_sql, 6, V7_AUDIT_INDEXES);
}

/* A version-1 database changed by sql, as an image; NULL on failure. */
static uint8_t *v1_image(const char *sql, size_t *len)
{
	char path[128];
	uint8_t *img = NULL;

	db_path(path, sizeof(path));
	if (create_v1(path) == SQLITE_OK && db_exec(path, sql) == SQLITE_OK)
		img = file_read(path, len);
	return img;
}

TEST(hostile_version_1_images_are_refused)
{
	static const char *const cases[][2] = {
		{ "ALTER TABLE keys ADD COLUMN retired_at INTEGER", "duplicate column" },
		{ "DROP TABLE keys", "no such table" },
		{ "CREATE TABLE machines (machine TEXT PRIMARY KEY, x)", "no such column" },
		{ "CREATE TABLE exemptions (machine TEXT PRIMARY KEY)", "schema differs" },
		{ "CREATE TABLE extra (x)", "schema differs" },
	};
	char errmsg[ESC_ERRMSG_SIZE], before[65], after[65];
	struct store *s = store_fresh();
	struct store_result r;
	struct cmd c;
	uint8_t *img;
	size_t len = 0, i;

	CHECK(s != NULL);
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
	cmd_report(&c, T0);
	CHECK_INT(apply(s, 1, &c, &r), ESC_OK);
	CHECK(digest(s, before) == 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		img = v1_image(cases[i][0], &len);
		CHECK(img != NULL);
		CHECK_INT(store_restore_image(s, img, len, errmsg), ESC_ECORRUPT);
		free(img);
		if (strstr(errmsg, cases[i][1]) == NULL) {
			printf("# %s: %s\n", cases[i][0], errmsg);
			CHECK(0);
		}
	}
	CHECK(digest(s, after) == 0);
	CHECK_STR(before, after);
	CHECK_INT(machine_status(s, "pc-01", T0), NONCOMPLIANT);
	store_close(s);
}

/* Two stores apply the same story; afterwards they differ in one thing. */
static int story(struct store *s)
{
	struct store_result r;
	struct cmd c;

	cmd_escrow(&c, KEY_A, PW_1, "pc-01", T0);
	if (apply(s, 1, &c, &r) != ESC_OK)
		return -1;
	cmd_escrow(&c, KEY_B, PW_2, "pc-01", T0);
	if (apply(s, 2, &c, &r) != ESC_OK)
		return -1;
	report_start("pc-01");
	report_volume(COMPLIANCE_VOLUME_OS, 1, KEY_A, NULL);
	cmd_report(&c, T0 + 1);
	if (apply(s, 3, &c, &r) != ESC_OK)
		return -1;
	report_start("pc-02");
	report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
	cmd_report(&c, T0 + 2);
	if (apply(s, 4, &c, &r) != ESC_OK)
		return -1;
	cmd_exempt(&c, "pc-02", T0 + DAY, "ticket 7", T0 + 3);
	return apply(s, 5, &c, &r) == ESC_OK ? 0 : -1;
}

/* A hand-made store may hold machine names no upload could (too long, a NUL
 * inside) that the re-judge cursor cannot pass: the re-judge ends there, on
 * every node alike, instead of stopping the node or going round forever. */
TEST(rejudge_ends_at_a_name_no_upload_could_store)
{
	static const char *const rows[] = {
		"INSERT INTO machines SELECT 'pc-02' || char(0) || 'x', user, os, reported_at, "
		"status, reasons, judged_index FROM machines WHERE machine = 'pc-01'",
		"INSERT INTO reports SELECT 'pc-02' || char(0) || 'x', report FROM reports "
		"WHERE machine = 'pc-01'",
		"INSERT INTO machines SELECT 'pc-03' || hex(zeroblob(200)), user, os, reported_at, "
		"status, reasons, judged_index FROM machines WHERE machine = 'pc-01'",
		"INSERT INTO reports SELECT 'pc-03' || hex(zeroblob(200)), report FROM reports "
		"WHERE machine = 'pc-01'",
	};
	char errmsg[ESC_ERRMSG_SIZE], path[128];
	struct compliance_policy p;
	struct store_result r;
	struct store *s;
	uint64_t index = 1;
	struct cmd c;

	for (size_t i = 0; i < 2; i++) {
		s = store_fresh();
		CHECK(s != NULL);
		report_start("pc-01");
		report_volume(COMPLIANCE_VOLUME_OS, 0, NULL);
		cmd_report(&c, T0);
		index = 1;
		CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
		store_close(s);
		last_path(path, sizeof(path));
		CHECK_INT(db_exec(path, rows[2 * i]), SQLITE_OK);
		CHECK_INT(db_exec(path, rows[2 * i + 1]), SQLITE_OK);
		CHECK_INT(store_open(&s, path, errmsg), ESC_OK);
		compliance_policy_default(&p);
		p.fixed_volumes = COMPLIANCE_REQUIRED;
		cmd_policy(&c, &p, T0 + 1);
		CHECK_INT(apply(s, index++, &c, &r), ESC_OK);
		CHECK(store_rejudging(s));
		CHECK_INT(rejudge_run(s, &index, T0 + 2, NULL), 1);
		CHECK(!store_rejudging(s));
		store_close(s);
	}
}

TEST(digest_covers_compliance_state)
{
	static const char *const changes[] = {
		"UPDATE keys SET retired_at = 1 WHERE key_id = '" KEY_B "'",
		"UPDATE machines SET reasons = 3 WHERE machine = 'pc-02'",
		"UPDATE machines SET judged_index = 9 WHERE machine = 'pc-02'",
		"UPDATE reports SET report = x'00' WHERE machine = 'pc-02'",
		"UPDATE verdicts SET at = 0 WHERE machine = 'pc-01'",
		"UPDATE exemptions SET note = 'ticket 8'",
		"UPDATE meta SET v = x'00' WHERE k = 'policy'",
	};
	char path[128], errmsg[ESC_ERRMSG_SIZE], base[65], other[65], live[65];
	struct store *s;
	uint64_t index = 0;
	size_t i;

	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		s = store_fresh();
		CHECK(s != NULL);
		CHECK(story(s) == 0);
		CHECK(digest(s, live) == 0);
		store_close(s);
		last_path(path, sizeof(path));
		CHECK_INT(store_digest_file(path, base, &index, errmsg), ESC_OK);
		CHECK_STR(base, live);
		CHECK_INT(index, 5);
		CHECK_INT(db_exec(path, changes[i]), SQLITE_OK);
		CHECK_INT(store_digest_file(path, other, &index, errmsg), ESC_OK);
		if (strcmp(base, other) == 0) {
			printf("# the digest missed: %s\n", changes[i]);
			CHECK(0);
		}
	}
}

TEST(image_carries_compliance_state)
{
	char errmsg[ESC_ERRMSG_SIZE], da[65], db[65];
	struct store *a = store_fresh(), *b = store_fresh();
	struct store_machine *m;
	struct compliance_policy p, pa, pb;
	struct store_result ra, rb;
	uint64_t ia = 0, ib = 0, index = 0;
	void *buf = NULL;
	size_t len = 0;
	struct cmd c;

	CHECK(a != NULL && b != NULL);
	CHECK(story(a) == 0);
	compliance_policy_default(&p);
	p.stale_after_days = 60;
	cmd_policy(&c, &p, T0 + 10);
	CHECK_INT(apply(a, 6, &c, &ra), ESC_OK);
	CHECK_INT(store_image(a, malloc, 32, &buf, &len, &index, errmsg), ESC_OK);
	CHECK_INT(index, 6);
	CHECK_INT(store_restore_image(b, (char *)buf + 32, len - 32, errmsg), ESC_OK);
	free(buf);
	CHECK(digest(a, da) == 0);
	CHECK(digest(b, db) == 0);
	CHECK_STR(da, db);
	CHECK_INT(store_policy(a, &pa, &ia, NULL), ESC_OK);
	CHECK_INT(store_policy(b, &pb, &ib, NULL), ESC_OK);
	CHECK(memcmp(&pa, &pb, sizeof(pa)) == 0);
	CHECK_INT(ib, 6);

	m = malloc(sizeof(*m));
	CHECK(m != NULL);
	CHECK_INT(machine_status(a, "pc-02", T0 + 40 * DAY), NONCOMPLIANT);
	CHECK_INT(store_machine(b, "pc-02", T0 + 40 * DAY, m, errmsg), ESC_OK);
	CHECK(memcmp(m, &machine_out, sizeof(*m)) == 0);
	CHECK_INT(machine_status(a, "pc-01", T0 + 2), COMPLIANT);
	CHECK_INT(store_machine(b, "pc-01", T0 + 2, m, errmsg), ESC_OK);
	CHECK(memcmp(m, &machine_out, sizeof(*m)) == 0);
	free(m);

	/* Both go on identically: a disclosure judges pc-01 again on each. */
	cmd_lookup(&c, KEY_A, T0 + 20);
	CHECK_INT(apply(a, 7, &c, &ra), ESC_OK);
	CHECK_INT(apply(b, 7, &c, &rb), ESC_OK);
	CHECK_INT(machine_status(b, "pc-01", T0 + 21), NONCOMPLIANT);
	CHECK(digest(a, da) == 0);
	CHECK(digest(b, db) == 0);
	CHECK_STR(da, db);
	store_close(a);
	store_close(b);
}

TEST(restore_refuses_an_image_with_a_bad_policy)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct store *a = store_fresh(), *b = store_fresh();
	sqlite3 *mem = NULL;
	sqlite3_int64 size = 0;
	uint64_t index = 0;
	unsigned char *img;
	void *buf = NULL;
	size_t len = 0;

	CHECK(a != NULL && b != NULL);
	CHECK(story(a) == 0);
	CHECK_INT(store_image(a, malloc, 0, &buf, &len, &index, errmsg), ESC_OK);
	img = sqlite3_malloc64(len);
	CHECK(img != NULL);
	memcpy(img, buf, len);
	free(buf);
	CHECK(sqlite3_open(":memory:", &mem) == SQLITE_OK);
	CHECK(sqlite3_deserialize(mem, "main", img, (sqlite3_int64)len, (sqlite3_int64)len,
				  SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) ==
	      SQLITE_OK);
	CHECK(sqlite3_exec(mem, "UPDATE meta SET v = x'01' WHERE k = 'policy'", NULL, NULL,
			   NULL) == SQLITE_OK);
	img = sqlite3_serialize(mem, "main", &size, 0);
	sqlite3_close(mem);
	CHECK(img != NULL);
	CHECK_INT(store_restore_image(b, img, (size_t)size, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "policy") != NULL);
	sqlite3_free(img);
	store_close(a);
	store_close(b);
}

static int count_cb(const struct store_compliance_row *row, void *data)
{
	struct page *p = data;

	snprintf(p->last, sizeof(p->last), "%s", row->machine);
	p->n++;
	return 0;
}

/* Diagnostics only: no time is asserted. Machine i has an os volume
 * listing a key that is never escrowed, and every second one a fixed
 * volume that is off; requiring fixed volumes then changes half the
 * verdicts. */
TEST(hundred_thousand_machines)
{
	char errmsg[ESC_ERRMSG_SIZE], name[64], key_id[40];
	struct compliance_policy p;
	struct store *s = store_fresh();
	struct store_result r;
	struct timespec t0;
	uint64_t counts[4], index = 1;
	size_t total = 0, pages = 0;
	struct page pg;
	struct cmd c;
	double secs, longest_ms;
	int i, batches;

	CHECK(s != NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < BENCH_MACHINES; i++) {
		snprintf(name, sizeof(name), "pc-%06d.corp.example", i);
		snprintf(key_id, sizeof(key_id), "%08X-0000-4000-8000-00000000%04X", i, i & 0xffff);
		report_start(name);
		report_volume(COMPLIANCE_VOLUME_OS, 1, key_id, NULL);
		if (i % 2)
			report_volume(COMPLIANCE_VOLUME_FIXED, 0, NULL);
		cmd_report(&c, T0 + i);
		CHECK_INT(store_apply(s, index++, &c, &r, errmsg), ESC_OK);
		CHECK_INT(r.status, ESC_OK);
	}
	CHECK_INT(store_flush(s, errmsg), ESC_OK);
	secs = seconds_since(&t0);
	printf("# %d reports applied in %.2f s (%.1f us each)\n", BENCH_MACHINES, secs,
	       secs * 1e6 / BENCH_MACHINES);

	compliance_policy_default(&p);
	p.fixed_volumes = COMPLIANCE_REQUIRED;
	cmd_policy(&c, &p, T0 + BENCH_MACHINES);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(store_apply(s, index++, &c, &r, errmsg), ESC_OK);
	CHECK_INT(store_flush(s, errmsg), ESC_OK);
	batches = rejudge_run(s, &index, T0 + BENCH_MACHINES, &longest_ms);
	CHECK_INT(batches, (BENCH_MACHINES + STORE_REJUDGE_BATCH) / STORE_REJUDGE_BATCH);
	printf("# policy change: %d reports judged again (%d changed) in %.2f s, %d entries, "
	       "the longest %.1f ms\n",
	       BENCH_MACHINES, BENCH_MACHINES / 2, seconds_since(&t0), batches, longest_ms);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(store_compliance_each(s, NULL, 0, 0, T0 + BENCH_MACHINES, NULL, NULL, counts,
					errmsg),
		  ESC_OK);
	printf("# counts alone: %.1f ms\n", seconds_since(&t0) * 1e3);
	CHECK_INT(counts[NONCOMPLIANT - 1], BENCH_MACHINES);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&pg, 0, sizeof(pg));
	for (;;) {
		size_t before = pg.n;
		char after[sizeof(pg.last)];

		snprintf(after, sizeof(after), "%s", pg.last);
		CHECK_INT(store_compliance_each(s, after, 0, 1000, T0 + BENCH_MACHINES, count_cb,
						&pg, counts, errmsg),
			  ESC_OK);
		pages++;
		if (pg.n == before)
			break;
	}
	total = pg.n;
	secs = seconds_since(&t0);
	CHECK_INT(total, BENCH_MACHINES);
	printf("# every page of 1000 with counts (%zu pages): %.3f s\n", pages, secs);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&pg, 0, sizeof(pg));
	CHECK_INT(store_compliance_each(s, NULL, 0, BENCH_MACHINES, T0 + BENCH_MACHINES, count_cb,
					&pg, counts, errmsg),
		  ESC_OK);
	CHECK_INT(pg.n, BENCH_MACHINES);
	printf("# all %d in one call with counts: %.3f s\n", BENCH_MACHINES, seconds_since(&t0));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "pc-%06d.corp.example", i * 97);
		CHECK_INT(machine_status(s, name, T0 + BENCH_MACHINES), NONCOMPLIANT);
	}
	printf("# store_machine: %.1f us each\n", seconds_since(&t0) * 1e3);
	store_close(s);
}

int main(void)
{
	if (!fixture_start("test_store_compliance"))
		return 1;

	RUN(first_report_is_judged);
	RUN(escrow_of_a_listed_key_judges_again);
	RUN(disclosure_asks_for_rotation);
	RUN(unlisted_key_is_retired_and_still_found);
	RUN(policy_change_judges_every_report_again);
	RUN(policy_rejudge_in_batches);
	RUN(rejudge_ends_at_a_name_no_upload_could_store);
	RUN(policy_survives_reopen);
	RUN(exemption_shows_until_it_expires);
	RUN(old_report_is_stale_at_read);
	RUN(history_keeps_the_32_newest_changes);
	RUN(bad_payloads_and_mismatches_change_nothing);
	RUN(same_index_twice_is_skipped);
	RUN(longest_machine_name_works);
	RUN(report_pages_filters_and_counts);
	RUN(machines_by_name_prefix);
	RUN(version_1_database_is_upgraded_on_open);
	RUN(version_1_image_and_snapshot_file_are_upgraded);
	RUN(version_2_database_and_image_get_the_audit_indexes);
	RUN(version_3_database_and_image_get_audit_key_at);
	RUN(version_4_database_and_image_get_audit_key_at);
	RUN(version_5_database_and_image_keep_reads_out_of_audit_machine);
	RUN(version_6_database_and_image_keep_created_escrows_out_of_audit_machine);
	RUN(hostile_version_1_images_are_refused);
	RUN(digest_covers_compliance_state);
	RUN(image_carries_compliance_state);
	RUN(restore_refuses_an_image_with_a_bad_policy);
	RUN(hundred_thousand_machines);

	fixture_end();
	return unit_done();
}
