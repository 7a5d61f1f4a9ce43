/* escrowctl snapshot backup DIR: a verified snapshot under a dated name, and
 * the newest --keep of those kept (docs/api.md section 7, "snapshot backup"). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/durable.h"
#include "tools/ctl/ctl_snapshot.h"

#define BACKUP_KEEP_DEFAULT 14
#define BACKUP_KEEP_MAX 100000
#define BACKUP_PREFIX "escrow-"
#define BACKUP_SUFFIX ".snap"
/* escrow-YYYYMMDDTHHMMSSZ.snap */
#define BACKUP_DIR_MAX (SNAP_PATH_MAX - 512) /* room for DIR/NAME.tmp-XXXXXX */
#define BACKUP_NAME_LEN (sizeof(BACKUP_PREFIX) - 1 + 16 + sizeof(BACKUP_SUFFIX) - 1)

/* A name backup made: escrow-, 8 digits, T, 6 digits, Z, .snap. Nothing
 * else in DIR is ours to remove. */
static bool backup_name(const char *name)
{
	static const char shape[] = "DDDDDDDDTDDDDDDZ";
	const char *p = name + sizeof(BACKUP_PREFIX) - 1;
	size_t i;

	if (strlen(name) != BACKUP_NAME_LEN || strncmp(name, BACKUP_PREFIX,
						       sizeof(BACKUP_PREFIX) - 1) != 0)
		return false;
	for (i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'D' ? !isdigit((unsigned char)p[i]) : p[i] != shape[i])
			return false;
	return strcmp(p + i, BACKUP_SUFFIX) == 0;
}

static int backup_filter(const struct dirent *e)
{
	return backup_name(e->d_name);
}

/* --keep, else $ESCROW_BACKUP_KEEP, else 14. */
static int backup_keep(struct ctl_ctx *ctx, const char *keep, long *out)
{
	const char *env = getenv("ESCROW_BACKUP_KEEP");

	*out = BACKUP_KEEP_DEFAULT;
	if (keep != NULL)
		return ctl_opt_long(ctx, keep, "--keep", 1, BACKUP_KEEP_MAX, out);
	if (env != NULL && *env != '\0')
		return ctl_opt_long(ctx, env, "ESCROW_BACKUP_KEEP", 1, BACKUP_KEEP_MAX, out);
	return CTL_EXIT_OK;
}

/* DIR exists, is a directory and we may create files in it. */
static int backup_check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: %s: %s", dir,
				strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: %s is not a directory", dir);
	if (access(dir, W_OK | X_OK) != 0)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: cannot write into %s: %s",
				dir, strerror(errno));
	return CTL_EXIT_OK;
}

/* Removes the oldest backups beyond keep, never the one just made (name).
 * removed collects the names taken away. */
static int backup_prune(const char *dir, const char *name, long keep, json_t *removed,
			json_t *kept)
{
	char path[SNAP_PATH_MAX], errmsg[ESC_ERRMSG_SIZE];
	struct dirent **list;
	struct stat st;
	int i, n, ours = 0, rv = CTL_EXIT_OK;
	long extra;

	n = scandir(dir, &list, backup_filter, alphasort);
	if (n < 0)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: list %s: %s", dir,
				strerror(errno));
	/* Only regular files are backups; count them first. */
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(list[i]);
			list[i] = NULL;
		} else {
			ours++;
		}
	}
	extra = ours - keep;
	for (i = 0; i < n; i++) {
		if (list[i] == NULL)
			continue;
		if (extra > 0 && strcmp(list[i]->d_name, name) != 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
			if (unlink(path) != 0 && errno != ENOENT) {
				rv = ctl_fail(CTL_EXIT_REFUSED,
					      "snapshot backup: cannot remove the old backup %s: %s",
					      path, strerror(errno));
				json_array_append_new(kept, json_string(list[i]->d_name));
			} else {
				json_array_append_new(removed, json_string(list[i]->d_name));
			}
			extra--;
		} else {
			json_array_append_new(kept, json_string(list[i]->d_name));
		}
		free(list[i]);
	}
	free(list);
	if (json_array_size(removed) > 0 &&
	    durable_sync_path(dir, false, errmsg) != ESC_OK)
		rv = ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: %s", errmsg);
	return rv;
}

static void backup_print(struct ctl_ctx *ctx, const char *path, const char *dir, long keep,
			 const struct ctl_snapshot_saved *v, json_t *kept, json_t *removed)
{
	const struct snapfile_header *h = &v->h;
	json_t *o, *name;
	size_t i;
	char *s;

	if (!ctx->json) {
		printf("backup saved to %s: index %" PRIu64 ", term %" PRIu64 ", %" PRIu64
		       " bytes, sha256 %s (from node %s), verified\n", path, h->index, h->term,
		       h->payload_len + SNAPFILE_HEADER_SIZE, v->sha_hex, v->node);
		printf("backups in %s: %zu kept (--keep %ld), %zu removed", dir,
		       json_array_size(kept), keep, json_array_size(removed));
		json_array_foreach(removed, i, name)
			printf("%s%s", i == 0 ? ": " : ", ", json_string_value(name));
		printf("\n");
		return;
	}
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:O, s:O}",
		      "file", path, "dir", dir, "index", (json_int_t)h->index, "term",
		      (json_int_t)h->term, "size",
		      (json_int_t)(h->payload_len + SNAPFILE_HEADER_SIZE), "sha256", v->sha_hex,
		      "node", v->node, "created", v->created, "cluster_id", h->cluster_id,
		      "seal_fingerprint", h->seal_fingerprint, "verified", 1, "keep",
		      (json_int_t)keep, "kept", kept, "removed", removed);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	printf("%s\n", s != NULL ? s : "{}");
	free(s);
	json_decref(o);
}

/* Reads the saved file back from disk before calling it a backup; a file
 * that fails is removed. */
static int backup_verify(const char *path, const struct ctl_snapshot_saved *v)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct snapfile_header h;
	int rv;

	fprintf(stderr, "backup: verifying %s\n", path);
	rv = ctl_snapshot_verify_file(path, &h, errmsg);
	if (rv == ESC_OK && memcmp(h.sha256, v->h.sha256, sizeof(h.sha256)) != 0) {
		snprintf(errmsg, sizeof(errmsg), "its checksum changed after it was saved");
		rv = ESC_ECORRUPT;
	}
	if (rv == ESC_OK)
		return CTL_EXIT_OK;
	unlink(path);
	durable_sync_parent(path, NULL);
	return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: %s failed verification and was "
			"removed: %s", path, errmsg);
}

int ctl_snapshot_backup(struct ctl_ctx *ctx, const char *dir_arg, const char *keep_arg)
{
	char dir[BACKUP_DIR_MAX], name[BACKUP_NAME_LEN + 1], path[SNAP_PATH_MAX];
	struct ctl_snapshot_saved v;
	struct stat st;
	json_t *kept, *removed;
	struct tm tm;
	time_t now;
	size_t len;
	long keep;
	int rv;

	rv = backup_keep(ctx, keep_arg, &keep);
	if (rv != CTL_EXIT_OK)
		return rv;
	len = strlen(dir_arg);
	if (len >= sizeof(dir))
		return ctl_usage_error(ctx, "DIR: path longer than %d characters",
				       BACKUP_DIR_MAX - 1);
	snprintf(dir, sizeof(dir), "%s", dir_arg);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	rv = backup_check_dir(dir);
	if (rv != CTL_EXIT_OK)
		return rv;
	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(name, sizeof(name), BACKUP_PREFIX "%Y%m%dT%H%M%SZ" BACKUP_SUFFIX, &tm) !=
	    BACKUP_NAME_LEN)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: the clock reads no date");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &st) == 0)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: %s exists already (one "
				"backup a second); nothing was written", path);

	rv = ctl_connect(ctx);
	if (rv != CTL_EXIT_OK)
		return rv;
	fprintf(stderr, "backup: saving a snapshot of the cluster into %s\n", path);
	rv = ctl_snapshot_save(ctx, path, true, &v);
	if (rv != CTL_EXIT_OK) {
		ctl_fail(rv, "snapshot backup: no backup was made in %s", dir);
		return rv;
	}
	rv = backup_verify(path, &v);
	if (rv != CTL_EXIT_OK)
		return rv;
	kept = json_array();
	removed = json_array();
	if (kept == NULL || removed == NULL) {
		json_decref(kept);
		json_decref(removed);
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot backup: out of memory");
	}
	rv = backup_prune(dir, name, keep, removed, kept);
	backup_print(ctx, path, dir, keep, &v, kept, removed);
	json_decref(kept);
	json_decref(removed);
	return rv;
}
