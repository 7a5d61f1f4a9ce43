/* drill run's certificates, made with lib/pki (what `escrowctl pki init` uses). */
#include "tools/drill/drill_pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/pki.h"

#define DPKI_DAYS 30 /* longer than any drill */

static const char *const role_names[DPKI__ROLES] = {
	[DPKI_AGENT] = "agent", [DPKI_HELPDESK] = "helpdesk",
	[DPKI_AUDITOR] = "auditor", [DPKI_OPERATOR] = "operator",
};

const char *dpki_role_name(enum dpki_role r)
{
	return r < DPKI__ROLES ? role_names[r] : "?";
}

/* DIR/NAME.EXT into out (DPKI_PATH_MAX bytes); false when it does not fit. */
static bool file_name(char *out, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(out, DPKI_PATH_MAX, "%s/%s.%s", dir, name, ext);

	return n > 0 && n < DPKI_PATH_MAX;
}

void dpki_node_files(const char *dir, unsigned id, char *cert, char *key)
{
	char name[24];

	snprintf(name, sizeof name, "node-%u", id);
	if (!file_name(cert, dir, name, "crt") || !file_name(key, dir, name, "key"))
		cert[0] = key[0] = '\0'; /* dpki_create refused such a dir */
}

/* Writes a PEM file with mode: the key when key != NULL, else the cert. */
static int write_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key, char *errmsg)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	bool ok;

	if (f == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return esc_errorf(errmsg, ESC_EIO, "cannot create %s: %s", path, strerror(e));
	}
	ok = key != NULL ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1
			 : PEM_write_X509(f, cert) == 1;
	ok = fclose(f) == 0 && ok;
	return ok ? ESC_OK : esc_errorf(errmsg, ESC_EIO, "cannot write %s", path);
}

/* A leaf certificate of the CA and its key, written to cert_path and key_path. */
static int leaf(const char *cert_path, const char *key_path, enum pki_kind kind,
		const char *cn, const char *ou, const char *san, X509 *ca, EVP_PKEY *ca_key,
		char *errmsg)
{
	EVP_PKEY *key = pki_key_new();
	X509 *cert = key ? pki_cert_new(key, kind, cn, ou, san, ca, ca_key, 0, DPKI_DAYS) : NULL;
	int rv;

	if (cert == NULL)
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "cannot make the certificate of %s", cn);
	else if ((rv = write_pem(key_path, 0600, NULL, key, errmsg)) == ESC_OK)
		rv = write_pem(cert_path, 0644, cert, NULL, errmsg);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rv;
}

int dpki_create(struct dpki *p, const char *dir, size_t n, const char *const hosts[],
		char *errmsg)
{
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	int rv = ESC_OK;

	memset(p, 0, sizeof *p);
	if (strlen(dir) + 32 > DPKI_PATH_MAX)
		return esc_errorf(errmsg, ESC_EINVAL, "%.100s...: too long a directory name", dir);
	if (mkdir(dir, 0700) != 0)
		return esc_errorf(errmsg, ESC_EIO, "cannot create %s: %s", dir, strerror(errno));
	ca_key = pki_key_new();
	ca = ca_key ? pki_cert_new(ca_key, PKI_CA, "escrow drill CA", "ca", NULL, NULL, ca_key,
				   0, DPKI_DAYS)
		    : NULL;
	if (ca == NULL) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "cannot make the drill's CA");
		goto out;
	}
	file_name(p->ca, dir, "ca", "crt");
	if ((rv = write_pem(p->ca, 0644, ca, NULL, errmsg)) != ESC_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char cn[32], san[160], cert[DPKI_PATH_MAX], key[DPKI_PATH_MAX];
		snprintf(cn, sizeof cn, "node-%u", (unsigned)i + 1);
		/* Every address the node is dialled at: loopback, or its namespace's. */
		snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
			 strcmp(hosts[i], "127.0.0.1") != 0 ? ",IP:" : "",
			 strcmp(hosts[i], "127.0.0.1") != 0 ? hosts[i] : "");
		dpki_node_files(dir, (unsigned)i + 1, cert, key);
		if ((rv = leaf(cert, key, PKI_NODE, cn, "node", san, ca, ca_key, errmsg)) != ESC_OK)
			goto out;
	}
	for (int r = 0; r < DPKI__ROLES; r++) {
		file_name(p->cert[r], dir, role_names[r], "crt");
		file_name(p->key[r], dir, role_names[r], "key");
		if ((rv = leaf(p->cert[r], p->key[r], PKI_CLIENT, role_names[r], role_names[r], NULL,
			       ca, ca_key, errmsg)) != ESC_OK)
			goto out;
	}
out:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rv;
}
