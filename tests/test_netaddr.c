/* Unit tests of lib/netaddr: the three spellings, their errors, formatting
 * back, socket addresses and loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/error.h"
#include "lib/netaddr.h"
#include "tests/unit.h"

/* Parses s, formats it back, and checks both. */
static int round_trip(const char *s, enum netaddr_kind kind, const char *host, unsigned port)
{
	char errmsg[ESC_ERRMSG_SIZE], text[NETADDR_TEXT_MAX];
	struct netaddr a, b;

	if (netaddr_parse(s, &a, errmsg) != ESC_OK) {
		printf("# %s: %s\n", s, errmsg);
		return 0;
	}
	if (a.kind != kind || strcmp(a.host, host) != 0 || a.port != port)
		return 0;
	if (netaddr_format(&a, text, sizeof text) == 0 || strcmp(text, s) != 0)
		return 0;
	return netaddr_parse(text, &b, errmsg) == ESC_OK && memcmp(&a, &b, sizeof a) == 0;
}

TEST(good_addresses_round_trip)
{
	char name253[300];

	CHECK(round_trip("127.0.0.1:7001", NETADDR_IPV4, "127.0.0.1", 7001));
	CHECK(round_trip("0.0.0.0:1", NETADDR_IPV4, "0.0.0.0", 1));
	CHECK(round_trip("[::1]:7001", NETADDR_IPV6, "::1", 7001));
	CHECK(round_trip("[2001:db8::5]:65535", NETADDR_IPV6, "2001:db8::5", 65535));
	CHECK(round_trip("[::ffff:127.0.0.1]:80", NETADDR_IPV6, "::ffff:127.0.0.1", 80));
	CHECK(round_trip("localhost:9000", NETADDR_NAME, "localhost", 9000));
	CHECK(round_trip("node-1.example.org:443", NETADDR_NAME, "node-1.example.org", 443));
	CHECK(round_trip("1e100.net:80", NETADDR_NAME, "1e100.net", 80));
	/* 253 bytes: labels of 63, 63, 63 and 61 bytes. */
	memset(name253, 'a', 253);
	name253[63] = name253[127] = name253[191] = '.';
	strcpy(name253 + 253, ":1");
	CHECK(netaddr_parse(name253, &(struct netaddr){ 0 }, (char[ESC_ERRMSG_SIZE]){ 0 }) ==
	      ESC_OK);
}

/* Each bad input, and a word its message must hold. */
static const struct {
	const char *in, *says;
} bad[] = {
	{ "", "empty" },
	{ ":7001", "empty host" },
	{ "[]:7001", "empty host" },
	{ "127.0.0.1", "no port" },
	{ "localhost", "no port" },
	{ "127.0.0.1:", "no port" },
	{ "[::1]", "':PORT'" },
	{ "[::1]:", "no port" },
	{ "127.0.0.1:0", "bad port" },
	{ "127.0.0.1:65536", "bad port" },
	{ "127.0.0.1:99999", "bad port" },
	{ "127.0.0.1:123456", "bad port" },
	{ "127.0.0.1:080", "bad port" },
	{ "127.0.0.1:-1", "bad port" },
	{ "127.0.0.1:80x", "bad port" },
	{ "127.0.0.1: 80", "bad port" },
	{ "::1:7001", "without brackets" },
	{ "2001:db8::1:7001", "without brackets" },
	{ "[::1:7001", "without its ']'" },
	{ "::1]:7001", "bracket" },
	{ "[::1]x:7001", "right after ']'" },
	{ "[::1]]:7001", "right after ']'" },
	{ "[127.0.0.1]:7001", "bad IPv6" },
	{ "[localhost]:7001", "bad IPv6" },
	{ "[fe80::1%eth0]:7001", "zone" },
	{ "[0:0::1]:7001", "write [::1]" },
	{ "[::FFFF:1.2.3.4]:7001", "write [::ffff:1.2.3.4]" },
	{ "256.1.1.1:80", "bad IPv4" },
	{ "1.2.3:80", "bad IPv4" },
	{ "01.2.3.4:80", "bad IPv4" },
	{ "1.2.3.4.5:80", "bad IPv4" },
	{ "Node1.example:80", "lower case" },
	{ "node_1:80", "other than letters" },
	{ "no de:80", "other than letters" },
	{ "-node:80", "starting with '-'" },
	{ "node-:80", "ending with '-'" },
	{ "a..b:80", "empty label" },
	{ ".a:80", "empty label" },
	{ "a.:80", "empty label" },
	{ "a\n:80", "other than letters" },
};

TEST(bad_addresses_say_why)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct netaddr a;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errmsg[0] = '\0';
		if (netaddr_parse(bad[i].in, &a, errmsg) != ESC_EINVAL ||
		    strstr(errmsg, bad[i].says) == NULL)
			printf("# '%s': '%s', wanted '%s'\n", bad[i].in, errmsg, bad[i].says);
		CHECK_INT(netaddr_parse(bad[i].in, &a, errmsg), ESC_EINVAL);
		CHECK(strstr(errmsg, bad[i].says) != NULL);
	}
	CHECK_INT(netaddr_parse(NULL, &a, errmsg), ESC_EINVAL);
}

TEST(long_names_are_refused)
{
	char errmsg[ESC_ERRMSG_SIZE], s[400];
	struct netaddr a;

	/* A 64-byte label. */
	memset(s, 'a', 64);
	strcpy(s + 64, ":80");
	CHECK_INT(netaddr_parse(s, &a, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "longer than 63") != NULL);
	/* 254 bytes of labels. */
	memset(s, 'a', 254);
	for (int i = 50; i < 254; i += 50)
		s[i] = '.';
	strcpy(s + 254, ":80");
	CHECK_INT(netaddr_parse(s, &a, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "longer than 253") != NULL);
	/* The message quotes a bounded part of the input. */
	CHECK(strlen(errmsg) < 250);
}

TEST(socket_addresses_of_literals)
{
	char errmsg[ESC_ERRMSG_SIZE], text[NETADDR_TEXT_MAX];
	struct sockaddr_storage ss;
	socklen_t len;
	struct netaddr a;
	bool lo;

	CHECK_INT(netaddr_parse("[::1]:7001", &a, errmsg), ESC_OK);
	CHECK(netaddr_sockaddr(&a, &ss, &len));
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_INT(len, sizeof(struct sockaddr_in6));
	CHECK(netaddr_sockaddr_is_loopback((struct sockaddr *)&ss));
	netaddr_sockaddr_text((struct sockaddr *)&ss, text, sizeof text);
	CHECK_STR(text, "[::1]:7001");

	CHECK_INT(netaddr_parse("127.3.4.5:80", &a, errmsg), ESC_OK);
	CHECK(netaddr_sockaddr(&a, &ss, &len));
	CHECK(netaddr_sockaddr_is_loopback((struct sockaddr *)&ss));
	netaddr_sockaddr_text((struct sockaddr *)&ss, text, sizeof text);
	CHECK_STR(text, "127.3.4.5:80");

	CHECK_INT(netaddr_parse("10.0.0.1:80", &a, errmsg), ESC_OK);
	CHECK_INT(netaddr_resolve(&a, &ss, &len, &lo, errmsg), ESC_OK);
	CHECK(!lo);
	CHECK_INT(netaddr_parse("[2001:db8::1]:80", &a, errmsg), ESC_OK);
	CHECK_INT(netaddr_resolve(&a, &ss, &len, &lo, errmsg), ESC_OK);
	CHECK(!lo);
	CHECK_INT(netaddr_parse("[::ffff:127.0.0.1]:80", &a, errmsg), ESC_OK);
	CHECK_INT(netaddr_resolve(&a, &ss, &len, &lo, errmsg), ESC_OK);
	CHECK(lo);

	CHECK_INT(netaddr_parse("localhost:80", &a, errmsg), ESC_OK);
	CHECK(!netaddr_sockaddr(&a, &ss, &len));
	CHECK_INT(netaddr_parse("[::1]:80", &a, errmsg), ESC_OK);
	CHECK_INT(netaddr_format(&a, text, sizeof text), 8);
	CHECK_STR(text, "[::1]:80");
	CHECK_INT(netaddr_format(&a, text, 8), 0); /* no room for the NUL */
	CHECK_INT(netaddr_parse_bind("[::1]:0", &a, errmsg), ESC_OK);
	CHECK_INT(a.port, 0);
	CHECK_INT(netaddr_parse("[::1]:0", &a, errmsg), ESC_EINVAL);
}

TEST(names_resolve_or_say_why)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct sockaddr_storage ss;
	socklen_t len;
	struct netaddr a;
	bool lo = false;

	/* localhost is in /etc/hosts: every address of it is loopback. */
	CHECK_INT(netaddr_parse("localhost:80", &a, errmsg), ESC_OK);
	CHECK_INT(netaddr_resolve(&a, &ss, &len, &lo, errmsg), ESC_OK);
	CHECK(lo);
	/* RFC 2606: .invalid never resolves. */
	CHECK_INT(netaddr_parse("nowhere.invalid:80", &a, errmsg), ESC_OK);
	CHECK_INT(netaddr_resolve(&a, &ss, &len, &lo, errmsg), ESC_ENOTFOUND);
	CHECK(strstr(errmsg, "nowhere.invalid does not resolve") != NULL);
}

int main(void)
{
	RUN(good_addresses_round_trip);
	RUN(bad_addresses_say_why);
	RUN(long_names_are_refused);
	RUN(socket_addresses_of_literals);
	RUN(names_resolve_or_say_why);
	return unit_done();
}
