#!/usr/bin/env python3
"""The benchmark tools besides the comparison with etcd, so that they do not
rot: bench/profile-forward.sh with bench/perf_summary.py, and
bench/million-keys.sh. They measure nothing here.

- perf_summary.py sorts the lines of a `perf report --stdio` into parts
  (kernel, malloc, SQLite, ...) whose shares add up, and lists the hottest
  symbols first.
- A bad option: exit 2, saying what, before anything is started; --help
  names every option.
- A short run (2 s, 4 clients) prints a line of shares for the leader and
  one for the follower, and removes its temporary directory. Skipped, saying
  why, when perf or wrk is missing or the kernel refuses perf events here.
- million-keys.sh with 1,000 keys prints every row of its table (keys,
  snapshot, restarts, each node's peak memory), writes it with --out, and
  removes its temporary directory; a bad option is exit 2.
- floor.py with 20 writes and 20 round trips prints each one's
  percentiles, in order, the floor as their sum (one write, three round
  trips) and, where it measures them, an append alone and three at once
  (their completions in order, and the floor with the second) and the
  counts of refused RWF_NOWAIT writes; a bad option is exit 2, and it leaves no file behind.
- pipeline.py with 20 commits prints, for the messages alone and with the
  appends, the latency's percentiles in order and each node's CPU; with
  the appends every node appended each commit once (and the one not timed),
  without them none did; a bad option is exit 2, and it leaves no file
  behind.
- failover_bench.py with --op escrow (issue 16's measure: the first escrow
  through a survivor after SIGKILL of the leader) and with lookups: every
  try ends in an answer that holds the right password, under a leader other
  than the one killed; an unknown --op is exit 2.
- ab-builds.sh with two builds (the same escrowd twice), one round of 1 s
  each way, prints a run per build and per build its medians, the first
  build's rate over itself 1; a bad option or a single build is exit 2.
  Skipped when wrk is missing.
- leader-steady.sh for 2 s prints the requests, the terms before and after
  and the elections during the load, and exits 0 (no change) or 3 (a change:
  possible on a starved machine, and what the script is there to show).

Output is TAP. Environment: ESCROWD, TEST_TIMEOUT, TEST_TMPDIR.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SCRIPT = os.path.join(TOP, "bench", "profile-forward.sh")
MILLION = os.path.join(TOP, "bench", "million-keys.sh")
STEADY = os.path.join(TOP, "bench", "leader-steady.sh")
SUMMARY = os.path.join(TOP, "bench", "perf_summary.py")
FLOOR = os.path.join(TOP, "bench", "floor.py")
PIPELINE = os.path.join(TOP, "bench", "pipeline.py")
AB = os.path.join(TOP, "bench", "ab-builds.sh")
INSTR = os.path.join(TOP, "bench", "instructions.sh")
FAILOVER = os.path.join(TOP, "tools", "scripts", "failover_bench.py")
RUN_TIMEOUT = 120

REPORT = """\
# Samples: 6K of event 'cpu-clock:ppp'
#
    20.00%  [kernel.kallsyms]  [k] pvm_irq_enable
    10.00%  libc.so.6          [.] _int_malloc
     5.00%  libc.so.6          [.] malloc_consolidate
     8.00%  libc.so.6          [.] __libc_pwrite
     9.00%  libsqlite3.so.0.8.6  [.] sqlite3VdbeExec
     4.00%  libcrypto.so.3     [.] aesni_gcm_encrypt
     3.00%  libjansson.so.4.14.0  [.] json_loadb
     2.00%  libraft.so.2       [.] 0x000000000001bee8
     1.00%  libuv.so.1.0.0     [.] uv_run
     0.50%  libhttp_parser.so.2.9  [.] http_parser_execute
     6.00%  escrowd            [.] store_apply
     0.50%  libm.so.6          [.] floor
"""


def test_summary_parts_add_up(t):
    with tempfile.NamedTemporaryFile("w", suffix=".report", delete=False,
                                     dir=os.environ.get("TEST_TMPDIR")) as f:
        f.write(REPORT)
    try:
        r = subprocess.run([sys.executable, SUMMARY, "leader (node 2)", f.name, "3"],
                           capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(f.name)
    check(r.returncode == 0, "exit %s: %s" % (r.returncode, short(r.stderr)))
    lines = r.stdout.splitlines()
    check(lines[0].startswith("leader (node 2): kernel 20.0%"), "first line: %s" % lines[0])
    parts = dict((m.group(1).strip(), float(m.group(2)))
                 for m in re.finditer(r"([a-z_ ()]+?) ([0-9.]+)%", lines[0].split(": ", 1)[1]))
    want = {"kernel": 20.0, "malloc": 15.0, "libc (other)": 8.0, "sqlite": 9.0,
            "openssl": 4.0, "jansson": 3.0, "libraft": 2.0, "libuv": 1.0,
            "http_parser": 0.5, "escrowd": 6.0, "other": 0.5}
    for name, pct in want.items():
        check(abs(parts.get(name.strip(), -1) - pct) < 0.01,
              "%s: %s, not %s (%s)" % (name, parts.get(name), pct, lines[0]))
    check(len(lines) == 4, "3 symbols listed: %s" % lines)
    check("pvm_irq_enable" in lines[1] and "_int_malloc" in lines[2] and
          "sqlite3VdbeExec" in lines[3], "hottest first: %s" % lines[1:])
    empty = subprocess.run([sys.executable, SUMMARY, "x", "/dev/null"],
                           capture_output=True, text=True, timeout=30)
    check(empty.returncode == 1 and "no samples" in empty.stderr,
          "an empty report: exit %s, %s" % (empty.returncode, short(empty.stderr)))


def test_bad_options_and_help(t):
    cases = [
        (["--clients", "0"], "--clients must be an integer from 1 to 512"),
        (["--via", "sideways"], "--via is follower or leader"),
        (["--load", "delete"], "--load is escrow or lookup"),
        (["--duration"], "--duration needs a value"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
    ]
    for extra, want in cases:
        rc, out, err, _ = harness.run_once([SCRIPT, "--escrowd", harness.ESCROWD] + extra, 30)
        check(rc == 2, "%s: exit %s, not 2: %s" % (extra, rc, short(err)))
        check(want in err, "%s: stderr does not say %r: %s" % (extra, want, short(err)))
        check(out == "", "%s: printed %s" % (extra, short(out)))
    rc, out, err, _ = harness.run_once([SCRIPT, "--help"], 30)
    check(rc == 0, "--help: exit %s" % rc)
    for opt in ("--clients", "--duration", "--via", "--load", "--top", "--out", "--escrowd",
                "--help"):
        check(opt in out, "--help does not name %s" % opt)


def perf_usable():
    for prog in ("perf", "wrk"):
        if shutil.which(prog) is None:
            return "not installed: %s (apt-get install linux-perf wrk)" % prog
    r = subprocess.run(["perf", "record", "-q", "-o", "/dev/null", "--", "true"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "perf cannot record here: %s" % short(r.stderr)
    return None


def test_short_run_profiles_both_nodes(t):
    why = perf_usable()
    if why:
        raise harness.Skip(why)
    tmp = tempfile.mkdtemp(prefix="escrow-profile-test-", dir=os.environ.get("TEST_TMPDIR"))
    env = dict(os.environ, TMPDIR=tmp)
    try:
        # The lookups with one client: wrk takes no more threads than that.
        for load, clients in (("escrow", "4"), ("lookup", "1")):
            r = subprocess.run([SCRIPT, "--escrowd", harness.ESCROWD, "--duration", "2",
                                "--clients", clients, "--top", "3", "--load", load],
                               capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
            check(r.returncode == 0, "%s: exit %s: %s" % (load, r.returncode, short(r.stderr)))
            for role in ("leader", "follower"):
                check(re.search(r"^%s \(node [123]\): .*kernel [0-9.]+%%" % role, r.stdout,
                                re.M),
                      "%s: no line of shares for the %s: %s" % (load, role, short(r.stdout)))
            # Every request of the load was answered as asked (wrk's tally).
            m = re.search(r'RESULT (\{.*\})', r.stderr)
            check(m, "%s: no wrk result: %s" % (load, short(r.stderr)))
            res = json.loads(m.group(1))
            check(res["requests"] > 0 and res["status_errors"] == 0,
                  "%s: wrk saw %s" % (load, m.group(1)))
            check(os.listdir(tmp) == [], "%s: left behind: %s" % (load, os.listdir(tmp)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


test_short_run_profiles_both_nodes.timeout = 2 * RUN_TIMEOUT + 30


def test_million_keys_small_run(t):
    rc, out, err, _ = harness.run_once([MILLION, "--keys", "10"], 30)
    check(rc == 2 and "--keys must be an integer from 1000 to 10000000" in err,
          "--keys 10: exit %s: %s" % (rc, short(err)))
    tmp = tempfile.mkdtemp(prefix="escrow-million-test-", dir=os.environ.get("TEST_TMPDIR"))
    env = dict(os.environ, TMPDIR=tmp)
    table = os.path.join(tmp, "table.md")
    try:
        r = subprocess.run([MILLION, "--escrowd", harness.ESCROWD, "--escrowctl",
                            harness.ESCROWCTL, "--keys", "1000", "--clients", "8",
                            "--out", table],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        check(r.returncode == 0, "exit %s: %s" % (r.returncode, short(r.stderr)))
        check(re.search(r"^\| keys escrowed \| 1000 of 1000 in ", r.stdout, re.M),
              "keys row: %s" % short(r.stdout))
        for row in (r"snapshot save \| [0-9.]+ s, \d+ MiB",
                    r"a follower restarted, to serving \| [0-9.]+ s",
                    r"the whole cluster restarted, to serving \| [0-9.]+ s"):
            check(re.search(row, r.stdout), "no row %r: %s" % (row, short(r.stdout)))
        check(len(re.findall(r"peak resident memory, node [123] \| \d+ MiB", r.stdout)) == 3,
              "peak memory of each node: %s" % short(r.stdout))
        with open(table) as f:
            check("| keys escrowed |" in f.read(), "--out has no table")
        check(sorted(os.listdir(tmp)) == ["table.md"], "left behind: %s" % os.listdir(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


test_million_keys_small_run.timeout = RUN_TIMEOUT + 30


def test_leader_steady_short_run(t):
    rc, out, err, _ = harness.run_once([STEADY, "--via", "nowhere"], 30)
    check(rc == 2 and "--via is follower or leader" in err, "--via nowhere: exit %s" % rc)
    tmp = tempfile.mkdtemp(prefix="escrow-steady-test-", dir=os.environ.get("TEST_TMPDIR"))
    env = dict(os.environ, TMPDIR=tmp)
    try:
        r = subprocess.run([STEADY, "--escrowd", harness.ESCROWD, "--escrowctl",
                            harness.ESCROWCTL, "--duration", "2", "--clients", "4"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        check(r.returncode in (0, 3), "exit %s: %s" % (r.returncode, short(r.stderr)))
        check(re.search(r"^requests +\d+ ok, 0 errors in ", r.stdout, re.M),
              "requests line: %s" % short(r.stdout))
        m = re.search(r"^leader +node [123], term (\d+) before; node [123], term (\d+) after",
                      r.stdout, re.M)
        check(m, "leader line: %s" % short(r.stdout))
        e = re.search(r"^changes +(\d+) elections during the load", r.stdout, re.M)
        check(e, "changes line: %s" % short(r.stdout))
        same = m.group(1) == m.group(2) and e.group(1) == "0"
        check(r.returncode == (0 if same else 3),
              "exit %s does not match: %s" % (r.returncode, short(r.stdout)))
        check(os.listdir(tmp) == [], "left behind: %s" % os.listdir(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


test_leader_steady_short_run.timeout = RUN_TIMEOUT + 30


def test_floor_small_run(t):
    for extra, want in ((["--writes", "5"], "--writes must be an integer from 10 to 100000"),
                        (["--dir", "/nonexistent-dir"], "is not a directory"),
                        (["--fast"], "unknown option '--fast'")):
        rc, out, err, _ = harness.run_once([FLOOR] + extra, 30)
        check(rc == 2 and want in err and out == "", "%s: exit %s: %s" % (extra, rc, short(err)))
    tmp = tempfile.mkdtemp(prefix="escrow-floor-test-", dir=os.environ.get("TEST_TMPDIR"))
    try:
        rc, out, err, _ = harness.run_once([FLOOR, "--dir", tmp, "--writes", "20", "--trips",
                                            "20", "--json"], 60)
        check(rc == 0, "exit %s: %s" % (rc, short(err)))
        r = json.loads(out)
        for part in ("write", "round_trip"):
            p = [r[part]["p%d_us" % q] for q in (50, 90, 99)]
            check(0 < p[0] <= p[1] <= p[2], "%s percentiles not in order: %s" % (part, p))
        check(r["write"]["how"] in ("O_DIRECT|O_DSYNC", "pwrite+fdatasync"), "how: %s" % r)
        want = round((r["write"]["p50_us"] + 3 * r["round_trip"]["p50_us"]) / 1e3, 3)
        check(abs(r["via_follower_floor_ms"] - want) < 0.0015, "floor %s, not %s"
              % (r["via_follower_floor_ms"], want))
        alone, three = r["one_alone"], r["three_at_once"]
        check((alone is None) == (three is None) == (r["nowait_refused"] is None),
              "measured in part: %s" % r)
        if three is not None:
            p = [alone["p%d_us" % q] for q in (50, 90, 99)]
            check(0 < p[0] <= p[1] <= p[2], "one alone: percentiles not in order: %s" % p)
            check(len(three) == 3, "three at once: %s" % three)
            for q in (50, 90, 99):
                c = [x["p%d_us" % q] for x in three]
                check(0 < c[0] <= c[1] <= c[2], "three at once: p%d not in order: %s" % (q, c))
            want = round((three[1]["p50_us"] + 3 * r["round_trip"]["p50_us"]) / 1e3, 3)
            check(abs(r["via_follower_shared_disk_floor_ms"] - want) < 0.0015,
                  "shared-disk floor %s, not %s" % (r["via_follower_shared_disk_floor_ms"], want))
        nw = r["nowait_refused"]
        check(nw is None or (nw["writes"] == 200 and all(
            isinstance(nw[k], int) and 0 <= nw[k] <= 200
            for k in ("from_the_tail_block", "side_by_side"))), "nowait_refused: %s" % nw)
        check(os.listdir(tmp) == [], "left behind: %s" % os.listdir(tmp))
        rc, out, err, _ = harness.run_once([FLOOR, "--help"], 30)
        check(rc == 0 and all(o in out for o in ("--dir", "--writes", "--trips", "--json")),
              "--help: exit %s: %s" % (rc, short(out)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_pipeline_small_run(t):
    for extra, want in ((["--commits", "5"], "--commits must be an integer from 10 to 100000"),
                        (["--dir", "/nonexistent-dir"], "is not a directory"),
                        (["--commits"], "--commits needs a value"),
                        (["--fast"], "unknown option '--fast'")):
        rc, out, err, _ = harness.run_once([PIPELINE] + extra, 30)
        check(rc == 2 and want in err and out == "", "%s: exit %s: %s" % (extra, rc, short(err)))
    tmp = tempfile.mkdtemp(prefix="escrow-pipeline-test-", dir=os.environ.get("TEST_TMPDIR"))
    try:
        rc, out, err, _ = harness.run_once([PIPELINE, "--dir", tmp, "--commits", "20",
                                            "--json"], 60)
        check(rc == 0, "exit %s: %s" % (rc, short(err)))
        r = json.loads(out)
        check(r["commits"] == 20, "commits: %s" % r)
        for run, appends in (("messages", 0), ("messages_and_appends", 21)):
            p = [r[run]["p%d_us" % q] for q in (50, 90, 99)]
            check(0 < p[0] <= p[1] <= p[2], "%s: percentiles not in order: %s" % (run, p))
            nodes = r[run]["nodes"]
            check(sorted(nodes) == ["follower", "leader", "other_follower"], "%s: %s" % (run, r))
            for role, n in nodes.items():
                check(n["appends"] == appends and n["user"] >= 0 and n["system"] >= 0,
                      "%s: the %s: %s (want %d appends)" % (run, role, n, appends))
        check(r["messages"]["how"] is None and
              r["messages_and_appends"]["how"] in ("O_DIRECT|O_DSYNC", "O_DSYNC"), "how: %s" % r)
        check(os.listdir(tmp) == [], "left behind: %s" % os.listdir(tmp))
        rc, out, err, _ = harness.run_once([PIPELINE, "--help"], 30)
        check(rc == 0 and all(o in out for o in ("--dir", "--commits", "--json")),
              "--help: exit %s: %s" % (rc, short(out)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_failover_bench_small_run(t):
    rc, out, err, _ = harness.run_once([FAILOVER, "--op", "write"], 30)
    check(rc == 2 and "--op" in err, "--op write: exit %s: %s" % (rc, short(err)))
    for op, tries, ok in (("escrow", 2, "201"), ("lookup", 1, "200")):
        rc, out, err, _ = harness.run_once([FAILOVER, "--escrowd", harness.ESCROWD, "--op", op,
                                            "--tries", str(tries), "--log-level", "warn",
                                            "--json"], RUN_TIMEOUT)
        check(rc == 0, "%s: exit %s: %s" % (op, rc, short(err)))
        r = json.loads(out)
        check(r["ok"] and r["op"] == op and len(r["tries"]) == tries, "%s: %s" % (op, out))
        for x in r["tries"]:
            check(x["ms"] > 0 and x["wrong_reads"] == 0 and x["answers"].get(ok, 0) == 1
                  and x["new_leader"] not in (None, x["killed"]),
                  "%s: try %s" % (op, x))


test_failover_bench_small_run.timeout = 2 * RUN_TIMEOUT + 30


def test_ab_builds_small_run(t):
    for extra, want in ((["--op", "delete", "a", "b"], "--op is write or lookup"),
                        ([harness.ESCROWD], "give two or more escrowd builds"),
                        (["/nonexistent", harness.ESCROWD], "is not an executable file"),
                        (["--rounds", "0"], "--rounds must be an integer from 1 to 100")):
        rc, out, err, _ = harness.run_once([AB] + extra, 30)
        check(rc == 2 and want in err and out == "", "%s: exit %s: %s" % (extra, rc, short(err)))
    rc, out, err, _ = harness.run_once([AB, "--help"], 30)
    check(rc == 0 and all(o in out for o in ("--rounds", "--duration", "--clients", "--op",
                                             "--via", "--seed-keys", "--json", "--wrk")),
          "--help: exit %s: %s" % (rc, short(out)))
    if shutil.which("wrk") is None:
        raise harness.Skip("not installed: wrk (apt-get install wrk)")
    tmp = tempfile.mkdtemp(prefix="escrow-ab-test-", dir=os.environ.get("TEST_TMPDIR"))
    env = dict(os.environ, TMPDIR=tmp)
    try:
        for op, via in (("write", "follower"), ("lookup", "leader")):
            r = subprocess.run([AB, "--rounds", "1", "--duration", "1", "--clients", "2",
                                "--seed-keys", "10", "--op", op, "--via", via, "--json",
                                harness.ESCROWD, harness.ESCROWD],
                               capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
            check(r.returncode == 0, "%s: exit %s: %s" % (op, r.returncode, short(r.stderr)))
            d = json.loads(r.stdout)
            check(d["params"]["load"] == "%s:%s:2" % (op, via), "params: %s" % d["params"])
            check([x["system"] for x in d["runs"]] == ["0", "1"], "runs: %s" % d["runs"])
            for run in d["runs"]:
                check(run["ok"] > 0 and run["errors"] == 0 and run["cpu_us"] > 0,
                      "%s run: %s" % (op, run))
            b = d["builds"]
            check([x["build"] for x in b] == [1, 2] and b[0]["rps_over_first"] == 1.0
                  and abs(b[1]["rps_over_first"] - b[1]["rps"] / b[0]["rps"]) < 1e-9
                  and b[0]["rps"] == d["runs"][0]["rps"], "builds: %s" % b)
        check(os.listdir(tmp) == [], "left behind: %s" % os.listdir(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


test_ab_builds_small_run.timeout = 2 * RUN_TIMEOUT + 30

def test_instructions_small_run(t):
    """bench/instructions.sh: bad options refused (exit 2, nothing on
    stdout); a run of 100 escrows through a follower counts each node's
    instructions per escrow, names one leader and one client-facing node,
    and sums them."""
    for extra, want in ((["--op", "delete"], "--op is escrow or lookup"),
                        (["--via", "sideways"], "--via is follower or leader"),
                        (["--count", "99"], "--count must be an integer from 100 to 100000"),
                        (["--clients"], "--clients needs a value"),
                        (["--frobnicate"], "unknown option '--frobnicate'")):
        rc, out, err, _ = harness.run_once([INSTR] + extra, 30)
        check(rc == 2 and want in err and out == "", "%s: exit %s: %s" % (extra, rc, short(err)))
    rc, out, err, _ = harness.run_once([INSTR, "--help"], 30)
    check(rc == 0 and all(o in out for o in ("--op", "--via", "--count", "--clients",
                                             "--escrowd", "--escrowctl", "valgrind")),
          "--help: exit %s: %s" % (rc, short(out)))
    with open(harness.ESCROWD, "rb") as f:
        asan = b"__asan_init" in f.read()
    if asan:
        rc, out, err, _ = harness.run_once([INSTR, "--escrowd", harness.ESCROWD], 30)
        check(rc == 2 and "AddressSanitizer, which valgrind cannot run" in err,
              "an AddressSanitizer build: exit %s: %s" % (rc, short(err)))
        raise harness.Skip("valgrind cannot run this AddressSanitizer build; the plain "
                           "build's run of this test counts")
    if shutil.which("valgrind") is None:
        raise harness.Skip("not installed: valgrind (apt-get install valgrind)")
    tmp = tempfile.mkdtemp(prefix="escrow-instr-test-", dir=os.environ.get("TEST_TMPDIR"))
    env = dict(os.environ, TMPDIR=tmp)
    try:
        r = subprocess.run([INSTR, "--count", "100", "--clients", "2", "--escrowd",
                            harness.ESCROWD, "--escrowctl", harness.ESCROWCTL],
                           capture_output=True, text=True, timeout=4 * RUN_TIMEOUT, env=env)
        check(r.returncode == 0, "exit %s: %s" % (r.returncode, short(r.stderr)))
        lines = r.stdout.splitlines()
        check(len(lines) == 4, "output: %s" % short(r.stdout))
        counts, roles = [], []
        for line in lines[:3]:
            f = line.split()
            check(f[0] == "node" and f[4:] == ["instructions", "per", "escrow"]
                  and int(f[3]) > 1000, "a node's line: %r" % line)
            roles.append(f[2])
            counts.append(int(f[3]))
        check(sorted(roles) == ["client-facing", "follower", "leader"], "roles: %s" % roles)
        f = lines[3].split()
        check(f[:2] == ["all", "three"] and int(f[2]) == sum(counts)
              and "100 escrows via the follower, 2 clients" in lines[3],
              "the total: %r (nodes %s)" % (lines[3], counts))
        check(os.listdir(tmp) == [], "left behind: %s" % os.listdir(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


test_instructions_small_run.timeout = 4 * RUN_TIMEOUT + 30


TESTS = [
    test_summary_parts_add_up,
    test_bad_options_and_help,
    test_short_run_profiles_both_nodes,
    test_million_keys_small_run,
    test_leader_steady_short_run,
    test_floor_small_run,
    test_pipeline_small_run,
    test_failover_bench_small_run,
    test_ab_builds_small_run,
    test_instructions_small_run,
]


def main(argv):
    return harness.run_tests(TESTS, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
