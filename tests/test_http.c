/* Unit tests of the HTTP server and client, together on one libuv loop. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "http/http_client.h"
#include "http/http_client_conn.h"
#include "http/http_conn.h"
#include "http/http_parse_util.h"
#include "http/http_server.h"
#include "lib/error.h"
#include "tests/unit.h"

#define WAIT_MS 5000      /* bound of every ordinary wait */
#define RAW_TIMEOUT_S 8   /* socket timeouts in helper threads */
#define HELD_MAX 4
#define STREAM_CHUNK (64 * 1024)          /* the handler's stream writes */
#define STREAM_BIG HTTP_CLIENT_RESPONSE_MAX /* 8 MiB, all the client takes */
#define STREAM_ENDLESS (64ULL * 1024 * 1024) /* more than socket buffers hold */

enum reply_mode {
	REPLY_NOW,   /* the handler answers at once */
	REPLY_LATER, /* from a uv_timer, delay_ms later */
	REPLY_HOLD,  /* keeps the request until the test answers it */
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t watchdog;
	uv_async_t wake;          /* helper threads signal here */
	bool timed_out;
	struct http_server server;
	struct http_client client;
	char addr[32];
	enum reply_mode mode;
	unsigned delay_ms;
	struct http_request *held[HELD_MAX];
	int n_held;
	int handled;              /* handler calls */
	int calls_done;           /* client callbacks */
	int wakes;                /* helper threads finished */
	bool server_stopping;
	bool server_stopped;
	bool client_closing;
	bool client_closed;
	uint64_t stopped_ms;      /* when the server's stop callback ran */
	/* Streamed responses (/stream), the last one's story. */
	struct streamer *held_stream; /* cut by ESC_EIO with hold=1: not ended yet */
	int streams_ended;
	int stream_eio;           /* callbacks with ESC_EIO */
	int stream_status;        /* of the last start, write or callback */
	uint64_t stream_sent;     /* bytes confirmed by callbacks */
	bool stream_refused;      /* bad writes got ESC_EINVAL */
	uint64_t stream_end_ms;
};

/* Runs the loop until expr holds or ms pass (the watchdog wakes the loop). */
#define WAIT_UNTIL(f, expr, ms)                                                \
	do {                                                                   \
		(f)->timed_out = false;                                        \
		uv_timer_start(&(f)->watchdog, watchdog_cb, (ms), 0);          \
		while (!(expr) && !(f)->timed_out)                             \
			uv_run(&(f)->loop, UV_RUN_ONCE);                       \
		uv_timer_stop(&(f)->watchdog);                                 \
	} while (0)

static void watchdog_cb(uv_timer_t *timer)
{
	struct fixture *f = timer->data;

	f->timed_out = true;
}

static void wake_cb(uv_async_t *async)
{
	struct fixture *f = async->data;

	f->wakes++;
}

/* The server side: echo the request as JSON. */
static void reply_echo(struct http_request *req)
{
	char x[256];
	const char *xv = http_query_param(req, "x", x, sizeof(x));
	const char *ctype = http_request_header(req, "content-type");
	json_t *o;
	char *text;

	o = json_pack("{s:s,s:s,s:s,s:s%,s:s,s:s?,s:s?}", "method", req->method, "path",
		      req->path, "query", req->query, "body", req->body, req->body_len,
		      "peer", req->peer, "x", xv, "ctype", ctype);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text == NULL)
		http_respond_error(req, 500, NULL, "internal", "echo failed");
	else
		http_respond(req, 200, "X-Test: yes\r\n", "application/json", text,
			     strlen(text));
	free(text);
	json_decref(o);
}

/* Byte i of every streamed body: changes with the position at every scale. */
static unsigned char stream_byte(uint64_t i)
{
	return (unsigned char)(i * 7 + (i >> 8) * 13 + (i >> 16) * 29);
}

static bool stream_check(const char *body, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)body[i] != stream_byte(i))
			return false;
	}
	return true;
}

/* The server side of /stream?len=N[&stop=M][&delay=MS][&hold=1][&held=1]:
 * announces N bytes, writes M (default N) in chunks, delay ms apart, then
 * ends. hold: on ESC_EIO leave the end to the test; held: the test starts
 * the stream later. */
struct streamer {
	struct fixture *f;
	struct http_request *req;
	uint64_t len;
	uint64_t stop;
	uint64_t sent;
	size_t n;                 /* bytes of the write in flight */
	unsigned delay_ms;
	bool hold;
	uv_timer_t timer;
	char chunk[STREAM_CHUNK];
};

static void streamer_close_cb(uv_handle_t *handle)
{
	free(handle->data);
}

static void streamer_end(struct streamer *st)
{
	struct fixture *f = st->f;

	f->streams_ended++;
	f->stream_end_ms = uv_now(&f->loop);
	if (f->held_stream == st)
		f->held_stream = NULL;
	http_stream_end(st->req);
	uv_close((uv_handle_t *)&st->timer, streamer_close_cb);
}

static void stream_next(struct streamer *st);

static void stream_delay_cb(uv_timer_t *timer)
{
	stream_next(timer->data);
}

static void stream_written_cb(struct http_request *req, int status)
{
	struct streamer *st = req->data;
	struct fixture *f = st->f;

	f->stream_status = status;
	if (status != ESC_OK) {
		f->stream_eio++;
		if (st->hold)
			f->held_stream = st;
		else
			streamer_end(st);
		return;
	}
	st->sent += st->n;
	f->stream_sent = st->sent;
	if (st->delay_ms > 0)
		uv_timer_start(&st->timer, stream_delay_cb, st->delay_ms, 0);
	else
		stream_next(st);
}

static void stream_next(struct streamer *st)
{
	size_t i;
	int rv;

	if (st->sent == st->stop) {
		streamer_end(st);
		return;
	}
	st->n = st->stop - st->sent < STREAM_CHUNK ? (size_t)(st->stop - st->sent) : STREAM_CHUNK;
	for (i = 0; i < st->n; i++)
		st->chunk[i] = (char)stream_byte(st->sent + i);
	rv = http_stream_write(st->req, st->chunk, st->n, stream_written_cb);
	if (rv != ESC_OK) {
		st->f->stream_status = rv;
		streamer_end(st);
	}
}

static uint64_t query_u64(const struct http_request *req, const char *name, uint64_t def)
{
	char v[32];

	if (http_query_param(req, name, v, sizeof(v)) == NULL)
		return def;
	return strtoull(v, NULL, 10);
}

static void stream_begin(struct fixture *f, struct http_request *req)
{
	struct streamer *st = calloc(1, sizeof(*st));
	int rv;

	if (st == NULL) {
		http_respond_error(req, 500, NULL, "internal", "out of memory");
		return;
	}
	st->f = f;
	st->req = req;
	st->len = query_u64(req, "len", 0);
	st->stop = query_u64(req, "stop", st->len);
	st->delay_ms = (unsigned)query_u64(req, "delay", 0);
	st->hold = query_u64(req, "hold", 0) != 0;
	uv_timer_init(&f->loop, &st->timer);
	st->timer.data = st;
	req->data = st;
	rv = http_stream_start(req, 200, "X-Test: yes\r\n", "application/octet-stream", st->len);
	f->stream_status = rv;
	if (rv != ESC_OK) {
		streamer_end(st);
		return;
	}
	/* Bad writes are refused and change nothing. */
	f->stream_refused = http_stream_write(req, st->chunk, 0, stream_written_cb) == ESC_EINVAL;
	if (st->len < STREAM_CHUNK)
		f->stream_refused = f->stream_refused &&
				    http_stream_write(req, st->chunk, (size_t)st->len + 1,
						      stream_written_cb) == ESC_EINVAL;
	stream_next(st);
}

struct later {
	uv_timer_t timer;
	struct http_request *req;
};

static void later_close_cb(uv_handle_t *handle)
{
	free(handle->data);
}

static void later_cb(uv_timer_t *timer)
{
	struct later *l = timer->data;

	reply_echo(l->req);
	uv_close((uv_handle_t *)&l->timer, later_close_cb);
}

/* /whole?len=N: N bytes of a /stream body, answered in one response. */
static void whole_reply(struct http_request *req)
{
	size_t len = (size_t)query_u64(req, "len", 0);
	char *body = malloc(len + 1);

	if (body == NULL) {
		http_respond_error(req, 500, NULL, "internal", "out of memory");
		return;
	}
	for (size_t i = 0; i < len; i++)
		body[i] = (char)stream_byte(i);
	http_respond(req, 200, "X-Test: yes\r\n", "application/octet-stream", body, len);
	free(body);
}

static void test_handler(struct http_request *req)
{
	struct fixture *f = req->server->data;
	struct later *l;

	f->handled++;
	if (strcmp(req->path, "/stream") == 0) {
		if (query_u64(req, "held", 0) != 0 && f->n_held < HELD_MAX)
			f->held[f->n_held++] = req;
		else
			stream_begin(f, req);
		return;
	}
	if (strcmp(req->path, "/whole") == 0) {
		whole_reply(req);
		return;
	}
	if (strcmp(req->path, "/raw") == 0) {
		/* Borrowed straight from req: http_respond copies before freeing. */
		http_respond(req, 200, NULL, http_request_header(req, "content-type"), req->body,
			     req->body_len);
		return;
	}
	if (f->mode == REPLY_LATER) {
		l = malloc(sizeof(*l));
		if (l == NULL) {
			http_respond_error(req, 500, NULL, "internal", "out of memory");
			return;
		}
		l->req = req;
		uv_timer_init(&f->loop, &l->timer);
		l->timer.data = l;
		uv_timer_start(&l->timer, later_cb, f->delay_ms, 0);
	} else if (f->mode == REPLY_HOLD && f->n_held < HELD_MAX) {
		f->held[f->n_held++] = req;
	} else {
		reply_echo(req);
	}
}

static void release_held(struct fixture *f)
{
	int i;

	for (i = 0; i < f->n_held; i++)
		reply_echo(f->held[i]);
	f->n_held = 0;
}

static void server_stop_cb(struct http_server *s)
{
	struct fixture *f = s->data;

	f->server_stopped = true;
	f->stopped_ms = uv_now(&f->loop);
}

static void client_close_cb(struct http_client *c)
{
	struct fixture *f = c->data;

	f->client_closed = true;
}

static void stop_server(struct fixture *f)
{
	f->server_stopping = true;
	http_server_stop(&f->server, server_stop_cb);
}

static int fix_setup(struct fixture *f, enum reply_mode mode)
{
	char errmsg[ESC_ERRMSG_SIZE];

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->delay_ms = 50;
	uv_loop_init(&f->loop);
	uv_timer_init(&f->loop, &f->watchdog);
	f->watchdog.data = f;
	uv_async_init(&f->loop, &f->wake, wake_cb);
	f->wake.data = f;
	f->server.data = f;
	f->server.handler = test_handler;
	if (http_server_start(&f->server, &f->loop, "127.0.0.1:0", errmsg) != 0) {
		printf("# %s\n", errmsg);
		return -1;
	}
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", http_server_port(&f->server));
	http_client_init(&f->client, &f->loop);
	f->client.data = f;
	return 0;
}

/* Answers held requests, stops everything; uv_loop_close's result. */
static int fix_teardown(struct fixture *f)
{
	release_held(f);
	if (f->held_stream != NULL)
		streamer_end(f->held_stream);
	if (!f->server_stopping)
		stop_server(f);
	if (!f->client_closing) {
		f->client_closing = true;
		http_client_close(&f->client, client_close_cb);
	}
	WAIT_UNTIL(f, f->server_stopped && f->client_closed, HTTP_DRAIN_TIMEOUT_MS + WAIT_MS);
	if (!f->server_stopped || !f->client_closed)
		printf("# teardown: server stopped %d, client closed %d\n", f->server_stopped,
		       f->client_closed);
	uv_close((uv_handle_t *)&f->watchdog, NULL);
	uv_close((uv_handle_t *)&f->wake, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return uv_loop_close(&f->loop);
}

/* A test body runs between setup and teardown; its CHECKs end only the body. */
#define FIXTURE_TEST(name, mode)                                               \
	static void name##_body(struct fixture *f);                            \
	TEST(name)                                                             \
	{                                                                      \
		struct fixture fix;                                            \
		CHECK_INT(fix_setup(&fix, mode), 0);                           \
		name##_body(&fix);                                             \
		CHECK_INT(fix_teardown(&fix), 0);                              \
	}                                                                      \
	static void name##_body(struct fixture *f)

/* The client side. */
struct call {
	struct http_client_req req;
	struct fixture *f;
	bool done;
	int status;               /* ESC_* */
	int http_status;
	char body[1024];
	char connection[32];      /* the response's Connection header */
	char test_header[8];      /* X-Test */
	char ctype[64];           /* Content-Type */
	size_t body_len;
	bool stream_ok;           /* the body is a /stream body */
	uint64_t done_ms;
};

static void call_cb(struct http_client_req *req, int status, const struct http_response *resp)
{
	struct call *call = req->data;
	const char *h;

	call->done = true;
	call->status = status;
	call->done_ms = uv_now(&call->f->loop);
	if (resp != NULL) {
		call->http_status = resp->status;
		snprintf(call->body, sizeof(call->body), "%s", resp->body);
		h = http_response_header(resp, "connection");
		snprintf(call->connection, sizeof(call->connection), "%s", h ? h : "");
		h = http_response_header(resp, "x-test");
		snprintf(call->test_header, sizeof(call->test_header), "%s", h ? h : "");
		h = http_response_header(resp, "content-type");
		snprintf(call->ctype, sizeof(call->ctype), "%s", h ? h : "");
		call->body_len = resp->body_len;
		call->stream_ok = stream_check(resp->body, resp->body_len);
	}
	call->f->calls_done++;
}

static int call_send(struct fixture *f, struct call *call, const char *addr,
		     const char *method, const char *target, const char *body, size_t len,
		     uint64_t timeout_ms)
{
	memset(call, 0, sizeof(*call));
	call->f = f;
	call->req.data = call;
	return http_client_send(&f->client, &call->req, addr, method, target, NULL, body, len,
				timeout_ms, call_cb);
}

/* Field key of the JSON object in call->body, or "" when absent. */
static const char *echo_field(const struct call *call, const char *key, char *out, size_t size)
{
	json_t *o = json_loads(call->body, 0, NULL);
	json_t *v = o ? json_object_get(o, key) : NULL;

	snprintf(out, size, "%s", json_is_string(v) ? json_string_value(v) : "");
	json_decref(o);
	return out;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A blocking POSIX client in a thread: writes bytes by hand, reads until EOF. */
struct raw {
	struct fixture *f;
	int port;
	const char *send1;
	size_t len1;
	const char *wait_for;     /* read until this appears before send2 */
	unsigned pause_ms;        /* before send2 */
	const char *send2;
	size_t len2;
	bool close_at_once;       /* close after sending, read nothing */
	bool half_close;          /* end the sending side after sending, then read */
	char out[8192];
	size_t out_len;
	bool eof;                 /* the server closed the connection */
	pthread_t thread;
};

static int socket_connect(int port)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = RAW_TIMEOUT_S };
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	uv_ip4_addr("127.0.0.1", port, &sa);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads into r->out until EOF, error, or (when until is set) until appears. */
static void raw_read(int fd, struct raw *r, const char *until)
{
	ssize_t n;

	while (r->out_len + 1 < sizeof(r->out)) {
		if (until != NULL && strstr(r->out, until) != NULL)
			return;
		n = recv(fd, r->out + r->out_len, sizeof(r->out) - 1 - r->out_len, 0);
		if (n == 0)
			r->eof = true;
		if (n <= 0)
			return;
		r->out_len += (size_t)n;
		r->out[r->out_len] = '\0';
	}
}

static void *raw_main(void *arg)
{
	struct raw *r = arg;
	struct timespec ts;
	int fd;

	fd = socket_connect(r->port);
	if (fd < 0)
		goto out;
	if (!send_all(fd, r->send1, r->len1))
		goto out_fd;
	if (r->close_at_once)
		goto out_fd;
	if (r->send2 != NULL) {
		if (r->wait_for != NULL)
			raw_read(fd, r, r->wait_for);
		ts.tv_sec = r->pause_ms / 1000;
		ts.tv_nsec = (long)(r->pause_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		if (!send_all(fd, r->send2, r->len2))
			goto out_fd;
	}
	if (r->half_close)
		shutdown(fd, SHUT_WR);
	raw_read(fd, r, NULL);
out_fd:
	close(fd);
out:
	uv_async_send(&r->f->wake);
	return NULL;
}

static void raw_init(struct raw *r, struct fixture *f, const char *send1)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->port = http_server_port(&f->server);
	r->send1 = send1;
	r->len1 = strlen(send1);
}

/* Starts the thread; the caller waits for f->wakes and calls raw_join. */
static int raw_start(struct raw *r)
{
	return pthread_create(&r->thread, NULL, raw_main, r);
}

static void raw_join(struct raw *r)
{
	pthread_join(r->thread, NULL);
}

/* Runs one raw exchange to its end. */
static bool raw_exchange(struct fixture *f, struct raw *r)
{
	int before = f->wakes;

	if (raw_start(r) != 0)
		return false;
	WAIT_UNTIL(f, f->wakes > before, (RAW_TIMEOUT_S + 2) * 1000);
	raw_join(r);
	return true;
}

/* A blocking client in a thread for streamed bodies: sends request, then
 * either waits for the test's word and closes without reading, or reads
 * (read_max bytes, or until EOF) checking the body against stream_byte. */
struct sink {
	struct fixture *f;
	int port;
	const char *request;
	size_t read_max;          /* 0: until EOF */
	int release[2];           /* wait_first: a byte here lets the thread go */
	bool wait_first;
	char head[2048];          /* status line and headers */
	size_t head_len;
	bool in_body;
	uint64_t total;           /* bytes read */
	uint64_t body_len;
	uint64_t bad_bytes;       /* body bytes not as streamed */
	bool eof;
	pthread_t thread;
};

static void sink_byte(struct sink *k, unsigned char b)
{
	k->total++;
	if (k->in_body) {
		if (b != stream_byte(k->body_len))
			k->bad_bytes++;
		k->body_len++;
		return;
	}
	if (k->head_len + 1 < sizeof(k->head)) {
		k->head[k->head_len++] = (char)b;
		k->head[k->head_len] = '\0';
	}
	if (k->head_len >= 4 && memcmp(k->head + k->head_len - 4, "\r\n\r\n", 4) == 0)
		k->in_body = true;
}

static void sink_read(int fd, struct sink *k)
{
	unsigned char buf[16384];
	ssize_t n;
	ssize_t i;

	while (k->read_max == 0 || k->total < k->read_max) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			k->eof = true;
		if (n <= 0)
			return;
		for (i = 0; i < n; i++)
			sink_byte(k, buf[i]);
	}
}

static void *sink_main(void *arg)
{
	struct sink *k = arg;
	struct pollfd pfd;
	int fd;

	fd = socket_connect(k->port);
	if (fd < 0)
		goto out;
	if (!send_all(fd, k->request, strlen(k->request)))
		goto out_fd;
	if (k->wait_first) {
		pfd.fd = k->release[0];
		pfd.events = POLLIN;
		poll(&pfd, 1, (HTTP_DRAIN_TIMEOUT_MS + WAIT_MS) * 2);
		goto out_fd;
	}
	sink_read(fd, k);
out_fd:
	/* Unread bytes left: the close resets the connection. */
	close(fd);
out:
	uv_async_send(&k->f->wake);
	return NULL;
}

static void sink_init(struct sink *k, struct fixture *f, const char *request)
{
	memset(k, 0, sizeof(*k));
	k->f = f;
	k->port = http_server_port(&f->server);
	k->request = request;
	k->release[0] = -1;
	k->release[1] = -1;
}

static int sink_start(struct sink *k)
{
	if (k->wait_first && pipe(k->release) != 0)
		return -1;
	return pthread_create(&k->thread, NULL, sink_main, k);
}

/* Lets a waiting thread go, waits for its end (bounded) and joins it: the
 * thread's own waits are bounded too. */
static void sink_join(struct fixture *f, struct sink *k, int wakes_before)
{
	if (k->wait_first && write(k->release[1], "x", 1) != 1)
		printf("# sink: release failed\n");
	WAIT_UNTIL(f, f->wakes > wakes_before, (HTTP_DRAIN_TIMEOUT_MS + WAIT_MS) * 2);
	pthread_join(k->thread, NULL);
	if (k->wait_first) {
		close(k->release[0]);
		close(k->release[1]);
	}
}

FIXTURE_TEST(test_get, REPLY_NOW)
{
	struct call call;
	char v[128];

	CHECK_INT(call_send(f, &call, f->addr, "GET", "/v1/echo%2Fx?x=a%20b+c&y", NULL, 0,
			    WAIT_MS),
		  0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK_STR(call.test_header, "yes");
	CHECK_STR(echo_field(&call, "method", v, sizeof(v)), "GET");
	CHECK_STR(echo_field(&call, "path", v, sizeof(v)), "/v1/echo/x");
	CHECK_STR(echo_field(&call, "query", v, sizeof(v)), "x=a%20b+c&y");
	CHECK_STR(echo_field(&call, "x", v, sizeof(v)), "a b c");
	CHECK_STR(echo_field(&call, "body", v, sizeof(v)), "");
}

FIXTURE_TEST(test_post_body, REPLY_NOW)
{
	const char *body = "{\"volume\":\"C:\",\"n\":1}";
	struct call call;
	char v[128];

	CHECK_INT(call_send(f, &call, f->addr, "POST", "/v1/keys", body, strlen(body), WAIT_MS),
		  0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK_STR(echo_field(&call, "method", v, sizeof(v)), "POST");
	CHECK_STR(echo_field(&call, "body", v, sizeof(v)), body);
	CHECK_STR(echo_field(&call, "ctype", v, sizeof(v)), "application/json");
}

FIXTURE_TEST(test_respond_with_request_body, REPLY_NOW)
{
	struct call call;

	CHECK_INT(call_send(f, &call, f->addr, "POST", "/raw", "[1,2,3]", 7, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK_STR(call.body, "[1,2,3]");
}

FIXTURE_TEST(test_keep_alive_reuse, REPLY_NOW)
{
	struct call call;
	char peer[64];
	char v[64];
	int i;

	for (i = 0; i < 5; i++) {
		CHECK_INT(call_send(f, &call, f->addr, "GET", "/n", NULL, 0, WAIT_MS), 0);
		WAIT_UNTIL(f, call.done, WAIT_MS);
		CHECK(call.done);
		CHECK_INT(call.status, ESC_OK);
		CHECK_STR(call.connection, "");
		if (i == 0)
			echo_field(&call, "peer", peer, sizeof(peer));
		CHECK_STR(echo_field(&call, "peer", v, sizeof(v)), peer);
	}
	CHECK_INT(f->server.n_conns, 1);
}

/* Keep-alive requests reuse one receive buffer, kept by the server between
 * them and wiped first: no byte of a request (a password) stays in it. */
FIXTURE_TEST(test_receive_buffer_reused_and_wiped, REPLY_NOW)
{
	static const char secret[] = "{\"recovery_password\":\"123456-654321\"}";
	struct call call;
	char *kept = NULL;

	for (int i = 0; i < 3; i++) {
		CHECK_INT(call_send(f, &call, f->addr, "POST", "/n", secret, strlen(secret),
				    WAIT_MS), 0);
		WAIT_UNTIL(f, call.done, WAIT_MS);
		CHECK(call.done);
		CHECK_INT(call.status, ESC_OK);
		CHECK_INT(f->server.n_spare_in, 1);
		if (kept == NULL)
			kept = f->server.spare_in[0];
		CHECK(f->server.spare_in[0] == kept);
		CHECK(memmem(kept, HTTP_CONN_READ_SIZE, "123456-654321", 13) == NULL);
		CHECK(memmem(kept, HTTP_CONN_READ_SIZE, "POST /n", 7) == NULL);
	}
}

FIXTURE_TEST(test_async_reply, REPLY_LATER)
{
	struct call call;
	uint64_t start = uv_now(&f->loop);

	f->delay_ms = 100;
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/later", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK(call.done_ms - start >= 90);
}

FIXTURE_TEST(test_body_too_large, REPLY_NOW)
{
	size_t len = 70 * 1024;
	char *body = malloc(len);
	struct call call;
	char v[64];

	CHECK(body != NULL);
	memset(body, 'a', len);
	CHECK_INT(call_send(f, &call, f->addr, "POST", "/big", body, len, WAIT_MS), 0);
	free(body);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 413);
	CHECK_STR(call.connection, "close");
	CHECK(strstr(call.body, "\"code\":\"body_too_large\"") != NULL);
	CHECK_INT(f->handled, 0);
	(void)v;
}

FIXTURE_TEST(test_length_required, REPLY_NOW)
{
	struct raw r;

	raw_init(&r, f, "POST /v1/keys HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 411 Length Required\r\n"));
	CHECK(strstr(r.out, "\"length_required\"") != NULL);
	CHECK(strstr(r.out, "Connection: close\r\n") != NULL);
	CHECK(r.eof);
	CHECK_INT(f->handled, 0);
}

FIXTURE_TEST(test_malformed, REPLY_NOW)
{
	struct raw r;

	raw_init(&r, f, "GET / HTTP/1.1\r\nHost x\r\n\r\n");
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 400 Bad Request\r\n"));
	CHECK(strstr(r.out, "\"code\":\"bad_request\"") != NULL);
	CHECK(r.eof);

	raw_init(&r, f, "\x16\x03\x01\x02\x01\x01\x02\x01\xfc\x03\x03 garbage\r\n\r\n");
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 400 "));
	CHECK(r.eof);
	CHECK_INT(f->handled, 0);
}

FIXTURE_TEST(test_bad_request_head, REPLY_NOW)
{
	static const char *const bad[] = {
		"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%4 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%0a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\r\nX-Bell: \x07\r\n\r\n",
		"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc",
		"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	};
	struct raw r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_init(&r, f, bad[i]);
		CHECK(raw_exchange(f, &r));
		CHECK(starts_with(r.out, "HTTP/1.1 400 "));
		CHECK(r.eof);
	}
	CHECK_INT(f->handled, 0);
}

FIXTURE_TEST(test_too_many_headers, REPLY_NOW)
{
	char req[8192];
	size_t n;
	int i;
	struct raw r;

	n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
	for (i = 0; i <= HTTP_HEADERS_MAX; i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "X-H%d: v\r\n", i);
	snprintf(req + n, sizeof(req) - n, "\r\n");
	raw_init(&r, f, req);
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 431 "));
	CHECK(strstr(r.out, "\"headers_too_large\"") != NULL);
	CHECK(r.eof);
	CHECK_INT(f->handled, 0);
}

FIXTURE_TEST(test_header_bytes_limit, REPLY_NOW)
{
	size_t len = HTTP_HEADER_BYTES_MAX + 100;
	char *req = malloc(len + 64);
	struct raw r;
	size_t n;

	CHECK(req != NULL);
	n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nX-Big: ");
	memset(req + n, 'b', len);
	sprintf(req + n + len, "\r\n\r\n");
	raw_init(&r, f, req);
	CHECK(raw_exchange(f, &r));
	free(req);
	CHECK(starts_with(r.out, "HTTP/1.1 431 "));
	CHECK(r.eof);
}

FIXTURE_TEST(test_pipelined, REPLY_LATER)
{
	struct raw r;
	const char *a;
	const char *b;

	f->delay_ms = 50;
	raw_init(&r, f,
		 "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
		 "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		 "Connection: close\r\n\r\nabc");
	CHECK(raw_exchange(f, &r));
	a = strstr(r.out, "\"path\":\"/first\"");
	b = strstr(r.out, "\"path\":\"/second\"");
	CHECK(a != NULL);
	CHECK(b != NULL);
	CHECK(a < b);
	CHECK(strstr(r.out, "\"body\":\"abc\"") != NULL);
	CHECK(r.eof);
	CHECK_INT(f->handled, 2);
}

/* A client that ends its side right after its requests (shutdown(SHUT_WR))
 * still gets every answer, in order, then the end of the connection: the
 * end of input waits for the answers. */
FIXTURE_TEST(test_half_close_after_requests, REPLY_LATER)
{
	struct raw r;
	const char *a, *b;

	f->delay_ms = 50;
	raw_init(&r, f, "GET /only HTTP/1.1\r\nHost: x\r\n\r\n");
	r.half_close = true;
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(r.out, "\"path\":\"/only\"") != NULL);
	CHECK(r.eof);

	raw_init(&r, f,
		 "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
		 "GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
	r.half_close = true;
	CHECK(raw_exchange(f, &r));
	a = strstr(r.out, "\"path\":\"/first\"");
	b = strstr(r.out, "\"path\":\"/second\"");
	CHECK(a != NULL && b != NULL && a < b);
	CHECK(r.eof);
	CHECK_INT(f->handled, 3);
}

/* A next request larger than the receive buffer, sent while the first is
 * pending: the buffer fills, reading waits for the answer, and both are
 * served. */
FIXTURE_TEST(test_next_request_fills_buffer_while_pending, REPLY_LATER)
{
	static const char head[] = "POST /second HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: 20000\r\nConnection: close\r\n\r\n";
	char *second = malloc(sizeof head + 20000);
	struct raw r;

	CHECK(second != NULL);
	memcpy(second, head, sizeof head - 1);
	memset(second + sizeof head - 1, 'A', 20000);
	second[sizeof head - 1 + 20000] = '\0';
	f->delay_ms = 100;
	raw_init(&r, f, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
	r.pause_ms = 20;
	r.send2 = second;
	r.len2 = strlen(second);
	CHECK(raw_exchange(f, &r));
	free(second);
	CHECK(starts_with(r.out, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(r.out, "\"path\":\"/first\"") != NULL);
	/* The second answer echoes 20,000 bytes: its start is enough. */
	CHECK(strstr(r.out, "\"path\":\"/second\"") != NULL);
	CHECK_INT(f->handled, 2);
}

FIXTURE_TEST(test_chunked_request, REPLY_NOW)
{
	size_t big = HTTP_BODY_MAX + 10;
	char *req;
	struct raw r;
	size_t n;

	raw_init(&r, f,
		 "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		 "Connection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n");
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(r.out, "\"body\":\"abcde\"") != NULL);

	/* Over the limit in chunks: 413 without reaching the handler. */
	req = malloc(big + 256);
	CHECK(req != NULL);
	n = (size_t)sprintf(req, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
				 "\r\n%zx\r\n", big);
	memset(req + n, 'z', big);
	sprintf(req + n + big, "\r\n0\r\n\r\n");
	raw_init(&r, f, req);
	CHECK(raw_exchange(f, &r));
	free(req);
	CHECK(starts_with(r.out, "HTTP/1.1 413 "));
	CHECK(r.eof);
	CHECK_INT(f->handled, 1);
}

FIXTURE_TEST(test_expect_continue, REPLY_NOW)
{
	struct raw r;

	raw_init(&r, f,
		 "PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
		 "Expect: 100-continue\r\nConnection: close\r\n\r\n");
	r.wait_for = "\r\n\r\n";
	r.send2 = "hello";
	r.len2 = 5;
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
	CHECK(strstr(r.out, "\"body\":\"hello\"") != NULL);

	/* Too large: 413 and no 100. */
	raw_init(&r, f,
		 "PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n"
		 "Expect: 100-continue\r\n\r\n");
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 413 "));
	CHECK(r.eof);
}

FIXTURE_TEST(test_http10_and_head, REPLY_NOW)
{
	struct raw r;

	raw_init(&r, f, "GET /old HTTP/1.0\r\n\r\n");
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(r.out, "Connection: close\r\n") != NULL);
	CHECK(r.eof);

	raw_init(&r, f, "HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(raw_exchange(f, &r));
	CHECK(starts_with(r.out, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(r.out, "Content-Length: ") != NULL);
	CHECK(strstr(r.out, "\"path\"") == NULL);
}

FIXTURE_TEST(test_client_timeout, REPLY_HOLD)
{
	struct call call;

	CHECK_INT(call_send(f, &call, f->addr, "GET", "/slow", NULL, 0, 200), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_ETIMEOUT);
	CHECK_INT(f->n_held, 1);
	/* The late answer goes to a closed connection and is dropped. */
	release_held(f);
	WAIT_UNTIL(f, f->server.n_conns == 0, WAIT_MS);
	CHECK_INT(f->server.n_conns, 0);
	CHECK_INT(f->server.n_pending, 0);
}

static int closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

FIXTURE_TEST(test_connect_refused, REPLY_NOW)
{
	struct call call;
	char addr[32];
	int port = closed_port();

	CHECK(port > 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	CHECK_INT(call_send(f, &call, addr, "GET", "/", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_EIO);
}

/* A name is resolved on the loop and its addresses tried in turn: the
 * server listens on 127.0.0.1 only, and localhost may also resolve to ::1
 * first. */
FIXTURE_TEST(test_client_by_name, REPLY_NOW)
{
	struct call call;
	char addr[64];

	snprintf(addr, sizeof addr, "localhost:%d", http_server_port(&f->server));
	CHECK_INT(call_send(f, &call, addr, "GET", "/", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
}

/* RFC 2606: .invalid never resolves; the request fails, nothing else. */
FIXTURE_TEST(test_client_name_unresolved, REPLY_NOW)
{
	struct call call;

	CHECK_INT(call_send(f, &call, "nowhere.invalid:80", "GET", "/", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_EIO);
	CHECK(strstr(f->client.tls_error, "nowhere.invalid does not resolve") != NULL);
}

FIXTURE_TEST(test_client_bad_input, REPLY_NOW)
{
	struct call call;

	CHECK_INT(call_send(f, &call, "127.0.0.1", "GET", "/", NULL, 0, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, "::1:80", "GET", "/", NULL, 0, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, "Localhost:80", "GET", "/", NULL, 0, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, "127.0.0.1:99999", "GET", "/", NULL, 0, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, f->addr, "G T", "/", NULL, 0, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/a b", NULL, 0, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, f->addr, "GET", "nope", NULL, 0, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, f->addr, "POST", "/", NULL, 3, 100), ESC_EINVAL);
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/", NULL, 0, 0), ESC_EINVAL);
	memset(&call, 0, sizeof(call));
	CHECK_INT(http_client_send(&f->client, &call.req, f->addr, "GET", "/",
				   "X-A: 1\r\n\r\nGET / HTTP/1.1\r\n", NULL, 0, 100, call_cb),
		  ESC_EINVAL);
	CHECK_INT(http_client_send(&f->client, &call.req, f->addr, "GET", "/", "X-A: 1\n",
				   NULL, 0, 100, call_cb),
		  ESC_EINVAL);
	CHECK_INT(f->calls_done, 0);
}

FIXTURE_TEST(test_client_close_fails_pending, REPLY_HOLD)
{
	struct call call;

	CHECK_INT(call_send(f, &call, f->addr, "GET", "/held", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, f->handled == 1, WAIT_MS);
	CHECK_INT(f->handled, 1);
	f->client_closing = true;
	http_client_close(&f->client, client_close_cb);
	WAIT_UNTIL(f, call.done && f->client_closed, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_ESHUTDOWN);
	CHECK(f->client_closed);
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/", NULL, 0, 100), ESC_ESHUTDOWN);
}

FIXTURE_TEST(test_stop_drains, REPLY_LATER)
{
	struct call call;

	f->delay_ms = 200;
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/drain", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, f->handled == 1, WAIT_MS);
	CHECK_INT(f->handled, 1);
	stop_server(f);
	WAIT_UNTIL(f, call.done && f->server_stopped, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK_STR(call.connection, "close");
	CHECK(f->server_stopped);
}

FIXTURE_TEST(test_stop_rejects_new_requests, REPLY_LATER)
{
	struct call call;
	struct raw r;
	int before = f->wakes;
	int never = 0;

	f->delay_ms = 800;
	raw_init(&r, f, "GET /late HTTP/1.1\r\nHost: x\r\n");
	r.pause_ms = 400;
	r.send2 = "\r\n";
	r.len2 = 2;
	CHECK_INT(raw_start(&r), 0);
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/pending", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, f->handled == 1, WAIT_MS);
	WAIT_UNTIL(f, never, 150); /* let the raw connection be accepted */
	stop_server(f);
	WAIT_UNTIL(f, f->wakes > before && call.done && f->server_stopped, WAIT_MS);
	raw_join(&r);
	CHECK(call.done);
	CHECK_INT(call.http_status, 200);
	CHECK(starts_with(r.out, "HTTP/1.1 503 "));
	CHECK(strstr(r.out, "Retry-After: 1\r\n") != NULL);
	CHECK(strstr(r.out, "\"shutting_down\"") != NULL);
	CHECK(f->server_stopped);
}

FIXTURE_TEST(test_stop_closes_idle_at_once, REPLY_NOW)
{
	struct call call;
	struct raw r;
	int before = f->wakes;
	int never = 0;
	uint64_t start;

	CHECK_INT(call_send(f, &call, f->addr, "GET", "/idle", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK_INT(call.status, ESC_OK);
	raw_init(&r, f, "GET /partial HTTP/1.1\r\n");
	r.pause_ms = 1000;
	r.send2 = "\r\n";
	r.len2 = 2;
	CHECK_INT(raw_start(&r), 0);
	WAIT_UNTIL(f, never, 150); /* let the raw connection be accepted */
	CHECK_INT(f->server.n_conns, 2);
	start = uv_now(&f->loop);
	stop_server(f);
	WAIT_UNTIL(f, f->server_stopped, WAIT_MS);
	CHECK(f->server_stopped);
	CHECK(uv_now(&f->loop) - start < 500);
	WAIT_UNTIL(f, f->wakes > before, WAIT_MS);
	raw_join(&r);
	CHECK_INT(r.out_len, 0);
}

FIXTURE_TEST(test_drain_timeout, REPLY_HOLD)
{
	struct call call;
	uint64_t start;

	CHECK_INT(call_send(f, &call, f->addr, "GET", "/stuck", NULL, 0,
			    HTTP_DRAIN_TIMEOUT_MS + WAIT_MS),
		  0);
	WAIT_UNTIL(f, f->handled == 1, WAIT_MS);
	CHECK_INT(f->handled, 1);
	start = uv_now(&f->loop);
	stop_server(f);
	WAIT_UNTIL(f, f->server_stopped && call.done, HTTP_DRAIN_TIMEOUT_MS + WAIT_MS);
	CHECK(f->server_stopped);
	CHECK(uv_now(&f->loop) - start >= HTTP_DRAIN_TIMEOUT_MS - 100);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_EIO);
	/* The handler answers after all: only freed. */
	CHECK_INT(f->n_held, 1);
	CHECK(f->held[0]->conn == NULL);
	release_held(f);
}

FIXTURE_TEST(test_client_gone_while_pending, REPLY_HOLD)
{
	struct raw r;

	raw_init(&r, f, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
	r.close_at_once = true;
	CHECK(raw_exchange(f, &r));
	WAIT_UNTIL(f, f->handled == 1, WAIT_MS);
	CHECK_INT(f->handled, 1);
	release_held(f);
	WAIT_UNTIL(f, f->server.n_conns == 0, WAIT_MS);
	CHECK_INT(f->server.n_conns, 0);
}

TEST(test_addr_in_use)
{
	struct fixture fix;
	struct http_server other;
	char errmsg[ESC_ERRMSG_SIZE];
	char want[64];
	int rv;

	CHECK_INT(fix_setup(&fix, REPLY_NOW), 0);
	memset(&other, 0, sizeof(other));
	other.handler = test_handler;
	rv = http_server_start(&other, &fix.loop, fix.addr, errmsg);
	snprintf(want, sizeof(want), "api address %s is already in use", fix.addr);
	CHECK_INT(fix_teardown(&fix), 0);
	CHECK_INT(rv, ESC_EADDRINUSE);
	CHECK_STR(errmsg, want);
}

TEST(test_bad_listen_addr)
{
	static const char *const bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
					   "127.0.0.1:8x", "LocalHost:80", ":80", "::1:80",
					   "[::1:80", "[::1]80" };
	struct http_server s;
	char errmsg[ESC_ERRMSG_SIZE];
	uv_loop_t loop;
	size_t i;

	uv_loop_init(&loop);
	memset(&s, 0, sizeof(s));
	s.handler = test_handler;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(http_server_start(&s, &loop, bad[i], errmsg), ESC_EINVAL);
	CHECK_INT(uv_loop_close(&loop), 0);
}

/* Header lines built from fragments as http_parser hands them over, split
 * anywhere, one value longer than a block: every name and value comes out
 * whole, and the lines live in a few blocks, not one allocation each. */
TEST(test_header_fragments)
{
	struct http_parse_headers h;
	char big[3001], name[32], value[32];
	size_t blocks = 0;

	memset(&h, 0, sizeof h);
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "X-Header-%d", i);
		snprintf(value, sizeof value, "value %d", i * 7);
		for (size_t k = 0; k < strlen(name); k += 3)
			CHECK_INT(http_parse_headers_field(&h, name + k,
							   strlen(name) - k < 3 ? strlen(name) - k : 3), 0);
		if (i == 10) {
			for (size_t k = 0; k < sizeof big - 1; k += 7)
				CHECK_INT(http_parse_headers_value(&h, big + k,
								   sizeof big - 1 - k < 7 ? sizeof big - 1 - k : 7), 0);
		} else { /* line 15 has an empty value */
			CHECK_INT(http_parse_headers_value(&h, value, i == 15 ? 0 : strlen(value)), 0);
		}
	}
	CHECK_INT(h.n, 20);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "X-Header-%d", i);
		snprintf(value, sizeof value, "value %d", i * 7);
		CHECK_STR(h.v[i].name, name);
		CHECK_STR(h.v[i].value, i == 10 ? big : i == 15 ? "" : value);
	}
	CHECK_STR(http_parse_header_find(h.v, h.n, "x-header-19"), "value 133");
	for (struct http_parse_block *b = h.blocks; b != NULL; b = b->next)
		blocks++;
	CHECK(blocks >= 1 && blocks <= 4);
	http_parse_headers_free(&h);
	CHECK(h.v == NULL && h.blocks == NULL && h.n == 0);
}

TEST(test_query_param)
{
	struct http_request req;
	char buf[8];

	memset(&req, 0, sizeof(req));
	req.query = "a=1&b=x+y%21&c&d=&e=%zz&f=%00&long=123456789&%62b=2";
	CHECK_STR(http_query_param(&req, "a", buf, sizeof(buf)), "1");
	CHECK_STR(http_query_param(&req, "b", buf, sizeof(buf)), "x y!");
	CHECK_STR(http_query_param(&req, "c", buf, sizeof(buf)), "");
	CHECK_STR(http_query_param(&req, "d", buf, sizeof(buf)), "");
	CHECK(http_query_param(&req, "e", buf, sizeof(buf)) == NULL);
	CHECK(http_query_param(&req, "f", buf, sizeof(buf)) == NULL);
	CHECK(http_query_param(&req, "long", buf, sizeof(buf)) == NULL);
	CHECK_STR(http_query_param(&req, "bb", buf, sizeof(buf)), "2");
	CHECK(http_query_param(&req, "zz", buf, sizeof(buf)) == NULL);
	req.query = "";
	CHECK(http_query_param(&req, "a", buf, sizeof(buf)) == NULL);
}

/* A hand-written server in a thread for the client's corner cases. */
struct fake_server {
	struct fixture *f;
	int fd;
	int port;
	const char *first;        /* response to the first request */
	bool stale;               /* then drop the connection at the second request */
	const char *second;       /* response on a second connection, or NULL */
	int accepted;
	size_t body_want;         /* read a body this long, slowly, before answering */
	size_t body_got;          /* its bytes read */
	size_t body_bad;          /* of which not as stream_byte says */
	pthread_t thread;
};

static bool read_request(int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;

	while (len + 1 < sizeof(buf)) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			return true;
	}
	return false;
}

/* Reads a request with a body of fs->body_want bytes: first waits, so that
 * the client finds the socket full, then reads it all and checks it. */
static bool read_request_body(struct fake_server *fs, int fd)
{
	static char buf[65536];
	size_t len = 0, from;
	ssize_t n;
	char *end = NULL;

	usleep(200 * 1000);
	while (end == NULL && len + 1 < sizeof(buf)) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (end == NULL)
		return false;
	from = (size_t)(end + 4 - buf);
	for (;;) {
		for (size_t i = from; i < len && fs->body_got < fs->body_want; i++)
			fs->body_bad += (unsigned char)buf[i] != stream_byte(fs->body_got++);
		if (fs->body_got == fs->body_want)
			return true;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return false;
		len = (size_t)n;
		from = 0;
	}
}

static int fake_accept(struct fake_server *fs)
{
	struct timeval tv = { .tv_sec = RAW_TIMEOUT_S };
	int fd = accept(fs->fd, NULL, NULL);

	if (fd >= 0) {
		fs->accepted++;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

static void *fake_main(void *arg)
{
	struct fake_server *fs = arg;
	int fd;

	fd = fake_accept(fs);
	if (fd < 0)
		goto out;
	if (fs->body_want > 0 ? read_request_body(fs, fd) : read_request(fd))
		send_all(fd, fs->first, strlen(fs->first));
	if (fs->stale)
		read_request(fd);
	close(fd);
	if (fs->second == NULL)
		goto out;
	fd = fake_accept(fs);
	if (fd < 0)
		goto out;
	if (read_request(fd))
		send_all(fd, fs->second, strlen(fs->second));
	close(fd);
out:
	uv_async_send(&fs->f->wake);
	return NULL;
}

static int fake_start(struct fake_server *fs, struct fixture *f)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct timeval tv = { .tv_sec = RAW_TIMEOUT_S };

	fs->f = f;
	fs->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fs->fd < 0)
		return -1;
	setsockopt(fs->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (bind(fs->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fs->fd, 8) != 0 ||
	    getsockname(fs->fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fs->fd);
		return -1;
	}
	fs->port = ntohs(sa.sin_port);
	return pthread_create(&fs->thread, NULL, fake_main, fs);
}

static void fake_join(struct fake_server *fs)
{
	pthread_join(fs->thread, NULL);
	close(fs->fd);
}

/* One request to a fake server answering with response; the call's result. */
static void fake_call(struct fixture *f, const char *response, struct call *call)
{
	struct fake_server fs = { .first = response };
	char addr[32];
	int before = f->wakes;

	memset(call, 0, sizeof(*call));
	call->status = -1;
	if (fake_start(&fs, f) != 0)
		return;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", fs.port);
	if (call_send(f, call, addr, "GET", "/", NULL, 0, WAIT_MS) == 0)
		WAIT_UNTIL(f, call->done && f->wakes > before, WAIT_MS);
	else
		call->status = -1;
	fake_join(&fs);
}

/* A request larger than the socket takes goes partly at once and the rest
 * as the server reads: the server gets every byte, in order, and the
 * answer comes back. */
FIXTURE_TEST(test_client_request_larger_than_the_socket, REPLY_NOW)
{
	const size_t len = 8u << 20;
	struct fake_server fs = {
		.first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		.body_want = len,
	};
	struct call call;
	char addr[32];
	char *body = malloc(len);
	int before = f->wakes;

	CHECK(body != NULL);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)stream_byte(i);
	CHECK_INT(fake_start(&fs, f), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", fs.port);
	CHECK_INT(call_send(f, &call, addr, "POST", "/", body, len, WAIT_MS), 0);
	free(body); /* the client holds its own copy */
	WAIT_UNTIL(f, call.done && f->wakes > before, WAIT_MS);
	fake_join(&fs);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK_STR(call.body, "ok");
	CHECK_INT(fs.body_got, len);
	CHECK_INT(fs.body_bad, 0);
}

FIXTURE_TEST(test_client_response_framing, REPLY_NOW)
{
	struct call call;

	fake_call(f,
		  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		  "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		  &call);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK_STR(call.body, "hello world");

	fake_call(f, "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nuntil the end", &call);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 404);
	CHECK_STR(call.body, "until the end");

	fake_call(f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", &call);
	CHECK_INT(call.status, ESC_EIO);

	fake_call(f, "SSH-2.0-OpenSSH\r\n\r\n", &call);
	CHECK_INT(call.status, ESC_ECORRUPT);

	fake_call(f, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", &call);
	CHECK_INT(call.status, ESC_ETOOBIG);
}

FIXTURE_TEST(test_client_retries_stale_connection, REPLY_NOW)
{
	struct fake_server fs = {
		.first = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
		.stale = true,
		.second = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
	};
	struct call call;
	char addr[32];
	int before = f->wakes;

	CHECK_INT(fake_start(&fs, f), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", fs.port);
	if (call_send(f, &call, addr, "GET", "/1", NULL, 0, WAIT_MS) == 0)
		WAIT_UNTIL(f, call.done, WAIT_MS);
	if (call.done && call.status == ESC_OK &&
	    call_send(f, &call, addr, "GET", "/2", NULL, 0, WAIT_MS) == 0)
		WAIT_UNTIL(f, call.done && f->wakes > before, WAIT_MS);
	fake_join(&fs);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_STR(call.body, "second");
	CHECK_INT(fs.accepted, 2);
}

FIXTURE_TEST(test_stream_large, REPLY_NOW)
{
	struct call call;
	char target[64];

	snprintf(target, sizeof(target), "/stream?len=%d", STREAM_BIG);
	CHECK_INT(call_send(f, &call, f->addr, "GET", target, NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done && f->streams_ended == 1, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.http_status, 200);
	CHECK_INT(call.body_len, STREAM_BIG);
	CHECK(call.stream_ok);
	CHECK_STR(call.test_header, "yes");
	CHECK_STR(call.ctype, "application/octet-stream");
	CHECK_STR(call.connection, "");
	CHECK_INT(f->streams_ended, 1);
	CHECK_INT(f->stream_status, ESC_OK);
	CHECK_INT(f->stream_sent, STREAM_BIG);
	CHECK(f->stream_refused);
	CHECK_INT(f->server.n_pending, 0);
}

FIXTURE_TEST(test_stream_bad_writes, REPLY_NOW)
{
	struct call call;

	/* A zero or too long write is refused; the stream goes on. */
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/stream?len=100", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done && f->streams_ended == 1, WAIT_MS);
	CHECK(f->stream_refused);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.body_len, 100);
	CHECK(call.stream_ok);
}

/* GET /after with call: answered, and from the same client port as peer
 * (the connection was kept for it). */
static bool after_on_same_connection(struct fixture *f, struct call *call, const char *peer)
{
	char v[64];

	if (call_send(f, call, f->addr, "GET", "/after", NULL, 0, WAIT_MS) != 0)
		return false;
	WAIT_UNTIL(f, call->done, WAIT_MS);
	return call->done && call->status == ESC_OK &&
	       strcmp(echo_field(call, "path", v, sizeof(v)), "/after") == 0 &&
	       strcmp(echo_field(call, "peer", v, sizeof(v)), peer) == 0;
}

FIXTURE_TEST(test_stream_keep_alive, REPLY_NOW)
{
	struct call call;
	char peer[64];
	int i;

	CHECK_INT(call_send(f, &call, f->addr, "GET", "/before", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK_INT(call.status, ESC_OK);
	echo_field(&call, "peer", peer, sizeof(peer));
	for (i = 1; i <= 2; i++) {
		CHECK_INT(call_send(f, &call, f->addr, "GET", "/stream?len=1048576", NULL, 0,
				    WAIT_MS),
			  0);
		WAIT_UNTIL(f, call.done && f->streams_ended == i, WAIT_MS);
		CHECK_INT(call.status, ESC_OK);
		CHECK_INT(call.body_len, 1048576);
		CHECK(call.stream_ok);
		CHECK(after_on_same_connection(f, &call, peer));
	}
	CHECK_INT(f->server.n_conns, 1);
}

/* A response is written at once when the socket takes it whole; one larger
 * than the socket's buffers goes partly at once, the rest as the client
 * reads. Either way the client gets all of it, and the connection serves
 * the next request. */
FIXTURE_TEST(test_whole_response_small_and_larger_than_the_socket, REPLY_NOW)
{
	static const size_t lens[] = { 100, STREAM_BIG - 4096, 1000 };
	struct call call;
	char target[64], peer[64];

	CHECK_INT(call_send(f, &call, f->addr, "GET", "/before", NULL, 0, WAIT_MS), 0);
	WAIT_UNTIL(f, call.done, WAIT_MS);
	CHECK_INT(call.status, ESC_OK);
	echo_field(&call, "peer", peer, sizeof(peer));
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		snprintf(target, sizeof(target), "/whole?len=%zu", lens[i]);
		CHECK_INT(call_send(f, &call, f->addr, "GET", target, NULL, 0, WAIT_MS), 0);
		WAIT_UNTIL(f, call.done, WAIT_MS);
		CHECK_INT(call.status, ESC_OK);
		CHECK_INT(call.http_status, 200);
		CHECK_INT(call.body_len, lens[i]);
		CHECK(call.stream_ok);
		CHECK(after_on_same_connection(f, &call, peer));
	}
	CHECK_INT(f->server.n_conns, 1);
	CHECK_INT(f->server.n_pending, 0);
}

FIXTURE_TEST(test_stream_client_gone, REPLY_NOW)
{
	struct sink k;
	char request[128];
	int before = f->wakes;

	snprintf(request, sizeof(request),
		 "GET /stream?len=%llu HTTP/1.1\r\nHost: x\r\n\r\n", STREAM_ENDLESS);
	sink_init(&k, f, request);
	k.read_max = 100 * 1000;
	CHECK_INT(sink_start(&k), 0);
	sink_join(f, &k, before);
	CHECK(k.total >= k.read_max);
	CHECK_INT(k.bad_bytes, 0);
	/* The server learns it from a failed write; the callback tells the
	 * handler, which ends the stream; everything is freed. */
	WAIT_UNTIL(f, f->streams_ended == 1 && f->server.n_conns == 0, WAIT_MS);
	CHECK_INT(f->stream_eio, 1);
	CHECK_INT(f->stream_status, ESC_EIO);
	CHECK_INT(f->streams_ended, 1);
	CHECK(f->stream_sent < STREAM_ENDLESS);
	CHECK_INT(f->server.n_conns, 0);
	CHECK_INT(f->server.n_pending, 0);
}

FIXTURE_TEST(test_stream_stop_waits, REPLY_NOW)
{
	struct call call;
	uint64_t start;

	/* 16 chunks, 20 ms apart: the stop comes midway. */
	CHECK_INT(call_send(f, &call, f->addr, "GET", "/stream?len=1048576&delay=20", NULL, 0,
			    WAIT_MS),
		  0);
	WAIT_UNTIL(f, f->stream_sent > 0, WAIT_MS);
	CHECK(f->stream_sent > 0);
	start = uv_now(&f->loop);
	stop_server(f);
	WAIT_UNTIL(f, call.done && f->server_stopped, WAIT_MS);
	CHECK(call.done);
	CHECK_INT(call.status, ESC_OK);
	CHECK_INT(call.body_len, 1048576);
	CHECK(call.stream_ok);
	CHECK(f->server_stopped);
	CHECK_INT(f->stream_eio, 0);
	CHECK_INT(f->streams_ended, 1);
	CHECK(f->stream_end_ms <= f->stopped_ms);
	CHECK(f->stopped_ms - start < HTTP_DRAIN_TIMEOUT_MS);
}

FIXTURE_TEST(test_stream_drain_timeout, REPLY_NOW)
{
	struct sink k;
	char request[128];
	int before = f->wakes;
	int never = 0;
	uint64_t start;

	/* The client reads nothing: the socket buffers fill, a write stays out. */
	snprintf(request, sizeof(request),
		 "GET /stream?len=%llu&hold=1 HTTP/1.1\r\nHost: x\r\n\r\n", STREAM_ENDLESS);
	sink_init(&k, f, request);
	k.wait_first = true;
	CHECK_INT(sink_start(&k), 0);
	WAIT_UNTIL(f, f->handled == 1, WAIT_MS);
	WAIT_UNTIL(f, never, 300);
	start = uv_now(&f->loop);
	stop_server(f);
	WAIT_UNTIL(f, f->server_stopped, HTTP_DRAIN_TIMEOUT_MS + WAIT_MS);
	sink_join(f, &k, before);
	CHECK(f->server_stopped);
	CHECK(f->stopped_ms - start >= HTTP_DRAIN_TIMEOUT_MS - 100);
	CHECK_INT(f->stream_eio, 1);
	CHECK_INT(f->stream_status, ESC_EIO);
	CHECK(f->stream_sent < STREAM_ENDLESS);
	CHECK_INT(f->server.n_pending, 0);
	/* The handler ends the stream after the server is gone: only freed. */
	CHECK(f->held_stream != NULL);
	CHECK(f->held_stream->req->conn == NULL);
	streamer_end(f->held_stream);
	CHECK_INT(f->streams_ended, 1);
}

FIXTURE_TEST(test_stream_short, REPLY_NOW)
{
	struct sink k;
	int before = f->wakes;

	/* 1 MiB announced, 256 KiB sent: the connection closes after them,
	 * although the client asked for keep-alive. */
	sink_init(&k, f, "GET /stream?len=1048576&stop=262144 HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_INT(sink_start(&k), 0);
	sink_join(f, &k, before);
	CHECK(starts_with(k.head, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(k.head, "Content-Length: 1048576\r\n") != NULL);
	CHECK(strstr(k.head, "X-Test: yes\r\n") != NULL);
	CHECK(strstr(k.head, "Connection: close") == NULL);
	CHECK_INT(k.body_len, 262144);
	CHECK_INT(k.bad_bytes, 0);
	CHECK(k.eof);
	CHECK_INT(f->stream_status, ESC_OK);
	CHECK_INT(f->streams_ended, 1);
	WAIT_UNTIL(f, f->server.n_conns == 0, WAIT_MS);
	CHECK_INT(f->server.n_conns, 0);
}

FIXTURE_TEST(test_stream_head, REPLY_NOW)
{
	struct sink k;
	int before = f->wakes;

	/* HEAD: the length is announced, no body goes out, every write
	 * still gets its callback. */
	sink_init(&k, f,
		  "HEAD /stream?len=1048576 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK_INT(sink_start(&k), 0);
	sink_join(f, &k, before);
	CHECK(starts_with(k.head, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(k.head, "Content-Length: 1048576\r\n") != NULL);
	CHECK_INT(k.body_len, 0);
	CHECK(k.eof);
	CHECK_INT(f->stream_sent, 1048576);
	CHECK_INT(f->stream_status, ESC_OK);
	CHECK_INT(f->streams_ended, 1);
}

FIXTURE_TEST(test_stream_start_client_gone, REPLY_NOW)
{
	struct raw r;
	char request[128];

	/* The handler starts streaming after the client left (a held request
	 * reads nothing, so the server does not know yet): a write fails. */
	snprintf(request, sizeof(request),
		 "GET /stream?len=%llu&held=1 HTTP/1.1\r\nHost: x\r\n\r\n", STREAM_ENDLESS);
	raw_init(&r, f, request);
	r.close_at_once = true;
	CHECK(raw_exchange(f, &r));
	WAIT_UNTIL(f, f->handled == 1, WAIT_MS);
	CHECK_INT(f->n_held, 1);
	f->n_held = 0;
	stream_begin(f, f->held[0]);
	WAIT_UNTIL(f, f->streams_ended == 1 && f->server.n_conns == 0, WAIT_MS);
	CHECK_INT(f->stream_status, ESC_EIO);
	CHECK_INT(f->streams_ended, 1);
	CHECK_INT(f->server.n_conns, 0);
	CHECK_INT(f->server.n_pending, 0);
}

/* client_wire_build's request is byte for byte what its snprintf wrote. */
static void test_client_wire_is_the_old_format(void)
{
	static const char *headers[] = { NULL, "", "X-A: 1\r\nX-Escrow-Origin-Time: -5\r\n" };
	static const size_t lens[] = { 0, 1, 9, 10, 337, 65536 };
	static char body[65536];

	memset(body, 'b', sizeof body);
	for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
		for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
			struct http_client_req req;
			char head[512];
			int n = snprintf(head, sizeof head,
					 "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: "
					 "application/json\r\nContent-Length: %zu\r\n\r\n",
					 "POST", "/v1/keys?x=1", "127.0.0.1:8443",
					 headers[h] != NULL ? headers[h] : "", lens[i]);

			memset(&req, 0, sizeof req);
			CHECK(client_wire_build(&req, "127.0.0.1:8443", "POST", "/v1/keys?x=1",
						headers[h], body, lens[i]) == 0);
			CHECK_INT(req.wire_len, (size_t)n + lens[i]);
			CHECK(memcmp(req.wire, head, (size_t)n) == 0);
			CHECK(memcmp(req.wire + n, body, lens[i]) == 0);
			free(req.wire);
		}
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_get);
	RUN(test_post_body);
	RUN(test_respond_with_request_body);
	RUN(test_keep_alive_reuse);
	RUN(test_receive_buffer_reused_and_wiped);
	RUN(test_async_reply);
	RUN(test_body_too_large);
	RUN(test_length_required);
	RUN(test_malformed);
	RUN(test_bad_request_head);
	RUN(test_too_many_headers);
	RUN(test_header_bytes_limit);
	RUN(test_pipelined);
	RUN(test_half_close_after_requests);
	RUN(test_next_request_fills_buffer_while_pending);
	RUN(test_chunked_request);
	RUN(test_expect_continue);
	RUN(test_http10_and_head);
	RUN(test_client_timeout);
	RUN(test_connect_refused);
	RUN(test_client_by_name);
	RUN(test_client_name_unresolved);
	RUN(test_client_bad_input);
	RUN(test_client_close_fails_pending);
	RUN(test_stop_drains);
	RUN(test_stop_rejects_new_requests);
	RUN(test_stop_closes_idle_at_once);
	RUN(test_drain_timeout);
	RUN(test_client_gone_while_pending);
	RUN(test_addr_in_use);
	RUN(test_bad_listen_addr);
	RUN(test_query_param);
	RUN(test_header_fragments);
	RUN(test_client_response_framing);
	RUN(test_client_request_larger_than_the_socket);
	RUN(test_client_retries_stale_connection);
	RUN(test_stream_large);
	RUN(test_stream_bad_writes);
	RUN(test_stream_keep_alive);
	RUN(test_whole_response_small_and_larger_than_the_socket);
	RUN(test_stream_client_gone);
	RUN(test_stream_stop_waits);
	RUN(test_stream_drain_timeout);
	RUN(test_stream_short);
	RUN(test_stream_head);
	RUN(test_stream_start_client_gone);
	RUN(test_client_wire_is_the_old_format);
	return unit_done();
}
