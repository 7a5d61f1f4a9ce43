#!/usr/bin/env python3
"""Where a node's CPU went, from `perf report --stdio` of one process.

  perf_summary.py NAME REPORT [TOP]

REPORT is the output of
  perf report -i DATA --no-children --sort dso,sym --stdio -g none
NAME labels the node ("leader", "follower"). Prints the share of each
part (kernel, malloc, SQLite, OpenSSL, jansson, libraft, libuv,
http_parser, escrowd's own code, the rest of libc, other) and the TOP
(default 15) symbols. Standard library only."""

import re
import sys

# A sample line: "    12.34%  libc.so.6  [.] malloc"
LINE = re.compile(r"^\s*([0-9.]+)%\s+(\S+)\s+\[([.kK])\]\s+(.*\S)\s*$")
MALLOC = re.compile(r"^(_int_|__libc_|__)?(malloc|free|calloc|realloc|cfree)"
                    r"|^(tcache|malloc_|_int_)|^(unlink_chunk|malloc_consolidate)")
PARTS = (
    ("kernel", lambda dso, sym, k: k or dso.startswith("[kernel")),
    ("malloc", lambda dso, sym, k: dso.startswith("libc.so") and MALLOC.search(sym)),
    ("sqlite", lambda dso, sym, k: "sqlite" in dso),
    ("openssl", lambda dso, sym, k: "libssl" in dso or "libcrypto" in dso),
    ("jansson", lambda dso, sym, k: "jansson" in dso),
    ("libraft", lambda dso, sym, k: "libraft" in dso),
    ("libuv", lambda dso, sym, k: "libuv" in dso),
    ("http_parser", lambda dso, sym, k: "http_parser" in dso),
    ("escrowd", lambda dso, sym, k: dso == "escrowd"),
    ("libc (other)", lambda dso, sym, k: dso.startswith("libc.so")),
)


def parse(path):
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                rows.append((float(m.group(1)), m.group(2), m.group(3) in "kK", m.group(4)))
    return rows


def part_of(dso, sym, kernel):
    for name, test in PARTS:
        if test(dso, sym, kernel):
            return name
    return "other"


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    name, path = argv[1], argv[2]
    top = int(argv[3]) if len(argv) == 4 else 15
    rows = parse(path)
    if not rows:
        print("perf_summary: no samples in %s" % path, file=sys.stderr)
        return 1
    parts = {}
    for pct, dso, kernel, sym in rows:
        p = part_of(dso, sym, kernel)
        parts[p] = parts.get(p, 0.0) + pct
    print("%s: %s" % (name, ", ".join("%s %.1f%%" % (p, v) for p, v in
                                      sorted(parts.items(), key=lambda kv: -kv[1]))))
    for pct, dso, kernel, sym in sorted(rows, key=lambda r: -r[0])[:top]:
        print("  %6.2f%%  %-14s %s" % (pct, dso[:14], sym[:90]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
