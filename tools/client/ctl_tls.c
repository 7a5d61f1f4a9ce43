/* escrowctl's TLS checks: its files before a connection, and a refused handshake in words. */
#include "tools/client/ctl_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/durable.h"
#include "tools/client/ctl_client_internal.h"

#define CTL_PEM_SCAN (64 * 1024) /* bytes of a TLS file searched for its PEM line */

/* What a TLS file must hold: the end of its PEM "-----BEGIN ...-----" label. */
enum pem_kind { PEM_CERTIFICATE, PEM_PRIVATE_KEY };

/* Whether one of the PEM lines in p[0..n) has a label ending in suffix. */
static bool pem_has_block(const char *p, size_t n, const char *suffix)
{
	static const char begin[] = "-----BEGIN ";
	size_t slen = strlen(suffix), i, j;

	for (i = 0; i + sizeof(begin) - 1 <= n; i++) {
		if (memcmp(p + i, begin, sizeof(begin) - 1) != 0)
			continue;
		for (j = i + sizeof(begin) - 1; j + 5 <= n && p[j] != '\n'; j++)
			if (memcmp(p + j, "-----", 5) == 0)
				break;
		if (j + 5 <= n && memcmp(p + j, "-----", 5) == 0 &&
		    j - (i + sizeof(begin) - 1) >= slen && memcmp(p + j - slen, suffix, slen) == 0)
			return true;
	}
	return false;
}

/* Opens and reads the start of path (what the user called name) and looks
 * for the PEM block of kind: what can be known of the file before a
 * connection. ESC_OK or ESC_EINVAL with errmsg. */
static int tls_file_check(const char *name, const char *path, enum pem_kind kind,
			  char *errmsg)
{
	const char *suffix = kind == PEM_CERTIFICATE ? "CERTIFICATE" : "PRIVATE KEY";
	char shown_path[CTL_NAME_FULL];
	size_t n = 0;
	ssize_t got;
	char *buf;
	int fd, rv = ESC_OK;

	/* Room for the longest message below, the longest name and strerror. */
	ctl_shown(path, ESC_ERRMSG_SIZE - 110, shown_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EINVAL, "%s %s: %s", name, shown_path,
				  strerror(errno));
	buf = malloc(CTL_PEM_SCAN);
	if (buf == NULL) {
		rv = esc_errorf(errmsg, ESC_ENOMEM, "%s %s: out of memory", name, shown_path);
		goto out;
	}
	got = durable_read(fd, buf, CTL_PEM_SCAN);
	if (got < 0) {
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s %s: %s", name, shown_path,
				strerror(errno));
		goto out;
	}
	n = (size_t)got;
	if (n == 0)
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s %s: the file is empty", name, shown_path);
	else if (!pem_has_block(buf, n, suffix))
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s %s: not a PEM %s file (no "
				"\"-----BEGIN %s-----\" line)", name, shown_path,
				kind == PEM_CERTIFICATE ? "certificate" : "private key", suffix);
out:
	free(buf);
	close(fd);
	return rv;
}

int ctl_client_check_tls(struct ctl_client *c, const char *ca_name, const char *cert_name,
			 const char *key_name, char *errmsg)
{
	char node[CTL_NAME_FULL];
	size_t i;
	int rv;

	c->ca_name = ca_name ? ca_name : "--ca";
	c->cert_name = cert_name ? cert_name : "--cert";
	c->key_name = key_name ? key_name : "--key";
	if (c->ca != NULL && (rv = tls_file_check(c->ca_name, c->ca, PEM_CERTIFICATE,
						  errmsg)) != ESC_OK)
		return rv;
	if (c->cert != NULL && (rv = tls_file_check(c->cert_name, c->cert, PEM_CERTIFICATE,
						    errmsg)) != ESC_OK)
		return rv;
	if (c->key != NULL && (rv = tls_file_check(c->key_name, c->key, PEM_PRIVATE_KEY,
						   errmsg)) != ESC_OK)
		return rv;
	if (c->cert != NULL && c->key != NULL)
		return ESC_OK;
	for (i = 0; i < c->n_nodes; i++) {
		if (strcmp(ctl_scheme_of(c->nodes[i]), "https") != 0)
			continue;
		ctl_shown(c->nodes[i], CTL_NAME_SHORT, node);
		if (c->ca == NULL)
			return esc_errorf(errmsg, ESC_EINVAL, "%s is a TLS node, and --ca, --cert "
					  "and --key are not given (nor ESCROW_CA, ESCROW_CERT and "
					  "ESCROW_KEY): give the cluster's CA and your client "
					  "certificate and key", node);
		return esc_errorf(errmsg, ESC_EINVAL, "%s is a TLS node, and --cert and --key "
				  "are not given (nor ESCROW_CERT and ESCROW_KEY): give your "
				  "client certificate and key", node);
	}
	return ESC_OK;
}

/* The name of the TLS alert in a libcurl/OpenSSL error ("tlsv13 alert
 * certificate required, errno 0" gives "certificate required"), copied into
 * out; false when e names no alert. */
static bool tls_alert(const char *e, char *out, size_t size)
{
	const char *a = strstr(e, "alert "), *end;

	if (a == NULL || size == 0)
		return false;
	a += 6;
	end = a + strcspn(a, ",:;(\n");
	while (end > a && end[-1] == ' ')
		end--;
	snprintf(out, size, "%.*s", (int)(end - a), a);
	return true;
}

/* snprintf into out, returning code. */
static int words(char *out, size_t size, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int words(char *out, size_t size, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return code;
}

/* A TLS failure in words, from libcurl's code cc and error text e, at
 * where (a URL), into out (size bytes), with file names and where shown up
 * to max bytes. Returns ESC_EINVAL when our own files are at fault (the
 * same at every node), ESC_ECRYPTO when the handshake was refused, ESC_OK
 * (out untouched) when cc and e tell of no TLS failure. */
static int tls_words(const struct ctl_client *c, CURLcode cc, const char *e, const char *where,
		     size_t max, char *out, size_t size)
{
	char w[CTL_NAME_FULL], ca[CTL_NAME_FULL], cert[CTL_NAME_FULL], key[CTL_NAME_FULL];
	char alert[64];

	if (max >= CTL_NAME_FULL)
		max = CTL_NAME_FULL - 1;
	ctl_shown(where, max, w);
	ctl_shown(c->ca ? c->ca : "(the system's)", max, ca);
	ctl_shown(c->cert ? c->cert : "(none)", max, cert);
	ctl_shown(c->key ? c->key : "(none)", max, key);
	/* Our own files, found wanting by libcurl: the same at every node. */
	if (cc == CURLE_SSL_CACERT_BADFILE)
		return words(out, size, ESC_EINVAL, "%s %s: no CA certificate could be loaded "
			     "from it", c->ca_name, ca);
	if (cc == CURLE_SSL_CERTPROBLEM && strstr(e, "private key") != NULL)
		return words(out, size, ESC_EINVAL, "%s %s: not the key of %s %s, or not a "
			     "usable private key", c->key_name, key, c->cert_name, cert);
	if (cc == CURLE_SSL_CERTPROBLEM)
		return words(out, size, ESC_EINVAL, "%s %s: not a usable PEM certificate",
			     c->cert_name, cert);
	/* The node's certificate, refused by us. */
	if (cc == CURLE_PEER_FAILED_VERIFICATION) {
		if (strstr(e, "subject name") != NULL || strstr(e, "host name") != NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not "
				     "made out to the host name of this URL", w);
		if (strstr(e, "expired") != NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate has "
				     "expired", w);
		if (strstr(e, "not yet valid") != NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not "
				     "valid yet", w);
		if (c->ca == NULL)
			return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not "
				     "signed by a CA this system trusts (unknown CA): give the "
				     "cluster's CA with --ca (or ESCROW_CA)", w);
		return words(out, size, ESC_ECRYPTO, "%s: the node's certificate is not signed "
			     "by %s %s (unknown CA)", w, c->ca_name, ca);
	}
	/* Ours, refused by the node: a TLS alert, seen at the handshake (TLS
	 * 1.2) or at the first read (TLS 1.3: CURLE_RECV_ERROR). */
#if LIBCURL_VERSION_NUM >= 0x074d00
	if (cc == CURLE_SSL_CLIENTCERT)
		snprintf(alert, sizeof(alert), "certificate required");
	else
#endif
	if (!tls_alert(e, alert, sizeof(alert)))
		alert[0] = '\0';
	if (strcmp(alert, "certificate required") == 0)
		return words(out, size, ESC_ECRYPTO, "%s: the node requires a client "
			     "certificate: give --cert and --key (or ESCROW_CERT and "
			     "ESCROW_KEY)", w);
	if (strcmp(alert, "unknown ca") == 0)
		return words(out, size, ESC_ECRYPTO, "%s: the node refused our certificate %s "
			     "%s: it is not signed by the cluster's CA (unknown CA)", w,
			     c->cert_name, cert);
	if (strcmp(alert, "certificate expired") == 0)
		return words(out, size, ESC_ECRYPTO, "%s: the node refused our certificate %s "
			     "%s: it has expired", w, c->cert_name, cert);
	if (strstr(alert, "certificate") != NULL)
		return words(out, size, ESC_ECRYPTO, "%s: the node refused our certificate %s "
			     "%s (TLS alert: %s)", w, c->cert_name, cert, alert);
	if (alert[0] != '\0')
		return words(out, size, ESC_ECRYPTO, "%s: the node refused the TLS handshake "
			     "(TLS alert: %s)", w, alert);
	if (strstr(e, "wrong version number") != NULL ||
	    strstr(e, "packet length too long") != NULL)
		return words(out, size, ESC_ECRYPTO, "%s: the node does not speak TLS at this "
			     "address (an http:// node?)", w);
	if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CIPHER ||
	    cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
	    cc == CURLE_SSL_INVALIDCERTSTATUS || cc == CURLE_SSL_ENGINE_NOTFOUND ||
	    cc == CURLE_SSL_ENGINE_SETFAILED || cc == CURLE_SSL_ENGINE_INITFAILED ||
	    cc == CURLE_SSL_CRL_BADFILE || cc == CURLE_SSL_SHUTDOWN_FAILED)
		return words(out, size, ESC_ECRYPTO, "%s: the TLS handshake failed (%s)", w,
			     curl_easy_strerror(cc));
	return ESC_OK;
}

int ctl_tls_failure(const struct ctl_client *c, CURLcode cc, const char *e, const char *where,
		    char *errmsg)
{
	char draft[4 * CTL_NAME_FULL + 256];
	int rv;

	rv = tls_words(c, cc, e, where, CTL_NAME_FULL - 1, draft, sizeof(draft));
	if (rv != ESC_OK && strlen(draft) >= ESC_ERRMSG_SIZE)
		tls_words(c, cc, e, where, CTL_NAME_SHORT, draft, sizeof(draft));
	if (rv != ESC_OK)
		esc_errorf(errmsg, rv, "%s", draft);
	return rv;
}
