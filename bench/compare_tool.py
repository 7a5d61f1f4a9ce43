#!/usr/bin/env python3
"""The parts of bench/compare-etcd.sh that want JSON or arithmetic.

  compare_tool.py ports N                  N distinct free ports on 127.0.0.1
  compare_tool.py etcd-leader URL...       index (0-based) of the leader
  compare_tool.py escrow-leader URL [TLS]  the leader's id as that node sees it
  compare_tool.py seed ETCD_URL ESCROW_URL N
                                           puts bench/seed/0..N-1 into etcd
                                           and escrows the key IDs
                                           wrk-load.lua looks up
                                           (5EED0000-...-<i>), both at once
  compare_tool.py record (wrk|bench) FILE RUNS ROUND LOAD SYSTEM
                                           appends the run in FILE (wrk's
                                           output, or escrowctl bench --json)
                                           to RUNS and prints a summary line
  compare_tool.py report RUNS PARAMS (table|json|markdown)
  compare_tool.py ab-report RUNS (table|json) LOAD DURATION ESCROWD...
                                           bench/ab-builds.sh's summary: the
                                           runs of build k have SYSTEM k

TLS is three arguments: the CA, the client certificate and its key. A run
is {"requests", "ok", "errors", "rps", "p50_ms", "p99_ms", "tool"}; RUNS is a
file of JSON lines, each a run with "round", "load" and "system" added.
Standard library only."""

import base64
import http.client
import json
import os
import socket
import ssl
import statistics
import sys
import threading
import urllib.parse

# Seeded escrow key i; bench/wrk-load.lua's seeded_key_id() makes the same.
SEED_KEY_ID = "5EED0000-0000-4000-8000-%012X"
SYSTEMS = ("etcd", "plain", "bench_plain", "tls")


def die(msg):
    print("compare_tool: " + msg, file=sys.stderr)
    sys.exit(1)


def connection(url, tls=None, timeout=15.0):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=tls[0])
        ctx.load_cert_chain(tls[1], tls[2])
        ctx.check_hostname = False
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def request(conn, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw.decode("utf-8", "replace")


def cmd_ports(n):
    socks = []
    try:
        for _ in range(int(n)):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        print(" ".join(str(s.getsockname()[1]) for s in socks))
    finally:
        for s in socks:
            s.close()


def cmd_etcd_leader(*urls):
    for i, url in enumerate(urls):
        try:
            conn = connection(url, timeout=2)
            status, body = request(conn, "POST", "/v3/maintenance/status", {})
            conn.close()
        except OSError:
            continue
        if status == 200 and isinstance(body, dict) and body.get("leader") and \
                body.get("leader") == body.get("header", {}).get("member_id"):
            print(i)
            return
    die("no etcd member says it is the leader")


def cmd_escrow_leader(url, *tls):
    conn = connection(url, tls or None, timeout=2)
    status, body = request(conn, "GET", "/v1/status")
    conn.close()
    leader = (body or {}).get("leader") if isinstance(body, dict) else None
    if status != 200 or not isinstance(leader, dict) or not leader.get("id"):
        die("GET %s/v1/status: %s %s" % (url, status, str(body)[:200]))
    print(leader["id"])


def seed_password(i):
    return "-".join("%06d" % (((i * 8 + j) % 65536) * 11) for j in range(8))


def seed_etcd(url, n):
    conn = connection(url)
    value = "v" * 180
    for i in range(int(n)):
        key = "bench/seed/%d" % i
        status, body = request(conn, "POST", "/v3/kv/put", {
            "key": _b64(key), "value": _b64(value)})
        if status != 200:
            raise ValueError("etcd put %s: %s %s" % (key, status, str(body)[:200]))
    conn.close()


def seed_escrow(url, n):
    conn = connection(url)
    for i in range(int(n)):
        key_id = SEED_KEY_ID % i
        status, body = request(conn, "POST", "/v1/keys", {
            "key_id": key_id, "recovery_password": seed_password(i),
            "volume_id": "\\\\?\\Volume{%s}\\" % key_id, "volume_type": "os",
            "machine": "seed-%d.bench.example" % (i % 100), "user": "CORP\\bench-seed"})
        if status not in (200, 201):
            raise ValueError("escrow %s: %s %s" % (key_id, status, str(body)[:200]))
    conn.close()


def cmd_seed(etcd_url, escrow_url, n):
    errors = []

    def run(fn, url):
        try:
            fn(url, n)
        except (OSError, http.client.HTTPException, ValueError, SystemExit) as e:
            errors.append("%s %s: %s" % (fn.__name__, url, e))
    threads = [threading.Thread(target=run, args=a)
               for a in ((seed_etcd, etcd_url), (seed_escrow, escrow_url))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        die("; ".join(errors))


def _b64(s):
    return base64.b64encode(s.encode()).decode()


def wrk_result(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [ln for ln in f if ln.startswith("RESULT ")]
    if not lines:
        die("no RESULT line from wrk in %s" % path)
    r = json.loads(lines[-1][len("RESULT "):])
    errors = r["status_errors"] + r["read_errors"] + r["write_errors"] + \
        r["timeouts"] + r["connect_errors"]
    ok = r["requests"] - r["status_errors"]
    secs = r["duration_us"] / 1e6
    return {"requests": r["requests"], "ok": ok, "errors": errors,
            "rps": ok / secs if secs > 0 else 0.0,
            "p50_ms": r["p50_us"] / 1000.0, "p99_ms": r["p99_us"] / 1000.0, "tool": "wrk"}


def bench_result(path):
    with open(path, encoding="utf-8") as f:
        r = json.load(f)
    lat = r.get("latency_ms", {})
    return {"requests": r["ok"] + r["errors"], "ok": r["ok"], "errors": r["errors"],
            "rps": r["throughput_rps"], "p50_ms": lat.get("p50", 0.0),
            "p99_ms": lat.get("p99", 0.0), "tool": "escrowctl bench"}


def cmd_record(kind, path, runs_path, round_no, load, system, cpu_after=None,
               cpu_before=None):
    """cpu_after and cpu_before: the CPU seconds the system's three servers
    had used after and before the run (compare-etcd.sh's cpu_seconds)."""
    if kind not in ("wrk", "bench"):
        die("record: wrk or bench, not %s" % kind)
    r = wrk_result(path) if kind == "wrk" else bench_result(path)
    if r["ok"] < 1:
        die("%s: no request succeeded (%d errors)" % (path, r["errors"]))
    r.update(round=int(round_no), load=load, system=system)
    if cpu_after is not None and cpu_before is not None:
        r["cpu_us"] = (float(cpu_after) - float(cpu_before)) * 1e6 / r["ok"]
    with open(runs_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(r) + "\n")
    print("%.0f/s p50 %.2f ms p99 %.2f ms, %d errors (%s)" % (
        r["rps"], r["p50_ms"], r["p99_ms"], r["errors"], r["tool"]))


# ---------------------------------------------------------------- report

def _loads(clients):
    """(key, label, kind, metric) of every row, in the table's order; key is
    the load the runs were made under ("write:leader:64")."""
    rows = []
    for c in clients:
        cl = "%d client%s" % (c, "" if c == 1 else "s")
        rows += [
            ("write:leader:%d" % c, "writes via the leader, %s" % cl, "rps"),
            ("write:follower:%d" % c, "writes via a follower, %s" % cl, "rps"),
            ("write:leader:%d" % c, "p99 via the leader, %s" % cl, "p99_ms"),
            ("write:follower:%d" % c, "p99 via a follower, %s" % cl, "p99_ms"),
            ("read:follower:%d" % c, "audited lookups via a follower, %s "
             "(etcd: linearizable get, unaudited)" % cl, "rps"),
            ("write:leader:%d" % c, "servers' CPU per write via the leader, %s" % cl,
             "cpu_us"),
            ("write:follower:%d" % c, "servers' CPU per write via a follower, %s" % cl,
             "cpu_us"),
            ("read:follower:%d" % c, "servers' CPU per lookup via a follower, %s" % cl,
             "cpu_us"),
        ]
    rows.append(("write:follower:1", "writes via a follower, 1 client, p50", "p50_ms"))
    return rows


def _cell(runs, metric):
    vals = [r[metric] for r in runs if metric in r]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "rounds": len(vals), "errors": sum(r["errors"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "tool": runs[0]["tool"]}


def build(runs, params):
    rows = []
    for key, label, metric in _loads(params["clients"]):
        cells = {s: _cell([r for r in runs if r["load"] == key and r["system"] == s], metric)
                 for s in SYSTEMS}
        row = {"load": label, "metric": metric, "run": key}
        for s in SYSTEMS:
            row[s] = cells[s]

        def ratio(a, b):
            if not (cells[a] and cells[b]) or not cells[b]["median"]:
                return None
            return cells[a]["median"] / cells[b]["median"]
        row["escrow_etcd"] = ratio("plain", "etcd")
        row["tls_plain"] = ratio("tls", "bench_plain")
        rows.append(row)
    return rows


def _fmt(cell, metric, with_p99):
    if cell is None:
        return "–"
    if metric == "rps":
        s = "{:,.0f}/s".format(cell["median"])
        if with_p99:
            s += " (p99 %s)" % _ms(cell["p99_ms"])
    elif metric == "cpu_us":
        s = "%.0f µs" % cell["median"]
        if cell["rounds"] > 1:
            s += " (%.0f–%.0f)" % (cell["min"], cell["max"])
    else:
        s = _ms(cell["median"])
        if cell["rounds"] > 1:
            s += " (%s–%s)" % (_num(cell["min"]), _num(cell["max"]))
    if cell["errors"]:
        s += " [%d errors]" % cell["errors"]
    return s


def _num(v):
    return "%.0f" % v if v >= 10 else "%.2f" % v


def _ms(v):
    return _num(v) + " ms"


def _ratio(v, metric):
    if v is None:
        return ""
    if metric == "rps":
        return "%.2f" % v
    # Latency and CPU: lower is better.
    return "%.2f× %s" % (v, "worse" if v > 1 else "(better)") if v != 1 else "1.00×"


HEAD = ("load", "etcd (wrk)", "escrow plain (wrk)", "escrow / etcd",
        "escrow plain (escrowctl bench)", "escrow TLS (escrowctl bench)", "TLS / plain")


def table_rows(rows):
    out = []
    for r in rows:
        lookups = r["run"].startswith("read:")
        m = r["metric"]
        out.append((r["load"], _fmt(r["etcd"], m, lookups), _fmt(r["plain"], m, lookups),
                    _ratio(r["escrow_etcd"], m), _fmt(r["bench_plain"], m, lookups),
                    _fmt(r["tls"], m, lookups), _ratio(r["tls_plain"], m)))
    return out


def print_text(rows, params):
    body = table_rows(rows)
    widths = [max(len(x[i]) for x in body + [HEAD]) for i in range(len(HEAD))]
    for line in [HEAD] + body:
        print("  ".join(v.ljust(widths[i]) for i, v in enumerate(line)).rstrip())
    print(footer(params))


def footer(params):
    return ("medians over %d round(s) of %d s per run; (min–max) over rounds where "
            "there are several. etcd and escrow plain: wrk with bench/wrk-load.lua; "
            "escrow TLS: escrowctl bench (wrk presents no client certificate), so "
            "TLS / plain compares escrowctl bench on the TLS and the plain cluster. "
            "Servers' CPU: the user and system time of the three server processes "
            "during the run, per successful request (the client's own is not counted)."
            % (params["rounds"], params["duration"]))


def markdown(rows, params):
    m = params.get("machine", {})
    lines = [
        "Run %s: `%s`." % (params.get("date", "?"), params.get("command", "")),
        "",
        "Machine: %s CPUs (%s), kernel %s, cpuidle %s; load average %s before the run, "
        "%s after; etcd %s; %s." % (
            m.get("nproc", "?"), m.get("cpu", "?"), m.get("kernel", "?"), m.get("idle", "?"),
            m.get("load_before", "?"), m.get("load_after", "?"),
            params.get("etcd_version", "?"), params.get("escrow_version", "?")),
        "",
        "| " + " | ".join(HEAD) + " |",
        "|" + " --- |" * len(HEAD),
    ]
    for line in table_rows(rows):
        lines.append("| " + " | ".join(line) + " |")
    lines += ["", footer(params)]
    return "\n".join(lines) + "\n"


def cmd_report(runs_path, params_path, fmt):
    with open(params_path, encoding="utf-8") as f:
        params = json.load(f)
    runs = []
    with open(runs_path, encoding="utf-8") as f:
        for ln in f:
            if ln.strip():
                runs.append(json.loads(ln))
    rows = build(runs, params)
    if fmt == "json":
        print(json.dumps({"params": params, "rows": rows, "runs": runs}, indent=1))
    elif fmt == "markdown":
        sys.stdout.write(markdown(rows, params))
    elif fmt == "table":
        print_text(rows, params)
    else:
        die("report: format table, json or markdown")


# ---------------------------------------------------------------- ab-report

def cmd_ab_report(runs_path, fmt, load, duration, *builds):
    """Per build (the runs whose system is its index): medians of rate, p99
    and CPU per request, and the rate over the first build's."""
    with open(runs_path, encoding="utf-8") as f:
        runs = [json.loads(line) for line in f if line.strip()]
    out = []
    for k, path in enumerate(builds):
        mine = [r for r in runs if r["system"] == str(k)]
        if not mine:
            die("ab-report: no run of build %d (%s)" % (k + 1, path))
        rps = [r["rps"] for r in mine]
        out.append({"build": k + 1, "escrowd": path, "runs": len(mine),
                    "rps": statistics.median(rps), "rps_min": min(rps), "rps_max": max(rps),
                    "p99_ms": statistics.median(r["p99_ms"] for r in mine),
                    "cpu_us": statistics.median(r.get("cpu_us", 0.0) for r in mine)})
    for b in out:
        b["rps_over_first"] = b["rps"] / out[0]["rps"]
    if fmt == "json":
        json.dump({"params": {"load": load, "duration_s": int(duration)}, "runs": runs,
                   "builds": out}, sys.stdout, indent=1)
        print()
        return
    if fmt != "table":
        die("ab-report: format table or json")
    print("%s, %s s per run; medians over each build's runs, (min-max) of the rate"
          % (load, duration))
    for b in out:
        print("build %d  %8s/s (%s-%s)  p99 %6.1f ms  CPU %5.0f us/request  rate x%.2f  %s" % (
            b["build"], "{:,.0f}".format(b["rps"]), "{:,.0f}".format(b["rps_min"]),
            "{:,.0f}".format(b["rps_max"]), b["p99_ms"], b["cpu_us"], b["rps_over_first"],
            b["escrowd"]))


COMMANDS = {
    "ports": cmd_ports, "etcd-leader": cmd_etcd_leader, "escrow-leader": cmd_escrow_leader,
    "seed": cmd_seed,
    "record": cmd_record, "report": cmd_report, "ab-report": cmd_ab_report,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die("usage: see the top of %s" % os.path.basename(__file__))
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
        die("%s: %s: %s" % (sys.argv[1], type(e).__name__, e))
