#!/usr/bin/env bash
# Checks C files against the repository's .clang-format without changing them.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: tools/scripts/format_check.sh [--help] [FILE...]

Runs clang-format (style from the repository's .clang-format) over FILEs,
or over every tracked *.c and *.h file when none is given, and compares its
output with each file. Nothing is modified.

Prints each file that differs with its count of differing lines, then the
total. Exits 0 when every file matches, 1 when some differ, 2 on a usage
error or when clang-format fails. Files that do not exist (deleted on the
branch) are skipped with a note; arguments other than *.c and *.h are
ignored. Exits 0 with a message when clang-format is not installed.

Typical use, on what a branch changed (when it changed no C file, the
command line is empty and every tracked file is checked):
  tools/scripts/format_check.sh $(git diff --name-only main -- '*.c' '*.h')
To see the changes clang-format would make to one file:
  clang-format --style=file FILE | diff -u FILE -
EOF
}

for arg in "$@"; do
	case "$arg" in
	-h | --help)
		usage
		exit 0
		;;
	-*)
		echo "format_check.sh: unknown option '$arg' (see --help)" >&2
		exit 2
		;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v clang-format >/dev/null 2>&1; then
	echo "format_check.sh: clang-format is not installed; nothing checked" \
		"(apt-get install clang-format)"
	exit 0
fi

files=()
if [ "$#" -gt 0 ]; then
	for f in "$@"; do
		case "$f" in
		*.c | *.h) ;;
		*) continue ;; # only C sources are formatted
		esac
		if [ ! -f "$f" ]; then
			# e.g. a file deleted on the branch, listed by git diff
			echo "format_check.sh: $f: no such file, skipped" >&2
			continue
		fi
		files+=("$f")
	done
else
	cd "$root"
	mapfile -t files < <(git ls-files -- '*.c' '*.h')
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

total=0
differ=0
for f in "${files[@]}"; do
	# clang-format reads the file and writes to stdout only: no -i.
	if ! clang-format --style=file "$f" >"$tmp"; then
		echo "format_check.sh: clang-format failed on $f" >&2
		exit 2
	fi
	n=$(diff -- "$f" "$tmp" | grep -c '^[<>]' || true)
	if [ "$n" -gt 0 ]; then
		echo "$f: $n lines differ"
		total=$((total + n))
		differ=$((differ + 1))
	fi
done

echo "${#files[@]} files checked, $differ differ, $total differing lines" \
	"($(clang-format --version | sed 's/.*version //'))"
if [ "$differ" -gt 0 ]; then
	exit 1
fi
exit 0
