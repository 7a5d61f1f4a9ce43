/* escrowd's options: one table drives the flags, the INI config file and --help. */
#ifndef ESCROW_OPTIONS_H
#define ESCROW_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/netaddr.h"


struct options {
	unsigned id;           /* --id, 1..65535, required */
	char *data_dir;        /* --data-dir, required */
	char *raft_addr;       /* --raft-addr HOST:PORT (lib/netaddr.h), required */
	char *api_addr;        /* --api-addr HOST:PORT, required */
	char *metrics_addr;    /* --metrics-addr HOST:PORT (plain HTTP), or NULL */
	char *bootstrap;       /* --bootstrap "1=RAFT/API,..." or NULL */
	char *join;            /* --join URL or NULL */
	bool insecure;         /* --insecure */
	bool insecure_netns;   /* --insecure-netns: any address in an `ip netns` */
	char *tls_ca;          /* --tls-ca */
	char *tls_cert;        /* --tls-cert */
	char *tls_key;         /* --tls-key */
	char *seal_key;        /* --seal-key FILE, required */
	char *config;          /* --config FILE */
	unsigned snapshot_threshold; /* --snapshot-threshold, entries between snapshots */
	unsigned snapshot_trailing;  /* --snapshot-trailing, entries kept behind one */
	unsigned snapshot_growth;    /* --snapshot-growth, the period's growth with the store */
	unsigned raft_segment_size;  /* --raft-segment-size, bytes of a new log segment */
	int log_level;         /* --log-level: an enum log_level (lib/log.h), default LOG_INFO */
	unsigned break_glass_after; /* --break-glass-after SECONDS without a leader, 1..3600 */
	unsigned catch_up_timeout;  /* --catch-up-timeout SECONDS for one catch-up round */
};

/* options_parse results besides ESC_OK and ESC_EINVAL. */
#define OPTIONS_HELP_SHOWN (-1)  /* --help or --version was printed to stdout: exit 0 */

/* Parses argv (flags win over the --config file, read with inih) and checks
 * them: required options present, addresses are HOST:PORT, IPv4:PORT or
 * [IPv6]:PORT (netaddr_parse), --bootstrap and --join not both, either
 * --insecure or all three --tls-* files, --insecure only with IPv4 raft
 * addresses (libraft's plain transport) and with loopback addresses
 * (127.0.0.0/8, ::1, or names resolving only to those) unless
 * --insecure-netns and the process is in a namespace made by `ip netns`, the
 * --bootstrap string well formed and naming this node's --id with these
 * exact addresses. On ESC_EINVAL errmsg holds one line naming the problem,
 * e.g. "--raft-addr: 'foo' has no port (...)". Strings in o are heap copies:
 * free with options_close. */
int options_parse(struct options *o, int argc, char **argv, char *errmsg);

/* Writes the usage text, generated from the option table. */
void options_usage(FILE *f);

void options_close(struct options *o);

/* One member of a --bootstrap string. */
struct bootstrap_member {
	unsigned id;
	char raft[NETADDR_TEXT_MAX]; /* "HOST:PORT" */
	char api[NETADDR_TEXT_MAX];  /* "HOST:PORT" */
};

/* Parses "1=RAFTHOST:PORT/APIHOST:PORT,2=...". At most max members. Each
 * address as netaddr_parse takes it, ids unique and 1..65535, addresses
 * unique.
 * Returns ESC_OK or ESC_EINVAL with errmsg. */
int bootstrap_parse(const char *s, struct bootstrap_member *m, unsigned max,
		    unsigned *n, char *errmsg);

/* Checks an address (netaddr_parse); true when valid. loopback set when it
 * is a literal loopback address (127.0.0.0/8, ::1), false for a name. */
bool addr_parse(const char *s, bool *loopback);

/* The address of an "http[s]://HOST[:PORT][/...]" URL (HOST a name, IPv4 or
 * [IPv6]; the scheme's port when absent) into a; https tells which scheme
 * (may be NULL). false when the URL is not of that form. */
bool url_addr_parse(const char *url, struct netaddr *a, bool *https);

#endif
