/* The drill's audit check: the key.read entries of its canary keys. */
#include "tools/drill/drill_audit.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* GET /v1/reports/audit?since=S&limit=L from any node, parsed. */
static json_t *audit_page(struct drill *d, uint64_t since, size_t limit, char *errmsg)
{
	struct ctl_response resp;
	char path[96];
	json_t *j = NULL;

	snprintf(path, sizeof path, "/v1/reports/audit?since=%" PRIu64 "&limit=%zu", since,
		 limit);
	memset(&resp, 0, sizeof resp);
	if (drill_engine_request(d, DPKI_AUDITOR, "GET", path, &resp, errmsg) == ESC_OK) {
		if (resp.status == 200)
			j = json_loads(resp.body, 0, NULL);
		else
			snprintf(errmsg, ESC_ERRMSG_SIZE, "%s answered %ld", path, resp.status);
		if (resp.status == 200 && j == NULL)
			snprintf(errmsg, ESC_ERRMSG_SIZE, "%s: not JSON", path);
	}
	ctl_response_close(&resp);
	return j;
}

void drill_audit_mark(struct drill *d)
{
	char errmsg[ESC_ERRMSG_SIZE] = "";
	json_t *j = audit_page(d, UINT64_MAX / 2, 1, errmsg);
	json_int_t last = 0;

	d->audit_marked = j != NULL && json_unpack(j, "{s:I}", "last_seq", &last) == 0;
	d->audit_since = (uint64_t)last;
	json_decref(j);
	if (!d->audit_marked && !d->opts.json)
		fprintf(stderr, "drill: the audit log is not checked (%s)\n", errmsg);
}

int drill_audit_each(struct drill *d, drill_audit_fn fn, void *arg, char *errmsg)
{
	uint64_t since = d->audit_since;

	for (;;) {
		json_t *j = audit_page(d, since, DRILL_AUDIT_PAGE, errmsg), *entries, *e;
		size_t i, n;
		if (j == NULL)
			return ESC_EIO;
		entries = json_object_get(j, "entries");
		n = json_array_size(entries);
		json_array_foreach(entries, i, e) {
			json_int_t seq = json_integer_value(json_object_get(e, "seq"));
			if ((uint64_t)seq > since)
				since = (uint64_t)seq;
			fn(d, e, arg);
		}
		json_decref(j);
		if (n < DRILL_AUDIT_PAGE)
			return ESC_OK;
	}
}

/* The break-glass lookup of the drill's with that id, or NULL. */
struct drill_break_glass *drill_audit_bg(struct drill *d, const char *id)
{
	for (size_t i = 0; id != NULL && i < d->h.n_bgs; i++)
		if (strcmp(d->h.bgs[i].id, id) == 0)
			return &d->h.bgs[i];
	return NULL;
}

static void count_entry(struct drill *d, json_t *e, void *arg)
{
	const char *action = json_string_value(json_object_get(e, "action"));
	const char *key_id = json_string_value(json_object_get(e, "key_id"));
	const char *machine = json_string_value(json_object_get(e, "machine"));
	struct drill_break_glass *b =
		drill_audit_bg(d, json_string_value(json_object_get(e, "break_glass_id")));
	long k = -1;

	(void)arg;
	if (action != NULL && key_id != NULL && machine != NULL &&
	    strcmp(action, "key.read") == 0 && strcmp(machine, d->machine) == 0 &&
	    (k = drill_engine_key_index(d, key_id)) >= 0)
		d->h.audit_reads[k]++;
	if (b != NULL) {
		b->entries++;
		b->bad_entries += k < 0 || (uint32_t)k != b->key ||
				  !json_is_true(json_object_get(e, "break_glass"));
	}
}

enum drill_outcome drill_audit_collect(struct drill *d)
{
	char errmsg[ESC_ERRMSG_SIZE] = "";

	if (!d->audit_marked)
		return DRILL_OUTCOME_OK;
	free(d->h.audit_reads);
	d->h.audit_reads = calloc(d->h.n_keys + 1, sizeof *d->h.audit_reads);
	if (d->h.audit_reads == NULL)
		return drill_fail(DRILL_OUTCOME_FAILED, "out of memory");
	for (size_t i = 0; i < d->h.n_bgs; i++)
		d->h.bgs[i].entries = d->h.bgs[i].bad_entries = 0;
	if (drill_audit_each(d, count_entry, NULL, errmsg) != ESC_OK)
		return drill_fail(DRILL_OUTCOME_UNREACHABLE, "reading the audit log: %s", errmsg);
	d->h.audit_checked = true;
	d->h.bg_checked = true;
	return DRILL_OUTCOME_OK;
}
