#!/usr/bin/env python3
"""Differential test: the same programs on CPython 3.13's asyncio and on coio, traces diffed.

    diff.py --lib build/src/libcoio.so [--scenarios] [--random START COUNT] [--only NAME]

Prints TAP-style lines (one per scenario, one per batch of random programs, one per listed
known-open random program); meson reads the exit status: 0 all matched (known-open ones
aside), 1 a difference (or a known-open program that matches now), 77 skipped.  A failure shows the program, both traces and the first
line that differs.  Scenarios listed in scenarios.DOCUMENTED differ on purpose (coio(7),
"Differences from asyncio"): they are run and reported as `ok ... # documented difference`
when they differ as described, and fail if they stop differing (so the list stays true).
Exits 77 (meson's skip) with the reason when no CPython 3.13 runs it.
"""
import argparse
import os
import sys
import traceback
import warnings

warnings.simplefilter("ignore", RuntimeWarning)
import logging  # noqa: E402

logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # destroyed-pending reports at close

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

if sys.version_info[:2] != (3, 13):
    print("1..0 # SKIP asyncio_diff needs CPython 3.13 (the reference), this is %s"
          % sys.version.split()[0])
    sys.exit(77)

from rt_common import Boom, GroupError  # noqa: E402
import rt_asyncio  # noqa: E402
import rt_coio  # noqa: E402


def run_one(runtime_cls, source):
    rt = runtime_cls()
    ns = {"Boom": Boom, "GroupError": GroupError, "__name__": "program"}
    try:
        exec(compile(source, "<program>", "exec"), ns)
        main = rt.run(ns["main"])
        rt.log("end main:", rt.outcome(main))
        rt.log("pending:", rt.pending_tasks())
    except BaseException as e:  # noqa: BLE001
        rt.trace.append("DRIVER ERROR: " + "".join(
            traceback.format_exception_only(type(e), e)).strip())
    errors = getattr(rt, "errors", [])
    for e in errors:
        rt.trace.append("INTERNAL ERROR: " + e)
    try:
        rt.close()
    except BaseException as e:  # noqa: BLE001
        rt.trace.append("CLOSE ERROR: %r" % (e,))
    return rt.trace


def compare(source):
    a = run_one(rt_asyncio.AsyncioRuntime, source)
    c = run_one(rt_coio.CoioRuntime, source)
    return a, c


def first_diff(a, c):
    for i in range(max(len(a), len(c))):
        la = a[i] if i < len(a) else "<end of trace>"
        lc = c[i] if i < len(c) else "<end of trace>"
        if la != lc:
            return i, la, lc
    return None


def report(name, source, a, c, d):
    out = ["--- program %s" % name]
    out += ["    " + line for line in source.strip("\n").split("\n")]
    out.append("--- asyncio trace")
    out += ["    " + line for line in a]
    out.append("--- coio trace")
    out += ["    " + line for line in c]
    i, la, lc = d
    out.append("--- first difference, line %d:" % (i + 1))
    out.append("    asyncio: " + la)
    out.append("    coio:    " + lc)
    return "\n".join("# " + line for line in out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--scenarios", action="store_true")
    ap.add_argument("--random", nargs=2, type=int, metavar=("START", "COUNT"))
    ap.add_argument("--only")
    ap.add_argument("--show", action="store_true", help="print both traces even when equal")
    ap.add_argument("--sanitize", default="none")
    args = ap.parse_args()
    if args.sanitize not in ("", "none"):
        print("1..0 # SKIP libcoio is built with -Db_sanitize=%s: a Python process cannot "
              "load it (the sanitizer runtime must come first)" % args.sanitize)
        return 77
    rt_coio.load(args.lib)

    import scenarios
    import randprog

    progs = []  # (name, source, documented reason or None)
    if args.scenarios:
        for name, src in scenarios.SCENARIOS:
            progs.append((name, src, scenarios.DOCUMENTED.get(name)))
    if args.only:
        progs = [p for p in progs if p[0] == args.only]
    rand = []
    if args.random:
        start, count = args.random
        rand = [("random-%d" % s, randprog.generate(s)) for s in range(start, start + count)]
        if args.only:
            rand = [p for p in rand if p[0] == args.only]

    if not rand:  # with random programs the plan comes last (known-open ones get a line each)
        print("1..%d" % len(progs))
    failed = 0
    n = 0
    for name, src, documented in progs:
        n += 1
        a, c = compare(src)
        d = first_diff(a, c)
        if args.show:
            print(report(name, src, a, c, d or (0, "", "")))
        if documented:
            if d:
                print("ok %d - %s # documented difference: %s" % (n, name, documented))
            else:
                failed += 1
                print("not ok %d - %s: listed as a documented difference but the traces "
                      "match (remove it from DOCUMENTED and coio(7))" % (n, name))
            continue
        if d:
            failed += 1
            print("not ok %d - %s" % (n, name))
            print(report(name, src, a, c, d))
        else:
            print("ok %d - %s (%d trace lines)" % (n, name, len(a)))
    if rand:
        bad, todo, fixed = [], 0, []
        for name, src in rand:
            seed = int(name.split("-")[1])
            a, c = compare(src)
            d = first_diff(a, c)
            if args.show:
                print(report(name, src, a, c, d or (0, "", "")))
            if seed in randprog.OPEN:
                n += 1
                if d:
                    todo += 1
                    print("not ok %d - %s # TODO %s" % (n, name, randprog.OPEN[seed]))
                    print(report(name, src, a, c, d))
                else:
                    fixed.append(name)
                    failed += 1
                    print("ok %d - %s # TODO matches now: remove it from randprog.OPEN"
                          % (n, name))
                continue
            if d:
                bad.append(name)
                if len(bad) <= 3:
                    print(report(name, src, a, c, d))
        n += 1
        lo, hi = args.random[0], args.random[0] + args.random[1] - 1
        nmatch = len(rand) - len(bad) - todo
        if bad:
            failed += 1
            print("not ok %d - random programs %d..%d: %d differ: %s" % (
                n, lo, hi, len(bad), " ".join(bad[:50])))
        else:
            print("ok %d - random programs %d..%d: %d of %d match (%d known open, listed)" % (
                n, lo, hi, nmatch, len(rand), todo))
    if rand:
        print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
