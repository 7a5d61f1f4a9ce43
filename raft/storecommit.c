/* When the store commits what the FSM applied (see storecommit.h). */
#include "raft/storecommit.h"

#include <stdio.h>

#include "lib/error.h"

static void commit(struct storecommit *c)
{
	char errmsg[ESC_ERRMSG_SIZE], msg[ESC_ERRMSG_SIZE + 128];

	c->last_ms = uv_now(c->timer.loop);
	if (store_flush(c->store, errmsg) == ESC_OK)
		return;
	snprintf(msg, sizeof msg, "%s; stopping so that the entries are applied again at restart",
		 errmsg);
	c->fatal(c->data, msg);
}

static void timer_cb(uv_timer_t *t)
{
	commit(t->data);
}

void storecommit_init(struct storecommit *c, uv_loop_t *loop, struct store *store,
		      storecommit_fatal_cb fatal, void *data)
{
	c->store = store;
	c->fatal = fatal;
	c->data = data;
	c->last_ms = 0;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
}

void storecommit_turn(struct storecommit *c)
{
	uint64_t now = uv_now(c->timer.loop), since = now - c->last_ms;

	if (store_unflushed(c->store) == 0)
		return;
	if (since >= STORECOMMIT_MS) {
		uv_timer_stop(&c->timer);
		commit(c);
	} else if (!uv_is_active((uv_handle_t *)&c->timer)) {
		uv_timer_start(&c->timer, timer_cb, STORECOMMIT_MS - since, 0);
	}
}

void storecommit_close(struct storecommit *c, uv_close_cb cb, void *data)
{
	c->timer.data = data;
	uv_close((uv_handle_t *)&c->timer, cb);
}
