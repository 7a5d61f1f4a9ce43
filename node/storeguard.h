/* Whether the SQLite store survived the last stop. The store runs without
 * fsync (see store_open in store/store.h), so it is trusted after a clean
 * stop, which syncs it, and after a process crash, which leaves it whole
 * (store/walbuf.h) and at worst a few commits behind Raft, which applies them
 * again; not after the machine itself went down while escrowd ran. DIR/store-boot records the kernel's boot id while the store may hold
 * unsynced writes:
 *   absent          the last stop was clean (or the store is new): keep it
 *   this boot's id  escrowd crashed but the machine did not: keep it
 *   another boot id the machine restarted under a running escrowd: the
 *                   store is rebuilt from the Raft snapshot and log */
#ifndef ESCROW_STOREGUARD_H
#define ESCROW_STOREGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "store/datadir.h"

#define STOREGUARD_FILE "store-boot"
#define STOREGUARD_BOOT_ID "/proc/sys/kernel/random/boot_id"

/* Reads the current boot id into buf (at least 64 bytes); "unknown" when
 * the kernel does not say, which makes every unclean stop a rebuild. */
void storeguard_boot_id(char *buf, size_t size);

/* Decides before the store is opened. *rebuild is set when the store must be
 * thrown away; *recorded then holds the boot id it was written under.
 * A seeded node (`restored` marker: its state is not in Raft yet) cannot be
 * rebuilt: ESC_EINVAL with what to do. ESC_EIO, ESC_ECORRUPT from reading. */
int storeguard_check(struct datadir *d, bool seeded, bool *rebuild, char *recorded,
		     size_t size, char *errmsg);

/* Records the current boot id durably, before the first unsynced write. */
int storeguard_arm(struct datadir *d, char *errmsg);

/* After store_close and store_sync_files at a clean stop. */
int storeguard_release(struct datadir *d, char *errmsg);

#endif
