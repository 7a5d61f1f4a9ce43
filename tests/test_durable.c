/* Unit tests of lib/durable: files written whole or not at all, renames that
 * refuse to replace, fsync of paths, and read/write loops that survive short
 * counts and signals. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/durable.h"
#include "lib/error.h"
#include "tests/unit.h"

#define PIPE_BYTES (1024 * 1024)

static char tmp_dir[] = "/tmp/test_durable.XXXXXX";
static char errmsg[ESC_ERRMSG_SIZE];

/* While pwritev_stingy is set, pwritev (which durable_pwritev calls; this
 * definition replaces libc's in the test program) fails with EINTR every
 * third call and otherwise writes at most a few hundred bytes, cut anywhere,
 * inside a buffer or at its edge. */
static int pwritev_stingy;
static unsigned pwritev_calls;

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	struct iovec cut[3];
	size_t budget;
	int n = 0;

	if (pwritev_stingy) {
		pwritev_calls++;
		if (pwritev_calls % 3 == 0) {
			errno = EINTR;
			return -1;
		}
		budget = 1 + (pwritev_calls * 7919u) % 700;
		for (; n < iovcnt && n < 3 && budget > 0; n++) {
			cut[n] = iov[n];
			if (cut[n].iov_len > budget)
				cut[n].iov_len = budget;
			budget -= cut[n].iov_len;
		}
		iov = cut;
		iovcnt = n;
	}
	return syscall(SYS_pwritev, fd, iov, iovcnt, (long)off, (long)((uint64_t)off >> 32));
}

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmp_dir, name);
}

/* Entries of tmp_dir other than . and .., or -1. */
static int dir_entries(void)
{
	struct dirent *e;
	DIR *d;
	int n = 0;

	d = opendir(tmp_dir);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The whole of a small file, NUL-terminated; -1 when unreadable. */
static ssize_t file_slurp(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = durable_read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static int file_put(const char *path, const char *content)
{
	int fd, rv;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	rv = durable_write(fd, content, strlen(content));
	close(fd);
	return rv;
}

static bool has(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

TEST(write_file_creates_it_whole_with_its_mode)
{
	char path[256], buf[64];
	struct stat st;

	path_in(path, sizeof(path), "fresh");
	CHECK_INT(durable_write_file(path, "hello\n", 6, 0640, errmsg), ESC_OK);
	CHECK_INT(file_slurp(path, buf, sizeof(buf)), 6);
	CHECK_STR(buf, "hello\n");
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	CHECK_INT(dir_entries(), 1); /* no fresh.tmp */
	CHECK_INT(unlink(path), 0);
}

TEST(write_file_replaces_atomically)
{
	char path[256], buf[64];
	struct stat before, after;
	int old_fd;

	path_in(path, sizeof(path), "replaced");
	CHECK(file_put(path, "old contents") == 0);
	CHECK(stat(path, &before) == 0);
	old_fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(old_fd >= 0);
	CHECK_INT(durable_write_file(path, "new", 3, 0600, errmsg), ESC_OK);
	/* A new file took the name: a reader of the old one saw no change. */
	CHECK(stat(path, &after) == 0);
	CHECK(after.st_ino != before.st_ino);
	CHECK_INT(durable_read(old_fd, buf, sizeof(buf) - 1), 12);
	close(old_fd);
	CHECK_INT(file_slurp(path, buf, sizeof(buf)), 3);
	CHECK_STR(buf, "new");
	CHECK_INT(dir_entries(), 1);
	CHECK_INT(unlink(path), 0);
}

TEST(write_file_overwrites_a_temp_left_by_a_crash)
{
	char path[256], tmp[256], buf[64];

	path_in(path, sizeof(path), "crashed");
	path_in(tmp, sizeof(tmp), "crashed.tmp");
	CHECK(file_put(tmp, "half a file from before the crash, longer") == 0);
	CHECK_INT(durable_write_file(path, "whole", 5, 0600, errmsg), ESC_OK);
	CHECK_INT(file_slurp(path, buf, sizeof(buf)), 5);
	CHECK_STR(buf, "whole");
	CHECK_INT(dir_entries(), 1);
	CHECK_INT(unlink(path), 0);
}

TEST(write_file_failure_leaves_no_temp)
{
	char path[256], sub[256];

	/* No such directory: nothing can be created. */
	path_in(path, sizeof(path), "no-such-dir/file");
	CHECK_INT(durable_write_file(path, "x", 1, 0600, errmsg), ESC_EIO);
	CHECK(has(errmsg, "no-such-dir/file.tmp"));
	/* path is a non-empty directory: the rename fails after the write. */
	path_in(path, sizeof(path), "a-dir");
	CHECK_INT(mkdir(path, 0700), 0);
	path_in(sub, sizeof(sub), "a-dir/inside");
	CHECK(file_put(sub, "keep") == 0);
	CHECK_INT(durable_write_file(path, "x", 1, 0600, errmsg), ESC_EIO);
	CHECK(has(errmsg, "rename"));
	CHECK(has(errmsg, "a-dir"));
	CHECK_INT(dir_entries(), 1); /* a-dir alone, no a-dir.tmp */
	CHECK_INT(unlink(sub), 0);
	CHECK_INT(rmdir(path), 0);
}

TEST(rename_noreplace_refuses_an_existing_target)
{
	char tmp[256], path[256], buf[64];

	path_in(tmp, sizeof(tmp), "new.tmp");
	path_in(path, sizeof(path), "target");
	CHECK(file_put(tmp, "new") == 0);
	CHECK(file_put(path, "theirs") == 0);
	CHECK_INT(durable_rename(tmp, path, true, errmsg), ESC_EINVAL);
	CHECK(has(errmsg, "already exists"));
	CHECK(has(errmsg, path));
	CHECK_INT(file_slurp(path, buf, sizeof(buf)), 6); /* both untouched */
	CHECK_STR(buf, "theirs");
	CHECK_INT(file_slurp(tmp, buf, sizeof(buf)), 3);
	/* Without noreplace the target is replaced. */
	CHECK_INT(durable_rename(tmp, path, false, errmsg), ESC_OK);
	CHECK_INT(file_slurp(path, buf, sizeof(buf)), 3);
	CHECK_STR(buf, "new");
	CHECK(access(tmp, F_OK) != 0);
	/* With noreplace and no target it is a plain rename. */
	CHECK_INT(durable_rename(path, tmp, true, errmsg), ESC_OK);
	CHECK(access(path, F_OK) != 0);
	CHECK_INT(file_slurp(tmp, buf, sizeof(buf)), 3);
	/* A missing tmp: ESC_EIO naming it. */
	CHECK_INT(unlink(tmp), 0);
	CHECK_INT(durable_rename(tmp, path, true, errmsg), ESC_EIO);
	CHECK(has(errmsg, tmp));
	CHECK_INT(dir_entries(), 0);
}

TEST(sync_path_of_files_dirs_and_missing_ones)
{
	char path[256], missing[256];

	path_in(path, sizeof(path), "synced");
	path_in(missing, sizeof(missing), "missing");
	CHECK(file_put(path, "x") == 0);
	CHECK_INT(durable_sync_path(path, false, errmsg), ESC_OK);
	CHECK_INT(durable_sync_path(tmp_dir, false, errmsg), ESC_OK);
	CHECK_INT(durable_sync_path(missing, true, errmsg), ESC_OK);
	CHECK_INT(durable_sync_path(missing, false, errmsg), ESC_EIO);
	CHECK(has(errmsg, missing));
	CHECK(has(errmsg, strerror(ENOENT)));
	CHECK_INT(durable_sync_path(missing, false, NULL), ESC_EIO); /* no errmsg */
	CHECK_INT(unlink(path), 0);
}

TEST(sync_parent_of_a_path)
{
	char path[256], dir[256];

	path_in(path, sizeof(path), "not-even-created");
	CHECK_INT(durable_sync_parent(path, errmsg), ESC_OK);
	CHECK_INT(durable_sync_parent("bare-name", errmsg), ESC_OK); /* "." */
	path_in(path, sizeof(path), "no-such-dir/file");
	path_in(dir, sizeof(dir), "no-such-dir");
	CHECK_INT(durable_sync_parent(path, errmsg), ESC_EIO);
	CHECK(has(errmsg, dir));
	CHECK(!has(errmsg, "/file"));
}

TEST(pread_and_pwrite_leave_the_offset)
{
	char path[256], buf[16];
	int fd;

	path_in(path, sizeof(path), "positional");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(durable_pwrite(fd, "world", 5, 6), 0);
	CHECK_INT(durable_pwrite(fd, "hello ", 6, 0), 0);
	CHECK_INT(lseek(fd, 0, SEEK_CUR), 0);
	CHECK_INT(durable_pread(fd, buf, 5, 6), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	/* Short only at the end of the file. */
	CHECK_INT(durable_pread(fd, buf, sizeof(buf), 3), 8);
	CHECK(memcmp(buf, "lo world", 8) == 0);
	CHECK_INT(durable_pread(fd, buf, sizeof(buf), 100), 0);
	CHECK_INT(lseek(fd, 0, SEEK_CUR), 0);
	CHECK_INT(durable_read(fd, buf, sizeof(buf)), 11);
	CHECK_INT(durable_read(fd, buf, sizeof(buf)), 0);
	/* A bad descriptor: -1 and errno, like the system call. */
	close(fd);
	errno = 0;
	CHECK_INT(durable_read(fd, buf, sizeof(buf)), -1);
	CHECK_INT(errno, EBADF);
	errno = 0;
	CHECK_INT(durable_write(fd, buf, sizeof(buf)), -1);
	CHECK_INT(errno, EBADF);
	CHECK_INT(unlink(path), 0);
}

/* Buffers of sizes 0 to 300 bytes, more of them than one pwritev takes. */
#define VEC_COUNT (IOV_MAX + 300)
#define VEC_BYTES (VEC_COUNT * 300)

static size_t vec_fill(struct iovec *iov, uint8_t *data)
{
	size_t total = 0;

	for (int i = 0; i < VEC_COUNT; i++) {
		iov[i].iov_base = data + total;
		iov[i].iov_len = (size_t)(i * 37) % 301;
		total += iov[i].iov_len;
	}
	for (size_t i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 13 + i / 257);
	return total;
}

/* The file at path holds exactly len bytes: data, after skip bytes of
 * zeros. */
static bool file_is(const char *path, size_t skip, const uint8_t *data, size_t len)
{
	uint8_t *got = malloc(skip + len + 1);
	ssize_t n;
	bool same;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (got == NULL || fd < 0) {
		free(got);
		return false;
	}
	n = durable_read(fd, got, skip + len + 1);
	close(fd);
	same = n == (ssize_t)(skip + len) && memcmp(got + skip, data, len) == 0;
	for (size_t i = 0; same && i < skip; i++)
		same = got[i] == 0;
	free(got);
	return same;
}

TEST(pwritev_writes_every_buffer_in_order)
{
	static struct iovec iov[VEC_COUNT];
	char path[256];
	uint8_t *data;
	size_t total;
	int fd;

	data = malloc(VEC_BYTES);
	CHECK(data != NULL);
	total = vec_fill(iov, data);
	path_in(path, sizeof(path), "vectors");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(durable_pwritev(fd, iov, VEC_COUNT, 100), 0);
	CHECK_INT(lseek(fd, 0, SEEK_CUR), 0);
	CHECK(file_is(path, 100, data, total));
	/* Nothing to write is no error. */
	CHECK_INT(durable_pwritev(fd, iov, 0, 0), 0);
	CHECK_INT(durable_pwritev(fd, iov, VEC_COUNT, 0), 0); /* all used up */
	CHECK(file_is(path, 100, data, total));
	/* Short counts and EINTR, anywhere in the buffers. */
	CHECK(ftruncate(fd, 0) == 0);
	vec_fill(iov, data);
	pwritev_stingy = 1;
	CHECK_INT(durable_pwritev(fd, iov, VEC_COUNT, 5), 0);
	pwritev_stingy = 0;
	printf("# %u pwritev calls\n", pwritev_calls);
	CHECK(pwritev_calls > total / 700);
	CHECK(file_is(path, 5, data, total));
	close(fd);
	/* Errors, with errno, as pwrite would. */
	vec_fill(iov, data);
	errno = 0;
	CHECK_INT(durable_pwritev(fd, iov, VEC_COUNT, 0), -1);
	CHECK_INT(errno, EBADF);
	errno = 0;
	CHECK_INT(durable_pwritev(fd, iov, VEC_COUNT, -1), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(unlink(path), 0);
	free(data);
}

/* A file size limit cuts a write short, then refuses the rest (EFBIG):
 * the bytes below it are there, in place, and the call fails. */
TEST(pwritev_stops_at_a_failure)
{
	static struct iovec iov[VEC_COUNT];
	struct rlimit old, lim;
	char path[256];
	uint8_t *data;
	int fd, rv, err;

	data = malloc(VEC_BYTES);
	CHECK(data != NULL);
	vec_fill(iov, data);
	path_in(path, sizeof(path), "limited");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 10007;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	rv = durable_pwritev(fd, iov, VEC_COUNT, 7);
	err = errno;
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	close(fd);
	CHECK_INT(rv, -1);
	CHECK_INT(err, EFBIG);
	CHECK(file_is(path, 7, data, 10000));
	CHECK_INT(unlink(path), 0);
	free(data);
}

/* The pipe test: a writer thread pushes PIPE_BYTES through a 64 KiB pipe
 * (so both ends see short counts) while a third thread interrupts both
 * ends with a signal whose handler does not restart system calls. */
struct pipe_run {
	int wfd;
	const uint8_t *data;
	int rv, err;
	pthread_t reader, writer;
	volatile int done;
};

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
	(void)sig;
	signals_seen++;
}

static void *pipe_writer(void *arg)
{
	struct pipe_run *r = arg;

	r->rv = durable_write(r->wfd, r->data, PIPE_BYTES);
	r->err = errno;
	close(r->wfd);
	return NULL;
}

static void *pipe_pester(void *arg)
{
	struct pipe_run *r = arg;
	struct timespec pause = { 0, 200000 }; /* 0.2 ms */
	int i;

	for (i = 0; i < 2000 && !r->done; i++) {
		pthread_kill(i % 2 ? r->writer : r->reader, SIGUSR1);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

TEST(read_write_loops_over_a_pipe)
{
	struct sigaction sa, old;
	struct pipe_run r;
	pthread_t pester;
	uint8_t *data, *got;
	int fds[2];
	ssize_t n;
	size_t i;

	data = malloc(PIPE_BYTES);
	got = malloc(PIPE_BYTES + 1);
	CHECK(data != NULL && got != NULL);
	for (i = 0; i < PIPE_BYTES; i++)
		data[i] = (uint8_t)(i * 31 + i / 251);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: blocked calls see EINTR */
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, &old) == 0);
	CHECK(pipe(fds) == 0);
	memset(&r, 0, sizeof(r));
	r.wfd = fds[1];
	r.data = data;
	r.reader = pthread_self();
	CHECK(pthread_create(&r.writer, NULL, pipe_writer, &r) == 0);
	CHECK(pthread_create(&pester, NULL, pipe_pester, &r) == 0);
	n = durable_read(fds[0], got, PIPE_BYTES + 1); /* to the end of the pipe */
	r.done = 1;
	pthread_join(pester, NULL);
	pthread_join(r.writer, NULL);
	close(fds[0]);
	sigaction(SIGUSR1, &old, NULL);
	printf("# %d signals during the transfer\n", (int)signals_seen);
	CHECK_INT(r.rv, 0);
	CHECK_INT(n, PIPE_BYTES);
	CHECK(memcmp(got, data, PIPE_BYTES) == 0);
	free(data);
	free(got);
}

int main(void)
{
	umask(022);
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(write_file_creates_it_whole_with_its_mode);
	RUN(write_file_replaces_atomically);
	RUN(write_file_overwrites_a_temp_left_by_a_crash);
	RUN(write_file_failure_leaves_no_temp);
	RUN(rename_noreplace_refuses_an_existing_target);
	RUN(sync_path_of_files_dirs_and_missing_ones);
	RUN(sync_parent_of_a_path);
	RUN(pread_and_pwrite_leave_the_offset);
	RUN(pwritev_writes_every_buffer_in_order);
	RUN(pwritev_stops_at_a_failure);
	RUN(read_write_loops_over_a_pipe);
	unit_remove_tree(tmp_dir);
	return unit_done();
}
