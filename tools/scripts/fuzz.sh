#!/bin/sh
# Runs the libFuzzer targets (tests/fuzz_*.c) for a while each: builds them
# with clang in build-fuzz/ (--enable-fuzzing: libFuzzer, ASan, UBSan), starts
# each from its committed corpus tests/corpus/NAME/, and keeps what it finds
# in fuzz-results/NAME/ (the grown corpus, crash-*, timeout-*, oom-*, log).
# A crash found here belongs in tests/corpus/NAME/ once fixed: make check
# replays that corpus on every build.
set -u

usage() {
	cat <<'EOF'
usage: tools/scripts/fuzz.sh [--seconds S] [--targets LIST] [--out DIR]

  --seconds S      run time per target (default 600)
  --targets LIST   comma-separated, among codec,body,snapfile,http,peer,forward (default all)
  --out DIR        results (default ./fuzz-results)
Needs clang and libFuzzer (Debian: clang, libclang-rt-14-dev). Exit 0 when no
target found anything, 1 when one did, 2 on bad usage or a failed build.
EOF
}

SECONDS_EACH=600
TARGETS=codec,body,snapfile,http,peer,forward
OUT=./fuzz-results
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECONDS_EACH=${2:-}; shift 2 ;;
	--targets) TARGETS=${2:-}; shift 2 ;;
	--out) OUT=${2:-}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "fuzz.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case "$SECONDS_EACH" in ''|*[!0-9]*) echo "fuzz.sh: --seconds: a number" >&2; exit 2 ;; esac

TOP=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang >/dev/null 2>&1 || { echo "fuzz.sh: clang not found (apt-get install clang)" >&2; exit 2; }
[ -x "$TOP/configure" ] || (cd "$TOP" && autoreconf -fi) >/dev/null 2>&1 ||
	{ echo "fuzz.sh: autoreconf failed" >&2; exit 2; }
mkdir -p "$TOP/build-fuzz" "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
(
	cd "$TOP/build-fuzz" &&
	{ [ -f Makefile ] || ../configure CC=clang --enable-fuzzing >configure.log 2>&1; } &&
	make -j"$(nproc)" $(echo "$TARGETS" | tr ',' '\n' | sed 's|^|tests/fuzz_|') \
		>make.log 2>&1
) || { echo "fuzz.sh: the build failed; see $TOP/build-fuzz/configure.log and make.log" >&2; exit 2; }

found=0
for t in $(echo "$TARGETS" | tr ',' ' '); do
	bin="$TOP/build-fuzz/tests/fuzz_$t"
	[ -x "$bin" ] || { echo "fuzz.sh: unknown target '$t'" >&2; exit 2; }
	dir="$OUT/$t"
	mkdir -p "$dir/corpus"
	cp -n "$TOP/tests/corpus/$t/"* "$dir/corpus/" 2>/dev/null
	echo "fuzz.sh: $t for $SECONDS_EACH s ..." >&2
	"$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$dir/" -print_final_stats=1 "$dir/corpus" >"$dir/log" 2>&1
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$')
	cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*')
	arts=$(ls "$dir" | grep -E '^(crash|timeout|oom|leak)-' | wc -l)
	echo "$t: ${runs:-?} executions in $SECONDS_EACH s, coverage ${cov:-?} edges," \
	     "corpus $(ls "$dir/corpus" | wc -l) inputs, $arts finding(s)"
	[ "$arts" -eq 0 ] || found=1
done
exit $found
