/* The replicated commands, as the store applies them (the wire codec is raft/codec). */
#ifndef ESCROW_COMMAND_H
#define ESCROW_COMMAND_H

#include <stdint.h>
#include <stddef.h>

#include "store/seal.h"
#include "store/validate.h"

enum cmd_type {
	CMD_INIT = 1,          /* first entry of a cluster: cluster id and members */
	CMD_ESCROW = 2,        /* POST /v1/keys */
	CMD_LOOKUP = 3,        /* GET /v1/keys/{key_id}: audit, then return the record */
	CMD_LOOKUP_PREFIX = 4, /* GET /v1/keys?prefix= */
	CMD_MEMBERS = 5,       /* the members text changes (cluster.add, cluster.remove) */
	CMD_AUDIT = 6,         /* an audit entry alone (snapshot.save, cluster.transfer) */
	CMD_COMPLIANCE = 7,    /* POST /v1/compliance: a machine's report */
	CMD_POLICY = 8,        /* PUT /v1/policy: the compliance policy (policy.set) */
	CMD_EXEMPT = 9,        /* POST/DELETE /v1/machines/{m}/exemption (machine.exempt) */
	CMD_REJUDGE = 10,      /* the next batch of stored reports judged against the policy */
	CMD_BREAK_GLASS = 11,  /* a break-glass lookup a node served without a leader,
				  replayed from its journal: audit and disclose,
				  once per entry id (format version 2) */
	CMD__MAX = CMD_BREAK_GLASS
};

#define CMD_ACTOR_MAX 255
#define CMD_ROLE_MAX 15
#define CMD_CLUSTER_ID_LEN 32   /* hex characters */
#define CMD_MEMBERS_MAX 1023    /* "1=RAFT/API,2=..." text */
#define CMD_ACTION_MAX 31
#define CMD_BG_ID_MAX 47        /* a break-glass entry id: "NODE-" and 32 hex digits */

/* One command. Every string is NUL-terminated within its array. Time, actor
 * and node travel inside the command so that applying it is deterministic. */
struct cmd {
	uint32_t type;             /* enum cmd_type */
	uint32_t node_id;          /* node that took the request */
	int64_t at_ms;             /* that node's clock, ms since the epoch, UTC */
	char actor[CMD_ACTOR_MAX + 1]; /* certificate CN, or "insecure" */
	char role[CMD_ROLE_MAX + 1];

	/* CMD_INIT, CMD_MEMBERS */
	char cluster_id[CMD_CLUSTER_ID_LEN + 1];
	char members[CMD_MEMBERS_MAX + 1]; /* "ID=RAFT/API,...", as --bootstrap */
	char action[CMD_ACTION_MAX + 1];   /* CMD_MEMBERS, CMD_AUDIT: audit action */

	/* CMD_ESCROW, CMD_LOOKUP */
	char key_id[VALIDATE_GUID_LEN + 1];            /* normalised */
	char volume_id[VALIDATE_VOLUME_ID_MAX + 1];
	char volume_type[16];
	char machine[VALIDATE_MACHINE_MAX + 1];        /* lower-case */
	char user[VALIDATE_USER_MAX + 1];
	char tpm_owner_hash[VALIDATE_TPM_HASH_MAX + 1];
	uint8_t sealed[SEAL_SEALED_MAX];               /* sealed recovery password */
	uint32_t sealed_len;
	uint8_t pw_mac[SEAL_MAC_SIZE];                 /* seal_mac of the password */

	/* CMD_COMPLIANCE: a report; CMD_POLICY: a policy; in the formats of
	 * store/compliance_wire.h. Borrowed: from the sender until the command
	 * is encoded; after a decode, from the decoded buffer. */
	const uint8_t *payload;
	uint32_t payload_len;

	/* CMD_EXEMPT (and machine, note): exempt until then, ms since the
	 * epoch; 0 ends the exemption. */
	int64_t until_ms;
	/* CMD_REJUDGE (and machine: the last machine judged before, "" for
	 * none): the entry that set the policy the batch judges against. */
	int64_t policy_index;

	/* CMD_LOOKUP, CMD_LOOKUP_PREFIX; note also CMD_MEMBERS, CMD_AUDIT,
	 * CMD_EXEMPT */
	char prefix[VALIDATE_PREFIX_MAX + 1];          /* upper-case hex */
	char reason[VALIDATE_REASON_MAX + 1];
	char note[VALIDATE_NOTE_MAX + 1];

	/* CMD_BREAK_GLASS (and key_id, reason, note; node_id and at_ms are
	 * the serving node and the time it served; actor and role who asked):
	 * the entry's unique id. */
	char bg_id[CMD_BG_ID_MAX + 1];
};

#endif
