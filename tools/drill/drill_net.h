/* The network `escrowctl drill run` builds for partitions (root only): each
 * node in a network namespace of its own, joined by veth pairs to a bridge in
 * a "switch" namespace, where the drill itself runs its clients. Partitions
 * are blackhole routes inside the nodes' namespaces; the host's network is
 * never touched. Built with iproute2's `ip`. */
#ifndef ESCROW_DRILL_NET_H
#define ESCROW_DRILL_NET_H

#include <stdbool.h>
#include <stddef.h>

#define DNET_NODES_MAX 7
#define DNET_NAME_MAX 32
#define DNET_SUBNET "10.98.0."       /* nodes .1 to .N, the switch .254 */

struct dnet {
	size_t n;                        /* 0: not built */
	char sw[DNET_NAME_MAX];          /* the switch namespace */
	char ns[DNET_NODES_MAX][DNET_NAME_MAX];
	bool made[DNET_NODES_MAX + 1];   /* which namespaces exist (last: switch) */
	bool cut[DNET_NODES_MAX][DNET_NODES_MAX]; /* [from][to]: packets dropped */
};

/* NULL when this process can build the network (root, `ip` runs), else why
 * not, in words. */
const char *dnet_unavailable(void);

/* Removes namespaces left by drills whose process is gone, then builds the
 * network for n nodes. On failure whatever was built is removed. */
int dnet_create(struct dnet *net, size_t n, char *errmsg);

/* Node i's address (no port) into out. */
void dnet_addr(unsigned i, char *out, size_t size);

/* Moves the calling process into the switch namespace (the drill's clients
 * reach every node from there). */
int dnet_enter_switch(const struct dnet *net, char *errmsg);

/* In a child after fork: moves it into node i's namespace. 0 or -1; uses
 * only async-signal-safe calls. */
int dnet_enter_node(const struct dnet *net, size_t i);

/* Drops packets from node `from` to node `to` (a blackhole route in from's
 * namespace). Both directions: call it twice. */
int dnet_block(struct dnet *net, size_t from, size_t to, char *errmsg);

/* Removes every blackhole route. */
int dnet_heal(struct dnet *net, char *errmsg);

/* Deletes every namespace (its veths go with it). */
void dnet_destroy(struct dnet *net);

/* For a signal handler: deletes the namespaces of the net registered last by
 * dnet_create, with async-signal-safe calls only. */
void dnet_emergency_cleanup(void);

#endif
