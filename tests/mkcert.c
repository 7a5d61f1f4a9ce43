/* A test fixture tool: a client certificate signed by a pki directory's CA
 * with any validity, for process tests that need what `escrowctl pki` never
 * makes (an expired certificate, one not yet valid).
 *
 *   mkcert DIR NAME CN OU START_DAYS DAYS   writes DIR/NAME.crt and .key
 *   mkcert                                  checks itself (TAP, for make check)
 */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tls_files.h"
#include "lib/pki.h"

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return k;
}

static int make(const char *dir, const char *name, const char *cn, const char *ou, long start,
		long days)
{
	char path[512];
	X509 *ca, *cert = NULL;
	EVP_PKEY *ca_key, *key = pki_key_new();
	int rv = 1;

	snprintf(path, sizeof path, "%s/ca.crt", dir);
	ca = read_cert(path);
	snprintf(path, sizeof path, "%s/ca.key", dir);
	ca_key = read_key(path);
	if (ca != NULL && ca_key != NULL && key != NULL)
		cert = pki_cert_new(key, PKI_CLIENT, cn, ou, NULL, ca, ca_key, start, days);
	if (cert != NULL && test_write_pem(dir, name, cert, key)) {
		snprintf(path, sizeof path, "%s/%s.key", dir, name);
		rv = chmod(path, 0600) == 0 ? 0 : 1;
	}
	if (rv != 0)
		fprintf(stderr, "mkcert: cannot make %s/%s from %s/ca.crt and ca.key\n", dir, name,
			dir);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return rv;
}

/* No arguments: make a CA and an expired certificate, and check its dates. */
static int self_check(void)
{
	static const struct test_leaf node[] = {
		{ "node-1", "node-1", "node", PKI_NODE, BY_CA, 0, 30 },
	};
	char dir[] = "/tmp/mkcert.XXXXXX", path[64];
	X509 *x = NULL;
	int ok;

	ok = mkdtemp(dir) != NULL && test_make_pki(dir, node, 1, NULL) &&
	     make(dir, "old", "bob", "helpdesk", -10, 9) == 0;
	snprintf(path, sizeof path, "%s/old.crt", dir);
	if (ok)
		x = read_cert(path);
	ok = ok && x != NULL && X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
	X509_free(x);
	printf("%s 1 - an expired certificate of the directory's CA\n1..1\n", ok ? "ok" : "not ok");
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		fprintf(stderr, "mkcert: could not remove %s\n", dir);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	char *end1, *end2;
	long start, days;

	if (argc == 1)
		return self_check();
	if (argc != 7) {
		fprintf(stderr, "usage: mkcert DIR NAME CN OU START_DAYS DAYS\n");
		return 2;
	}
	start = strtol(argv[5], &end1, 10);
	days = strtol(argv[6], &end2, 10);
	if (*end1 != '\0' || *end2 != '\0' || days < 1) {
		fprintf(stderr, "mkcert: START_DAYS and DAYS are numbers, DAYS at least 1\n");
		return 2;
	}
	return make(argv[1], argv[2], argv[3], argv[4], start, days);
}
