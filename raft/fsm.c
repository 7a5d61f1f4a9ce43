/* escrow's libraft state machine: decodes commands and applies them to the store. */
#include "raft/fsm.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "raft/codec.h"
#include "lib/byteorder.h"
#include "lib/error.h"

/* Never returns non-zero for a bad command: libraft would retry it forever on
 * the leader and stop a follower. A command that does not decode is a no-op
 * on every node alike, reported through the result. */
static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
	struct fsm *f = rf->data;
	/* In 0.15 last_applied advances only after apply returns (pinned by
	 * tests/test_fsm.c). */
	uint64_t index = f->raft->last_applied + 1;
	char errmsg[ESC_ERRMSG_SIZE] = "";
	int rv;

	memset(&f->result, 0, sizeof f->result);
	f->result.index = index;
	*result = &f->result;
	/* A later build's command: neither apply nor skip it. The node stops
	 * and meets the entry again at every start until it is upgraded;
	 * libraft does not advance past an entry whose apply failed. */
	if (codec_check_version(buf->base, buf->len, errmsg) != ESC_OK) {
		char msg[ESC_ERRMSG_SIZE + 128];
		snprintf(msg, sizeof msg,
			 "entry %llu is a %s: upgrade this node; stopping without applying it "
			 "(it stays in the log for a build that knows it)",
			 (unsigned long long)index, errmsg);
		f->fatal_cb(f, msg);
		return RAFT_IOERR;
	}
	rv = codec_decode(buf->base, buf->len, &f->cmd, errmsg);
	if (rv != ESC_OK) {
		f->rejected++;
		f->result.status = rv;
		if (f->applied_cb != NULL)
			f->applied_cb(f, index, &f->result);
		return 0;
	}
	rv = store_apply(f->store, index, &f->cmd, &f->result, errmsg);
	if (rv != ESC_OK) {
		char msg[ESC_ERRMSG_SIZE + 128];
		snprintf(msg, sizeof msg,
			 "apply of entry %llu failed: %s; stopping so that the entry is applied "
			 "again at restart",
			 (unsigned long long)index, errmsg);
		f->fatal_cb(f, msg);
		return RAFT_IOERR;
	}
	f->applied++;
	if (f->applied_cb != NULL)
		f->applied_cb(f, index, &f->result);
	return 0;
}

/* Copies the pinned state, packed, after the header in bufs[0]. */
static int snapshot_copy(struct fsm *f, struct raft_buffer *bufs, unsigned *n_bufs)
{
	char errmsg[ESC_ERRMSG_SIZE];
	void *image;
	size_t len;

	if (store_image_build(f->store, &image, &len, errmsg) != ESC_OK)
		return RAFT_IOERR;
	byteorder_put_u64((uint8_t *)bufs[0].base + 24, len);
	bufs[1].base = image;
	bufs[1].len = len;
	*n_bufs = 2;
	return 0;
}

/* The loop's time in a snapshot callback since started (uv_hrtime()). */
static void loop_time(struct fsm *f, uint64_t started)
{
	uint64_t ns = uv_hrtime() - started;

	if (ns > f->snapshot_loop_max_ns)
		f->snapshot_loop_max_ns = ns;
}

/* Loop thread: pin the state to copy and write the header. The copy itself
 * is made by fsm_snapshot_async on a worker thread, so that a large store
 * never stalls the loop; libraft frees nothing, fsm_snapshot_finalize does. */
static int snapshot_pin(struct fsm *f, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	char errmsg[ESC_ERRMSG_SIZE], cluster_id[CMD_CLUSTER_ID_LEN + 1];
	uint64_t index;
	uint8_t *h;
	int rv;

	rv = store_image_begin(f->store, &index, cluster_id, errmsg);
	if (rv == ESC_EBUSY)
		return RAFT_BUSY;
	if (rv != ESC_OK)
		return RAFT_IOERR;
	*bufs = raft_calloc(2, sizeof **bufs);
	h = raft_calloc(1, FSM_SNAPSHOT_HEADER_SIZE);
	if (*bufs == NULL || h == NULL) {
		raft_free(*bufs);
		raft_free(h);
		store_image_end(f->store);
		return RAFT_NOMEM;
	}
	memcpy(h, FSM_SNAPSHOT_MAGIC, 8);
	byteorder_put_u32(h + 8, FSM_SNAPSHOT_VERSION);
	byteorder_put_u64(h + 16, index);
	memcpy(h + 32, cluster_id, strnlen(cluster_id, 32));
	(*bufs)[0].base = h;
	(*bufs)[0].len = FSM_SNAPSHOT_HEADER_SIZE;
	*n_bufs = 1;
	if (f->raft_fsm.snapshot_async == NULL)
		return snapshot_copy(f, *bufs, n_bufs);
	return 0;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct fsm *f = rf->data;
	int rv;

	f->snapshot_started = uv_hrtime();
	rv = snapshot_pin(f, bufs, n_bufs);
	loop_time(f, f->snapshot_started);
	return rv;
}

struct copy_job {
	struct fsm *f;
	struct raft_buffer *bufs;
	unsigned *n_bufs;
	int rv;
};

static void *copy_main(void *arg)
{
	struct copy_job *j = arg;

	/* Below the loops: on a busy machine a snapshot's seconds of copying
	 * and packing must not sit in the requests' tail latency. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), FSM_SNAPSHOT_NICE);
	j->rv = snapshot_copy(j->f, j->bufs, j->n_bufs);
	return NULL;
}

/* Worker thread: copy the pinned state; touches only the image connection.
 * The copy runs on a thread of its own at a lower priority (the worker is
 * libuv's, shared with libraft's disk work, and a thread cannot raise its
 * priority back without privileges), joined here. */
static int fsm_snapshot_async(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct copy_job j = { rf->data, *bufs, n_bufs, 0 };
	pthread_t t;

	if (pthread_create(&t, NULL, copy_main, &j) != 0)
		return snapshot_copy(rf->data, *bufs, n_bufs);
	pthread_join(t, NULL);
	return j.rv;
}

/* Loop thread, once the snapshot is on disk or has failed. */
static int fsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[],
				 unsigned *n_bufs)
{
	struct fsm *f = rf->data;
	uint64_t started = uv_hrtime();

	store_image_end(f->store);
	f->snapshots++;
	f->snapshot_last_ns = started - f->snapshot_started;
	f->snapshot_ns += f->snapshot_last_ns;
	if (*bufs != NULL) {
		raft_free((*bufs)[0].base);
		if (*n_bufs > 1)
			store_image_free_later((*bufs)[1].base);
		raft_free(*bufs);
	}
	*bufs = NULL;
	*n_bufs = 0;
	loop_time(f, started);
	return 0;
}

/* On success the FSM owns buf->base and frees it; on failure libraft keeps
 * it (it destroys the whole snapshot on its error path). */
static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
	struct fsm *f = rf->data;
	const uint8_t *h = buf->base;
	char errmsg[ESC_ERRMSG_SIZE], msg[ESC_ERRMSG_SIZE + 128];
	uint64_t index, len;
	uint32_t version;
	int rv = 0;

	if (buf->len < FSM_SNAPSHOT_HEADER_SIZE || memcmp(h, FSM_SNAPSHOT_MAGIC, 8) != 0) {
		rv = RAFT_CORRUPT;
		goto out;
	}
	index = byteorder_get_u64(h + 16);
	if (byteorder_get_u32(h + 8) > FSM_SNAPSHOT_VERSION) {
		snprintf(msg, sizeof msg,
			 "snapshot at index %llu is of format version %u, newer than this node's "
			 "%u: upgrade this node; stopping without loading it",
			 (unsigned long long)index, byteorder_get_u32(h + 8),
			 FSM_SNAPSHOT_VERSION);
		f->fatal_cb(f, msg);
		rv = RAFT_CORRUPT;
		goto out;
	}
	version = byteorder_get_u32(h + 8);
	if (version != FSM_SNAPSHOT_VERSION && version != FSM_SNAPSHOT_VERSION_UNPACKED) {
		rv = RAFT_CORRUPT;
		goto out;
	}
	len = byteorder_get_u64(h + 24);
	if (len != buf->len - FSM_SNAPSHOT_HEADER_SIZE) {
		rv = RAFT_CORRUPT;
		goto out;
	}
	/* The store commits its applied index with the entries of each batch
	 * (a failed commit stops the node: store_flush): when it is
	 * already at or past the snapshot of the same cluster, its state is
	 * newer and complete. A store seeded from a snapshot file restarts
	 * its index at 0, hence the cluster id: a new member must load it. */
	if (store_applied_index(f->store) >= index && store_cluster_id(f->store)[0] != '\0' &&
	    strncmp((const char *)h + 32, store_cluster_id(f->store), 32) == 0)
		goto out;
	if (version == FSM_SNAPSHOT_VERSION)
		rv = store_restore_packed(f->store, h + FSM_SNAPSHOT_HEADER_SIZE, (size_t)len,
					  errmsg);
	else
		rv = store_restore_image(f->store, h + FSM_SNAPSHOT_HEADER_SIZE, (size_t)len,
					 errmsg);
	if (rv == ESC_EVERSION) {
		/* The image's schema is a later build's. */
		snprintf(msg, sizeof msg,
			 "snapshot at index %llu: %s: upgrade this node; stopping without "
			 "loading it",
			 (unsigned long long)index, errmsg);
		f->fatal_cb(f, msg);
	}
	if (rv != ESC_OK)
		rv = RAFT_CORRUPT;
out:
	if (rv == 0) {
		f->restores++;
		raft_free(buf->base);
	}
	return rv;
}

/* fsm_apply, timed for the metrics. */
static int fsm_apply_timed(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
	struct fsm *f = rf->data;
	uint64_t started = uv_hrtime();
	int rv = fsm_apply(rf, buf, result);

	histogram_observe_ns(&f->apply_seconds, uv_hrtime() - started);
	return rv;
}

void fsm_init(struct fsm *f, struct store *store, fsm_fatal_cb fatal_cb, bool async)
{
	memset(f, 0, sizeof *f);
	f->store = store;
	f->fatal_cb = fatal_cb;
	f->raft_fsm.version = 3;
	f->raft_fsm.data = f;
	f->raft_fsm.apply = fsm_apply_timed;
	f->raft_fsm.snapshot = fsm_snapshot;
	f->raft_fsm.restore = fsm_restore;
	f->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
	f->raft_fsm.snapshot_async = async ? fsm_snapshot_async : NULL;
}
