/* The leader probe on a real libuv loop against real ports of 127.0.0.1:
 * a port nothing listens on (a dead leader's), one that listens (a live or
 * paused one), and views that must not be dialled at all. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "raft/leaderprobe.h"
#include "tests/unit.h"

struct fake {
	struct leaderprobe probe;
	uv_loop_t loop;
	uv_timer_t stop;
	struct leaderprobe_view view; /* what look reports; silent_ms set each time */
	uint64_t heard_at;            /* uv_now of the leader's last message */
	bool chatty;                  /* the leader is heard all the time */
	unsigned gone;
	struct leaderprobe_view gone_view;
	bool closed;
	char address[64];
};

static void look_cb(struct leaderprobe *p, struct leaderprobe_view *v)
{
	struct fake *f = p->data;

	*v = f->view;
	v->silent_ms = f->chatty ? 10 : uv_now(&f->loop) - f->heard_at;
}

static void gone_cb(struct leaderprobe *p, const struct leaderprobe_view *v)
{
	struct fake *f = p->data;

	f->gone++;
	f->gone_view = *v;
	f->view.leader = 0; /* as the replica does: it forgets the leader */
	f->view.follower = false;
}

static void stop_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void closed_cb(struct leaderprobe *p)
{
	((struct fake *)p->data)->closed = true;
}

/* A port of 127.0.0.1; listening when listen_fd is not NULL (then *listen_fd
 * must be closed by the caller), else closed again: nothing listens. */
static int port_of(int *listen_fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
	    (listen_fd != NULL && listen(fd, 16) != 0))
		return -1;
	if (listen_fd != NULL)
		*listen_fd = fd;
	else
		close(fd);
	return ntohs(sa.sin_port);
}

/* Runs the probe for ms with the given view (address in f->address). */
static int run(struct fake *f, bool follower, uint64_t silent_ms, unsigned ms)
{
	memset(&f->probe, 0, sizeof f->probe);
	f->gone = 0;
	f->closed = false;
	f->view = (struct leaderprobe_view){
		.follower = follower, .leader = 7, .address = f->address, .term = 3,
	};
	uv_loop_init(&f->loop);
	uv_update_time(&f->loop);
	f->heard_at = uv_now(&f->loop) - silent_ms;
	f->probe.data = f;
	f->probe.look = look_cb;
	f->probe.gone = gone_cb;
	leaderprobe_start(&f->probe, &f->loop);
	uv_timer_init(&f->loop, &f->stop);
	uv_timer_start(&f->stop, stop_cb, ms, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	leaderprobe_close(&f->probe, closed_cb);
	uv_close((uv_handle_t *)&f->stop, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return uv_loop_close(&f->loop);
}

/* A silent leader whose port refuses: gone once, with that leader's view. */
TEST(refused_dial_says_gone_once)
{
	struct fake f = { .chatty = false };
	int port = port_of(NULL);

	CHECK(port > 0);
	snprintf(f.address, sizeof f.address, "127.0.0.1:%d", port);
	CHECK_INT(run(&f, true, 200, 600), 0);
	CHECK(f.closed);
	CHECK_INT(f.gone, 1);
	CHECK_INT(f.probe.refused, 1);
	CHECK(f.probe.dials >= 1);
	CHECK_INT(f.gone_view.leader, 7);
	CHECK_INT(f.gone_view.term, 3);
	CHECK(f.gone_view.silent_ms >= LEADERPROBE_SILENT_MS);
}

/* A port that accepts (a leader paused or busy, not dead): dialled again
 * and again, at most once per LEADERPROBE_AGAIN_MS, never gone. */
TEST(accepted_dial_changes_nothing)
{
	struct fake f = { .chatty = false };
	int fd = -1, port = port_of(&fd);

	CHECK(port > 0);
	snprintf(f.address, sizeof f.address, "127.0.0.1:%d", port);
	CHECK_INT(run(&f, true, 200, 600), 0);
	close(fd);
	CHECK(f.closed);
	CHECK_INT(f.gone, 0);
	CHECK_INT(f.probe.refused, 0);
	CHECK(f.probe.dials >= 2);
	CHECK(f.probe.dials <= 600 / LEADERPROBE_AGAIN_MS + 1);
}

/* Not dialled: a leader heard from recently, a node that is no follower,
 * an address that is a name (resolving it would block the loop). */
TEST(no_dial_without_cause)
{
	struct fake f = { .chatty = false };
	int port = port_of(NULL);

	CHECK(port > 0);
	snprintf(f.address, sizeof f.address, "127.0.0.1:%d", port);
	f.chatty = true;
	CHECK_INT(run(&f, true, 0, 300), 0);
	CHECK_INT(f.probe.dials, 0);
	f.chatty = false;
	CHECK_INT(run(&f, false, 500, 300), 0);
	CHECK_INT(f.probe.dials, 0);
	snprintf(f.address, sizeof f.address, "localhost:%d", port);
	CHECK_INT(run(&f, true, 500, 300), 0);
	CHECK_INT(f.probe.dials, 0);
	CHECK_INT(f.gone, 0);
}

int main(void)
{
	RUN(refused_dial_says_gone_once);
	RUN(accepted_dial_changes_nothing);
	RUN(no_dial_without_cause);
	return unit_done();
}
