#!/usr/bin/env python3
"""A smoke run of bench/compare-etcd.sh, so that the comparison with etcd
does not rot. It measures nothing: the figures of a 2-second run on a busy
machine are only checked to be there.

- A short run (1 round of 2 s, 4 clients) prints a JSON table in which every
  row has a figure for etcd, plain escrow (wrk and escrowctl bench) and TLS
  escrow, writes the same table as Markdown with --out, and leaves no process
  (none in its session) and nothing in its TMPDIR behind.
- SIGTERM in the middle of a run stops every process it started and removes
  its temporary directory.
- A missing program or a bad option: exit 2, saying what, before anything
  is started.

Needs etcd (Debian package etcd-server) and wrk; skipped, saying so, when one
is not installed. Output is TAP. Environment: ESCROWD, ESCROWCTL, TEST_SEED,
TEST_TIMEOUT, TEST_TMPDIR.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SCRIPT = os.path.join(TOP, "bench", "compare-etcd.sh")
RUN_TIMEOUT = 240      # seconds for the smoke run (about 60 s on 2 cores)
STOP_TIMEOUT = 30      # seconds for the script to exit after SIGTERM
SYSTEMS = ("etcd", "plain", "bench_plain", "tls")


def need_programs():
    missing = [p for p in ("etcd", "wrk") if shutil.which(p) is None]
    if missing:
        raise harness.Skip("not installed: %s (apt-get install etcd-server wrk)"
                           % " ".join(missing))


def script_args(*extra):
    return [SCRIPT, "--escrowd", harness.ESCROWD, "--escrowctl", harness.ESCROWCTL] + \
        list(extra)


def session_pids(sid):
    """Live processes of session sid (all the script started stay in it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # The fields after the command's ")": state ppid pgrp session ...
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


class Run:
    """The script in a session of its own with TMPDIR a fresh directory, its
    stderr collected line by line."""

    def __init__(self, args):
        self.tmp = tempfile.mkdtemp(prefix="compare-tmp-", dir=os.environ.get("TEST_TMPDIR"))
        env = dict(os.environ, TMPDIR=self.tmp)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, start_new_session=True)
        self.err = []
        self._out = []
        self._readers = [threading.Thread(target=self._read, args=a, daemon=True)
                         for a in ((self.proc.stderr, True), (self.proc.stdout, False))]
        for r in self._readers:
            r.start()

    def _read(self, stream, is_err):
        for line in stream:
            if is_err:
                self.err.append(line.rstrip("\n"))
            else:
                self._out.append(line)

    @property
    def out(self):
        return "".join(self._out)

    def wait_for_line(self, word, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(word in ln for ln in self.err):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def finish(self, timeout):
        """The exit status, None when still running after timeout seconds."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for r in self._readers:
            r.join(5)
        return self.proc.returncode

    def check_nothing_left(self, t):
        left = session_pids(self.proc.pid)
        check(not left, "processes of the script still running: %s" % left)
        check(os.listdir(self.tmp) == [], "left in TMPDIR: %s" % os.listdir(self.tmp))

    def close(self):
        """Kills what is left (a failed test) and removes TMPDIR."""
        if self.proc.poll() is None or session_pids(self.proc.pid):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def test_smoke_run_fills_every_row(t):
    need_programs()
    md = tempfile.NamedTemporaryFile(prefix="compare-", suffix=".md", delete=False,
                                     dir=os.environ.get("TEST_TMPDIR"))
    md.close()
    run = Run(script_args("--rounds", "1", "--duration", "2", "--clients", "4",
                          "--seed-keys", "200", "--json", "--out", md.name))
    try:
        rc = run.finish(RUN_TIMEOUT)
        t.diag("\n".join(run.err[-25:]))
        check(rc == 0, "exit %s; stderr: %s" % (rc, short("\n".join(run.err[-10:]), 1500)))
        report = json.loads(run.out)
        rows = report["rows"]
        loads = [r["load"] for r in rows]
        check(loads == [
            "writes via the leader, 4 clients", "writes via a follower, 4 clients",
            "p99 via the leader, 4 clients", "p99 via a follower, 4 clients",
            "audited lookups via a follower, 4 clients (etcd: linearizable get, unaudited)",
            "servers' CPU per write via the leader, 4 clients",
            "servers' CPU per write via a follower, 4 clients",
            "servers' CPU per lookup via a follower, 4 clients",
            "writes via a follower, 1 client, p50"], "rows: %s" % loads)
        errors = 0
        for r in rows:
            for s in SYSTEMS:
                cell = r[s]
                check(cell is not None, "%s: nothing for %s" % (r["load"], s))
                check(isinstance(cell["median"], (int, float)) and cell["median"] > 0,
                      "%s, %s: median %r" % (r["load"], s, cell["median"]))
                check(cell["rounds"] == 1, "%s, %s: %d rounds" % (r["load"], s, cell["rounds"]))
                errors += cell["errors"]
            check(r["escrow_etcd"] > 0 and r["tls_plain"] > 0, "%s: ratios %r %r" % (
                r["load"], r["escrow_etcd"], r["tls_plain"]))
        # 4 loads (3 at 4 clients, 1 at 1 client) x 4 systems, each its own run.
        check(len(report["runs"]) == 16, "%d runs" % len(report["runs"]))
        check({x["tool"] for x in report["runs"] if x["system"] in ("etcd", "plain")} == {"wrk"},
              "etcd and plain escrow not both measured by wrk")
        t.diag("%d failed requests in all the runs" % errors)
        with open(md.name) as f:
            text = f.read()
        check("| load | etcd (wrk) | escrow plain (wrk) | escrow / etcd |" in text,
              "no table header in %s: %s" % (md.name, short(text)))
        for load in loads:
            check("| %s |" % load in text, "no row '%s' in the Markdown" % load)
        check("kernel" in text and "CPUs" in text, "no machine line in the Markdown")
        check(re.search(r"cpuidle [^;?]+;", text) is not None,
              "the machine line does not say how an idle CPU waits: %s" % short(text))
        run.check_nothing_left(t)
    finally:
        run.close()
        os.unlink(md.name)


test_smoke_run_fills_every_row.timeout = RUN_TIMEOUT + 60


def test_sigterm_cleans_up(t):
    need_programs()
    run = Run(script_args("--rounds", "1", "--duration", "5", "--clients", "4",
                          "--seed-keys", "50"))
    try:
        # After the first run a second one is going: wrk or escrowctl bench
        # is running beside the nine nodes.
        check(run.wait_for_line("round 1 ", 120),
              "no run finished: %s" % short("\n".join(run.err[-10:]), 1500))
        os.kill(run.proc.pid, signal.SIGTERM)
        rc = run.finish(STOP_TIMEOUT)
        t.diag("\n".join(run.err[-5:]))
        check(rc == 143, "exit %s after SIGTERM (143 expected)" % rc)
        check(any("stopped 9 processes" in ln for ln in run.err), "no 'stopped' line")
        run.check_nothing_left(t)
    finally:
        run.close()


test_sigterm_cleans_up.timeout = 200


def test_missing_program_and_bad_options(t):
    cases = [
        (["--etcd", "/nonexistent/etcd"], "etcd (Debian package etcd-server, or --etcd): "
         "no executable /nonexistent/etcd"),
        (["--wrk", "no-such-wrk-here"], "'no-such-wrk-here' is not on PATH"),
        (["--escrowd", "/nonexistent/escrowd"], "no executable /nonexistent/escrowd"),
        (["--rounds", "0"], "--rounds must be an integer from 1 to 100"),
        (["--clients", "4,x"], "--clients must be a list"),
        (["--clients", "600"], "--clients must be an integer from 1 to 512"),
        (["--duration"], "--duration needs a value"),
        (["--frobnicate"], "unknown argument '--frobnicate'"),
    ]
    for extra, want in cases:
        # The programs given last win over script_args' own.
        run = Run(script_args(*extra))
        try:
            rc = run.finish(30)
            err = "\n".join(run.err)
            check(rc == 2, "%s: exit %s, not 2: %s" % (extra, rc, short(err)))
            check(want in err, "%s: stderr does not say %r: %s" % (extra, want, short(err)))
            check(run.out == "", "%s: printed %s" % (extra, short(run.out)))
            run.check_nothing_left(t)
        finally:
            run.close()
    rc, out, err, _ = harness.run_once([SCRIPT, "--help"])
    check(rc == 0, "--help: exit %s" % rc)
    for opt in ("--rounds", "--duration", "--clients", "--seed-keys", "--json", "--out",
                "--escrowd", "--escrowctl", "--etcd", "--wrk", "--help"):
        check(opt in out, "--help does not name %s" % opt)


TESTS = [
    test_missing_program_and_bad_options,
    test_smoke_run_fills_every_row,
    test_sigterm_cleans_up,
]


def main(argv):
    return harness.run_tests(TESTS, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
