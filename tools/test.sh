#!/usr/bin/env bash
# Builds coio and runs every test: the plain build (with the ABI gate, suite 'abi'), the
# packaging checks (tools/packaging_check.sh), the same tests under valgrind, an ASan+UBSan
# build (object pools off, so use-after-free is visible) and a ThreadSanitizer build for the
# threaded suites (suite 'unit', with test_remote's threads hammering remote handles and
# completions while the loop closes), plus a short libFuzzer campaign (tests/fuzz).  Exits
# non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
coio_install_deps

step() { echo; echo "== $*"; }

step "build (debugoptimized) and test"
[ -f build/build.ninja ] || meson setup build
ninja -C build
meson test -C build --print-errorlogs

step "packaging: install into a temporary prefix, static link, Meson subproject"
./tools/packaging_check.sh

step "valgrind (memcheck)"
meson test -C build --setup valgrind --print-errorlogs

step "ASan + UBSan build and test"
[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined \
    -Db_lundef=false -Dpool=false -Db_lto=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --no-suite golden --no-suite docs

step "libFuzzer (clang, ASan+UBSan): a short campaign from the committed corpus"
tests/fuzz/run.sh "${COIO_FUZZ_SECONDS:-180}"

step "ThreadSanitizer build, unit suites (call_soon_threadsafe, stop from other threads)"
[ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Db_lundef=false \
    -Dpool=false -Db_lto=false
ninja -C build-tsan
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    meson test -C build-tsan --print-errorlogs --suite unit

echo
echo "all tests passed"
