/* Fuzz target: the Raft command decoder (what a peer's log entry holds).
 * A decoded command must encode back to bytes that decode to the same. */
#include <stdlib.h>
#include <string.h>

#include "raft/codec.h"
#include "lib/error.h"
#include "tests/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmd a, b;
	char errmsg[ESC_ERRMSG_SIZE];
	size_t len;
	void *buf;

	if (codec_decode(data, size, &a, errmsg) != ESC_OK)
		return 0;
	len = codec_encoded_size(&a);
	buf = malloc(len);
	if (buf == NULL)
		return 0;
	if (codec_encode(&a, buf, len) != len || codec_decode(buf, len, &b, errmsg) != ESC_OK ||
	    memcmp(&a, &b, sizeof a) != 0)
		abort();
	free(buf);
	return 0;
}
