#!/usr/bin/env python3
"""Process tests of escrowctl's compliance commands (docs/api.md section 7):
compliance, machine, policy, exempt and report compliance, and the keys
bench --op compliance escrows before its reports. No cluster is
needed: every usage error (exit 2, a message naming what is wrong, then the
usage line) is found before any connection, input that passes the local
checks goes on to an address where nobody listens (exit 3), and a stub HTTP
server on 127.0.0.1 shows the requests as the contract writes them (paths,
bodies, every page of a report). Output is TAP. Environment: ESCROWD,
ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402
from test_snapshot import need_ctl  # noqa: E402

BODY_LIMIT = 65536   # the server's body limit: a report or policy of more is refused
COMMANDS = ("compliance", "machine", "policy", "exempt", "report")


def nowhere():
    """--nodes of an address where nobody listens."""
    return ["http://127.0.0.1:%d" % harness.free_ports(1)[0]]


def ctl(args, nodes=None, stdin=None):
    """escrowctl --nodes NODES args, with bytes stdin on standard input (else
    none). Returns (rc, stdout, stderr)."""
    cmd = [harness.ESCROWCTL, "--nodes", ",".join(nodes or nowhere())] + list(args)
    p = subprocess.run(cmd, input=stdin if stdin is not None else b"",
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def expect_usage(args, message, stdin=None):
    """args is a usage error: exit 2, message (a str, or a compiled pattern
    the first line must match whole) as the first line of stderr, the
    command's usage line next, and nothing on stdout."""
    rc, so, se = ctl(args, stdin=stdin)
    lines = se.splitlines() + ["", ""]
    said = (message.fullmatch(lines[0]) is not None if hasattr(message, "fullmatch")
            else lines[0] == message)
    check(rc == 2 and said and lines[1].startswith("usage: escrowctl [global options] %s "
                                                   % args[0]) and so == "",
          "escrowctl %s: exit %s, said %r; expected exit 2 and %r then the usage line"
          % (" ".join(args), rc, se, getattr(message, "pattern", message)))


def expect_unreachable(args, stdin=None):
    """args passes every local check: escrowctl goes on to the node and,
    nobody listening, exits 3 saying so."""
    rc, _, se = ctl(args, stdin=stdin)
    check(rc == 3 and se.startswith("escrowctl: no node could be reached: "),
          "escrowctl %s: exit %s %s; expected 3, no node reached" % (" ".join(args), rc,
                                                                    short(se)))


def test_usage_errors(t):
    """Missing arguments, unknown subcommands, --until with --end, --note
    with --end, a value given to --end, a bad --status, options of the other
    report, bench flags of --op compliance with another op: exit 2 with the
    message, before any connection."""
    need_ctl()
    cases = [
        (["compliance"],
         "escrowctl compliance: FILE (a report in JSON, or - for standard input) is required"),
        (["compliance", "a.json", "b.json"], "escrowctl compliance: unexpected argument 'b.json'"),
        (["compliance", "--frob", "a.json"], "escrowctl compliance: unknown option --frob"),
        (["machine"], "escrowctl machine: MACHINE is required"),
        (["machine", ""], "escrowctl machine: MACHINE is empty"),
        (["machine", "pc-1", "pc-2"], "escrowctl machine: unexpected argument 'pc-2'"),
        (["policy"], "escrowctl policy: give get, or set FILE"),
        (["policy", "show"], "escrowctl policy: unknown subcommand 'show' (get, set FILE)"),
        (["policy", "get", "x"], "escrowctl policy: unexpected argument 'x'"),
        (["policy", "set"],
         "escrowctl policy: set needs a FILE (the policy in JSON, or - for standard input)"),
        (["policy", "set", "a.json", "b.json"], "escrowctl policy: unexpected argument 'b.json'"),
        (["exempt"], "escrowctl exempt: MACHINE is required"),
        (["exempt", "--end"], "escrowctl exempt: MACHINE is required"),
        (["exempt", "pc-1"], "escrowctl exempt: --until DATE or --end is required"),
        (["exempt", "pc-1", "--until", "2027-01-31", "--end"],
         "escrowctl exempt: give --until DATE or --end, not both"),
        (["exempt", "pc-1", "--end", "--note", "back"],
         "escrowctl exempt: --note goes with --until, not --end"),
        (["exempt", "pc-1", "--until", ""], "escrowctl exempt: --until needs a non-empty value"),
        (["exempt", "pc-1", "--until", "2027-01-31", "--until", "2027-02-01"],
         "escrowctl exempt: --until given twice"),
        (["exempt", "pc-1", "--until"], "escrowctl exempt: --until needs a value"),
        (["exempt", "pc-1", "--end=yes"], "escrowctl exempt: --end takes no value"),
        (["exempt", "pc-1", "pc-2", "--end"], "escrowctl exempt: unexpected argument 'pc-2'"),
        (["report", "compliance", "--status", "bad"],
         "escrowctl report: --status: 'bad' is not compliant, noncompliant, exempt or unknown"),
        (["report", "compliance", "--status", "Compliant"],
         "escrowctl report: --status: 'Compliant' is not compliant, noncompliant, exempt or "
         "unknown"),
        (["report", "compliance", "--format", "xml"],
         "escrowctl report: --format: table, json or csv"),
        (["report", "compliance", "--since", "3"],
         "escrowctl report: --since goes with report audit, not compliance"),
        (["report", "compliance", "--page", "3"],
         "escrowctl report: --page goes with report audit, not compliance"),
        (["report", "audit", "--status", "exempt"],
         "escrowctl report: --status goes with report compliance, not audit"),
        (["report", "compliance", "extra"], "escrowctl report: unexpected argument 'extra'"),
        (["report", "machines"], "escrowctl report: unknown report 'machines' (audit, compliance)"),
        (["bench", "--no-escrow"],
         "escrowctl bench: --machines, --seed and --no-escrow are for --op compliance"),
        (["bench", "--op", "lookup", "--no-escrow"],
         "escrowctl bench: --machines, --seed and --no-escrow are for --op compliance"),
        (["bench", "--op", "escrow", "--machines", "5"],
         "escrowctl bench: --machines, --seed and --no-escrow are for --op compliance"),
        (["bench", "--op", "compliance", "--no-escrow", "now"],
         "escrowctl bench: unexpected argument 'now'"),
        (["bench", "--op", "compliance", "--no-escrow=yes"],
         "escrowctl bench: --no-escrow takes no value"),
    ]
    for args, message in cases:
        expect_usage(args, message)


def test_files_are_checked_locally(t):
    """compliance FILE and policy set FILE: a file that does not exist, a
    directory, one that is not JSON (jansson's line and column), JSON that
    is not an object, or over 64 KiB: exit 2 naming the file. Exactly
    64 KiB of JSON object passes and goes to the node."""
    need_ctl()
    d = tempfile.mkdtemp(prefix="escrow-ctlc-")
    try:
        def write(name, text):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            return path

        missing = os.path.join(d, "missing.json")
        bad = write("bad.json", '{"machine": "pc-1",\n "volumes": [}\n')
        arr = write("array.json", '[{"machine": "pc-1"}]')
        empty = write("empty.json", "")
        head = '{"machine": "pc-1", "pad": "'
        exact = write("exact.json", head + "x" * (BODY_LIMIT - len(head) - 2) + '"}')
        over = write("over.json", head + "x" * (BODY_LIMIT - len(head) - 1) + '"}')
        check(os.path.getsize(exact) == BODY_LIMIT and os.path.getsize(over) == BODY_LIMIT + 1,
              "fixture sizes")
        for cmd in (["compliance"], ["policy", "set"]):
            name = "escrowctl %s: " % cmd[0]
            expect_usage(cmd + [missing], name + "%s: No such file or directory" % missing)
            expect_usage(cmd + [d], name + "%s: Is a directory" % d)
            expect_usage(cmd + [bad], re.compile(
                re.escape(name + "%s: not JSON: line 2, column " % bad) + r"\d+: .+"))
            expect_usage(cmd + [empty], re.compile(
                re.escape(name + "%s: not JSON: line 1, column " % empty) + r"\d+: .+"))
            expect_usage(cmd + [arr], name + "%s: not a JSON object" % arr)
            expect_usage(cmd + [over], name + "%s: over 64 KiB (65536 bytes), the most the "
                         "server takes" % over)
            expect_unreachable(cmd + [exact])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_dash_reads_standard_input(t):
    """'-' reads the report (or policy) from standard input, with the same
    checks, named "standard input"; a good one goes to the node."""
    need_ctl()
    head = b'{"machine": "pc-1", "pad": "'
    for cmd in (["compliance", "-"], ["policy", "set", "-"]):
        name = "escrowctl %s: standard input: " % cmd[0]
        expect_usage(cmd, re.compile(re.escape(name + "not JSON: line 1, column ") + r"\d+: .+"),
                     stdin=b"nope")
        expect_usage(cmd, re.compile(re.escape(name + "not JSON: line 1, column ") + r"\d+: .+"),
                     stdin=b"")
        expect_usage(cmd, name + "not a JSON object", stdin=b"[]")
        expect_usage(cmd, name + "over 64 KiB (65536 bytes), the most the server takes",
                     stdin=head + b"x" * (4 * BODY_LIMIT) + b'"}')
        expect_unreachable(cmd, stdin=b'{"machine": "pc-1", "volumes": []}\n')


def test_valid_arguments_go_to_the_node(t):
    """Arguments that pass the local checks reach for the node: exit 3 when
    nobody listens (no usage error hides there)."""
    need_ctl()
    for args in (["machine", "pc-1.corp.example"], ["policy", "get"],
                 ["exempt", "pc-1", "--until", "2027-01-31", "--note", "travel"],
                 ["exempt", "pc-1", "--until", "2027-01-31T12:00:00+02:00"],
                 ["exempt", "pc-1", "--end"], ["report", "compliance"],
                 ["report", "compliance", "--status", "noncompliant", "--format", "csv"],
                 ["report", "compliance", "--json"]):
        expect_unreachable(args)


def test_help(t):
    """COMMAND --help (and help COMMAND) exits 0 with the command's usage and
    options; escrowctl --help lists the new commands."""
    need_ctl()
    for cmd in COMMANDS:
        for args in ([cmd, "--help"], ["help", cmd]):
            rc, so, se = ctl(args)
            check(rc == 0 and so.startswith("usage: escrowctl [global options] %s " % cmd)
                  and se == "", "escrowctl %s: exit %s %s %s" % (" ".join(args), rc,
                                                                 short(so), short(se)))
    rc, so, _ = ctl(["exempt", "--help"])
    check("YYYY-MM-DD" in so and "--end" in so, "exempt --help: %s" % short(so))
    rc, so, _ = ctl(["report", "--help"])
    check("--status" in so and "compliance" in so, "report --help: %s" % short(so))
    rc, so, _ = ctl(["--help"])
    check(rc == 0 and all(re.search(r"^  %s +\S" % c, so, re.M) for c in COMMANDS),
          "escrowctl --help does not list every command: %s" % so)


# ------------------------------------------------ a stub of the contract's routes

class Stub:
    """An HTTP server on 127.0.0.1 answering the compliance routes as the
    contract writes them, from a list of machines, recording each request.
    stuck: every page after the first names the same next page."""

    def __init__(self, machines, page=3, stuck=False):
        self.machines, self.page, self.stuck = machines, page, stuck
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code, obj=None, text=None, headers=()):
                body = (text if text is not None else json.dumps(obj)).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else None
                stub.requests.append((self.command, self.path, body))
                code, obj, text, headers = stub.route(self.command, self.path, body)
                self._answer(code, obj, text, headers)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def route(self, method, path, body):
        u = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(u.query)
        if method == "GET" and u.path == "/v1/reports/compliance":
            after = q.get("after", [""])[0]
            ms = [m for m in self.machines if m["machine"] > after and
                  ("status" not in q or m["status"] == q["status"][0])]
            page, more = ms[:self.page], len(ms) > self.page
            nxt = page[-1]["machine"] if more else None
            if self.stuck and after:
                nxt = after
            if q.get("format") == ["csv"]:
                rows = ["machine,status,reasons,stale,reported_at,user"] + [
                    "%s,%s,%s,%s,%s,%s" % (m["machine"], m["status"], ";".join(m["reasons"]),
                                          "true" if m["stale"] else "false", m["reported_at"],
                                          m["user"]) for m in page]
                return 200, None, "\n".join(rows) + "\n", [("X-Escrow-Next", nxt)] if nxt else []
            counts = {s: sum(m["status"] == s for m in self.machines)
                      for s in ("compliant", "noncompliant", "exempt", "unknown")}
            return 200, {"counts": counts, "machines": page, "next": nxt}, None, []
        if method == "POST" and u.path == "/v1/keys":
            return 201, {"key_id": json.loads(body)["key_id"], "created": True,
                         "index": 5}, None, []
        if method == "POST" and u.path == "/v1/compliance":
            rep = json.loads(body)
            return 200, {"machine": rep["machine"], "status": "noncompliant",
                         "reasons": ["rotation_pending"],
                         "rotate_key_ids": ["6F1D2C3B-0A4E-4F55-9B2C-1D2E3F405162"],
                         "index": 7}, None, []
        if u.path.endswith("/exemption") and method in ("POST", "DELETE"):
            return 200, {"machine": "pc-1"}, None, []
        if u.path == "/v1/policy":
            return 200, json.loads(body) if method == "PUT" else {"stale_after_days": 14}, None, []
        return 404, {"error": {"code": "not_found", "message": "no such route."}}, None, []


def machines(n):
    statuses = ("compliant", "noncompliant", "exempt", "unknown")
    return [{"machine": "pc-%03d" % i, "status": statuses[i % 4],
             "reasons": ["rotation_pending", "no_recovery_password"] if i % 4 == 1 else [],
             "stale": i % 4 == 3, "reported_at": "2026-01-01T00:00:00Z", "user": "u%d" % i}
            for i in range(n)]


def test_requests_as_the_contract_writes_them(t):
    """Against a stub of the routes: the report goes as it is, the verdict
    is printed, a plain date becomes midnight UTC, a machine name is escaped
    in the path, and report compliance follows next through every page (in
    CSV by X-Escrow-Next, the header once) and stops when next does not
    advance."""
    need_ctl()
    stub = Stub(machines(8))
    try:
        report = '{"machine": "pc-1",  "volumes": []}'
        rc, so, se = ctl(["compliance", "-"], [stub.url], stdin=report.encode())
        check(rc == 0 and so == "pc-1: noncompliant\nreasons: rotation_pending\n"
              "rotate: 6F1D2C3B-0A4E-4F55-9B2C-1D2E3F405162\n"
              and stub.requests[-1] == ("POST", "/v1/compliance", report),
              "compliance: exit %s %r %s %s" % (rc, so, short(se), stub.requests[-1:]))
        rc, so, se = ctl(["exempt", "pc 1/x", "--until", "2027-01-31", "--note", "trip"],
                         [stub.url])
        check(rc == 0 and stub.requests[-1][:2] == ("POST", "/v1/machines/pc%201%2Fx/exemption")
              and json.loads(stub.requests[-1][2]) == {"until": "2027-01-31T00:00:00Z",
                                                       "note": "trip"},
              "exempt --until DATE: exit %s %s %s" % (rc, short(se), stub.requests[-1:]))
        rc, so, se = ctl(["exempt", "pc-1", "--end"], [stub.url])
        check(rc == 0 and stub.requests[-1][:2] == ("DELETE", "/v1/machines/pc-1/exemption"),
              "exempt --end: exit %s %s %s" % (rc, short(se), stub.requests[-1:]))

        del stub.requests[:]
        rc, so, se = ctl(["report", "compliance", "--format", "json"], [stub.url])
        got = json.loads(so) if rc == 0 else {}
        check(rc == 0 and [m["machine"] for m in got.get("machines", [])] ==
              [m["machine"] for m in stub.machines] and got.get("counts", {}).get("exempt") == 2
              and [p for _, p, _ in stub.requests] ==
              ["/v1/reports/compliance", "/v1/reports/compliance?after=pc-002",
               "/v1/reports/compliance?after=pc-005"],
              "report json: exit %s %s %s %s" % (rc, short(so), short(se), stub.requests))
        rc, so, se = ctl(["report", "compliance", "--status", "noncompliant"], [stub.url])
        lines = so.splitlines()
        check(rc == 0 and lines[0] == "counts: compliant 2, noncompliant 2, exempt 2, unknown 2"
              and lines[1].split() == ["MACHINE", "STATUS", "REASONS", "STALE", "REPORTED", "AT",
                                       "USER"]
              and [ln.split()[0] for ln in lines[2:]] == ["pc-001", "pc-005"]
              and "rotation_pending,no_recovery_password" in lines[2],
              "report table: exit %s %r %s" % (rc, so, short(se)))
        rc, so, se = ctl(["report", "compliance", "--format", "csv"], [stub.url])
        lines = so.splitlines()
        check(rc == 0 and lines[0] == "machine,status,reasons,stale,reported_at,user"
              and [ln.split(",")[0] for ln in lines[1:]] == [m["machine"] for m in stub.machines]
              and "pc-001,noncompliant,rotation_pending;no_recovery_password,false," in so,
              "report csv: exit %s %r %s" % (rc, so, short(se)))
    finally:
        stub.close()
    stuck = Stub(machines(8), stuck=True)
    try:
        for fmt in ("table", "csv"):
            rc, so, se = ctl(["report", "compliance", "--format", fmt], [stuck.url])
            check(rc == 1 and se == "escrowctl: report compliance: the server's next page "
                  "(after 'pc-002') does not advance past 'pc-002'; stopped\n",
                  "a next that does not advance (%s): exit %s %s" % (fmt, rc, short(se)))
    finally:
        stuck.close()


def bench_compliance(stub, args):
    """escrowctl --json bench --op compliance args against stub, its
    requests cleared first: (rc, the JSON report or {}, stderr, the escrow
    bodies, the report bodies), each in the order received."""
    del stub.requests[:]
    rc, so, se = ctl(["--json", "bench", "--op", "compliance"] + list(args), [stub.url])
    kinds = [p for _, p, _ in stub.requests]
    escrows = [json.loads(b) for _, p, b in stub.requests if p == "/v1/keys"]
    reports = [json.loads(b) for _, p, b in stub.requests if p == "/v1/compliance"]
    check(kinds == ["/v1/keys"] * len(escrows) + ["/v1/compliance"] * len(reports),
          "bench %s: not every escrow before the reports: %s" % (" ".join(args), kinds))
    return rc, json.loads(so) if rc == 0 else {}, se, escrows, reports


def listed_keys(reports):
    """(key ID, machine in lower case, volume ID, volume type) of every key
    the reports list."""
    return {(k, r["machine"].lower(), v["volume_id"], v["volume_type"])
            for r in reports for v in r["volumes"] for k in v["key_ids"]}


def escrowed_keys(escrows):
    """The same of every key escrowed: the server compares machines in
    lower case."""
    return {(e["key_id"], e["machine"].lower(), e["volume_id"], e["volume_type"])
            for e in escrows}


def test_bench_escrows_what_it_reports(t):
    """bench --op compliance against a stub: before its first report it
    escrows exactly the keys its reports list, each under the report's
    machine name, volume ID and type, with a valid recovery password and only
    the fields of POST /v1/keys; the same keys and passwords on a second run.
    --machines M: the first M machines only, also with --duration.
    --no-escrow, and --duration without --count or --machines: none."""
    need_ctl()
    stub = Stub([])
    pw = re.compile(r"[0-9]{6}(-[0-9]{6}){7}")
    fields = {"key_id", "recovery_password", "volume_id", "volume_type", "machine", "user"}
    try:
        args = ["--count", "24", "--clients", "3", "--seed", "3", "--machine-prefix", "Lab.X"]
        rc, r, se, escrows, reports = bench_compliance(stub, args)
        keys = escrowed_keys(escrows)
        check(rc == 0 and r.get("escrowed") == len(escrows) == len(keys)
              and len(reports) == 24 and keys == listed_keys(reports)
              and {e["machine"] for e in escrows} == {x["machine"] for x in reports}
              and all(set(e) == fields and pw.fullmatch(e["recovery_password"])
                      and all(int(b) % 11 == 0 and int(b) // 11 < 65536
                              for b in e["recovery_password"].split("-")) for e in escrows)
              and "escrowing the %d recovery passwords of 24 machines first" % len(escrows) in se,
              "bench: exit %s %s %s; escrows %s" % (rc, short(r), short(se), short(escrows)))
        again = bench_compliance(stub, args)[3]
        check(sorted(map(json.dumps, again)) == sorted(map(json.dumps, escrows)),
              "a second run escrows other keys: %s" % short(again))

        rc, r, se, escrows, reports = bench_compliance(stub, args + ["--machines", "4"])
        check(rc == 0 and r.get("escrowed") == len(escrows) and len(reports) == 24
              and len({x["machine"] for x in reports}) == 4
              and escrowed_keys(escrows) == listed_keys(reports),
              "--machines 4: exit %s %s %s" % (rc, short(r), short(se)))
        rc, r, se, escrows, reports = bench_compliance(
            stub, ["--duration", "1", "--clients", "1", "--machines", "3"])
        check(rc == 0 and r.get("escrowed") == len(escrows) > 0 and len(reports) > 0
              and escrowed_keys(escrows) == listed_keys(reports),
              "--duration 1 --machines 3: exit %s %s %s" % (rc, short(r), short(se)))
        rc, r, se, escrows, reports = bench_compliance(stub, args + ["--no-escrow"])
        check(rc == 0 and r.get("escrowed") == 0 and escrows == [] and len(reports) == 24
              and "escrowing" not in se,
              "--no-escrow: exit %s %s %s" % (rc, short(r), short(se)))
        rc, r, se, escrows, reports = bench_compliance(stub, ["--duration", "1", "--clients", "1"])
        check(rc == 0 and r.get("escrowed") == 0 and escrows == [] and len(reports) > 0
              and "so no key is escrowed first" in se,
              "--duration without --count: exit %s %s %s" % (rc, short(r), short(se)))
    finally:
        stub.close()
    # Nobody listening: the escrows fail and the timed run never starts.
    rc, so, se = ctl(["bench", "--op", "compliance", "--count", "3"])
    check(rc == 3 and so == "" and re.search(
        r"^escrowctl: bench: escrowing the \d+ keys of the reports failed: ", se, re.M),
        "bench, nobody listening: exit %s %r %s" % (rc, so, short(se)))


TESTS = [
    test_usage_errors,
    test_files_are_checked_locally,
    test_dash_reads_standard_input,
    test_valid_arguments_go_to_the_node,
    test_help,
    test_requests_as_the_contract_writes_them,
    test_bench_escrows_what_it_reports,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
