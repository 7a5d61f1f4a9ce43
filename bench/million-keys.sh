#!/usr/bin/env bash
# million-keys.sh: escrow at scale. Starts a 3-node escrow on plain HTTP on
# 127.0.0.1 (ports the kernel picks), escrows N keys through the leader
# (escrowctl bench), then measures a snapshot save, the restart of a
# follower and of the whole cluster to serving, and samples every node's
# resident memory all along (Raft snapshots included). See --help.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TOOL=$HERE/compare_tool.py
BENCH_NAME=million
BENCH_SCRIPT=bench/million-keys.sh
# shellcheck source=bench/common.sh
. "$HERE/common.sh"
READY_TIMEOUT=120  # seconds for a node to serve after a start
SAMPLE_S=0.25      # resident memory sampled this often

KEYS=1000000
CLIENTS=64
OUT=""
KEEP=""
ESCROWD=${ESCROWD:-}
ESCROWCTL=${ESCROWCTL:-}

usage() {
	cat <<'EOF'
Usage: bench/million-keys.sh [options]

Runs a 3-node escrow (plain HTTP) on 127.0.0.1, escrows N new keys through
the leader with `escrowctl bench`, then measures:
  - a snapshot save (`escrowctl snapshot save`): seconds and bytes;
  - a follower stopped (SIGTERM) and started again, to /v1/health?ready;
  - the whole cluster stopped and started again, to a leader that serves;
and the peak resident memory (VmRSS) of each node, sampled every 0.25 s
from the first key to the end, Raft snapshots and restarts included.

  --keys N        keys to escrow, 1000-10000000 (default 1000000)
  --clients N     escrowctl bench connections, 1-512 (default 64)
  --out FILE      also write the table as Markdown (for docs/benchmarks.md)
  --keep DIR      run in DIR and keep it (data dirs, logs, the snapshot)
  --escrowd PATH  escrowd to run (default $ESCROWD, else the in-tree build)
  --escrowctl PATH escrowctl to run (default $ESCROWCTL, else the in-tree build)
  --help          print this help and exit

Progress goes to stderr. It takes about N / (escrow rate) plus a minute.
Exit 0 with the table; 1 when a node did not start or a step failed; 2 for
a bad option or a missing program.
EOF
}


while (($#)); do
	case $1 in
	--help | -h) usage; exit 0 ;;
	--keys | --clients | --out | --keep | --escrowd | --escrowctl)
		(($# >= 2)) || usage_error "$1 needs a value"
		case $1 in
		--keys) int_in "$1" "$2" 1000 10000000; KEYS=$((10#$2)) ;;
		--clients) int_in "$1" "$2" 1 512; CLIENTS=$((10#$2)) ;;
		--out) OUT=$2 ;;
		--keep) KEEP=$2 ;;
		--escrowd) ESCROWD=$2 ;;
		--escrowctl) ESCROWCTL=$2 ;;
		esac
		shift 2 ;;
	*) usage_error "unknown option '$1'" ;;
	esac
done
bench_find_programs --escrowctl python3 curl

SAMPLER=""
WORK=""
CLUSTER_READY_TIMEOUT=$READY_TIMEOUT
cleanup() {
	trap - EXIT INT TERM
	[[ -n "$SAMPLER" ]] && kill "$SAMPLER" 2>/dev/null
	cluster_kill_all
	wait 2>/dev/null || true
	[[ -n "$WORK" && -z "$KEEP" ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bench_workdir "$KEEP" million
cluster_init

# Peak VmRSS (KiB) of each node, whatever its current pid: the pids file
# maps node to pid; a node restarted appends its new pid.
sample() {
	local i p kb
	declare -A peak=()
	while :; do
		while read -r i p; do
			kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
			[[ -n "$kb" ]] && ((kb > ${peak[$i]:-0})) && peak[$i]=$kb
		done <"$WORK/pids"
		: >"$WORK/peak.tmp"
		for i in "${!peak[@]}"; do echo "$i ${peak[$i]}" >>"$WORK/peak.tmp"; done
		mv "$WORK/peak.tmp" "$WORK/peak"
		sleep "$SAMPLE_S"
	done
}

cluster_start
sample &
SAMPLER=$!
say "3 nodes of $ESCROWD serving in $WORK; leader node $L"

say "escrowing $KEYS keys through the leader with $CLIENTS clients"
t0=$(cluster_now)
"$ESCROWCTL" --nodes "${URL[$L]}" --json bench --clients "$CLIENTS" --count "$KEYS" \
	--duration 3600 >"$WORK/load.json" 2>"$WORK/load.err" ||
	fail "escrowctl bench failed: $(tail -3 "$WORK/load.err")"
LOAD_S=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
read -r LOAD_OK LOAD_RATE < <(python3 -c "
import json; d = json.load(open('$WORK/load.json'))
print(d['ok'], round(d['throughput_rps']))")
say "escrowed: $LOAD_OK ok in $LOAD_S s ($LOAD_RATE/s)"

say "snapshot save"
t0=$(cluster_now)
"$ESCROWCTL" --nodes "${URL[$L]}" snapshot save "$WORK/cluster.snap" \
	>"$WORK/snapshot.out" 2>&1 || fail "snapshot save failed: $(tail -3 "$WORK/snapshot.out")"
SNAP_S=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
SNAP_BYTES=$(stat -c %s "$WORK/cluster.snap")
say "snapshot: $SNAP_S s, $SNAP_BYTES bytes"

say "restarting follower node $F"
cluster_stop_node "$F"
t0=$(cluster_now)
cluster_start_node "$F"
FOLLOWER_S=$(cluster_wait_ready "$F" "$t0")
say "follower serving again after $FOLLOWER_S s"

say "restarting the whole cluster"
for i in 1 2 3; do cluster_stop_node "$i"; done
t0=$(cluster_now)
for i in 1 2 3; do cluster_start_node "$i"; done
ALL_S=0
for i in 1 2 3; do ALL_S=$(cluster_wait_ready "$i" "$t0"); done
say "cluster serving again after $ALL_S s"
sleep 1

python3 - "$WORK/peak" "$KEYS" "$LOAD_OK" "$LOAD_S" "$LOAD_RATE" "$SNAP_S" "$SNAP_BYTES" \
	"$FOLLOWER_S" "$ALL_S" "$OUT" <<'EOF'
import os, sys
peak_file, keys, ok, load_s, rate, snap_s, snap_b, fol_s, all_s, out = sys.argv[1:]
peaks = dict(line.split() for line in open(peak_file) if line.strip())
mib = lambda kb: "%.0f MiB" % (int(kb) / 1024)
rows = [
    ("keys escrowed", "%s of %s in %s s (%s/s)" % (ok, keys, load_s, rate)),
    ("snapshot save", "%s s, %.0f MiB" % (snap_s, int(snap_b) / 1048576)),
    ("a follower restarted, to serving", "%s s" % fol_s),
    ("the whole cluster restarted, to serving", "%s s" % all_s),
] + [("peak resident memory, node %s" % n, mib(peaks[n])) for n in sorted(peaks)]
table = "| measure | value |\n| --- | --- |\n" + \
    "".join("| %s | %s |\n" % r for r in rows)
print(table, end="")
if out:
    with open(out, "w") as f:
        f.write("Machine: %d CPUs; load average %s.\n\n" % (
            os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3])))
        f.write(table)
EOF
