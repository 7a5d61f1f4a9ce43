/* The bytes of a client request: its line, headers and body, each checked
 * before anything is sent (http_client_conn.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client_conn.h"
#include "lib/error.h"
#include "lib/text.h"

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

/* The head is copied piece by piece: through snprintf it was a fifth of
 * a forwarding follower's formatting (issue 16). */
int client_wire_build(struct http_client_req *req, const char *addr, const char *method,
		      const char *target, const char *headers, const char *body, size_t len)
{
	char length[TEXT_U64_MAX + 1];
	const char *part[] = { method, " ", target, " HTTP/1.1\r\nHost: ", addr, "\r\n",
			       headers != NULL ? headers : "",
			       "Content-Type: application/json\r\nContent-Length: ", length,
			       "\r\n\r\n" };
	size_t n_part = sizeof part / sizeof part[0], plen[sizeof part / sizeof part[0]];
	size_t head = 0, at = 0;

	length[text_u64(length, len)] = '\0';
	for (size_t i = 0; i < n_part; i++) {
		plen[i] = strlen(part[i]);
		head += plen[i];
	}
	if (len > SIZE_MAX - head - 1)
		return ESC_EINVAL;
	req->wire = malloc(head + len + 1);
	if (req->wire == NULL)
		return ESC_ENOMEM;
	for (size_t i = 0; i < n_part; i++) {
		memcpy(req->wire + at, part[i], plen[i]);
		at += plen[i];
	}
	if (len > 0)
		memcpy(req->wire + head, body, len);
	req->wire[head + len] = '\0';
	req->wire_len = head + len;
	return 0;
}
