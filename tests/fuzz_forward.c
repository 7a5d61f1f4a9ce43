/* Fuzz target: a batch of forwarded requests as the leader reads it
 * (node/fwd_wire.c, http/http_detached.c). Each input is a batch body: its
 * items are read, each made into a detached request and answered through
 * the callback, and read again after being written back, which must give
 * the same items. Nothing may crash, leak or read past the input. */
#include <stdlib.h>
#include <string.h>

#include "http/http_server.h"
#include "lib/error.h"
#include "node/fwd_wire.h"
#include "tests/fuzz.h"

static void answered(struct http_request *req, int status, const char *headers,
		     const char *type, const char *body, size_t len)
{
	int *calls = req->respond_data;

	(void)status, (void)headers, (void)type, (void)body, (void)len;
	(*calls)++;
}

static bool same(const struct fwd_item *a, const struct fwd_item *b)
{
	if (strcmp(a->word, b->word) != 0)
		return false;
	for (int k = 0; k < 3; k++) {
		if (a->len[k] != b->len[k] || memcmp(a->part[k], b->part[k], a->len[k]) != 0)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct http_request outer, *req;
	struct fwd_item it, again;
	size_t pos = 0, n = 0;
	int calls = 0;

	memset(&outer, 0, sizeof outer);
	while (pos < size && n++ < FWD_ITEMS_MAX) {
		struct http_parse_buf b = {0};
		size_t p2 = 0;

		if (fwd_wire_next(body, size, &pos, &it) != ESC_OK)
			break;
		if (fwd_wire_put(&b, SIZE_MAX / 2, it.word, it.part[0], it.len[0], it.part[1],
				 it.len[1], it.part[2], it.len[2]) != ESC_OK ||
		    fwd_wire_next(b.p, b.len, &p2, &again) != ESC_OK || !same(&it, &again) ||
		    p2 != b.len)
			abort();
		http_parse_buf_free(&b);
		if (http_request_detached(&outer, it.word, it.part[0], it.len[0], it.part[1],
					  it.len[1], it.part[2], it.len[2], answered, &calls,
					  &req) != ESC_OK)
			continue;
		http_request_header(req, "X-Escrow-Forwarded-By");
		if (req->path == NULL || req->query == NULL || req->body[req->body_len] != '\0')
			abort();
		http_respond(req, 200, NULL, "text/plain", req->path, strlen(req->path));
	}
	(void)calls;
	return 0;
}
