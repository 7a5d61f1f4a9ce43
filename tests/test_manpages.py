#!/usr/bin/env python3
"""The man pages and the operator documents against the programs.

- Every --long-option that `escrowd --help` names is in man/escrowd.8; every
  command and option of `escrowctl --help`, of `escrowctl COMMAND --help`
  and of `escrowctl COMMAND SUB --help` (commands and subcommands found by
  reading the help, not from a list) is in man/escrowctl.1.
- Both pages render with groff without a warning, at several widths.
- Every --option docs/operations.md shows is one the programs take, and
  every key of its escrowd.conf examples is an escrowd option.
- docs/prometheus/escrow-alerts.yml is YAML of Prometheus rule groups, and
  every metric its expressions use is one a real node's /metrics serves (or
  one of the few exporters' metrics named below); with promtool on PATH,
  `promtool check rules` accepts the file.

Output is TAP. Environment: ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, short  # noqa: E402

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MAN_ESCROWD = os.path.join(TOP, "man", "escrowd.8")
MAN_ESCROWCTL = os.path.join(TOP, "man", "escrowctl.1")
ALERTS = os.path.join(TOP, "docs", "prometheus", "escrow-alerts.yml")
OPERATIONS = os.path.join(TOP, "docs", "operations.md")
# Scripts the guide runs too: their --help names their options.
GUIDE_SCRIPTS = [os.path.join(TOP, "tools", "scripts", "drill_figures.py")]

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
# A command or subcommand line of a help text: two spaces, a lower-case word.
SUBCOMMAND = re.compile(r"^  ([a-z][a-z0-9-]*)(?:\s|$)")

# What the rules read from Prometheus itself and from node_exporter (the
# filesystem and systemd collectors), not from escrowd.
EXTERNAL_METRICS = {
    "up",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_systemd_unit_state",
    "node_systemd_timer_last_trigger_seconds",
}
# Options of other programs that docs/operations.md shows (systemctl,
# journalctl, configure, node_exporter).
FOREIGN_OPTIONS = {"--now", "--failed", "--vacuum-size", "--collector", "--prefix",
                   "--with-systemdsystemunitdir",
                   "--sysconfdir", "--localstatedir"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
                "ignoring", "group_left", "group_right", "inf", "nan"}


# ---------------------------------------------------------------- helpers

def run_help(prog, args):
    """prog args --help: must exit 0 and print something. Returns stdout."""
    rc, so, se, _ = harness.run_once([prog] + list(args) + ["--help"], timeout=20)
    check(rc == 0 and so.strip(), "%s %s --help: exit %s, stdout %s, stderr %s"
          % (os.path.basename(prog), " ".join(args), rc, short(so), short(se)))
    return so


def commands_of(top_help):
    """The command names listed under 'commands:' in escrowctl --help."""
    names, inside = [], False
    for line in top_help.splitlines():
        if line.strip() == "commands:":
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            m = SUBCOMMAND.match(line)
            if m:
                names.append(m.group(1))
    return names


def subcommands_of(cmd, text):
    """The subcommand words of a command's help: the lines of two spaces and
    a lower-case word (`  save FILE`, `  add ID RAFT API`), and the words the
    usage line offers after the command (`snapshot save FILE | verify ...`)."""
    subs = []
    for line in text.splitlines():
        m = SUBCOMMAND.match(line)
        if m and m.group(1) not in subs:
            subs.append(m.group(1))
    usage = text.splitlines()[0] if text else ""
    m = re.search(r"\]\s+%s\s+(.*)$" % re.escape(cmd), usage)
    if m:
        rest = m.group(1)
        while re.search(r"\[[^\[\]]*\]", rest):  # optional parts hold no subcommand
            rest = re.sub(r"\[[^\[\]]*\]", " ", rest)
        for alt in rest.split("|"):
            word = alt.strip().split(" ")[0] if alt.strip() else ""
            if re.fullmatch(r"[a-z][a-z0-9-]*", word) and word not in subs:
                subs.append(word)
    return subs


def groff_text(path, width=200):
    """The page rendered as plain text at a line length of width, every run of
    white space one blank, every kind of hyphen and minus an ASCII '-'."""
    check(shutil.which("groff") is not None,
          "groff is not installed (Debian: groff-base; tools/check.sh installs it)")
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=%dn" % width, path],
                          capture_output=True, timeout=60)
    check(proc.returncode == 0, "groff %s: exit %d %s" % (path, proc.returncode,
                                                         proc.stderr.decode(errors="replace")))
    text = proc.stdout.decode("utf-8", "replace")
    for ch in "\u2010\u2011\u2012\u2013\u2212":
        text = text.replace(ch, "-")
    return " ".join(text.split())


def has_option(text, opt):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), text) is not None


def has_words(text, words):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(words), text) is not None


# ---------------------------------------------------------------- tests

def test_escrowd_help_in_man_page(t):
    """Every --option of escrowd --help is in escrowd(8)."""
    text = groff_text(MAN_ESCROWD)
    opts = sorted(set(OPTION.findall(run_help(harness.ESCROWD, []))))
    check(len(opts) >= 15, "escrowd --help names only %d options: %s" % (len(opts), opts))
    missing = [o for o in opts if not has_option(text, o)]
    check(not missing, "escrowd --help names options man/escrowd.8 does not: %s" % missing)
    t.diag("%d options of escrowd --help, all in escrowd(8)" % len(opts))


def test_escrowctl_help_in_man_page(t):
    """Every command, subcommand and --option that escrowctl's help texts name
    is in escrowctl(1): the global help, each COMMAND --help, and each
    COMMAND SUB --help."""
    text = groff_text(MAN_ESCROWCTL)
    top = run_help(harness.ESCROWCTL, [])
    cmds = commands_of(top)
    check(len(cmds) >= 10, "escrowctl --help lists only %d commands: %s" % (len(cmds), cmds))
    missing = ["--help: %s" % o for o in sorted(set(OPTION.findall(top)))
               if not has_option(text, o)]
    checked = len(set(OPTION.findall(top)))
    for cmd in cmds:
        if not has_words(text, cmd):
            missing.append("command %s" % cmd)
        help_text = run_help(harness.ESCROWCTL, [cmd])
        opts = set(OPTION.findall(help_text))
        for sub in subcommands_of(cmd, help_text):
            if not has_words(text, "%s %s" % (cmd, sub)):
                missing.append("command '%s %s'" % (cmd, sub))
            opts |= set(OPTION.findall(run_help(harness.ESCROWCTL, [cmd, sub])))
        checked += len(opts)
        missing += ["%s: %s" % (cmd, o) for o in sorted(opts) if not has_option(text, o)]
    check(not missing, "escrowctl's help names what man/escrowctl.1 does not: %s" % missing)
    t.diag("%d commands, %d command options, all in escrowctl(1)" % (len(cmds), checked))


def test_man_pages_render_without_warnings(t):
    """groff -man -ww renders both pages without a warning, at the widths of a
    narrow and a wide terminal and at groff's default."""
    check(shutil.which("groff") is not None,
          "groff is not installed (Debian: groff-base; tools/check.sh installs it)")
    for page in (MAN_ESCROWD, MAN_ESCROWCTL):
        for width in (None, 60, 80, 120):
            cmd = ["groff", "-man", "-Tutf8", "-ww", "-z"]
            if width:
                cmd.append("-rLL=%dn" % width)
            proc = subprocess.run(cmd + [page], capture_output=True, timeout=60)
            err = proc.stderr.decode("utf-8", "replace").strip()
            check(proc.returncode == 0 and not err, "%s at width %s: exit %d, %s"
                  % (os.path.basename(page), width or "default", proc.returncode, err))


def all_help_options():
    """Every --option of escrowd --help and of every escrowctl help text."""
    opts = set(OPTION.findall(run_help(harness.ESCROWD, [])))
    top = run_help(harness.ESCROWCTL, [])
    opts |= set(OPTION.findall(top))
    for cmd in commands_of(top):
        text = run_help(harness.ESCROWCTL, [cmd])
        opts |= set(OPTION.findall(text))
    for script in GUIDE_SCRIPTS:
        opts |= set(OPTION.findall(run_help(sys.executable, [script])))
    return opts


def test_operations_guide_options_exist(t):
    """Every --option docs/operations.md shows is one escrowd, escrowctl or a
    script it runs (GUIDE_SCRIPTS) takes, and every 'name = value' of its escrowd.conf examples is an
    escrowd option: a renamed flag breaks the guide's commands."""
    with open(OPERATIONS, encoding="utf-8") as f:
        doc = f.read()
    known = all_help_options()
    used = set(OPTION.findall(doc))
    unknown = sorted(used - known - FOREIGN_OPTIONS)
    check(not unknown, "docs/operations.md names options no --help does: %s" % unknown)
    escrowd_opts = set(OPTION.findall(run_help(harness.ESCROWD, [])))
    keys = set()
    for block in re.findall(r"```ini\n(.*?)```", doc, re.S):
        for line in block.splitlines():
            m = re.match(r"\s*([a-z][a-z0-9-]*)\s*=", line)
            if m:
                keys.add(m.group(1))
    check(len(keys) >= 8, "docs/operations.md: only %d escrowd.conf keys found" % len(keys))
    bad = sorted(k for k in keys if "--" + k not in escrowd_opts)
    check(not bad, "docs/operations.md's escrowd.conf names keys escrowd does not take: %s"
          % bad)
    t.diag("%d options and %d config keys of the guide checked" % (len(used), len(keys)))


def promql_metrics(expr):
    """The metric names a PromQL expression reads: strings, label matchers,
    ranges and by()/on()-style clauses dropped, then every identifier not
    called as a function and not a keyword."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def served_metrics(c):
    """Every metric name node 1 of c serves at /metrics: the sample names and
    the names of the # TYPE lines (a histogram's _bucket, _sum, _count)."""
    st, _, body = c.request(1, "GET", "/metrics")
    check(st == 200, "GET /metrics: %s %s" % (st, short(body)))
    names = set()
    for line in str(body).splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                names.add(parts[2])
                if parts[3] in ("histogram", "summary"):
                    names |= {parts[2] + s for s in ("_bucket", "_sum", "_count")}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, 1)[0])
    return names


def yaml_missing():
    try:
        import yaml  # noqa: F401
    except ImportError:
        return "python3-yaml is not installed: the alert rules were not parsed"
    return None


def test_alert_rules_use_served_metrics(t):
    """The alert rules are Prometheus rule groups (alert, expr, for, labels
    with a severity, annotations with a summary), and every metric they read
    is served by a real node's /metrics, or comes from Prometheus or
    node_exporter (EXTERNAL_METRICS)."""
    reason = yaml_missing()
    if reason:
        raise harness.Skip(reason)
    import yaml
    with open(ALERTS, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    check(isinstance(doc, dict) and isinstance(doc.get("groups"), list) and doc["groups"],
          "%s: no 'groups' list" % ALERTS)
    used, alerts = {}, []
    for g in doc["groups"]:
        check(isinstance(g, dict) and g.get("name") and isinstance(g.get("rules"), list),
              "a group without name or rules: %s" % short(g))
        for r in g["rules"]:
            name = r.get("alert")
            check(isinstance(name, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name),
                  "a rule without a valid alert name: %s" % short(r))
            check(name not in alerts, "alert %s defined twice" % name)
            alerts.append(name)
            check(isinstance(r.get("expr"), str) and r["expr"].strip(),
                  "%s: no expr" % name)
            check(r["expr"].count("(") == r["expr"].count(")"),
                  "%s: unbalanced parentheses in %r" % (name, r["expr"]))
            check("for" not in r or re.fullmatch(r"\d+[smhd]", str(r["for"])),
                  "%s: bad 'for' %r" % (name, r.get("for")))
            check((r.get("labels") or {}).get("severity") in ("critical", "warning", "info"),
                  "%s: labels.severity must be critical, warning or info" % name)
            ann = r.get("annotations") or {}
            check(ann.get("summary") and ann.get("description"),
                  "%s: annotations need a summary and a description" % name)
            for m in promql_metrics(r["expr"]):
                used.setdefault(m, []).append(name)
    check(len(alerts) >= 9, "only %d alerts: %s" % (len(alerts), alerts))
    promtool = shutil.which("promtool")
    if promtool:
        proc = subprocess.run([promtool, "check", "rules", ALERTS], capture_output=True,
                              timeout=60)
        check(proc.returncode == 0, "promtool check rules: %s%s"
              % (proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")))
    else:
        t.diag("promtool not on PATH: the PromQL was not parsed by Prometheus")

    c = t.cluster(n=1)
    # A few requests, so that the per-route and per-code series exist.
    for _ in range(3):
        c.request(1, "GET", "/v1/status")
    served = served_metrics(c)
    unknown = {}
    for m, who in sorted(used.items()):
        if m in EXTERNAL_METRICS or m in served:
            continue
        unknown[m] = who
    check(not unknown, "metrics the rules use that the node does not serve: %s "
          "(served: %s)" % (unknown, sorted(served)))
    t.diag("%d alerts, %d metrics checked" % (len(alerts), len(used)))



TESTS = [
    test_escrowd_help_in_man_page,
    test_escrowctl_help_in_man_page,
    test_man_pages_render_without_warnings,
    test_operations_guide_options_exist,
    test_alert_rules_use_served_metrics,
]


def main(argv):
    return harness.run_tests(TESTS, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
