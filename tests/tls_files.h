/* Certificates for the TLS unit tests, made with lib/pki.c into a
 * temporary directory: a cluster CA ("ca"), a second CA ("other") for
 * foreign certificates, and the leaves a test lists. */
#ifndef ESCROW_TESTS_TLS_FILES_H
#define ESCROW_TESTS_TLS_FILES_H

#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>

#include "lib/tls_stream.h"
#include "lib/error.h"
#include "lib/pki.h"

enum test_issuer { BY_CA, BY_OTHER_CA, BY_ITSELF };

struct test_leaf {
	const char *name, *cn, *ou;  /* files DIR/NAME.crt and .key */
	enum pki_kind kind;
	enum test_issuer issuer;
	long start, days;            /* validity from today + start, days long */
};

/* DIR/NAME.crt and DIR/NAME.key. */
static inline bool test_write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key)
{
	char path[160];
	FILE *f;
	bool ok;

	snprintf(path, sizeof path, "%s/%s.crt", dir, name);
	f = fopen(path, "w");
	ok = f != NULL && PEM_write_X509(f, cert) == 1;
	if (f != NULL)
		fclose(f);
	snprintf(path, sizeof path, "%s/%s.key", dir, name);
	f = fopen(path, "w");
	ok = ok && f != NULL && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	if (f != NULL)
		fclose(f);
	return ok;
}

/* Writes ca and the n leaves (with subjectAltName san, or none) into dir. */
static inline bool test_make_pki(const char *dir, const struct test_leaf *leaves, size_t n,
				 const char *san)
{
	EVP_PKEY *ca_key = pki_key_new(), *other_key = pki_key_new();
	X509 *ca = pki_cert_new(ca_key, PKI_CA, "ca", "ca", NULL, NULL, ca_key, 0, 30);
	X509 *other = pki_cert_new(other_key, PKI_CA, "ca", "ca", NULL, NULL, other_key, 0, 30);
	bool ok = ca != NULL && other != NULL && test_write_pem(dir, "ca", ca, ca_key);

	for (size_t i = 0; ok && i < n; i++) {
		const struct test_leaf *l = &leaves[i];
		EVP_PKEY *k = pki_key_new();
		X509 *c = pki_cert_new(k, l->kind, l->cn, l->ou, san,
				       l->issuer == BY_CA ? ca : l->issuer == BY_OTHER_CA ? other : NULL,
				       l->issuer == BY_CA ? ca_key
				       : l->issuer == BY_OTHER_CA ? other_key : k,
				       l->start, l->days);
		ok = c != NULL && test_write_pem(dir, l->name, c, k);
		X509_free(c);
		EVP_PKEY_free(k);
	}
	X509_free(ca);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	return ok;
}

/* A context with name's certificate that trusts dir's CA; NULL (reason
 * printed) on error. */
static inline struct tls_ctx *test_tls_ctx(const char *dir, bool server, const char *name)
{
	char ca[160], crt[160], key[160], errmsg[ESC_ERRMSG_SIZE];
	struct tls_ctx *ctx = NULL;

	snprintf(ca, sizeof ca, "%s/ca.crt", dir);
	snprintf(crt, sizeof crt, "%s/%s.crt", dir, name);
	snprintf(key, sizeof key, "%s/%s.key", dir, name);
	if (tls_ctx_new(&ctx, server, ca, crt, key, errmsg) != ESC_OK)
		printf("# %s\n", errmsg);
	return ctx;
}

#endif
