#!/usr/bin/env python3
"""Process tests of `escrowctl pki init` (docs/api.md section 7, issue 5): the
files and their modes, certificates that really do mutual TLS with each
other (checked with Python's ssl module: chain, key usage, host names,
the role in the OU), a seal key escrowd takes, and refusals (an existing
file is never overwritten, bad --hosts, bad --nodes). And `pki issue --p12`:
the PKCS#12 file a person imports into a browser, read back with the
openssl command (and with node and NSS's pk12util when they are on PATH),
its passphrase from a file or typed on a pseudo-terminal, and a TLS
cluster that takes the certificate and key taken out of it. Output is TAP.
Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_lookup  # noqa: E402
from test_snapshot import need_ctl  # noqa: E402

ROLES = ["agent", "helpdesk", "auditor", "operator"]


def workdir():
    return tempfile.mkdtemp(prefix="escrow-pki-", dir=os.environ.get("TEST_TMPDIR"))


def handshake(d, server, client, server_name):
    """A TLS 1.2+ handshake on 127.0.0.1 between server (a node) and client,
    both requiring and verifying the other against ca.crt. Returns (the
    subject the server saw, None) or (None, the error)."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_2
    sctx.load_cert_chain(os.path.join(d, server + ".crt"), os.path.join(d, server + ".key"))
    sctx.load_verify_locations(os.path.join(d, "ca.crt"))
    sctx.verify_mode = ssl.CERT_REQUIRED
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_cert_chain(os.path.join(d, client + ".crt"), os.path.join(d, client + ".key"))
    cctx.load_verify_locations(os.path.join(d, "ca.crt"))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    seen = {}

    def serve():
        conn, _ = lsock.accept()
        conn.settimeout(10)
        try:
            with sctx.wrap_socket(conn, server_side=True) as s:
                seen["peer"] = s.getpeercert()
                s.recv(1)
        except (ssl.SSLError, OSError) as e:
            seen["error"] = str(e)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        with socket.create_connection(lsock.getsockname(), timeout=10) as raw:
            with cctx.wrap_socket(raw, server_hostname=server_name) as s:
                s.sendall(b"x")
    except (ssl.SSLError, OSError) as e:
        return None, str(e)
    finally:
        th.join(10)
        lsock.close()
    if "error" in seen:
        return None, seen["error"]
    subject = {k: v for rdn in seen["peer"]["subject"] for k, v in rdn}
    return subject, None


def test_pki_init_makes_a_working_pki(t):
    need_ctl()
    d = workdir()
    try:
        out = os.path.join(d, "pki")
        rc, so, se, _ = harness.escrowctl(["--json", "pki", "init", out, "--nodes", "2",
                                           "--hosts", "10.0.0.5,escrow-1.corp.example,::1"])
        check(rc == 0, "pki init: exit %s: %s" % (rc, short(se)))
        rep = json.loads(so)
        want = {"ca.crt", "ca.key", "node-1.crt", "node-1.key", "node-2.crt", "node-2.key",
                "seal.key"} | {r + ext for r in ROLES for ext in (".crt", ".key")}
        check(set(os.listdir(out)) == want, "files: %s" % sorted(os.listdir(out)))
        check(len(rep["files"]) == len(want), "--json files: %s" % rep["files"])
        for name in want:
            mode = stat.S_IMODE(os.stat(os.path.join(out, name)).st_mode)
            expect = 0o600 if name.endswith(".key") else 0o644
            check(mode == expect, "%s has mode %o, expected %o" % (name, mode, expect))
        # Node to node (peer traffic), by IP and by the --hosts names.
        for name in ("127.0.0.1", "localhost", "10.0.0.5", "escrow-1.corp.example"):
            subject, err = handshake(out, "node-1", "node-2", name)
            check(err is None and subject["commonName"] == "node-2"
                  and subject["organizationalUnitName"] == "node",
                  "node-2 to node-1 as %s: %s %s" % (name, subject, err))
        subject, err = handshake(out, "node-1", "node-2", "other.corp.example")
        check(err is not None and "match" in err.lower(),
              "a name not in the certificate was accepted: %s" % subject)
        # Each role as a client: its OU is the role, its CN names it.
        for role in ROLES:
            subject, err = handshake(out, "node-2", role, "127.0.0.1")
            check(err is None and subject["organizationalUnitName"] == role
                  and subject["commonName"] == role, "%s: %s %s" % (role, subject, err))
        # A role certificate cannot serve: it is for clients only.
        subject, err = handshake(out, "helpdesk", "node-1", "127.0.0.1")
        check(err is not None, "a client certificate served TLS: %s" % subject)
        # A second PKI's certificates are foreign to the first one's CA.
        other = os.path.join(d, "other")
        rc, _, se, _ = harness.escrowctl(["pki", "init", other, "--nodes", "1"])
        check(rc == 0, "second pki init: %s" % short(se))
        shutil.copy(os.path.join(other, "operator.crt"), os.path.join(out, "rogue.crt"))
        shutil.copy(os.path.join(other, "operator.key"), os.path.join(out, "rogue.key"))
        subject, err = handshake(out, "node-1", "rogue", "127.0.0.1")
        check(err is not None, "a foreign CA's client certificate was accepted: %s" % subject)
        # The seal key is what escrowd takes: a node seals and unseals with it.
        c = t.cluster(1, start=False)
        c.seal_key = os.path.join(out, "seal.key")
        c.start()
        c.wait_ready(30)
        rec = random_key(t.rng)
        expect_created(c.escrow(1, rec), rec, "escrow with the pki seal key")
        expect_lookup(c.lookup(1, rec["key_id"]), rec, "lookup with the pki seal key")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def dir_contents(path):
    """{name: bytes} of the files in path, to see that a refusal changed none."""
    contents = {}
    for name in os.listdir(path):
        with open(os.path.join(path, name), "rb") as f:
            contents[name] = f.read()
    return contents


def test_pki_init_refuses(t):
    need_ctl()
    d = workdir()
    try:
        out = os.path.join(d, "pki")
        rc, _, se, _ = harness.escrowctl(["pki", "init", out, "--nodes", "1"])
        check(rc == 0, "pki init: %s" % short(se))
        before = dir_contents(out)
        rc, _, se, _ = harness.escrowctl(["pki", "init", out, "--nodes", "1"])
        check(rc == 1 and "never overwritten" in se, "second init into the same dir: exit %s, %s"
              % (rc, short(se)))
        after = dir_contents(out)
        check(after == before, "a refused init changed the directory")
        for args, words in ((["--hosts", "a b"], "neither an IP address nor a DNS name"),
                            (["--hosts", "x,,y"], "neither"),
                            (["--hosts", "evil,DNS:x"], "neither"),
                            (["--nodes", "0"], "--nodes"), (["--nodes", "65"], "--nodes"),
                            ([], "init needs a directory")):
            target = [] if words == "init needs a directory" else [os.path.join(d, "new")]
            rc, so, se, _ = harness.escrowctl(["pki", "init"] + target + args)
            check(rc == 2 and words in se, "pki init %s: exit %s, %s" % (args, rc, short(se)))
            check(not os.path.exists(os.path.join(d, "new")), "a refused init made files")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_pki_issue(t):
    """pki issue: one more certificate from the CA (a person's, a new
    node's) that works in a handshake; refusals leave the directory as it
    was."""
    need_ctl()
    d = workdir()
    try:
        out = os.path.join(d, "pki")
        rc, _, se, _ = harness.escrowctl(["pki", "init", out, "--nodes", "1"])
        check(rc == 0, "pki init: %s" % short(se))
        rc, so, se, _ = harness.escrowctl(["pki", "issue", out, "alice@corp", "--role",
                                           "helpdesk"])
        check(rc == 0 and "alice@corp.crt" in so, "issue alice: exit %s %s" % (rc, short(se)))
        check(stat.S_IMODE(os.stat(os.path.join(out, "alice@corp.key")).st_mode) == 0o600,
              "alice's key is not 0600")
        subject, err = handshake(out, "node-1", "alice@corp", "127.0.0.1")
        check(err is None and subject.get("commonName") == "alice@corp"
              and subject.get("organizationalUnitName") == "helpdesk",
              "alice's handshake: %s %s" % (subject, err))
        rc, so, se, _ = harness.escrowctl(["pki", "issue", out, "node-7", "--role", "node",
                                           "--hosts", "10.1.2.3"])
        check(rc == 0, "issue node-7: exit %s %s" % (rc, short(se)))
        subject, err = handshake(out, "node-7", "node-1", "10.1.2.3")
        check(err is None and subject.get("commonName") == "node-1",
              "node-7 serving as 10.1.2.3: %s %s" % (subject, err))
        before = dir_contents(out)
        for args, rc_want, words in (
                (["alice@corp", "--role", "helpdesk"], 1, "never overwritten"),
                (["bob", "--role", "admin"], 2, "--role"),
                (["bob"], 2, "--role"),
                (["node-x", "--role", "node"], 2, "node-ID"),
                (["bad/name", "--role", "agent"], 2, "NAME"),
                (["carol", "--role", "agent", "extra"], 2, "unexpected")):
            rc, so, se, _ = harness.escrowctl(["pki", "issue", out] + args)
            check(rc == rc_want and words in se, "issue %s: exit %s %s" % (args, rc, short(se)))
        rc, so, se, _ = harness.escrowctl(["pki", "issue", os.path.join(d, "none"), "bob",
                                           "--role", "agent"])
        check(rc == 1 and "ca.crt" in se, "issue without a CA: exit %s %s" % (rc, short(se)))
        after = dir_contents(out)
        check(after == before, "a refused issue changed the directory")
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- --p12

PASSPHRASE = "correct horse battery staple"


def new_pki(d):
    """A fresh `pki init` directory (one node) under d."""
    out = os.path.join(d, "pki")
    rc, _, se, _ = harness.escrowctl(["pki", "init", out, "--nodes", "1"])
    check(rc == 0, "pki init: %s" % short(se))
    return out


def write_passphrase(d, text, name="pass.txt"):
    path = os.path.join(d, name)
    with open(path, "w", newline="") as f:
        f.write(text)
    return path


def openssl(args, passphrase=None):
    """Runs the openssl command; the passphrase goes through the environment
    (-passin env:P12_PASS). Returns (rc, stdout, stderr)."""
    env = dict(os.environ)
    if passphrase is not None:
        env["P12_PASS"] = passphrase
    proc = subprocess.run(["openssl"] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          env=env, timeout=30)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), \
        proc.stderr.decode("utf-8", "replace")


def pem_blocks(text, kind):
    return re.findall(r"-----BEGIN %s-----.*?-----END %s-----" % (kind, kind), text, re.S)


def public_key_of(pem, what):
    """The public key (PEM) of a certificate (what "x509") or a private key
    ("pkey"), by the openssl command."""
    args = ["x509", "-pubkey", "-noout"] if what == "x509" else ["pkey", "-pubout"]
    proc = subprocess.run(["openssl"] + args, input=pem.encode(), capture_output=True,
                          timeout=30)
    check(proc.returncode == 0, "openssl %s: %s" % (what, short(proc.stderr.decode())))
    return proc.stdout.decode()


def der(pem):
    return ssl.PEM_cert_to_DER_cert(pem)


def read_text(path):
    with open(path) as f:
        return f.read()


def expect_p12(out, name, passphrase, passin=None):
    """out/NAME.p12 holds NAME.crt, a key matching it (NAME.key's), and
    ca.crt, friendly name NAME, sealed with passphrase (and no other);
    mode 0600. passin: openssl's -passin (default env:P12_PASS)."""
    p12 = os.path.join(out, name + ".p12")
    check(os.path.isfile(p12), "%s.p12 was not written" % name)
    mode = stat.S_IMODE(os.stat(p12).st_mode)
    check(mode == 0o600, "%s.p12 has mode %o, expected 600" % (name, mode))
    rc, so, se = openssl(["pkcs12", "-in", p12, "-passin", passin or "env:P12_PASS",
                          "-nodes"], passphrase)
    check(rc == 0, "openssl pkcs12 -nodes with the right passphrase: %s" % short(se))
    certs = pem_blocks(so, "CERTIFICATE")
    keys = pem_blocks(so, "PRIVATE KEY")
    check(len(certs) == 2 and len(keys) == 1,
          "%s.p12: %d certificates, %d keys, expected 2 and 1" % (name, len(certs), len(keys)))
    crt = read_text(os.path.join(out, name + ".crt"))
    ca = read_text(os.path.join(out, "ca.crt"))
    check(der(certs[0]) == der(crt), "%s.p12's first certificate is not %s.crt" % (name, name))
    check(der(certs[1]) == der(ca), "%s.p12's second certificate is not ca.crt" % name)
    check(public_key_of(keys[0], "pkey") == public_key_of(crt, "x509"),
          "%s.p12's key does not match %s.crt" % (name, name))
    check(public_key_of(keys[0], "pkey") ==
          public_key_of(read_text(os.path.join(out, name + ".key")), "pkey"),
          "%s.p12's key is not %s.key" % (name, name))
    check(so.count("friendlyName: %s\n" % name) == 2,
          "%s.p12: friendly name %s missing from the certificate or the key" % (name, name))
    rc, so, se = openssl(["pkcs12", "-in", p12, "-passin", "env:P12_PASS", "-info",
                          "-noout"], passphrase)
    check(rc == 0 and "MAC: sha256" in se and
          se.count("PBES2, PBKDF2, AES-256-CBC") == 2 and "PRF hmacWithSHA256" in se,
          "%s.p12 is not sealed as OpenSSL 3 does by default: %s" % (name, short(se)))
    rc, so, _ = openssl(["pkcs12", "-in", p12, "-passin", "env:P12_PASS", "-nodes"],
                        passphrase + "x")
    check(rc != 0 and not pem_blocks(so, "PRIVATE KEY"),
          "openssl read %s.p12 with a wrong passphrase" % name)


def expect_p12_in_node(t, p12, passphrase):
    """Node.js's tls.createSecureContext({pfx, passphrase}) takes the file
    (what the web console's tests use); skipped without node on PATH."""
    node = shutil.which("node")
    if node is None:
        t.diag("node not on PATH: the Node.js check of the .p12 was skipped")
        return
    script = ("const fs = require('fs'), tls = require('tls');"
              "const pfx = fs.readFileSync(process.argv[1]);"
              "tls.createSecureContext({pfx, passphrase: process.env.P12_PASS});"
              "let wrong = false;"
              "try { tls.createSecureContext({pfx, passphrase: process.env.P12_PASS + 'x'}); }"
              "catch (e) { wrong = true; }"
              "if (!wrong) { console.log('a wrong passphrase was taken'); process.exit(1); }")
    env = dict(os.environ, P12_PASS=passphrase)
    proc = subprocess.run([node, "-e", script, p12], capture_output=True, env=env, timeout=60)
    check(proc.returncode == 0, "node tls.createSecureContext({pfx}): %s"
          % short(proc.stdout.decode() + proc.stderr.decode()))


def expect_p12_in_nss(t, d, p12, passfile):
    """NSS (Chromium's and Firefox's certificate store on Linux) imports the
    file; skipped without pk12util (libnss3-tools) on PATH."""
    pk12util, certutil = shutil.which("pk12util"), shutil.which("certutil")
    if pk12util is None or certutil is None:
        t.diag("pk12util not on PATH: the NSS import of the .p12 was skipped")
        return
    db = os.path.join(d, "nssdb")
    os.mkdir(db)
    proc = subprocess.run([certutil, "-N", "-d", "sql:" + db, "--empty-password"],
                          capture_output=True, timeout=30)
    check(proc.returncode == 0, "certutil -N: %s" % short(proc.stderr.decode()))
    proc = subprocess.run([pk12util, "-i", p12, "-d", "sql:" + db, "-w", passfile],
                          capture_output=True, timeout=30)
    check(proc.returncode == 0, "pk12util -i: %s" % short(proc.stdout.decode() +
                                                         proc.stderr.decode()))
    proc = subprocess.run([certutil, "-K", "-d", "sql:" + db], capture_output=True, timeout=30)
    check(proc.returncode == 0 and b"alice" in proc.stdout,
          "NSS holds no key named alice: %s" % short(proc.stdout.decode()))


def test_pki_issue_p12_from_file(t):
    """--p12 --passphrase-file: NAME.p12 beside NAME.crt and NAME.key, read
    back whole by openssl (and node and NSS when present); the passphrase is
    the file's first line, less LF or CRLF."""
    need_ctl()
    d = workdir()
    try:
        out = new_pki(d)
        passfile = write_passphrase(d, PASSPHRASE + "\nsecond line is ignored\n")
        rc, so, se, _ = harness.escrowctl(["pki", "issue", out, "alice", "--role", "helpdesk",
                                           "--p12", "--passphrase-file", passfile])
        check(rc == 0 and "alice.p12" in so, "issue --p12: exit %s %s" % (rc, short(se)))
        check(stat.S_IMODE(os.stat(os.path.join(out, "alice.key")).st_mode) == 0o600
              and stat.S_IMODE(os.stat(os.path.join(out, "alice.crt")).st_mode) == 0o644,
              "alice.crt and alice.key have other modes than 644 and 600")
        expect_p12(out, "alice", PASSPHRASE, passin="file:" + passfile)
        expect_p12_in_node(t, os.path.join(out, "alice.p12"), PASSPHRASE)
        expect_p12_in_nss(t, d, os.path.join(out, "alice.p12"), passfile)
        # CRLF (a file written on Windows), and no line end at all; --json.
        for name, text in (("bob", PASSPHRASE + "\r\n"), ("carol", PASSPHRASE)):
            passfile = write_passphrase(d, text, name + ".pass")
            rc, so, se, _ = harness.escrowctl(["--json", "pki", "issue", out, name, "--role",
                                               "agent", "--p12", "--passphrase-file",
                                               passfile])
            check(rc == 0, "issue %s --p12: exit %s %s" % (name, rc, short(se)))
            check(json.loads(so).get("p12") == os.path.join(out, name + ".p12"),
                  "--json: %s" % short(so))
            expect_p12(out, name, PASSPHRASE)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_pki_issue_p12_works_in_a_tls_cluster(t):
    """The certificate and key taken out of the .p12 (nothing else) make a
    client the cluster knows by NAME and role."""
    need_ctl()
    d = workdir()
    try:
        c = t.cluster(1, tls=True)
        passfile = write_passphrase(d, PASSPHRASE + "\n")
        rc, _, se, _ = harness.escrowctl(["pki", "issue", c.pki, "dana", "--role", "helpdesk",
                                          "--p12", "--passphrase-file", passfile])
        check(rc == 0, "issue dana --p12: exit %s %s" % (rc, short(se)))
        pem = os.path.join(d, "dana.pem")
        rc, _, se = openssl(["pkcs12", "-in", os.path.join(c.pki, "dana.p12"), "-passin",
                             "env:P12_PASS", "-nodes", "-out", pem], PASSPHRASE)
        check(rc == 0, "openssl pkcs12 -out: %s" % short(se))
        rec = random_key(t.rng)
        expect_created(c.escrow(1, rec), rec, "escrow as operator")
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=os.path.join(c.pki, "ca.crt"))
        ctx.load_cert_chain(pem)    # the leaf, the CA, then the key: all from the .p12
        resp = harness.http_request(c.nodes[1].api_port, "GET",
                                    harness.lookup_path(rec["key_id"]), tls=ctx)
        expect_lookup(resp, rec, "lookup with the certificate from dana.p12")
        st, _, body = harness.http_request(c.nodes[1].api_port, "GET",
                                           "/v1/reports/audit?since=0", tls=ctx)
        check(st == 403, "dana (helpdesk) read the audit log: %s %s" % (st, short(body)))
        st, _, body = c.request(1, "GET", "/v1/reports/audit?since=0")
        check(st == 200 and any(e.get("action") == "key.read" and e.get("actor") == "dana"
                                and e.get("role") == "helpdesk" for e in body["entries"]),
              "the audit log has no key.read by dana (helpdesk): %s" % short(body))
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Terminal:
    """escrowctl run on a pseudo-terminal of its own: its controlling
    terminal (so /dev/tty) in a new session, stdin, stdout and stderr."""

    def __init__(self, args, timeout=30):
        self.master, self.slave = os.openpty()
        self.shown = b""
        self.deadline = time.monotonic() + timeout

        def take_terminal():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        self.proc = subprocess.Popen([harness.ESCROWCTL] + list(args), stdin=self.slave,
                                     stdout=self.slave, stderr=self.slave, close_fds=True,
                                     start_new_session=True, preexec_fn=take_terminal)

    def expect(self, text):
        """Reads what the terminal shows until it ends with text."""
        want = text.encode()
        while not self.shown.endswith(want):
            left = self.deadline - time.monotonic()
            check(left > 0, "the terminal never showed %r: %s" % (text, short(self.text())))
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            check(ready or self.proc.poll() is None,
                  "escrowctl left before %r: %s" % (text, short(self.text())))
            if ready:
                try:
                    self.shown += os.read(self.master, 4096)
                except OSError:     # EIO: nobody has the terminal open any more
                    check(False, "escrowctl left before %r: %s" % (text, short(self.text())))

    def type(self, line, enter=True):
        os.write(self.master, line.encode() + (b"\n" if enter else b""))

    def echoes(self):
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def wait(self):
        """The exit code (-N: killed by signal N) once escrowctl is done,
        with all it showed read. The terminal stays, to look at."""
        try:
            rc = self.proc.wait(max(0.1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            check(False, "escrowctl did not finish: %s" % short(self.text()))
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.shown += chunk
        return rc

    def text(self):
        return self.shown.decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def test_pki_issue_p12_asks_on_the_terminal(t):
    """Without --passphrase-file the passphrase is typed twice with echo
    off; answers that differ or are empty, or Ctrl-C, write nothing (and
    Ctrl-C leaves echo on); with no terminal at all it is a usage error
    naming --passphrase-file."""
    need_ctl()
    d = workdir()
    try:
        out = new_pki(d)
        typed = "typed on a terminal 1"
        term = Terminal(["pki", "issue", out, "erin", "--role", "helpdesk", "--p12"])
        try:
            check(term.echoes(), "a new terminal does not echo")
            term.expect("Passphrase for erin.p12: ")
            check(not term.echoes(), "echo is on while the passphrase is typed")
            term.type(typed)
            term.expect("Again: ")
            check(not term.echoes(), "echo is on while the passphrase is typed again")
            term.type(typed)
            rc = term.wait()
        finally:
            term.close()
        check(rc == 0, "issue erin --p12 on a terminal: exit %s %s" % (rc, short(term.text())))
        check(typed not in term.text(), "the passphrase was echoed: %s" % short(term.text()))
        expect_p12(out, "erin", typed)
        for name, answers, words in (("frank", [typed, typed + "!"], "differ"),
                                     ("grace", [""], "empty"),
                                     ("heidi", ["\x03"], None)):
            before = dir_contents(out)
            term = Terminal(["pki", "issue", out, name, "--role", "agent", "--p12"])
            try:
                for prompt, answer in zip(("Passphrase for %s.p12: " % name, "Again: "),
                                          answers):
                    term.expect(prompt)
                    term.type(answer, enter=answer != "\x03")
                rc = term.wait()
                echoes = term.echoes()
            finally:
                term.close()
            if words is None:   # Ctrl-C: killed by SIGINT, as if never caught
                check(rc == -signal.SIGINT, "Ctrl-C: exit %s %s" % (rc, short(term.text())))
                check(echoes, "Ctrl-C at the prompt left the terminal without echo")
            else:
                check(rc == 1 and words in term.text(),
                      "answers %r: exit %s %s" % (answers, rc, short(term.text())))
            check(dir_contents(out) == before, "answers %r changed the directory" % answers)
        before = dir_contents(out)
        # No controlling terminal (a new session) and no file.
        proc = subprocess.run([harness.ESCROWCTL, "pki", "issue", out, "ivan", "--role",
                               "agent", "--p12"], stdin=subprocess.DEVNULL, capture_output=True,
                              start_new_session=True, timeout=30)
        se = proc.stderr.decode("utf-8", "replace")
        check(proc.returncode == 2 and "--passphrase-file" in se,
              "no terminal, no file: exit %s %s" % (proc.returncode, short(se)))
        check(dir_contents(out) == before, "a refusal without a terminal changed the directory")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_pki_issue_p12_refuses(t):
    """Bad combinations are usage errors; a passphrase file that cannot be
    read or is empty, and a NAME.p12 that exists, are refusals that leave
    the directory as it was (no NAME.crt or NAME.key of the run)."""
    need_ctl()
    d = workdir()
    try:
        out = new_pki(d)
        passfile = write_passphrase(d, PASSPHRASE + "\n")
        before = dir_contents(out)
        for args, words in (
                (["issue", out, "ivan", "--role", "agent", "--passphrase-file", passfile],
                 "--passphrase-file goes with --p12"),
                (["init", os.path.join(d, "new"), "--p12"], "--p12 goes with issue"),
                (["init", os.path.join(d, "new"), "--p12", "--passphrase-file", passfile],
                 "--p12 goes with issue"),
                (["issue", out, "ivan", "--role", "agent", "--p12", "--passphrase-file",
                  passfile, "--passphrase-file", passfile], "--passphrase-file")):
            rc, _, se, _ = harness.escrowctl(["pki"] + args)
            check(rc == 2 and words in se, "pki %s: exit %s %s" % (args, rc, short(se)))
        check(not os.path.exists(os.path.join(d, "new")), "a refused init made files")
        for path, words in ((os.path.join(d, "missing"), "No such file"),
                            (d, "Is a directory"),
                            (write_passphrase(d, "\n", "empty"), "empty"),
                            (write_passphrase(d, "", "void"), "empty"),
                            (write_passphrase(d, "x" * 1023 + "\n", "long"), "longer")):
            rc, _, se, _ = harness.escrowctl(["pki", "issue", out, "ivan", "--role", "agent",
                                              "--p12", "--passphrase-file", path])
            check(rc == 1 and words in se and "--passphrase-file" in se,
                  "--passphrase-file %s: exit %s %s" % (path, rc, short(se)))
            check(dir_contents(out) == before, "--passphrase-file %s: the directory changed: "
                  "%s" % (path, sorted(set(os.listdir(out)) - set(before))))
        # NAME.p12 exists: the .crt and .key this run wrote go again.
        with open(os.path.join(out, "judy.p12"), "wb") as f:
            f.write(b"not mine")
        before = dir_contents(out)
        rc, _, se, _ = harness.escrowctl(["pki", "issue", out, "judy", "--role", "agent",
                                          "--p12", "--passphrase-file", passfile])
        check(rc == 1 and "never overwritten" in se, "judy.p12 exists: exit %s %s"
              % (rc, short(se)))
        check(dir_contents(out) == before, "a refused --p12 issue changed the directory: %s"
              % sorted(set(os.listdir(out)) - set(before)))
        rc, so, _, _ = harness.escrowctl(["pki", "--help"])
        check(rc == 0 and "--p12" in so and "--passphrase-file" in so,
              "pki --help does not tell of --p12 and --passphrase-file")
    finally:
        shutil.rmtree(d, ignore_errors=True)


TESTS = [
    test_pki_init_makes_a_working_pki,
    test_pki_init_refuses,
    test_pki_issue,
    test_pki_issue_p12_from_file,
    test_pki_issue_p12_works_in_a_tls_cluster,
    test_pki_issue_p12_asks_on_the_terminal,
    test_pki_issue_p12_refuses,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
