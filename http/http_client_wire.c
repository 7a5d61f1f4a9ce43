/* The bytes of a client request: its line, headers and body, each checked
 * before anything is sent (http_client_conn.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client_conn.h"
#include "lib/error.h"

bool client_method_valid(const char *method)
{
	size_t i;

	for (i = 0; method[i] != '\0'; i++) {
		if (i >= CLIENT_METHOD_MAX || method[i] < 'A' || method[i] > 'Z')
			return false;
	}
	return i > 0;
}

bool client_target_valid(const char *target)
{
	size_t i;

	if (target[0] != '/')
		return false;
	for (i = 0; target[i] != '\0'; i++) {
		if (i >= CLIENT_TARGET_MAX || (unsigned char)target[i] <= 0x20 ||
		    target[i] == 0x7f)
			return false;
	}
	return true;
}

/* "Name: value\r\n" lines: CR only before LF, LF only after CR, no empty line. */
bool client_headers_valid(const char *h)
{
	size_t i;

	if (h == NULL || h[0] == '\0')
		return true;
	for (i = 0; h[i] != '\0'; i++) {
		if (i >= HTTP_HEADER_BYTES_MAX)
			return false;
		if (h[i] == '\r' && h[i + 1] != '\n')
			return false;
		if (h[i] == '\n' && (i == 0 || h[i - 1] != '\r'))
			return false;
		if (h[i] == '\n' && (i == 1 || h[i + 1] == '\r'))
			return false;
	}
	return h[i - 1] == '\n';
}

#define WIRE_FMT                                                                  \
	"%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"       \
	"Content-Length: %zu\r\n\r\n"
#define WIRE_ARGS method, target, addr, headers ? headers : "", len

int client_wire_build(struct http_client_req *req, const char *addr, const char *method,
		      const char *target, const char *headers, const char *body, size_t len)
{
	int n;

	n = snprintf(NULL, 0, WIRE_FMT, WIRE_ARGS);
	if (n < 0 || len > SIZE_MAX - (size_t)n - 1)
		return ESC_EINVAL;
	req->wire = malloc((size_t)n + len + 1);
	if (req->wire == NULL)
		return ESC_ENOMEM;
	snprintf(req->wire, (size_t)n + 1, WIRE_FMT, WIRE_ARGS);
	if (len > 0)
		memcpy(req->wire + n, body, len);
	req->wire_len = (size_t)n + len;
	return 0;
}
