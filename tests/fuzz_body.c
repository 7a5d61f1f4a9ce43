/* Fuzz target: the JSON request bodies (node/body.c). An input starting
 * with 'm' is a POST /v1/cluster/members body after that byte, 't' a
 * transfer body, anything else a POST /v1/keys body. What is accepted must
 * satisfy the data rules on its own. */
#include <stdlib.h>
#include <string.h>

#include "node/body.h"
#include "tests/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmd c;
	char pw[BODY_PASSWORD_SIZE], norm[VALIDATE_MACHINE_MAX + 1];
	struct verr e;

	if (size > 0 && data[0] == 'm') {
		struct bootstrap_member m;
		if (body_member((const char *)data + 1, size - 1, &m) &&
		    (m.id < 1 || m.id > 65535 || !addr_parse(m.raft, NULL) ||
		     !addr_parse(m.api, NULL)))
			abort();
		return 0;
	}
	if (size > 0 && data[0] == 't') {
		unsigned id;
		if (body_transfer((const char *)data + 1, size - 1, &id) && id > 65535)
			abort();
		return 0;
	}
	memset(&c, 0, sizeof c);
	if (!body_escrow((const char *)data, size, &c, pw, &e)) {
		if (e.code[0] == '\0' || e.msg[0] == '\0')
			abort(); /* every refusal names its reason */
		return 0;
	}
	if (!validate_recovery_password(pw, &e) || !validate_machine(c.machine, norm, &e) ||
	    strcmp(norm, c.machine) != 0 || !validate_volume_type(c.volume_type, &e))
		abort();
	return 0;
}
