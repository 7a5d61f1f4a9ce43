/* Unit tests of store/compliance_wire: reports and policies round trip, and
 * a decoder refuses every byte string its encoder would not write. */
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "store/compliance_wire.h"
#include "tests/unit.h"

/* A report of n volumes, each with k key ids. */
static void report_make(struct compliance_report *r, unsigned n, unsigned k)
{
	memset(r, 0, sizeof *r);
	strcpy(r->machine, "pc-42.corp.example");
	strcpy(r->user, "CORP\\alice");
	strcpy(r->os, "Windows 11 Enterprise 23H2");
	r->n_volumes = n;
	for (unsigned i = 0; i < n; i++) {
		struct compliance_volume *v = &r->volumes[i];

		snprintf(v->volume_id, sizeof v->volume_id, "\\\\?\\Volume{%08u-0000}", i);
		v->volume_type = i == 0 ? COMPLIANCE_VOLUME_OS : COMPLIANCE_VOLUME_FIXED;
		v->protection = COMPLIANCE_PROTECTION_ON;
		v->conversion = COMPLIANCE_CONVERSION_FULLY_ENCRYPTED;
		v->method = COMPLIANCE_METHOD_XTS_AES_256;
		v->percent = 100;
		v->protectors = COMPLIANCE_PROTECTOR_TPM_PIN | COMPLIANCE_PROTECTOR_RECOVERY_PASSWORD;
		v->n_key_ids = k;
		for (unsigned j = 0; j < k; j++)
			snprintf(v->key_ids[j], sizeof v->key_ids[j],
				 "%08X-0A4E-4F55-9B2C-%012X", i, j);
	}
}

TEST(report_round_trips_from_smallest_to_largest)
{
	static struct compliance_report in, out;
	static uint8_t buf[COMPLIANCE_WIRE_REPORT_MAX];
	char errmsg[ESC_ERRMSG_SIZE];
	size_t n;

	report_make(&in, 1, 0);
	memset(in.user, 0, sizeof in.user); /* whole arrays, for memcmp */
	memset(in.os, 0, sizeof in.os);
	n = compliance_report_encode(&in, buf, sizeof buf);
	CHECK_INT(n, compliance_report_encoded_size(&in));
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);

	/* The largest report: 64 volumes of 128-byte ids and 16 keys each. */
	report_make(&in, COMPLIANCE_VOLUMES_MAX, COMPLIANCE_KEY_IDS_MAX);
	memset(in.machine, 'm', VALIDATE_MACHINE_MAX);
	memset(in.user, 'u', VALIDATE_USER_MAX);
	memset(in.os, 'o', COMPLIANCE_OS_MAX);
	for (unsigned i = 0; i < in.n_volumes; i++) {
		memset(in.volumes[i].volume_id, 'v', VALIDATE_VOLUME_ID_MAX);
		snprintf(in.volumes[i].volume_id, 12, "%u-", i); /* unique start */
		in.volumes[i].volume_id[strlen(in.volumes[i].volume_id)] = 'v';
	}
	n = compliance_report_encode(&in, buf, sizeof buf);
	CHECK_INT(n, COMPLIANCE_WIRE_REPORT_MAX);
	CHECK(n <= UINT16_MAX); /* it fits one field of a command */
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);
	/* One byte short of room: nothing written. */
	CHECK_INT(compliance_report_encode(&in, buf, n - 1), 0);
}

TEST(every_truncation_and_trailing_byte_is_refused)
{
	static struct compliance_report in, out;
	uint8_t buf[4096];
	char errmsg[ESC_ERRMSG_SIZE];
	size_t n;

	report_make(&in, 3, 2);
	n = compliance_report_encode(&in, buf, sizeof buf - 1);
	CHECK(n > 0);
	for (size_t len = 0; len < n; len++) {
		CHECK(compliance_report_decode(buf, len, &out, errmsg) != ESC_OK);
		CHECK_INT(out.n_volumes, 0); /* reset on failure */
	}
	buf[n] = 0;
	CHECK_INT(compliance_report_decode(buf, n + 1, &out, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "after the last volume") != NULL);
}

/* Bytes that decode but break a data rule are refused too: what the store
 * applies is always a sound report. */
TEST(unsound_values_are_refused)
{
	static struct compliance_report in, out;
	uint8_t buf[4096];
	char errmsg[ESC_ERRMSG_SIZE];
	size_t n;

	report_make(&in, 2, 1);
	in.volumes[1].percent = 101;
	n = compliance_report_encode(&in, buf, sizeof buf);
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_ECORRUPT);

	report_make(&in, 2, 1);
	in.volumes[0].protection = 9;
	n = compliance_report_encode(&in, buf, sizeof buf);
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_ECORRUPT);

	report_make(&in, 2, 1);
	strcpy(in.volumes[1].volume_id, in.volumes[0].volume_id);
	n = compliance_report_encode(&in, buf, sizeof buf);
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_ECORRUPT);

	report_make(&in, 1, 1);
	in.volumes[0].key_ids[0][3] = 'g'; /* not hex */
	n = compliance_report_encode(&in, buf, sizeof buf);
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_ECORRUPT);

	report_make(&in, 1, 0);
	n = compliance_report_encode(&in, buf, sizeof buf);
	buf[0] = 2;
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_EVERSION);
	buf[0] = 1;
	buf[1] = 0; /* no volume */
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_ECORRUPT);
	buf[1] = 1;
	buf[4] = 'X'; /* upper case in the machine */
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_ECORRUPT);
	buf[4] = '\0'; /* a NUL inside it */
	CHECK_INT(compliance_report_decode(buf, n, &out, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "NUL") != NULL);
}

/* Every byte flipped in turn: a decode either fails or gives a report that
 * passes the checks and encodes back to the same bytes. */
TEST(flipped_bytes_never_give_an_unsound_report)
{
	static struct compliance_report in, out;
	uint8_t buf[4096], again[4096];
	char errmsg[ESC_ERRMSG_SIZE];
	size_t n;

	report_make(&in, 2, 2);
	n = compliance_report_encode(&in, buf, sizeof buf);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (compliance_report_decode(buf, n, &out, errmsg) == ESC_OK) {
				CHECK(compliance_report_check(&out, NULL));
				CHECK_INT(compliance_report_encode(&out, again, sizeof again), n);
				CHECK(memcmp(again, buf, n) == 0);
			}
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
}

TEST(policy_round_trips_and_refuses_bad_bytes)
{
	struct compliance_policy in, out;
	uint8_t buf[COMPLIANCE_WIRE_POLICY_SIZE];
	char errmsg[ESC_ERRMSG_SIZE];

	compliance_policy_default(&in);
	compliance_policy_encode(&in, buf);
	CHECK_INT(compliance_policy_decode(buf, sizeof buf, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);

	in.fixed_volumes = COMPLIANCE_REQUIRED;
	in.os_protectors = COMPLIANCE_PROTECTOR_TPM_PIN;
	in.stale_after_days = 365;
	compliance_policy_encode(&in, buf);
	CHECK_INT(compliance_policy_decode(buf, sizeof buf, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);

	/* Byte 14: break-glass refused; 0 (what older encoders wrote) allows. */
	CHECK(!out.break_glass_off && buf[14] == 0);
	in.break_glass_off = true;
	compliance_policy_encode(&in, buf);
	CHECK_INT(buf[14], 1);
	CHECK_INT(compliance_policy_decode(buf, sizeof buf, &out, errmsg), ESC_OK);
	CHECK(out.break_glass_off);
	buf[14] = 2;
	CHECK_INT(compliance_policy_decode(buf, sizeof buf, &out, errmsg), ESC_ECORRUPT);
	buf[14] = 1;

	CHECK_INT(compliance_policy_decode(buf, sizeof buf - 1, &out, errmsg), ESC_ECORRUPT);
	buf[0] = 2;
	CHECK_INT(compliance_policy_decode(buf, sizeof buf, &out, errmsg), ESC_EVERSION);
	buf[0] = 1;
	buf[15] = 1;
	CHECK_INT(compliance_policy_decode(buf, sizeof buf, &out, errmsg), ESC_ECORRUPT);
	buf[15] = 0;
	buf[12] = 0; /* stale_after_days 0 */
	buf[13] = 0;
	CHECK_INT(compliance_policy_decode(buf, sizeof buf, &out, errmsg), ESC_ECORRUPT);
	CHECK(strstr(errmsg, "stale") != NULL);
}

int main(void)
{
	RUN(report_round_trips_from_smallest_to_largest);
	RUN(every_truncation_and_trailing_byte_is_refused);
	RUN(unsound_values_are_refused);
	RUN(flipped_bytes_never_give_an_unsound_report);
	RUN(policy_round_trips_and_refuses_bad_bytes);
	return unit_done();
}
