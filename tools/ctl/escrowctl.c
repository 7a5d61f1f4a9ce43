/* escrowctl: the command-line client of an escrow cluster (docs/api.md section 7). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tools/ctl/ctl_commands.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#define CTL_TIMEOUT_MAX_S 3600.0

static const char global_usage[] =
	"escrowctl [--nodes URL[,URL...]] [--ca F --cert F --key F] [--json] "
	"[--timeout S] COMMAND ...";

static const struct ctl_command commands[] = {
	{ "escrow",
	  "--key-id ID --password PW --volume-id V --volume-type T --machine M "
	  "[--user U] [--tpm-owner-hash H]",
	  "escrow one recovery key",
	  "  --key-id ID          the key protector's GUID (braces allowed)\n"
	  "  --password PW        the 48-digit recovery password; '-' reads it from one\n"
	  "                       line of standard input, which keeps it out of ps\n"
	  "  --volume-id V        the volume's ID as the agent sees it\n"
	  "  --volume-type T      os, fixed or removable\n"
	  "  --machine M          the computer's DNS name\n"
	  "  --user U             optional: the user the key belongs to\n"
	  "  --tpm-owner-hash H   optional: base64 TPM owner authorisation hash\n"
	  "\nPrints \"escrowed KEY_ID (index N)\", or \"already escrowed KEY_ID\" when the\n"
	  "same key was escrowed before; --json prints the server's answer.\n",
	  ctl_cmd_escrow },
	{ "lookup",
	  "(KEY_ID [--break-glass] | --prefix HEX) --reason R [--note T] | --prefix HEX --list",
	  "helpdesk lookup of a recovery password (audited)",
	  "  KEY_ID               the key protector's GUID\n"
	  "  --prefix HEX         instead of KEY_ID: every key whose ID starts with\n"
	  "                       these 8-32 hex digits\n"
	  "  --reason R           lost_pin, forgot_pin, lost_startup_key, bios_changed,\n"
	  "                       os_files_modified, tpm_reset, lost_tpm or other\n"
	  "  --note T             free text for the audit log; required with 'other'\n"
	  "  --list               with --prefix: list the matching keys (ID, machine,\n"
	  "                       volume), no password, nothing audited or disclosed\n"
	  "  --break-glass        with KEY_ID: a node that has had no leader for its\n"
	  "                       --break-glass-after answers from its own copy (its\n"
	  "                       audit entry journaled first, replayed once a leader\n"
	  "                       is back); with a leader, an ordinary lookup\n"
	  "\nPrints each record as \"field: value\" lines (records apart by a blank\n"
	  "line); --json prints the server's answer. No match: exit 1. A break-glass\n"
	  "answer is followed by a line saying which node served it without quorum,\n"
	  "and at what index.\n",
	  ctl_cmd_lookup },
	{ "keys",
	  "MACHINE",
	  "a machine's escrowed keys, without passwords",
	  "  MACHINE              the computer's DNS name\n"
	  "\nPrints a table of KEY ID, VOLUME, TYPE, ESCROWED AT, DISCLOSED AT, RETIRED\n"
	  "AT, newest first; --json prints the server's answer.\n",
	  ctl_cmd_keys },
	{ "compliance",
	  "FILE|-",
	  "upload a machine's compliance report; prints the verdict",
	  "  FILE                 the report: one JSON object (machine, user, os, volumes),\n"
	  "                       at most 64 KiB; '-' reads it from standard input\n"
	  "\nThe report is checked to be a JSON object and sent as it is; the cluster\n"
	  "judges it against its policy and the keys it holds (agent role). Prints\n"
	  "\"MACHINE: STATUS\", \"reasons: R, ...\" (or none) and \"rotate: KEY_ID ...\"\n"
	  "(or none): the listed keys whose recovery password a lookup disclosed, which\n"
	  "the agent must replace. Exit 0 whatever the verdict; --json prints the\n"
	  "server's answer.\n",
	  ctl_cmd_compliance },
	{ "machine",
	  "MACHINE",
	  "a machine's verdict, volumes, keys (no passwords) and history",
	  "  MACHINE              the computer's DNS name\n"
	  "\nPrints machine, status, reasons, stale, reported_at, user and os, then\n"
	  "tables of the volumes as last reported, the keys (KEY ID, VOLUME, ESCROWED\n"
	  "AT, DISCLOSED AT, RETIRED AT) and the history of verdict changes (AT,\n"
	  "STATUS, REASONS). A machine never seen: exit 1. --json prints the server's\n"
	  "answer. Helpdesk or auditor role.\n",
	  ctl_cmd_machine },
	{ "policy",
	  "get | set FILE|-",
	  "the compliance policy: print it, or replace it",
	  "  get                  print the cluster's policy, indented\n"
	  "  set FILE             replace the whole policy with FILE (one JSON object, at\n"
	  "                       most 64 KiB; '-' reads standard input); fields left\n"
	  "                       out take their defaults. Prints the policy the cluster\n"
	  "                       answered. Operator role; audited (policy.set)\n"
	  "\nFields: os_volume, fixed_volumes, removable_volumes (required or\n"
	  "optional), encryption_methods, os_protectors (empty: any), stale_after_days\n"
	  "(1-365). --json prints the server's answer as received.\n",
	  ctl_cmd_policy },
	{ "exempt",
	  "MACHINE --until DATE [--note T] | MACHINE --end",
	  "exempt a machine from the policy until a date, or end its exemption",
	  "  --until DATE         an RFC 3339 time (2027-01-31T00:00:00Z; offsets and\n"
	  "                       fractions allowed), or YYYY-MM-DD, sent as midnight UTC\n"
	  "                       of that day; the server checks it is in the future\n"
	  "  --note T             optional with --until: why, for the audit log\n"
	  "  --end                end the machine's exemption now\n"
	  "\nUntil then the machine shows exempt whatever its reports say. Operator\n"
	  "role; audited (machine.exempt). Prints \"MACHINE is exempt until TIME\" or\n"
	  "\"the exemption of MACHINE has ended\"; --json prints the server's answer\n"
	  "({} when it sent no body).\n",
	  ctl_cmd_exempt },
	{ "status",
	  "",
	  "the cluster: each member, its role, the leader, indexes, reachability",
	  "Asks the first node of --nodes that answers for the cluster's status, then\n"
	  "asks every member for its own (1 s each, in parallel). Columns: ID, ROLE\n"
	  "(membership), API, LEADER (*), REACHABLE, then the member's own STATE,\n"
	  "TERM, COMMIT, APPLIED and DIGEST (start of its state_digest), or\n"
	  "'unreachable'.\n"
	  "REACHABLE is 'yes' when escrowctl got the member's own status. Otherwise\n"
	  "it tells what the leader sees through replication: 'no' when the leader\n"
	  "hears nothing from the member, 'yes' when it does (only the member's API\n"
	  "is out of escrowctl's reach), and '?' when no leader's status was to be\n"
	  "had (a follower's view is not used: it knows nothing of the others).\n"
	  "Warns when two members at the same applied index report different\n"
	  "digests. --json prints {\"nodes\":[each member's own status, or {\"id\",\n"
	  "\"api\",\"error\"}, with \"reachable\": true, false or null], \"via\": the\n"
	  "first answer}.\n",
	  ctl_cmd_status },
	{ "bench",
	  "[--clients N] [--count N | --duration S] [--op escrow|lookup|compliance] "
	  "[--machine-prefix P] [--machines M] [--seed S] [--no-escrow]",
	  "load generator against the first node of --nodes",
	  "  --clients N          concurrent keep-alive connections, 1-512 (default 8)\n"
	  "  --count N            requests in all, 1-10000000 (default 2000)\n"
	  "  --duration S         run for S seconds, 1-3600; without --duration a run\n"
	  "                       still stops after 60 s\n"
	  "  --op escrow|lookup   escrow new random keys (default), or escrow 100 keys\n"
	  "                       first and then look them up round-robin\n"
	  "  --op compliance      upload compliance reports (an os and a fixed volume)\n"
	  "                       of machines P-cC-N, a new machine per request; the\n"
	  "                       shapes, drawn from --seed: 70 % fully encrypted,\n"
	  "                       10 % fixed volume encrypting (40 %), 8 % os volume\n"
	  "                       suspended, 7 % fixed volume decrypted, 5 %\n"
	  "                       aes_cbc_128. First, untimed, it escrows the\n"
	  "                       recovery passwords the reports will list, as an\n"
	  "                       agent does before it encrypts, so that each report\n"
	  "                       is judged on its shape: those of the machines the\n"
	  "                       run reports (--count, or M with --machines M); with\n"
	  "                       --duration and neither --count nor --machines, none\n"
	  "  --machine-prefix P   machine names are P-CLIENT (default 'bench')\n"
	  "  --machines M         --op compliance: report machines again, modulo M\n"
	  "  --seed S             --op compliance: the seed of the shapes, key IDs and\n"
	  "                       recovery passwords (default 1)\n"
	  "  --no-escrow          --op compliance: escrow nothing first, so that every\n"
	  "                       report is noncompliant (recovery_key_not_escrowed)\n"
	  "\nSends only to the FIRST URL of --nodes, so the operator picks the leader or a\n"
	  "follower. Prints requests ok, errors by status, elapsed time, throughput and\n"
	  "latency p50/p90/p99/max (ms), and with --op compliance the answers by verdict\n"
	  "(their \"status\") and the reports by shape; --json prints one JSON object\n"
	  "(\"verdicts\", \"shapes\", \"seed\", \"machines\", \"escrowed\" added). A progress line\n"
	  "goes to stderr every second, while keys are escrowed too. Exit 0 when every\n"
	  "request succeeded, 3 when the node was never reached, else 1.\n",
	  ctl_cmd_bench },
	{ "snapshot",
	  "save FILE | verify FILE | restore FILE --data-dir DIR --id N --raft-addr A "
	  "--api-addr B | backup DIR [--keep N]",
	  "save, check, restore or back up a snapshot of the whole cluster",
	  "  save FILE            fetch a consistent snapshot from the first node of --nodes\n"
	  "                       that serves one (the next on a connection error, a 503\n"
	  "                       or a broken transfer) into FILE.tmp-XXXXXX, check it\n"
	  "                       and the node's checksum, then rename it to FILE; a\n"
	  "                       progress line goes to stderr every second. It waits up\n"
	  "                       to 300 s without data (the node first copies its\n"
	  "                       database) unless --timeout is given\n"
	  "  verify FILE          check magic, version, length, checksums and the\n"
	  "                       database (integrity, schema, index); needs no node. The\n"
	  "                       payload is copied next to FILE (else to $TMPDIR) to check it\n"
	  "  restore FILE         seed an empty data dir from FILE for a new one-node\n"
	  "                       cluster (disaster recovery); needs no node:\n"
	  "    --data-dir DIR     created (0700) if missing; refused if it holds any\n"
	  "                       node state\n"
	  "    --id N             the new node's id, 1-65535\n"
	  "    --raft-addr A      its HOST:PORT for Raft (name, IPv4 or [IPv6])\n"
	  "    --api-addr B       its HOST:PORT for the API\n"
	  "  backup DIR           save (as above) into DIR/escrow-YYYYMMDDTHHMMSSZ.snap\n"
	  "                       (UTC; an existing name is refused), verify the file as\n"
	  "                       written (a file that fails is removed), then remove the\n"
	  "                       oldest files of that name pattern beyond --keep; other\n"
	  "                       files in DIR are never touched. For escrow-backup.service:\n"
	  "    --keep N           how many backups to keep, 1-100000 (default:\n"
	  "                       $ESCROW_BACKUP_KEEP, else 14)\n"
	  "\nsave prints \"snapshot saved to FILE: index N, term T, SIZE bytes, sha256 HEX\n"
	  "(from node ID)\"; verify prints \"FILE: sound; ...\" and exits 0 only when the\n"
	  "file is sound; restore prints the escrowd command that starts the node (with\n"
	  "the seal key whose fingerprint the snapshot names); backup prints \"backup saved\n"
	  "to FILE: ..., verified\" and \"backups in DIR: K kept (--keep N), M removed: ...\"\n"
	  "(progress lines go to stderr). --json prints one JSON object. Exit 1 when\n"
	  "refused or damaged (backup: DIR missing or not writable, the file failed\n"
	  "verification, an old backup could not be removed), 3 when no node could be\n"
	  "reached.\n",
	  ctl_cmd_snapshot },
	{ "cluster",
	  "add ID RAFT-ADDR API-ADDR | remove ID | transfer [ID]",
	  "change the membership or hand leadership over",
	  "  add ID RAFT API      add node ID at RAFT and API, each HOST:PORT (a name,\n"
	  "                       IPv4 or [IPv6]; start it first with --join, or start it\n"
	  "                       empty and add it here); it catches up as a spare, then\n"
	  "                       becomes a voter\n"
	  "  remove ID            remove node ID, then stop its escrowd\n"
	  "  transfer [ID]        hand leadership to ID, or to the most caught-up voter\n"
	  "\nOne membership change runs at a time: another is refused with\n"
	  "change_in_progress (exit 1). Any node takes the request.\n",
	  ctl_cmd_cluster },
	{ "report",
	  "audit [--format table|json|csv] [--since SEQ] [--limit N] [--page N] "
	  "[--action A] [--actor X] [--key-id K] [--machine M] | "
	  "compliance [--status S] [--format table|json|csv]",
	  "the audit log, or every machine's compliance verdict",
	  "  audit                every audit entry after --since (default 0) in seq\n"
	  "                       order, at most --limit of them (default all), read\n"
	  "                       --page at a time (1-10000, default 10000) from any node\n"
	  "  --action A, --actor X, --key-id K, --machine M\n"
	  "                       audit: only the entries with exactly that action,\n"
	  "                       actor, key ID or machine (any case); all must match\n"
	  "  compliance           every machine's verdict in machine order, every page\n"
	  "                       fetched (at most 1000000 machines); --status S keeps\n"
	  "                       only compliant, noncompliant, exempt or unknown ones\n"
	  "  --format F           table (default), json or csv. audit: json is\n"
	  "                       {entries, last_seq}. compliance: the table (MACHINE,\n"
	  "                       STATUS, REASONS, STALE, REPORTED AT, USER) comes after\n"
	  "                       a line of counts; json is {counts, machines}; csv is\n"
	  "                       the server's, header once, reasons joined by ';'\n"
	  "\nEach audit entry: seq, time, action (key.escrow, key.read, key.read_miss,\n"
	  "policy.set, machine.exempt, cluster.add, cluster.remove, cluster.transfer,\n"
	  "snapshot.save ...), actor, key, machine, reason, node that took the request,\n"
	  "outcome. Auditor role.\n",
	  ctl_cmd_report },
	{ "pki",
	  "init DIR [--nodes N] [--hosts H,...] | issue DIR NAME --role R [--hosts H,...] "
	  "[--p12 [--passphrase-file F]]",
	  "make the certificates and the seal key of a TLS cluster, or one more certificate",
	  "  init DIR             write into DIR (created 0700 if missing; no file is\n"
	  "                       ever overwritten): ca.crt and ca.key (the cluster CA,\n"
	  "                       10 years), node-1 ... node-N .crt/.key (OU node, CN\n"
	  "                       node-N, for serving and for peer traffic),\n"
	  "                       agent, helpdesk, auditor and operator .crt/.key (client\n"
	  "                       certificates: OU and CN the role), and seal.key (32\n"
	  "                       random bytes in hex). ECDSA P-256, SHA-256; leaf\n"
	  "                       certificates last 825 days. Keys are mode 0600.\n"
	  "  --nodes N            node certificates, 1-64 (default 3)\n"
	  "  --hosts H,...        IP addresses (IPv4, IPv6) and DNS names the nodes are\n"
	  "                       reached by, added to every node certificate besides\n"
	  "                       localhost, 127.0.0.1 and ::1\n"
	  "  issue DIR NAME --role R\n"
	  "                       one more certificate signed by DIR/ca.crt and ca.key:\n"
	  "                       DIR/NAME.crt and .key, CN NAME (the audit actor), OU R:\n"
	  "                       agent, helpdesk, auditor, operator (a person or a\n"
	  "                       machine), or node (NAME node-ID: a new node or a\n"
	  "                       renewed certificate; escrowd reloads on SIGHUP)\n"
	  "  --p12                issue: also DIR/NAME.p12 (mode 0600), to import into a\n"
	  "                       browser: the certificate, its key and ca.crt, friendly\n"
	  "                       name NAME, encrypted with a passphrase (AES-256-CBC,\n"
	  "                       PBKDF2, SHA-256 MAC), asked twice on the terminal\n"
	  "  --passphrase-file F  with --p12: the passphrase is F's first line instead\n"
	  "                       (needed without a terminal; an empty one is refused)\n"
	  "\nKeep ca.key offline: whoever holds it can make certificates of any role.\n"
	  "--json prints {dir, nodes, files} (issue: {cert, key, role}, and p12).\n"
	  "Exit 1 when a file cannot be read or written\n"
	  "(what was written is removed again), 2 on bad usage.\n",
	  ctl_cmd_pki },
	{ "drill",
	  "watch|run [--rate N] [--duration S] [--in-flight N] [--request-timeout MS] "
	  "[--history FILE] [run: --size 3|5 --seed N --faults LIST --escrowd PATH --keep "
	  "--insecure]",
	  "failover drills: a checked canary workload while servers fail",
	  "  watch                run a canary workload over every node of --nodes while\n"
	  "                       the operator stops, restarts or isolates servers, then\n"
	  "                       read back every acknowledged key and check the history\n"
	  "  run                  the same on a cluster of its own (127.0.0.1, free ports,\n"
	  "                       a temporary directory) with faults on a seeded schedule,\n"
	  "                       then heal, read back, wait for equal state digests on\n"
	  "                       every node and scan the node logs for crashes. Its nodes\n"
	  "                       use mutual TLS for the API, forwarding and Raft, as in\n"
	  "                       production, with certificates it makes in DIR/pki (a CA,\n"
	  "                       one per node, agent, helpdesk, auditor and operator)\n"
	  "  --rate N             requests per second, 1-2000 (default 20): two escrows of\n"
	  "                       new canary keys for one lookup of an acknowledged one\n"
	  "  --duration S         seconds of load, 1-86400 (default 60); Ctrl-C ends it\n"
	  "                       early (twice: the read-back too)\n"
	  "  --in-flight N        requests in flight at most, 1-64 (default 64)\n"
	  "  --request-timeout MS one request, 100-600000 (default 3000); past it the\n"
	  "                       outcome is unknown\n"
	  "  --history FILE       write every request to FILE, one JSON object a line\n"
	  "                       (kind, key_id, node, start_ms, end_ms, result, code)\n"
	  "  --size 3|5           run: nodes (default 3)\n"
	  "  --seed N             run: the fault schedule's seed (default: random, printed)\n"
	  "  --faults LIST        run: kill-leader, kill-follower, pause-leader,\n"
	  "                       restart-all, kill-two (5 nodes), damaged-segment (a\n"
	  "                       follower's log damaged: it must refuse to start, then\n"
	  "                       it is emptied and joined again), quorum-loss (the\n"
	  "                       majority killed, or as root every node cut off from\n"
	  "                       every other; then break-glass lookups on a node left\n"
	  "                       alone, each audited exactly once after the heal and\n"
	  "                       its key disclosed), and as root slow-disk (the\n"
	  "                       leader's or a follower's disks throttled to 5 IO/s\n"
	  "                       by a blkio cgroup: it must keep running and catch\n"
	  "                       up; skipped with the reason where the kernel lacks\n"
	  "                       it), disk-full,\n"
	  "                       partition-leader, partition-split (a minority cut\n"
	  "                       off), partition-oneway (the leader's packets one way\n"
	  "                       dropped); default all. Partitions put each node in a\n"
	  "                       network namespace of its own joined by a bridge (the\n"
	  "                       host's network is not touched); without root the\n"
	  "                       drill says so and runs the other faults. Groups:\n"
	  "                       kill, pause, partition, restart, corrupt (and\n"
	  "                       disk-full) name the kinds of their family\n"
	  "  --escrowd PATH       run: the daemon (default $ESCROWD, the escrowd next to\n"
	  "                       escrowctl, ../node/escrowd from it in a build\n"
	  "                       directory, or escrowd in $PATH)\n"
	  "  --keep               run: keep the directory (it is kept anyway on failure)\n"
	  "  --insecure           run: start the nodes with --insecure (plain HTTP and\n"
	  "                       plain Raft) instead of mutual TLS\n"
	  "\nCanary keys belong to the machine escrow-drill-RUN, so reports can tell them\n"
	  "apart; their lookups are audited with reason other, note 'escrowctl drill'.\n"
	  "A line per second goes to stderr (ok / failed / unknown, the leader). At the\n"
	  "end: counts, violations (lost: an acknowledged key not found; unverified: one\n"
	  "never read back; wrong: another password; stale: 404 for a key acknowledged\n"
	  "before the lookup was sent; cut: a success from a node cut off from the\n"
	  "majority; unaudited: a password returned more often than the audit log\n"
	  "holds key.read entries for it; audited twice: more entries than answers and\n"
	  "reads of unknown outcome; break-glass unaudited or undisclosed), unavailability\n"
	  "windows, errors by code, the\n"
	  "leaders seen and, for run, the transport (tls or plain) and each fault with\n"
	  "the time until escrows succeeded again; --json prints one JSON object. Exit 0\n"
	  "when safe (run: and converged with clean logs), 1 otherwise, 3 when no\n"
	  "request ever succeeded.\n",
	  ctl_cmd_drill },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s\n\ncommands:\n", global_usage);
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\nglobal options:\n"
		"  --nodes URL[,URL...]  the cluster's API URLs, tried in order: the next one\n"
		"                        is asked after a connection error or a 503\n"
		"                        (default: $ESCROW_NODES)\n"
		"  --ca F, --cert F, --key F\n"
		"                        TLS CA bundle, client certificate and key (default:\n"
		"                        $ESCROW_CA, $ESCROW_CERT, $ESCROW_KEY)\n"
		"  --json                machine-readable output\n"
		"  --timeout S           seconds to wait for one node (default 15)\n"
		"  --help, --version\n"
		"\nRun 'escrowctl COMMAND --help' for a command's options.\n"
		"Exit status: 0 success, 1 request refused, 2 bad usage, 3 no node reached.\n"
		"ESCROWCTL_TRACE=1 prints every HTTP attempt to stderr.\n");
}

static void print_command_help(const struct ctl_command *c)
{
	printf("usage: escrowctl [global options] %s%s%s\n\n%s.\n\n%s\n"
	       "It also takes --json (machine-readable output) and --help; see\n"
	       "'escrowctl --help' for the global options.\n", c->name,
	       c->usage[0] ? " " : "", c->usage, c->summary, c->help);
}

static const struct ctl_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("escrowctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\nRun 'escrowctl --help' for the commands.\n",
		global_usage);
	return CTL_EXIT_USAGE;
}

/* Parses --timeout S (seconds, fractions allowed) into milliseconds. */
static int parse_timeout(const char *s, long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0.1 ||
	    v > CTL_TIMEOUT_MAX_S)
		return bad_usage("--timeout: '%.40s' is not a number of seconds from 0.1 "
				 "to 3600", s);
	*ms = (long)(v * 1000.0);
	return CTL_EXIT_OK;
}

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && *v != '\0') ? v : NULL;
}

/* Parses the global options before the command into ctx. Returns -2 after
 * --help/--version (printed), else an exit code. */
static int parse_globals(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nodes", required_argument, NULL, 'n' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'J' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	ctx->nodes = env_or_null("ESCROW_NODES");
	ctx->ca = env_or_null("ESCROW_CA");
	ctx->cert = env_or_null("ESCROW_CERT");
	ctx->key = env_or_null("ESCROW_KEY");
	ctx->ca_name = "ESCROW_CA";
	ctx->cert_name = "ESCROW_CERT";
	ctx->key_name = "ESCROW_KEY";
	ctx->timeout_ms = CTL_TIMEOUT_DEFAULT_MS;
	/* '+': stop at the command name; its options are its own. */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': ctx->nodes = optarg; break;
		case 'a': ctx->ca = optarg; ctx->ca_name = "--ca"; break;
		case 'c': ctx->cert = optarg; ctx->cert_name = "--cert"; break;
		case 'k': ctx->key = optarg; ctx->key_name = "--key"; break;
		case 'J': ctx->json = true; break;
		case 't':
			if (parse_timeout(optarg, &ctx->timeout_ms) != CTL_EXIT_OK)
				return CTL_EXIT_USAGE;
			break;
		case 'h':
			print_usage(stdout);
			return -2;
		case 'V':
			printf("escrowctl %s\n", PACKAGE_VERSION);
			return -2;
		case ':':
			return bad_usage("%s needs a value", argv[optind - 1]);
		default:
			return bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if ((ctx->cert == NULL) != (ctx->key == NULL))
		return bad_usage("%s", "--cert and --key go together");
	return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct ctl_command *cmd;
	struct ctl_ctx ctx;
	int rv;

	/* A child (drill run's ip, escrowd) that exits early must not kill us
	 * through its closed pipe. */
	signal(SIGPIPE, SIG_IGN);

	memset(&ctx, 0, sizeof(ctx));
	rv = parse_globals(&ctx, argc, argv);
	if (rv == -2)
		return CTL_EXIT_OK;
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind == argc)
		return bad_usage("%s", "no command given");
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 == argc) {
			print_usage(stdout);
			return CTL_EXIT_OK;
		}
		cmd = find_command(argv[optind + 1]);
		if (cmd == NULL)
			return bad_usage("unknown command '%.64s'", argv[optind + 1]);
		print_command_help(cmd);
		return CTL_EXIT_OK;
	}
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
		return bad_usage("unknown command '%.64s'", argv[optind]);
	ctx.cmd = cmd;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "escrowctl: libcurl failed to initialise\n");
		return CTL_EXIT_REFUSED;
	}
	argc -= optind;
	argv += optind;
	optind = 0; /* GNU getopt: start afresh for the command's options */
	rv = cmd->run(&ctx, argc, argv);
	if (rv == CTL_EXIT_HELP) {
		print_command_help(cmd);
		rv = CTL_EXIT_OK;
	} else if (rv == CTL_EXIT_USAGE) {
		fprintf(stderr, "usage: escrowctl [global options] %s%s%s\n"
			"Run 'escrowctl %s --help' for details.\n", cmd->name,
			cmd->usage[0] ? " " : "", cmd->usage, cmd->name);
	}
	if (ctx.connected)
		ctl_client_close(&ctx.client);
	curl_global_cleanup();
	return rv;
}
