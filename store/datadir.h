/* A node's data directory: its layout, the lock that keeps out a second
 * escrowd, and the node-id file that ties the directory to one node.
 *
 * Layout of DIR:
 *   LOCK      flock()ed by the running escrowd; holds its pid as "N\n"
 *   node-id   "N\n", this node's id in decimal; written once, by
 *             datadir_commit_id, after the node first started successfully
 *   raft/     libraft's log and snapshots
 *   escrow.db the SQLite state (db_path)
 *   seal-fingerprint  fingerprint of the seal key the data was sealed with
 *   restored  present while a node seeded from a snapshot has no Raft
 *             snapshot yet: the --bootstrap string of its one-node cluster
 *   store-boot  present while escrow.db may hold unsynced writes: the boot
 *             id they were made under (node/storeguard.h) */
#ifndef ESCROW_DATADIR_H
#define ESCROW_DATADIR_H

#include <stdbool.h>
#include <stddef.h>

#define DATADIR_PATH_MAX 1024 /* longest path of a file inside DIR, with NUL */
#define DATADIR_SEAL_FINGERPRINT "seal-fingerprint"
#define DATADIR_RESTORED "restored"

struct datadir {
	char path[DATADIR_PATH_MAX];     /* DIR as given */
	char raft_dir[DATADIR_PATH_MAX]; /* DIR/raft */
	char db_path[DATADIR_PATH_MAX];  /* DIR/escrow.db */
	unsigned id;                     /* the node id given to datadir_open */
	int lock_fd;                     /* holds the flock on DIR/LOCK; -1 when closed */
	bool fresh;                      /* no node-id file yet */
};

/* Opens the data dir at path for node id: creates DIR (mode 0700) when
 * missing (its parent must exist), locks DIR/LOCK for as long as d is open,
 * checks DIR/node-id and creates DIR/raft. path is copied.
 * Errors: ESC_ELOCKED when another process (or another datadir_open in this
 * one) holds the lock; ESC_EINVAL when the dir belongs to another node id or
 * path is empty or too long; ESC_ECORRUPT for a malformed node-id file;
 * ESC_EIO when a system call fails. On error nothing is held (d->lock_fd is
 * -1) and d need not be closed; a DIR created by this call stays. */
int datadir_open(struct datadir *d, const char *path, unsigned id, char *errmsg);

/* Records d->id in DIR/node-id durably (temporary file, fsync, rename,
 * fsync of DIR), once the node has started for the first time; clears
 * d->fresh. Does nothing when d is not fresh. ESC_EIO on failure, leaving
 * no node-id file behind (best effort) and d->fresh set. */
int datadir_commit_id(struct datadir *d, char *errmsg);

/* Writes DIR/name with content durably (temporary file, fsync, rename,
 * fsync of DIR). ESC_EIO on failure. */
int datadir_write_file(struct datadir *d, const char *name, const char *content,
		       char *errmsg);

/* Reads DIR/name (at most size - 1 bytes, trailing newlines dropped) into
 * buf. ESC_ENOTFOUND when it does not exist (errmsg untouched), ESC_EIO,
 * ESC_ECORRUPT when longer than buf. */
int datadir_read_file(struct datadir *d, const char *name, char *buf, size_t size,
		      char *errmsg);

/* Removes DIR/name durably; a missing file is fine. */
int datadir_remove_file(struct datadir *d, const char *name, char *errmsg);

/* Ties the data to one seal key: records fingerprint on first use, and
 * afterwards refuses (ESC_EINVAL) any other, naming both fingerprints. */
int datadir_check_seal(struct datadir *d, const char *fingerprint, const char *key_path,
		       char *errmsg);

/* Releases the lock. Safe to call again, and after a failed datadir_open. */
void datadir_close(struct datadir *d);

#endif
