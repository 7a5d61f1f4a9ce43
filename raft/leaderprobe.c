/* Noticing at once that the leader's process is gone (see leaderprobe.h). */
#include "raft/leaderprobe.h"

#include <string.h>

#include "lib/error.h"
#include "lib/netaddr.h"

static void handle_closed_cb(uv_handle_t *h)
{
	struct leaderprobe *p = h->data;

	if (h == (uv_handle_t *)&p->tcp)
		p->dialing = false;
	if (--p->handles == 0 && p->closing && p->close_cb != NULL)
		p->close_cb(p);
}

static void hang_up(struct leaderprobe *p)
{
	if (!uv_is_closing((uv_handle_t *)&p->tcp))
		uv_close((uv_handle_t *)&p->tcp, handle_closed_cb);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct leaderprobe *p = req->data;
	struct leaderprobe_view v;

	hang_up(p);
	if (status != UV_ECONNREFUSED || p->closing)
		return;
	/* Still the same leader in the same term, still silent? */
	memset(&v, 0, sizeof v);
	p->look(p, &v);
	if (!v.follower || v.leader != p->target || v.term != p->target_term ||
	    v.silent_ms < LEADERPROBE_SILENT_MS)
		return;
	p->refused++;
	p->gone(p, &v);
}

static void dial(struct leaderprobe *p, const struct leaderprobe_view *v, uint64_t now)
{
	struct sockaddr_storage ss;
	struct netaddr na;
	socklen_t len;
	char errmsg[ESC_ERRMSG_SIZE];

	p->next_dial = now + LEADERPROBE_AGAIN_MS;
	/* A name would need a resolver on the loop: left to the timeout. */
	if (v->address == NULL || netaddr_parse(v->address, &na, errmsg) != ESC_OK ||
	    !netaddr_sockaddr(&na, &ss, &len))
		return;
	if (uv_tcp_init(p->loop, &p->tcp) != 0)
		return;
	p->tcp.data = p;
	p->handles++;
	p->dialing = true;
	p->dial_started = now;
	p->target = v->leader;
	p->target_term = v->term;
	p->connect.data = p;
	if (uv_tcp_connect(&p->connect, &p->tcp, (struct sockaddr *)&ss, connect_cb) != 0) {
		hang_up(p);
		return;
	}
	p->dials++;
}

static void tick_cb(uv_timer_t *t)
{
	struct leaderprobe *p = t->data;
	struct leaderprobe_view v;
	uint64_t now = uv_now(p->loop);

	if (p->dialing) {
		/* Unanswered: a partition or a dead host, for the timeout. */
		if (now - p->dial_started >= LEADERPROBE_DIAL_MS)
			hang_up(p);
		return;
	}
	if (now < p->next_dial)
		return;
	memset(&v, 0, sizeof v);
	p->look(p, &v);
	if (v.follower && v.leader != 0 && v.silent_ms >= LEADERPROBE_SILENT_MS)
		dial(p, &v, now);
}

void leaderprobe_start(struct leaderprobe *p, uv_loop_t *loop)
{
	p->loop = loop;
	p->dials = 0;
	p->refused = 0;
	p->dialing = false;
	p->next_dial = 0;
	p->closing = false;
	p->close_cb = NULL;
	p->handles = 1;
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, tick_cb, LEADERPROBE_TICK_MS, LEADERPROBE_TICK_MS);
}

void leaderprobe_close(struct leaderprobe *p, leaderprobe_close_cb cb)
{
	p->closing = true;
	p->close_cb = cb;
	if (p->dialing)
		hang_up(p);
	uv_close((uv_handle_t *)&p->timer, handle_closed_cb);
}
