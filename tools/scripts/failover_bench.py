#!/usr/bin/env python3
"""Failover time of an escrow cluster, as a client sees it.

Starts a cluster of real escrowd nodes on 127.0.0.1, escrows one key, then
per try: SIGKILLs the leader and polls a lookup of that key through one
survivor every --poll-ms until it succeeds (bounded by --bound seconds). The
time from the SIGKILL to the first successful lookup is the try's failover
time. With --op escrow each poll escrows a new key instead (issue 16's
measure), and the first one answered 201 ends the try; that key is then read
back through the survivor and must hold its password. Both are Raft writes:
a lookup commits its audit entry before it answers. The killed node is
restarted and caught up before the next try.
Prints every try, then the median and the worst; --json prints one object.
Exit status: 0 when every try recovered with the right password, 1 if not,
2 on bad usage.
"""

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))

import harness  # noqa: E402

# A poll's answer when it succeeded, by --op.
SUCCESS = {"lookup": 200, "escrow": 201}


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Measure the time from SIGKILL of the escrow leader to the first "
                    "successful lookup (or escrow) through a survivor.")
    p.add_argument("--op", default="lookup", choices=["lookup", "escrow"],
                   help="what each poll does: an audited lookup of the key escrowed at the "
                        "start, or an escrow of a new key (default lookup)")
    p.add_argument("--tries", type=int, default=10, help="leader kills to measure (default 10)")
    p.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    p.add_argument("--escrowd", help="escrowd binary (default: $ESCROWD, else node/escrowd)")
    p.add_argument("--poll-ms", type=float, default=10.0,
                   help="pause between polls, in ms (default 10)")
    p.add_argument("--bound", type=float, default=30.0,
                   help="seconds to wait for a successful poll per try (default 30)")
    p.add_argument("--request-timeout", type=float, default=2.0,
                   help="client timeout of one poll, in seconds (default 2)")
    p.add_argument("--seed", type=int, help="seed of the random key (default: time)")
    p.add_argument("--log-level", default="info", choices=["error", "warn", "info", "debug"],
                   help="escrowd log level (default info)")
    p.add_argument("--keep", action="store_true", help="keep the cluster directory")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.tries < 1:
        p.error("--tries must be at least 1")
    if args.nodes < 3:
        p.error("--nodes must be at least 3 (a majority must survive the kill)")
    if args.poll_ms < 0 or args.bound <= 0 or args.request_timeout <= 0:
        p.error("--poll-ms must be >= 0, --bound and --request-timeout > 0")
    return args


def holds(st, data, key):
    """Whether a lookup's answer is key, with its password."""
    return st == SUCCESS["lookup"] and isinstance(data, dict) and \
        data.get("recovery_password") == key["recovery_password"]


def poll(c, survivor, key, args, rng, timeout):
    """One poll of the survivor: (status, when it answered, whether the
    answer is the right one). An escrow is right when its key then reads
    back with its password (a read not timed)."""
    if args.op == "lookup":
        st, _, data = c.lookup(survivor, key["key_id"], timeout=timeout)
        return st, time.monotonic(), holds(st, data, key)
    new = harness.random_key(rng)
    st, _, _ = c.escrow(survivor, new, timeout=timeout)
    answered = time.monotonic()
    if st != SUCCESS["escrow"]:
        return st, answered, False
    rst, _, data = c.lookup(survivor, new["key_id"], timeout=harness.REQUEST_TIMEOUT)
    return st, answered, holds(rst, data, new)


def measure(c, key, args, k, rng):
    """Kills the leader, polls a survivor; returns the try's record."""
    old = c.leader(15)
    others = [nid for nid in c.live_ids() if nid != old]
    survivor = others[k % len(others)]
    answers = {}
    attempts = 0
    wrong = 0
    ms = None
    t0 = time.monotonic()
    c.kill(old, signal.SIGKILL)
    deadline = t0 + args.bound
    while True:
        attempts += 1
        left = deadline - time.monotonic()
        st, now, right = poll(c, survivor, key, args, rng,
                              max(0.1, min(args.request_timeout, left)))
        answers[str(st)] = answers.get(str(st), 0) + 1
        if st == SUCCESS[args.op]:
            if right:
                ms = (now - t0) * 1000.0
                break
            wrong += 1
        if now >= deadline:
            break
        time.sleep(args.poll_ms / 1000.0)
    rec = {"try": k + 1, "op": args.op, "killed": old, "survivor": survivor, "ms": None,
           "attempts": attempts, "answers": answers, "wrong_reads": wrong, "new_leader": None}
    if ms is not None:
        rec["ms"] = round(ms, 1)
        rec["new_leader"] = c.leader(15)
    return rec


def describe(rec):
    answers = ", ".join("%s x%d" % (st, n) for st, n in sorted(rec["answers"].items()))
    if rec["ms"] is None:
        return ("try %2d: leader %d killed; no successful %s through node %d "
                "within the bound (%s)" % (rec["try"], rec["killed"], rec["op"], rec["survivor"],
                                          answers))
    return ("try %2d: leader %d killed; %s through node %d succeeded after %8.1f ms "
            "(%d attempts: %s); new leader %d" % (rec["try"], rec["killed"], rec["op"],
                                                  rec["survivor"], rec["ms"], rec["attempts"],
                                                  answers, rec["new_leader"]))


def main(argv):
    args = parse_args(argv)
    if args.escrowd:
        harness.ESCROWD = args.escrowd
    if not (os.path.isfile(harness.ESCROWD) and os.access(harness.ESCROWD, os.X_OK)):
        sys.stderr.write("failover_bench: escrowd not found or not executable: %s\n"
                         % harness.ESCROWD)
        return 2
    harness.install_handlers()
    progress = sys.stderr if args.json else sys.stdout
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    key = harness.random_key(rng)
    tries = []
    ok = False
    c = harness.Cluster(args.nodes, "failover-bench", args.log_level)
    try:
        print("escrowd %s; %d nodes in %s; seed %d" % (harness.ESCROWD, args.nodes, c.dir, seed),
              file=progress, flush=True)
        c.start()
        c.wait_ready(30)
        st, _, data, _ = c.escrow_retry(c.live_ids(), key, timeout=20)
        harness.check(st == 201, "escrow of the probe key answered %s %s"
                      % (st, harness.short(data)))
        for k in range(args.tries):
            rec = measure(c, key, args, k, rng)
            tries.append(rec)
            print(describe(rec), file=progress, flush=True)
            if rec["ms"] is None:
                break
            c.restart(rec["killed"])
            c.wait_ready(30)
            c.digest_equal(30)
        ok = (len(tries) == args.tries
              and all(r["ms"] is not None and r["wrong_reads"] == 0 for r in tries))
    except harness.Failure as e:
        print("failover_bench: %s" % e, file=sys.stderr, flush=True)
    finally:
        c.stop_all()
        if args.keep or not ok:
            print("kept %s" % c.dir, file=progress, flush=True)
        else:
            harness.shutil.rmtree(c.dir, ignore_errors=True)

    times = [r["ms"] for r in tries if r["ms"] is not None]
    summary = {
        "ok": ok,
        "op": args.op,
        "nodes": args.nodes,
        "tries": tries,
        "median_ms": round(statistics.median(times), 1) if times else None,
        "worst_ms": max(times) if times else None,
        "seed": seed,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    elif times:
        print("median %.1f ms, worst %.1f ms over %d tries%s"
              % (summary["median_ms"], summary["worst_ms"], len(times),
                 "" if ok else " (FAILED: see above)"))
    else:
        print("no try succeeded")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
