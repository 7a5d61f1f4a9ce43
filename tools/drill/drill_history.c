/* The drill's --history file (see drill_engine_write_history). */
#include <stdio.h>

#include "tools/drill/drill_engine.h"

/* The keys (by index) as a JSON array of key ids. */
static void print_key_ids(FILE *f, const struct drill *d, const uint32_t *keys, unsigned n)
{
	fputc('[', f);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s\"%s\"", i ? "," : "",
			keys[i] < d->h.n_keys ? d->h.keys[keys[i]].key_id : "");
	fputc(']', f);
}

enum drill_outcome drill_engine_write_history(const struct drill *d, const char *path)
{
	static const char *const kinds[] = { "escrow", "lookup", "readback", "compliance",
						    "break-glass" };
	static const char *const results[] = { "ok", "failed", "unknown", "not_found", "wrong" };
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return drill_fail(DRILL_OUTCOME_FAILED, "cannot write %s", path);
	/* One JSON object per line: easy to grep, sort and replay. */
	for (size_t i = 0; i < d->h.n_ops; i++) {
		const struct drill_op *o = &d->h.ops[i];
		const struct drill_upload *u = o->kind == DRILL_UPLOAD &&
							       o->upload < d->h.n_uploads
						       ? &d->h.uploads[o->upload]
						       : NULL;
		if (u != NULL) {
			fprintf(f, "{\"kind\":\"%s\",\"machine\":\"%s\",\"seq\":%u,\"key_ids\":",
				kinds[o->kind], d->machine, o->upload);
			print_key_ids(f, d, u->listed, u->n_listed);
			fprintf(f, ",\"rotate_key_ids\":");
			print_key_ids(f, d, u->rotated, u->n_rotated);
		} else {
			fprintf(f, "{\"kind\":\"%s\",\"key_id\":\"%s\"", kinds[o->kind],
				o->key < d->h.n_keys ? d->h.keys[o->key].key_id : "");
		}
		fprintf(f,
			",\"node\":%u,\"start_ms\":%.3f,\"end_ms\":%.3f,\"result\":\"%s\","
			"\"code\":\"%s\"}\n",
			(unsigned)o->node + 1, o->start_ms, o->end_ms, results[o->result],
			o->code);
	}
	if (d->h.report_checked) {
		fprintf(f, "{\"kind\":\"machine\",\"machine\":\"%s\",\"found\":%s", d->machine,
			d->h.report_found ? "true" : "false");
		if (d->h.report_found)
			fprintf(f, ",\"seq\":%ld", d->h.report_seq);
		fprintf(f, "}\n");
	}
	if (fclose(f) != 0)
		return drill_fail(DRILL_OUTCOME_FAILED, "cannot write %s", path);
	return DRILL_OUTCOME_OK;
}
