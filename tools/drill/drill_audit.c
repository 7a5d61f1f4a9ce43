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

enum drill_outcome drill_audit_collect(struct drill *d)
{
	char errmsg[ESC_ERRMSG_SIZE] = "";
	uint64_t since = d->audit_since;

	if (!d->audit_marked)
		return DRILL_OUTCOME_OK;
	free(d->h.audit_reads);
	d->h.audit_reads = calloc(d->h.n_keys + 1, sizeof *d->h.audit_reads);
	if (d->h.audit_reads == NULL)
		return drill_fail(DRILL_OUTCOME_FAILED, "out of memory");
	for (;;) {
		json_t *j = audit_page(d, since, DRILL_AUDIT_PAGE, errmsg), *entries, *e;
		size_t i, n;
		if (j == NULL)
			return drill_fail(DRILL_OUTCOME_UNREACHABLE, "reading the audit log: %s",
					  errmsg);
		entries = json_object_get(j, "entries");
		n = json_array_size(entries);
		json_array_foreach(entries, i, e) {
			const char *action = json_string_value(json_object_get(e, "action"));
			const char *key_id = json_string_value(json_object_get(e, "key_id"));
			const char *machine = json_string_value(json_object_get(e, "machine"));
			json_int_t seq = json_integer_value(json_object_get(e, "seq"));
			long k;
			if ((uint64_t)seq > since)
				since = (uint64_t)seq;
			if (action == NULL || key_id == NULL || machine == NULL)
				continue;
			if (strcmp(action, "key.read") == 0 && strcmp(machine, d->machine) == 0 &&
			    (k = drill_engine_key_index(d, key_id)) >= 0)
				d->h.audit_reads[k]++;
		}
		json_decref(j);
		if (n < DRILL_AUDIT_PAGE)
			break;
	}
	d->h.audit_checked = true;
	return DRILL_OUTCOME_OK;
}
