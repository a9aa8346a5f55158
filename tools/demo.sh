#!/usr/bin/env bash
# Builds coio and runs the tutorial tour (examples/tutorial, in order).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
coio_install_deps
[ -f build/build.ninja ] || meson setup build
ninja -C build
bash examples/tutorial/tour.sh build
