#!/usr/bin/env python3
"""Process tests of hostile clients (issue 5, hostile input) on real escrowd
nodes: a thousand idle connections and a hundred that send half a request
one byte at a time must not stop a node from serving others or from taking
part in Raft, and the node cuts the slow ones off; over plain HTTP and over
TLS (every connection there a finished handshake). Output is TAP.
Environment: ESCROWD, TEST_SEED, TEST_TIMEOUT.
"""

import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_lookup  # noqa: E402

IDLE = 1000
SLOW = 100
REQUEST_TIMEOUT_S = 10      # HTTP_REQUEST_TIMEOUT_MS in node/http_server.h


def open_many(port, n, tls=None):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname="127.0.0.1")
        socks.append(s)
    return socks


def closed_by_peer(s):
    """True when the server has closed s (EOF or reset)."""
    s.settimeout(0.2)
    try:
        return s.recv(1024) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def flood(t, tls):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE + SLOW + 200
    if soft < want and hard >= want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    n_idle = min(IDLE, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - SLOW - 200)
    check(n_idle >= 200, "only %d descriptors for this test" % n_idle)
    c = t.cluster(3, tls=tls)
    ctx = c.tls_context("agent")
    ids = c.ids()
    leader = c.leader()
    target = [i for i in ids if i != leader][0]       # a follower: it also forwards
    term = c.status(leader)["term"]
    t0 = time.time()
    idle = open_many(c.nodes[target].api_port, n_idle, ctx)
    slow = open_many(c.nodes[leader].api_port, SLOW, ctx)
    t.diag("opened %d connections (%s) in %.1f s" % (n_idle + SLOW, "TLS" if tls else "plain",
                                                   time.time() - t0))
    started = time.time()
    for s in slow:
        s.send(b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Le")
    t.diag("%d idle connections to node %d, %d half-sent requests to leader %d"
           % (n_idle, target, SLOW, leader))
    recs = [random_key(t.rng) for _ in range(100)]
    t0 = time.time()
    for rec in recs:
        expect_created(c.request(target, "POST", "/v1/keys", rec, as_="agent"), rec,
                       "escrow through node %d" % target)
        for s in slow[:10]:          # a byte now and then keeps them half-sent
            try:
                s.send(b"n")
            except OSError:
                pass
    for rec in recs[:20]:
        expect_lookup(c.request(leader, "GET", harness.lookup_path(rec["key_id"]),
                                as_="helpdesk"), rec, "lookup through the leader")
    took = time.time() - t0
    t.diag("100 escrows through node %d and 20 lookups through the leader in %.1f s"
           % (target, took))
    st = c.status(leader)
    check(st is not None and st.get("role") == "leader" and st.get("term") == term,
          "the leader changed under the flood: %s" % short(st))
    # The node cuts off what sent no whole request within the deadline.
    while time.time() - started < REQUEST_TIMEOUT_S + 3:
        time.sleep(0.5)
    cut_slow = sum(closed_by_peer(s) for s in slow)
    cut_idle = sum(closed_by_peer(s) for s in idle[:100])
    check(cut_slow == SLOW, "%d of %d half-sent requests still open after %d s"
          % (SLOW - cut_slow, SLOW, REQUEST_TIMEOUT_S + 3))
    check(cut_idle == 100, "%d of 100 silent connections still open after %d s"
          % (100 - cut_idle, REQUEST_TIMEOUT_S + 3))
    for s in idle + slow:
        s.close()
    rec = random_key(t.rng)
    expect_created(c.request(target, "POST", "/v1/keys", rec, as_="agent"), rec,
                   "escrow after the flood")
    c.digest_equal(30)


def test_idle_and_slow_connections_do_not_stop_the_node(t):
    flood(t, tls=False)


def test_idle_and_slow_tls_connections_do_not_stop_the_node(t):
    flood(t, tls=True)


TESTS = [
    test_idle_and_slow_connections_do_not_stop_the_node,
    test_idle_and_slow_tls_connections_do_not_stop_the_node,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
