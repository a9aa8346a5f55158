#!/usr/bin/env bash
# Usage: tests/fuzz/run.sh SECONDS [extra libFuzzer flags...]
# Builds the libFuzzer harness with clang (ASan + UBSan) in build-fuzz/ and runs one
# time-bounded campaign (a single process) starting from the committed corpus and the
# regression inputs.  New interesting inputs go to build-fuzz/fuzz-corpus (not committed; see
# README.md to merge them into the seed corpus), findings to build-fuzz/fuzz-artifacts/.
# Prints the number of inputs executed; exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:?usage: tests/fuzz/run.sh SECONDS [libFuzzer flags]}
shift
[ -f build-fuzz/build.ninja ] || CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true \
    -Db_sanitize=address,undefined -Dpool=false -Db_lto=false -Db_lundef=false >/dev/null
ninja -C build-fuzz -j2 tests/fuzz/fuzz_coio >/dev/null
work=build-fuzz/fuzz-corpus
art=build-fuzz/fuzz-artifacts
mkdir -p "$work" "$art"
log=build-fuzz/fuzz-run.log
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-} \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-} \
    build-fuzz/tests/fuzz/fuzz_coio -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$art/" "$@" \
    "$work" tests/fuzz/corpus tests/fuzz/regressions >"$log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
echo "fuzz: ${runs:-0} inputs executed in ${secs}s (log: $log)"
if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|coio fuzz:|Test unit written' "$log" | head -20 || true
    echo "fuzz: FINDING (exit $status); the input is in $art/" >&2
    exit 1
fi
