#!/usr/bin/env bash
# tour.sh [BUILDDIR] — run every tutorial example in order, each under a `== NN_name ==` header.
#
#   meson setup build && ninja -C build && examples/tutorial/tour.sh build
#
# BUILDDIR defaults to `build`.  The examples are the NN_*.c files beside this script.
set -euo pipefail

builddir=${1:-build}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bindir=$builddir/examples/tutorial

if [[ ! -d $bindir ]]; then
    echo "tour.sh: $bindir not found; build first: meson setup $builddir && ninja -C $builddir" >&2
    exit 1
fi

status=0
first=1
for src in "$here"/[0-9][0-9]_*.c; do
    name=$(basename "$src" .c)
    if [[ $first -eq 0 ]]; then
        echo
    fi
    first=0
    echo "== $name =="
    if [[ ! -x $bindir/$name ]]; then
        echo "tour.sh: $bindir/$name is not built (ninja -C $builddir)" >&2
        status=1
        continue
    fi
    "$bindir/$name" || { echo "tour.sh: $name exited with status $?" >&2; status=1; }
done
exit $status
