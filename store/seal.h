/* Sealing of recovery passwords: AES-256-GCM under the cluster's seal key. */
#ifndef ESCROW_SEAL_H
#define ESCROW_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_SIZE 32
#define SEAL_MAC_SIZE 32
#define SEAL_FINGERPRINT_LEN 16  /* hex characters */
#define SEAL_OVERHEAD (1 + 12 + 16) /* version byte, nonce, tag */
#define SEAL_PLAIN_MAX 64
#define SEAL_SEALED_MAX (SEAL_PLAIN_MAX + SEAL_OVERHEAD)

/* The seal key and the keys derived from it. Wipe with seal_key_close. */
struct seal_key {
	uint8_t key[SEAL_KEY_SIZE];     /* AES-256-GCM key (derived) */
	uint8_t mac_key[SEAL_KEY_SIZE]; /* HMAC-SHA256 key for equality checks (derived) */
	char fingerprint[SEAL_FINGERPRINT_LEN + 1]; /* public: identifies the key, reveals nothing */
};

/* Reads FILE: exactly 32 raw bytes, or 64 hex characters with optional
 * trailing newline. Errors: ESC_ENOTFOUND, ESC_EIO, ESC_EINVAL (wrong size or
 * characters), with errmsg naming the file. */
int seal_key_load(struct seal_key *k, const char *path, char *errmsg);

/* Derives from 32 raw bytes (for tests and seal_key_load). */
void seal_key_init(struct seal_key *k, const uint8_t raw[SEAL_KEY_SIZE]);

/* Overwrites the key material. */
void seal_key_close(struct seal_key *k);

/* Seals plain (at most SEAL_PLAIN_MAX bytes) with a fresh random nonce, binding
 * aad (the key ID) as associated data. Output format, version 1:
 *   u8 version=1 | 12-byte nonce | ciphertext (plain_len) | 16-byte tag
 * out must hold plain_len + SEAL_OVERHEAD bytes; *out_len is set. */
int seal_seal(const struct seal_key *k, const char *aad, const uint8_t *plain,
	      size_t plain_len, uint8_t *out, size_t *out_len, char *errmsg);

/* Opens what seal_seal wrote. plain must hold in_len - SEAL_OVERHEAD bytes.
 * ESC_ECORRUPT for a short or unknown-version input, ESC_ECRYPTO when the tag
 * does not verify (wrong key, wrong aad, any flipped byte). */
int seal_open(const struct seal_key *k, const char *aad, const uint8_t *in,
	      size_t in_len, uint8_t *plain, size_t *plain_len, char *errmsg);

/* HMAC-SHA256(mac_key, key_id || 0 || password): lets the store compare two
 * escrows of the same key without seeing the password. */
void seal_mac(const struct seal_key *k, const char *key_id, const char *password,
	      uint8_t out[SEAL_MAC_SIZE]);

struct seal_mac_ctx;

/* An HMAC context keyed once with k's mac_key, for seal_mac_with: a context
 * made and keyed for each MAC (seal_mac) cost a sealing leader some 20,000
 * instructions per escrow, a tenth of all its work (issue 16). Used by one
 * thread at a time. NULL when k is not ready or memory ran out. */
struct seal_mac_ctx *seal_mac_ctx_new(const struct seal_key *k);

/* Frees m (NULL is fine), its key state wiped. */
void seal_mac_ctx_free(struct seal_mac_ctx *m);

/* seal_mac(k, ...), through m when m was made for k (else, and when m is
 * NULL, as seal_mac does it). */
void seal_mac_with(struct seal_mac_ctx *m, const struct seal_key *k, const char *key_id,
		   const char *password, uint8_t out[SEAL_MAC_SIZE]);

#endif
