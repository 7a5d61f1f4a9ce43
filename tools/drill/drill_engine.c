/* The drill engine (see drill_engine.h): workload and read-back; the
 * summary is in drill_summary.c. */
#include "tools/drill/drill_engine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "tools/client/ctl_password.h"
#include "tools/drill/drill_comply.h"

volatile sig_atomic_t drill_interrupted;

enum drill_outcome drill_fail(enum drill_outcome o, const char *fmt, ...)
{
	va_list ap;

	fputs("escrowctl: drill: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return o;
}

double drill_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t body_cb(char *p, size_t size, size_t nmemb, void *data)
{
	struct dslot *s = data;
	size_t n = size * nmemb, room = sizeof s->resp - 1 - s->resp_len;

	if (room > n)
		room = n;
	memcpy(s->resp + s->resp_len, p, room);
	s->resp_len += room;
	s->resp[s->resp_len] = '\0';
	return n;
}

double drill_since(const struct drill *d)
{
	return drill_now_ms() - d->t0;
}

static const char *node_url(struct drill *d, uint64_t n)
{
	return d->client->nodes[n % d->client->n_nodes];
}

/* The role a kind of request needs. */
static enum dpki_role role_of(const struct dslot *s)
{
	if (s->status)
		return DPKI_OPERATOR;
	switch (s->op.kind) {
	case DRILL_ESCROW:
	case DRILL_UPLOAD:
		return DPKI_AGENT;
	default:
		return DPKI_HELPDESK;
	}
}

/* Makes h show the certificate of role, when the drill has one of its own
 * (libcurl reuses a connection only for the same certificate). */
static void present(const struct drill *d, CURL *h, enum dpki_role role)
{
	if (d->as[role].cert == NULL)
		return;
	curl_easy_setopt(h, CURLOPT_SSLCERT, d->as[role].cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, d->as[role].key);
}

/* The client shows role's certificate (when the drill has one) until
 * unwear; returns what it showed before. */
static struct drill_identity wear(struct drill *d, enum dpki_role role)
{
	struct ctl_client *c = d->client;
	struct drill_identity was = { c->cert, c->key };

	if (d->as[role].cert != NULL) {
		c->cert = d->as[role].cert;
		c->key = d->as[role].key;
	}
	return was;
}

static void unwear(struct drill *d, struct drill_identity was)
{
	d->client->cert = was.cert;
	d->client->key = was.key;
}

int drill_engine_request(struct drill *d, enum dpki_role role, const char *method,
			 const char *path, struct ctl_response *r, char *errmsg)
{
	struct drill_identity was = wear(d, role);
	int rv = ctl_client_request(d->client, method, path, NULL, r, errmsg);

	unwear(d, was);
	return rv;
}

int drill_engine_fetch(struct drill *d, enum dpki_role role, struct ctl_fetch *f,
		       long timeout_ms)
{
	struct drill_identity was = wear(d, role);
	char errmsg[ESC_ERRMSG_SIZE];
	int rv = ctl_client_fetch_all(d->client, f, 1, timeout_ms, errmsg);

	unwear(d, was);
	return rv == ESC_OK ? f->err : rv;
}

/* Sends s->path to node s->op.node. A key read goes on a connection of its
 * own: libcurl sends a GET again by itself when a kept-alive connection dies
 * before the answer, and a read sent twice is audited twice (the server saw
 * two), which the history would not show. */
static enum drill_outcome queue(struct drill *d, struct dslot *s)
{
	bool read = !s->status && (s->op.kind == DRILL_LOOKUP || s->op.kind == DRILL_READBACK);

	present(d, s->h, role_of(s));
	curl_easy_setopt(s->h, CURLOPT_FRESH_CONNECT, read ? 1L : 0L);
	snprintf(s->url, sizeof s->url, "%s%s", node_url(d, s->op.node), s->path);
	curl_easy_setopt(s->h, CURLOPT_URL, s->url);
	s->resp_len = 0;
	s->resp[0] = '\0';
	s->errbuf[0] = '\0';
	s->op.start_ms = drill_since(d);
	if (curl_multi_add_handle(d->m, s->h) != CURLM_OK)
		return drill_fail(DRILL_OUTCOME_FAILED, "libcurl cannot queue a request");
	s->busy = true;
	return DRILL_OUTCOME_OK;
}

/* The next node in turn, for a new request. */
static uint16_t next_node(struct drill *d)
{
	return (uint16_t)(d->next_node++ % d->client->n_nodes);
}

static enum drill_outcome start_escrow(struct drill *d, struct dslot *s)
{
	char key_id[DRILL_KEY_ID_LEN + 1], pw[CTL_PASSWORD_SIZE];
	const uint8_t *r = d->run_id;
	long k;

	snprintf(key_id, sizeof key_id, "%02X%02X%02X%02X-%02X%02X-D811-0000-%012" PRIX64,
		 r[0], r[1], r[2], r[3], r[4], r[5], (uint64_t)d->h.n_keys);
	if (ctl_random_password(pw) != ESC_OK)
		return drill_fail(DRILL_OUTCOME_FAILED, "getrandom failed");
	k = drill_key_add(&d->h, key_id, pw);
	if (k < 0) {
		d->nomem = true;
		return DRILL_OUTCOME_OK;
	}
	memset(&s->op, 0, sizeof s->op);
	s->op.kind = DRILL_ESCROW;
	s->op.key = (uint32_t)k;
	s->op.node = next_node(d);
	s->attempts = 1;
	snprintf(s->body, sizeof s->body,
		 "{\"key_id\":\"%s\",\"recovery_password\":\"%s\",\"volume_id\":\"drill-%ld\","
		 "\"volume_type\":\"os\",\"machine\":\"%s\"}",
		 key_id, pw, k, d->machine);
	snprintf(s->path, sizeof s->path, "/v1/keys");
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
	return queue(d, s);
}

/* The key the n-th lookup reads: the acknowledged ones from the newest
 * back, round and round, passing over keys kept for break-glass lookups
 * (one in DRILL_KEPT_EVERY: the one after a kept key is not). */
static uint32_t lookup_key(const struct drill *d, uint64_t n)
{
	size_t i = d->n_acked - 1 - n % d->n_acked;

	if (d->h.keys[d->acked[i]].reserved)
		i = i + 1 < d->n_acked ? i + 1 : i - 1;
	return d->acked[i];
}

static enum drill_outcome start_lookup(struct drill *d, struct dslot *s, enum drill_kind kind,
				       uint32_t key)
{
	memset(&s->op, 0, sizeof s->op);
	s->op.kind = kind;
	s->op.key = key;
	s->op.node = next_node(d);
	s->attempts = 1;
	snprintf(s->path, sizeof s->path, "/v1/keys/%s?reason=other&note=escrowctl%%20drill",
		 d->h.keys[key].key_id);
	curl_easy_setopt(s->h, CURLOPT_HTTPGET, 1L);
	return queue(d, s);
}

static enum drill_outcome start_upload(struct drill *d, struct dslot *s)
{
	uint32_t seq;

	if (!drill_comply_body(d, s->body, sizeof s->body, &seq)) {
		d->nomem = true;
		return DRILL_OUTCOME_OK;
	}
	memset(&s->op, 0, sizeof s->op);
	s->op.kind = DRILL_UPLOAD;
	s->op.upload = seq;
	s->op.node = next_node(d);
	s->attempts = 1;
	snprintf(s->path, sizeof s->path, "/v1/compliance");
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
	return queue(d, s);
}

static enum drill_outcome start_status(struct drill *d, struct dslot *s)
{
	memset(&s->op, 0, sizeof s->op);
	s->op.node = (uint16_t)(d->status_node++ % d->client->n_nodes);
	snprintf(s->path, sizeof s->path, "/v1/status");
	curl_easy_setopt(s->h, CURLOPT_HTTPGET, 1L);
	return queue(d, s);
}

void drill_error_code(const char *body, long status, char *out, size_t size)
{
	json_t *j = json_loads(body, 0, NULL);
	const char *code = NULL;

	if (j != NULL)
		json_unpack(json_object_get(j, "error"), "{s:s}", "code", &code);
	if (code != NULL)
		snprintf(out, size, "%ld %.30s", status, code);
	else
		snprintf(out, size, "HTTP %ld", status);
	json_decref(j);
}

/* What a finished request says about the cluster. */
static void classify(struct drill *d, struct dslot *s, CURLcode cc, long status)
{
	struct drill_op *o = &s->op;
	bool read = o->kind == DRILL_LOOKUP || o->kind == DRILL_READBACK;

	if (cc != CURLE_OK) {
		/* A request that never reached a node changed nothing. */
		bool unsent = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST;
		o->result = unsent ? DRILL_FAILED : DRILL_UNKNOWN;
		snprintf(o->code, sizeof o->code, "%s",
			 cc == CURLE_OPERATION_TIMEDOUT ? "timeout" : unsent ? "connect" : "transport");
		return;
	}
	if (!read && (status == 200 || status == 201)) {
		o->result = DRILL_OK;
		/* An answer without its rotate_key_ids cannot be checked. */
		if (o->kind == DRILL_UPLOAD && !drill_comply_answer(d, o->upload, s->resp)) {
			o->result = DRILL_UNKNOWN;
			snprintf(o->code, sizeof o->code, "%ld unreadable answer", status);
		}
		return;
	}
	if (read && status == 200) {
		json_t *j = json_loads(s->resp, 0, NULL);
		const char *pw = NULL;
		json_unpack(j, "{s:s}", "recovery_password", &pw);
		o->result = pw != NULL && strcmp(pw, d->h.keys[o->key].password) == 0 ? DRILL_OK
										    : DRILL_WRONG;
		json_decref(j);
		return;
	}
	drill_error_code(s->resp, status, o->code, sizeof o->code);
	if (read && status == 404) {
		o->result = DRILL_NOT_FOUND;
		return;
	}
	/* A write refused with 4xx was not applied; a 5xx may hide a commit
	 * (the leader applied it, the answer was lost). */
	o->result = !read && status >= 500 ? DRILL_UNKNOWN : DRILL_FAILED;
}

static void note_leader(struct drill *d, long leader)
{
	if (leader == d->leader && d->n_leaders > 0)
		return;
	d->leader = leader;
	if (d->n_leaders < DRILL_LEADERS_MAX) {
		d->leaders[d->n_leaders].at_ms = drill_since(d);
		d->leaders[d->n_leaders++].leader = leader;
	}
}

static void finish(struct drill *d, struct dslot *s, CURLcode cc)
{
	long status = 0;

	curl_multi_remove_handle(d->m, s->h);
	s->busy = false;
	if (cc == CURLE_OK)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	if (s->status) {
		json_t *j = cc == CURLE_OK && status == 200 ? json_loads(s->resp, 0, NULL) : NULL;
		json_int_t id = 0;
		if (j != NULL && json_unpack(j, "{s:{s:I}}", "leader", "id", &id) == 0)
			note_leader(d, (long)id);
		json_decref(j);
		return;
	}
	/* Like an agent, a request that reached no node goes to the next one:
	 * what counts is whether the cluster answered. */
	if ((cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) &&
	    s->attempts < d->client->n_nodes) {
		double started = s->op.start_ms;
		s->attempts++;
		s->op.node = (uint16_t)((s->op.node + 1) % d->client->n_nodes);
		d->failovers++;
		if (queue(d, s) != DRILL_OUTCOME_OK)
			d->nomem = true;
		s->op.start_ms = started;
		return;
	}
	classify(d, s, cc, status);
	s->op.end_ms = drill_since(d);
	if (!drill_op_add(&d->h, &s->op))
		d->nomem = true;
	d->sec_ok += s->op.result == DRILL_OK;
	d->sec_failed += s->op.result == DRILL_FAILED || s->op.result == DRILL_NOT_FOUND ||
			 s->op.result == DRILL_WRONG;
	d->sec_unknown += s->op.result == DRILL_UNKNOWN;
	if (s->op.kind == DRILL_ESCROW && s->op.result == DRILL_OK) {
		if (d->n_acked == d->cap_acked) {
			size_t cap = d->cap_acked ? d->cap_acked * 2 : 256;
			uint32_t *a = realloc(d->acked, cap * sizeof *a);
			if (a == NULL) {
				d->nomem = true;
				return;
			}
			d->acked = a;
			d->cap_acked = cap;
		}
		d->acked[d->n_acked++] = s->op.key;
		/* Some keys are never looked up by the load: break-glass lookups
		 * take them, so that their disclosure is the replay's alone. */
		d->h.keys[s->op.key].reserved = d->n_acked % DRILL_KEPT_EVERY == 0;
	}
	if (s->op.kind == DRILL_LOOKUP && s->op.result == DRILL_OK)
		drill_comply_disclosed(d, s->op.key);
	if (s->op.kind == DRILL_READBACK) {
		bool settled = s->op.result == DRILL_OK || s->op.result == DRILL_NOT_FOUND ||
			       s->op.result == DRILL_WRONG;
		if (settled) {
			if (d->rb_retry_at[s->op.key] != 0)
				d->rb_left--;
			d->rb_retry_at[s->op.key] = 0;
		} else {
			d->rb_retry_at[s->op.key] = drill_now_ms() + DRILL_RETRY_MS;
		}
	}
}

/* Runs the multi handle for up to wait_ms and accounts for what finished. */
static enum drill_outcome pump(struct drill *d, int wait_ms)
{
	int running, left;
	CURLMsg *msg;

	if (curl_multi_perform(d->m, &running) != CURLM_OK ||
	    curl_multi_poll(d->m, NULL, 0, wait_ms, NULL) != CURLM_OK ||
	    curl_multi_perform(d->m, &running) != CURLM_OK)
		return drill_fail(DRILL_OUTCOME_FAILED, "libcurl multi interface failed");
	while ((msg = curl_multi_info_read(d->m, &left)) != NULL) {
		void *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		finish(d, priv, msg->data.result);
	}
	return d->nomem ? drill_fail(DRILL_OUTCOME_FAILED, "out of memory") : DRILL_OUTCOME_OK;
}

static struct dslot *free_slot(struct drill *d)
{
	for (size_t i = 0; i < d->opts.n_slots; i++)
		if (!d->slots[i].busy)
			return &d->slots[i];
	return NULL;
}

static size_t busy_slots(const struct drill *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->opts.n_slots; i++)
		n += d->slots[i].busy;
	return n;
}

static void second_line(struct drill *d, double t)
{
	char leader[24] = "none";

	if (d->leader > 0)
		snprintf(leader, sizeof leader, "%ld", d->leader);
	fprintf(stderr, "drill: %4.0f s  ok %4" PRIu64 "  failed %3" PRIu64 "  unknown %3" PRIu64
		"  leader %s  acknowledged %zu\n",
		t / 1e3, d->sec_ok, d->sec_failed, d->sec_unknown, leader, d->n_acked);
	d->sec_ok = d->sec_failed = d->sec_unknown = 0;
}

/* The workload: one request every 1/rate s, each to the next node: one in
 * four a compliance report of the canary machine (once a key is
 * acknowledged), the others two escrows for one lookup of an acknowledged
 * key; the status slot asks for the leader once a second. */
enum drill_outcome drill_engine_workload(struct drill *d)
{
	struct dslot *st = &d->slots[d->opts.n_slots];
	double next_line = 1000, next_status = 0, t;
	enum drill_outcome rv;

	for (;;) {
		t = drill_since(d);
		bool stopping = t >= d->opts.duration_ms || drill_interrupted;
		if (stopping && busy_slots(d) == 0 && !st->busy)
			return DRILL_OUTCOME_OK;
		while (!stopping && (double)d->issued < t * d->opts.rate / 1e3) {
			struct dslot *s = free_slot(d);
			if (s == NULL)
				break; /* every slot waits on a slow answer: no more load */
			uint64_t j = d->key_requests;
			if (d->n_acked > 0 && d->issued % 4 == 3) {
				rv = start_upload(d, s);
			} else {
				d->key_requests++;
				rv = d->n_acked > 0 && j % 3 == 2 ?
					     start_lookup(d, s, DRILL_LOOKUP, lookup_key(d, j / 3)) :
					     start_escrow(d, s);
			}
			if (rv != DRILL_OUTCOME_OK)
				return rv;
			d->issued++;
		}
		if (!stopping && !st->busy && t >= next_status) {
			if ((rv = start_status(d, st)) != DRILL_OUTCOME_OK)
				return rv;
			next_status = t + 1000;
		}
		if (d->tick != NULL)
			d->tick(d, t);
		if ((rv = pump(d, 10)) != DRILL_OUTCOME_OK)
			return rv;
		if (t >= next_line) {
			second_line(d, t);
			next_line += 1000;
		}
	}
}

long drill_engine_key_index(const struct drill *d, const char *key_id)
{
	char prefix[32];
	const uint8_t *r = d->run_id;
	char *end;
	unsigned long long k;

	snprintf(prefix, sizeof prefix, "%02X%02X%02X%02X-%02X%02X-D811-0000-", r[0], r[1], r[2],
		 r[3], r[4], r[5]);
	if (strncasecmp(key_id, prefix, strlen(prefix)) != 0)
		return -1;
	k = strtoull(key_id + strlen(prefix), &end, 16);
	return *end == '\0' && k < d->h.n_keys ? (long)k : -1;
}

/* Reads back every acknowledged key, retrying those that got no answer
 * until DRILL_READBACK_S pass without a key read back (a busy cluster may
 * take minutes over thousands of keys), DRILL_READBACK_MAX_S at most. */
enum drill_outcome drill_engine_readback(struct drill *d)
{
	double start = drill_now_ms(), deadline = start + DRILL_READBACK_S * 1e3;
	double next_line = start + 1000;
	size_t left = d->n_acked;
	enum drill_outcome rv;

	d->rb_retry_at = calloc(d->h.n_keys + 1, sizeof *d->rb_retry_at);
	if (d->rb_retry_at == NULL)
		return drill_fail(DRILL_OUTCOME_FAILED, "out of memory");
	for (size_t i = 0; i < d->n_acked; i++)
		d->rb_retry_at[d->acked[i]] = 1;
	d->rb_left = d->n_acked;
	if (!d->opts.json)
		fprintf(stderr, "drill: reading back %zu acknowledged keys\n", d->n_acked);
	while (d->rb_left > 0 || busy_slots(d) > 0) {
		double now = drill_now_ms();
		bool over;

		if (d->rb_left < left) {
			left = d->rb_left;
			deadline = now + DRILL_READBACK_S * 1e3;
		}
		over = now >= deadline || now >= start + DRILL_READBACK_MAX_S * 1e3 ||
		       drill_interrupted > 1;

		for (size_t i = 0; !over && i < d->n_acked; i++) {
			uint32_t k = d->acked[(d->rb_next + i) % d->n_acked];
			struct dslot *s;
			/* 0: settled; below 0: in flight; else when it is due */
			if (d->rb_retry_at[k] <= 0 || d->rb_retry_at[k] > now)
				continue;
			if ((s = free_slot(d)) == NULL)
				break;
			d->rb_retry_at[k] = -1; /* in flight */
			if ((rv = start_lookup(d, s, DRILL_READBACK, k)) != DRILL_OUTCOME_OK)
				return rv;
		}
		d->rb_next++;
		if (over && busy_slots(d) == 0)
			break;
		if ((rv = pump(d, 10)) != DRILL_OUTCOME_OK)
			return rv;
		if (now >= next_line) {
			fprintf(stderr, "drill: read-back: %zu keys left\n", d->rb_left);
			next_line += 1000;
		}
	}
	return DRILL_OUTCOME_OK;
}

void drill_engine_init(struct drill *d, struct ctl_client *client,
		       const struct drill_opts *o)
{
	memset(d, 0, sizeof *d);
	d->client = client;
	d->opts = *o;
}

enum drill_outcome drill_engine_setup(struct drill *d)
{
	uint8_t rnd[2];

	d->m = curl_multi_init();
	d->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (d->m == NULL || d->headers == NULL)
		return drill_fail(DRILL_OUTCOME_FAILED, "libcurl cannot start");
	if (getrandom(d->run_id, sizeof d->run_id, 0) != (ssize_t)sizeof d->run_id ||
	    getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return drill_fail(DRILL_OUTCOME_FAILED, "getrandom failed");
	/* Canary keys are marked by their machine: escrow-drill-RUN. */
	snprintf(d->machine, sizeof d->machine, "escrow-drill-%02x%02x%02x%02x", d->run_id[0],
		 d->run_id[1], d->run_id[2], d->run_id[3]);
	for (size_t i = 0; i <= d->opts.n_slots; i++) {
		struct dslot *s = &d->slots[i];
		s->d = d;
		s->status = i == d->opts.n_slots;
		s->h = curl_easy_init();
		if (s->h == NULL)
			return drill_fail(DRILL_OUTCOME_FAILED, "libcurl cannot start");
		ctl_client_setup_easy(d->client, s->h,
				      s->status ? 1000 : d->opts.request_timeout_ms);
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, d->headers);
		curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, body_cb);
		curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
		curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
	}
	return DRILL_OUTCOME_OK;
}

void drill_engine_teardown(struct drill *d)
{
	for (size_t i = 0; i <= d->opts.n_slots; i++) {
		if (d->slots[i].h == NULL)
			continue;
		if (d->slots[i].busy)
			curl_multi_remove_handle(d->m, d->slots[i].h);
		curl_easy_cleanup(d->slots[i].h);
	}
	if (d->m != NULL)
		curl_multi_cleanup(d->m);
	curl_slist_free_all(d->headers);
	for (size_t k = 0; k < d->h.n_keys; k++)
		explicit_bzero(d->h.keys[k].password, sizeof d->h.keys[k].password);
	drill_history_free(&d->h);
	free(d->acked);
	free(d->rb_retry_at);
}

enum drill_outcome drill_engine_verdict(const struct drill_report *r)
{
	if (r->acked == 0 && r->escrows > 0 && r->lookups_ok == 0)
		return DRILL_OUTCOME_UNREACHABLE;
	return drill_report_safe(r) ? DRILL_OUTCOME_OK : DRILL_OUTCOME_FAILED;
}
