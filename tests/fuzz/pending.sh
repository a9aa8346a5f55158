#!/usr/bin/env bash
# Usage: tests/fuzz/pending.sh [--promote]
# Replays every input of tests/fuzz/pending/ one by one with the libFuzzer build (clang,
# ASan+UBSan; build-fuzz/, set up as run.sh does) and prints PASS or FAIL for each.  With
# --promote, inputs that pass are moved (git mv) to tests/fuzz/regressions/, where meson test
# replays them; their line in pending/README.md is left for you to move to the commit message.
set -uo pipefail
cd "$(dirname "$0")/../.."
[ -f build-fuzz/build.ninja ] || CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true \
    -Db_sanitize=address,undefined -Dpool=false -Db_lto=false -Db_lundef=false >/dev/null
ninja -C build-fuzz -j2 tests/fuzz/fuzz_coio >/dev/null || exit 1
fail=0
for f in tests/fuzz/pending/*; do
    [ "$(basename "$f")" = README.md ] && continue
    if ASAN_OPTIONS=detect_leaks=1 timeout 120 build-fuzz/tests/fuzz/fuzz_coio "$f" >/dev/null 2>&1; then
        echo "PASS $f"
        [ "${1:-}" = --promote ] && git mv "$f" tests/fuzz/regressions/
    else
        echo "FAIL $f"
        fail=1
    fi
done
exit $fail
