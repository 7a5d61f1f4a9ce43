#!/usr/bin/env python3
"""Escrow throughput of a fresh local 3-node cluster, through a follower and
through the leader, at several client counts, measured with `escrowctl bench`;
with --modes plain,tls, a plain and a TLS cluster side by side, runs alternated.

Both escrowd and escrowctl come from $ESCROWD / $ESCROWCTL (default: the
in-tree build). Every run uses the same fresh cluster, so the leader row is the
baseline the follower rows compare against."""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))

import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", default="16,64", help="client counts (default 16,64)")
    ap.add_argument("--count", type=int, default=10000, help="requests per run (default 10000)")
    ap.add_argument("--op", default="escrow", choices=["escrow", "lookup", "compliance"],
                    help="compliance: upload reports as the agent role (default escrow)")
    ap.add_argument("--modes", default="plain",
                    help="plain (--insecure), tls (mutual TLS, operator certificate) or "
                         "plain,tls: one cluster each, runs alternated (default plain)")
    ap.add_argument("--escrowctl", default=harness.ESCROWCTL)
    args = ap.parse_args()
    modes = args.modes.split(",")
    if not modes or any(m not in ("plain", "tls") for m in modes):
        raise SystemExit("--modes: plain, tls or plain,tls")

    clusters = {}
    ok = False
    try:
        for mode in modes:
            c = harness.Cluster(3, name="bench-" + mode, log_level="warn", tls=mode == "tls")
            clusters[mode] = c
            c.start()
            c.wait_ready(timeout=30)
            leader = c.leader()
            c.bench_ids = (("follower", [i for i in c.ids() if i != leader][0]),
                           ("leader", leader))
            print("%s cluster of 3 in %s; leader %d" % (mode, c.dir, leader))
        print("%-6s %-8s %-8s %8s %10s %8s %8s %8s %6s" % (
            "mode", "via", "clients", "ok", "req/s", "p50 ms", "p99 ms", "max ms", "errors"))
        for clients in [int(n) for n in args.clients.split(",")]:
            for i in range(2):
                for mode in modes:
                    c = clusters[mode]
                    via, nid = c.bench_ids[i]
                    # Compliance: each run reports machines of its own (new ones).
                    role = "agent" if args.op == "compliance" else None
                    r = harness.run_bench(c.url(nid), clients, count=args.count, op=args.op,
                                          ctl=args.escrowctl, tls_args=c.ctl_tls_args(role),
                                          prefix="bench-%s-%s-%d" % (mode, via, clients))
                    lat = r.get("latency_ms", {})
                    print("%-6s %-8s %-8d %8d %10.1f %8.2f %8.2f %8.2f %6d" % (
                        mode, via, clients, r["ok"], r["throughput_rps"], lat.get("p50", 0),
                        lat.get("p99", 0), lat.get("max", 0), r["errors"]), flush=True)
        ok = True
    finally:
        for c in clusters.values():
            c.stop_all()
            c.close(keep=not ok)


if __name__ == "__main__":
    main()
