/* Unit tests of lib/histogram: buckets by bound, cumulative counts, Prometheus text. */
#include <math.h>
#include <stdlib.h>

#include "lib/histogram.h"
#include "tests/unit.h"

/* h written as name with labels, in a heap string (free it). */
static char *written(const char *name, const char *labels, const struct histogram *h)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bool ok;

	if (f == NULL)
		return NULL;
	ok = histogram_write(f, name, labels, h);
	fclose(f);
	if (!ok) {
		free(text);
		return NULL;
	}
	return text;
}

TEST(a_bound_belongs_to_its_own_bucket)
{
	struct histogram h = { 0 };

	histogram_observe(&h, 0.0005);  /* le="0.0005": bounds are inclusive */
	histogram_observe(&h, 0.00051); /* the next one */
	histogram_observe(&h, 10);      /* the last finite bound */
	histogram_observe(&h, 10.5);    /* +Inf only */
	CHECK_INT(h.buckets[0], 1);
	CHECK_INT(h.buckets[1], 1);
	CHECK_INT(h.buckets[HISTOGRAM_BOUNDS - 1], 1);
	CHECK_INT(h.buckets[HISTOGRAM_BOUNDS], 1);
	CHECK_INT(h.count, 4);
	CHECK_INT(histogram_cumulative(&h, 0), 1);
	CHECK_INT(histogram_cumulative(&h, 1), 2);
	CHECK_INT(histogram_cumulative(&h, HISTOGRAM_BOUNDS - 2), 2);
	CHECK_INT(histogram_cumulative(&h, HISTOGRAM_BOUNDS - 1), 3);
	CHECK_INT(histogram_cumulative(&h, HISTOGRAM_BOUNDS), 4);
}

TEST(nanoseconds_and_nonsense_values)
{
	struct histogram h = { 0 };

	histogram_observe_ns(&h, 3000000); /* 3 ms: le="0.005" */
	histogram_observe(&h, -1);         /* a clock that went back: 0 */
	histogram_observe(&h, NAN);        /* NaN: 0 */
	CHECK_INT(h.buckets[0], 2);
	CHECK_INT(h.buckets[3], 1);
	CHECK_INT(h.count, 3);
	CHECK(h.sum > 0.0029 && h.sum < 0.0031);
}

TEST(the_buckets_are_cumulative_and_end_with_inf)
{
	struct histogram h = { 0 };
	char *text;

	histogram_observe(&h, 0.0002);
	histogram_observe(&h, 0.003);
	histogram_observe(&h, 0.003);
	histogram_observe(&h, 0.2);
	histogram_observe(&h, 30);
	text = written("escrow_x_seconds", "route=\"escrow\"", &h);
	CHECK(text != NULL);
	const char *want =
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.0005\"} 1\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.001\"} 1\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.0025\"} 1\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.005\"} 3\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.01\"} 3\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.025\"} 3\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.05\"} 3\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.1\"} 3\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.25\"} 4\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"0.5\"} 4\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"1\"} 4\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"2.5\"} 4\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"5\"} 4\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"10\"} 4\n"
		"escrow_x_seconds_bucket{route=\"escrow\",le=\"+Inf\"} 5\n"
		"escrow_x_seconds_sum{route=\"escrow\"} 30.2062\n"
		"escrow_x_seconds_count{route=\"escrow\"} 5\n";
	int same = strcmp(text, want) == 0;
	if (!same)
		printf("# got:\n%s", text);
	free(text);
	CHECK(same);
}

TEST(an_empty_histogram_without_labels)
{
	struct histogram h = { 0 };
	char *text = written("escrow_y_seconds", "", &h);
	int lines = 0;

	CHECK(text != NULL);
	for (const char *p = text; *p != '\0'; p++)
		lines += *p == '\n';
	int ok = lines == HISTOGRAM_BOUNDS + 3 &&
		 strncmp(text, "escrow_y_seconds_bucket{le=\"0.0005\"} 0\n", 39) == 0 &&
		 strstr(text, "escrow_y_seconds_bucket{le=\"+Inf\"} 0\n"
			      "escrow_y_seconds_sum 0\nescrow_y_seconds_count 0\n") != NULL;
	if (!ok)
		printf("# got:\n%s", text);
	free(text);
	CHECK(ok);
}

int main(void)
{
	RUN(a_bound_belongs_to_its_own_bucket);
	RUN(nanoseconds_and_nonsense_values);
	RUN(the_buckets_are_cumulative_and_end_with_inf);
	RUN(an_empty_histogram_without_labels);
	return unit_done();
}
