/* drill run's break-glass lookups (see drill_breakglass.h). */
#include "tools/drill/drill_breakglass.h"

#include <string.h>
#include <time.h>

#include "tools/drill/drill_audit.h"

long dbg_pick_key(struct drill *d)
{
	/* The oldest first: the likeliest to be on every node. */
	for (size_t i = d->bg_next; i < d->n_acked; i++) {
		uint32_t k = d->acked[i];
		if (d->h.keys[k].reserved && !d->h.keys[k].bg_used) {
			d->h.keys[k].bg_used = true;
			d->bg_next = i + 1;
			return (long)k;
		}
	}
	return -1;
}

enum dbg_result dbg_lookup(struct drill *d, uint16_t node, uint32_t key)
{
	struct drill_op op = { .kind = DRILL_BREAK_GLASS, .key = key, .node = node };
	struct drill_break_glass bg = { .key = key, .node = node, .disclosed = -1 };
	enum dbg_result res = DBG_OTHER;
	char url[CTL_URL_MAX + 160];
	struct ctl_fetch f;
	const char *pw = NULL, *id = NULL;
	json_t *j = NULL;
	int served = 0;

	snprintf(url, sizeof url, "%s/v1/keys/%s?reason=other&note=escrowctl%%20drill%%20"
		 "quorum-loss&break_glass=1", d->client->nodes[node], d->h.keys[key].key_id);
	memset(&f, 0, sizeof f);
	f.url = url;
	op.start_ms = drill_since(d);
	if (drill_engine_fetch(d, DPKI_HELPDESK, &f, DBG_TIMEOUT_MS) != ESC_OK) {
		op.result = DRILL_UNKNOWN;
		snprintf(op.code, sizeof op.code, "%s", f.err == ESC_ETIMEOUT ? "timeout" : "transport");
	} else {
		j = json_loads(f.resp.body, 0, NULL);
		if (f.resp.status == 200 &&
		    json_unpack(j, "{s:s, s?b, s?s}", "recovery_password", &pw, "break_glass",
				&served, "break_glass_id", &id) == 0) {
			op.result = strcmp(pw, d->h.keys[key].password) == 0 ? DRILL_OK : DRILL_WRONG;
			res = served && id != NULL ? DBG_SERVED : DBG_OTHER;
		} else {
			drill_error_code(f.resp.body, f.resp.status, op.code, sizeof op.code);
			op.result = f.resp.status == 404 ? DRILL_NOT_FOUND
				    : f.resp.status >= 500 && f.resp.status != 503 ? DRILL_UNKNOWN
										  : DRILL_FAILED;
			res = strcmp(op.code, "404 not_found_break_glass") == 0 ? DBG_MISSED
			      : strcmp(op.code, "503 no_quorum") == 0		 ? DBG_TOO_SOON
									 : DBG_OTHER;
		}
	}
	op.end_ms = drill_since(d);
	if (res == DBG_SERVED) {
		bg.at_ms = op.end_ms;
		snprintf(bg.id, sizeof bg.id, "%s", id);
		if (!drill_bg_add(&d->h, &bg))
			d->nomem = true;
	}
	json_decref(j);
	ctl_response_close(&f.resp);
	if (!drill_op_add(&d->h, &op))
		d->nomem = true;
	return res;
}

static void mark_seen(struct drill *d, json_t *e, void *arg)
{
	struct drill_break_glass *b =
		drill_audit_bg(d, json_string_value(json_object_get(e, "break_glass_id")));
	unsigned char *seen = arg;

	if (b != NULL)
		seen[b - d->h.bgs] = 1;
}

/* Every served lookup's id is in the audit log (the replay is done). */
static bool all_replayed(struct drill *d, unsigned char *seen, char *errmsg)
{
	memset(seen, 0, d->h.n_bgs);
	if (drill_audit_each(d, mark_seen, seen, errmsg) != ESC_OK)
		return false;
	for (size_t i = 0; i < d->h.n_bgs; i++)
		if (!seen[i])
			return false;
	return true;
}

/* The key's disclosed_at read without disclosing it: 1 set, 0 not, -1 unread. */
static int disclosed(struct drill *d, const char *key_id)
{
	struct ctl_response resp;
	char path[128], hex[40], errmsg[ESC_ERRMSG_SIZE];
	size_t n = 0;
	json_t *j = NULL, *rec;
	int rv = -1;

	for (const char *p = key_id; *p != '\0' && n + 1 < sizeof hex; p++)
		if (*p != '-')
			hex[n++] = *p;
	hex[n] = '\0';
	snprintf(path, sizeof path, "/v1/keys?prefix=%s&list=1", hex);
	memset(&resp, 0, sizeof resp);
	if (drill_engine_request(d, DPKI_HELPDESK, "GET", path, &resp, errmsg) == ESC_OK &&
	    resp.status == 200 && (j = json_loads(resp.body, 0, NULL)) != NULL &&
	    (rec = json_array_get(json_object_get(j, "keys"), 0)) != NULL)
		rv = !json_is_null(json_object_get(rec, "disclosed_at")) &&
		     json_object_get(rec, "disclosed_at") != NULL;
	json_decref(j);
	ctl_response_close(&resp);
	return rv;
}

enum drill_outcome dbg_await(struct drill *d)
{
	double deadline = drill_now_ms() + DBG_AWAIT_MS;
	char errmsg[ESC_ERRMSG_SIZE] = "";
	unsigned char *seen;
	bool done;

	if (d->h.n_bgs == 0 || !d->audit_marked)
		return DRILL_OUTCOME_OK;
	seen = calloc(d->h.n_bgs, 1);
	if (seen == NULL)
		return drill_fail(DRILL_OUTCOME_FAILED, "out of memory");
	if (!d->opts.json)
		fprintf(stderr, "drill: waiting for %zu break-glass lookup(s) in the audit log\n",
			d->h.n_bgs);
	while (!(done = all_replayed(d, seen, errmsg)) && drill_now_ms() < deadline &&
	       drill_interrupted < 2)
		nanosleep(&(struct timespec){ 0, 250 * 1000000L }, NULL);
	free(seen);
	if (!done && !d->opts.json)
		fprintf(stderr, "drill: not every break-glass lookup is in the audit log after "
			"%.0f s%s%s\n", DBG_AWAIT_MS / 1e3, errmsg[0] ? ": " : "", errmsg);
	/* The checker says which (bg_checked once the audit log is collected). */
	for (size_t i = 0; i < d->h.n_bgs; i++) {
		struct drill_break_glass *b = &d->h.bgs[i];
		b->disclosed = disclosed(d, d->h.keys[b->key].key_id);
	}
	return DRILL_OUTCOME_OK;
}
