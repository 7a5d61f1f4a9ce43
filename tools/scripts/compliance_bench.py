#!/usr/bin/env python3
"""Compliance at scale on a fresh local 3-node TLS cluster:

1. uploads --machines compliance reports through the leader (escrowctl bench
   --op compliance, 64 clients; its mix of report shapes, their keys escrowed
   first, so that most reports are compliant), and records what the nodes'
   resident memory grew by (VmRSS before the keys and after the reports);
2. the whole compliance report through a follower, as escrowctl fetches it:
   every JSON page, then the CSV;
3. restarts every node (the worst loop delay is counted from a node's start),
   then runs --window seconds of escrows with 16 clients through a follower:
   the baseline worst loop delay and escrow latency;
4. restarts every node again and runs the same escrows, setting a policy that
   changes most verdicts 3 s in (only xts_aes_128 allowed): the re-judge
   time (until /v1/status says rejudging false everywhere), the time of the
   first compliance report asked for right after the PUT (it waits for the
   re-judge), and the worst loop delay and escrow latency meanwhile.

escrowd and escrowctl come from $ESCROWD / $ESCROWCTL (default: the in-tree
build). Progress goes to stderr; the figures to stdout."""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))

import harness  # noqa: E402


def say(msg):
    print("compliance_bench: " + msg, file=sys.stderr, flush=True)


def rss_mib(c, nid):
    with open("/proc/%d/status" % c.nodes[nid].proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fetch_report(c, nid, fmt):
    """Seconds escrowctl takes to fetch every page of the report in fmt."""
    t0 = time.monotonic()
    rc, out, err, _ = harness.escrowctl(c.ctl_tls_args("auditor") + [
        "report", "compliance", "--format", fmt], [c.url(nid)], timeout=600)
    if rc != 0:
        raise SystemExit("escrowctl report compliance --format %s: %s" % (fmt, err))
    return time.monotonic() - t0, len(out)


def restart_all(c):
    c.stop_all()
    for nid in c.ids():
        c.restart(nid)
    c.wait_ready(timeout=120)
    c.digest_equal(timeout=120)


def lags_ms(c):
    return {nid: c.metric(nid, "escrow_loop_lag_max_seconds") * 1000 for nid in c.ids()}


def log_sizes(c):
    return {nid: os.path.getsize(c.nodes[nid].log_path) for nid in c.ids()}


def late_lines(c, since):
    """The nodes' "event loop ran late" warnings logged after since (log
    sizes): each says how the time split between the CPU, waiting for a CPU
    and being blocked."""
    lines = []
    for nid in c.ids():
        with open(c.nodes[nid].log_path, errors="replace") as f:
            f.seek(since[nid])
            lines += ["node %d: %s" % (nid, line.strip()) for line in f
                      if "event loop ran" in line]
    return lines


def escrows(c, nid, window, out):
    out.update(harness.run_bench(c.url(nid), 16, duration=window, tls_args=c.ctl_tls_args()))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--machines", type=int, default=100000,
                    help="reports to store first (default 100000)")
    ap.add_argument("--window", type=int, default=15,
                    help="seconds of each escrow run (default 15)")
    args = ap.parse_args()

    c = harness.Cluster(3, name="compliancebench", log_level="warn", tls=True)
    ok = False
    try:
        c.start()
        c.wait_ready(timeout=30)
        leader = c.leader()
        rss0 = {nid: rss_mib(c, nid) for nid in c.ids()}
        say("uploading %d reports through node %d" % (args.machines, leader))
        t0 = time.time()
        load = harness.run_bench(c.url(leader), 64, count=args.machines, op="compliance",
                                 tls_args=c.ctl_tls_args("agent"), prefix="fleet")
        say("%d reports in %.0f s (%.0f/s)" % (load["ok"], time.time() - t0,
                                              load["throughput_rps"]))
        rss1 = {nid: rss_mib(c, nid) for nid in c.ids()}
        fol = c.followers()[0]
        say("the whole compliance report through node %d" % fol)
        json_s, json_bytes = fetch_report(c, fol, "json")
        csv_s, csv_bytes = fetch_report(c, fol, "csv")

        restart_all(c)
        fol = c.followers()[0]
        say("baseline: %d s of escrows through node %d" % (args.window, fol))
        base = {}
        sizes = log_sizes(c)
        escrows(c, fol, args.window, base)
        base_lag = lags_ms(c)
        base_late = late_lines(c, sizes)

        restart_all(c)
        fol = c.followers()[0]
        say("%d s of escrows through node %d, the policy set 3 s in" % (args.window, fol))
        during = {}
        sizes = log_sizes(c)
        loader = threading.Thread(target=escrows, args=(c, fol, args.window, during))
        loader.start()
        time.sleep(3)
        t0 = time.monotonic()
        st, _, pol = c.request(fol, "PUT", "/v1/policy", {"encryption_methods": ["xts_aes_128"]},
                               as_="operator")
        if st != 200:
            raise SystemExit("PUT /v1/policy: %s %s" % (st, pol))
        put_s = time.monotonic() - t0
        st, _, report = c.request(fol, "GET", "/v1/reports/compliance?limit=1", as_="auditor",
                                  timeout=60)
        report_s = time.monotonic() - t0
        if st != 200:
            raise SystemExit("GET /v1/reports/compliance: %s %s" % (st, report))
        while any(c.status(nid)["rejudging"] for nid in c.ids()):
            if time.monotonic() - t0 > 600:
                raise SystemExit("the re-judge has not ended in 600 s")
            time.sleep(0.02)
        done_s = time.monotonic() - t0
        loader.join()
        lag = lags_ms(c)
        late = late_lines(c, sizes)
        index, _ = c.digest_equal(timeout=120)
        noncompliant = report["counts"]["noncompliant"]

        print("reports stored          %d (%.0f uploads/s, 64 clients via the leader)" %
              (load["ok"], load["throughput_rps"]))
        print("resident memory growth  %s (MiB, from before the keys to after the reports)" %
              ", ".join("node %d: +%.0f" % (nid, rss1[nid] - rss0[nid]) for nid in c.ids()))
        print("whole report, JSON      %.2f s (%d bytes, every page, escrowctl)" %
              (json_s, json_bytes))
        print("whole report, CSV       %.2f s (%d bytes, every page, escrowctl)" %
              (csv_s, csv_bytes))
        print("policy PUT answered     %.0f ms" % (put_s * 1000))
        print("first report after it   %.2f s (waits for the re-judge); %d noncompliant" %
              (report_s, noncompliant))
        print("re-judge ended on all   %.2f s after the PUT" % done_s)
        print("worst loop delay (ms)   baseline %s; with the re-judge %s" % (
            ", ".join("node %d: %.0f" % kv for kv in sorted(base_lag.items())),
            ", ".join("node %d: %.0f" % kv for kv in sorted(lag.items()))))
        for name, r in (("baseline", base), ("with re-judge", during)):
            lat = r["latency_ms"]
            print("escrows %-15s %d ok, %d errors, %.0f/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
                  % (name, r["ok"], r["errors"], r["throughput_rps"], lat["p50"], lat["p99"],
                     lat["max"]))
        print("digests equal at index  %d" % index)
        for name, lines in (("baseline", base_late), ("with re-judge", late)):
            print("late loop turns, %s: %d" % (name, len(lines)))
            for line in lines:
                print("  " + line)
        ok = during["errors"] == 0
    finally:
        c.stop_all()
        c.close(keep=not ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
