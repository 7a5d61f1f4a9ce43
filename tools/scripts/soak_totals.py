#!/usr/bin/env python3
"""Totals over drill run reports (escrowctl --json drill run), as a soak
(tools/scripts/soak.sh) leaves them: runs, faults by kind, keys
acknowledged and verified, break-glass lookups, violations, and per fault
kind the time until an escrow sent after the fault succeeded.

usage: tools/scripts/soak_totals.py [--json] REPORT.json...

A report that is not JSON (a run that died) counts as a failed run.
Percentiles are nearest-rank. Exit 0 when every run passed and no
violation was counted, 1 otherwise, 2 on bad usage."""
import json
import math
import sys

VIOLATIONS = ["lost", "unverified", "wrong_reads", "stale_reads", "cut_answers", "unaudited",
              "overaudited", "lost_reports", "rotations_missed"]


def rank(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[max(0, min(len(v), math.ceil(q * len(v))) - 1)]


def totals(paths):
    t = {"runs": 0, "passed": 0, "unreadable": [], "failed_seeds": [], "faults": {},
         "acknowledged": 0, "verified": 0, "escrows": 0, "lookups": 0,
         "break_glass": {"sent": 0, "served": 0, "not_found": 0, "unaudited": 0,
                         "undisclosed": 0},
         "violations": {k: 0 for k in VIOLATIONS + ["fault_violations", "log_problems",
                                                    "not_converged"]},
         "failover_ms": {}}
    for path in paths:
        t["runs"] += 1
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            t["unreadable"].append(path)
            continue
        if r.get("ok"):
            t["passed"] += 1
        else:
            t["failed_seeds"].append(r.get("seed"))
        for f in r.get("faults", []):
            t["faults"][f["kind"]] = t["faults"].get(f["kind"], 0) + 1
            t["violations"]["fault_violations"] += "violation" in f
            if f.get("failover_ms", -1) >= 0:
                t["failover_ms"].setdefault(f["kind"], []).append(f["failover_ms"])
        for k in ("acknowledged", "verified", "escrows", "lookups"):
            t[k] += r.get(k, 0)
        for k, v in r.get("break_glass", {}).items():
            t["break_glass"][k] = t["break_glass"].get(k, 0) + v
        for k in VIOLATIONS:
            t["violations"][k] += r.get(k, 0)
        t["violations"]["log_problems"] += r.get("log_problems", 0)
        t["violations"]["not_converged"] += r.get("converged_ms", 0) < 0
    t["failover"] = {kind: {"count": len(v), "median_ms": rank(v, 0.5),
                            "p99_ms": rank(v, 0.99), "max_ms": max(v)}
                     for kind, v in sorted(t.pop("failover_ms").items())}
    t["violations_total"] = sum(t["violations"].values()) + t["break_glass"]["unaudited"] + \
        t["break_glass"]["undisclosed"]
    return t


def text(t):
    ms = lambda v: "-" if v is None else "%.0f ms" % v
    lines = [
        "runs          %d, %d passed%s" % (t["runs"], t["passed"],
                                            "; failing seeds %s" % t["failed_seeds"]
                                            if t["failed_seeds"] else ""),
        "faults        %d: %s" % (sum(t["faults"].values()), ", ".join(
            "%s %d" % kv for kv in sorted(t["faults"].items()))),
        "keys          %d acknowledged, %d read back with their password (%d escrows, "
        "%d lookups sent)" % (t["acknowledged"], t["verified"], t["escrows"], t["lookups"]),
        "break-glass   %(sent)d sent, %(served)d served, %(not_found)d not on the node, "
        "%(unaudited)d unaudited, %(undisclosed)d undisclosed" % t["break_glass"],
        "violations    %d: %s" % (t["violations_total"], ", ".join(
            "%s %d" % kv for kv in t["violations"].items())),
    ]
    lines.append("escrows again after the fault (median / p99 / max):")
    for kind, fo in t["failover"].items():
        lines.append("  %-17s %4d: %s / %s / %s" % (kind, fo["count"], ms(fo["median_ms"]),
                                                    ms(fo["p99_ms"]), ms(fo["max_ms"])))
    if t["unreadable"]:
        lines.append("unreadable    %s" % " ".join(t["unreadable"]))
    return "\n".join(lines)


def main(argv):
    args = argv[1:]
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    if not args or any(a.startswith("-") for a in args):
        print(__doc__, file=sys.stderr)
        return 2
    t = totals(args)
    print(json.dumps(t) if as_json else text(t))
    ok = t["passed"] == t["runs"] and t["violations_total"] == 0 and not t["unreadable"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
