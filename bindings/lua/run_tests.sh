#!/usr/bin/env bash
# run_tests.sh KIND INTERP MODULE SRCDIR [ROOT] — the Lua binding's tests for one interpreter,
# as TAP on stdout (meson's 'lua' suite runs it).
#   busted:   the specs in SRCDIR/spec, by busted (-o TAP)
#   valgrind: the specs as busted, under valgrind's memcheck with leak checking
#   tutorial: the 15 tutorial ports in SRCDIR/examples, by ROOT/tests/tutorial/check.py
# A missing interpreter or busted skips the test with the reason: TAP's "1..0 # SKIP reason",
# which meson's TAP protocol reports as SKIP (with TAP, meson counts exit 77 as an error), and
# exit status 77 (meson sets COIO_TAP_SKIP=1 and gets status 0 with the SKIP plan).
set -u
kind=$1 interp=$2 module=$3 srcdir=$4 root=${5:-}

skip() {
    echo "1..0 # SKIP $*"
    [ "${COIO_TAP_SKIP:-0}" = 1 ] && exit 0
    exit 77
}

[ -n "${COIO_LUA_SKIP:-}" ] && skip "$COIO_LUA_SKIP"
command -v "$interp" >/dev/null 2>&1 || skip "$interp not installed"
moddir=$(dirname "$module")
export LUA_CPATH="$moddir/?.so;;"
export LUA_PATH="$srcdir/?.lua;;"
# Sanitizer builds: the runtimes the interpreter must load first (COIO_LUA_PRELOAD, set by
# meson); only the interpreter gets them.
run_interp() {
    if [ -n "${COIO_LUA_PRELOAD:-}" ]; then
        LD_PRELOAD="$COIO_LUA_PRELOAD" "$@"
    else
        "$@"
    fi
}

case $kind in
busted)
    busted=$(command -v busted) || skip "busted not installed (Debian: lua-busted)"
    # busted's runner is a Lua script: run it by the interpreter under test.
    "$interp" -e 'require "busted.runner"' 2>/dev/null </dev/null ||
        skip "busted is not installed for $interp"
    cd "$srcdir" && run_interp "$interp" "$busted" -o TAP --lpath="$srcdir/?.lua" \
        --cpath="$moddir/?.so" spec
    ;;
valgrind)
    busted=$(command -v busted) || skip "busted not installed (Debian: lua-busted)"
    vg=$(command -v valgrind) || skip "valgrind not installed"
    cd "$srcdir" && exec "$vg" --quiet --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect,possible \
        --show-leak-kinds=definite,indirect,possible "$interp" "$busted" -o TAP \
        --lpath="$srcdir/?.lua" --cpath="$moddir/?.so" spec
    ;;
tutorial)
    # The shared golden harness: each port's stdout, byte for byte, against
    # tests/tutorial/expected/NN_name.out.
    cmd=("$interp")
    [ -n "${COIO_LUA_PRELOAD:-}" ] && cmd=(env "LD_PRELOAD=$COIO_LUA_PRELOAD" "$interp")
    exec python3 "$root/tests/tutorial/check.py" --label "lua-$(basename "$moddir")" \
        -- "${cmd[@]}" "$srcdir/examples/{name}.lua"
    ;;
*)
    echo "unknown kind $kind" >&2
    exit 2
    ;;
esac
