#!/usr/bin/env bash
# Usage: tests/fuzz/campaign.sh INPUTS [FIRST_SEED]     (COIO_FUZZ_MAX_LEN: default 4096)
# A long campaign: at least INPUTS executions in rounds of one libFuzzer process each (the
# binary of run.sh, ASan + UBSan), each round with a fresh seed (FIRST_SEED, FIRST_SEED+1,
# ...) and the corpus the rounds before it grew.  A finding ends only its round: the input is
# kept in build-fuzz/fuzz-artifacts/ and the next round goes on, so one known bug does not
# stop the search for others (libFuzzer's -fork mode does the same but re-reads its corpus
# for every short job, ten times slower here).  Rounds run with -entropic=0: on this
# harness's ~50k features the entropic schedule spends two thirds of the time updating its
# frequencies.  Execution time grows with input length (an input is a program of ops): at
# max_len 4096 the corpus drifts to multi-kilobyte programs and a few hundred inputs a second;
# COIO_FUZZ_MAX_LEN=1024 keeps rounds several times faster (every finding so far minimised
# below 200 bytes).  Prints one line per round and a total; exits non-zero if anything was
# found.
set -euo pipefail
cd "$(dirname "$0")/../.."
want=${1:?usage: tests/fuzz/campaign.sh INPUTS [FIRST_SEED]}
seed=${2:-$(date +%s)}
[ -f build-fuzz/build.ninja ] || CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true \
    -Db_sanitize=address,undefined -Dpool=false -Db_lto=false -Db_lundef=false >/dev/null
ninja -C build-fuzz -j2 tests/fuzz/fuzz_coio >/dev/null
work=build-fuzz/fuzz-corpus
art=build-fuzz/fuzz-artifacts
mkdir -p "$work" "$art"
log=build-fuzz/campaign.log
: >"$log"
total=0
round=0
findings=0
per_round=$((want < 2000000 ? want : 2000000))
start=$(date +%s)
while [ "$total" -lt "$want" ]; do
    round=$((round + 1))
    rlog=build-fuzz/campaign-round.log
    status=0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-} \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-} \
        build-fuzz/tests/fuzz/fuzz_coio -entropic=0 -seed="$seed" -runs="$per_round" \
        -timeout=20 -rss_limit_mb=3072 -max_len="${COIO_FUZZ_MAX_LEN:-4096}" -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" tests/fuzz/corpus tests/fuzz/regressions \
        >"$rlog" 2>&1 || status=$?
    # Executions: the final stats, or (a round ended by a finding) the last status line.
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$rlog" | tail -1)
    [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$rlog" | tail -1 | tr -d '#')
    runs=${runs:-0}
    total=$((total + runs))
    what=clean
    if [ "$status" -ne 0 ]; then
        findings=$((findings + 1))
        what=$(grep -m1 -E 'SUMMARY|coio fuzz:|ERROR: libFuzzer' "$rlog" || echo "exit $status")
        what="FINDING: $what ($(grep -m1 -o 'Test unit written to [^ ]*' "$rlog" || true))"
    fi
    echo "round $round seed $seed: $runs inputs, total $total, $(($(date +%s) - start))s: $what" |
        tee -a "$log"
    seed=$((seed + 1))
done
echo "campaign: $total inputs in $round rounds, $findings finding(s), $(($(date +%s) - start))s" |
    tee -a "$log"
[ "$findings" -eq 0 ]
