/* The wire format of replicated commands (see codec.h for the layout). */
#include "raft/codec.h"

#include <stdbool.h>
#include <string.h>

#include "lib/byteorder.h"
#include "lib/error.h"

const unsigned codec_version = CODEC_VERSION;

/* One field of a command: a string (NUL-terminated in an array of cap
 * bytes), raw bytes with a separate length (copied into an array, or
 * borrowed: a pointer into the encoded buffer), or a 64-bit integer. */
struct field {
	void *ptr;
	size_t cap;      /* array size; strings hold at most cap - 1 bytes */
	uint32_t *len;   /* variable raw fields: where the length lives */
	size_t exact;    /* fixed raw fields: the one length allowed */
	const char *name;
	const uint8_t **borrow; /* borrowed raw fields: where the pointer lives */
	int64_t *i64;    /* integer fields: 8 bytes, little-endian */
};

#define STR(f) { (f), sizeof(f), NULL, 0, #f, NULL, NULL }
#define BORROWED(f, n) { NULL, UINT16_MAX, &(n), 0, #f, &(f), NULL }
#define I64(f) { NULL, 8, NULL, 8, #f, NULL, &(f) }

/* Lists the fields of c's type in wire order; returns how many (0: unknown
 * type). c is not const because the decoder fills the same table. */
static size_t fields_of(struct cmd *c, struct field *f)
{
	size_t n = 0;

	f[n++] = (struct field)STR(c->actor);
	f[n++] = (struct field)STR(c->role);
	switch (c->type) {
	case CMD_INIT:
		f[n++] = (struct field)STR(c->cluster_id);
		f[n++] = (struct field)STR(c->members);
		return n;
	case CMD_ESCROW:
		f[n++] = (struct field)STR(c->key_id);
		f[n++] = (struct field)STR(c->volume_id);
		f[n++] = (struct field)STR(c->volume_type);
		f[n++] = (struct field)STR(c->machine);
		f[n++] = (struct field)STR(c->user);
		f[n++] = (struct field)STR(c->tpm_owner_hash);
		f[n++] = (struct field){c->sealed, sizeof(c->sealed), &c->sealed_len, 0, "sealed",
					NULL, NULL};
		f[n++] = (struct field){c->pw_mac, sizeof(c->pw_mac), NULL, SEAL_MAC_SIZE, "pw_mac",
					NULL, NULL};
		return n;
	case CMD_LOOKUP:
		f[n++] = (struct field)STR(c->key_id);
		f[n++] = (struct field)STR(c->reason);
		f[n++] = (struct field)STR(c->note);
		return n;
	case CMD_MEMBERS:
		f[n++] = (struct field)STR(c->members);
		f[n++] = (struct field)STR(c->action);
		f[n++] = (struct field)STR(c->note);
		return n;
	case CMD_AUDIT:
		f[n++] = (struct field)STR(c->action);
		f[n++] = (struct field)STR(c->note);
		return n;
	case CMD_LOOKUP_PREFIX:
		f[n++] = (struct field)STR(c->prefix);
		f[n++] = (struct field)STR(c->reason);
		f[n++] = (struct field)STR(c->note);
		return n;
	case CMD_COMPLIANCE:
		f[n++] = (struct field)STR(c->machine);
		f[n++] = (struct field)BORROWED(c->payload, c->payload_len);
		return n;
	case CMD_POLICY:
		f[n++] = (struct field)BORROWED(c->payload, c->payload_len);
		return n;
	case CMD_EXEMPT:
		f[n++] = (struct field)STR(c->machine);
		f[n++] = (struct field)I64(c->until_ms);
		f[n++] = (struct field)STR(c->note);
		return n;
	case CMD_REJUDGE:
		f[n++] = (struct field)STR(c->machine);
		f[n++] = (struct field)I64(c->policy_index);
		return n;
	case CMD_BREAK_GLASS:
		f[n++] = (struct field)STR(c->key_id);
		f[n++] = (struct field)STR(c->reason);
		f[n++] = (struct field)STR(c->note);
		f[n++] = (struct field)STR(c->bg_id);
		return n;
	default:
		return 0;
	}
}

#define FIELDS_MAX 12

static bool is_string(const struct field *f)
{
	return f->len == NULL && f->exact == 0;
}

/* Points at the bytes a field holds on the encoding side. */
static const void *field_src(const struct field *f)
{
	return f->borrow != NULL ? (const void *)*f->borrow : f->ptr;
}

static size_t field_len(const struct field *f)
{
	if (f->exact != 0)
		return f->exact;
	if (f->len != NULL)
		return *f->len;
	return strnlen(f->ptr, f->cap);
}

/* The longest content a field may hold. */
static size_t field_max(const struct field *f)
{
	return is_string(f) ? f->cap - 1 : f->cap;
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Body size, or 0 when a field is over its bound or the type unknown. */
static size_t body_size(const struct cmd *c)
{
	struct field f[FIELDS_MAX];
	size_t n = fields_of((struct cmd *)c, f);
	size_t size = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (field_len(&f[i]) > field_max(&f[i]))
			return 0;
		size_t len = field_len(&f[i]);
		size += 2 + len;
	}
	return size;
}

size_t codec_encoded_size(const struct cmd *c)
{
	return pad8(CODEC_HEADER_SIZE + body_size(c));
}

/* The format version an entry of type is written in. Version 2 only adds
 * CMD_BREAK_GLASS: every other type is still written as version 1, so that
 * a node of an older build keeps applying them during a rolling upgrade and
 * stops (codec_check_version) only at a replayed break-glass entry. A build
 * whose format changed more (tests/escrowd_next) writes its own for all. */
static unsigned write_version(uint32_t type)
{
	if (CODEC_VERSION > CODEC_VERSION_BREAK_GLASS || type == CMD_BREAK_GLASS)
		return CODEC_VERSION;
	return 1;
}

size_t codec_encode(const struct cmd *c, void *buf, size_t size)
{
	struct field f[FIELDS_MAX];
	size_t body = body_size(c);
	size_t total = pad8(CODEC_HEADER_SIZE + body);
	uint8_t *p = buf;
	size_t n;

	if (body == 0 || size < total)
		return 0;
	memset(buf, 0, total);
	p[0] = (uint8_t)write_version(c->type);
	p[1] = (uint8_t)c->type;
	byteorder_put_u32(p + 4, (uint32_t)body);
	byteorder_put_u32(p + 8, c->node_id);
	byteorder_put_u64(p + 16, (uint64_t)c->at_ms);
	p += CODEC_HEADER_SIZE;
	n = fields_of((struct cmd *)c, f);
	for (size_t i = 0; i < n; i++) {
		size_t len = field_len(&f[i]);
		byteorder_put_u16(p, (uint16_t)len);
		if (f[i].i64 != NULL)
			byteorder_put_u64(p + 2, (uint64_t)*f[i].i64);
		else if (len > 0)
			memcpy(p + 2, field_src(&f[i]), len);
		p += 2 + len;
	}
	return total;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int codec_check_version(const void *buf, size_t len, char *errmsg)
{
	const uint8_t *p = buf;

	if (len < 1 || p[0] <= CODEC_VERSION)
		return ESC_OK;
	return esc_errorf(errmsg, ESC_EVERSION,
			  "command of format version %u, newer than this node's %u", p[0],
			  CODEC_VERSION);
}

int codec_decode(const void *buf, size_t len, struct cmd *c, char *errmsg)
{
	const uint8_t *p = buf;
	struct field f[FIELDS_MAX];
	size_t body, n, off;

	memset(c, 0, sizeof *c);
	if (len < CODEC_HEADER_SIZE)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "command: %zu bytes, shorter than its header", len);
	if (len % 8 != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "command: length %zu is not a multiple of 8", len);
	/* Every version up to ours has this layout so far; one that changes
	 * it will decode the older ones by theirs. */
	if (p[0] == 0 || p[0] > CODEC_VERSION)
		return esc_errorf(errmsg, ESC_EVERSION,
				  "command: unknown format version %u", p[0]);
	if (p[2] != 0 || p[3] != 0 || !all_zero(p + 12, 4))
		return esc_errorf(errmsg, ESC_ECORRUPT, "command: reserved bytes are not zero");
	body = byteorder_get_u32(p + 4);
	if (body > len - CODEC_HEADER_SIZE || pad8(CODEC_HEADER_SIZE + body) != len)
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "command: body length %zu does not match %zu bytes", body, len);
	if (!all_zero(p + CODEC_HEADER_SIZE + body, len - CODEC_HEADER_SIZE - body))
		return esc_errorf(errmsg, ESC_ECORRUPT, "command: padding is not zero");
	c->type = p[1];
	c->node_id = byteorder_get_u32(p + 8);
	c->at_ms = (int64_t)byteorder_get_u64(p + 16);
	n = fields_of(c, f);
	/* Version 2 holds CMD_BREAK_GLASS alone (see write_version). */
	if ((c->type == CMD_BREAK_GLASS && p[0] < CODEC_VERSION_BREAK_GLASS) ||
	    (c->type != CMD_BREAK_GLASS && p[0] == CODEC_VERSION_BREAK_GLASS))
		n = 0;
	if (n == 0) {
		int type = (int)c->type;
		memset(c, 0, sizeof *c);
		return esc_errorf(errmsg, ESC_EVERSION, "command: unknown type %d", type);
	}
	p += CODEC_HEADER_SIZE;
	off = 0;
	for (size_t i = 0; i < n; i++) {
		size_t flen;
		if (body - off < 2)
			goto truncated;
		flen = byteorder_get_u16(p + off);
		off += 2;
		if (flen > body - off)
			goto truncated;
		if (flen > field_max(&f[i]) || (f[i].exact != 0 && flen != f[i].exact)) {
			memset(c, 0, sizeof *c);
			return esc_errorf(errmsg, ESC_ECORRUPT,
					  "command: field %s has length %zu, over its bound",
					  f[i].name, flen);
		}
		if (is_string(&f[i]) && memchr(p + off, 0, flen) != NULL) {
			memset(c, 0, sizeof *c);
			return esc_errorf(errmsg, ESC_ECORRUPT,
					  "command: field %s holds a NUL byte", f[i].name);
		}
		if (f[i].i64 != NULL)
			*f[i].i64 = (int64_t)byteorder_get_u64(p + off);
		else if (f[i].borrow != NULL)
			*f[i].borrow = p + off;
		else
			memcpy(f[i].ptr, p + off, flen);
		if (is_string(&f[i]))
			((char *)f[i].ptr)[flen] = '\0';
		else if (f[i].len != NULL)
			*f[i].len = (uint32_t)flen;
		off += flen;
	}
	if (off != body) {
		memset(c, 0, sizeof *c);
		return esc_errorf(errmsg, ESC_ECORRUPT,
				  "command: %zu bytes after the last field", body - off);
	}
	return ESC_OK;

truncated:
	memset(c, 0, sizeof *c);
	return esc_errorf(errmsg, ESC_ECORRUPT, "command: truncated field");
}
