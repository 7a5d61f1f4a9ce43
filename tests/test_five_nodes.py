#!/usr/bin/env python3
"""Process tests of five-node TLS clusters (issue 14): a majority of five is
three, so the cluster loses two nodes at once (kill -9, the leader among
them) and keeps escrowing and looking up; the two come back and catch up to
the same state digest. And a follower removed and a new node joined while
a bounded load escrows: nothing acknowledged is lost, and the final members
agree on the digest. Every escrow answered 201 is counted and read back.
Output is TAP.
Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_lookup  # noqa: E402

LOAD_MAX_REQUESTS = 2000  # the background load stops after this many escrows...
LOAD_MAX_SECONDS = 40     # ...or this long, whichever comes first
LOAD_PAUSE = 0.03         # seconds between two escrows: the load spans the changes


def read_back(c, acked, what):
    """Every acknowledged key, looked up through the nodes in turn (over
    kept-alive connections, moving on after an error or a 503)."""
    ids = c.live_ids()
    clients = {nid: c.client(nid, as_="helpdesk") for nid in ids}
    try:
        for n, rec in enumerate(acked):
            path = harness.lookup_path(rec["key_id"])
            resp = harness.retry(ids[n % len(ids):] + ids[:n % len(ids)],
                                 lambda nid: clients[nid].request("GET", path), 15)
            expect_lookup(resp, rec, what)
    finally:
        for cl in clients.values():
            cl.close()


def test_lose_two_of_five_at_once(t):
    """kill -9 of the leader and a follower together: the three survivors
    elect a leader and serve escrows and lookups; the two restart, catch up,
    and all five digests agree."""
    c = t.cluster(5, tls=True)
    ids = c.ids()
    acked = []
    for _ in range(20):
        rec = random_key(t.rng)
        expect_created(c.escrow_retry(ids, rec), rec, "escrow before the loss")
        acked.append(rec)
    c.digest_equal(30)

    leader = c.leader()
    lost = [leader, t.rng.choice([i for i in ids if i != leader])]
    for nid in lost:
        c.kill(nid, wait=False)
    for nid in lost:
        check(c.wait_exit(nid, 10) is not None, "node %d outlived kill -9" % nid)
    survivors = [i for i in ids if i not in lost]
    t.diag("killed nodes %s at once (leader %d); survivors %s" % (lost, leader, survivors))

    escrows = lookups = 0
    for _ in range(30):
        rec = random_key(t.rng)
        expect_created(c.escrow_retry(survivors, rec, timeout=30), rec,
                       "escrow with two of five lost")
        acked.append(rec)
        escrows += 1
        old = t.rng.choice(acked)
        expect_lookup(c.lookup_retry(survivors, old["key_id"]), old,
                      "lookup with two of five lost")
        lookups += 1
    t.diag("%d escrows and %d lookups through the survivors" % (escrows, lookups))
    check(c.leader() not in lost, "the leader is a killed node")

    for nid in lost:
        c.restart(nid)
    c.wait_ready(60)
    index, digest = c.digest_equal(60)
    t.diag("all 5 agree at index %d, digest %s" % (index, digest[:16]))
    read_back(c, acked, "lookup after the two came back")
    c.digest_equal(60)


class Load:
    """A background writer: escrows through the nodes in `targets` in turn
    until stopped, LOAD_MAX_REQUESTS are sent or LOAD_MAX_SECONDS pass;
    keeps every key answered 201."""

    def __init__(self, c, targets, seed):
        self.c = c
        self.targets = list(targets)
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.acked = []
        self.served = {}     # node id: escrows it acknowledged
        self.failed = []
        self.errors = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def set_targets(self, targets):
        with self.lock:
            self.targets = list(targets)

    def _run(self):
        clients = {}
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        try:
            for n in range(LOAD_MAX_REQUESTS):
                if self.stopping.is_set() or time.monotonic() >= deadline:
                    break
                with self.lock:
                    nid = self.targets[n % len(self.targets)]
                if nid not in clients:
                    clients[nid] = self.c.client(nid, timeout=15, as_="agent")
                rec = random_key(self.rng)
                st, _, data = clients[nid].request("POST", "/v1/keys", rec)
                if st == 201:
                    self.acked.append(rec)
                    self.served[nid] = self.served.get(nid, 0) + 1
                else:
                    self.failed.append((nid, st, short(data, 80)))
                time.sleep(LOAD_PAUSE)
        except Exception as e:  # reported by stop()
            self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            for cl in clients.values():
                cl.close()

    def stop(self, timeout=30):
        self.stopping.set()
        self.thread.join(timeout)
        check(not self.thread.is_alive(), "the load thread did not stop in %d s" % timeout)
        check(not self.errors, "load thread: %s" % self.errors)


def wait_members(c, nid, want, timeout=60):
    """Waits until node nid (the leader) lists exactly the ids in want, all
    voters."""
    deadline = time.monotonic() + timeout
    roles = {}
    while time.monotonic() < deadline:
        roles, _ = harness.members_of(c.status(nid))
        if set(roles) == set(want) and all(r == "voter" for r in roles.values()):
            return
        time.sleep(0.2)
    check(False, "members %s, expected voters %s" % (roles, sorted(want)))


def test_remove_and_add_under_load(t):
    """While a thread escrows: `escrowctl cluster remove` of a follower
    (then its escrowd is stopped), and a new node 6 joins with --join. No
    acknowledged key is lost; the final five agree on the digest."""
    c = t.cluster(5, tls=True)
    ids = c.ids()
    leader = c.leader()
    gone = t.rng.choice([i for i in ids if i != leader])
    stay = [i for i in ids if i != gone]
    load = Load(c, stay, t.rng.random())
    marks = []
    try:
        time.sleep(1.0)
        marks.append((len(load.acked), load.thread.is_alive()))
        rc, so, se, _ = harness.escrowctl(c.ctl_tls_args("operator")
                                          + ["cluster", "remove", str(gone)],
                                          [c.url(i) for i in stay])
        check(rc == 0, "cluster remove %d: exit %s %s %s" % (gone, rc, short(so), short(se)))
        check(c.kill(gone, signal.SIGTERM, wait=True) == 0,
              "removed node %d did not stop cleanly" % gone)
        wait_members(c, c.leader(), stay)
        marks.append((len(load.acked), load.thread.is_alive()))
        t.diag("removed node %d under load (%d escrows acknowledged so far)"
               % (gone, len(load.acked)))

        c.add_node(6)
        c.start_node(6, bootstrap=False, join=c.url(t.rng.choice(stay)))
        final = stay + [6]
        wait_members(c, c.leader(), final)
        c.wait_ready(60, ids=[6])
        marks.append((len(load.acked), load.thread.is_alive()))
        load.set_targets(final)
        # Until node 6 has acknowledged escrows of the load (bounded).
        deadline = time.monotonic() + 20
        while load.served.get(6, 0) < 5 and load.thread.is_alive() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        marks.append((len(load.acked), load.thread.is_alive()))
    finally:
        load.stop()
    t.diag("load: %d escrows acknowledged (by node: %s), %d not (%s); acknowledged by the "
           "start, the removal, the join, the end: %s"
           % (len(load.acked), load.served, len(load.failed),
              sorted({f[1] for f in load.failed}), marks))
    # The load ran from before the removal to after the join (how many
    # escrows land during a change is the scheduler's), and went on
    # through node 6.
    check(marks[0][0] > 0 and all(alive for _, alive in marks) and marks[3][0] > marks[2][0],
          "the load did not go on through the changes: %s (%s)" % (marks, load.failed[:3]))
    check(load.served.get(6, 0) > 0, "node 6 acknowledged no escrow: %s" % load.served)
    index, digest = c.digest_equal(60)
    check(sorted(c.live_ids()) == sorted(final), "live nodes %s, expected %s"
          % (c.live_ids(), final))
    for nid in final:
        roles, _ = harness.members_of(c.status(nid))
        check(gone not in roles, "node %d still lists removed node %d: %s" % (nid, gone, roles))
    t.diag("final members %s agree at index %d, digest %s" % (final, index, digest[:16]))
    # Every answer names the members a console may talk to (its CSP), as
    # they are now: node 6 in, the removed node out.
    for nid in final:
        st, hdrs, _ = c.request(nid, "GET", "/v1/health")
        allowed = hdrs.get("content-security-policy", "").split("connect-src", 1)[-1]
        allowed = allowed.split(";", 1)[0].split()
        check(c.url(6) in allowed and c.url(gone) not in allowed,
              "node %d: connect-src %s after the changes (node 6 %s, removed %s)"
              % (nid, allowed, c.url(6), c.url(gone)))
    read_back(c, load.acked, "lookup after the membership changes")
    c.digest_equal(60)


TESTS = [
    test_lose_two_of_five_at_once,
    test_remove_and_add_under_load,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
