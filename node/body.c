/* JSON request bodies into commands (see body.h). */
#include "node/body.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "node/body_internal.h"
#include "raft/peer_tls.h"

json_t *body_load(const char *body, size_t len, struct verr *e)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

	if (o != NULL && json_is_object(o))
		return o;
	/* Not jerr.text: it quotes the bytes near the error, which may be
	 * part of the recovery password. */
	if (o != NULL)
		validate_fail(e, "invalid_json", "the body must be a JSON object");
	else if (json_error_code(&jerr) == json_error_stack_overflow)
		validate_fail(e, "invalid_json", "the body nests JSON too deeply (at byte %d)",
			  jerr.position);
	else if (json_error_code(&jerr) == json_error_duplicate_key)
		validate_fail(e, "invalid_json", "the body repeats a name in an object (at byte %d)",
			  jerr.position);
	else
		validate_fail(e, "invalid_json", "the body is not valid JSON (at byte %d)",
			  jerr.position);
	json_decref(o);
	return NULL;
}

bool body_get_string(json_t *o, const char *name, bool required, char *out, size_t size,
		     struct verr *e)
{
	json_t *v = json_object_get(o, name);

	out[0] = '\0';
	if (v == NULL || (json_is_null(v) && !required)) {
		if (!required)
			return true;
		return validate_fail(e, "missing_field", "the field %s is required", name);
	}
	if (!json_is_string(v))
		return validate_fail(e, "invalid_type", "the field %s must be a string", name);
	if (json_string_length(v) >= size || strlen(json_string_value(v)) != json_string_length(v)) {
		/* Over-long passwords get the same code as any malformed one. */
		snprintf(e->code, sizeof e->code, "invalid_%s%s", name,
			 strcmp(name, "recovery_password") == 0 ? "_format" : "");
		snprintf(e->msg, sizeof e->msg, "the field %s is too long or holds a NUL", name);
		return false;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

bool body_escrow(const char *body, size_t len, struct cmd *c, char pw[BODY_PASSWORD_SIZE],
		 struct verr *e)
{
	char key_id[128], machine[VALIDATE_MACHINE_MAX + 2];
	json_t *o = body_load(body, len, e);
	bool ok = false;

	pw[0] = '\0';
	if (o == NULL)
		goto out;
	if (!body_get_string(o, "key_id", true, key_id, sizeof key_id, e) ||
	    !validate_key_id(key_id, c->key_id, e))
		goto out;
	if (!body_get_string(o, "recovery_password", true, pw, BODY_PASSWORD_SIZE, e) ||
	    !validate_recovery_password(pw, e))
		goto out;
	if (!body_get_string(o, "volume_id", true, c->volume_id, sizeof c->volume_id, e) ||
	    !validate_volume_id(c->volume_id, e))
		goto out;
	if (!body_get_string(o, "volume_type", true, c->volume_type, sizeof c->volume_type, e) ||
	    !validate_volume_type(c->volume_type, e))
		goto out;
	if (!body_get_string(o, "machine", true, machine, sizeof machine, e) ||
	    !validate_machine(machine, c->machine, e))
		goto out;
	if (!body_get_string(o, "user", false, c->user, sizeof c->user, e) ||
	    (c->user[0] != '\0' && !validate_user(c->user, e)))
		goto out;
	if (!body_get_string(o, "tpm_owner_hash", false, c->tpm_owner_hash,
			     sizeof c->tpm_owner_hash, e) ||
	    (c->tpm_owner_hash[0] != '\0' && !validate_tpm_owner_hash(c->tpm_owner_hash, e)))
		goto out;
	ok = true;
out:
	if (!ok)
		OPENSSL_cleanse(pw, BODY_PASSWORD_SIZE);
	/* jansson keeps its own copy of the password: wipe it before freeing. */
	if (o != NULL) {
		json_t *v = json_object_get(o, "recovery_password");
		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	}
	json_decref(o);
	return ok;
}

bool body_member(const char *body, size_t len, struct bootstrap_member *m)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_int_t id = 0;
	const char *raft = NULL, *api = NULL, *role = "voter";
	bool ok;

	ok = o != NULL && json_unpack(o, "{s:I, s:s, s:s, s?:s}", "id", &id, "raft", &raft, "api",
				      &api, "role", &role) == 0;
	ok = ok && id >= 1 && id <= 65535 && addr_parse(raft, NULL) && addr_parse(api, NULL) &&
	     strlen(raft) <= PEER_TLS_ADDRESS_MAX && strlen(raft) < sizeof m->raft &&
	     strlen(api) < sizeof m->api &&
	     strcmp(role, "voter") == 0;
	if (ok) {
		m->id = (unsigned)id;
		snprintf(m->raft, sizeof m->raft, "%s", raft);
		snprintf(m->api, sizeof m->api, "%s", api);
	}
	json_decref(o);
	return ok;
}

bool body_transfer(const char *body, size_t len, unsigned *id)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_int_t v = 0;
	bool ok = o != NULL && json_is_object(o) && json_unpack(o, "{s?:I}", "id", &v) == 0 &&
		  v >= 0 && v <= 65535;

	json_decref(o);
	*id = ok ? (unsigned)v : 0;
	return ok;
}
