/* escrowd: one node of an escrow cluster. */
#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "node/daemon.h"
#include "lib/log.h"
#include "node/options.h"
#include "lib/error.h"

/* jansson's memory is wiped before it is freed: request bodies it parsed
 * hold recovery passwords, also in the copies it makes while parsing. */
static void wiping_free(void *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

/* Every client connection takes a descriptor: take what the hard limit
 * allows (distributions often start services with a soft limit of 1024),
 * so that the connection cap (HTTP_CONNECTIONS_MAX) is what bounds them. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
	struct options o;
	char errmsg[ESC_ERRMSG_SIZE] = "";
	int rv;

	/* A peer that resets a connection must not kill the node. */
	signal(SIGPIPE, SIG_IGN);
	json_set_alloc_funcs(malloc, wiping_free);
	rv = options_parse(&o, argc, argv, errmsg);
	if (rv == OPTIONS_HELP_SHOWN)
		return 0;
	if (rv != ESC_OK) {
		fprintf(stderr, "escrowd: %s\n(see escrowd --help)\n", errmsg);
		return 2;
	}
	log_init(o.id, o.log_level);
	raise_fd_limit();
	rv = daemon_run(&o);
	options_close(&o);
	return rv;
}
