/* Packed images: a database file compressed into one zstd frame, and back. */
#ifndef ESCROW_STORE_IMAGE_PACK_H
#define ESCROW_STORE_IMAGE_PACK_H

#include <stddef.h>
#include <stdint.h>

/* The largest image image_unpack accepts: far above any store this build
 * serves, low enough that a damaged frame header cannot ask for more. */
#define IMAGE_PACK_MAX ((uint64_t)64 << 30)

/* Compresses the first size bytes of the file open at fd into one frame with
 * its content size and a checksum, in *out (sqlite3_malloc64; free with
 * sqlite3_free). Reads the file a chunk at a time: the memory it touches is
 * the frame's, not the file's. */
int image_pack_fd(int fd, uint64_t size, void **out, size_t *out_len, char *errmsg);

/* Checks and decompresses exactly one frame (ESC_ECORRUPT: not one whole
 * frame, no content size, a failed checksum; ESC_ETOOBIG: more than
 * IMAGE_PACK_MAX) into *out (sqlite3_malloc64, owned by the caller). */
int image_unpack(const void *in, size_t in_len, void **out, size_t *out_len, char *errmsg);

#endif
