/* Stopping an HTTP server: idle connections close at once, the others
 * after their response or at the drain deadline, then the listener; the
 * stop callback runs once every handle is closed. */
#include "http/http_server.h"

#include <assert.h>
#include <stdlib.h>

#include "http/http_conn.h"

static void server_drain_close_cb(uv_handle_t *handle)
{
	struct http_server *s = handle->data;
	http_server_stop_cb cb = s->stop_cb;

	while (s->n_spare_in > 0)
		free(s->spare_in[--s->n_spare_in]);
	s->stop_cb = NULL;
	if (cb != NULL)
		cb(s);
}

void http_server_stop_check(struct http_server *s)
{
	if (!s->stopping || s->n_conns > 0 || s->listening)
		return;
	if (uv_is_closing((uv_handle_t *)&s->drain_timer))
		return;
	uv_close((uv_handle_t *)&s->drain_timer, server_drain_close_cb);
}

static void server_listener_close_cb(uv_handle_t *handle)
{
	struct http_server *s = handle->data;

	s->listening = false;
	http_server_stop_check(s);
}

void http_server_drained(struct http_server *s)
{
	struct http_conn *c;

	if (!s->stopping)
		return;
	/* Nothing pending: only connections finishing a response may stay. */
	for (c = s->conns; c != NULL; c = c->next) {
		if (c->state == HTTP_CONN_IDLE || c->state == HTTP_CONN_READING)
			http_conn_close(c);
	}
}

static void server_drain_timeout_cb(uv_timer_t *timer)
{
	struct http_server *s = timer->data;
	struct http_conn *c;

	for (c = s->conns; c != NULL; c = c->next)
		http_conn_close(c);
}

void http_server_stop(struct http_server *s, http_server_stop_cb cb)
{
	struct http_conn *c;

	assert(!s->stopping);
	s->stopping = true;
	s->stop_cb = cb;
	/* Idle connections go now. Others end after their response (every
	 * response now closes); requests completing meanwhile get 503; once
	 * nothing is pending the rest go too, or at the drain deadline. */
	for (c = s->conns; c != NULL; c = c->next) {
		if (c->state == HTTP_CONN_IDLE)
			http_conn_close(c);
	}
	if (s->n_pending == 0)
		http_server_drained(s);
	uv_timer_start(&s->drain_timer, server_drain_timeout_cb, HTTP_DRAIN_TIMEOUT_MS, 0);
	uv_close((uv_handle_t *)&s->listener, server_listener_close_cb);
}
