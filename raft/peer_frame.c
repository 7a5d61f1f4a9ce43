/* The peer transport's framing: preamble, reply, certificate names and raft
 * addresses (see peer_tls.h). Pure functions, fuzzed by tests/fuzz_peer.c. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "lib/byteorder.h"
#include "raft/peer_tls.h"
#include "lib/error.h"

#define MAGIC_LEN 4

static bool address_byte_ok(uint8_t b)
{
	return b > 0x20 && b < 0x7f;
}

size_t peer_tls_preamble_encode(raft_id id, const char *address, uint8_t *buf, size_t size)
{
	size_t len = strnlen(address, PEER_TLS_ADDRESS_MAX + 1);

	if (id == 0 || len == 0 || len > PEER_TLS_ADDRESS_MAX ||
	    size < PEER_TLS_PREAMBLE_HEADER + len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!address_byte_ok((uint8_t)address[i]))
			return 0;
	memcpy(buf, PEER_TLS_MAGIC, MAGIC_LEN);
	buf[4] = PEER_TLS_VERSION;
	buf[5] = 0;
	byteorder_put_u16(buf + 6, (uint16_t)len);
	byteorder_put_u64(buf + 8, id);
	memcpy(buf + PEER_TLS_PREAMBLE_HEADER, address, len);
	return PEER_TLS_PREAMBLE_HEADER + len;
}

/* The magic and version shared by both frames, as far as len allows. */
static int check_start(const uint8_t *buf, size_t len, const char *what, char *errmsg)
{
	size_t n = len < MAGIC_LEN ? len : MAGIC_LEN;

	if (memcmp(buf, PEER_TLS_MAGIC, n) != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "%s: bad magic (not an escrow peer)", what);
	if (len > 4 && buf[4] != PEER_TLS_VERSION)
		return esc_errorf(errmsg, ESC_EVERSION, "%s: version %u (this node speaks %u)", what,
				  buf[4], PEER_TLS_VERSION);
	return ESC_OK;
}

int peer_tls_preamble_parse(const uint8_t *buf, size_t len, struct peer_tls_preamble *p,
			    size_t *used, char *errmsg)
{
	size_t alen;
	raft_id id;
	int rv;

	*used = 0;
	memset(p, 0, sizeof *p);
	rv = check_start(buf, len, "preamble", errmsg);
	if (rv != ESC_OK)
		return rv;
	if (len > 5 && buf[5] != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "preamble: flags %u", buf[5]);
	if (len < PEER_TLS_PREAMBLE_HEADER)
		return ESC_OK;
	alen = byteorder_get_u16(buf + 6);
	if (alen == 0 || alen > PEER_TLS_ADDRESS_MAX)
		return esc_errorf(errmsg, ESC_ECORRUPT, "preamble: address length %zu", alen);
	id = byteorder_get_u64(buf + 8);
	if (id == 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "preamble: node id 0");
	for (size_t i = 0; i < alen && PEER_TLS_PREAMBLE_HEADER + i < len; i++)
		if (!address_byte_ok(buf[PEER_TLS_PREAMBLE_HEADER + i]))
			return esc_errorf(errmsg, ESC_ECORRUPT,
					  "preamble: address byte %zu is 0x%02x", i,
					  buf[PEER_TLS_PREAMBLE_HEADER + i]);
	if (len < PEER_TLS_PREAMBLE_HEADER + alen)
		return ESC_OK;
	p->id = id;
	memcpy(p->address, buf + PEER_TLS_PREAMBLE_HEADER, alen);
	p->address[alen] = '\0';
	*used = PEER_TLS_PREAMBLE_HEADER + alen;
	return ESC_OK;
}

void peer_tls_reply_encode(uint8_t buf[PEER_TLS_REPLY_SIZE])
{
	memcpy(buf, PEER_TLS_MAGIC, MAGIC_LEN);
	buf[4] = PEER_TLS_VERSION;
	buf[5] = 0;
	byteorder_put_u16(buf + 6, 0);
}

int peer_tls_reply_parse(const uint8_t *buf, size_t len, size_t *used, char *errmsg)
{
	int rv;

	*used = 0;
	rv = check_start(buf, len, "reply", errmsg);
	if (rv != ESC_OK)
		return rv;
	if (len > 5 && buf[5] != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "reply: status %u", buf[5]);
	if (len > 6 && buf[6] != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "reply: reserved bytes");
	if (len > 7 && buf[7] != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "reply: reserved bytes");
	if (len >= PEER_TLS_REPLY_SIZE)
		*used = PEER_TLS_REPLY_SIZE;
	return ESC_OK;
}

int peer_tls_cn_id(const char *cn, raft_id *id)
{
	static const char prefix[] = "node-";
	const char *d = cn + sizeof prefix - 1;
	raft_id v = 0;

	*id = 0;
	if (strncmp(cn, prefix, sizeof prefix - 1) != 0 || *d < '1' || *d > '9')
		return ESC_EINVAL;
	for (; *d != '\0'; d++) {
		unsigned digit = (unsigned)(*d - '0');
		if (*d < '0' || *d > '9' || v > (UINT64_MAX - digit) / 10)
			return ESC_EINVAL;
		v = v * 10 + digit;
	}
	*id = v;
	return ESC_OK;
}

int peer_tls_address_parse(const char *address, struct netaddr *a)
{
	char errmsg[ESC_ERRMSG_SIZE];

	if (strlen(address) > PEER_TLS_ADDRESS_MAX)
		return ESC_EINVAL;
	return netaddr_parse(address, a, errmsg) == ESC_OK ? ESC_OK : ESC_EINVAL;
}
