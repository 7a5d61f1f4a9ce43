/* Fuzz target: the HTTP/1.1 request side of the API server (node/http_*.c:
 * http_parser glue, limits, target and query decoding, keep-alive). Each
 * input is written by a client socket to a real server on 127.0.0.1 running
 * in this process; the loop turns until the server has answered and closed
 * or the client has read everything. The server must never crash, and must
 * end every connection whose request it cannot take. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "http/http_server.h"
#include "lib/error.h"
#include "tests/fuzz.h"

#define TURNS_MAX 2000   /* loop turns per input: bounded however the server behaves */

static uv_loop_t loop;
static struct http_server server;
static int port;

static void handler(struct http_request *req)
{
	char v[256];

	/* What the API handlers read from every request. */
	http_query_param(req, "reason", v, sizeof v);
	http_query_param(req, "note", v, sizeof v);
	http_query_param(req, "prefix", v, sizeof v);
	http_request_header(req, "Content-Type");
	http_request_header(req, "X-Escrow-Forwarded-By");
	http_respond(req, 200, NULL, "text/plain", req->path, strlen(req->path));
}

static void setup(void)
{
	char errmsg[ESC_ERRMSG_SIZE];

	uv_loop_init(&loop);
	server.handler = handler;
	if (http_server_start(&server, &loop, "127.0.0.1:0", errmsg) != ESC_OK)
		abort();
	port = http_server_port(&server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	size_t sent = 0;
	bool shut = false;
	char buf[4096];
	int fd;

	if (port == 0)
		setup();
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
		abort();
	for (int turn = 0; turn < TURNS_MAX; turn++) {
		ssize_t n;
		uv_run(&loop, UV_RUN_NOWAIT);
		if (sent < size) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINPROGRESS &&
				 errno != ENOTCONN)
				break; /* the server closed on us: fine */
		} else if (!shut) {
			shutdown(fd, SHUT_WR); /* end of the client's bytes */
			shut = true;
		}
		n = recv(fd, buf, sizeof buf, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break; /* the server closed the connection */
		if (n < 0)
			poll(NULL, 0, 0);
	}
	close(fd);
	/* Let the server see the close and free the connection. */
	for (int turn = 0; turn < 20; turn++)
		uv_run(&loop, UV_RUN_NOWAIT);
	return 0;
}
