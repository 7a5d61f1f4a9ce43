#!/usr/bin/env python3
"""Process tests of addresses (issue 14): TLS clusters on [::1]:PORT and on
host names (localhost:PORT) for --raft-addr, --api-addr, --bootstrap,
--join and `escrowctl cluster add`; a peer whose certificate lacks the
dialled address is refused; a peer name that does not resolve is logged and
retried; bad address strings exit 2 and change nothing. Output is TAP.
Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_lookup  # noqa: E402


def log_of(c, nid):
    with open(c.nodes[nid].log_path, encoding="utf-8", errors="replace") as f:
        return f.read()


def wait_voter(c, leader, nid, timeout=60):
    deadline = time.monotonic() + timeout
    roles = {}
    while time.monotonic() < deadline:
        roles, _ = harness.members_of(c.status(leader))
        if roles.get(nid) == "voter":
            return roles
        time.sleep(0.2)
    check(False, "node %d is not a voter: %s" % (nid, roles))
    return roles


def check_origins(c, nid, other, stranger):
    """The console's same-origin check with these addresses: the node's own
    origin (its Host header) and a member's are allowed, stranger's is not."""
    for origin in ("https://" + c.nodes[nid].api, "https://" + c.nodes[other].api):
        st, h, data = c.request(nid, "GET", "/v1/whoami", headers={"Origin": origin},
                                as_="helpdesk")
        check(st == 200 and h.get("access-control-allow-origin") == origin,
              "Origin %s: %s %s %s" % (origin, st, short(h), short(data)))
    st, h, data = c.request(nid, "GET", "/v1/whoami", headers={"Origin": stranger},
                            as_="helpdesk")
    check(st == 403 and isinstance(data, dict) and data["error"]["code"] == "cross_origin",
          "Origin %s: %s %s" % (stranger, st, short(data)))


def test_ipv6_cluster(t):
    """Every node on [::1]:PORT (raft and API): escrow and lookup through a
    follower (forwarded over TLS to [::1]), kill -9 of the leader, lookups
    keep working on the survivors."""
    c = t.cluster(3, tls=True, host="::1")
    ids = c.ids()
    check(all(c.nodes[i].raft.startswith("[::1]:") for i in ids), "not on [::1]")
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    recs = [random_key(t.rng) for _ in range(5)]
    for rec in recs:
        expect_created(c.escrow(follower, rec), rec, "escrow through a follower on ::1")
        expect_lookup(c.lookup(follower, rec["key_id"]), rec, "lookup through a follower")
    check_origins(c, follower, leader, "https://[::1]:1")
    c.kill(leader, signal.SIGKILL)
    survivors = [i for i in ids if i != leader]
    c.wait_ready(30, ids=survivors)
    for rec in recs:
        expect_lookup(c.lookup_retry(survivors, rec["key_id"]), rec, "lookup after kill -9")
    rec = random_key(t.rng)
    expect_created(c.escrow_retry(survivors, rec), rec, "escrow after kill -9")
    # escrowctl (libcurl) verifies https://[::1]:PORT against the IP SAN ::1.
    rc, so, se, _ = harness.escrowctl(c.ctl_tls_args() + ["status"],
                                      [c.url(i) for i in survivors], timeout=30)
    check(rc == 0, "escrowctl status over https://[::1]: %s %s" % (rc, short(se)))


def test_names_cluster(t):
    """localhost:PORT in --raft-addr, --api-addr and --bootstrap; a fourth
    node joins with --join https://localhost:PORT and a fifth is added with
    `escrowctl cluster add` by name; both serve what was escrowed."""
    c = t.cluster(3, tls=True, host="localhost")
    ids = c.ids()
    check(c.nodes[1].raft.startswith("localhost:"), "not by name: %s" % c.nodes[1].raft)
    check("listening on" in log_of(c, 1), "node 1 did not say which address it bound")
    recs = [random_key(t.rng) for _ in range(5)]
    for rec in recs:
        expect_created(c.escrow_retry(ids, rec), rec, "escrow by name")
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    check_origins(c, follower, leader, "https://localhost:1")
    c.add_node(4)
    c.start_node(4, bootstrap=False, join=c.url(follower))
    c.wait_ready(60, ids=[4])
    wait_voter(c, leader, 4)
    # An escrowd never starts empty: node 5 runs with --join while the
    # operator adds it by name (the join then finds it a voter already).
    c.add_node(5)
    node5 = c.nodes[5]
    result = {}

    def add():
        result["add"] = harness.escrowctl(
            c.ctl_tls_args() + ["cluster", "add", "5", node5.raft, node5.api],
            [c.url(leader)], timeout=90)

    adder = threading.Thread(target=add)
    adder.start()
    time.sleep(0.5)
    c.start_node(5, bootstrap=False, join=c.url(leader))
    adder.join(100)
    check(not adder.is_alive(), "escrowctl cluster add did not finish")
    rc, so, se, _ = result["add"]
    check(rc == 0, "cluster add by name: %s %s %s" % (rc, short(so), short(se)))
    c.wait_ready(60, ids=[5])
    wait_voter(c, c.leader(), 5)
    st = c.status(leader)
    apis = {m.get("id"): m.get("raft") for m in (st or {}).get("members", [])}
    check(apis.get(5) == node5.raft, "node 5's raft address: %s" % apis)
    c.digest_equal(60)
    for nid in (4, 5):
        for rec in recs:
            expect_lookup(c.lookup(nid, rec["key_id"]), rec, "lookup on node %d" % nid)


def test_san_mismatch_refused(t):
    """A node joining at 127.0.0.2:PORT whose certificate holds only
    127.0.0.1, ::1 and localhost: its peers dial 127.0.0.2 and refuse its
    certificate with a log line; the change fails (after the leader's
    --catch-up-timeout, 3 s here), it never becomes a voter, it stops saying
    that nothing reached it, and the cluster keeps serving."""
    c = t.cluster(3, start=False, tls=True)
    c.extra = ("--catch-up-timeout", "3")
    c.start()
    c.wait_ready(30)
    ids = c.ids()
    leader = c.leader()
    c.add_node(4)
    node = c.nodes[4]
    node.raft = "127.0.0.2:%d" % node.raft_port
    node.api = "127.0.0.2:%d" % node.api_port
    # It asks to join; the leader adds it and then cannot get through.
    c.start_node(4, bootstrap=False, join=c.url(leader))
    want = "connect to node 4 at %s: TLS: the peer's certificate: IP address mismatch" % (
        node.raft)
    deadline = time.monotonic() + 20
    seen = False
    while time.monotonic() < deadline and not seen:
        seen = any(want in log_of(c, i) for i in ids)
        time.sleep(0.3)
    check(seen, "no peer logged the refused certificate: %s" % short(log_of(c, leader)[-800:]))
    # No progress: the change fails, node 4 is no voter, and its join,
    # refused, ends it.
    c.nodes[4].expected = False
    rc = c.wait_exit(4, timeout=40)
    check(rc not in (0, None), "node 4: exit %s" % rc)
    check("nothing reached its Raft address %s" % node.raft in log_of(c, 4),
          "node 4 did not say why it stopped: %s" % short(log_of(c, 4)[-600:]))
    roles, _ = harness.members_of(c.status(c.leader()))
    check(roles.get(4) != "voter", "node 4 became a voter: %s" % roles)
    rec = random_key(t.rng)
    expect_created(c.escrow_retry(ids, rec), rec, "the cluster still serves")


def test_unresolvable_peer_retried(t):
    """Member 3 of --bootstrap is at a name under .invalid (RFC 2606): nodes
    1 and 2 start, log that it does not resolve, keep running, elect a
    leader and serve."""
    c = t.cluster(3, start=False, tls=True)
    port = c.nodes[3].raft_port
    c.nodes[3].raft = "node3.invalid:%d" % port
    c.bootstrap = ",".join("%d=%s/%s" % (i, nd.raft, nd.api) for i, nd in sorted(c.nodes.items()))
    del c.nodes[3]
    c.start()
    c.wait_ready(30, ids=[1, 2])
    rec = random_key(t.rng)
    expect_created(c.escrow_retry([1, 2], rec), rec, "escrow without node 3")
    expect_lookup(c.lookup_retry([1, 2], rec["key_id"]), rec, "lookup without node 3")
    leader = c.leader()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "does not resolve" not in log_of(c, leader):
        time.sleep(0.3)
    check("node3.invalid does not resolve" in log_of(c, leader),
          "no log line about the name: %s" % short(log_of(c, leader)[-800:]))
    c.check_alive()


BAD = [
    ("--raft-addr", "::1:7001", "without brackets"),
    ("--raft-addr", "[::1:7001", "without its ']'"),
    ("--api-addr", "localhost", "no port"),
    ("--api-addr", ":8001", "empty host"),
    ("--api-addr", "127.0.0.1:0", "bad port"),
    ("--raft-addr", "127.0.0.1:65536", "bad port"),
    ("--raft-addr", "Node_1:7001", "host name"),
    ("--bootstrap", "1=[::1]7001/[::1]:8001", "after ']'"),
    ("--join", "https://[::1:8001", "URL"),
]


def test_bad_addresses_exit_2(t):
    """Each bad address string: exit 2, a message naming the flag and why,
    and the data dir left as it was (empty)."""
    c = t.cluster(1, start=False, tls=True)
    node = c.nodes[1]
    for flag, value, why in BAD:
        cmd = c.command(1, bootstrap=False)
        if flag in ("--raft-addr", "--api-addr"):
            cmd[cmd.index(flag) + 1] = value
        else:
            cmd += [flag, value]
        rc, _, se, _ = harness.run_once(cmd, timeout=20)
        check(rc == 2 and flag in se and why in se,
              "%s %s: exit %s %s" % (flag, value, rc, short(se)))
        check(os.listdir(node.data_dir) == [], "%s %s left files: %s" % (
            flag, value, os.listdir(node.data_dir)))
    # escrowctl cluster add: usage error, nothing sent.
    rc, _, se, _ = harness.escrowctl(c.ctl_tls_args() +
                                     ["cluster", "add", "4", "[::1]:9", "::1:10"],
                                     ["https://127.0.0.1:1"])
    check(rc == 2 and "without brackets" in se, "cluster add: %s %s" % (rc, short(se)))
    # --insecure: names and IPv6 raft addresses need TLS.
    cmd = [harness.ESCROWD, "--id", "1", "--data-dir", node.data_dir, "--raft-addr",
           "[::1]:9", "--api-addr", "[::1]:10", "--insecure", "--seal-key", c.seal_key,
           "--bootstrap", "1=[::1]:9/[::1]:10"]
    rc, _, se, _ = harness.run_once(cmd, timeout=20)
    check(rc == 2 and "need TLS" in se, "--insecure with [::1]: %s %s" % (rc, short(se)))


TESTS = [
    test_bad_addresses_exit_2,
    test_ipv6_cluster,
    test_names_cluster,
    test_san_mismatch_refused,
    test_unresolvable_peer_retried,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
