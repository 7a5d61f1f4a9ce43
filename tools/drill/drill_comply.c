/* The drill's compliance uploads (see drill_comply.h). */
#include "tools/drill/drill_comply.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool has(const struct drill_upload *u, uint32_t k)
{
	for (unsigned i = 0; i < u->n_listed; i++)
		if (u->listed[i] == k)
			return true;
	return false;
}

bool drill_comply_body(struct drill *d, char *body, size_t size, uint32_t *seq)
{
	struct drill_upload u;
	size_t off;
	long n;

	memset(&u, 0, sizeof u);
	for (size_t i = 0; i < d->n_disclosed && u.n_listed < DRILL_UPLOAD_KEYS; i++)
		if (!has(&u, d->disclosed[i]))
			u.listed[u.n_listed++] = d->disclosed[i];
	for (size_t i = d->n_acked; i-- > 0 && u.n_listed < DRILL_UPLOAD_KEYS;)
		if (!has(&u, d->acked[i]))
			u.listed[u.n_listed++] = d->acked[i];
	n = drill_upload_add(&d->h, &u);
	if (n < 0)
		return false;
	*seq = (uint32_t)n;
	off = (size_t)snprintf(body, size,
			       "{\"machine\":\"%s\",\"os\":\"drill report %ld\",\"volumes\":["
			       "{\"volume_id\":\"drill-os\",\"volume_type\":\"os\","
			       "\"protection\":\"on\",\"conversion\":\"fully_encrypted\","
			       "\"encryption_method\":\"xts_aes_256\",\"percent_encrypted\":100,"
			       "\"protectors\":[\"tpm\",\"recovery_password\"],\"key_ids\":[",
			       d->machine, n);
	for (unsigned i = 0; i < u.n_listed && off < size; i++)
		off += (size_t)snprintf(body + off, size - off, "%s\"%s\"", i ? "," : "",
					d->h.keys[u.listed[i]].key_id);
	if (off < size)
		snprintf(body + off, size - off, "]}]}");
	return true;
}

bool drill_comply_answer(struct drill *d, uint32_t seq, const char *resp)
{
	json_t *j = json_loads(resp, 0, NULL), *ids = json_object_get(j, "rotate_key_ids"), *id;
	struct drill_upload *u = seq < d->h.n_uploads ? &d->h.uploads[seq] : NULL;
	size_t i;

	if (u == NULL || !json_is_array(ids)) {
		json_decref(j);
		return false;
	}
	u->n_rotated = 0;
	json_array_foreach(ids, i, id)
	{
		long k = json_is_string(id) ? drill_engine_key_index(d, json_string_value(id))
					    : -1;
		if (k >= 0 && u->n_rotated < DRILL_UPLOAD_KEYS)
			u->rotated[u->n_rotated++] = (uint32_t)k;
	}
	json_decref(j);
	return true;
}

void drill_comply_disclosed(struct drill *d, uint32_t key)
{
	for (size_t i = 0; i < d->n_disclosed; i++)
		if (d->disclosed[i] == key)
			return;
	/* The newest DRILL_DISCLOSED_KEPT, oldest first. */
	if (d->n_disclosed == DRILL_DISCLOSED_KEPT) {
		memmove(d->disclosed, d->disclosed + 1,
			(DRILL_DISCLOSED_KEPT - 1) * sizeof *d->disclosed);
		d->n_disclosed--;
	}
	d->disclosed[d->n_disclosed++] = key;
}

/* 200: the report's sequence number from its os; 404: none. */
static bool read_report(struct drill *d, char *errmsg)
{
	struct ctl_response resp;
	char path[128];
	bool done = false;

	snprintf(path, sizeof path, "/v1/machines/%s", d->machine);
	memset(&resp, 0, sizeof resp);
	if (drill_engine_request(d, DPKI_AUDITOR, "GET", path, &resp, errmsg) == ESC_OK) {
		json_t *j = resp.status == 200 ? json_loads(resp.body, 0, NULL) : NULL;
		const char *os = json_string_value(json_object_get(j, "os"));
		long seq;
		char end;

		if (resp.status == 404) {
			d->h.report_found = false;
			done = true;
		} else if (j != NULL) {
			d->h.report_found = true;
			d->h.report_seq =
				os != NULL && sscanf(os, "drill report %ld%c", &seq, &end) == 1 &&
						seq >= 0
					? seq
					: -1;
			done = true;
		} else {
			snprintf(errmsg, ESC_ERRMSG_SIZE, "%s answered %ld", path, resp.status);
		}
		json_decref(j);
	}
	ctl_response_close(&resp);
	return done;
}

enum drill_outcome drill_comply_readback(struct drill *d)
{
	double deadline = drill_now_ms() + DRILL_READBACK_S * 1e3;
	char errmsg[ESC_ERRMSG_SIZE] = "";

	if (d->h.n_uploads == 0)
		return DRILL_OUTCOME_OK;
	while (!read_report(d, errmsg)) {
		if (drill_now_ms() >= deadline || drill_interrupted > 1)
			return drill_fail(DRILL_OUTCOME_FAILED, "reading the report of %s: %s",
					  d->machine, errmsg);
		nanosleep(&(struct timespec){ 0, DRILL_RETRY_MS * 1000000L }, NULL);
	}
	d->h.report_checked = true;
	return DRILL_OUTCOME_OK;
}
