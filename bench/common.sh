# common.sh: what the bench scripts share (sourced, not run): their
# messages, option checks and programs, and a 3-node escrow on plain HTTP on
# 127.0.0.1 with ports the kernel picks.
#
# Before sourcing, the script sets BENCH_NAME (its messages' prefix),
# BENCH_SCRIPT (its path, for "see ... --help"), HERE and TOP. The cluster
# functions use ESCROWD, WORK (an existing directory) and TOOL
# (bench/compare_tool.py); they set PORTS, BOOT, URL[i] and NODE_PID[i], and
# append "i pid" to $WORK/pids at each start (a node restarted gets a new
# line). Extra escrowd flags go in CLUSTER_FLAGS (an array).

say() { printf "%s: [%4ds] %s\n" "$BENCH_NAME" "$SECONDS" "$*" >&2; }
fail() { say "$*"; exit 1; }
usage_error() {
	printf '%s: %s (see %s --help)\n' "$BENCH_NAME" "$*" "$BENCH_SCRIPT" >&2
	exit 2
}
# Checks that $2 is an integer in [$3, $4] for option $1.
int_in() {
	[[ "$2" =~ ^[0-9]{1,9}$ ]] && ((10#$2 >= $3 && 10#$2 <= $4)) ||
		usage_error "$1 must be an integer from $3 to $4, not '$2'"
}

# ESCROWD and ESCROWCTL, when not given, from the in-tree builds; then
# escrowd, escrowctl when the first argument is --escrowctl, and every
# program named must exist, else exit 2.
bench_find_programs() {
	local b p ctl=false
	if [[ "${1:-}" == --escrowctl ]]; then
		ctl=true
		shift
	fi
	for b in build build-plain build-release .; do
		[[ -z "${ESCROWD:-}" && -x "$TOP/$b/node/escrowd" ]] && ESCROWD=$TOP/$b/node/escrowd
		[[ -z "${ESCROWCTL:-}" && -x "$TOP/$b/tools/escrowctl" ]] &&
			ESCROWCTL=$TOP/$b/tools/escrowctl
	done
	$ctl && set -- "${ESCROWCTL:-escrowctl}" "$@"
	for p in "${ESCROWD:-escrowd}" "$@"; do
		command -v "$p" >/dev/null 2>&1 || [[ -x "$p" ]] || {
			echo "$BENCH_NAME: $p not found (build escrow or give --escrowd / --escrowctl;" \
				"perf: package linux-perf; wrk: package wrk; valgrind: package valgrind)" >&2
			exit 2
		}
	done
}

# Sets WORK: directory $1 (made, kept) when given, else a new temporary
# directory named after $2 (the exit trap removes it).
bench_workdir() {
	if [[ -n "$1" ]]; then
		mkdir -p "$1" || usage_error "cannot make $1"
		WORK=$(cd "$1" && pwd)
	else
		WORK=$(mktemp -d "${TMPDIR:-/tmp}/escrow-$2-XXXXXX")
	fi
}

# An exit trap (trap bench_cleanup EXIT) for a script whose WORK is
# temporary: the nodes killed and reaped, WORK removed.
bench_cleanup() {
	trap - EXIT INT TERM
	cluster_kill_all
	wait 2>/dev/null || true
	[[ -n "$WORK" ]] && rm -rf "$WORK"
}

# shellcheck source=bench/cpu.sh
. "$HERE/cpu.sh"

CLUSTER_READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-120}
declare -A URL NODE_PID
CLUSTER_FLAGS=(${CLUSTER_FLAGS[@]+"${CLUSTER_FLAGS[@]}"})

# Ports, the seal key, the --bootstrap text and the data dirs.
cluster_init() {
	local i
	read -r -a PORTS <<<"$(python3 "$TOOL" ports 6 | tr '\n' ' ')"
	head -c 32 /dev/urandom >"$WORK/seal.key"
	chmod 600 "$WORK/seal.key"
	BOOT=""
	for i in 1 2 3; do
		BOOT+="${BOOT:+,}$i=127.0.0.1:${PORTS[2 * i - 2]}/127.0.0.1:${PORTS[2 * i - 1]}"
		URL[$i]="http://127.0.0.1:${PORTS[2 * i - 1]}"
		mkdir -p "$WORK/n$i"
	done
	: >"$WORK/pids"
}

# Starts node $1 in the background; its log is $WORK/n$1.log.
cluster_start_node() {
	local i=$1
	"$ESCROWD" --id "$i" --data-dir "$WORK/n$i" --raft-addr "127.0.0.1:${PORTS[2 * i - 2]}" \
		--api-addr "127.0.0.1:${PORTS[2 * i - 1]}" --bootstrap "$BOOT" --insecure \
		--seal-key "$WORK/seal.key" --log-level "${CLUSTER_LOG_LEVEL:-warn}" \
		${CLUSTER_FLAGS[@]+"${CLUSTER_FLAGS[@]}"} >>"$WORK/n$i.log" 2>&1 </dev/null &
	NODE_PID[$i]=$!
	echo "$i ${NODE_PID[$i]}" >>"$WORK/pids"
}

# Stops node $1 with SIGTERM (30 s at most) and reaps it.
cluster_stop_node() {
	local i=$1 p=${NODE_PID[$1]:-} n
	[[ -n "$p" ]] || return 0
	kill -TERM "$p" 2>/dev/null || { unset "NODE_PID[$i]"; return 0; }
	for ((n = 0; n < 300; n++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$p" 2>/dev/null && fail "node $i did not stop within 30 s of SIGTERM"
	wait "$p" 2>/dev/null || true
	unset "NODE_PID[$i]"
}

# Stops every node still running (for the scripts' exit traps).
cluster_kill_all() {
	local p
	for p in "${NODE_PID[@]}"; do kill "$p" 2>/dev/null || true; done
}

# Waits until node $1 answers /v1/health?ready with 200; prints the seconds
# since $2 (a time.time() value).
cluster_wait_ready() {
	local i=$1 t0=$2 deadline=$((SECONDS + CLUSTER_READY_TIMEOUT))
	until curl -sf -o /dev/null -m 2 "${URL[$i]}/v1/health?ready"; do
		kill -0 "${NODE_PID[$i]}" 2>/dev/null || fail "node $i exited: $(tail -3 "$WORK/n$i.log")"
		((SECONDS < deadline)) || fail "node $i not serving after ${CLUSTER_READY_TIMEOUT} s"
		sleep 0.05
	done
	python3 -c "import time; print('%.2f' % (time.time() - $t0))"
}

cluster_now() { python3 -c 'import time; print(time.time())'; }

# Starts the three nodes and waits until they serve; sets L (the leader's
# id) and F (a follower's).
cluster_start() {
	local i t0
	for i in 1 2 3; do cluster_start_node "$i"; done
	t0=$(cluster_now)
	for i in 1 2 3; do cluster_wait_ready "$i" "$t0" >/dev/null; done
	L=$(python3 "$TOOL" escrow-leader "${URL[1]}") || fail "no leader"
	F=$((L % 3 + 1))
}
