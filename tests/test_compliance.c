/* Unit tests of store/compliance and store/judge: the words, the rules of a
 * report and a policy, and the verdict (API.md section 1). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "store/compliance.h"
#include "store/judge.h"
#include "tests/unit.h"

#define K_HELD1 "11111111-1111-1111-1111-111111111111"
#define K_HELD2 "22222222-2222-2222-2222-222222222222"
#define K_DISC1 "D1D1D1D1-0000-0000-0000-000000000001"
#define K_DISC2 "D2D2D2D2-0000-0000-0000-000000000002"
#define K_DISC3 "D3D3D3D3-0000-0000-0000-000000000003"
#define K_MISSING "0BADBAD0-0000-0000-0000-000000000000"
#define MACHINE "pc-42.corp.example"

static struct compliance_report rep;
static struct judge_verdict verdict;

/* The store as judge_report sees it: keys whose first character is 'D'
 * were disclosed, those starting with '0' are not held, the rest are held.
 * It counts the questions and remembers whether they named the machine. */
struct fake_store {
	unsigned asked;
	bool other_machine;
};

static enum judge_key_state fake_key_state(void *data, const char *machine, const char *key_id)
{
	struct fake_store *s = data;

	s->asked++;
	if (strcmp(machine, MACHINE) != 0)
		s->other_machine = true;
	if (key_id[0] == 'D')
		return JUDGE_KEY_DISCLOSED;
	if (key_id[0] == '0')
		return JUDGE_KEY_MISSING;
	return JUDGE_KEY_HELD;
}

/* Appends a volume with no protectors and no keys. */
static struct compliance_volume *volume_add(struct compliance_report *r, const char *id,
					    unsigned type, unsigned protection,
					    unsigned conversion, unsigned method)
{
	struct compliance_volume *v = &r->volumes[r->n_volumes++];

	memset(v, 0, sizeof *v);
	snprintf(v->volume_id, sizeof v->volume_id, "%s", id);
	v->volume_type = (uint8_t)type;
	v->protection = (uint8_t)protection;
	v->conversion = (uint8_t)conversion;
	v->method = (uint8_t)method;
	v->percent = conversion == COMPLIANCE_CONVERSION_FULLY_ENCRYPTED ? 100 : 0;
	return v;
}

static void key_add(struct compliance_volume *v, const char *key_id)
{
	snprintf(v->key_ids[v->n_key_ids++], VALIDATE_GUID_LEN + 1, "%s", key_id);
}

/* A protected volume of the given type with one held key. */
static struct compliance_volume *volume_protected(struct compliance_report *r, const char *id,
						  unsigned type)
{
	struct compliance_volume *v = volume_add(r, id, type, COMPLIANCE_PROTECTION_ON,
						 COMPLIANCE_CONVERSION_FULLY_ENCRYPTED,
						 COMPLIANCE_METHOD_XTS_AES_256);

	v->protectors = COMPLIANCE_PROTECTOR_TPM | COMPLIANCE_PROTECTOR_RECOVERY_PASSWORD;
	key_add(v, id[0] == 'F' ? K_HELD2 : K_HELD1);
	return v;
}

/* An empty report of MACHINE. */
static void report_empty(struct compliance_report *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->machine, sizeof r->machine, "%s", MACHINE);
	snprintf(r->user, sizeof r->user, "CORP\\alice");
	snprintf(r->os, sizeof r->os, "Windows 11 Enterprise 23H2");
}

/* MACHINE with one protected os volume (C:) whose key is held. */
static void report_good(struct compliance_report *r)
{
	report_empty(r);
	volume_protected(r, "C:", COMPLIANCE_VOLUME_OS);
}

static uint32_t judge(const struct compliance_policy *p)
{
	struct fake_store store = { 0 };

	judge_report(&rep, p, fake_key_state, &store, &verdict);
	return verdict.reasons;
}

/* ---- words ---- */

TEST(every_word_round_trips)
{
	static const unsigned counts[COMPLIANCE_KIND__COUNT] = { 3, 3, 5, 5, 8, 2, 9, 4 };

	for (int k = 0; k < COMPLIANCE_KIND__COUNT; k++) {
		bool mask = k == COMPLIANCE_KIND_PROTECTOR || k == COMPLIANCE_KIND_REASON;

		for (unsigned i = 0; i < counts[k]; i++) {
			unsigned value = mask ? 1u << i : i + 1, back = 0;
			const char *name = compliance_name((enum compliance_kind)k, value);

			CHECK(name != NULL);
			CHECK(compliance_name_parse((enum compliance_kind)k, name, &back));
			CHECK_INT(back, value);
		}
		CHECK(compliance_name((enum compliance_kind)k,
				      mask ? 1u << counts[k] : counts[k] + 1) == NULL);
		CHECK(compliance_name((enum compliance_kind)k, 0) == NULL);
	}
	CHECK(compliance_name(COMPLIANCE_KIND__COUNT, 1) == NULL);
}

TEST(words_have_the_values_of_the_enums)
{
	unsigned v;

	CHECK(compliance_name_parse(COMPLIANCE_KIND_VOLUME_TYPE, "removable", &v));
	CHECK_INT(v, COMPLIANCE_VOLUME_REMOVABLE);
	CHECK(compliance_name_parse(COMPLIANCE_KIND_PROTECTION, "suspended", &v));
	CHECK_INT(v, COMPLIANCE_PROTECTION_SUSPENDED);
	CHECK(compliance_name_parse(COMPLIANCE_KIND_CONVERSION, "paused", &v));
	CHECK_INT(v, COMPLIANCE_CONVERSION_PAUSED);
	CHECK(compliance_name_parse(COMPLIANCE_KIND_METHOD, "aes_cbc_128", &v));
	CHECK_INT(v, COMPLIANCE_METHOD_AES_CBC_128);
	CHECK(compliance_name_parse(COMPLIANCE_KIND_PROTECTOR, "tpm_pin_startup_key", &v));
	CHECK_INT(v, COMPLIANCE_PROTECTOR_TPM_PIN_STARTUP_KEY);
	CHECK(compliance_name_parse(COMPLIANCE_KIND_REQUIREMENT, "optional", &v));
	CHECK_INT(v, COMPLIANCE_OPTIONAL);
	CHECK(compliance_name_parse(COMPLIANCE_KIND_REASON, "rotation_pending", &v));
	CHECK_INT(v, COMPLIANCE_REASON_ROTATION_PENDING);
	CHECK(compliance_name_parse(COMPLIANCE_KIND_STATUS, "exempt", &v));
	CHECK_INT(v, COMPLIANCE_STATUS_EXEMPT);
	CHECK_STR(compliance_name(COMPLIANCE_KIND_REASON,
				  COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED),
		  "os_volume_not_protected");
	CHECK_STR(compliance_name(COMPLIANCE_KIND_VOLUME_TYPE, COMPLIANCE_VOLUME_OS), "os");
}

TEST(unknown_words_are_refused)
{
	static const char *const bad[] = { "ON", "on ", " on", "", "o", "onn", "suspend" };
	unsigned v = 77;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(!compliance_name_parse(COMPLIANCE_KIND_PROTECTION, bad[i], &v));
	CHECK(!compliance_name_parse(COMPLIANCE_KIND_PROTECTION, NULL, &v));
	CHECK(!compliance_name_parse(COMPLIANCE_KIND_METHOD, "on", &v));
	CHECK(!compliance_name_parse(COMPLIANCE_KIND__COUNT, "on", &v));
	CHECK_INT(v, 77);
	/* A mask kind's value is a single bit: two bits name nothing. */
	CHECK(compliance_name(COMPLIANCE_KIND_PROTECTOR, 3) == NULL);
}

TEST(a_refused_word_names_its_code_place_and_value)
{
	static const struct {
		enum compliance_kind kind;
		const char *code;
	} kinds[] = {
		{ COMPLIANCE_KIND_VOLUME_TYPE, "invalid_volume_type" },
		{ COMPLIANCE_KIND_PROTECTION, "invalid_protection" },
		{ COMPLIANCE_KIND_CONVERSION, "invalid_conversion" },
		{ COMPLIANCE_KIND_METHOD, "invalid_encryption_method" },
		{ COMPLIANCE_KIND_PROTECTOR, "invalid_protector" },
		{ COMPLIANCE_KIND_REQUIREMENT, "invalid_policy_requirement" },
		{ COMPLIANCE_KIND_REASON, "invalid_compliance_reason" },
		{ COMPLIANCE_KIND_STATUS, "invalid_status" },
	};
	struct verr e;
	unsigned v;

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		memset(&e, 0, sizeof e);
		CHECK(!compliance_name_read(kinds[i].kind, "bogus", "volume 7 thing", &v, &e));
		CHECK_STR(e.code, kinds[i].code);
		CHECK(strstr(e.msg, "volume 7 thing \"bogus\"") != NULL);
	}
	CHECK(!compliance_name_read(COMPLIANCE_KIND_PROTECTION, "x\x01y", "volume 1 protection", &v,
				    &e));
	CHECK(strstr(e.msg, "\"x?y\"") != NULL);
	CHECK(strstr(e.msg, "on, off, suspended") != NULL);
	CHECK(!compliance_name_read(COMPLIANCE_KIND_PROTECTION,
				    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				    "volume 1 protection", &v, &e));
	CHECK(strstr(e.msg, "aaaaaaaaaaaaaaaaaaaaaaaa...\"") != NULL);
	CHECK(!compliance_name_read(COMPLIANCE_KIND_PROTECTION, "", "volume 1 protection", &v, &e));
	CHECK_STR(e.code, "invalid_protection");
	CHECK(!compliance_name_read(COMPLIANCE_KIND_PROTECTION, "x", "w", &v, NULL));
	CHECK(compliance_name_read(COMPLIANCE_KIND_PROTECTION, "off", "w", &v, &e));
	CHECK_INT(v, COMPLIANCE_PROTECTION_OFF);
}

TEST(mask_names_come_in_vocabulary_order)
{
	const char *names[16];
	size_t n;

	n = compliance_mask_names(COMPLIANCE_KIND_PROTECTOR,
				  COMPLIANCE_PROTECTOR_RECOVERY_KEY | COMPLIANCE_PROTECTOR_TPM |
					  COMPLIANCE_PROTECTOR_PASSWORD | 0x100u,
				  names, 16);
	CHECK_INT(n, 3);
	CHECK_STR(names[0], "tpm");
	CHECK_STR(names[1], "password");
	CHECK_STR(names[2], "recovery_key");
	CHECK_INT(compliance_mask_names(COMPLIANCE_KIND_PROTECTOR, COMPLIANCE_PROTECTORS_ALL, names,
					2),
		  2);
	CHECK_INT(compliance_mask_names(COMPLIANCE_KIND_REASON, 0, names, 16), 0);
	/* An enumerated kind: a set of values as COMPLIANCE_BIT(value). */
	n = compliance_mask_names(COMPLIANCE_KIND_METHOD,
				  COMPLIANCE_BIT(COMPLIANCE_METHOD_NONE) |
					  COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_128) | 1u,
				  names, 16);
	CHECK_INT(n, 2);
	CHECK_STR(names[0], "xts_aes_128");
	CHECK_STR(names[1], "none");
}

TEST(reasons_join_in_the_fixed_order)
{
	char out[COMPLIANCE_REASONS_TEXT_SIZE], small[30];

	CHECK(compliance_reasons_join(COMPLIANCE_REASON_ROTATION_PENDING |
					      COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED |
					      COMPLIANCE_REASON_PROTECTION_SUSPENDED,
				      ";", out, sizeof out));
	CHECK_STR(out, "os_volume_not_protected;protection_suspended;rotation_pending");
	CHECK(compliance_reasons_join(0, ";", out, sizeof out));
	CHECK_STR(out, "");
	CHECK(compliance_reasons_join(COMPLIANCE_REASON_NO_RECOVERY_PASSWORD, ";", out,
				      sizeof out));
	CHECK_STR(out, "no_recovery_password");
	CHECK(compliance_reasons_join(COMPLIANCE_REASONS_ALL, ";", out, sizeof out));
	CHECK_STR(out, "os_volume_not_protected;fixed_volume_not_protected;"
		       "removable_volume_not_protected;protection_suspended;"
		       "encryption_method_not_allowed;os_protector_not_allowed;"
		       "no_recovery_password;recovery_key_not_escrowed;rotation_pending");
	CHECK(compliance_reasons_join(COMPLIANCE_REASONS_ALL, " or ", out, sizeof out));
	/* Too small: false, cut at a name, still terminated. */
	CHECK(!compliance_reasons_join(COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED |
					       COMPLIANCE_REASON_ROTATION_PENDING,
				       ";", small, sizeof small));
	CHECK_STR(small, "os_volume_not_protected");
	CHECK(!compliance_reasons_join(COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED, ";", small, 5));
	CHECK_STR(small, "");
	CHECK(!compliance_reasons_join(0, ";", small, 0));
}

/* ---- the report's rules ---- */

TEST(a_good_report_passes)
{
	struct verr e;

	report_good(&rep);
	CHECK(compliance_report_check(&rep, &e));
	volume_protected(&rep, "F:", COMPLIANCE_VOLUME_FIXED)->n_key_ids = 0;
	rep.user[0] = rep.os[0] = '\0';
	CHECK(compliance_report_check(&rep, &e));
	CHECK(compliance_report_check(&rep, NULL));
}

TEST(volumes_number_1_to_64)
{
	char id[16];
	struct verr e;

	report_empty(&rep);
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_volumes");
	for (int i = 0; i < COMPLIANCE_VOLUMES_MAX; i++) {
		snprintf(id, sizeof id, "V%d", i);
		volume_protected(&rep, id, COMPLIANCE_VOLUME_FIXED);
	}
	CHECK(compliance_report_check(&rep, &e));
	rep.n_volumes = COMPLIANCE_VOLUMES_MAX + 1;
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_volumes");
	CHECK(strstr(e.msg, "65") != NULL);
}

TEST(volume_ids_are_unique_compared_exactly)
{
	struct verr e;

	report_good(&rep);
	volume_protected(&rep, "c:", COMPLIANCE_VOLUME_FIXED); /* another case: another id */
	CHECK(compliance_report_check(&rep, &e));
	volume_protected(&rep, "C:", COMPLIANCE_VOLUME_FIXED);
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "duplicate_volume_id");
	CHECK(strstr(e.msg, "volume 3") != NULL);
	CHECK(strstr(e.msg, "volume 1") != NULL);
	CHECK(strstr(e.msg, "\"C:\"") != NULL);
}

TEST(volume_ids_follow_the_key_rule)
{
	struct verr e;

	report_good(&rep);
	volume_protected(&rep, "", COMPLIANCE_VOLUME_FIXED);
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_volume_id");
	CHECK(strncmp(e.msg, "volume 2: ", 10) == 0);
	snprintf(rep.volumes[1].volume_id, sizeof rep.volumes[1].volume_id, "tab\there");
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_volume_id");
	memset(rep.volumes[1].volume_id, 'v', sizeof rep.volumes[1].volume_id);
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_volume_id");
}

TEST(enumerated_fields_hold_known_values)
{
	static const struct {
		size_t offset;
		uint8_t bad;
		const char *code;
	} cases[] = {
		{ offsetof(struct compliance_volume, volume_type), 0, "invalid_volume_type" },
		{ offsetof(struct compliance_volume, volume_type), 4, "invalid_volume_type" },
		{ offsetof(struct compliance_volume, protection), 0, "invalid_protection" },
		{ offsetof(struct compliance_volume, protection), 9, "invalid_protection" },
		{ offsetof(struct compliance_volume, conversion), 6, "invalid_conversion" },
		{ offsetof(struct compliance_volume, method), 0, "invalid_encryption_method" },
		{ offsetof(struct compliance_volume, method), 6, "invalid_encryption_method" },
		{ offsetof(struct compliance_volume, percent), 101, "invalid_percent_encrypted" },
		{ offsetof(struct compliance_volume, percent), 255, "invalid_percent_encrypted" },
	};
	struct verr e;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		report_good(&rep);
		volume_protected(&rep, "F:", COMPLIANCE_VOLUME_FIXED);
		((uint8_t *)&rep.volumes[1])[cases[i].offset] = cases[i].bad;
		CHECK(!compliance_report_check(&rep, &e));
		CHECK_STR(e.code, cases[i].code);
		CHECK(strncmp(e.msg, "volume 2 ", 9) == 0);
	}
	report_good(&rep);
	rep.volumes[0].percent = 0; /* percent is reported, not checked against conversion */
	CHECK(compliance_report_check(&rep, &e));
	rep.volumes[0].protectors = 0x100;
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_protector");
}

TEST(key_ids_are_0_to_16_normalised_guids)
{
	struct compliance_volume *v;
	struct verr e;

	report_good(&rep);
	v = &rep.volumes[0];
	while (v->n_key_ids < COMPLIANCE_KEY_IDS_MAX)
		key_add(v, K_HELD2);
	CHECK(compliance_report_check(&rep, &e));
	v->n_key_ids = COMPLIANCE_KEY_IDS_MAX + 1;
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "too_many_key_ids");
	CHECK(strstr(e.msg, "volume 1") != NULL);

	report_good(&rep);
	v = volume_protected(&rep, "F:", COMPLIANCE_VOLUME_FIXED);
	key_add(v, "not-a-guid");
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_key_id");
	CHECK(strncmp(e.msg, "volume 2 key_ids entry 2: ", 26) == 0);
	snprintf(v->key_ids[1], sizeof v->key_ids[1], "%s", "d1d1d1d1-0000-0000-0000-000000000001");
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_key_id");
	CHECK(strstr(e.msg, "normal form") != NULL);
}

TEST(machine_user_and_os_follow_their_rules)
{
	struct verr e;

	report_good(&rep);
	snprintf(rep.machine, sizeof rep.machine, "PC-42.corp.example");
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_machine");
	rep.machine[0] = '\0';
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_machine");

	report_good(&rep);
	snprintf(rep.user, sizeof rep.user, "bad\x01");
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_user");

	report_good(&rep);
	snprintf(rep.os, sizeof rep.os, "Windows 10 Pro f\xc3\xbcr Workstations");
	CHECK(compliance_report_check(&rep, &e));
	snprintf(rep.os, sizeof rep.os, "Windows\n11");
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_os");
	memset(rep.os, 'w', sizeof rep.os);
	CHECK(!compliance_report_check(&rep, &e));
	CHECK_STR(e.code, "invalid_os");
}

/* ---- the policy ---- */

TEST(the_default_policy_is_the_contracts)
{
	struct compliance_policy p;
	const char *names[8];
	struct verr e;

	memset(&p, 0xab, sizeof p);
	compliance_policy_default(&p);
	CHECK_INT(p.os_volume, COMPLIANCE_REQUIRED);
	CHECK_INT(p.fixed_volumes, COMPLIANCE_OPTIONAL);
	CHECK_INT(p.removable_volumes, COMPLIANCE_OPTIONAL);
	CHECK_INT(compliance_mask_names(COMPLIANCE_KIND_METHOD, p.methods, names, 8), 4);
	CHECK_STR(names[0], "xts_aes_256");
	CHECK_STR(names[1], "xts_aes_128");
	CHECK_STR(names[2], "aes_cbc_256");
	CHECK_STR(names[3], "aes_cbc_128");
	CHECK_INT(p.os_protectors, 0);
	CHECK_INT(p.stale_after_days, 14);
	CHECK(compliance_policy_check(&p, &e));
}

TEST(policy_rules)
{
	struct compliance_policy p;
	struct verr e;

	compliance_policy_default(&p);
	p.fixed_volumes = 0;
	CHECK(!compliance_policy_check(&p, &e));
	CHECK_STR(e.code, "invalid_policy_requirement");
	CHECK(strstr(e.msg, "fixed_volumes") != NULL);
	compliance_policy_default(&p);
	p.removable_volumes = 3;
	CHECK(!compliance_policy_check(&p, &e));
	CHECK_STR(e.code, "invalid_policy_requirement");

	compliance_policy_default(&p);
	p.methods = 0;
	CHECK(!compliance_policy_check(&p, &e));
	CHECK_STR(e.code, "invalid_encryption_method");
	p.methods = COMPLIANCE_BIT(COMPLIANCE_METHOD_NONE);
	CHECK(compliance_policy_check(&p, &e));
	p.methods |= 1u; /* value 0 is no method */
	CHECK(!compliance_policy_check(&p, &e));
	CHECK_STR(e.code, "invalid_encryption_method");

	compliance_policy_default(&p);
	p.os_protectors = COMPLIANCE_PROTECTORS_ALL;
	CHECK(compliance_policy_check(&p, &e));
	p.os_protectors = 0x200;
	CHECK(!compliance_policy_check(&p, &e));
	CHECK_STR(e.code, "invalid_protector");

	compliance_policy_default(&p);
	p.stale_after_days = 0;
	CHECK(!compliance_policy_check(&p, &e));
	CHECK_STR(e.code, "invalid_stale_after_days");
	p.stale_after_days = 366;
	CHECK(!compliance_policy_check(&p, &e));
	CHECK_STR(e.code, "invalid_stale_after_days");
	p.stale_after_days = 1;
	CHECK(compliance_policy_check(&p, &e));
	p.stale_after_days = 365;
	CHECK(compliance_policy_check(&p, &e));
}

/* ---- the verdict ---- */

/* Each case starts from report_good and the default policy. */
static void no_os_volume(struct compliance_report *r, struct compliance_policy *p)
{
	report_empty(r);
	volume_protected(r, "F:", COMPLIANCE_VOLUME_FIXED);
}

static void os_protection_off(struct compliance_report *r, struct compliance_policy *p)
{
	r->volumes[0].protection = COMPLIANCE_PROTECTION_OFF;
}

static void os_encrypting(struct compliance_report *r, struct compliance_policy *p)
{
	r->volumes[0].conversion = COMPLIANCE_CONVERSION_ENCRYPTING;
}

static void os_second_volume_decrypted(struct compliance_report *r, struct compliance_policy *p)
{
	key_add(volume_add(r, "D:", COMPLIANCE_VOLUME_OS, COMPLIANCE_PROTECTION_ON,
			   COMPLIANCE_CONVERSION_DECRYPTING, COMPLIANCE_METHOD_XTS_AES_128),
		K_HELD1);
}

static void os_optional_and_open(struct compliance_report *r, struct compliance_policy *p)
{
	struct compliance_volume *v = &r->volumes[0];

	p->os_volume = COMPLIANCE_OPTIONAL;
	v->protection = COMPLIANCE_PROTECTION_OFF;
	v->conversion = COMPLIANCE_CONVERSION_FULLY_DECRYPTED;
	v->method = COMPLIANCE_METHOD_NONE;
	v->protectors = 0;
	v->n_key_ids = 0;
	p->os_protectors = COMPLIANCE_PROTECTOR_TPM_PIN; /* not judged on a decrypted volume */
}

static void os_optional_and_missing(struct compliance_report *r, struct compliance_policy *p)
{
	no_os_volume(r, p);
	p->os_volume = COMPLIANCE_OPTIONAL;
}

static void fixed_encrypting(struct compliance_report *r, struct compliance_policy *p)
{
	key_add(volume_add(r, "F:", COMPLIANCE_VOLUME_FIXED, COMPLIANCE_PROTECTION_ON,
			   COMPLIANCE_CONVERSION_ENCRYPTING, COMPLIANCE_METHOD_XTS_AES_256),
		K_HELD2);
}

static void fixed_required_encrypting(struct compliance_report *r, struct compliance_policy *p)
{
	fixed_encrypting(r, p);
	p->fixed_volumes = COMPLIANCE_REQUIRED;
}

static void fixed_required_absent(struct compliance_report *r, struct compliance_policy *p)
{
	p->fixed_volumes = COMPLIANCE_REQUIRED;
	p->removable_volumes = COMPLIANCE_REQUIRED;
}

static void removable_decrypted(struct compliance_report *r, struct compliance_policy *p)
{
	volume_add(r, "E:", COMPLIANCE_VOLUME_REMOVABLE, COMPLIANCE_PROTECTION_OFF,
		   COMPLIANCE_CONVERSION_FULLY_DECRYPTED, COMPLIANCE_METHOD_NONE);
}

static void removable_required_decrypted(struct compliance_report *r, struct compliance_policy *p)
{
	removable_decrypted(r, p);
	p->removable_volumes = COMPLIANCE_REQUIRED;
}

static void optional_fixed_suspended(struct compliance_report *r, struct compliance_policy *p)
{
	volume_protected(r, "F:", COMPLIANCE_VOLUME_FIXED)->protection =
		COMPLIANCE_PROTECTION_SUSPENDED;
}

static void os_method_cbc(struct compliance_report *r, struct compliance_policy *p)
{
	r->volumes[0].method = COMPLIANCE_METHOD_AES_CBC_128;
	p->methods = COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_256) |
		     COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_128);
}

static void decrypted_method_not_judged(struct compliance_report *r, struct compliance_policy *p)
{
	volume_add(r, "F:", COMPLIANCE_VOLUME_FIXED, COMPLIANCE_PROTECTION_OFF,
		   COMPLIANCE_CONVERSION_FULLY_DECRYPTED, COMPLIANCE_METHOD_AES_CBC_128);
	p->methods = COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_256);
}

static void paused_optional_cbc(struct compliance_report *r, struct compliance_policy *p)
{
	key_add(volume_add(r, "F:", COMPLIANCE_VOLUME_FIXED, COMPLIANCE_PROTECTION_ON,
			   COMPLIANCE_CONVERSION_PAUSED, COMPLIANCE_METHOD_AES_CBC_128),
		K_HELD2);
	p->methods = COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_256);
}

static void os_protector_tpm_pin(struct compliance_report *r, struct compliance_policy *p)
{
	p->os_protectors = COMPLIANCE_PROTECTOR_TPM_PIN | COMPLIANCE_PROTECTOR_TPM_PIN_STARTUP_KEY;
}

static void os_protector_one_of(struct compliance_report *r, struct compliance_policy *p)
{
	p->os_protectors = COMPLIANCE_PROTECTOR_TPM_PIN | COMPLIANCE_PROTECTOR_TPM;
	/* os_protectors is about the os volume: a fixed one may have anything. */
	volume_protected(r, "F:", COMPLIANCE_VOLUME_FIXED)->protectors =
		COMPLIANCE_PROTECTOR_PASSWORD;
}

static void os_no_key_ids(struct compliance_report *r, struct compliance_policy *p)
{
	r->volumes[0].n_key_ids = 0;
}

static void fixed_key_missing(struct compliance_report *r, struct compliance_policy *p)
{
	key_add(volume_protected(r, "F:", COMPLIANCE_VOLUME_FIXED), K_MISSING);
}

static void os_key_disclosed(struct compliance_report *r, struct compliance_policy *p)
{
	key_add(&r->volumes[0], K_DISC1);
}

static void decrypted_key_missing(struct compliance_report *r, struct compliance_policy *p)
{
	key_add(volume_add(r, "E:", COMPLIANCE_VOLUME_REMOVABLE, COMPLIANCE_PROTECTION_OFF,
			   COMPLIANCE_CONVERSION_FULLY_DECRYPTED, COMPLIANCE_METHOD_NONE),
		K_MISSING);
}

/* One report that gives every reason at once. */
static void everything_wrong(struct compliance_report *r, struct compliance_policy *p)
{
	struct compliance_volume *v = &r->volumes[0];

	p->fixed_volumes = COMPLIANCE_REQUIRED;
	p->removable_volumes = COMPLIANCE_REQUIRED;
	p->methods = COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_256);
	p->os_protectors = COMPLIANCE_PROTECTOR_TPM_PIN;
	v->conversion = COMPLIANCE_CONVERSION_ENCRYPTING;
	v->method = COMPLIANCE_METHOD_AES_CBC_256;
	v->protectors = COMPLIANCE_PROTECTOR_PASSWORD;
	v->n_key_ids = 0;
	v = volume_protected(r, "F:", COMPLIANCE_VOLUME_FIXED);
	v->protection = COMPLIANCE_PROTECTION_SUSPENDED;
	key_add(v, K_MISSING);
	key_add(v, K_DISC2);
	removable_decrypted(r, p);
}

static const struct {
	const char *name;
	void (*setup)(struct compliance_report *r, struct compliance_policy *p);
	uint32_t reasons;
} judge_cases[] = {
	{ "compliant", NULL, 0 },
	{ "no os volume", no_os_volume, COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED },
	{ "os protection off", os_protection_off, COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED },
	{ "os encrypting", os_encrypting, COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED },
	{ "a second os volume decrypting", os_second_volume_decrypted,
	  COMPLIANCE_REASON_OS_VOLUME_NOT_PROTECTED },
	{ "os optional, decrypted", os_optional_and_open, 0 },
	{ "os optional, absent", os_optional_and_missing, 0 },
	{ "fixed optional, encrypting", fixed_encrypting, 0 },
	{ "fixed required, encrypting", fixed_required_encrypting,
	  COMPLIANCE_REASON_FIXED_VOLUME_NOT_PROTECTED },
	{ "fixed and removable required, none there", fixed_required_absent, 0 },
	{ "removable optional, decrypted", removable_decrypted, 0 },
	{ "removable required, decrypted", removable_required_decrypted,
	  COMPLIANCE_REASON_REMOVABLE_VOLUME_NOT_PROTECTED },
	{ "optional fixed volume suspended", optional_fixed_suspended,
	  COMPLIANCE_REASON_PROTECTION_SUSPENDED },
	{ "os method not allowed", os_method_cbc, COMPLIANCE_REASON_ENCRYPTION_METHOD_NOT_ALLOWED },
	{ "decrypted volume not judged on method", decrypted_method_not_judged, 0 },
	{ "paused optional volume judged on method", paused_optional_cbc,
	  COMPLIANCE_REASON_ENCRYPTION_METHOD_NOT_ALLOWED },
	{ "os protector not allowed", os_protector_tpm_pin,
	  COMPLIANCE_REASON_OS_PROTECTOR_NOT_ALLOWED },
	{ "os protector one of the allowed", os_protector_one_of, 0 },
	{ "encrypted os volume without key_ids", os_no_key_ids,
	  COMPLIANCE_REASON_NO_RECOVERY_PASSWORD },
	{ "a listed key not escrowed", fixed_key_missing,
	  COMPLIANCE_REASON_RECOVERY_KEY_NOT_ESCROWED },
	{ "a decrypted volume's key not escrowed", decrypted_key_missing,
	  COMPLIANCE_REASON_RECOVERY_KEY_NOT_ESCROWED },
	{ "a listed key disclosed", os_key_disclosed, COMPLIANCE_REASON_ROTATION_PENDING },
	{ "everything wrong", everything_wrong, COMPLIANCE_REASONS_ALL },
};

TEST(judge_sets_every_reason_that_applies)
{
	for (size_t i = 0; i < sizeof judge_cases / sizeof judge_cases[0]; i++) {
		struct compliance_policy p;
		char got[COMPLIANCE_REASONS_TEXT_SIZE], want[COMPLIANCE_REASONS_TEXT_SIZE];
		struct verr e;

		report_good(&rep);
		compliance_policy_default(&p);
		if (judge_cases[i].setup != NULL)
			judge_cases[i].setup(&rep, &p);
		if (!compliance_report_check(&rep, &e) || !compliance_policy_check(&p, &e)) {
			printf("# case \"%s\" is not a sound report and policy: %s\n",
			       judge_cases[i].name, e.msg);
			CHECK(0);
		}
		judge(&p);
		if (verdict.reasons != judge_cases[i].reasons) {
			compliance_reasons_join(verdict.reasons, ";", got, sizeof got);
			compliance_reasons_join(judge_cases[i].reasons, ";", want, sizeof want);
			printf("# case \"%s\": reasons [%s], expected [%s]\n", judge_cases[i].name,
			       got, want);
			CHECK(0);
		}
		CHECK_INT(verdict.status, judge_cases[i].reasons ? COMPLIANCE_STATUS_NONCOMPLIANT
								 : COMPLIANCE_STATUS_COMPLIANT);
	}
}

TEST(every_reason_has_a_case_of_its_own)
{
	uint32_t alone = 0;

	for (size_t i = 0; i < sizeof judge_cases / sizeof judge_cases[0]; i++) {
		uint32_t r = judge_cases[i].reasons;

		if (r != 0 && (r & (r - 1)) == 0)
			alone |= r;
	}
	CHECK_INT(alone, COMPLIANCE_REASONS_ALL);
}

TEST(rotate_lists_disclosed_keys_in_report_order_once)
{
	struct compliance_policy p;
	struct compliance_volume *v;

	compliance_policy_default(&p);
	report_empty(&rep);
	v = volume_protected(&rep, "C:", COMPLIANCE_VOLUME_OS);
	key_add(v, K_DISC2);
	key_add(v, K_DISC1);
	key_add(v, K_DISC2);
	v = volume_protected(&rep, "F:", COMPLIANCE_VOLUME_FIXED);
	key_add(v, K_DISC1);
	key_add(v, K_DISC3);
	key_add(v, K_MISSING);
	judge(&p);
	CHECK_INT(verdict.reasons, COMPLIANCE_REASON_ROTATION_PENDING |
					   COMPLIANCE_REASON_RECOVERY_KEY_NOT_ESCROWED);
	CHECK_INT(verdict.n_rotate, 3);
	CHECK_STR(verdict.rotate_key_ids[0], K_DISC2);
	CHECK_STR(verdict.rotate_key_ids[1], K_DISC1);
	CHECK_STR(verdict.rotate_key_ids[2], K_DISC3);

	report_good(&rep);
	judge(&p);
	CHECK_INT(verdict.n_rotate, 0);
}

TEST(rotate_holds_every_listed_key)
{
	struct compliance_policy p;
	char id[16];

	compliance_policy_default(&p);
	report_empty(&rep);
	for (int i = 0; i < COMPLIANCE_VOLUMES_MAX; i++) {
		struct compliance_volume *v;

		snprintf(id, sizeof id, "V%d", i);
		v = volume_add(&rep, id, i == 0 ? COMPLIANCE_VOLUME_OS : COMPLIANCE_VOLUME_FIXED,
			       COMPLIANCE_PROTECTION_ON, COMPLIANCE_CONVERSION_FULLY_ENCRYPTED,
			       COMPLIANCE_METHOD_XTS_AES_256);
		for (int k = 0; k < COMPLIANCE_KEY_IDS_MAX; k++)
			snprintf(v->key_ids[v->n_key_ids++], VALIDATE_GUID_LEN + 1,
				 "D%07X-0000-0000-0000-%012X", (unsigned)i, (unsigned)k);
	}
	CHECK(compliance_report_check(&rep, NULL));
	judge(&p);
	CHECK_INT(verdict.reasons, COMPLIANCE_REASON_ROTATION_PENDING);
	CHECK_INT(verdict.n_rotate, JUDGE_ROTATE_MAX);
	CHECK_STR(verdict.rotate_key_ids[0], "D0000000-0000-0000-0000-000000000000");
	CHECK_STR(verdict.rotate_key_ids[JUDGE_ROTATE_MAX - 1],
		  "D000003F-0000-0000-0000-00000000000F");
}

TEST(judge_asks_about_every_listed_key_of_this_machine)
{
	struct compliance_policy p;
	struct fake_store store = { 0 };
	struct judge_verdict again;

	compliance_policy_default(&p);
	report_good(&rep);
	everything_wrong(&rep, &p);
	judge_report(&rep, &p, fake_key_state, &store, &verdict);
	CHECK_INT(store.asked, 3); /* C: lists none, F: three, E: none */
	CHECK(!store.other_machine);
	memset(&again, 0x5a, sizeof again);
	judge_report(&rep, &p, fake_key_state, &store, &again);
	CHECK_INT(again.status, verdict.status);
	CHECK_INT(again.reasons, verdict.reasons);
	CHECK_INT(again.n_rotate, 1);
	CHECK_STR(again.rotate_key_ids[0], K_DISC2);
}

int main(void)
{
	RUN(every_word_round_trips);
	RUN(words_have_the_values_of_the_enums);
	RUN(unknown_words_are_refused);
	RUN(a_refused_word_names_its_code_place_and_value);
	RUN(mask_names_come_in_vocabulary_order);
	RUN(reasons_join_in_the_fixed_order);
	RUN(a_good_report_passes);
	RUN(volumes_number_1_to_64);
	RUN(volume_ids_are_unique_compared_exactly);
	RUN(volume_ids_follow_the_key_rule);
	RUN(enumerated_fields_hold_known_values);
	RUN(key_ids_are_0_to_16_normalised_guids);
	RUN(machine_user_and_os_follow_their_rules);
	RUN(the_default_policy_is_the_contracts);
	RUN(policy_rules);
	RUN(judge_sets_every_reason_that_applies);
	RUN(every_reason_has_a_case_of_its_own);
	RUN(rotate_lists_disclosed_keys_in_report_order_once);
	RUN(rotate_holds_every_listed_key);
	RUN(judge_asks_about_every_listed_key_of_this_machine);
	return unit_done();
}
