#!/usr/bin/env bash
# ab-builds.sh: two or more escrowd builds under the same load, in
# interleaved rounds, each run on a fresh 3-node cluster (plain HTTP on
# 127.0.0.1), so that a change is judged against the build before it in the
# same minutes of a shared, noisy machine. See --help.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TOOL=$HERE/compare_tool.py
LUA=$HERE/wrk-load.lua
BENCH_NAME=ab
BENCH_SCRIPT=bench/ab-builds.sh
# shellcheck source=bench/common.sh
. "$HERE/common.sh"

ROUNDS=3
DURATION=10
CLIENTS=64
OP=write
VIA=follower
SEED_KEYS=1000
JSON=false
WRK=${WRK:-wrk}
BUILDS=()

usage() {
	cat <<'EOF'
Usage: bench/ab-builds.sh [options] ESCROWD ESCROWD...

Runs each escrowd given (two or more builds, say the commit before a change
and the change) under the same wrk load (bench/wrk-load.lua), in
interleaved rounds: every round runs each build once, in the order given,
on a fresh 3-node cluster on plain HTTP on 127.0.0.1 with --seed-keys keys
escrowed first. Prints a line per run, then per build the medians of its
rate, p99 and servers' CPU per request (user and system time of the three
nodes), and its rate over the first build's.

  --rounds N       interleaved rounds, 1-100 (default 3)
  --duration S     seconds per run, 1-600 (default 10)
  --clients N      wrk connections, 1-512 (default 64)
  --op OP          write (new escrows) or lookup (audited lookups of the
                   seeded keys) (default write)
  --via WHICH      follower or leader (default follower)
  --seed-keys N    keys escrowed before each run, 1-100000 (default 1000)
  --json           print one JSON object (params, runs, builds) instead
  --wrk PATH       wrk to run (default $WRK, else wrk on PATH; package wrk)
  --help           print this help and exit

Progress goes to stderr. Exit 0 with the summary; 1 when a cluster did not
start or a run failed; 2 for a bad option or a missing program.
It takes about rounds x builds x (duration + 5) seconds.
EOF
}

while (($#)); do
	case $1 in
	--help | -h) usage; exit 0 ;;
	--json) JSON=true; shift ;;
	--rounds | --duration | --clients | --op | --via | --seed-keys | --wrk)
		(($# >= 2)) || usage_error "$1 needs a value"
		case $1 in
		--rounds) int_in "$1" "$2" 1 100; ROUNDS=$((10#$2)) ;;
		--duration) int_in "$1" "$2" 1 600; DURATION=$((10#$2)) ;;
		--clients) int_in "$1" "$2" 1 512; CLIENTS=$((10#$2)) ;;
		--seed-keys) int_in "$1" "$2" 1 100000; SEED_KEYS=$((10#$2)) ;;
		--op) [[ $2 == write || $2 == lookup ]] ||
			usage_error "--op is write or lookup, not '$2'"; OP=$2 ;;
		--via) [[ $2 == follower || $2 == leader ]] ||
			usage_error "--via is follower or leader, not '$2'"; VIA=$2 ;;
		--wrk) WRK=$2 ;;
		esac
		shift 2 ;;
	-*) usage_error "unknown option '$1'" ;;
	*) BUILDS+=("$1"); shift ;;
	esac
done
((${#BUILDS[@]} >= 2)) || usage_error "give two or more escrowd builds"
for b in "${BUILDS[@]}"; do
	[[ -x "$b" && -f "$b" ]] || usage_error "$b is not an executable file"
done
ESCROWD=${BUILDS[0]}
bench_find_programs python3 curl timeout "$WRK"

WORK=""
trap bench_cleanup EXIT
trap 'exit 1' INT TERM

bench_workdir "" ab
RUNS=$WORK/runs.jsonl
: >"$RUNS"
[[ $OP == write ]] && WRK_OP=escrow-put || WRK_OP=escrow-get
LOAD="$OP:$VIA:$CLIENTS"
RUN_NO=0

# One run of build $2 (its index in BUILDS) in round $1.
run_one() {
	local round=$1 k=$2 url cpu0 out res
	RUN_NO=$((RUN_NO + 1))
	ESCROWD=${BUILDS[$k]}
	rm -rf "$WORK"/n[123] "$WORK"/n[123].log "$WORK/seal.key"
	cluster_init
	cluster_start
	python3 -c "import sys; sys.path.insert(0, '$HERE'); import compare_tool as c; \
c.seed_escrow('${URL[$L]}', $SEED_KEYS)" || fail "seeding $SEED_KEYS keys"
	[[ $VIA == leader ]] && url=${URL[$L]} || url=${URL[$F]}
	cpu0=$(cpu_seconds "${NODE_PID[@]}")
	out=$WORK/run-$RUN_NO.out
	timeout -k 5 $((DURATION + 60)) "$WRK" -t $((CLIENTS < 2 ? CLIENTS : 2)) -c "$CLIENTS" \
		-d "${DURATION}s" --timeout 10s -s "$LUA" "$url" -- "$WRK_OP" "$RUN_NO" "$SEED_KEYS" \
		>"$out" 2>&1 || { cat "$out" >&2; fail "wrk $WRK_OP against $url"; }
	res=$(python3 "$TOOL" record wrk "$out" "$RUNS" "$round" "$LOAD" "$k" \
		"$(cpu_seconds "${NODE_PID[@]}")" "$cpu0") || { cat "$out" >&2; fail "wrk's output"; }
	cluster_kill_all
	wait 2>/dev/null || true
	NODE_PID=()
	say "round $round build $((k + 1)) ($(basename "$(dirname "$(dirname "${BUILDS[$k]}")")")): $res"
}

say "work dir $WORK; ${#BUILDS[@]} builds, $ROUNDS rounds of $DURATION s, $CLIENTS clients, $OP via the $VIA"
for ((r = 1; r <= ROUNDS; r++)); do
	for k in "${!BUILDS[@]}"; do run_one "$r" "$k"; done
done
$JSON && FORMAT=json || FORMAT=table
python3 "$TOOL" ab-report "$RUNS" "$FORMAT" "$LOAD" "$DURATION" "${BUILDS[@]}"
