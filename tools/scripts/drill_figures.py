#!/usr/bin/env python3
"""Failover figures of `escrowctl drill run`, mutual TLS beside plain TCP.

Runs --rounds rounds; each round is one `escrowctl --json drill run` on mutual
TLS and one with --insecure (plain HTTP and Raft), alternated, both with the
round's seed (--seed + round), so that both transports get the same fault
schedule. Every run is bounded by --timeout. The faults of every run are
collected, and one table row per fault kind and transport gives:

  count                    faults of that kind
  failover_ms              fault until the first escrow sent after it succeeded:
                           median, p90, p99, max
  longest_unavailable_ms   the drill's longest unavailability window held to
                           the fault: median, max
  unavailable_overlap_ms   the same from the report's list of windows (100 ms
                           or more), each window held to the last fault
                           injected before it closed (older drills left out
                           of their own figure a window that a request sent
                           just before the fault opened; they now hold to a
                           fault the windows that began from 500 ms before
                           it until its heal settled): median, max
  catchup_ms               (partitions) heal until every cut-off node applied
                           the majority's commit index: median, max
  stepdown_ms              (partitions that cut the leader off) cut until the
                           old leader stepped down: median

Percentiles (the median too) are by nearest rank: the value at rank
ceil(p/100 * n) of the n sorted values. A value the drill could not measure
(-1) is left out and counted in `unmeasured`. A run that fails (exit status
not 0, or no JSON) is reported with its seed and counted; its faults are
still used when its JSON is there.

escrowctl and escrowd come from $ESCROWCTL / $ESCROWD, else the in-tree build,
else build/. Progress goes to stderr, one line per run; the table (or with
--json one object) to stdout. Exit status: 0 when every run succeeded, 1 if
not, 2 on bad usage.
"""

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tests"))

import harness  # noqa: E402

TRANSPORTS = ("tls", "plain")
# Faults in the order the drill documents them; kinds it adds later follow.
KIND_ORDER = ("kill-leader", "kill-follower", "pause-leader", "restart-all", "kill-two",
              "damaged-segment", "quorum-loss", "partition-leader", "partition-split",
              "partition-oneway", "disk-full")
KEPT_RE = re.compile(r"kept in (\S+)")
PROGRESS_RE = re.compile(r"drill:\s+\d+ s ")


def default_binary(env, in_tree, rel):
    """$ENV, else the in-tree build, else build/ under the source tree."""
    if os.environ.get(env):
        return os.environ[env]
    if os.path.isfile(in_tree):
        return os.path.normpath(in_tree)
    return os.path.normpath(os.path.join(TOP, "build", rel))


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Failover figures of `escrowctl drill run`, on mutual TLS and on plain "
                    "TCP (--insecure), runs alternated; one table row per fault kind and "
                    "transport. Percentiles by nearest rank.")
    p.add_argument("--rounds", type=int, default=2,
                   help="rounds; each is one TLS run and one plain run (default 2)")
    p.add_argument("--faults", help="the drill's --faults LIST (default: the drill's, all)")
    p.add_argument("--duration", type=int, default=60,
                   help="seconds of load per run, the drill's --duration (default 60)")
    p.add_argument("--rate", type=int, default=30,
                   help="requests per second, the drill's --rate (default 30)")
    p.add_argument("--size", type=int, default=3, choices=[3, 5],
                   help="nodes per cluster, the drill's --size (default 3)")
    p.add_argument("--seed", type=int,
                   help="seed of round 1; round k uses SEED+k-1 on both transports "
                        "(default: time)")
    p.add_argument("--transports", default="tls,plain",
                   help="tls, plain or tls,plain: which runs a round makes, in that order "
                        "(default tls,plain)")
    p.add_argument("--timeout", type=float,
                   help="seconds one run may take before it is stopped and counted failed "
                        "(default 2 x --duration + 300)")
    p.add_argument("--escrowctl", default=default_binary(
        "ESCROWCTL", harness.ESCROWCTL, os.path.join("tools", "escrowctl")),
        help="escrowctl binary (default: $ESCROWCTL, the in-tree build, else build/)")
    p.add_argument("--escrowd", default=default_binary(
        "ESCROWD", harness.ESCROWD, os.path.join("node", "escrowd")),
        help="escrowd binary (default: $ESCROWD, the in-tree build, else build/)")
    p.add_argument("--raw-dir", help="write each run's JSON report to RAW_DIR/TRANSPORT-SEED.json")
    p.add_argument("--from", dest="reports", nargs="+", metavar="REPORT",
                   help="make no runs: tabulate saved reports of `escrowctl --json drill run` "
                        "(such as --raw-dir's files)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if not 1 <= args.duration <= 86400:
        p.error("--duration must be 1..86400 seconds")
    if not 1 <= args.rate <= 2000:
        p.error("--rate must be 1..2000")
    if args.seed is not None and args.seed < 1:
        p.error("--seed must be at least 1")
    args.transports = args.transports.split(",")
    if (not args.transports or any(t not in TRANSPORTS for t in args.transports)
            or len(set(args.transports)) != len(args.transports)):
        p.error("--transports: tls, plain or tls,plain")
    if args.timeout is None:
        args.timeout = 2.0 * args.duration + 300.0
    elif args.timeout <= 0:
        p.error("--timeout must be > 0")
    for name in () if args.reports else ("escrowctl", "escrowd"):
        path = getattr(args, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            p.error("%s not found or not executable: %s" % (name, path))
    if args.raw_dir and not os.path.isdir(args.raw_dir):
        p.error("--raw-dir: no such directory: %s" % args.raw_dir)
    return args


def stop(proc):
    """Ends a run: Ctrl-C (the drill ends its load and reports), again (the
    read-back too), then SIGKILL; the drill's nodes die with it. Bounded."""
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGINT, 30), (signal.SIGKILL, 10)):
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return "", ""


def drill(args, transport, seed):
    """One `escrowctl --json drill run`; returns its record (the report in
    "report" when its JSON could be read)."""
    cmd = [args.escrowctl, "--json", "drill", "run", "--duration", str(args.duration),
           "--rate", str(args.rate), "--size", str(args.size), "--seed", str(seed),
           "--escrowd", args.escrowd]
    if args.faults:
        cmd += ["--faults", args.faults]
    if transport == "plain":
        cmd.append("--insecure")
    t0 = time.monotonic()
    timed_out = interrupted = False
    # The drill dies with this script (PR_SET_PDEATHSIG), and its nodes with it.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=harness._PREEXEC)
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        out, err = stop(proc)
    except KeyboardInterrupt:
        interrupted = True
        out, err = stop(proc)
    rec = {"transport": transport, "seed": seed, "rc": proc.returncode,
           "timed_out": timed_out, "elapsed_s": round(time.monotonic() - t0, 1),
           "interrupted": interrupted, "command": cmd, "report": None, "error": None,
           "kept": None}
    try:
        rec["report"] = json.loads(out)
    except ValueError:
        rec["error"] = "no JSON report on stdout"
    kept = KEPT_RE.findall(err or "")
    if kept:
        rec["kept"] = kept[-1]
    if proc.returncode != 0 or timed_out:
        # The drill's own complaint, else its last line that is not progress.
        lines = [l for l in (err or "").splitlines() if l.strip() and not PROGRESS_RE.match(l)]
        said = [l for l in lines if l.startswith("escrowctl:")] or lines
        rec["error"] = (("timed out after %.0f s; " % args.timeout if timed_out else "")
                        + ("interrupted; " if interrupted else "")
                        + "exit status %s" % proc.returncode
                        + (": " + said[-1] if said else
                           ": " + rec["error"] if rec["error"] else ""))
    if args.raw_dir and rec["report"] is not None:
        with open(os.path.join(args.raw_dir, "%s-%d.json" % (transport, seed)), "w") as f:
            json.dump(rec["report"], f, indent=1)
    return rec


def saved(path):
    """A run record made of a saved drill report; None when it cannot be read."""
    try:
        with open(path) as f:
            rep = json.load(f)
    except (OSError, ValueError) as e:
        print("drill_figures: %s: %s" % (path, e), file=sys.stderr)
        return None
    if not isinstance(rep, dict) or rep.get("transport") not in TRANSPORTS:
        print("drill_figures: %s: not a report of drill run" % path, file=sys.stderr)
        return None
    ok = rep.get("ok") is True
    return {"transport": rep["transport"], "seed": rep.get("seed"), "rc": 0 if ok else 1,
            "timed_out": False, "interrupted": False, "elapsed_s": None,
            "error": None if ok else "%s: the report says ok false" % path, "kept": None,
            "report": rep}


def nearest_rank(sorted_values, p):
    """The p-th percentile by nearest rank; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def measured(faults, field):
    return sorted(f[field] for f in faults
                  if isinstance(f.get(field), (int, float)) and f[field] >= 0)


def summarize(faults):
    """One table row's figures for a list of faults (one kind, one transport)."""
    fo = measured(faults, "failover_ms")
    un = measured(faults, "longest_unavailable_ms")
    ov = measured(faults, "unavailable_overlap_ms")
    row = {
        "count": len(faults),
        "failover_ms": {"median": nearest_rank(fo, 50), "p90": nearest_rank(fo, 90),
                        "p99": nearest_rank(fo, 99), "max": fo[-1] if fo else None,
                        "unmeasured": len(faults) - len(fo)},
        "longest_unavailable_ms": {"median": nearest_rank(un, 50),
                                   "max": un[-1] if un else None},
        "unavailable_overlap_ms": {"median": nearest_rank(ov, 50),
                                   "max": ov[-1] if ov else None},
    }
    if any("catchup_ms" in f for f in faults):
        cu = measured(faults, "catchup_ms")
        sd = measured(faults, "stepdown_ms")
        row["catchup_ms"] = {"median": nearest_rank(cu, 50), "max": cu[-1] if cu else None,
                             "unmeasured": sum(1 for f in faults if "catchup_ms" in f)
                             - len(cu)}
        row["stepdown_ms"] = {"median": nearest_rank(sd, 50), "measured": len(sd)}
    return row


def kind_key(kind):
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def overlapping(report):
    """The report's faults, each with unavailable_overlap_ms: the longest
    listed unavailability window (the drill lists those of 100 ms or more)
    that the fault is held for: each window goes to the last fault injected
    before the window closed. Unlike the drill's longest_unavailable_ms, this
    counts a window opened by a request sent just before the fault and failed
    by it."""
    faults = sorted(report.get("faults") or [], key=lambda f: f.get("at_ms", 0))
    longest = [0.0] * len(faults)
    for w in report.get("unavailable") or []:
        if not (isinstance(w.get("start_ms"), (int, float))
                and isinstance(w.get("length_ms"), (int, float))):
            continue
        before = [i for i, f in enumerate(faults)
                  if f.get("at_ms", 0) < w["start_ms"] + w["length_ms"]]
        if before:
            longest[before[-1]] = max(longest[before[-1]], w["length_ms"])
    return [dict(f, unavailable_overlap_ms=longest[i]) for i, f in enumerate(faults)]


def table(runs, transports):
    """Rows by fault kind, then transport in --transports order."""
    faults = {}
    for r in runs:
        for f in overlapping(r["report"] or {}):
            faults.setdefault((f.get("kind", "?"), r["transport"]), []).append(f)
    rows = []
    for kind in sorted({k for k, _ in faults}, key=kind_key):
        for t in transports:
            if (kind, t) in faults:
                row = {"kind": kind, "transport": t}
                row.update(summarize(faults[(kind, t)]))
                rows.append(row)
    return rows


def ms(v):
    return "-" if v is None else "%.0f" % v


def print_table(rows, out):
    head = ("%-17s %-5s %5s  %7s %7s %7s %7s %4s  %7s %7s  %7s %7s  %7s %7s  %7s"
            % ("kind", "tport", "count", "fo p50", "fo p90", "fo p99", "fo max", "n/a",
               "un p50", "un max", "ov p50", "ov max", "cu p50", "cu max", "sd p50"))
    print(head, file=out)
    for r in rows:
        fo, un, ov = r["failover_ms"], r["longest_unavailable_ms"], r["unavailable_overlap_ms"]
        cu, sd = r.get("catchup_ms", {}), r.get("stepdown_ms", {})
        print("%-17s %-5s %5d  %7s %7s %7s %7s %4d  %7s %7s  %7s %7s  %7s %7s  %7s"
              % (r["kind"], r["transport"], r["count"], ms(fo["median"]), ms(fo["p90"]),
                 ms(fo["p99"]), ms(fo["max"]), fo["unmeasured"], ms(un["median"]),
                 ms(un["max"]), ms(ov["median"]), ms(ov["max"]), ms(cu.get("median")),
                 ms(cu.get("max")), ms(sd.get("median"))), file=out)
    print("ms; fo = failover_ms, un = longest_unavailable_ms, ov = unavailable_overlap_ms "
          "(each window held to the last fault injected before it closed), cu = catchup_ms, "
          "sd = stepdown_ms (partitions); n/a = failovers not measured; percentiles by "
          "nearest rank", file=out)


def main(argv):
    args = parse_args(argv)
    if args.reports:
        return tabulate(args, [saved(p) for p in args.reports], None, len(args.reports))
    base = args.seed if args.seed is not None else int(time.time()) % 1000000 + 1
    print("drill_figures: escrowctl %s; escrowd %s; %d round(s) of %s; seeds %d..%d"
          % (args.escrowctl, args.escrowd, args.rounds, ",".join(args.transports), base,
             base + args.rounds - 1), file=sys.stderr, flush=True)
    runs = []
    total = args.rounds * len(args.transports)
    try:
        for k in range(args.rounds):
            for t in args.transports:
                rec = drill(args, t, base + k)
                runs.append(rec)
                rep = rec["report"] or {}
                print("drill_figures: run %d/%d %-5s seed %d: exit %s, %d faults, %.0f s%s%s"
                      % (len(runs), total, t, rec["seed"], rec["rc"],
                         len(rep.get("faults") or []), rec["elapsed_s"],
                         "" if rec["error"] is None else "; FAILED: " + rec["error"],
                         "" if rec["kept"] is None else "; kept " + rec["kept"]),
                      file=sys.stderr, flush=True)
                if rec["interrupted"]:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        print("drill_figures: interrupted; the figures of the runs made so far",
              file=sys.stderr, flush=True)
    return tabulate(args, runs, base, total)


def tabulate(args, runs, base, total):
    """Prints the figures of runs (None: a saved report that could not be
    read); returns the exit status."""
    unread = sum(1 for r in runs if r is None)
    runs = [r for r in runs if r is not None]
    rows = table(runs, args.transports)
    failed = [r for r in runs if r["rc"] != 0 or r["timed_out"] or r["report"] is None]
    violations = [{"transport": r["transport"], "seed": r["seed"], "kept": r["kept"],
                   "kind": f.get("kind"), "at_ms": f.get("at_ms"),
                   "violation": f["violation"]}
                  for r in runs for f in (r["report"] or {}).get("faults") or []
                  if f.get("violation")]
    if args.json:
        print(json.dumps({
            "percentiles": "nearest rank",
            "from": args.reports, "unread": unread,
            "rounds": None if args.reports else args.rounds,
            "duration": None if args.reports else args.duration,
            "rate": None if args.reports else args.rate,
            "size": None if args.reports else args.size,
            "faults_option": None if args.reports else args.faults, "seed": base,
            "runs": [dict({k: r[k] for k in ("transport", "seed", "rc", "timed_out",
                                             "elapsed_s", "error", "kept")},
                          faults=len((r["report"] or {}).get("faults") or []),
                          ok=(r["report"] or {}).get("ok"),
                          findings=(r["report"] or {}).get("findings")) for r in runs],
            "failed_runs": len(failed),
            "violations": violations,
            "table": rows,
            "faults": [dict(f, transport=r["transport"], seed=r["seed"])
                       for r in runs for f in overlapping(r["report"] or {})],
        }, indent=1))
    else:
        if args.reports:
            print("%d saved reports (%d unreadable), %d failed; seeds %s"
                  % (len(runs) + unread, unread, len(failed),
                     ",".join(sorted({str(r["seed"]) for r in runs}))))
        else:
            print("%d runs (%s), %d failed; --duration %d --rate %d --size %d%s; seeds %d..%d"
                  % (len(runs), ",".join(args.transports), len(failed), args.duration,
                     args.rate, args.size, " --faults " + args.faults if args.faults else "",
                     base, base + args.rounds - 1))
        print_table(rows, sys.stdout)
        for r in failed:
            print("failed run: %s seed %s: %s%s" % (r["transport"], r["seed"], r["error"],
                                                     "; kept " + r["kept"] if r["kept"] else ""))
        for v in violations:
            print("violation: %s seed %s, %s at %.0f ms: %s%s"
                  % (v["transport"], v["seed"], v["kind"], v["at_ms"] or 0, v["violation"],
                     "; kept " + v["kept"] if v["kept"] else ""))
    return 0 if runs and not failed and not unread and len(runs) == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
