#!/usr/bin/env python3
"""Browser tests of the web console (docs/console.md, issue 13).

Starts a 3-node TLS cluster with the harness, seeds it (keys, two of them
sharing their first 8 hex digits; compliance reports making compliant,
noncompliant and exempt machines; lookups, so the audit log has entries),
writes a JSON config and runs `node tests/browser/console.test.mjs CONFIG`,
which drives Debian's chromium with playwright-core. Each browser case is
relayed as its own TAP result; a last result covers the cluster (every node
the test did not kill exits 0 on SIGTERM, no sanitizer report).

The node script asks for a node to be killed by printing `KILL N`; this
process sends it a real SIGKILL, waits for the exit and answers `KILLED N`
on the script's stdin. `RESTART N` starts a killed node again from its data
dir (answered `RESTARTED N ok`, or `RESTARTED N error: WHY`). The nodes run
with --break-glass-after 2, so that the break-glass case (the last one,
which kills every node but one) need not wait long for `no_quorum`.

Needs /usr/bin/chromium (or ESCROW_CHROMIUM), node and tests/browser's npm
packages: tools/check.sh installs them (apt-get install chromium; npm ci in
tests/browser). Without them the test fails and says so. Screenshots of
every page go to $ESCROW_BUILDDIR/tests/screenshots/PAGE-WxH.png.
Environment: ESCROWD, ESCROWCTL, ESCROW_BUILDDIR, ESCROW_CHROMIUM,
TEST_SEED, TEST_TIMEOUT (the browser run gets at most 300 s of it, at
least 420 s in all). Arguments: words; only the browser cases whose names
hold one of them run.
"""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "browser")
SCRIPT = os.path.join(BROWSER_DIR, "console.test.mjs")
CHROMIUM = os.environ.get("ESCROW_CHROMIUM") or "/usr/bin/chromium"
BROWSER_BUDGET = 300.0      # seconds for the whole browser run
HELPDESK_PERSON = "bob"     # a helpdesk certificate of a person (CN bob)
AUDITOR_PERSON = "carol"
BREAK_GLASS_AFTER = 2       # --break-glass-after of every node, seconds


def out(line):
    harness.out(line)


def missing_prerequisites():
    """What the browser tests need and this machine lacks, as sentences."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append("no chromium at %s (apt-get install chromium)" % CHROMIUM)
    if shutil.which("node") is None:
        missing.append("no node in PATH (apt-get install nodejs npm)")
    for pkg, f in (("playwright-core", "package.json"), ("axe-core", "axe.min.js")):
        if not os.path.isfile(os.path.join(BROWSER_DIR, "node_modules", pkg, f)):
            missing.append("no %s in %s/node_modules (npm ci there)" % (pkg, BROWSER_DIR))
    if not os.path.isfile(SCRIPT):
        missing.append("no %s" % SCRIPT)
    return missing


# ---------------------------------------------------------------- seeding

def volume(vtype, key_ids, protection="on"):
    return {"volume_id": "vol-%s" % vtype, "volume_type": vtype, "protection": protection,
            "conversion": "fully_encrypted", "encryption_method": "xts_aes_256",
            "percent_encrypted": 100, "protectors": ["tpm", "recovery_password"],
            "key_ids": list(key_ids)}


def api(c, nid, method, path, body=None, as_="operator", want=(200, 201)):
    st, _, data = c.request(nid, method, path, body, as_=as_)
    check(st in want, "%s %s as %s: %s %s" % (method, path, as_, st, short(data)))
    return data


def seed(t, c, leader):
    """Keys, reports, an exemption and lookups. Returns the config's data part."""
    rng = t.rng
    ids = c.ids()

    def key(machine, vtype, key_id=None, user=None):
        rec = random_key(rng, machine)
        rec["volume_type"] = vtype
        if key_id:
            rec["key_id"] = key_id
        if user:
            rec["user"] = user
        else:
            rec.pop("user", None)
        st, _, data, _ = c.escrow_retry(ids, rec)
        check(st == 201, "escrow %s: %s %s" % (rec["key_id"], st, short(data)))
        return rec

    m_ok = "pc-console-ok.corp.example"
    m_bad = "pc-console-bad.corp.example"
    m_exempt = "pc-console-exempt.corp.example"
    m_pair = "pc-console-pair.corp.example"
    keys = {}
    keys["keyboard"] = key(m_ok, "os", user="CORP\\alice")
    keys["other"] = key(m_ok, "fixed")
    # Two keys whose IDs share their first 8 hex digits (one machine, two volumes).
    first = harness.random_key_id(rng)
    second = first[:9] + harness.random_key_id(rng)[9:]
    check(first != second, "the shared-prefix keys are one")
    keys["pair_a"] = key(m_pair, "os", min(first, second), user="CORP\\dave")
    keys["pair_b"] = key(m_pair, "fixed", max(first, second), user="CORP\\dave")
    keys["failover"] = key(m_bad, "os", user="CORP\\erin")
    keys["xorigin"] = key(m_bad, "fixed")
    keys["seen"] = key(m_exempt, "os")
    keys["shots"] = key(m_exempt, "fixed")
    keys["breakglass"] = key(m_bad, "removable", user="CORP\\frank")
    prefix = first[:8]
    for name, rec in keys.items():
        if name not in ("pair_a", "pair_b"):
            check(not rec["key_id"].startswith(prefix), "key %s shares the prefix" % name)

    # Compliance: m_ok lists its keys (compliant); m_bad lists a key never
    # escrowed (noncompliant); m_exempt is exempted by the operator.
    reports = {
        m_ok: [volume("os", [keys["keyboard"]["key_id"]]),
               volume("fixed", [keys["other"]["key_id"]])],
        m_bad: [volume("os", [keys["failover"]["key_id"]]),
                volume("fixed", [harness.random_key_id(rng)])],
        m_exempt: [volume("os", [keys["seen"]["key_id"]], protection="off")],
        m_pair: [volume("os", [keys["pair_a"]["key_id"]]),
                 volume("fixed", [keys["pair_b"]["key_id"]])],
    }
    verdicts = {}
    for m, vols in reports.items():
        v = api(c, leader, "POST", "/v1/compliance",
                {"machine": m, "user": "CORP\\alice", "os": "Windows 11 Enterprise",
                 "volumes": vols}, as_="agent")
        verdicts[m] = v["status"]
    check(verdicts[m_ok] == "compliant" and verdicts[m_bad] == "noncompliant"
          and verdicts[m_pair] == "compliant",
          "verdicts of the seeded reports: %s" % verdicts)
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
    api(c, leader, "POST", "/v1/machines/%s/exemption" % m_exempt,
        {"until": until, "note": "in repair"})
    # Lookups through the API, so the audit log holds key.read entries.
    api(c, leader, "GET", harness.lookup_path(keys["seen"]["key_id"], "tpm_reset"),
        as_=HELPDESK_PERSON)
    st, _, _ = c.request(leader, "GET", harness.lookup_path(harness.random_key_id(rng)),
                         as_=HELPDESK_PERSON)
    check(st == 404, "lookup of an unknown key: %s" % st)
    counts = api(c, leader, "GET", "/v1/reports/compliance", as_="auditor")["counts"]
    return {
        "keys": keys,
        "shared_prefix": prefix,
        "machines": {"compliant": m_ok, "noncompliant": m_bad, "exempt": m_exempt,
                     "pair": m_pair},
        "counts": counts,
    }


def issue_person(c, name, role, passphrase):
    """pki/NAME.crt/.key (CN NAME, OU role) and NAME.p12 under passphrase:
    by `escrowctl pki issue --p12` where escrowctl has it, else by openssl.
    Returns (p12 path or None, what made it)."""
    pass_file = os.path.join(c.dir, name + ".pass")
    fd = os.open(pass_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(passphrase + "\n")
    p12 = os.path.join(c.pki, name + ".p12")
    base = [harness.ESCROWCTL, "pki", "issue", c.pki, name, "--role", role]
    rc, _, err, _ = harness.run_once(base + ["--p12", "--passphrase-file", pass_file])
    if rc == 0 and os.path.isfile(p12):
        return p12, "escrowctl pki issue --p12"
    check(not os.path.exists(os.path.join(c.pki, name + ".crt")),
          "pki issue %s --p12 failed after writing the certificate: %s" % (name, err.strip()))
    rc, _, err, _ = harness.run_once(base)   # an escrowctl without --p12
    check(rc == 0, "pki issue %s: %s" % (name, err.strip()))
    openssl = shutil.which("openssl")
    if openssl is None:
        return None, "nothing (no openssl)"
    rc, _, err, _ = harness.run_once(
        [openssl, "pkcs12", "-export", "-in", os.path.join(c.pki, name + ".crt"),
         "-inkey", os.path.join(c.pki, name + ".key"), "-out", p12, "-name", name,
         "-passout", "file:" + pass_file])
    check(rc == 0, "openssl pkcs12: %s" % err.strip())
    return p12, "openssl pkcs12"


def screenshot_dir():
    top = os.environ.get("ESCROW_BUILDDIR") or os.getcwd()
    path = os.path.join(top, "tests", "screenshots")
    os.makedirs(path, exist_ok=True)
    return path


# ---------------------------------------------------------------- the browser run

class BrowserRun:
    """node console.test.mjs CONFIG: its results, relayed as they come."""

    RESULT = re.compile(r"^(ok|not ok) - (.*)$")
    PLAN = re.compile(r"^plan (\d+)$")
    KILL = re.compile(r"^KILL (\d+)$")
    RESTART = re.compile(r"^RESTART (\d+)$")

    def __init__(self, c, config_path, log_path):
        self.c = c
        self.results = []        # [(ok, name, [diag lines])]
        self.planned = None
        self.names = []
        self.killed = []
        self.restarted = []
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=os.path.join(c.pki, "ca.crt"))
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(["node", SCRIPT, config_path], cwd=BROWSER_DIR, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log)
        with harness._children_lock:
            harness._children.add(self.proc)
        self.lines = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def _answer(self, text):
        try:
            self.proc.stdin.write((text + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            pass

    def run(self, budget):
        deadline = time.monotonic() + budget
        timed_out = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            try:
                line = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                break
            self._line(line)
        if timed_out:
            self.proc.kill()
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=5)
        self.log.close()
        return rc, timed_out

    def _line(self, line):
        m = self.RESULT.match(line)
        if m:
            self.results.append((m.group(1) == "ok", m.group(2), []))
            return
        m = self.PLAN.match(line)
        if m:
            self.planned = int(m.group(1))
            return
        if line.startswith("case "):
            self.names.append(line[5:])
            return
        m = self.KILL.match(line)
        if m:
            nid = int(m.group(1))
            rc = self.c.kill(nid, signal.SIGKILL)   # waits for the exit
            self.killed.append(nid)
            self._answer("KILLED %d %s" % (nid, rc))
            return
        m = self.RESTART.match(line)
        if m:
            nid = int(m.group(1))
            try:
                self.c.restart(nid)
            except Exception as e:   # noqa: BLE001 (told to the script)
                self._answer("RESTARTED %d error: %s" % (nid, e))
                return
            self.restarted.append(nid)
            self._answer("RESTARTED %d ok" % nid)
            return
        diag = line[2:] if line.startswith("# ") else line
        if self.results:
            self.results[-1][2].append(diag)
        else:
            out("# " + diag)


def browser_cases(t, state):
    """The test function: cluster, seed, config, browser run."""
    c = t.cluster(3, tls=True, start=False)
    c.extra = ("--break-glass-after", str(BREAK_GLASS_AFTER))
    c.start()
    c.wait_ready(30)
    state["cluster"] = c
    p12_pass = "console-%d" % t.rng.randrange(10 ** 6)
    p12, p12_by = issue_person(c, HELPDESK_PERSON, "helpdesk", p12_pass)
    t.diag("%s.p12 made by %s" % (HELPDESK_PERSON, p12_by))
    rc, _, err, _ = harness.run_once([harness.ESCROWCTL, "pki", "issue", c.pki, AUDITOR_PERSON,
                                      "--role", "auditor"])
    check(rc == 0, "pki issue %s: %s" % (AUDITOR_PERSON, err.strip()))
    leader = c.leader()
    data = seed(t, c, leader)
    c.digest_equal()
    certs = {}
    for name in ("agent", "helpdesk", "auditor", "operator", HELPDESK_PERSON, AUDITOR_PERSON):
        certs[name] = {"cert": os.path.join(c.pki, name + ".crt"),
                       "key": os.path.join(c.pki, name + ".key")}
    config = {
        "nodes": [{"id": nid, "url": c.url(nid), "pid": c.nodes[nid].proc.pid,
                   "api": c.nodes[nid].api} for nid in c.ids()],
        "leader": leader,
        "ca": os.path.join(c.pki, "ca.crt"),
        "pki": c.pki,
        "certs": certs,
        "people": {"helpdesk": HELPDESK_PERSON, "auditor": AUDITOR_PERSON},
        "p12": {"path": p12, "passphrase": p12_pass, "by": p12_by} if p12 else None,
        "chromium": CHROMIUM,
        "screenshots": screenshot_dir(),
        "timeout_ms": 15000,
        "break_glass_after": BREAK_GLASS_AFTER,
        "budget_ms": int(BROWSER_BUDGET * 1000) - 20000,
        "seed": data,
        "only": sys.argv[1:],
    }
    config_path = os.path.join(c.dir, "console-config.json")
    with open(config_path, "w") as f:
        json.dump(config, f, indent=1)
    os.chmod(config_path, 0o600)
    log_path = os.path.join(c.dir, "browser.log")
    run = BrowserRun(c, config_path, log_path)
    state["run"] = run
    rc, timed_out = run.run(BROWSER_BUDGET)
    state["rc"], state["timed_out"], state["log"] = rc, timed_out, log_path
    # The browser never disclosed the cross-origin target (checked again here,
    # outside the browser).
    xo = data["keys"]["xorigin"]
    keys = api(c, c.leader(), "GET", "/v1/machines/%s/keys" % urllib.parse.quote(xo["machine"]),
               as_="helpdesk")["keys"]
    target = [k for k in keys if k["key_id"] == xo["key_id"]]
    check(len(target) == 1 and target[0]["disclosed_at"] is None,
          "the cross-origin target was disclosed: %s" % short(target))


def log_tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return ["(no browser log: %s)" % e]
    text = harness._PASSWORD_RE.sub("<password?>", text)
    return text.splitlines()[-lines:]


def main():
    harness.install_handlers()
    try:
        seed_value = int(os.environ.get("TEST_SEED") or time.time())
    except ValueError:
        out("Bail out! TEST_SEED must be an integer")
        return 0
    out("# seed %d (repeat with TEST_SEED=%d)" % (seed_value, seed_value))
    out("# escrowd %s" % harness.ESCROWD)
    missing = missing_prerequisites()
    if missing:
        out("not ok 1 - console browser tests: prerequisites missing")
        for m in missing:
            out("# " + m)
        out("# run tools/check.sh as root (it installs chromium and runs npm ci in "
            "tests/browser), or install them by hand")
        out("1..1")
        return 0
    if not (os.path.isfile(harness.ESCROWD) and os.access(harness.ESCROWD, os.X_OK)):
        out("Bail out! escrowd not found or not executable: %s (set ESCROWD)" % harness.ESCROWD)
        return 0
    harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 420)
    t = harness.TestContext("console", seed_value)
    state = {}
    t0 = time.monotonic()
    ok = t.run(lambda tc: browser_cases(tc, state))
    n = 0
    run = state.get("run")
    if run is not None:
        for res_ok, name, diags in run.results:
            n += 1
            out("%s %d - %s" % ("ok" if res_ok else "not ok", n, name))
            for d in diags:
                out("# " + d)
        done = {name for _, name, _ in run.results}
        for name in run.names:
            if name not in done:
                n += 1
                out("not ok %d - %s" % (n, name))
                out("# no result: the browser run ended first (exit %s%s)"
                    % (state.get("rc"), ", timed out" if state.get("timed_out") else ""))
        if run.planned is None or state.get("rc") != 0 or state.get("timed_out"):
            n += 1
            out("not ok %d - console browser run" % n)
            out("# node exited %s%s; plan %s, %d results" % (
                state.get("rc"), " after the time budget" if state.get("timed_out") else "",
                run.planned, len(run.results)))
            for line in log_tail(state.get("log", "")):
                out("#   " + line)
        if run.killed:
            out("# killed node(s) %s with SIGKILL" % run.killed)
        if run.restarted:
            out("# restarted node(s) %s" % run.restarted)
    n += 1
    out("%s %d - console cluster (setup, seeding, teardown)" % ("ok" if ok else "not ok", n))
    for line in t.diags:
        out("# " + line)
    if not ok and state.get("log"):
        out("# browser log tail (%s):" % state["log"])
        for line in log_tail(state["log"]):
            out("#   " + line)
    out("# console took %.1f s" % (time.monotonic() - t0))
    out("1..%d" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
