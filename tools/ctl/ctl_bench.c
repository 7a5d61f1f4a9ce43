/* escrowctl bench: a bounded load generator on libcurl's multi interface. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tools/client/ctl_password.h"
#include "tools/ctl/ctl_bench_compliance.h"
#include "tools/ctl/ctl_commands.h"

#define BENCH_CLIENTS_DEFAULT 8
#define BENCH_CLIENTS_MAX 512
#define BENCH_COUNT_DEFAULT 2000
#define BENCH_COUNT_MAX 10000000L
#define BENCH_DURATION_DEFAULT_S 60   /* every run stops by itself by then */
#define BENCH_DURATION_MAX_S 3600
#define BENCH_SEED_KEYS 100           /* keys escrowed before a lookup run */
#define BENCH_SETUP_MAX_S 3600        /* bound of escrowing a compliance run's keys */
#define BENCH_PREFIX_MAX 200
#define BENCH_BACKOFF_MS 50.0         /* after a transport error, per client */
#define BENCH_SNIPPET 512             /* bytes of a response body kept per client */
#define BENCH_STATUS_SLOTS 600        /* HTTP statuses counted one by one */

/* BENCH_SEED and BENCH_KEYS are untimed setup phases: the keys a lookup run
 * looks up, the keys a compliance run's reports list. */
enum bench_op { BENCH_ESCROW, BENCH_SEED, BENCH_LOOKUP, BENCH_KEYS, BENCH_COMPLIANCE };

struct bench;

struct bench_client {
	struct bench *b;
	CURL *h;
	unsigned id;
	uint64_t seq;           /* requests this client sent */
	bool busy;
	double started_ms;      /* of the request in flight */
	double resume_ms;       /* no new request before (backoff) */
	char url[CTL_URL_MAX + 128];
	char body[1280];        /* a compliance report of two volumes fits */
	enum bench_shape shape; /* of the compliance report in flight */
	char snippet[BENCH_SNIPPET]; /* start of the response body */
	size_t snippet_len;
	char errbuf[CURL_ERROR_SIZE];
};

struct bench {
	struct ctl_ctx *ctx;
	const char *node;        /* the first URL of --nodes: the only target */
	const char *prefix;      /* machine name prefix */
	enum bench_op op;
	uint8_t run_id[8];       /* random: key IDs differ from run to run */
	struct bench_compliance comp; /* --op compliance: the reports */
	uint64_t key_slot; /* BENCH_KEYS: the next is of machine slot / 2, volume slot % 2 */
	uint64_t escrowed; /* keys BENCH_KEYS escrowed (201 or 200) */
	CURLM *m;
	struct curl_slist *headers;
	struct bench_client *cl;
	size_t n_clients;
	/* One phase's counters. */
	uint64_t issued, ok, errors, transport;
	uint64_t by_status[BENCH_STATUS_SLOTS];
	uint64_t verdicts[BENCH_VERDICTS]; /* --op compliance: ok answers by "status" */
	uint64_t shapes[BENCH_SHAPES];     /* and the shapes of the reports they judged */
	uint32_t *lat_us;        /* latency of each ok request, microseconds */
	size_t n_lat, cap_lat;
	bool nomem;
	char first_error[ESC_ERRMSG_SIZE];
	double elapsed_s;
	bool hit_limit;          /* stopped by the duration bound, not the count */
};

static double bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t bench_body_cb(char *p, size_t size, size_t nmemb, void *data)
{
	struct bench_client *c = data;
	size_t n = size * nmemb, room = sizeof(c->snippet) - 1 - c->snippet_len;

	if (room > n)
		room = n;
	memcpy(c->snippet + c->snippet_len, p, room);
	c->snippet_len += room;
	c->snippet[c->snippet_len] = '\0';
	return n;
}

/* A key ID unique in this run: run id, client, sequence number. */
static void bench_key_id(const struct bench *b, unsigned client, uint64_t seq, char out[37])
{
	const uint8_t *r = b->run_id;

	snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%04X-%012" PRIX64, r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], client & 0xffffu,
		 (uint64_t)(seq & 0xffffffffffffULL));
}

/* Prepares and queues the next request of c. */
static int bench_start(struct bench *b, struct bench_client *c)
{
	char key_id[37], pw[56];
	unsigned who;
	uint64_t seq;

	if (b->op == BENCH_COMPLIANCE) {
		c->shape = bench_compliance_shape(&b->comp, b->issued);
		if (bench_compliance_encode(&b->comp, b->issued, c->body, sizeof(c->body)) == 0)
			return ctl_fail(CTL_EXIT_REFUSED, "bench: a report does not fit");
		snprintf(c->url, sizeof(c->url), "%s/v1/compliance", b->node);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
	} else if (b->op == BENCH_KEYS) {
		/* Every os volume lists a key: at most one slot is skipped. */
		while (!bench_compliance_lists_key(&b->comp, b->key_slot / 2,
						   (unsigned)(b->key_slot % 2)))
			b->key_slot++;
		if (bench_compliance_encode_escrow(&b->comp, b->key_slot / 2,
						   (unsigned)(b->key_slot % 2), c->body,
						   sizeof(c->body)) == 0)
			return ctl_fail(CTL_EXIT_REFUSED, "bench: an escrow does not fit");
		b->key_slot++;
		snprintf(c->url, sizeof(c->url), "%s/v1/keys", b->node);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
	} else if (b->op == BENCH_LOOKUP) {
		bench_key_id(b, 0xffff, b->issued % BENCH_SEED_KEYS, key_id);
		snprintf(c->url, sizeof(c->url),
			 "%s/v1/keys/%s?reason=other&note=escrowctl%%20bench", b->node, key_id);
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	} else {
		who = b->op == BENCH_SEED ? 0xffff : c->id;
		seq = b->op == BENCH_SEED ? b->issued : c->seq;
		bench_key_id(b, who, seq, key_id);
		if (ctl_random_password(pw) != ESC_OK)
			return ctl_fail(CTL_EXIT_REFUSED, "bench: getrandom failed");
		snprintf(c->body, sizeof(c->body),
			 "{\"key_id\":\"%s\",\"recovery_password\":\"%s\","
			 "\"volume_id\":\"bench-%u-%" PRIu64 "\",\"volume_type\":\"os\","
			 "\"machine\":\"%s-%u\"}", key_id, pw, who, seq, b->prefix, who);
		explicit_bzero(pw, sizeof(pw));
		snprintf(c->url, sizeof(c->url), "%s/v1/keys", b->node);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
	}
	curl_easy_setopt(c->h, CURLOPT_URL, c->url);
	c->snippet_len = 0;
	c->snippet[0] = '\0';
	c->errbuf[0] = '\0';
	c->started_ms = bench_now_ms();
	if (curl_multi_add_handle(b->m, c->h) != CURLM_OK)
		return ctl_fail(CTL_EXIT_REFUSED, "bench: libcurl cannot queue a request");
	c->busy = true;
	c->seq++;
	b->issued++;
	return CTL_EXIT_OK;
}

static void bench_record_latency(struct bench *b, double ms)
{
	uint32_t *p;
	size_t cap;

	if (b->n_lat == b->cap_lat) {
		cap = b->cap_lat ? b->cap_lat * 2 : 4096;
		p = realloc(b->lat_us, cap * sizeof(*p));
		if (p == NULL) {
			b->nomem = true;
			return;
		}
		b->lat_us = p;
		b->cap_lat = cap;
	}
	b->lat_us[b->n_lat++] = ms >= 4e6 ? UINT32_MAX : (uint32_t)(ms * 1e3);
}

/* Accounts for a finished request of c. */
static void bench_finish(struct bench *b, struct bench_client *c, CURLcode cc, double now)
{
	struct ctl_response r;
	long status = 0;
	bool ok;

	curl_multi_remove_handle(b->m, c->h);
	c->busy = false;
	if (cc != CURLE_OK) {
		b->errors++;
		b->transport++;
		c->resume_ms = now + BENCH_BACKOFF_MS;
		if (b->first_error[0] == '\0')
			snprintf(b->first_error, sizeof(b->first_error), "%s",
				 c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		return;
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 0 && status < BENCH_STATUS_SLOTS)
		b->by_status[status]++;
	ok = b->op == BENCH_LOOKUP ? status == 200 : (status == 200 || status == 201);
	if (ok) {
		b->ok++;
		if (b->op == BENCH_COMPLIANCE) {
			b->verdicts[bench_compliance_verdict(c->snippet, c->snippet_len)]++;
			b->shapes[c->shape]++;
		}
		bench_record_latency(b, now - c->started_ms);
		return;
	}
	b->errors++;
	if (b->first_error[0] == '\0') {
		memset(&r, 0, sizeof(r));
		r.status = status;
		r.body = c->snippet;
		r.body_len = c->snippet_len;
		ctl_response_error(&r, b->first_error, sizeof(b->first_error));
	}
}

/* Runs one phase: count requests or until the deadline, whichever first;
 * requests in flight at the deadline are waited for (each is bounded by the
 * request timeout). */
static int bench_phase(struct bench *b, enum bench_op op, uint64_t count, double duration_ms,
		       bool progress)
{
	double t0, now, next_report, deadline;
	bool stopping = false;
	int running, left, rv, finished;
	size_t i, busy;
	CURLMsg *msg;

	b->op = op;
	t0 = bench_now_ms();
	deadline = t0 + duration_ms;
	next_report = t0 + 1000.0;
	for (;;) {
		now = bench_now_ms();
		if (now >= deadline && !stopping) {
			stopping = true;
			b->hit_limit = b->issued < count;
		}
		busy = 0;
		for (i = 0; i < b->n_clients; i++) {
			struct bench_client *c = &b->cl[i];

			if (!c->busy && !stopping && b->issued < count && now >= c->resume_ms) {
				rv = bench_start(b, c);
				if (rv != CTL_EXIT_OK)
					return rv;
			}
			busy += c->busy;
		}
		if (busy == 0 && (stopping || b->issued >= count))
			break;
		if (curl_multi_perform(b->m, &running) != CURLM_OK)
			return ctl_fail(CTL_EXIT_REFUSED, "bench: libcurl multi interface failed");
		finished = 0;
		while ((msg = curl_multi_info_read(b->m, &left)) != NULL) {
			void *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			bench_finish(b, priv, msg->data.result, bench_now_ms());
			finished++;
		}
		if (b->nomem)
			return ctl_fail(CTL_EXIT_REFUSED, "bench: out of memory");
		now = bench_now_ms();
		if (progress && now >= next_report) {
			if (op == BENCH_KEYS)
				fprintf(stderr,
					"bench: escrowing keys: %.0f s: %" PRIu64 " of %" PRIu64
					" ok, %" PRIu64 " errors\n",
					(now - t0) / 1e3, b->ok, count, b->errors);
			else
				fprintf(stderr,
					"bench: %.0f s: %" PRIu64 " ok, %" PRIu64 " errors, "
					"%.0f req/s\n",
					(now - t0) / 1e3, b->ok, b->errors,
					(double)b->ok * 1e3 / (now - t0));
			next_report += 1000.0;
		}
		/* A client whose request just finished sends its next one at
		 * once: polling first would idle it for the poll's timeout. */
		if (finished > 0)
			continue;
		if (curl_multi_poll(b->m, NULL, 0, running > 0 ? 100 : 10, NULL) != CURLM_OK)
			return ctl_fail(CTL_EXIT_REFUSED, "bench: libcurl multi interface failed");
	}
	b->elapsed_s = (bench_now_ms() - t0) / 1e3;
	return CTL_EXIT_OK;
}

static void bench_reset_counters(struct bench *b)
{
	b->issued = b->ok = b->errors = b->transport = 0;
	memset(b->by_status, 0, sizeof(b->by_status));
	memset(b->verdicts, 0, sizeof(b->verdicts));
	memset(b->shapes, 0, sizeof(b->shapes));
	b->n_lat = 0;
	b->first_error[0] = '\0';
	b->hit_limit = false;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted latencies, in milliseconds. */
static double bench_pct(const struct bench *b, double q)
{
	size_t k;

	if (b->n_lat == 0)
		return 0.0;
	k = (size_t)(q * (double)b->n_lat + 0.999999);
	if (k == 0)
		k = 1;
	if (k > b->n_lat)
		k = b->n_lat;
	return (double)b->lat_us[k - 1] / 1e3;
}

/* --op compliance: the answers by verdict and the reports by shape, as
 * text lines or as members of out. */
static void bench_report_compliance(const struct bench *b, json_t *out)
{
	json_t *v = out ? json_object() : NULL, *sh = out ? json_object() : NULL;
	int i;

	if (out == NULL)
		printf("verdicts    ");
	for (i = 0; i < BENCH_VERDICTS; i++)
		if (out == NULL)
			printf(" %s %" PRIu64, bench_verdict_name(i), b->verdicts[i]);
		else
			json_object_set_new(v, bench_verdict_name(i),
					    json_integer((json_int_t)b->verdicts[i]));
	if (out == NULL)
		printf("\nshapes      ");
	for (i = 0; i < BENCH_SHAPES; i++)
		if (out == NULL)
			printf(" %s %" PRIu64, bench_shape_name(i), b->shapes[i]);
		else
			json_object_set_new(sh, bench_shape_name(i),
					    json_integer((json_int_t)b->shapes[i]));
	if (out == NULL) {
		printf("\nseed         %" PRIu64 ", %s\n", b->comp.seed,
		       b->comp.machines ? "machines reported again modulo --machines" :
		       "a new machine per request");
		printf("escrowed     %" PRIu64 " keys first\n", b->escrowed);
		return;
	}
	json_object_set_new(out, "verdicts", v);
	json_object_set_new(out, "shapes", sh);
	json_object_set_new(out, "seed", json_integer((json_int_t)b->comp.seed));
	json_object_set_new(out, "machines", json_integer((json_int_t)b->comp.machines));
	json_object_set_new(out, "escrowed", json_integer((json_int_t)b->escrowed));
}

static int bench_report(struct bench *b, const char *op_name)
{
	double rps = b->elapsed_s > 0 ? (double)b->ok / b->elapsed_s : 0.0;
	json_t *out, *by;
	char key[16], *text;
	size_t s;

	if (b->n_lat > 0)
		qsort(b->lat_us, b->n_lat, sizeof(*b->lat_us), cmp_u32);
	if (!b->ctx->json) {
		printf("bench: %s against %s, %zu clients%s\n", op_name, b->node, b->n_clients,
		       b->hit_limit ? " (stopped by the duration bound)" : "");
		printf("requests ok  %" PRIu64 "\n", b->ok);
		printf("errors       %" PRIu64 "\n", b->errors);
		for (s = 0; s < BENCH_STATUS_SLOTS; s++)
			if (b->by_status[s] > 0 && !(s >= 200 && s < 300))
				printf("  HTTP %zu     %" PRIu64 "\n", s, b->by_status[s]);
		if (b->transport > 0)
			printf("  transport    %" PRIu64 "\n", b->transport);
		if (b->first_error[0] != '\0')
			printf("first error  %s\n", b->first_error);
		printf("elapsed      %.3f s\n", b->elapsed_s);
		printf("throughput   %.1f req/s\n", rps);
		printf("latency ms   p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
		       bench_pct(b, 0.50), bench_pct(b, 0.90), bench_pct(b, 0.99),
		       bench_pct(b, 1.0));
		if (b->op == BENCH_COMPLIANCE)
			bench_report_compliance(b, NULL);
		return CTL_EXIT_OK;
	}
	by = json_object();
	for (s = 0; by != NULL && s < BENCH_STATUS_SLOTS; s++)
		if (b->by_status[s] > 0 && !(s >= 200 && s < 300)) {
			snprintf(key, sizeof(key), "%zu", s);
			json_object_set_new(by, key, json_integer((json_int_t)b->by_status[s]));
		}
	if (by != NULL && b->transport > 0)
		json_object_set_new(by, "transport", json_integer((json_int_t)b->transport));
	out = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:s?, s:b, s:f, s:f,"
			" s:{s:f, s:f, s:f, s:f}}",
			"op", op_name, "node", b->node, "clients", (json_int_t)b->n_clients,
			"requests", (json_int_t)(b->ok + b->errors), "ok", (json_int_t)b->ok,
			"errors", (json_int_t)b->errors, "errors_by_status", by,
			"first_error", b->first_error[0] ? b->first_error : NULL,
			"stopped_by_duration", b->hit_limit, "elapsed_s", b->elapsed_s,
			"throughput_rps", rps, "latency_ms", "p50", bench_pct(b, 0.50),
			"p90", bench_pct(b, 0.90), "p99", bench_pct(b, 0.99), "max",
			bench_pct(b, 1.0));
	if (out != NULL && b->op == BENCH_COMPLIANCE)
		bench_report_compliance(b, out);
	text = out ? json_dumps(out, JSON_PRESERVE_ORDER | JSON_COMPACT |
				 JSON_REAL_PRECISION(9)) : NULL;
	json_decref(out);
	if (text == NULL)
		return ctl_fail(CTL_EXIT_REFUSED, "bench: out of memory");
	printf("%s\n", text);
	free(text);
	return CTL_EXIT_OK;
}

/* 0 when every request succeeded; 3 when none did and the node was never
 * reached; else 1. */
static int bench_exit(const struct bench *b)
{
	if (b->errors == 0)
		return CTL_EXIT_OK;
	if (b->ok == 0 && b->transport == b->errors)
		return CTL_EXIT_UNREACHABLE;
	return CTL_EXIT_REFUSED;
}

/* --op compliance: escrows, untimed, the recovery passwords that the
 * reports of machines 0..n-1 list, as their agents do before they encrypt,
 * so that the reports are judged on their shapes alone. */
static int bench_escrow_keys(struct bench *b, uint64_t n)
{
	uint64_t keys = bench_compliance_keys(&b->comp, n);
	int rv;

	fprintf(stderr,
		"bench: escrowing the %" PRIu64 " recovery passwords of %" PRIu64
		" machines first (--no-escrow skips this)\n",
		keys, n);
	rv = bench_phase(b, BENCH_KEYS, keys, BENCH_SETUP_MAX_S * 1e3, true);
	if (rv == CTL_EXIT_OK && b->ok < keys)
		rv = ctl_fail(b->errors > 0 && b->transport == b->errors ? CTL_EXIT_UNREACHABLE
									 : CTL_EXIT_REFUSED,
			      "bench: escrowing the %" PRIu64 " keys of the reports failed: %s",
			      keys, b->first_error[0] ? b->first_error : "out of time");
	if (rv != CTL_EXIT_OK)
		return rv;
	fprintf(stderr, "bench: %" PRIu64 " keys escrowed in %.1f s\n", b->ok, b->elapsed_s);
	b->escrowed = b->ok;
	bench_reset_counters(b);
	return CTL_EXIT_OK;
}

static int bench_check_prefix(struct ctl_ctx *ctx, const char *p)
{
	size_t i, n = strlen(p);

	if (n == 0 || n > BENCH_PREFIX_MAX)
		return ctl_usage_error(ctx, "--machine-prefix: 1 to %d characters",
				       BENCH_PREFIX_MAX);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '.')
			return ctl_usage_error(ctx, "--machine-prefix: only letters, digits, "
					       "'-' and '.' are allowed");
	return CTL_EXIT_OK;
}

/* Creates the multi handle and one keep-alive easy handle per client. */
static int bench_setup(struct bench *b)
{
	size_t i;

	b->m = curl_multi_init();
	b->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (b->headers != NULL && curl_slist_append(b->headers, "Expect:") == NULL) {
		curl_slist_free_all(b->headers);
		b->headers = NULL;
	}
	b->cl = calloc(b->n_clients, sizeof(*b->cl));
	if (b->m == NULL || b->headers == NULL || b->cl == NULL)
		return ctl_fail(CTL_EXIT_REFUSED, "bench: out of memory");
	curl_multi_setopt(b->m, CURLMOPT_MAXCONNECTS, (long)b->n_clients + 4);
	for (i = 0; i < b->n_clients; i++) {
		struct bench_client *c = &b->cl[i];

		c->b = b;
		c->id = (unsigned)i;
		c->h = curl_easy_init();
		if (c->h == NULL)
			return ctl_fail(CTL_EXIT_REFUSED, "bench: out of memory");
		ctl_client_setup_easy(&b->ctx->client, c->h, b->ctx->client.timeout_ms);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, b->headers);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, bench_body_cb);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
		curl_easy_setopt(c->h, CURLOPT_PRIVATE, (void *)c);
	}
	return CTL_EXIT_OK;
}

static void bench_close(struct bench *b)
{
	size_t i;

	for (i = 0; b->cl != NULL && i < b->n_clients; i++) {
		if (b->cl[i].h == NULL)
			continue;
		if (b->cl[i].busy)
			curl_multi_remove_handle(b->m, b->cl[i].h);
		curl_easy_cleanup(b->cl[i].h);
	}
	free(b->cl);
	if (b->m != NULL)
		curl_multi_cleanup(b->m);
	curl_slist_free_all(b->headers);
	free(b->lat_us);
}

int ctl_cmd_bench(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "clients", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "op", required_argument, NULL, 'o' },
		{ "machine-prefix", required_argument, NULL, 'm' },
		{ "machines", required_argument, NULL, 'M' },
		{ "seed", required_argument, NULL, 's' },
		{ "no-escrow", no_argument, NULL, 'E' },
		CTL_OPTS_COMMON
	};
	const char *op = NULL, *prefix = NULL, *s_clients = NULL, *s_count = NULL;
	const char *s_duration = NULL, *s_machines = NULL, *s_seed = NULL;
	long clients = BENCH_CLIENTS_DEFAULT, count = BENCH_COUNT_DEFAULT;
	long duration = BENCH_DURATION_DEFAULT_S, machines = 0, seed = 1;
	bool no_escrow = false;
	uint64_t escrow_machines = 0;
	enum bench_op kind;
	struct bench b;
	int c, rv;

	while ((c = ctl_getopt(ctx, argc, argv, opts, &rv)) != -1) {
		switch (c) {
		case 'c': rv = ctl_opt_once(ctx, &s_clients, optarg, "--clients"); break;
		case 'n': rv = ctl_opt_once(ctx, &s_count, optarg, "--count"); break;
		case 'd': rv = ctl_opt_once(ctx, &s_duration, optarg, "--duration"); break;
		case 'o': rv = ctl_opt_once(ctx, &op, optarg, "--op"); break;
		case 'm': rv = ctl_opt_once(ctx, &prefix, optarg, "--machine-prefix"); break;
		case 'M': rv = ctl_opt_once(ctx, &s_machines, optarg, "--machines"); break;
		case 's': rv = ctl_opt_once(ctx, &s_seed, optarg, "--seed"); break;
		case 'E': no_escrow = true; break;
		}
		if (rv != CTL_EXIT_OK)
			return rv;
	}
	if (rv != CTL_EXIT_OK)
		return rv;
	if (optind < argc)
		return ctl_usage_error(ctx, "unexpected argument '%.64s'", argv[optind]);
	if (s_clients != NULL &&
	    (rv = ctl_opt_long(ctx, s_clients, "--clients", 1, BENCH_CLIENTS_MAX, &clients)))
		return rv;
	if (s_count != NULL &&
	    (rv = ctl_opt_long(ctx, s_count, "--count", 1, BENCH_COUNT_MAX, &count)))
		return rv;
	if (s_duration != NULL &&
	    (rv = ctl_opt_long(ctx, s_duration, "--duration", 1, BENCH_DURATION_MAX_S,
			       &duration)))
		return rv;
	if (s_machines != NULL &&
	    (rv = ctl_opt_long(ctx, s_machines, "--machines", 1, BENCH_COUNT_MAX, &machines)))
		return rv;
	if (s_seed != NULL && (rv = ctl_opt_long(ctx, s_seed, "--seed", 0, LONG_MAX, &seed)))
		return rv;
	/* --duration alone: run for that long (the count bound still holds). */
	if (s_duration != NULL && s_count == NULL)
		count = BENCH_COUNT_MAX;
	if (op == NULL)
		op = "escrow";
	if (strcmp(op, "escrow") == 0)
		kind = BENCH_ESCROW;
	else if (strcmp(op, "lookup") == 0)
		kind = BENCH_LOOKUP;
	else if (strcmp(op, "compliance") == 0)
		kind = BENCH_COMPLIANCE;
	else
		return ctl_usage_error(ctx, "--op: '%.32s' is not escrow, lookup or compliance",
				       op);
	if (kind != BENCH_COMPLIANCE && (s_machines != NULL || s_seed != NULL || no_escrow))
		return ctl_usage_error(ctx, "--machines, --seed and --no-escrow are for --op "
					    "compliance");
	/* The machines the run reports are 0..escrow_machines-1, except that
	 * --duration without --count leaves their number open: then only
	 * --machines bounds it. */
	if (kind == BENCH_COMPLIANCE && !no_escrow) {
		if (machines != 0)
			escrow_machines = (uint64_t)(machines < count ? machines : count);
		else if (s_duration == NULL || s_count != NULL)
			escrow_machines = (uint64_t)count;
	}
	if (prefix == NULL)
		prefix = "bench";
	if ((rv = bench_check_prefix(ctx, prefix)) != CTL_EXIT_OK)
		return rv;
	if ((rv = ctl_connect(ctx)) != CTL_EXIT_OK)
		return rv;

	memset(&b, 0, sizeof(b));
	b.ctx = ctx;
	b.node = ctx->client.nodes[0];
	b.prefix = prefix;
	b.n_clients = (size_t)clients;
	b.comp.seed = (uint64_t)seed;
	b.comp.machines = (uint64_t)machines;
	b.comp.clients = (unsigned)clients;
	b.comp.prefix = prefix;
	if (getrandom(b.run_id, sizeof(b.run_id), 0) != (ssize_t)sizeof(b.run_id)) {
		rv = ctl_fail(CTL_EXIT_REFUSED, "bench: getrandom failed");
		goto out;
	}
	rv = bench_setup(&b);
	if (rv != CTL_EXIT_OK)
		goto out;
	if (escrow_machines > 0) {
		rv = bench_escrow_keys(&b, escrow_machines);
		if (rv != CTL_EXIT_OK)
			goto out;
	} else if (kind == BENCH_COMPLIANCE && !no_escrow) {
		fprintf(stderr, "bench: --duration without --count or --machines: the machines "
				"reported are not known ahead, so no key is escrowed first\n");
	}
	if (kind == BENCH_LOOKUP) {
		rv = bench_phase(&b, BENCH_SEED, BENCH_SEED_KEYS,
				 BENCH_DURATION_DEFAULT_S * 1e3, false);
		if (rv == CTL_EXIT_OK && b.ok < BENCH_SEED_KEYS)
			rv = ctl_fail(b.transport == b.errors ? CTL_EXIT_UNREACHABLE :
				      CTL_EXIT_REFUSED,
				      "bench: escrowing the %d keys to look up failed: %s",
				      BENCH_SEED_KEYS, b.first_error);
		if (rv != CTL_EXIT_OK)
			goto out;
		bench_reset_counters(&b);
	}
	rv = bench_phase(&b, kind, (uint64_t)count, (double)duration * 1e3, true);
	if (rv != CTL_EXIT_OK)
		goto out;
	rv = bench_report(&b, op);
	if (rv == CTL_EXIT_OK)
		rv = bench_exit(&b);
out:
	bench_close(&b);
	return rv;
}
