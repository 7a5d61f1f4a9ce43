/* Random recovery passwords (see ctl_password.h). */
#include "tools/client/ctl_password.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

#include "lib/error.h"

int ctl_random_password(char out[CTL_PASSWORD_SIZE])
{
	uint16_t v[8];
	size_t o = 0;

	if (getrandom(v, sizeof v, 0) != (ssize_t)sizeof v)
		return ESC_EIO;
	for (size_t i = 0; i < 8; i++)
		o += (size_t)snprintf(out + o, CTL_PASSWORD_SIZE - o, "%s%06u", i ? "-" : "",
				      (unsigned)v[i] * 11u);
	return ESC_OK;
}
