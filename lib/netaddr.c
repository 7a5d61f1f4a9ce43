/* Network addresses as flags spell them (see netaddr.h). */
#include "lib/netaddr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/error.h"

#define QUOTE_MAX 80

/* s for a message: at most QUOTE_MAX bytes, control bytes as '?'. */
static const char *quote(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < size - 4 && i < QUOTE_MAX; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* ESC_EINVAL with "'s' why" in errmsg. */
static int fail(const char *s, char *errmsg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(const char *s, char *errmsg, const char *fmt, ...)
{
	char q[QUOTE_MAX + 4], why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return esc_errorf(errmsg, ESC_EINVAL, "'%s' %s", quote(s, q, sizeof q), why);
}

static bool port_parse(const char *p, bool zero_ok, uint16_t *port)
{
	unsigned long v = 0;
	size_t n;

	for (n = 0; p[n] >= '0' && p[n] <= '9'; n++) {
		if (n == 5)
			return false;
		v = v * 10 + (unsigned long)(p[n] - '0');
	}
	if (n == 0 || p[n] != '\0' || (n > 1 && p[0] == '0') || (v == 0 && !zero_ok) || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* RFC 1123 labels; why gets the reason when false. */
static bool name_valid(const char *h, const char **why)
{
	size_t i, label = 0;
	bool digits_only = true;

	for (i = 0; h[i] != '\0'; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-') {
				*why = "has an empty label or one ending with '-' in its host "
				       "name";
				return false;
			}
			label = 0;
			continue;
		}
		if (c >= 'A' && c <= 'Z') {
			*why = "has upper-case letters in its host name; write it in lower case";
			return false;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			*why = "has a character other than letters, digits, '-' and '.' in its "
			       "host name";
			return false;
		}
		if (c == '-' && label == 0) {
			*why = "has a label starting with '-' in its host name";
			return false;
		}
		if (++label > 63) {
			*why = "has a label longer than 63 bytes in its host name";
			return false;
		}
		if (c < '0' || c > '9')
			digits_only = false;
	}
	if (label == 0 || h[i - 1] == '-') {
		*why = "has an empty label or one ending with '-' in its host name";
		return false;
	}
	if (digits_only) {
		*why = "has a bad IPv4 address (a.b.c.d, each 0..255 without leading zeros)";
		return false;
	}
	return true;
}

static int parse(const char *s, bool zero_ok, struct netaddr *a, char *errmsg)
{
	const char *colon, *host = s, *why = NULL;
	size_t hlen;
	unsigned char bin[16];
	char canon[INET6_ADDRSTRLEN];

	memset(a, 0, sizeof *a);
	if (s == NULL || s[0] == '\0')
		return esc_errorf(errmsg, ESC_EINVAL,
				  "the address is empty (HOST:PORT, IPv4:PORT or "
				  "[IPv6]:PORT)");
	colon = strrchr(s, ':');
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL)
			return fail(s, errmsg, "has a '[' without its ']' ([IPv6]:PORT)");
		if (close[1] != ':')
			return fail(s, errmsg, "needs ':PORT' right after ']' ([IPv6]:PORT)");
		colon = close + 1;
		host = s + 1;
		hlen = (size_t)(close - host);
		if (hlen == 0)
			return fail(s, errmsg, "has an empty host");
		if (memchr(host, '%', hlen) != NULL)
			return fail(s, errmsg, "has an IPv6 zone ('%%'), which is not supported");
		if (hlen >= sizeof a->host || hlen >= INET6_ADDRSTRLEN)
			return fail(s, errmsg, "has a bad IPv6 address in brackets");
		memcpy(a->host, host, hlen);
		a->host[hlen] = '\0';
		if (inet_pton(AF_INET6, a->host, bin) != 1)
			return fail(s, errmsg, "has a bad IPv6 address in brackets");
		inet_ntop(AF_INET6, bin, canon, sizeof canon);
		if (strcmp(canon, a->host) != 0)
			return fail(s, errmsg,
				    "spells an IPv6 address differently from its one spelling: "
				    "write [%s]",
				    canon);
		a->kind = NETADDR_IPV6;
	} else {
		if (strchr(s, '[') != NULL || strchr(s, ']') != NULL)
			return fail(s, errmsg, "has a bracket outside of [IPv6]:PORT");
		if (colon == NULL)
			return fail(s, errmsg,
				    "has no port (HOST:PORT, IPv4:PORT or [IPv6]:PORT)");
		if (colon != strchr(s, ':'))
			return fail(s, errmsg,
				    "looks like an IPv6 address without brackets: write "
				    "[IPv6]:PORT");
		hlen = (size_t)(colon - s);
		if (hlen == 0)
			return fail(s, errmsg, "has an empty host");
		if (hlen > NETADDR_HOST_MAX)
			return fail(s, errmsg, "has a host name longer than %d bytes",
				    NETADDR_HOST_MAX);
		memcpy(a->host, s, hlen);
		a->host[hlen] = '\0';
		if (inet_pton(AF_INET, a->host, bin) == 1) {
			a->kind = NETADDR_IPV4;
		} else if (!name_valid(a->host, &why)) {
			return fail(s, errmsg, "%s", why);
		} else {
			a->kind = NETADDR_NAME;
		}
	}
	if (colon[1] == '\0')
		return fail(s, errmsg, "has no port after ':'");
	if (!port_parse(colon + 1, zero_ok, &a->port))
		return fail(s, errmsg, "has a bad port '%.8s' (1..65535, no leading zero)",
			    colon + 1);
	return ESC_OK;
}

int netaddr_parse(const char *s, struct netaddr *a, char *errmsg)
{
	return parse(s, false, a, errmsg);
}

int netaddr_parse_bind(const char *s, struct netaddr *a, char *errmsg)
{
	return parse(s, true, a, errmsg);
}

size_t netaddr_format(const struct netaddr *a, char *buf, size_t size)
{
	int n = snprintf(buf, size, a->kind == NETADDR_IPV6 ? "[%s]:%u" : "%s:%u", a->host,
			 a->port);

	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

bool netaddr_sockaddr(const struct netaddr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (a->kind == NETADDR_IPV4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		inet_pton(AF_INET, a->host, &in->sin_addr);
		*len = sizeof *in;
		return true;
	}
	if (a->kind == NETADDR_IPV6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		inet_pton(AF_INET6, a->host, &in6->sin6_addr);
		*len = sizeof *in6;
		return true;
	}
	return false;
}

bool netaddr_sockaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(in6) ||
		       (IN6_IS_ADDR_V4MAPPED(in6) && in6->s6_addr[12] == 127);
	}
	return false;
}

void netaddr_sockaddr_text(const struct sockaddr *sa, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
	} else {
		snprintf(buf, size, "?");
	}
}

int netaddr_resolve(const struct netaddr *a, struct sockaddr_storage *ss, socklen_t *len,
		    bool *all_loopback, char *errmsg)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *p;
	char port[8];
	int rv;

	if (netaddr_sockaddr(a, ss, len)) {
		if (all_loopback != NULL)
			*all_loopback = netaddr_sockaddr_is_loopback((struct sockaddr *)ss);
		return ESC_OK;
	}
	snprintf(port, sizeof port, "%u", a->port);
	rv = getaddrinfo(a->host, port, &hints, &res);
	if (rv != 0 || res == NULL)
		return esc_errorf(errmsg, ESC_ENOTFOUND, "%s does not resolve: %s", a->host,
				  rv != 0 ? gai_strerror(rv) : "no address");
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	if (all_loopback != NULL) {
		*all_loopback = true;
		for (p = res; p != NULL; p = p->ai_next)
			if (!netaddr_sockaddr_is_loopback(p->ai_addr))
				*all_loopback = false;
	}
	freeaddrinfo(res);
	return ESC_OK;
}
