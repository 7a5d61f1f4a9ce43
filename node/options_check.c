/* escrowd's options: the address, URL and --bootstrap syntax, and the
 * checks between options. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "node/options.h"
#include "node/options_internal.h"
#include "lib/error.h"
#include "lib/netaddr.h"
#include "raft/peer_tls.h"
#include "store/command.h"

#define BOOTSTRAP_MAX 64 /* members in a --bootstrap string */

const char *options_quote(const char *s, char *buf, size_t size)
{
	size_t i, n = 0, limit = 60;

	if (limit > size - 4)
		limit = size - 4;
	for (i = 0; s[i] != '\0' && n < limit; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (s[i] != '\0') {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* Reads 1-5 decimal digits without a leading zero (so that every address
 * has one spelling) into *out, at most max. Returns the end, or NULL. */
static const char *dec_parse(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 6) {
		v = v * 10 + (unsigned long)(s[n] - '0');
		n++;
	}
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0') || v > max)
		return NULL;
	*out = v;
	return s + n;
}

bool addr_parse(const char *s, bool *loopback)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct sockaddr_storage ss;
	struct netaddr a;
	socklen_t len;

	if (netaddr_parse(s, &a, errmsg) != ESC_OK)
		return false;
	if (loopback != NULL)
		*loopback = netaddr_sockaddr(&a, &ss, &len) &&
			    netaddr_sockaddr_is_loopback((struct sockaddr *)&ss);
	return true;
}

bool url_addr_parse(const char *url, struct netaddr *a, bool *https)
{
	char errmsg[ESC_ERRMSG_SIZE], text[NETADDR_TEXT_MAX + 8];
	const char *p;
	size_t len;
	bool tls;

	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		tls = false;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
		tls = true;
	} else {
		return false;
	}
	len = strcspn(p, "/?#");
	if (len == 0 || len >= NETADDR_TEXT_MAX)
		return false;
	/* The port is optional in a URL: the scheme's when absent. */
	if (p[len - 1] == ']' || memchr(p, ':', len) == NULL)
		snprintf(text, sizeof text, "%.*s:%s", (int)len, p, tls ? "443" : "80");
	else
		snprintf(text, sizeof text, "%.*s", (int)len, p);
	if (netaddr_parse(text, a, errmsg) != ESC_OK)
		return false;
	if (https != NULL)
		*https = tls;
	return true;
}

/* Parses one "ID=RAFT/API" of len bytes at s. */
static int member_parse(const char *s, size_t len, struct bootstrap_member *m,
			char *errmsg)
{
	char buf[2 * NETADDR_TEXT_MAX + 16], q[OPTIONS_QUOTE_SIZE];
	struct netaddr a;
	int rv;
	char *eq, *slash;
	const char *end;
	unsigned long id;

	if (len >= sizeof(buf)) {
		memcpy(buf, s, sizeof(buf) - 1);
		buf[sizeof(buf) - 1] = '\0';
		return esc_errorf(errmsg, ESC_EINVAL, "member '%s' is too long",
				  options_quote(buf, q, sizeof(q)));
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	slash = eq != NULL ? strchr(eq + 1, '/') : NULL;
	if (eq == NULL || slash == NULL)
		return esc_errorf(errmsg, ESC_EINVAL, "member '%s' is not ID=RAFT/API",
				  options_quote(buf, q, sizeof(q)));
	*eq = '\0';
	*slash = '\0';
	end = dec_parse(buf, 65535, &id);
	if (end == NULL || *end != '\0' || id == 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "member id '%s' is not a number in 1..65535",
				  options_quote(buf, q, sizeof(q)));
	rv = options_check_raft_addr(eq + 1, errmsg);
	if (rv != ESC_OK) {
		snprintf(buf, sizeof buf, "member %lu: raft address", id);
		esc_errprefix(errmsg, buf);
		return rv;
	}
	rv = netaddr_parse(slash + 1, &a, errmsg);
	if (rv != ESC_OK) {
		snprintf(buf, sizeof buf, "member %lu: API address", id);
		esc_errprefix(errmsg, buf);
		return rv;
	}
	m->id = (unsigned)id;
	snprintf(m->raft, sizeof(m->raft), "%s", eq + 1);
	snprintf(m->api, sizeof(m->api), "%s", slash + 1);
	return 0;
}

/* Fails when an id or address of m is already among the first n of all. */
static int member_check_unique(const struct bootstrap_member *all, unsigned n,
			       const struct bootstrap_member *m, char *errmsg)
{
	const char *addr[2] = { m->raft, m->api };
	unsigned i, k;

	if (strcmp(m->raft, m->api) == 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "member %u uses %s for both raft and API", m->id,
				  m->raft);
	for (i = 0; i < n; i++) {
		if (all[i].id == m->id)
			return esc_errorf(errmsg, ESC_EINVAL, "id %u appears twice",
					  m->id);
		for (k = 0; k < 2; k++)
			if (strcmp(all[i].raft, addr[k]) == 0 ||
			    strcmp(all[i].api, addr[k]) == 0)
				return esc_errorf(errmsg, ESC_EINVAL,
						  "address %s appears twice", addr[k]);
	}
	return 0;
}

int bootstrap_parse(const char *s, struct bootstrap_member *m, unsigned max,
		    unsigned *n, char *errmsg)
{
	struct bootstrap_member one;
	const char *p, *comma;
	size_t len;
	unsigned count = 0;
	int rv;

	*n = 0;
	if (s == NULL || s[0] == '\0')
		return esc_errorf(errmsg, ESC_EINVAL, "no members");
	for (p = s;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			return esc_errorf(errmsg, ESC_EINVAL, "member %u is empty",
					  count + 1);
		if (count == max)
			return esc_errorf(errmsg, ESC_EINVAL, "more than %u members",
					  max);
		rv = member_parse(p, len, &one, errmsg);
		if (rv == 0)
			rv = member_check_unique(m, count, &one, errmsg);
		if (rv != 0)
			return rv;
		m[count++] = one;
		if (comma == NULL)
			break;
	}
	*n = count;
	return 0;
}

int options_check_addr(const char *value, char *errmsg)
{
	struct netaddr a;

	return netaddr_parse(value, &a, errmsg);
}

/* A raft address travels in the peer transport's preamble: at most
 * PEER_TLS_ADDRESS_MAX bytes, a little under the longest HOST:PORT. */
int options_check_raft_addr(const char *value, char *errmsg)
{
	int rv = options_check_addr(value, errmsg);

	if (rv == ESC_OK && strlen(value) > PEER_TLS_ADDRESS_MAX)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "a raft address is at most %d bytes, this one has %zu",
				  PEER_TLS_ADDRESS_MAX, strlen(value));
	return rv;
}

int options_check_url(const char *value, char *errmsg)
{
	char q[OPTIONS_QUOTE_SIZE];
	struct netaddr a;

	if (strchr(value, ' ') != NULL || !url_addr_parse(value, &a, NULL))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "'%s' is not an http:// or https:// URL",
				  options_quote(value, q, sizeof(q)));
	return 0;
}

int options_check_bootstrap(const char *value, char *errmsg)
{
	struct bootstrap_member m[BOOTSTRAP_MAX];
	unsigned n;

	return bootstrap_parse(value, m, BOOTSTRAP_MAX, &n, errmsg);
}

/* Either --insecure or all three TLS files, and a --join URL to match. */
static int check_transport(const struct options *o, char *errmsg)
{
	const char *names[3] = { "tls-ca", "tls-cert", "tls-key" };
	const char *files[3] = { o->tls_ca, o->tls_cert, o->tls_key };
	struct netaddr a;
	bool https = false;
	int i, tls = 0;

	for (i = 0; i < 3; i++)
		tls += files[i] != NULL;
	if (o->insecure && tls > 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--insecure and --tls-* cannot be used together");
	if (!o->insecure && tls == 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "either --insecure or --tls-ca, --tls-cert and --tls-key are required");
	for (i = 0; tls > 0 && i < 3; i++)
		if (files[i] == NULL)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "--tls-ca, --tls-cert and --tls-key go together; --%s is missing",
					  names[i]);
	if (o->join != NULL && url_addr_parse(o->join, &a, &https)) {
		if (o->insecure && https)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "--join needs an http:// URL with --insecure");
		if (!o->insecure && !https)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "--join needs an https:// URL with TLS");
	}
	return 0;
}

/* The --bootstrap string must name this node with exactly its addresses. */
static int check_self(const struct options *o, const struct bootstrap_member *m,
		      unsigned n, char *errmsg)
{
	unsigned i;

	for (i = 0; i < n && m[i].id != o->id; i++)
		;
	if (i == n)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--bootstrap does not name this node (--id %u)", o->id);
	if (strcmp(m[i].raft, o->raft_addr) != 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--bootstrap gives node %u raft address %s but --raft-addr is %s",
				  o->id, m[i].raft, o->raft_addr);
	if (strcmp(m[i].api, o->api_addr) != 0)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--bootstrap gives node %u API address %s but --api-addr is %s",
				  o->id, m[i].api, o->api_addr);
	return 0;
}

/* libraft's own TCP transport (--insecure) parses IPv4 "a.b.c.d:port"
 * only: names and IPv6 literals are for TLS clusters, refused here rather
 * than by raft_start later. */
static int check_plain_raft(const struct options *o, const struct bootstrap_member *m,
			    unsigned n, char *errmsg)
{
	static const char prefix[] = "--insecure takes IPv4 raft addresses only (names and "
				     "IPv6 need TLS)";
	struct netaddr a;
	unsigned i;

	if (netaddr_parse(o->raft_addr, &a, errmsg) != ESC_OK || a.kind != NETADDR_IPV4)
		return esc_errorf(errmsg, ESC_EINVAL, "%s; --raft-addr is %s", prefix,
				  o->raft_addr);
	for (i = 0; i < n; i++)
		if (netaddr_parse(m[i].raft, &a, errmsg) != ESC_OK || a.kind != NETADDR_IPV4)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "%s; --bootstrap member %u has %s", prefix, m[i].id,
					  m[i].raft);
	return 0;
}

/* A literal loopback address, or a name all of whose addresses are
 * loopback ones (resolved now: options are checked before the loop runs). */
static bool loopback_only(const struct netaddr *a)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct sockaddr_storage ss;
	socklen_t len;
	bool lo = false;

	return netaddr_resolve(a, &ss, &len, &lo, errmsg) == ESC_OK && lo;
}

static bool addr_loopback_only(const char *s)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct netaddr a;

	return netaddr_parse(s, &a, errmsg) == ESC_OK && loopback_only(&a);
}

/* The members are recorded as one "ID=RAFT/API,..." text of at most
 * CMD_MEMBERS_MAX bytes (long names leave room for fewer members). */
static int check_members_size(const struct bootstrap_member *m, unsigned n, char *errmsg)
{
	size_t len = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		len += (i > 0) + (size_t)snprintf(NULL, 0, "%u=%s/%s", m[i].id, m[i].raft, m[i].api);
	if (len > CMD_MEMBERS_MAX)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--bootstrap: the members take %zu bytes, more than the %d the "
				  "cluster records; use shorter names", len, CMD_MEMBERS_MAX);
	return 0;
}

/* --insecure sends secrets in the clear: only over the loopback interface. */
static int check_loopback(const struct options *o, const struct bootstrap_member *m,
			  unsigned n, char *errmsg)
{
	static const char prefix[] = "--insecure is only allowed with loopback addresses";
	char q[OPTIONS_QUOTE_SIZE];
	struct netaddr a;
	unsigned i;

	if (!addr_loopback_only(o->raft_addr))
		return esc_errorf(errmsg, ESC_EINVAL, "%s; --raft-addr is %s", prefix,
				  o->raft_addr);
	if (!addr_loopback_only(o->api_addr))
		return esc_errorf(errmsg, ESC_EINVAL, "%s; --api-addr is %s", prefix,
				  o->api_addr);
	for (i = 0; i < n; i++) {
		if (!addr_loopback_only(m[i].raft))
			return esc_errorf(errmsg, ESC_EINVAL,
					  "%s; --bootstrap member %u has %s", prefix,
					  m[i].id, m[i].raft);
		if (!addr_loopback_only(m[i].api))
			return esc_errorf(errmsg, ESC_EINVAL,
					  "%s; --bootstrap member %u has %s", prefix,
					  m[i].id, m[i].api);
	}
	if (o->join != NULL && url_addr_parse(o->join, &a, NULL) && !loopback_only(&a))
		return esc_errorf(errmsg, ESC_EINVAL, "%s; --join is %s", prefix,
				  options_quote(o->join, q, sizeof(q)));
	return 0;
}

/* --insecure-netns: plain traffic on any address, but only inside a network
 * namespace made with `ip netns` (bound under /run/netns), so that it cannot
 * reach the host's network by accident: escrowctl drill puts each node in a
 * namespace of its own. */
static int check_named_netns(char *errmsg)
{
	struct stat self, st;
	struct dirent *e;
	char path[300];
	bool found = false;
	DIR *dir;

	if (stat("/proc/self/ns/net", &self) != 0)
		return esc_errorf(errmsg, ESC_EINVAL, "--insecure-netns: cannot read "
				  "/proc/self/ns/net: %s", strerror(errno));
	dir = opendir("/run/netns");
	while (dir != NULL && !found && (e = readdir(dir)) != NULL) {
		snprintf(path, sizeof path, "/run/netns/%s", e->d_name);
		found = e->d_name[0] != '.' && stat(path, &st) == 0 &&
			st.st_ino == self.st_ino && st.st_dev == self.st_dev;
	}
	if (dir != NULL)
		closedir(dir);
	if (!found)
		return esc_errorf(errmsg, ESC_EINVAL, "--insecure-netns: this process does not "
				  "run in a network namespace made with 'ip netns'; use loopback "
				  "addresses or TLS");
	return 0;
}

int options_check(const struct options *o, char *errmsg)
{
	struct bootstrap_member m[BOOTSTRAP_MAX];
	unsigned n = 0;
	int rv;

	if (o->bootstrap != NULL && o->join != NULL)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--bootstrap and --join cannot be used together");
	rv = check_transport(o, errmsg);
	if (rv != 0)
		return rv;
	if (o->bootstrap != NULL) {
		rv = bootstrap_parse(o->bootstrap, m, BOOTSTRAP_MAX, &n, errmsg);
		if (rv != 0) {
			esc_errprefix(errmsg, "--bootstrap");
			return rv;
		}
		rv = check_self(o, m, n, errmsg);
		if (rv != 0)
			return rv;
		rv = check_members_size(m, n, errmsg);
		if (rv != 0)
			return rv;
	}
	if (o->metrics_addr != NULL && (strcmp(o->metrics_addr, o->api_addr) == 0 ||
				       strcmp(o->metrics_addr, o->raft_addr) == 0))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--metrics-addr %s is also the %s address: give it a port of its own",
				  o->metrics_addr,
				  strcmp(o->metrics_addr, o->api_addr) == 0 ? "API" : "raft");
	if (o->insecure_netns && !o->insecure)
		return esc_errorf(errmsg, ESC_EINVAL, "--insecure-netns needs --insecure");
	if (o->insecure) {
		rv = check_plain_raft(o, m, n, errmsg);
		if (rv != 0)
			return rv;
	}
	if (o->insecure_netns)
		return check_named_netns(errmsg);
	if (o->insecure)
		return check_loopback(o, m, n, errmsg);
	return 0;
}
