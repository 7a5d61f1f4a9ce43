#!/usr/bin/env python3
"""Process test of the rolling-upgrade rule (issue 14): a node that meets a
replicated command of a newer format than it knows stops with a `fatal:`
line saying to upgrade it, and neither applies nor skips the entry.

How the newer command gets into the log: tests/escrowd_next, an escrowd
built from this tree with the command format raised to 2
(tests/codec_next.c, -DCODEC_VERSION=3), stands for the next release. It is
what an operator would run, so the test plays a rolling upgrade done in the
wrong order: one follower is upgraded, leadership is handed to it, and the
first command it writes is of format 3, which the two old nodes meet. That
needs no test hook in escrowd and no hand-written Raft segment: the entry
reaches the old nodes through Raft exactly as a newer leader's would.

Checks: both old nodes exit non-zero with the fatal line naming the entry's
index, its version, theirs and "upgrade this node"; their store holds
nothing of the entry (applied index below it, the key absent, read from a
copy of escrow.db); started again with the same binary, a node stops again
at the same index; started with the newer binary, both catch up and all
three digests agree, the key included: the entry was kept, not skipped.
Also `escrowd --version` and the version fields of /v1/status.
Environment: ESCROWD, ESCROWD_NEXT, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_lookup  # noqa: E402

ESCROWD_NEXT = os.environ.get("ESCROWD_NEXT") or os.path.join(
    os.path.dirname(harness.ESCROWD), "..", "tests", "escrowd_next")
FATAL_RE = re.compile(r"fatal: entry (\d+) is a command of format version (\d+), newer than "
                      r"this node's (\d+): upgrade this node")


def version_of(binary):
    """(release, command format) from `BINARY --version`."""
    p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0, "%s --version: exit %s %s" % (binary, p.returncode, p.stderr))
    m = re.fullmatch(r"escrowd (\S+) \(command format (\d+)\)\n", p.stdout)
    check(m is not None, "%s --version printed %r" % (binary, p.stdout))
    return m.group(1), int(m.group(2))


def use_binaries(c, binaries):
    """Makes c start node N with binaries[N] (default: ESCROWD)."""
    plain = c.command

    def command(nid, **kw):
        cmd = plain(nid, **kw)
        cmd[0] = binaries.get(nid, harness.ESCROWD)
        return cmd
    c.command = command


def fatal_lines(c, nid):
    """[(index, version, ours)] of the node's upgrade fatal lines so far."""
    with open(c.nodes[nid].log_path, encoding="utf-8", errors="replace") as f:
        return [tuple(int(g) for g in m.groups())
                for m in (FATAL_RE.search(line) for line in f) if m]


def wait_fatal_exit(c, nid, timeout=30):
    rc = c.wait_exit(nid, timeout)
    check(rc is not None, "node %d still runs %d s after meeting the newer entry:\n%s"
          % (nid, timeout, c.log_tail(nid)))
    check(rc != 0, "node %d exited 0 after meeting the newer entry" % nid)
    return rc


def stored_state(c, nid, tmp):
    """(applied_index, key ids) of the node's escrow.db, read from a copy
    so that the data dir itself is left as the node left it."""
    dst = tempfile.mkdtemp(dir=tmp)
    for name in ("escrow.db", "escrow.db-wal"):
        src = os.path.join(c.nodes[nid].data_dir, name)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(dst, name))
    db = sqlite3.connect(os.path.join(dst, "escrow.db"))
    try:
        applied = db.execute("SELECT v FROM meta WHERE k = 'applied_index'").fetchone()[0]
        keys = {r[0] for r in db.execute("SELECT key_id FROM keys")}
    finally:
        db.close()
    return applied, keys


def wait_leader_is(c, nid, timeout=20):
    deadline = time.monotonic() + timeout
    lid = None
    while time.monotonic() < deadline:
        lid = c.leader(timeout)
        if lid == nid:
            return
        time.sleep(0.1)
    check(False, "node %d did not become leader (leader %s)" % (nid, lid))


def test_newer_command_stops_old_nodes(t):
    """The wrong order (a newer leader before the followers are upgraded):
    the old nodes stop at the newer entry, unapplied, until upgraded."""
    release, ours = version_of(harness.ESCROWD)
    next_release, newer = version_of(ESCROWD_NEXT)
    check(newer == ours + 1 and next_release == release,
          "escrowd_next is not this release with the next command format: %s %d / %s %d"
          % (next_release, newer, release, ours))

    c = t.cluster(3)
    binaries = {}
    use_binaries(c, binaries)
    ids = c.ids()
    before = [random_key(t.rng) for _ in range(5)]
    for rec in before:
        expect_created(c.escrow_retry(ids, rec), rec, "escrow before the upgrade")
    for nid in ids:
        st = c.status(nid)
        check(st and st.get("version") == release and st.get("command_version") == ours,
              "node %d status version fields: %s" % (nid, short(st)))

    # Upgrade one follower: it reads the format-1 entries as before.
    leader = c.leader()
    new = [i for i in ids if i != leader][0]
    old = [i for i in ids if i != new]
    check(c.kill(new, signal.SIGTERM, wait=True) == 0, "node %d: SIGTERM exit not 0" % new)
    binaries[new] = ESCROWD_NEXT
    c.restart(new)
    c.wait_ready(30)
    c.digest_equal(30)
    st = c.status(new)
    check(st and st.get("command_version") == newer,
          "upgraded node %d status: %s" % (new, short(st)))

    # Too early: leadership to the upgraded node, which writes format 3.
    st, _, data = c.request(leader, "POST", "/v1/cluster/transfer", {"id": new})
    check(st == 202, "transfer to node %d: %s %s" % (new, st, short(data)))
    wait_leader_is(c, new)
    for nid in old:
        c.nodes[nid].expected = False    # they are about to stop
    rec = random_key(t.rng)
    resp = c.escrow(new, rec)
    expect_created(resp, rec, "escrow through the upgraded leader")
    check(resp[1].get("x-escrow-leader") == str(new),
          "the escrow was not written by node %d: headers %s" % (new, resp[1]))
    index = resp[2]["index"]
    t.diag("the format-%d escrow is entry %d" % (newer, index))

    for nid in old:
        wait_fatal_exit(c, nid)
        lines = fatal_lines(c, nid)
        check(lines == [(index, newer, ours)],
              "node %d fatal lines %s, expected one for entry %d:\n%s"
              % (nid, lines, index, c.log_tail(nid)))
        applied, keys = stored_state(c, nid, c.dir)
        check(applied < index, "node %d stored applied index %d, at or past the newer "
              "entry %d" % (nid, applied, index))
        check(rec["key_id"] not in keys, "node %d holds the newer entry's key" % nid)
        check(all(r["key_id"] in keys for r in before),
              "node %d lost keys escrowed before: %s" % (nid, sorted(keys)))
        check(os.path.isdir(os.path.join(c.nodes[nid].data_dir, "raft")),
              "node %d: raft dir gone" % nid)

    # The same binary again: it meets the same entry and stops again.
    again = old[0]
    c.restart(again)
    c.nodes[again].expected = False
    wait_fatal_exit(c, again, 60)
    lines = fatal_lines(c, again)
    check(lines == [(index, newer, ours)] * 2,
          "node %d after a restart: fatal lines %s" % (again, lines))
    applied, keys = stored_state(c, again, c.dir)
    check(applied < index and rec["key_id"] not in keys,
          "node %d applied the newer entry after a restart (applied %d)" % (again, applied))

    # Upgraded, both apply it: nothing was skipped.
    for nid in old:
        binaries[nid] = ESCROWD_NEXT
        c.restart(nid)
    c.wait_ready(60)
    applied, _ = c.digest_equal(60)
    check(applied >= index, "digests agree at %d, before the entry %d" % (applied, index))
    for r in before + [rec]:
        expect_lookup(c.lookup_retry(ids, r["key_id"]), r, "lookup after the upgrade")
    c.digest_equal(60)


TESTS = [
    test_newer_command_stops_old_nodes,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
