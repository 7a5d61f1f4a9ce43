/* What the store's unit tests share: a temporary directory of fresh
 * databases, a seal key, and commands applied one flush at a time. */
#ifndef ESCROW_STORE_FIXTURE_H
#define ESCROW_STORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/store.h"

/* Keys and passwords the tests escrow; T0 is 2023-11-14T22:13:20Z. */
#define KEY_A "0A1B2C3D-0000-1111-2222-333344445555"
#define KEY_B "0A1B2C3D-0000-1111-2222-333344445566"
#define KEY_C "0A1B2C3E-9999-1111-2222-333344445555"
#define PW_1 "000000-000011-000022-000033-000044-000055-000066-000077"
#define PW_2 "720885-000011-000022-000033-000044-000055-000066-000077"
#define T0 1700000000000LL

extern char tmpdir[64];       /* the fixture's directory */
extern struct seal_key seal;  /* a fixed key (every byte 0x5a) */

/* Makes /tmp/NAME.XXXXXX and the seal key; false (and a "Bail out!" line)
 * when the directory cannot be made. */
bool fixture_start(const char *name);

/* Removes the directory and everything in it, and wipes the key. */
void fixture_end(void);

/* A fresh database path under tmpdir, into buf. */
const char *db_path(char *buf, size_t size);

/* The path store_fresh (or db_path) gave last, into buf. */
const char *last_path(char *buf, size_t size);

/* A store on a fresh database; NULL (reason printed) on failure. */
struct store *store_fresh(void);

/* Starts c: type, node 2, time at, actor agent-7, role agent. */
void cmd_base(struct cmd *c, uint32_t type, int64_t at);

/* Applies c at index and flushes (the node commits at most every 5 ms,
 * these tests once per entry); the result's status, or -1 (reason
 * printed) when the store itself failed. */
int apply(struct store *s, uint64_t index, const struct cmd *c, struct store_result *r);

/* store_digest into hex; 0, or -1 with the reason printed. */
int digest(struct store *s, char hex[65]);

#endif
