/* The drill's audit check: every lookup that returned a password must have
 * its key.read entry in the cluster's audit log (GET /v1/reports/audit). */
#ifndef ESCROW_DRILL_AUDIT_H
#define ESCROW_DRILL_AUDIT_H

#include "tools/drill/drill_engine.h"

#define DRILL_AUDIT_PAGE 10000   /* entries asked for at a time */

/* Notes where the audit log ends before the load: the drill's entries come
 * after. A cluster without the report leaves the check off (said on stderr). */
void drill_audit_mark(struct drill *d);

/* Counts the key.read entries of this run's canary keys written since the
 * mark into d->h.audit_reads (d->h.audit_checked set). DRILL_OUTCOME_OK, or
 * another outcome with the error printed when the log could not be read. */
enum drill_outcome drill_audit_collect(struct drill *d);

#endif
