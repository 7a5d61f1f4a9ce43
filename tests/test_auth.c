/* Unit tests of node/auth.c: who a request's certificate says it is, what
 * that role may do, and when forwarding headers are believed. */
#include <stdio.h>
#include <string.h>

#include "node/auth.h"
#include "tests/unit.h"

static struct http_header hdrs[4];
static struct http_request req;

/* A request over TLS with certificate cn/ou (tls false: plain) and the
 * forwarding identity headers actor/role when not NULL. */
static void make(bool tls, const char *cn, const char *ou, const char *actor, const char *role)
{
	memset(&req, 0, sizeof req);
	req.tls = tls;
	snprintf(req.client_cn, sizeof req.client_cn, "%s", cn);
	snprintf(req.client_ou, sizeof req.client_ou, "%s", ou);
	req.headers = hdrs;
	if (actor != NULL) {
		hdrs[req.n_headers].name = (char *)AUTH_HDR_ACTOR;
		hdrs[req.n_headers++].value = (char *)actor;
	}
	if (role != NULL) {
		hdrs[req.n_headers].name = (char *)AUTH_HDR_ROLE;
		hdrs[req.n_headers++].value = (char *)role;
	}
}

TEST(insecure_has_every_role)
{
	struct auth_identity id;

	make(false, "", "", "mallory", "operator");
	auth_identify(&req, &id);
	CHECK(id.insecure);
	CHECK_STR(id.actor, "insecure");
	CHECK_INT(id.roles, AUTH_CLIENT_ROLES | AUTH_NODE);
	CHECK(auth_take_forwarded(&req, &id));
	CHECK_STR(id.actor, "insecure"); /* insecure names nobody */
}

TEST(a_role_certificate_gives_its_role_only)
{
	struct auth_identity id;
	const char *ous[] = { "agent", "helpdesk", "auditor" };
	unsigned bits[] = { AUTH_AGENT, AUTH_HELPDESK, AUTH_AUDITOR };

	for (int i = 0; i < 3; i++) {
		make(true, "alice@corp", ous[i], NULL, NULL);
		auth_identify(&req, &id);
		CHECK_STR(id.actor, "alice@corp");
		CHECK_STR(id.role, ous[i]);
		CHECK_INT(id.roles, bits[i]);
		CHECK(!id.peer && !id.insecure && id.self_node == 0);
	}
	make(true, "bob", "operator", NULL, NULL);
	auth_identify(&req, &id);
	CHECK_INT(id.roles, AUTH_CLIENT_ROLES);
	CHECK(!(id.roles & AUTH_NODE));
	make(true, "eve", "admin", NULL, NULL);
	auth_identify(&req, &id);
	CHECK_INT(id.roles, 0);
}

TEST(a_name_with_controls_or_quotes_gets_no_role)
{
	struct auth_identity id;
	const char *bad[] = { "bob\r\nX-Escrow-Role: operator", "a\"b", "tab\there", "" };

	for (int i = 0; i < 4; i++) {
		make(true, bad[i], "operator", NULL, NULL);
		auth_identify(&req, &id);
		CHECK_INT(id.roles, 0);
		CHECK(strchr(id.actor, '\n') == NULL && strchr(id.actor, '"') == NULL);
	}
	make(true, "node-1", "node\r\nx", NULL, NULL);
	auth_identify(&req, &id);
	CHECK_INT(id.roles, 0);
	CHECK(!id.peer);
}

TEST(a_node_certificate_is_a_peer_with_no_client_role)
{
	struct auth_identity id;

	make(true, "node-12", "node", NULL, NULL);
	auth_identify(&req, &id);
	CHECK(id.peer);
	CHECK_INT(id.peer_id, 12);
	CHECK_INT(id.self_node, 12);
	CHECK_INT(id.roles, AUTH_NODE);
	make(true, "node-0", "node", NULL, NULL);
	auth_identify(&req, &id);
	CHECK(!id.peer);
	CHECK_INT(id.roles, 0);
	make(true, "node-70000", "node", NULL, NULL);
	auth_identify(&req, &id);
	CHECK(!id.peer);
	make(true, "gateway", "node", NULL, NULL);
	auth_identify(&req, &id);
	CHECK(!id.peer);
}

TEST(forwarded_identity_is_believed_from_a_peer_only)
{
	struct auth_identity id;

	make(true, "node-2", "node", "alice", "helpdesk");
	auth_identify(&req, &id);
	CHECK(auth_take_forwarded(&req, &id));
	CHECK_STR(id.actor, "alice");
	CHECK_INT(id.roles, AUTH_HELPDESK);
	CHECK(id.peer && id.self_node == 0);
	/* A client's headers change nothing. */
	make(true, "mallory", "agent", "root", "operator");
	auth_identify(&req, &id);
	CHECK(!auth_take_forwarded(&req, &id));
	CHECK_STR(id.actor, "mallory");
	CHECK_INT(id.roles, AUTH_AGENT);
	/* Malformed forwarded identities are refused; the peer stays a peer. */
	const char *actors[] = { "x\ry", "", "ok", "ok", "node-x" };
	const char *roles[] = { "agent", "agent", "root", NULL, "node" };
	for (int i = 0; i < 5; i++) {
		make(true, "node-2", "node", actors[i], roles[i]);
		auth_identify(&req, &id);
		CHECK(!auth_take_forwarded(&req, &id));
		CHECK_INT(id.roles, AUTH_NODE);
		CHECK_STR(id.actor, "node-2");
	}
	/* A node asking for itself through a peer (escrowd --join). */
	make(true, "node-2", "node", "node-4", "node");
	auth_identify(&req, &id);
	CHECK(auth_take_forwarded(&req, &id));
	CHECK_INT(id.self_node, 4);
	CHECK_INT(id.roles, AUTH_NODE);
}

TEST(role_names)
{
	CHECK_STR(auth_role_name(AUTH_AUDITOR), "auditor");
	CHECK_STR(auth_role_name(AUTH_OPERATOR), "operator");
	CHECK_INT(auth_role_bits("operator"), AUTH_CLIENT_ROLES);
	CHECK_INT(auth_role_bits("Operator"), 0);
}

TEST(a_refusal_names_the_certificate_cn_and_its_role_apart)
{
	struct auth_identity id;
	char msg[320];

	make(true, "bob", "agent", NULL, NULL);
	auth_identify(&req, &id);
	auth_refusal(&id, AUTH_AUDITOR, msg, sizeof msg);
	CHECK_STR(msg, "this needs the auditor role; certificate CN=bob has role agent");
	make(true, "eve", "admin", NULL, NULL);
	auth_identify(&req, &id);
	auth_refusal(&id, AUTH_AGENT, msg, sizeof msg);
	CHECK_STR(msg, "this needs the agent role; certificate CN=eve has OU=admin, which is "
		  "no role");
	make(true, "carol", "", NULL, NULL);
	auth_identify(&req, &id);
	auth_refusal(&id, AUTH_HELPDESK, msg, sizeof msg);
	CHECK_STR(msg, "this needs the helpdesk role; a certificate whose CN or OU is empty "
		  "or holds a control character or quote has no role");
	make(true, "a\"b", "operator", NULL, NULL);
	auth_identify(&req, &id);
	auth_refusal(&id, AUTH_OPERATOR, msg, sizeof msg);
	CHECK(strstr(msg, "this needs the operator role; a certificate whose CN") == msg);
	/* Forwarded: the client's CN and role, not the forwarding node's. */
	make(true, "node-2", "node", "alice", "helpdesk");
	auth_identify(&req, &id);
	CHECK(auth_take_forwarded(&req, &id));
	auth_refusal(&id, AUTH_AGENT, msg, sizeof msg);
	CHECK_STR(msg, "this needs the agent role; certificate CN=alice has role helpdesk");
}

int main(void)
{
	RUN(insecure_has_every_role);
	RUN(a_role_certificate_gives_its_role_only);
	RUN(a_name_with_controls_or_quotes_gets_no_role);
	RUN(a_node_certificate_is_a_peer_with_no_client_role);
	RUN(forwarded_identity_is_believed_from_a_peer_only);
	RUN(role_names);
	RUN(a_refusal_names_the_certificate_cn_and_its_role_apart);
	return unit_done();
}
