#!/usr/bin/env python3
"""Process tests of the store's durability rule (node/storeguard.h).

The SQLite store runs without fsync: the Raft log and snapshots are the
durable copy. A process crash must keep the store as it is; a machine that
went down under a running escrowd (its boot id changed) must make the node
throw the store away and rebuild it from Raft; a clean stop makes the store
durable and says so. A machine crash is simulated the only way a test can:
the data dir's recorded boot id is replaced, and the store is damaged the way
lost page-cache writes damage it (a torn database, a lost WAL).

Output is TAP. Arguments: words; only the tests whose name contains one of
them run. Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT,
ESCROW_LOG_LEVEL.
"""

import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_lookup, expect_refusal  # noqa: E402
from test_snapshot import escrow_all, need_ctl, restore_snapshot, save_snapshot  # noqa: E402

GUARD = "store-boot"
OTHER_BOOT = "00000000-0000-4000-8000-000000000000"   # no kernel's boot id
REBUILD_WORDS = "rebuilt from the Raft snapshot and log"
# Small Raft snapshots, so that a rebuild needs a snapshot and the log after it.
SMALL_SNAPSHOTS = ("--snapshot-threshold", "64", "--snapshot-growth", "1",
                   "--snapshot-trailing", "16")


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def guard_of(node):
    """The boot id recorded in the node's data dir, or None."""
    try:
        with open(os.path.join(node.data_dir, GUARD)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def log_text(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def simulate_machine_crash(node, rng):
    """What a power loss can leave: the boot id of another boot, a database
    file with torn pages (its header among them, so that a node that kept
    it could not even open it), and the WAL gone."""
    with open(os.path.join(node.data_dir, GUARD), "w") as f:
        f.write(OTHER_BOOT + "\n")
    db = os.path.join(node.data_dir, "escrow.db")
    size = os.path.getsize(db)
    check(size > 8192, "store of node %d is only %d bytes" % (node.id, size))
    with open(db, "r+b") as f:   # torn pages: the header page and another
        for offset in (0, rng.randrange(4096, size - 4096) // 4096 * 4096):
            f.seek(offset)
            f.write(bytes(rng.getrandbits(8) for _ in range(4096)))
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)


def start_small(t, n=3):
    c = t.cluster(n, start=False)
    c.extra = SMALL_SNAPSHOTS
    c.start()
    c.wait_ready(30)
    return c


def test_machine_crash_rebuilds_store_from_raft(t):
    c = start_small(t)
    ids = c.ids()
    recs = [random_key(t.rng) for _ in range(300)]
    escrow_all(c, recs, ids)
    victim = c.followers()[0]
    node = c.nodes[victim]
    check(guard_of(node) == boot_id(),
          "running node %d: %s holds %r, expected this boot's id %r"
          % (victim, GUARD, guard_of(node), boot_id()))
    c.digest_equal(30)
    rc = c.kill(victim)
    check(rc is not None, "node %d did not die within 10 s of SIGKILL" % victim)
    simulate_machine_crash(node, t.rng)
    # Written while it is down: it must come from the others through Raft.
    later = [random_key(t.rng) for _ in range(40)]
    escrow_all(c, later, c.live_ids(), what="escrow while node %d is down" % victim)

    c.restart(victim)
    c.wait_ready(60, ids=[victim])
    index, _ = c.digest_equal(60)
    check(REBUILD_WORDS in log_text(node),
          "node %d restarted after a simulated machine crash without saying %r; log tail:\n%s"
          % (victim, REBUILD_WORDS, c.log_tail(victim)))
    check(guard_of(node) == boot_id(), "rebuilt node %d: %s holds %r, expected %r"
          % (victim, GUARD, guard_of(node), boot_id()))
    for rec in t.rng.sample(recs, 40) + later:
        expect_lookup(c.lookup(victim, rec["key_id"]), rec, "via rebuilt node %d" % victim)
    c.digest_equal(30)
    t.diag("node %d rebuilt its store from Raft after a simulated machine crash: "
           "applied_index %d, same digest as the others" % (victim, index))


def test_process_crash_keeps_store_and_clean_stop_releases_it(t):
    c = start_small(t)
    ids = c.ids()
    recs = [random_key(t.rng) for _ in range(100)]
    escrow_all(c, recs, ids)
    c.digest_equal(30)
    victim = c.followers()[0]
    node = c.nodes[victim]
    rc = c.kill(victim)
    check(rc is not None, "node %d did not die within 10 s of SIGKILL" % victim)
    check(guard_of(node) == boot_id(), "after kill -9, node %d: %s holds %r, expected %r"
          % (victim, GUARD, guard_of(node), boot_id()))
    c.restart(victim)
    c.wait_ready(30, ids=[victim])
    c.digest_equal(30)
    check(REBUILD_WORDS not in log_text(node),
          "node %d rebuilt its store after a mere process crash; log tail:\n%s"
          % (victim, c.log_tail(victim)))
    for rec in t.rng.sample(recs, 20):
        expect_lookup(c.lookup(victim, rec["key_id"]), rec, "via node %d after kill -9" % victim)

    rcs = c.stop_all()
    check(all(rc == 0 for rc in rcs.values()), "exit codes after SIGTERM: %s" % rcs)
    left = [nid for nid in ids if guard_of(c.nodes[nid]) is not None]
    check(not left, "nodes %s still hold %s after a clean stop" % (left, GUARD))
    wal = os.path.join(node.data_dir, "escrow.db-wal")
    wal_size = os.path.getsize(wal) if os.path.exists(wal) else 0
    check(wal_size == 0, "node %d left a WAL of %d bytes after a clean stop" % (victim, wal_size))
    # A clean stop followed by a new boot: the store was synced, keep it.
    c.start()
    c.wait_ready(30)
    c.digest_equal(30)
    check(REBUILD_WORDS not in log_text(node),
          "node %d rebuilt its store after a clean stop; log tail:\n%s"
          % (victim, c.log_tail(victim)))
    t.diag("kill -9 kept the store (%s = this boot), SIGTERM released it, restart kept it"
           % GUARD)


def test_restored_node_refuses_after_machine_crash(t):
    need_ctl()
    c = t.cluster(3)
    recs = [random_key(t.rng) for _ in range(30)]
    escrow_all(c, recs, c.ids())
    c.digest_equal(30)
    path = os.path.join(c.dir, "backup.snap")
    save_snapshot(c, c.leader(), path)
    r = t.cluster(0, start=False)
    shutil.copyfile(c.seal_key, r.seal_key)
    node = r.add_node(7, make_data_dir=False)
    restore_snapshot(path, node)
    with open(os.path.join(node.data_dir, GUARD), "w") as f:
        f.write(OTHER_BOOT + "\n")
    before = sorted(set(os.listdir(node.data_dir)) - {"LOCK"})
    text = expect_refusal(t, r.command(7, bootstrap=False),
                          "restored node after a simulated machine crash",
                          ["snapshot restore"], timeout=20)
    check("first raft snapshot" in text.lower(),
          "the refusal does not say why: %s" % short(text))
    after = sorted(set(os.listdir(node.data_dir)) - {"LOCK"})
    check(after == before, "the refused start changed the data dir: %s -> %s" % (before, after))


def test_damaged_log_segment_refused_then_rejoin(t):
    c = t.cluster(3)
    ids = c.ids()
    recs = [random_key(t.rng) for _ in range(200)]
    escrow_all(c, recs, ids)
    c.digest_equal(30)
    victim = c.followers()[0]
    node = c.nodes[victim]
    rcs = c.kill(victim, sig=signal.SIGTERM, wait=True)
    check(rcs == 0, "SIGTERM of node %d: exit %s" % (victim, rcs))
    seg = harness.damage_newest_segment(node)
    with open(seg, "rb") as f:
        damaged = f.read()
    text = expect_refusal(t, c.command(victim, bootstrap=False),
                          "start on a damaged log segment", ["damaged"], timeout=20)
    check("--join" in text and node.data_dir in text,
          "the refusal does not say how to recover: %s" % short(text))
    with open(seg, "rb") as f:
        check(f.read() == damaged, "the refused start changed %s" % seg)
    # The documented recovery: empty the data dir, join again.
    shutil.rmtree(node.data_dir)
    os.makedirs(node.data_dir, mode=0o700)
    others = [i for i in ids if i != victim]
    later = [random_key(t.rng) for _ in range(20)]
    escrow_all(c, later, others, what="escrow while node %d is out" % victim)
    c.start_node(victim, bootstrap=False, join=c.url(c.leader()))
    c.wait_ready(60, ids=[victim])
    index, _ = c.digest_equal(60)
    for rec in t.rng.sample(recs, 20) + later:
        expect_lookup(c.lookup(victim, rec["key_id"]), rec, "via rejoined node %d" % victim)
    t.diag("node %d refused its damaged log, rejoined empty and caught up to %d"
           % (victim, index))


TESTS = [
    test_machine_crash_rebuilds_store_from_raft,
    test_process_crash_keeps_store_and_clean_stop_releases_it,
    test_restored_node_refuses_after_machine_crash,
    test_damaged_log_segment_refused_then_rejoin,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
