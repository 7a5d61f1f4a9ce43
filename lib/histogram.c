/* Latency histograms with fixed bucket bounds, written in Prometheus' text format. */
#include "lib/histogram.h"

const double histogram_bounds[HISTOGRAM_BOUNDS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The bound as an le label: the shortest decimal that reads back the same. */
static const char *const bound_labels[HISTOGRAM_BOUNDS] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
	"0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10",
};

void histogram_observe(struct histogram *h, double seconds)
{
	unsigned i = 0;

	if (!(seconds > 0)) /* also NaN */
		seconds = 0;
	while (i < HISTOGRAM_BOUNDS && seconds > histogram_bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum += seconds;
}

void histogram_observe_ns(struct histogram *h, uint64_t ns)
{
	histogram_observe(h, (double)ns / 1e9);
}

uint64_t histogram_cumulative(const struct histogram *h, unsigned i)
{
	uint64_t n = 0;

	for (unsigned b = 0; b <= i && b <= HISTOGRAM_BOUNDS; b++)
		n += h->buckets[b];
	return n;
}

bool histogram_write(FILE *f, const char *name, const char *labels, const struct histogram *h)
{
	bool any = labels[0] != '\0';
	const char *sep = any ? "," : "", *open = any ? "{" : "", *close = any ? "}" : "";
	uint64_t n = 0;
	int rv = 0;

	for (unsigned i = 0; i < HISTOGRAM_BOUNDS && rv >= 0; i++) {
		n += h->buckets[i];
		rv = fprintf(f, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
			     bound_labels[i], (unsigned long long)n);
	}
	if (rv >= 0)
		rv = fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
			     (unsigned long long)h->count);
	if (rv >= 0)
		rv = fprintf(f, "%s_sum%s%s%s %.9g\n", name, open, labels, close, h->sum);
	if (rv >= 0)
		rv = fprintf(f, "%s_count%s%s%s %llu\n", name, open, labels, close,
			     (unsigned long long)h->count);
	return rv >= 0;
}
