/* Identities and roles of requests (see auth.h). */
#include "node/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned bits;
} roles[] = {
	{"agent", AUTH_AGENT},
	{"helpdesk", AUTH_HELPDESK},
	{"auditor", AUTH_AUDITOR},
	{"operator", AUTH_CLIENT_ROLES},
	{"node", AUTH_NODE},
};

unsigned auth_role_bits(const char *role)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		if (strcmp(role, roles[i].name) == 0)
			return roles[i].bits;
	}
	return 0;
}

const char *auth_role_name(unsigned need)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		if (need & roles[i].bits)
			return roles[i].name;
	}
	return "?";
}

/* "node-N" with 1 <= N <= 65535: N, else 0. */
static unsigned node_cn_id(const char *cn)
{
	char *end;
	unsigned long n;

	if (strncmp(cn, "node-", 5) != 0 || cn[5] < '1' || cn[5] > '9')
		return 0;
	errno = 0;
	n = strtoul(cn + 5, &end, 10);
	return errno == 0 && *end == '\0' && n <= 65535 ? (unsigned)n : 0;
}

static bool actor_valid(const char *s);

/* What a certificate whose CN or OU is empty or cannot be printed is called. */
static const char unprintable_cn[] = "(unprintable CN)";
static const char unprintable_ou[] = "(unprintable OU)";

void auth_identify(const struct http_request *req, struct auth_identity *id)
{
	memset(id, 0, sizeof *id);
	if (!req->tls) {
		id->insecure = true;
		id->roles = AUTH_CLIENT_ROLES | AUTH_NODE;
		snprintf(id->actor, sizeof id->actor, "insecure");
		return;
	}
	/* The CN goes into the audit log and, forwarded, into a header: a
	 * name with controls or quotes gets no role at all. */
	if (!actor_valid(req->client_cn) || !actor_valid(req->client_ou)) {
		snprintf(id->actor, sizeof id->actor, "%s", unprintable_cn);
		snprintf(id->role, sizeof id->role, "%s", unprintable_ou);
		return;
	}
	snprintf(id->actor, sizeof id->actor, "%s", req->client_cn);
	snprintf(id->role, sizeof id->role, "%s", req->client_ou);
	id->roles = auth_role_bits(req->client_ou);
	if (id->roles == AUTH_NODE) {
		id->peer_id = node_cn_id(req->client_cn);
		id->peer = id->peer_id != 0;
		id->self_node = id->peer_id;
		if (!id->peer)
			id->roles = 0;
	}
}

void auth_refusal(const struct auth_identity *id, unsigned need, char *out, size_t size)
{
	const char *role = auth_role_name(need);

	if (strcmp(id->role, unprintable_ou) == 0)
		snprintf(out, size, "this needs the %s role; a certificate whose CN or OU is "
			 "empty or holds a control character or quote has no role", role);
	else if (auth_role_bits(id->role) == 0)
		snprintf(out, size, "this needs the %s role; certificate CN=%s has OU=%s, which "
			 "is no role", role, id->actor, id->role);
	else
		snprintf(out, size, "this needs the %s role; certificate CN=%s has role %s", role,
			 id->actor, id->role);
}

/* An actor is a certificate's CN: printable ASCII without quotes. */
static bool actor_valid(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++) {
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\' || n >= AUTH_NAME_MAX)
			return false;
	}
	return n > 0;
}

bool auth_take_forwarded(const struct http_request *req, struct auth_identity *id)
{
	const char *actor = http_request_header(req, AUTH_HDR_ACTOR);
	const char *role = http_request_header(req, AUTH_HDR_ROLE);
	unsigned bits;

	if (id->insecure)
		return true;
	if (!id->peer || actor == NULL || role == NULL || !actor_valid(actor))
		return false;
	bits = auth_role_bits(role);
	if (bits == 0 || (bits == AUTH_NODE && node_cn_id(actor) == 0))
		return false;
	id->self_node = bits == AUTH_NODE ? node_cn_id(actor) : 0;
	snprintf(id->actor, sizeof id->actor, "%s", actor);
	snprintf(id->role, sizeof id->role, "%s", role);
	id->roles = bits;
	return true;
}
