/* The node's certificates (see daemon_tls.h). */
#include "node/daemon_tls.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "node/daemon.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/tls_stream.h"
#include "lib/error.h"

/* Whoever reads the key can pose as this node to every peer and client. */
static int check_key_mode(const char *path, char *errmsg)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return esc_errorf(errmsg, ESC_EINVAL, "--tls-key %s: %s", path, strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return esc_errorf(errmsg, ESC_EINVAL,
				  "--tls-key %s: mode %04o lets group or others read the private "
				  "key; chmod 600 %s",
				  path, (unsigned)(st.st_mode & 07777), path);
	return ESC_OK;
}

static int load(const struct options *o, struct tls_ctx **server, struct tls_ctx **client,
		char *errmsg)
{
	int rv;

	rv = check_key_mode(o->tls_key, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = tls_ctx_new(server, true, o->tls_ca, o->tls_cert, o->tls_key, errmsg);
	if (rv != ESC_OK)
		return rv;
	rv = tls_ctx_new(client, false, o->tls_ca, o->tls_cert, o->tls_key, errmsg);
	if (rv != ESC_OK) {
		tls_ctx_free(*server);
		*server = NULL;
	}
	return rv;
}

#define REFUSED_LOG_WINDOW_S 10   /* refusals logged: at most ... */
#define REFUSED_LOG_LINES 20       /* ... this many lines per window */

/* Anyone can make refusals: a flood of them is summed up, not logged. */
static void tls_refused_cb(struct http_server *s, const char *peer, const char *why)
{
	static struct ratelimit limit =
		RATELIMIT_INIT(REFUSED_LOG_WINDOW_S * 1000, REFUSED_LOG_LINES);
	unsigned dropped;
	bool allowed = ratelimit_allow(&limit, (uint64_t)time(NULL) * 1000, &dropped);

	(void)s;
	if (dropped > 0)
		log_info("api: %u more connections refused in the last %d s", dropped,
			 REFUSED_LOG_WINDOW_S);
	if (allowed)
		log_info("api: refused a connection from %s: %s", peer, why);
}

static void peer_log_cb(struct replica *r, const char *msg)
{
	(void)r;
	log_info("raft peer: %s", msg);
}

static void install(struct daemon *d)
{
	d->replica.peer_log_cb = peer_log_cb;
	d->http.tls = d->tls_server;
	d->http.tls_refused = tls_refused_cb;
	d->client.tls = d->tls_client;
	d->replica.peer_server_ctx = d->tls_server;
	d->replica.peer_client_ctx = d->tls_client;
}

int daemon_tls_load(struct daemon *d, char *errmsg)
{
	int rv;

	if (d->opts->insecure)
		return ESC_OK;
	rv = load(d->opts, &d->tls_server, &d->tls_client, errmsg);
	if (rv == ESC_OK)
		install(d);
	return rv;
}

void daemon_tls_reload(struct daemon *d)
{
	struct tls_ctx *server, *client, *old_server = d->tls_server, *old_client = d->tls_client;
	char errmsg[ESC_ERRMSG_SIZE];

	if (d->opts->insecure) {
		log_info("SIGHUP: no certificates to reload (--insecure)");
		return;
	}
	if (load(d->opts, &server, &client, errmsg) != ESC_OK) {
		log_error("SIGHUP: certificates not reloaded, the node keeps its current ones: %s",
			  errmsg);
		return;
	}
	if (d->replica_inited && replica_set_peer_tls(&d->replica, server, client) != ESC_OK) {
		log_error("SIGHUP: the Raft transport refused the new certificates; the node "
			  "keeps its current ones");
		tls_ctx_free(server);
		tls_ctx_free(client);
		return;
	}
	d->tls_server = server;
	d->tls_client = client;
	install(d);
	/* Open connections hold their own reference to the old contexts. */
	tls_ctx_free(old_server);
	tls_ctx_free(old_client);
	log_info("SIGHUP: certificates reloaded from %s, %s and %s", d->opts->tls_ca,
		 d->opts->tls_cert, d->opts->tls_key);
}

void daemon_tls_free(struct daemon *d)
{
	tls_ctx_free(d->tls_server);
	tls_ctx_free(d->tls_client);
	d->tls_server = NULL;
	d->tls_client = NULL;
}
