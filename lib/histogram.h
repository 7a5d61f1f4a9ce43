/* Latency histograms with fixed bucket bounds, written in Prometheus' text format. */
#ifndef ESCROW_HISTOGRAM_H
#define ESCROW_HISTOGRAM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Finite upper bounds, in seconds: 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05
 * 0.1 0.25 0.5 1 2.5 5 10; one more bucket, +Inf, holds the rest. */
#define HISTOGRAM_BOUNDS 14

extern const double histogram_bounds[HISTOGRAM_BOUNDS];

/* Zeroed is empty: embed it in a struct of counters. Only the thread that
 * observes may read it (escrowd: the loop). */
struct histogram {
	uint64_t buckets[HISTOGRAM_BOUNDS + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t count;                         /* observations */
	double sum;                             /* their total, in seconds */
};

/* Counts one observation of seconds (a negative or NaN value counts as 0)
 * in the first bucket whose bound is >= seconds. */
void histogram_observe(struct histogram *h, double seconds);

/* The same for a duration in ns, e.g. a difference of uv_hrtime() values. */
void histogram_observe_ns(struct histogram *h, uint64_t ns);

/* Observations <= histogram_bounds[i], or all of them for i ==
 * HISTOGRAM_BOUNDS (the +Inf bucket). */
uint64_t histogram_cumulative(const struct histogram *h, unsigned i);

/* Writes the samples of h to f in Prometheus text format 0.0.4: name_bucket
 * lines with cumulative counts and an le label per bound ("+Inf" last),
 * then name_sum and name_count. labels is "" or the other labels of the
 * series without braces, e.g. route="escrow" (quoted and escaped by the
 * caller). The "# TYPE name histogram" line is the caller's: one per family
 * however many label sets it writes. False when a write failed. */
bool histogram_write(FILE *f, const char *name, const char *labels, const struct histogram *h);

#endif
