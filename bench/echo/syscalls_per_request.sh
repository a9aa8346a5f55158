#!/usr/bin/env bash
# Syscalls per request of an echo server under the echo benchmark's load.
#
#   bench/echo/syscalls_per_request.sh [-b BUILD] [-c CONNS] [-d SECS] [--strace] -- SERVER_CMD...
#
# SERVER_CMD must print "listening on 127.0.0.1:PORT" (port 0 in its arguments: any free
# port), e.g.  -- build/examples/tcp_echo/echo_server -q 0
#          or  -- build/bench/echo_libev 0
#          or  -- /usr/bin/python3 bench/echo/echo_server.py --uvloop 0
# The server runs on CPU 0, the load client (bench/echo_load) on CPU 1.  Counts come from
# `perf stat` on the syscall tracepoints (barely slows the server), or with --strace from
# `strace -c -f` (slows the server a lot, so epoll_wait batches more than it would).  Each
# count is divided by the requests completed while counting.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build conns=10 secs=2 use_strace=0
while [ $# -gt 0 ]; do
    case $1 in
        -b) build=$2; shift 2 ;;
        -c) conns=$2; shift 2 ;;
        -d) secs=$2; shift 2 ;;
        --strace) use_strace=1; shift ;;
        --) shift; break ;;
        *) echo "usage: $0 [-b BUILD] [-c CONNS] [-d SECS] [--strace] -- SERVER_CMD..." >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "$0: no server command" >&2; exit 2; }
load=$build/bench/echo_load
tmp=$(mktemp -d)
spid= cpid=
cleanup() {
    [ -n "$cpid" ] && kill -INT "$cpid" 2>/dev/null || true
    [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

taskset -c 0 "$@" > "$tmp/server.out" &
spid=$!
for _ in $(seq 100); do grep -q '^listening on' "$tmp/server.out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
[ -n "$port" ] || { echo "$0: the server printed no 'listening on' line" >&2; exit 1; }

if [ $use_strace = 1 ]; then
    strace -c -f -p "$spid" -o "$tmp/counts" 2>/dev/null &
else
    perf stat -x, -o "$tmp/counts" -p "$spid" \
        -e raw_syscalls:sys_enter -e 'syscalls:sys_enter_recvfrom' -e 'syscalls:sys_enter_sendto' \
        -e 'syscalls:sys_enter_read' -e 'syscalls:sys_enter_write' \
        -e 'syscalls:sys_enter_recvmsg' -e 'syscalls:sys_enter_sendmsg' \
        -e 'syscalls:sys_enter_readv' -e 'syscalls:sys_enter_writev' \
        -e 'syscalls:sys_enter_epoll_wait' -e 'syscalls:sys_enter_epoll_pwait' \
        -e 'syscalls:sys_enter_epoll_ctl' -e 'syscalls:sys_enter_accept4' \
        -e 'syscalls:sys_enter_setsockopt' -e 'syscalls:sys_enter_getsockopt' \
        -e 'syscalls:sys_enter_clock_gettime' -e 'syscalls:sys_enter_mmap' \
        -e 'syscalls:sys_enter_munmap' -e 'syscalls:sys_enter_mprotect' \
        -e 'syscalls:sys_enter_madvise' -e 'syscalls:sys_enter_futex' -e 'syscalls:sys_enter_brk' \
        -e 'syscalls:sys_enter_close' &
fi
cpid=$!
sleep 0.5
# warm-up 0 and the whole run counted: everything the server did while the counter ran is
# divided by the requests of the whole run (total=), a handful of connection set-up calls
# included.
taskset -c 1 "$load" --port "$port" --conns "$conns" --duration "$secs" --warmup 0 \
    --server-pid "$spid" > "$tmp/load"
sleep 0.2
kill -INT "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=
total=$(sed -n 's/.*total=\([0-9]*\).*/\1/p' "$tmp/load")
echo "# $* — $conns connections, $(sed -n 's/.* rps=\([0-9]*\).*/\1/p' "$tmp/load") req/s while counted, $total requests"
if [ $use_strace = 1 ]; then
    awk -v t="$total" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
            printf "%-16s %10d  %6.3f per request%s\n", $NF, $4, $4 / t,
                   NF == 6 ? sprintf("  (%d failed)", $5) : "" }
        $NF == "total" { printf "%-16s %10d  %6.3f per request\n", "all", $(NF-2), $(NF-2) / t }' \
        "$tmp/counts"
else
    awk -F, -v t="$total" '$1 ~ /^[0-9]+$/ && $1 > 0 {
            name = $3; sub(/^syscalls:sys_enter_/, "", name); sub(/^raw_syscalls:sys_enter/, "all", name)
            printf "%-16s %10d  %6.3f per request\n", name, $1, $1 / t }' "$tmp/counts"
fi
