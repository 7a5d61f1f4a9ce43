/* escrowctl snapshot: save a cluster's state to a file, check a file, and
 * seed a new node's data dir from one (docs/api.md sections 6 and 7); the
 * backup verb is in ctl_backup.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/durable.h"
#include "lib/netaddr.h"
#include "store/datadir.h"
#include "store/snapfile.h"
#include "tools/ctl/ctl_commands.h"
#include "tools/ctl/ctl_snapshot.h"

#define SNAP_STALL_MS 300000L   /* default wait for the node to copy its database */
#define SNAP_DATADIR_MAX (DATADIR_PATH_MAX - 64) /* room for DIR/seal-fingerprint.tmp */
#define MIB (1024.0 * 1024.0)

/* The options of the three verbs. */
struct snap_args {
	const char *verb;
	const char *file;
	const char *data_dir;
	const char *raft_addr;
	const char *api_addr;
	long id;
};

static volatile sig_atomic_t snap_interrupted;

static void snap_signal(int sig)
{
	snap_interrupted = sig;
}

void ctl_snapshot_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void ctl_snapshot_time(int64_t ms, char *out, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
		snprintf(out, size, "(invalid time %lld)", (long long)ms);
		return;
	}
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* The directory part of path, into out. */
static void dir_of(const char *path, char *out, size_t size)
{
	char copy[SNAP_PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(out, size, "%s", dirname(copy));
}

/* ---- save ---- */

/* Writes the streamed body into the temporary file. */
struct save_sink {
	int fd;
	const char *path;
	double t0, last; /* monotonic seconds: start, last progress line */
	bool printed;    /* a progress line is on stderr */
	bool tty;
	bool failed;     /* a callback failed (not the network) */
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int save_write(void *data, const char *p, size_t n, char *errmsg)
{
	struct save_sink *s = data;

	if (durable_write(s->fd, p, n) != 0) {
		s->failed = true;
		return esc_errorf(errmsg, ESC_EIO, "write %s: %s", s->path, strerror(errno));
	}
	return ESC_OK;
}

static int save_reset(void *data, char *errmsg)
{
	struct save_sink *s = data;

	if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0) {
		s->failed = true;
		return esc_errorf(errmsg, ESC_EIO, "truncate %s: %s", s->path, strerror(errno));
	}
	return ESC_OK;
}

/* A line at most once a second, from the first second on. */
static int save_progress(void *data, uint64_t received, char *errmsg)
{
	struct save_sink *s = data;
	double now = mono_now();

	if (snap_interrupted) {
		s->failed = true;
		return esc_errorf(errmsg, ESC_ESHUTDOWN, "interrupted by signal %d",
				  (int)snap_interrupted);
	}
	if (now - s->t0 < 1.0 || now - s->last < 1.0 || (received == 0 && s->printed))
		return ESC_OK;
	s->last = now;
	if (received == 0)
		fprintf(stderr, "snapshot: waiting for the node to copy its database%s",
			s->tty ? "" : "\n");
	else
		fprintf(stderr, "%ssnapshot: %.1f MiB received%s", s->tty ? "\r" : "",
			(double)received / MIB, s->tty ? "                          " : "\n");
	s->printed = true;
	return ESC_OK;
}

/* Checks the downloaded file against itself and the node's headers. */
static int save_check(const char *tmp, const char *dir, const struct ctl_response *r,
		      struct snapfile_header *h, char *sha_hex)
{
	char errmsg[ESC_ERRMSG_SIZE], want[128];
	unsigned long long index;
	char *end;
	int rv;

	rv = snapfile_verify(tmp, dir, h, errmsg);
	if (rv != ESC_OK)
		return ctl_fail(CTL_EXIT_REFUSED, "the snapshot from %s is refused: %s", r->node,
				errmsg);
	ctl_snapshot_hex(h->sha256, 32, sha_hex);
	if (!ctl_response_header(r, "X-Escrow-Snapshot-Sha256", want, sizeof(want)))
		return ctl_fail(CTL_EXIT_REFUSED, "%s sent no X-Escrow-Snapshot-Sha256 header",
				r->node);
	if (strcasecmp(want, sha_hex) != 0)
		return ctl_fail(CTL_EXIT_REFUSED,
				"%s announced sha256 %.64s but the file has %s: the download is "
				"damaged", r->node, want, sha_hex);
	if (!ctl_response_header(r, "X-Escrow-Snapshot-Index", want, sizeof(want)))
		return ctl_fail(CTL_EXIT_REFUSED, "%s sent no X-Escrow-Snapshot-Index header",
				r->node);
	errno = 0;
	index = strtoull(want, &end, 10);
	if (errno != 0 || end == want || *end != '\0' || want[0] == '-' || index != h->index)
		return ctl_fail(CTL_EXIT_REFUSED,
				"%s announced index %.32s but the file is at index %" PRIu64,
				r->node, want, h->index);
	return CTL_EXIT_OK;
}

static void save_print(struct ctl_ctx *ctx, const char *file,
		       const struct ctl_snapshot_saved *v)
{
	const struct snapfile_header *h = &v->h;
	json_t *o;
	char *s;

	if (!ctx->json) {
		printf("snapshot saved to %s: index %" PRIu64 ", term %" PRIu64 ", %" PRIu64
		       " bytes, sha256 %s (from node %s)\n", file, h->index, h->term,
		       h->payload_len + SNAPFILE_HEADER_SIZE, v->sha_hex, v->node);
		return;
	}
	o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "file", file,
		      "index", (json_int_t)h->index, "term", (json_int_t)h->term, "size",
		      (json_int_t)(h->payload_len + SNAPFILE_HEADER_SIZE), "sha256", v->sha_hex,
		      "node", v->node, "created", v->created, "cluster_id", h->cluster_id,
		      "seal_fingerprint", h->seal_fingerprint);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	printf("%s\n", s != NULL ? s : "{}");
	free(s);
	json_decref(o);
}

/* Downloads into tmp; fsynced and closed on success. */
static int save_fetch(struct ctl_ctx *ctx, struct save_sink *s, struct ctl_response *r)
{
	const struct ctl_sink sink = { save_write, save_reset, save_progress, s };
	char errmsg[ESC_ERRMSG_SIZE], why[CTL_REFUSAL_MAX];
	long stall;
	int rv;

	/* The node copies its database before the first byte: a long wait
	 * unless --timeout says otherwise. */
	stall = ctx->timeout_ms == CTL_TIMEOUT_DEFAULT_MS ? SNAP_STALL_MS : ctx->timeout_ms;
	s->t0 = s->last = mono_now();
	rv = ctl_client_stream(&ctx->client, "/v1/snapshot", stall, &sink, r, errmsg);
	if (s->printed)
		fprintf(stderr, s->tty ? "\n" : "");
	if (s->failed)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot save: %s", errmsg);
	if (rv == ESC_EIO || rv == ESC_ECRYPTO || rv == ESC_EINVAL)
		return ctl_fail_request(ctx, rv, r, errmsg);
	if (rv != ESC_OK)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot save: %s", errmsg);
	if (r->status < 200 || r->status > 299) {
		ctl_response_error(r, why, sizeof(why));
		return ctl_fail(CTL_EXIT_REFUSED, "%s", why);
	}
	if (fsync(s->fd) != 0)
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot save: fsync %s: %s", s->path,
				strerror(errno));
	return CTL_EXIT_OK;
}

int ctl_snapshot_save(struct ctl_ctx *ctx, const char *file, bool noreplace,
		      struct ctl_snapshot_saved *out)
{
	char tmp[SNAP_PATH_MAX], dir[SNAP_PATH_MAX], errmsg[ESC_ERRMSG_SIZE];
	struct sigaction sa, old_int, old_term;
	struct save_sink s;
	struct ctl_response r;
	int rv;

	rv = ctl_connect(ctx);
	if (rv != CTL_EXIT_OK)
		return rv;
	if (strlen(file) + 16 >= sizeof(tmp))
		return ctl_usage_error(ctx, "FILE: path too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", file);
	dir_of(file, dir, sizeof(dir));
	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	s.path = tmp;
	s.tty = isatty(STDERR_FILENO) == 1;
	s.fd = mkostemp(tmp, O_CLOEXEC);
	if (s.fd < 0)
		return ctl_fail(CTL_EXIT_REFUSED,
				"snapshot save: cannot create a temporary file next to %s: %s",
				file, strerror(errno));
	/* An interrupt stops the transfer and removes the temporary file (a
	 * signal ignored by our parent stays ignored). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = snap_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, NULL, &old_int);
	sigaction(SIGTERM, NULL, &old_term);
	if (old_int.sa_handler != SIG_IGN)
		sigaction(SIGINT, &sa, NULL);
	if (old_term.sa_handler != SIG_IGN)
		sigaction(SIGTERM, &sa, NULL);

	rv = save_fetch(ctx, &s, &r);
	if (close(s.fd) != 0 && rv == CTL_EXIT_OK)
		rv = ctl_fail(CTL_EXIT_REFUSED, "snapshot save: write %s: %s", tmp,
			      strerror(errno));
	if (rv == CTL_EXIT_OK)
		rv = save_check(tmp, dir, &r, &out->h, out->sha_hex);
	if (rv == CTL_EXIT_OK && snap_interrupted)
		rv = ctl_fail(CTL_EXIT_REFUSED, "snapshot save: interrupted by signal %d",
			      (int)snap_interrupted);
	if (rv == CTL_EXIT_OK && durable_rename(tmp, file, noreplace, errmsg) != ESC_OK)
		rv = ctl_fail(CTL_EXIT_REFUSED, "snapshot save: %s", errmsg);
	if (rv != CTL_EXIT_OK) {
		unlink(tmp);
		goto out;
	}
	if (!ctl_response_header(&r, "X-Escrow-Node", out->node, sizeof(out->node)))
		snprintf(out->node, sizeof(out->node), "%s", r.node);
	ctl_snapshot_time(out->h.created_ms, out->created, sizeof(out->created));
out:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	ctl_response_close(&r);
	return rv;
}

static int snap_save(struct ctl_ctx *ctx, const char *file)
{
	struct ctl_snapshot_saved v;
	int rv;

	rv = ctl_snapshot_save(ctx, file, false, &v);
	if (rv == CTL_EXIT_OK)
		save_print(ctx, file, &v);
	return rv;
}

/* ---- verify ---- */

int ctl_snapshot_verify_file(const char *file, struct snapfile_header *h, char *errmsg)
{
	char dir[SNAP_PATH_MAX];
	const char *tmpdir;

	/* The payload is copied for SQLite to check it: next to the file
	 * (tmpfs may be small), else in $TMPDIR. */
	dir_of(file, dir, sizeof(dir));
	tmpdir = dir;
	if (access(dir, W_OK | X_OK) != 0) {
		tmpdir = getenv("TMPDIR");
		if (tmpdir == NULL || *tmpdir == '\0')
			tmpdir = "/tmp";
	}
	return snapfile_verify(file, tmpdir, h, errmsg);
}

static int snap_verify(struct ctl_ctx *ctx, const char *file)
{
	char errmsg[ESC_ERRMSG_SIZE], sha_hex[65], created[80];
	struct snapfile_header h;
	json_t *o;
	char *s;
	int rv;

	rv = ctl_snapshot_verify_file(file, &h, errmsg);
	if (rv != ESC_OK) {
		if (ctx->json) {
			o = json_pack("{s:s, s:b, s:s}", "file", file, "sound", 0, "error", errmsg);
			s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
			printf("%s\n", s != NULL ? s : "{\"sound\":false}");
			free(s);
			json_decref(o);
		}
		return ctl_fail(CTL_EXIT_REFUSED, "%s: %s", file, errmsg);
	}
	ctl_snapshot_hex(h.sha256, 32, sha_hex);
	ctl_snapshot_time(h.created_ms, created, sizeof(created));
	if (!ctx->json) {
		printf("%s: sound; index %" PRIu64 ", term %" PRIu64 ", created %s, cluster %s, "
		       "seal key fingerprint %s, payload %" PRIu64 " bytes, sha256 %s\n", file,
		       h.index, h.term, created, h.cluster_id, h.seal_fingerprint,
		       h.payload_len, sha_hex);
		return CTL_EXIT_OK;
	}
	o = json_pack("{s:s, s:b, s:I, s:I, s:s, s:I, s:s, s:s, s:I, s:s}", "file", file,
		      "sound", 1, "index", (json_int_t)h.index, "term", (json_int_t)h.term,
		      "created", created, "created_ms", (json_int_t)h.created_ms,
		      "cluster_id", h.cluster_id, "seal_fingerprint", h.seal_fingerprint,
		      "payload_len", (json_int_t)h.payload_len, "sha256", sha_hex);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	printf("%s\n", s != NULL ? s : "{\"sound\":true}");
	free(s);
	json_decref(o);
	return CTL_EXIT_OK;
}

/* ---- restore ---- */

/* What a directory holds of a node, for the refusal; NULL when nothing. */
static const char *dir_node_state(const char *dir)
{
	static const char *const files[] = {
		"node-id", "escrow.db", "escrow.db-wal", "escrow.db-journal",
		DATADIR_SEAL_FINGERPRINT, DATADIR_RESTORED,
	};
	char path[SNAP_PATH_MAX];
	struct dirent *e;
	struct stat st;
	const char *found = NULL;
	size_t i;
	DIR *d;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (lstat(path, &st) == 0 || errno != ENOENT)
			return files[i];
	}
	snprintf(path, sizeof(path), "%s/raft", dir);
	d = opendir(path);
	if (d == NULL)
		return (errno == ENOENT) ? NULL : "raft/";
	while (found == NULL && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			found = "a non-empty raft/";
	closedir(d);
	return found;
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* What restore created, to take it all back on failure. */
struct restore_undo {
	const char *dir;
	bool dir_made;   /* DIR did not exist */
	bool lock_made;  /* DIR/LOCK did not exist */
	bool raft_made;  /* DIR/raft did not exist */
};

static void restore_undo(const struct restore_undo *u)
{
	static const char *const files[] = {
		"node-id", "escrow.db", DATADIR_SEAL_FINGERPRINT, DATADIR_RESTORED,
	};
	char path[SNAP_PATH_MAX];
	size_t i;

	/* None of these existed: restore refuses a dir that holds them. */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", u->dir, files[i]);
		unlink(path);
	}
	if (u->raft_made) {
		snprintf(path, sizeof(path), "%s/raft", u->dir);
		rmdir(path);
	}
	if (u->lock_made) {
		snprintf(path, sizeof(path), "%s/LOCK", u->dir);
		unlink(path);
	}
	if (u->dir_made)
		rmdir(u->dir);
	else
		durable_sync_path(u->dir, false, NULL);
}

static int restore_check(struct ctl_ctx *ctx, const struct snap_args *a)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct netaddr na;
	const char *state;
	struct stat st;

	if (a->data_dir == NULL || a->id == 0 || a->raft_addr == NULL || a->api_addr == NULL)
		return ctl_usage_error(ctx, "restore needs --data-dir, --id, --raft-addr and "
				       "--api-addr");
	if (strlen(a->data_dir) >= SNAP_DATADIR_MAX)
		return ctl_usage_error(ctx, "--data-dir: path longer than %d characters",
				       SNAP_DATADIR_MAX - 1);
	if (netaddr_parse(a->raft_addr, &na, errmsg) != ESC_OK)
		return ctl_usage_error(ctx, "--raft-addr: %s", errmsg);
	if (netaddr_parse(a->api_addr, &na, errmsg) != ESC_OK)
		return ctl_usage_error(ctx, "--api-addr: %s", errmsg);
	if (strcmp(a->raft_addr, a->api_addr) == 0)
		return ctl_usage_error(ctx, "--raft-addr and --api-addr are the same address");
	if (lstat(a->data_dir, &st) != 0) {
		if (errno != ENOENT)
			return ctl_fail(CTL_EXIT_REFUSED, "snapshot restore: %s: %s", a->data_dir,
					strerror(errno));
		return CTL_EXIT_OK;
	}
	if (!S_ISDIR(st.st_mode))
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot restore: %s is not a directory",
				a->data_dir);
	state = dir_node_state(a->data_dir);
	if (state != NULL)
		return ctl_fail(CTL_EXIT_REFUSED,
				"snapshot restore: data dir %s already holds a node's state (%s); "
				"restore only seeds an empty one", a->data_dir, state);
	return CTL_EXIT_OK;
}

static void restore_print(struct ctl_ctx *ctx, const struct snap_args *a,
			  const struct snapfile_header *h, const char *cluster_id)
{
	char created[80];
	json_t *o;
	char *s;

	ctl_snapshot_time(h->created_ms, created, sizeof(created));
	if (ctx->json) {
		o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "file", a->file,
			      "data_dir", a->data_dir, "id", (json_int_t)a->id, "raft_addr",
			      a->raft_addr, "api_addr", a->api_addr, "cluster_id", cluster_id,
			      "index", (json_int_t)h->index, "term", (json_int_t)h->term,
			      "created", created, "seal_fingerprint", h->seal_fingerprint);
		s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		printf("%s\n", s != NULL ? s : "{}");
		free(s);
		json_decref(o);
		return;
	}
	printf("restored %s (index %" PRIu64 ", term %" PRIu64 ", taken %s) into %s: node %ld "
	       "of a new one-node cluster %s\n", a->file, h->index, h->term, created,
	       a->data_dir, a->id, cluster_id);
	printf("start it with: escrowd --id %ld --data-dir %s --raft-addr %s --api-addr %s "
	       "--seal-key <the key with fingerprint %s> (--insecure or TLS flags); then grow "
	       "it with --join\n", a->id, a->data_dir, a->raft_addr, a->api_addr,
	       h->seal_fingerprint);
}

/* Seeds the opened data dir d: database, seal fingerprint, restored, node-id. */
static int restore_seed(struct datadir *d, const struct snap_args *a,
			struct snapfile_header *h, char *cluster_id, char *errmsg)
{
	char members[256], line[sizeof(members) + 2];
	uint8_t raw[16];
	int rv;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return esc_errorf(errmsg, ESC_ECRYPTO, "no random bytes for a cluster id");
	ctl_snapshot_hex(raw, sizeof(raw), cluster_id);
	snprintf(members, sizeof(members), "%ld=%s/%s", a->id, a->raft_addr, a->api_addr);
	rv = snapfile_restore(a->file, d->db_path, cluster_id, members, h, errmsg);
	if (rv != ESC_OK)
		return rv;
	snprintf(line, sizeof(line), "%s\n", h->seal_fingerprint);
	rv = datadir_write_file(d, DATADIR_SEAL_FINGERPRINT, line, errmsg);
	if (rv != ESC_OK)
		return rv;
	snprintf(line, sizeof(line), "%s\n", members);
	rv = datadir_write_file(d, DATADIR_RESTORED, line, errmsg);
	if (rv != ESC_OK)
		return rv;
	return datadir_commit_id(d, errmsg);
}

static int snap_restore(struct ctl_ctx *ctx, const struct snap_args *a)
{
	char errmsg[ESC_ERRMSG_SIZE], path[SNAP_PATH_MAX], cluster_id[33];
	struct restore_undo undo;
	struct snapfile_header h;
	struct datadir d;
	int rv;

	rv = restore_check(ctx, a);
	if (rv != CTL_EXIT_OK)
		return rv;
	memset(&undo, 0, sizeof(undo));
	undo.dir = a->data_dir;
	undo.dir_made = !path_exists(a->data_dir);
	snprintf(path, sizeof(path), "%s/LOCK", a->data_dir);
	undo.lock_made = !path_exists(path);
	snprintf(path, sizeof(path), "%s/raft", a->data_dir);
	undo.raft_made = !path_exists(path);
	rv = datadir_open(&d, a->data_dir, (unsigned)a->id, errmsg);
	if (rv != ESC_OK) {
		/* A lock held by someone else: theirs, leave it. */
		if (rv != ESC_ELOCKED)
			restore_undo(&undo);
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot restore: %s", errmsg);
	}
	/* Checked again under the lock: a node may have started meanwhile. */
	if (dir_node_state(a->data_dir) != NULL) {
		datadir_close(&d);
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot restore: data dir %s already holds "
				"a node's state", a->data_dir);
	}
	rv = restore_seed(&d, a, &h, cluster_id, errmsg);
	datadir_close(&d);
	if (rv != ESC_OK) {
		restore_undo(&undo);
		return ctl_fail(CTL_EXIT_REFUSED, "snapshot restore: %s: %s", a->file, errmsg);
	}
	restore_print(ctx, a, &h, cluster_id);
	return CTL_EXIT_OK;
}

/* ---- the command ---- */

int ctl_cmd_snapshot(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "id", required_argument, NULL, 'i' },
		{ "raft-addr", required_argument, NULL, 'r' },
		{ "api-addr", required_argument, NULL, 'a' },
		{ "keep", required_argument, NULL, 'k' },
		CTL_OPTS_COMMON
	};
	struct snap_args a;
	const char *id = NULL, *keep = NULL;
	int c, rv;

	memset(&a, 0, sizeof(a));
	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		switch (c) {
		case 'd': rv = ctl_opt_once(ctx, &a.data_dir, optarg, "--data-dir"); break;
		case 'i': rv = ctl_opt_once(ctx, &id, optarg, "--id"); break;
		case 'r': rv = ctl_opt_once(ctx, &a.raft_addr, optarg, "--raft-addr"); break;
		case 'a': rv = ctl_opt_once(ctx, &a.api_addr, optarg, "--api-addr"); break;
		case 'k': rv = ctl_opt_once(ctx, &keep, optarg, "--keep"); break;
		}
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind >= argc)
		return ctl_usage_error(ctx, "save, verify, restore or backup?");
	a.verb = argv[optind++];
	if (optind >= argc || argv[optind][0] == '\0')
		return ctl_usage_error(ctx, "%.16s needs a %s", a.verb,
				       strcmp(a.verb, "backup") == 0 ? "DIR" : "FILE");
	a.file = argv[optind++];
	if (optind < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind]);
	if (keep != NULL && strcmp(a.verb, "backup") != 0)
		return ctl_usage_error(ctx, "--keep is for backup only");
	if (id != NULL && ctl_opt_long(ctx, id, "--id", 1, 65535, &a.id) != CTL_EXIT_OK)
		return CTL_EXIT_USAGE;
	if (strcmp(a.verb, "restore") == 0)
		return snap_restore(ctx, &a);
	if (a.data_dir != NULL || id != NULL || a.raft_addr != NULL || a.api_addr != NULL)
		return ctl_usage_error(ctx, "--data-dir, --id, --raft-addr and --api-addr are "
				       "for restore only");
	if (strcmp(a.verb, "save") == 0)
		return snap_save(ctx, a.file);
	if (strcmp(a.verb, "verify") == 0)
		return snap_verify(ctx, a.file);
	if (strcmp(a.verb, "backup") == 0)
		return ctl_snapshot_backup(ctx, a.file, keep);
	return ctl_usage_error(ctx, "unknown action '%.32s': save, verify, restore or backup",
			       a.verb);
}
