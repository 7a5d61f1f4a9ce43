#!/usr/bin/env python3
"""Process tests of `escrowctl pki init` (docs/api.md section 7, issue 5): the
files and their modes, certificates that really do mutual TLS with each
other (checked with Python's ssl module: chain, key usage, host names,
the role in the OU), a seal key escrowd takes, and refusals (an existing
file is never overwritten, bad --hosts, bad --nodes). Output is TAP.
Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import json
import os
import shutil
import socket
import ssl
import stat
import sys
import tempfile
import threading

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


TESTS = [
    test_pki_init_makes_a_working_pki,
    test_pki_init_refuses,
    test_pki_issue,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
