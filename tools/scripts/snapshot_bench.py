#!/usr/bin/env python3
"""Snapshot figures at scale on a fresh local 3-node cluster:

1. loads --keys escrowed keys through the leader (escrowctl bench, 64 clients);
2. p99 escrow latency without a snapshot (baseline), then while
   `escrowctl snapshot save` runs against a follower (same bench, same run);
3. time and peak memory (RSS sampled every 20 ms, and VmHWM) of the node that
   serves the snapshot;
4. disaster recovery: restore the file into a new data dir, start a node on it,
   and time until a lookup of a known key answers.

escrowd and escrowctl come from $ESCROWD / $ESCROWCTL (default: the in-tree
build). Progress goes to stderr; the figures to stdout."""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))

import harness  # noqa: E402


def say(msg):
    print("snapshot_bench: " + msg, file=sys.stderr, flush=True)


def run_json(cmd, timeout):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (cmd[3:5], out.returncode, out.stderr.strip()))
    return json.loads(out.stdout)


def rss_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def loop_lag_ms(cluster, nid):
    """The node's worst event-loop delay so far."""
    return cluster.metric(nid, "escrow_loop_lag_max_seconds") * 1000


def raft_snapshot_figures(cluster, nid):
    """(Raft snapshots taken, longest stay of the loop in their callbacks in ms)."""
    return (cluster.metric(nid, "escrow_raft_snapshots_total"),
            cluster.metric(nid, "escrow_raft_snapshot_loop_max_seconds") * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keys", type=int, default=1000000, help="keys to load (default 1000000)")
    ap.add_argument("--window", type=int, default=20, help="seconds of each latency run")
    ap.add_argument("--escrowctl", default=harness.ESCROWCTL)
    args = ap.parse_args()
    ctl = args.escrowctl

    cluster = harness.Cluster(3, name="snapbench", log_level="warn")
    ok = False
    try:
        cluster.start()
        cluster.wait_ready(timeout=30)
        leader = cluster.leader()
        follower = [i for i in cluster.ids() if i != leader][0]
        say("loading %d keys through node %d" % (args.keys, leader))
        t0 = time.time()
        load = harness.run_bench(cluster.url(leader), 64, ctl=ctl, count=args.keys)
        say("loaded %d keys in %.0f s (%.0f/s)" % (load["ok"], time.time() - t0,
                                                    load["throughput_rps"]))
        # Loading took many Raft snapshots (log compaction) on every node.
        lag_after_load = {nid: loop_lag_ms(cluster, nid) for nid in cluster.ids()}
        snaps_after_load = {nid: raft_snapshot_figures(cluster, nid) for nid in cluster.ids()}
        # A key escrowed before the snapshot, to look up after the restore.
        some = cluster.machine_keys(leader, "bench-0")
        keys = some[2].get("keys", []) if isinstance(some[2], dict) else []
        if not keys:
            raise SystemExit("no key of machine bench-0 to look up")
        lookup_key = keys[0]["key_id"]
        st = cluster.status(follower)
        say("applied index %s" % st["applied_index"])

        say("baseline: %d s of escrows with 16 clients" % args.window)
        base = harness.run_bench(cluster.url(leader), 16, ctl=ctl, duration=args.window)

        snap_file = os.path.join(cluster.dir, "backup.snap")
        pid = cluster.nodes[follower].proc.pid
        rss0 = rss_kib(pid, "VmRSS")
        peak = [rss0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], rss_kib(pid, "VmRSS"))
                except OSError:
                    return
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        during = {}

        def load_during():
            during.update(harness.run_bench(cluster.url(leader), 16, ctl=ctl, duration=args.window))

        loader = threading.Thread(target=load_during)
        loader.start()
        time.sleep(2)
        say("saving a snapshot from node %d while escrows go on" % follower)
        t0 = time.time()
        saved = run_json([ctl, "--nodes", cluster.url(follower), "--json", "--timeout", "3600",
                          "snapshot", "save", snap_file], timeout=7200)
        save_s = time.time() - t0
        loader.join()
        stop.set()
        sampler.join()
        hwm = rss_kib(pid, "VmHWM")

        say("verifying the file")
        t0 = time.time()
        subprocess.run([ctl, "snapshot", "verify", snap_file], check=True,
                       capture_output=True, timeout=3600)
        verify_s = time.time() - t0

        # Disaster recovery: a brand-new one-node cluster from the file.
        say("restoring it into a new one-node cluster")
        node = cluster.add_node(9, make_data_dir=False)
        t0 = time.time()
        subprocess.run([ctl, "snapshot", "restore", snap_file, "--data-dir", node.data_dir,
                        "--id", "9", "--raft-addr", node.raft, "--api-addr", node.api],
                       check=True, capture_output=True, timeout=3600)
        restore_s = time.time() - t0
        cluster.start_node(9, bootstrap=False)
        say("waiting for node 9 to answer a lookup of %s" % lookup_key)
        deadline = time.time() + 3600
        answered = None
        last = None
        while time.time() < deadline and cluster.running(9) and not (
                isinstance(last, tuple) and last[0] not in (0, 503)):
            try:
                status, _, body = cluster.lookup(9, lookup_key, timeout=5)
                if status == 200:
                    answered = time.time() - t0
                    break
                last = (status, body)
            except OSError as e:
                last = e
            time.sleep(0.1)
        if answered is None:
            say("node 9 never answered a lookup; last answer %r; log:\n%s" %
                (last, cluster.log_tail(9)))

        print("keys loaded            %d (%.0f escrows/s, 64 clients via the leader)" %
              (load["ok"], load["throughput_rps"]))
        print("worst loop delay       %s (ms per node, over the load and its Raft snapshots)" %
              ", ".join("node %d: %.1f" % kv for kv in sorted(lag_after_load.items())))
        print("raft snapshot callbacks %s (snapshots taken / longest ms the loop spent in "
              "one, per node)" % ", ".join("node %d: %d / %.1f" % (nid, n, ms) for nid, (n, ms)
                                          in sorted(snaps_after_load.items())))
        print("snapshot               index %s, %d bytes" % (saved.get("index"),
                                                            saved.get("size", 0)))
        print("save time              %.1f s (node %d, a follower)" % (save_s, follower))
        print("node RSS               %.0f MiB before, %.0f MiB peak during save (VmHWM %.0f MiB)" %
              (rss0 / 1024, peak[0] / 1024, hwm / 1024))
        print("escrow p99 (16 clients) %.1f ms without snapshot, %.1f ms during (max %.1f / %.1f)" %
              (base["latency_ms"]["p99"], during["latency_ms"]["p99"],
               base["latency_ms"]["max"], during["latency_ms"]["max"]))
        print("escrow throughput      %.0f/s without, %.0f/s during" %
              (base["throughput_rps"], during["throughput_rps"]))
        print("verify time            %.1f s" % verify_s)
        print("restore time           %.1f s (escrowctl snapshot restore)" % restore_s)
        print("restore to first lookup %s" % ("%.1f s" % answered if answered else "never"))
        ok = answered is not None
    finally:
        cluster.stop_all()
        cluster.close(keep=not ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
