/* The certificates `escrowctl drill run` makes for its own cluster (mutual
 * TLS, as production runs): a CA, one node certificate per node, and one
 * client certificate per role its workload and checks use. */
#ifndef ESCROW_DRILL_PKI_H
#define ESCROW_DRILL_PKI_H

#include <stddef.h>

#define DPKI_PATH_MAX 600

/* The client roles the drill talks as (the OU and CN of their certificates). */
enum dpki_role {
	DPKI_AGENT,     /* escrows, compliance uploads */
	DPKI_HELPDESK,  /* lookups and the read-back */
	DPKI_AUDITOR,   /* the audit log, the machine's stored report */
	DPKI_OPERATOR,  /* status, health, the cluster's state */
	DPKI__ROLES
};

struct dpki {
	char ca[DPKI_PATH_MAX];                      /* DIR/ca.crt */
	char cert[DPKI__ROLES][DPKI_PATH_MAX];       /* DIR/ROLE.crt */
	char key[DPKI__ROLES][DPKI_PATH_MAX];        /* DIR/ROLE.key (0600) */
};

const char *dpki_role_name(enum dpki_role r);

/* Makes dir (0700) and writes into it ca.crt, for node i (0-based) of n
 * node-ID.crt and node-ID.key (ID = i + 1; CN node-ID, OU node; SANs
 * localhost, 127.0.0.1, ::1 and hosts[i], an IPv4 literal), and ROLE.crt,
 * ROLE.key for each client role; fills p with the names. hosts borrowed.
 * ESC_EIO (a file) or ESC_ECRYPTO (OpenSSL) with errmsg. */
int dpki_create(struct dpki *p, const char *dir, size_t n, const char *const hosts[],
		char *errmsg);

/* DIR/node-ID.crt and .key of the node with that id, into cert and key
 * (DPKI_PATH_MAX bytes each). */
void dpki_node_files(const char *dir, unsigned id, char *cert, char *key);

#endif
