/* Project-wide error codes: one enum, one table of names and sentences. */
#ifndef ESCROW_ERROR_H
#define ESCROW_ERROR_H

#include <stdarg.h>

/* Size of the errmsg buffers passed down every call chain. */
#define ESC_ERRMSG_SIZE 256

enum esc_err {
	ESC_OK = 0,
	ESC_ENOMEM,     /* out of memory */
	ESC_EINVAL,     /* bad input from a client, a flag or a file */
	ESC_ENOTFOUND,  /* no such record or file */
	ESC_ECONFLICT,  /* the record exists with other contents */
	ESC_EIO,        /* a system call on a file or socket failed */
	ESC_ECORRUPT,   /* a file or message fails its format checks */
	ESC_EVERSION,   /* a format version this build does not know */
	ESC_EDB,        /* SQLite reported an error */
	ESC_ECRYPTO,    /* OpenSSL failed, or authentication of sealed data failed */
	ESC_ENOLEADER,  /* no leader is known */
	ESC_ENOQUORUM,  /* the leader cannot reach a majority */
	ESC_ESHUTDOWN,  /* the node is stopping */
	ESC_ETIMEOUT,   /* a deadline passed */
	ESC_EBUSY,      /* another operation of the same kind is running */
	ESC_ETOOBIG,    /* over a size limit */
	ESC_EADDRINUSE, /* the address is already in use */
	ESC_ERAFT,      /* libraft reported an error */
	ESC_ELOCKED,    /* the data dir is locked by another process */
	ESC__COUNT
};

/* "enomem", "einval", ... for logs and JSON. */
const char *esc_err_name(int code);

/* A sentence for a person, e.g. "out of memory". */
const char *esc_err_str(int code);

/* Writes "fmt..." into errmsg (ESC_ERRMSG_SIZE bytes) and returns code. */
int esc_errorf(char *errmsg, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes errmsg in place with "prefix: ", keeping it NUL-terminated. */
void esc_errprefix(char *errmsg, const char *prefix);

#endif
