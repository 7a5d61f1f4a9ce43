/* A replica's membership: the members and their roles, adding a voter
 * (as a spare, caught up, then promoted), removing one, leadership transfer. */
#include "raft/replica.h"

#include <stdlib.h>
#include <string.h>

#include "lib/error.h"

const struct raft_server *replica_member(const struct replica *r, unsigned id)
{
	for (unsigned i = 0; i < r->raft.configuration.n; i++)
		if (r->raft.configuration.servers[i].id == id)
			return &r->raft.configuration.servers[i];
	return NULL;
}

static int change_error(int rv)
{
	switch (rv) {
	case RAFT_NOTLEADER:
	case RAFT_LEADERSHIPLOST:
		return ESC_ENOLEADER;
	case RAFT_CANTCHANGE:
		return ESC_EBUSY;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
		return ESC_ECONFLICT;
	case RAFT_BADID:
	case RAFT_NOTFOUND:
		return ESC_ENOTFOUND;
	case RAFT_NOCONNECTION:
		return ESC_ETIMEOUT;
	case RAFT_NOMEM:
		return ESC_ENOMEM;
	default:
		return ESC_ERAFT;
	}
}

static void change_done_cb(struct raft_change *rc, int status)
{
	struct replica_change *ch = rc->data;

	ch->cb(ch, status == 0 ? ESC_OK : change_error(status));
}

static void added_cb(struct raft_change *rc, int status)
{
	struct replica_change *ch = rc->data;
	struct replica *r = ch->replica;
	int rv;

	if (status != 0) {
		ch->cb(ch, change_error(status));
		return;
	}
	/* libraft catches the spare up in rounds before the promotion entry. */
	rv = raft_assign(&r->raft, &ch->raft, ch->id, RAFT_VOTER, change_done_cb);
	if (rv != 0)
		ch->cb(ch, change_error(rv));
}


bool replica_is_voter(const struct replica *r, unsigned id, const char **raft_addr)
{
	const struct raft_server *s = replica_member(r, id);

	if (s == NULL || s->role != RAFT_VOTER)
		return false;
	if (raft_addr != NULL)
		*raft_addr = s->address;
	return true;
}

unsigned replica_member_count(const struct replica *r)
{
	return r->raft.configuration.n;
}

static const char *member_role(int role)
{
	switch (role) {
	case RAFT_VOTER:
		return "voter";
	case RAFT_STANDBY:
		return "standby";
	case RAFT_SPARE:
		return "spare";
	default:
		return "unknown";
	}
}

void replica_member_at(const struct replica *r, unsigned i, struct replica_member_info *out)
{
	const struct raft_server *s = &r->raft.configuration.servers[i];

	out->id = (unsigned)s->id;
	out->raft_addr = s->address;
	out->role = member_role(s->role);
	if (out->id == r->id)
		out->reachable = true;
	else if (replica_is_leader(r))
		out->reachable = r->raft.leader_state.progress != NULL &&
				 r->raft.leader_state.progress[i].recent_recv;
	else
		out->reachable = out->id == replica_leader(r);
}

int replica_add_voter(struct replica *r, struct replica_change *ch, unsigned id,
		      const char *raft_addr, replica_change_cb cb)
{
	const struct raft_server *s = replica_member(r, id);
	int rv;

	if (!replica_ready(r))
		return ESC_ENOLEADER;
	if (replica_changing(r))
		return ESC_EBUSY;
	ch->replica = r;
	ch->id = id;
	ch->cb = cb;
	ch->raft.data = ch;
	if (s != NULL && strcmp(s->address, raft_addr) != 0)
		return ESC_ECONFLICT;
	if (s != NULL)
		rv = raft_assign(&r->raft, &ch->raft, id, RAFT_VOTER, change_done_cb);
	else
		rv = raft_add(&r->raft, &ch->raft, id, raft_addr, added_cb);
	return rv == 0 ? ESC_OK : change_error(rv);
}

int replica_remove(struct replica *r, struct replica_change *ch, unsigned id,
		   replica_change_cb cb)
{
	int rv;

	if (!replica_ready(r))
		return ESC_ENOLEADER;
	if (replica_changing(r))
		return ESC_EBUSY;
	if (replica_member(r, id) == NULL)
		return ESC_ENOTFOUND;
	ch->replica = r;
	ch->id = id;
	ch->cb = cb;
	ch->raft.data = ch;
	rv = raft_remove(&r->raft, &ch->raft, id, change_done_cb);
	return rv == 0 ? ESC_OK : change_error(rv);
}

bool replica_changing(const struct replica *r)
{
	return raft_state((struct raft *)&r->raft) == RAFT_LEADER &&
	       (r->raft.leader_state.change != NULL || r->raft.configuration_uncommitted_index != 0);
}

static void transfer_cb(struct raft_transfer *req)
{
	free(req);
}

int replica_transfer(struct replica *r, unsigned id)
{
	struct raft_transfer *req;
	const struct raft_server *s = id != 0 ? replica_member(r, id) : NULL;
	int rv;

	if (!replica_ready(r))
		return ESC_ENOLEADER;
	if (id != 0 && (s == NULL || s->role != RAFT_VOTER || id == r->id))
		return ESC_EINVAL;
	req = calloc(1, sizeof *req);
	if (req == NULL)
		return ESC_ENOMEM;
	rv = raft_transfer(&r->raft, req, id, transfer_cb);
	if (rv != 0) {
		free(req);
		return rv == RAFT_NOTFOUND ? ESC_EINVAL : change_error(rv);
	}
	return ESC_OK;
}
