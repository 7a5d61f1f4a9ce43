/* escrowctl snapshot's save and verify, shared by its verbs and by backup. */
#ifndef ESCROW_CTL_SNAPSHOT_H
#define ESCROW_CTL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/snapfile.h"
#include "tools/ctl/ctl_commands.h"

#define SNAP_PATH_MAX 4096

/* What a save fetched and checked. */
struct ctl_snapshot_saved {
	struct snapfile_header h; /* the file's header, checked */
	char sha_hex[65];         /* payload sha256, as the node announced it */
	char node[64];            /* the node that served it (its id, else address) */
	char created[80];         /* h.created_ms as "2024-05-01T10:20:30.123Z" */
};

/* Streams a snapshot from the cluster into FILE.tmp-XXXXXX, fsyncs it,
 * checks it against itself and the node's headers, then renames it to file
 * and fsyncs the directory (with noreplace an existing file is refused and
 * left alone). Progress lines go to stderr; the result is not printed. On
 * failure nothing is left behind, the reason is printed and the exit code
 * returned (CTL_EXIT_REFUSED, CTL_EXIT_USAGE, CTL_EXIT_UNREACHABLE). */
int ctl_snapshot_save(struct ctl_ctx *ctx, const char *file, bool noreplace,
		      struct ctl_snapshot_saved *out);

/* snapfile_verify of file, its payload copied next to it (else $TMPDIR).
 * ESC_OK or an error code with errmsg set; h filled on success. */
int ctl_snapshot_verify_file(const char *file, struct snapfile_header *h, char *errmsg);

/* n bytes of p as lowercase hex into out (2n + 1 bytes). */
void ctl_snapshot_hex(const uint8_t *p, size_t n, char *out);

/* Milliseconds since the epoch as "2024-05-01T10:20:30.123Z". */
void ctl_snapshot_time(int64_t ms, char *out, size_t size);

/* snapshot backup DIR: a verified snapshot into DIR as
 * escrow-YYYYMMDDTHHMMSSZ.snap, then only the newest keep of those files
 * are kept (keep: the --keep text, NULL for $ESCROW_BACKUP_KEEP or 14).
 * Returns the exit code; every failure is printed. */
int ctl_snapshot_backup(struct ctl_ctx *ctx, const char *dir, const char *keep);

#endif
