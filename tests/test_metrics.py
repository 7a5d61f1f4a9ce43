#!/usr/bin/env python3
"""Process tests of --metrics-addr and the metrics (issue 14): a plain-HTTP
listener serving GET /metrics and GET /v1/health only, without a client
certificate, next to a TLS API that still requires one; the exposition is
parsed strictly (Prometheus text format 0.0.4) and the histograms, counters
and gauges are checked against the requests made. Output is TAP.
Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import hashlib
import math
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_error, expect_lookup  # noqa: E402

# ---------------------------------------------------------------- exposition

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % _NAME)
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _labels(text, line):
    """The labels of a sample as a dict; fails on anything malformed."""
    labels = {}
    pos = 0
    while pos < len(text):
        m = _LABEL_RE.match(text, pos)
        check(m is not None, "malformed labels at %r in line %r" % (text[pos:], line))
        check(m.group(1) not in labels, "label %s twice in line %r" % (m.group(1), line))
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(text):
            check(text[pos] == ",", "labels not separated by ',' in line %r" % line)
            pos += 1
            check(pos < len(text), "trailing ',' in the labels of line %r" % line)
    return labels


def _value(text, line):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    check(re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", text) is not None,
          "value %r is not a number in line %r" % (text, line))
    return float(text)


def _family(name, types):
    """The family a sample belongs to (a histogram's _bucket, _sum, _count)."""
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return None


def parse_exposition(text):
    """Parses text strictly: every line a comment (# HELP and # TYPE at most
    once per family, TYPE before its samples) or `name{labels} value`, no duplicate series, every
    histogram with cumulative buckets, +Inf equal to _count, and _sum.
    Returns {(name, frozenset(labels)): value} and {family: type}."""
    check(text.endswith("\n"), "the exposition does not end with a line end")
    samples, types, helps, seen_families = {}, {}, set(), set()
    for line in text[:-1].split("\n"):
        check(line != "", "an empty line in the exposition")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 2 and parts[1] == "HELP":
                check(len(parts) == 4 and re.match("^%s$" % _NAME, parts[2]),
                      "malformed HELP line %r" % line)
                check(parts[2] not in helps, "a second HELP line for %s" % parts[2])
                helps.add(parts[2])
            if len(parts) >= 2 and parts[1] == "TYPE":
                check(len(parts) == 4 and re.match("^%s$" % _NAME, parts[2])
                      and parts[3] in _TYPES, "malformed TYPE line %r" % line)
                check(parts[2] not in types, "a second TYPE line for %s" % parts[2])
                check(parts[2] not in seen_families,
                      "TYPE of %s after its samples" % parts[2])
                types[parts[2]] = parts[3]
            continue
        m = _SAMPLE_RE.match(line)
        check(m is not None, "malformed sample line %r" % line)
        name, labels = m.group(1), _labels(m.group(2) or "", line)
        family = _family(name, types)
        check(family is not None, "sample %s has no TYPE line before it" % name)
        seen_families.add(family)
        key = (name, frozenset(labels.items()))
        check(key not in samples, "duplicate series %r" % line)
        samples[key] = _value(m.group(3), line)
    for family, kind in types.items():
        if kind == "histogram":
            _check_histogram(family, samples)
    return samples, types


def _check_histogram(family, samples):
    series = {}
    for (name, labels), value in samples.items():
        if name == family + "_bucket":
            rest = frozenset(kv for kv in labels if kv[0] != "le")
            le = dict(labels).get("le")
            check(le is not None, "%s_bucket without le" % family)
            series.setdefault(rest, []).append((float(le.replace("Inf", "inf")), value))
    check(series, "histogram %s has no buckets" % family)
    for rest, buckets in series.items():
        buckets.sort()
        what = "%s{%s}" % (family, ",".join("%s=%s" % kv for kv in sorted(rest)))
        check(buckets[-1][0] == math.inf, "%s has no le=\"+Inf\" bucket" % what)
        counts = [v for _, v in buckets]
        check(all(a <= b for a, b in zip(counts, counts[1:])),
              "%s: buckets are not cumulative: %s" % (what, counts))
        count = samples.get((family + "_count", rest))
        check(count is not None and (family + "_sum", rest) in samples,
              "%s: _count or _sum missing" % what)
        check(counts[-1] == count, "%s: +Inf bucket %s != _count %s" % (what, counts[-1], count))


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# ---------------------------------------------------------------- the listener

def start_with_metrics(c):
    """Starts every node of c with --metrics-addr on a port of its own."""
    for nid in c.ids():
        c.nodes[nid].metrics_port = harness.free_ports(1)[0]
        c.start_node(nid, extra=["--metrics-addr",
                                 "127.0.0.1:%d" % c.nodes[nid].metrics_port])
    c.wait_ready(30)


def plain(c, nid, method, path, body=None, headers=None):
    """A request to node nid's metrics listener: plain HTTP, no certificate."""
    return harness.http_request(c.nodes[nid].metrics_port, method, path, body, timeout=5,
                                headers=headers)


def scrape_text(c, nid):
    st, hdrs, body = plain(c, nid, "GET", "/metrics")
    check(st == 200, "node %d: GET /metrics on the metrics listener: %s %s"
          % (nid, st, short(body)))
    check(hdrs.get("content-type") == "text/plain; version=0.0.4",
          "node %d: /metrics content type %r" % (nid, hdrs.get("content-type")))
    return body


def scrape(c, nid):
    """The node's samples, read from its metrics listener and parsed strictly."""
    return parse_exposition(scrape_text(c, nid))[0]


def expect_refused(resp, status, what):
    """An error answer of the metrics listener: status and the JSON error shape."""
    st, hdrs, data = resp
    check(st == status, "%s: expected %d, got %s %s" % (what, status, st, short(data)))
    err = data.get("error") if isinstance(data, dict) else None
    check(isinstance(err, dict) and err.get("code") and err.get("message"),
          "%s: body is not {error: {code, message}}: %s" % (what, short(data)))


def check_listener_paths(c, nid, rec, rng):
    """Only GET /metrics and GET /v1/health[?ready]; the rest 404 or 405,
    without CORS headers, and nothing written."""
    st, hdrs, data = plain(c, nid, "GET", "/v1/health")
    check(st == 200 and data == {"ok": True}, "node %d: /v1/health: %s %s" % (nid, st, data))
    wait_plain_ready(c, nid, 15)
    st, hdrs, data = plain(c, nid, "GET", "/v1/health?ready")
    check(st == 200 and data == {"ok": True, "ready": True},
          "node %d: /v1/health?ready: %s %s" % (nid, st, data))
    check(hdrs.get("x-escrow-node") == str(nid),
          "node %d: X-Escrow-Node %r" % (nid, hdrs.get("x-escrow-node")))
    origin = {"Origin": "https://elsewhere.example"}
    for path in ("/v1/keys/%s?reason=lost_pin" % rec["key_id"], "/v1/keys", "/v1/status",
                 "/ui/", "/", "/metrics/x", "/v1/health/x", "/v1/whoami", "/v1/snapshot"):
        resp = plain(c, nid, "GET", path, headers=origin)
        expect_refused(resp, 404, "node %d: GET %s on the metrics listener" % (nid, path))
        check(not any(h.startswith("access-control-") for h in resp[1]),
              "node %d: GET %s: CORS headers %s" % (nid, path, resp[1]))
    for method, path in (("POST", "/metrics"), ("PUT", "/metrics"), ("DELETE", "/v1/health"),
                         ("HEAD", "/metrics")):
        st, hdrs, data = plain(c, nid, method, path, body=b"" if method != "HEAD" else None)
        check(st == 405, "node %d: %s %s on the metrics listener: %s %s"
              % (nid, method, path, st, short(data)))
    # An escrow sent here is not routed: nothing is stored.
    other = random_key(rng)
    expect_refused(plain(c, nid, "POST", "/v1/keys", other), 404,
                   "node %d: POST /v1/keys on the metrics listener" % nid)
    return other


def test_metrics_listener_on_a_tls_cluster(t):
    """Three TLS nodes with --metrics-addr: the listener answers without a
    certificate, the API still refuses one without, and the metrics count
    what was done."""
    c = t.cluster(3, start=False, tls=True)
    start_with_metrics(c)
    ids = c.ids()
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    rec = random_key(t.rng)
    expect_created(c.escrow_retry([leader], rec), rec, "first escrow on the leader")
    for nid in ids:
        scrape(c, nid)
        other = check_listener_paths(c, nid, rec, t.rng)
        expect_error(c.lookup(leader, other["key_id"]), 404, None,
                     "a key POSTed to node %d's metrics listener" % nid)

    # The TLS API is unchanged: no certificate, no answer; with one, 200.
    st, _, data = harness.http_request(c.nodes[leader].api_port, "GET", "/metrics", timeout=5,
                                       tls=harness.tls_context(c.pki, None))
    check(st == 0, "TLS API without a client certificate answered %s %s" % (st, short(data)))
    st, _, data = harness.http_request(c.nodes[leader].api_port, "GET", "/v1/health", timeout=5)
    check(st != 200, "plain HTTP on the TLS API port answered 200: %s" % short(data))
    st, _, data = c.request(leader, "GET", "/metrics", as_="agent")
    check(st == 200 and "escrow_raft_role" in str(data),
          "TLS API /metrics with a certificate: %s %s" % (st, short(data)))

    # Work through a follower: escrows, lookups, a 400 and a 404.
    before = scrape(c, follower)
    check(value(before, "escrow_http_request_duration_seconds_count", route="escrow") == 0,
          "the follower counted escrows before any was sent to it")
    escrows, lookups = 7, 5
    recs = [random_key(t.rng) for _ in range(escrows)]
    for r in recs:
        expect_created(c.escrow(follower, r), r, "escrow through follower %d" % follower)
    for r in recs[:lookups]:
        expect_lookup(c.lookup(follower, r["key_id"]), r, "lookup through follower")
    bad = dict(random_key(t.rng), key_id="not a key id")
    expect_error(c.escrow(follower, bad), 400, None, "escrow with a bad key id")
    expect_error(c.request(follower, "GET", "/v1/no-such-endpoint"), 404, "not_found",
                 "an unknown endpoint")
    after = scrape(c, follower)

    def delta(name, **labels):
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    hist = "escrow_http_request_duration_seconds"
    check(value(after, hist + "_count", route="escrow") == escrows + 1,
          "follower: escrow route _count %s, %d requests made"
          % (value(after, hist + "_count", route="escrow"), escrows + 1))
    check(value(after, hist + "_count", route="lookup") == lookups,
          "follower: lookup route _count %s, %d made"
          % (value(after, hist + "_count", route="lookup"), lookups))
    check(value(after, hist + "_bucket", route="escrow", le="+Inf") == escrows + 1,
          "follower: escrow +Inf bucket")
    check(value(after, hist + "_sum", route="escrow") > 0, "follower: escrow _sum is 0")
    check(value(after, "escrow_requests_total", route="escrow") == escrows + 1,
          "follower: escrow_requests_total disagrees with the histogram")
    resp = {code: delta("escrow_http_responses_total", code=code)
            for code in ("201", "200", "400", "404")}
    check(resp["201"] == escrows and resp["400"] == 1 and resp["404"] == 1
          and resp["200"] >= lookups, "follower: responses by code moved by %s" % resp)
    fwd = value(after, "escrow_forward_duration_seconds_count")
    check(fwd >= escrows + lookups, "follower: %s forwards timed, %d forwarded"
          % (fwd, escrows + lookups))
    check(value(after, "escrow_forward_duration_seconds_sum") > 0, "follower: forward _sum 0")

    # Every node applies what the leader committed, before their counts are read.
    c.wait_applied(c.status(leader)["applied_index"])
    lead = scrape(c, leader)
    check(value(lead, "escrow_raft_role", role="leader") == 1
          and value(lead, "escrow_raft_role", role="follower") == 0,
          "leader %d: role gauges %s" % (leader, roles_of(lead)))
    check(value(lead, "escrow_raft_commit_duration_seconds_count") >= escrows + lookups,
          "leader: commit histogram count %s"
          % value(lead, "escrow_raft_commit_duration_seconds_count"))
    check(value(lead, "escrow_raft_commit_duration_seconds_sum") > 0, "leader: commit _sum 0")
    check(value(lead, hist + "_count", route="escrow") >= escrows + 1,
          "leader: forwarded escrows not counted")
    for nid in ids:
        m = scrape(c, nid)
        if nid != leader:
            check(value(m, "escrow_raft_role", role="leader") == 0
                  and value(m, "escrow_raft_role", role="follower") == 1,
                  "follower %d: role gauges %s" % (nid, roles_of(m)))
        check(sum(value(m, "escrow_raft_role", role=r) for r in
                  ("leader", "follower", "candidate", "unavailable")) == 1,
              "node %d: not exactly one role: %s" % (nid, roles_of(m)))
        check(value(m, "escrow_raft_has_leader") == 1, "node %d: has_leader 0" % nid)
        check(value(m, "escrow_apply_duration_seconds_count") >= escrows + lookups,
              "node %d: apply histogram count %s"
              % (nid, value(m, "escrow_apply_duration_seconds_count")))
        check(value(m, "escrow_apply_duration_seconds_sum") > 0, "node %d: apply _sum 0" % nid)
        info = [k for k in m if k[0] == "escrow_build_info"]
        check(len(info) == 1 and m[info[0]] == 1, "node %d: build info %s" % (nid, info))
        labels = dict(info[0][1])
        check(re.match(r"^\d+\.\d+\.\d+", labels.get("version", ""))
              and re.match(r"^[1-9]\d*$", labels.get("command_version", "")),
              "node %d: build info labels %s" % (nid, labels))

    # The leader dies: once the survivors agree on a new one (their
    # /v1/status), the metrics say so too.
    c.kill(leader)
    survivors = [i for i in ids if i != leader]
    new = c.leader(20)
    check(new in survivors, "new leader %s is not a survivor" % new)
    t.diag("new leader %d after killing %d" % (new, leader))
    for nid in survivors:
        m = scrape(c, nid)
        role = "leader" if nid == new else "follower"
        check(value(m, "escrow_raft_role", role=role) == 1,
              "node %d after failover: role gauges %s, expected %s" % (nid, roles_of(m), role))
        check(value(m, "escrow_raft_has_leader") == 1,
              "node %d after failover: has_leader %s" % (nid, value(m, "escrow_raft_has_leader")))
        wait_plain_ready(c, nid, 15)


def wait_plain_ready(c, nid, timeout):
    """Waits until the metrics listener's /v1/health?ready answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        st, _, data = plain(c, nid, "GET", "/v1/health?ready")
        if st == 200:
            return
        check(st == 503, "node %d: /v1/health?ready answered %s %s" % (nid, st, short(data)))
        check(time.monotonic() < deadline, "node %d: not ready after %d s: %s"
              % (nid, timeout, short(data)))
        time.sleep(0.05)


def roles_of(m):
    return {r: value(m, "escrow_raft_role", role=r)
            for r in ("leader", "follower", "candidate", "unavailable")}


def dir_state(path):
    """Every file under path: its relative name, mode, size, mtime and hash."""
    state = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            digest = None
            if os.path.isfile(full):
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            state[os.path.relpath(full, path)] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                                  digest)
    return state


def blocking_socket():
    """A socket to hold a port with (bind and listen): SO_REUSEADDR lets it
    bind over a closed connection's TIME_WAIT; a listener still refuses
    anyone else."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def test_metrics_addr_in_use(t):
    """A taken --metrics-addr: escrowd says so and exits non-zero, before
    touching its data dir, fresh or not."""
    c = t.cluster(1, start=False)
    node = c.nodes[1]
    port = harness.free_ports(1)[0]
    extra = ["--metrics-addr", "127.0.0.1:%d" % port]
    blocker = blocking_socket()
    try:
        blocker.bind(("127.0.0.1", port))
        blocker.listen(1)
        for what in ("fresh data dir", "data dir of a stopped node"):
            if what != "fresh data dir":
                blocker.close()
                c.start_node(1, extra=extra)
                c.wait_ready(30)
                rec = random_key(t.rng)
                expect_created(c.escrow(1, rec), rec, "escrow before the stop")
                check(c.stop_all() == {1: 0}, "node 1 did not stop cleanly")
                blocker = blocking_socket()
                blocker.bind(("127.0.0.1", port))
                blocker.listen(1)
            state = dir_state(node.data_dir)
            rc, so, se, _ = harness.run_once(c.command(1, extra=extra), 20)
            text = so + se
            check(rc is not None and rc > 0, "%s: escrowd exited %s: %s" % (what, rc, short(text)))
            want = "metrics address 127.0.0.1:%d is already in use (--metrics-addr)" % port
            check(want in text, "%s: output does not say %r: %s" % (what, want, short(text)))
            check(dir_state(node.data_dir) == state, "%s: the data dir changed" % what)
            check(not any(m in text for m in harness.SANITIZER_MARKS),
                  "%s: sanitizer report: %s" % (what, short(text, 600)))
    finally:
        blocker.close()
    # Free again: the node starts and serves its metrics.
    c.start_node(1, extra=extra)
    c.wait_ready(30)
    node.metrics_port = port
    m = scrape(c, 1)
    check(value(m, "escrow_raft_role", role="leader") == 1, "restarted node is not leader")
    rc, so, se, _ = harness.run_once(c.command(1, extra=["--metrics-addr", node.api]), 10)
    check(rc == 2 and "--metrics-addr %s is also the API address" % node.api in se,
          "--metrics-addr equal to --api-addr: exit %s %s" % (rc, short(se)))
    # A later start-up failure closes the listener it opened: a clean exit 1.
    check(c.stop_all() == {1: 0}, "node 1 did not stop cleanly")
    blocker = blocking_socket()
    try:
        blocker.bind(("127.0.0.1", node.api_port))
        blocker.listen(1)
        rc, so, se, _ = harness.run_once(c.command(1, extra=extra), 20)
    finally:
        blocker.close()
    check(rc == 1 and "api address %s is already in use" % node.api in se
          and not any(m in se for m in harness.SANITIZER_MARKS),
          "API port taken, --metrics-addr free: exit %s %s" % (rc, short(se, 600)))


def test_metrics_listener_insecure(t):
    """One --insecure node: the listener serves the same answers as the
    API's /metrics and /v1/health, and routes nothing else."""
    c = t.cluster(1, start=False)
    start_with_metrics(c)
    rec = random_key(t.rng)
    expect_created(c.escrow(1, rec), rec, "escrow")
    other = check_listener_paths(c, 1, rec, t.rng)
    expect_error(c.lookup(1, other["key_id"]), 404, None,
                 "a key POSTed to the metrics listener (insecure)")
    m = scrape(c, 1)
    st, _, body = c.request(1, "GET", "/metrics")
    check(st == 200, "API /metrics: %s" % st)
    check(parse_exposition(body)[1] == parse_exposition(scrape_text(c, 1))[1],
          "the API's /metrics and the listener's have different families")
    check(value(m, "escrow_http_request_duration_seconds_count", route="escrow") == 1,
          "escrow count %s" % value(m, "escrow_http_request_duration_seconds_count",
                                     route="escrow"))
    check(value(m, "escrow_raft_role", role="leader") == 1, "insecure node is not leader")
    check(value(m, "escrow_raft_commit_duration_seconds_count") >= 1, "commit count 0")
    check(value(m, "escrow_apply_duration_seconds_count") >= 1, "apply count 0")
    check(value(m, "escrow_forward_duration_seconds_count") == 0, "a lone node forwarded")
    batches = value(m, "escrow_raft_apply_batches_total")
    entries = value(m, "escrow_raft_apply_entries_total")
    check(batches is not None and entries is not None and
          1 <= batches <= entries <= 64 * batches,
          "raft_apply batches %s, entries %s" % (batches, entries))
    st, _, data = c.request(1, "GET", "/v1/health?ready")
    st2, _, data2 = plain(c, 1, "GET", "/v1/health?ready")
    check((st, data) == (st2, data2), "health differs: API %s %s, listener %s %s"
          % (st, data, st2, data2))


def test_exposition_parser_is_strict(t):
    """The parser above refuses malformed or inconsistent expositions (and a
    double space, which escrowd never writes): a test of the test."""
    good = ("# HELP a an a\n# TYPE a counter\na 1\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n")
    parse_exposition(good)
    for bad in (good.replace("a 1", "a  1"), good.replace("a 1", "a{x=1} 1"),
                good + "a 2\n", good + "# TYPE a gauge\n", good + "# HELP a again\n",
                good.replace("h_count 2", "h_count 3"),
                good.replace("le=\"1\"} 1", "le=\"1\"} 3"), good + "b 1\n", good[:-1],
                good.replace("a 1", "a{x=\"1\",} 1"), good.replace("a 1", "a one")):
        try:
            parse_exposition(bad)
        except harness.Failure:
            continue
        raise harness.Failure("the parser accepted %r" % bad)


TESTS = [
    test_exposition_parser_is_strict,
    test_metrics_listener_on_a_tls_cluster,
    test_metrics_addr_in_use,
    test_metrics_listener_insecure,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
