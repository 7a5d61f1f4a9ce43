/* Unit tests of node/body_compliance.c: the JSON bodies of a compliance
 * report, the policy and an exemption, each bad input refused by its code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "node/body.h"
#include "tests/unit.h"

#define GUID_A "6F1D2C3B-0A4E-4F55-9B2C-1D2E3F405162"
#define GUID_B "A1B2C3D4-E5F6-A7B8-C9D0-E1F2A3B4C5D6"
#define UNTIL_2027 1801353600000LL /* 2027-01-31T00:00:00Z */
#define NOW_2026 1767225600000LL   /* 2026-01-01T00:00:00Z */

/* One volume of a report as JSON texts, one per field; NULL leaves the field
 * out, extra (when not NULL) is added as it is. */
struct vol {
	const char *volume_id, *volume_type, *protection, *conversion, *method, *percent;
	const char *protectors, *key_ids, *extra;
};

static const struct vol good_vol = {
	"\"\\\\\\\\?\\\\Volume{5a0d}\"", "\"os\"", "\"on\"", "\"fully_encrypted\"",
	"\"xts_aes_256\"", "100", "[\"tpm_pin\", \"recovery_password\"]",
	"[\"{" GUID_A "}\"]", NULL,
};

static char json[512 * 1024];
static struct compliance_report rep;
static struct verr err;

/* Appends printf-style text to json at *used. */
static void add(size_t *used, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(json + *used, sizeof json - *used, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof json - *used)
		*used += (size_t)n;
}

static void add_volume(size_t *used, const struct vol *v)
{
	const char *names[] = { "volume_id", "volume_type", "protection", "conversion",
				"encryption_method", "percent_encrypted", "protectors", "key_ids" };
	const char *values[] = { v->volume_id, v->volume_type, v->protection, v->conversion,
				 v->method, v->percent, v->protectors, v->key_ids };
	const char *sep = "";

	add(used, "{");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (values[i] != NULL) {
			add(used, "%s\"%s\": %s", sep, names[i], values[i]);
			sep = ", ";
		}
	}
	if (v->extra != NULL)
		add(used, "%s%s", sep, v->extra);
	add(used, "}");
}

/* The code body_compliance gives the text in json: "ok" when accepted. */
static const char *report_code(void)
{
	memset(&err, 0, sizeof err);
	if (body_compliance(json, strlen(json), &rep, &err))
		return "ok";
	if (err.code[0] == '\0' || err.msg[0] == '\0')
		return "a refusal without code or message";
	return err.code;
}

/* A report of PC-42 with the n volumes of vols (at most 4). */
static const char *report_of(const struct vol *vols, size_t n)
{
	size_t used = 0;

	add(&used, "{\"machine\": \"PC-42.corp.example\", \"user\": \"CORP\\\\alice\", "
		   "\"os\": \"Windows 11 Enterprise 23H2\", \"volumes\": [");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			add(&used, ", ");
		add_volume(&used, &vols[i]);
	}
	add(&used, "]}");
	return report_code();
}

static const char *volume_code(const struct vol *v)
{
	return report_of(v, 1);
}

static const char *text_code(const char *text)
{
	snprintf(json, sizeof json, "%s", text);
	return report_code();
}

/* A report with n copies of good_vol, volume_ids V0 to V(n-1). */
static const char *report_with_volumes(int n)
{
	size_t used = 0;
	char id[16];

	add(&used, "{\"machine\": \"pc-1\", \"volumes\": [");
	for (int i = 0; i < n; i++) {
		struct vol v = good_vol;

		snprintf(id, sizeof id, "\"V%d\"", i);
		v.volume_id = id;
		add(&used, "%s", i > 0 ? ", " : "");
		add_volume(&used, &v);
	}
	add(&used, "]}");
	return report_code();
}

/* A volume listing n copies of GUID_B. */
static const char *volume_with_keys(int n)
{
	static char keys[64 * 48];
	struct vol v = good_vol;
	size_t used = 0;

	used += (size_t)snprintf(keys, sizeof keys, "[");
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(keys + used, sizeof keys - used, "%s\"%s\"",
					 i > 0 ? ", " : "", GUID_B);
	snprintf(keys + used, sizeof keys - used, "]");
	v.key_ids = keys;
	return volume_code(&v);
}

/* ---- reports ---- */

TEST(a_good_report_is_read_and_normalised)
{
	struct vol vols[2] = { good_vol, good_vol };

	vols[1].volume_id = "\"E:\"";
	vols[1].volume_type = "\"removable\"";
	vols[1].protection = "\"suspended\"";
	vols[1].conversion = "\"paused\"";
	vols[1].method = "\"aes_cbc_128\"";
	vols[1].percent = "42";
	vols[1].protectors = "[\"password\", \"recovery_key\", \"password\"]";
	vols[1].key_ids = "[\"a1b2c3d4-e5f6-a7b8-c9d0-e1f2a3b4c5d6\", \"" GUID_A "\"]";
	CHECK_STR(report_of(vols, 2), "ok");
	CHECK_STR(rep.machine, "pc-42.corp.example");
	CHECK_STR(rep.user, "CORP\\alice");
	CHECK_STR(rep.os, "Windows 11 Enterprise 23H2");
	CHECK_INT(rep.n_volumes, 2);
	CHECK_STR(rep.volumes[0].volume_id, "\\\\?\\Volume{5a0d}");
	CHECK_INT(rep.volumes[0].volume_type, COMPLIANCE_VOLUME_OS);
	CHECK_INT(rep.volumes[0].protection, COMPLIANCE_PROTECTION_ON);
	CHECK_INT(rep.volumes[0].conversion, COMPLIANCE_CONVERSION_FULLY_ENCRYPTED);
	CHECK_INT(rep.volumes[0].method, COMPLIANCE_METHOD_XTS_AES_256);
	CHECK_INT(rep.volumes[0].percent, 100);
	CHECK_INT(rep.volumes[0].protectors,
		  COMPLIANCE_PROTECTOR_TPM_PIN | COMPLIANCE_PROTECTOR_RECOVERY_PASSWORD);
	CHECK_INT(rep.volumes[0].n_key_ids, 1);
	CHECK_STR(rep.volumes[0].key_ids[0], GUID_A);
	CHECK_INT(rep.volumes[1].volume_type, COMPLIANCE_VOLUME_REMOVABLE);
	CHECK_INT(rep.volumes[1].protection, COMPLIANCE_PROTECTION_SUSPENDED);
	CHECK_INT(rep.volumes[1].conversion, COMPLIANCE_CONVERSION_PAUSED);
	CHECK_INT(rep.volumes[1].method, COMPLIANCE_METHOD_AES_CBC_128);
	CHECK_INT(rep.volumes[1].percent, 42);
	CHECK_INT(rep.volumes[1].protectors,
		  COMPLIANCE_PROTECTOR_PASSWORD | COMPLIANCE_PROTECTOR_RECOVERY_KEY);
	CHECK_INT(rep.volumes[1].n_key_ids, 2);
	CHECK_STR(rep.volumes[1].key_ids[0], GUID_B);
	CHECK_STR(rep.volumes[1].key_ids[1], GUID_A);
}

TEST(optional_fields_may_be_left_out_or_null)
{
	struct vol v = good_vol;

	v.protectors = NULL;
	v.key_ids = NULL;
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"volumes\": [{\"volume_id\": \"C:\", "
			    "\"volume_type\": \"os\", \"protection\": \"off\", "
			    "\"conversion\": \"fully_decrypted\", \"encryption_method\": \"none\", "
			    "\"percent_encrypted\": 0}]}"),
		  "ok");
	CHECK_STR(rep.user, "");
	CHECK_STR(rep.os, "");
	CHECK_INT(rep.volumes[0].protectors, 0);
	CHECK_INT(rep.volumes[0].n_key_ids, 0);
	CHECK_INT(rep.volumes[0].percent, 0);
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"user\": null, \"os\": null, "
			    "\"volumes\": [{\"volume_id\": \"C:\", \"volume_type\": \"os\", "
			    "\"protection\": \"on\", \"conversion\": \"encrypting\", "
			    "\"encryption_method\": \"xts_aes_128\", \"percent_encrypted\": 7, "
			    "\"protectors\": null, \"key_ids\": []}]}"),
		  "ok");
	v.key_ids = "null";
	v.protectors = "[]";
	CHECK_STR(volume_code(&v), "ok");
}

TEST(volumes_number_1_to_64)
{
	CHECK_STR(report_with_volumes(0), "invalid_volumes");
	CHECK_STR(report_with_volumes(1), "ok");
	CHECK_STR(report_with_volumes(COMPLIANCE_VOLUMES_MAX), "ok");
	CHECK_INT(rep.n_volumes, COMPLIANCE_VOLUMES_MAX);
	CHECK_STR(rep.volumes[63].volume_id, "V63");
	CHECK_STR(report_with_volumes(COMPLIANCE_VOLUMES_MAX + 1), "invalid_volumes");
	CHECK(strstr(err.msg, "65") != NULL);
	CHECK_STR(text_code("{\"machine\": \"pc-1\"}"), "missing_field");
	CHECK(strstr(err.msg, "volumes") != NULL);
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"volumes\": null}"), "invalid_type");
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"volumes\": {}}"), "invalid_type");
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"volumes\": [\"C:\"]}"), "invalid_type");
	CHECK(strncmp(err.msg, "volume 1: ", 10) == 0);
}

TEST(volume_ids_are_unique)
{
	struct vol vols[3] = { good_vol, good_vol, good_vol };

	vols[1].volume_id = "\"D:\"";
	CHECK_STR(report_of(vols, 3), "duplicate_volume_id");
	CHECK(strstr(err.msg, "volume 3") != NULL);
	CHECK(strstr(err.msg, "volume 1") != NULL);
	vols[2].volume_id = "\"\\\\\\\\?\\\\volume{5a0d}\""; /* another case is another id */
	CHECK_STR(report_of(vols, 3), "ok");
	vols[2].volume_id = "\"\"";
	CHECK_STR(report_of(vols, 3), "invalid_volume_id");
	CHECK(strncmp(err.msg, "volume 3: ", 10) == 0);
}

TEST(unknown_words_are_refused_by_field)
{
	static const struct {
		size_t offset;
		const char *value, *code;
	} cases[] = {
		{ offsetof(struct vol, volume_type), "\"network\"", "invalid_volume_type" },
		{ offsetof(struct vol, protection), "\"partly\"", "invalid_protection" },
		{ offsetof(struct vol, protection), "\"ON\"", "invalid_protection" },
		{ offsetof(struct vol, conversion), "\"half_encrypted\"", "invalid_conversion" },
		{ offsetof(struct vol, method), "\"aes_ccm\"", "invalid_encryption_method" },
		{ offsetof(struct vol, protectors), "[\"tpm\", \"smartcard\"]",
		  "invalid_protector" },
		{ offsetof(struct vol, protectors), "[\"\"]", "invalid_protector" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vol v = good_vol;

		*(const char **)((char *)&v + cases[i].offset) = cases[i].value;
		CHECK_STR(volume_code(&v), cases[i].code);
		CHECK(strncmp(err.msg, "volume 1: ", 10) == 0);
	}
	CHECK(strstr(err.msg, "protectors entry 1") != NULL);
	{
		struct vol v = good_vol;

		v.protectors = "[\"tpm\", \"smartcard\"]";
		volume_code(&v);
		CHECK(strstr(err.msg, "protectors entry 2 \"smartcard\"") != NULL);
	}
}

TEST(percent_is_an_integer_from_0_to_100)
{
	static const struct {
		const char *value, *code;
	} cases[] = {
		{ "0", "ok" },
		{ "100", "ok" },
		{ "-1", "invalid_percent_encrypted" },
		{ "101", "invalid_percent_encrypted" },
		{ "99999999999999", "invalid_percent_encrypted" },
		{ "50.5", "invalid_type" },
		{ "100.0", "invalid_type" },
		{ "1e2", "invalid_type" },
		{ "\"50\"", "invalid_type" },
		{ "null", "invalid_type" }, /* a required field may not be null */
		{ "true", "invalid_type" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vol v = good_vol;

		v.percent = cases[i].value;
		if (strcmp(volume_code(&v), cases[i].code) != 0) {
			printf("# percent_encrypted %s: %s, expected %s\n", cases[i].value,
			       err.code, cases[i].code);
			CHECK(0);
		}
	}
}

TEST(key_ids_are_0_to_16_guids)
{
	struct vol v = good_vol;

	CHECK_STR(volume_with_keys(0), "ok");
	CHECK_STR(volume_with_keys(COMPLIANCE_KEY_IDS_MAX), "ok");
	CHECK_INT(rep.volumes[0].n_key_ids, COMPLIANCE_KEY_IDS_MAX);
	CHECK_STR(volume_with_keys(COMPLIANCE_KEY_IDS_MAX + 1), "too_many_key_ids");
	CHECK(strstr(err.msg, "volume 1") != NULL);
	v.key_ids = "[\"" GUID_A "\", \"6F1D2C3B-0A4E-4F55-9B2C-1D2E3F40516\"]";
	CHECK_STR(volume_code(&v), "invalid_key_id");
	CHECK(strncmp(err.msg, "volume 1: key_ids entry 2: ", 27) == 0);
	v.key_ids = "[\"6F1D2C3B-0A4E-4F55-9B2C-1D2E3F40516G\"]";
	CHECK_STR(volume_code(&v), "invalid_key_id");
	v.key_ids = "[\"\"]";
	CHECK_STR(volume_code(&v), "invalid_key_id");
	v.key_ids = "[42]";
	CHECK_STR(volume_code(&v), "invalid_type");
	v.key_ids = "\"" GUID_A "\"";
	CHECK_STR(volume_code(&v), "invalid_type");
}

TEST(unknown_fields_are_refused)
{
	struct vol v = good_vol;

	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"reported_at\": 1, \"volumes\": []}"),
		  "unknown_field");
	CHECK(strstr(err.msg, "\"reported_at\"") != NULL);
	v.extra = "\"Percent_Encrypted\": 5";
	CHECK_STR(volume_code(&v), "unknown_field");
	CHECK(strncmp(err.msg, "volume 1: ", 10) == 0);
	v.extra = "\"bad\\u0001name\": 5";
	CHECK_STR(volume_code(&v), "unknown_field");
	CHECK(strstr(err.msg, "\"bad?name\"") != NULL);
}

TEST(missing_fields_are_named)
{
	static const size_t required[] = {
		offsetof(struct vol, volume_id), offsetof(struct vol, volume_type),
		offsetof(struct vol, protection), offsetof(struct vol, conversion),
		offsetof(struct vol, method), offsetof(struct vol, percent),
	};

	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		struct vol v = good_vol;

		*(const char **)((char *)&v + required[i]) = NULL;
		CHECK_STR(volume_code(&v), "missing_field");
		CHECK(strncmp(err.msg, "volume 1: ", 10) == 0);
	}
	CHECK_STR(text_code("{\"volumes\": []}"), "missing_field");
	CHECK(strstr(err.msg, "machine") != NULL);
}

TEST(wrong_types_are_refused)
{
	static const struct {
		size_t offset;
		const char *value;
	} cases[] = {
		{ offsetof(struct vol, volume_id), "7" },
		{ offsetof(struct vol, volume_type), "[\"os\"]" },
		{ offsetof(struct vol, protection), "true" },
		{ offsetof(struct vol, protection), "null" },
		{ offsetof(struct vol, conversion), "{}" },
		{ offsetof(struct vol, method), "1" },
		{ offsetof(struct vol, protectors), "\"tpm\"" },
		{ offsetof(struct vol, protectors), "[1]" },
		{ offsetof(struct vol, protectors), "{\"tpm\": true}" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vol v = good_vol;

		*(const char **)((char *)&v + cases[i].offset) = cases[i].value;
		if (strcmp(volume_code(&v), "invalid_type") != 0) {
			printf("# case %zu (%s): %s\n", i, cases[i].value, err.code);
			CHECK(0);
		}
	}
	CHECK_STR(text_code("{\"machine\": 42, \"volumes\": []}"), "invalid_type");
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"user\": 5, \"volumes\": []}"),
		  "invalid_type");
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"os\": [], \"volumes\": []}"),
		  "invalid_type");
}

TEST(machine_user_and_os_follow_their_rules)
{
	char big[COMPLIANCE_OS_MAX + 2];

	CHECK_STR(text_code("{\"machine\": \"pc_1\", \"volumes\": []}"), "invalid_machine");
	CHECK_STR(text_code("{\"machine\": \"\", \"volumes\": []}"), "invalid_machine");
	CHECK_STR(text_code("{\"machine\": \"pc-1\", \"user\": \"a\\u0007b\", \"volumes\": []}"),
		  "invalid_user");
	memset(big, 'w', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(json, sizeof json, "{\"machine\": \"pc-1\", \"os\": \"%s\", \"volumes\": []}",
		 big);
	CHECK_STR(report_code(), "invalid_os");
	big[sizeof big - 2] = '\0';
	snprintf(json, sizeof json, "{\"machine\": \"pc-1\", \"os\": \"%s\", \"volumes\": []}",
		 big);
	CHECK_STR(report_code(), "invalid_volumes"); /* 128 bytes of os are fine */
	snprintf(json, sizeof json,
		 "{\"machine\": \"pc-1\", \"os\": \"Windows\\n11\", \"volumes\": "
		 "[{\"volume_id\": \"C:\", \"volume_type\": \"os\", \"protection\": \"on\", "
		 "\"conversion\": \"fully_encrypted\", \"encryption_method\": \"none\", "
		 "\"percent_encrypted\": 1}]}");
	CHECK_STR(report_code(), "invalid_os");
}

TEST(malformed_json_is_refused)
{
	static const char *const bad[] = {
		"",
		"{",
		"{\"machine\": \"pc-1\", \"volumes\": [}",
		"[]",
		"\"report\"",
		"null",
		"{\"machine\": \"pc-1\", \"machine\": \"pc-2\", \"volumes\": []}",
		"{\"machine\": \"pc-1\", \"volumes\": "
		"[{\"volume_id\": \"C:\", \"volume_id\": \"D:\"}]}",
		"{\"machine\": \"pc-1\", \"volumes\": []} trailing",
		"{\"machine\": \"pc\\u0000-1\", \"volumes\": []}",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (strcmp(text_code(bad[i]), "invalid_json") != 0) {
			printf("# case %zu: %s\n", i, err.code);
			CHECK(0);
		}
	}
	CHECK_STR(text_code(bad[6]), "invalid_json");
	CHECK(strstr(err.msg, "repeats a name") != NULL);
}

/* ---- the policy ---- */

static struct compliance_policy pol;

static const char *policy_code(const char *text)
{
	memset(&err, 0, sizeof err);
	if (body_policy(text, strlen(text), &pol, &err))
		return "ok";
	return err.code[0] != '\0' && err.msg[0] != '\0' ? err.code : "a refusal without code";
}

TEST(an_empty_policy_is_the_default)
{
	struct compliance_policy def;

	compliance_policy_default(&def);
	memset(&pol, 0, sizeof pol);
	CHECK_STR(policy_code("{}"), "ok");
	CHECK(memcmp(&pol, &def, sizeof pol) == 0);
	CHECK_STR(policy_code("{\"os_volume\": \"required\", \"fixed_volumes\": \"optional\", "
			      "\"removable_volumes\": \"optional\", \"encryption_methods\": "
			      "[\"xts_aes_256\", \"xts_aes_128\", \"aes_cbc_256\", "
			      "\"aes_cbc_128\"], \"os_protectors\": [], \"stale_after_days\": 14}"),
		  "ok");
	CHECK(memcmp(&pol, &def, sizeof pol) == 0);
	CHECK_STR(policy_code("{\"os_volume\": null, \"stale_after_days\": null}"), "ok");
	CHECK(memcmp(&pol, &def, sizeof pol) == 0);
	CHECK_STR(policy_code("{\"break_glass\": true}"), "ok");
	CHECK(memcmp(&pol, &def, sizeof pol) == 0 && !pol.break_glass_off);
	CHECK_STR(policy_code("{\"break_glass\": null}"), "ok");
	CHECK(!pol.break_glass_off);
	CHECK_STR(policy_code("{\"break_glass\": false}"), "ok");
	CHECK(pol.break_glass_off);
	CHECK_STR(policy_code("{\"break_glass\": 0}"), "invalid_type");
	CHECK_STR(policy_code("{\"break_glass\": \"no\"}"), "invalid_type");
}

TEST(a_policy_sets_what_it_names_and_defaults_the_rest)
{
	CHECK_STR(policy_code("{\"fixed_volumes\": \"required\", \"encryption_methods\": "
			      "[\"xts_aes_256\", \"xts_aes_256\"], \"os_protectors\": "
			      "[\"tpm_pin\", \"tpm_pin_startup_key\"], \"stale_after_days\": 365}"),
		  "ok");
	CHECK_INT(pol.os_volume, COMPLIANCE_REQUIRED);
	CHECK_INT(pol.fixed_volumes, COMPLIANCE_REQUIRED);
	CHECK_INT(pol.removable_volumes, COMPLIANCE_OPTIONAL);
	CHECK_INT(pol.methods, COMPLIANCE_BIT(COMPLIANCE_METHOD_XTS_AES_256));
	CHECK_INT(pol.os_protectors,
		  COMPLIANCE_PROTECTOR_TPM_PIN | COMPLIANCE_PROTECTOR_TPM_PIN_STARTUP_KEY);
	CHECK_INT(pol.stale_after_days, 365);
	CHECK_STR(policy_code("{\"os_volume\": \"optional\", \"stale_after_days\": 1}"), "ok");
	CHECK_INT(pol.os_volume, COMPLIANCE_OPTIONAL);
	CHECK_INT(pol.stale_after_days, 1);
	CHECK_INT(pol.os_protectors, 0);
}

TEST(bad_policies_are_refused_by_rule)
{
	static const struct {
		const char *text, *code;
	} cases[] = {
		{ "{\"os_volumes\": \"required\"}", "unknown_policy_field" },
		{ "{\"grace_days\": 3}", "unknown_policy_field" },
		{ "{\"stale_after_days\": 0}", "invalid_stale_after_days" },
		{ "{\"stale_after_days\": 366}", "invalid_stale_after_days" },
		{ "{\"stale_after_days\": -14}", "invalid_stale_after_days" },
		{ "{\"stale_after_days\": 14.0}", "invalid_type" },
		{ "{\"stale_after_days\": \"14\"}", "invalid_type" },
		{ "{\"os_volume\": \"mandatory\"}", "invalid_policy_requirement" },
		{ "{\"removable_volumes\": \"Required\"}", "invalid_policy_requirement" },
		{ "{\"fixed_volumes\": true}", "invalid_type" },
		{ "{\"encryption_methods\": []}", "invalid_encryption_method" },
		{ "{\"encryption_methods\": [\"xts_aes_256\", \"des\"]}",
		  "invalid_encryption_method" },
		{ "{\"encryption_methods\": \"xts_aes_256\"}", "invalid_type" },
		{ "{\"encryption_methods\": [256]}", "invalid_type" },
		{ "{\"os_protectors\": [\"tpm_pin\", \"bogus\"]}", "invalid_protector" },
		{ "{\"os_protectors\": [null]}", "invalid_type" },
		{ "", "invalid_json" },
		{ "[]", "invalid_json" },
		{ "{\"stale_after_days\": 1, \"stale_after_days\": 2}", "invalid_json" },
		{ "{\"os_volume\": \"optional\"", "invalid_json" },
	};
	struct compliance_policy before;

	memset(&pol, 0x5a, sizeof pol);
	before = pol;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (strcmp(policy_code(cases[i].text), cases[i].code) != 0) {
			printf("# %s: %s, expected %s\n", cases[i].text, err.code, cases[i].code);
			CHECK(0);
		}
		CHECK(memcmp(&pol, &before, sizeof pol) == 0); /* untouched on failure */
	}
	policy_code("{\"os_protectors\": [\"tpm_pin\", \"bogus\"]}");
	CHECK(strstr(err.msg, "os_protectors entry 2 \"bogus\"") != NULL);
}

/* ---- exemptions ---- */

static int64_t until;
static char note[VALIDATE_NOTE_MAX + 1];

static const char *exemption_code(const char *text, size_t note_size)
{
	memset(&err, 0, sizeof err);
	if (body_exemption(text, strlen(text), NOW_2026, &until, note, note_size, &err))
		return "ok";
	return err.code[0] != '\0' && err.msg[0] != '\0' ? err.code : "a refusal without code";
}

/* The ms body_exemption reads from an until of text, or -1 if refused. */
static int64_t until_of(const char *text)
{
	char body[256];

	snprintf(body, sizeof body, "{\"until\": \"%s\"}", text);
	return strcmp(exemption_code(body, sizeof note), "ok") == 0 ? until : -1;
}

TEST(an_exemption_reads_until_and_note)
{
	CHECK_STR(exemption_code("{\"until\": \"2027-01-31T00:00:00Z\", "
				 "\"note\": \"ticket 7 \\u2713\"}",
				 sizeof note),
		  "ok");
	CHECK_INT(until, UNTIL_2027);
	CHECK_STR(note, "ticket 7 \xe2\x9c\x93");
	CHECK_STR(exemption_code("{\"until\": \"2027-01-31T00:00:00Z\"}", sizeof note), "ok");
	CHECK_STR(note, "");
	CHECK_STR(exemption_code("{\"until\": \"2027-01-31T00:00:00Z\", \"note\": null}",
				 sizeof note),
		  "ok");
}

TEST(until_takes_offsets_fractions_and_either_case)
{
	CHECK_INT(until_of("2027-01-31T00:00:00Z"), UNTIL_2027);
	CHECK_INT(until_of("2027-01-31t00:00:00z"), UNTIL_2027);
	CHECK_INT(until_of("2027-01-31T01:00:00+01:00"), UNTIL_2027);
	CHECK_INT(until_of("2027-01-30T19:00:00-05:00"), UNTIL_2027);
	CHECK_INT(until_of("2027-01-31T05:30:00+05:30"), UNTIL_2027);
	CHECK_INT(until_of("2027-01-31T00:00:00+00:00"), UNTIL_2027);
	CHECK_INT(until_of("2027-01-31T00:00:00-00:00"), UNTIL_2027);
	CHECK_INT(until_of("2027-01-31T00:00:00.5Z"), UNTIL_2027 + 500);
	CHECK_INT(until_of("2027-01-31T00:00:00.123456789Z"), UNTIL_2027 + 123);
	CHECK_INT(until_of("2027-01-31T00:00:00.04+00:00"), UNTIL_2027 + 40);
	CHECK_INT(until_of("2028-02-29T00:00:00Z"), 1835395200000LL);
	CHECK_INT(until_of("9999-12-31T23:59:59Z"), 253402300799000LL);
	CHECK_INT(until_of("2026-06-30T23:59:60Z"), 1782864000000LL); /* a leap second */
}

TEST(until_must_parse_and_lie_ahead)
{
	static const char *const bad[] = {
		"tomorrow",
		"",
		"2027-01-31",
		"2027-01-31T00:00:00",
		"2027-01-31 00:00:00Z",
		"2027-01-31T00:00Z",
		"2027-1-31T00:00:00Z",
		"2027-01-31T00:00:00.Z",
		"2027-01-31T00:00:00+1:00",
		"2027-01-31T00:00:00+0100",
		"2027-01-31T00:00:00+24:00",
		"2027-01-31T00:00:00Z ",
		" 2027-01-31T00:00:00Z",
		"2027-02-29T00:00:00Z",
		"2027-13-01T00:00:00Z",
		"2027-00-10T00:00:00Z",
		"2027-01-00T00:00:00Z",
		"2027-01-31T24:00:00Z",
		"2027-01-31T00:60:00Z",
		"2027-01-31T00:00:61Z",
		"+2027-01-31T00:00:00Z",
		"2025-12-31T23:59:59Z",
		"2026-01-01T00:00:00Z",
		"2026-01-01T01:00:00+01:00",
	};
	char body[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (until_of(bad[i]) != -1 || strcmp(err.code, "invalid_until") != 0) {
			printf("# until \"%s\": %s\n", bad[i], err.code);
			CHECK(0);
		}
	}
	CHECK_INT(until_of("2026-01-01T00:00:00.001Z"), NOW_2026 + 1);
	until_of("2025-12-31T23:59:59Z");
	CHECK(strstr(err.msg, "not in the future") != NULL);
	memset(body, 0, sizeof body);
	snprintf(body, sizeof body, "{\"until\": \"2027-01-31T00:00:00.%070dZ\"}", 0);
	CHECK_STR(exemption_code(body, sizeof note), "invalid_until"); /* too long to read */
}

TEST(bad_exemptions_are_refused_by_rule)
{
	static const struct {
		const char *text, *code;
	} cases[] = {
		{ "{}", "missing_field" },
		{ "{\"note\": \"x\"}", "missing_field" },
		{ "{\"until\": null}", "invalid_type" },
		{ "{\"until\": 1801353600000}", "invalid_type" },
		{ "{\"until\": \"2027-01-31T00:00:00Z\", \"note\": 5}", "invalid_type" },
		{ "{\"until\": \"2027-01-31T00:00:00Z\", \"note\": \"a\\nb\"}", "invalid_note" },
		{ "{\"until\": \"2027-01-31T00:00:00Z\", \"reason\": \"x\"}", "unknown_field" },
		{ "{\"until\": \"2027-01-31T00:00:00Z\"", "invalid_json" },
		{ "[\"2027-01-31T00:00:00Z\"]", "invalid_json" },
	};

	snprintf(note, sizeof note, "before");
	until = 7;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (strcmp(exemption_code(cases[i].text, sizeof note), cases[i].code) != 0) {
			printf("# %s: %s, expected %s\n", cases[i].text, err.code, cases[i].code);
			CHECK(0);
		}
		CHECK_STR(note, "before"); /* untouched on failure */
		CHECK_INT(until, 7);
	}
	CHECK_STR(exemption_code("{\"until\": \"2027-01-31T00:00:00Z\", \"note\": \"123456\"}", 6),
		  "invalid_note");
	CHECK_STR(exemption_code("{\"until\": \"2027-01-31T00:00:00Z\", \"note\": \"12345\"}", 6),
		  "ok");
	CHECK_STR(note, "12345");
}

int main(void)
{
	RUN(a_good_report_is_read_and_normalised);
	RUN(optional_fields_may_be_left_out_or_null);
	RUN(volumes_number_1_to_64);
	RUN(volume_ids_are_unique);
	RUN(unknown_words_are_refused_by_field);
	RUN(percent_is_an_integer_from_0_to_100);
	RUN(key_ids_are_0_to_16_guids);
	RUN(unknown_fields_are_refused);
	RUN(missing_fields_are_named);
	RUN(wrong_types_are_refused);
	RUN(machine_user_and_os_follow_their_rules);
	RUN(malformed_json_is_refused);
	RUN(an_empty_policy_is_the_default);
	RUN(a_policy_sets_what_it_names_and_defaults_the_rest);
	RUN(bad_policies_are_refused_by_rule);
	RUN(an_exemption_reads_until_and_note);
	RUN(until_takes_offsets_fractions_and_either_case);
	RUN(until_must_parse_and_lie_ahead);
	RUN(bad_exemptions_are_refused_by_rule);
	return unit_done();
}
