/* Fuzz target: the snapshot file header reader (the first bytes escrowctl
 * snapshot verify and restore read from a file anyone may hand them). A
 * header it accepts must encode back to the same 160 bytes. */
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "store/snapfile.h"
#include "tests/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapfile_header h;
	uint8_t again[SNAPFILE_HEADER_SIZE];
	char errmsg[ESC_ERRMSG_SIZE];

	if (snapfile_header_decode(data, size, &h, errmsg) != ESC_OK) {
		if (errmsg[0] == '\0')
			abort();
		return 0;
	}
	snapfile_header_encode(&h, again);
	if (memcmp(again, data, SNAPFILE_HEADER_SIZE) != 0)
		abort();
	return 0;
}
