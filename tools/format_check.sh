#!/usr/bin/env bash
# The formatting gate: every C and C++ file of src/, include/, tests/, examples/ and bench/
# must be as .clang-format says.  Run by `meson test` (suite 'format', the plain build only),
# so by tools/test.sh and CI; prints TAP, one line per file.
#
#   tools/format_check.sh          check (clang-format --dry-run -Werror)
#   tools/format_check.sh --fix    format the same files in place (clang-format -i)
#
# Left out: tests/fuzz/corpus (fuzzer inputs, not source) and tests/plugin_abi1 (the frozen
# first plugin header, never edited).  bindings/ is not covered (its C is partly generated).
#
# Layouts change between clang-format releases, so the check runs with the release the repo
# is formatted with (COIO_CLANG_FORMAT_MAJOR; Debian 12's clang-format) and is skipped, saying
# why, when that clang-format is missing.  $CLANG_FORMAT names the program to use.
set -uo pipefail
cd "$(dirname "$0")/.."

want_major=${COIO_CLANG_FORMAT_MAJOR:-14}
fix=0
case "${1:-}" in
--fix) fix=1 ;;
"") ;;
*) echo "usage: $0 [--fix]" >&2; exit 2 ;;
esac

skip() { echo "1..0 # SKIP $*"; exit 0; }

cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
    for c in "clang-format-$want_major" clang-format; do
        if command -v "$c" >/dev/null 2>&1; then cf=$c; break; fi
    done
fi
[ -n "$cf" ] && command -v "$cf" >/dev/null 2>&1 ||
    skip "clang-format not found (Debian package clang-format; tools/deps.sh installs it)"
version=$("$cf" --version)
major=$(sed -n 's/.*clang-format version \([0-9]*\).*/\1/p' <<<"$version")
[ "$major" = "$want_major" ] ||
    skip "$cf is release ${major:-unknown}, the repo is formatted with clang-format $want_major"

mapfile -t files < <(find src include tests examples bench \
    \( -path tests/fuzz/corpus -o -path tests/plugin_abi1 \) -prune -o \
    -type f \( -name '*.c' -o -name '*.cc' -o -name '*.h' -o -name '*.hh' \
    -o -name '*.cpp' -o -name '*.hpp' \) -print | LC_ALL=C sort)
[ "${#files[@]}" -gt 0 ] || { echo "no source files found" >&2; exit 1; }

if [ "$fix" = 1 ]; then
    exec "$cf" -i "${files[@]}"
fi

echo "1..${#files[@]}"
n=0 bad=0
for f in "${files[@]}"; do
    n=$((n + 1))
    if out=$("$cf" --dry-run -Werror "$f" 2>&1); then
        echo "ok $n - $f"
    else
        bad=$((bad + 1))
        echo "not ok $n - $f"
        # The first places that differ, as TAP comments.
        head -n 12 <<<"$out" | sed 's/^/# /'
    fi
done
if [ "$bad" -gt 0 ]; then
    echo "# $bad file(s) not formatted: tools/format_check.sh --fix formats them" >&2
    exit 1
fi
exit 0
