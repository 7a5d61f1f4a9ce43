/* Network addresses as escrow's flags spell them: "HOST:PORT",
 * "IPv4:PORT" or "[IPv6]:PORT"; parsed, formatted back, turned into socket
 * addresses (literals) or resolved (names, blocking: at start only). */
#ifndef ESCROW_NETADDR_H
#define ESCROW_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETADDR_HOST_MAX 253                    /* a DNS name, RFC 1123 */
#define NETADDR_TEXT_MAX (NETADDR_HOST_MAX + 8) /* "HOST:65535" or "[v6]:65535", NUL */

enum netaddr_kind {
	NETADDR_NAME, /* a host name, resolved when used */
	NETADDR_IPV4,
	NETADDR_IPV6,
};

struct netaddr {
	enum netaddr_kind kind;
	char host[NETADDR_HOST_MAX + 1]; /* without brackets */
	uint16_t port;                   /* 1..65535 (0: netaddr_parse_bind) */
};

/* Parses s. Rules, so that every address has one spelling: a port of
 * 1..65535 without leading zeros after the last ':'; an IPv6 address only
 * in brackets, without a zone, written as inet_ntop writes it ("[::1]", not
 * "[0:0::1]"); a dotted quad without leading zeros; otherwise a host name of
 * at most 253 bytes: dot-separated labels of 1..63 lower-case letters,
 * digits and hyphens, not starting or ending with a hyphen, no trailing
 * dot, and not all digits. ESC_OK, or ESC_EINVAL with errmsg saying why
 * ("'x' ...: ..."). */
int netaddr_parse(const char *s, struct netaddr *a, char *errmsg);

/* Like netaddr_parse, with port 0 too (to bind: the kernel picks one). */
int netaddr_parse_bind(const char *s, struct netaddr *a, char *errmsg);

/* Writes a as text ("[v6]:port" for IPv6) into buf; the length, or 0 when
 * size is too small. Parsing the result gives a again. */
size_t netaddr_format(const struct netaddr *a, char *buf, size_t size);

/* The socket address of a literal (IPV4, IPV6) into ss and *len. false for
 * a name. */
bool netaddr_sockaddr(const struct netaddr *a, struct sockaddr_storage *ss, socklen_t *len);

/* True when sa (AF_INET, AF_INET6) is a loopback address: 127.0.0.0/8, ::1
 * or an IPv4-mapped 127.x. */
bool netaddr_sockaddr_is_loopback(const struct sockaddr *sa);

/* Writes sa's address and port as text ("[v6]:port") into buf. */
void netaddr_sockaddr_text(const struct sockaddr *sa, char *buf, size_t size);

/* The socket address to bind or check: a literal's, or the first address a
 * name resolves to (getaddrinfo: blocking, for start-up only). When every
 * is not NULL, *every is set to whether all the name's addresses are
 * loopback ones. ESC_OK, or ESC_ENOTFOUND with errmsg ("HOST does not
 * resolve: why"). */
int netaddr_resolve(const struct netaddr *a, struct sockaddr_storage *ss, socklen_t *len,
		    bool *all_loopback, char *errmsg);

#endif
