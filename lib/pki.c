/* escrow's certificates: keys, subjects, extensions per kind. */
#include "lib/pki.h"

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>

EVP_PKEY *pki_key_new(void)
{
	return EVP_EC_gen("P-256");
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *ou, X509 *issuer,
		       EVP_PKEY *issuer_key, long start_days, long days,
		       const char *const exts[][2], size_t n_exts)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	bool ok;

	if (cert == NULL)
		return NULL;
	name = X509_get_subject_name(cert);
	ok = RAND_bytes(serial, sizeof serial) == 1;
	serial[0] &= 0x7f; /* positive */
	ok = ok && (bn = BN_bin2bn(serial, sizeof serial, NULL)) != NULL &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL &&
	     X509_set_version(cert, 2) == 1 &&
	     /* An hour back: clocks of a cluster differ a little. */
	     X509_gmtime_adj(X509_getm_notBefore(cert), start_days * 86400L - 3600) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(cert), (start_days + days) * 86400L) != NULL &&
	     X509_set_pubkey(cert, key) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"escrow",
					-1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1,
					-1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) == 1 &&
	     X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) == 1;
	BN_free(bn);
	for (size_t i = 0; ok && i < n_exts; i++)
		ok = add_ext(cert, issuer ? issuer : cert, OBJ_txt2nid(exts[i][0]), exts[i][1]);
	ok = ok && X509_sign(cert, issuer_key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

X509 *pki_cert_new(EVP_PKEY *key, enum pki_kind kind, const char *cn, const char *ou,
		   const char *san, X509 *issuer, EVP_PKEY *issuer_key, long start_days,
		   long days)
{
	const char *const ca[][2] = {
		{ "basicConstraints", "critical,CA:TRUE,pathlen:0" },
		{ "keyUsage", "critical,keyCertSign,cRLSign" },
		{ "subjectKeyIdentifier", "hash" },
	};
	const char *const node[][2] = {
		{ "basicConstraints", "critical,CA:FALSE" },
		{ "keyUsage", "critical,digitalSignature" },
		{ "extendedKeyUsage", "serverAuth,clientAuth" },
		{ "subjectKeyIdentifier", "hash" },
		{ "authorityKeyIdentifier", "keyid" },
		{ "subjectAltName", san != NULL ? san : "DNS:localhost,IP:127.0.0.1" },
	};
	const char *const client[][2] = {
		{ "basicConstraints", "critical,CA:FALSE" },
		{ "keyUsage", "critical,digitalSignature" },
		{ "extendedKeyUsage", "clientAuth" },
		{ "subjectKeyIdentifier", "hash" },
		{ "authorityKeyIdentifier", "keyid" },
	};

	switch (kind) {
	case PKI_CA:
		return make_cert(key, cn, ou, NULL, issuer_key, start_days, days, ca, 3);
	case PKI_NODE:
		return make_cert(key, cn, ou, issuer, issuer_key, start_days, days, node, 6);
	default:
		return make_cert(key, cn, ou, issuer, issuer_key, start_days, days, client, 5);
	}
}
