#!/usr/bin/env python3
"""Process tests of a TLS cluster (issue 5): real escrowd nodes with
certificates from `escrowctl pki init`, mutual TLS for clients and peers.
Roles come from the client certificate's OU, the audit actor is its CN, a
follower forwards the client's identity over its own node certificate, and
every wrong certificate, role or protocol is refused. Output is TAP.
Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import json
import os
import signal
import socket
import ssl
import struct
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_error, expect_lookup  # noqa: E402

ROLES = ["agent", "helpdesk", "auditor", "operator", "node-1"]


def audit_entries(c, nid):
    st, _, data = c.request(nid, "GET", "/v1/reports/audit?limit=10000", as_="auditor")
    check(st == 200, "audit report: %s %s" % (st, short(data)))
    return data["entries"]


def test_roles_from_certificates(t):
    """Each certificate against each route, on a follower (forwarded to the
    leader over TLS) and on the leader: what the role allows passes, the
    rest is 403 naming the role needed."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    rec = random_key(t.rng)
    expect_created(c.escrow_retry(ids, rec), rec, "escrow as operator")
    kid = urllib.parse.quote(rec["key_id"])
    machine = urllib.parse.quote(rec["machine"], safe="")
    # A node serving a snapshot asks the leader to audit it, for the operator.
    as_peer = {"X-Escrow-Forwarded-By": "1", "X-Escrow-Actor": "operator",
               "X-Escrow-Role": "operator"}
    # route -> (method, path, headers, the roles it is for, status when allowed)
    routes = [
        ("POST", "/v1/keys", None, {"agent", "operator"}, 201),
        ("GET", "/v1/keys/%s?reason=lost_pin" % kid, None, {"helpdesk", "operator"}, 200),
        ("GET", "/v1/keys?prefix=%s&reason=lost_pin" % kid[:8], None,
         {"helpdesk", "operator"}, 200),
        ("GET", "/v1/machines/%s/keys" % machine, None, {"helpdesk", "operator"}, 200),
        ("GET", "/v1/reports/audit?limit=1", None, {"auditor", "operator"}, 200),
        ("DELETE", "/v1/cluster/members/77", None, {"operator"}, 404),
        ("GET", "/v1/snapshot", None, {"operator"}, 200),
        ("POST", "/v1/snapshot/audit", as_peer, {"node-1"}, 200),
        ("GET", "/v1/status", None, set(ROLES), 200),
        ("GET", "/v1/health", None, set(ROLES), 200),
        ("GET", "/metrics", None, set(ROLES), 200),
    ]
    passwords = [rec["recovery_password"]]
    for nid in (follower, leader):
        for method, path, headers, allowed, ok in routes:
            if path == "/v1/snapshot/audit" and nid != leader:
                continue   # a forwarded request is never forwarded again
            for role in ROLES:
                body = random_key(t.rng) if method == "POST" and path == "/v1/keys" else None
                if body:
                    passwords.append(body["recovery_password"])
                resp = c.request(nid, method, path, body, headers=headers, as_=role)
                what = "%s %s as %s on node %d" % (method, path, role, nid)
                if role in allowed:
                    check(resp[0] == ok, "%s: expected %d, got %s %s"
                          % (what, ok, resp[0], short(resp[2])))
                else:
                    expect_error(resp, 403, "forbidden", what)
                    need = [r for r in ("agent", "helpdesk", "auditor", "operator", "node")
                            if r in {a.split("-")[0] for a in allowed}][0]
                    want = "this needs the %s role; certificate CN=%s has role %s" % (
                        need, role, role.split("-")[0])
                    msg = resp[2]["error"]["message"]
                    if need == "node":   # node-only routes say why in their own words
                        want = "this needs the node role"
                    check(msg.startswith(want), "%s: 403 says %r, expected %r"
                          % (what, msg, want))
    # No secret in any log line (the nodes log at debug level).
    with open(c.seal_key) as f:
        seal = f.read().strip()
    for nid in ids:
        with open(c.nodes[nid].log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        for secret in passwords + [seal, "PRIVATE KEY"]:
            check(secret not in log, "node %d's log holds a secret (%s...)" % (nid, secret[:4]))


def test_audit_actor_is_the_certificate(t):
    """The audit log names the certificate's CN and role, also when a
    follower forwarded the request; identity headers from a client are
    ignored."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    rec = random_key(t.rng)
    forged = {"X-Escrow-Forwarded-By": str(leader), "X-Escrow-Actor": "node-9",
              "X-Escrow-Role": "operator"}
    expect_created(c.request(follower, "POST", "/v1/keys", rec, headers=forged, as_="agent"),
                   rec, "escrow as agent with forged identity headers")
    expect_lookup(c.request(follower, "GET", harness.lookup_path(rec["key_id"]), as_="helpdesk"),
                  rec, "lookup as helpdesk")
    expect_error(c.request(follower, "GET", "/v1/reports/audit", headers=forged, as_="agent"),
                 403, "forbidden", "audit report as agent claiming operator by header")
    entries = audit_entries(c, follower)
    esc = [e for e in entries if e["action"] == "key.escrow" and e["key_id"] == rec["key_id"]]
    check(len(esc) == 1 and esc[0]["actor"] == "agent" and esc[0]["role"] == "agent"
          and esc[0]["node"] == follower, "escrow entry: %s" % short(esc))
    reads = [e for e in entries if e["action"] == "key.read" and e["key_id"] == rec["key_id"]]
    check(len(reads) == 1 and reads[0]["actor"] == "helpdesk" and reads[0]["role"] == "helpdesk",
          "key.read entry: %s" % short(reads))


def handshake_error(c, nid, ctx):
    """Connects with ctx and sends a status request; the error text, or
    None if a response came back."""
    st, _, data = harness.http_request(c.nodes[nid].api_port, "GET", "/v1/status", tls=ctx,
                                       timeout=5)
    return None if st != 0 else str(data)


def test_wrong_certificates_refused(t):
    """No certificate, another CA's certificate, an expired or not yet
    valid one, or plain HTTP: no request gets through, each refusal is
    logged with its reason, and the node goes on serving."""
    c = t.cluster(3, tls=True)
    leader = c.leader()
    other = os.path.join(c.dir, "other-pki")
    rc, _, err, _ = harness.run_once([harness.ESCROWCTL, "pki", "init", other, "--nodes", "1"])
    check(rc == 0, "second pki: %s" % err)
    reasons = []
    none = harness.tls_context(c.pki, None)
    err = handshake_error(c, leader, none)
    check(err is not None, "no client certificate: a response came back")
    foreign = harness.tls_context(c.pki, None)
    foreign.load_cert_chain(os.path.join(other, "operator.crt"),
                            os.path.join(other, "operator.key"))
    err = handshake_error(c, leader, foreign)
    check(err is not None, "foreign CA's client certificate: a response came back")
    # Certificates of this CA outside their dates: expired, not yet valid.
    for name, start, days, reason in (("expired", -10, 9, "certificate has expired"),
                                      ("future", 2, 30, "certificate is not yet valid")):
        rc, _, err, _ = harness.run_once([harness.MKCERT, c.pki, name, "bob", "helpdesk",
                                          str(start), str(days)])
        check(rc == 0, "mkcert %s: %s" % (name, err))
        err = handshake_error(c, leader, harness.tls_context(c.pki, name))
        check(err is not None, "%s client certificate: a response came back" % name)
        reasons.append(reason)
    # A server certificate from another CA: the client refuses the node.
    wrong_ca = harness.tls_context(other, "operator")
    err = handshake_error(c, leader, wrong_ca)
    check(err is not None and "CERTIFICATE_VERIFY_FAILED" in err,
          "a client trusting another CA accepted the node: %s" % err)
    # Plain HTTP on the TLS port: one plain 400 that says so.
    st, _, data = harness.http_request(c.nodes[leader].api_port, "GET", "/v1/status")
    expect = isinstance(data, dict) and data.get("error", {}).get("code") == "tls_required"
    check(st == 400 and expect, "plain HTTP to the TLS port: %s %s" % (st, short(data)))
    # Garbage bytes that look like a TLS record.
    s = socket.create_connection(("127.0.0.1", c.nodes[leader].api_port), timeout=5)
    s.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(64))
    got = recv_all(s)
    s.close()
    check(b"HTTP/" not in got, "garbage handshake got an HTTP answer: %r" % got[:80])
    time.sleep(0.3)
    log = open(c.nodes[leader].log_path, encoding="utf-8", errors="replace").read()
    for reason in ["peer did not return a certificate", "plain HTTP sent to the TLS port"] + reasons:
        check(reason in log, "node log does not say %r" % reason)
    check(c.status(leader) is not None, "the node stopped serving after the refusals")


def raft_bytes(sender_id, address):
    """What libraft's plain TCP transport sends first: its handshake
    (protocol 1, server id, padded address), then an AppendEntries header
    with one entry."""
    addr = address.encode() + b"\0"
    addr += b"\0" * (-len(addr) % 8)
    hello = struct.pack("<QQQ", 1, sender_id, len(addr)) + addr
    body = struct.pack("<QQQQQ", 99, 0, 0, 99, 1) + os.urandom(64)
    return hello + struct.pack("<BBHI", 1, 3, 0, len(body)) + body


def recv_all(s, limit=1 << 16):
    got = b""
    try:
        while len(got) < limit:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return got


def test_rogue_peer_refused(t):
    """A process without a node certificate of this cluster's CA can neither
    speak Raft to a node (plain libraft bytes, a self-signed certificate, a
    node certificate of another CA) nor join: the term, the members and the
    log do not move, and the cluster goes on serving."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    leader = c.leader()
    before = c.status(leader)
    other = os.path.join(c.dir, "rogue-pki")
    rc, _, err, _ = harness.run_once([harness.ESCROWCTL, "pki", "init", other, "--nodes", "4"])
    check(rc == 0, "rogue pki: %s" % err)
    raft_port = c.nodes[leader].raft_port
    # 1. libraft's own plain handshake and an AppendEntries.
    s = socket.create_connection(("127.0.0.1", raft_port), timeout=5)
    try:
        s.sendall(raft_bytes(2, c.nodes[2].raft))
    except OSError:
        pass
    recv_all(s)
    s.close()
    # 2. TLS with a self-signed certificate (the rogue CA's own), and with a
    #    node certificate of the rogue CA claiming to be node 2.
    for name in ("ca", "node-2"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(os.path.join(other, name + ".crt"), os.path.join(other, name + ".key"))
        s = socket.create_connection(("127.0.0.1", raft_port), timeout=5)
        try:
            tls = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            tls.sendall(raft_bytes(2, c.nodes[2].raft))
            got = recv_all(tls)
            check(got == b"", "rogue %s: the node answered %d bytes" % (name, len(got)))
        except (ssl.SSLError, OSError):
            pass
        finally:
            s.close()
    # 3. A whole escrowd with the rogue CA's node-4 certificate asking to join.
    rogue = c.add_node(4)
    cmd = c.command(4, bootstrap=False, join=c.url(leader))
    pki = os.path.join(other, "")
    cmd = [a.replace(c.pki + "/", pki) if a.startswith(c.pki) else a for a in cmd]
    rc, so, se, _ = harness.run_once(cmd, timeout=8)
    del rogue
    time.sleep(0.5)
    after = c.status(leader)
    check(after["term"] == before["term"], "the term moved: %s -> %s"
          % (before["term"], after["term"]))
    check(sorted(m["id"] for m in after["members"]) == ids,
          "members changed: %s" % short(after["members"]))
    check(after["commit_index"] == before["commit_index"],
          "entries were committed: %s -> %s" % (before["commit_index"], after["commit_index"]))
    rec = random_key(t.rng)
    expect_created(c.escrow_retry(ids, rec), rec, "escrow after the rogue peers")
    log = open(c.nodes[leader].log_path, encoding="utf-8", errors="replace").read()
    check("raft peer:" in log, "the leader's log names no refused Raft peer")
    for line in [ln for ln in log.splitlines() if "raft peer:" in ln][:6]:
        t.diag(line)


def test_raft_port_flood(t):
    """Connections without a certificate that never finish a handshake, kept
    at 100 on a node's Raft port (reopened as the node drops them): a
    follower restarted under the flood still catches up. (That the oldest
    unfinished handshake makes room for a peer is test_peer_tls's.)"""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    leader = c.leader()
    victim = [i for i in ids if i != leader][0]
    for _ in range(5):
        rec = random_key(t.rng)
        expect_created(c.escrow_retry(ids, rec), rec, "escrow before the flood")
    # The leader waits (SIGSTOP) while the victim restarts and the flood
    # takes every handshake slot it has; then the leader must get through.
    c.pause(leader)
    c.kill(victim)
    c.restart(victim)
    stop = time.monotonic() + 14
    opened = [0]

    def flood(i):
        port = c.nodes[victim].raft_port
        socks = []
        while time.monotonic() < stop:
            socks = [s for s in socks if not harness_closed(s)]
            while len(socks) < 100 and time.monotonic() < stop:
                try:
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                    opened[0] += 1
                except OSError:
                    break
            time.sleep(0.05)
        for s in socks:
            s.close()

    threads = harness.Threads(1, flood)
    time.sleep(1.5)
    c.resume(leader)
    rec = random_key(t.rng)
    expect_created(c.escrow_retry([i for i in ids if i != victim], rec), rec,
                   "escrow during the flood")
    deadline = time.monotonic() + 10
    caught_up = False
    while time.monotonic() < deadline and not caught_up:
        sts = [c.status(i) for i in ids]
        caught_up = all(st is not None for st in sts) and \
            len({(st["applied_index"], st["state_digest"]) for st in sts}) == 1
        time.sleep(0.2)
    flooding = time.monotonic() < stop
    errors = threads.join(20)
    check(not errors, "flood thread: %s" % errors[:2])
    t.diag("%d idle connections opened to node %d's Raft port" % (opened[0], victim))
    check(caught_up and flooding, "node %d did not catch up under the flood: %s"
          % (victim, [(st or {}).get("applied_index") for st in sts]))


def harness_closed(s):
    """True when the node closed s."""
    s.settimeout(0)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_leader_stops_while_followers_forward(t):
    """Followers forwarding over TLS while the leader stops (SIGTERM: its
    last responses close the connection, then close_notify): the followers
    live on and the requests go to the next leader."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    leader = c.leader()
    followers = [i for i in ids if i != leader]
    stop = time.monotonic() + 4
    failed = []
    done = []

    def load(i):
        cl = c.client(followers[i % 2], timeout=15, as_="agent")
        n = 0
        while time.monotonic() < stop and n < 3000:
            rec = random_key(t.rng)
            st, _, data = cl.request("POST", "/v1/keys", rec)
            (done if st == 201 else failed).append((st, short(data)))
            n += 1
        cl.close()

    threads = harness.Threads(8, load)
    time.sleep(1.5)
    c.kill(leader, sig=signal.SIGTERM)
    errors = threads.join(40)
    check(not errors, "load threads: %s" % errors[:2])
    for nid in followers:
        check(c.running(nid), "follower %d died while forwarding: %s" % (nid, c.log_tail(nid)))
    t.diag("%d escrows through the followers, %d failed (%s) while leader %d stopped"
           % (len(done), len(failed), sorted(set(f[0] for f in failed)), leader))
    check(len(done) > 50, "only %d escrows went through" % len(done))
    rec = random_key(t.rng)
    expect_created(c.escrow_retry(followers, rec), rec, "escrow after the stop")


def metric(c, nid, name):
    st, _, text = c.request(nid, "GET", "/metrics")
    check(st == 200, "metrics of node %d: %s" % (nid, st))
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric %s" % name)


def test_forwarding_keeps_its_tls_connections(t):
    """A follower forwards a client's requests over kept-alive TLS
    connections: 100 escrows in a row open at most a couple of connections
    to the leader, not one each."""
    c = t.cluster(3, tls=True)
    leader = c.leader()
    follower = [i for i in c.ids() if i != leader][0]
    cl = c.client(follower, as_="agent")
    rec = random_key(t.rng)
    expect_created(cl.request("POST", "/v1/keys", rec), rec, "first escrow")
    before = metric(c, leader, "escrow_api_connections_total")
    for _ in range(100):
        rec = random_key(t.rng)
        expect_created(cl.request("POST", "/v1/keys", rec), rec, "escrow through the follower")
    cl.close()
    opened = metric(c, leader, "escrow_api_connections_total") - before
    # The metrics request itself is one.
    check(opened <= 3, "100 forwarded escrows opened %d connections to the leader" % opened)
    check(metric(c, follower, "escrow_forwarded_total") >= 101, "the follower forwarded less")


def test_node_joins_over_tls(t):
    """A new node with its own node certificate joins through a follower
    (--join https://...; its certificate may add itself and nothing else),
    catches up over the TLS peer transport and serves; a node certificate
    cannot add another node."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    recs = [random_key(t.rng) for _ in range(10)]
    for rec in recs:
        expect_created(c.escrow_retry(ids, rec), rec, "escrow before the join")
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    c.add_node(4)
    other = {"id": 5, "raft": "127.0.0.1:1", "api": "127.0.0.1:2", "role": "voter"}
    expect_error(c.request(follower, "POST", "/v1/cluster/members", other, as_="node-4"),
                 403, "forbidden", "node-4's certificate adding node 5")
    c.start_node(4, bootstrap=False, join=c.url(follower))
    c.wait_ready(60, ids=[4])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        roles, _ = harness.members_of(c.status(leader))
        if roles.get(4) == "voter":
            break
        time.sleep(0.2)
    check(roles.get(4) == "voter", "node 4 is not a voter: %s" % roles)
    c.digest_equal(60)
    for rec in recs:
        expect_lookup(c.request(4, "GET", harness.lookup_path(rec["key_id"]), as_="helpdesk"),
                      rec, "lookup through the joined node")
    adds = [e for e in audit_entries(c, leader) if e["action"] == "cluster.add"]
    check(len(adds) == 1 and adds[0]["actor"] == "node-4" and adds[0]["role"] == "node",
          "cluster.add audit entry: %s" % short(adds))


def test_clients_offering_session_resumption(t):
    """A client that offers the session of its previous connection (TLS 1.2
    and 1.3) is served with a full handshake, never refused."""
    c = t.cluster(1, tls=True)
    port = c.nodes[1].api_port
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = harness.tls_context(c.pki, "operator")
        ctx.maximum_version = version
        session = None
        for i in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1", session=session) as tls:
                    tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    got = recv_all(tls)
                    check(got.startswith(b"HTTP/1.1 200"), "%s connection %d: %r"
                          % (version.name, i, got[:60]))
                    session = tls.session or session


def read_response(tls, buf):
    """One HTTP response (with Content-Length) from tls; buf holds bytes
    already read. Returns (status, body as JSON, what is left)."""
    while b"\r\n\r\n" not in buf:
        chunk = tls.recv(65536)
        check(chunk, "connection ended inside a head: %r" % buf[:200])
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(buf) < length:
        chunk = tls.recv(65536)
        check(chunk, "connection ended inside a body")
        buf += chunk
    return int(lines[0].split()[1]), json.loads(buf[:length] or b"null"), buf[length:]


def test_pipelined_requests_over_tls(t):
    """Requests sent back to back on one TLS connection arrive while the
    first (a Raft write) is answered: the node keeps reading them into the
    TLS stream, a receive buffer's worth at most (here a second escrow of
    40 KB, padded with spaces: reading stops, then resumes after the first
    answer), and answers each, in order."""
    c = t.cluster(1, tls=True)
    recs = [random_key(t.rng) for _ in range(2)]
    bodies = [json.dumps(recs[0]).encode(), json.dumps(recs[1]).encode() + b" " * 40000]
    wire = b""
    for body in bodies:
        wire += (b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body)) + body
    wire += b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ctx = harness.tls_context(c.pki, "agent")
    with socket.create_connection(("127.0.0.1", c.nodes[1].api_port), timeout=15) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
            tls.sendall(wire)
            buf = b""
            for i, rec in enumerate(recs):
                st, data, buf = read_response(tls, buf)
                check(st == 201 and isinstance(data, dict) and data.get("key_id") == rec["key_id"],
                      "escrow %d on the connection: %s %s" % (i + 1, st, short(data)))
            st, data, buf = read_response(tls, buf)
            check(st == 200, "health after the escrows: %s %s" % (st, short(data)))
    for rec in recs:
        expect_lookup(c.request(1, "GET", "/v1/keys/%s?reason=lost_pin" % rec["key_id"],
                                as_="helpdesk"), rec, "after the pipelined escrows")


def test_escrowctl_over_tls(t):
    """escrowctl with --ca/--cert/--key (and the ESCROW_* variables): the
    role decides, a wrong certificate is a clear error."""
    c = t.cluster(3, tls=True)
    nodes = [c.url(i) for i in c.ids()]
    rec = random_key(t.rng)
    args = ["escrow", "--key-id", rec["key_id"], "--password", rec["recovery_password"],
            "--volume-id", rec["volume_id"], "--volume-type", rec["volume_type"],
            "--machine", rec["machine"]]
    rc, so, se, _ = harness.escrowctl(c.ctl_tls_args("agent") + args, nodes)
    check(rc == 0, "escrow as agent: exit %s %s" % (rc, short(se)))
    rc, so, se, _ = harness.escrowctl(c.ctl_tls_args("agent") + ["report", "audit"], nodes)
    check(rc == 1 and "auditor" in se and so == "",
          "report audit as agent: exit %s %s %s" % (rc, short(se), short(so)))
    rc, so, se, _ = harness.escrowctl(c.ctl_tls_args("auditor") + ["report", "audit"], nodes)
    check(rc == 0 and "key.escrow" in so, "report audit as auditor: exit %s %s" % (rc, short(se)))
    rc, so, se, _ = harness.escrowctl(["status"], nodes)
    check(rc == 2 and "--ca, --cert and --key are not given" in se,
          "status without certificates: exit %s %s" % (rc, short(se)))


def served_certificate(c, nid):
    ctx = c.tls_context("operator")
    with socket.create_connection(("127.0.0.1", c.nodes[nid].api_port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def test_reload_certificates_under_load(t):
    """SIGHUP reloads the certificates while escrows go on through every
    node: no request fails, a renewed certificate is served from then on, a
    broken key file is refused with the old certificates kept, and the
    cluster stays whole."""
    c = t.cluster(3, tls=True)
    ids = c.ids()
    before = served_certificate(c, 1)
    # A renewed node-1 certificate from the same CA (pki issue).
    renew = os.path.join(c.dir, "renew")
    os.mkdir(renew, 0o700)
    for f in ("ca.crt", "ca.key"):
        with open(os.path.join(c.pki, f), "rb") as src:
            data = src.read()
        fd = os.open(os.path.join(renew, f), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, data)
        os.close(fd)
    rc, _, err, _ = harness.run_once([harness.ESCROWCTL, "pki", "issue", renew, "node-1",
                                      "--role", "node"])
    check(rc == 0, "pki issue node-1: %s" % err)
    failures = []
    done = []
    stop = time.monotonic() + 6

    def load(i):
        cl = c.client(ids[i % len(ids)], as_="agent")
        n = 0
        while time.monotonic() < stop and n < 2000:
            rec = random_key(t.rng)
            st, _, data = cl.request("POST", "/v1/keys", rec)
            if st != 201:
                failures.append((st, short(data)))
            else:
                done.append(rec)
            n += 1
        cl.close()

    threads = harness.Threads(4, load)
    for i in range(5):
        time.sleep(0.5)
        if i == 2:
            for f in ("node-1.crt", "node-1.key"):
                os.replace(os.path.join(renew, f), os.path.join(c.pki, f))
        for nid in ids:
            os.kill(c.nodes[nid].proc.pid, signal.SIGHUP)
    time.sleep(0.3)
    after = served_certificate(c, 1)
    check(after != before, "node 1 still serves its old certificate after the reload")
    with open(os.path.join(c.pki, "node-1.crt"), "rb") as f:
        check(ssl.DER_cert_to_PEM_cert(after).strip() == f.read().decode().strip(),
              "node 1 serves a certificate that is not its renewed one")
    # A key file that cannot be read: the node keeps its certificates.
    key = os.path.join(c.pki, "node-1.key")
    saved = open(key, "rb").read()
    with open(key, "wb") as f:
        f.write(b"not a key\n")
    os.kill(c.nodes[1].proc.pid, signal.SIGHUP)
    time.sleep(0.5)
    with open(key, "wb") as f:
        f.write(saved)
    errors = threads.join(30)
    check(not errors, "load threads: %s" % errors[:2])
    check(not failures, "%d escrows failed during reloads: %s" % (len(failures), failures[:3]))
    check(len(done) > 20, "only %d escrows during the reloads" % len(done))
    log1 = open(c.nodes[1].log_path, encoding="utf-8", errors="replace").read()
    check("certificates reloaded" in log1, "node 1 never logged a reload")
    check("certificates not reloaded" in log1, "node 1 did not refuse the broken key")
    st = c.status(1)
    check(st is not None, "node 1 does not answer after the refused reload")
    for rec in done[-5:]:
        expect_lookup(c.request(1, "GET", harness.lookup_path(rec["key_id"]), as_="helpdesk"),
                      rec, "lookup after reloads")


def test_refuses_readable_private_key(t):
    """A --tls-key that group or others may read: the node refuses to start."""
    c = t.cluster(1, start=False, tls=True)
    key = os.path.join(c.pki, "node-1.key")
    os.chmod(key, 0o640)
    rc, so, se, _ = harness.run_once(c.command(1), timeout=20)
    check(rc not in (0, None) and "chmod 600" in se and "--tls-key" in se,
          "readable key: exit %s %s" % (rc, short(se)))


TESTS = [
    test_roles_from_certificates,
    test_audit_actor_is_the_certificate,
    test_wrong_certificates_refused,
    test_rogue_peer_refused,
    test_raft_port_flood,
    test_leader_stops_while_followers_forward,
    test_forwarding_keeps_its_tls_connections,
    test_node_joins_over_tls,
    test_clients_offering_session_resumption,
    test_pipelined_requests_over_tls,
    test_escrowctl_over_tls,
    test_reload_certificates_under_load,
    test_refuses_readable_private_key,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
