/* escrow's libraft state machine: decodes commands and applies them to the store. */
#include "raft/fsm.h"

#include <string.h>

#include "raft/codec.h"
#include "raft/byteorder.h"
#include "store/error.h"

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
	rv = codec_decode(buf->base, buf->len, &f->cmd, errmsg);
	if (rv != ESC_OK) {
		f->rejected++;
		f->result.status = rv;
		return 0;
	}
	rv = store_apply(f->store, index, &f->cmd, &f->result, errmsg);
	if (rv != ESC_OK) {
		char msg[ESC_ERRMSG_SIZE + 64];
		snprintf(msg, sizeof msg, "apply of entry %llu failed: %s",
			 (unsigned long long)index, errmsg);
		f->fatal_cb(f, msg);
		return RAFT_IOERR;
	}
	f->applied++;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct fsm *f = rf->data;
	char errmsg[ESC_ERRMSG_SIZE];
	void *image;
	size_t len;
	uint64_t index;
	uint8_t *h;

	*bufs = raft_malloc(sizeof **bufs);
	if (*bufs == NULL)
		return RAFT_NOMEM;
	if (store_image(f->store, raft_malloc, FSM_SNAPSHOT_HEADER_SIZE, &image, &len,
			&index, errmsg) != ESC_OK) {
		raft_free(*bufs);
		return RAFT_IOERR;
	}
	h = image;
	memcpy(h, FSM_SNAPSHOT_MAGIC, 8);
	byteorder_put_u32(h + 8, FSM_SNAPSHOT_VERSION);
	byteorder_put_u32(h + 12, 0);
	byteorder_put_u64(h + 16, index);
	byteorder_put_u64(h + 24, len - FSM_SNAPSHOT_HEADER_SIZE);
	(*bufs)[0].base = image;
	(*bufs)[0].len = len;
	*n_bufs = 1;
	return 0;
}

/* On success the FSM owns buf->base and frees it; on failure libraft keeps
 * it (it destroys the whole snapshot on its error path). */
static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
	struct fsm *f = rf->data;
	const uint8_t *h = buf->base;
	char errmsg[ESC_ERRMSG_SIZE];
	uint64_t index, len;
	int rv = 0;

	if (buf->len < FSM_SNAPSHOT_HEADER_SIZE || memcmp(h, FSM_SNAPSHOT_MAGIC, 8) != 0 ||
	    byteorder_get_u32(h + 8) != FSM_SNAPSHOT_VERSION) {
		rv = RAFT_CORRUPT;
		goto out;
	}
	index = byteorder_get_u64(h + 16);
	len = byteorder_get_u64(h + 24);
	if (len != buf->len - FSM_SNAPSHOT_HEADER_SIZE) {
		rv = RAFT_CORRUPT;
		goto out;
	}
	/* The store commits its applied index with every entry: when it is
	 * already at or past the snapshot, its state is newer and complete. */
	if (store_applied_index(f->store) >= index)
		goto out;
	if (store_restore_image(f->store, h + FSM_SNAPSHOT_HEADER_SIZE, (size_t)len, errmsg) !=
	    ESC_OK)
		rv = RAFT_CORRUPT;
out:
	if (rv == 0)
		raft_free(buf->base);
	return rv;
}

void fsm_init(struct fsm *f, struct store *store, fsm_fatal_cb fatal_cb)
{
	memset(f, 0, sizeof *f);
	f->store = store;
	f->fatal_cb = fatal_cb;
	f->raft_fsm.version = 1;
	f->raft_fsm.data = f;
	f->raft_fsm.apply = fsm_apply;
	f->raft_fsm.snapshot = fsm_snapshot;
	f->raft_fsm.restore = fsm_restore;
}
