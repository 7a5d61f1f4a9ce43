/* escrowctl's long and parallel GETs: a body streamed to a sink, many URLs at once. */
#include "tools/client/ctl_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/client/ctl_client_internal.h"

#define CTL_STREAM_ERROR_MAX (64 * 1024) /* bytes of a streamed refusal kept */

/* One streamed GET: the answer's headers and error body in x, a 2xx body
 * passed to the sink. */
struct stream {
	struct xfer x;
	const struct ctl_sink *sink;
	CURL *easy;
	uint64_t received; /* 2xx body bytes the sink took */
	int sink_err;      /* a sink callback failed: its code, message in errmsg */
	char *errmsg;
};

static bool status_2xx(CURL *h)
{
	long status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status >= 200 && status <= 299;
}

static size_t stream_body_cb(char *p, size_t size, size_t nmemb, void *data)
{
	struct stream *s = data;
	size_t n = size * nmemb;

	if (!status_2xx(s->easy)) {
		/* A refusal: its start is enough for the message. */
		ctl_buf_append(&s->x.body, p, n);
		return s->x.body.nomem ? 0 : n;
	}
	s->sink_err = s->sink->write(s->sink->data, p, n, s->errmsg);
	if (s->sink_err != ESC_OK)
		return 0;
	s->received += n;
	return n;
}

static int stream_progress_cb(void *data, curl_off_t dltotal, curl_off_t dlnow,
			      curl_off_t ultotal, curl_off_t ulnow)
{
	struct stream *s = data;

	if (s->sink->progress == NULL)
		return 0;
	s->sink_err = s->sink->progress(s->sink->data, s->received, s->errmsg);
	return s->sink_err != ESC_OK;
}

/* One streamed attempt at one node; *cut set when a 2xx body broke off. */
static int stream_attempt(struct ctl_client *c, const char *node, const char *path,
			  long stall_ms, struct stream *s, struct ctl_response *r, bool *cut,
			  char *errmsg)
{
	CURLcode cc;
	char *url;
	int rv;

	*cut = false;
	if (asprintf(&url, "%s%s", node, path) < 0)
		return esc_errorf(errmsg, ESC_ENOMEM, "request: out of memory");
	ctl_xfer_init(&s->x);
	s->x.body.max = CTL_STREAM_ERROR_MAX;
	s->easy = c->easy;
	s->received = 0;
	s->sink_err = ESC_OK;
	s->errmsg = errmsg;
	curl_easy_reset(c->easy);
	rv = ctl_client_prepare(c, c->easy, &s->x, url, "GET", NULL, stall_ms);
	if (rv != ESC_OK) {
		esc_errorf(errmsg, rv, "%s: out of memory", url);
		goto out;
	}
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, stream_body_cb);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, stream_progress_cb);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	/* No bound on the whole transfer, only on a stall. */
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 0L);
	curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_TIME, (stall_ms + 999) / 1000);
	cc = curl_easy_perform(c->easy);
	if (s->sink_err != ESC_OK) {
		rv = s->sink_err;
		goto out;
	}
	if (cc != CURLE_OK) {
		s->x.body.over = false; /* a long refusal was cut on purpose */
		rv = ctl_xfer_failure(c, &s->x, cc, node, errmsg);
		if (rv != ESC_ENOMEM && status_2xx(c->easy)) {
			char w[CTL_NAME_FULL];

			*cut = true;
			ctl_shown(node, 96, w); /* before strlen(w) below */
			esc_errorf(errmsg, ESC_ECORRUPT, "%s: the transfer broke off after %llu "
				   "bytes: %s", w, (unsigned long long)s->received,
				   ctl_curl_why(&s->x, cc, ESC_ERRMSG_SIZE - strlen(w) - 64));
		}
		if (c->trace)
			fprintf(stderr, "escrowctl: trace: GET %s: %s\n", url, errmsg);
		goto out;
	}
	rv = ctl_xfer_take(&s->x, c->easy, node, r);
	if (rv != ESC_OK) {
		esc_errorf(errmsg, rv, "%s: out of memory", url);
		goto out;
	}
	if (c->trace)
		fprintf(stderr, "escrowctl: trace: GET %s: %ld, %llu bytes streamed\n", url,
			r->status, (unsigned long long)s->received);
out:
	ctl_xfer_close(&s->x);
	free(url);
	return rv;
}

int ctl_client_stream(struct ctl_client *c, const char *path, long stall_ms,
		      const struct ctl_sink *sink, struct ctl_response *r, char *errmsg)
{
	char cut_msg[ESC_ERRMSG_SIZE] = "", refused[ESC_ERRMSG_SIZE] = "";
	struct stream s;
	bool cut, dirty = false;
	size_t i;
	int rv;

	memset(r, 0, sizeof(*r));
	memset(&s, 0, sizeof(s));
	s.sink = sink;
	esc_errorf(errmsg, ESC_EIO, "no node to ask");
	for (i = 0; i < c->n_nodes; i++) {
		ctl_response_close(r);
		if (dirty) {
			rv = sink->reset(sink->data, errmsg);
			if (rv != ESC_OK)
				return rv;
		}
		rv = stream_attempt(c, c->nodes[i], path, stall_ms, &s, r, &cut, errmsg);
		dirty = s.received > 0;
		if (rv == ESC_OK && r->status != 503)
			return ESC_OK;
		ctl_keep_refusal(rv, errmsg, refused);
		if (rv == ESC_OK) {
			ctl_unavailable(c->nodes[i], r, errmsg);
		} else if (cut) {
			snprintf(cut_msg, sizeof(cut_msg), "%s", errmsg);
		} else if (s.sink_err != ESC_OK || rv == ESC_ENOMEM || rv == ESC_EINVAL) {
			return rv;
		}
	}
	if (cut_msg[0] != '\0') {
		ctl_response_close(r);
		return esc_errorf(errmsg, ESC_ECORRUPT, "%s", cut_msg);
	}
	if (refused[0] != '\0') {
		ctl_response_close(r);
		return esc_errorf(errmsg, ESC_ECRYPTO, "%s", refused);
	}
	return ESC_EIO;
}

int ctl_client_fetch_all(struct ctl_client *c, struct ctl_fetch *f, size_t n,
			 long timeout_ms, char *errmsg)
{
	struct xfer *xs;
	CURLM *m;
	CURLMsg *msg;
	size_t i;
	int running, left, rv = ESC_OK;

	for (i = 0; i < n; i++) {
		f[i].err = esc_errorf(f[i].errmsg, ESC_EIO, "%s: not fetched", f[i].url);
		memset(&f[i].resp, 0, sizeof(f[i].resp));
	}
	if (n == 0)
		return ESC_OK;
	xs = calloc(n, sizeof(*xs));
	if (xs == NULL)
		return esc_errorf(errmsg, ESC_ENOMEM, "fetch: out of memory");
	m = curl_multi_init();
	if (m == NULL) {
		rv = esc_errorf(errmsg, ESC_EIO, "fetch: libcurl cannot create a multi handle");
		goto err_xs;
	}
	for (i = 0; i < n; i++) {
		CURL *h = curl_easy_init();

		ctl_xfer_init(&xs[i]);
		if (h == NULL || ctl_client_prepare(c, h, &xs[i], f[i].url, "GET", NULL,
						    timeout_ms) != ESC_OK ||
		    curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)&f[i]) != CURLE_OK ||
		    curl_multi_add_handle(m, h) != CURLM_OK) {
			if (h != NULL)
				curl_easy_cleanup(h);
			rv = esc_errorf(errmsg, ESC_ENOMEM, "fetch: cannot set up a request");
			goto err_multi;
		}
		xs[i].easy = h;
	}
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK ||
		    curl_multi_poll(m, NULL, 0, 200, NULL) != CURLM_OK) {
			rv = esc_errorf(errmsg, ESC_EIO, "fetch: libcurl multi interface failed");
			goto err_multi;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct ctl_fetch *fi;
			void *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			fi = priv;
			i = (size_t)(fi - f);
			if (msg->data.result != CURLE_OK)
				fi->err = ctl_xfer_failure(c, &xs[i], msg->data.result, fi->url,
							   fi->errmsg);
			else if ((fi->err = ctl_xfer_take(&xs[i], msg->easy_handle, fi->url,
							  &fi->resp)) != ESC_OK)
				esc_errorf(fi->errmsg, fi->err, "%s: out of memory", fi->url);
			if (c->trace && fi->err != ESC_OK)
				fprintf(stderr, "escrowctl: trace: GET %s\n", fi->errmsg);
			else if (c->trace)
				fprintf(stderr, "escrowctl: trace: GET %s: %ld\n", fi->url,
					fi->resp.status);
		}
	} while (running > 0);
	goto out;

err_multi:
	for (i = 0; i < n; i++) {
		ctl_response_close(&f[i].resp);
		f[i].err = esc_errorf(f[i].errmsg, rv, "%s: not fetched", f[i].url);
	}
out:
	for (i = 0; i < n; i++) {
		if (xs[i].easy == NULL)
			continue;
		curl_multi_remove_handle(m, xs[i].easy);
		curl_easy_cleanup(xs[i].easy);
	}
	curl_multi_cleanup(m);
err_xs:
	for (i = 0; i < n; i++)
		ctl_xfer_close(&xs[i]);
	free(xs);
	return rv;
}
