#!/usr/bin/env python3
"""Process tests of issue 14: installing escrow.

(a) `make install DESTDIR=... prefix=/usr sysconfdir=/etc localstatedir=/var`
from this build dir: the files land where they should with their modes, the
systemd units carry the substituted paths, the installed escrowd and
escrowctl run; other prefixes are honoured and `make uninstall` takes the
files back. (b) `systemd-analyze verify` accepts the installed units and
refuses deliberately broken copies. (c) The Debian package: the tracked tree
(`git ls-files`) copied to a temporary dir, `dpkg-buildpackage -us -uc -b`,
and the .deb's contents, control files and maintainer scripts checked; its
units verified too. Skipped (TAP SKIP with the reason) in a sanitizer build,
or without git, debhelper or systemd-analyze.

Output is TAP. Arguments: words; only the tests whose name contains one of
them run. Environment: ESCROWD, ESCROW_BUILDDIR, ESCROW_SRCDIR,
ESCROW_SANITIZE (set by make check), TEST_TIMEOUT, TEST_TMPDIR.
"""

import glob
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("ESCROW_SRCDIR") or os.path.join(HERE, "..")
BUILDDIR = os.environ.get("ESCROW_BUILDDIR") or os.path.dirname(os.path.dirname(
    os.path.abspath(harness.ESCROWD)))
UNITS = ("escrowd.service", "escrow-backup.service", "escrow-backup.timer")
PACKAGE_TIMEOUT = 3600   # seconds for the package build, a whole compile


def run(cmd, timeout, cwd=None, env=None):
    """Runs cmd without the make check's jobserver in its environment.
    Returns (rc, stdout + stderr)."""
    e = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        e.pop(k, None)
    e.update(env or {})
    try:
        p = subprocess.run(cmd, cwd=cwd, env=e, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired as ex:
        return None, (ex.output or b"").decode("utf-8", "replace")
    return p.returncode, p.stdout.decode("utf-8", "replace")


def tmpdir(name):
    return tempfile.mkdtemp(prefix="escrow-install-%s-" % name,
                            dir=os.environ.get("TEST_TMPDIR"))


def makefile_var(name):
    """A variable of the build dir's Makefile, as configure wrote it."""
    with open(os.path.join(BUILDDIR, "Makefile")) as f:
        for line in f:
            m = re.match(r"^%s\s*=\s*(.*?)\s*$" % re.escape(name), line)
            if m:
                return m.group(1)
    return None


def unit_dir(prefix):
    """Where make install puts the units, for this prefix; None when
    configured --without-systemdsystemunitdir."""
    d = makefile_var("systemdsystemunitdir")
    check(d is not None, "no systemdsystemunitdir in %s/Makefile" % BUILDDIR)
    if d == "no":
        return None
    return d.replace("${prefix}", prefix).replace("$(prefix)", prefix)


def make_install(dest, prefix="/usr", sysconfdir="/etc", localstatedir="/var",
                 target="install"):
    rc, out = run(["make", "-C", BUILDDIR, target, "DESTDIR=" + dest, "prefix=" + prefix,
                   "sysconfdir=" + sysconfdir, "localstatedir=" + localstatedir], 600)
    check(rc == 0, "make %s DESTDIR=%s: exit %s: %s" % (target, dest, rc, out[-1500:]))


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def expect_file(path, mode, what):
    check(os.path.isfile(path) and not os.path.islink(path), "%s: %s missing" % (what, path))
    check(mode_of(path) == mode, "%s: %s has mode %o, wanted %o"
          % (what, path, mode_of(path), mode))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def expect_lines(text, lines, what):
    have = set(text.splitlines())
    missing = [x for x in lines if x not in have]
    check(not missing, "%s lacks %s" % (what, missing))


def check_units(d, sbin, bindir, sysconf, state, what):
    """The three units in d, with the paths of the install substituted."""
    for u in UNITS:
        expect_file(os.path.join(d, u), 0o644, what)
        left = re.findall(r"@[a-z_]+@", read(os.path.join(d, u)))
        check(not left, "%s: %s keeps unsubstituted %s" % (what, u, left))
    svc = read(os.path.join(d, "escrowd.service"))
    expect_lines(svc, [
        "Type=simple", "User=escrow",
        "ExecStart=%s/escrowd --config %s/escrow/escrowd.conf" % (sbin, sysconf),
        "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "KillSignal=SIGTERM",
        "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
        "ReadWritePaths=%s/lib/escrow" % state, "CapabilityBoundingSet=",
        "WantedBy=multi-user.target"], "%s escrowd.service" % what)
    check(re.search(r"^TimeoutStopSec=\d+s$", svc, re.M), "escrowd.service: no TimeoutStopSec")
    check(not re.search(r"^(AmbientCapabilities|CapabilityBoundingSet)=\S", svc, re.M),
          "escrowd.service grants a capability")
    bak = read(os.path.join(d, "escrow-backup.service"))
    expect_lines(bak, [
        "Type=oneshot", "User=escrow",
        "EnvironmentFile=%s/escrow/backup.env" % sysconf,
        "ExecStart=%s/escrowctl snapshot backup %s/backups/escrow" % (bindir, state),
        "ReadWritePaths=%s/backups/escrow" % state, "NoNewPrivileges=yes",
        "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet="],
        "%s escrow-backup.service" % what)
    check("StateDirectory" not in bak, "escrow-backup.service uses StateDirectory")
    expect_lines(read(os.path.join(d, "escrow-backup.timer")), [
        "OnCalendar=daily", "Persistent=true", "RandomizedDelaySec=30min",
        "WantedBy=timers.target"], "%s escrow-backup.timer" % what)


# ---------------------------------------------------------------- (a)

def test_make_install_destdir(t):
    dest = tmpdir("destdir")
    try:
        make_install(dest)
        expect_file(os.path.join(dest, "usr/sbin/escrowd"), 0o755, "make install")
        expect_file(os.path.join(dest, "usr/bin/escrowctl"), 0o755, "make install")
        check(not os.path.exists(os.path.join(dest, "usr/bin/escrowd")),
              "escrowd installed into bin too")
        conf = os.path.join(dest, "etc/escrow")
        check(os.path.isdir(conf) and mode_of(conf) == 0o750, "%s: mode %o, wanted 750"
              % (conf, mode_of(conf) if os.path.exists(conf) else 0))
        for name in ("escrowd.conf.example", "backup.env.example"):
            expect_file(os.path.join(conf, name), 0o644, "make install")
            check(read(os.path.join(conf, name)) == read(os.path.join(SRCDIR, "etc", name)),
                  "%s differs from etc/%s" % (name, name))
        check(not os.path.exists(os.path.join(conf, "escrowd.conf")),
              "make install wrote escrowd.conf itself (an operator's file)")
        units = unit_dir("/usr")
        if units is None:
            t.diag("configured --without-systemdsystemunitdir: no units to check")
        else:
            check_units(dest + units, "/usr/sbin", "/usr/bin", "/etc", "/var", "make install")
            t.diag("units in %s" % units)

        # The installed programs run from there.
        rc, out = run([os.path.join(dest, "usr/sbin/escrowd"), "--help"], 30)
        check(rc == 0 and "Usage: escrowd" in out and "--config FILE" in out,
              "installed escrowd --help: exit %s: %s" % (rc, short(out)))
        rc, out = run([os.path.join(dest, "usr/bin/escrowctl"), "snapshot", "--help"], 30)
        check(rc == 0 and "backup DIR" in out and "--keep N" in out,
              "installed escrowctl snapshot --help: exit %s: %s" % (rc, short(out)))
        files = sorted(os.path.relpath(os.path.join(r, f), dest)
                       for r, _, fs in os.walk(dest) for f in fs)
        t.diag("installed: %s" % ", ".join(files))

        # Another layout is honoured too, and make uninstall takes it back.
        other = tmpdir("opt")
        try:
            make_install(other, "/opt/escrow", "/opt/escrow/etc", "/srv")
            expect_file(os.path.join(other, "opt/escrow/sbin/escrowd"), 0o755, "prefix=/opt")
            if units is not None:
                check_units(other + unit_dir("/opt/escrow"), "/opt/escrow/sbin",
                            "/opt/escrow/bin", "/opt/escrow/etc", "/srv", "prefix=/opt")
            make_install(other, "/opt/escrow", "/opt/escrow/etc", "/srv", target="uninstall")
            left = sorted(os.path.relpath(os.path.join(r, f), other)
                          for r, _, fs in os.walk(other) for f in fs)
            check(not left, "make uninstall left %s" % left)
        finally:
            shutil.rmtree(other, ignore_errors=True)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


# ---------------------------------------------------------------- (b)

def host_unit_dir():
    for d in ("/lib/systemd/system", "/usr/lib/systemd/system"):
        if glob.glob(os.path.join(d, "*.target")):
            return d
    return None


def verify_root(root, units_rel):
    """Makes root usable by `systemd-analyze verify --root`: the host's
    targets (the units' default dependencies) and /bin/kill (escrowd's
    ExecReload) copied in, as a real system has them."""
    host = host_unit_dir()
    if shutil.which("systemd-analyze") is None or host is None:
        raise harness.Skip("systemd-analyze or the systemd units are not installed (apt-get "
                   "install systemd)")
    d = os.path.join(root, units_rel.lstrip("/"))
    for target in glob.glob(os.path.join(host, "*.target")):
        if not os.path.exists(os.path.join(d, os.path.basename(target))):
            shutil.copy(target, d)
    kill = os.path.realpath(shutil.which("kill") or "/bin/kill")
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    if not os.path.exists(os.path.join(root, "bin/kill")):
        shutil.copy(kill, os.path.join(root, "bin/kill"))


def analyze(root, units_rel, names):
    """systemd-analyze verify of names (in units_rel under root). Returns
    (accepted, output): accepted only with exit 0 and not a word of
    warning (systemd ignores unknown or unparsable settings with a warning
    and exit 0)."""
    rc, out = run(["systemd-analyze", "verify", "--man=no", "--root=" + root] +
                  [os.path.join(units_rel, n) for n in names], 120,
                  env={"SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""})
    return rc == 0 and not out.strip(), "exit %s: %s" % (rc, out.strip())


def broken_copies(root, units_rel):
    """Deliberately broken copies of the units: (name, why)."""
    d = os.path.join(root, units_rel.lstrip("/"))
    breakages = [
        ("escrowd.service", "broken-exec.service", "ExecStart=/usr/sbin/escrowd ",
         "ExecStart=/usr/sbin/escrowd-missing ", "a missing ExecStart binary"),
        ("escrowd.service", "broken-key.service", "ProtectSystem=strict",
         "ProtectSytem=strict", "a misspelt setting"),
        ("escrow-backup.service", "broken-type.service", "Type=oneshot", "Type=once",
         "a bad service type"),
        ("escrow-backup.timer", "broken-calendar.timer", "OnCalendar=daily",
         "OnCalendar=nightly", "a bad calendar"),
    ]
    out = []
    for src, name, old, new, why in breakages:
        text = read(os.path.join(d, src))
        check(old in text, "%s has no %r to break" % (src, old))
        with open(os.path.join(d, name), "w") as f:
            f.write(text.replace(old, new))
        out.append((name, why))
    return out


def verify_installed_units(t, root, units_rel, what):
    verify_root(root, units_rel)
    ok, out = analyze(root, units_rel, UNITS)
    check(ok, "%s: systemd-analyze verify refused the units: %s" % (what, short(out, 1500)))
    for name, why in broken_copies(root, units_rel):
        ok, out = analyze(root, units_rel, [name])
        check(not ok, "%s: systemd-analyze verify accepted %s (%s)" % (what, name, why))
        t.diag("%s (%s) refused: %s" % (name, why, short(out.splitlines()[-1] if out else
                                                         out, 160)))


def test_units_pass_systemd_analyze_verify(t):
    units = unit_dir("/usr")
    if units is None:
        raise harness.Skip("configured --without-systemdsystemunitdir")
    if shutil.which("systemd-analyze") is None:
        raise harness.Skip("systemd-analyze not installed (apt-get install systemd)")
    dest = tmpdir("verify")
    try:
        make_install(dest)
        verify_installed_units(t, dest, units, "make install")
        t.diag(run(["systemd-analyze", "--version"], 30)[1].splitlines()[0])
    finally:
        shutil.rmtree(dest, ignore_errors=True)


# ---------------------------------------------------------------- (c)

def deb_listing(deb):
    """{path: (mode string, owner)} of dpkg-deb -c, paths without ./ and
    directories ending with /."""
    rc, out = run(["dpkg-deb", "-c", deb], 60)
    check(rc == 0, "dpkg-deb -c: %s" % short(out))
    res = {}
    for line in out.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6:
            path = parts[5].split(" -> ")[0]
            res[path[2:] if path.startswith("./") else path] = (parts[0], parts[1])
    return res


def copy_tracked_tree(dest):
    """Copies the files git tracks in SRCDIR into dest; Skip without git."""
    if shutil.which("git") is None:
        raise harness.Skip("git not installed: the package is built from the tracked files")
    rc, out = run(["git", "-C", SRCDIR, "ls-files", "-z"], 60)
    if rc != 0:
        raise harness.Skip("%s is not a git checkout: %s" % (SRCDIR, short(out, 120)))
    n = 0
    for rel in out.split("\0"):
        src = os.path.join(SRCDIR, rel)
        if not rel or not os.path.lexists(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), os.path.join(dest, rel))
        else:
            shutil.copy2(src, os.path.join(dest, rel))
        n += 1
    return n


def test_debian_package(t):
    if os.environ.get("ESCROW_SANITIZE") == "yes":
        raise harness.Skip("sanitizer build: the package is built and checked in the plain build")
    for tool in ("dpkg-buildpackage", "dh", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise harness.Skip("%s not installed (apt-get install debhelper dpkg-dev)" % tool)
    m = re.match(r"^(\S+) \(([^)]+)\)", read(os.path.join(SRCDIR, "debian/changelog")))
    check(m, "debian/changelog: no 'name (version)' first line")
    name, version = m.group(1), m.group(2)
    work = tmpdir("deb")
    ok = False
    try:
        tree = os.path.join(work, "%s-%s" % (name, version))
        n = copy_tracked_tree(tree)
        t.diag("copied %d tracked files to %s" % (n, tree))
        t0 = time.monotonic()
        rc, out = run(["dpkg-buildpackage", "-us", "-uc", "-b"], PACKAGE_TIMEOUT, cwd=tree,
                      env={"DEB_BUILD_OPTIONS": "nocheck parallel=2"})
        secs = time.monotonic() - t0
        check(rc == 0, "dpkg-buildpackage -us -uc -b: exit %s after %.0f s:\n%s"
              % (rc, secs, out[-3000:]))
        t.diag("dpkg-buildpackage -us -uc -b took %.0f s" % secs)
        debs = glob.glob(os.path.join(work, "%s_%s_*.deb" % (name, version)))
        check(len(debs) == 1, "wanted one %s_%s_*.deb in %s: %s"
              % (name, version, work, os.listdir(work)))
        deb = debs[0]

        files = deb_listing(deb)
        want = {
            "usr/sbin/escrowd": "-rwxr-xr-x", "usr/bin/escrowctl": "-rwxr-xr-x",
            "etc/escrow/": "drwxr-x---", "etc/escrow/escrowd.conf": "-rw-r--r--",
            "etc/escrow/backup.env": "-rw-r--r--",
            "etc/escrow/escrowd.conf.example": "-rw-r--r--",
            "etc/escrow/backup.env.example": "-rw-r--r--",
            "lib/systemd/system/escrowd.service": "-rw-r--r--",
            "lib/systemd/system/escrow-backup.service": "-rw-r--r--",
            "lib/systemd/system/escrow-backup.timer": "-rw-r--r--",
            "var/lib/escrow/": "drwxr-xr-x", "var/backups/escrow/": "drwxr-xr-x",
        }
        if os.path.exists(os.path.join(SRCDIR, "man/escrowd.8")):
            want["usr/share/man/man8/escrowd.8.gz"] = "-rw-r--r--"
        if os.path.exists(os.path.join(SRCDIR, "man/escrowctl.1")):
            want["usr/share/man/man1/escrowctl.1.gz"] = "-rw-r--r--"
        for path, mode in want.items():
            check(path in files, "the package lacks /%s" % path)
            check(files[path][0] == mode, "/%s has %s, wanted %s" % (path, files[path][0], mode))
            check(files[path][1] == "root/root", "/%s owned by %s" % (path, files[path][1]))
        check("usr/bin/escrowd" not in files, "the package has /usr/bin/escrowd")
        t.diag("dpkg-deb -c (files):")
        for path in sorted(files):
            if path and not path.endswith("/"):
                t.diag("  %s /%s" % (files[path][0], path))

        rc, info = run(["dpkg-deb", "-I", deb], 60)
        check(rc == 0, "dpkg-deb -I: %s" % short(info))
        check(re.search(r"^ Package: escrow$", info, re.M), "dpkg-deb -I: %s" % short(info))
        check(re.search(r"^ Depends: .*\badduser\b", info, re.M),
              "the package does not depend on adduser: %s" % short(info, 800))
        ctrl = os.path.join(work, "control")
        rc, out = run(["dpkg-deb", "-e", deb, ctrl], 60)
        check(rc == 0, "dpkg-deb -e: %s" % short(out))
        conffiles = read(os.path.join(ctrl, "conffiles")).split()
        for cf in ("/etc/escrow/escrowd.conf", "/etc/escrow/backup.env"):
            check(cf in conffiles, "%s is not a conffile: %s" % (cf, conffiles))
        post = read(os.path.join(ctrl, "postinst"))
        rc, out = run(["sh", "-n", os.path.join(ctrl, "postinst")], 30)
        check(rc == 0, "postinst: %s" % out)
        check(re.search(r"adduser --system .*--home /var/lib/escrow", post)
              and re.search(r"--group\b", post) and re.search(r"\bescrow$", post, re.M),
              "postinst does not create the escrow system user")
        for d, owner, mode in (("/etc/escrow", "root escrow", "0750"),
                               ("/var/lib/escrow", "escrow escrow", "0750"),
                               ("/var/backups/escrow", "escrow escrow", "0750")):
            check("set_dir %s %s %s" % (d, owner, mode) in post,
                  "postinst does not set %s to %s %s" % (d, owner, mode))
        # Installed, but nothing enabled or started before it is configured:
        # debhelper re-enables only what the operator had enabled
        # (was-enabled), and starts nothing.
        enables = len(re.findall(r"deb-systemd-helper enable", post))
        check(enables == len(re.findall(r"deb-systemd-helper --quiet was-enabled", post)),
              "postinst enables a unit the operator did not enable:\n%s" % post)
        for bad in (r"deb-systemd-invoke", r"systemctl .*(start|enable)"):
            check(not re.search(bad, post), "postinst starts a unit (%s):\n%s" % (bad, post))
        postrm = read(os.path.join(ctrl, "postrm"))
        check(re.search(r'"\$1" = purge', postrm) and "rm -rf /var/lib/escrow" in postrm,
              "postrm does not clean up on purge")

        # The package's units pass systemd-analyze too.
        if shutil.which("systemd-analyze") and host_unit_dir():
            root = os.path.join(work, "root")
            rc, out = run(["dpkg-deb", "-x", deb, root], 60)
            check(rc == 0, "dpkg-deb -x: %s" % short(out))
            verify_installed_units(t, root, "/lib/systemd/system", "the package")
        else:
            t.diag("the package's units not verified: no systemd-analyze")
        ok = True
    finally:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            t.diag("kept %s" % work)


TESTS = [
    test_make_install_destdir,
    test_units_pass_systemd_analyze_verify,
    test_debian_package,
]


test_debian_package.timeout = PACKAGE_TIMEOUT + 120


def main(argv):
    harness.out("# escrow build %s, source %s" % (BUILDDIR, SRCDIR))
    return harness.run_tests(TESTS, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
