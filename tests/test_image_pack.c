/* Packed images: image_pack_fd and image_unpack on files and frames made here. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "lib/byteorder.h"
#include "lib/error.h"
#include "store/image_pack.h"
#include "tests/unit.h"

#define DATA_LEN ((size_t)3 << 20) /* three read chunks and a bit */

static char path[] = "/tmp/escrow-pack-XXXXXX";

/* DATA_LEN + 4,000 bytes of text with random runs in it, written to a new
 * file; its descriptor, or -1. */
static int data_file(uint8_t **data, size_t *len)
{
	size_t n = DATA_LEN + 4000;
	uint8_t *d = malloc(n);
	int fd = mkstemp(path);

	if (d == NULL || fd < 0) {
		free(d);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		d[i] = i % 512 < 64 ? (uint8_t)rand() : (uint8_t)("escrow audit "[i % 13]);
	if (write(fd, d, n) != (ssize_t)n) {
		close(fd);
		free(d);
		return -1;
	}
	*data = d;
	*len = n;
	return fd;
}

TEST(pack_and_unpack_give_the_file_back)
{
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t *data = NULL;
	void *z = NULL, *back = NULL;
	size_t len = 0, zlen = 0, back_len = 0;
	int fd = data_file(&data, &len);

	CHECK(fd >= 0);
	CHECK_INT(image_pack_fd(fd, len, &z, &zlen, errmsg), ESC_OK);
	CHECK(zlen > 0 && zlen < len / 2);
	CHECK_INT(ZSTD_getFrameContentSize(z, zlen), len);
	CHECK_INT(image_unpack(z, zlen, &back, &back_len, errmsg), ESC_OK);
	CHECK_INT(back_len, len);
	CHECK(memcmp(back, data, len) == 0);
	sqlite3_free(back);
	sqlite3_free(z);
	/* A file shorter than the size asked for is an error, not a short frame. */
	CHECK_INT(image_pack_fd(fd, len + 1, &z, &zlen, errmsg), ESC_EIO);
	CHECK(strstr(errmsg, "ends at") != NULL);
	close(fd);
	unlink(path);
	free(data);
}

/* A frame header declaring size bytes (single segment, 8-byte content
 * size) and one empty last raw block. */
static size_t frame_declaring(uint8_t out[16], uint64_t size)
{
	static const uint8_t magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

	memcpy(out, magic, 4);
	out[4] = 0xe0; /* 8-byte content size, single segment */
	byteorder_put_u64(out + 5, size);
	out[13] = 0x01; /* last block, raw, 0 bytes */
	out[14] = out[15] = 0;
	return 16;
}

TEST(unpack_refuses_what_is_not_one_sound_frame)
{
	static const char text[] = "recovery keys, sealed and audited";
	char errmsg[ESC_ERRMSG_SIZE];
	uint8_t frame[256], two[512], crafted[16];
	void *out = NULL;
	size_t flen, out_len = 0, clen;
	ZSTD_CCtx *cc = ZSTD_createCCtx();

	CHECK(cc != NULL);
	CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)));
	flen = ZSTD_compress2(cc, frame, sizeof frame, text, sizeof text);
	CHECK(!ZSTD_isError(flen));
	CHECK_INT(image_unpack(frame, flen, &out, &out_len, errmsg), ESC_OK);
	CHECK_INT(out_len, sizeof text);
	CHECK_STR(out, text);
	sqlite3_free(out);

	CHECK_INT(image_unpack(frame, 0, &out, &out_len, errmsg), ESC_ECORRUPT);
	CHECK_INT(image_unpack(frame, flen - 1, &out, &out_len, errmsg), ESC_ECORRUPT);
	CHECK_INT(image_unpack("not zstd at all", 15, &out, &out_len, errmsg), ESC_ECORRUPT);
	/* Two frames back to back: one image is one frame. */
	memcpy(two, frame, flen);
	memcpy(two + flen, frame, flen);
	CHECK_INT(image_unpack(two, 2 * flen, &out, &out_len, errmsg), ESC_ECORRUPT);
	/* The checksum catches a changed byte of the content. */
	frame[flen - 6] ^= 0x01;
	CHECK_INT(image_unpack(frame, flen, &out, &out_len, errmsg), ESC_ECORRUPT);
	/* No content size in the header. */
	CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
	ZSTD_CCtx_setPledgedSrcSize(cc, ZSTD_CONTENTSIZE_UNKNOWN);
	{
		ZSTD_outBuffer ob = { frame, sizeof frame, 0 };
		ZSTD_inBuffer ib = { text, sizeof text, 0 };

		CHECK_INT(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end), 0);
		CHECK_INT(ZSTD_getFrameContentSize(frame, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
		CHECK_INT(image_unpack(frame, ob.pos, &out, &out_len, errmsg), ESC_ECORRUPT);
		CHECK(strstr(errmsg, "content size") != NULL);
	}
	/* A header asking for more than IMAGE_PACK_MAX is refused before any
	 * allocation; one asking for what the blocks do not hold fails. */
	clen = frame_declaring(crafted, IMAGE_PACK_MAX + 1);
	CHECK_INT(image_unpack(crafted, clen, &out, &out_len, errmsg), ESC_ETOOBIG);
	clen = frame_declaring(crafted, 4096);
	CHECK_INT(image_unpack(crafted, clen, &out, &out_len, errmsg), ESC_ECORRUPT);
	ZSTD_freeCCtx(cc);
}

int main(void)
{
	RUN(pack_and_unpack_give_the_file_back);
	RUN(unpack_refuses_what_is_not_one_sound_frame);
	return unit_done();
}
