#!/usr/bin/env python3
"""Escrow throughput of a fresh local 3-node cluster, through a follower and
through the leader, at several client counts, measured with `escrowctl bench`.

Both escrowd and escrowctl come from $ESCROWD / $ESCROWCTL (default: the
in-tree build). Every run uses the same fresh cluster, so the leader row is the
baseline the follower rows compare against."""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", default="16,64", help="client counts (default 16,64)")
    ap.add_argument("--count", type=int, default=10000, help="requests per run (default 10000)")
    ap.add_argument("--op", default="escrow", choices=["escrow", "lookup"])
    ap.add_argument("--escrowctl", default=harness.ESCROWCTL)
    args = ap.parse_args()

    cluster = harness.Cluster(3, name="bench", log_level="warn")
    ok = False
    try:
        cluster.start()
        cluster.wait_ready(timeout=30)
        leader = cluster.leader()
        follower = [i for i in cluster.ids() if i != leader][0]
        print("cluster of 3 in %s; leader %d, follower %d" % (cluster.dir, leader, follower))
        print("%-8s %-8s %8s %10s %8s %8s %8s %6s" % (
            "via", "clients", "ok", "req/s", "p50 ms", "p99 ms", "max ms", "errors"))
        for clients in [int(c) for c in args.clients.split(",")]:
            for via, nid in (("follower", follower), ("leader", leader)):
                r = harness.run_bench(cluster.url(nid), clients, count=args.count,
                                      op=args.op, ctl=args.escrowctl)
                lat = r.get("latency_ms", {})
                print("%-8s %-8d %8d %10.1f %8.2f %8.2f %8.2f %6d" % (
                    via, clients, r["ok"], r["throughput_rps"], lat.get("p50", 0),
                    lat.get("p99", 0), lat.get("max", 0), r["errors"]), flush=True)
        ok = True
    finally:
        cluster.stop_all()
        cluster.close(keep=not ok)


if __name__ == "__main__":
    main()
