#!/usr/bin/env bash
# Builds coio and runs the examples in order: the 15 programs of the asyncio tutorial
# (examples/tutorial), then the tour of the asyncio documentation's examples
# (examples/docs_tour).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
coio_install_deps
[ -f build/build.ninja ] || meson setup build
ninja -C build
bash examples/tour.sh build tutorial docs_tour
