#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test twice: a normal
# -Werror build, then an AddressSanitizer + UBSan build. Exits non-zero on
# any failure; the last line is "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

packages="build-essential autoconf automake pkg-config libraft-dev libuv1-dev \
libsqlite3-dev libssl-dev libjansson-dev libcurl4-openssl-dev libinih-dev libzstd-dev \
libhttp-parser-dev python3 curl iproute2 procps chromium git debhelper dpkg-dev systemd \
groff-base python3-yaml etcd-server wrk linux-perf valgrind"
# etcd-server and wrk: the smoke run of bench/compare-etcd.sh; linux-perf: that
# of bench/profile-forward.sh; valgrind: that of bench/instructions.sh
# (tests/test_compare_etcd.py; the benchmark itself is not run here).
# debhelper, dpkg-dev and git: the package build of tests/test_install.py;
# systemd: systemd-analyze verify of the units; groff-base and python3-yaml:
# tests/test_manpages.py (man pages render, alert rules parse).
# The browser tests (tests/test_console.py) drive Debian's chromium with the
# npm packages of tests/browser; Debian's nodejs and npm only where no node
# and npm are installed already (a newer Node.js is kept as it is).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	packages="$packages nodejs npm"
fi

install_missing() {
	local missing=()
	for p in $packages; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "check: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "check: run as root to install missing packages" >&2
		return 1
	fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

passed=0
failed=0

# Builds in build-$1 with configure flags $2..., runs make check and adds the
# counts of the TAP results to the totals.
run_suite() {
	local name=$1; shift
	local dir="$top/build-$name"
	echo "check: === $name build ==="
	mkdir -p "$dir"
	if ! (cd "$dir" && "$top/configure" -q "$@" && make -j2 >/dev/null); then
		echo "check: $name build failed"
		failed=$((failed + 1))
		return
	fi
	(cd "$dir" && make -j2 check) || true
	local p f
	p=$(cat "$dir"/tests/*.trs 2>/dev/null | grep -c '^:test-result: \(PASS\|XFAIL\|SKIP\)' || true)
	f=$(cat "$dir"/tests/*.trs 2>/dev/null | grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' || true)
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "check: $name: no test results"
		f=1
	fi
	for log in "$dir"/tests/*.log; do
		grep -q '^\(not ok\|Bail out\)' "$log" 2>/dev/null || continue
		# Each failure with all its diagnostics (node log tails, sanitizer
		# reports), up to the next test's result: CI keeps only this output.
		echo "--- $log"
		awk '/^(ok|not ok) / { on = /^not ok/ } /^Bail out/ { on = 1 } on' "$log" | head -400
	done
	echo "check: $name: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}

install_missing || { echo "0 passed, 1 failed"; exit 1; }
# The exact versions tests/browser/package-lock.json pins (no browser download:
# playwright-core drives /usr/bin/chromium). Without them test_console.py fails
# and says why; the other tests still run.
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
	echo "check: npm ci in tests/browser failed; the browser tests will fail"
./autogen.sh >/dev/null 2>&1 || { echo "check: autogen failed"; ./autogen.sh; echo "0 passed, 1 failed"; exit 1; }

run_suite plain --enable-werror
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	run_suite sanitize --enable-werror --enable-sanitize --enable-debug

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
