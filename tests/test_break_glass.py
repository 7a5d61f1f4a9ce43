#!/usr/bin/env python3
"""Process tests of break-glass lookups (docs/api.md section 3): a helpdesk
lookup with break_glass=1 on a node cut off from the majority is served from
its own copy once the audit entry is fsynced to its journal; the journal is
replayed through Raft exactly once when a leader is back."""

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402
from test_process import expect_refusal  # noqa: E402

JOURNAL = "break-glass.journal"
HEAD = 40  # u32 little-endian length, its complement, SHA-256


def bg_path(key_id, reason="lost_pin", note=None):
    return harness.lookup_path(key_id, reason, note) + "&break_glass=1"


def journal_records(c, nid):
    """The payloads (dicts) of node nid's journal, checking every record;
    [] when there is no journal."""
    path = os.path.join(c.nodes[nid].data_dir, JOURNAL)
    if not os.path.exists(path):
        return []
    data = open(path, "rb").read()
    out, off = [], 0
    while off < len(data):
        check(len(data) - off >= HEAD, "journal: a torn record head at %d" % off)
        n = struct.unpack_from("<I", data, off)[0]
        payload = data[off + HEAD:off + HEAD + n]
        check(len(payload) == n, "journal: a torn record at %d" % off)
        check(hashlib.sha256(payload).digest() == data[off + 8:off + HEAD],
              "journal: record at %d fails its SHA-256" % off)
        out.append(json.loads(payload.decode()))
        off += HEAD + n
    return out


def journal_drained(c, nid, timeout=30):
    """True once node nid's journal is gone (replayed), within timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and journal_records(c, nid):
        time.sleep(0.1)
    return not journal_records(c, nid)


def journal_record(payload):
    """One journal record (store/journal.h) holding payload, a dict."""
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return (struct.pack("<II", len(data), ~len(data) & 0xffffffff)
            + hashlib.sha256(data).digest() + data)


def expect_error(resp, status, code, what):
    st, _, data = resp[:3]
    err = data.get("error") if isinstance(data, dict) else None
    check(st == status and isinstance(err, dict) and err.get("code") == code,
          "%s: expected %d %s, got %s %s" % (what, status, code, st, short(data)))
    return err["message"]


def expect_password(resp, rec, what, break_glass):
    st, _, data = resp[:3]
    check(st == 200 and isinstance(data, dict) and data.get("key_id") == rec["key_id"],
          "%s: expected 200 with key %s, got %s %s" % (what, rec["key_id"], st, short(data)))
    check(data.get("recovery_password") == rec["recovery_password"],
          "%s: a wrong recovery password" % what)
    if break_glass:
        check(data.get("break_glass") is True and isinstance(data.get("index"), int)
              and data["index"] > 0, "%s: no break_glass/index: %s" % (what, short(data)))
    else:
        check("break_glass" not in data, "%s: break_glass in an ordinary answer" % what)
    return data


def wait_no_quorum(c, nid, key_id, timeout=60):
    """Waits until an ordinary lookup on nid answers 503 no_quorum; returns
    its message."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        resp = c.lookup(nid, key_id, timeout=15)
        err = resp[2].get("error") if isinstance(resp[2], dict) else None
        if resp[0] == 503 and isinstance(err, dict) and err.get("code") == "no_quorum":
            return err["message"]
        last = "%s %s" % (resp[0], short(resp[2]))
        time.sleep(0.2)
    raise harness.Failure("no 503 no_quorum from node %d after %d s (last: %s)"
                          % (nid, timeout, last))


def audit_entries(c, nid, key_id, timeout=15):
    st, _, data = c.request(nid, "GET", "/v1/reports/audit?limit=10000", timeout=timeout,
                            as_="auditor" if c.tls else None)
    check(st == 200 and isinstance(data, dict), "audit report: %s %s" % (st, short(data)))
    return [e for e in data.get("entries", []) if e.get("key_id") == key_id]


def isolate_follower(c):
    """Kills every node but one follower; returns the follower's id."""
    lead = c.leader()
    survivor = [i for i in c.ids() if i != lead][0]
    for nid in c.ids():
        if nid != survivor:
            c.kill(nid)
    return survivor


def break_glass_once_past(c, nid, key_id, timeout=30, **kw):
    """The first answer to a break-glass lookup on nid that is not a 503
    (the threshold not yet passed), or the last 503 after timeout seconds."""
    deadline = time.monotonic() + timeout
    resp = None
    while time.monotonic() < deadline:
        resp = c.request(nid, "GET", bg_path(key_id), timeout=15, **kw)
        if resp[0] != 503:
            break
        time.sleep(0.2)
    return resp


def start(t, threshold, tls=False):
    c = t.cluster(start=False, tls=tls)
    c.extra = ("--break-glass-after", str(threshold))
    c.start()
    c.wait_ready(30)
    return c


def test_served_journaled_replayed_once(t):
    """Two of three nodes killed: ordinary lookups get no_quorum, break_glass=1
    waits out the threshold, then is served from the survivor's copy after the
    journal entry; the entry survives a kill -9 and is replayed once."""
    c = start(t, 15)
    lead = c.leader()
    recs = [random_key(t.rng) for _ in range(3)]
    for rec in recs:
        st, _, data = c.escrow_retry(c.ids(), rec)[:3]
        check(st == 201, "escrow: %s %s" % (st, short(data)))
    c.digest_equal(30)
    # With a leader, break_glass=1 is an ordinary lookup.
    seen = expect_password(c.request(lead, "GET", bg_path(recs[2]["key_id"])), recs[2],
                           "break_glass=1 with a leader", False)
    check(seen.get("disclosed_at"), "ordinary lookup: not disclosed")
    survivor = [i for i in c.ids() if i != lead][0]
    others = [i for i in c.ids() if i != survivor]
    c.digest_equal(30)
    for nid in others:
        c.kill(nid)
    killed_at = time.monotonic()
    # Before the threshold: the request waits for a leader, then 503.
    st, _, data = c.request(survivor, "GET", bg_path(recs[0]["key_id"]), timeout=15)[:3]
    check(st == 503 and isinstance(data, dict) and data["error"]["code"] == "no_leader",
          "break_glass=1 before the threshold: %s %s" % (st, short(data)))
    check(not journal_records(c, survivor), "a journal entry before the threshold")
    msg = wait_no_quorum(c, survivor, recs[0]["key_id"], timeout=60)
    check("break_glass=1" in msg, "no_quorum does not name break_glass=1: %s" % msg)
    t.diag("no_quorum %.1f s after the kill" % (time.monotonic() - killed_at))
    # The key the node lacks; then the served lookup.
    missing = random_key(t.rng)
    msg = expect_error(c.request(survivor, "GET", bg_path(missing["key_id"])), 404,
                       "not_found_break_glass", "a key the node lacks")
    check("may exist" in msg, "the 404 does not say the key may exist elsewhere: %s" % msg)
    data = expect_password(c.request(survivor, "GET", bg_path(recs[0]["key_id"], "other",
                                                               "cut off branch")),
                           recs[0], "break-glass lookup", True)
    served_index = data["index"]
    # The node dies right after answering: the entry is on disk.
    c.kill(survivor)
    entries = journal_records(c, survivor)
    check(len(entries) == 1 and entries[0]["key_id"] == recs[0]["key_id"]
          and entries[0]["node"] == survivor and entries[0]["reason"] == "other"
          and entries[0]["note"] == "cut off branch",
          "journal after kill -9: %s" % short(entries, 600))
    check(entries[0]["index"] == served_index, "journal index %s, answer %s"
          % (entries[0]["index"], served_index))
    entry_id = entries[0]["id"]
    check(data.get("break_glass_id") == entry_id, "the answer's break_glass_id %s, the "
          "journal's id %s" % (data.get("break_glass_id"), entry_id))
    with open(os.path.join(c.nodes[survivor].data_dir, JOURNAL), "rb") as f:
        saved = f.read()
    # Alone again: the journal is kept (nothing to replay to).
    c.restart(survivor)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and c.status(survivor, timeout=2) is None:
        time.sleep(0.1)
    check(len(journal_records(c, survivor)) == 1, "the journal changed at restart")
    # The majority back: the entry is replayed once, the key disclosed.
    for nid in others:
        c.restart(nid)
    c.wait_ready(30)
    check(journal_drained(c, survivor), "the journal was not removed after replay")
    c.digest_equal(30)
    bg = [e for e in audit_entries(c, lead if c.running(lead) else survivor, recs[0]["key_id"])
          if e.get("break_glass")]
    check(len(bg) == 1, "break-glass audit entries for the key: %s" % short(bg, 600))
    check(bg[0].get("node") == survivor and bg[0].get("action") == "key.read"
          and bg[0].get("reason") == "other" and bg[0].get("break_glass_id") == entry_id,
          "the replayed audit entry: %s" % short(bg[0], 600))
    served_at = entries[0]["at_ms"]
    want_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(served_at // 1000)) + \
        ".%03dZ" % (served_at % 1000)
    check(bg[0].get("at") == want_at, "the replayed entry's time %s, served at %s"
          % (bg[0].get("at"), want_at))
    # A crash between the commit and the removal replays it again: ignored.
    with open(os.path.join(c.nodes[survivor].data_dir, JOURNAL), "wb") as f:
        f.write(saved)
    check(journal_drained(c, survivor), "the journal replayed again was not removed")
    bg = [e for e in audit_entries(c, survivor, recs[0]["key_id"]) if e.get("break_glass")]
    check(len(bg) == 1, "after a second replay: %s" % short(bg, 600))
    # The lookup made with a leader: an ordinary entry.
    plain = audit_entries(c, survivor, recs[2]["key_id"])
    check([e.get("break_glass") for e in plain if e.get("action") == "key.read"] == [False],
          "the lookup with a leader: %s" % short(plain, 600))
    st, _, data = c.machine_keys(survivor, recs[0]["machine"])[:3]
    check(st == 200, "machine: %s %s" % (st, short(data)))
    keys = {k["key_id"]: k for k in data.get("keys", [])}
    check(keys.get(recs[0]["key_id"], {}).get("disclosed_at"),
          "the break-glass key is not disclosed: %s" % short(data, 600))
    if recs[1]["machine"] == recs[0]["machine"]:
        check(not keys.get(recs[1]["key_id"], {}).get("disclosed_at"),
              "a key nobody read is disclosed")
    # A record the leader refuses is set aside; the one after it is replayed.
    bad = dict(entries[0], key_id="not-a-key-id", id="%d-%032x" % (survivor, 1))
    good = dict(entries[0], key_id=recs[1]["key_id"], machine=recs[1]["machine"],
                id="%d-%032x" % (survivor, t.rng.getrandbits(128)))
    with open(os.path.join(c.nodes[survivor].data_dir, JOURNAL), "wb") as f:
        f.write(journal_record(bad) + journal_record(good))
    check(journal_drained(c, survivor), "a refused record blocked the journal")
    refused = os.path.join(c.nodes[survivor].data_dir, JOURNAL + ".refused")
    check(os.path.exists(refused) and b"not-a-key-id" in open(refused, "rb").read(),
          "the refused record was not set aside in %s" % refused)
    bg = [e for e in audit_entries(c, survivor, recs[1]["key_id"]) if e.get("break_glass")]
    check([e.get("break_glass_id") for e in bg] == [good["id"]],
          "the record after the refused one: %s" % short(bg, 600))
    check("refused an entry" in open(c.nodes[survivor].log_path, errors="replace").read(),
          "no error about the refused entry")


test_served_journaled_replayed_once.timeout = 200


def test_policy_off_refuses(t):
    """The policy's break_glass false (set while a leader is there, audited):
    403 break_glass_disabled and no journal entry."""
    c = start(t, 2)
    rec = random_key(t.rng)
    check(c.escrow_retry(c.ids(), rec)[0] == 201, "escrow")
    st, _, pol = c.request(c.leader(), "GET", "/v1/policy")[:3]
    check(st == 200 and pol.get("break_glass") is True, "default policy: %s" % short(pol))
    pol["break_glass"] = False
    st, _, got = c.request(c.leader(), "PUT", "/v1/policy", pol)[:3]
    check(st == 200 and got.get("break_glass") is False, "PUT policy: %s %s" % (st, short(got)))
    c.digest_equal(30)
    survivor = isolate_follower(c)
    resp = break_glass_once_past(c, survivor, rec["key_id"])
    expect_error(resp, 403, "break_glass_disabled", "policy off")
    check(not journal_records(c, survivor), "a journal entry with the policy off")
    # A journal damaged at start is moved aside, reported, and the node runs.
    c.kill(survivor)
    data_dir = c.nodes[survivor].data_dir
    with open(os.path.join(data_dir, JOURNAL), "wb") as f:
        f.write(b"\x07" * 200)
    c.restart(survivor)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and c.status(survivor, timeout=2) is None:
        time.sleep(0.1)
    check(c.status(survivor) is not None, "the node did not start over a damaged journal")
    aside = [n for n in os.listdir(data_dir) if n.startswith(JOURNAL + ".damaged-")]
    check(len(aside) == 1 and not os.path.exists(os.path.join(data_dir, JOURNAL)),
          "the damaged journal was not moved aside: %s" % os.listdir(data_dir))
    log = open(c.nodes[survivor].log_path, errors="replace").read()
    check("break-glass journal damaged" in log and aside[0] in log,
          "no error line about the damaged journal")


def test_tls_roles(t):
    """Over TLS: an agent's break_glass=1 is refused (403) like its ordinary
    lookup; a helpdesk certificate is served (raw and with escrowctl),
    journaled with its actor, and replayed through the leader over TLS."""
    c = start(t, 2, tls=True)
    rec = random_key(t.rng)
    st = c.request(c.leader(), "POST", "/v1/keys", rec, as_="agent")[0]
    check(st == 201, "escrow: %s" % st)
    c.digest_equal(30)
    survivor = isolate_follower(c)
    resp = break_glass_once_past(c, survivor, rec["key_id"], as_="helpdesk")
    expect_password(resp, rec, "helpdesk break-glass over TLS", True)
    expect_error(c.request(survivor, "GET", bg_path(rec["key_id"]), as_="agent"), 403,
                 "forbidden", "agent break-glass")
    # escrowctl lookup --break-glass says where the answer came from.
    rc, out, err, _ = harness.escrowctl(
        c.ctl_tls_args("helpdesk") + ["lookup", rec["key_id"], "--reason", "lost_pin",
                                      "--break-glass"], nodes=[c.url(survivor)])
    check(rc == 0 and ("recovery_password: %s" % rec["recovery_password"]) in out
          and "break_glass: served by %s" % c.url(survivor) in out
          and "without quorum" in out,
          "escrowctl lookup --break-glass: rc %s, %s" % (rc, err.strip()[:300]))
    entries = journal_records(c, survivor)
    check(len(entries) == 2 and all(e["role"] == "helpdesk" and e["actor"] for e in entries)
          and entries[0]["id"] != entries[1]["id"],
          "journal over TLS: %s" % short(entries, 600))
    # Replayed over the TLS forwarding path once the others are back.
    for nid in c.ids():
        if nid != survivor:
            c.restart(nid)
    c.wait_ready(30)
    check(journal_drained(c, survivor), "the journal was not replayed over TLS")
    bg = [e for e in audit_entries(c, survivor, rec["key_id"]) if e.get("break_glass")]
    check(sorted(e["break_glass_id"] for e in bg) == sorted(e["id"] for e in entries)
          and all(e["actor"] == entries[0]["actor"] and e["role"] == "helpdesk"
                  and e["node"] == survivor for e in bg),
          "break-glass audit entries over TLS: %s" % short(bg, 800))


def test_pause_is_not_quorum_loss(t):
    """A follower stopped (SIGSTOP) for longer than the threshold, in a healthy
    cluster: a break_glass=1 lookup taken while it was stopped is an ordinary
    lookup once it runs again (the stop does not count as time without a
    leader)."""
    c = start(t, 2)
    rec = random_key(t.rng)
    check(c.escrow_retry(c.ids(), rec)[0] == 201, "escrow")
    c.digest_equal(30)
    follower = c.followers()[0]
    c.pause(follower)
    try:
        time.sleep(4)
        got = []
        th = threading.Thread(target=lambda: got.append(
            c.request(follower, "GET", bg_path(rec["key_id"]), timeout=15)), daemon=True)
        th.start()
        time.sleep(0.3)
    finally:
        c.resume(follower)
    th.join(20)
    check(got, "no answer from the resumed follower")
    expect_password(got[0], rec, "break_glass=1 right after a pause", False)
    check(not journal_records(c, follower), "a journal entry after a pause")


def test_journal_outlives_a_damaged_log(t):
    """A node that served a break-glass lookup finds its Raft log damaged
    before replaying it: it refuses to start and names the journal to keep;
    the documented recovery (empty the data dir but for break-glass.journal*,
    start with --join) replays the entry once."""
    c = start(t, 2)
    recs = [random_key(t.rng) for _ in range(2)]
    for rec in recs:
        st, _, data = c.escrow_retry(c.ids(), rec)[:3]
        check(st == 201, "escrow: %s %s" % (st, short(data)))
    c.digest_equal(30)
    survivor = isolate_follower(c)
    others = [i for i in c.ids() if i != survivor]
    data = expect_password(break_glass_once_past(c, survivor, recs[0]["key_id"]), recs[0],
                           "break-glass lookup", True)
    bg_id = data["break_glass_id"]
    rc = c.kill(survivor, sig=signal.SIGTERM, wait=True)
    check(rc == 0, "SIGTERM of node %d: exit %s" % (survivor, rc))
    check([e["id"] for e in journal_records(c, survivor)] == [bg_id],
          "the journal before the damage: %s" % short(journal_records(c, survivor), 600))
    node = c.nodes[survivor]
    harness.damage_newest_segment(node)
    text = expect_refusal(t, c.command(survivor, bootstrap=False),
                          "start on a damaged log holding a journal", ["damaged raft log"],
                          timeout=20)
    check(JOURNAL + "*" in text and "1 break-glass lookup(s)" in text,
          "the refusal does not say to keep the journal: %s" % short(text, 800))
    # The documented recovery (docs/operations.md), the journal kept.
    subprocess.run(["find", node.data_dir, "-mindepth", "1", "!", "-name", JOURNAL + "*",
                    "-delete"], check=True)
    check(sorted(os.listdir(node.data_dir)) == [JOURNAL],
          "after the recovery's find: %s" % os.listdir(node.data_dir))
    for nid in others:
        c.restart(nid)
    c.wait_ready(30, ids=others)
    c.start_node(survivor, bootstrap=False, join=c.url(others[0]))
    c.wait_ready(60, ids=[survivor])
    check(journal_drained(c, survivor), "the kept journal was not replayed")
    c.digest_equal(30)
    bg = [e for e in audit_entries(c, survivor, recs[0]["key_id"]) if e.get("break_glass")]
    check([(e.get("break_glass_id"), e.get("node")) for e in bg] == [(bg_id, survivor)],
          "break-glass audit entries after the rejoin: %s" % short(bg, 600))
    st, _, data = c.machine_keys(others[0], recs[0]["machine"])[:3]
    keys = {k["key_id"]: k for k in data.get("keys", [])} if st == 200 else {}
    check(keys.get(recs[0]["key_id"], {}).get("disclosed_at"),
          "the break-glass key is not disclosed: %s %s" % (st, short(data, 600)))


test_journal_outlives_a_damaged_log.timeout = 200


TESTS = [
    test_served_journaled_replayed_once,
    test_journal_outlives_a_damaged_log,
    test_pause_is_not_quorum_loss,
    test_policy_off_refuses,
    test_tls_roles,
]

if __name__ == "__main__":
    sys.exit(harness.run_tests(TESTS))
