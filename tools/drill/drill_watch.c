/* escrowctl drill watch (see drill_watch.h). */
#include "tools/drill/drill_watch.h"

#include <stdio.h>
#include <stdlib.h>

#include "tools/drill/drill_audit.h"
#include "tools/drill/drill_comply.h"

/* The report as one JSON object on stdout; ok says whether the drill passed. */
static enum drill_outcome print_json(const struct drill *d, const struct drill_report *r,
				     enum drill_outcome verdict)
{
	json_t *j = drill_engine_report_json(d, r);
	char *text;

	if (j != NULL)
		json_object_set_new(j, "ok", json_boolean(verdict == DRILL_OUTCOME_OK));
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL)
		return drill_fail(DRILL_OUTCOME_FAILED, "out of memory");
	printf("%s\n", text);
	free(text);
	return verdict;
}

enum drill_outcome drill_watch(struct drill *d, struct ctl_client *client,
			       const struct drill_opts *opts)
{
	struct drill_report r;
	enum drill_outcome rv;

	drill_engine_init(d, client, opts);
	rv = drill_engine_setup(d);
	if (rv == DRILL_OUTCOME_OK) {
		drill_audit_mark(d);
		if (!d->opts.json)
			fprintf(stderr, "drill: %.0f requests/s for %.0f s over %zu node(s); canary "
				"machine %s; Ctrl-C ends the load early\n",
				d->opts.rate, d->opts.duration_ms / 1e3, d->client->n_nodes,
				d->machine);
		d->t0 = drill_now_ms();
		rv = drill_engine_workload(d);
	}
	if (rv == DRILL_OUTCOME_OK)
		rv = drill_engine_readback(d);
	if (rv == DRILL_OUTCOME_OK)
		rv = drill_comply_readback(d);
	if (rv == DRILL_OUTCOME_OK)
		rv = drill_audit_collect(d);
	if (rv == DRILL_OUTCOME_OK && d->opts.history_path != NULL)
		rv = drill_engine_write_history(d, d->opts.history_path);
	if (rv == DRILL_OUTCOME_OK) {
		drill_check(&d->h, &r);
		if (d->opts.json) {
			rv = print_json(d, &r, drill_engine_verdict(&r));
		} else {
			drill_engine_report_text(d, &r);
			rv = drill_engine_verdict(&r);
		}
	}
	drill_engine_teardown(d);
	return rv;
}
