/* drill run's network of namespaces, built and cut with iproute2's `ip`. */
#include "tools/drill/drill_net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/error.h"

#define NETNS_DIR "/run/netns/"
#define NAME_PREFIX "escd"

static const struct dnet *registered;

/* Runs `ip [-n ns] -batch -` with batch on its stdin; its stderr goes to
 * errmsg when it fails. */
static int ip_batch(const char *ns, const char *batch, char *errmsg)
{
	int in[2], err[2], status = 0;
	char out[ESC_ERRMSG_SIZE / 2] = "";
	size_t len = 0, left = strlen(batch);
	ssize_t got;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) != 0)
		return esc_errorf(errmsg, ESC_EIO, "pipe: %s", strerror(errno));
	if (pipe2(err, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return esc_errorf(errmsg, ESC_EIO, "pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(err[1], 1);
		dup2(err[1], 2);
		if (ns != NULL)
			execlp("ip", "ip", "-n", ns, "-batch", "-", (char *)NULL);
		else
			execlp("ip", "ip", "-batch", "-", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(err[1]);
	if (pid < 0) {
		close(in[1]);
		close(err[0]);
		return esc_errorf(errmsg, ESC_EIO, "fork: %s", strerror(errno));
	}
	/* The commands are a few hundred bytes: the pipe takes them at once. */
	while (left > 0) {
		ssize_t w = write(in[1], batch, left);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0) {
			batch += w;
			left -= (size_t)w;
		}
	}
	close(in[1]);
	/* Everything ip prints is read (the first part kept), so that it never
	 * dies of a closed pipe. */
	for (;;) {
		char sink[256];
		got = read(err[0], len < sizeof out - 1 ? out + len : sink,
			   len < sizeof out - 1 ? sizeof out - 1 - len : sizeof sink);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (len < sizeof out - 1)
			len += (size_t)got;
	}
	out[len] = '\0';
	close(err[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return ESC_OK;
	out[strcspn(out, "\n")] = '\0';
	return esc_errorf(errmsg, ESC_EIO, "ip%s%s: %s", ns ? " -n " : "", ns ? ns : "",
			  WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "cannot run ip"
			  : out[0] ? out : "failed");
}

const char *dnet_unavailable(void)
{
	char errmsg[ESC_ERRMSG_SIZE];

	if (geteuid() != 0)
		return "network partitions need root (network namespaces)";
	if (ip_batch(NULL, "netns list\n", errmsg) != ESC_OK)
		return "network partitions need iproute2's ip (apt-get install iproute2)";
	return NULL;
}

void dnet_addr(unsigned i, char *out, size_t size)
{
	snprintf(out, size, DNET_SUBNET "%u", i + 1);
}

/* What `ip netns del` does: detach the bind mount, remove the file. */
static void del_name(const char *name)
{
	char path[sizeof NETNS_DIR + DNET_NAME_MAX];
	size_t a = sizeof NETNS_DIR - 1, b = strnlen(name, DNET_NAME_MAX - 1);

	memcpy(path, NETNS_DIR, a);
	memcpy(path + a, name, b);
	path[a + b] = '\0';
	umount2(path, MNT_DETACH);
	unlink(path);
}

/* Namespaces named escdPID-... whose drill process is gone. */
static void sweep_stale(void)
{
	DIR *dir = opendir(NETNS_DIR);
	struct dirent *e;

	while (dir != NULL && (e = readdir(dir)) != NULL) {
		char *end;
		long pid;
		if (strncmp(e->d_name, NAME_PREFIX, sizeof NAME_PREFIX - 1) != 0)
			continue;
		pid = strtol(e->d_name + sizeof NAME_PREFIX - 1, &end, 10);
		if (pid > 0 && *end == '-' && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			del_name(e->d_name);
	}
	if (dir != NULL)
		closedir(dir);
}

int dnet_create(struct dnet *net, size_t n, char *errmsg)
{
	char batch[2048], addr[32];
	size_t off = 0;

	memset(net, 0, sizeof *net);
	if (n == 0 || n > DNET_NODES_MAX)
		return esc_errorf(errmsg, ESC_EINVAL, "%zu nodes: 1 to %d", n, DNET_NODES_MAX);
	sweep_stale();
	net->n = n;
	snprintf(net->sw, sizeof net->sw, NAME_PREFIX "%ld-sw", (long)getpid());
	for (size_t i = 0; i < n; i++)
		snprintf(net->ns[i], sizeof net->ns[i], NAME_PREFIX "%ld-n%zu", (long)getpid(),
			 i + 1);
	registered = net;
	/* One at a time, so that a failure leaves a record of what exists. */
	for (size_t i = 0; i <= n; i++) {
		snprintf(batch, sizeof batch, "netns add %s\n", i < n ? net->ns[i] : net->sw);
		if (ip_batch(NULL, batch, errmsg) != ESC_OK)
			goto fail;
		net->made[i < n ? i : DNET_NODES_MAX] = true;
	}
	off += (size_t)snprintf(batch + off, sizeof batch - off,
				"link set lo up\nlink add br0 type bridge\n"
				"addr add " DNET_SUBNET "254/24 dev br0\nlink set br0 up\n");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(batch + off, sizeof batch - off,
					"link add v%zu type veth peer name eth0 netns %s\n"
					"link set v%zu master br0 up\n", i + 1, net->ns[i], i + 1);
	if (ip_batch(net->sw, batch, errmsg) != ESC_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		dnet_addr((unsigned)i, addr, sizeof addr);
		snprintf(batch, sizeof batch,
			 "link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\n", addr);
		if (ip_batch(net->ns[i], batch, errmsg) != ESC_OK)
			goto fail;
	}
	return ESC_OK;
fail:
	esc_errprefix(errmsg, "building the drill's network");
	dnet_destroy(net);
	return ESC_EIO;
}

static int enter(const char *name)
{
	char path[sizeof NETNS_DIR + DNET_NAME_MAX];
	size_t a = sizeof NETNS_DIR - 1, b = strnlen(name, DNET_NAME_MAX - 1);
	int fd, rv;

	memcpy(path, NETNS_DIR, a);
	memcpy(path + a, name, b);
	path[a + b] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rv = setns(fd, CLONE_NEWNET);
	close(fd);
	return rv;
}

int dnet_enter_switch(const struct dnet *net, char *errmsg)
{
	if (enter(net->sw) != 0)
		return esc_errorf(errmsg, ESC_EIO, "cannot enter namespace %s: %s", net->sw,
				  strerror(errno));
	return ESC_OK;
}

int dnet_enter_node(const struct dnet *net, size_t i)
{
	return i < net->n ? enter(net->ns[i]) : -1;
}

int dnet_block(struct dnet *net, size_t from, size_t to, char *errmsg)
{
	char batch[64], addr[32];

	if (from >= net->n || to >= net->n || from == to || net->cut[from][to])
		return ESC_OK;
	dnet_addr((unsigned)to, addr, sizeof addr);
	snprintf(batch, sizeof batch, "route add blackhole %s/32\n", addr);
	if (ip_batch(net->ns[from], batch, errmsg) != ESC_OK)
		return ESC_EIO;
	net->cut[from][to] = true;
	return ESC_OK;
}

int dnet_heal(struct dnet *net, char *errmsg)
{
	int rv = ESC_OK;

	for (size_t i = 0; i < net->n; i++) {
		bool any = false;
		for (size_t k = 0; k < net->n; k++)
			any |= net->cut[i][k];
		if (!any)
			continue;
		if (ip_batch(net->ns[i], "route flush type blackhole\n", errmsg) != ESC_OK)
			rv = ESC_EIO;
		else
			memset(net->cut[i], 0, sizeof net->cut[i]);
	}
	return rv;
}

void dnet_destroy(struct dnet *net)
{
	for (size_t i = 0; i < net->n; i++)
		if (net->made[i])
			del_name(net->ns[i]);
	if (net->made[DNET_NODES_MAX])
		del_name(net->sw);
	memset(net->made, 0, sizeof net->made);
	if (registered == net)
		registered = NULL;
}

void dnet_emergency_cleanup(void)
{
	const struct dnet *net = registered;

	if (net == NULL)
		return;
	for (size_t i = 0; i < net->n; i++)
		if (net->made[i])
			del_name(net->ns[i]);
	if (net->made[DNET_NODES_MAX])
		del_name(net->sw);
}
