#!/usr/bin/env bash
# compare-etcd.sh: escrow against etcd 3.4 on this machine, side by side.
# Starts a 3-node etcd, a 3-node escrow on plain HTTP (--insecure) and a
# 3-node escrow on mutual TLS, all on 127.0.0.1 with ports the kernel picks,
# drives the same wrk load (bench/wrk-load.lua) against etcd and plain escrow
# in interleaved rounds, escrowctl bench against both escrows (wrk presents no
# client certificate), and prints the table of issue 16 with medians.
# Everything it starts and its temporary directory go away on exit, INT or
# TERM. See --help and docs/benchmarks.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TOOL=$HERE/compare_tool.py
LUA=$HERE/wrk-load.lua
READY_TIMEOUT=30   # seconds for a cluster to elect a leader and serve
STOP_TIMEOUT=10    # seconds for the processes to exit after SIGTERM
ETCD_GRACE=2       # etcd's: its last leader waits ~7 s for a leadership
                   # transfer that its stopped peers cannot take; its data
                   # dir is thrown away, so it gets SIGKILL after this

ROUNDS=3
DURATION=10
CLIENTS=64
SEED_KEYS=1000
FORMAT=table
OUT=""
ETCD=${ETCD:-etcd}
WRK=${WRK:-wrk}
ESCROWD=${ESCROWD:-}
ESCROWCTL=${ESCROWCTL:-}

usage() {
	cat <<'EOF'
Usage: bench/compare-etcd.sh [options]

Runs a 3-node etcd, a 3-node escrow on plain HTTP and a 3-node escrow on
mutual TLS on 127.0.0.1 and measures them with the same load, in interleaved
rounds. For every client count: writes through the leader and through a
follower (throughput, p99), audited lookups through a follower (etcd:
linearizable gets); and writes through a follower with 1 client (p50).
etcd and plain escrow are driven by wrk (bench/wrk-load.lua), both escrows
also by `escrowctl bench`, the only client here that presents a certificate.

  --rounds N       interleaved rounds, 1-100; each cell is the median (default 3)
  --duration S     seconds per run, 1-600 (default 10)
  --clients LIST   comma-separated client counts, 1-512 each (default 64)
  --seed-keys N    keys escrowed (and put in etcd) before the lookups,
                   1-1000000 (default 1000)
  --json           print one JSON object (params, rows, every run) instead
                   of the table
  --out FILE       also write the table as Markdown (for docs/benchmarks.md)
  --escrowd PATH   escrowd to run (default $ESCROWD, else the in-tree build)
  --escrowctl PATH escrowctl to run (default $ESCROWCTL, else the in-tree build)
  --etcd PATH      etcd 3.4 to run (default $ETCD, else etcd on PATH;
                   Debian package etcd-server)
  --wrk PATH       wrk to run (default $WRK, else wrk on PATH; package wrk)
  --help           print this help and exit

Progress goes to stderr. Exit 0 with the table; 1 when a cluster did not start
or a run failed; 2 for a bad option or a missing program (it says which).
It takes about rounds x (3 x the number of client counts + 1) x 4 x duration
seconds, plus about 20 s to start and seed the clusters.
EOF
}

# Progress and errors go to fd 3, a copy of stderr: the traps may run while
# a run's output is redirected to its file.
exec 3>&2
say() { printf "compare: [%3ds] %s\n" "$SECONDS" "$*" >&3; }
usage_error() {
	printf 'compare: %s (see bench/compare-etcd.sh --help)\n' "$*" >&2
	exit 2
}
# Checks that $2 is an integer in [$3, $4] for option $1.
int_in() {
	[[ "$2" =~ ^[0-9]{1,9}$ ]] && ((10#$2 >= $3 && 10#$2 <= $4)) ||
		usage_error "$1 must be an integer from $3 to $4, not '$2'"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--json) FORMAT=json; shift; continue ;;
	-h | --help) usage; exit 0 ;;
	--rounds | --duration | --clients | --seed-keys | --out | --escrowd | --escrowctl | --etcd | --wrk)
		[[ $# -ge 2 ]] || usage_error "$1 needs a value"
		opt=$1 val=$2
		shift 2
		;;
	--*=*)
		opt=${1%%=*} val=${1#*=}
		shift
		case $opt in
		--rounds | --duration | --clients | --seed-keys | --out | --escrowd | --escrowctl | --etcd | --wrk) ;;
		*) usage_error "unknown option '$opt'" ;;
		esac
		;;
	*) usage_error "unknown argument '$1'" ;;
	esac
	case $opt in
	--rounds) int_in "$opt" "$val" 1 100; ROUNDS=$((10#$val)) ;;
	--duration) int_in "$opt" "$val" 1 600; DURATION=$((10#$val)) ;;
	--clients)
		[[ "$val" =~ ^[0-9]+(,[0-9]+)*$ ]] || usage_error "--clients must be a list like 64 or 16,64, not '$val'"
		IFS=, read -r -a list <<<"$val"
		CLIENTS=""
		for c in "${list[@]}"; do
			int_in "--clients" "$c" 1 512
			CLIENTS+="${CLIENTS:+,}$((10#$c))"
		done
		;;
	--seed-keys) int_in "$opt" "$val" 1 1000000; SEED_KEYS=$((10#$val)) ;;
	--out) [[ -n "$val" ]] || usage_error "--out needs a file name"; OUT=$val ;;
	--escrowd) ESCROWD=$val ;;
	--escrowctl) ESCROWCTL=$val ;;
	--etcd) ETCD=$val ;;
	--wrk) WRK=$val ;;
	esac
done

# --- programs -------------------------------------------------------------
# The in-tree build, as tools/scripts do: build/ first, then the build dirs
# of tools/check.sh and tools/quickstart.sh.
if [[ -z "$ESCROWD" || -z "$ESCROWCTL" ]]; then
	for b in build build-plain build-release; do
		if [[ -x "$TOP/$b/node/escrowd" && -x "$TOP/$b/tools/escrowctl" ]]; then
			ESCROWD=${ESCROWD:-$TOP/$b/node/escrowd}
			ESCROWCTL=${ESCROWCTL:-$TOP/$b/tools/escrowctl}
			break
		fi
	done
	ESCROWD=${ESCROWD:-$TOP/build/node/escrowd}
	ESCROWCTL=${ESCROWCTL:-$TOP/build/tools/escrowctl}
fi
missing=()
# Resolves program $2 (a path or a name on PATH) for what $1 says.
need() {
	local what=$1 prog=$2
	if [[ "$prog" == */* ]]; then
		[[ -x "$prog" ]] || missing+=("$what: no executable $prog")
	else
		command -v "$prog" >/dev/null 2>&1 || missing+=("$what: '$prog' is not on PATH")
	fi
}
need "etcd (Debian package etcd-server, or --etcd)" "$ETCD"
need "wrk (Debian package wrk, or --wrk)" "$WRK"
need "escrowd (build it, or --escrowd / \$ESCROWD)" "$ESCROWD"
need "escrowctl (build it, or --escrowctl / \$ESCROWCTL)" "$ESCROWCTL"
need "python3" python3
need "curl" curl
need "timeout (coreutils)" timeout
if [[ ${#missing[@]} -gt 0 ]]; then
	printf 'compare: missing programs:\n' >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 2
fi
ETCD_VERSION=$("$ETCD" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
[[ "$ETCD_VERSION" == 3.4.* ]] ||
	say "warning: $ETCD is version '${ETCD_VERSION:-unknown}', the table was made for 3.4"
ESCROW_VERSION=$("$ESCROWD" --version | head -n 1)

# --- cleanup --------------------------------------------------------------
WORK=""
PIDS=()     # every long-running process started here
ETCD_PIDS=() # those of them that are etcd
PLAIN_PIDS=() # the plain escrow cluster's nodes
TLS_PIDS=()  # the TLS one's
CHILD=""    # the wrk or escrowctl bench running now

cleanup() {
	local rc=$? p deadline alive etcd_deadline
	trap - EXIT INT TERM
	[[ -n "$CHILD" ]] && kill "$CHILD" 2>/dev/null || true
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	deadline=$((SECONDS + STOP_TIMEOUT))
	etcd_deadline=$((SECONDS + ETCD_GRACE))
	while :; do
		alive=""
		for p in "${PIDS[@]}" ${CHILD:+"$CHILD"}; do
			kill -0 "$p" 2>/dev/null && alive+=" $p"
		done
		[[ -z "$alive" ]] && break
		if ((SECONDS >= etcd_deadline)); then
			for p in "${ETCD_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
		fi
		if ((SECONDS >= deadline)); then
			say "still running after ${STOP_TIMEOUT} s, killing:$alive"
			for p in $alive; do kill -9 "$p" 2>/dev/null || true; done
			break
		fi
		sleep 0.1
	done
	wait 2>/dev/null || true
	[[ ${#PIDS[@]} -gt 0 ]] && say "stopped ${#PIDS[@]} processes"
	if [[ -n "$WORK" ]]; then
		if [[ $rc -eq 1 && -d "$WORK" ]]; then
			# A failure: the logs say why; show their ends before they go.
			for f in "$WORK"/*/*.log; do
				[[ -s "$f" ]] || continue
				printf -- '--- %s (last 5 lines)\n' "${f#"$WORK"/}" >&3
				tail -n 5 "$f" >&3
			done
		fi
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	say "FAILED: $*"
	exit 1
}

# Runs "$@" in the background and waits for it, so that INT and TERM reach
# the trap at once; bounded by timeout(1) besides.
run_child() {
	local rc=0
	timeout -k 5 "$1" "${@:2}" 3>&- &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=""
	return "$rc"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/escrow-compare.XXXXXX")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "work dir $WORK; etcd $ETCD_VERSION, $ESCROW_VERSION"

# --- clusters -------------------------------------------------------------
read -r -a PORTS < <(python3 "$TOOL" ports 18)
[[ ${#PORTS[@]} -eq 18 ]] || fail "could not pick 18 free ports"

"$ESCROWCTL" pki init "$WORK/pki" --nodes 3 >/dev/null || fail "escrowctl pki init"
TLS_ARGS=(--ca "$WORK/pki/ca.crt" --cert "$WORK/pki/operator.crt" --key "$WORK/pki/operator.key")
TLS_FILES=("$WORK/pki/ca.crt" "$WORK/pki/operator.crt" "$WORK/pki/operator.key")

declare -a ETCD_URL PLAIN_URL TLS_URL
ETCD_INITIAL=""
for i in 0 1 2; do
	ETCD_URL[i]="http://127.0.0.1:${PORTS[i]}"
	ETCD_INITIAL+="${ETCD_INITIAL:+,}e$i=http://127.0.0.1:${PORTS[i + 3]}"
done
mkdir -p "$WORK/etcd" "$WORK/plain" "$WORK/tls"
for i in 0 1 2; do
	"$ETCD" --name "e$i" --data-dir "$WORK/etcd/e$i" \
		--listen-client-urls "${ETCD_URL[i]}" --advertise-client-urls "${ETCD_URL[i]}" \
		--listen-peer-urls "http://127.0.0.1:${PORTS[i + 3]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${PORTS[i + 3]}" \
		--initial-cluster "$ETCD_INITIAL" --initial-cluster-token "compare-$$" \
		--initial-cluster-state new --logger zap --log-level warn \
		>"$WORK/etcd/e$i.log" 2>&1 </dev/null 3>&- &
	PIDS+=($!)
	ETCD_PIDS+=($!)
done

# Starts escrow cluster $1 (plain or tls) on ports ${PORTS[$2..$2+5]}.
start_escrow() {
	local mode=$1 base=$2 i boot="" scheme=http
	local -a flags
	[[ $mode == tls ]] && scheme=https
	for i in 1 2 3; do
		boot+="${boot:+,}$i=127.0.0.1:${PORTS[base + 2 * i - 2]}/127.0.0.1:${PORTS[base + 2 * i - 1]}"
	done
	for i in 1 2 3; do
		if [[ $mode == tls ]]; then
			flags=(--tls-ca "$WORK/pki/ca.crt" --tls-cert "$WORK/pki/node-$i.crt"
				--tls-key "$WORK/pki/node-$i.key")
			TLS_URL[i]="$scheme://127.0.0.1:${PORTS[base + 2 * i - 1]}"
		else
			flags=(--insecure)
			PLAIN_URL[i]="$scheme://127.0.0.1:${PORTS[base + 2 * i - 1]}"
		fi
		mkdir -p "$WORK/$mode/n$i"
		"$ESCROWD" --id "$i" --data-dir "$WORK/$mode/n$i" \
			--raft-addr "127.0.0.1:${PORTS[base + 2 * i - 2]}" \
			--api-addr "127.0.0.1:${PORTS[base + 2 * i - 1]}" \
			--bootstrap "$boot" "${flags[@]}" --seal-key "$WORK/pki/seal.key" \
			--log-level warn >"$WORK/$mode/n$i.log" 2>&1 </dev/null 3>&- &
		PIDS+=($!)
		if [[ $mode == tls ]]; then TLS_PIDS+=($!); else PLAIN_PIDS+=($!); fi
	done
}
start_escrow plain 6
start_escrow tls 12
say "started etcd, escrow plain and escrow TLS (3 nodes each; pids ${PIDS[*]})"

# Waits until every URL in "$@" answers $PROBE_PATH with 200 (curl $CURL_ARGS).
wait_ready() {
	local deadline=$((SECONDS + READY_TIMEOUT)) u code pending p
	while :; do
		for p in "${PIDS[@]}"; do
			kill -0 "$p" 2>/dev/null || fail "process $p exited while starting"
		done
		pending=""
		for u in "$@"; do
			code=$(curl -s "${CURL_ARGS[@]}" -o /dev/null -m 2 -w '%{http_code}' "$u$PROBE_PATH" || true)
			[[ "$code" == 200 ]] || pending+=" $u"
		done
		[[ -z "$pending" ]] && return 0
		((SECONDS < deadline)) || fail "not ready after ${READY_TIMEOUT} s:$pending"
		sleep 0.2
	done
}
CURL_ARGS=()
PROBE_PATH=/health
wait_ready "${ETCD_URL[@]}"
PROBE_PATH="/v1/health?ready"
wait_ready "${PLAIN_URL[@]}"
CURL_ARGS=(--cacert "$WORK/pki/ca.crt" --cert "$WORK/pki/operator.crt" --key "$WORK/pki/operator.key")
wait_ready "${TLS_URL[@]}"

# Leaders and a follower of each.
deadline=$((SECONDS + READY_TIMEOUT))
until L=$(python3 "$TOOL" etcd-leader "${ETCD_URL[@]}" 2>/dev/null); do
	((SECONDS < deadline)) || fail "etcd elected no leader in ${READY_TIMEOUT} s"
	sleep 0.2
done
ETCD_LEADER=${ETCD_URL[L]}
ETCD_FOLLOWER=${ETCD_URL[(L + 1) % 3]}
until L=$(python3 "$TOOL" escrow-leader "${PLAIN_URL[1]}" 2>/dev/null); do
	((SECONDS < deadline)) || fail "escrow plain elected no leader in ${READY_TIMEOUT} s"
	sleep 0.2
done
PLAIN_LEADER=${PLAIN_URL[L]}
PLAIN_FOLLOWER=${PLAIN_URL[L % 3 + 1]}
until L=$(python3 "$TOOL" escrow-leader "${TLS_URL[1]}" "${TLS_FILES[@]}" 2>/dev/null); do
	((SECONDS < deadline)) || fail "escrow TLS elected no leader in ${READY_TIMEOUT} s"
	sleep 0.2
done
TLS_LEADER=${TLS_URL[L]}
TLS_FOLLOWER=${TLS_URL[L % 3 + 1]}
say "leaders: etcd $ETCD_LEADER, escrow plain $PLAIN_LEADER, escrow TLS $TLS_LEADER"

say "seeding $SEED_KEYS keys into each cluster for the lookups"
python3 "$TOOL" seed "$ETCD_LEADER" "$PLAIN_LEADER" "$SEED_KEYS" || fail "seeding the keys"
say "seeded"

# --- runs -----------------------------------------------------------------
RUNS=$WORK/runs.jsonl
: >"$RUNS"
RUN_NO=0
IFS=, read -r -a CLIENT_LIST <<<"$CLIENTS"
LOADS=()
for c in "${CLIENT_LIST[@]}"; do
	LOADS+=("write:leader:$c" "write:follower:$c" "read:follower:$c")
done
[[ " ${LOADS[*]} " == *" write:follower:1 "* ]] || LOADS+=("write:follower:1")
SYSTEM_LIST=(etcd plain bench_plain tls)

# shellcheck source=bench/cpu.sh
. "$HERE/cpu.sh"

# Runs load $2 (kind:via:clients) against system $3 in round $1 and appends
# the run to $RUNS, with the CPU its system's servers used meanwhile.
run_one() {
	local round=$1 load=$2 sys=$3 kind via clients url op threads out res rc=0 cpu0
	local -a servers
	IFS=: read -r kind via clients <<<"$load"
	case $sys in
	etcd) servers=("${ETCD_PIDS[@]}") ;;
	tls) servers=("${TLS_PIDS[@]}") ;;
	*) servers=("${PLAIN_PIDS[@]}") ;;
	esac
	cpu0=$(cpu_seconds "${servers[@]}")
	RUN_NO=$((RUN_NO + 1))
	out=$WORK/run-$RUN_NO.out
	threads=$((clients < 2 ? clients : 2))
	case $sys in
	etcd | plain)
		if [[ $sys == etcd ]]; then
			[[ $via == leader ]] && url=$ETCD_LEADER || url=$ETCD_FOLLOWER
			[[ $kind == write ]] && op=etcd-put || op=etcd-range
		else
			[[ $via == leader ]] && url=$PLAIN_LEADER || url=$PLAIN_FOLLOWER
			[[ $kind == write ]] && op=escrow-put || op=escrow-get
		fi
		run_child $((DURATION + 60)) "$WRK" -t "$threads" -c "$clients" -d "${DURATION}s" \
			--timeout 10s -s "$LUA" "$url" -- "$op" "$RUN_NO" "$SEED_KEYS" >"$out" 2>&1 ||
			{ cat "$out" >&2; fail "wrk $op against $url"; }
		res=$(python3 "$TOOL" record wrk "$out" "$RUNS" "$round" "$load" "$sys" \
			"$(cpu_seconds "${servers[@]}")" "$cpu0") ||
			{ cat "$out" >&2; fail "wrk's output"; }
		;;
	bench_plain | tls)
		local -a ctl=("$ESCROWCTL")
		if [[ $sys == tls ]]; then
			ctl+=("${TLS_ARGS[@]}")
			[[ $via == leader ]] && url=$TLS_LEADER || url=$TLS_FOLLOWER
		else
			[[ $via == leader ]] && url=$PLAIN_LEADER || url=$PLAIN_FOLLOWER
		fi
		[[ $kind == write ]] && op=escrow || op=lookup
		run_child $((DURATION + 120)) "${ctl[@]}" --nodes "$url" --json bench \
			--clients "$clients" --op "$op" --duration "$DURATION" --count 10000000 \
			--machine-prefix "cmp-$RUN_NO" >"$out" 2>"$out.err" || rc=$?
		# 1: some requests failed; the report counts them.
		[[ $rc -eq 0 || $rc -eq 1 ]] || { cat "$out.err" >&2; fail "escrowctl bench against $url (exit $rc)"; }
		res=$(python3 "$TOOL" record bench "$out" "$RUNS" "$round" "$load" "$sys" \
			"$(cpu_seconds "${servers[@]}")" "$cpu0") ||
			{ cat "$out.err" >&2; fail "escrowctl bench's output"; }
		;;
	esac
	say "round $round $load $sys: $res"
}

for ((round = 1; round <= ROUNDS; round++)); do
	for load in "${LOADS[@]}"; do
		# Interleaved, and in a rotating order, so that no system always
		# runs first (or right after the heaviest).
		for ((k = 0; k < ${#SYSTEM_LIST[@]}; k++)); do
			run_one "$round" "$load" "${SYSTEM_LIST[(k + round - 1) % ${#SYSTEM_LIST[@]}]}"
		done
	done
done

# --- report ---------------------------------------------------------------
PARAMS=$WORK/params.json
ROUNDS=$ROUNDS DURATION=$DURATION CLIENTS=$CLIENTS SEED_KEYS=$SEED_KEYS \
ETCD_VERSION=$ETCD_VERSION ESCROW_VERSION=$ESCROW_VERSION LOAD_BEFORE=$LOAD_BEFORE \
python3 - "$PARAMS" <<'EOF'
import json, os, platform, sys, time
e = os.environ
cpu = "?"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
with open("/proc/loadavg") as f:
    load_after = " ".join(f.read().split()[:3])


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


# How an idle CPU waits: in a virtual machine, halting costs each wake-up
# a trip through the hypervisor, which guest halt polling avoids.
idle = read("/sys/devices/system/cpu/cpuidle/current_driver") or "unknown"
poll_ns = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
if poll_ns is not None:
    idle += ", guest halt polling %s ns" % poll_ns
with open(sys.argv[1], "w") as f:
    json.dump({
        "rounds": int(e["ROUNDS"]), "duration": int(e["DURATION"]),
        "clients": [int(c) for c in e["CLIENTS"].split(",")],
        "seed_keys": int(e["SEED_KEYS"]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "bench/compare-etcd.sh --rounds %s --duration %s --clients %s" % (
            e["ROUNDS"], e["DURATION"], e["CLIENTS"]),
        "etcd_version": e["ETCD_VERSION"], "escrow_version": e["ESCROW_VERSION"],
        "machine": {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                    "load_before": e["LOAD_BEFORE"], "load_after": load_after, "idle": idle},
    }, f, indent=1)
EOF
if [[ -n "$OUT" ]]; then
	python3 "$TOOL" report "$RUNS" "$PARAMS" markdown >"$OUT" || fail "writing $OUT"
	say "wrote $OUT"
fi
python3 "$TOOL" report "$RUNS" "$PARAMS" "$FORMAT"
