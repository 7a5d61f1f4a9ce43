/* Sealing of recovery passwords: AES-256-GCM under the cluster's seal key.
 *
 * The 32 raw bytes of the seal key file are never used directly: the AES key
 * and the MAC key are HMAC-SHA256(raw, label) with distinct labels, and the
 * fingerprint is the start of SHA-256(label || raw). */
#include "store/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lib/durable.h"
#include "lib/error.h"

#define SEAL_VERSION 1
#define SEAL_NONCE_SIZE 12
#define SEAL_TAG_SIZE 16
#define SEAL_HEX_SIZE (2 * SEAL_KEY_SIZE)
#define SEAL_FILE_READ_MAX (SEAL_HEX_SIZE + 3) /* enough to see "too long" */

static const char label_aes[] = "escrow seal key v1: aes-256-gcm";
static const char label_mac[] = "escrow seal key v1: password mac";
static const char label_fpr[] = "escrow seal key v1: fingerprint";

/* OpenSSL 3 looks an algorithm up in its providers on every
 * EVP_EncryptInit_ex(EVP_aes_256_gcm()) and EVP_MAC_fetch, under a lock:
 * fetched once here, a seal took 2.7 µs instead of 3.1 µs, an open 0.6 µs
 * instead of 0.85 µs and a MAC 0.95 µs instead of 1.1 µs (loops of 100,000
 * on this machine; what was left of a seal was mostly RAND_bytes' getpid
 * and OSSL_PARAM lookups). NULL when the fetch failed: each call then does
 * its own, as before. */
static EVP_CIPHER *gcm_cipher;
static EVP_MAC *hmac_mac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* RAND_bytes cost a sealing leader 4 % of its CPU (each call checks for a
 * fork with a getpid system call and takes the DRBG's lock): each thread
 * draws SEAL_NONCE_BATCH nonces in one call and uses each once. A fork's
 * child forgets the pool it inherited (nonces_forget runs in the forking
 * thread, the only one the child has), so it never repeats its parent's. */
#define SEAL_NONCE_BATCH 32
static _Thread_local struct {
	uint8_t bytes[SEAL_NONCE_BATCH * SEAL_NONCE_SIZE];
	unsigned left;
} nonces;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void nonces_forget(void)
{
	nonces.left = 0;
}

static void nonces_atfork(void)
{
	pthread_atfork(NULL, NULL, nonces_forget);
}

/* A fresh random nonce into out; 0 when no random bytes could be had. */
static int nonce_take(uint8_t out[SEAL_NONCE_SIZE])
{
	uint8_t *slot;

	pthread_once(&atfork_once, nonces_atfork);
	if (nonces.left == 0) {
		if (RAND_bytes(nonces.bytes, sizeof nonces.bytes) != 1)
			return 0;
		nonces.left = SEAL_NONCE_BATCH;
	}
	slot = nonces.bytes + --nonces.left * SEAL_NONCE_SIZE;
	memcpy(out, slot, SEAL_NONCE_SIZE);
	memset(slot, 0, SEAL_NONCE_SIZE);
	return 1;
}

static const EVP_CIPHER *gcm(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
	return gcm_cipher != NULL ? gcm_cipher : EVP_aes_256_gcm();
}

static int derive(const uint8_t raw[SEAL_KEY_SIZE], const char *label,
		  uint8_t out[SEAL_KEY_SIZE])
{
	unsigned int len = SEAL_KEY_SIZE;

	return HMAC(EVP_sha256(), raw, SEAL_KEY_SIZE,
		    (const unsigned char *)label, strlen(label), out, &len) != NULL &&
	       len == SEAL_KEY_SIZE;
}

/* A key whose derivation failed (OpenSSL out of memory) or that was never
 * initialised has an empty fingerprint: it seals and opens nothing. */
static int key_ready(const struct seal_key *k)
{
	return k->fingerprint[0] != '\0';
}

void seal_key_init(struct seal_key *k, const uint8_t raw[SEAL_KEY_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[32];
	EVP_MD_CTX *md;
	unsigned int dlen = 0;
	int i;

	memset(digest, 0, sizeof(digest));
	md = EVP_MD_CTX_new();
	if (!derive(raw, label_aes, k->key) ||
	    !derive(raw, label_mac, k->mac_key) ||
	    md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, label_fpr, strlen(label_fpr)) != 1 ||
	    EVP_DigestUpdate(md, raw, SEAL_KEY_SIZE) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &dlen) != 1)
		dlen = 0;
	EVP_MD_CTX_free(md);
	if (dlen != sizeof(digest)) {
		OPENSSL_cleanse(k, sizeof(*k));
		return;
	}
	for (i = 0; i < SEAL_FINGERPRINT_LEN / 2; i++) {
		k->fingerprint[2 * i] = hex[digest[i] >> 4];
		k->fingerprint[2 * i + 1] = hex[digest[i] & 0xf];
	}
	k->fingerprint[SEAL_FINGERPRINT_LEN] = '\0';
}

void seal_key_close(struct seal_key *k)
{
	if (k != NULL)
		OPENSSL_cleanse(k, sizeof(*k));
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads at most SEAL_FILE_READ_MAX bytes of path into buf; *n is what was
 * read (SEAL_FILE_READ_MAX means "at least that many"). */
static int read_small_file(const char *path, uint8_t *buf, size_t *n,
			   char *errmsg)
{
	struct stat st;
	ssize_t r;
	int fd, rv = ESC_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return esc_errorf(errmsg, ESC_ENOTFOUND,
					  "seal key %s: no such file", path);
		return esc_errorf(errmsg, ESC_EIO, "seal key %s: %s", path,
				  strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "seal key %s: %s", path,
				strerror(errno));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = esc_errorf(errmsg, ESC_EINVAL,
				"seal key %s: not a regular file", path);
		goto err_close;
	}
	/* Whoever reads it can read every recovery password of a snapshot. */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rv = esc_errorf(errmsg, ESC_EINVAL,
				"seal key %s: mode %04o lets group or others at it; chmod 600 %s",
				path, (unsigned)(st.st_mode & 07777), path);
		goto err_close;
	}
	r = durable_read(fd, buf, SEAL_FILE_READ_MAX);
	if (r < 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "seal key %s: %s", path, strerror(errno));
		goto err_close;
	}
	*n = (size_t)r;
err_close:
	close(fd);
	return rv;
}

int seal_key_load(struct seal_key *k, const char *path, char *errmsg)
{
	uint8_t buf[SEAL_FILE_READ_MAX];
	uint8_t raw[SEAL_KEY_SIZE];
	size_t n = 0, hexlen, i;
	int rv;

	rv = read_small_file(path, buf, &n, errmsg);
	if (rv != ESC_OK)
		goto out;
	if (n == SEAL_KEY_SIZE) {
		memcpy(raw, buf, SEAL_KEY_SIZE);
		goto derive;
	}
	hexlen = n;
	if (hexlen > 0 && buf[hexlen - 1] == '\n') {
		hexlen--;
		if (hexlen > 0 && buf[hexlen - 1] == '\r')
			hexlen--;
	}
	if (hexlen != SEAL_HEX_SIZE) {
		if (n >= SEAL_FILE_READ_MAX)
			rv = esc_errorf(errmsg, ESC_EINVAL,
					"seal key %s: more than %d bytes, expected "
					"32 raw bytes or 64 hex characters",
					path, SEAL_HEX_SIZE + 2);
		else
			rv = esc_errorf(errmsg, ESC_EINVAL,
					"seal key %s: %zu bytes, expected 32 raw "
					"bytes or 64 hex characters", path, n);
		goto out;
	}
	for (i = 0; i < SEAL_KEY_SIZE; i++) {
		int hi = hex_value((char)buf[2 * i]);
		int lo = hex_value((char)buf[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			rv = esc_errorf(errmsg, ESC_EINVAL,
					"seal key %s: character %zu is not a hex "
					"digit, expected 32 raw bytes or 64 hex "
					"characters", path,
					hi < 0 ? 2 * i + 1 : 2 * i + 2);
			goto out;
		}
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
derive:
	seal_key_init(k, raw);
	if (!key_ready(k))
		rv = esc_errorf(errmsg, ESC_ECRYPTO,
				"seal key %s: deriving the keys failed", path);
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(buf, sizeof(buf));
	return rv;
}

int seal_seal(const struct seal_key *k, const char *aad, const uint8_t *plain,
	      size_t plain_len, uint8_t *out, size_t *out_len, char *errmsg)
{
	const uint8_t version = SEAL_VERSION;
	EVP_CIPHER_CTX *ctx;
	uint8_t *nonce = out + 1;
	uint8_t *ct = out + 1 + SEAL_NONCE_SIZE;
	int len = 0, fin = 0, rv = ESC_OK;

	if (aad == NULL)
		aad = "";
	if (!key_ready(k))
		return esc_errorf(errmsg, ESC_ECRYPTO, "seal: no usable seal key");
	if (plain_len > SEAL_PLAIN_MAX)
		return esc_errorf(errmsg, ESC_ETOOBIG,
				  "seal: %zu bytes of plaintext, at most %d",
				  plain_len, SEAL_PLAIN_MAX);
	if (!nonce_take(nonce))
		return esc_errorf(errmsg, ESC_ECRYPTO,
				  "seal: no random bytes for the nonce");
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "seal: out of memory");
	out[0] = version;
	/* The version byte is authenticated along with the key ID. */
	if (EVP_EncryptInit_ex(ctx, gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_SIZE,
				NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, &version, 1) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *)aad,
			      (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &len, plain, (int)plain_len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_SIZE,
				ct + plain_len) != 1) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO, "seal: encryption failed");
		OPENSSL_cleanse(out, plain_len + SEAL_OVERHEAD);
		goto out;
	}
	*out_len = plain_len + SEAL_OVERHEAD;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rv;
}

int seal_open(const struct seal_key *k, const char *aad, const uint8_t *in,
	      size_t in_len, uint8_t *plain, size_t *plain_len, char *errmsg)
{
	EVP_CIPHER_CTX *ctx;
	const uint8_t *nonce = in + 1;
	const uint8_t *ct = in + 1 + SEAL_NONCE_SIZE;
	uint8_t tag[SEAL_TAG_SIZE];
	size_t ct_len;
	int len = 0, fin = 0, rv = ESC_OK;

	if (aad == NULL)
		aad = "";
	if (!key_ready(k))
		return esc_errorf(errmsg, ESC_ECRYPTO,
				  "open sealed data: no usable seal key");
	if (in_len < SEAL_OVERHEAD)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "open sealed data: %zu bytes, at least %d needed",
				  in_len, SEAL_OVERHEAD);
	if (in_len > SEAL_SEALED_MAX)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "open sealed data: %zu bytes, at most %d",
				  in_len, SEAL_SEALED_MAX);
	if (in[0] != SEAL_VERSION)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "open sealed data: unknown format version %u",
				  (unsigned)in[0]);
	ct_len = in_len - SEAL_OVERHEAD;
	memcpy(tag, ct + ct_len, SEAL_TAG_SIZE);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "open sealed data: out of memory");
	if (EVP_DecryptInit_ex(ctx, gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_SIZE,
				NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, in, 1) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)aad,
			      (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &len, ct, (int)ct_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_SIZE,
				tag) != 1) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO,
				"open sealed data: decryption failed");
		OPENSSL_cleanse(plain, ct_len);
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, plain + len, &fin) != 1) {
		rv = esc_errorf(errmsg, ESC_ECRYPTO,
				"open sealed data: authentication failed (wrong "
				"seal key, wrong key ID or altered data)");
		OPENSSL_cleanse(plain, ct_len);
		goto out;
	}
	*plain_len = ct_len;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rv;
}

/* A context for HMAC-SHA256 under k's mac_key, keyed; NULL when k is not
 * ready or OpenSSL failed. */
static EVP_MAC_CTX *mac_ctx_keyed(const struct seal_key *k)
{
	OSSL_PARAM params[2];
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	pthread_once(&fetch_once, fetch_algorithms);
	if (key_ready(k))
		mac = hmac_mac != NULL && EVP_MAC_up_ref(hmac_mac) == 1
			      ? hmac_mac
			      : EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac != NULL)
		ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (ctx != NULL && EVP_MAC_init(ctx, k->mac_key, SEAL_KEY_SIZE, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* MACs key_id || 0 || password with ctx, keyed and started; false when
 * OpenSSL failed. */
static bool mac_run(EVP_MAC_CTX *ctx, const char *key_id, const char *password,
		    uint8_t out[SEAL_MAC_SIZE])
{
	static const uint8_t zero = 0;
	size_t len = 0;

	return EVP_MAC_update(ctx, (const uint8_t *)key_id, strlen(key_id)) == 1 &&
	       EVP_MAC_update(ctx, &zero, 1) == 1 &&
	       EVP_MAC_update(ctx, (const uint8_t *)password, strlen(password)) == 1 &&
	       EVP_MAC_final(ctx, out, &len, SEAL_MAC_SIZE) == 1 && len == SEAL_MAC_SIZE;
}

/* No usable key, or OpenSSL ran out of memory. Random bytes make the
 * comparison fail safe: a re-escrow reports a conflict, never a false
 * "unchanged". */
static void mac_failed(uint8_t out[SEAL_MAC_SIZE])
{
	if (RAND_bytes(out, SEAL_MAC_SIZE) != 1)
		memset(out, 0xa5, SEAL_MAC_SIZE);
}

void seal_mac(const struct seal_key *k, const char *key_id, const char *password,
	      uint8_t out[SEAL_MAC_SIZE])
{
	EVP_MAC_CTX *ctx = mac_ctx_keyed(k);

	if (ctx == NULL || !mac_run(ctx, key_id, password, out))
		mac_failed(out);
	EVP_MAC_CTX_free(ctx);
}

struct seal_mac_ctx {
	EVP_MAC_CTX *ctx;
	char fingerprint[SEAL_FINGERPRINT_LEN + 1]; /* of the key it was made for */
};

struct seal_mac_ctx *seal_mac_ctx_new(const struct seal_key *k)
{
	struct seal_mac_ctx *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	m->ctx = mac_ctx_keyed(k);
	if (m->ctx == NULL) {
		free(m);
		return NULL;
	}
	memcpy(m->fingerprint, k->fingerprint, sizeof m->fingerprint);
	return m;
}

void seal_mac_ctx_free(struct seal_mac_ctx *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->ctx); /* OpenSSL wipes the key state */
	free(m);
}

void seal_mac_with(struct seal_mac_ctx *m, const struct seal_key *k, const char *key_id,
		   const char *password, uint8_t out[SEAL_MAC_SIZE])
{
	/* A NULL key starts the context again from the key set once: the
	 * inner and outer hash states it keeps, not the key hashed again. */
	if (m != NULL && key_ready(k) && strcmp(m->fingerprint, k->fingerprint) == 0 &&
	    EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1 && mac_run(m->ctx, key_id, password, out))
		return;
	seal_mac(k, key_id, password, out);
}
