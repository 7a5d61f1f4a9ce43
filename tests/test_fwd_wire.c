/* Unit tests of forwarded batches: the framing (node/fwd_wire.c) and the
 * requests made from its items (http/http_detached.c). */
#include <stdlib.h>
#include <string.h>

#include "http/http_server.h"
#include "lib/error.h"
#include "node/fwd_wire.h"
#include "tests/unit.h"

static int put3(struct http_parse_buf *b, size_t max, const char *w, const char *a,
		const char *h, const char *body)
{
	return fwd_wire_put(b, max, w, a, strlen(a), h, strlen(h), body, strlen(body));
}

TEST(items_round_trip_in_order)
{
	struct http_parse_buf b = {0};
	struct fwd_item it;
	size_t pos = 0;

	CHECK_INT(put3(&b, 4096, "POST", "/v1/keys", "X-A: 1\r\n", "{\"k\":\"v\"}"), ESC_OK);
	CHECK_INT(put3(&b, 4096, "GET", "/v1/keys/AB", "", ""), ESC_OK);
	CHECK_INT(put3(&b, 4096, "200", "application/json", "Retry-After: 1\r\n", "a\nb c"),
		  ESC_OK);
	CHECK(b.len <= fwd_wire_size(8, 8, 9) + fwd_wire_size(11, 0, 0) +
			       fwd_wire_size(16, 16, 5));
	CHECK_INT(fwd_wire_next(b.p, b.len, &pos, &it), ESC_OK);
	CHECK_STR(it.word, "POST");
	CHECK(it.len[0] == 8 && memcmp(it.part[0], "/v1/keys", 8) == 0);
	CHECK(it.len[1] == 8 && memcmp(it.part[1], "X-A: 1\r\n", 8) == 0);
	CHECK(it.len[2] == 9 && memcmp(it.part[2], "{\"k\":\"v\"}", 9) == 0);
	CHECK_INT(fwd_wire_next(b.p, b.len, &pos, &it), ESC_OK);
	CHECK_STR(it.word, "GET");
	CHECK(it.len[1] == 0 && it.len[2] == 0);
	CHECK_INT(fwd_wire_next(b.p, b.len, &pos, &it), ESC_OK);
	CHECK_STR(it.word, "200");
	CHECK(it.len[2] == 5 && memcmp(it.part[2], "a\nb c", 5) == 0); /* bytes, not lines */
	CHECK_INT(pos, b.len);
	http_parse_buf_free(&b);
}

TEST(put_refuses_what_does_not_fit_and_keeps_the_rest)
{
	struct http_parse_buf b = {0};
	size_t before;

	CHECK_INT(put3(&b, 64, "GET", "/v1/status", "", ""), ESC_OK);
	before = b.len;
	CHECK_INT(put3(&b, 64, "POST", "/v1/keys", "", "0123456789012345678901234567890123456789"),
		  ESC_ETOOBIG);
	CHECK_INT(b.len, before);
	CHECK_INT(put3(&b, 4096, "post", "/", "", ""), ESC_EINVAL);       /* lower case */
	CHECK_INT(put3(&b, 4096, "", "/", "", ""), ESC_EINVAL);
	CHECK_INT(put3(&b, 4096, "TOOLONGW", "/", "", ""), ESC_EINVAL);  /* 8 letters */
	CHECK_INT(b.len, before);
	http_parse_buf_free(&b);
}

/* Every malformed item: ESC_ECORRUPT, the position unmoved. */
TEST(next_refuses_malformed_items)
{
	static const char *bad[] = {
		"",                          /* nothing */
		"POST",                      /* no lengths */
		"POST 1 0 0",                /* no line end */
		"POST 1 0 0\n",              /* part missing */
		"POST 2 0 0\nx",             /* part cut short */
		"POST 01 0 0\nx",            /* leading zero */
		"POST -1 0 0\n",
		"POST 1 0 0 \nx",            /* extra space */
		"POST  1 0 0\nx",            /* two spaces */
		"POST 1 0\nx",               /* two lengths */
		"post 1 0 0\nx",             /* lower case word */
		"TOOLONGW 1 0 0\nx",         /* 8 letters */
		" 1 0 0\nx",                 /* no word */
		"POST 1234567890 0 0\nx",    /* ten digits */
		"POST 999999999 0 0\nx",     /* past the end */
		"PO\nST 1 0 0\nx",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fwd_item it;
		size_t pos = 0;

		if (fwd_wire_next(bad[i], strlen(bad[i]), &pos, &it) != ESC_ECORRUPT) {
			printf("# accepted %zu: \"%s\"\n", i, bad[i]);
			CHECK(false);
		}
		CHECK_INT(pos, 0);
	}
}

struct answer {
	int calls;
	int status;
	char type[64];
	char head[128];
	char body[256];
};

static void answered(struct http_request *req, int status, const char *headers,
		     const char *type, const char *body, size_t len)
{
	struct answer *a = req->respond_data;

	a->calls++;
	a->status = status;
	snprintf(a->type, sizeof a->type, "%s", type ? type : "");
	snprintf(a->head, sizeof a->head, "%s", headers ? headers : "");
	snprintf(a->body, sizeof a->body, "%.*s", (int)len, body);
}

static struct http_request outer_request(void)
{
	struct http_request o;

	memset(&o, 0, sizeof o);
	o.received_ms = 1234;
	o.tls = true;
	snprintf(o.peer, sizeof o.peer, "127.0.0.1:5000");
	snprintf(o.client_cn, sizeof o.client_cn, "node2");
	snprintf(o.client_ou, sizeof o.client_ou, "node");
	return o;
}

static int make(const struct http_request *outer, const char *method, const char *target,
		const char *head, const char *body, struct answer *a, struct http_request **out)
{
	return http_request_detached(outer, method, target, strlen(target), head, strlen(head),
				     body, strlen(body), answered, a, out);
}

TEST(detached_request_has_the_outer_identity_and_answers_through_the_callback)
{
	struct http_request outer = outer_request(), *req;
	struct answer a = {0};

	CHECK_INT(make(&outer, "POST", "/v1/keys/A%42?x=1&y=%20",
		       "X-Escrow-Forwarded-By: 2\r\nContent-Type:  application/json \r\n",
		       "{\"a\":1}", &a, &req),
		  ESC_OK);
	CHECK_STR(req->method, "POST");
	CHECK_STR(req->path, "/v1/keys/AB");
	CHECK_STR(req->query, "x=1&y=%20");
	CHECK_STR(req->body, "{\"a\":1}");
	CHECK_INT(req->body_len, 7);
	CHECK_INT(req->received_ms, 1234);
	CHECK(req->tls);
	CHECK_STR(req->client_cn, "node2");
	CHECK_STR(req->client_ou, "node");
	CHECK_STR(req->peer, "127.0.0.1:5000");
	CHECK_STR(http_request_header(req, "x-escrow-forwarded-by"), "2");
	CHECK_STR(http_request_header(req, "Content-Type"), "application/json");
	http_respond(req, 201, "Retry-After: 1\r\n", "application/json", "{}", 2);
	CHECK_INT(a.calls, 1);
	CHECK_INT(a.status, 201);
	CHECK_STR(a.type, "application/json");
	CHECK_STR(a.head, "Retry-After: 1\r\n");
	CHECK_STR(a.body, "{}");
}

TEST(detached_error_and_refused_stream_answer_through_the_callback)
{
	struct http_request outer = outer_request(), *req;
	struct answer a = {0};

	CHECK_INT(make(&outer, "GET", "/v1/snapshot", "", "", &a, &req), ESC_OK);
	CHECK_INT(http_stream_start(req, 200, NULL, "application/octet-stream", 10), ESC_EIO);
	http_stream_end(req);
	CHECK_INT(a.calls, 1);
	CHECK_INT(a.status, 500);
	CHECK(strstr(a.body, "batch") != NULL);
	CHECK_INT(make(&outer, "DELETE", "/x", "", "", &a, &req), ESC_OK);
	http_respond_error(req, 404, NULL, "not_found", "no such endpoint");
	CHECK_INT(a.calls, 2);
	CHECK_INT(a.status, 404);
	CHECK(strstr(a.body, "not_found") != NULL);
}

TEST(detached_refuses_malformed_requests)
{
	struct http_request outer = outer_request(), *req = NULL;
	struct answer a = {0};
	char big[HTTP_BODY_MAX + 2];
	static const char *heads[] = {
		"X-A: 1",                 /* no line end */
		"X-A 1\r\n",              /* no colon */
		": 1\r\n",                /* no name */
		"X A: 1\r\n",             /* space in the name */
		"X-A: 1\x01\r\n",         /* control byte */
		"X-A: 1\r\nX-B: 2\n",     /* bare LF */
	};

	CHECK_INT(make(&outer, "BREW", "/v1/keys", "", "", &a, &req), ESC_EINVAL);
	CHECK_INT(make(&outer, "GET", "v1/keys", "", "", &a, &req), ESC_EINVAL);
	CHECK_INT(make(&outer, "GET", "/v1/%zz", "", "", &a, &req), ESC_EINVAL);
	CHECK_INT(make(&outer, "GET", "/v1/%0a", "", "", &a, &req), ESC_EINVAL);
	CHECK_INT(make(&outer, "GET", "", "", "", &a, &req), ESC_EINVAL);
	CHECK_INT(http_request_detached(&outer, "GET", "/v1\0x", 5, "", 0, "", 0, answered, &a,
					&req),
		  ESC_EINVAL);
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		if (make(&outer, "GET", "/v1/status", heads[i], "", &a, &req) != ESC_EINVAL) {
			printf("# accepted head %zu\n", i);
			CHECK(false);
		}
	}
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_INT(make(&outer, "POST", "/v1/keys", "", big, &a, &req), ESC_EINVAL);
	CHECK(req == NULL);
	CHECK_INT(a.calls, 0);
}

TEST(detached_keeps_the_header_line_limit)
{
	struct http_request outer = outer_request(), *req = NULL;
	struct answer a = {0};
	char head[(HTTP_HEADERS_MAX + 1) * 16];
	size_t n = 0;

	for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
		n += (size_t)snprintf(head + n, sizeof head - n, "X-%d: v\r\n", i);
	CHECK_INT(make(&outer, "GET", "/v1/status", head, "", &a, &req), ESC_EINVAL);
	CHECK(req == NULL);
}

int main(void)
{
	RUN(items_round_trip_in_order);
	RUN(put_refuses_what_does_not_fit_and_keeps_the_rest);
	RUN(next_refuses_malformed_items);
	RUN(detached_request_has_the_outer_identity_and_answers_through_the_callback);
	RUN(detached_error_and_refused_stream_answer_through_the_callback);
	RUN(detached_refuses_malformed_requests);
	RUN(detached_keeps_the_header_line_limit);
	return unit_done();
}
