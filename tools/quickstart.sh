#!/bin/bash
# quickstart.sh: builds escrow and runs a 3-node (or 5-node) TLS cluster on
# 127.0.0.1 (certificates from `escrowctl pki init`), then shows a key
# escrowed by the agent certificate surviving the loss of the leader (with 5
# nodes, of the leader and a follower at once). Meant for a fresh Debian 12,
# as root (to install the build packages); needs no network besides apt.
#
#   tools/quickstart.sh [--nodes 3|5]
#
# Environment:
#   ESCROW_QS_DIR   work dir for the cluster (default ./quickstart-cluster)
#   ESCROWD, ESCROWCTL
#                   use these binaries instead of building the tree
set -Eeuo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QS_DIR=${ESCROW_QS_DIR:-./quickstart-cluster}
PACKAGES="build-essential autoconf automake pkg-config libraft-dev libuv1-dev
libsqlite3-dev libssl-dev libjansson-dev libcurl4-openssl-dev libinih-dev libzstd-dev
libhttp-parser-dev curl python3"
READY_TIMEOUT=20   # seconds for the nodes to become ready
RETRY_TIMEOUT=30   # seconds to retry a request while a new leader is elected

usage() {
	cat <<'EOF'
Usage: tools/quickstart.sh [--nodes 3|5] [--help]

Builds escrow (into build-release/) and runs a TLS cluster on 127.0.0.1 in
$ESCROW_QS_DIR (default ./quickstart-cluster), then escrows and looks up a
key while nodes are lost.

  --nodes N   cluster size, 3 or 5 (default 3). A 3-node cluster loses its
              leader; a 5-node cluster loses its leader and a follower at
              once, and keeps serving.
  --help      print this help and exit

Environment: ESCROW_QS_DIR, ESCROWD, ESCROWCTL (see the top of this script).
EOF
}

N_NODES=3
while [[ $# -gt 0 ]]; do
	case $1 in
	--nodes)
		[[ $# -ge 2 ]] || { echo "quickstart: --nodes needs a value (3 or 5)" >&2; exit 2; }
		N_NODES=$2
		shift 2
		;;
	--nodes=*)
		N_NODES=${1#--nodes=}
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "quickstart: unknown argument '$1' (see tools/quickstart.sh --help)" >&2
		exit 2
		;;
	esac
done
if [[ "$N_NODES" != 3 && "$N_NODES" != 5 ]]; then
	echo "quickstart: --nodes must be 3 or 5, not '$N_NODES' (a majority of 3 survives" \
		"one lost node, of 5 two)" >&2
	exit 2
fi

STEP="start"
mapfile -t NODE_IDS < <(seq 1 "$N_NODES")
ALL_IDS=(1 2 3 4 5)   # every node a quickstart may have left in the work dir
declare -A RAFT API PID

say() { printf 'quickstart: %s\n' "$*"; }

# Stops the nodes this script started (by their recorded pids only).
stop_nodes() {
	local n
	for n in "${NODE_IDS[@]}"; do
		if [[ -n "${PID[$n]:-}" ]] && kill -0 "${PID[$n]}" 2>/dev/null; then
			kill "${PID[$n]}" 2>/dev/null || true
		fi
	done
}

# Reports the failed step with the end of every node log, stops the nodes.
fail() {
	local n
	trap - ERR
	printf 'quickstart: FAILED at step "%s"\n' "$STEP" >&2
	[[ $# -gt 0 ]] && printf '%s\n' "$@" >&2
	if [[ -n "${DIR:-}" ]]; then
		for n in "${NODE_IDS[@]}"; do
			if [[ -s "$DIR/n$n.log" ]]; then
				printf -- '--- %s (last 15 lines)\n' "$DIR/n$n.log" >&2
				tail -n 15 "$DIR/n$n.log" >&2
			fi
		done
	fi
	stop_nodes
	if [[ -n "${DIR:-}" ]]; then
		for n in "${NODE_IDS[@]}"; do
			rm -f "$DIR/n$n.pid"
		done
		printf 'quickstart: nodes stopped; logs are in %s\n' "$DIR" >&2
	fi
	exit 1
}
trap 'fail "command failed: $BASH_COMMAND"' ERR

# --- packages -------------------------------------------------------------
STEP="install packages"
if ! command -v dpkg >/dev/null 2>&1; then
	say "no dpkg: not Debian, skipping the package check"
else
	missing=()
	for p in $PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		say "packages: all present"
	elif [[ $(id -u) -ne 0 ]]; then
		fail "missing packages: ${missing[*]}" \
		     "run as root, or: apt-get install ${missing[*]}"
	else
		export DEBIAN_FRONTEND=noninteractive
		apt_log=$(mktemp)
		if ! { apt-get update -q && apt-get install -y -q --no-install-recommends \
			"${missing[@]}"; } >"$apt_log" 2>&1; then
			tail -n 20 "$apt_log" >&2
			rm -f "$apt_log"
			fail "apt-get could not install: ${missing[*]}"
		fi
		rm -f "$apt_log"
		say "packages: installed ${missing[*]}"
	fi
fi

# --- work dir -------------------------------------------------------------
STEP="prepare the work dir"
mkdir -p "$QS_DIR"
DIR=$(cd "$QS_DIR" && pwd)
for n in "${ALL_IDS[@]}"; do
	f="$DIR/n$n.pid"
	# A live escrowd under that pid (not a reused pid, not a zombie).
	if [[ -f "$f" ]] && p=$(cat "$f") && [[ "$p" =~ ^[0-9]+$ ]] &&
	   [[ -r "/proc/$p/cmdline" ]] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q escrowd; then
		DIR="" fail "a quickstart cluster is already running from $QS_DIR (pid $p)" \
			"stop it first: kill \$(cat $QS_DIR/*.pid)"
	fi
done
# A new cluster each time: old data dirs would carry the old membership.
for n in "${ALL_IDS[@]}"; do
	rm -rf "${DIR:?}/n$n" "$DIR/n$n.log" "$DIR/n$n.pid"
done
rm -f "$DIR/build.log"
say "work dir: $DIR"

# --- build ----------------------------------------------------------------
STEP="build"
if [[ -n "${ESCROWD:-}" || -n "${ESCROWCTL:-}" ]]; then
	ESCROWD=${ESCROWD:-$TOP/build-release/node/escrowd}
	ESCROWCTL=${ESCROWCTL:-$TOP/build-release/tools/escrowctl}
	say "build: skipped, using $ESCROWD and $ESCROWCTL"
else
	# Out of tree, in build-release/, like tools/check.sh's build-*/ dirs:
	# an in-tree configure would stop those from configuring.
	BUILD=$TOP/build-release
	ESCROWD=$BUILD/node/escrowd
	ESCROWCTL=$BUILD/tools/escrowctl
	if ! (
		cd "$TOP"
		if [[ ! -x configure || configure.ac -nt configure || Makefile.am -nt configure ]]; then
			./autogen.sh
		fi
		mkdir -p "$BUILD" && cd "$BUILD"
		if [[ ! -f Makefile || ../configure -nt Makefile ]]; then
			../configure
		fi
		make -j2
	) >"$DIR/build.log" 2>&1; then
		tail -n 30 "$DIR/build.log" >&2
		fail "the build failed; the whole log is $DIR/build.log"
	fi
	say "build: node/escrowd and tools/escrowctl are up to date (log: $DIR/build.log)"
fi
[[ -x "$ESCROWD" ]] || fail "no escrowd at $ESCROWD"
[[ -x "$ESCROWCTL" ]] || fail "no escrowctl at $ESCROWCTL"

# --- certificates, seal key and ports -------------------------------------
STEP="make the certificates and the seal key"
rm -rf "$DIR/pki"
"$ESCROWCTL" pki init "$DIR/pki" --nodes "$N_NODES" >/dev/null
PKI=$DIR/pki
say "pki: $PKI (CA, node-1..$N_NODES, agent helpdesk auditor operator, seal.key; keys 0600)"

STEP="pick free ports"
read -r -a ports < <(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])' $((2 * N_NODES)))
[[ ${#ports[@]} -eq $((2 * N_NODES)) ]] || fail "python3 did not print $((2 * N_NODES)) ports"
BOOTSTRAP=""
for ((i = 0; i < N_NODES; i++)); do
	n=${NODE_IDS[$i]}
	RAFT[$n]="127.0.0.1:${ports[$((2 * i))]}"
	API[$n]="127.0.0.1:${ports[$((2 * i + 1))]}"
	BOOTSTRAP+="${BOOTSTRAP:+,}$n=${RAFT[$n]}/${API[$n]}"
done
say "ports: $BOOTSTRAP"

# --- start ----------------------------------------------------------------
# Starts node $1 in the background; pass --bootstrap for a new cluster.
start_node() {
	local n=$1
	shift
	nohup "$ESCROWD" --id "$n" --data-dir "$DIR/n$n" --raft-addr "${RAFT[$n]}" \
		--api-addr "${API[$n]}" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/node-$n.crt" \
		--tls-key "$PKI/node-$n.key" --seal-key "$PKI/seal.key" "$@" \
		>>"$DIR/n$n.log" 2>&1 </dev/null &
	PID[$n]=$!
	echo "${PID[$n]}" >"$DIR/n$n.pid"
}

# curl with the client certificate of role $1.
curl_as() {
	local role=$1
	shift
	curl -s --cacert "$PKI/ca.crt" --cert "$PKI/$role.crt" --key "$PKI/$role.key" "$@"
}

# Waits until every node named in "$@" answers /v1/health?ready with 200.
wait_ready() {
	local deadline=$((SECONDS + READY_TIMEOUT)) n code pending
	while :; do
		pending=""
		for n in "$@"; do
			kill -0 "${PID[$n]}" 2>/dev/null || fail "node $n exited"
			code=$(curl_as operator -o /dev/null -m 1 -w '%{http_code}' \
				"https://${API[$n]}/v1/health?ready" || true)
			[[ "$code" == 200 ]] || pending+=" $n"
		done
		[[ -z "$pending" ]] && return 0
		((SECONDS < deadline)) || fail "not ready after ${READY_TIMEOUT} s:$pending"
		sleep 0.2
	done
}

STEP="start $N_NODES nodes"
for n in "${NODE_IDS[@]}"; do
	mkdir -p "$DIR/n$n"
	start_node "$n" --bootstrap "$BOOTSTRAP"
done
pids=""
for n in "${NODE_IDS[@]}"; do
	pids+="${pids:+ }${PID[$n]}"
done
say "started nodes ${NODE_IDS[*]} (pids $pids; logs $DIR/n*.log)"

STEP="wait until the nodes are ready"
wait_ready "${NODE_IDS[@]}"
say "all $N_NODES nodes are ready"

# --- the demo -------------------------------------------------------------
# Prints the leader's id as node $1 sees it.
leader_of() {
	curl_as operator -m 2 "https://${API[$1]}/v1/status" | python3 -c '
import json, sys
print(json.load(sys.stdin)["leader"]["id"])'
}

STEP="find the leader"
LEADER=$(leader_of 1) || fail "GET /v1/status on node 1 gave no leader"
[[ -n "${API[$LEADER]:-}" ]] || fail "node 1 names leader '$LEADER', not a node of this cluster"
FOLLOWERS=()
for n in "${NODE_IDS[@]}"; do
	[[ "$n" == "$LEADER" ]] || FOLLOWERS+=("$n")
done
F1=${FOLLOWERS[0]}
F2=${FOLLOWERS[1]}
say "leader is node $LEADER; followers are ${FOLLOWERS[*]}"

# Runs escrowctl as role $1 with $CTL_INPUT on its stdin, retrying a bounded time while
# no node could be reached (exit 3: an election is running); output in $OUT.
ctl() {
	local deadline=$((SECONDS + RETRY_TIMEOUT)) rc role=$1
	shift
	while :; do
		rc=0
		OUT=$("$ESCROWCTL" --ca "$PKI/ca.crt" --cert "$PKI/$role.crt" --key "$PKI/$role.key" \
			"$@" 2>&1 <<<"${CTL_INPUT:-}") || rc=$?
		[[ $rc -eq 3 ]] && ((SECONDS < deadline)) && { sleep 0.5; continue; }
		[[ $rc -eq 0 ]] && return 0
		fail "escrowctl $* exited $rc:" "$OUT"
	done
}

# A random key ID and a valid recovery password (blocks of 16 bits * 11).
new_key_id() { tr '[:lower:]' '[:upper:]' </proc/sys/kernel/random/uuid; }
new_password() {
	local i pw=""
	for i in 1 2 3 4 5 6 7 8; do
		pw+="${pw:+-}$(printf '%06d' $(((((RANDOM << 1) | (RANDOM & 1)) & 65535) * 11)))"
	done
	printf '%s' "$pw"
}

# Escrows key $1 with password $2 through the nodes "$3".
escrow_key() {
	CTL_INPUT=$2 ctl agent --nodes "$3" escrow --key-id "$1" --password - \
		--volume-id "demo-volume-$1" --volume-type os --machine demo-pc.example.com
}

# Looks key $1 up through "$2" and checks that the password is $3.
lookup_key() {
	ctl helpdesk --nodes "$2" lookup "$1" --reason lost_pin --note "quickstart demo"
	grep -qxF "recovery_password: $3" <<<"$OUT" ||
		fail "the lookup of $1 did not return the escrowed password"
}

STEP="escrow a key through follower $F1"
KEY1=$(new_key_id)
PW1=$(new_password)
escrow_key "$KEY1" "$PW1" "https://${API[$F1]}"
say "escrow via node $F1: $OUT"

STEP="look the key up through follower $F2"
lookup_key "$KEY1" "https://${API[$F2]}" "$PW1"
say "lookup via node $F2: $KEY1 returned the escrowed password"

# 3 nodes lose the leader; 5 nodes lose the leader and the last follower at
# once (a majority of 5 is 3).
LOST=("$LEADER")
[[ $N_NODES -eq 5 ]] && LOST+=("${FOLLOWERS[-1]}")
STEP="kill node(s) ${LOST[*]}"
for n in "${LOST[@]}"; do
	kill -9 "${PID[$n]}"
done
for n in "${LOST[@]}"; do
	wait "${PID[$n]}" 2>/dev/null || true
	rm -f "$DIR/n$n.pid"
done
if [[ ${#LOST[@]} -eq 1 ]]; then
	say "killed the leader, node $LEADER (kill -9)"
else
	say "killed nodes ${LOST[*]} at once (kill -9): the leader and a follower"
fi
SURVIVORS=""
SURVIVOR_IDS=()
for n in "${NODE_IDS[@]}"; do
	[[ " ${LOST[*]} " == *" $n "* ]] && continue
	SURVIVORS+="${SURVIVORS:+,}https://${API[$n]}"
	SURVIVOR_IDS+=("$n")
done

STEP="look the key up after the loss"
lookup_key "$KEY1" "$SURVIVORS" "$PW1"
say "lookup via nodes ${SURVIVOR_IDS[*]}: $KEY1 survived the loss of ${LOST[*]}"

STEP="escrow a key without the lost nodes"
KEY2=$(new_key_id)
PW2=$(new_password)
escrow_key "$KEY2" "$PW2" "$SURVIVORS"
say "escrow via nodes ${SURVIVOR_IDS[*]}: $OUT"

STEP="restart node(s) ${LOST[*]}"
for n in "${LOST[@]}"; do
	start_node "$n"
done
wait_ready "${LOST[@]}"
for n in "${LOST[@]}"; do
	lookup_key "$KEY2" "https://${API[$n]}" "$PW2"
done
say "restarted node(s) ${LOST[*]} from their data dirs: they caught up and serve $KEY2"

# --- how to go on ---------------------------------------------------------
trap - ERR
NODES=""
for n in "${NODE_IDS[@]}"; do
	NODES+="${NODES:+,}https://${API[$n]}"
done
cat <<EOF

The cluster is running ($N_NODES nodes, mutual TLS, on 127.0.0.1). The role is the
client certificate's: operator may do everything. Try:

  export ESCROW_NODES=$NODES ESCROW_CA=$PKI/ca.crt
  export ESCROW_CERT=$PKI/operator.crt ESCROW_KEY=$PKI/operator.key
  $ESCROWCTL status
  $ESCROWCTL keys demo-pc.example.com
  $ESCROWCTL lookup $KEY1 --reason lost_pin
  $ESCROWCTL report audit
  $ESCROWCTL bench --count 2000
  $ESCROWCTL pki issue $PKI alice --role helpdesk --p12   # a person's certificate, for a browser

The web console is on every node: https://${API[1]}/ui/ (import alice.p12 and
trust $PKI/ca.crt in the browser: README, "Importing your certificate").

Stop it with:

  kill \$(cat $DIR/*.pid)
EOF
