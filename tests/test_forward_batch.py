#!/usr/bin/env python3
"""Process tests of forwarded batches (issue 16): a follower sends the
escrows, lookups and compliance uploads its clients make at the same time
to the leader in one exchange, POST /v1/internal/forward, whose body is a
list of items "WORD LEN LEN LEN\\n" and their bytes (node/fwd_wire.h).

Checked on real TLS clusters: under concurrent load through a follower
every request is answered as if it had come alone, the audit log names
each client's certificate and the follower, and both ends count the
batches; the endpoint takes only a node's certificate, refuses a malformed
batch whole without changing anything, and judges each request inside on
its own, with no more rights than a node's certificate gives alone.
Output is TAP. Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import os
import sys
import json
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_error, expect_lookup  # noqa: E402

PATH = "/v1/internal/forward"
THREADS, PER_THREAD = 8, 30


def item(word, *parts):
    """One item of a batch: the word, then three parts (str or bytes)."""
    parts = [p.encode() if isinstance(p, str) else p for p in parts]
    return b"%s %d %d %d\n" % (word.encode(), len(parts[0]), len(parts[1]),
                               len(parts[2])) + b"".join(parts)


def items(text):
    """The items of a batch's answer: [(word, part, part, part)]."""
    out, pos = [], 0
    while pos < len(text):
        nl = text.index("\n", pos)
        word, *lens = text[pos:nl].split(" ")
        check(len(lens) == 3, "an answer line %r" % text[pos:nl])
        pos = nl + 1
        parts = []
        for n in map(int, lens):
            parts.append(text[pos:pos + n])
            pos += n
        out.append((word,) + tuple(parts))
    return out


def metric(c, nid, name, label=None):
    st, _, text = c.request(nid, "GET", "/metrics")
    check(st == 200, "metrics of node %d: %s" % (nid, st))
    want = name + ("{%s}" % label if label else "") + " "
    for line in text.splitlines():
        if line.startswith(want):
            return float(line.split()[1])
    raise AssertionError("no metric %s on node %d" % (want, nid))


def audit_entries(c, nid):
    st, _, data = c.request(nid, "GET", "/v1/reports/audit?limit=10000", as_="auditor")
    check(st == 200, "audit report: %s %s" % (st, short(data)))
    return data["entries"]


def test_concurrent_requests_through_a_follower(t):
    """8 clients escrow then look up their keys through one follower at the
    same time: each gets its own answer, the audit entries name the
    client's certificate and the follower, and the batches are counted."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    first = random_key(t.rng)
    expect_created(c.escrow_retry(ids, first), first, "a first escrow")
    lock = threading.Lock()
    recs = [[random_key(t.rng) for _ in range(PER_THREAD)] for _ in range(THREADS)]
    failed = []

    def load(i):
        agent = c.client(follower, timeout=20, as_="agent")
        helpdesk = c.client(follower, timeout=20, as_="helpdesk")
        for rec in recs[i]:
            resp = agent.request("POST", "/v1/keys", rec)
            if resp[0] != 201:
                with lock:
                    failed.append(("escrow", resp[0], short(resp[2])))
        for rec in recs[i][:PER_THREAD // 2]:
            resp = helpdesk.request("GET", harness.lookup_path(rec["key_id"]))
            ok = resp[0] == 200 and resp[2].get("recovery_password") == rec["recovery_password"]
            if not ok:
                with lock:
                    failed.append(("lookup", resp[0], short(resp[2])))
        agent.close()
        helpdesk.close()

    errors = harness.Threads(THREADS, load).join(120)
    check(not errors, "load threads: %s" % errors[:2])
    check(not failed, "%d requests failed: %s" % (len(failed), failed[:3]))
    sent = metric(c, follower, "escrow_forwarded_total")
    batches = metric(c, follower, "escrow_forward_batches_total")
    served = metric(c, leader, "escrow_requests_total", 'route="forward"')
    t.diag("%d requests forwarded in %d batches (%.1f each)" % (sent, batches, sent / batches))
    want = THREADS * PER_THREAD * 3 // 2
    check(sent >= want, "the follower forwarded %d of %d requests" % (sent, want))
    check(1 <= batches <= sent, "%d batches for %d forwarded requests" % (batches, sent))
    check(served == batches, "the leader served %d batches, the follower sent %d"
          % (served, batches))
    entries = audit_entries(c, leader)
    mine = {r["key_id"] for rs in recs for r in rs}
    esc = [e for e in entries if e["action"] == "key.escrow" and e["key_id"] in mine]
    check(len(esc) == THREADS * PER_THREAD, "%d escrow entries for %d escrows"
          % (len(esc), THREADS * PER_THREAD))
    check(all(e["actor"] == "agent" and e["role"] == "agent" and e["node"] == follower
              for e in esc), "an escrow entry not by agent via %d: %s"
          % (follower, short([e for e in esc if e["actor"] != "agent" or
                              e["node"] != follower][:1])))
    reads = [e for e in entries if e["action"] == "key.read" and e["key_id"] in mine]
    check(len(reads) == THREADS * (PER_THREAD // 2)
          and all(e["actor"] == "helpdesk" and e["role"] == "helpdesk" for e in reads),
          "%d key.read entries: %s" % (len(reads), short(reads[:1])))


def test_endpoint_is_for_nodes_and_judges_each_request(t):
    """Only a node's certificate may send a batch; a malformed one is
    refused whole (nothing applied); inside a good one each request is
    judged alone: without the forwarding header it is refused, claiming
    another node's client it gets only the node's own rights, and vouched
    for by the node that sends it, it is the client's."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    leader = c.leader()
    first = random_key(t.rng)
    expect_created(c.escrow_retry(ids, first), first, "a first escrow")
    rec_plain, rec_other, rec_vouched = (random_key(t.rng) for _ in range(3))
    json_head = "Content-Type: application/json\r\n"
    body = (item("POST", "/v1/keys", json_head, json.dumps(rec_plain))
            + item("POST", "/v1/keys",
                   "X-Escrow-Forwarded-By: 2\r\nX-Escrow-Actor: agent\r\n"
                   "X-Escrow-Role: agent\r\n" + json_head, json.dumps(rec_other))
            + item("POST", "/v1/keys",
                   "X-Escrow-Forwarded-By: 1\r\nX-Escrow-Actor: agent-7\r\n"
                   "X-Escrow-Role: agent\r\n" + json_head, json.dumps(rec_vouched))
            + item("GET", "/v1/no-such-endpoint", "X-Escrow-Forwarded-By: 1\r\n", ""))

    for role in ("agent", "helpdesk", "operator"):
        expect_error(c.request(leader, "POST", PATH, body, as_=role), 403, "forbidden",
                     "a batch sent as %s" % role)
    applied = c.status(leader)["applied_index"]
    for bad in (b"POST 8 0 0\n/v1/keys" + b"x", b"GET 1 0\n/", b"", b"POST 99 0 0\n/v1"):
        expect_error(c.request(leader, "POST", PATH, bad, as_="node-1"), 400, "bad_request",
                     "malformed batch %r" % bad[:20])
    too_many = item("GET", "/v1/status", "X-Escrow-Forwarded-By: 1\r\n", "") * 65
    expect_error(c.request(leader, "POST", PATH, too_many, as_="node-1"), 400, "bad_request",
                 "a batch of 65 requests")
    check(c.status(leader)["applied_index"] == applied,
          "refused batches changed the leader's applied index")

    st, _, text = c.request(leader, "POST", PATH, body, as_="node-1")
    check(st == 200, "a batch from node 1: %s %s" % (st, short(text)))
    got = items(text)
    check([g[0] for g in got] == ["400", "403", "201", "404"],
          "statuses inside the batch: %s" % [(g[0], short(g[3])) for g in got])
    check(got[2][1] == "application/json" and rec_vouched["key_id"] in got[2][3],
          "the vouched escrow's answer: %s" % short(got[2]))
    expect_error(c.lookup(leader, rec_plain["key_id"]), 404, None, "the refused escrow")
    expect_error(c.lookup(leader, rec_other["key_id"]), 404, None, "the laundered escrow")
    expect_lookup(c.lookup(leader, rec_vouched["key_id"]), rec_vouched, "the vouched escrow")
    esc = [e for e in audit_entries(c, leader)
           if e["action"] == "key.escrow" and e["key_id"] == rec_vouched["key_id"]]
    check(len(esc) == 1 and esc[0]["actor"] == "agent-7" and esc[0]["node"] == 1,
          "the vouched escrow's audit entry: %s" % short(esc))


def test_a_follower_leaves_an_escrows_body_to_the_leader(t):
    """A follower forwards an escrow without reading its body: bad bodies
    go to the leader too (the follower's forwarded count grows by each)
    and are answered exactly as the leader answers them alone; a good one
    is escrowed once, and answered alike through either node.
    A node with no leader to forward to still reads the body: a bad one
    gets its 400, not a 503."""
    c = t.cluster(3)
    ids = c.ids()
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    first = random_key(t.rng)
    expect_created(c.escrow_retry(ids, first), first, "a first escrow")
    good = random_key(t.rng)
    bad_pw = dict(random_key(t.rng), recovery_password="123456-000000")
    bad_id = dict(random_key(t.rng), key_id="not-a-guid")
    no_volume = {k: v for k, v in random_key(t.rng).items() if k != "volume_id"}
    bodies = ['{"key_id": ', "", "[1, 2]", "null", bad_pw, bad_id, no_volume]
    sent = c.metric(follower, "escrow_forwarded_total")
    for body in bodies:
        st, _, via = c.request(follower, "POST", "/v1/keys", body)[:3]
        code = expect_error((st, _, via), 400, None, "bad body %s via the follower"
                            % short(body))
        st2, _, direct = c.request(leader, "POST", "/v1/keys", body)[:3]
        check(st2 == 400 and direct == via,
              "bad body %s: the follower answered %s, the leader %s %s"
              % (short(body), short(via), st2, short(direct)))
        t.diag("%s: %s" % (short(body), code))
    forwarded = c.metric(follower, "escrow_forwarded_total") - sent
    check(forwarded == len(bodies), "the follower forwarded %d of %d bad bodies"
          % (forwarded, len(bodies)))
    resp = c.escrow(follower, good)
    expect_created(resp, good, "a good escrow via the follower")
    again_via, again_direct = c.escrow(follower, good), c.escrow(leader, good)
    first_index = resp[2]["index"]
    check(again_via[0] == again_direct[0] == 200
          and again_via[2] == dict(resp[2], created=False, index=again_via[2].get("index"))
          and again_direct[2] == dict(resp[2], created=False, index=again_direct[2].get("index"))
          and first_index < again_via[2]["index"] < again_direct[2]["index"],
          "the same escrow again (each its own entry): %s via the follower, %s direct, "
          "first %s" % (short(again_via[2]), short(again_direct[2]), short(resp[2])))
    expect_lookup(c.lookup(leader, good["key_id"]), good, "the good escrow")

    for nid in ids:
        if nid != follower:
            c.kill(nid)
    resp = c.request(follower, "POST", "/v1/keys", '{"key_id": ', timeout=30)
    expect_error(resp, 400, "invalid_json", "a bad body on a node left alone")


TESTS = [
    test_concurrent_requests_through_a_follower,
    test_endpoint_is_for_nodes_and_judges_each_request,
    test_a_follower_leaves_an_escrows_body_to_the_leader,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
