/* escrowctl status: the cluster as seen by one node, and each member's own view. */
#include <stdlib.h>
#include <string.h>

#include "tools/ctl/ctl_commands.h"

#define STATUS_MEMBER_TIMEOUT_MS 1000L /* each member's own /v1/status */
#define STATUS_DIGEST_SHOWN 16         /* characters of state_digest in the table */

/* One member of the answering node's "members" list and what it said itself. */
struct member {
	const json_t *entry; /* borrowed from the first answer */
	json_t *own;         /* its own /v1/status, or NULL */
	const json_t *reachable; /* true, false, or NULL (unknown): see status_reach */
	char error[ESC_ERRMSG_SIZE];
	char url[CTL_URL_MAX + 32];
};

/* Fetches every member's own status in parallel; sets m[i].own or m[i].error. */
static int status_fetch_members(struct ctl_ctx *ctx, const char *scheme,
				struct member *m, size_t n)
{
	char errmsg[ESC_ERRMSG_SIZE];
	struct ctl_fetch *f;
	json_error_t jerr;
	size_t *idx, i, j, k = 0;
	int rv;

	f = calloc(n ? n : 1, sizeof(*f));
	idx = calloc(n ? n : 1, sizeof(*idx));
	if (f == NULL || idx == NULL) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "status: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *api = json_string_value(json_object_get(m[i].entry, "api"));

		/* "ip:port" only: anything else could point the URL elsewhere. */
		if (api == NULL || *api == '\0' || strlen(api) >= CTL_URL_MAX ||
		    strpbrk(api, "/?#@\\ \t\r\n") != NULL) {
			snprintf(m[i].error, sizeof(m[i].error), "no usable api address");
			continue;
		}
		snprintf(m[i].url, sizeof(m[i].url), "%s://%s/v1/status", scheme, api);
		f[k].url = m[i].url;
		idx[k++] = i;
	}
	if (ctl_client_fetch_all(&ctx->client, f, k, STATUS_MEMBER_TIMEOUT_MS,
				 errmsg) != ESC_OK) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "status: %s", errmsg);
		goto out;
	}
	for (j = 0; j < k; j++) {
		i = idx[j];
		if (f[j].err != ESC_OK) {
			snprintf(m[i].error, sizeof(m[i].error), "%s", f[j].errmsg);
			continue;
		}
		if (f[j].resp.status != 200) {
			ctl_response_error(&f[j].resp, m[i].error, sizeof(m[i].error));
		} else {
			m[i].own = json_loadb(f[j].resp.body, f[j].resp.body_len, 0, &jerr);
			if (!json_is_object(m[i].own)) {
				json_decref(m[i].own);
				m[i].own = NULL;
				snprintf(m[i].error, sizeof(m[i].error),
					 "malformed status JSON");
			}
		}
		ctl_response_close(&f[j].resp);
	}
	rv = CTL_EXIT_OK;
out:
	free(idx);
	free(f);
	return rv;
}

/* The "members" list of the leader's own status, from the first answer or a
 * member's: the one view in which each member's "reachable" means
 * something, as the leader hears from every member through replication (a
 * follower knows only itself and the leader). NULL when escrowctl got no
 * leader's status. With two leaders (one deposed, not yet aware), the one of
 * the higher term. */
static const json_t *status_leader_members(const json_t *first, const struct member *m,
					   size_t n)
{
	const json_t *best = NULL, *st;
	const char *role;
	size_t i;

	for (i = 0; i <= n; i++) {
		st = i < n ? m[i].own : first;
		role = json_string_value(json_object_get(st, "role"));
		if (role == NULL || strcmp(role, "leader") != 0 ||
		    !json_is_array(json_object_get(st, "members")))
			continue;
		if (best == NULL || json_integer_value(json_object_get(st, "term")) >
					    json_integer_value(json_object_get(best, "term")))
			best = st;
	}
	return best != NULL ? json_object_get(best, "members") : NULL;
}

/* Sets each m[i].reachable: true when escrowctl got the member's own
 * status; else what the leader says (its "reachable" for that member id);
 * else NULL, unknown. A follower's "reachable" is never used: it knows
 * nothing of the other followers and says false for them. */
static void status_reach(const json_t *first, struct member *m, size_t n)
{
	const json_t *leader_members = status_leader_members(first, m, n), *e, *v;
	size_t i, j;

	for (i = 0; i < n; i++) {
		m[i].reachable = NULL;
		if (m[i].own != NULL) {
			m[i].reachable = json_true();
			continue;
		}
		json_array_foreach(leader_members, j, e) {
			v = json_object_get(e, "reachable");
			if (json_equal(json_object_get(e, "id"),
				       json_object_get(m[i].entry, "id")) && json_is_boolean(v))
				m[i].reachable = v;
		}
	}
}

/* {"nodes":[each member's own status or {"id","api","error"}, with
 * "reachable": true, false or null], "via": first answer} */
static int status_print_json(const json_t *first, struct member *m, size_t n)
{
	json_t *out, *nodes, *e;
	size_t i;
	char *text;
	int rv = CTL_EXIT_OK;

	out = json_object();
	nodes = json_array();
	if (out == NULL || nodes == NULL || json_object_set_new(out, "nodes", nodes) != 0) {
		json_decref(out);
		return ctl_fail(CTL_EXIT_REFUSED, "status: out of memory");
	}
	for (i = 0; i < n; i++) {
		if (m[i].own != NULL)
			e = json_copy(m[i].own);
		else
			e = json_pack("{s:O?, s:O?, s:s}", "id", json_object_get(m[i].entry, "id"),
				      "api", json_object_get(m[i].entry, "api"), "error",
				      m[i].error);
		if (e == NULL ||
		    json_object_set(e, "reachable", m[i].reachable ? (json_t *)m[i].reachable
								   : json_null()) != 0 ||
		    json_array_append_new(nodes, e) != 0) {
			rv = ctl_fail(CTL_EXIT_REFUSED, "status: out of memory");
			goto out;
		}
	}
	if (json_object_set(out, "via", (json_t *)first) != 0) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "status: out of memory");
		goto out;
	}
	text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "status: out of memory");
		goto out;
	}
	printf("%s\n", text);
	free(text);
out:
	json_decref(out);
	return rv;
}

/* Warns when two members at the same applied index have different digests:
 * their replicated state diverged. */
static void status_check_digests(struct member *m, size_t n)
{
	const char *di, *dj;
	json_int_t ai, aj;
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (m[i].own == NULL)
			continue;
		ai = json_integer_value(json_object_get(m[i].own, "applied_index"));
		di = json_string_value(json_object_get(m[i].own, "state_digest"));
		for (j = i + 1; j < n && di != NULL; j++) {
			if (m[j].own == NULL)
				continue;
			aj = json_integer_value(json_object_get(m[j].own, "applied_index"));
			dj = json_string_value(json_object_get(m[j].own, "state_digest"));
			if (ai == aj && dj != NULL && strcmp(di, dj) != 0)
				fprintf(stderr, "escrowctl: warning: members at %s and %s have "
					"applied index %" JSON_INTEGER_FORMAT " but different "
					"state digests\n", m[i].url, m[j].url, ai);
		}
	}
}

static int status_print_table(const json_t *first, const struct ctl_response *r,
			      struct member *m, size_t n)
{
	static const char *const header[] = {
		"ID", "ROLE", "API", "LEADER", "REACHABLE", "STATE", "TERM", "COMMIT",
		"APPLIED", "DIGEST",
	};
	char id[32], role[64], api[128], reach[16], state[64], term[32], commit[32];
	char applied[32], digest[STATUS_DIGEST_SHOWN + 1], v[4][256];
	const char *row[10];
	const json_t *leader;
	struct ctl_table t;
	size_t i;
	int rv;

	leader = json_object_get(json_object_get(first, "leader"), "id");
	printf("cluster %s, answered by node %s at %s\n",
	       ctl_field(first, "cluster_id", v[0], sizeof(v[0])),
	       ctl_field(first, "id", id, sizeof(id)), r->node);
	printf("node %s: %s, term %s, commit %s, applied %s\n", id,
	       ctl_field(first, "role", v[1], sizeof(v[1])),
	       ctl_field(first, "term", v[2], sizeof(v[2])),
	       ctl_field(first, "commit_index", v[3], sizeof(v[3])),
	       ctl_field(first, "applied_index", v[0], sizeof(v[0])));
	printf("state_digest %s\n\n", ctl_field(first, "state_digest", v[0], sizeof(v[0])));
	ctl_table_init(&t, 10, header);
	for (i = 0; i < n; i++) {
		const json_t *e = m[i].entry, *own = m[i].own;

		ctl_field(e, "id", id, sizeof(id));
		row[0] = id;
		row[1] = ctl_field(e, "role", role, sizeof(role));
		row[2] = ctl_field(e, "api", api, sizeof(api));
		row[3] = (leader != NULL && json_equal((json_t *)leader,
						       json_object_get(e, "id"))) ? "*" : "";
		snprintf(reach, sizeof(reach), "%s", json_is_true(m[i].reachable) ? "yes" :
			 json_is_false(m[i].reachable) ? "no" : "?");
		row[4] = reach;
		if (own == NULL) {
			row[5] = "unreachable";
			row[6] = row[7] = row[8] = row[9] = "-";
		} else {
			row[5] = ctl_field(own, "role", state, sizeof(state));
			row[6] = ctl_field(own, "term", term, sizeof(term));
			row[7] = ctl_field(own, "commit_index", commit, sizeof(commit));
			row[8] = ctl_field(own, "applied_index", applied, sizeof(applied));
			row[9] = ctl_field(own, "state_digest", digest, sizeof(digest));
		}
		ctl_table_add(&t, row);
	}
	rv = ctl_table_print(&t, stdout);
	ctl_table_close(&t);
	fflush(stdout);
	for (i = 0; i < n; i++)
		if (m[i].own == NULL)
			fprintf(stderr, "escrowctl: member %s: %s\n",
				ctl_field(m[i].entry, "id", id, sizeof(id)), m[i].error);
	return rv;
}

int ctl_cmd_status(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CTL_OPTS_COMMON };
	struct member *m = NULL;
	struct ctl_response r;
	json_t *first, *members;
	size_t i, n;
	int rv;

	while (ctl_getopt(ctx, argc, argv, opts, &rv) != -1)
		;
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind]);
	rv = ctl_call(ctx, "GET", "/v1/status", NULL, &r);
	if (rv != CTL_EXIT_OK)
		return rv;
	first = ctl_parse_object(&r);
	if (first == NULL) {
		rv = CTL_EXIT_REFUSED;
		goto out_resp;
	}
	members = json_object_get(first, "members");
	if (!json_is_array(members)) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "%s answered without a \"members\" list", r.node);
		goto out_first;
	}
	n = json_array_size(members);
	m = calloc(n ? n : 1, sizeof(*m));
	if (m == NULL) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "status: out of memory");
		goto out_first;
	}
	for (i = 0; i < n; i++)
		m[i].entry = json_array_get(members, i);
	rv = status_fetch_members(ctx, ctl_scheme_of(r.node), m, n);
	if (rv != CTL_EXIT_OK)
		goto out_members;
	status_reach(first, m, n);
	if (ctx->json) {
		rv = status_print_json(first, m, n);
	} else {
		rv = status_print_table(first, &r, m, n);
		status_check_digests(m, n);
	}
out_members:
	for (i = 0; i < n; i++)
		json_decref(m[i].own);
	free(m);
out_first:
	json_decref(first);
out_resp:
	ctl_response_close(&r);
	return rv;
}
