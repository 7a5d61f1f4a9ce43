/* Certificates for escrow's PKI with OpenSSL 3 (ECDSA P-256, SHA-256): what
 * `escrowctl pki init` writes, and what the TLS tests make for themselves
 * (a foreign CA, an expired certificate, a node certificate as a client). */
#ifndef ESCROW_PKI_H
#define ESCROW_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

enum pki_kind {
	PKI_CA,       /* the cluster CA: signs, path length 0 */
	PKI_NODE,     /* a node: serves the API and Raft, and is a peer's client */
	PKI_CLIENT,   /* a client of a role: client authentication only */
};

/* A new P-256 key, or NULL. */
EVP_PKEY *pki_key_new(void);

/* A certificate for key with subject O=escrow, OU=ou, CN=cn, valid from
 * start_days (relative to now, may be negative) for days, signed by
 * issuer_key with issuer's name (issuer NULL: self-signed, for PKI_CA).
 * san: subjectAltName for PKI_NODE ("DNS:localhost,IP:127.0.0.1,..."),
 * ignored otherwise. NULL when OpenSSL fails. */
X509 *pki_cert_new(EVP_PKEY *key, enum pki_kind kind, const char *cn, const char *ou,
		   const char *san, X509 *issuer, EVP_PKEY *issuer_key, long start_days,
		   long days);

#endif
