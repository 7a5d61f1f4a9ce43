/* Fuzz target: the JSON request bodies (node/body.c, node/body_compliance.c).
 * The first byte picks the body, the rest is the body: 'm' a POST
 * /v1/cluster/members body, 't' a transfer, 'c' a compliance report (then
 * judged), 'p' a policy, 'x' an exemption; anything else, that byte included,
 * is a POST /v1/keys body. What is accepted must satisfy the data rules on
 * its own, and every refusal names its reason. */
#include <stdlib.h>
#include <string.h>

#include "node/body.h"
#include "store/judge.h"
#include "tests/fuzz.h"

#define FUZZ_NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static void refusal_check(const struct verr *e)
{
	if (e->code[0] == '\0' || e->msg[0] == '\0')
		abort();
}

/* A store that holds keys by their last hex digit: 0-3 missing, 4-7
 * disclosed, the rest held. */
static enum judge_key_state fuzz_key_state(void *data, const char *machine, const char *key_id)
{
	char c = key_id[VALIDATE_GUID_LEN - 1];

	(void)data;
	(void)machine;
	if (c >= '0' && c <= '3')
		return JUDGE_KEY_MISSING;
	if (c >= '4' && c <= '7')
		return JUDGE_KEY_DISCLOSED;
	return JUDGE_KEY_HELD;
}

static bool listed(const struct compliance_report *r, const char *key_id)
{
	for (unsigned i = 0; i < r->n_volumes; i++)
		for (unsigned k = 0; k < r->volumes[i].n_key_ids; k++)
			if (strcmp(r->volumes[i].key_ids[k], key_id) == 0)
				return true;
	return false;
}

/* An accepted report passes its checks and gets one verdict, whatever the
 * number of times it is judged. */
static void compliance_one(const uint8_t *data, size_t size)
{
	static struct compliance_report r;
	static struct judge_verdict v1, v2;
	struct compliance_policy p;
	struct verr e;

	if (!body_compliance((const char *)data, size, &r, &e)) {
		refusal_check(&e);
		return;
	}
	compliance_policy_default(&p);
	if (!compliance_report_check(&r, &e))
		abort();
	judge_report(&r, &p, fuzz_key_state, NULL, &v1);
	judge_report(&r, &p, fuzz_key_state, NULL, &v2);
	if (v1.status != v2.status || v1.reasons != v2.reasons || v1.n_rotate != v2.n_rotate ||
	    (v1.reasons & ~COMPLIANCE_REASONS_ALL) != 0 ||
	    (v1.status == COMPLIANCE_STATUS_COMPLIANT) != (v1.reasons == 0) ||
	    (v1.n_rotate > 0) != ((v1.reasons & COMPLIANCE_REASON_ROTATION_PENDING) != 0))
		abort();
	for (unsigned i = 0; i < v1.n_rotate; i++) {
		if (strcmp(v1.rotate_key_ids[i], v2.rotate_key_ids[i]) != 0 ||
		    !listed(&r, v1.rotate_key_ids[i]))
			abort();
		for (unsigned j = 0; j < i; j++)
			if (strcmp(v1.rotate_key_ids[i], v1.rotate_key_ids[j]) == 0)
				abort();
	}
}

static void policy_one(const uint8_t *data, size_t size)
{
	struct compliance_policy p;
	struct verr e;

	if (!body_policy((const char *)data, size, &p, &e))
		refusal_check(&e);
	else if (!compliance_policy_check(&p, &e))
		abort();
}

static void exemption_one(const uint8_t *data, size_t size)
{
	char note[VALIDATE_NOTE_MAX + 1];
	int64_t until;
	struct verr e;

	if (!body_exemption((const char *)data, size, FUZZ_NOW_MS, &until, note, sizeof note, &e))
		refusal_check(&e);
	else if (until <= FUZZ_NOW_MS || !validate_note(note, &e))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmd c;
	char pw[BODY_PASSWORD_SIZE], norm[VALIDATE_MACHINE_MAX + 1];
	struct verr e;

	if (size > 0 && data[0] == 'm') {
		struct bootstrap_member m;
		if (body_member((const char *)data + 1, size - 1, &m) &&
		    (m.id < 1 || m.id > 65535 || !addr_parse(m.raft, NULL) ||
		     !addr_parse(m.api, NULL)))
			abort();
		return 0;
	}
	if (size > 0 && data[0] == 't') {
		unsigned id;
		if (body_transfer((const char *)data + 1, size - 1, &id) && id > 65535)
			abort();
		return 0;
	}
	if (size > 0 && data[0] == 'c') {
		compliance_one(data + 1, size - 1);
		return 0;
	}
	if (size > 0 && data[0] == 'p') {
		policy_one(data + 1, size - 1);
		return 0;
	}
	if (size > 0 && data[0] == 'x') {
		exemption_one(data + 1, size - 1);
		return 0;
	}
	memset(&c, 0, sizeof c);
	if (!body_escrow((const char *)data, size, &c, pw, &e)) {
		refusal_check(&e);
		return 0;
	}
	if (!validate_recovery_password(pw, &e) || !validate_machine(c.machine, norm, &e) ||
	    strcmp(norm, c.machine) != 0 || !validate_volume_type(c.volume_type, &e))
		abort();
	return 0;
}
