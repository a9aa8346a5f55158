#!/usr/bin/env python3
"""Instructions per operation of coio's core workloads, under valgrind: a regression check.

Wall-clock time on a shared machine varies by tens of percent from run to run; the number of
instructions a workload executes does not.  For each workload this runs

    valgrind --tool=cachegrind --cache-sim=no --branch-sim=no coio_bench N --spawn-n N WORKLOAD

at two N (default 100,000 and 200,000) and reports (I(N2) - I(N1)) / (N2 - N1): the
instructions one more operation costs, with the process's fixed costs (start-up, loop
creation, dynamic linking, exit) cancelled out.

    bench/instructions.py [--build DIR] [--check | --record] [workload ...]

--check (what the meson test 'bench-instr' runs) compares with bench/instructions.json and
exits 1 when a workload rises more than the tolerance (10%) over its baseline; a workload
that fell more than that does not fail, it is reported as a stale baseline to re-record.
The check is skipped (exit 77) when the build is not configured as the baseline was
(buildtype, optimization, LTO, sanitizers, pools, compiler): the counts are only comparable
within one configuration.  --record writes the baseline from this build.  With neither, the
counts are printed.  Standard library only.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BASELINE = os.path.join(HERE, "instructions.json")

# The core workloads (bench/README.md).  task_spawn_gather_step's count is --spawn-n, the
# others' N.  Threaded and memory workloads are left out (scheduling and the kernel decide
# them), and so are the stackful spawn workloads (their cost is the kernel's mmap/munmap,
# which valgrind does not count, and N stackful tasks alive at once need 2N map entries).
WORKLOADS = [
    "call_soon_batch",
    "call_soon_chain",
    "timers_fire_ordered",
    "timers_schedule_cancel",
    "future_resolve_cb",
    "task_yield_sleep0",
    "task_yield_sleep0_future",
    "task_yield_step",
    "task_yield_step_sleep0",
    "queue_ping_pong",
    "queue_ping_pong_step",
    "task_spawn_gather_step",
    "await_ready",
    "sock_echo",  # socket pairs in one process: what the kernel reports is deterministic
]
CONFIG_KEYS = ["buildtype", "optimization", "b_lto", "b_sanitize", "b_ndebug", "pool", "compiler"]


def find_build(explicit):
    if explicit:
        return explicit
    default = os.path.join(REPO, "build")
    if os.path.isfile(os.path.join(default, "bench", "coio_bench")):
        return default
    sys.exit("instructions.py: no build/bench/coio_bench; pass --build DIR")


def build_config(build):
    path = os.path.join(build, "bench", "instructions_config.json")
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"instructions.py: cannot read {path} ({e}); reconfigure the build")
    return {k: str(cfg.get(k, "")) for k in CONFIG_KEYS}


def count(valgrind, coio, n, workload, tmp):
    """Instructions the whole coio_bench process executes running `workload` at N = n."""
    out = os.path.join(tmp, f"cg.{workload}.{n}")
    cmd = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--branch-sim=no",
           f"--cachegrind-out-file={out}", coio, str(n), "--spawn-n", str(n), workload]
    # meson test sets MALLOC_PERTURB_ (glibc then fills every allocation and free: work that
    # is not coio's, proportional to N); the baseline is recorded without it.
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "MALLOC_PERTURB_", "MALLOC_CHECK_", "GLIBC_TUNABLES")}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"instructions.py: `{' '.join(cmd)}` failed ({p.returncode}):\n{p.stderr[-2000:]}")
    with open(out) as f:
        for line in f:
            m = re.match(r"summary:\s+(\d+)", line)
            if m:
                os.unlink(out)
                return int(m.group(1))
    sys.exit(f"instructions.py: no summary line in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", metavar="workload", help="default: " + " ".join(WORKLOADS))
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="compare with the baseline; exit 1 on a rise over the tolerance")
    mode.add_argument("--record", action="store_true", help="write the baseline from this build")
    ap.add_argument("--build", metavar="DIR", help="meson build directory (default: build/)")
    ap.add_argument("--baseline", default=BASELINE, help="default: bench/instructions.json")
    ap.add_argument("--n", type=int, nargs=2, metavar=("N1", "N2"),
                    help="the two N (default: the baseline's, else 100000 200000)")
    ap.add_argument("--tolerance", type=float, default=None,
                    help="allowed rise as a fraction (default: the baseline's, else 0.10)")
    ap.add_argument("--valgrind", default=shutil.which("valgrind") or "valgrind")
    args = ap.parse_args()

    # Under `meson test --setup valgrind` this script itself would run under memcheck.
    if "vgpreload" in os.environ.get("LD_PRELOAD", ""):
        print("SKIP: running under valgrind already (meson test --setup valgrind)")
        return 77
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; known: {' '.join(WORKLOADS)}")

    build = find_build(args.build)
    coio = os.path.join(build, "bench", "coio_bench")
    config = build_config(build)

    base = None
    if not args.record:
        try:
            with open(args.baseline) as f:
                base = json.load(f)
        except (OSError, ValueError) as e:
            if args.check:
                print(f"instructions.py: cannot read the baseline {args.baseline}: {e}")
                return 1
    if args.check:
        differ = {k: (base["config"].get(k), config[k]) for k in CONFIG_KEYS
                  if str(base["config"].get(k)) != config[k]}
        if differ:
            print("SKIP: this build is configured differently from the baseline's; instruction "
                  "counts are only comparable within one configuration:")
            for k, (b, c) in differ.items():
                print(f"  {k}: baseline {b!r}, this build {c!r}")
            return 77
    if shutil.which(args.valgrind) is None:
        print(f"SKIP: {args.valgrind} not found")
        return 77

    n1, n2 = args.n or (base["n"] if base else [100_000, 200_000])
    if not 0 < n1 < n2:
        ap.error("need 0 < N1 < N2")
    tol = args.tolerance if args.tolerance is not None else (base or {}).get("tolerance", 0.10)
    names = args.workloads or WORKLOADS

    results = {}
    tmp = tempfile.mkdtemp(prefix="coio-instr-")
    try:
        for w in names:
            i1 = count(args.valgrind, coio, n1, w, tmp)
            i2 = count(args.valgrind, coio, n2, w, tmp)
            results[w] = (i2 - i1) / (n2 - n1)
            print(f"  {w}: {i1:,} instructions at N={n1:,}, {i2:,} at N={n2:,}", file=sys.stderr,
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if args.record:
        old = {}
        try:
            with open(args.baseline) as f:
                old = json.load(f).get("workloads", {})
        except (OSError, ValueError):
            pass
        if args.workloads:  # re-recording some: keep the others
            old.update({w: round(v, 1) for w, v in results.items()})
            recorded = old
        else:
            recorded = {w: round(results[w], 1) for w in names}
        data = {
            "what": "valgrind cachegrind instructions per operation: (I(N2) - I(N1)) / (N2 - N1) "
                    "of `coio_bench N --spawn-n N WORKLOAD`; re-record with "
                    "`bench/instructions.py --record` on the default build (README)",
            "recorded": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "config": config,
            "n": [n1, n2],
            "tolerance": tol,
            "workloads": recorded,
        }
        with open(args.baseline, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        print(f"recorded {args.baseline}")

    print(f"| workload | instructions/op | baseline | change |")
    print("|---|---:|---:|---:|")
    risen, stale = [], []
    bw = base["workloads"] if base else {}
    for w in names:
        v = results[w]
        b = bw.get(w)
        if b is None or args.record:
            print(f"| {w} | {v:,.1f} | {'—' if b is None else f'{b:,.1f}'} | |")
            if args.check:
                risen.append(f"{w}: no baseline (record it)")
            continue
        ch = v / b - 1
        flag = ""
        if ch > tol:
            risen.append(f"{w}: {v:,.1f} instructions/op, {ch:+.1%} over the baseline {b:,.1f}")
            flag = " **rise**"
        elif ch < -tol:
            stale.append(f"{w}: {v:,.1f} vs {b:,.1f} ({ch:+.1%})")
            flag = " (stale baseline)"
        print(f"| {w} | {v:,.1f} | {b:,.1f} | {ch:+.1%}{flag} |")
    print(f"\nN = {n1:,} and {n2:,}; tolerance {tol:.0%}; build: "
          + ", ".join(f"{k}={config[k]}" for k in CONFIG_KEYS))
    if stale:
        print(f"\nSTALE BASELINE: these fell more than {tol:.0%} below the baseline (good); "
              "re-record it with `bench/instructions.py --record` so that a later rise is "
              "caught:\n  " + "\n  ".join(stale))
    if args.check and risen:
        print(f"\nFAIL: instructions per operation rose more than {tol:.0%}:\n  " + "\n  ".join(risen))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
