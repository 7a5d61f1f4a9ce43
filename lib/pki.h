/* Certificates for escrow's PKI with OpenSSL 3 (ECDSA P-256, SHA-256): what
 * `escrowctl pki init` writes, and what the TLS tests make for themselves
 * (a foreign CA, an expired certificate, a node certificate as a client);
 * and (pki_p12.c) the PKCS#12 file a person imports into a browser. */
#ifndef ESCROW_PKI_H
#define ESCROW_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>

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

/* The size of a passphrase buffer: a passphrase of up to 1022 bytes, its
 * line end, and its NUL. */
#define PKI_PASSPHRASE_SIZE 1024

/* Writes to f the PKCS#12 (DER) of cert, its key, and ca as the chain, with
 * the friendly name name, encrypted with pass (not empty) as OpenSSL 3
 * does by default: PBES2 (PBKDF2 with HMAC-SHA-256, AES-256-CBC) for the
 * key and the certificates, a SHA-256 MAC. What browsers (NSS, Windows)
 * and Node.js import. All borrowed. ESC_ECRYPTO (ESC_ENOMEM) with "why" in
 * errmsg; the caller flushes and closes f. */
int pki_p12_write(FILE *f, EVP_PKEY *key, X509 *cert, X509 *ca, const char *name,
		  const char *pass, char *errmsg);

/* Reads a passphrase into pass: the first line of the file at path, without
 * its "\n" or "\r\n", read with no stdio buffer. ESC_EIO when the file
 * cannot be read, ESC_EINVAL when the line is empty, too long or holds a
 * NUL; errmsg names path. On error pass is wiped; on success all of it
 * past the passphrase is. The caller wipes it after use (OPENSSL_cleanse). */
int pki_passphrase_read(const char *path, char pass[PKI_PASSPHRASE_SIZE], char *errmsg);

/* Asks for a passphrase on the terminal (/dev/tty, echo off), printing
 * prompt, and with again (may be NULL) a second time, printing again.
 * ESC_ENOTFOUND when the process has no terminal, ESC_EINVAL when the
 * answer is empty or too long or the two differ, ESC_EIO when reading
 * fails or a signal came (the terminal is restored first, then the signal
 * raised again). pass and errmsg as for pki_passphrase_read. */
int pki_passphrase_ask(const char *prompt, const char *again, char pass[PKI_PASSPHRASE_SIZE],
		       char *errmsg);

#endif
