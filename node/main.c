/* escrowd: one node of an escrow cluster. */
#include <signal.h>
#include <stdio.h>

#include "node/daemon.h"
#include "node/log.h"
#include "node/options.h"
#include "store/error.h"

int main(int argc, char **argv)
{
	struct options o;
	char errmsg[ESC_ERRMSG_SIZE] = "";
	int rv;

	/* A peer that resets a connection must not kill the node. */
	signal(SIGPIPE, SIG_IGN);
	rv = options_parse(&o, argc, argv, errmsg);
	if (rv == OPTIONS_HELP_SHOWN)
		return 0;
	if (rv != ESC_OK) {
		fprintf(stderr, "escrowd: %s\n(see escrowd --help)\n", errmsg);
		return 2;
	}
	log_init(o.id, o.log_level);
	rv = daemon_run(&o);
	options_close(&o);
	return rv;
}
