/* JSON bodies of the compliance service: reports, the policy, exemptions (see body.h). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "node/body.h"
#include "node/body_internal.h"

#define UNTIL_MAX 64 /* longer than any RFC 3339 time worth reading */

static const char *const report_fields[] = { "machine", "user", "os", "volumes" };
static const char *const volume_fields[] = {
	"volume_id", "volume_type", "protection", "conversion",
	"encryption_method", "percent_encrypted", "protectors", "key_ids",
};
static const char *const policy_fields[] = {
	"os_volume", "fixed_volumes", "removable_volumes",
	"encryption_methods", "os_protectors", "stale_after_days", "break_glass",
};
static const char *const exemption_fields[] = { "until", "note" };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Puts "where: " before the sentence already in e, cutting the sentence
 * short if both do not fit. */
static bool fail_within(struct verr *e, const char *where)
{
	size_t wlen = strnlen(where, sizeof e->msg / 2);
	size_t mlen = strnlen(e->msg, sizeof e->msg - 1);

	if (wlen + 2 + mlen >= sizeof e->msg)
		mlen = sizeof e->msg - 1 - wlen - 2;
	memmove(e->msg + wlen + 2, e->msg, mlen);
	memcpy(e->msg, where, wlen);
	memcpy(e->msg + wlen, ": ", 2);
	e->msg[wlen + 2 + mlen] = '\0';
	return false;
}

/* Refuses (with code) a member of o that is not one of names; what names
 * o in the message ("a volume"). */
static bool only_fields(json_t *o, const char *const *names, size_t n, const char *what,
			const char *code, struct verr *e)
{
	const char *key;
	json_t *value;

	json_object_foreach(o, key, value) {
		size_t i = 0;
		char shown[VALIDATE_ECHO_SIZE];

		while (i < n && strcmp(key, names[i]) != 0)
			i++;
		if (i == n)
			return validate_fail(e, code, "the field \"%s\" is not part of %s.",
					 validate_echo(key, shown), what);
	}
	return true;
}

/* A member that is absent, or null when optional, is not there. */
static json_t *member(json_t *o, const char *name, bool required, struct verr *e, bool *ok)
{
	json_t *v = json_object_get(o, name);

	*ok = true;
	if (v != NULL && !(json_is_null(v) && !required))
		return v;
	if (required)
		*ok = validate_fail(e, "missing_field", "the field %s is required.", name);
	return NULL;
}

/* Reads the word member name of o in kind's vocabulary into *value; an
 * optional one that is not there leaves *value as it was. */
static bool get_word(json_t *o, const char *name, enum compliance_kind kind, bool required,
		     unsigned *value, struct verr *e)
{
	bool ok;
	json_t *v = member(o, name, required, e, &ok);

	if (v == NULL)
		return ok;
	if (!json_is_string(v))
		return validate_fail(e, "invalid_type", "the field %s must be a string.", name);
	return compliance_name_read(kind, json_string_value(v), name, value, e);
}

/* Reads the list of words member name of o (optional) into a set: for a
 * mask kind the bits themselves, else COMPLIANCE_BIT(value). Repeats are
 * harmless. *mask is left as it was when the member is not there. */
static bool get_words(json_t *o, const char *name, enum compliance_kind kind, uint32_t *mask,
		      struct verr *e)
{
	bool ok, bits = kind == COMPLIANCE_KIND_PROTECTOR || kind == COMPLIANCE_KIND_REASON;
	json_t *a = member(o, name, false, e, &ok), *item;
	uint32_t set = 0;
	size_t i;

	if (a == NULL)
		return ok;
	if (!json_is_array(a))
		return validate_fail(e, "invalid_type", "the field %s must be a list of strings.",
				 name);
	json_array_foreach(a, i, item) {
		char where[48];
		unsigned value;

		if (!json_is_string(item))
			return validate_fail(e, "invalid_type", "%s entry %zu must be a string.", name,
					 i + 1);
		snprintf(where, sizeof where, "%s entry %zu", name, i + 1);
		if (!compliance_name_read(kind, json_string_value(item), where, &value, e))
			return false;
		set |= bits ? value : COMPLIANCE_BIT(value);
	}
	*mask = set;
	return true;
}

/* Reads the integer member name of o into *out: a JSON integer (a real such
 * as 100.0 is invalid_type) from min to max (else range_code). An optional
 * one that is not there leaves *out as it was. */
static bool get_integer(json_t *o, const char *name, bool required, json_int_t min,
			json_int_t max, const char *range_code, json_int_t *out, struct verr *e)
{
	bool ok;
	json_t *v = member(o, name, required, e, &ok);

	if (v == NULL)
		return ok;
	if (!json_is_integer(v))
		return validate_fail(e, "invalid_type", "the field %s must be an integer.", name);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return validate_fail(e, range_code,
				 "%s is %" JSON_INTEGER_FORMAT "; it must be %" JSON_INTEGER_FORMAT
				 " to %" JSON_INTEGER_FORMAT ".",
				 name, json_integer_value(v), min, max);
	*out = json_integer_value(v);
	return true;
}

/* key_ids: up to COMPLIANCE_KEY_IDS_MAX GUIDs, normalised into v. */
static bool get_key_ids(json_t *o, struct compliance_volume *v, struct verr *e)
{
	bool ok;
	json_t *a = member(o, "key_ids", false, e, &ok), *item;
	size_t i;

	v->n_key_ids = 0;
	if (a == NULL)
		return ok;
	if (!json_is_array(a))
		return validate_fail(e, "invalid_type", "the field key_ids must be a list of strings.");
	if (json_array_size(a) > COMPLIANCE_KEY_IDS_MAX)
		return validate_fail(e, "too_many_key_ids",
				 "key_ids lists %zu keys; at most %d are allowed.",
				 json_array_size(a), COMPLIANCE_KEY_IDS_MAX);
	json_array_foreach(a, i, item) {
		char where[48];

		if (!json_is_string(item))
			return validate_fail(e, "invalid_type", "key_ids entry %zu must be a string.",
					 i + 1);
		if (!validate_key_id(json_string_value(item), v->key_ids[i], e)) {
			snprintf(where, sizeof where, "key_ids entry %zu", i + 1);
			return fail_within(e, where);
		}
		v->n_key_ids++;
	}
	return true;
}

/* One entry of volumes, its messages without the volume's number. */
static bool volume_fields_read(json_t *o, struct compliance_volume *v, struct verr *e)
{
	unsigned type = 0, protection = 0, conversion = 0, method = 0;
	json_int_t percent = 0;

	if (!json_is_object(o))
		return validate_fail(e, "invalid_type", "each entry of volumes must be a JSON object.");
	if (!only_fields(o, volume_fields, COUNT(volume_fields), "a volume", "unknown_field", e))
		return false;
	if (!body_get_string(o, "volume_id", true, v->volume_id, sizeof v->volume_id, e) ||
	    !validate_volume_id(v->volume_id, e))
		return false;
	if (!get_word(o, "volume_type", COMPLIANCE_KIND_VOLUME_TYPE, true, &type, e) ||
	    !get_word(o, "protection", COMPLIANCE_KIND_PROTECTION, true, &protection, e) ||
	    !get_word(o, "conversion", COMPLIANCE_KIND_CONVERSION, true, &conversion, e) ||
	    !get_word(o, "encryption_method", COMPLIANCE_KIND_METHOD, true, &method, e) ||
	    !get_integer(o, "percent_encrypted", true, 0, 100, "invalid_percent_encrypted",
			 &percent, e) ||
	    !get_words(o, "protectors", COMPLIANCE_KIND_PROTECTOR, &v->protectors, e))
		return false;
	v->volume_type = (uint8_t)type;
	v->protection = (uint8_t)protection;
	v->conversion = (uint8_t)conversion;
	v->method = (uint8_t)method;
	v->percent = (uint8_t)percent;
	return get_key_ids(o, v, e);
}

static bool volumes_read(json_t *o, struct compliance_report *r, struct verr *e)
{
	bool ok;
	json_t *a = member(o, "volumes", true, e, &ok), *item;
	size_t i;

	if (a == NULL)
		return ok;
	if (!json_is_array(a))
		return validate_fail(e, "invalid_type", "the field volumes must be a list of objects.");
	if (json_array_size(a) < 1 || json_array_size(a) > COMPLIANCE_VOLUMES_MAX)
		return validate_fail(e, "invalid_volumes",
				 "a report lists 1 to %d volumes; this one lists %zu.",
				 COMPLIANCE_VOLUMES_MAX, json_array_size(a));
	json_array_foreach(a, i, item) {
		char where[32];

		if (!volume_fields_read(item, &r->volumes[i], e)) {
			snprintf(where, sizeof where, "volume %zu", i + 1);
			return fail_within(e, where);
		}
		r->n_volumes++;
	}
	return true;
}

bool body_compliance(const char *body, size_t len, struct compliance_report *r, struct verr *e)
{
	char machine[VALIDATE_MACHINE_MAX + 2];
	json_t *o = body_load(body, len, e);
	bool ok = false;

	memset(r, 0, sizeof *r);
	if (o == NULL)
		return false;
	if (!only_fields(o, report_fields, COUNT(report_fields), "a report", "unknown_field", e))
		goto out;
	if (!body_get_string(o, "machine", true, machine, sizeof machine, e) ||
	    !validate_machine(machine, r->machine, e))
		goto out;
	if (!body_get_string(o, "user", false, r->user, sizeof r->user, e) ||
	    !validate_user(r->user, e))
		goto out;
	if (!body_get_string(o, "os", false, r->os, sizeof r->os, e))
		goto out;
	if (!volumes_read(o, r, e))
		goto out;
	ok = compliance_report_check(r, e);
out:
	json_decref(o);
	return ok;
}

bool body_policy(const char *body, size_t len, struct compliance_policy *p, struct verr *e)
{
	struct compliance_policy q;
	unsigned os = 0, fixed = 0, removable = 0;
	json_int_t stale = 0;
	json_t *o = body_load(body, len, e), *bg;
	bool ok = false;

	if (o == NULL)
		return false;
	compliance_policy_default(&q);
	os = q.os_volume;
	fixed = q.fixed_volumes;
	removable = q.removable_volumes;
	stale = q.stale_after_days;
	if (!only_fields(o, policy_fields, COUNT(policy_fields), "the policy",
			 "unknown_policy_field", e))
		goto out;
	if (!get_word(o, "os_volume", COMPLIANCE_KIND_REQUIREMENT, false, &os, e) ||
	    !get_word(o, "fixed_volumes", COMPLIANCE_KIND_REQUIREMENT, false, &fixed, e) ||
	    !get_word(o, "removable_volumes", COMPLIANCE_KIND_REQUIREMENT, false, &removable, e) ||
	    !get_words(o, "encryption_methods", COMPLIANCE_KIND_METHOD, &q.methods, e) ||
	    !get_words(o, "os_protectors", COMPLIANCE_KIND_PROTECTOR, &q.os_protectors, e) ||
	    !get_integer(o, "stale_after_days", false, COMPLIANCE_STALE_DAYS_MIN,
			 COMPLIANCE_STALE_DAYS_MAX, "invalid_stale_after_days", &stale, e))
		goto out;
	q.os_volume = (uint8_t)os;
	q.fixed_volumes = (uint8_t)fixed;
	q.removable_volumes = (uint8_t)removable;
	q.stale_after_days = (uint16_t)stale;
	bg = json_object_get(o, "break_glass");
	if (bg != NULL && !json_is_null(bg) && !json_is_boolean(bg)) {
		snprintf(e->code, sizeof e->code, "invalid_type");
		snprintf(e->msg, sizeof e->msg, "break_glass must be true or false");
		goto out;
	}
	q.break_glass_off = json_is_false(bg); /* absent or null: allowed */
	ok = compliance_policy_check(&q, e);
	if (ok)
		*p = q;
out:
	json_decref(o);
	return ok;
}

/* n decimal digits at s into *out; false at anything else, the NUL included,
 * so that a caller reads s[n] only after s[0..n-1] were there. */
static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil); years 0-9999 here. */
static int64_t days_from_civil(int year, int month, int day)
{
	int64_t y = year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* RFC 3339 date-time: YYYY-MM-DD(T|t)HH:MM:SS[.fraction](Z|z|+hh:mm|-hh:mm)
 * into ms since the epoch (the fraction cut to ms; a leap second 60 is the
 * next minute's first). */
static bool time_parse(const char *s, int64_t *ms)
{
	int year, month, day, hour, min, sec, oh = 0, om = 0, frac = 0, sign = 0;
	const char *p;

	if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) || s[7] != '-' ||
	    !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &min) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			if (n < 3)
				frac = frac * 10 + (*p - '0');
		}
		if (n == 0)
			return false;
		for (; n < 3; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		p += 6;
	} else {
		return false;
	}
	if (*p != '\0' || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60)
		return false;
	*ms = ((days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec) -
	       (int64_t)sign * (oh * 3600 + om * 60)) * 1000 + frac;
	return true;
}

bool body_exemption(const char *body, size_t len, int64_t now_ms, int64_t *until_ms, char *note,
		    size_t note_size, struct verr *e)
{
	char until[UNTIL_MAX], text[VALIDATE_NOTE_MAX + 1], shown[VALIDATE_ECHO_SIZE];
	size_t size = note_size < sizeof text ? note_size : sizeof text;
	json_t *o = body_load(body, len, e);
	int64_t ms = 0;
	bool ok = false;

	if (o == NULL)
		return false;
	if (!only_fields(o, exemption_fields, COUNT(exemption_fields), "an exemption",
			 "unknown_field", e) ||
	    !body_get_string(o, "until", true, until, sizeof until, e))
		goto out;
	if (!time_parse(until, &ms)) {
		validate_fail(e, "invalid_until",
			  "until \"%s\" is not an RFC 3339 time such as 2027-01-31T00:00:00Z.",
			  validate_echo(until, shown));
		goto out;
	}
	if (ms <= now_ms) {
		validate_fail(e, "invalid_until", "until \"%s\" is not in the future.",
			  validate_echo(until, shown));
		goto out;
	}
	if (size == 0) {
		validate_fail(e, "invalid_note", "there is no room for a note.");
		goto out;
	}
	if (!body_get_string(o, "note", false, text, size, e) || !validate_note(text, e))
		goto out;
	*until_ms = ms;
	memcpy(note, text, strlen(text) + 1);
	ok = true;
out:
	json_decref(o);
	return ok;
}
