#!/usr/bin/env bash
# tour.sh [BUILDDIR [DIR...]] — run the example programs of each DIR (default: tutorial, then
# docs_tour) in order, each under a `== DIR/NN_name ==` header.
#
#   meson setup build && ninja -C build && examples/tour.sh build
#
# BUILDDIR defaults to `build`.  The programs are the NN_*.c files of examples/DIR.
set -euo pipefail

builddir=${1:-build}
shift || true
dirs=("$@")
[[ ${#dirs[@]} -gt 0 ]] || dirs=(tutorial docs_tour)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

status=0
first=1
for dir in "${dirs[@]}"; do
    bindir=$builddir/examples/$dir
    if [[ ! -d $bindir ]]; then
        echo "tour.sh: $bindir not found; build first: meson setup $builddir && ninja -C $builddir" >&2
        exit 1
    fi
    for src in "$here/$dir"/[0-9][0-9]_*.c; do
        name=$(basename "$src" .c)
        if [[ $first -eq 0 ]]; then
            echo
        fi
        first=0
        echo "== $dir/$name =="
        if [[ ! -x $bindir/$name ]]; then
            echo "tour.sh: $bindir/$name is not built (ninja -C $builddir)" >&2
            status=1
            continue
        fi
        "$bindir/$name" || { echo "tour.sh: $dir/$name exited with status $?" >&2; status=1; }
    done
done
exit $status
