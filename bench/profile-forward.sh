#!/usr/bin/env bash
# profile-forward.sh: where a forwarded escrow (or lookup) spends its CPU on
# each node. Starts a 3-node escrow on plain HTTP on 127.0.0.1 (ports the
# kernel picks), drives wrk (bench/wrk-load.lua: new keys, or audited lookups
# of 1,000 escrowed ones) through a follower or the leader,
# records both nodes with perf meanwhile and prints, for each, the share of
# the kernel, malloc, SQLite, OpenSSL, jansson, libraft, libuv, http_parser
# and escrowd's own code, and its hottest symbols. See --help.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TOOL=$HERE/compare_tool.py
BENCH_NAME=profile
BENCH_SCRIPT=bench/profile-forward.sh
# shellcheck source=bench/common.sh
. "$HERE/common.sh"
READY_TIMEOUT=30

CLIENTS=64
DURATION=15
VIA=follower
LOAD=escrow
TOPN=15
OUT=""
ESCROWD=${ESCROWD:-}
WRK=${WRK:-wrk}
PERF=${PERF:-perf}

usage() {
	cat <<'EOF'
Usage: bench/profile-forward.sh [options]

Runs a 3-node escrow (plain HTTP) on 127.0.0.1, sends it new escrows (or
audited lookups of 1,000 keys escrowed first) with wrk
(bench/wrk-load.lua) through a follower (or the leader), records the
leader and the follower with `perf record -g` while the load runs, and
prints where each spent its CPU: a line of shares by part, then the
hottest symbols.

  --clients N     wrk connections, 1-512 (default 64)
  --duration S    seconds of load, 1-600 (default 15)
  --via WHICH     follower or leader (default follower)
  --load WHAT     escrow (new keys) or lookup (default escrow)
  --top N         symbols listed per node, 1-200 (default 15)
  --out DIR       keep the perf data, reports and node logs in DIR
                  (default: a temporary directory, removed at the end)
  --escrowd PATH  escrowd to run (default $ESCROWD, else the in-tree build)
  --help          print this help and exit

Needs perf (Debian package linux-perf) and wrk, as root or with
kernel.perf_event_paranoid <= 1. Exit 0 with the profile; 1 when the
cluster did not start or a tool failed; 2 for a bad option.
EOF
}


while (($#)); do
	case $1 in
	--help | -h) usage; exit 0 ;;
	--clients | --duration | --via | --load | --top | --out | --escrowd)
		(($# >= 2)) || usage_error "$1 needs a value"
		case $1 in
		--clients) int_in "$1" "$2" 1 512; CLIENTS=$((10#$2)) ;;
		--duration) int_in "$1" "$2" 1 600; DURATION=$((10#$2)) ;;
		--via) [[ $2 == follower || $2 == leader ]] ||
			usage_error "--via is follower or leader, not '$2'"; VIA=$2 ;;
		--load) [[ $2 == escrow || $2 == lookup ]] ||
			usage_error "--load is escrow or lookup, not '$2'"; LOAD=$2 ;;
		--top) int_in "$1" "$2" 1 200; TOPN=$((10#$2)) ;;
		--out) OUT=$2 ;;
		--escrowd) ESCROWD=$2 ;;
		esac
		shift 2 ;;
	*) usage_error "unknown option '$1'" ;;
	esac
done
bench_find_programs "$PERF" "$WRK" python3 curl

PERF_PIDS=()
WORK=""
CLUSTER_READY_TIMEOUT=$READY_TIMEOUT
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PERF_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	cluster_kill_all
	wait 2>/dev/null || true
	[[ -n "$WORK" && -z "$OUT" ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bench_workdir "$OUT" profile
cluster_init
cluster_start
TARGET=${URL[$F]}
[[ $VIA == leader ]] && TARGET=${URL[$L]}
say "3 nodes of $ESCROWD in $WORK: leader node $L, follower node $F; $CLIENTS clients sending ${LOAD}s through the $VIA for $DURATION s"

# What wrk-load.lua runs: an operation, the run's key prefix, the keys seeded.
OP=(escrow-put 2 0)
if [[ $LOAD == lookup ]]; then
	python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import compare_tool as t; t.seed_escrow(sys.argv[2], 1000)" \
		"$HERE" "${URL[$L]}" || fail "seeding 1,000 keys failed"
	OP=(escrow-get 2 1000)
fi
# wrk wants no more threads than connections.
THREADS=$((CLIENTS < 2 ? CLIENTS : 2))
# A short warm-up, so that connections and caches are there before perf.
"$WRK" -t "$THREADS" -c "$CLIENTS" -d 2 -s "$HERE/wrk-load.lua" "$TARGET" -- "${OP[0]}" 1 "${OP[2]}" \
	>"$WORK/warmup.out" 2>&1 || fail "wrk warm-up failed: $(tail -3 "$WORK/warmup.out")"
for role in leader follower; do
	n=$L
	[[ $role == follower ]] && n=$F
	"$PERF" record -q -F 999 ${PERF_CALLGRAPH:--g} -p "${NODE_PID[$n]}" -o "$WORK/$role.data" \
		>"$WORK/$role.perf.log" 2>&1 &
	PERF_PIDS+=($!)
done
sleep 0.5
"$WRK" -t "$THREADS" -c "$CLIENTS" -d "$DURATION" -s "$HERE/wrk-load.lua" "$TARGET" -- "${OP[@]}" \
	>"$WORK/wrk.out" 2>&1 || fail "wrk failed: $(tail -3 "$WORK/wrk.out")"
for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PERF_PIDS=()
grep -E "Requests/sec|RESULT" "$WORK/wrk.out" | sed 's/^/profile: /' >&2 || true

for role in leader follower; do
	"$PERF" report -i "$WORK/$role.data" --no-children --sort dso,sym --stdio -g none \
		>"$WORK/$role.report" 2>/dev/null || fail "perf report of the $role failed"
	python3 "$HERE/perf_summary.py" "$role (node $([[ $role == leader ]] && echo "$L" || echo "$F"))" \
		"$WORK/$role.report" "$TOPN" || fail "no samples for the $role"
done
