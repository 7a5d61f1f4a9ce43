/* Unit tests for escrowd's options, its log lines and its data dir guard. */
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/datadir.h"
#include "lib/log.h"
#include "node/options.h"
#include "node/options_internal.h"
#include "node/body.h"
#include "lib/error.h"
#include "tests/unit.h"

#define ARGS_MAX 64

static char tmp_dir[] = "/tmp/test_options.XXXXXX";
static char errmsg[ESC_ERRMSG_SIZE];
static struct options opts;

/* A minimal valid command line, without argv[0]. */
static const char *const base_args[] = {
	"--id", "1", "--data-dir", "/var/lib/escrow", "--raft-addr",
	"127.0.0.1:9001", "--api-addr", "127.0.0.1:8001", "--seal-key",
	"/etc/escrow/seal.key", "--insecure", NULL,
};

/* Parses "escrowd" followed by the NULL-terminated list of arguments. */
static int parse_list(const char *const *args)
{
	char *argv[ARGS_MAX + 2];
	int argc = 0;

	argv[argc++] = (char *)"escrowd";
	while (*args != NULL && argc < ARGS_MAX)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	errmsg[0] = '\0';
	return options_parse(&opts, argc, argv, errmsg);
}

static int parse(const char *first, ...)
{
	const char *args[ARGS_MAX + 1];
	va_list ap;
	int n = 0;

	va_start(ap, first);
	for (const char *a = first; a != NULL && n < ARGS_MAX; a = va_arg(ap, const char *))
		args[n++] = a;
	va_end(ap);
	args[n] = NULL;
	return parse_list(args);
}

/* The base arguments with flag (and its value, when it takes one) replaced
 * by value, or removed when value is NULL; then the extra arguments. */
static int parse_base_with(const char *flag, const char *value, const char *extra, ...)
{
	const char *args[ARGS_MAX + 1];
	const char *a;
	va_list ap;
	int i, n = 0;
	bool found = false;

	for (i = 0; base_args[i] != NULL; i++) {
		if (flag != NULL && strcmp(base_args[i], flag) == 0) {
			found = true;
			if (strcmp(flag, "--insecure") != 0)
				i++; /* skip its value too */
			if (value != NULL) {
				args[n++] = flag;
				if (strcmp(flag, "--insecure") != 0)
					args[n++] = value;
			}
			continue;
		}
		args[n++] = base_args[i];
	}
	if (flag != NULL && !found && value != NULL) {
		args[n++] = flag;
		args[n++] = value;
	}
	va_start(ap, extra);
	for (a = extra; a != NULL && n < ARGS_MAX; a = va_arg(ap, const char *))
		args[n++] = a;
	va_end(ap);
	args[n] = NULL;
	return parse_list(args);
}

static bool has(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) != NULL)
		return true;
	printf("# \"%s\" does not contain \"%s\"\n", haystack, needle);
	return false;
}

/* Writes text to tmp_dir/name; returns the path in a static buffer. */
static const char *file_write(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

/* Runs options_parse with stdout sent to /dev/null (--help prints there). */
static int parse_quiet(const char *first, ...)
{
	const char *args[ARGS_MAX + 1];
	va_list ap;
	int n = 0, saved, null_fd, rv;

	va_start(ap, first);
	for (const char *a = first; a != NULL && n < ARGS_MAX; a = va_arg(ap, const char *))
		args[n++] = a;
	va_end(ap);
	args[n] = NULL;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	null_fd = open("/dev/null", O_WRONLY);
	dup2(null_fd, STDOUT_FILENO);
	rv = parse_list(args);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(null_fd);
	return rv;
}

/* --- flags --- */

TEST(test_minimal_argv)
{
	CHECK_INT(parse_list(base_args), ESC_OK);
	CHECK_INT(opts.id, 1);
	CHECK_STR(opts.data_dir, "/var/lib/escrow");
	CHECK_STR(opts.raft_addr, "127.0.0.1:9001");
	CHECK_STR(opts.api_addr, "127.0.0.1:8001");
	CHECK_STR(opts.seal_key, "/etc/escrow/seal.key");
	CHECK(opts.insecure);
	CHECK(opts.bootstrap == NULL && opts.join == NULL && opts.tls_ca == NULL);
	CHECK_INT(opts.log_level, LOG_INFO);
	CHECK_INT(opts.break_glass_after, 10);
	CHECK_INT(opts.snapshot_threshold, 65536);
	CHECK_INT(opts.snapshot_growth, 4);
	options_close(&opts);
	CHECK(opts.data_dir == NULL);
}

TEST(test_equals_form_and_log_level)
{
	CHECK_INT(parse("--id=3", "--data-dir=/d", "--raft-addr=127.0.0.3:9003",
			"--api-addr=127.0.0.3:8003", "--seal-key=/k", "--insecure",
			"--log-level=debug", NULL),
		  ESC_OK);
	CHECK_INT(opts.id, 3);
	CHECK_INT(opts.log_level, LOG_DEBUG);
	options_close(&opts);
	CHECK_INT(parse_base_with("--log-level", "loud", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--log-level: 'loud' is not error, warn, info or debug"));
}

TEST(test_help)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_INT(parse_quiet("--help", NULL), OPTIONS_HELP_SHOWN);
	CHECK_INT(parse_quiet("--id", "1", "-h", NULL), OPTIONS_HELP_SHOWN);
	CHECK_INT(parse_quiet("--bogus", "--help", NULL), OPTIONS_HELP_SHOWN);
	CHECK_INT(parse_quiet("--version", NULL), OPTIONS_HELP_SHOWN);
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	options_usage(f);
	fclose(f);
	CHECK(has(text, "Usage: escrowd --id N"));
	CHECK(has(text, "--data-dir DIR"));
	CHECK(has(text, "--tls-key FILE"));
	CHECK(has(text, "--insecure"));
	CHECK(has(text, "(default: info)"));
	CHECK(has(text, "1..65535 (required)"));
	free(text);
}

TEST(test_missing_required)
{
	static const char *const required[] = { "--id", "--data-dir", "--raft-addr",
						"--api-addr", "--seal-key" };
	char want[64];
	size_t i;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		CHECK_INT(parse_base_with(required[i], NULL, NULL), ESC_EINVAL);
		snprintf(want, sizeof(want), "%s is required", required[i]);
		CHECK_STR(errmsg, want);
		CHECK(opts.data_dir == NULL); /* nothing left allocated */
	}
	CHECK_INT(parse_base_with("--insecure", NULL, NULL), ESC_EINVAL);
	CHECK(has(errmsg, "either --insecure or --tls-ca"));
}

TEST(test_bad_flags)
{
	CHECK_INT(parse_base_with(NULL, NULL, "--bogus", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "unknown option '--bogus'");
	CHECK_INT(parse_base_with(NULL, NULL, "-x", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "unknown option '-x'");
	CHECK_INT(parse_base_with(NULL, NULL, "--tls", "x", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "ambiguous option '--tls'");
	CHECK_INT(parse_base_with(NULL, NULL, "--log-level", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--log-level needs a value");
	CHECK_INT(parse_base_with(NULL, NULL, "stray", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "unexpected argument 'stray'");
	CHECK_INT(parse_base_with(NULL, NULL, "--", "x", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "unexpected argument 'x'");
	CHECK_INT(parse_base_with(NULL, NULL, "--id", "2", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--id is given twice");
	CHECK_INT(parse_base_with("--insecure", NULL, "--insecure=yes", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--insecure takes no value");
	CHECK_INT(parse_base_with("--data-dir", "--raft-addr", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--data-dir needs a value, not '--raft-addr'"));
	CHECK_INT(parse_base_with("--data-dir", "", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--data-dir: must not be empty");
	CHECK_INT(parse_base_with("--data-dir", "a\nb", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--data-dir: 'a?b' contains a control character");
}

TEST(test_bad_numbers)
{
	static const char *const bad[] = { "0", "65536", "-1", "1x", "", " 1", "+1",
					   "0x10", "99999999999999999999999" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(parse_base_with("--id", bad[i], NULL), ESC_EINVAL);
		CHECK(has(errmsg, "is not a number in 1..65535"));
	}
	CHECK_INT(parse_base_with("--id", "65535", NULL), ESC_OK);
	CHECK_INT(opts.id, 65535);
	options_close(&opts);
	CHECK_INT(parse_base_with("--break-glass-after", "0", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--break-glass-after"));
	CHECK_INT(parse_base_with("--break-glass-after", "3601", NULL), ESC_EINVAL);
	CHECK_INT(parse_base_with("--break-glass-after", "3600", NULL), ESC_OK);
	CHECK_INT(opts.break_glass_after, 3600);
	options_close(&opts);
	CHECK_INT(parse_base_with("--snapshot-growth", "0", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--snapshot-growth"));
	CHECK_INT(parse_base_with("--snapshot-growth", "65", NULL), ESC_EINVAL);
	CHECK_INT(parse_base_with("--snapshot-growth", "1", NULL), ESC_OK);
	CHECK_INT(opts.snapshot_growth, 1);
	options_close(&opts);
}

/* --- addresses --- */

TEST(test_addr_parse)
{
	static const char *const bad[] = {
		"Localhost:9000", "::1:9000", "[::1:9000", "127.0.0.1:0",
		"127.0.0.1:70000", "127.0.0.1", "127.0.0.1:", "1.2.3:80",
		"256.0.0.1:80", "127.0.0.01:80", " 127.0.0.1:80", "127.0.0.1:80 ",
		"127.0.0.1:080", "1.2.3.4.5:80", "", "127.0.0.1:-1", "127.0.0.1:8a",
	};
	bool lo;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (addr_parse(bad[i], &lo))
			printf("# accepted '%s'\n", bad[i]);
		CHECK(!addr_parse(bad[i], &lo));
	}
	CHECK(!addr_parse(NULL, NULL));
	CHECK(addr_parse("127.0.0.1:1", &lo) && lo);
	CHECK(addr_parse("127.255.3.4:65535", &lo) && lo);
	CHECK(addr_parse("10.0.0.1:8080", &lo) && !lo);
	CHECK(addr_parse("0.0.0.0:80", NULL));
	CHECK(addr_parse("[::1]:9000", &lo) && lo);
	CHECK(addr_parse("[2001:db8::1]:9000", &lo) && !lo);
	CHECK(addr_parse("localhost:9000", &lo) && !lo); /* a name: not a literal */
}

TEST(test_bad_addr_flags)
{
	CHECK_INT(parse_base_with("--raft-addr", "foo", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--raft-addr: 'foo' has no port (HOST:PORT, IPv4:PORT or [IPv6]:PORT)");
	CHECK_INT(parse_base_with("--api-addr", "127.0.0.1:70000", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--api-addr: '127.0.0.1:70000' has a bad port '70000' (1..65535, no "
			  "leading zero)");
	CHECK_INT(parse_base_with("--api-addr", "127.0.0.1", NULL), ESC_EINVAL);
	CHECK_INT(parse_base_with("--api-addr", "::1:80", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "without brackets"));
	CHECK_INT(parse_base_with("--raft-addr", "127.0.0.1:0", NULL), ESC_EINVAL);
}

TEST(test_insecure_needs_loopback)
{
	CHECK_INT(parse_base_with("--api-addr", "10.0.0.1:8080", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--insecure is only allowed with loopback addresses; "
			  "--api-addr is 10.0.0.1:8080");
	CHECK_INT(parse_base_with("--raft-addr", "192.168.1.1:9001", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--raft-addr is 192.168.1.1:9001"));
	CHECK_INT(parse_base_with(NULL, NULL, "--bootstrap",
				  "1=127.0.0.1:9001/127.0.0.1:8001,2=10.0.0.2:9002/127.0.0.1:8002",
				  NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "--bootstrap member 2 has 10.0.0.2:9002"));
	CHECK_INT(parse_base_with(NULL, NULL, "--join", "http://10.0.0.1:8001", NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "--join is http://10.0.0.1:8001"));
	CHECK_INT(parse_base_with(NULL, NULL, "--join", "http://localhost:8001", NULL),
		  ESC_OK);
	options_close(&opts);
	CHECK_INT(parse_base_with(NULL, NULL, "--join", "http://127.0.0.2:8002/", NULL),
		  ESC_OK);
	options_close(&opts);
	/* The API may be on ::1 or a name resolving to loopback only. */
	CHECK_INT(parse_base_with("--api-addr", "[::1]:8001", NULL), ESC_OK);
	options_close(&opts);
	CHECK_INT(parse_base_with("--api-addr", "localhost:8001", NULL), ESC_OK);
	options_close(&opts);
	CHECK_INT(parse_base_with("--api-addr", "[2001:db8::1]:8001", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--api-addr is [2001:db8::1]:8001"));
	CHECK_INT(parse_base_with(NULL, NULL, "--join", "http://[::1]:8001", NULL), ESC_OK);
	options_close(&opts);
	CHECK_INT(parse_base_with(NULL, NULL, "--join", "http://nowhere.invalid:8001", NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "--join is http://nowhere.invalid:8001"));
}

/* The members are recorded as one text of at most 1023 bytes: a
 * --bootstrap of long names beyond it is refused, not cut. */
TEST(test_bootstrap_too_long_for_the_record)
{
	char name[201], boot[2048];
	int n;

	memset(name, 'a', 200);
	name[60] = name[120] = name[180] = '.';
	name[200] = '\0';
	n = snprintf(boot, sizeof boot, "1=127.0.0.1:9001/127.0.0.1:8001");
	for (int i = 2; i <= 4; i++)
		n += snprintf(boot + n, sizeof boot - (size_t)n, ",%d=%s:%d/%s:%d", i, name,
			      9000 + i, name, 8000 + i);
	CHECK_INT(parse("--id", "1", "--data-dir", "d", "--raft-addr", "127.0.0.1:9001",
			"--api-addr", "127.0.0.1:8001", "--seal-key", "s", "--tls-ca", "ca",
			"--tls-cert", "c", "--tls-key", "k", "--bootstrap", boot, NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "more than the 1023 the cluster records"));
}

/* libraft's own TCP transport parses IPv4 only: names and IPv6 raft
 * addresses need TLS. */
TEST(test_insecure_raft_needs_ipv4)
{
	CHECK_INT(parse_base_with("--raft-addr", "[::1]:9001", NULL), ESC_EINVAL);
	CHECK_STR(errmsg, "--insecure takes IPv4 raft addresses only (names and IPv6 need TLS); "
			  "--raft-addr is [::1]:9001");
	CHECK_INT(parse_base_with("--raft-addr", "localhost:9001", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--raft-addr is localhost:9001"));
	CHECK_INT(parse_base_with(NULL, NULL, "--bootstrap",
				  "1=127.0.0.1:9001/127.0.0.1:8001,2=localhost:9002/127.0.0.1:8002",
				  NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "--bootstrap member 2 has localhost:9002"));
	/* With TLS they are fine. */
	CHECK_INT(parse("--id", "1", "--data-dir", "d", "--raft-addr", "[::1]:9001",
			"--api-addr", "node1.example:8001", "--seal-key", "s", "--tls-ca", "ca",
			"--tls-cert", "c", "--tls-key", "k", "--bootstrap",
			"1=[::1]:9001/node1.example:8001,2=[::1]:9002/node2.example:8002", NULL),
		  ESC_OK);
	options_close(&opts);
}

/* --insecure-netns lifts the loopback rule only inside a namespace made with
 * `ip netns` (the drill's test starts escrowd in one); the tests run outside. */
TEST(test_insecure_netns)
{
	CHECK_INT(parse("--id", "1", "--data-dir", "d", "--raft-addr", "10.0.0.1:9001",
			"--api-addr", "10.0.0.1:8001", "--seal-key", "s", "--insecure",
			"--insecure-netns", NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "--insecure-netns: this process does not run in a network namespace "
			  "made with 'ip netns'"));
	CHECK_INT(parse("--id", "1", "--data-dir", "d", "--raft-addr", "127.0.0.1:9001",
			"--api-addr", "127.0.0.1:8001", "--seal-key", "s", "--tls-ca", "ca",
			"--tls-cert", "c", "--tls-key", "k", "--insecure-netns", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--insecure-netns needs --insecure");
}

TEST(test_tls_flags)
{
	CHECK_INT(parse("--id", "1", "--data-dir", "d", "--raft-addr", "10.0.0.1:9001",
			"--api-addr", "10.0.0.1:8001", "--seal-key", "s", "--tls-ca", "ca",
			"--tls-cert", "c", "--tls-key", "k", NULL),
		  ESC_OK);
	CHECK_STR(opts.tls_ca, "ca");
	CHECK_STR(opts.tls_key, "k");
	CHECK(!opts.insecure);
	options_close(&opts);
	CHECK_INT(parse_base_with("--insecure", NULL, "--tls-ca", "ca", "--tls-cert",
				  "c", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--tls-ca, --tls-cert and --tls-key go together; "
			  "--tls-key is missing");
	CHECK_INT(parse_base_with(NULL, NULL, "--tls-ca", "ca", "--tls-cert", "c",
				  "--tls-key", "k", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--insecure and --tls-* cannot be used together");
	CHECK_INT(parse_base_with("--insecure", NULL, "--tls-ca", "ca", "--tls-cert",
				  "c", "--tls-key", "k", "--join",
				  "http://127.0.0.1:8002", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--join needs an https:// URL with TLS");
}

TEST(test_join)
{
	static const char *const bad[] = { "ftp://127.0.0.1", "http://", "127.0.0.1:8001",
					   "http://:80", "http://a b", "http://h:0",
					   "http://h:99999", "http://[::1:80", "http://H:80",
					   "http://[::1]x" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(parse_base_with(NULL, NULL, "--join", bad[i], NULL), ESC_EINVAL);
		CHECK(has(errmsg, "--join: '"));
	}
	CHECK_INT(parse_base_with(NULL, NULL, "--join", "https://127.0.0.1:8002", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--join needs an http:// URL with --insecure");
	CHECK_INT(parse_base_with(NULL, NULL, "--join", "http://127.0.0.1:8002",
				  "--bootstrap", "1=127.0.0.1:9001/127.0.0.1:8001", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--bootstrap and --join cannot be used together");
}

/* --- --bootstrap --- */

/* --metrics-addr: optional, an address like the others, a port of its own,
 * not held to loopback by --insecure (it serves nothing secret). */
TEST(test_metrics_addr)
{
	const char *path;

	CHECK_INT(parse_base_with(NULL, NULL, NULL), ESC_OK);
	CHECK(opts.metrics_addr == NULL);
	options_close(&opts);
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "127.0.0.1:9100", NULL), ESC_OK);
	CHECK_STR(opts.metrics_addr, "127.0.0.1:9100");
	options_close(&opts);
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "0.0.0.0:9100", NULL), ESC_OK);
	options_close(&opts);
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "localhost", NULL), ESC_EINVAL);
	CHECK(has(errmsg, "--metrics-addr: 'localhost' has no port"));
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "[::1]:9100", NULL), ESC_OK);
	CHECK_STR(opts.metrics_addr, "[::1]:9100");
	options_close(&opts);
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "localhost:9100", NULL), ESC_OK);
	options_close(&opts);
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "::1:9100", NULL), ESC_EINVAL);
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "127.0.0.1:8001", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--metrics-addr 127.0.0.1:8001 is also the API address: give it a "
			  "port of its own");
	CHECK_INT(parse_base_with(NULL, NULL, "--metrics-addr", "127.0.0.1:9001", NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "is also the raft address"));
	path = file_write("metrics.ini", "metrics-addr = 127.0.0.1:9101\n");
	CHECK(path != NULL);
	CHECK_INT(parse_base_with(NULL, NULL, "--config", path, NULL), ESC_OK);
	CHECK_STR(opts.metrics_addr, "127.0.0.1:9101");
	options_close(&opts);
}

/* A raft address rides in the peer transport's preamble (255 bytes): a
 * longer name, valid as a host name, is refused at start, not at dial. */
TEST(test_raft_addr_length)
{
	char name[300], addr[320], boot[700];
	struct bootstrap_member m;
	size_t i;

	for (i = 0; i < 251; i++)
		name[i] = (i + 1) % 63 == 0 ? '.' : 'a';
	name[251] = '\0';
	snprintf(addr, sizeof addr, "%s:7001", name);
	CHECK_INT(parse_base_with("--raft-addr", addr, NULL), ESC_EINVAL);
	CHECK(has(errmsg, "a raft address is at most 255 bytes"));
	snprintf(boot, sizeof boot, "1=%s/127.0.0.1:8001", addr);
	CHECK_INT(options_check_bootstrap(boot, errmsg), ESC_EINVAL);
	CHECK(has(errmsg, "member 1: raft address"));
	snprintf(boot, sizeof boot, "{\"id\": 4, \"raft\": \"%s\", \"api\": \"127.0.0.1:8004\"}",
		 addr);
	CHECK(!body_member(boot, strlen(boot), &m));
	name[240] = '\0';
	snprintf(addr, sizeof addr, "%s:7001", name);
	CHECK_INT(options_check_raft_addr(addr, errmsg), ESC_OK);
	snprintf(boot, sizeof boot, "{\"id\": 4, \"raft\": \"%s\", \"api\": \"127.0.0.1:8004\"}",
		 addr);
	CHECK(body_member(boot, strlen(boot), &m));
	CHECK_STR(m.raft, addr);
}

TEST(test_bootstrap_parse_good)
{
	struct bootstrap_member m[8];
	unsigned n = 99;

	CHECK_INT(bootstrap_parse("1=127.0.0.1:9001/127.0.0.1:8001, 2=10.0.0.2:9002/"
				  "10.0.0.2:8002,3=10.0.0.3:9003/10.0.0.3:8003",
				  m, 8, &n, errmsg),
		  ESC_OK);
	CHECK_INT(n, 3);
	CHECK_INT(m[0].id, 1);
	CHECK_STR(m[0].raft, "127.0.0.1:9001");
	CHECK_STR(m[0].api, "127.0.0.1:8001");
	CHECK_INT(m[1].id, 2);
	CHECK_STR(m[2].raft, "10.0.0.3:9003");
	CHECK_STR(m[2].api, "10.0.0.3:8003");
	CHECK_INT(bootstrap_parse("65535=1.2.3.4:1/1.2.3.4:2", m, 1, &n, errmsg), ESC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(m[0].id, 65535);
}

TEST(test_bootstrap_parse_bad)
{
	static const struct {
		const char *s;
		const char *why;
	} bad[] = {
		{ "", "no members" },
		{ "1=127.0.0.1:9001/127.0.0.1:8001,1=127.0.0.2:9002/127.0.0.2:8002",
		  "id 1 appears twice" },
		{ "1=127.0.0.1:9001127.0.0.1:8001", "is not ID=RAFT/API" },
		{ "127.0.0.1:9001/127.0.0.1:8001", "is not ID=RAFT/API" },
		{ "1=127.0.0.1:9001/Localhost:8001", "member 1: API address: 'Localhost:8001'" },
		{ "1=[::1:9001/[::1]:8001", "member 1: raft address: '[::1:9001'" },
		{ "1=127.0.0.1/127.0.0.1:8001", "raft address: '127.0.0.1' has no port" },
		{ "0=127.0.0.1:9001/127.0.0.1:8001", "member id '0'" },
		{ "x=127.0.0.1:9001/127.0.0.1:8001", "member id 'x'" },
		{ "1=127.0.0.1:9001/127.0.0.1:8001,", "member 2 is empty" },
		{ "1=127.0.0.1:9001/127.0.0.1:8001,,2=127.0.0.1:9002/127.0.0.1:8002",
		  "member 2 is empty" },
		{ "1=127.0.0.1:9001/127.0.0.1:8001,2=127.0.0.1:9001/127.0.0.1:8002",
		  "address 127.0.0.1:9001 appears twice" },
		{ "1=127.0.0.1:9001/127.0.0.1:9001", "for both raft and API" },
		{ "1=127.0.0.1:9001/127.0.0.1:8001,2=127.0.0.2:9002/127.0.0.2:8002,"
		  "3=127.0.0.3:9003/127.0.0.3:8003",
		  "more than 2 members" },
	};
	struct bootstrap_member m[2];
	unsigned n;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 99;
		CHECK_INT(bootstrap_parse(bad[i].s, m, 2, &n, errmsg), ESC_EINVAL);
		CHECK(has(errmsg, bad[i].why));
		CHECK_INT(n, 0);
	}
}

TEST(test_bootstrap_names_self)
{
	CHECK_INT(parse_base_with(NULL, NULL, "--bootstrap",
				  "1=127.0.0.1:9001/127.0.0.1:8001,2=127.0.0.2:9002/127.0.0.2:8002",
				  NULL),
		  ESC_OK);
	CHECK_STR(opts.bootstrap,
		  "1=127.0.0.1:9001/127.0.0.1:8001,2=127.0.0.2:9002/127.0.0.2:8002");
	options_close(&opts);

	CHECK_INT(parse_base_with(NULL, NULL, "--bootstrap",
				  "2=127.0.0.2:9002/127.0.0.2:8002", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--bootstrap does not name this node (--id 1)");
	CHECK_INT(parse_base_with(NULL, NULL, "--bootstrap",
				  "1=127.0.0.1:9999/127.0.0.1:8001", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--bootstrap gives node 1 raft address 127.0.0.1:9999 "
			  "but --raft-addr is 127.0.0.1:9001");
	CHECK_INT(parse_base_with(NULL, NULL, "--bootstrap",
				  "1=127.0.0.1:9001/127.0.0.1:8888", NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "API address 127.0.0.1:8888 but --api-addr is 127.0.0.1:8001"));
	CHECK_INT(parse_base_with(NULL, NULL, "--bootstrap", "1=127.0.0.1:9001", NULL),
		  ESC_EINVAL);
	CHECK(has(errmsg, "--bootstrap: member '1=127.0.0.1:9001' is not ID=RAFT/API"));
}

/* --- the config file --- */

TEST(test_config_values_and_override)
{
	const char *path = file_write("good.ini",
				      "; escrowd config\n"
				      "[escrowd]\n"
				      "id = 1\n"
				      "  data-dir = /var/lib/escrow ; indented, comment\n"
				      "raft-addr = 127.0.0.1:9001\n"
				      "api-addr=127.0.0.1:8001\r\n"
				      "\n"
				      "# another comment\n"
				      "seal-key = /k\n"
				      "insecure = true\n"
				      "log-level = warn\n");

	CHECK(path != NULL);
	CHECK_INT(parse("--config", path, NULL), ESC_OK);
	CHECK_INT(opts.id, 1);
	CHECK_STR(opts.data_dir, "/var/lib/escrow");
	CHECK_STR(opts.api_addr, "127.0.0.1:8001");
	CHECK(opts.insecure);
	CHECK_INT(opts.log_level, LOG_WARN);
	CHECK_STR(opts.config, path);
	options_close(&opts);

	CHECK_INT(parse("--config", path, "--data-dir", "/other", "--log-level", "debug",
			NULL),
		  ESC_OK);
	CHECK_STR(opts.data_dir, "/other");
	CHECK_INT(opts.log_level, LOG_DEBUG);
	CHECK_STR(opts.raft_addr, "127.0.0.1:9001");
	options_close(&opts);
}

TEST(test_config_without_section)
{
	const char *path = file_write("nosection.ini",
				      "id = 4\ndata-dir = /d\nraft-addr = 10.0.0.4:9004\n"
				      "api-addr = 10.0.0.4:8004\nseal-key = /k\n"
				      "tls-ca = ca\ntls-cert = c\ntls-key = k\n"
				      "insecure = false\n");

	CHECK(path != NULL);
	CHECK_INT(parse("--config", path, NULL), ESC_OK);
	CHECK_INT(opts.id, 4);
	CHECK(!opts.insecure);
	CHECK_STR(opts.tls_cert, "c");
	options_close(&opts);
}

/* Writes text as bad.ini, parses it and checks the error names want. */
static bool config_fails(const char *text, const char *want)
{
	char expected[ESC_ERRMSG_SIZE];
	const char *path = file_write("bad.ini", text);
	int rv;

	rv = parse_base_with(NULL, NULL, "--config", path, NULL);
	snprintf(expected, sizeof(expected), "config %s %s", path, want);
	if (rv != ESC_EINVAL || strcmp(errmsg, expected) != 0) {
		printf("# rv %d, \"%s\", expected \"%s\"\n", rv, errmsg, expected);
		return false;
	}
	return opts.data_dir == NULL;
}

TEST(test_config_errors)
{
	char long_line[400];

	CHECK(config_fails("id = 1\n\ncolour = blue\n", "line 3: unknown option 'colour'"));
	CHECK(config_fails("[escrowd]\nid = zero\n",
			   "line 2: id: 'zero' is not a number in 1..65535"));
	CHECK(config_fails("raft-addr = foo\n", "line 1: raft-addr: 'foo' has no port (HOST:PORT, IPv4:PORT or [IPv6]:PORT)"));
	CHECK(config_fails("[other]\nid = 1\n", "line 2: unknown section [other]"));
	CHECK(config_fails("id = 1\nthis is not ini\nbogus = 1\n",
			   "line 2: expected 'name = value' or [escrowd]"));
	CHECK(config_fails("id = 1\nid = 2\n", "line 2: 'id' is set twice"));
	CHECK(config_fails("config = /x\n", "line 1: 'config' is only accepted as a flag"));
	CHECK(config_fails("help = true\n", "line 1: unknown option 'help'"));
	CHECK(config_fails("version = true\n", "line 1: unknown option 'version'"));
	CHECK(config_fails("insecure = maybe\n",
			   "line 1: insecure: 'maybe' is not true or false"));
	CHECK(config_fails("id = 1\nid\x01 = 2\n", "line 2: control character 0x01"));
	memset(long_line, 'a', sizeof(long_line) - 2);
	long_line[sizeof(long_line) - 2] = '\n';
	long_line[sizeof(long_line) - 1] = '\0';
	memcpy(long_line, "data-dir = ", 11);
	CHECK(config_fails(long_line, "line 1: line longer than 198 characters"));
}

TEST(test_config_file_missing)
{
	CHECK_INT(parse_base_with(NULL, NULL, "--config", "/nonexistent/escrowd.ini", NULL),
		  ESC_EINVAL);
	CHECK_STR(errmsg, "--config: cannot open /nonexistent/escrowd.ini: "
			  "No such file or directory");
	CHECK_INT(parse_base_with(NULL, NULL, "--config", tmp_dir, NULL), ESC_EINVAL);
	CHECK(has(errmsg, "is not a regular file"));
}

/* --- log lines --- */

TEST(test_log_line)
{
	char path[256], buf[512];
	regex_t re;
	FILE *f;
	int saved, fd;
	size_t n;

	snprintf(path, sizeof(path), "%s/log.txt", tmp_dir);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_init(7, LOG_INFO);
	log_info("hello %d", 5);
	log_debug("not shown");
	log_error("two\nlines");
	CHECK(log_enabled(LOG_WARN) && !log_enabled(LOG_DEBUG));
	dup2(saved, STDERR_FILENO);
	close(saved);

	f = fopen(path, "r");
	CHECK(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	CHECK(regcomp(&re,
		      "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		      "INFO node=7 hello 5\n"
		      "[0-9TZ:.-]{24} ERROR node=7 two lines\n$",
		      REG_EXTENDED) == 0);
	n = regexec(&re, buf, 0, NULL, 0) == 0;
	regfree(&re);
	if (!n)
		printf("# log: %s", buf);
	CHECK(n);
}

/* --- data dir --- */

static void path_in_tmp(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmp_dir, name);
}

TEST(test_datadir_fresh_and_commit)
{
	struct datadir d;
	char path[256], file[300];
	struct stat st;
	FILE *f;
	char buf[16] = "";

	path_in_tmp(path, sizeof(path), "dd-fresh");
	CHECK_INT(datadir_open(&d, path, 3, errmsg), ESC_OK);
	CHECK(d.fresh);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	CHECK(stat(d.raft_dir, &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(file, sizeof(file), "%s/escrow.db", path);
	CHECK_STR(d.db_path, file);
	CHECK(d.lock_fd >= 0);
	CHECK_INT(datadir_commit_id(&d, errmsg), ESC_OK);
	CHECK(!d.fresh);
	datadir_close(&d);
	datadir_close(&d); /* twice is harmless */

	snprintf(file, sizeof(file), "%s/node-id", path);
	f = fopen(file, "r");
	CHECK(f != NULL);
	CHECK(fgets(buf, sizeof(buf), f) != NULL);
	fclose(f);
	CHECK_STR(buf, "3\n");

	CHECK_INT(datadir_open(&d, path, 3, errmsg), ESC_OK);
	CHECK(!d.fresh);
	datadir_close(&d);
}

TEST(test_datadir_lock)
{
	struct datadir a, b;
	char path[256], want[64];

	path_in_tmp(path, sizeof(path), "dd-lock");
	CHECK_INT(datadir_open(&a, path, 1, errmsg), ESC_OK);
	/* flock belongs to the open file description: a second open in the
	 * same process conflicts like another process would. */
	CHECK_INT(datadir_open(&b, path, 1, errmsg), ESC_ELOCKED);
	CHECK(b.lock_fd == -1);
	CHECK(has(errmsg, "is in use by another escrowd"));
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	CHECK(has(errmsg, want));
	datadir_close(&b);
	datadir_close(&a);
	CHECK_INT(datadir_open(&b, path, 1, errmsg), ESC_OK);
	datadir_close(&b);
}

TEST(test_datadir_other_node)
{
	struct datadir d;
	char path[256], want[320];

	path_in_tmp(path, sizeof(path), "dd-other");
	CHECK_INT(datadir_open(&d, path, 2, errmsg), ESC_OK);
	CHECK_INT(datadir_commit_id(&d, errmsg), ESC_OK);
	datadir_close(&d);
	CHECK_INT(datadir_open(&d, path, 3, errmsg), ESC_EINVAL);
	snprintf(want, sizeof(want), "data dir %s belongs to node 2, not node 3", path);
	CHECK_STR(errmsg, want);
	CHECK(d.lock_fd == -1);
	/* The lock was released: node 2 can still open it. */
	CHECK_INT(datadir_open(&d, path, 2, errmsg), ESC_OK);
	datadir_close(&d);
}

TEST(test_datadir_bad)
{
	struct datadir d;
	char path[256];

	CHECK(file_write("dd-malformed-parent", "") != NULL);
	path_in_tmp(path, sizeof(path), "dd-malformed-parent");
	CHECK_INT(datadir_open(&d, path, 1, errmsg), ESC_EINVAL);
	CHECK(has(errmsg, "is not a directory"));

	path_in_tmp(path, sizeof(path), "no/such/parent");
	CHECK_INT(datadir_open(&d, path, 1, errmsg), ESC_EIO);
	CHECK(has(errmsg, "cannot create"));

	CHECK_INT(datadir_open(&d, "", 1, errmsg), ESC_EINVAL);

	path_in_tmp(path, sizeof(path), "dd-malformed");
	CHECK(mkdir(path, 0700) == 0);
	CHECK(file_write("dd-malformed/node-id", "12abc\n") != NULL);
	CHECK_INT(datadir_open(&d, path, 1, errmsg), ESC_ECORRUPT);
	CHECK(has(errmsg, "node-id file is malformed"));
	CHECK(file_write("dd-malformed/node-id", "") != NULL);
	CHECK_INT(datadir_open(&d, path, 1, errmsg), ESC_ECORRUPT);
	CHECK(file_write("dd-malformed/node-id", "70000\n") != NULL);
	CHECK_INT(datadir_open(&d, path, 1, errmsg), ESC_ECORRUPT);
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_minimal_argv);
	RUN(test_equals_form_and_log_level);
	RUN(test_help);
	RUN(test_missing_required);
	RUN(test_bad_flags);
	RUN(test_bad_numbers);
	RUN(test_addr_parse);
	RUN(test_bad_addr_flags);
	RUN(test_insecure_needs_loopback);
	RUN(test_insecure_raft_needs_ipv4);
	RUN(test_bootstrap_too_long_for_the_record);
	RUN(test_insecure_netns);
	RUN(test_tls_flags);
	RUN(test_join);
	RUN(test_metrics_addr);
	RUN(test_raft_addr_length);
	RUN(test_bootstrap_parse_good);
	RUN(test_bootstrap_parse_bad);
	RUN(test_bootstrap_names_self);
	RUN(test_config_values_and_override);
	RUN(test_config_without_section);
	RUN(test_config_errors);
	RUN(test_config_file_missing);
	RUN(test_log_line);
	RUN(test_datadir_fresh_and_commit);
	RUN(test_datadir_lock);
	RUN(test_datadir_other_node);
	RUN(test_datadir_bad);
	options_close(&opts);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
