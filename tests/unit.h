/* A minimal TAP test harness: TEST functions, CHECK assertions, RUN in main. */
#ifndef ESCROW_UNIT_H
#define ESCROW_UNIT_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>

/* Unused in a helper file that borrows only unit_remove_tree. */
static int unit_count __attribute__((unused));
static int unit_failures __attribute__((unused));
static int unit_current_failed __attribute__((unused));
static const char *unit_current_skipped __attribute__((unused));

#define TEST(name) static void name(void)

/* Fails the current test and returns from it when cond is false. */
#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			printf("# %s:%d: CHECK(%s) failed\n", __FILE__,       \
			       __LINE__, #cond);                              \
			unit_current_failed = 1;                              \
			return;                                               \
		}                                                             \
	} while (0)

#define CHECK_INT(a, b)                                                       \
	do {                                                                  \
		long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);  \
		if (unit_a_ != unit_b_) {                                     \
			printf("# %s:%d: %s == %lld, expected %s == %lld\n",  \
			       __FILE__, __LINE__, #a, unit_a_, #b, unit_b_); \
			unit_current_failed = 1;                              \
			return;                                               \
		}                                                             \
	} while (0)

#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *unit_a_ = (a), *unit_b_ = (b);                    \
		if (strcmp(unit_a_, unit_b_) != 0) {                          \
			printf("# %s:%d: %s == \"%s\", expected \"%s\"\n",    \
			       __FILE__, __LINE__, #a, unit_a_, unit_b_);     \
			unit_current_failed = 1;                              \
			return;                                               \
		}                                                             \
	} while (0)

/* Marks the current test skipped (TAP "# SKIP why"); the test returns. */
#define UNIT_SKIP(why) (unit_current_skipped = (why))

#define RUN(name)                                                             \
	do {                                                                  \
		unit_current_failed = 0;                                      \
		unit_current_skipped = NULL;                                  \
		name();                                                       \
		unit_count++;                                                 \
		if (unit_current_failed)                                      \
			unit_failures++;                                      \
		printf("%s %d - %s%s%s\n",                                    \
		       unit_current_failed ? "not ok" : "ok", unit_count,     \
		       #name, unit_current_skipped ? " # SKIP " : "",          \
		       unit_current_skipped ? unit_current_skipped : "");     \
		fflush(stdout);                                               \
	} while (0)

static inline int unit_remove_cb(const char *path, const struct stat *st, int flag,
				 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything under it (a test's temporary directory). */
static inline void unit_remove_tree(const char *dir)
{
	nftw(dir, unit_remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Prints the TAP plan; returns the exit status for main. */
static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failures ? 1 : 0;
}

#endif
