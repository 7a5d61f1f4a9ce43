#!/usr/bin/env python3
"""Process tests of issue 14: `escrowctl snapshot backup DIR [--keep N]`.

Real escrowd nodes on 127.0.0.1 and the real escrowctl, used the way
escrow-backup.service runs it (the cluster given by ESCROW_NODES and the TLS
files by ESCROW_CA/CERT/KEY, the retention by ESCROW_BACKUP_KEEP): backups
appear under dated names and verify, retention keeps exactly N of them and
never touches other files, and every refusal (no node reached, DIR missing or
not writable, a damaged snapshot, bad --keep) exits non-zero and leaves DIR
as it was. Output is TAP. Arguments: words; only the tests whose name
contains one of them run. Environment: ESCROWD, ESCROWCTL, TEST_SEED,
TEST_TIMEOUT, ESCROW_LOG_LEVEL.
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402

BACKUP_RE = re.compile(r"^escrow-\d{8}T\d{6}Z\.snap$")
ENV_NAMES = ("ESCROW_NODES", "ESCROW_CA", "ESCROW_CERT", "ESCROW_KEY", "ESCROW_BACKUP_KEEP")


# ---------------------------------------------------------------- helpers

def ctl(args, env=None, timeout=120, user=None):
    """escrowctl args with env (a dict) replacing the ESCROW_* variables;
    user: run as that uid/gid through setpriv. Returns (rc, out, err)."""
    saved = {k: os.environ.get(k) for k in ENV_NAMES}
    cmd = [harness.ESCROWCTL] + list(args)
    if user is not None:
        cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
    try:
        for k in ENV_NAMES:
            os.environ.pop(k, None)
        os.environ.update(env or {})
        rc, so, se, _ = harness.run_once(cmd, timeout)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    check(rc is not None, "escrowctl %s: still running after %d s" % (" ".join(args), timeout))
    return rc, so, se


def listing(d):
    """{name: (size, mtime_ns, sha256)} of the files in d."""
    res = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        st = os.lstat(p)
        digest = None
        if os.path.isfile(p):
            with open(p, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        res[name] = (st.st_size, st.st_mtime_ns, digest)
    return res


def backups(d):
    """The backups in d: regular files named as backup names them."""
    return sorted(n for n in os.listdir(d)
                  if BACKUP_RE.match(n) and os.path.isfile(os.path.join(d, n)))


def next_second():
    """Waits until the wall clock's second changes: backup names have
    one-second resolution."""
    now = int(time.time())
    for _ in range(30):
        if int(time.time()) != now:
            return
        time.sleep(0.05)


def backup_ok(t, d, env, keep=None):
    """One `snapshot backup d` that must succeed; returns its JSON, after
    checking the file exists, has the dated name and verifies."""
    next_second()
    args = ["--json", "snapshot", "backup", d] + (["--keep", str(keep)] if keep else [])
    rc, so, se = ctl(args, env)
    check(rc == 0, "snapshot backup: exit %s: %s" % (rc, short(so + se, 800)))
    info = json.loads(so)
    name = os.path.basename(info["file"])
    check(BACKUP_RE.match(name), "backup name %r is not escrow-YYYYMMDDTHHMMSSZ.snap" % name)
    check(os.path.dirname(info["file"]) == d.rstrip("/"), "backup %s not in %s"
          % (info["file"], d))
    check(info["verified"] is True and info["size"] == os.path.getsize(info["file"]),
          "backup JSON: %s" % short(info, 400))
    check(not [n for n in os.listdir(d) if ".tmp-" in n], "temporary file left in %s: %s"
          % (d, os.listdir(d)))
    check("backup: verifying" in se, "no progress line on stderr: %s" % short(se))
    rc, vo, ve = ctl(["snapshot", "verify", info["file"]])
    check(rc == 0 and ": sound;" in vo, "verify %s: exit %s: %s" % (info["file"], rc,
                                                                   short(vo + ve)))
    return info


def escrow_some(t, c, n=5):
    nid = c.leader()
    for _ in range(n):
        st, _, data = c.escrow(nid, random_key(t.rng))
        check(st == 201, "escrow: %s %s" % (st, short(data)))


def tmpdir(t, name):
    d = tempfile.mkdtemp(prefix="escrow-backup-%s-" % name, dir=os.environ.get("TEST_TMPDIR"))
    t.tmpdirs = getattr(t, "tmpdirs", []) + [d]
    return d


# ---------------------------------------------------------------- tests

def test_backups_rotate_and_leave_other_files(t):
    c = t.cluster(3)
    escrow_some(t, c)
    d = tmpdir(t, "rotate")
    try:
        # Files that are not backups: never touched, whatever --keep says.
        others = {"notes.txt": b"operator notes\n",
                  "escrow-manual.snap": b"a snapshot saved by hand\n",
                  "escrow-20200101T000000Z.snap.bak": b"renamed by hand\n",
                  "escrow-2020-01-01.snap": b"another naming\n"}
        for name, data in others.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        os.mkdir(os.path.join(d, "escrow-20000101T000000Z.snap"))   # a dir, not a backup
        before = {k: v for k, v in listing(d).items()}
        # The node list as the unit's EnvironmentFile gives it: a dead node
        # first, so the backup fails over to the next.
        env = {"ESCROW_NODES": ",".join(t.dead_urls(1) + [c.url(i) for i in c.ids()])}

        first = backup_ok(t, d, env, keep=2)
        check(first["kept"] == [os.path.basename(first["file"])] and first["removed"] == [],
              "first backup: kept %s removed %s" % (first["kept"], first["removed"]))
        # An old backup (a copy under an older date) is the first to go.
        old = "escrow-20010101T000000Z.snap"
        shutil.copyfile(first["file"], os.path.join(d, old))
        escrow_some(t, c, 3)
        second = backup_ok(t, d, env, keep=2)
        check(second["index"] > first["index"], "second backup at index %d, first at %d"
              % (second["index"], first["index"]))
        check(second["removed"] == [old], "second backup removed %s, wanted [%s]"
              % (second["removed"], old))
        third = backup_ok(t, d, env, keep=2)
        names = [os.path.basename(x["file"]) for x in (first, second, third)]
        check(backups(d) == names[1:], "after three backups with --keep 2: %s, wanted %s"
              % (backups(d), names[1:]))
        check(third["removed"] == names[:1], "third backup removed %s" % third["removed"])

        # ESCROW_BACKUP_KEEP is the default for --keep; text output.
        next_second()
        env1 = dict(env, ESCROW_BACKUP_KEEP="1")
        rc, so, se = ctl(["snapshot", "backup", d], env1)
        check(rc == 0, "backup with ESCROW_BACKUP_KEEP=1: exit %s: %s" % (rc, short(so + se)))
        check(re.search(r"^backup saved to %s/escrow-\d{8}T\d{6}Z\.snap: index \d+, .*verified$"
                        % re.escape(d), so, re.M), "text output: %s" % short(so, 500))
        check(re.search(r"^backups in %s: 1 kept \(--keep 1\), 2 removed: " % re.escape(d), so,
                        re.M), "text output: %s" % short(so, 500))
        check(len(backups(d)) == 1, "ESCROW_BACKUP_KEEP=1 left %s" % backups(d))
        # --keep wins over the environment.
        third_keep = backup_ok(t, d, env1, keep=3)
        check(len(backups(d)) == 2 and third_keep["removed"] == [],
              "--keep 3 over ESCROW_BACKUP_KEEP=1: %s" % backups(d))

        after = listing(d)
        for name, v in before.items():
            check(after.get(name) == v, "%s changed or vanished: %s -> %s"
                  % (name, v, after.get(name)))
        t.diag("DIR after the run: %s" % sorted(after))
    finally:
        shutil.rmtree(d, ignore_errors=True)


class DamagedSnapshot(http.server.BaseHTTPRequestHandler):
    """Serves GET /v1/snapshot: a snapshot whose header and checksums are
    right but whose payload is no database."""
    body = b""
    index = 0

    def do_GET(self):
        if self.path != "/v1/snapshot":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("X-Escrow-Node", "9")
        self.send_header("X-Escrow-Snapshot-Index", str(self.index))
        payload = self.body[harness.SNAP_HEADER_SIZE:]
        self.send_header("X-Escrow-Snapshot-Sha256", hashlib.sha256(payload).hexdigest())
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_backup_refusals_leave_dir_alone(t):
    c = t.cluster(3)
    escrow_some(t, c)
    d = tmpdir(t, "refused")
    try:
        env = {"ESCROW_NODES": ",".join(c.url(i) for i in c.ids())}
        good = backup_ok(t, d, env, keep=5)
        with open(os.path.join(d, "notes.txt"), "w") as f:
            f.write("not a backup\n")
        before = listing(d)

        def refused(what, args, env_, want_rc, want_msg, user=None):
            next_second()
            rc, so, se = ctl(args, env_, user=user)
            check(rc == want_rc, "%s: exit %s, wanted %d: %s" % (what, rc, want_rc,
                                                                short(so + se, 600)))
            check(re.search(want_msg, se), "%s: stderr %r lacks %r" % (what, short(se, 600),
                                                                     want_msg))
            check(listing(d) == before, "%s changed %s: %s" % (what, d, sorted(listing(d))))
            t.diag("%s: exit %d: %s" % (what, rc, " / ".join(
                ln for ln in se.strip().splitlines() if not ln.startswith("backup: "))))

        nowhere = {"ESCROW_NODES": ",".join(t.dead_urls(2))}
        refused("no node reached", ["snapshot", "backup", d], nowhere, 3,
                r"no backup was made in")
        refused("DIR missing", ["snapshot", "backup", os.path.join(d, "nope")], env, 1,
                r"nope: No such file or directory")
        refused("DIR a file", ["snapshot", "backup", os.path.join(d, "notes.txt")], env, 1,
                r"is not a directory")
        refused("--keep 0", ["snapshot", "backup", d, "--keep", "0"], env, 2,
                r"--keep: '0' is not a whole number from 1")
        refused("bad ESCROW_BACKUP_KEEP", ["snapshot", "backup", d],
                dict(env, ESCROW_BACKUP_KEEP="fourteen"), 2, r"ESCROW_BACKUP_KEEP: 'fourteen'")
        refused("--keep with save", ["snapshot", "save", os.path.join(d, "x"), "--keep", "2"],
                env, 2, r"--keep is for backup only")
        refused("no DIR", ["snapshot", "backup"], env, 2, r"backup needs a DIR")

        # An unwritable DIR: as an unprivileged user (root writes anywhere).
        if os.getuid() == 0 and shutil.which("setpriv"):
            os.chmod(d, 0o755)
            refused("DIR not writable", ["snapshot", "backup", d], env, 1,
                    r"cannot write into .*Permission denied", user=65534)
        elif os.getuid() != 0:
            os.chmod(d, 0o555)
            try:
                refused("DIR not writable", ["snapshot", "backup", d], env, 1,
                        r"cannot write into .*Permission denied")
            finally:
                os.chmod(d, 0o755)
        else:
            t.diag("DIR not writable: not tried (root without setpriv)")

        # A node serving a snapshot that fails verification: the file is
        # removed, not kept as a backup, and old backups stay.
        with open(good["file"], "rb") as f:
            data = f.read()
        h = harness.snapshot_header(data)
        payload = b"this is not an SQLite database" + data[harness.SNAP_HEADER_SIZE + 30:]
        DamagedSnapshot.body = harness.forge_snapshot(payload, h)
        DamagedSnapshot.index = h["index"]
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DamagedSnapshot)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            refused("damaged snapshot", ["snapshot", "backup", d, "--keep", "1"],
                    {"ESCROW_NODES": "http://127.0.0.1:%d" % srv.server_address[1]}, 1,
                    r"refused")
        finally:
            srv.shutdown()
            srv.server_close()
            th.join(10)
    finally:
        os.chmod(d, 0o755)
        shutil.rmtree(d, ignore_errors=True)


def test_backup_over_tls_with_operator_certificate(t):
    c = t.cluster(3, tls=True)
    escrow_some(t, c)
    d = tmpdir(t, "tls")
    try:
        pki = c.pki
        # What /etc/escrow/backup.env holds on a TLS cluster.
        env = {"ESCROW_NODES": ",".join(c.url(i) for i in c.ids()),
               "ESCROW_CA": os.path.join(pki, "ca.crt"),
               "ESCROW_CERT": os.path.join(pki, "operator.crt"),
               "ESCROW_KEY": os.path.join(pki, "operator.key"),
               "ESCROW_BACKUP_KEEP": "2"}
        infos = [backup_ok(t, d, env) for _ in range(3)]
        check(backups(d) == [os.path.basename(i["file"]) for i in infos[1:]],
              "TLS: ESCROW_BACKUP_KEEP=2 left %s" % backups(d))
        st = c.status(c.leader())
        check(infos[-1]["cluster_id"] == st.get("cluster_id", infos[-1]["cluster_id"]),
              "backup of cluster %s, status says %s" % (infos[-1]["cluster_id"],
                                                        st.get("cluster_id")))
        # Without a client certificate the node refuses; nothing is written.
        before = listing(d)
        next_second()
        rc, so, se = ctl(["snapshot", "backup", d],
                         {k: v for k, v in env.items() if k not in ("ESCROW_CERT", "ESCROW_KEY")})
        check(rc != 0, "backup without a certificate succeeded: %s" % short(so))
        check(listing(d) == before, "a refused backup changed %s" % d)
        t.diag("without a certificate: exit %d: %s" % (rc, short(se.strip(), 200)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


TESTS = [
    test_backups_rotate_and_leave_other_files,
    test_backup_refusals_leave_dir_alone,
    test_backup_over_tls_with_operator_certificate,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
