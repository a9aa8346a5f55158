#!/usr/bin/env bash
# test_rockspec.sh BUILDDIR SRCDIR INTERP LUAVERSION [LUA_INCDIR]: proves the rockspec — installs the built
# libcoio into a temporary prefix (meson install --destdir), runs `luarocks make` into a
# temporary tree against it, and runs a task with the module it built.  TAP on stdout.
set -u
build=$1 src=$2 interp=$3 luaver=$4 luainc=${5:-}
# LuaJIT is Lua 5.1 to LuaRocks: its headers are given as LUA_INCDIR.
extra=()
[ -n "$luainc" ] && extra=(LUA_INCDIR="$luainc")
skip() { echo "1..0 # SKIP $*"; [ "${COIO_TAP_SKIP:-0}" = 1 ] && exit 0; exit 77; }
[ -n "${COIO_LUA_SKIP:-}" ] && skip "$COIO_LUA_SKIP"
command -v luarocks >/dev/null 2>&1 || skip "luarocks not installed"
command -v "$interp" >/dev/null 2>&1 || skip "$interp not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..3"
if meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
    echo "ok 1 - libcoio installed into a temporary prefix"
else
    echo "not ok 1 - meson install"; sed 's/^/# /' "$tmp/install.log"; exit 1
fi
inc=$(dirname "$(find "$tmp/dest" -name coio.h | head -1)")
lib=$(dirname "$(find "$tmp/dest" -name 'libcoio.so' | head -1)")
cp -r "$src" "$tmp/src"
if (cd "$tmp/src" && luarocks --lua-version "$luaver" --tree "$tmp/tree" make --deps-mode=none \
        coio-scm-1.rockspec COIO_INCDIR="$inc" COIO_LIBDIR="$lib" "${extra[@]}") >"$tmp/rocks.log" 2>&1; then
    echo "ok 2 - luarocks make coio-scm-1.rockspec (Lua $luaver)"
else
    echo "not ok 2 - luarocks make"; sed 's/^/# /' "$tmp/rocks.log"; exit 1
fi
so=$(find "$tmp/tree" -name coio.so | head -1)
out=$(LD_LIBRARY_PATH="$lib" LUA_CPATH="$(dirname "$so")/?.so" "$interp" -e '
    local coio = require "coio"
    io.write(tostring(coio.run(function(x) coio.sleep(0) return x * 2 end, 21)))' 2>&1)
if [ "$out" = 42 ]; then
    echo "ok 3 - $interp runs a task with the rock's module ($so)"
else
    echo "not ok 3 - the rock's module"; echo "# $out"; exit 1
fi
