#!/usr/bin/env python3
"""Process tests of tools/scripts/drill_figures.py (issue 15): the failover
figures of `escrowctl drill run` on mutual TLS beside plain TCP.

One short round (a follower killed, on each transport) must give a table row
per transport whose figures are those of the drill's own reports; a run that
fails must be named with its seed and make the script exit 1; saved reports
tabulated again (--from) give the same table; nearest-rank percentiles; bad
usage. Output is TAP. Environment: ESCROWD, ESCROWCTL,
TEST_SEED, TEST_TIMEOUT.
"""

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402
from test_snapshot import need_ctl  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "scripts",
                      "drill_figures.py")
ROW_RE = re.compile(r"^(\S+)\s+(tls|plain)\s+(\d+)\s+(.*)$")


def figures(args, timeout):
    """Runs drill_figures.py ARGS with the build's binaries; returns
    (rc, stdout, stderr)."""
    cmd = [sys.executable, SCRIPT, "--escrowctl", harness.ESCROWCTL,
           "--escrowd", harness.ESCROWD] + list(args)
    rc, out, err, _ = harness.run_once(cmd, timeout=timeout)
    check(rc is not None, "drill_figures.py %s still ran after %d s" % (args, timeout))
    return rc, out, err


def load_script():
    spec = importlib.util.spec_from_file_location("drill_figures", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_figures_tls_beside_plain(t):
    need_ctl()
    raw = tempfile.mkdtemp(prefix="escrow-figures-", dir=os.environ.get("TEST_TMPDIR"))
    seed = t.rng.randint(1, 1000000)
    try:
        rc, out, err = figures(["--rounds", "1", "--faults", "kill-follower", "--duration", "8",
                                "--rate", "20", "--seed", str(seed), "--raw-dir", raw], 150)
        t.diag(out)
        check(rc == 0, "exit %s: %s" % (rc, short(err, 800)))
        progress = [l for l in err.splitlines() if re.match(r"drill_figures: run \d/2 ", l)]
        check(len(progress) == 2 and "tls" in progress[0] and "plain" in progress[1],
              "one progress line per run, TLS first: %s" % short(err, 800))
        check("percentiles by nearest rank" in out, "the table says how it ranks: %s" % out)
        rows = {}
        for line in out.splitlines():
            m = ROW_RE.match(line)
            if m and m.group(1) == "kill-follower":
                rows[m.group(2)] = (int(m.group(3)), m.group(4).split())
        check(set(rows) == {"tls", "plain"}, "a row per transport: %s" % out)
        for transport in ("tls", "plain"):
            with open(os.path.join(raw, "%s-%d.json" % (transport, seed))) as f:
                rep = json.load(f)
            check(rep["transport"] == transport and rep["seed"] == seed and rep["ok"],
                  "the %s run's own report: %s" % (transport, short(json.dumps(rep), 400)))
            kills = [f for f in rep["faults"] if f["kind"] == "kill-follower"]
            check(kills, "the %s run killed a follower: %s" % (transport, rep["faults"]))
            count, cols = rows[transport]
            check(count == len(kills), "%s count %d, the drill's %d"
                  % (transport, count, len(kills)))
            fo = sorted(f["failover_ms"] for f in kills if f["failover_ms"] >= 0)
            check(fo, "the %s drill measured a failover: %s" % (transport, kills))
            median, p90, p99, worst, unmeasured = cols[0:5]
            check([median, p90, p99, worst] ==
                  ["%.0f" % fo[max(1, math.ceil(p / 100 * len(fo))) - 1] for p in (50, 90, 99)]
                  + ["%.0f" % fo[-1]] and int(unmeasured) == len(kills) - len(fo),
                  "%s failover columns %s, the drill's values %s" % (transport, cols, fo))
            un = max(f["longest_unavailable_ms"] for f in kills)
            check(cols[6] == "%.0f" % un, "%s longest unavailable %s, the drill's %s"
                  % (transport, cols[6], un))
        # The saved reports tabulated again give the same table.
        rc, again, err = figures(["--from"] + [os.path.join(raw, n)
                                               for n in sorted(os.listdir(raw))], 30)
        check(rc == 0, "--from: exit %s: %s" % (rc, short(err, 400)))
        table = [l for l in out.splitlines() if ROW_RE.match(l)]
        check(table and table == [l for l in again.splitlines() if ROW_RE.match(l)],
              "--from the saved reports: %s" % again)
    finally:
        shutil.rmtree(raw, ignore_errors=True)


test_figures_tls_beside_plain.timeout = 180


def test_figures_name_a_failed_run(t):
    need_ctl()
    # An escrowd that exits at once: every run fails at its start.
    seed = t.rng.randint(1, 1000000)
    rc, out, err = figures(["--rounds", "1", "--faults", "kill-follower", "--duration", "8",
                            "--seed", str(seed), "--escrowd", "/bin/false", "--json"], 60)
    try:
        rep = json.loads(out)
    except ValueError:
        check(False, "exit %s, no JSON: %s" % (rc, short(out + err, 800)))
    # A failing drill keeps its directory: here the test's own, removed.
    kept = [r.get("kept") for r in rep.get("runs", [])]
    for d in kept:
        if d and os.path.basename(d).startswith("escrow-drill-"):
            shutil.rmtree(d, ignore_errors=True)
    check(rc == 1, "exit %s with failing runs: %s" % (rc, short(err, 800)))
    check(rep["failed_runs"] == 2 and rep["table"] == [] and rep["faults"] == [],
          "two failed runs, no faults: %s" % short(out, 800))
    for run, transport in zip(rep["runs"], ("tls", "plain")):
        check(run["transport"] == transport and run["seed"] == seed and run["rc"] == 1
              and "did not start" in run["error"] and run["kept"],
              "the failed run named with its seed and why: %s" % run)
    check(err.count("FAILED") == 2 and ("seed %d" % seed) in err and err.count("kept") == 2,
          "progress names each failure: %s" % short(err, 800))


def test_figures_nearest_rank(t):
    mod = load_script()
    values = list(range(1, 21))       # 1..20
    check([mod.nearest_rank(values, p) for p in (50, 90, 99, 100)] == [10, 18, 20, 20],
          "nearest rank of 1..20")
    check(mod.nearest_rank([7], 50) == 7 and mod.nearest_rank([], 50) is None,
          "nearest rank of one value and of none")
    row = mod.summarize([{"failover_ms": 300.0, "longest_unavailable_ms": 0.0},
                         {"failover_ms": -1, "longest_unavailable_ms": 900.0},
                         {"failover_ms": 100.0, "longest_unavailable_ms": 500.0}])
    check(row["count"] == 3 and row["failover_ms"]["median"] == 100.0
          and row["failover_ms"]["max"] == 300.0 and row["failover_ms"]["unmeasured"] == 1
          and row["longest_unavailable_ms"] == {"median": 500.0, "max": 900.0}
          and "catchup_ms" not in row, "an unmeasured failover left out: %s" % row)
    row = mod.summarize([{"failover_ms": 800.0, "longest_unavailable_ms": 0.0,
                          "catchup_ms": 400.0, "stepdown_ms": -1},
                         {"failover_ms": 700.0, "longest_unavailable_ms": 0.0,
                          "catchup_ms": 200.0, "stepdown_ms": 600.0}])
    # Windows go to the last fault injected before they closed.
    faults = mod.overlapping({"faults": [{"kind": "b", "at_ms": 5000.0},
                                         {"kind": "a", "at_ms": 1000.0}],
                              "unavailable": [{"start_ms": 0.0, "length_ms": 150.0},
                                              {"start_ms": 800.0, "length_ms": 700.0},
                                              {"start_ms": 2000.0, "length_ms": 300.0},
                                              {"start_ms": 4800.0, "length_ms": 1000.0}]})
    check([(f["kind"], f["unavailable_overlap_ms"]) for f in faults]
          == [("a", 700.0), ("b", 1000.0)], "windows held to faults: %s" % faults)
    check(row["catchup_ms"] == {"median": 200.0, "max": 400.0, "unmeasured": 0}
          and row["stepdown_ms"] == {"median": 600.0, "measured": 1},
          "partition figures: %s" % row)


def test_figures_help_and_bad_usage(t):
    need_ctl()
    rc, out, err = figures(["--help"], 30)
    check(rc == 0, "--help exit %s: %s" % (rc, err))
    for opt in ("--rounds", "--faults", "--duration", "--rate", "--size", "--seed",
                "--transports", "--timeout", "--escrowctl", "--escrowd", "--raw-dir", "--from",
                "--json"):
        check(opt in out, "--help names %s: %s" % (opt, out))
    for bad in (["--rounds", "0"], ["--transports", "tls,udp"], ["--size", "4"],
                ["--rate", "0"], ["--raw-dir", "/nonexistent/figures"]):
        rc, out, err = figures(bad, 30)
        check(rc == 2 and out == "" and "drill_figures" in err and "run 1/" not in err,
              "%s: exit %s, no run: %s" % (bad, rc, short(err, 400)))


TESTS = [
    test_figures_tls_beside_plain,
    test_figures_name_a_failed_run,
    test_figures_nearest_rank,
    test_figures_help_and_bad_usage,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
