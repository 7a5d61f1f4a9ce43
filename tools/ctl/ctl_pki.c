/* escrowctl pki init: a cluster CA, node certificates, one client certificate
 * per role and the seal key, with OpenSSL 3 (ECDSA P-256, SHA-256); pki
 * issue: one more certificate signed by that CA (a person's, a new node's),
 * with --p12 also as a PKCS#12 file for a browser. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/ctl/ctl_commands.h"
#include "lib/error.h"
#include "lib/pki.h"

#define PKI_NODES_DEFAULT 3
#define PKI_NODES_MAX 64
#define PKI_CA_DAYS 3650
#define PKI_CERT_DAYS 825          /* what browsers still accept for a server */
#define PKI_HOSTS_MAX 2048
#define PKI_FILES_MAX (2 + 2 * PKI_NODES_MAX + 2 * 4 + 1)

static const char *const roles[] = { "agent", "helpdesk", "auditor", "operator" };

struct pki {
	const char *cmd;                  /* "pki init" or "pki issue", for messages */
	const char *dir;
	char san[3 * PKI_HOSTS_MAX + 64]; /* subjectAltName of node certificates */
	char *written[PKI_FILES_MAX];     /* removed again if a later step fails */
	size_t n_written;
};

/* One --hosts entry: an IPv4 or IPv6 address, or a DNS name (letters,
 * digits, '-', '.', a leading "*."). Appended to the SAN as IP: or DNS:. */
static bool add_host(struct pki *p, const char *h, size_t len)
{
	char host[256];
	unsigned char addr[16];
	size_t off = strlen(p->san);

	if (len == 0 || len >= sizeof host)
		return false;
	memcpy(host, h, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return (size_t)snprintf(p->san + off, sizeof p->san - off, ",IP:%s", host) <
		       sizeof p->san - off;
	for (size_t i = 0; i < len; i++) {
		char c = host[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			  (c == '*' && i == 0 && host[1] == '.');
		if (!ok)
			return false;
	}
	return (size_t)snprintf(p->san + off, sizeof p->san - off, ",DNS:%s", host) <
	       sizeof p->san - off;
}

/* Opens DIR/name for a new file with mode (never over an existing one) and
 * records it for removal should a later step fail. */
static FILE *create(struct pki *p, const char *name, mode_t mode)
{
	char path[4096];
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "%s/%s", p->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST) {
		ctl_fail(CTL_EXIT_REFUSED, "%s: %s exists: it is never overwritten; "
			 "give an empty or new directory, or another name", p->cmd, path);
		return NULL;
	}
	if (fd < 0) {
		ctl_fail(CTL_EXIT_REFUSED, "%s: cannot create %s: %s", p->cmd, path, strerror(errno));
		return NULL;
	}
	fchmod(fd, mode); /* whatever the umask */
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(path);
		ctl_fail(CTL_EXIT_REFUSED, "%s: %s: %s", p->cmd, path, strerror(errno));
		return NULL;
	}
	if ((p->written[p->n_written] = strdup(path)) == NULL) {
		fclose(f);
		unlink(path);
		ctl_fail(CTL_EXIT_REFUSED, "%s: out of memory", p->cmd);
		return NULL;
	}
	p->n_written++;
	return f;
}

static bool finish(const struct pki *p, FILE *f, bool ok, const char *name)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = false;
	if (fclose(f) != 0)
		ok = false;
	if (!ok)
		ctl_fail(CTL_EXIT_REFUSED, "%s: cannot write %s", p->cmd, name);
	return ok;
}

/* NAME.crt (0644) and NAME.key (0600). */
static bool write_pair(struct pki *p, const char *name, X509 *cert, EVP_PKEY *key)
{
	char crt[64], keyf[64];
	FILE *f;

	snprintf(crt, sizeof crt, "%s.crt", name);
	snprintf(keyf, sizeof keyf, "%s.key", name);
	if ((f = create(p, keyf, 0600)) == NULL ||
	    !finish(p, f, PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1, keyf))
		return false;
	if ((f = create(p, crt, 0644)) == NULL || !finish(p, f, PEM_write_X509(f, cert) == 1, crt))
		return false;
	return true;
}

/* NAME.p12 (0600): cert, key and the CA, sealed with pass. */
static bool write_p12(struct pki *p, const char *name, X509 *cert, EVP_PKEY *key, X509 *ca,
		      const char *pass)
{
	char file[64], errmsg[ESC_ERRMSG_SIZE];
	FILE *f;
	int rv;

	snprintf(file, sizeof file, "%s.p12", name);
	if ((f = create(p, file, 0600)) == NULL)
		return false;
	rv = pki_p12_write(f, key, cert, ca, name, pass, errmsg);
	if (rv != ESC_OK) {
		fclose(f); /* undo removes it */
		ctl_fail(CTL_EXIT_REFUSED, "%s: %s: %s", p->cmd, file, errmsg);
		return false;
	}
	return finish(p, f, true, file);
}

static bool write_seal_key(struct pki *p)
{
	unsigned char raw[32];
	char hex[65];
	FILE *f;
	bool ok;

	if (RAND_bytes(raw, sizeof raw) != 1) {
		ctl_fail(CTL_EXIT_REFUSED, "pki init: no randomness");
		return false;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof raw);
	if ((f = create(p, "seal.key", 0600)) == NULL) {
		OPENSSL_cleanse(hex, sizeof hex);
		return false;
	}
	ok = fprintf(f, "%s\n", hex) == 65;
	OPENSSL_cleanse(hex, sizeof hex);
	return finish(p, f, ok, "seal.key");
}

/* A leaf: a new key, a certificate signed by the CA, both written; with
 * p12_pass (else NULL) also NAME.p12 sealed with it. */
static bool leaf(struct pki *p, const char *name, const char *cn, const char *ou, bool node,
		 X509 *ca, EVP_PKEY *ca_key, const char *p12_pass)
{
	EVP_PKEY *key = pki_key_new();
	X509 *cert = key == NULL ? NULL
		     : pki_cert_new(key, node ? PKI_NODE : PKI_CLIENT, cn, ou, p->san, ca, ca_key,
				    0, PKI_CERT_DAYS);
	bool ok = cert != NULL && write_pair(p, name, cert, key) &&
		  (p12_pass == NULL || write_p12(p, name, cert, key, ca, p12_pass));

	if (cert == NULL)
		ctl_fail(CTL_EXIT_REFUSED, "%s: OpenSSL could not make %s's certificate", p->cmd, cn);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}

/* A step failed: removes what this run wrote, so the directory is as it was. */
static int undo(struct pki *p)
{
	for (size_t i = 0; i < p->n_written; i++)
		unlink(p->written[i]);
	return CTL_EXIT_REFUSED;
}

static int init(struct ctl_ctx *ctx, struct pki *p, long nodes)
{
	EVP_PKEY *ca_key = pki_key_new();
	X509 *ca = ca_key ? pki_cert_new(ca_key, PKI_CA, "escrow cluster CA", "ca", NULL, NULL,
					 ca_key, 0, PKI_CA_DAYS)
			  : NULL;
	bool ok = ca != NULL && write_pair(p, "ca", ca, ca_key);
	char name[32];

	if (ca == NULL)
		ctl_fail(CTL_EXIT_REFUSED, "pki init: OpenSSL could not make the CA");
	for (long i = 1; ok && i <= nodes; i++) {
		snprintf(name, sizeof name, "node-%ld", i);
		ok = leaf(p, name, name, "node", true, ca, ca_key, NULL);
	}
	for (size_t i = 0; ok && i < sizeof roles / sizeof roles[0]; i++)
		ok = leaf(p, roles[i], roles[i], roles[i], false, ca, ca_key, NULL);
	ok = ok && write_seal_key(p);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	if (!ok)
		return undo(p);
	if (ctx->json) {
		json_t *files = json_array();
		for (size_t i = 0; i < p->n_written; i++)
			json_array_append_new(files, json_string(p->written[i]));
		json_t *j = json_pack("{s:s, s:I, s:o}", "dir", p->dir, "nodes", (json_int_t)nodes,
				      "files", files);
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		json_decref(j);
	} else {
		printf("pki init: wrote %zu files to %s: ca.crt ca.key, node-1 ... node-%ld "
		       "(.crt .key), agent helpdesk auditor operator (.crt .key), seal.key\n"
		       "node N takes: --tls-ca %s/ca.crt --tls-cert %s/node-N.crt "
		       "--tls-key %s/node-N.key --seal-key %s/seal.key\n"
		       "keep ca.key offline: it signs new certificates\n",
		       p->n_written, p->dir, nodes, p->dir, p->dir, p->dir, p->dir);
	}
	return CTL_EXIT_OK;
}

/* DIR/ca.crt and DIR/ca.key, or a refusal saying what is wrong. */
static bool load_ca(const char *dir, X509 **ca, EVP_PKEY **ca_key)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/ca.crt", dir);
	f = fopen(path, "r");
	*ca = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	snprintf(path, sizeof path, "%s/ca.key", dir);
	f = *ca != NULL ? fopen(path, "r") : NULL;
	*ca_key = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	if (*ca_key != NULL && X509_check_private_key(*ca, *ca_key) == 1)
		return true;
	ctl_fail(CTL_EXIT_REFUSED, "pki issue: %s/ca.crt and %s/ca.key: %s", dir, dir,
		 *ca == NULL ? "no CA certificate can be read" :
		 *ca_key == NULL ? "no CA key can be read" : "the key is not the CA's");
	X509_free(*ca);
	EVP_PKEY_free(*ca_key);
	return false;
}

/* A name for files and a CN: letters, digits, '.', '_', '-', '@'. */
static bool name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 48 || name[0] == '.' || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") == n;
}

/* The passphrase of NAME.p12 into pass: the first line of pass_file, else
 * asked for twice on the terminal. No terminal is a usage error. */
static int p12_passphrase(struct ctl_ctx *ctx, const char *name, const char *pass_file,
			  char pass[PKI_PASSPHRASE_SIZE])
{
	char prompt[96], errmsg[ESC_ERRMSG_SIZE];
	int rv;

	if (pass_file != NULL) {
		rv = pki_passphrase_read(pass_file, pass, errmsg);
		if (rv != ESC_OK)
			return ctl_fail(CTL_EXIT_REFUSED, "pki issue: --passphrase-file %s",
					errmsg);
		return CTL_EXIT_OK;
	}
	snprintf(prompt, sizeof prompt, "Passphrase for %s.p12: ", name);
	rv = pki_passphrase_ask(prompt, "Again: ", pass, errmsg);
	if (rv == ESC_ENOTFOUND)
		return ctl_usage_error(ctx, "%s; give --passphrase-file F (its first line is the "
				       "passphrase of %s.p12)", errmsg, name);
	if (rv != ESC_OK)
		return ctl_fail(CTL_EXIT_REFUSED, "pki issue: %s", errmsg);
	return CTL_EXIT_OK;
}

/* pki issue DIR NAME --role R: NAME.crt and NAME.key, CN NAME, OU R; with
 * p12 also NAME.p12, its passphrase from pass_file or the terminal. */
static int issue(struct ctl_ctx *ctx, struct pki *p, const char *name, const char *role,
		 bool p12, const char *pass_file)
{
	bool node = strcmp(role, "node") == 0, known = node;
	char pass[PKI_PASSPHRASE_SIZE];
	X509 *ca;
	EVP_PKEY *ca_key;
	bool ok;
	int rv;

	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		known = known || strcmp(role, roles[i]) == 0;
	if (!known)
		return ctl_usage_error(ctx, "--role: one of agent, helpdesk, auditor, operator, node");
	if (!name_valid(name))
		return ctl_usage_error(ctx, "NAME: 1-48 letters, digits, '.', '_', '-', '@'");
	if (node && (strncmp(name, "node-", 5) != 0 || name[5] < '1' || name[5] > '9' ||
		     strspn(name + 5, "0123456789") != strlen(name + 5) || atol(name + 5) > 65535))
		return ctl_usage_error(ctx, "a node's NAME is node-ID (its --id, 1-65535)");
	if (!load_ca(p->dir, &ca, &ca_key))
		return CTL_EXIT_REFUSED;
	/* Before anything is written: a refusal here leaves DIR as it was. */
	if (p12 && (rv = p12_passphrase(ctx, name, pass_file, pass)) != CTL_EXIT_OK) {
		X509_free(ca);
		EVP_PKEY_free(ca_key);
		return rv;
	}
	ok = leaf(p, name, name, role, node, ca, ca_key, p12 ? pass : NULL);
	if (p12)
		OPENSSL_cleanse(pass, sizeof pass);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	if (!ok)
		return undo(p);
	if (ctx->json && p12)
		printf("{\"cert\":\"%s/%s.crt\",\"key\":\"%s/%s.key\",\"p12\":\"%s/%s.p12\","
		       "\"role\":\"%s\"}\n", p->dir, name, p->dir, name, p->dir, name, role);
	else if (ctx->json)
		printf("{\"cert\":\"%s/%s.crt\",\"key\":\"%s/%s.key\",\"role\":\"%s\"}\n", p->dir,
		       name, p->dir, name, role);
	else if (p12)
		printf("pki issue: wrote %s/%s.crt, %s/%s.key and %s/%s.p12 (CN %s, role %s)\n",
		       p->dir, name, p->dir, name, p->dir, name, name, role);
	else
		printf("pki issue: wrote %s/%s.crt and %s/%s.key (CN %s, role %s)\n", p->dir, name,
		       p->dir, name, name, role);
	return CTL_EXIT_OK;
}

int ctl_cmd_pki(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nodes", required_argument, NULL, 'n' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "role", required_argument, NULL, 'r' },
		{ "p12", no_argument, NULL, 'P' },
		{ "passphrase-file", required_argument, NULL, 'F' },
		CTL_OPTS_COMMON
	};
	const char *s_nodes = NULL, *hosts = NULL, *role = NULL, *pass_file = NULL, *sub;
	struct pki p;
	long nodes = PKI_NODES_DEFAULT;
	bool p12 = false;
	int c, rv = CTL_EXIT_OK;

	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		if (c == 'n')
			rv = ctl_opt_once(ctx, &s_nodes, optarg, "--nodes");
		else if (c == 'H')
			rv = ctl_opt_once(ctx, &hosts, optarg, "--hosts");
		else if (c == 'r')
			rv = ctl_opt_once(ctx, &role, optarg, "--role");
		else if (c == 'P')
			p12 = true;
		else if (c == 'F')
			rv = ctl_opt_once(ctx, &pass_file, optarg, "--passphrase-file");
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	sub = optind < argc ? argv[optind] : "";
	if (strcmp(sub, "init") != 0 && strcmp(sub, "issue") != 0)
		return ctl_usage_error(ctx, "give a subcommand: init DIR, or issue DIR NAME --role R");
	if (optind + 1 >= argc)
		return ctl_usage_error(ctx, "%s needs a directory", sub);
	if (strcmp(sub, "issue") == 0 && (optind + 2 >= argc || role == NULL || s_nodes != NULL))
		return ctl_usage_error(ctx, "issue DIR NAME --role R [--hosts H,...] [--p12 "
				       "[--passphrase-file F]]");
	if (strcmp(sub, "init") == 0 && role != NULL)
		return ctl_usage_error(ctx, "--role goes with issue");
	if (strcmp(sub, "init") == 0 && p12)
		return ctl_usage_error(ctx, "--p12 goes with issue");
	if (pass_file != NULL && !p12)
		return ctl_usage_error(ctx, "--passphrase-file goes with --p12");
	if (optind + 2 + (strcmp(sub, "issue") == 0) < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'",
				       argv[optind + 2 + (strcmp(sub, "issue") == 0)]);
	if (s_nodes && (rv = ctl_opt_long(ctx, s_nodes, "--nodes", 1, PKI_NODES_MAX, &nodes)))
		return rv;
	memset(&p, 0, sizeof p);
	p.cmd = strcmp(sub, "issue") == 0 ? "pki issue" : "pki init";
	p.dir = argv[optind + 1];
	strcpy(p.san, "DNS:localhost,IP:127.0.0.1,IP:::1");
	if (hosts != NULL && strlen(hosts) > PKI_HOSTS_MAX)
		return ctl_usage_error(ctx, "--hosts: longer than %d characters", PKI_HOSTS_MAX);
	for (const char *h = hosts; h != NULL && *h != '\0';) {
		size_t len = strcspn(h, ",");
		if (!add_host(&p, h, len))
			return ctl_usage_error(ctx, "--hosts: '%.*s' is neither an IP address nor "
					       "a DNS name", (int)(len > 64 ? 64 : len), h);
		h += len + (h[len] == ',');
	}
	if (strcmp(sub, "issue") == 0) {
		rv = issue(ctx, &p, argv[optind + 2], role, p12, pass_file);
		for (size_t i = 0; i < p.n_written; i++)
			free(p.written[i]);
		return rv;
	}
	if (mkdir(p.dir, 0700) != 0 && errno != EEXIST)
		return ctl_fail(CTL_EXIT_REFUSED, "pki init: cannot create %s: %s", p.dir,
				strerror(errno));
	rv = init(ctx, &p, nodes);
	for (size_t i = 0; i < p.n_written; i++)
		free(p.written[i]);
	return rv;
}
