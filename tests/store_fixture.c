/* What the store's unit tests share (see tests/store_fixture.h). */
#include "tests/store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "tests/unit.h"

char tmpdir[64];
struct seal_key seal;
static int db_counter;

bool fixture_start(const char *name)
{
	uint8_t raw[SEAL_KEY_SIZE];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", name);
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp failed\n");
		return false;
	}
	memset(raw, 0x5a, sizeof(raw));
	seal_key_init(&seal, raw);
	return true;
}

void fixture_end(void)
{
	seal_key_close(&seal);
	unit_remove_tree(tmpdir);
}

const char *db_path(char *buf, size_t size)
{
	snprintf(buf, size, "%s/db%d.sqlite", tmpdir, ++db_counter);
	return buf;
}

const char *last_path(char *buf, size_t size)
{
	snprintf(buf, size, "%s/db%d.sqlite", tmpdir, db_counter);
	return buf;
}

struct store *store_fresh(void)
{
	char path[128], errmsg[ESC_ERRMSG_SIZE];
	struct store *s = NULL;

	if (store_open(&s, db_path(path, sizeof(path)), errmsg) != ESC_OK) {
		printf("# store_open: %s\n", errmsg);
		return NULL;
	}
	return s;
}

void cmd_base(struct cmd *c, uint32_t type, int64_t at)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	c->node_id = 2;
	c->at_ms = at;
	snprintf(c->actor, sizeof(c->actor), "agent-7");
	snprintf(c->role, sizeof(c->role), "agent");
}

int apply(struct store *s, uint64_t index, const struct cmd *c, struct store_result *r)
{
	char errmsg[ESC_ERRMSG_SIZE];

	if (store_apply(s, index, c, r, errmsg) != ESC_OK) {
		printf("# store_apply %llu: %s\n", (unsigned long long)index, errmsg);
		return -1;
	}
	if (store_flush(s, errmsg) != ESC_OK) {
		printf("# store_flush %llu: %s\n", (unsigned long long)index, errmsg);
		return -1;
	}
	return r->status;
}

int digest(struct store *s, char hex[65])
{
	char errmsg[ESC_ERRMSG_SIZE];

	if (store_digest(s, hex, errmsg) != ESC_OK) {
		printf("# store_digest: %s\n", errmsg);
		return -1;
	}
	return 0;
}
