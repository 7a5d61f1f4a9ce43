#!/usr/bin/env python3
"""Process tests of GET /v1/reports/audit (docs/api.md section 3) on real escrowd
nodes: every escrow and lookup leaves its entry, in gapless seq order, as
JSON and as CSV, through any node; paging with since and limit; the
action, actor, key_id and machine filters; bad parameters refused. Also
the listing of keys by ID prefix (list=1), which discloses nothing and
writes no entry. Output is TAP. Environment: ESCROWD, TEST_SEED,
TEST_TIMEOUT.
"""

import csv
import io
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_created, expect_error, expect_lookup  # noqa: E402

FIELDS = ["seq", "at", "actor", "role", "action", "key_id", "machine", "reason", "note",
          "node", "outcome", "index", "break_glass", "break_glass_id"]


def audit(c, nid, **params):
    q = urllib.parse.urlencode(params)
    return c.request(nid, "GET", "/v1/reports/audit" + ("?" + q if q else ""))


def test_audit_report_lists_every_entry(t):
    c = t.cluster(3)
    ids = c.ids()
    leader = c.leader()
    follower = [i for i in ids if i != leader][0]
    recs = [random_key(t.rng) for _ in range(3)]
    for rec in recs:
        expect_created(c.escrow_retry(ids, rec), rec, "escrow")
    note = 'ticket 42, "urgent"'
    expect_lookup(c.request(follower, "GET", harness.lookup_path(recs[0]["key_id"], "lost_pin",
                                                                note)), recs[0], "lookup")
    missing = random_key(t.rng)["key_id"]
    expect_error(c.lookup(follower, missing), 404, "key_not_found", "lookup of a missing key")

    st, hdrs, data = audit(c, follower)
    check(st == 200 and isinstance(data, dict), "audit report: %s %s" % (st, short(data)))
    entries = data["entries"]
    seqs = [e["seq"] for e in entries]
    check(seqs == list(range(1, len(seqs) + 1)), "seq not gapless from 1: %s" % seqs)
    check(data["last_seq"] == seqs[-1], "last_seq %s, entries end at %s"
          % (data["last_seq"], seqs[-1]))
    check(all(sorted(e) == sorted(FIELDS) for e in entries), "fields: %s" % short(entries[0]))
    escrows = [e for e in entries if e["action"] == "key.escrow"]
    check(sorted(e["key_id"] for e in escrows) == sorted(r["key_id"] for r in recs),
          "escrow entries: %s" % short(escrows, 800))
    reads = [e for e in entries if e["action"] == "key.read"]
    check(len(reads) == 1 and reads[0]["key_id"] == recs[0]["key_id"]
          and reads[0]["reason"] == "lost_pin" and reads[0]["note"] == note
          and reads[0]["node"] == follower and reads[0]["machine"] == recs[0]["machine"],
          "key.read entries: %s" % short(reads))
    misses = [e for e in entries if e["action"] == "key.read_miss"]
    check(len(misses) == 1 and misses[0]["key_id"].lower() == missing.lower(),
          "key.read_miss: %s" % short(misses))
    check(all(e["index"] > 0 for e in entries), "an entry without its Raft index")
    text = str(data)
    check(not any(r["recovery_password"] in text for r in recs),
          "a recovery password appears in the audit report")

    # Paging: since and limit.
    st, _, page = audit(c, leader, since=1, limit=2)
    check(st == 200 and [e["seq"] for e in page["entries"]] == [2, 3],
          "since=1&limit=2: %s %s" % (st, short(page)))
    st, _, page = audit(c, leader, since=data["last_seq"])
    check(st == 200 and page["entries"] == [], "since=last: %s" % short(page))
    st, _, page = audit(c, leader, limit=10 ** 9)   # served as the most a call gives
    check(st == 200 and len(page["entries"]) == len(entries), "limit=1e9: %s" % short(page))

    # CSV: the same entries, a header, quoting that the csv module reads back.
    st, hdrs, text = audit(c, follower, format="csv")
    check(st == 200 and hdrs.get("content-type", "").startswith("text/csv"),
          "csv: %s %s" % (st, hdrs.get("content-type")))
    rows = list(csv.DictReader(io.StringIO(text)))
    check(len(rows) == len(entries), "csv has %d rows, json %d" % (len(rows), len(entries)))
    for row, e in zip(rows, entries):
        for k in FIELDS:
            want = ("" if e[k] is None else json.dumps(e[k]) if isinstance(e[k], bool)
                    else str(e[k]))
            check(row[k] == want, "csv seq %s field %s: %r, json %r" % (e["seq"], k, row[k], want))

    for params, code in (({"since": "abc"}, "bad_since"), ({"since": "-1"}, "bad_since"),
                         ({"since": "18446744073709551615"}, "bad_since"),
                         ({"since": "9" * 40}, "bad_since"), ({"since": "1%"}, "bad_since"),
                         ({"format": "csv%"}, "bad_format"),
                         ({"limit": "0"}, "bad_limit"), ({"limit": "x"}, "bad_limit"),
                         ({"format": "xml"}, "bad_format")):
        expect_error(audit(c, follower, **params), 400, code, "audit report %s" % params)
    expect_error(c.request(follower, "POST", "/v1/reports/audit", {}), 405, None, "POST")

    # An answer past the 16 KiB a node serialises on its stack comes whole.
    more = [random_key(t.rng) for _ in range(60)]
    for rec in more:
        expect_created(c.escrow_retry(ids, rec), rec, "escrow")
    st, hdrs, data = audit(c, follower)
    check(st == 200 and int(hdrs.get("content-length", "0")) > 16384,
          "audit report of %d entries: %s, %s bytes" % (len(entries) + len(more), st,
                                                         hdrs.get("content-length")))
    check([e["seq"] for e in data["entries"]] == list(range(1, len(entries) + len(more) + 1)),
          "large audit report: %s" % short(data))


def test_escrowctl_report_audit(t):
    """escrowctl report audit: table, json, csv, --since and --limit, small
    pages put together, through a node that is down first in --nodes."""
    from test_snapshot import need_ctl
    need_ctl()
    c = t.cluster(3)
    ids = c.ids()
    recs = [random_key(t.rng) for _ in range(30)]
    for rec in recs:
        expect_created(c.escrow_retry(ids, rec), rec, "escrow")
    c.kill(ids[0])
    nodes = [c.url(i) for i in ids]
    rc, so, se, _ = harness.escrowctl(["report", "audit", "--format", "json", "--page", "4"],
                                      nodes)
    check(rc == 0, "report audit json: exit %s %s" % (rc, short(se)))
    rep = __import__("json").loads(so)
    entries = rep["entries"]
    check([e["seq"] for e in entries] == list(range(1, len(entries) + 1)) and
          rep["last_seq"] == len(entries),
          "seqs %s, last_seq %s" % ([e["seq"] for e in entries][:5], rep["last_seq"]))
    check(sorted(e["key_id"] for e in entries if e["action"] == "key.escrow") ==
          sorted(r["key_id"] for r in recs), "key.escrow entries differ from the escrows")
    rc, so, se, _ = harness.escrowctl(["report", "audit", "--page", "7"], nodes)
    lines = so.splitlines()
    check(rc == 0 and lines[0].split()[:3] == ["SEQ", "AT", "ACTION"]
          and len(lines) == len(entries) + 1, "table: exit %s, %d lines: %s"
          % (rc, len(lines), short(so)))
    rc, so, se, _ = harness.escrowctl(["report", "audit", "--format", "csv", "--since", "5",
                                       "--limit", "7", "--page", "3"], nodes)
    rows = list(csv.DictReader(io.StringIO(so)))
    check(rc == 0 and [int(r["seq"]) for r in rows] == list(range(6, 13)),
          "csv --since 5 --limit 7: exit %s, seqs %s" % (rc, [r.get("seq") for r in rows]))
    rc, so, se, _ = harness.escrowctl(["report", "audit", "--format", "xml"], nodes)
    check(rc == 2 and "--format" in se, "--format xml: exit %s %s" % (rc, short(se)))
    # report compliance is built to the contract; until the node serves the
    # route it is refused with the node's 404 (test_ctl_compliance.py covers it).
    rc, so, se, _ = harness.escrowctl(["report", "compliance"], nodes)
    check(rc == 0 or (rc == 1 and se.startswith("escrowctl: not_found: ")),
          "report compliance: exit %s %s" % (rc, short(se)))


LISTED = ["key_id", "volume_id", "volume_type", "machine", "user", "tpm_owner_hash",
          "escrowed_at", "escrowed_by", "disclosed_at", "retired_at"]


def list_keys(c, nid, prefix, as_="helpdesk", **extra):
    q = urllib.parse.urlencode(dict({"prefix": prefix, "list": "1"}, **extra))
    return c.request(nid, "GET", "/v1/keys?" + q, as_=as_)


def audit_all(c, nid):
    st, _, data = c.request(nid, "GET", "/v1/reports/audit?limit=10000", as_="auditor")
    check(st == 200, "audit report: %s %s" % (st, short(data)))
    return data


def test_list_keys_by_prefix(t):
    """GET /v1/keys?prefix=HEX&list=1 (helpdesk): the matching keys in key ID
    order without passwords, through a follower; no audit entry, no
    disclosed_at, no rotation; at most 100 with truncated; roles and bad
    input refused; without list=1 the lookup still discloses."""
    c = t.cluster(3, tls=True)
    leader = c.leader()
    fol = [i for i in c.ids() if i != leader][0]
    prefix = "%08X" % t.rng.getrandbits(32)
    recs = []
    for i in range(3):
        rec = random_key(t.rng)
        rec["key_id"] = prefix + rec["key_id"][8:]
        recs.append(rec)
    other = random_key(t.rng)
    for rec in recs + [other]:
        st, _, data = c.request(fol, "POST", "/v1/keys", rec, as_="agent")
        check(st == 201, "escrow: %s %s" % (st, short(data)))
    before = audit_all(c, leader)

    st, hdrs, data = list_keys(c, fol, prefix.lower())
    check(st == 200 and isinstance(data, dict) and sorted(data) == ["keys", "truncated"],
          "list: %s %s" % (st, short(data)))
    check(data["truncated"] is False, "truncated: %s" % data["truncated"])
    want = sorted(recs, key=lambda r: r["key_id"])
    check([k["key_id"] for k in data["keys"]] == [r["key_id"] for r in want],
          "listed %s" % [k["key_id"] for k in data["keys"]])
    for k, rec in zip(data["keys"], want):
        check(sorted(k) == sorted(LISTED), "listed fields: %s" % sorted(k))
        check(k["machine"] == rec["machine"] and k["volume_id"] == rec["volume_id"]
              and k["volume_type"] == rec["volume_type"] and k["user"] == rec.get("user")
              and k["disclosed_at"] is None and k["retired_at"] is None,
              "listed %s: %s" % (rec["key_id"], short(k)))
    text = json.dumps(data)
    check(not any(r["recovery_password"] in text for r in recs + [other]),
          "a recovery password appears in the listing")
    check("recovery_password" not in text and "sealed" not in text,
          "the listing names a password field")
    # Through the leader too, and by a longer prefix (crossing a dash).
    st, _, data = list_keys(c, leader, want[0]["key_id"].replace("-", "")[:13])
    check(st == 200 and [k["key_id"] for k in data["keys"]] == [want[0]["key_id"]],
          "list by 13 digits: %s %s" % (st, short(data)))
    st, _, data = list_keys(c, fol, "%08X" % ((int(prefix, 16) + 1) % 2 ** 32), as_="operator")
    check(st == 200 and data == {"keys": [], "truncated": False},
          "list of another prefix: %s %s" % (st, short(data)))

    # Nothing written: the audit log and every disclosed_at are as before.
    after = audit_all(c, leader)
    check(after["last_seq"] == before["last_seq"] and after["entries"] == before["entries"],
          "the listing wrote audit entries: last_seq %s then %s"
          % (before["last_seq"], after["last_seq"]))
    for rec in recs:
        st, _, data = c.request(fol, "GET", "/v1/machines/%s/keys" % rec["machine"],
                                as_="helpdesk")
        mine = [k for k in data["keys"] if k["key_id"] == rec["key_id"]]
        check(st == 200 and len(mine) == 1 and mine[0]["disclosed_at"] is None,
              "machine keys after the listing: %s" % short(data))
    # No rotation asked for: a report listing a listed key is compliant.
    rep = {"machine": want[0]["machine"], "volumes": [{
        "volume_id": "vol-os", "volume_type": "os", "protection": "on",
        "conversion": "fully_encrypted", "encryption_method": "xts_aes_256",
        "percent_encrypted": 100, "protectors": ["tpm", "recovery_password"],
        "key_ids": [want[0]["key_id"]]}]}
    st, _, verdict = c.request(fol, "POST", "/v1/compliance", rep, as_="agent")
    check(st == 200 and verdict["rotate_key_ids"] == [] and verdict["status"] == "compliant",
          "report after the listing: %s %s" % (st, short(verdict)))

    for role in ("agent", "auditor"):
        expect_error(list_keys(c, fol, prefix, as_=role), 403, "forbidden",
                     "list as %s" % role)
    for q, code in [("list=1", "missing_prefix"), ("prefix=XYZXYZXY&list=1", "invalid_prefix"),
                    ("prefix=0A1B2C3&list=1", "invalid_prefix"),
                    ("prefix=%s&list=0" % prefix, "bad_list"),
                    ("prefix=%s&list=yes" % prefix, "bad_list"),
                    ("prefix=%s&list=" % prefix, "bad_list"),
                    ("prefix=%s&list" % prefix, "bad_list"),
                    ("prefix=%s&list=1%%" % prefix, "bad_list")]:
        expect_error(c.request(fol, "GET", "/v1/keys?" + q, as_="helpdesk"), 400, code,
                     "GET /v1/keys?%s" % q)
    check(audit_all(c, leader)["last_seq"] == before["last_seq"],
          "refused listings wrote audit entries")

    # Without list=1 the prefix lookup discloses and audits, as before.
    st, _, data = c.request(fol, "GET", "/v1/keys?prefix=%s&reason=lost_pin" % prefix,
                            as_="helpdesk")
    check(st == 200 and len(data["keys"]) == 3 and
          all(k["recovery_password"] == r["recovery_password"]
              for k, r in zip(data["keys"], want)), "lookup by prefix: %s" % st)
    reads = [e for e in audit_all(c, leader)["entries"]
             if e["seq"] > before["last_seq"] and e["action"] == "key.read"]
    check(sorted(e["key_id"] for e in reads) == [r["key_id"] for r in want],
          "lookup by prefix audited %s" % short(reads))
    st, _, data = list_keys(c, fol, prefix)
    check(st == 200 and all(k["disclosed_at"] for k in data["keys"]),
          "list after the lookup: %s" % short(data))
    st, _, verdict = c.request(fol, "POST", "/v1/compliance", rep, as_="agent")
    check(st == 200 and verdict["rotate_key_ids"] == [want[0]["key_id"]],
          "report after the lookup: %s %s" % (st, short(verdict)))

    # At most 100, saying so.
    prefix2 = "%08X" % ((int(prefix, 16) + 7) % 2 ** 32)
    cl = c.client(leader, as_="agent")
    for i in range(101):
        rec = random_key(t.rng)
        rec["key_id"] = prefix2 + "-0000-4000-8000-%012X" % i
        st, _, data = cl.request("POST", "/v1/keys", rec)
        check(st == 201, "escrow %d: %s %s" % (i, st, short(data)))
    cl.close()
    st, _, data = list_keys(c, fol, prefix2)
    check(st == 200 and len(data["keys"]) == 100 and data["truncated"] is True and
          data["keys"][-1]["key_id"] == prefix2 + "-0000-4000-8000-%012X" % 99,
          "list of 101 keys: %s, %d keys, truncated %s" % (st, len(data.get("keys", [])),
                                                         data.get("truncated")))


def test_audit_filters(t):
    """action, actor, key_id (any case, braces) and machine (any case)
    filters, alone and together, with since, limit and CSV, through a
    follower; last_seq unchanged by them; bad values refused."""
    c = t.cluster(3, tls=True)
    leader = c.leader()
    fol = [i for i in c.ids() if i != leader][0]
    m1, m2 = "pc-filter-1.corp.example", "pc-filter-2.corp.example"
    k1, k2, k3 = random_key(t.rng, m1), random_key(t.rng, m1), random_key(t.rng, m2)
    for rec in (k1, k2, k3):
        st, _, data = c.request(fol, "POST", "/v1/keys", rec, as_="agent")
        check(st == 201, "escrow: %s %s" % (st, short(data)))
    for rec, role in ((k1, "helpdesk"), (k3, "operator"), (k1, "operator")):
        st, _, data = c.request(fol, "GET", harness.lookup_path(rec["key_id"]), as_=role)
        check(st == 200, "lookup as %s: %s %s" % (role, st, short(data)))
    missing = random_key(t.rng)["key_id"]
    expect_error(c.request(fol, "GET", harness.lookup_path(missing), as_="helpdesk"), 404,
                 "key_not_found", "lookup of a missing key")
    everything = audit_all(c, fol)
    entries = everything["entries"]

    def want(action=None, actor=None, key_id=None, machine=None, since=0):
        return [e for e in entries if e["seq"] > since
                and (action is None or e["action"] == action)
                and (actor is None or e["actor"] == actor)
                and (key_id is None or e["key_id"] == key_id)
                and (machine is None or e["machine"] == machine)]

    cases = [
        ({"action": "key.read"}, want(action="key.read")),
        ({"actor": "helpdesk"}, want(actor="helpdesk")),
        ({"key_id": "{%s}" % k1["key_id"].lower()}, want(key_id=k1["key_id"])),
        ({"key_id": missing}, want(key_id=missing)),
        ({"machine": m1.upper()}, want(machine=m1)),
        ({"action": "key.read", "actor": "operator"}, want(action="key.read", actor="operator")),
        ({"action": "key.escrow", "machine": m1}, want(action="key.escrow", machine=m1)),
        ({"action": "key.read", "actor": "operator", "key_id": k1["key_id"], "machine": m1},
         want(action="key.read", actor="operator", key_id=k1["key_id"], machine=m1)),
        ({"key_id": k3["key_id"], "machine": m1}, []),
        ({"action": "key.read_miss", "actor": "helpdesk"},
         want(action="key.read_miss", actor="helpdesk")),
        ({"action": "key.read", "actor": ""}, want(action="key.read")),   # empty: no filter
        ({"action": "no.such.action"}, []),
    ]
    # Every case is non-trivial where it should be.
    check(len(cases[0][1]) == 3 and len(cases[1][1]) == 2 and len(cases[2][1]) == 3 and
          len(cases[4][1]) == 4 and len(cases[5][1]) == 2 and len(cases[6][1]) == 2 and
          len(cases[7][1]) == 1, "fixture entries: %s" % [len(w) for _, w in cases])
    for params, expected in cases:
        st, _, data = audit(c, fol, **params)
        check(st == 200 and data["entries"] == expected,
              "filter %s: %s, seqs %s, expected %s" % (params, st,
                                                       [e["seq"] for e in data["entries"]],
                                                       [e["seq"] for e in expected]))
        check(data["last_seq"] == everything["last_seq"],
              "filter %s: last_seq %s, not the log's %s" % (params, data["last_seq"],
                                                           everything["last_seq"]))
        # The same entries as CSV.
        st, hdrs, text = audit(c, leader, format="csv", **params)
        rows = list(csv.DictReader(io.StringIO(text)))
        check(st == 200 and hdrs.get("content-type", "").startswith("text/csv") and
              [int(r["seq"]) for r in rows] == [e["seq"] for e in expected],
              "CSV filter %s: %s %s" % (params, st, [r.get("seq") for r in rows]))

    # Paging a filter with since and limit.
    reads = want(action="key.read")
    seqs, since = [], 0
    for _ in range(5):
        st, _, page = audit(c, fol, action="key.read", since=since, limit=1)
        check(st == 200 and len(page["entries"]) <= 1, "page: %s %s" % (st, short(page)))
        if not page["entries"]:
            break
        since = page["entries"][0]["seq"]
        seqs.append(since)
    check(seqs == [e["seq"] for e in reads], "paged key.read: %s" % seqs)
    st, _, page = audit(c, fol, machine=m1, since=reads[0]["seq"], limit=2)
    check(st == 200 and page["entries"] == want(machine=m1, since=reads[0]["seq"])[:2],
          "machine since limit: %s" % short(page))

    for params in ({"action": "key\x01read"}, {"actor": "a" * 300}, {"key_id": "nope"},
                   {"key_id": k1["key_id"] + "0"}, {"machine": "bad name!"},
                   {"machine": "m" * 254}, {"actor": "bob\nalice"}, {"action": "a" * 40}):
        expect_error(audit(c, fol, **params), 400, "bad_filter", "filter %s" % short(params))
    for q in ("action=%ZZ", "machine=pc%00x", "actor=%"):
        expect_error(c.request(fol, "GET", "/v1/reports/audit?" + q, as_="auditor"), 400,
                     "bad_filter", "filter ?%s" % q)
    expect_error(audit(c, fol, action="key.read", since="x"), 400, "bad_since", "bad since")
    expect_error(c.request(fol, "GET", "/v1/reports/audit?action=key.read", as_="helpdesk"),
                 403, "forbidden", "audit report as helpdesk")


def test_escrowctl_filters_and_list(t):
    """escrowctl report audit --action/--actor/--key-id/--machine pass the
    filters (every format); lookup --prefix HEX --list lists without
    disclosing; misuse is a usage error (exit 2)."""
    from test_snapshot import need_ctl
    need_ctl()
    c = t.cluster(3)
    ids = c.ids()
    nodes = [c.url(i) for i in ids]
    m = "pc-ctl-filter.corp.example"
    prefix = "%08X" % t.rng.getrandbits(32)
    recs = []
    for i in range(2):
        rec = random_key(t.rng, m)
        rec["key_id"] = prefix + rec["key_id"][8:]
        recs.append(rec)
    recs.append(random_key(t.rng))
    for rec in recs:
        expect_created(c.escrow_retry(ids, rec), rec, "escrow")
    expect_lookup(c.lookup(ids[0], recs[0]["key_id"]), recs[0], "lookup")
    st, _, full = audit(c, ids[0])
    check(st == 200, "audit: %s" % st)
    want = [e for e in full["entries"] if e["action"] == "key.read" and e["machine"] == m]
    check(len(want) == 1, "fixture: %s" % short(want))

    def ctl(args, as_json=False):
        rc, so, se, _ = harness.escrowctl(args, nodes, as_json=as_json)
        return rc, so, se

    rc, so, se = ctl(["report", "audit", "--format", "json", "--action", "key.read",
                      "--machine", m.upper(), "--page", "1"])
    check(rc == 0 and json.loads(so)["entries"] == want,
          "report audit --action --machine: exit %s %s %s" % (rc, short(so), short(se)))
    rc, so, se = ctl(["report", "audit", "--format", "json", "--key-id",
                      "{%s}" % recs[1]["key_id"].lower()])
    got = json.loads(so)["entries"] if rc == 0 else []
    check(rc == 0 and [(e["action"], e["key_id"]) for e in got] ==
          [("key.escrow", recs[1]["key_id"])], "report audit --key-id: exit %s %s"
          % (rc, short(got)))
    rc, so, se = ctl(["report", "audit", "--format", "csv", "--actor", "insecure",
                      "--action", "key.escrow"])
    rows = list(csv.DictReader(io.StringIO(so)))
    check(rc == 0 and sorted(r["key_id"] for r in rows) == sorted(r["key_id"] for r in recs),
          "report audit csv --actor --action: exit %s %s" % (rc, [r.get("key_id") for r in rows]))
    rc, so, se = ctl(["report", "audit", "--action", "no.such"])
    check(rc == 0 and len(so.splitlines()) == 1, "no match: exit %s %s" % (rc, short(so)))
    rc, so, se = ctl(["report", "audit", "--machine", "bad name!"])
    check(rc == 1 and "bad_filter" in se, "bad filter: exit %s %s" % (rc, short(se)))
    rc, so, se = ctl(["report", "compliance", "--action", "key.read"])
    check(rc == 2 and "--action" in se, "compliance --action: exit %s %s" % (rc, short(se)))

    before = audit(c, ids[0])[2]["last_seq"]
    rc, so, se = ctl(["lookup", "--prefix", prefix.lower(), "--list"])
    lines = so.splitlines()
    check(rc == 0 and len(lines) == 3 and lines[0].split()[:3] == ["KEY", "ID", "MACHINE"]
          and [x.split()[0] for x in lines[1:]] == sorted(r["key_id"] for r in recs[:2])
          and not any(r["recovery_password"] in so for r in recs),
          "lookup --list: exit %s %s %s" % (rc, short(so), short(se)))
    rc, so, se = ctl(["lookup", "--prefix", prefix, "--list"], as_json=True)
    data = json.loads(so) if rc == 0 else {}
    check(rc == 0 and len(data.get("keys", [])) == 2 and data["truncated"] is False and
          all("recovery_password" not in k for k in data["keys"]),
          "lookup --list --json: exit %s %s" % (rc, short(data)))
    check(audit(c, ids[0])[2]["last_seq"] == before, "lookup --list wrote audit entries")
    for args in (["lookup", "--prefix", prefix, "--list", "--reason", "lost_pin"],
                 ["lookup", recs[0]["key_id"], "--list"]):
        rc, so, se = ctl(args)
        check(rc == 2 and "--list" in se, "%s: exit %s %s" % (args, rc, short(se)))


TESTS = [
    test_audit_report_lists_every_entry,
    test_escrowctl_report_audit,
    test_list_keys_by_prefix,
    test_audit_filters,
    test_escrowctl_filters_and_list,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
