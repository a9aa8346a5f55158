#!/usr/bin/env python3
"""TCP echo benchmark: coio's echo server against asyncio, uvloop and raw libev, in one run.

Loopback TCP, a closed loop of fixed-size messages (1 KiB) on 10 and 100 connections
(bench/echo/echo_load.c), against four servers started side by side:

  coio     examples/tcp_echo/echo_server -q (a stackful coroutine per connection,
           coio_co_recv_into + coio_co_sendall)
  asyncio  bench/echo/echo_server.py under CPython (asyncio.Protocol, the fastest asyncio path)
  uvloop   the same script with --uvloop under /usr/bin/python3 (Debian's python3-uvloop)
  libev    bench/echo/echo_libev (ev_io per connection, recv -> send; the floor)

    python3 bench/echo/echo_compare.py [--build DIR] [--repeat K] [--conns 10,100]
                                       [--size 1024] [--duration 2] [--warmup 0.3] [--no-pin]

Prints markdown tables: requests/s, server CPU microseconds per request, the ratios and the
targets (coio >= 1.1x uvloop's requests/s, coio >= 0.95x raw libev's).  Runs are interleaved
(each repeat runs every server once per connection count, in a rotating order).  The first
tables keep each server's best of --repeat; the ratios the targets are judged on are paired
by repeat (coio's run against the other server's run of the same repeat) and their median is
reported with its range, as bench/compare.py does.  Standard library only.
"""
import argparse
import glob
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = [("uvloop", 1.1), ("libev", 0.95)]  # coio >= factor x that server's requests/s
DISTURBED = 0.9  # a run where neither server nor client used this much of a CPU was disturbed


def find_build(explicit, servers):
    need = [os.path.join("bench", "echo_load")]
    if "libev" in servers:
        need.append(os.path.join("bench", "echo_libev"))
    if "coio" in servers:
        need.append(os.path.join("examples", "tcp_echo", "echo_server"))
    if explicit:
        cands = [explicit]
    else:
        cands = [os.path.join(REPO, "build")] + sorted(
            glob.glob(os.path.join(REPO, "*")), key=os.path.getmtime, reverse=True)
    for d in cands:
        if all(os.path.isfile(os.path.join(d, n)) for n in need):
            return d
    sys.exit("echo_compare: no build directory with %s (build with ninja first, or --build DIR)"
             % ", ".join(need))


def python_label(python, module=None):
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    if module:
        code = "import %s; print(%s.__version__)" % (module, module)
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


class Server:
    def __init__(self, name, label, argv, cpus):
        self.name, self.label, self.argv, self.cpus = name, label, argv, cpus
        self.proc = None
        self.port = None

    def start(self):
        pre = (lambda: os.sched_setaffinity(0, self.cpus)) if self.cpus else None
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, preexec_fn=pre)
        line = b""
        deadline = time.monotonic() + 20
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.stop()
                raise RuntimeError("%s: no 'listening on' line within 20 s" % self.name)
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                raise RuntimeError("%s exited at start (status %s)" % (self.name, self.proc.wait()))
            line += chunk
        m = re.match(rb"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError("%s: unexpected first line %r" % (self.name, line))
        self.port = int(m.group(1))
        # It says it listens; make sure a connection goes through.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"ping")
            got = b""
            while len(got) < 4:
                chunk = s.recv(4 - len(got))
                if not chunk:
                    break
                got += chunk
            if got != b"ping":
                raise RuntimeError("%s does not echo (got %r)" % (self.name, got))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.returncode != 0:
            print("  note: %s exited with status %s after SIGTERM" % (self.name, self.proc.returncode),
                  file=sys.stderr)


def run_load(load, server, conns, args, client_cpus):
    argv = [load, "--port", str(server.port), "--conns", str(conns), "--size", str(args.size),
            "--duration", str(args.duration), "--warmup", str(args.warmup),
            "--threads", str(args.threads), "--server-pid", str(server.proc.pid)]
    pre = (lambda: os.sched_setaffinity(0, client_cpus)) if client_cpus else None
    out = subprocess.run(argv, capture_output=True, text=True, preexec_fn=pre,
                         timeout=args.duration + args.warmup + 60)
    if out.returncode != 0:
        raise RuntimeError("echo_load against %s, %d connections: status %d\n%s%s"
                           % (server.name, conns, out.returncode, out.stdout, out.stderr))
    fields = dict(kv.split("=", 1) for kv in out.stdout.split())
    return {k: float(fields[k]) for k in ("rps", "client_cpu", "server_cpu", "server_us_per_req")}


def fmt_int(v):
    return "—" if v is None else "{:,.0f}".format(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", metavar="DIR", help="build directory (default: build/, else the newest */ that has the programs)")
    ap.add_argument("--repeat", type=int, default=3, metavar="K",
                    help="runs per server and connection count (default 3): the best of them in the first "
                         "tables, the median of the paired ratios for the targets")
    ap.add_argument("--retries", type=int, default=2, metavar="R",
                    help="run again, up to R times, a run in which neither server nor client used 90%% of a CPU (default 2)")
    ap.add_argument("--conns", default="10,100", help="connection counts (default 10,100)")
    ap.add_argument("--size", type=int, default=1024, help="message bytes (default 1024)")
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per run (default 2)")
    ap.add_argument("--warmup", type=float, default=0.3, help="seconds before measuring (default 0.3)")
    ap.add_argument("--threads", type=int, default=1, help="load client threads (default 1)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the server to CPU 0 and the client to the others")
    ap.add_argument("--python", default="/root/.pyenv/versions/3.11.7/bin/python3",
                    help="CPython for the asyncio server (default: pyenv's 3.11.7, as in WORKLOADS.md)")
    ap.add_argument("--uvloop-python", default="/usr/bin/python3", help="Python with uvloop (default /usr/bin/python3)")
    ap.add_argument("--servers", default="coio,asyncio,uvloop,libev", help="servers to run (default all four)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args()

    wanted = args.servers.split(",")
    build = find_build(args.build, wanted)
    load = os.path.join(build, "bench", "echo_load")
    conn_counts = [int(c) for c in args.conns.split(",")]
    ncpu = os.cpu_count() or 1
    pin = not args.no_pin and ncpu >= 2 and hasattr(os, "sched_setaffinity")
    server_cpus = {0} if pin else None
    client_cpus = set(range(1, ncpu)) if pin else None
    notes = []

    servers = []
    if "coio" in wanted:
        servers.append(Server("coio", "coio", [os.path.join(build, "examples", "tcp_echo", "echo_server"),
                                               "-q", "0"], server_cpus))
    if "asyncio" in wanted:
        if not os.path.isfile(args.python):
            args.python = sys.executable
        v = python_label(args.python)
        servers.append(Server("asyncio", "asyncio %s" % v, [args.python, os.path.join(HERE, "echo_server.py"), "0"],
                              server_cpus))
    if "uvloop" in wanted:
        v = python_label(args.uvloop_python, "uvloop")
        if v is None:
            notes.append("uvloop skipped: %s cannot import uvloop" % args.uvloop_python)
        else:
            servers.append(Server("uvloop", "uvloop %s" % v,
                                  [args.uvloop_python, os.path.join(HERE, "echo_server.py"), "--uvloop", "0"],
                                  server_cpus))
    if "libev" in wanted:
        servers.append(Server("libev", "raw libev", [os.path.join(build, "bench", "echo_libev"), "0"], server_cpus))

    load_before = os.getloadavg()[0]
    best = {}  # (server, conns) -> dict of best values
    runs = {}  # (server, conns) -> every repeat's run, in order
    try:
        for s in servers:
            s.start()
        for rep in range(args.repeat):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for conns in conn_counts:
                for s in order:
                    # Neither side near a full CPU: something else ran on the machine (or on
                    # the server's or client's core) during the run.  Run it again.
                    for attempt in range(1 + args.retries):
                        r = run_load(load, s, conns, args, client_cpus)
                        r["disturbed"] = max(r["server_cpu"], r["client_cpu"] / args.threads) < DISTURBED
                        if not r["disturbed"]:
                            break
                        print("  run %d: %-8s %3d conns: disturbed (server %.2f CPU, client %.2f CPU)%s"
                              % (rep + 1, s.name, conns, r["server_cpu"], r["client_cpu"],
                                 ", again" if attempt < args.retries else ""), file=sys.stderr)
                    print("  run %d: %-8s %3d conns: %9.0f req/s  server %.2f CPU, %.2f us/req; client %.2f CPU"
                          % (rep + 1, s.name, conns, r["rps"], r["server_cpu"], r["server_us_per_req"],
                             r["client_cpu"]), file=sys.stderr)
                    runs.setdefault((s.name, conns), []).append(r)
                    # Keep the run with the most requests/s, and the least server CPU per request
                    # over all runs (each is the least disturbed measure of its own kind).
                    prev = best.get((s.name, conns))
                    min_us = r["server_us_per_req"] if prev is None else min(prev["min_us"], r["server_us_per_req"])
                    if prev is None or (prev["disturbed"], -prev["rps"]) > (r["disturbed"], -r["rps"]):
                        best[(s.name, conns)] = dict(r)
                    best[(s.name, conns)]["min_us"] = min_us
    finally:
        for s in servers:
            s.stop()

    names = [s.name for s in servers]
    labels = {s.name: s.label for s in servers}
    # The servers coio is compared with, in the order of the ratio columns.
    others = [n for n in ("uvloop", "libev", "asyncio") if n in names] if "coio" in names else []
    print("## TCP echo: %d-byte messages, loopback, %d interleaved runs × %.1f s per server"
          % (args.size, args.repeat, args.duration))
    print()
    pinning = ("server pinned to CPU 0, load client (%d thread%s) to CPU %s"
               % (args.threads, "" if args.threads == 1 else "s", ",".join(map(str, sorted(client_cpus))))
               if pin else "no pinning")
    print("%d CPUs; %s; load average %.2f before the run, %.2f after (the benchmark itself adds "
          "about 2).  Absolute numbers on a shared machine are noise: compare ratios."
          % (ncpu, pinning, load_before, os.getloadavg()[0]))
    print()

    def table(title, key, fmt, ratio_note):
        print(title)
        print()
        print("| connections | " + " | ".join(labels[n] for n in names)
              + "".join(" | coio/%s" % n for n in others) + " |")
        print("|---:|" + "---:|" * (len(names) + len(others)))
        for c in conn_counts:
            cells = [fmt(best[(n, c)][key]) + (" †" if key == "rps" and best[(n, c)]["disturbed"] else "")
                     for n in names]
            for n in others:
                a, b = best[("coio", c)][key], best[(n, c)][key]
                r = a / b if key == "rps" else b / a  # > 1: coio better
                cells.append("%.2f×" % r if b > 0 and a > 0 else "—")
            print("| %d | %s |" % (c, " | ".join(cells)))
        print()
        if ratio_note:
            print(ratio_note)
            print()

    table("Requests per second (higher is better):", "rps", fmt_int, None)
    table("Server CPU time per request, µs (lower is better; independent of whether the client "
          "was the bottleneck; best of all runs):", "min_us", lambda v: "%.2f" % v,
          "The coio/X columns of this table are X's µs/request over coio's: above 1 coio is cheaper.")

    # coio's run against the other server's run of the same repeat: requests/s of coio over
    # the other's, and the other's CPU per request over coio's (above 1: coio better).
    def paired(other, c, key):
        out = []
        for a, b in zip(runs[("coio", c)], runs[(other, c)]):
            if key == "rps":
                out.append(a["rps"] / b["rps"] if b["rps"] > 0 else 0.0)
            else:
                ua, ub = a["server_us_per_req"], b["server_us_per_req"]
                out.append(ub / ua if ua > 0 and ub > 0 else 0.0)
        return out

    def spread(rs):
        return "%.2f× (%.2f–%.2f×)" % (statistics.median(rs), min(rs), max(rs))

    missed = False
    if "coio" in names:
        if others:
            print("Ratios paired by run (coio's run against the other server's run of the same "
                  "repeat): median (min–max) over the %d runs:" % args.repeat)
            print()
            print("| connections | " + " | ".join("coio/%s req/s | coio/%s CPU per request" % (n, n)
                                                 for n in others) + " |")
            print("|---:|" + "---:|---:|" * len(others))
            for c in conn_counts:
                print("| %d | %s |" % (c, " | ".join("%s | %s" % (spread(paired(n, c, "rps")),
                                                                 spread(paired(n, c, "us")))
                                                     for n in others)))
            print()
        print("Targets (requests/s; judged on the median paired ratio; runs: in how many the "
              "target held):")
        print()
        print("| target | " + " | ".join("%d conns" % c for c in conn_counts) + " |")
        print("|---|" + "---|" * len(conn_counts))
        for other, factor in TARGETS:
            if other not in names:
                continue
            cells = []
            for c in conn_counts:
                rs = paired(other, c, "rps")
                ok = statistics.median(rs) >= factor
                missed |= not ok
                held = sum(r >= factor for r in rs)
                cells.append("%s %s (%d/%d runs; CPU/request: %s)"
                             % (spread(rs), "yes" if ok else "**no**", held, len(rs),
                                spread(paired(other, c, "us"))))
            print("| coio ≥ %g× %s | %s |" % (factor, labels[other], " | ".join(cells)))
        print()
        if "uvloop" in names and "libev" in names:
            print("For scale: raw libev/uvloop is %s in requests/s and %s in CPU per request: "
                  "coio/uvloop cannot go beyond that without beating raw libev."
                  % (" / ".join("%.2f×" % (best[("libev", c)]["rps"] / best[("uvloop", c)]["rps"])
                                for c in conn_counts),
                     " / ".join("%.2f×" % (best[("uvloop", c)]["min_us"] / best[("libev", c)]["min_us"])
                                for c in conn_counts)))
            print()

    saturated = sorted({"%s/%d" % (n, c) for (n, c), b in best.items() if b["client_cpu"] >= 0.95 * args.threads})
    print("CPU use in the runs with the most requests/s, server / load client (CPU-seconds per second):")
    print()
    print("| connections | " + " | ".join(labels[n] for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for c in conn_counts:
        print("| %d | %s |" % (c, " | ".join("%.2f / %.2f" % (best[(n, c)]["server_cpu"], best[(n, c)]["client_cpu"])
                                             for n in names)))
    disturbed = sorted("%s/%d" % k for k, b in best.items() if b["disturbed"])
    if disturbed:
        print()
        print("† Every run of %s was disturbed (neither server nor client used 90%% of a CPU: "
              "something else was running): those requests/s are low." % ", ".join(disturbed))
    if saturated:
        print()
        print("Note: the load client was saturated (≥ 95%% of its CPU) against %s: there the "
              "requests/s understate the server; the µs/request table does not." % ", ".join(saturated))
    for n in notes:
        print()
        print("Note: " + n)
    if args.strict and missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
