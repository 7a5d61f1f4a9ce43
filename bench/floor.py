#!/usr/bin/env python3
"""floor.py: what this machine allows one client at best (issue 16's
single-client target), measured without escrow or etcd.

A write through a follower waits for at least one durable log write (the
leader's and a follower's run side by side; the commit needs one of the
followers' besides the leader's own) and for six one-way trips between
processes: client -> follower -> leader -> follower (AppendEntries) ->
leader (its answer) -> follower -> client. This prints, on the disk of
--dir and over 127.0.0.1:

  - a durable 4 KiB write into a preallocated file, as libraft writes its
    log (O_DIRECT | O_DSYNC, falling back to pwrite + fdatasync where the
    file system refuses O_DIRECT): p50, p90, p99;
  - the round trip of 300 bytes between two processes over loopback TCP
    (TCP_NODELAY, the receiver blocked in recv as an idle node is): p50,
    p90, p99;
  - their sum for a write through a follower: one write plus three round
    trips, at the p50s. What escrow or etcd add on top is their own work;
  - (x86-64) such writes into files written whole first, as libraft
    submits them (kernel AIO): one alone, and three submitted at once, one
    into each of three files (as a cluster of three nodes on this one disk
    appends each entry to three logs): when the first, second and third
    complete. A commit needs the second (the leader's and one follower's),
    hence a second floor: the second completion plus three round trips;
  - (x86-64) how often the kernel refuses a `RWF_NOWAIT` AIO write, as
    libraft 0.15 submits its appends, when each write starts at the block
    where the previous one ended (a log's tail) and runs into fresh
    preallocated blocks, and when the writes share no block. libraft redoes
    a refused append on a libuv pool thread.

Usage: bench/floor.py [--dir DIR] [--writes N] [--trips N] [--json]
  --dir DIR    where the test file goes (default: the current directory;
               give the file system of the data dirs)
  --writes N   durable writes, 10-100000 (default 2000)
  --trips N    round trips, 10-1000000 (default 5000)
  --json       print one JSON object instead of lines
Exit 0, 1 when a measurement failed, 2 for a bad option. Standard library
only."""

import ctypes
import json
import mmap
import platform
import os
import socket
import sys
import tempfile
import time

BLOCK = 4096
MESSAGE = 300
AIO_WRITES = 200
AIO_SIZE = 4 * BLOCK
NR_IO_SETUP, NR_IO_DESTROY, NR_IO_GETEVENTS, NR_IO_SUBMIT = 206, 207, 208, 209  # x86-64
IOCB_CMD_PWRITE = 1
RWF_NOWAIT = 0x8
EAGAIN = 11


class Iocb(ctypes.Structure):
    """struct iocb of <linux/aio_abi.h> (little-endian)."""
    _fields_ = [("data", ctypes.c_uint64), ("key", ctypes.c_uint32),
                ("rw_flags", ctypes.c_int32), ("opcode", ctypes.c_uint16),
                ("reqprio", ctypes.c_int16), ("fildes", ctypes.c_uint32),
                ("buf", ctypes.c_uint64), ("nbytes", ctypes.c_uint64),
                ("offset", ctypes.c_int64), ("reserved2", ctypes.c_uint64),
                ("flags", ctypes.c_uint32), ("resfd", ctypes.c_uint32)]


class IoEvent(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64),
                ("res", ctypes.c_int64), ("res2", ctypes.c_int64)]


def usage_error(msg, prog="floor.py"):
    sys.stderr.write("%s: %s (see --help)\n" % (prog, msg))
    sys.exit(2)


def parse_options(argv, doc, prog, opts, limits):
    """The options of floor.py and pipeline.py: --help (the Usage part of
    doc), --json, --dir DIR, and --NAME N for each integer option in limits
    (NAME: (lowest, highest)). opts: the defaults, updated and returned."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--help", "-h"):
            print(doc.split("\n\nUsage: ", 1)[1].split("\nExit", 1)[0].join(["Usage: ", ""]))
            sys.exit(0)
        if a == "--json":
            opts["json"] = True
        elif a == "--dir" or (a.startswith("--") and a[2:] in limits):
            if i + 1 >= len(argv):
                usage_error("%s needs a value" % a, prog)
            v = argv[i + 1]
            i += 1
            if a == "--dir":
                if not os.path.isdir(v):
                    usage_error("--dir %s is not a directory" % v, prog)
                opts["dir"] = v
            else:
                lo, hi = limits[a[2:]]
                if not v.isdigit() or not lo <= int(v) <= hi:
                    usage_error("%s must be an integer from %d to %d" % (a, lo, hi), prog)
                opts[a[2:]] = int(v)
        else:
            usage_error("unknown option '%s'" % a, prog)
        i += 1
    return opts


def parse(argv):
    return parse_options(argv, __doc__, "floor.py",
                         {"dir": ".", "writes": 2000, "trips": 5000, "json": False},
                         {"writes": (10, 100000), "trips": (10, 1000000)})


def percentiles(us):
    us = sorted(us)
    return {p: round(us[min(len(us) - 1, len(us) * p // 100)], 1) for p in (50, 90, 99)}


def durable_writes(directory, n):
    """Times n 4 KiB durable writes at growing offsets of a preallocated
    file. Returns (how, {50: us, 90: us, 99: us})."""
    fd, path = tempfile.mkstemp(prefix="floor-", dir=directory)
    os.close(fd)
    try:
        fd = os.open(path, os.O_RDWR)
        os.posix_fallocate(fd, 0, n * BLOCK)
        os.close(fd)
        how = "O_DIRECT|O_DSYNC"
        try:
            fd = os.open(path, os.O_RDWR | os.O_DIRECT | os.O_DSYNC)
        except OSError:
            how, fd = "pwrite+fdatasync", os.open(path, os.O_RDWR)
        buf = mmap.mmap(-1, BLOCK)   # page-aligned, as O_DIRECT wants
        buf.write(b"\x5a" * BLOCK)
        times = []
        try:
            for i in range(n):
                t0 = time.perf_counter_ns()
                if os.pwrite(fd, buf, i * BLOCK) != BLOCK:
                    raise OSError("short write")
                if how == "pwrite+fdatasync":
                    os.fdatasync(fd)
                times.append((time.perf_counter_ns() - t0) / 1e3)
        finally:
            os.close(fd)
        return how, percentiles(times)
    finally:
        os.unlink(path)


def round_trips(n):
    """Times n round trips of MESSAGE bytes to a forked echo process over
    127.0.0.1. Returns {50: us, 90: us, 99: us}."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        try:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        finally:
            os._exit(0)
    listener.close()
    times = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            msg = b"r" * MESSAGE
            for _ in range(n):
                t0 = time.perf_counter_ns()
                s.sendall(msg)
                got = 0
                while got < MESSAGE:
                    chunk = s.recv(MESSAGE - got)
                    if not chunk:
                        raise OSError("the echo process closed the connection")
                    got += len(chunk)
                times.append((time.perf_counter_ns() - t0) / 1e3)
    finally:
        os.waitpid(pid, 0)
    return percentiles(times)


def nowait_refusals(directory, step):
    """AIO_WRITES writes of AIO_SIZE bytes, O_DIRECT | O_DSYNC with
    RWF_NOWAIT, each step bytes after the previous one, into a preallocated
    file. Returns how many the kernel refused (EAGAIN)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ctx = ctypes.c_ulong(0)
    if libc.syscall(NR_IO_SETUP, 8, ctypes.byref(ctx)) != 0:
        raise OSError(ctypes.get_errno(), "io_setup")
    fd, path = tempfile.mkstemp(prefix="floor-aio-", dir=directory)
    buf = mmap.mmap(-1, AIO_SIZE)
    try:
        os.posix_fallocate(fd, 0, AIO_WRITES * step + AIO_SIZE)
        os.close(fd)
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)
        buf.write(b"\x5a" * AIO_SIZE)
        cb, ev = Iocb(), IoEvent()
        cbs = (ctypes.POINTER(Iocb) * 1)(ctypes.pointer(cb))
        refused = 0
        for i in range(AIO_WRITES):
            ctypes.memset(ctypes.addressof(cb), 0, ctypes.sizeof(cb))
            cb.opcode, cb.fildes, cb.rw_flags = IOCB_CMD_PWRITE, fd, RWF_NOWAIT
            cb.buf = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            cb.nbytes, cb.offset = AIO_SIZE, i * step
            if libc.syscall(NR_IO_SUBMIT, ctx, 1, cbs) != 1:
                raise OSError(ctypes.get_errno(), "io_submit")
            if libc.syscall(NR_IO_GETEVENTS, ctx, 1, 1, ctypes.byref(ev), None) != 1:
                raise OSError(ctypes.get_errno(), "io_getevents")
            if ev.res == -EAGAIN:
                refused += 1
            elif ev.res != AIO_SIZE:
                raise OSError(-ev.res if ev.res < 0 else 0, "AIO write: %d" % ev.res)
        return refused
    finally:
        os.close(fd)
        os.unlink(path)
        libc.syscall(NR_IO_DESTROY, ctx)


def appends_at_once(directory, n, k=3):
    """n rounds of k 4 KiB O_DIRECT | O_DSYNC AIO writes submitted at once,
    one into each of k files written whole, synced and dropped from the
    page cache first (raft/segfill.c does so for libraft's segments).
    Returns the p50/p90/p99 of the time to the first, second, ... k-th
    completion, in us."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ctx = ctypes.c_ulong(0)
    if libc.syscall(NR_IO_SETUP, 2 * k, ctypes.byref(ctx)) != 0:
        raise OSError(ctypes.get_errno(), "io_setup")
    fds, paths = [], []
    try:
        zeros = b"\0" * (n * BLOCK)
        for _ in range(k):
            fd, path = tempfile.mkstemp(prefix="floor-disk-", dir=directory)
            paths.append(path)
            try:
                os.write(fd, zeros)
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            fds.append(os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC))
        buf = mmap.mmap(-1, BLOCK)
        buf.write(b"\x5a" * BLOCK)
        cbs = [Iocb() for _ in range(k)]
        arr = (ctypes.POINTER(Iocb) * k)(*[ctypes.pointer(cb) for cb in cbs])
        ev = IoEvent()
        done = [[] for _ in range(k)]
        for i in range(n):
            for cb, fd in zip(cbs, fds):
                ctypes.memset(ctypes.addressof(cb), 0, ctypes.sizeof(cb))
                cb.opcode, cb.fildes = IOCB_CMD_PWRITE, fd
                cb.buf = ctypes.addressof(ctypes.c_char.from_buffer(buf))
                cb.nbytes, cb.offset = BLOCK, i * BLOCK
            t0 = time.perf_counter_ns()
            if libc.syscall(NR_IO_SUBMIT, ctx, k, arr) != k:
                raise OSError(ctypes.get_errno(), "io_submit")
            for j in range(k):
                if libc.syscall(NR_IO_GETEVENTS, ctx, 1, 1, ctypes.byref(ev), None) != 1:
                    raise OSError(ctypes.get_errno(), "io_getevents")
                if ev.res != BLOCK:
                    raise OSError(-ev.res if ev.res < 0 else 0, "AIO write: %d" % ev.res)
                done[j].append((time.perf_counter_ns() - t0) / 1e3)
            time.sleep(0.0003)   # a commit's round trips before the next append
        return [percentiles(d) for d in done]
    finally:
        for fd in fds:
            os.close(fd)
        for path in paths:
            os.unlink(path)
        libc.syscall(NR_IO_DESTROY, ctx)


def main(argv):
    opts = parse(argv)
    try:
        how, write = durable_writes(opts["dir"], opts["writes"])
        trip = round_trips(opts["trips"])
        nowait = shared = alone = None
        if platform.machine() == "x86_64" and how == "O_DIRECT|O_DSYNC":
            alone = appends_at_once(opts["dir"], opts["writes"], 1)[0]
            shared = appends_at_once(opts["dir"], opts["writes"])
            nowait = {"writes": AIO_WRITES,
                      "from_the_tail_block": nowait_refusals(opts["dir"], AIO_SIZE - BLOCK),
                      "side_by_side": nowait_refusals(opts["dir"], AIO_SIZE)}
    except OSError as e:
        sys.stderr.write("floor.py: %s\n" % e)
        return 1
    floor_ms = round((write[50] + 3 * trip[50]) / 1e3, 3)
    shared_ms = None if shared is None else round((shared[1][50] + 3 * trip[50]) / 1e3, 3)
    if opts["json"]:
        print(json.dumps({"write": {"how": how, "n": opts["writes"],
                                    "p50_us": write[50], "p90_us": write[90],
                                    "p99_us": write[99]},
                          "round_trip": {"n": opts["trips"], "p50_us": trip[50],
                                         "p90_us": trip[90], "p99_us": trip[99]},
                          "via_follower_floor_ms": floor_ms,
                          "one_alone": None if alone is None else {
                              "p50_us": alone[50], "p90_us": alone[90], "p99_us": alone[99]},
                          "three_at_once": None if shared is None else [
                              {"p50_us": c[50], "p90_us": c[90], "p99_us": c[99]}
                              for c in shared],
                          "via_follower_shared_disk_floor_ms": shared_ms,
                          "nowait_refused": nowait}))
        return 0
    print("durable 4 KiB write (%s, %d): p50 %.0f us, p90 %.0f us, p99 %.0f us"
          % (how, opts["writes"], write[50], write[90], write[99]))
    print("loopback round trip, %d bytes (%d): p50 %.0f us, p90 %.0f us, p99 %.0f us"
          % (MESSAGE, opts["trips"], trip[50], trip[90], trip[99]))
    print("one write through a follower, at best (one write + 3 round trips, p50s): %.3f ms"
          % floor_ms)
    if shared is None:
        print("three writes at once: not measured (x86-64 and O_DIRECT only)")
    else:
        print("into files written whole (%d each): one alone p50 %.0f us, p90 %.0f us; three at "
              "once, one per file: completions p50 %s us, p90 %s us"
              % (opts["writes"], alone[50], alone[90], " / ".join("%.0f" % c[50] for c in shared),
                 " / ".join("%.0f" % c[90] for c in shared)))
        print("one write through a follower, at best, three nodes on this disk (the second "
              "completion + 3 round trips, p50s): %.3f ms" % shared_ms)
    if nowait is None:
        print("RWF_NOWAIT refusals: not measured (x86-64 and O_DIRECT only)")
    else:
        print("RWF_NOWAIT %d KiB AIO writes refused: %d of %d starting at the last one's "
              "last block, %d of %d side by side" % (AIO_SIZE // 1024, nowait["from_the_tail_block"],
                                                    AIO_WRITES, nowait["side_by_side"], AIO_WRITES))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
