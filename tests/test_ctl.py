#!/usr/bin/env python3
"""Process tests of escrowctl as a new user meets it (docs/api.md section 7): TLS
files that are missing or wrong are usage errors naming the file (exit 2),
before any connection; a refused handshake says what was refused (exit 1);
only silence is "unreachable" (exit 3); no message is cut short; and
`status` asked through one follower shows every healthy member reachable.
Output is TAP. Environment: ESCROWD, ESCROWCTL, ESCROW_MKCERT, TEST_SEED,
TEST_TIMEOUT.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402
from test_snapshot import need_ctl  # noqa: E402


def ctl(args, nodes, env=None):
    """escrowctl args against nodes with extra environment variables env.
    Returns (rc, stdout, the first line of stderr, all of stderr)."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        rc, so, se, _ = harness.escrowctl(args, nodes, timeout=30)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rc, so, (se.splitlines() or [""])[0], se


def expect_says(got, rc_want, line_want, what):
    """got: ctl's answer. Checks the exit code and the first stderr line,
    which must equal line_want (or end with it, when line_want starts with
    '...'): a message cut short fails."""
    rc, _, line, se = got
    ok = line.endswith(line_want[3:]) if line_want.startswith("...") else line == line_want
    check(rc == rc_want and ok, "%s: exit %s, said %r; expected exit %d and %r"
          % (what, rc, se.strip(), rc_want, line_want))


def tls(c, name="operator", ca=None, cert=None, key=None):
    """--ca/--cert/--key with certificate NAME of cluster c, any replaced."""
    return ["--ca", ca or os.path.join(c.pki, "ca.crt"),
            "--cert", cert or os.path.join(c.pki, name + ".crt"),
            "--key", key or os.path.join(c.pki, name + ".key")]


def test_unusable_tls_files_are_usage_errors(t):
    """A TLS file that is missing, a directory, unreadable, or not PEM of its
    kind: exit 2 naming the option (or variable) and the file, before any
    connection (no node listens here). An https node without a client
    certificate: exit 2 naming what is missing."""
    need_ctl()
    c = t.cluster(1, start=False, tls=True)
    nodes = ["https://127.0.0.1:%d" % harness.free_ports(1)[0]]
    pki = c.pki
    missing = os.path.join(pki, "x.crt")
    expect_says(ctl(tls(c, cert=missing) + ["status"], nodes), 2,
                "escrowctl: --cert %s: No such file or directory" % missing, "missing --cert")
    expect_says(ctl(tls(c, key=os.path.join(pki, "x.key")) + ["status"], nodes), 2,
                "escrowctl: --key %s/x.key: No such file or directory" % pki, "missing --key")
    expect_says(ctl(tls(c, ca=pki) + ["status"], nodes), 2,
                "escrowctl: --ca %s: Is a directory" % pki, "a directory as --ca")
    expect_says(ctl(tls(c, cert=os.path.join(pki, "operator.key")) + ["status"], nodes), 2,
                "escrowctl: --cert %s/operator.key: not a PEM certificate file "
                "(no \"-----BEGIN CERTIFICATE-----\" line)" % pki, "a key as --cert")
    expect_says(ctl(tls(c, key=os.path.join(pki, "operator.crt")) + ["status"], nodes), 2,
                "escrowctl: --key %s/operator.crt: not a PEM private key file "
                "(no \"-----BEGIN PRIVATE KEY-----\" line)" % pki, "a certificate as --key")
    expect_says(ctl(tls(c, ca=c.seal_key) + ["status"], nodes), 2,
                "escrowctl: --ca %s: not a PEM certificate file "
                "(no \"-----BEGIN CERTIFICATE-----\" line)" % c.seal_key, "the seal key as --ca")
    # Named as the user named it: the variable when it came from there.
    expect_says(ctl(["--ca", os.path.join(pki, "ca.crt"), "status"], nodes,
                    env={"ESCROW_CERT": missing, "ESCROW_KEY": os.path.join(pki, "agent.key")}),
                2, "escrowctl: ESCROW_CERT %s: No such file or directory" % missing,
                "missing $ESCROW_CERT")
    if os.geteuid() != 0:   # root reads any file
        unreadable = os.path.join(c.dir, "unreadable.key")
        with open(unreadable, "w") as f:
            f.write(open(os.path.join(pki, "agent.key")).read())
        os.chmod(unreadable, 0)
        expect_says(ctl(tls(c, key=unreadable) + ["status"], nodes), 2,
                    "escrowctl: --key %s: Permission denied" % unreadable, "unreadable --key")
    # A long path is shortened at its start, never cut at its end.
    deep = os.path.join(c.dir, "d" * 120, "e" * 120)
    os.makedirs(deep)
    expect_says(ctl(tls(c, cert=os.path.join(deep, "agent.crt")) + ["status"], nodes), 2,
                "...%s/agent.crt: No such file or directory" % ("e" * 30), "a long missing path")
    # https without a client certificate: which options are missing.
    expect_says(ctl(["status"], nodes), 2,
                "escrowctl: %s is a TLS node, and --ca, --cert and --key are not given (nor "
                "ESCROW_CA, ESCROW_CERT and ESCROW_KEY): give the cluster's CA and your client "
                "certificate and key" % nodes[0], "https with no TLS files")
    expect_says(ctl(["--ca", os.path.join(pki, "ca.crt"), "status"], nodes), 2,
                "escrowctl: %s is a TLS node, and --cert and --key are not given (nor "
                "ESCROW_CERT and ESCROW_KEY): give your client certificate and key" % nodes[0],
                "https with --ca only")
    # With good files the same command finds nobody: that is exit 3.
    rc, _, line, se = ctl(tls(c) + ["status"], nodes)
    check(rc == 3 and line.startswith("escrowctl: no node could be reached: %s: " % nodes[0]),
          "nobody listening: exit %s %s" % (rc, short(se)))


def test_refused_handshakes_say_what_was_refused(t):
    """Against a TLS cluster: a node certificate our --ca did not sign, our
    certificate from another CA, an expired one, the wrong key, no --ca, or
    https to a plain node: each says what was refused, whole; exit 1 (2 for
    our own key). A node that does not answer: exit 3."""
    need_ctl()
    c = t.cluster(3, tls=True)
    plain = t.cluster(1)
    node = c.url(c.ids()[0])
    other = os.path.join(c.dir, "other-pki")
    rc, _, err, _ = harness.run_once([harness.ESCROWCTL, "pki", "init", other, "--nodes", "1"])
    check(rc == 0, "second pki: %s" % err)
    rc, _, err, _ = harness.run_once([harness.MKCERT, c.pki, "expired", "bob", "helpdesk",
                                      "-10", "9"])
    check(rc == 0, "mkcert expired: %s" % err)
    expect_says(ctl(tls(c, ca=os.path.join(other, "ca.crt")) + ["status"], [node]), 1,
                "escrowctl: %s: the node's certificate is not signed by --ca %s/ca.crt "
                "(unknown CA)" % (node, other), "another CA as --ca")
    expect_says(ctl(["--cert", os.path.join(c.pki, "agent.crt"), "--key",
                     os.path.join(c.pki, "agent.key"), "status"], [node]), 1,
                "escrowctl: %s: the node's certificate is not signed by a CA this system "
                "trusts (unknown CA): give the cluster's CA with --ca (or ESCROW_CA)" % node,
                "no --ca")
    expect_says(ctl(tls(c, cert=os.path.join(other, "operator.crt"),
                        key=os.path.join(other, "operator.key")) + ["status"], [node]), 1,
                "escrowctl: %s: the node refused our certificate --cert %s/operator.crt: it is "
                "not signed by the cluster's CA (unknown CA)" % (node, other),
                "a client certificate of another CA")
    expect_says(ctl(tls(c, "expired") + ["status"], [node]), 1,
                "escrowctl: %s: the node refused our certificate --cert %s/expired.crt: it has "
                "expired" % (node, c.pki), "an expired client certificate")
    expect_says(ctl(tls(c, key=os.path.join(c.pki, "agent.key")) + ["status"], [node]), 2,
                "escrowctl: --key %s/agent.key: not the key of --cert %s/operator.crt, or not a "
                "usable private key" % (c.pki, c.pki),
                "another certificate's key")
    # Long paths are shortened at their start; the sentence stays whole.
    deep = os.path.join(c.dir, "d" * 120, "e" * 120)
    os.makedirs(deep)
    for f in ("operator.crt", "operator.key"):
        with open(os.path.join(other, f)) as src, open(os.path.join(deep, f), "w") as dst:
            dst.write(src.read())
    rc, _, line, se = ctl(tls(c, cert=os.path.join(deep, "operator.crt"),
                              key=os.path.join(deep, "operator.key")) + ["status"], [node])
    check(rc == 1 and "the node refused our certificate --cert ..." in line and line.endswith(
        "e/operator.crt: it is not signed by the cluster's CA (unknown CA)"),
        "a long path to another CA's certificate: exit %s %s" % (rc, short(se)))
    https_plain = plain.url(1).replace("http://", "https://")
    expect_says(ctl(tls(c) + ["status"], [https_plain]), 1,
                "escrowctl: %s: the node does not speak TLS at this address (an http:// node?)"
                % https_plain, "https to a plain node")
    # Fail-over: a refusal tells more than a node that did not answer.
    down = "https://127.0.0.1:%d" % harness.free_ports(1)[0]
    expect_says(ctl(tls(c, ca=os.path.join(other, "ca.crt")) + ["status"], [node, down]), 1,
                "escrowctl: %s: the node's certificate is not signed by --ca %s/ca.crt "
                "(unknown CA)" % (node, other), "refused, then silence")
    down2 = "https://127.0.0.1:%d" % harness.free_ports(1)[0]
    rc, _, line, se = ctl(tls(c) + ["status"], [down, down2])
    check(rc == 3 and line.startswith("escrowctl: none of the 2 nodes could be reached; "
                                      "the last: %s: " % down2),
          "two silent nodes: exit %s %s" % (rc, short(se)))
    rc, so, line, se = ctl(tls(c) + ["status"], [down, node])
    check(rc == 0 and "REACHABLE" in so, "silence, then a good node: exit %s %s" % (rc, short(se)))


def status_rows(out):
    """The member table of `escrowctl status`: {id: {column: value}}."""
    lines = out.splitlines()
    head = [i for i, ln in enumerate(lines) if ln.startswith("ID ")]
    check(len(head) == 1, "no table in: %s" % out)
    cols = lines[head[0]].split()
    rows = {}
    for ln in lines[head[0] + 1:]:
        cells = ln.split()
        if not cells:
            continue
        if cells[3] != "*":          # LEADER is empty for followers
            cells.insert(3, "")
        rows[int(cells[0])] = dict(zip(cols, cells))
    return rows


def test_status_through_one_follower(t):
    """status asked through one follower only: every healthy member is
    reachable (the follower alone would say 'no' for the other follower);
    a killed member shows 'no' from the leader's view; --help explains the
    column."""
    need_ctl()
    c = t.cluster(3)
    leader = c.leader()
    f1, f2 = [i for i in c.ids() if i != leader]
    rc, so, se, _ = harness.escrowctl(["status"], [c.url(f1)])
    check(rc == 0, "status via follower %d: exit %s %s" % (f1, rc, short(se)))
    rows = status_rows(so)
    check(sorted(rows) == c.ids() and all(r["REACHABLE"] == "yes" for r in rows.values()),
          "status via follower %d, all healthy:\n%s" % (f1, so))
    rc, so, se, _ = harness.escrowctl(["status"], [c.url(f1)], as_json=True)
    nodes = json.loads(so)["nodes"] if rc == 0 else []
    check(len(nodes) == 3 and all(n.get("reachable") is True for n in nodes),
          "status --json via follower %d: exit %s %s %s" % (f1, rc, short(so), short(se)))
    c.kill(f2)
    deadline = time.monotonic() + 15
    while True:
        rc, so, se, _ = harness.escrowctl(["status"], [c.url(f1)])
        rows = status_rows(so) if rc == 0 else {}
        if rows and rows[f2]["REACHABLE"] == "no":
            break
        check(time.monotonic() < deadline, "node %d killed, status via %d after 15 s "
              "(exit %s):\n%s%s" % (f2, f1, rc, so, se))
        check(not rows or rows[f2]["REACHABLE"] in ("yes", "?"),
              "killed node %d: %s" % (f2, rows))
        time.sleep(0.3)
    check(rows[leader]["REACHABLE"] == "yes" and rows[f1]["REACHABLE"] == "yes",
          "healthy members after node %d was killed:\n%s" % (f2, so))
    check("member %d:" % f2 in se, "no reason given for node %d: %s" % (f2, se))
    rc, so, se, _ = harness.escrowctl(["status", "--help"])
    check(rc == 0 and "REACHABLE is 'yes' when escrowctl got the member's own status" in so
          and "'?'" in so, "status --help does not explain REACHABLE: %s" % short(so))


TESTS = [
    test_unusable_tls_files_are_usage_errors,
    test_refused_handshakes_say_what_was_refused,
    test_status_through_one_follower,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
