/* Unit tests of store/seal: sealing, opening, key files, fingerprints. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/error.h"
#include "store/seal.h"
#include "tests/unit.h"

static const char pw[] = "000000-000011-000022-000033-000044-000055-000066-000077";
static const char key_id[] = "01234567-89AB-CDEF-0123-456789ABCDEF";

static char tmpdir[64];

static void raw_key(uint8_t raw[SEAL_KEY_SIZE], uint8_t base)
{
	int i;

	for (i = 0; i < SEAL_KEY_SIZE; i++)
		raw[i] = (uint8_t)(base + i * 7);
}

static void key_make(struct seal_key *k, uint8_t base)
{
	uint8_t raw[SEAL_KEY_SIZE];

	raw_key(raw, base);
	seal_key_init(k, raw);
}

/* Writes len bytes to tmpdir/name; returns the path (static buffer). */
static const char *file_write(const char *name, const void *data, size_t len)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		return NULL;
	if (len > 0 && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return NULL;
	}
	if (fclose(f) != 0 || chmod(path, 0600) != 0)
		return NULL;
	return path;
}

static size_t hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	return 2 * n;
}

TEST(seal_round_trip)
{
	uint8_t sealed[SEAL_SEALED_MAX], plain[SEAL_PLAIN_MAX];
	size_t sealed_len = 0, plain_len = 0;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k;

	key_make(&k, 1);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), sealed,
			    &sealed_len, errmsg), ESC_OK);
	CHECK_INT(sealed_len, strlen(pw) + SEAL_OVERHEAD);
	CHECK_INT(sealed[0], 1);
	/* The plaintext does not appear in the sealed bytes. */
	CHECK(memmem(sealed, sealed_len, "000011", 6) == NULL);
	CHECK_INT(seal_open(&k, key_id, sealed, sealed_len, plain, &plain_len,
			    errmsg), ESC_OK);
	CHECK_INT(plain_len, strlen(pw));
	CHECK(memcmp(plain, pw, plain_len) == 0);
	seal_key_close(&k);
}

TEST(seal_empty_and_max_plaintext)
{
	uint8_t sealed[SEAL_SEALED_MAX], plain[SEAL_PLAIN_MAX], big[SEAL_PLAIN_MAX + 1];
	size_t sealed_len = 0, plain_len = 99;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k;

	key_make(&k, 2);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)"", 0, sealed,
			    &sealed_len, errmsg), ESC_OK);
	CHECK_INT(sealed_len, SEAL_OVERHEAD);
	CHECK_INT(seal_open(&k, key_id, sealed, sealed_len, plain, &plain_len,
			    errmsg), ESC_OK);
	CHECK_INT(plain_len, 0);
	memset(big, 'x', sizeof(big));
	CHECK_INT(seal_seal(&k, key_id, big, SEAL_PLAIN_MAX, sealed, &sealed_len,
			    errmsg), ESC_OK);
	CHECK_INT(sealed_len, SEAL_SEALED_MAX);
	CHECK_INT(seal_seal(&k, key_id, big, SEAL_PLAIN_MAX + 1, sealed,
			    &sealed_len, errmsg), ESC_ETOOBIG);
	seal_key_close(&k);
}

TEST(seal_wrong_key_fails)
{
	uint8_t sealed[SEAL_SEALED_MAX], plain[SEAL_PLAIN_MAX];
	size_t sealed_len = 0, plain_len = 0;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k1, k2;

	key_make(&k1, 1);
	key_make(&k2, 2);
	CHECK_INT(seal_seal(&k1, key_id, (const uint8_t *)pw, strlen(pw), sealed,
			    &sealed_len, errmsg), ESC_OK);
	CHECK_INT(seal_open(&k2, key_id, sealed, sealed_len, plain, &plain_len,
			    errmsg), ESC_ECRYPTO);
	CHECK(strstr(errmsg, "authentication") != NULL);
	seal_key_close(&k1);
	seal_key_close(&k2);
}

TEST(seal_every_flipped_byte_fails)
{
	uint8_t sealed[SEAL_SEALED_MAX], bad[SEAL_SEALED_MAX], plain[SEAL_PLAIN_MAX];
	size_t sealed_len = 0, plain_len = 0, i;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k;
	int bit, rv;

	key_make(&k, 3);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), sealed,
			    &sealed_len, errmsg), ESC_OK);
	for (i = 0; i < sealed_len; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, sealed, sealed_len);
			bad[i] ^= (uint8_t)(1u << bit);
			rv = seal_open(&k, key_id, bad, sealed_len, plain,
				       &plain_len, errmsg);
			/* The version byte is refused as corrupt, the rest
			 * fails authentication. */
			CHECK_INT(rv, i == 0 ? ESC_ECORRUPT : ESC_ECRYPTO);
		}
	}
	/* Truncated by one byte and short inputs. */
	CHECK_INT(seal_open(&k, key_id, sealed, sealed_len - 1, plain, &plain_len,
			    errmsg), ESC_ECRYPTO);
	CHECK_INT(seal_open(&k, key_id, sealed, SEAL_OVERHEAD - 1, plain,
			    &plain_len, errmsg), ESC_ECORRUPT);
	CHECK_INT(seal_open(&k, key_id, sealed, 0, plain, &plain_len, errmsg),
		  ESC_ECORRUPT);
	seal_key_close(&k);
}

TEST(seal_wrong_aad_fails)
{
	uint8_t sealed[SEAL_SEALED_MAX], plain[SEAL_PLAIN_MAX];
	size_t sealed_len = 0, plain_len = 0;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k;

	key_make(&k, 4);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), sealed,
			    &sealed_len, errmsg), ESC_OK);
	CHECK_INT(seal_open(&k, "01234567-89AB-CDEF-0123-456789ABCDEE", sealed,
			    sealed_len, plain, &plain_len, errmsg), ESC_ECRYPTO);
	CHECK_INT(seal_open(&k, "", sealed, sealed_len, plain, &plain_len, errmsg),
		  ESC_ECRYPTO);
	CHECK_INT(seal_open(&k, NULL, sealed, sealed_len, plain, &plain_len,
			    errmsg), ESC_ECRYPTO);
	seal_key_close(&k);
}

TEST(seal_twice_differs)
{
	uint8_t a[SEAL_SEALED_MAX], b[SEAL_SEALED_MAX];
	size_t alen = 0, blen = 0;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k;

	key_make(&k, 5);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), a, &alen,
			    errmsg), ESC_OK);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), b, &blen,
			    errmsg), ESC_OK);
	CHECK_INT(alen, blen);
	CHECK(memcmp(a, b, alen) != 0);
	CHECK(memcmp(a + 1, b + 1, 12) != 0); /* fresh nonce */
	seal_key_close(&k);
}

/* Nonces are drawn many at a time: none repeats across several draws. */
TEST(seal_nonces_never_repeat)
{
	enum { N = 200 };
	static uint8_t nonce[N][12];
	uint8_t out[SEAL_SEALED_MAX];
	size_t len = 0;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k;

	key_make(&k, 6);
	for (int i = 0; i < N; i++) {
		CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), out, &len,
				    errmsg), ESC_OK);
		memcpy(nonce[i], out + 1, 12);
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			CHECK(memcmp(nonce[i], nonce[j], 12) != 0);
	seal_key_close(&k);
}

/* A forked child does not seal with the nonces its parent drew and has
 * yet to use: the parent's next seal and the child's first differ. */
TEST(seal_nonce_after_fork_differs)
{
	uint8_t parent[SEAL_SEALED_MAX], child[SEAL_SEALED_MAX];
	size_t len = 0;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k;
	int fds[2], status = -1;
	ssize_t got;
	pid_t pid;

	key_make(&k, 7);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), parent, &len, errmsg),
		  ESC_OK);
	CHECK_INT(pipe(fds), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		size_t clen = 0;
		int ok = seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), child, &clen,
				   errmsg) == ESC_OK &&
			 write(fds[1], child + 1, 12) == 12;
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), parent, &len, errmsg),
		  ESC_OK);
	got = read(fds[0], child + 1, 12);
	close(fds[0]);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT(got, 12);
	CHECK(memcmp(parent + 1, child + 1, 12) != 0);
	seal_key_close(&k);
}

TEST(seal_uninitialised_key_refused)
{
	uint8_t sealed[SEAL_SEALED_MAX], plain[SEAL_PLAIN_MAX];
	size_t sealed_len = 0, plain_len = 0;
	char errmsg[ESC_ERRMSG_SIZE];
	struct seal_key k, zero;

	key_make(&k, 6);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), sealed,
			    &sealed_len, errmsg), ESC_OK);
	seal_key_close(&k);
	memset(&zero, 0, sizeof(zero));
	CHECK(memcmp(&k, &zero, sizeof(k)) == 0);
	CHECK_INT(seal_seal(&k, key_id, (const uint8_t *)pw, strlen(pw), sealed,
			    &sealed_len, errmsg), ESC_ECRYPTO);
	CHECK_INT(seal_open(&k, key_id, sealed, sealed_len, plain, &plain_len,
			    errmsg), ESC_ECRYPTO);
}

TEST(mac_binds_key_id_and_password)
{
	uint8_t a[SEAL_MAC_SIZE], b[SEAL_MAC_SIZE], c[SEAL_MAC_SIZE];
	uint8_t d[SEAL_MAC_SIZE], e[SEAL_MAC_SIZE];
	struct seal_key k1, k2;

	key_make(&k1, 7);
	key_make(&k2, 8);
	seal_mac(&k1, key_id, pw, a);
	seal_mac(&k1, key_id, pw, b);
	CHECK(memcmp(a, b, SEAL_MAC_SIZE) == 0);
	seal_mac(&k1, "01234567-89AB-CDEF-0123-456789ABCDEE", pw, c);
	CHECK(memcmp(a, c, SEAL_MAC_SIZE) != 0);
	seal_mac(&k1, key_id, "000000-000011-000022-000033-000044-000055-000066-000088", d);
	CHECK(memcmp(a, d, SEAL_MAC_SIZE) != 0);
	seal_mac(&k2, key_id, pw, e);
	CHECK(memcmp(a, e, SEAL_MAC_SIZE) != 0);
	/* The separator keeps "ab"+"c" apart from "a"+"bc". */
	seal_mac(&k1, "ab", "c", c);
	seal_mac(&k1, "a", "bc", d);
	CHECK(memcmp(c, d, SEAL_MAC_SIZE) != 0);
	seal_key_close(&k1);
	seal_key_close(&k2);
}

/* The context keyed once gives seal_mac's MAC at every use, for its own
 * key only: another key's MAC through it is that key's. */
TEST(mac_with_a_kept_context_is_seal_mac)
{
	uint8_t want[SEAL_MAC_SIZE], got[SEAL_MAC_SIZE];
	char id[64], pass[64];
	struct seal_key k1, k2, none;
	struct seal_mac_ctx *m;

	key_make(&k1, 7);
	key_make(&k2, 8);
	memset(&none, 0, sizeof none);
	CHECK(seal_mac_ctx_new(&none) == NULL);
	m = seal_mac_ctx_new(&k1);
	CHECK(m != NULL);
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof id, "%08X-89AB-CDEF-0123-456789ABCDEF", (unsigned)i * 2654435761u);
		snprintf(pass, sizeof pass, "%06d-000011-000022-000033-000044-000055-000066-%06d",
			 i, 999999 - i);
		seal_mac(&k1, id, pass, want);
		seal_mac_with(m, &k1, id, pass, got);
		CHECK(memcmp(want, got, SEAL_MAC_SIZE) == 0);
	}
	seal_mac(&k2, key_id, pw, want);
	seal_mac_with(m, &k2, key_id, pw, got);
	CHECK(memcmp(want, got, SEAL_MAC_SIZE) == 0);
	seal_mac(&k1, key_id, pw, want);
	seal_mac_with(NULL, &k1, key_id, pw, got);
	CHECK(memcmp(want, got, SEAL_MAC_SIZE) == 0);
	seal_mac_ctx_free(m);
	seal_mac_ctx_free(NULL);
	seal_key_close(&k1);
	seal_key_close(&k2);
}

TEST(fingerprint_stable_and_per_key)
{
	struct seal_key a, b, c;
	uint8_t raw[SEAL_KEY_SIZE];
	char hex[2 * SEAL_KEY_SIZE + 1];
	size_t i;

	key_make(&a, 9);
	key_make(&b, 9);
	key_make(&c, 10);
	CHECK_INT(strlen(a.fingerprint), SEAL_FINGERPRINT_LEN);
	CHECK_STR(a.fingerprint, b.fingerprint);
	CHECK(strcmp(a.fingerprint, c.fingerprint) != 0);
	for (i = 0; i < SEAL_FINGERPRINT_LEN; i++)
		CHECK(strchr("0123456789abcdef", a.fingerprint[i]) != NULL);
	/* It reveals neither the raw key nor the derived keys. */
	raw_key(raw, 9);
	hex[hex_encode(raw, SEAL_KEY_SIZE, hex)] = '\0';
	CHECK(strstr(hex, a.fingerprint) == NULL);
	hex[hex_encode(a.key, SEAL_KEY_SIZE, hex)] = '\0';
	CHECK(strstr(hex, a.fingerprint) == NULL);
	hex[hex_encode(a.mac_key, SEAL_KEY_SIZE, hex)] = '\0';
	CHECK(strstr(hex, a.fingerprint) == NULL);
	CHECK(memcmp(a.key, raw, SEAL_KEY_SIZE) != 0);
	CHECK(memcmp(a.key, a.mac_key, SEAL_KEY_SIZE) != 0);
	seal_key_close(&a);
	seal_key_close(&b);
	seal_key_close(&c);
}

TEST(key_load_raw_and_hex)
{
	char errmsg[ESC_ERRMSG_SIZE], hex[2 * SEAL_KEY_SIZE + 4];
	struct seal_key want, got;
	uint8_t raw[SEAL_KEY_SIZE];
	const char *path;
	size_t n;

	raw_key(raw, 11);
	seal_key_init(&want, raw);

	path = file_write("raw.key", raw, SEAL_KEY_SIZE);
	CHECK(path != NULL);
	CHECK_INT(seal_key_load(&got, path, errmsg), ESC_OK);
	CHECK(memcmp(&got, &want, sizeof(got)) == 0);

	n = hex_encode(raw, SEAL_KEY_SIZE, hex);
	path = file_write("hex.key", hex, n);
	CHECK_INT(seal_key_load(&got, path, errmsg), ESC_OK);
	CHECK(memcmp(&got, &want, sizeof(got)) == 0);

	hex[n] = '\n';
	path = file_write("hexnl.key", hex, n + 1);
	CHECK_INT(seal_key_load(&got, path, errmsg), ESC_OK);
	CHECK(memcmp(&got, &want, sizeof(got)) == 0);

	hex[n] = '\r';
	hex[n + 1] = '\n';
	path = file_write("hexcrlf.key", hex, n + 2);
	CHECK_INT(seal_key_load(&got, path, errmsg), ESC_OK);
	CHECK_STR(got.fingerprint, want.fingerprint);

	for (n = 0; n < 2 * SEAL_KEY_SIZE; n++)
		hex[n] = (char)(hex[n] >= 'a' ? hex[n] - 'a' + 'A' : hex[n]);
	path = file_write("HEX.key", hex, 2 * SEAL_KEY_SIZE);
	CHECK_INT(seal_key_load(&got, path, errmsg), ESC_OK);
	CHECK_STR(got.fingerprint, want.fingerprint);
	seal_key_close(&got);
	seal_key_close(&want);
}

TEST(key_load_refuses_bad_files)
{
	char errmsg[ESC_ERRMSG_SIZE], hex[2 * SEAL_KEY_SIZE + 8], path2[160];
	uint8_t raw[SEAL_KEY_SIZE + 1];
	struct seal_key k;
	const char *path;
	size_t n;

	raw_key(raw, 12);
	path = file_write("short.key", raw, SEAL_KEY_SIZE - 1);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, path) != NULL);
	CHECK(strstr(errmsg, "31 bytes") != NULL);

	path = file_write("long.key", raw, SEAL_KEY_SIZE + 1);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "33 bytes") != NULL);

	n = hex_encode(raw, SEAL_KEY_SIZE, hex);
	path = file_write("hex63.key", hex, n - 1);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "63 bytes") != NULL);

	hex[10] = 'g';
	path = file_write("nonhex.key", hex, n);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "character 11") != NULL);
	CHECK(strstr(errmsg, "hex") != NULL);

	hex_encode(raw, SEAL_KEY_SIZE, hex);
	memcpy(hex + n, "\n\n", 2);
	path = file_write("twonl.key", hex, n + 2);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);

	memcpy(hex + n, " \n", 2);
	path = file_write("space.key", hex, n + 2);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);

	memset(hex, '0', sizeof(hex));
	path = file_write("huge.key", hex, sizeof(hex));
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "more than") != NULL);

	path = file_write("empty.key", "", 0);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "0 bytes") != NULL);

	/* A good key that group or others may read is refused, naming the fix. */
	raw_key(raw, 13);
	path = file_write("shared.key", raw, SEAL_KEY_SIZE);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_OK);
	CHECK(chmod(path, 0640) == 0);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "mode 0640 lets group or others at it; chmod 600") != NULL);
	CHECK(chmod(path, 0604) == 0);
	CHECK_INT(seal_key_load(&k, path, errmsg), ESC_EINVAL);

	snprintf(path2, sizeof(path2), "%s/missing.key", tmpdir);
	CHECK_INT(seal_key_load(&k, path2, errmsg), ESC_ENOTFOUND);
	CHECK(strstr(errmsg, path2) != NULL);

	CHECK_INT(seal_key_load(&k, tmpdir, errmsg), ESC_EINVAL);
	CHECK(strstr(errmsg, "regular file") != NULL);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_seal.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	RUN(seal_round_trip);
	RUN(seal_empty_and_max_plaintext);
	RUN(seal_wrong_key_fails);
	RUN(seal_every_flipped_byte_fails);
	RUN(seal_wrong_aad_fails);
	RUN(seal_twice_differs);
	RUN(seal_nonces_never_repeat);
	RUN(seal_nonce_after_fork_differs);
	RUN(seal_uninitialised_key_refused);
	RUN(mac_binds_key_id_and_password);
	RUN(mac_with_a_kept_context_is_seal_mac);
	RUN(fingerprint_stable_and_per_key);
	RUN(key_load_raw_and_hex);
	RUN(key_load_refuses_bad_files);
	unit_remove_tree(tmpdir); /* every file a test wrote, then the dir */
	return unit_done();
}
