# Sourced by demo.sh and test.sh: installs the Debian packages coio needs when any is missing.
# On a fresh Debian 12 as root this is all the set-up there is.
COIO_PACKAGES="meson ninja-build pkg-config gcc g++ libev-dev libcmocka-dev libboost-context-dev scdoc valgrind python3 abigail-tools clang libclang-rt-14-dev"
# The formatting gate (tools/format_check.sh, suite 'format').
COIO_PACKAGES="$COIO_PACKAGES clang-format"
# The Lua binding (bindings/lua): both interpreters and headers, busted, luv (bench), luarocks.
COIO_PACKAGES="$COIO_PACKAGES lua5.4 liblua5.4-dev luajit libluajit-5.1-dev lua-busted lua-luv luarocks"

coio_install_deps() {
    local missing=""
    for p in $COIO_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "== installing:$missing"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Not needed by the tests: what bench/compare.py uses when it is there (the uvloop contender,
# and the --plot PNG).  `. tools/deps.sh && coio_install_deps $COIO_BENCH_PACKAGES`
COIO_BENCH_PACKAGES="python3-uvloop python3-matplotlib"
