#!/usr/bin/env bash
# leader-steady.sh: does a busy cluster keep its leader? Starts a 3-node
# escrow on plain HTTP on 127.0.0.1, sends it new escrows with `escrowctl
# bench` for a while, and counts the leader changes meanwhile (the Raft term
# before and after, and the nodes' "leader of term" lines). A fast election
# timeout must not buy spurious elections on a busy machine. See --help.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TOOL=$HERE/compare_tool.py
BENCH_NAME=steady
BENCH_SCRIPT=bench/leader-steady.sh
# shellcheck source=bench/common.sh
. "$HERE/common.sh"

DURATION=600
CLIENTS=64
VIA=follower
ESCROWD=${ESCROWD:-}
ESCROWCTL=${ESCROWCTL:-}

usage() {
	cat <<'EOF'
Usage: bench/leader-steady.sh [options]

Runs a 3-node escrow (plain HTTP) on 127.0.0.1, sends it new escrows with
`escrowctl bench` through a follower (or the leader) for --duration
seconds, and prints the requests, their rate and p99, and the leader
changes during the load: the Raft term before and after, and the "leader
of term" lines the nodes logged after the first election. Exit 0 when the
leader did not change, 3 when it did, 1 when a step failed, 2 for a bad
option.

  --duration S    seconds of load, 1-3600 (default 600)
  --clients N     escrowctl bench connections, 1-512 (default 64)
  --via WHICH     follower or leader (default follower)
  --escrowd PATH  escrowd to run (default $ESCROWD, else the in-tree build)
  --escrowctl PATH escrowctl to run (default $ESCROWCTL, else the in-tree build)
  --help          print this help and exit
EOF
}


while (($#)); do
	case $1 in
	--help | -h) usage; exit 0 ;;
	--duration | --clients | --via | --escrowd | --escrowctl)
		(($# >= 2)) || usage_error "$1 needs a value"
		case $1 in
		--duration) int_in "$1" "$2" 1 3600; DURATION=$((10#$2)) ;;
		--clients) int_in "$1" "$2" 1 512; CLIENTS=$((10#$2)) ;;
		--via) [[ $2 == follower || $2 == leader ]] ||
			usage_error "--via is follower or leader, not '$2'"; VIA=$2 ;;
		--escrowd) ESCROWD=$2 ;;
		--escrowctl) ESCROWCTL=$2 ;;
		esac
		shift 2 ;;
	*) usage_error "unknown option '$1'" ;;
	esac
done
bench_find_programs --escrowctl python3 curl

WORK=""
CLUSTER_LOG_LEVEL=info
trap bench_cleanup EXIT
trap 'exit 1' INT TERM

bench_workdir "" steady
cluster_init
cluster_start
term() { curl -sf -m 5 "${URL[$1]}/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["term"])'; }
elections() { cat "$WORK"/n[123].log | grep -c "leader of term" || true; }
TARGET=${URL[$F]}
[[ $VIA == leader ]] && TARGET=${URL[$L]}
TERM0=$(term "$L") || fail "no status from the leader"
ELECTED0=$(elections)
say "leader node $L (term $TERM0); $CLIENTS clients through the $VIA for $DURATION s"

"$ESCROWCTL" --nodes "$TARGET" --json bench --clients "$CLIENTS" --duration "$DURATION" \
	>"$WORK/load.json" 2>"$WORK/load.err" ||
	fail "escrowctl bench failed: $(tail -3 "$WORK/load.err")"
LEADER_NOW=$(python3 "$TOOL" escrow-leader "${URL[$F]}") || fail "no leader after the load"
TERM1=$(term "$LEADER_NOW") || fail "no status from the leader after the load"
CHANGES=$(($(elections) - ELECTED0))
python3 - "$WORK/load.json" "$TERM0" "$TERM1" "$CHANGES" "$L" "$LEADER_NOW" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t0, t1, changes, l0, l1 = sys.argv[2:]
print("requests      %d ok, %d errors in %.0f s (%.0f/s), p99 %.1f ms" % (
    d["ok"], d["errors"], d["elapsed_s"], d["throughput_rps"], d["latency_ms"]["p99"]))
print("leader        node %s, term %s before; node %s, term %s after" % (l0, t0, l1, t1))
print("changes       %s elections during the load" % changes)
EOF
[[ "$CHANGES" == 0 && "$TERM0" == "$TERM1" ]] || exit 3
