/* The binary form of a compliance report and a policy (layout in compliance_wire.h). */
#include "store/compliance_wire.h"

#include <stdbool.h>
#include <string.h>

#include "lib/byteorder.h"
#include "lib/error.h"

/* Writes into a buffer; ok turns false once something does not fit. */
struct writer {
	uint8_t *p;
	size_t size, off;
	bool ok;
};

static void put(struct writer *w, const void *src, size_t n)
{
	if (!w->ok || w->size - w->off < n) {
		w->ok = false;
		return;
	}
	memcpy(w->p + w->off, src, n);
	w->off += n;
}

static void put_u8(struct writer *w, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(w, &b, 1);
}

static void put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4];

	byteorder_put_u32(b, v);
	put(w, b, 4);
}

/* A string of at most max bytes. */
static void put_str(struct writer *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	uint8_t b[2];

	if (n > max) {
		w->ok = false;
		return;
	}
	byteorder_put_u16(b, (uint16_t)n);
	put(w, b, 2);
	put(w, s, n);
}

size_t compliance_report_encoded_size(const struct compliance_report *r)
{
	size_t n = 2 + 3 * 2 + strlen(r->machine) + strlen(r->user) + strlen(r->os);

	for (unsigned i = 0; i < r->n_volumes && i < COMPLIANCE_VOLUMES_MAX; i++)
		n += 2 + strlen(r->volumes[i].volume_id) + 6 + 4 +
		     (size_t)r->volumes[i].n_key_ids * VALIDATE_GUID_LEN;
	return n;
}

size_t compliance_report_encode(const struct compliance_report *r, uint8_t *buf, size_t size)
{
	struct writer w = { buf, size, 0, true };

	if (r->n_volumes < 1 || r->n_volumes > COMPLIANCE_VOLUMES_MAX)
		return 0;
	put_u8(&w, COMPLIANCE_WIRE_VERSION);
	put_u8(&w, r->n_volumes);
	put_str(&w, r->machine, VALIDATE_MACHINE_MAX);
	put_str(&w, r->user, VALIDATE_USER_MAX);
	put_str(&w, r->os, COMPLIANCE_OS_MAX);
	for (unsigned i = 0; i < r->n_volumes; i++) {
		const struct compliance_volume *v = &r->volumes[i];

		if (v->n_key_ids > COMPLIANCE_KEY_IDS_MAX)
			return 0;
		put_str(&w, v->volume_id, VALIDATE_VOLUME_ID_MAX);
		put_u8(&w, v->volume_type);
		put_u8(&w, v->protection);
		put_u8(&w, v->conversion);
		put_u8(&w, v->method);
		put_u8(&w, v->percent);
		put_u8(&w, v->n_key_ids);
		put_u32(&w, v->protectors);
		for (unsigned k = 0; k < v->n_key_ids; k++) {
			if (strnlen(v->key_ids[k], VALIDATE_GUID_LEN + 1) != VALIDATE_GUID_LEN)
				return 0;
			put(&w, v->key_ids[k], VALIDATE_GUID_LEN);
		}
	}
	return w.ok ? w.off : 0;
}

/* Reads from a buffer; the first failure is kept in errmsg. */
struct reader {
	const uint8_t *p;
	size_t len, off;
	int rv;
	char *errmsg;
};

static bool take(struct reader *r, void *dst, size_t n, const char *what)
{
	if (r->rv != ESC_OK)
		return false;
	if (r->len - r->off < n) {
		r->rv = esc_errorf(r->errmsg, ESC_ECORRUPT, "report: truncated at %s", what);
		return false;
	}
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return true;
}

static uint8_t take_u8(struct reader *r, const char *what)
{
	uint8_t b = 0;

	take(r, &b, 1, what);
	return b;
}

/* A string into out (max + 1 bytes): no NUL inside, at most max bytes. */
static void take_str(struct reader *r, char *out, size_t max, const char *what)
{
	uint8_t b[2];
	size_t n;

	if (!take(r, b, 2, what))
		return;
	n = byteorder_get_u16(b);
	if (n > max) {
		r->rv = esc_errorf(r->errmsg, ESC_ECORRUPT, "report: %s of %zu bytes, over %zu",
				   what, n, max);
		return;
	}
	if (!take(r, out, n, what))
		return;
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL)
		r->rv = esc_errorf(r->errmsg, ESC_ECORRUPT, "report: %s holds a NUL byte", what);
}

static void take_volume(struct reader *r, struct compliance_volume *v)
{
	uint8_t b[4];

	take_str(r, v->volume_id, VALIDATE_VOLUME_ID_MAX, "volume_id");
	v->volume_type = take_u8(r, "volume_type");
	v->protection = take_u8(r, "protection");
	v->conversion = take_u8(r, "conversion");
	v->method = take_u8(r, "encryption_method");
	v->percent = take_u8(r, "percent_encrypted");
	v->n_key_ids = take_u8(r, "key id count");
	if (take(r, b, 4, "protectors"))
		v->protectors = byteorder_get_u32(b);
	if (r->rv == ESC_OK && v->n_key_ids > COMPLIANCE_KEY_IDS_MAX) {
		r->rv = esc_errorf(r->errmsg, ESC_ECORRUPT, "report: %u key ids, over %d",
				   v->n_key_ids, COMPLIANCE_KEY_IDS_MAX);
		return;
	}
	for (unsigned k = 0; k < v->n_key_ids && r->rv == ESC_OK; k++)
		if (take(r, v->key_ids[k], VALIDATE_GUID_LEN, "key id"))
			v->key_ids[k][VALIDATE_GUID_LEN] = '\0';
}

int compliance_report_decode(const uint8_t *buf, size_t len, struct compliance_report *rep,
			     char *errmsg)
{
	struct reader r = { buf, len, 0, ESC_OK, errmsg };
	struct verr e;
	uint8_t version;

	memset(rep, 0, sizeof *rep);
	version = take_u8(&r, "version");
	if (r.rv == ESC_OK && version != COMPLIANCE_WIRE_VERSION)
		return esc_errorf(errmsg, ESC_EVERSION, "report: unknown format version %u",
				  version);
	rep->n_volumes = take_u8(&r, "volume count");
	take_str(&r, rep->machine, VALIDATE_MACHINE_MAX, "machine");
	take_str(&r, rep->user, VALIDATE_USER_MAX, "user");
	take_str(&r, rep->os, COMPLIANCE_OS_MAX, "os");
	if (r.rv == ESC_OK && (rep->n_volumes < 1 || rep->n_volumes > COMPLIANCE_VOLUMES_MAX))
		r.rv = esc_errorf(errmsg, ESC_ECORRUPT, "report: %u volumes", rep->n_volumes);
	for (unsigned i = 0; i < rep->n_volumes && r.rv == ESC_OK; i++)
		take_volume(&r, &rep->volumes[i]);
	if (r.rv == ESC_OK && r.off != len)
		r.rv = esc_errorf(errmsg, ESC_ECORRUPT, "report: %zu bytes after the last volume",
				  len - r.off);
	if (r.rv == ESC_OK && !compliance_report_check(rep, &e))
		r.rv = esc_errorf(errmsg, ESC_ECORRUPT, "report: %s", e.msg);
	if (r.rv != ESC_OK)
		memset(rep, 0, sizeof *rep);
	return r.rv;
}

void compliance_policy_encode(const struct compliance_policy *p,
			      uint8_t buf[COMPLIANCE_WIRE_POLICY_SIZE])
{
	memset(buf, 0, COMPLIANCE_WIRE_POLICY_SIZE);
	buf[0] = COMPLIANCE_WIRE_VERSION;
	buf[1] = p->os_volume;
	buf[2] = p->fixed_volumes;
	buf[3] = p->removable_volumes;
	byteorder_put_u32(buf + 4, p->methods);
	byteorder_put_u32(buf + 8, p->os_protectors);
	byteorder_put_u16(buf + 12, p->stale_after_days);
	buf[14] = p->break_glass_off ? 1 : 0;
}

int compliance_policy_decode(const uint8_t *buf, size_t len, struct compliance_policy *p,
			     char *errmsg)
{
	struct verr e;

	memset(p, 0, sizeof *p);
	if (len != COMPLIANCE_WIRE_POLICY_SIZE)
		return esc_errorf(errmsg, ESC_ECORRUPT, "policy: %zu bytes, not %d", len,
				  COMPLIANCE_WIRE_POLICY_SIZE);
	if (buf[0] != COMPLIANCE_WIRE_VERSION)
		return esc_errorf(errmsg, ESC_EVERSION, "policy: unknown format version %u",
				  buf[0]);
	if (buf[14] > 1 || buf[15] != 0)
		return esc_errorf(errmsg, ESC_ECORRUPT, "policy: reserved bytes are not zero");
	p->os_volume = buf[1];
	p->fixed_volumes = buf[2];
	p->removable_volumes = buf[3];
	p->methods = byteorder_get_u32(buf + 4);
	p->os_protectors = byteorder_get_u32(buf + 8);
	p->stale_after_days = byteorder_get_u16(buf + 12);
	p->break_glass_off = buf[14] == 1;
	if (!compliance_policy_check(p, &e)) {
		memset(p, 0, sizeof *p);
		return esc_errorf(errmsg, ESC_ECORRUPT, "policy: %s", e.msg);
	}
	return ESC_OK;
}
