#!/usr/bin/env bash
# Packaging checks, run by tools/test.sh (and by hand: ./tools/packaging_check.sh):
#  1. install into a temporary prefix (-Ddefault_library=both, the default LTO build) and use
#     it as README.md says: the README's example compiled with pkg-config from that prefix, run
#     with LD_LIBRARY_PATH and with an rpath, and linked fully static with
#     `pkg-config --static` (Libs.private must name everything libcoio.a needs);
#  2. coio as a Meson subproject (tests/subproject): the parent gets the library only, no
#     tests, examples, benchmarks or man pages, unless it asks for them.
# Exits non-zero on the first failure.  Builds in a temporary directory, removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs=${COIO_JOBS:-2}
step() { echo; echo "== packaging: $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

step "build and install into a temporary prefix"
prefix=$tmp/prefix
meson setup "$tmp/build" --prefix="$prefix" -Ddefault_library=both -Dtests=disabled \
    -Dexamples=disabled -Dbench=disabled >/dev/null
ninja -C "$tmp/build" -j"$jobs" >/dev/null
meson install -C "$tmp/build" --quiet >/dev/null
pcdir=$(dirname "$(find "$prefix" -name coio.pc | head -n1)")
[ -f "$pcdir/coio.pc" ] || die "no coio.pc installed under $prefix"
grep -q '^URL:.*example' "$pcdir/coio.pc" && die "coio.pc has a placeholder URL"
export PKG_CONFIG_PATH=$pcdir
libdir=$(pkg-config --variable=libdir coio)
[ -e "$libdir/libcoio.so.1" ] && [ -e "$libdir/libcoio.a" ] || die "libcoio.so.1 / libcoio.a not in $libdir"
echo "pkg-config --cflags --libs coio:  $(pkg-config --cflags --libs coio)"
echo "pkg-config --static --libs coio:  $(pkg-config --static --libs coio)"

# The README's example: the first C block after "## Example".
awk '/^## Example/ {on = 1} on && /^```c/ {grab = 1; next} grab && /^```/ {exit} grab' \
    README.md > "$tmp/hello.c"
grep -q 'int main' "$tmp/hello.c" || die "no example found in README.md"
expected=$'hello, world\nfuture: done'
check_output() { [ "$1" = "$expected" ] || die "$2 printed '$1', expected '$expected'"; }

step "the README example, dynamically linked (LD_LIBRARY_PATH)"
cc "$tmp/hello.c" $(pkg-config --cflags --libs coio) -o "$tmp/hello"
if env -u LD_LIBRARY_PATH "$tmp/hello" >/dev/null 2>&1; then
    die "hello ran without LD_LIBRARY_PATH or rpath: it found another libcoio"
fi
check_output "$(LD_LIBRARY_PATH=$libdir "$tmp/hello")" "hello (LD_LIBRARY_PATH)"
LD_LIBRARY_PATH=$libdir ldd "$tmp/hello" | grep -q "$libdir/libcoio.so.1" || die "hello does not load $libdir/libcoio.so.1"

step "the README example, with an rpath"
cc "$tmp/hello.c" $(pkg-config --cflags --libs coio) -Wl,-rpath,"$libdir" -o "$tmp/hello-rpath"
check_output "$(env -u LD_LIBRARY_PATH "$tmp/hello-rpath")" "hello-rpath"

step "the README example, linked static (pkg-config --static)"
cc -static "$tmp/hello.c" $(pkg-config --static --cflags --libs coio) -o "$tmp/hello-static"
if ldd "$tmp/hello-static" >/dev/null 2>&1; then die "hello-static is a dynamic executable"; fi
check_output "$("$tmp/hello-static")" "hello-static"

step "the uninstalled coio-uninstalled.pc exposes include/ only"
unc=$(echo $(PKG_CONFIG_PATH=$tmp/build/meson-uninstalled pkg-config --cflags coio))
[ "$unc" = "-I$src/include" ] || die "coio-uninstalled.pc Cflags: '$unc', expected '-I$src/include'"

step "coio as a Meson subproject"
parent=$tmp/parent
mkdir -p "$parent/subprojects"
cp tests/subproject/meson.build tests/subproject/parent.c "$parent/"
ln -s "$src" "$parent/subprojects/coio"
# What the subproject defines: only the library (shared, and static with default_library).
meson setup "$tmp/parent-build" "$parent" --force-fallback-for=coio -Db_lto=false >/dev/null
python3 - "$tmp/parent-build" <<'PY'
import json, subprocess, sys
b = sys.argv[1]
q = lambda what: json.loads(subprocess.run(["meson", "introspect", b, what], check=True,
                                           capture_output=True, text=True).stdout)
coio = sorted(t["name"] for t in q("--targets") if t.get("subproject") == "coio")
tests = [t["name"] for t in q("--tests")]
if coio != ["coio"] or tests:
    sys.exit("FAIL: the subproject defines targets %s and tests %s (want the library only)"
             % (coio, tests))
print("subproject targets: %s; tests: none" % coio)
PY
ninja -C "$tmp/parent-build" -j"$jobs" >/dev/null
out=$("$tmp/parent-build/parent")
[ "$out" = $'hello from a subproject\nhello from a remote handle' ] || die "parent printed '$out'"
# Asked for, they are there.
meson setup "$tmp/parent-asked" "$parent" --force-fallback-for=coio -Db_lto=false \
    -Dcoio:tests=enabled -Dcoio:docs=enabled -Dcoio:examples=enabled >/dev/null
python3 - "$tmp/parent-asked" <<'PY'
import json, subprocess, sys
b = sys.argv[1]
q = lambda what: json.loads(subprocess.run(["meson", "introspect", b, what], check=True,
                                           capture_output=True, text=True).stdout)
names = {t["name"] for t in q("--targets") if t.get("subproject") == "coio"}
tests = [t["name"] for t in q("--tests")]
want = {"test_loop", "coio.7", "01_run_until_complete"}
if not want <= names or "loop" not in tests:
    sys.exit("FAIL: -Dcoio:tests/docs/examples=enabled did not build them: missing %s"
             % sorted(want - names))
print("asked for: %d coio tests, man pages and examples defined" % len(tests))
PY

echo
echo "packaging checks passed"
