/* Fuzz target: the JSON body of POST /v1/keys (node/body.c). What it accepts
 * must satisfy the data rules on its own. */
#include <stdlib.h>
#include <string.h>

#include "node/body.h"
#include "tests/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmd c;
	char pw[BODY_PASSWORD_SIZE], norm[VALIDATE_MACHINE_MAX + 1];
	struct verr e;

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
