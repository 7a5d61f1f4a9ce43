/* The drill's audit check: every lookup that returned a password must have
 * exactly one key.read entry in the cluster's audit log (GET
 * /v1/reports/audit), break-glass lookups included. */
#ifndef ESCROW_DRILL_AUDIT_H
#define ESCROW_DRILL_AUDIT_H

#include "tools/drill/drill_engine.h"

#define DRILL_AUDIT_PAGE 10000   /* entries asked for at a time */

/* Notes where the audit log ends before the load: the drill's entries come
 * after. A cluster without the report leaves the check off (said on stderr). */
void drill_audit_mark(struct drill *d);

typedef void (*drill_audit_fn)(struct drill *d, json_t *entry, void *arg);

/* Calls fn on every audit entry written since the mark, page by page.
 * ESC_OK, or ESC_EIO with the reason in errmsg. */
int drill_audit_each(struct drill *d, drill_audit_fn fn, void *arg, char *errmsg);

/* The drill's break-glass lookup with that id (may be NULL), or NULL. */
struct drill_break_glass *drill_audit_bg(struct drill *d, const char *id);

/* Counts the key.read entries of this run's canary keys written since the
 * mark into d->h.audit_reads (d->h.audit_checked set), and the entries
 * holding each break-glass lookup's id into d->h.bgs (d->h.bg_checked
 * set). DRILL_OUTCOME_OK, or
 * another outcome with the error printed when the log could not be read. */
enum drill_outcome drill_audit_collect(struct drill *d);

#endif
