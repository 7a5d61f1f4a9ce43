/* Project-wide error codes: the table of names and sentences. */
#include "lib/error.h"

#include <stdio.h>
#include <string.h>

struct err_entry {
	const char *name;
	const char *sentence;
};

static const struct err_entry err_table[ESC__COUNT] = {
	[ESC_OK] = { "ok", "success" },
	[ESC_ENOMEM] = { "enomem", "out of memory" },
	[ESC_EINVAL] = { "einval", "invalid input" },
	[ESC_ENOTFOUND] = { "enotfound", "no such record or file" },
	[ESC_ECONFLICT] = { "econflict", "the record exists with other contents" },
	[ESC_EIO] = { "eio", "input/output error" },
	[ESC_ECORRUPT] = { "ecorrupt", "data fails its format checks" },
	[ESC_EVERSION] = { "eversion", "unknown format version" },
	[ESC_EDB] = { "edb", "database error" },
	[ESC_ECRYPTO] = { "ecrypto", "cryptographic operation or authentication failed" },
	[ESC_ENOLEADER] = { "enoleader", "no leader is known" },
	[ESC_ENOQUORUM] = { "enoquorum", "the leader cannot reach a majority" },
	[ESC_ESHUTDOWN] = { "eshutdown", "the node is shutting down" },
	[ESC_ETIMEOUT] = { "etimeout", "the operation timed out" },
	[ESC_EBUSY] = { "ebusy", "another operation of the same kind is running" },
	[ESC_ETOOBIG] = { "etoobig", "over a size limit" },
	[ESC_EADDRINUSE] = { "eaddrinuse", "the address is already in use" },
	[ESC_ERAFT] = { "eraft", "the consensus library reported an error" },
	[ESC_ELOCKED] = { "elocked", "the data directory is locked by another process" },
};

const char *esc_err_name(int code)
{
	if (code < 0 || code >= ESC__COUNT)
		return "eunknown";
	return err_table[code].name;
}

const char *esc_err_str(int code)
{
	if (code < 0 || code >= ESC__COUNT)
		return "unknown error";
	return err_table[code].sentence;
}

int esc_errorf(char *errmsg, int code, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(errmsg, ESC_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	return code;
}

void esc_errprefix(char *errmsg, const char *prefix)
{
	size_t plen, mlen, room;

	if (errmsg == NULL || prefix == NULL)
		return;
	plen = strnlen(prefix, ESC_ERRMSG_SIZE - 1);
	if (plen + 2 >= ESC_ERRMSG_SIZE - 1) {
		/* The prefix alone fills the buffer: keep as much of it as fits. */
		memcpy(errmsg, prefix, plen);
		errmsg[plen] = '\0';
		return;
	}
	mlen = strnlen(errmsg, ESC_ERRMSG_SIZE - 1);
	if (mlen == 0) {
		memcpy(errmsg, prefix, plen + 1);
		return;
	}
	room = ESC_ERRMSG_SIZE - 1 - plen - 2;
	if (mlen > room)
		mlen = room;
	memmove(errmsg + plen + 2, errmsg, mlen);
	memcpy(errmsg, prefix, plen);
	errmsg[plen] = ':';
	errmsg[plen + 1] = ' ';
	errmsg[plen + 2 + mlen] = '\0';
}
