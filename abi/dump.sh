#!/bin/sh
# usage: abi/dump.sh LIBRARY OUT.abi — the ABI XML of LIBRARY as the baseline records it: the
# exported interfaces only, without paths, locations or DT_NEEDED (so that the dump does not
# depend on where or against which libev/Boost build it was made).
set -eu
abidw --exported-interfaces-only --no-corpus-path --no-comp-dir-path --no-show-locs \
    --no-elf-needed --type-id-style hash --out-file "$2" "$1"
