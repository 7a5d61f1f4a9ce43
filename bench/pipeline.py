#!/usr/bin/env python3
"""pipeline.py: one client's commit through a follower of three nodes, with
nothing but its messages and its log appends (issue 16's single-client
target), so that what this machine allows is measured end to end rather
than summed from parts (bench/floor.py).

Four processes on 127.0.0.1, joined by TCP connections with TCP_NODELAY,
as the client and the three nodes of a cluster are:

  client -> follower F        the request (300 bytes)
  F -> leader L               F forwards it
  L -> F and L -> G           the entry (300 bytes) to both followers, then
                              L appends it to its own log
  F -> L, G -> L              each follower appends it to its log and
                              answers (64 bytes)
  L -> F                      once L's own append and one follower's are
                              done, the answer
  F -> client                 F passes it on

An append is one 4 KiB write with O_DIRECT | O_DSYNC at the next offset of
a file of its own, written whole, synced and dropped from the page cache
first (raft/segfill.c leaves libraft's segments so): three nodes, one disk.
The same run without appends gives what the messages alone take. No
parsing, no store, no Raft: what escrow or etcd take above this is their
own work. Each process blocks in recv when it has nothing to do, as an
idle node blocks in epoll_wait.

Usage: bench/pipeline.py [--dir DIR] [--commits N] [--json]
  --dir DIR      where the three log files go (default: the current
                 directory; give the file system of the data dirs)
  --commits N    commits timed in each run, 10-100000 (default 2000)
  --json         print one JSON object instead of lines
Exit 0, 1 when a measurement failed, 2 for a bad option. Standard library
only."""

import json
import mmap
import os
import resource
import select
import socket
import sys
import tempfile
import time

from floor import BLOCK, MESSAGE, parse_options, percentiles

ANSWER = 64
NODES = ("follower", "leader", "other_follower")


def parse(argv):
    return parse_options(argv, __doc__, "pipeline.py",
                         {"dir": ".", "commits": 2000, "json": False},
                         {"commits": (10, 100000)})


def tcp_pair():
    """Two ends of one loopback TCP connection, TCP_NODELAY on both."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        a = socket.create_connection(listener.getsockname(), timeout=30)
        b, _ = listener.accept()
    for s in (a, b):
        s.settimeout(30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return a, b


def recv_exact(s, n):
    """n bytes from s, or b"" when the peer closed first."""
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            return b""
        got += chunk
    return bytes(got)


class Log:
    """A node's log: a file written whole, appended to 4 KiB at a time."""

    def __init__(self, directory, n):
        fd, self.path = tempfile.mkstemp(prefix="pipeline-log-", dir=directory)
        try:
            try:
                os.write(fd, b"\0" * (n * BLOCK))
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            try:
                self.how = "O_DIRECT|O_DSYNC"
                self.fd = os.open(self.path, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)
            except OSError:     # a file system without O_DIRECT
                self.how = "O_DSYNC"
                self.fd = os.open(self.path, os.O_WRONLY | os.O_DSYNC)
        except OSError:
            os.unlink(self.path)
            raise
        self.buf = mmap.mmap(-1, BLOCK)     # page-aligned, as O_DIRECT wants
        self.buf.write(b"\x5a" * BLOCK)
        self.next = 0

    def append(self):
        if os.pwrite(self.fd, self.buf, self.next * BLOCK) != BLOCK:
            raise OSError("short write to %s" % self.path)
        self.next += 1

    def close(self):
        os.close(self.fd)
        os.unlink(self.path)


def follower(client, forward, raft, log):
    """F: passes the client's request to L, appends L's entry and answers
    it, passes L's answer back to the client."""
    while True:
        req = recv_exact(client, MESSAGE)
        if not req:
            return
        forward.sendall(req)
        if not recv_exact(raft, MESSAGE):
            return
        if log:
            log.append()
        raft.sendall(b"a" * ANSWER)
        answer = recv_exact(forward, ANSWER)
        if not answer:
            return
        client.sendall(answer)


def other_follower(raft, log):
    """G: appends L's entries and answers each."""
    while recv_exact(raft, MESSAGE):
        if log:
            log.append()
        raft.sendall(b"a" * ANSWER)


def leader(forward, to_f, to_g, log):
    """L: sends each forwarded request to both followers as an entry,
    appends it, and answers F once one follower has appended it too (its
    own append and one follower's are a majority of three). A follower's
    late answer is read with the next commit's."""
    acks = {to_f: 0, to_g: 0}
    pending = {to_f: b"", to_g: b""}
    commits = 0
    while True:
        req = recv_exact(forward, MESSAGE)
        if not req:
            # The client is gone: end both followers' streams and read what
            # they still send, so that neither is reset with data unread.
            for s in acks:
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            return
        to_f.sendall(req)
        to_g.sendall(req)
        if log:
            log.append()
        commits += 1
        while max(acks.values()) < commits:
            ready, _, _ = select.select(list(acks), [], [], 30)
            if not ready:
                raise OSError("no follower answered in 30 s")
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                pending[s] += data
                acks[s] += len(pending[s]) // ANSWER
                pending[s] = pending[s][len(pending[s]) // ANSWER * ANSWER:]
        forward.sendall(b"c" * ANSWER)


def serve(role, keep, report, work, log):
    """In a forked process: runs work(), then writes the process's CPU
    seconds (user, system) and its appends to report, and exits. keep: the
    sockets it owns."""
    rc = 0
    try:
        work()
    except BaseException as e:     # whatever it is: reported, and the process ends below
        sys.stderr.write("pipeline.py: %s: %s\n" % (role, e))
        rc = 1
    finally:
        for s in keep:
            s.close()
        t = resource.getrusage(resource.RUSAGE_SELF)
        os.write(report, (json.dumps([role, t.ru_utime, t.ru_stime, log.next if log else 0])
                          + "\n").encode())
        os._exit(rc)


def run(directory, n, appends):
    """n commits from one client, after one not timed. Returns
    ({50,90,99: us}, {role: {"user": us, "system": us per commit,
    "appends": count}}, how the logs were opened or None)."""
    logs = dict.fromkeys(NODES)
    everything = []
    try:
        for r in NODES if appends else ():
            logs[r] = Log(directory, n + 1)
        for _ in range(4):
            everything.extend(tcp_pair())
    except OSError:
        for s in everything:
            s.close()
        for log in logs.values():
            if log:
                log.close()
        raise
    c_client, f_client, f_forward, l_forward, l_to_f, f_raft, l_to_g, g_raft = everything
    rfd, wfd = os.pipe()
    procs = []
    times = []
    try:
        for role, mine, work in (
                ("follower", [f_client, f_forward, f_raft],
                 lambda: follower(f_client, f_forward, f_raft, logs["follower"])),
                ("leader", [l_forward, l_to_f, l_to_g],
                 lambda: leader(l_forward, l_to_f, l_to_g, logs["leader"])),
                ("other_follower", [g_raft],
                 lambda: other_follower(g_raft, logs["other_follower"]))):
            pid = os.fork()
            if pid == 0:
                os.close(rfd)
                for s in everything:
                    if s not in mine:
                        s.close()
                serve(role, mine, wfd, work, logs[role])
            procs.append(pid)
        for s in everything[1:]:
            s.close()
        os.close(wfd)
        msg = b"q" * MESSAGE
        for _ in range(n + 1):
            t0 = time.perf_counter_ns()
            c_client.sendall(msg)
            if len(recv_exact(c_client, ANSWER)) != ANSWER:
                raise OSError("the follower closed the connection")
            times.append((time.perf_counter_ns() - t0) / 1e3)
    finally:
        c_client.close()
        failed = 0
        for pid in procs:
            failed |= os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        cpu = {}
        with os.fdopen(rfd) as f:
            for line in f:
                role, user, system, count = json.loads(line)
                cpu[role] = {"user": round(user * 1e6 / (n + 1), 1),
                             "system": round(system * 1e6 / (n + 1), 1), "appends": count}
        for log in logs.values():
            if log:
                log.close()
    if failed:
        raise OSError("a node's process failed")
    if sorted(cpu) != sorted(NODES):
        raise OSError("a node's process did not report")
    return percentiles(times[1:]), cpu, logs["leader"].how if appends else None


def shape(lat, cpu, how):
    """A run's figures as --json prints them."""
    return {"p50_us": lat[50], "p90_us": lat[90], "p99_us": lat[99], "nodes": cpu, "how": how}


def main(argv):
    opts = parse(argv)
    try:
        runs = (("messages", "messages only", run(opts["dir"], opts["commits"], False)),
                ("messages_and_appends", "messages and appends",
                 run(opts["dir"], opts["commits"], True)))
    except OSError as e:
        sys.stderr.write("pipeline.py: %s\n" % e)
        return 1
    if opts["json"]:
        out = {"commits": opts["commits"]}
        out.update({key: shape(*r) for key, _, r in runs})
        print(json.dumps(out))
        return 0
    for _, name, (lat, cpu, how) in runs:
        print("one client through a follower, %s%s (%d commits): p50 %.0f us, p90 %.0f us, "
              "p99 %.0f us; CPU per commit (user / system): %s"
              % (name, " (%s)" % how if how else "", opts["commits"], lat[50], lat[90], lat[99],
                 ", ".join("%s %.0f / %.0f us" % (r.replace("_", " "), cpu[r]["user"],
                                                  cpu[r]["system"]) for r in NODES)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
