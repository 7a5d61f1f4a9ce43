#!/bin/sh
# Long failover drills: `escrowctl drill run` again and again with random
# seeds (5 nodes by default), until a time budget or a number of runs is
# spent. A failing run keeps its report, its request history and its
# cluster's node logs and data under the output directory, named by seed,
# so that `escrowctl drill run --seed N` can repeat its fault schedule.
set -u

usage() {
	cat <<'EOF'
usage: tools/scripts/soak.sh [--hours H] [--runs N] [--duration S] [--size 3|5] [--rate N]
                     [--out DIR] [--escrowctl PATH] [--escrowd PATH]

Runs `escrowctl drill run` with a new random seed each time, for H hours
(default 1) or N runs, whichever ends first.
  --hours H        time budget in hours, may be fractional (default 1)
  --runs N         at most N runs (default: no limit but the time)
  --duration S     seconds of load per run (default 300)
  --size 3|5       nodes per cluster (default 5)
  --rate N         requests per second (default 40)
  --out DIR        where results go (default ./soak-results)
  --escrowctl P    escrowctl to use (default $ESCROWCTL, else the in-tree
                   build tools/escrowctl, else escrowctl in $PATH)
  --escrowd P      escrowd to start (default $ESCROWD, else the drill's own
                   choice)
For each failing run DIR/seed-N/ holds report.json, history.jsonl,
stderr.log and cluster/ (node logs and data). Every run's report is kept
as DIR/reports/seed-N.json. DIR/summary.txt gets a line per run, then the
totals of tools/scripts/soak_totals.py (runs, faults by kind, keys
acknowledged, break-glass lookups, violations, failover). Exit 0 when every
run passed, 1 when one failed, 2 on bad usage.
EOF
}

HOURS=1
RUNS=0
DURATION=300
SIZE=5
RATE=40
OUT=./soak-results
HERE=$(cd "$(dirname "$0")" && pwd)
CTL=${ESCROWCTL:-}
DAEMON=${ESCROWD:-}

while [ $# -gt 0 ]; do
	case "$1" in
	--hours) HOURS=${2:?--hours needs a value}; shift 2 ;;
	--runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
	--duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
	--size) SIZE=${2:?--size needs a value}; shift 2 ;;
	--rate) RATE=${2:?--rate needs a value}; shift 2 ;;
	--out) OUT=${2:?--out needs a value}; shift 2 ;;
	--escrowctl) CTL=${2:?--escrowctl needs a value}; shift 2 ;;
	--escrowd) DAEMON=${2:?--escrowd needs a value}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "soak.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done

case "$RUNS$DURATION$SIZE$RATE" in
*[!0-9]*) echo "soak.sh: --runs, --duration, --size and --rate take whole numbers" >&2; exit 2 ;;
esac
if ! awk -v h="$HOURS" 'BEGIN { exit !(h + 0 > 0) }'; then
	echo "soak.sh: --hours must be a positive number" >&2
	exit 2
fi
if [ -z "$CTL" ]; then
	if [ -x "$HERE/../escrowctl" ]; then CTL=$HERE/../escrowctl
	elif [ -x "$HERE/../../build-release/tools/escrowctl" ]; then CTL=$HERE/../../build-release/tools/escrowctl
	else CTL=escrowctl
	fi
fi
mkdir -p "$OUT/reports" || exit 2
SUMMARY=$OUT/summary.txt
END=$(awk -v h="$HOURS" -v now="$(date +%s)" 'BEGIN { printf "%d", now + h * 3600 }')
set -- --json drill run --size "$SIZE" --duration "$DURATION" --rate "$RATE"
if [ -n "$DAEMON" ]; then
	set -- "$@" --escrowd "$DAEMON"
fi

n=0
failed=0
failing=""
limit=""
if [ "$RUNS" -gt 0 ]; then
	limit=" (at most $RUNS runs)"
fi
echo "soak: $CTL drill run, $SIZE nodes, $DURATION s a run, until" \
	"$(date -d "@$END" +%H:%M:%S)$limit; results in $OUT" >&2
while [ "$(date +%s)" -lt "$END" ] && { [ "$RUNS" -eq 0 ] || [ "$n" -lt "$RUNS" ]; }; do
	n=$((n + 1))
	seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
	[ "$seed" -gt 0 ] || seed=1
	dir=$OUT/seed-$seed
	mkdir -p "$dir"
	start=$(date +%s)
	# Each run is bounded: its load, plus heal, read-back and convergence.
	timeout $((DURATION + 600)) "$CTL" "$@" --seed "$seed" --history "$dir/history.jsonl" \
		>"$dir/report.json" 2>"$dir/stderr.log"
	rc=$?
	secs=$(($(date +%s) - start))
	cp "$dir/report.json" "$OUT/reports/seed-$seed.json"
	if [ "$rc" -eq 0 ]; then
		echo "run $n seed $seed passed in ${secs}s" >>"$SUMMARY"
		rm -rf "$dir"
		echo "soak: run $n (seed $seed) passed in ${secs}s" >&2
		continue
	fi
	failed=$((failed + 1))
	failing="$failing $seed"
	kept=$(sed -n 's/^drill: node logs and data kept in //p' "$dir/stderr.log" | tail -n 1)
	if [ -n "$kept" ] && [ -d "$kept" ]; then
		mv "$kept" "$dir/cluster"
	fi
	echo "run $n seed $seed FAILED (exit $rc) in ${secs}s: $dir" >>"$SUMMARY"
	echo "soak: run $n (seed $seed) FAILED with exit $rc; kept in $dir" >&2
done

echo "soak: $n runs, $failed failed${failing:+; failing seeds:$failing}" | tee -a "$SUMMARY" >&2
if [ "$n" -gt 0 ] && command -v python3 >/dev/null; then
	python3 "$HERE/soak_totals.py" "$OUT"/reports/seed-*.json | tee -a "$SUMMARY" >&2
fi
[ "$failed" -eq 0 ]
