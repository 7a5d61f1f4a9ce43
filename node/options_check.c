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

#define HOST_LEN_MAX 253
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

/* Reads "a.b.c.d"; returns the end, or NULL. */
static const char *ipv4_parse(const char *s, bool *loopback)
{
	unsigned long octet, first = 0;
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0 && *s++ != '.')
			return NULL;
		s = dec_parse(s, 255, &octet);
		if (s == NULL)
			return NULL;
		if (i == 0)
			first = octet;
	}
	*loopback = first == 127;
	return s;
}

bool addr_parse(const char *s, bool *loopback)
{
	unsigned long port;
	bool lo;

	if (s == NULL)
		return false;
	s = ipv4_parse(s, &lo);
	if (s == NULL || *s++ != ':')
		return false;
	s = dec_parse(s, 65535, &port);
	if (s == NULL || *s != '\0' || port == 0)
		return false;
	if (loopback != NULL)
		*loopback = lo;
	return true;
}

/* Copies the host of an "http[s]://HOST[:PORT][/...]" URL into host; false
 * when the URL is not of that form. */
static bool url_host(const char *url, char *host, size_t size, bool *https)
{
	const char *p, *end;
	unsigned long port;
	bool tls;
	size_t i, len;

	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		tls = false;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
		tls = true;
	} else {
		return false;
	}
	len = strcspn(p, ":/?#");
	if (len == 0 || len >= size)
		return false;
	for (i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'))
			return false;
	if (p[len] == ':') {
		end = dec_parse(p + len + 1, 65535, &port);
		if (end == NULL || port == 0 || (*end != '\0' && *end != '/'))
			return false;
	}
	memcpy(host, p, len);
	host[len] = '\0';
	if (https != NULL)
		*https = tls;
	return true;
}

/* Parses one "ID=RAFT/API" of len bytes at s. */
static int member_parse(const char *s, size_t len, struct bootstrap_member *m,
			char *errmsg)
{
	char buf[160], q[OPTIONS_QUOTE_SIZE];
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
	if (!addr_parse(eq + 1, NULL))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "member %lu: raft address '%s' is not IPV4:PORT", id,
				  options_quote(eq + 1, q, sizeof(q)));
	if (!addr_parse(slash + 1, NULL))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "member %lu: API address '%s' is not IPV4:PORT", id,
				  options_quote(slash + 1, q, sizeof(q)));
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
	char q[OPTIONS_QUOTE_SIZE];

	if (!addr_parse(value, NULL))
		return esc_errorf(errmsg, ESC_EINVAL, "'%s' is not IPV4:PORT",
				  options_quote(value, q, sizeof(q)));
	return 0;
}

int options_check_url(const char *value, char *errmsg)
{
	char q[OPTIONS_QUOTE_SIZE];
	char host[HOST_LEN_MAX + 1];

	if (strchr(value, ' ') != NULL || !url_host(value, host, sizeof(host), NULL))
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
	char host[HOST_LEN_MAX + 1];
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
	if (o->join != NULL && url_host(o->join, host, sizeof(host), &https)) {
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

/* --insecure sends secrets in the clear: only over the loopback interface. */
static int check_loopback(const struct options *o, const struct bootstrap_member *m,
			  unsigned n, char *errmsg)
{
	static const char prefix[] = "--insecure is only allowed with loopback addresses";
	char host[HOST_LEN_MAX + 1], q[OPTIONS_QUOTE_SIZE];
	const char *end;
	unsigned i;
	bool lo;

	if (!addr_parse(o->raft_addr, &lo) || !lo)
		return esc_errorf(errmsg, ESC_EINVAL, "%s; --raft-addr is %s", prefix,
				  o->raft_addr);
	if (!addr_parse(o->api_addr, &lo) || !lo)
		return esc_errorf(errmsg, ESC_EINVAL, "%s; --api-addr is %s", prefix,
				  o->api_addr);
	for (i = 0; i < n; i++) {
		if (!addr_parse(m[i].raft, &lo) || !lo)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "%s; --bootstrap member %u has %s", prefix,
					  m[i].id, m[i].raft);
		if (!addr_parse(m[i].api, &lo) || !lo)
			return esc_errorf(errmsg, ESC_EINVAL,
					  "%s; --bootstrap member %u has %s", prefix,
					  m[i].id, m[i].api);
	}
	if (o->join != NULL && url_host(o->join, host, sizeof(host), NULL)) {
		lo = false;
		end = ipv4_parse(host, &lo);
		if (end == NULL || *end != '\0')
			lo = strcasecmp(host, "localhost") == 0;
		if (!lo)
			return esc_errorf(errmsg, ESC_EINVAL, "%s; --join is %s", prefix,
					  options_quote(o->join, q, sizeof(q)));
	}
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
	}
	if (o->metrics_addr != NULL && (strcmp(o->metrics_addr, o->api_addr) == 0 ||
				       strcmp(o->metrics_addr, o->raft_addr) == 0))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--metrics-addr %s is also the %s address: give it a port of its own",
				  o->metrics_addr,
				  strcmp(o->metrics_addr, o->api_addr) == 0 ? "API" : "raft");
	if (o->insecure_netns && !o->insecure)
		return esc_errorf(errmsg, ESC_EINVAL, "--insecure-netns needs --insecure");
	if (o->insecure_netns)
		return check_named_netns(errmsg);
	if (o->insecure)
		return check_loopback(o, m, n, errmsg);
	return 0;
}
