/* The PKCS#12 file a person imports into a browser, and its passphrase:
 * read from a file, or asked for on the terminal (see pki.h). */
#include "lib/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "lib/durable.h"
#include "lib/error.h"

/* OpenSSL's reason for the last failure, after what. */
static int crypto_error(char *errmsg, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256] = "no reason given";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	return esc_errorf(errmsg, ESC_ECRYPTO, "%s: %s", what, reason);
}

int pki_p12_write(FILE *f, EVP_PKEY *key, X509 *cert, X509 *ca, const char *name,
		  const char *pass, char *errmsg)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	PKCS12 *p12 = NULL;
	int rv = ESC_OK;

	if (chain == NULL || sk_X509_push(chain, ca) <= 0) {
		rv = esc_errorf(errmsg, ESC_ENOMEM, "PKCS#12: out of memory");
		goto out;
	}
	/* What OpenSSL 3 writes by default, spelled out so that it stays so:
	 * PBES2 (PBKDF2 with HMAC-SHA-256, AES-256-CBC) for the key and the
	 * certificates; the MAC (-1: none yet) is set below. */
	p12 = PKCS12_create(pass, name, key, cert, chain, NID_aes_256_cbc, NID_aes_256_cbc,
			    PKCS12_DEFAULT_ITER, -1, 0);
	if (p12 == NULL) {
		rv = crypto_error(errmsg, "PKCS#12");
		goto out;
	}
	if (PKCS12_set_mac(p12, pass, -1, NULL, 0, PKCS12_DEFAULT_ITER, EVP_sha256()) != 1) {
		rv = crypto_error(errmsg, "PKCS#12 MAC");
		goto out;
	}
	if (i2d_PKCS12_fp(f, p12) != 1)
		rv = crypto_error(errmsg, "PKCS#12 write");
out:
	PKCS12_free(p12);
	sk_X509_free(chain); /* ca stays the caller's */
	return rv;
}

/* The first line of buf[0..n): its end at '\n' or n, less a trailing '\r',
 * NUL-terminated, the rest of buf wiped. Refuses a line that does not fit
 * (full: more came than buf held), holds a NUL byte, or is empty. */
static int take_line(char *buf, size_t n, bool full, const char *what, char *errmsg)
{
	char *nl = memchr(buf, '\n', n);
	size_t len = nl != NULL ? (size_t)(nl - buf) : n;
	int rv = ESC_OK;

	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if ((nl == NULL && full) || len > PKI_PASSPHRASE_SIZE - 2)
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s: the passphrase is longer than %d bytes",
				what, PKI_PASSPHRASE_SIZE - 2);
	else if (memchr(buf, '\0', len) != NULL)
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s: the passphrase holds a NUL byte", what);
	else if (len == 0)
		rv = esc_errorf(errmsg, ESC_EINVAL, "%s: the passphrase is empty; a PKCS#12 "
				"file must be encrypted with one", what);
	if (rv != ESC_OK)
		len = 0;
	OPENSSL_cleanse(buf + len, PKI_PASSPHRASE_SIZE - len);
	return rv;
}

int pki_passphrase_read(const char *path, char pass[PKI_PASSPHRASE_SIZE], char *errmsg)
{
	char what[ESC_ERRMSG_SIZE];
	ssize_t n;
	int fd;

	snprintf(what, sizeof what, "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		OPENSSL_cleanse(pass, PKI_PASSPHRASE_SIZE);
		return esc_errorf(errmsg, ESC_EIO, "%s: %s", what, strerror(errno));
	}
	/* Straight into pass, never through a stdio buffer. */
	n = durable_read(fd, pass, PKI_PASSPHRASE_SIZE);
	if (n < 0) {
		int e = errno;
		close(fd);
		OPENSSL_cleanse(pass, PKI_PASSPHRASE_SIZE);
		return esc_errorf(errmsg, ESC_EIO, "%s: %s", what, strerror(e));
	}
	close(fd);
	return take_line(pass, (size_t)n, n == PKI_PASSPHRASE_SIZE, what, errmsg);
}

/* A terminal with echo off, and the signals that must not leave it so: they
 * are blocked but while waiting for input (ppoll), so that one never comes
 * between a check and a read that would then wait for Enter. */
struct tty {
	int fd;
	struct termios saved; /* as the caller had it */
	struct termios quiet; /* canonical, echo off */
	sigset_t waiting;     /* the signal mask while waiting: the caller's */
};

static const int tty_signals[] = { SIGINT, SIGHUP, SIGQUIT, SIGTERM, SIGTSTP };
#define N_TTY_SIGNALS (sizeof tty_signals / sizeof tty_signals[0])

/* The signal that came while echo was off (0: none). */
static volatile sig_atomic_t tty_signal;

static void tty_signal_cb(int sig)
{
	tty_signal = sig;
}

static void tty_catch(int sig, struct sigaction *before)
{
	struct sigaction catch;

	memset(&catch, 0, sizeof catch);
	catch.sa_handler = tty_signal_cb;
	sigemptyset(&catch.sa_mask);
	sigaction(sig, &catch, before);
}

/* Ctrl-Z: the terminal as the caller had it while stopped, quiet again once
 * continued (fg). */
static void tty_stop(const struct tty *t)
{
	sigset_t blocked;

	tcsetattr(t->fd, TCSAFLUSH, &t->saved);
	signal(SIGTSTP, SIG_DFL);
	sigprocmask(SIG_SETMASK, &t->waiting, &blocked);
	raise(SIGTSTP);
	sigprocmask(SIG_SETMASK, &blocked, NULL);
	tty_catch(SIGTSTP, NULL);
	tty_signal = 0;
	tcsetattr(t->fd, TCSAFLUSH, &t->quiet);
}

/* One line from the terminal after prompt. After a stop (Ctrl-Z) the line
 * starts anew; another of tty_signals ends it with ESC_EIO (the caller
 * raises it again). */
static int tty_line(const struct tty *t, const char *prompt, char *buf, char *errmsg)
{
	size_t n = 0;
	bool full = false;
	int err = 0;

	if (durable_write(t->fd, prompt, strlen(prompt)) != 0)
		err = errno;
	while (err == 0) {
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
		ssize_t r;
		char c;

		if (tty_signal == SIGTSTP) {
			tty_stop(t);
			n = 0;
			full = false;
			if (durable_write(t->fd, "\n", 1) != 0 ||
			    durable_write(t->fd, prompt, strlen(prompt)) != 0)
				err = errno;
			continue;
		}
		if (tty_signal != 0) {
			err = EINTR;
			break;
		}
		if (ppoll(&pfd, 1, NULL, &t->waiting) < 0) {
			if (errno != EINTR)
				err = errno;
			continue;
		}
		/* Canonical mode: POLLIN means a whole line (or its end) is there. */
		r = read(t->fd, &c, 1);
		if (r < 0)
			err = errno;
		if (r <= 0 || c == '\n')
			break;
		if (n < PKI_PASSPHRASE_SIZE - 1)
			buf[n++] = c;
		else
			full = true;
	}
	(void)durable_write(t->fd, "\n", 1); /* the newline that echo did not show */
	if (err != 0) {
		OPENSSL_cleanse(buf, PKI_PASSPHRASE_SIZE);
		if (tty_signal != 0)
			return esc_errorf(errmsg, ESC_EIO, "terminal: interrupted by signal %d",
					  (int)tty_signal);
		return esc_errorf(errmsg, ESC_EIO, "terminal: %s", strerror(err));
	}
	return take_line(buf, n, full, "terminal", errmsg);
}

int pki_passphrase_ask(const char *prompt, const char *again, char pass[PKI_PASSPHRASE_SIZE],
		       char *errmsg)
{
	struct sigaction before[N_TTY_SIGNALS];
	char check[PKI_PASSPHRASE_SIZE];
	sigset_t blocked;
	struct tty t;
	int rv, sig;

	t.fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (t.fd < 0 || tcgetattr(t.fd, &t.saved) != 0) {
		rv = esc_errorf(errmsg, ESC_ENOTFOUND, "no terminal to ask on: %s",
				t.fd < 0 ? strerror(errno) : "/dev/tty is no terminal");
		if (t.fd >= 0)
			close(t.fd);
		return rv;
	}
	t.quiet = t.saved;
	t.quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	t.quiet.c_lflag |= ICANON;
	sigemptyset(&blocked);
	for (size_t i = 0; i < N_TTY_SIGNALS; i++)
		sigaddset(&blocked, tty_signals[i]);
	sigprocmask(SIG_BLOCK, &blocked, &t.waiting);
	tty_signal = 0;
	for (size_t i = 0; i < N_TTY_SIGNALS; i++)
		tty_catch(tty_signals[i], &before[i]);
	if (tcsetattr(t.fd, TCSAFLUSH, &t.quiet) != 0) {
		rv = esc_errorf(errmsg, ESC_EIO, "terminal: echo cannot be turned off: %s",
				strerror(errno));
		goto restore;
	}
	rv = tty_line(&t, prompt, pass, errmsg);
	if (rv == ESC_OK && again != NULL) {
		rv = tty_line(&t, again, check, errmsg);
		if (rv == ESC_OK && strcmp(pass, check) != 0)
			rv = esc_errorf(errmsg, ESC_EINVAL, "the passphrases differ");
		OPENSSL_cleanse(check, sizeof check);
	}
restore:
	tcsetattr(t.fd, TCSAFLUSH, &t.saved);
	close(t.fd);
	sig = tty_signal;
	for (size_t i = 0; i < N_TTY_SIGNALS; i++)
		sigaction(tty_signals[i], &before[i], NULL);
	if (rv != ESC_OK)
		OPENSSL_cleanse(pass, PKI_PASSPHRASE_SIZE);
	if (sig != 0)
		raise(sig); /* pending until the caller's mask is back, echo on again */
	sigprocmask(SIG_SETMASK, &t.waiting, NULL);
	return rv;
}
