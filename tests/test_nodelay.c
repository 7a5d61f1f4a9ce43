/* libraft's plain TCP transport, with and without nodelay_install
 * (raft/nodelay.h), on a real loop and real ports of 127.0.0.1: one
 * transport listens, another dials it, and the test reads TCP_NODELAY off
 * both streams libraft would be handed. Then a dial that the kernel
 * connects to itself, in a network namespace of the test's own. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "raft/nodelay.h"
#include "tests/unit.h"

#define WAIT_MS 5000

struct pair {
	uv_loop_t loop;
	uv_timer_t watchdog;
	struct raft_uv_transport listener, dialer;
	struct raft_uv_connect req;
	int accepted_nodelay, dialed_nodelay; /* -1 until seen */
	int closed;
	bool timed_out;
};

static struct pair *the_pair; /* the accept callback gets only the transport */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int stream_nodelay(struct uv_stream_s *stream)
{
	uv_os_fd_t fd;
	int on = -1;
	socklen_t len = sizeof on;

	if (uv_fileno((uv_handle_t *)stream, &fd) != 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0)
		return -1;
	return on != 0;
}

static void stream_closed(uv_handle_t *h)
{
	raft_free(h);
}

static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
		      struct uv_stream_s *stream)
{
	(void)t, (void)id, (void)address;
	the_pair->accepted_nodelay = stream_nodelay(stream);
	uv_close((uv_handle_t *)stream, stream_closed);
}

static void connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	struct pair *p = req->data;

	if (status != 0)
		return;
	p->dialed_nodelay = stream_nodelay(stream);
	uv_close((uv_handle_t *)stream, stream_closed);
}

static void transport_closed(struct raft_uv_transport *t)
{
	(void)t;
	the_pair->closed++;
}

static void watchdog_cb(uv_timer_t *t)
{
	struct pair *p = t->data;

	p->timed_out = true;
	uv_stop(&p->loop);
}

static void run_until(struct pair *p, bool (*done)(const struct pair *))
{
	uv_timer_start(&p->watchdog, watchdog_cb, WAIT_MS, 0);
	while (!done(p) && !p->timed_out)
		uv_run(&p->loop, UV_RUN_ONCE);
	uv_timer_stop(&p->watchdog);
}

static bool both_seen(const struct pair *p)
{
	return p->accepted_nodelay != -1 && p->dialed_nodelay != -1;
}

static bool both_closed(const struct pair *p)
{
	return p->closed == 2;
}

/* Dials from one transport to the other; both TCP_NODELAY values in *p. */
static void connect_pair(struct pair *p, bool install)
{
	char listen_addr[32], dial_addr[32];

	memset(p, 0, sizeof *p);
	the_pair = p;
	p->accepted_nodelay = p->dialed_nodelay = -1;
	snprintf(listen_addr, sizeof listen_addr, "127.0.0.1:%d", free_port());
	snprintf(dial_addr, sizeof dial_addr, "127.0.0.1:%d", free_port());
	uv_loop_init(&p->loop);
	uv_timer_init(&p->loop, &p->watchdog);
	p->watchdog.data = p;
	raft_uv_tcp_init(&p->listener, &p->loop);
	raft_uv_tcp_init(&p->dialer, &p->loop);
	if (install) {
		nodelay_install(&p->listener);
		nodelay_install(&p->dialer);
	}
	if (p->listener.init(&p->listener, 1, listen_addr) != 0 ||
	    p->dialer.init(&p->dialer, 2, dial_addr) != 0 ||
	    p->listener.listen(&p->listener, accept_cb) != 0) {
		p->timed_out = true;
	} else {
		p->req.data = p;
		if (p->dialer.connect(&p->dialer, &p->req, 1, listen_addr, connect_cb) != 0)
			p->timed_out = true;
		else
			run_until(p, both_seen);
	}
	p->listener.close(&p->listener, transport_closed);
	p->dialer.close(&p->dialer, transport_closed);
	run_until(p, both_closed);
	raft_uv_tcp_close(&p->listener);
	raft_uv_tcp_close(&p->dialer);
	uv_close((uv_handle_t *)&p->watchdog, NULL);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	uv_loop_close(&p->loop);
}

/* What nodelay_install is for: libraft 0.15 leaves Nagle on. If a later
 * libraft sets TCP_NODELAY itself, this fails and the wrapper can go. */
TEST(libraft_tcp_transport_leaves_nagle_on)
{
	struct pair p;

	connect_pair(&p, false);
	CHECK(!p.timed_out);
	CHECK_INT(p.accepted_nodelay, 0);
	CHECK_INT(p.dialed_nodelay, 0);
}

TEST(installed_transport_sets_nodelay_on_both_ends)
{
	struct pair p;

	connect_pair(&p, true);
	CHECK(!p.timed_out);
	CHECK_INT(p.accepted_nodelay, 1);
	CHECK_INT(p.dialed_nodelay, 1);
}

/* ---------------------------------------------------------------- dialling itself */

#define OWN_PORT 40000    /* the namespace's only ephemeral port */
enum { DIAL_REFUSED, DIAL_SELF, DIAL_OTHER, DIAL_PORT_TAKEN, DIAL_NO_NETNS = 77 };

struct dial {
	uv_loop_t loop;
	uv_timer_t watchdog;
	struct raft_uv_transport t;
	struct raft_uv_connect req;
	int outcome;   /* -1 until the connect callback */
};

static void dial_watchdog_cb(uv_timer_t *timer)
{
	uv_stop(timer->loop);
}

static void dial_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	struct dial *d = req->data;
	struct sockaddr_storage a, b;
	int alen = sizeof a, blen = sizeof b;

	if (status != 0) {
		d->outcome = DIAL_REFUSED;
		return;
	}
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	uv_tcp_getsockname((uv_tcp_t *)stream, (struct sockaddr *)&a, &alen);
	uv_tcp_getpeername((uv_tcp_t *)stream, (struct sockaddr *)&b, &blen);
	d->outcome = alen == blen && memcmp(&a, &b, (size_t)alen) == 0 ? DIAL_SELF : DIAL_OTHER;
	uv_close((uv_handle_t *)stream, stream_closed);
}

static void dial_closed(struct raft_uv_transport *t)
{
	(void)t;
}

/* Whether a listener (SO_REUSEADDR, as libuv binds) can take 127.0.0.1:port. */
static bool port_bindable(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
	     bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* In a new network namespace whose only ephemeral port is OWN_PORT, with lo
 * up: dials 127.0.0.1:OWN_PORT, where nothing listens. Runs in a child
 * process (the namespace is the process's); its exit status is the outcome,
 * DIAL_PORT_TAKEN when refused but the port stays taken. */
static int dial_own_port_child(bool install)
{
	struct ifreq ifr;
	struct dial d;
	char addr[32];
	FILE *f;
	int fd;

	if (unshare(CLONE_NEWNET) != 0)
		return DIAL_NO_NETNS;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		return DIAL_NO_NETNS;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		return DIAL_NO_NETNS;
	close(fd);
	f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "w");
	if (f == NULL || fprintf(f, "%d %d\n", OWN_PORT, OWN_PORT) < 0 || fclose(f) != 0)
		return DIAL_NO_NETNS;

	memset(&d, 0, sizeof d);
	d.outcome = -1;
	uv_loop_init(&d.loop);
	uv_timer_init(&d.loop, &d.watchdog);
	raft_uv_tcp_init(&d.t, &d.loop);
	if (install)
		nodelay_install(&d.t);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", OWN_PORT);
	d.req.data = &d;
	if (d.t.init(&d.t, 2, "127.0.0.1:1") != 0 || d.t.connect(&d.t, &d.req, 1, addr, dial_cb) != 0)
		return DIAL_OTHER;
	uv_timer_start(&d.watchdog, dial_watchdog_cb, WAIT_MS, 0);
	while (d.outcome == -1 && uv_run(&d.loop, UV_RUN_ONCE) != 0)
		;
	uv_timer_stop(&d.watchdog);
	d.t.close(&d.t, dial_closed);
	uv_run(&d.loop, UV_RUN_NOWAIT); /* the refused stream's close */
	if (d.outcome == DIAL_REFUSED && !port_bindable(OWN_PORT))
		return DIAL_PORT_TAKEN;
	return d.outcome == -1 ? DIAL_OTHER : d.outcome;
}

/* The child's outcome; DIAL_NO_NETNS when this process may not make a
 * network namespace (not root). */
static int dial_own_port(bool install)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(dial_own_port_child(install));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return DIAL_OTHER;
	return WEXITSTATUS(status);
}

/* Checks dial_own_port(install) against want; the test is skipped where
 * this process may not make a network namespace. */
static void check_dial(bool install, int want)
{
	int outcome = dial_own_port(install);

	if (outcome == DIAL_NO_NETNS) {
		UNIT_SKIP("no network namespace of its own (needs root)");
		return;
	}
	CHECK_INT(outcome, want);
}

/* What the self-connection check is for: libraft 0.15 hands over a stream
 * connected to itself as the peer's. If this fails with a later libraft,
 * the check can go. */
TEST(libraft_tcp_transport_keeps_a_dial_connected_to_itself)
{
	check_dial(false, DIAL_SELF);
}

TEST(installed_transport_refuses_a_dial_connected_to_itself)
{
	check_dial(true, DIAL_REFUSED);
}

int main(void)
{
	RUN(libraft_tcp_transport_leaves_nagle_on);
	RUN(installed_transport_sets_nodelay_on_both_ends);
	RUN(libraft_tcp_transport_keeps_a_dial_connected_to_itself);
	RUN(installed_transport_refuses_a_dial_connected_to_itself);
	return unit_done();
}
