"""Process-test harness: real escrowd nodes on 127.0.0.1, HTTP helpers, TAP.

Standard library only. A Cluster owns a temporary directory holding the seal
key and one directory per node (data dir and node.log). Every wait is bounded
and every random choice comes from a seeded random.Random whose seed is
printed. Child processes are killed when the test process exits or is killed
by a signal (and, where it is safe, by PR_SET_PDEATHSIG when it dies hard).
"""

import atexit
import ctypes
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ESCROWD = os.environ.get("ESCROWD") or os.path.join(HERE, "..", "node", "escrowd")
ESCROWCTL = os.environ.get("ESCROWCTL") or os.path.join(HERE, "..", "tools", "escrowctl")
# The test fixture tool tests/mkcert.c (certificates pki never makes).
MKCERT = os.environ.get("ESCROW_MKCERT") or os.path.join(os.path.dirname(ESCROWD), "..",
                                                          "tests", "mkcert")
LOG_LEVEL = os.environ.get("ESCROW_LOG_LEVEL", "debug")
PORT_RETRIES = 5    # starts again of a node whose port was taken (Cluster._port_taken_again)
PORT_TAKEN = "is already in use"    # escrowd's words for a port another process holds
REQUEST_TIMEOUT = 15.0   # above the ~10 s forwarding deadline of a follower
TEST_TIMEOUT = int(os.environ.get("TEST_TIMEOUT", "240") or 240)  # seconds per test
# What a recovery password looks like, to mask it in printed log lines.
_PASSWORD_RE = re.compile(r"\d{6}(?:-\d{6}){7}|\d{48}")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                   "runtime error:", "Segmentation fault")


class Failure(AssertionError):
    """A test expectation that did not hold."""


class Skip(BaseException):
    """Raised by a test that cannot run here: TAP 'ok N - name # SKIP reason'.

    A BaseException so that no 'except Exception' in test code swallows it."""


class TestTimeout(BaseException):
    """Raised in the main thread by SIGALRM when a test overruns TEST_TIMEOUT.

    A BaseException so that no 'except Exception' in test code swallows it."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# ---------------------------------------------------------------- secrets

def redact(obj):
    """A copy of obj with every recovery_password value replaced."""
    if isinstance(obj, dict):
        return {k: ("<redacted>" if k == "recovery_password" else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def short(obj, limit=300):
    """A one-line, redacted, truncated rendering for diagnostics."""
    text = obj if isinstance(obj, str) else json.dumps(redact(obj), sort_keys=True)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def random_password(rng):
    return "-".join("%06d" % (rng.randint(0, 65535) * 11) for _ in range(8))


def random_key_id(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def random_machine(rng):
    return "pc-%06d.corp.example" % rng.randrange(1000000)


def random_key(rng, machine=None):
    """A valid escrow request body with a fresh key id and password."""
    rec = {
        "key_id": random_key_id(rng),
        "recovery_password": random_password(rng),
        "volume_id": "\\\\?\\Volume{%s}\\" % str(uuid.UUID(int=rng.getrandbits(128))),
        "volume_type": rng.choice(["os", "fixed", "removable"]),
        "machine": machine or random_machine(rng),
    }
    if rng.random() < 0.5:
        rec["user"] = "CORP\\user%d" % rng.randrange(10000)
    return rec


# ---------------------------------------------------------------- ports

_ports_lock = threading.Lock()
_ports_given = set()


def free_ports(n, host="127.0.0.1"):
    """n distinct free TCP ports on host (127.0.0.1; "::1" for IPv6), never
    handed out before.

    All sockets stay bound until every port is chosen, so the kernel cannot
    hand the same port out twice within one call."""
    socks, ports = [], []
    with _ports_lock:
        try:
            while len(ports) < n:
                check(len(socks) < n + 500, "free_ports: no free ports left")
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                s = socket.socket(family, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((host, 0))
                port = s.getsockname()[1]
                if port not in _ports_given:
                    ports.append(port)
        finally:
            for s in socks:
                s.close()
        _ports_given.update(ports)
    return ports


# ---------------------------------------------------------------- HTTP

def _encode_body(body, headers):
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = bytes(body)
    headers.setdefault("Content-Type", "application/json")
    return data


def _decode(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        return raw.decode("utf-8", "replace")


def _lower_headers(resp):
    return {k.lower(): v for k, v in resp.getheaders()}


def tls_context(pki, name):
    """A client context trusting pki's CA, with pki/NAME.crt as the client
    certificate (NAME None: no certificate)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=os.path.join(pki, "ca.crt"))
    if name:
        ctx.load_cert_chain(os.path.join(pki, name + ".crt"),
                            os.path.join(pki, name + ".key"))
    return ctx


def _connection(port, timeout, tls, host="127.0.0.1"):
    if tls is None:
        return http.client.HTTPConnection(host, port, timeout=timeout)
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)


def http_request(port, method, path, body=None, timeout=REQUEST_TIMEOUT, headers=None,
                 tls=None, host="127.0.0.1"):
    """One request on a fresh connection (HTTPS with the ssl context tls).
    Returns (status, headers, data): headers with lower-case names, data
    parsed JSON or text. A transport error gives status 0 and the error text
    as data."""
    hdrs = dict(headers or {})
    data = _encode_body(body, hdrs)
    conn = _connection(port, timeout, tls, host)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, _lower_headers(resp), _decode(raw)
    except (OSError, http.client.HTTPException) as e:
        return 0, {}, "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()


def raw_request(port, payload, timeout=REQUEST_TIMEOUT):
    """Sends payload (the whole request, bytes) on a fresh socket and parses
    the response, even when the server answers before reading all of it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = http.client.HTTPResponse(sock, method="POST")
        try:
            resp.begin()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            return 0, {}, "%s: %s" % (type(e).__name__, e)
        return resp.status, _lower_headers(resp), _decode(raw)
    finally:
        sock.close()


class Client:
    """A keep-alive connection to one node, reopened after an error."""

    def __init__(self, port, timeout=REQUEST_TIMEOUT, tls=None, host="127.0.0.1"):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.tls = tls
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        data = _encode_body(body, hdrs)
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = _connection(self.port, self.timeout, self.tls, self.host)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, _lower_headers(resp), _decode(raw)
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                self.close()
                # The server closed an idle kept-alive connection: try once more.
                if not reused or attempt == 1:
                    return 0, {}, "%s: %s" % (type(e).__name__, e)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                return 0, {}, "%s: %s" % (type(e).__name__, e)
        return 0, {}, "unreachable"

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- children

_children_lock = threading.Lock()
_children = set()    # Popen objects that may still run
_clusters = []       # every Cluster made, for the report on a hard exit


def _pdeathsig_preexec():
    """preexec_fn asking the kernel to SIGKILL the child when we die."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def preexec():
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
    return preexec


_PREEXEC = _pdeathsig_preexec() if sys.platform.startswith("linux") else None


def spawn(args, stdout, stderr):
    """Popen registered for cleanup. The death signal is only requested from
    the main thread with no other thread alive: preexec_fn is unsafe with
    threads, and the signal fires when the forking thread exits."""
    preexec = None
    if (_PREEXEC is not None and threading.current_thread() is threading.main_thread()
            and threading.active_count() == 1):
        preexec = _PREEXEC
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=stderr, close_fds=True, preexec_fn=preexec)
    with _children_lock:
        _children.add(proc)
    return proc


def kill_children(locked=True):
    """SIGKILLs every child still running. The signal handler passes
    locked=False: the interrupted main thread may hold the lock."""
    procs = []
    if locked:
        with _children_lock:
            procs = list(_children)
    else:
        for _ in range(100):
            try:
                procs = list(_children)
                break
            except RuntimeError:   # the set changed size while copied
                continue
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _on_fatal_signal(signum, frame):
    kill_children(locked=False)
    for c in _clusters:
        if os.path.isdir(c.dir):
            print("# interrupted: kept %s" % c.dir, flush=True)
    print("Bail out! interrupted by signal %d" % signum, flush=True)
    os._exit(128 + signum)


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded %d s (TEST_TIMEOUT)" % TEST_TIMEOUT)


def install_handlers():
    atexit.register(kill_children)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_fatal_signal)
    signal.signal(signal.SIGALRM, _on_alarm)


def run_once(args, timeout=10.0):
    """Runs a command to completion. Returns (rc, stdout, stderr, seconds);
    rc None when it had to be killed after timeout."""
    t0 = time.monotonic()
    proc = spawn(args, subprocess.PIPE, subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        rc = None
    return (rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
            time.monotonic() - t0)


class Threads:
    """fn(i) for i in range(n) on daemon threads, started at once."""

    def __init__(self, n, fn):
        self.errors = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._body, args=(fn, i), daemon=True)
                         for i in range(n)]
        for th in self._threads:
            th.start()

    def _body(self, fn, i):
        try:
            fn(i)
        except BaseException:
            with self._lock:
                self.errors.append("thread %d: %s" % (i, traceback.format_exc().strip()))

    def join(self, timeout):
        """Joins every thread within timeout (fails if one still runs) and
        returns the formatted exceptions they raised."""
        deadline = time.monotonic() + timeout
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        stuck = [i for i, th in enumerate(self._threads) if th.is_alive()]
        check(not stuck, "threads %s still running after %.0f s" % (stuck, timeout))
        with self._lock:
            return list(self.errors)


def run_threads(n, fn, timeout):
    """Runs fn(i) for i in range(n) on threads and joins them within timeout.
    Returns the list of formatted exceptions the threads raised."""
    return Threads(n, fn).join(timeout)


def retry(ids, fn, timeout, retry_on=(0, 503), between=None):
    """Calls fn(nid) over ids in turn until the status is not in retry_on or
    timeout passes; between() (if given) runs before each retry and may
    raise. Returns (status, headers, data, attempts)."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        nid = ids[attempts % len(ids)]
        attempts += 1
        status, hdrs, data = fn(nid)
        if status not in retry_on or time.monotonic() >= deadline:
            return status, hdrs, data, attempts
        if between is not None:
            between()
        time.sleep(0.05)



# ---------------------------------------------------------------- cluster

class Node:
    """One escrowd: its addresses, directories and process."""

    def __init__(self, cluster_dir, nid, raft_port, api_port, host="127.0.0.1"):
        self.id = nid
        self.host = host        # a name, an IPv4 or an IPv6 address (no brackets)
        self.raft_port = raft_port
        self.api_port = api_port
        spelled = "[%s]" % host if ":" in host else host
        self.raft = "%s:%d" % (spelled, raft_port)
        self.api = "%s:%d" % (spelled, api_port)
        self.dir = os.path.join(cluster_dir, "n%d" % nid)
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "node.log")
        self.proc = None
        self.expected = False   # the test wants it running
        self.rc = None          # exit code of its last process
        self.cmd = None         # the command of its last start
        self.port_retries = 0   # starts again after its port was found taken


def _leader_id(st):
    lead = st.get("leader") if isinstance(st, dict) else None
    if not isinstance(lead, dict):
        return None
    try:
        lid = int(lead.get("id") or 0)
    except (TypeError, ValueError):
        return None
    return lid or None


class Cluster:
    """n escrowd nodes on 127.0.0.1 in one temporary directory.

    Made by TestContext.cluster (which also stops and removes it), or by hand:
    then call close(keep) in a finally block."""

    def __init__(self, n=3, name="cluster", log_level=LOG_LEVEL, tls=False, host="127.0.0.1"):
        safe = "".join(ch if ch.isalnum() else "-" for ch in name)[:40]
        self.dir = tempfile.mkdtemp(prefix="escrow-%s-" % safe,
                                    dir=os.environ.get("TEST_TMPDIR"))
        _clusters.append(self)
        self.log_level = log_level
        self.extra = ()     # flags given to every node this cluster starts
        self.host = host    # every node's host: 127.0.0.1, "::1", "localhost"
        ports = free_ports(2 * n, "::1" if ":" in host else "127.0.0.1")
        self.nodes = {}
        for i in range(1, n + 1):
            node = Node(self.dir, i, ports[2 * i - 2], ports[2 * i - 1], host)
            os.makedirs(node.data_dir, mode=0o700)
            self.nodes[i] = node
        self.seal_key = os.path.join(self.dir, "seal.key")
        fd = os.open(self.seal_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(32).hex().encode("ascii"))
        finally:
            os.close(fd)
        self.bootstrap = ",".join("%d=%s/%s" % (i, nd.raft, nd.api)
                                  for i, nd in sorted(self.nodes.items()))
        # With tls: `escrowctl pki init` certificates; requests go as `role`.
        self.tls = tls
        self.pki = os.path.join(self.dir, "pki")
        self.role = "operator"
        self._contexts = {}
        if tls:
            rc, _, err, _ = run_once([ESCROWCTL, "pki", "init", self.pki,
                                      "--nodes", str(n + 2)])
            check(rc == 0, "pki init: %s" % err.strip())

    def ctl_tls_args(self, name=None):
        """escrowctl's --ca/--cert/--key for certificate NAME (TLS clusters)."""
        if not self.tls:
            return []
        name = name or self.role
        return ["--ca", os.path.join(self.pki, "ca.crt"),
                "--cert", os.path.join(self.pki, name + ".crt"),
                "--key", os.path.join(self.pki, name + ".key")]

    def tls_context(self, name=None):
        """The client context for certificate NAME (default: self.role);
        None for a plain cluster."""
        if not self.tls:
            return None
        name = name or self.role
        if name not in self._contexts:
            self._contexts[name] = tls_context(self.pki, name)
        return self._contexts[name]

    # -- processes

    def ids(self):
        return sorted(self.nodes)

    def command(self, nid, bootstrap=True, seal_key=None, extra=(), join=None):
        node = self.nodes[nid]
        cmd = [ESCROWD, "--id", str(nid), "--data-dir", node.data_dir,
               "--raft-addr", node.raft, "--api-addr", node.api]
        if bootstrap:
            cmd += ["--bootstrap", self.bootstrap]
        if join:
            cmd += ["--join", join]
        if self.tls:
            cmd += ["--tls-ca", os.path.join(self.pki, "ca.crt"),
                    "--tls-cert", os.path.join(self.pki, "node-%d.crt" % nid),
                    "--tls-key", os.path.join(self.pki, "node-%d.key" % nid)]
        else:
            cmd += ["--insecure"]
        cmd += ["--seal-key", seal_key or self.seal_key]
        if self.log_level:
            cmd += ["--log-level", self.log_level]
        return cmd + list(self.extra) + list(extra)

    def start(self):
        for nid in self.ids():
            self.start_node(nid, bootstrap=True)

    def start_node(self, nid, bootstrap=True, extra=(), join=None, seal_key=None):
        node = self.nodes[nid]
        check(not self.running(nid), "node %d is already running" % nid)
        cmd = self.command(nid, bootstrap=bootstrap, seal_key=seal_key, extra=extra, join=join)
        self._spawn(node, cmd)

    def _spawn(self, node, cmd):
        node.cmd = cmd
        with open(node.log_path, "ab") as log:
            log.write(("=== harness %s: start %s\n" % (
                time.strftime("%H:%M:%S"), " ".join(cmd))).encode())
            log.flush()
            node.proc = spawn(cmd, log, log)
        node.rc = None
        node.expected = True

    def running(self, nid):
        p = self.nodes[nid].proc
        return p is not None and p.poll() is None

    def live_ids(self):
        """Nodes the test wants running and that run."""
        return [i for i in self.ids() if self.nodes[i].expected and self.running(i)]

    def _last_start_log(self, nid):
        """The node's log since the harness last started it."""
        try:
            with open(self.nodes[nid].log_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        return text[text.rfind("=== harness "):]

    def _port_taken_again(self, nid):
        """Starts node nid again, the same command, when it stopped at once
        because its port was taken: its ports are among the kernel's
        ephemeral ones, which any outgoing connection on this host may get
        while the node is down (a test's environment, not the product's).
        PORT_RETRIES times at most, a second apart. True when started."""
        node = self.nodes[nid]
        if node.port_retries >= PORT_RETRIES or PORT_TAKEN not in self._last_start_log(nid):
            return False
        node.port_retries += 1
        print("# node %d: its port was taken while it was down; started again (%d of %d)"
              % (nid, node.port_retries, PORT_RETRIES), flush=True)
        time.sleep(1)
        self._spawn(node, node.cmd)
        return True

    def check_alive(self):
        """Fails when a node the test wants running has exited (but for a
        port taken while it was down: _port_taken_again)."""
        for nid in self.ids():
            node = self.nodes[nid]
            if node.expected and node.proc is not None and node.proc.poll() is not None:
                if self._port_taken_again(nid):
                    continue
                node.expected = False
                node.rc = node.proc.returncode
                raise Failure("node %d exited unexpectedly with code %s; log tail:\n%s"
                              % (nid, node.rc, self.log_tail(nid)))

    def kill(self, nid, sig=signal.SIGKILL, wait=None):
        """Sends sig; waits for the exit (10 s) by default for SIGKILL only.
        Returns the exit code when waited and exited, else None."""
        node = self.nodes[nid]
        node.expected = False
        if self.running(nid):
            node.proc.send_signal(sig)
        if wait is None:
            wait = sig == signal.SIGKILL
        return self.wait_exit(nid, 10) if wait else None

    def wait_exit(self, nid, timeout=10):
        """The exit code, or None if still running after timeout."""
        node = self.nodes[nid]
        if node.proc is None:
            return node.rc
        try:
            node.rc = node.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return node.rc

    def restart(self, nid, bootstrap=False):
        """Starts a stopped node again from its data dir."""
        check(not self.running(nid), "restart: node %d still runs" % nid)
        self.start_node(nid, bootstrap=bootstrap)

    def add_node(self, nid, make_data_dir=True):
        """A node outside the --bootstrap string (to join, or to start from
        a restored data dir) with fresh ports and its own directory; its data
        dir is created empty unless make_data_dir is false."""
        check(nid not in self.nodes, "add_node: node %d exists" % nid)
        raft_port, api_port = free_ports(2, "::1" if ":" in self.host else "127.0.0.1")
        node = Node(self.dir, nid, raft_port, api_port, self.host)
        os.makedirs(node.dir, mode=0o700)
        if make_data_dir:
            os.makedirs(node.data_dir, mode=0o700)
        self.nodes[nid] = node
        return node

    def url(self, nid):
        """The API URL of a node, as --join and escrowctl --nodes take it."""
        return "%s://%s" % ("https" if self.tls else "http", self.nodes[nid].api)

    def pause(self, nid):
        """SIGSTOP: the node stays up but answers nothing until resume."""
        check(self.running(nid), "pause: node %d does not run" % nid)
        self.nodes[nid].proc.send_signal(signal.SIGSTOP)

    def resume(self, nid):
        if self.running(nid):
            self.nodes[nid].proc.send_signal(signal.SIGCONT)

    def stop_all(self, timeout=10):
        """SIGTERM to every running node, SIGKILL after timeout. Returns
        {id: exit code} for the nodes that were running (-9: killed)."""
        up = [i for i in self.ids() if self.running(i)]
        for nid in up:
            self.nodes[nid].expected = False
            try:
                self.nodes[nid].proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        rcs = {}
        for nid in up:
            rc = self.wait_exit(nid, max(0.0, deadline - time.monotonic()))
            if rc is None:
                self.nodes[nid].proc.kill()
                rc = self.wait_exit(nid, 10)
            rcs[nid] = rc
        return rcs

    def ports_taken(self):
        """The "address ... is already in use" lines of the nodes' logs."""
        lines = []
        for nid in self.ids():
            try:
                with open(self.nodes[nid].log_path, encoding="utf-8", errors="replace") as f:
                    lines += [ln.strip() for ln in f if PORT_TAKEN in ln]
            except OSError:
                pass
        return "; ".join(lines)

    def close(self, keep=False):
        """Stops every node; removes the directory unless keep."""
        rcs = self.stop_all()
        if keep:
            print("# kept %s" % self.dir, flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return rcs

    def log_tail(self, nid, lines=15):
        path = self.nodes[nid].log_path
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 65536))
                text = f.read().decode("utf-8", "replace")
        except OSError as e:
            return "  (no log: %s)" % e
        text = _PASSWORD_RE.sub("<password?>", text)
        return "\n".join("  " + ln for ln in text.splitlines()[-lines:])

    def sanitizer_reports(self):
        """Log lines where a sanitizer or a crash was reported."""
        found = []
        for nid in self.ids():
            try:
                with open(self.nodes[nid].log_path, "rb") as f:
                    for line in f:
                        text = line.decode("utf-8", "replace").rstrip()
                        if any(m in text for m in SANITIZER_MARKS):
                            found.append("node %d: %s" % (nid, text[:200]))
            except OSError:
                pass
        return found

    # -- HTTP

    def request(self, nid, method, path, body=None, timeout=REQUEST_TIMEOUT, headers=None,
                as_=None):
        """as_: the certificate to use (TLS clusters; default self.role)."""
        node = self.nodes[nid]
        return http_request(node.api_port, method, path, body, timeout, headers,
                            self.tls_context(as_), node.host)

    def client(self, nid, timeout=REQUEST_TIMEOUT, as_=None):
        node = self.nodes[nid]
        return Client(node.api_port, timeout, self.tls_context(as_), node.host)

    def escrow(self, nid, rec, timeout=REQUEST_TIMEOUT):
        return self.request(nid, "POST", "/v1/keys", rec, timeout)

    def lookup(self, nid, key_id, reason="lost_pin", note=None, timeout=REQUEST_TIMEOUT):
        return self.request(nid, "GET", lookup_path(key_id, reason, note), timeout=timeout)

    def machine_keys(self, nid, machine, timeout=REQUEST_TIMEOUT):
        path = "/v1/machines/%s/keys" % urllib.parse.quote(machine, safe="")
        return self.request(nid, "GET", path, timeout=timeout)

    def escrow_retry(self, ids, rec, timeout=20):
        """Escrow, moving to the next node on a transport error or 503."""
        return retry(ids, lambda nid: self.escrow(nid, rec), timeout,
                     between=self.check_alive)

    def lookup_retry(self, ids, key_id, timeout=15, reason="lost_pin"):
        return retry(ids, lambda nid: self.lookup(nid, key_id, reason), timeout,
                     between=self.check_alive)

    def metric(self, nid, name):
        """An unlabelled metric of the node from GET /metrics (nan if absent)."""
        st, _, body = self.request(nid, "GET", "/metrics")
        if st == 200:
            for line in str(body).splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return float("nan")

    def status(self, nid, timeout=5):
        st, _, data = self.request(nid, "GET", "/v1/status", timeout=timeout)
        return data if st == 200 and isinstance(data, dict) else None

    def statuses(self, ids=None):
        return {nid: self.status(nid, timeout=2) for nid in (ids or self.live_ids())}

    @staticmethod
    def summary(sts):
        parts = []
        for nid, st in sorted(sts.items()):
            if st is None:
                parts.append("n%d: no status" % nid)
                continue
            parts.append("n%d: %s leader=%s term=%s commit=%s applied=%s digest=%s" % (
                nid, st.get("role"), _leader_id(st), st.get("term"), st.get("commit_index"),
                st.get("applied_index"), str(st.get("state_digest"))[:12]))
        return "; ".join(parts)

    # -- bounded waits

    def wait_ready(self, timeout=30, ids=None):
        """Waits until GET /v1/health?ready answers 200 on every live node
        (or on ids)."""
        deadline = time.monotonic() + timeout
        pending = set(ids or self.live_ids())
        last = {}
        while pending:
            self.check_alive()
            for nid in sorted(pending):
                st, _, data = self.request(nid, "GET", "/v1/health?ready", timeout=2)
                if st == 200:
                    pending.discard(nid)
                else:
                    last[nid] = "%s %s" % (st, short(data, 120))
            if not pending:
                break
            if time.monotonic() >= deadline:
                raise Failure("nodes %s not ready after %.0f s (last answers: %s; status: %s)"
                              % (sorted(pending), timeout, last,
                                 self.summary(self.statuses(sorted(pending)))))
            time.sleep(0.05)

    def leader(self, timeout=15):
        """The leader id every live node agrees on (the leader itself saying
        role "leader"), waiting up to timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            live = self.live_ids()
            check(live, "leader: no live node")
            sts = self.statuses(live)
            seen = {_leader_id(st) for st in sts.values()}
            if len(seen) == 1:
                lid = seen.pop()
                if lid in sts and sts[lid] is not None and sts[lid].get("role") == "leader":
                    return lid
            if time.monotonic() >= deadline:
                raise Failure("no leader agreed by live nodes %s after %.0f s: %s"
                              % (live, timeout, self.summary(sts)))
            time.sleep(0.05)

    def followers(self, timeout=15):
        lid = self.leader(timeout)
        return [nid for nid in self.live_ids() if nid != lid]

    def wait_applied(self, index, timeout=15):
        """Waits until every live node has applied_index >= index."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            sts = self.statuses()
            behind = [nid for nid, st in sts.items()
                      if st is None or not isinstance(st.get("applied_index"), int)
                      or st["applied_index"] < index]
            if not behind:
                return
            if time.monotonic() >= deadline:
                raise Failure("nodes %s did not apply index %d within %.0f s: %s"
                              % (behind, index, timeout, self.summary(sts)))
            time.sleep(0.05)

    def digest_equal(self, timeout=30):
        """Waits until every live node reports the same applied_index and
        state_digest. Returns (applied_index, state_digest)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            sts = self.statuses()
            pairs = {(st.get("applied_index"), st.get("state_digest")) if st else None
                     for st in sts.values()}
            if len(pairs) == 1:
                pair = pairs.pop()
                if pair is not None and isinstance(pair[0], int) and pair[1]:
                    return pair
            if time.monotonic() >= deadline:
                raise Failure("state digests differ after %.0f s: %s"
                              % (timeout, self.summary(sts)))
            time.sleep(0.05)


def members_of(st):
    """{id: role} of the members a /v1/status answer lists, and the list of
    ids in order (to spot duplicates); ({}, []) when it lists none."""
    ids, roles = [], {}
    mems = st.get("members") if isinstance(st, dict) else None
    for m in mems if isinstance(mems, list) else []:
        if isinstance(m, dict) and isinstance(m.get("id"), int):
            ids.append(m["id"])
            roles[m["id"]] = m.get("role")
    return roles, ids


def lookup_path(key_id, reason="lost_pin", note=None):
    q = []
    if reason is not None:
        q.append(("reason", reason))
    if note is not None:
        q.append(("note", note))
    path = "/v1/keys/%s" % urllib.parse.quote(key_id, safe="")
    return path + ("?" + urllib.parse.urlencode(q) if q else "")


def damage_newest_segment(node):
    """Flips one byte in the middle of the newest closed segment of node's
    Raft log (the node stopped), as a disk error would; returns its path."""
    raft = os.path.join(node.data_dir, "raft")
    segs = sorted(f for f in os.listdir(raft)
                  if "-" in f and f[0].isdigit() and not f.startswith("snapshot"))
    check(segs, "no closed segment in %s: %s" % (raft, os.listdir(raft)))
    seg = os.path.join(raft, segs[-1])
    size = os.path.getsize(seg)
    with open(seg, "r+b") as f:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0x5A]))
    return seg


# ---------------------------------------------------------------- snapshots

# The snapshot file of docs/api.md section 6 (layout in store/snapfile.h): a
# 160-byte header, little-endian, then the payload, a SQLite database.
SNAP_MAGIC = b"ESCROWSN"
SNAP_HEADER_SIZE = 160
SNAP_HEADER_HASHED = 128
_SNAP_STRUCT = struct.Struct("<8sIIQQqQ32s32s16s32s")
assert _SNAP_STRUCT.size == SNAP_HEADER_SIZE


def snapshot_header(data):
    """The header fields of a snapshot file's bytes, decoded without any
    check (the tests judge them): magic, version, header_len, index, term,
    created_ms, payload_len, payload_sha256 (bytes), cluster_id and
    seal_fingerprint (str), header_sha256 (bytes). None when data is shorter
    than a header."""
    if len(data) < SNAP_HEADER_SIZE:
        return None
    f = _SNAP_STRUCT.unpack_from(data, 0)
    return {"magic": f[0], "version": f[1], "header_len": f[2], "index": f[3],
            "term": f[4], "created_ms": f[5], "payload_len": f[6],
            "payload_sha256": f[7], "cluster_id": f[8].decode("latin-1"),
            "seal_fingerprint": f[9].decode("latin-1"), "header_sha256": f[10]}


def snapshot_header_bytes(h):
    """Encodes the fields of snapshot_header (all but header_sha256) as a
    header, computing the header hash as the file format does."""
    head = _SNAP_STRUCT.pack(h["magic"], h["version"], h["header_len"], h["index"],
                             h["term"], h["created_ms"], h["payload_len"],
                             h["payload_sha256"], h["cluster_id"].encode("latin-1"),
                             h["seal_fingerprint"].encode("latin-1"), b"\0" * 32)
    return head[:SNAP_HEADER_HASHED] + hashlib.sha256(head[:SNAP_HEADER_HASHED]).digest()


def forge_snapshot(payload, base, **over):
    """A snapshot file's bytes: a header like base (a snapshot_header dict)
    with the fields in over, payload length and SHA-256 computed for
    payload, both hashes valid, then payload."""
    h = dict(base)
    h["payload_len"] = len(payload)
    h["payload_sha256"] = hashlib.sha256(payload).digest()
    h.update(over)
    return snapshot_header_bytes(h) + payload


class SnapshotDb:
    """The payload of a snapshot file opened read-only with sqlite3, from a
    temporary copy in tmp_dir (removed by close)."""

    def __init__(self, path, tmp_dir):
        with open(path, "rb") as f:
            data = f.read()
        self.header = snapshot_header(data)
        check(self.header is not None, "%s: shorter than a snapshot header (%d bytes)"
              % (path, len(data)))
        fd, self.path = tempfile.mkstemp(prefix="payload-", suffix=".db", dir=tmp_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(data[SNAP_HEADER_SIZE:])
        self.db = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(self.path),
                                  uri=True)

    def meta(self, k):
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
        return row[0] if row else None

    def key_ids(self):
        return {r[0] for r in self.db.execute("SELECT key_id FROM keys")}

    def audit(self):
        """[(seq, action, key_id)] in seq order."""
        return list(self.db.execute("SELECT seq, action, key_id FROM audit ORDER BY seq"))

    def close(self):
        self.db.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def http_download(port, path, dest, timeout=60.0):
    """GET path streamed into the file dest. Returns (status, headers with
    lower-case names, bytes written); on a non-2xx answer the body is kept
    as text in the returned third item instead, and dest is not written. A
    transport error gives status 0."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        hdrs = _lower_headers(resp)
        if not 200 <= resp.status < 300:
            return resp.status, hdrs, _decode(resp.read())
        n = 0
        with open(dest, "wb") as f:
            while True:
                chunk = resp.read(65536)
                if not chunk:
                    break
                f.write(chunk)
                n += len(chunk)
        return resp.status, hdrs, n
    except (OSError, http.client.HTTPException) as e:
        return 0, {}, "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()


def escrowctl(args, nodes=None, as_json=False, timeout=60.0):
    """Runs escrowctl [--nodes URL,...] [--json] args. Returns (rc, stdout,
    stderr, seconds); rc None when killed after timeout."""
    cmd = [ESCROWCTL]
    if nodes:
        cmd += ["--nodes", ",".join(nodes)]
    if as_json:
        cmd += ["--json"]
    return run_once(cmd + list(args), timeout)


# ---------------------------------------------------------------- TAP

def out(line):
    print(line, flush=True)


class TestContext:
    """What a test function gets: its rng, its clusters, its diagnostics."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = random.Random("%s:%s" % (seed, name))
        self.clusters = []
        self.diags = []
        self.held = []

    def diag(self, msg):
        self.diags.extend(str(msg).splitlines())

    check = staticmethod(check)

    def cluster(self, n=3, start=True, ready_timeout=30, log_level=LOG_LEVEL, tls=False,
                host="127.0.0.1"):
        """A cluster stopped and removed (kept on failure) after the test.

        A port free_ports chose can be taken by another process (any
        outgoing connection gets one of the same range) before the node
        binds it: a node that refuses to start for that is not the test's
        failure, and a new cluster with new ports is started instead (twice
        at most)."""
        for attempt in range(3):
            c = Cluster(n, self.name, log_level, tls, host)
            self.clusters.append(c)
            if not start:
                return c
            c.start()
            try:
                c.wait_ready(ready_timeout)
                return c
            except Failure:
                taken = c.ports_taken()
                if attempt == 2 or not taken:
                    raise
                self.diag("a port was taken by another process before a node bound it (%s):"
                          " a new cluster with new ports" % taken)
                self.clusters.remove(c)
                c.close()
        return c

    def dead_urls(self, n):
        """n http URLs on 127.0.0.1 where nothing answers: ports bound (not
        listening) until the test ends, so that no other process can take
        one and answer; a connect there is refused."""
        urls = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.held.append(s)
            s.bind(("127.0.0.1", 0))
            urls.append("http://127.0.0.1:%d" % s.getsockname()[1])
        return urls

    def run(self, fn):
        """Runs fn(self) within its timeout (fn.timeout seconds, else
        TEST_TIMEOUT); a Skip it raises is kept in self.skipped."""
        ok = True
        self.skipped = None
        signal.alarm(max(TEST_TIMEOUT, getattr(fn, "timeout", 0)))
        try:
            fn(self)
            for c in self.clusters:
                c.check_alive()
        except Skip as e:
            self.skipped = str(e) or "skipped"
        except (Exception, TestTimeout):
            ok = False
            self.diag(traceback.format_exc().rstrip())
        finally:
            signal.alarm(0)
        return self._teardown(ok)

    def _teardown(self, ok):
        for s in self.held:
            s.close()
        for c in self.clusters:
            try:
                rcs = c.stop_all()
            except Exception:
                ok = False
                self.diag("teardown: " + traceback.format_exc().rstrip())
                continue
            bad = {nid: rc for nid, rc in rcs.items() if rc != 0}
            if bad:
                ok = False
                self.diag("teardown: exit codes after SIGTERM not 0: %s" % bad)
            reports = c.sanitizer_reports()
            if reports:
                ok = False
                self.diag("sanitizer or crash reports in node logs:")
                self.diags.extend("  " + r for r in reports[:20])
        for c in self.clusters:
            if ok:
                shutil.rmtree(c.dir, ignore_errors=True)
                continue
            self.diag("kept %s" % c.dir)
            for nid in c.ids():
                if os.path.exists(c.nodes[nid].log_path):
                    self.diag("node %d log tail (%s):" % (nid, c.nodes[nid].log_path))
                    self.diag(c.log_tail(nid))
        return ok


def run_tests(tests, argv=None):
    """Runs test functions (each fn(t)) whose name contains one of argv's
    words (all when none), printing TAP. Returns the exit status: 0."""
    argv = sys.argv[1:] if argv is None else argv
    install_handlers()
    try:
        seed = int(os.environ.get("TEST_SEED") or time.time())
    except ValueError:
        out("Bail out! TEST_SEED must be an integer")
        return 0
    out("# seed %d (repeat with TEST_SEED=%d)" % (seed, seed))
    out("# escrowd %s" % ESCROWD)
    if not (os.path.isfile(ESCROWD) and os.access(ESCROWD, os.X_OK)):
        out("Bail out! escrowd not found or not executable: %s (set ESCROWD)" % ESCROWD)
        return 0
    chosen = [fn for fn in tests if not argv or any(w in fn.__name__ for w in argv)]
    for n, fn in enumerate(chosen, 1):
        name = fn.__name__
        t = TestContext(name, seed)
        t0 = time.monotonic()
        ok = t.run(fn)
        skip = " # SKIP " + t.skipped if ok and t.skipped else ""
        out("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, skip))
        for line in t.diags:
            out("# " + line)
        out("# %s took %.1f s" % (name, time.monotonic() - t0))
    out("1..%d" % len(chosen))
    return 0


def run_bench(url, clients, count=None, duration=None, op="escrow", ctl=None, tls_args=(),
              prefix=None, extra=()):
    """`escrowctl --nodes URL --json bench` for the benchmark scripts: count
    requests (bounded at an hour) or duration seconds; tls_args: escrowctl's
    --ca/--cert/--key; prefix: --machine-prefix. Returns its JSON report;
    exits the script when bench itself failed."""
    cmd = [ctl or ESCROWCTL] + list(tls_args) + [
        "--nodes", url, "--json", "bench", "--clients", str(clients), "--op", op]
    if prefix:
        cmd += ["--machine-prefix", prefix]
    cmd += list(extra)
    if duration:
        cmd += ["--duration", str(duration), "--count", "10000000"]
    else:
        # bench stops after 60 s unless told otherwise: loading takes longer.
        cmd += ["--count", str(count), "--duration", "3600"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if out.returncode not in (0, 1):
        raise SystemExit("escrowctl bench failed (%d): %s" % (out.returncode, out.stderr.strip()))
    return json.loads(out.stdout)
