/* TLS over OpenSSL memory BIOs (see tls_stream.h). */
#include "lib/tls_stream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"

struct tls_ctx {
	SSL_CTX *ssl;
	bool server;
};

/* OpenSSL's reason for the last failure, after what. */
static int ssl_error(char *errmsg, int code, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256] = "no reason given";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	return esc_errorf(errmsg, code, "%s: %s", what, reason);
}

int tls_ctx_new(struct tls_ctx **out, bool server, const char *ca_file, const char *cert_file,
		const char *key_file, char *errmsg)
{
	struct tls_ctx *ctx = calloc(1, sizeof *ctx);
	STACK_OF(X509_NAME) *names;
	char what[600];
	int rv = ESC_OK;

	*out = NULL;
	if (ctx == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "TLS: out of memory");
	ctx->server = server;
	ctx->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx->ssl == NULL) {
		rv = ssl_error(errmsg, ESC_ECRYPTO, "TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION);
	/* Every connection shows its certificate (a reloaded CA applies at
	 * once): no session resumption. Record buffers are wiped after use. */
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
					      SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx->ssl, 0);
	if (SSL_CTX_load_verify_locations(ctx->ssl, ca_file, NULL) != 1) {
		snprintf(what, sizeof what, "--tls-ca %s", ca_file);
		rv = ssl_error(errmsg, ESC_EINVAL, what);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx->ssl, cert_file) != 1) {
		snprintf(what, sizeof what, "--tls-cert %s", cert_file);
		rv = ssl_error(errmsg, ESC_EINVAL, what);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx->ssl, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx->ssl) != 1) {
		snprintf(what, sizeof what, "--tls-key %s", key_file);
		rv = ssl_error(errmsg, ESC_EINVAL, what);
		goto fail;
	}
	/* Mutual TLS: the peer must show a certificate of the same CA. */
	SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (server) {
		names = SSL_load_client_CA_file(ca_file);
		if (names == NULL) {
			snprintf(what, sizeof what, "--tls-ca %s", ca_file);
			rv = ssl_error(errmsg, ESC_EINVAL, what);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx->ssl, names);
	}
	*out = ctx;
	return ESC_OK;
fail:
	tls_ctx_free(ctx);
	return rv;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

int tls_stream_init(struct tls_stream *s, struct tls_ctx *ctx, const char *host, char *errmsg)
{
	unsigned char addr[16];
	SSL *ssl;
	BIO *rbio, *wbio;

	memset(s, 0, sizeof *s);
	ssl = SSL_new(ctx->ssl);
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (ssl == NULL || rbio == NULL || wbio == NULL) {
		SSL_free(ssl);
		BIO_free(rbio);
		BIO_free(wbio);
		return ssl_error(errmsg, ESC_ENOMEM, "TLS stream");
	}
	/* An empty input is "not yet", never end of file. */
	BIO_set_mem_eof_return(rbio, -1);
	SSL_set_bio(ssl, rbio, wbio);
	s->ssl = ssl;
	s->rbio = rbio;
	s->wbio = wbio;
	if (ctx->server) {
		SSL_set_accept_state(ssl);
		return ESC_OK;
	}
	SSL_set_connect_state(ssl);
	if (host != NULL) {
		bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
		if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
		       : SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
			tls_stream_free(s);
			return ssl_error(errmsg, ESC_EINVAL, "TLS peer name");
		}
	}
	return ESC_OK;
}

void tls_stream_free(struct tls_stream *s)
{
	SSL_free(s->ssl); /* and its BIOs */
	if (s->pending != NULL)
		OPENSSL_clear_free(s->pending, s->pending_len);
	memset(s, 0, sizeof *s);
}

int tls_stream_feed(struct tls_stream *s, const void *data, size_t len)
{
	if (len > 0 && BIO_write(s->rbio, data, (int)len) != (int)len)
		return ESC_ENOMEM;
	return ESC_OK;
}

static void peer_names(struct tls_stream *s)
{
	X509 *peer = SSL_get0_peer_certificate(s->ssl);
	X509_NAME *name = peer != NULL ? X509_get_subject_name(peer) : NULL;

	if (name == NULL)
		return;
	X509_NAME_get_text_by_NID(name, NID_commonName, s->peer_cn, sizeof s->peer_cn);
	X509_NAME_get_text_by_NID(name, NID_organizationalUnitName, s->peer_ou,
				  sizeof s->peer_ou);
}

/* Why the handshake or a record failed, in words; kept for later calls. */
static int stream_error(struct tls_stream *s, char *errmsg)
{
	long verify = SSL_get_verify_result(s->ssl);

	s->failed = true;
	if (verify != X509_V_OK) {
		ERR_clear_error();
		esc_errorf(errmsg, ESC_ECRYPTO, "TLS: the peer's certificate: %s",
			   X509_verify_cert_error_string(verify));
	} else {
		ssl_error(errmsg, ESC_ECRYPTO, "TLS");
	}
	snprintf(s->why, sizeof s->why, "%s", errmsg);
	return ESC_ECRYPTO;
}

static int flush_pending(struct tls_stream *s, char *errmsg)
{
	char *p = s->pending;
	size_t len = s->pending_len;
	int rv;

	if (p == NULL)
		return ESC_OK;
	s->pending = NULL;
	s->pending_len = 0;
	rv = tls_stream_write(s, p, len, errmsg);
	OPENSSL_clear_free(p, len);
	return rv;
}

ssize_t tls_stream_read(struct tls_stream *s, void *buf, size_t size, char *errmsg)
{
	int r, e;

	if (s->failed) {
		esc_errorf(errmsg, ESC_ECRYPTO, "%s", s->why);
		return TLS_STREAM_ERROR;
	}
	if (s->peer_closed)
		return TLS_STREAM_EOF;
	/* SSL_get_error reads the thread's error queue: it must start empty. */
	ERR_clear_error();
	if (!s->established) {
		r = SSL_do_handshake(s->ssl);
		if (r != 1) {
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			stream_error(s, errmsg);
			return TLS_STREAM_ERROR;
		}
		s->established = true;
		peer_names(s);
		if (flush_pending(s, errmsg) != ESC_OK)
			return TLS_STREAM_ERROR;
	}
	if (size == 0)
		return 0;
	ERR_clear_error();
	r = SSL_read(s->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
	if (r > 0)
		return r;
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN) {
		s->peer_closed = true;
		return TLS_STREAM_EOF;
	}
	stream_error(s, errmsg);
	return TLS_STREAM_ERROR;
}

int tls_stream_write(struct tls_stream *s, const void *data, size_t len, char *errmsg)
{
	if (s->failed)
		return esc_errorf(errmsg, ESC_ECRYPTO, "%s", s->why);
	if (!s->established) {
		/* Plaintext may be a password: the old copy is wiped, not just freed. */
		char *grown = malloc(s->pending_len + len);
		if (grown == NULL)
			return esc_errorf(errmsg, ESC_ENOMEM, "TLS: out of memory");
		if (s->pending != NULL) {
			memcpy(grown, s->pending, s->pending_len);
			OPENSSL_clear_free(s->pending, s->pending_len);
		}
		memcpy(grown + s->pending_len, data, len);
		s->pending = grown;
		s->pending_len += len;
		/* A client starts the handshake by writing its hello. */
		SSL_do_handshake(s->ssl);
		ERR_clear_error();
		return ESC_OK;
	}
	while (len > 0) {
		int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
		int r;
		ERR_clear_error();
		r = SSL_write(s->ssl, data, chunk);
		if (r <= 0)
			return stream_error(s, errmsg);
		data = (const char *)data + r;
		len -= (size_t)r;
	}
	return ESC_OK;
}

void tls_stream_close(struct tls_stream *s)
{
	if (s->established && !s->failed) {
		SSL_shutdown(s->ssl);
		ERR_clear_error();
	}
}

size_t tls_stream_outgoing(const struct tls_stream *s)
{
	return BIO_ctrl_pending(s->wbio);
}

size_t tls_stream_incoming(const struct tls_stream *s)
{
	return BIO_ctrl_pending(s->rbio);
}

size_t tls_stream_take(struct tls_stream *s, void *buf, size_t size)
{
	int n = BIO_read(s->wbio, buf, size > INT32_MAX ? INT32_MAX : (int)size);

	return n > 0 ? (size_t)n : 0;
}
