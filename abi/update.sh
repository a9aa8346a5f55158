#!/bin/sh
# Records the ABI of a build of libcoio.so.1 as the new baseline (abi/libcoio.abi).
#
# usage: abi/update.sh [BUILD_DIR]        (default: build; it must be built with -g)
#
# Run it when a release adds to the ABI (new functions, members appended to size-first
# structs), after abi/check.py has passed against the old baseline: the gate only ever lets
# compatible changes through, so the new baseline is a superset of the old one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
lib=$build/src/libcoio.so.1
[ -e "$lib" ] || { echo "no $lib: build first (meson setup $build && ninja -C $build)" >&2; exit 1; }
command -v abidw >/dev/null || { echo "abidw not found (Debian: apt-get install abigail-tools)" >&2; exit 1; }
if [ -e "$here/libcoio.abi" ]; then
    "$here/check.py" "$here/libcoio.abi" "$lib" >/dev/null || {
        echo "$lib is not compatible with the current baseline: not updating (see abi/check.py)" >&2
        exit 1
    }
fi
"$here/dump.sh" "$lib" "$here/libcoio.abi"
echo "wrote $here/libcoio.abi: commit it with the change that grew the ABI"
