/* Unit tests of the command codec: round trips and refusal of bad input. */
#include <stdlib.h>
#include <string.h>

#include "raft/codec.h"
#include "lib/error.h"
#include "tests/unit.h"

static void escrow_cmd(struct cmd *c)
{
	memset(c, 0, sizeof *c);
	c->type = CMD_ESCROW;
	c->node_id = 3;
	c->at_ms = 1795000000123;
	strcpy(c->actor, "insecure");
	strcpy(c->role, "agent");
	strcpy(c->key_id, "01234567-89AB-CDEF-0123-456789ABCDEF");
	strcpy(c->volume_id, "\\\\?\\Volume{12345}");
	strcpy(c->volume_type, "os");
	strcpy(c->machine, "pc-42.corp.example");
	strcpy(c->user, "alice");
	c->sealed_len = 84;
	for (unsigned i = 0; i < c->sealed_len; i++)
		c->sealed[i] = (uint8_t)(i * 7);
	for (unsigned i = 0; i < SEAL_MAC_SIZE; i++)
		c->pw_mac[i] = (uint8_t)(255 - i);
}

TEST(escrow_round_trip)
{
	struct cmd in, out;
	char errmsg[ESC_ERRMSG_SIZE];
	size_t size;
	uint8_t *buf;

	escrow_cmd(&in);
	size = codec_encoded_size(&in);
	CHECK(size % 8 == 0);
	buf = malloc(size);
	CHECK_INT(codec_encode(&in, buf, size), size);
	CHECK_INT(codec_decode(buf, size, &out, errmsg), ESC_OK);
	free(buf);
	CHECK(memcmp(&in, &out, sizeof in) == 0);
}

TEST(every_type_round_trips_padded)
{
	uint32_t types[] = {CMD_INIT, CMD_LOOKUP, CMD_LOOKUP_PREFIX, CMD_MEMBERS, CMD_AUDIT};
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[8192];

	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		/* Vary string lengths so every padding amount is seen. */
		for (int extra = 0; extra < 9; extra++) {
			struct cmd in, out;
			memset(&in, 0, sizeof in);
			in.type = types[t];
			in.node_id = 1;
			in.at_ms = 42;
			memset(in.actor, 'a', (size_t)extra + 1);
			strcpy(in.role, "helpdesk");
			strcpy(in.cluster_id, "00112233445566778899aabbccddeeff");
			strcpy(in.members, "1=127.0.0.1:1/127.0.0.1:2");
			strcpy(in.key_id, "01234567-89AB-CDEF-0123-456789ABCDEF");
			strcpy(in.prefix, "0123456789AB");
			strcpy(in.reason, "other");
			strcpy(in.note, "ticket 7");
			strcpy(in.action, "snapshot.save");
			size_t n = codec_encode(&in, buf, sizeof buf);
			CHECK(n > 0 && n % 8 == 0);
			CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
			CHECK_INT(out.type, in.type);
			CHECK_STR(out.actor, in.actor);
			CHECK_STR(out.role, in.role);
			if (in.type != CMD_INIT) /* the one type without a note */
				CHECK_STR(out.note, in.note);
		}
	}
}

TEST(truncated_input_is_refused)
{
	struct cmd in, out;
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[4096];
	size_t n;

	escrow_cmd(&in);
	n = codec_encode(&in, buf, sizeof buf);
	for (size_t len = 0; len < n; len++)
		CHECK(codec_decode(buf, len, &out, errmsg) != ESC_OK);
}

TEST(flipped_header_bytes_are_refused)
{
	struct cmd in, out;
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[4096];
	size_t n;

	escrow_cmd(&in);
	n = codec_encode(&in, buf, sizeof buf);
	/* version, type, reserved, length and reserved bytes all matter */
	size_t positions[] = {0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, n - 1};
	for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
		buf[positions[i]] ^= 0x40;
		CHECK(codec_decode(buf, n, &out, errmsg) != ESC_OK);
		buf[positions[i]] ^= 0x40;
	}
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
}

TEST(corrupted_field_lengths_are_refused)
{
	struct cmd in, out;
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[4096];
	size_t n;

	escrow_cmd(&in);
	n = codec_encode(&in, buf, sizeof buf);
	/* The first field's length (actor) lies at offset 24. */
	buf[24] = 0xff;
	buf[25] = 0xff;
	CHECK(codec_decode(buf, n, &out, errmsg) == ESC_ECORRUPT);
	buf[24] = (uint8_t)strlen(in.actor);
	buf[25] = 0;
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	/* A NUL inside a string */
	buf[26] = 0;
	CHECK(codec_decode(buf, n, &out, errmsg) == ESC_ECORRUPT);
}

TEST(random_bytes_never_crash)
{
	uint8_t buf[512], again[512];
	struct cmd out;
	char errmsg[ESC_ERRMSG_SIZE];
	unsigned seed = 12345;

	printf("# seed %u\n", seed);
	srand(seed);
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand() % 64) * 8;
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		if (len >= 1) /* version 2 holds CMD_BREAK_GLASS alone */
			buf[0] = (uint8_t)(round % 2 == 0 ? 1 : CODEC_VERSION);
		/* Whatever decodes must encode back to the very same bytes. */
		if (codec_decode(buf, len, &out, errmsg) == ESC_OK) {
			CHECK_INT(codec_encode(&out, again, sizeof again), len);
			CHECK(memcmp(buf, again, len) == 0);
		}
	}
}

TEST(unknown_version_and_type)
{
	struct cmd in, out;
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[4096];
	size_t n;

	escrow_cmd(&in);
	n = codec_encode(&in, buf, sizeof buf);
	CHECK_INT(buf[0], 1); /* version 1 types are still written as 1 */
	buf[0] = CODEC_VERSION + 1;
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_EVERSION);
	buf[0] = 2; /* version 2 holds CMD_BREAK_GLASS alone */
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_EVERSION);
	buf[0] = 1;
	buf[1] = 99;
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_EVERSION);
	in.type = 99;
	CHECK_INT(codec_encode(&in, buf, sizeof buf), 0);
}

/* Only a version above this build's is "newer": an unknown type, version 0
 * or a damaged entry of this version are the decoder's to refuse. */
TEST(newer_version_is_told_apart)
{
	struct cmd in;
	char errmsg[ESC_ERRMSG_SIZE] = "";
	uint8_t buf[4096];
	size_t n;

	escrow_cmd(&in);
	n = codec_encode(&in, buf, sizeof buf);
	CHECK_INT(codec_version, CODEC_VERSION);
	CHECK_INT(codec_check_version(buf, n, errmsg), ESC_OK);
	CHECK_INT(codec_check_version(buf, 0, errmsg), ESC_OK);
	buf[1] = 99;
	CHECK_INT(codec_check_version(buf, n, errmsg), ESC_OK);
	buf[0] = 0;
	CHECK_INT(codec_check_version(buf, n, errmsg), ESC_OK);
	buf[0] = CODEC_VERSION + 1;
	CHECK_INT(codec_check_version(buf, 1, errmsg), ESC_EVERSION);
	CHECK_STR(errmsg, "command of format version 3, newer than this node's 2");
	buf[0] = 255;
	CHECK_INT(codec_check_version(buf, n, errmsg), ESC_EVERSION);
	CHECK_STR(errmsg, "command of format version 255, newer than this node's 2");
}

/* A report's payload and an exemption's until_ms travel whole; the decoded
 * payload points into the buffer it was decoded from. */
TEST(compliance_policy_and_exempt_round_trip)
{
	static uint8_t payload[60000], buf[60064];
	struct cmd in, out;
	char errmsg[ESC_ERRMSG_SIZE];
	size_t n;

	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 31 + 7);
	memset(&in, 0, sizeof in);
	in.type = CMD_COMPLIANCE;
	in.node_id = 2;
	in.at_ms = 1795000000123;
	strcpy(in.actor, "agent-7");
	strcpy(in.role, "agent");
	strcpy(in.machine, "pc-42.corp.example");
	in.payload = payload;
	in.payload_len = sizeof payload;
	n = codec_encode(&in, buf, sizeof buf);
	CHECK(n > sizeof payload && n % 8 == 0);
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK_STR(out.machine, "pc-42.corp.example");
	CHECK_INT(out.payload_len, sizeof payload);
	CHECK(out.payload > buf && out.payload < buf + n);
	CHECK(memcmp(out.payload, payload, sizeof payload) == 0);

	in.type = CMD_POLICY;
	in.payload_len = 16;
	n = codec_encode(&in, buf, sizeof buf);
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK_INT(out.payload_len, 16);
	CHECK(memcmp(out.payload, payload, 16) == 0);

	/* Over a field's u16 length: refused at encode. */
	in.payload_len = 65536;
	CHECK_INT(codec_encode(&in, buf, sizeof buf), 0);

	memset(&in, 0, sizeof in);
	in.type = CMD_EXEMPT;
	strcpy(in.machine, "pc-42.corp.example");
	strcpy(in.note, "travelling until the new laptop arrives");
	in.until_ms = -2;
	n = codec_encode(&in, buf, sizeof buf);
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);
	in.until_ms = 1800000000000;
	n = codec_encode(&in, buf, sizeof buf);
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK(out.until_ms == 1800000000000);
	/* until_ms must be 8 bytes: its length changed to 7 is refused. The
	 * fields before it: empty actor and role, then the machine. */
	CHECK_INT(buf[CODEC_HEADER_SIZE + 2 + 2 + 2 + strlen(in.machine)], 8);
	buf[CODEC_HEADER_SIZE + 2 + 2 + 2 + strlen(in.machine)] = 7;
	CHECK(codec_decode(buf, n, &out, errmsg) != ESC_OK);
}

TEST(rejudge_round_trip)
{
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[1024];
	struct cmd in, out;
	size_t n;

	memset(&in, 0, sizeof in);
	in.type = CMD_REJUDGE;
	in.node_id = 2;
	in.at_ms = 1700000000000;
	n = codec_encode(&in, buf, sizeof buf);
	CHECK(n > 0 && n % 8 == 0);
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);
	strcpy(in.machine, "pc-00999.corp.example");
	in.policy_index = 123456789012;
	n = codec_encode(&in, buf, sizeof buf);
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);
	/* Cut anywhere: refused. */
	for (size_t cut = 0; cut < n; cut += 8)
		CHECK(codec_decode(buf, cut, &out, errmsg) != ESC_OK);
}

/* CMD_BREAK_GLASS is format version 2; it is refused in a version 1 entry. */
TEST(break_glass_round_trip)
{
	struct cmd in, out;
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t buf[4096];
	size_t n;

	memset(&in, 0, sizeof in);
	in.type = CMD_BREAK_GLASS;
	in.node_id = 2;
	in.at_ms = 1795000000999;
	strcpy(in.actor, "alice helpdesk");
	strcpy(in.role, "helpdesk");
	strcpy(in.key_id, "01234567-89AB-CDEF-0123-456789ABCDEF");
	strcpy(in.reason, "other");
	strcpy(in.note, "branch cut off");
	strcpy(in.bg_id, "2-00112233445566778899aabbccddeeff");
	n = codec_encode(&in, buf, sizeof buf);
	CHECK(n > 0 && n % 8 == 0);
	CHECK_INT(buf[0], 2);
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_OK);
	CHECK(memcmp(&in, &out, sizeof in) == 0);
	buf[0] = 1;
	CHECK_INT(codec_decode(buf, n, &out, errmsg), ESC_EVERSION);
	/* An older node stops at it rather than skip it. */
	buf[0] = 2;
	CHECK_INT(codec_check_version(buf, n, errmsg), ESC_OK);
}

int main(void)
{
	RUN(escrow_round_trip);
	RUN(every_type_round_trips_padded);
	RUN(truncated_input_is_refused);
	RUN(flipped_header_bytes_are_refused);
	RUN(corrupted_field_lengths_are_refused);
	RUN(random_bytes_never_crash);
	RUN(unknown_version_and_type);
	RUN(newer_version_is_told_apart);
	RUN(compliance_policy_and_exempt_round_trip);
	RUN(rejudge_round_trip);
	RUN(break_glass_round_trip);
	return unit_done();
}
