#!/usr/bin/env bash
# instructions.sh: the user-space instructions each node of a 3-node escrow
# executes per request, counted by valgrind's callgrind: a measure of a
# change that the noise of a shared machine does not move, where rates and
# CPU times move by 10-30 % between runs of one build. See --help.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TOOL=$HERE/compare_tool.py
BENCH_NAME=instructions
BENCH_SCRIPT=bench/instructions.sh
# shellcheck source=bench/common.sh
. "$HERE/common.sh"

OP=escrow
VIA=follower
COUNT=2000
CLIENTS=8
ESCROWD=${ESCROWD:-}
ESCROWCTL=${ESCROWCTL:-}
VALGRIND=${VALGRIND:-valgrind}

usage() {
	cat <<'EOF'
Usage: bench/instructions.sh [options]

Starts a 3-node escrow (plain HTTP, 127.0.0.1) with every node under
valgrind's callgrind, counting nothing until the load starts: escrowctl
bench sends --count requests through a follower (or the leader), after up
to 500 uncounted ones to warm up, and each node counts the instructions its
threads execute meanwhile (user space only: system calls and the kernel are
not in it). Prints, per node, its role and its instructions per request,
then their sum. Two builds measured so differ by what the change does, not
by what the machine did: callgrind's counts vary by a few per cent between
runs of one build (batches are made of what arrives together), rates and
CPU times by 10-30 %.

  --op OP          escrow (new random keys) or lookup (of 100 keys escrowed
                   first, and counted with them) (default escrow)
  --via WHICH      follower or leader (default follower)
  --count N        requests counted, 100-100000 (default 2000)
  --clients N      escrowctl bench connections, 1-64 (default 8)
  --escrowd PATH   escrowd to run (default $ESCROWD, else the in-tree build)
  --escrowctl PATH escrowctl to load it with (default $ESCROWCTL, else the
                   in-tree build)
  --help           print this help and exit

Needs valgrind (Debian package valgrind). Exit 0 with the counts; 1 when
the cluster did not start or the load failed; 2 for a bad option or a
missing program. Under valgrind a node runs some 50 times slower: 2,000
escrows take about a minute.
EOF
}

while (($#)); do
	case $1 in
	--help | -h) usage; exit 0 ;;
	--op | --via | --count | --clients | --escrowd | --escrowctl)
		(($# >= 2)) || usage_error "$1 needs a value"
		case $1 in
		--op) [[ $2 == escrow || $2 == lookup ]] ||
			usage_error "--op is escrow or lookup, not '$2'"; OP=$2 ;;
		--via) [[ $2 == follower || $2 == leader ]] ||
			usage_error "--via is follower or leader, not '$2'"; VIA=$2 ;;
		--count) int_in "$1" "$2" 100 100000; COUNT=$((10#$2)) ;;
		--clients) int_in "$1" "$2" 1 64; CLIENTS=$((10#$2)) ;;
		--escrowd) ESCROWD=$2 ;;
		--escrowctl) ESCROWCTL=$2 ;;
		esac
		shift 2 ;;
	*) usage_error "unknown option '$1'" ;;
	esac
done
bench_find_programs --escrowctl python3 curl "$VALGRIND" callgrind_control
! grep -q __asan_init "$ESCROWD" 2>/dev/null ||
	usage_error "$ESCROWD is built with AddressSanitizer, which valgrind cannot run:" \
		"give a build configured without --enable-sanitize"

WORK=""
trap bench_cleanup EXIT
trap 'exit 1' INT TERM
bench_workdir "" instructions

# Each node runs under callgrind, its counts written to cg.PID.N at a dump.
REAL_ESCROWD=$ESCROWD
ESCROWD=$WORK/escrowd-under-callgrind
printf '#!/bin/sh\nexec %q --tool=callgrind --instr-atstart=no --callgrind-out-file=%q/cg.%%p %q "$@"\n' \
	"$VALGRIND" "$WORK" "$REAL_ESCROWD" >"$ESCROWD"
chmod +x "$ESCROWD"

say "starting 3 nodes of $REAL_ESCROWD under callgrind in $WORK"
cluster_init
cluster_start
[[ $VIA == leader ]] && T=$L || T=$F
bench() {
	"$ESCROWCTL" --nodes "${URL[$T]}" bench --clients "$CLIENTS" --count "$1" --op "$OP" --json \
		>"$WORK/bench.json" 2>"$WORK/bench.err" || {
		cat "$WORK/bench.err" >&2
		fail "escrowctl bench --count $1 --op $OP through node $T"
	}
}
WARM=$((COUNT < 500 ? COUNT : 500))
say "warming up: $WARM ${OP}s through node $T (leader $L), not counted"
bench "$WARM"
# Quiet when it works; the exit status says when it did not.
control() {
	callgrind_control "$@" >/dev/null 2>&1 || fail "callgrind_control $* failed"
}
for n in 1 2 3; do control -i on "${NODE_PID[$n]}"; done
say "counting: $COUNT ${OP}s through node $T"
bench "$COUNT"
for n in 1 2 3; do
	control -i off "${NODE_PID[$n]}"
	control -d "${NODE_PID[$n]}"
done
python3 - "$WORK/bench.json" "$COUNT" <<'EOF' || fail "the counted run: $(cat "$WORK/bench.json")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get("ok") == int(sys.argv[2]) else 1)
EOF
roles=()
for n in 1 2 3; do
	if [[ $n == "$L" ]]; then roles[n]=leader
	elif [[ $n == "$T" ]]; then roles[n]=client-facing
	else roles[n]=follower; fi
done
# A dump is written when its command is handled, at the node's next
# system call: wait for all three.
for ((i = 0; i < 100; i++)); do
	ok=true
	for n in 1 2 3; do
		ls "$WORK/cg.${NODE_PID[$n]}".[0-9]* >/dev/null 2>&1 || ok=false
	done
	$ok && break
	sleep 0.1
done
$ok || fail "callgrind wrote no counts within 10 s"
total=0
for n in 1 2 3; do
	# "totals:" of the dump: the instructions counted while on, all threads.
	ir=$(awk '/^totals:/ {s += $2} END {print s + 0}' "$WORK/cg.${NODE_PID[$n]}".[0-9]*)
	printf 'node %d %-13s %9d instructions per %s\n' "$n" "${roles[n]}" $((ir / COUNT)) "$OP"
	total=$((total + ir / COUNT))
done
printf 'all three          %9d instructions per %s (%s via the %s, %d clients)\n' \
	"$total" "$OP" "$COUNT ${OP}s" "$VIA" "$CLIENTS"
