/* Unit tests of lib/ratelimit: lines per window, and the count of the rest. */
#include "lib/ratelimit.h"
#include "tests/unit.h"

TEST(allows_up_to_the_limit_then_counts)
{
	struct ratelimit rl = RATELIMIT_INIT(10000, 3);
	unsigned dropped = 99;

	CHECK(ratelimit_allow(&rl, 50000, &dropped)); /* opens the first window */
	CHECK_INT(dropped, 0);
	CHECK(ratelimit_allow(&rl, 50001, &dropped));
	CHECK(ratelimit_allow(&rl, 50002, &dropped));
	for (int i = 0; i < 5; i++) {
		CHECK(!ratelimit_allow(&rl, 50003 + (uint64_t)i, &dropped));
		CHECK_INT(dropped, 0);
	}
	/* One ms short of the window: still refused. */
	CHECK(!ratelimit_allow(&rl, 59999, &dropped));
	CHECK_INT(dropped, 0);
	/* The next window reports the 6 refused lines once. */
	CHECK(ratelimit_allow(&rl, 60000, &dropped));
	CHECK_INT(dropped, 6);
	CHECK(ratelimit_allow(&rl, 60001, &dropped));
	CHECK_INT(dropped, 0);
}

TEST(a_quiet_window_reports_nothing)
{
	struct ratelimit rl = RATELIMIT_INIT(1000, 1);
	unsigned dropped;

	CHECK(ratelimit_allow(&rl, 5000, &dropped));
	CHECK(ratelimit_allow(&rl, 7000, &dropped));
	CHECK_INT(dropped, 0);
}

int main(void)
{
	RUN(allows_up_to_the_limit_then_counts);
	RUN(a_quiet_window_reports_nothing);
	return unit_done();
}
