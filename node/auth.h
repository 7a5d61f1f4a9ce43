/* Who sent a request and what it may do: the client certificate's CN (the
 * audit actor) and OU (its role), or with --insecure everything. A node's
 * certificate (OU "node") forwarding a request vouches for the original
 * client's identity in the forwarding headers; nobody else can. */
#ifndef ESCROW_AUTH_H
#define ESCROW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_server.h"

#define AUTH_AGENT 0x1u
#define AUTH_HELPDESK 0x2u
#define AUTH_AUDITOR 0x4u
#define AUTH_OPERATOR 0x8u
#define AUTH_NODE 0x10u     /* node-to-node routes (a peer's own requests) */
#define AUTH_CLIENT_ROLES (AUTH_AGENT | AUTH_HELPDESK | AUTH_AUDITOR | AUTH_OPERATOR)

/* Headers a node adds when it forwards a request over TLS. */
#define AUTH_HDR_ACTOR "X-Escrow-Actor"
#define AUTH_HDR_ROLE "X-Escrow-Role"

#define AUTH_NAME_MAX 64

struct auth_identity {
	char actor[AUTH_NAME_MAX + 1];  /* the audit actor: CN, or "insecure" */
	char role[AUTH_NAME_MAX + 1];   /* the role named by the certificate ("" insecure) */
	unsigned roles;                 /* AUTH_* bits it holds */
	bool insecure;                  /* no TLS: every role */
	bool peer;                      /* a node's certificate: forwarding headers trusted */
	unsigned peer_id;               /* its id (CN node-N), when peer */
	unsigned self_node;             /* a node asking for itself (its id), or 0 */
};

/* The identity of req's sender, before any forwarding header is read. */
void auth_identify(const struct http_request *req, struct auth_identity *id);

/* A peer (or, insecure, anyone) forwarding for client: takes the client's
 * actor and role from the forwarding headers. False (id unchanged) when
 * the headers are missing or malformed. */
bool auth_take_forwarded(const struct http_request *req, struct auth_identity *id);

/* The AUTH_* bits of a role name (operator: every client role); 0 if none. */
unsigned auth_role_bits(const char *role);

/* The name of the lowest role bit in need ("agent", ...). */
const char *auth_role_name(unsigned need);

/* Writes into out (size bytes) why id lacks every role in need, naming the
 * certificate's CN and its role apart: "this needs the auditor role;
 * certificate CN=bob has role agent". */
void auth_refusal(const struct auth_identity *id, unsigned need, char *out, size_t size);

#endif
