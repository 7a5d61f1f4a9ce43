/* The workarounds for libraft 0.15's traps, against libraft's own raft_uv.
 *
 * Open segments it cannot load, trimmed by segtail_trim: each case writes a
 * Raft directory with raft_uv (bootstrap), adds an open segment, trims, and
 * loads it back with libraft's loader. Without the trim the "tail of 8
 * bytes" case is a double free inside raft_uv's load.
 *
 * Its send to no server, refused by the send guard: without it, raft_uv's
 * send takes strlen(NULL). */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "lib/byteorder.h"
#include "lib/error.h"
#include "raft/segtail.h"
#include "raft/sendguard.h"
#include "tests/unit.h"

#define SEG_SIZE 4096

struct seg {
	uint8_t buf[SEG_SIZE * 2];
	size_t len;
	unsigned entries;
};

static void seg_init(struct seg *s)
{
	memset(s, 0, sizeof *s);
	byteorder_put_u64(s->buf, 1); /* format */
	s->len = 8;
}

/* Appends a batch of N command entries of LEN bytes each (a multiple of 8),
 * entry k filled with the byte (first + k). BAD_HEADER spoils the header's
 * checksum. */
static void seg_batch(struct seg *s, unsigned n, uint32_t len, bool bad_header)
{
	uint8_t *b = s->buf + s->len;
	size_t header = 8 + 16 * (size_t)n;
	uint8_t *data = b + 8 + header;

	byteorder_put_u64(b + 8, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = b + 16 + 16 * i;

		byteorder_put_u64(e, 1); /* term */
		e[8] = RAFT_COMMAND;
		byteorder_put_u32(e + 12, len);
		memset(data + (size_t)i * len, (int)(2 + s->entries + i), len);
	}
	byteorder_put_u32(b, segtail_crc32(b + 8, header, 0) ^ (bad_header ? 1 : 0));
	byteorder_put_u32(b + 4, segtail_crc32(data, (size_t)n * len, 0));
	s->len += 8 + header + (size_t)n * len;
	s->entries += n;
}

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		abort();
	close(fd);
}

static size_t file_size(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (size_t)st.st_size : (size_t)-1;
}

struct uvio {
	uv_loop_t loop;
	struct raft_uv_transport transport;
	struct sendguard guard;
	bool closed;
};

static void io_closed_cb(struct raft_io *io)
{
	((struct uvio *)io->data)->closed = true;
}

static int uvio_open(struct uvio *u, const char *dir)
{
	memset(u, 0, sizeof *u);
	uv_loop_init(&u->loop);
	if (raft_uv_tcp_init(&u->transport, &u->loop) != 0)
		return -1;
	if (raft_uv_init(&u->guard.io, &u->loop, dir, &u->transport) != 0)
		return -1;
	sendguard_install(&u->guard);
	raft_uv_set_segment_size(&u->guard.io, SEG_SIZE);
	raft_uv_set_auto_recovery(&u->guard.io, false);
	u->guard.io.data = u;
	return u->guard.io.init(&u->guard.io, 1, "127.0.0.1:9");
}

static int uvio_close(struct uvio *u)
{
	u->guard.io.close(&u->guard.io, io_closed_cb);
	while (!u->closed)
		uv_run(&u->loop, UV_RUN_ONCE);
	raft_uv_close(&u->guard.io);
	raft_uv_tcp_close(&u->transport);
	uv_run(&u->loop, UV_RUN_DEFAULT);
	return uv_loop_close(&u->loop);
}

/* A fresh Raft directory bootstrapped by libraft: entry 1 in a closed
 * segment. */
static int make_dir(char *dir)
{
	struct raft_configuration conf;
	struct uvio u;
	int rv;

	strcpy(dir, "/tmp/escrow-segtail-XXXXXX");
	if (mkdtemp(dir) == NULL || uvio_open(&u, dir) != 0)
		return -1;
	raft_configuration_init(&conf);
	raft_configuration_add(&conf, 1, "127.0.0.1:9", RAFT_VOTER);
	rv = u.guard.io.bootstrap(&u.guard.io, &conf);
	raft_configuration_close(&conf);
	return uvio_close(&u) == 0 ? rv : -1;
}

/* Loads DIR with libraft: the number of entries, or -1 when it refuses.
 * Every command entry's bytes must be its index. */
static long load(const char *dir)
{
	struct raft_snapshot *snap = NULL;
	struct raft_entry *entries = NULL;
	raft_index start = 0;
	raft_id vote;
	raft_term term;
	size_t n = 0;
	struct uvio u;
	long result;
	void *batch = NULL;

	if (uvio_open(&u, dir) != 0)
		return -2;
	result = u.guard.io.load(&u.guard.io, &term, &vote, &snap, &start, &entries, &n) == 0 ? (long)n : -1;
	for (size_t i = 0; result >= 0 && i < n; i++) {
		const uint8_t *p = entries[i].buf.base;

		if (entries[i].type == RAFT_COMMAND && p[0] != (uint8_t)(start + i))
			result = -3;
	}
	for (size_t i = 0; i < n; i++) {
		if (entries[i].batch != batch) {
			batch = entries[i].batch;
			raft_free(batch);
		}
	}
	raft_free(entries);
	if (uvio_close(&u) != 0)
		return -4;
	return result;
}

/* Two whole batches (3 entries), then 8 bytes before the end of the
 * preallocated file: libraft reads the checksums, not the count, and
 * double-frees. Trimmed to the end of the second batch. */
TEST(tail_of_eight_bytes_is_trimmed)
{
	char dir[64], errmsg[ESC_ERRMSG_SIZE];
	struct segtail_fix fixes[SEGTAIL_FIXES_MAX];
	struct seg s;
	unsigned n;

	CHECK_INT(make_dir(dir), 0);
	seg_init(&s);
	seg_batch(&s, 2, 64, false);
	seg_batch(&s, 1, 1000 - 8 * 4, false);
	write_file(dir, "open-1", s.buf, s.len + 8);
	CHECK_INT(segtail_trim(dir, fixes, &n, errmsg), ESC_OK);
	CHECK_INT(n, 1);
	CHECK_STR(fixes[0].name, "open-1");
	CHECK_INT(fixes[0].size, s.len + 8);
	CHECK_INT(fixes[0].kept, s.len);
	CHECK_INT(fixes[0].batches, 2);
	CHECK_INT(file_size(dir, "open-1"), s.len);
	CHECK_INT(load(dir), 1 + 3);
	unit_remove_tree(dir);
}

/* A batch whose entries claim more data than the file holds: cut before it. */
TEST(batch_past_the_end_is_trimmed)
{
	char dir[64], errmsg[ESC_ERRMSG_SIZE];
	struct segtail_fix fixes[SEGTAIL_FIXES_MAX];
	struct seg s;
	size_t whole;
	unsigned n;

	CHECK_INT(make_dir(dir), 0);
	seg_init(&s);
	seg_batch(&s, 1, 64, false);
	whole = s.len;
	seg_batch(&s, 1, 256, false);
	write_file(dir, "open-1", s.buf, s.len - 128);
	CHECK_INT(segtail_trim(dir, fixes, &n, errmsg), ESC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(fixes[0].kept, whole);
	CHECK_INT(load(dir), 1 + 1);
	unit_remove_tree(dir);
}

/* No whole batch at all: emptied, and libraft removes the empty segment. */
TEST(no_whole_batch_empties_it)
{
	char dir[64], errmsg[ESC_ERRMSG_SIZE];
	struct segtail_fix fixes[SEGTAIL_FIXES_MAX];
	struct seg s;
	unsigned n;

	CHECK_INT(make_dir(dir), 0);
	seg_init(&s);
	write_file(dir, "open-1", s.buf, 8 + 8);
	CHECK_INT(segtail_trim(dir, fixes, &n, errmsg), ESC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(fixes[0].kept, 0);
	CHECK_INT(fixes[0].batches, 0);
	CHECK_INT(load(dir), 1);
	CHECK_INT(file_size(dir, "open-1"), (size_t)-1);
	unit_remove_tree(dir);
}

/* What libraft loads, or cuts itself (zeros after the last batch, a batch
 * with a bad checksum, a batch ending exactly at the end, a segment never
 * written), is left as it is. */
TEST(what_libraft_handles_is_untouched)
{
	char dir[64], errmsg[ESC_ERRMSG_SIZE];
	struct segtail_fix fixes[SEGTAIL_FIXES_MAX];
	uint8_t zeros[SEG_SIZE] = { 0 };
	struct seg s, t, u;
	unsigned n;

	CHECK_INT(make_dir(dir), 0);
	seg_init(&s);
	seg_batch(&s, 3, 16, false);
	write_file(dir, "open-1", s.buf, SEG_SIZE);
	seg_init(&t);
	seg_batch(&t, 1, 16, false);
	t.entries = 0;
	write_file(dir, "open-2", zeros, SEG_SIZE);
	CHECK_INT(segtail_trim(dir, fixes, &n, errmsg), ESC_OK);
	CHECK_INT(n, 0);
	CHECK_INT(file_size(dir, "open-1"), SEG_SIZE);
	CHECK_INT(load(dir), 1 + 3);
	unit_remove_tree(dir);

	CHECK_INT(make_dir(dir), 0);
	seg_init(&u);
	seg_batch(&u, 1, 16, false);
	seg_batch(&u, 1, 16, true);
	write_file(dir, "open-1", u.buf, u.len + 8);
	CHECK_INT(segtail_trim(dir, fixes, &n, errmsg), ESC_OK);
	CHECK_INT(n, 0);
	CHECK_INT(load(dir), 1 + 1);
	unit_remove_tree(dir);

	CHECK_INT(make_dir(dir), 0);
	write_file(dir, "open-1", s.buf, s.len);
	write_file(dir, "open-x", t.buf, 8 + 8);
	CHECK_INT(segtail_trim(dir, fixes, &n, errmsg), ESC_OK);
	CHECK_INT(n, 0);
	CHECK_INT(file_size(dir, "open-x"), 16);
	unit_remove_tree(dir);
}

static int sent;

static void sent_cb(struct raft_io_send *req, int status)
{
	(void)req;
	(void)status;
	sent++;
}

/* An AppendEntries result for a follower that knows no leader (id 0,
 * address NULL) is refused at once and never reaches raft_uv; one to a
 * server goes on to raft_uv's send, which calls back (cancelled at close,
 * as nothing listens there). */
TEST(send_to_no_server_is_refused)
{
	struct raft_message m = { .type = RAFT_IO_APPEND_ENTRIES_RESULT };
	struct raft_io_send req, req2;
	char dir[64];
	struct uvio u;

	CHECK_INT(make_dir(dir), 0);
	CHECK_INT(uvio_open(&u, dir), 0);
	sent = 0;
	m.append_entries_result.term = 2;
	m.append_entries_result.last_log_index = 1;
	CHECK_INT(u.guard.io.send(&u.guard.io, &req, &m, sent_cb), RAFT_NOCONNECTION);
	m.server_id = 2;
	CHECK_INT(u.guard.io.send(&u.guard.io, &req, &m, sent_cb), RAFT_NOCONNECTION);
	CHECK_INT(u.guard.dropped, 2);
	m.server_address = "127.0.0.1:1";
	CHECK_INT(u.guard.io.send(&u.guard.io, &req2, &m, sent_cb), 0);
	CHECK_INT(u.guard.dropped, 2);
	CHECK_INT(uvio_close(&u), 0);
	CHECK_INT(sent, 1);
	unit_remove_tree(dir);
}

/* A directory that does not exist yet has nothing to trim. */
TEST(missing_dir_is_nothing)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct segtail_fix fixes[SEGTAIL_FIXES_MAX];
	unsigned n = 7;

	CHECK_INT(segtail_trim("/tmp/escrow-segtail-none/raft", fixes, &n, errmsg), ESC_OK);
	CHECK_INT(n, 0);
}

int main(void)
{
	RUN(tail_of_eight_bytes_is_trimmed);
	RUN(batch_past_the_end_is_trimmed);
	RUN(no_whole_batch_empties_it);
	RUN(what_libraft_handles_is_untouched);
	RUN(missing_dir_is_nothing);
	RUN(send_to_no_server_is_refused);
	return unit_done();
}
