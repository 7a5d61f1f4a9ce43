/* drill run's own cluster: escrowd processes started, signalled and stopped on purpose. */
#include "tools/drill/drill_cluster.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/error.h"
#include "store/journal.h"
#include "tools/drill/drill_blkio.h"
#include "tools/drill/drill_disk.h"

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* count distinct ports the kernel picks free on 127.0.0.1: every socket
 * stays bound until all are chosen, so none can come twice (they are free
 * again once closed). */
static int free_ports(int *ports, size_t count)
{
	int fds[2 * DCLUSTER_NODES_MAX];
	size_t i, bound = 0;

	if (count > sizeof fds / sizeof fds[0]) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < count; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof a;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			break;
		bound++;
		if (bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) != 0)
			break;
		ports[i] = ntohs(a.sin_port);
	}
	while (bound > 0)
		close(fds[--bound]);
	return i == count ? 0 : -1;
}

static int write_seal_key(const char *path, char *errmsg)
{
	unsigned char key[32];
	char hex[65];
	int fd;

	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
		return esc_errorf(errmsg, ESC_EIO, "getrandom failed");
	for (size_t i = 0; i < sizeof key; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	explicit_bzero(key, sizeof key);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, hex, 64) != 64) {
		if (fd >= 0)
			close(fd);
		return esc_errorf(errmsg, ESC_EIO, "cannot write %s: %s", path, strerror(errno));
	}
	explicit_bzero(hex, sizeof hex);
	close(fd);
	return ESC_OK;
}

static const struct dcluster *registered;

/* Two disks per node (data, data/raft), their images named for a later
 * sweep should this drill die. */
static int mount_disks(struct dcluster *c, char *errmsg)
{
	ddisk_sweep();
	dblkio_sweep();
	ddisk_prefix(c->disk_prefix, sizeof c->disk_prefix);
	for (size_t i = 0; i < c->n; i++) {
		struct dnode *nd = &c->nodes[i];
		for (int k = 0; k < 2; k++) {
			char dir[DCLUSTER_PATH_MAX + 8], image[DCLUSTER_PATH_MAX + 64];
			snprintf(dir, sizeof dir, "%s%s", nd->data, k ? "/raft" : "");
			snprintf(image, sizeof image, "%s/%s-n%u%s.img", c->root, c->disk_prefix,
				 nd->id, k ? "-raft" : "");
			if (mkdir(dir, 0700) != 0)
				return esc_errorf(errmsg, ESC_EIO, "cannot create %s: %s", dir,
						  strerror(errno));
			if (ddisk_mount(image, dir, DCLUSTER_DISK_SIZE, &nd->disk[k], errmsg) !=
			    ESC_OK)
				return ESC_EIO;
			nd->mounted = k + 1;
		}
	}
	return ESC_OK;
}

/* Unmounts node i's disks, the Raft log's first; async-signal-safe. */
static void unmount_disks(const struct dnode *nd)
{
	char raft[DCLUSTER_PATH_MAX + 8];
	size_t len = strnlen(nd->data, DCLUSTER_PATH_MAX - 1);

	memcpy(raft, nd->data, len);
	memcpy(raft + len, "/raft", 6);
	if (nd->mounted >= 2)
		ddisk_unmount(raft);
	if (nd->mounted >= 1)
		ddisk_unmount(nd->data);
}

static void disk_path(const struct dcluster *c, size_t i, bool raft, char *out, size_t size)
{
	snprintf(out, size, "%s%s", c->nodes[i].data, raft ? "/raft" : "");
}

int dcluster_fill_disk(struct dcluster *c, size_t i, bool raft, char *errmsg)
{
	char path[DCLUSTER_PATH_MAX + 8];

	if (c->nodes[i].mounted < 2)
		return esc_errorf(errmsg, ESC_EINVAL, "node %u has no disk of its own",
				  c->nodes[i].id);
	disk_path(c, i, raft, path, sizeof path);
	return ddisk_fill(path, DCLUSTER_DISK_HEADROOM, errmsg);
}

int dcluster_free_disk(struct dcluster *c, size_t i, bool raft, char *errmsg)
{
	char path[DCLUSTER_PATH_MAX + 8];

	if (c->nodes[i].mounted < 2)
		return ESC_OK;
	disk_path(c, i, raft, path, sizeof path);
	return ddisk_unfill(path, errmsg);
}

const char *dcluster_slow_unavailable(const struct dcluster *c)
{
	if (geteuid() != 0)
		return "a slow disk needs root (loop devices, blkio cgroup)";
	if (c->n == 0 || c->nodes[0].mounted < 2)
		return "the cluster has no disks of its own (loop-mounted ext4)";
	return dblkio_unavailable();
}

int dcluster_slow_disk(struct dcluster *c, size_t i, char *errmsg)
{
	struct dnode *nd = &c->nodes[i];
	char path[DCLUSTER_PATH_MAX];

	if (nd->mounted < 2)
		return esc_errorf(errmsg, ESC_EINVAL, "node %u has no disk of its own", nd->id);
	if (nd->pid <= 0)
		return esc_errorf(errmsg, ESC_EINVAL, "node %u is not running", nd->id);
	dblkio_path(nd->id, path, sizeof path);
	if (dblkio_throttle(path, nd->disk, 2, DCLUSTER_SLOW_IOPS, DCLUSTER_SLOW_BPS, nd->pid,
			    errmsg) != ESC_OK) {
		nd->slow = false;
		return ESC_EIO;
	}
	nd->slow = true;
	return ESC_OK;
}

void dcluster_fast_disk(struct dcluster *c, size_t i)
{
	struct dnode *nd = &c->nodes[i];
	char path[DCLUSTER_PATH_MAX];

	if (!nd->slow)
		return;
	dblkio_path(nd->id, path, sizeof path);
	dblkio_release(path, nd->pid);
	nd->slow = false;
}

void dcluster_emergency_cleanup(void)
{
	const struct dcluster *c = registered;

	dnet_emergency_cleanup();
	for (size_t i = 0; c != NULL && i < c->n; i++)
		unmount_disks(&c->nodes[i]);
}

const char *dcluster_scheme(const struct dcluster *c)
{
	return c->tls ? "https" : "http";
}

/* The CA, a certificate per node for every address it is dialled at, and
 * one per client role, in DIR/pki. */
static int make_pki(struct dcluster *c, char *errmsg)
{
	char hosts[DCLUSTER_NODES_MAX][32];
	const char *h[DCLUSTER_NODES_MAX];

	for (size_t i = 0; i < c->n; i++) {
		snprintf(hosts[i], sizeof hosts[i], "%.*s", (int)strcspn(c->nodes[i].api, ":"),
			 c->nodes[i].api);
		h[i] = hosts[i];
	}
	snprintf(c->pki_dir, sizeof c->pki_dir, "%s/pki", c->root);
	return dpki_create(&c->pki, c->pki_dir, c->n, h, errmsg);
}

int dcluster_create(struct dcluster *c, size_t n, const char *escrowd, unsigned flags,
		    char *errmsg)
{
	bool netns = flags & DCLUSTER_NETNS;
	const char *tmp = getenv("TMPDIR");
	size_t off = 0, uoff = 0;
	int ports[2 * DCLUSTER_NODES_MAX];

	memset(c, 0, sizeof *c);
	c->n = n;
	c->escrowd = escrowd;
	c->tls = flags & DCLUSTER_TLS;
	snprintf(c->root, sizeof c->root, "%s/escrow-drill-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(c->root) == NULL)
		return esc_errorf(errmsg, ESC_EIO, "cannot create %s: %s", c->root, strerror(errno));
	snprintf(c->seal, sizeof c->seal, "%s/seal.key", c->root);
	if (write_seal_key(c->seal, errmsg) != ESC_OK)
		return ESC_EIO;
	if (netns && (dnet_create(&c->net, n, errmsg) != ESC_OK ||
		      dnet_enter_switch(&c->net, errmsg) != ESC_OK))
		return ESC_EIO;
	if (!netns && free_ports(ports, 2 * n) != 0)
		return esc_errorf(errmsg, ESC_EIO, "no free port on 127.0.0.1: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		struct dnode *nd = &c->nodes[i];
		int rp = netns ? 7000 : ports[2 * i], ap = netns ? 8000 : ports[2 * i + 1];
		char host[24] = "127.0.0.1";
		if (netns)
			dnet_addr((unsigned)i, host, sizeof host);
		nd->id = (unsigned)i + 1;
		snprintf(nd->raft, sizeof nd->raft, "%s:%hu", host, (unsigned short)rp);
		snprintf(nd->api, sizeof nd->api, "%s:%hu", host, (unsigned short)ap);
		snprintf(nd->data, sizeof nd->data, "%s/n%u", c->root, nd->id);
		snprintf(nd->log, sizeof nd->log, "%s/n%u.log", c->root, nd->id);
		off += (size_t)snprintf(c->bootstrap + off, sizeof c->bootstrap - off, "%s%u=%s/%s",
					i ? "," : "", nd->id, nd->raft, nd->api);
		uoff += (size_t)snprintf(c->urls + uoff, sizeof c->urls - uoff, "%s%s://%s",
					 i ? "," : "", c->tls ? "https" : "http", nd->api);
	}
	registered = c;
	if ((flags & DCLUSTER_TLS) && make_pki(c, errmsg) != ESC_OK)
		return ESC_EIO;
	if ((flags & DCLUSTER_DISKS) && mount_disks(c, errmsg) != ESC_OK)
		return ESC_EIO;
	return ESC_OK;
}

int dcluster_start(struct dcluster *c, size_t i, const char *join, char *errmsg)
{
	struct dnode *nd = &c->nodes[i];
	char id[16], cert[DPKI_PATH_MAX], key[DPKI_PATH_MAX];
	pid_t pid;
	int fd;

	snprintf(id, sizeof id, "%u", nd->id);
	dpki_node_files(c->pki_dir, nd->id, cert, key);
	fd = open(nd->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return esc_errorf(errmsg, ESC_EIO, "cannot open %s: %s", nd->log, strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(fd);
		return esc_errorf(errmsg, ESC_EIO, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* The nodes die with the drill, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		if (c->net.n > 0 && dnet_enter_node(&c->net, i) != 0) {
			dprintf(2, "drill: cannot enter namespace %s\n", c->net.ns[i]);
			_exit(127);
		}
		{
			const char *argv[28] = {
				c->escrowd, "--id", id, "--data-dir", nd->data, "--raft-addr",
				nd->raft, "--api-addr", nd->api, join ? "--join" : "--bootstrap",
				join ? join : c->bootstrap, "--seal-key", c->seal,
				"--log-level", "info", "--break-glass-after",
				DCLUSTER_BREAK_GLASS_AFTER,
			};
			int n = 17;
			if (c->tls) {
				argv[n++] = "--tls-ca";
				argv[n++] = c->pki.ca;
				argv[n++] = "--tls-cert";
				argv[n++] = cert;
				argv[n++] = "--tls-key";
				argv[n++] = key;
			} else {
				argv[n++] = "--insecure";
				if (c->net.n > 0)
					argv[n++] = "--insecure-netns";
			}
			/* Small segments: a full Raft log disk shows within seconds. */
			if (nd->mounted > 0) {
				argv[n++] = "--raft-segment-size";
				argv[n++] = DCLUSTER_SEGMENT_SIZE;
			}
			execvp(c->escrowd, (char *const *)argv);
		}
		dprintf(2, "drill: cannot run %s: %s\n", c->escrowd, strerror(errno));
		_exit(127);
	}
	close(fd);
	nd->pid = pid;
	nd->paused = false;
	return ESC_OK;
}

void dcluster_signal(struct dcluster *c, size_t i, int sig)
{
	struct dnode *nd = &c->nodes[i];

	if (nd->pid <= 0)
		return;
	kill(nd->pid, sig);
	if (sig == SIGSTOP)
		nd->paused = true;
	else if (sig == SIGCONT)
		nd->paused = false;
}

int dcluster_stop(struct dcluster *c, size_t i, int sig, int wait_ms)
{
	struct dnode *nd = &c->nodes[i];
	double deadline = mono_ms() + wait_ms;
	int status = -1;

	if (nd->pid <= 0)
		return -1;
	if (nd->paused)
		dcluster_signal(c, i, SIGCONT);
	kill(nd->pid, sig);
	for (;;) {
		pid_t r = waitpid(nd->pid, &status, WNOHANG);
		if (r == nd->pid || (r < 0 && errno != EINTR))
			break;
		if (mono_ms() >= deadline) {
			kill(nd->pid, SIGKILL);
			waitpid(nd->pid, &status, 0);
			break;
		}
		sleep_ms(10);
	}
	nd->pid = 0;
	nd->paused = false;
	return status;
}

json_t *dcluster_status(struct dcluster *c, struct ctl_client *cl, size_t i)
{
	struct ctl_fetch f;
	char url[96], errmsg[ESC_ERRMSG_SIZE];
	json_t *j = NULL;

	snprintf(url, sizeof url, "%s://%s/v1/status", dcluster_scheme(c), c->nodes[i].api);
	memset(&f, 0, sizeof f);
	f.url = url;
	if (ctl_client_fetch_all(cl, &f, 1, 1000, errmsg) != ESC_OK || f.err != ESC_OK)
		return NULL;
	if (f.resp.status == 200)
		j = json_loads(f.resp.body, 0, NULL);
	ctl_response_close(&f.resp);
	return j;
}

int dcluster_find(const struct dcluster *c, long id)
{
	for (size_t i = 0; i < c->n; i++)
		if ((long)c->nodes[i].id == id)
			return (int)i;
	return -1;
}

/* GETs path from every running node at once; f[i].err says who answered. */
static int fetch(struct dcluster *c, struct ctl_client *cl, const char *path,
		 struct ctl_fetch *f, char urls[][96], char *errmsg)
{
	for (size_t i = 0; i < c->n; i++) {
		snprintf(urls[i], 96, "%s://%s%s", dcluster_scheme(c), c->nodes[i].api, path);
		memset(&f[i], 0, sizeof f[i]);
		f[i].url = urls[i];
	}
	return ctl_client_fetch_all(cl, f, c->n, 1000, errmsg);
}

static void fetch_close(struct dcluster *c, struct ctl_fetch *f)
{
	for (size_t i = 0; i < c->n; i++)
		if (f[i].err == ESC_OK)
			ctl_response_close(&f[i].resp);
}

int dcluster_wait_ready(struct dcluster *c, struct ctl_client *cl, double timeout_ms,
			char *errmsg)
{
	struct ctl_fetch f[DCLUSTER_NODES_MAX];
	char urls[DCLUSTER_NODES_MAX][96];
	double deadline = mono_ms() + timeout_ms;

	for (;;) {
		size_t ready = 0, running = 0;
		/* A node that exited will never be ready: say so at once. */
		for (size_t i = 0; i < c->n; i++) {
			int status;
			if (c->nodes[i].pid > 0 &&
			    waitpid(c->nodes[i].pid, &status, WNOHANG) == c->nodes[i].pid) {
				c->nodes[i].pid = 0;
				return esc_errorf(errmsg, ESC_EIO, "node %u exited (%s %d); see %s",
						  c->nodes[i].id,
						  WIFEXITED(status) ? "code" : "signal",
						  WIFEXITED(status) ? WEXITSTATUS(status)
								    : WTERMSIG(status),
						  c->nodes[i].log);
			}
		}
		if (fetch(c, cl, "/v1/health?ready", f, urls, errmsg) != ESC_OK)
			return ESC_EIO;
		for (size_t i = 0; i < c->n; i++) {
			running += c->nodes[i].pid > 0;
			ready += c->nodes[i].pid > 0 && f[i].err == ESC_OK && f[i].resp.status == 200;
		}
		fetch_close(c, f);
		if (ready == running)
			return ESC_OK;
		if (mono_ms() >= deadline)
			return esc_errorf(errmsg, ESC_ETIMEOUT, "%zu of %zu running nodes ready after "
					  "%.0f s", ready, running, timeout_ms / 1e3);
		sleep_ms(100);
	}
}

int dcluster_wait_converged(struct dcluster *c, struct ctl_client *cl, double timeout_ms,
			    unsigned long long *index, char *errmsg)
{
	struct ctl_fetch f[DCLUSTER_NODES_MAX];
	char urls[DCLUSTER_NODES_MAX][96], why[160] = "no answer";
	double deadline = mono_ms() + timeout_ms;

	for (;;) {
		json_int_t first_index = -1;
		const char *first_digest = NULL;
		json_t *st[DCLUSTER_NODES_MAX] = { 0 };
		bool same = true;

		if (fetch(c, cl, "/v1/status", f, urls, errmsg) != ESC_OK)
			return ESC_EIO;
		for (size_t i = 0; i < c->n; i++) {
			json_int_t idx = -1;
			const char *digest = NULL;
			if (f[i].err == ESC_OK && f[i].resp.status == 200)
				st[i] = json_loads(f[i].resp.body, 0, NULL);
			if (st[i] == NULL || json_unpack(st[i], "{s:I, s:s}", "applied_index", &idx,
							 "state_digest", &digest) != 0) {
				snprintf(why, sizeof why, "node %u gives no status", c->nodes[i].id);
				same = false;
			} else if (first_digest == NULL) {
				first_index = idx;
				first_digest = digest;
			} else if (idx != first_index || strcmp(digest, first_digest) != 0) {
				snprintf(why, sizeof why, "node %u at %lld, node %u at %lld",
					 c->nodes[0].id, (long long)first_index, c->nodes[i].id,
					 (long long)idx);
				same = false;
			}
		}
		if (same && first_digest != NULL)
			*index = (unsigned long long)first_index;
		for (size_t i = 0; i < c->n; i++)
			json_decref(st[i]);
		fetch_close(c, f);
		if (same && first_digest != NULL)
			return ESC_OK;
		if (mono_ms() >= deadline)
			return esc_errorf(errmsg, ESC_ETIMEOUT, "no equal digests after %.0f s: %s",
					  timeout_ms / 1e3, why);
		sleep_ms(100);
	}
}

size_t dcluster_scan_logs(const struct dcluster *c, char *first, size_t size)
{
	static const char *const marks[] = { "AddressSanitizer", "LeakSanitizer",
					     "runtime error:", "Assertion", "SEGV", "panic" };
	size_t found = 0;
	char line[1024];

	for (size_t i = 0; i < c->n; i++) {
		FILE *f = fopen(c->nodes[i].log, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++)
				if (strstr(line, marks[m]) != NULL) {
					if (found++ == 0)
						snprintf(first, size, "node %u: %.*s", c->nodes[i].id,
							 (int)strcspn(line, "\n"), line);
					break;
				}
		fclose(f);
	}
	return found;
}

/* Goes on past a failure: a mount point (data/raft) cannot be removed. */
static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int newest_segment(const char *raft_dir, char *out, size_t size)
{
	struct dirent **names = NULL;
	int n = scandir(raft_dir, &names, NULL, alphasort), found = -1;

	/* Closed segments are named FIRST-LAST, 16 digits each. */
	for (int k = n - 1; k >= 0; k--) {
		const char *e = names[k]->d_name;
		if (found < 0 && strlen(e) == 33 && e[16] == '-' &&
		    strspn(e, "0123456789-") == 33) {
			snprintf(out, size, "%s/%s", raft_dir, e);
			found = 0;
		}
	}
	for (int k = 0; k < n; k++)
		free(names[k]);
	free(names);
	return found;
}

int dcluster_damage_segment(struct dcluster *c, size_t i, char *errmsg)
{
	char raft[DCLUSTER_PATH_MAX + 8], seg[DCLUSTER_PATH_MAX + 64];
	unsigned char b;
	struct stat st;
	int fd;

	snprintf(raft, sizeof raft, "%s/raft", c->nodes[i].data);
	if (newest_segment(raft, seg, sizeof seg) != 0)
		return esc_errorf(errmsg, ESC_ENOTFOUND, "node %u has no closed log segment",
				  c->nodes[i].id);
	fd = open(seg, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 2 ||
	    pread(fd, &b, 1, st.st_size / 2) != 1) {
		if (fd >= 0)
			close(fd);
		return esc_errorf(errmsg, ESC_EIO, "cannot read %s", seg);
	}
	b ^= 0x5a;
	if (pwrite(fd, &b, 1, st.st_size / 2) != 1) {
		close(fd);
		return esc_errorf(errmsg, ESC_EIO, "cannot write %s", seg);
	}
	close(fd);
	return ESC_OK;
}

/* As remove_cb, but for the break-glass journal files at the top of the
 * data dir: they hold audit entries not yet replayed. */
static int wipe_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level == 1 && strncmp(path + ftw->base, JOURNAL_FILE, strlen(JOURNAL_FILE)) == 0)
		return 0;
	return remove_cb(path, st, flag, ftw);
}

int dcluster_wipe(struct dcluster *c, size_t i, char *errmsg)
{
	struct stat st;

	/* A mounted data dir stays (busy), as does one holding a journal. */
	nftw(c->nodes[i].data, wipe_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(c->nodes[i].data, 0700) != 0 &&
	    !(errno == EEXIST && stat(c->nodes[i].data, &st) == 0 && S_ISDIR(st.st_mode)))
		return esc_errorf(errmsg, ESC_EIO, "cannot create %s: %s", c->nodes[i].data,
				  strerror(errno));
	return ESC_OK;
}

bool dcluster_exited(struct dcluster *c, size_t i, int *status)
{
	if (c->nodes[i].pid <= 0 || waitpid(c->nodes[i].pid, status, WNOHANG) != c->nodes[i].pid)
		return false;
	c->nodes[i].pid = 0;
	return true;
}

bool dcluster_log_last(const struct dcluster *c, size_t i, const char *text, char *out,
		       size_t size)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen(c->nodes[i].log, "r");

	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strstr(line, text) != NULL) {
			found = true;
			if (out != NULL)
				snprintf(out, size, "%.*s", (int)strcspn(line, "\n"), line);
		}
	if (f != NULL)
		fclose(f);
	return found;
}

void dcluster_destroy(struct dcluster *c, bool keep)
{
	for (size_t i = 0; i < c->n; i++)
		dcluster_stop(c, i, SIGTERM, 10000);
	for (size_t i = 0; i < c->n; i++) {
		dcluster_fast_disk(c, i);
		unmount_disks(&c->nodes[i]);
		c->nodes[i].mounted = 0;
	}
	dnet_destroy(&c->net);
	if (registered == c)
		registered = NULL;
	if (!keep && c->root[0] != '\0')
		nftw(c->root, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}
