#!/usr/bin/env python3
"""Process tests of the compliance service (docs/api.md section 3): reports
judged on a TLS cluster and uploaded through a follower, rotation and
retired keys, the policy, exemptions, the paged compliance report (JSON,
CSV, escrowctl), the machine search by name prefix, roles, bad bodies, a leader killed during uploads, a
snapshot restored into a fresh cluster, and escrowctl bench --op compliance. Output is TAP. Environment:
ESCROWD, ESCROWCTL, TEST_SEED, TEST_TIMEOUT.
"""

import json
import os
import shutil
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_error  # noqa: E402
from test_snapshot import need_ctl, restore_snapshot, save_snapshot  # noqa: E402

CSV_HEADER = "machine,status,reasons,stale,reported_at,user"


def volume(vtype="os", key_ids=(), protection="on", conversion="fully_encrypted"):
    return {"volume_id": "vol-%s" % vtype, "volume_type": vtype, "protection": protection,
            "conversion": conversion, "encryption_method": "xts_aes_256",
            "percent_encrypted": 100, "protectors": ["tpm", "recovery_password"],
            "key_ids": list(key_ids)}


def report(machine, key_ids=(), extra=(), os_name=None):
    r = {"machine": machine, "user": "CORP\\alice", "volumes": [volume("os", key_ids)] +
         list(extra)}
    if os_name is not None:
        r["os"] = os_name
    return r


def mpath(machine, suffix=""):
    return "/v1/machines/%s%s" % (urllib.parse.quote(machine, safe=""), suffix)


def ctl(c, role, nid, args, as_json=False):
    """escrowctl as the certificate role against node nid: (rc, stdout, stderr)."""
    rc, so, se, _ = harness.escrowctl(c.ctl_tls_args(role) + list(args), [c.url(nid)],
                                      as_json=as_json, timeout=120)
    return rc, so, se


def ctl_ok(c, role, nid, args, as_json=False):
    rc, so, se = ctl(c, role, nid, args, as_json)
    check(rc == 0, "escrowctl %s: exit %s %s" % (" ".join(args), rc, short(se)))
    return so


def upload(c, nid, rep, role="agent"):
    """escrowctl --json compliance via node nid; the verdict."""
    path = os.path.join(c.dir, "report.json")
    with open(path, "w") as f:
        json.dump(rep, f)
    return json.loads(ctl_ok(c, role, nid, ["compliance", path], as_json=True))


def machine(c, nid, name, role="helpdesk"):
    st, _, data = c.request(nid, "GET", mpath(name), as_=role)
    check(st == 200, "GET %s: %s %s" % (mpath(name), st, short(data)))
    return data


def audit_actions(c, nid):
    st, _, data = c.request(nid, "GET", "/v1/reports/audit?limit=10000", as_="auditor")
    check(st == 200, "audit report: %s %s" % (st, short(data)))
    return [(e["action"], e["machine"], e["outcome"]) for e in data["entries"]]


def digest(c, nid):
    st = c.status(nid)
    check(st is not None, "no status from node %d" % nid)
    return st["state_digest"], st["applied_index"]


def test_verdicts_rotation_policy_exemption(t):
    """Through a follower: not escrowed, then compliant; a lookup asks for
    rotation; a key no longer listed is retired and still found; a policy
    change judges again and is audited; an exemption is shown and audited."""
    need_ctl()
    c = t.cluster(3, tls=True)
    leader = c.leader()
    fol = [i for i in c.ids() if i != leader][0]
    rec = random_key(t.rng)
    m = rec["machine"].lower()
    v = upload(c, fol, report(m, [rec["key_id"]]))
    check(v["status"] == "noncompliant" and v["reasons"] == ["recovery_key_not_escrowed"]
          and v["rotate_key_ids"] == [] and v["machine"] == m and v["index"] > 0,
          "first upload: %s" % v)
    st, _, data = c.request(fol, "POST", "/v1/keys", rec, as_="agent")
    check(st == 201, "escrow: %s %s" % (st, short(data)))
    got = machine(c, fol, m)
    check(got["status"] == "compliant" and got["reasons"] == [] and got["stale"] is False,
          "after the escrow: %s" % short(got, 600))
    check([k["key_id"] for k in got["keys"]] == [rec["key_id"]]
          and got["keys"][0]["retired_at"] is None and "recovery_password" not in got["keys"][0],
          "keys of the machine: %s" % got["keys"])
    check([h["status"] for h in got["history"]] == ["compliant", "noncompliant"],
          "history: %s" % got["history"])
    check(got["volumes"] == report(m, [rec["key_id"]])["volumes"],
          "volumes: %s" % got["volumes"])

    st, _, data = c.request(fol, "GET", harness.lookup_path(rec["key_id"]), as_="helpdesk")
    check(st == 200, "lookup: %s %s" % (st, short(data)))
    v = upload(c, fol, report(m, [rec["key_id"]]))
    check(v["status"] == "noncompliant" and v["reasons"] == ["rotation_pending"]
          and v["rotate_key_ids"] == [rec["key_id"]], "upload after a lookup: %s" % v)

    new = random_key(t.rng, machine=rec["machine"])
    st, _, _ = c.request(fol, "POST", "/v1/keys", new, as_="agent")
    check(st == 201, "escrow of the new key: %s" % st)
    v = upload(c, fol, report(m, [new["key_id"]]))
    check(v["status"] == "compliant" and v["rotate_key_ids"] == [], "after rotation: %s" % v)
    st, _, data = c.request(fol, "GET", mpath(m, "/keys"), as_="helpdesk")
    retired = {k["key_id"]: k["retired_at"] for k in data["keys"]}
    check(st == 200 and retired.get(new["key_id"], 1) is None
          and isinstance(retired.get(rec["key_id"]), str)
          and retired[rec["key_id"]].endswith("Z"), "retired_at in machine keys: %s" % data)
    so = ctl_ok(c, "helpdesk", fol, ["keys", m])
    check("RETIRED AT" in so and retired[rec["key_id"]] in so, "escrowctl keys: %r" % so)
    st, _, data = c.request(fol, "GET", harness.lookup_path(rec["key_id"]), as_="helpdesk")
    check(st == 200 and data.get("retired_at") == retired[rec["key_id"]],
          "lookup of a retired key: %s %s" % (st, short(data)))

    # The policy: any role reads it, an operator sets it and reports are judged again.
    m2 = "fixed-" + m
    k2 = random_key(t.rng, machine=m2)
    c.request(fol, "POST", "/v1/keys", k2, as_="agent")
    v = upload(c, fol, report(m2, [k2["key_id"]], [volume("fixed", protection="off",
                                                          conversion="fully_decrypted")]))
    check(v["status"] == "compliant", "fixed volume optional: %s" % v)
    path = os.path.join(c.dir, "policy.json")
    with open(path, "w") as f:
        json.dump({"fixed_volumes": "required", "stale_after_days": 30}, f)
    pol = json.loads(ctl_ok(c, "operator", fol, ["policy", "set", path], as_json=True))
    check(pol["fixed_volumes"] == "required" and pol["stale_after_days"] == 30
          and pol["os_protectors"] == [] and len(pol["encryption_methods"]) == 4,
          "policy set: %s" % pol)
    st, _, data = c.request(fol, "GET", "/v1/policy", as_="agent")
    check(st == 200 and data == pol, "GET /v1/policy as agent: %s %s" % (st, short(data)))
    got = machine(c, fol, m2, role="auditor")
    check(got["status"] == "noncompliant" and got["reasons"] == ["fixed_volume_not_protected"],
          "re-judged by the policy: %s" % short(got, 400))
    check(any(a == "policy.set" for a, _, _ in audit_actions(c, fol)),
          "policy.set not in the audit report")

    # Exemptions.
    so = ctl_ok(c, "operator", fol, ["exempt", m2, "--until", "2099-01-31", "--note", "lab"])
    check("exempt until" in so, "escrowctl exempt: %r" % so)
    got = machine(c, fol, m2)
    check(got["status"] == "exempt" and got["exemption"]["note"] == "lab"
          and got["exemption"]["until"].startswith("2099-01-31T00:00:00"),
          "exempt machine: %s" % short(got, 500))
    ctl_ok(c, "operator", fol, ["exempt", m2, "--end"])
    check(machine(c, fol, m2)["status"] == "noncompliant", "after the exemption ended")
    expect_error(c.request(fol, "DELETE", mpath(m2, "/exemption"), as_="operator"), 404,
                 "not_found", "ending no exemption")
    ex = [(mm, o) for a, mm, o in audit_actions(c, fol) if a == "machine.exempt"]
    check(len(ex) == 2 and ex[0][0] == m2 and ex[0][1].startswith("until 2099-01-31")
          and ex[1] == (m2, "end"), "machine.exempt entries: %s" % ex)
    expect_error(c.request(fol, "GET", mpath("never-seen.example"), as_="auditor"), 404,
                 "not_found", "a machine never seen")
    # A CSV field with a comma or a quote is quoted (RFC 4180).
    m3 = "quoted-" + m
    rep = dict(report(m3), user='CORP\\doe, "j"')
    upload(c, fol, rep)
    st, _, text = c.request(fol, "GET", "/v1/reports/compliance?format=csv", as_="auditor")
    row = [x for x in text.splitlines() if x.startswith(m3 + ",")]
    check(st == 200 and len(row) == 1 and row[0].endswith(',"CORP\\doe, ""j"""'),
          "CSV quoting: %s %r" % (st, row))


def test_roles_and_bad_input(t):
    """Each new route refuses the wrong roles with 403; bad bodies and
    queries are 400 with the code named, and change nothing."""
    c = t.cluster(3, tls=True)
    leader = c.leader()
    fol = [i for i in c.ids() if i != leader][0]
    m = "pc-roles.corp.example"
    v = c.request(fol, "POST", "/v1/compliance", report(m), as_="agent")
    check(v[0] == 200, "upload: %s %s" % (v[0], short(v[2])))
    exempt = {"until": "2099-01-01T00:00:00Z"}
    routes = [
        ("POST", "/v1/compliance", report(m), {"agent", "operator"}),
        ("GET", "/v1/policy", None, {"agent", "helpdesk", "auditor", "operator"}),
        ("PUT", "/v1/policy", {}, {"operator"}),
        ("POST", mpath(m, "/exemption"), exempt, {"operator"}),
        ("DELETE", mpath(m, "/exemption"), None, {"operator"}),
        ("GET", mpath(m), None, {"helpdesk", "auditor", "operator"}),
        ("GET", "/v1/reports/compliance", None, {"auditor", "operator"}),
    ]
    for method, path, body, allowed in routes:
        for role in ("agent", "helpdesk", "auditor", "operator"):
            if role in allowed:
                continue
            expect_error(c.request(fol, method, path, body, as_=role), 403, "forbidden",
                         "%s %s as %s" % (method, path, role))
    c.wait_applied(c.status(leader)["commit_index"])
    before = digest(c, leader)
    bad_reports = [
        ("not json", "invalid_json"),
        ({"machine": m}, "missing_field"),
        ({"machine": m, "volumes": []}, "invalid_volumes"),
        ({"machine": "bad name!", "volumes": [volume()]}, "invalid_machine"),
        (report(m, extra=[dict(volume(), volume_type="floppy")]), "invalid_volume_type"),
        ({"machine": m, "volumes": [dict(volume(), percent_encrypted=101)]},
         "invalid_percent_encrypted"),
        ({"machine": m, "volumes": [dict(volume(), key_ids=["nope"])]}, "invalid_key_id"),
        ({"machine": m, "volumes": [volume()], "colour": 1}, "unknown_field"),
    ]
    for body, code in bad_reports:
        expect_error(c.request(fol, "POST", "/v1/compliance", body, as_="agent"), 400, code,
                     "report %s" % short(body))
    expect_error(c.request(fol, "POST", "/v1/compliance", "{}", as_="agent",
                           headers={"Content-Type": "text/plain"}), 415,
                 "unsupported_media_type", "report as text/plain")
    for body, code in [({"fixed_volumes": "maybe"}, "invalid_policy_requirement"),
                       ({"stale_after_days": 0}, "invalid_stale_after_days"),
                       ({"encryption_methods": []}, "invalid_encryption_method"),
                       ({"colour": 1}, "unknown_policy_field")]:
        expect_error(c.request(fol, "PUT", "/v1/policy", body, as_="operator"), 400, code,
                     "policy %s" % body)
    for body, code in [({"until": "2001-01-01T00:00:00Z"}, "invalid_until"),
                       ({"until": "tomorrow"}, "invalid_until"), ({}, "missing_field"),
                       ({"until": "2099-01-01T00:00:00Z", "x": 1}, "unknown_field")]:
        r = c.request(fol, "POST", mpath(m, "/exemption"), body, as_="operator")
        check(r[0] == 400 and r[2]["error"]["code"] in (code, "invalid_until"),
              "exemption %s: %s %s" % (body, r[0], short(r[2])))
    expect_error(c.request(fol, "POST", mpath("bad name!", "/exemption"), exempt,
                           as_="operator"), 400, "invalid_machine", "exemption of a bad name")
    for q, code in [("status=fine", "invalid_status"), ("limit=0", "bad_limit"),
                    ("limit=10001", "bad_limit"), ("limit=x", "bad_limit"),
                    ("format=xml", "bad_format"), ("after=bad%20name", "bad_after")]:
        expect_error(c.request(fol, "GET", "/v1/reports/compliance?" + q, as_="auditor"), 400,
                     code, "report ?%s" % q)
    check(digest(c, leader) == before, "bad input changed the state: %s then %s"
          % (before, digest(c, leader)))


def test_report_pages(t):
    """2,500 machines: JSON pages follow next, CSV pages X-Escrow-Next (also
    through a follower), and escrowctl prints every page in each format; a
    new policy judges them all again in batches, through a leader kill."""
    need_ctl()
    c = t.cluster(3, tls=True)
    leader = c.leader()
    fol = [i for i in c.ids() if i != leader][0]
    n, workers = 2500, 4
    names = ["pc-%05d.corp.example" % i for i in range(n)]
    errors = []

    def work(w):
        cl = c.client(leader, as_="agent")
        deadline = time.monotonic() + 240
        for name in names[w::workers]:
            rep = report(name, [] if int(name[3:8]) % 3 else ["%08X-0000-4000-8000-000000000000"
                                                               % int(name[3:8])])
            for _ in range(20):
                st, _, data = cl.request("POST", "/v1/compliance", rep)
                if st == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if st != 200:
                errors.append("%s: %s %s" % (name, st, short(data)))
                break
        cl.close()

    harness.run_threads(workers, work, 300)
    check(not errors, "uploads failed: %s" % errors[:3])
    seen, after, pages = [], "", 0
    while pages < 10:
        q = "?limit=1000" + ("&after=" + after if after else "")
        st, _, data = c.request(fol, "GET", "/v1/reports/compliance" + q, as_="auditor")
        check(st == 200, "page %d: %s %s" % (pages, st, short(data)))
        pages += 1
        seen += [r["machine"] for r in data["machines"]]
        check(sum(data["counts"].values()) == n, "counts: %s" % data["counts"])
        if data["next"] is None:
            break
        check(data["next"] == seen[-1], "next %s, last %s" % (data["next"], seen[-1]))
        after = data["next"]
    check(seen == names and pages == 3, "JSON pages: %d machines in %d pages" % (len(seen), pages))
    # A listed key not escrowed, or none listed: every machine is noncompliant.
    st, _, data = c.request(fol, "GET", "/v1/reports/compliance?status=noncompliant&limit=10000",
                            as_="auditor")
    listed = [r["machine"] for r in data["machines"]
              if r["reasons"] == ["recovery_key_not_escrowed"]]
    check(st == 200 and len(data["machines"]) == data["counts"]["noncompliant"] == n
          and len(listed) == (n + 2) // 3 and data["next"] is None,
          "noncompliant filter: %d of %s" % (len(data["machines"]), data["counts"]))
    st, _, data = c.request(fol, "GET", "/v1/reports/compliance?status=compliant", as_="auditor")
    check(st == 200 and data["machines"] == [] and data["next"] is None,
          "compliant filter: %s %s" % (st, short(data)))
    rows, after, pages = [], "", 0
    while pages < 10:
        q = "?format=csv&limit=1000" + ("&after=" + after if after else "")
        st, hdrs, text = c.request(fol, "GET", "/v1/reports/compliance" + q, as_="auditor")
        lines = text.splitlines()
        check(st == 200 and lines[0] == CSV_HEADER, "CSV page: %s %r" % (st, text[:200]))
        rows += lines[1:]
        pages += 1
        after = hdrs.get("x-escrow-next")
        if after is None:
            break
        check(after == rows[-1].split(",")[0], "X-Escrow-Next %r" % after)
    check([r.split(",")[0] for r in rows] == names and pages == 3,
          "CSV pages: %d rows in %d pages" % (len(rows), pages))
    check(rows[0] == "pc-00000.corp.example,noncompliant,recovery_key_not_escrowed,false,%s,"
          "CORP\\alice" % rows[0].split(",")[4] and rows[1].split(",")[1:3] ==
          ["noncompliant", "no_recovery_password"], "CSV rows: %s" % rows[:2])

    so = ctl_ok(c, "auditor", fol, ["report", "compliance", "--format", "csv"])
    lines = so.splitlines()
    check(lines[0] == CSV_HEADER and len(lines) == n + 1 and lines[1:] == rows,
          "escrowctl CSV: %d lines, first %r" % (len(lines), lines[:1]))
    so = ctl_ok(c, "auditor", fol, ["report", "compliance", "--format", "json"])
    data = json.loads(so)
    check([r["machine"] for r in data["machines"]] == names and sum(data["counts"].values()) == n,
          "escrowctl JSON: %d machines" % len(data["machines"]))
    so = ctl_ok(c, "auditor", fol, ["report", "compliance"])
    check(so.startswith("counts:") and sum(1 for x in so.splitlines() if ".corp.example" in x) == n,
          "escrowctl table: %r" % so[:300])

    # A policy that changes every verdict: 2,500 reports are judged again in
    # three entries of at most 1,000, and the leader is killed as soon as
    # the policy is set. The next leader goes on; the first report read
    # afterwards already shows every new verdict, and every node agrees.
    st, _, pol = c.request(fol, "PUT", "/v1/policy", {"encryption_methods": ["xts_aes_128"]},
                           as_="operator")
    check(st == 200 and pol["encryption_methods"] == ["xts_aes_128"],
          "policy: %s %s" % (st, short(pol)))
    c.kill(leader)
    st, _, data = c.request(fol, "GET", "/v1/reports/compliance?limit=10000", as_="auditor",
                            timeout=30)
    stale = [r["machine"] for r in data.get("machines", [])
             if "encryption_method_not_allowed" not in r["reasons"]]
    check(st == 200 and len(data["machines"]) == n and not stale,
          "after the policy: %s, %d machines, %d not judged again: %s"
          % (st, len(data.get("machines", [])), len(stale), stale[:3]))
    c.digest_equal()
    for nid in c.live_ids():
        check(c.status(nid)["rejudging"] is False, "node %d still re-judging" % nid)


def search(c, nid, role="helpdesk", **params):
    q = urllib.parse.urlencode(params)
    return c.request(nid, "GET", "/v1/machines" + ("?" + q if q else ""), as_=role)


def test_machine_search(t):
    """GET /v1/machines?prefix=P (helpdesk, auditor): the compliance report's
    rows of the machines whose name begins with P in any case, in name
    order, paged with after and limit (default 50), through a follower;
    roles and bad queries refused; its own metrics route."""
    c = t.cluster(3, tls=True)
    leader = c.leader()
    fol = [i for i in c.ids() if i != leader][0]
    names = ["lab-1.corp.example", "PC-02.corp.example", "pc-01.corp.example",
             "pc-10.corp.example", "pcx.corp.example", "pd-0.corp.example"]
    names += ["bulk-%03d.corp.example" % i for i in range(52)]
    cl = c.client(leader, as_="agent")
    for name in names:
        st, _, data = cl.request("POST", "/v1/compliance",
                                 report(name, [] if name.startswith("pc-0") else
                                        [harness.random_key_id(t.rng)]))
        check(st == 200, "upload %s: %s %s" % (name, st, short(data)))
    cl.close()
    st, _, full = c.request(fol, "GET", "/v1/reports/compliance?limit=1000", as_="auditor")
    check(st == 200, "compliance report: %s %s" % (st, short(full)))
    rows = {r["machine"]: r for r in full["machines"]}
    lower = sorted(n.lower() for n in names)

    def expect(params, machines, nxt, role="helpdesk"):
        st, hdrs, data = search(c, fol, role, **params)
        check(st == 200 and isinstance(data, dict) and sorted(data) == ["machines", "next"],
              "search %s: %s %s" % (params, st, short(data)))
        got = [r["machine"] for r in data["machines"]]
        check(got == machines, "search %s: %s, expected %s" % (params, got[:8], machines[:8]))
        check(data["next"] == nxt, "search %s: next %s, expected %s"
              % (params, data["next"], nxt))
        for r in data["machines"]:
            check(r == rows[r["machine"]], "search row %s differs from the report's %s"
                  % (short(r), short(rows[r["machine"]])))
        return data

    pcs = ["pc-01.corp.example", "pc-02.corp.example", "pc-10.corp.example"]
    expect({"prefix": "pc-"}, pcs, None)
    expect({"prefix": "PC-"}, pcs, None, role="auditor")
    expect({"prefix": "Pc-0"}, pcs[:2], None, role="operator")
    expect({"prefix": "pc"}, pcs + ["pcx.corp.example"], None)
    expect({"prefix": "pc-02.corp.example"}, ["pc-02.corp.example"], None)
    expect({"prefix": "pc-02.corp.example."}, [], None)
    expect({"prefix": "zz"}, [], None)
    # No prefix, or an empty one: every machine, 50 by default.
    expect({}, lower[:50], lower[49])
    expect({"prefix": ""}, lower[:50], lower[49])
    expect({"limit": "1000"}, lower, None)
    # Paging: next is the after of the next page, in any case.
    d = expect({"prefix": "pc", "limit": "2"}, pcs[:2], pcs[1])
    expect({"prefix": "pc", "limit": "2", "after": d["next"].upper()},
           [pcs[2], "pcx.corp.example"], None)
    expect({"prefix": "pc", "limit": "2", "after": "pcx.corp.example"}, [], None)
    expect({"prefix": "pc", "after": "a.example"}, pcs + ["pcx.corp.example"], None)
    expect({"prefix": "bulk-", "limit": "25", "after": "bulk-024.corp.example"},
           ["bulk-%03d.corp.example" % i for i in range(25, 50)], "bulk-049.corp.example")
    expect({"prefix": "bulk-", "after": "bulk-049.corp.example"},
           ["bulk-050.corp.example", "bulk-051.corp.example"], None)

    expect_error(search(c, fol, "agent", prefix="pc"), 403, "forbidden", "search as agent")
    expect_error(c.request(fol, "POST", "/v1/machines", {}, as_="operator"), 405,
                 "method_not_allowed", "POST /v1/machines")
    for params, code in [({"prefix": "bad name"}, "invalid_prefix"),
                         ({"prefix": "pc_"}, "invalid_prefix"),
                         ({"prefix": "a" * 254}, "invalid_prefix"),
                         ({"limit": "0"}, "bad_limit"), ({"limit": "1001"}, "bad_limit"),
                         ({"limit": "x"}, "bad_limit"), ({"limit": ""}, "bad_limit"),
                         ({"after": "bad name"}, "bad_after")]:
        expect_error(search(c, fol, **params), 400, code, "search %s" % short(params))
    expect_error(c.request(fol, "GET", "/v1/machines?prefix=%ZZ", as_="helpdesk"), 400,
                 "invalid_prefix", "search with a bad escape")
    st, _, text = c.request(fol, "GET", "/metrics", as_="auditor")
    counted = [line.split()[-1] for line in str(text).splitlines()
               if line.startswith('escrow_requests_total{route="machines"} ')]
    check(st == 200 and len(counted) == 1 and int(counted[0]) >= 20,
          "machines route in /metrics: %s" % counted)


def test_leader_killed_during_uploads(t):
    """Writers each upload reports numbered 1, 2, ... for their machine,
    retrying one until it is acknowledged; the leader is killed -9 meanwhile.
    Afterwards each machine's report is its last acknowledged one."""
    c = t.cluster(3, tls=True)
    leader = c.leader()
    ids = c.ids()
    acked = {}
    stop = threading.Event()

    def work(w):
        name = "kill-%d.corp.example" % w
        seq, deadline = 1, time.monotonic() + 60
        order = [i for i in ids if i != leader] + [leader]
        order = order[w % 3:] + order[:w % 3]
        clients = {i: c.client(i, timeout=5, as_="agent") for i in ids}
        at, pending = 0, False
        while time.monotonic() < deadline and seq < 400:
            # Stop only with no upload left unacknowledged.
            if stop.is_set() and not pending:
                break
            pending = True
            st, _, data = clients[order[at]].request(
                "POST", "/v1/compliance", report(name, os_name="build %d" % seq))
            if st == 200:
                acked[name] = seq
                seq, pending = seq + 1, False
            else:
                at = (at + 1) % len(order)
                time.sleep(0.05)
        for cl in clients.values():
            cl.close()

    threads = harness.Threads(4, work)
    time.sleep(1.5)
    c.kill(leader)
    time.sleep(3)
    stop.set()
    errors = threads.join(90)
    check(not errors, "writers: %s" % errors[:2])
    check(len(acked) == 4 and min(acked.values()) > 1, "acknowledged: %s" % acked)
    live = [i for i in ids if i != leader]
    c.wait_ready(30, ids=live)
    for name, seq in sorted(acked.items()):
        got = machine(c, live[0], name)
        check(got["os"] == "build %d" % seq, "%s: report %r, last acknowledged %d"
              % (name, got["os"], seq))
    c.restart(leader)
    c.wait_ready(30)
    c.digest_equal(60)


def test_snapshot_restore_keeps_verdicts(t):
    """A snapshot restored into a fresh one-node cluster shows the same
    machines, verdicts, history and exemption, and the same policy."""
    need_ctl()
    c = t.cluster(1)
    rec = random_key(t.rng)
    m = rec["machine"].lower()
    c.request(1, "POST", "/v1/compliance", report(m, [rec["key_id"]]))
    c.request(1, "POST", "/v1/keys", rec)
    c.request(1, "PUT", "/v1/policy", {"removable_volumes": "required"})
    others = ["snap-%d.corp.example" % i for i in range(3)]
    for i, o in enumerate(others):
        st, _, _ = c.request(1, "POST", "/v1/compliance",
                             report(o, extra=[volume("removable", protection="off")] * (i % 2)))
        check(st == 200, "upload %s: %s" % (o, st))
    c.request(1, "POST", mpath(others[2], "/exemption"), {"until": "2099-01-01T00:00:00Z",
                                                          "note": "kept"})
    names = [m] + others
    before = {n: machine(c, 1, n) for n in names}
    pol = c.request(1, "GET", "/v1/policy")[2]
    path = os.path.join(c.dir, "snap.bin")
    save_snapshot(c, 1, path)
    r = t.cluster(0, start=False)
    shutil.copyfile(c.seal_key, r.seal_key)
    r.add_node(1, make_data_dir=False)
    restore_snapshot(path, r.nodes[1])
    r.start_node(1, bootstrap=False)
    r.wait_ready(60)
    for n in names:
        got = machine(r, 1, n)
        check(got == before[n], "%s after restore: %s, before %s"
              % (n, short(got, 400), short(before[n], 400)))
    check(r.request(1, "GET", "/v1/policy")[2] == pol, "policy after restore")
    check(before[others[2]]["status"] == "exempt" and before[m]["status"] == "compliant",
          "statuses: %s" % {n: before[n]["status"] for n in names})


def bench_report_check(c, nid, label):
    """The compliance report after a bench of 200 machines: 200 machines,
    named as bench names them with 4 clients. Returns the report."""
    st, _, data = c.request(nid, "GET", "/v1/reports/compliance?limit=1000", as_="auditor")
    names = sorted("bench-c%d-%d" % (m % 4, m // 4) for m in range(200))
    check(st == 200 and sum(data["counts"].values()) == 200
          and sorted(m["machine"] for m in data["machines"]) == names,
          "report after %s: %s %s" % (label, st, short(data, 600)))
    return data


def test_bench_uploads(t):
    """escrowctl bench --op compliance through a follower, 200 requests, 200
    new machines, every answer a verdict. With --no-escrow every report is
    noncompliant with recovery_key_not_escrowed. By default their keys are
    escrowed first: under a policy that requires fixed volumes and leaves
    aes_cbc_128 out, the encrypted machines are compliant and every other
    shape noncompliant for its own reason, and the compliance report agrees.
    With --machines the same machines are reported again, judged the same."""
    need_ctl()
    c = t.cluster(3, tls=True)
    fol = [i for i in c.ids() if i != c.leader()][0]
    args = ["bench", "--op", "compliance", "--clients", "4", "--seed", "7"]
    r = json.loads(ctl_ok(c, "agent", fol, args + ["--count", "200", "--no-escrow"],
                          as_json=True))
    verdicts = r.get("verdicts", {})
    check(r["ok"] == r["requests"] == 200 and r["errors"] == 0
          and sum(verdicts.values()) == 200 and verdicts.get("other") == 0
          and sum(r.get("shapes", {}).values()) == 200 and r.get("machines") == 0
          and r.get("escrowed") == 0,
          "bench --no-escrow: %s" % short(r, 600))
    # No key escrowed: every report is noncompliant.
    check(verdicts.get("noncompliant") == 200, "verdicts: %s" % verdicts)
    data = bench_report_check(c, fol, "bench --no-escrow")
    check(data["counts"]["noncompliant"] == 200
          and all("recovery_key_not_escrowed" in m["reasons"] for m in data["machines"]),
          "report after bench --no-escrow: %s" % short(data, 600))
    shapes = r["shapes"]
    check(shapes["encrypted"] > 100 and all(n > 0 for n in shapes.values()),
          "shapes of 200 reports: %s" % shapes)

    # The same machines, their keys escrowed first, under a policy that
    # each shape but encrypted breaks in its own way.
    st, _, pol = c.request(fol, "PUT", "/v1/policy", {
        "fixed_volumes": "required",
        "encryption_methods": ["xts_aes_256", "xts_aes_128", "aes_cbc_256"]}, as_="operator")
    check(st == 200, "PUT /v1/policy: %s %s" % (st, short(pol)))
    r = json.loads(ctl_ok(c, "agent", fol, args + ["--count", "200"], as_json=True))
    verdicts = r.get("verdicts", {})
    enc = shapes["encrypted"]
    check(r["ok"] == r["requests"] == 200 and r["errors"] == 0 and r["shapes"] == shapes
          and r.get("escrowed") == 400 - shapes["decrypted"],
          "bench: %s; shapes before %s" % (short(r, 600), shapes))
    check(verdicts == {"compliant": enc, "noncompliant": 200 - enc, "exempt": 0,
                       "unknown": 0, "other": 0},
          "verdicts: %s; shapes %s" % (verdicts, shapes))
    data = bench_report_check(c, fol, "bench")
    got = {}
    for m in data["machines"]:
        for reason in m["reasons"] or ["none"]:
            got[reason] = got.get(reason, 0) + 1
    want = {"none": enc, "fixed_volume_not_protected": shapes["encrypting"] + shapes["decrypted"],
            "protection_suspended": shapes["suspended"],
            "os_volume_not_protected": shapes["suspended"],
            "encryption_method_not_allowed": shapes["aes_cbc_128"]}
    check(data["counts"]["compliant"] == enc and data["counts"]["noncompliant"] == 200 - enc
          and all((m["status"] == "compliant") == (m["reasons"] == []) for m in data["machines"])
          and got == want,
          "report after bench: counts %s, reasons %s, expected %s"
          % (data["counts"], got, want))
    # Reported again: 100 requests over the first 50 machines, same shapes;
    # their keys, escrowed again, are unchanged.
    again = json.loads(ctl_ok(c, "agent", fol, args + ["--count", "100", "--machines", "50"],
                              as_json=True))
    data2 = bench_report_check(c, fol, "bench --machines 50")
    check(again["ok"] == 100 and again["errors"] == 0 and again["machines"] == 50
          and 50 <= again["escrowed"] <= 100
          and [(m["machine"], m["reasons"]) for m in data2["machines"]]
          == [(m["machine"], m["reasons"]) for m in data["machines"]],
          "again: %s; counts %s" % (short(again, 400), data2.get("counts")))


if __name__ == "__main__":
    sys.exit(harness.run_tests([
        test_verdicts_rotation_policy_exemption,
        test_roles_and_bad_input,
        test_report_pages,
        test_machine_search,
        test_leader_killed_during_uploads,
        test_snapshot_restore_keeps_verdicts,
        test_bench_uploads,
    ]))
