#!/usr/bin/env python3
"""Process tests of `escrowctl drill watch` (issue 4) against real escrowd nodes.

The drill runs its canary workload over every node while the test kills the
leader with SIGKILL and brings it back; the drill must find every
acknowledged key again and report the leader change. A second run points at
nodes that are all down and must say so (exit 3). The checker's verdicts on
lost, wrong and stale answers are unit-tested in tests/test_drill_check.c.
Output is TAP. Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402
from test_snapshot import need_ctl  # noqa: E402


def drill(c, ids, args, timeout):
    """Starts escrowctl --json drill watch ARGS over the nodes ids; returns
    the Popen (stdout, stderr piped)."""
    cmd = [harness.ESCROWCTL, "--nodes", ",".join(c.url(i) for i in ids), "--json",
           "drill", "watch"] + list(args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, timeout):
    try:
        so, se = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        so, se = p.communicate()
        raise harness.Failure("escrowctl drill watch still running after %d s: %s"
                              % (timeout, short(se, 600)))
    return p.returncode, so, se


def test_drill_watch_through_a_leader_kill(t):
    need_ctl()
    c = t.cluster(3)
    ids = c.ids()
    p = drill(c, ids, ["--duration", "12", "--rate", "40", "--request-timeout", "2000"], 120)
    try:
        time.sleep(3)
        old = c.leader()
        check(c.kill(old) is not None, "node %d did not die within 10 s of SIGKILL" % old)
        t.diag("killed leader %d at about 3 s" % old)
        time.sleep(4)
        c.restart(old)
        rc, so, se = finish(p, 120)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    check(rc == 0, "drill watch: exit %s\nstdout: %s\nstderr: %s"
          % (rc, short(so, 800), short(se, 800)))
    try:
        rep = json.loads(so)
    except ValueError:
        rep = None
    check(isinstance(rep, dict), "drill watch --json printed no JSON object: %s" % short(so))
    for k in ("lost", "unverified", "wrong", "stale"):
        check(rep.get(k) == 0, "drill reports %s = %s: %s" % (k, rep.get(k), rep.get("findings")))
    check(rep.get("safe") is True, "drill report not safe: %s" % short(rep))
    check(rep.get("acknowledged", 0) >= 100, "only %s escrows acknowledged in 12 s at 40/s"
          % rep.get("acknowledged"))
    check(rep.get("verified") == rep.get("acknowledged"),
          "%s of %s acknowledged keys verified" % (rep.get("verified"), rep.get("acknowledged")))
    check(rep.get("lookups_ok", 0) > 0, "no lookup succeeded: %s" % short(rep))
    leaders = [x["leader"] for x in rep.get("leaders", []) if x.get("leader")]
    check(old in leaders and any(x != old for x in leaders),
          "leaders seen %s: expected %d and then another" % (leaders, old))
    check("drill:" in se and "leader" in se, "no per-second lines on stderr: %s" % short(se))
    t.diag("drill: %d acknowledged, %d verified, %d lookups ok, unavailable windows %s, "
           "errors %s, leaders %s" % (rep["acknowledged"], rep["verified"], rep["lookups_ok"],
                                      rep.get("unavailable"), rep.get("errors"), leaders))
    # Canary keys are marked by their machine.
    st, _, body = c.request(ids[0], "GET", "/v1/machines/%s/keys" % rep["machine"])
    check(st == 200 and isinstance(body, dict) and len(body.get("keys", [])) >=
          rep["acknowledged"], "GET /v1/machines/%s/keys: %s %s"
          % (rep["machine"], st, short(body)))
    c.digest_equal(30)


def test_drill_watch_with_every_node_down(t):
    need_ctl()
    c = t.cluster(3)
    ids = c.ids()
    c.stop_all()
    p = drill(c, ids, ["--duration", "2", "--rate", "10", "--request-timeout", "500"], 60)
    rc, so, se = finish(p, 60)
    check(rc == 3, "drill watch with every node down: exit %s (expected 3)\n%s"
          % (rc, short(so + se, 600)))
    rep = json.loads(so)
    check(rep.get("acknowledged") == 0 and rep.get("escrow_failed", 0) > 0,
          "report with every node down: %s" % short(rep))
    codes = [e["code"] for e in rep.get("errors", [])]
    check("connect" in codes, "errors by code %s: expected connect" % codes)


TESTS = [
    test_drill_watch_through_a_leader_kill,
    test_drill_watch_with_every_node_down,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
