#!/usr/bin/env bash
# Builds coio and runs every test: the plain build (with the ABI gate, suite 'abi', and the
# formatting gate, suite 'format'), the packaging checks (tools/packaging_check.sh), the same
# tests under valgrind, an ASan+UBSan build (object pools off, so use-after-free is visible)
# and a ThreadSanitizer build for the threaded suites (suite 'unit', with test_remote's
# threads hammering remote handles and completions while the loop closes), plus a short
# libFuzzer campaign (tests/fuzz).  The plain build's tests include suite 'bench-instr':
# instructions per operation of the core workloads under valgrind against
# bench/instructions.json (bench/README.md).  The plain, ASan and TSan builds treat warnings
# as errors (setup, below).  Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
coio_install_deps

step() { echo; echo "== $*"; }

# Configures build directory $1 (options "${@:2}" when it is new) with warnings as errors: the
# library, tests, examples and benchmarks build without a warning at warning_level=3.  An
# existing directory keeps its options and gets -Dwerror=true.
setup() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" -Dwerror=true
    else
        meson setup "$dir" -Dwerror=true "$@"
    fi
}

step "build (debugoptimized) and test"
setup build
ninja -C build
meson test -C build --print-errorlogs

step "packaging: install into a temporary prefix, static link, Meson subproject"
./tools/packaging_check.sh

step "valgrind (memcheck)"
# bench-instr runs valgrind itself (on the plain build above)
meson test -C build --setup valgrind --print-errorlogs --no-suite bench-instr

step "ASan + UBSan build and test"
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dpool=false -Db_lto=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --no-suite golden --no-suite docs \
    --no-suite bench-instr

# A fixed seed and a fixed number of inputs, so that a red CI points at a change and can be
# replayed, not at whatever a random search happened to reach that day: exploring is the job
# of long campaigns with fresh seeds (tests/fuzz/README.md), whose findings are committed to
# tests/fuzz/regressions/ and so replayed here and by meson test.
step "libFuzzer (clang, ASan+UBSan): a short seeded campaign from the committed corpus"
tests/fuzz/run.sh "${COIO_FUZZ_SECONDS:-600}" -seed="${COIO_FUZZ_SEED:-1}" \
    -runs="${COIO_FUZZ_RUNS:-20000}"

step "ThreadSanitizer build, unit suites (call_soon_threadsafe, stop from other threads)"
setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dpool=false -Db_lto=false
ninja -C build-tsan
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    meson test -C build-tsan --print-errorlogs --suite unit

echo
echo "all tests passed"
