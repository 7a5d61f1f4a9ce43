/* TLS over memory BIOs, with no I/O of its own: the caller feeds the bytes
 * its socket received and sends the bytes this module produces. One module
 * for the API server, follower-to-leader forwarding and the Raft peer
 * transport.
 *
 * Both sides require a certificate from the cluster CA (mutual TLS), TLS 1.2
 * at least, no renegotiation. After the handshake the peer's certificate
 * gives its identity: the CN (the audit actor) and the OU (its role, or
 * "node" for a node). */
#ifndef ESCROW_TLS_STREAM_H
#define ESCROW_TLS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TLS_NAME_MAX 64          /* CN and OU kept from the peer's certificate */

struct tls_ctx;                  /* an OpenSSL SSL_CTX with our settings */

/* A context for servers (server true) or clients, with this side's
 * certificate and key and the CA that must have signed the peer's. Errors:
 * ESC_EINVAL with the file and OpenSSL's reason (a missing file, a key that
 * does not match the certificate...). */
int tls_ctx_new(struct tls_ctx **out, bool server, const char *ca_file, const char *cert_file,
		const char *key_file, char *errmsg);
void tls_ctx_free(struct tls_ctx *ctx);

struct tls_stream {
	void *ssl;                   /* SSL * */
	void *rbio, *wbio;           /* BIO *: network bytes in, network bytes out */
	char *pending;               /* plaintext written before the handshake ended */
	size_t pending_len;
	bool established;            /* handshake done, peer verified */
	bool peer_closed;            /* close_notify received */
	bool failed;
	char why[256];               /* the first failure, repeated by later calls */
	char peer_cn[TLS_NAME_MAX + 1];
	char peer_ou[TLS_NAME_MAX + 1];
};

/* Starts a stream on ctx. A client gives host, the name or IP address the
 * server's certificate must hold (NULL: any name signed by the CA). */
int tls_stream_init(struct tls_stream *s, struct tls_ctx *ctx, const char *host, char *errmsg);
void tls_stream_free(struct tls_stream *s);

/* Takes len bytes received from the network. ESC_ENOMEM only. */
int tls_stream_feed(struct tls_stream *s, const void *data, size_t len);

/* Moves the handshake on and decrypts: > 0 plaintext bytes in buf, 0 when
 * nothing more can be read until more bytes are fed, TLS_STREAM_EOF after
 * the peer's close_notify, TLS_STREAM_ERROR with errmsg (a failed handshake,
 * a bad certificate, a corrupt record; the stream is then dead). Call it
 * after every feed until it returns 0 (a client: once after init, to make its
 * hello), then send what tls_stream_take gives. */
#define TLS_STREAM_EOF (-1)
#define TLS_STREAM_ERROR (-2)
ssize_t tls_stream_read(struct tls_stream *s, void *buf, size_t size, char *errmsg);

/* Encrypts len bytes of plaintext (kept until the handshake ends if it has
 * not). ESC_ECRYPTO, ESC_ENOMEM. */
int tls_stream_write(struct tls_stream *s, const void *data, size_t len, char *errmsg);

/* Queues a close_notify. */
void tls_stream_close(struct tls_stream *s);

/* Bytes waiting to go to the network. */
size_t tls_stream_outgoing(const struct tls_stream *s);

/* Bytes fed and not yet decrypted. */
size_t tls_stream_incoming(const struct tls_stream *s);

/* Moves up to size of them into buf; returns how many. */
size_t tls_stream_take(struct tls_stream *s, void *buf, size_t size);

#endif
