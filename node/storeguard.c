/* Trust in the store across stops: the boot id it may hold unsynced writes under. */
#include "node/storeguard.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/error.h"

void storeguard_boot_id(char *buf, size_t size)
{
	ssize_t n = -1;
	int fd;

	fd = open(STOREGUARD_BOOT_ID, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (n <= 0) {
		snprintf(buf, size, "unknown");
		return;
	}
	buf[n] = '\0';
}

int storeguard_check(struct datadir *d, bool seeded, bool *rebuild, char *recorded,
		     size_t size, char *errmsg)
{
	char now[64];
	int rv;

	*rebuild = false;
	rv = datadir_read_file(d, STOREGUARD_FILE, recorded, size, errmsg);
	if (rv == ESC_ENOTFOUND) {
		recorded[0] = '\0';
		return ESC_OK;
	}
	if (rv != ESC_OK)
		return rv;
	storeguard_boot_id(now, sizeof now);
	if (strcmp(recorded, now) == 0 && strcmp(now, "unknown") != 0)
		return ESC_OK;
	if (seeded)
		return esc_errorf(errmsg, ESC_EINVAL,
				  "the machine restarted before this restored node took its "
				  "first Raft snapshot: its store may be damaged and Raft has no "
				  "copy; empty %s and run escrowctl snapshot restore again",
				  d->path);
	*rebuild = true;
	return ESC_OK;
}

int storeguard_arm(struct datadir *d, char *errmsg)
{
	char now[64];

	storeguard_boot_id(now, sizeof now);
	return datadir_write_file(d, STOREGUARD_FILE, now, errmsg);
}

int storeguard_release(struct datadir *d, char *errmsg)
{
	return datadir_remove_file(d, STOREGUARD_FILE, errmsg);
}
