/* Fuzz target: the peer transport's framing (raft/peer_tls.h), what an
 * authenticated but possibly hostile peer sends first. A preamble that
 * parses must encode back to the same bytes, and every prefix of it must ask
 * for more; the reply, the certificate's CN and the raft address parsers
 * take the same input. */
#include <stdlib.h>
#include <string.h>

#include "raft/peer_tls.h"
#include "lib/error.h"
#include "tests/fuzz.h"

static void check_preamble(const uint8_t *data, size_t size)
{
	struct peer_tls_preamble p, q;
	uint8_t again[PEER_TLS_PREAMBLE_MAX];
	char errmsg[ESC_ERRMSG_SIZE];
	size_t used, used2;

	if (peer_tls_preamble_parse(data, size, &p, &used, errmsg) != ESC_OK || used == 0)
		return;
	if (used > size || used > PEER_TLS_PREAMBLE_MAX || p.id == 0 ||
	    strlen(p.address) != used - PEER_TLS_PREAMBLE_HEADER)
		abort();
	if (peer_tls_preamble_encode(p.id, p.address, again, sizeof again) != used ||
	    memcmp(again, data, used) != 0)
		abort();
	for (size_t cut = 0; cut < used; cut++)
		if (peer_tls_preamble_parse(data, cut, &q, &used2, errmsg) != ESC_OK || used2 != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char errmsg[ESC_ERRMSG_SIZE], text[PEER_TLS_ADDRESS_MAX + 1], back[NETADDR_TEXT_MAX];
	struct netaddr na;
	raft_id id;
	size_t used, n = size < sizeof text - 1 ? size : sizeof text - 1;

	check_preamble(data, size);
	if (peer_tls_reply_parse(data, size, &used, errmsg) == ESC_OK &&
	    used != 0 && (used != PEER_TLS_REPLY_SIZE || size < used))
		abort();
	/* As a NUL-terminated string: a certificate's CN, a raft address. */
	memcpy(text, data, n);
	text[n] = '\0';
	if (peer_tls_cn_id(text, &id) == ESC_OK && id == 0)
		abort();
	/* An address that parses formats back to itself: one spelling. */
	if (peer_tls_address_parse(text, &na) == ESC_OK &&
	    (na.port == 0 || netaddr_format(&na, back, sizeof back) == 0 || strcmp(back, text) != 0))
		abort();
	return 0;
}
