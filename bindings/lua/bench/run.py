#!/usr/bin/env python3
"""run.py [--build DIR] [--n N] [--timers M]: runs bench.lua once under Lua 5.4 and LuaJIT
(each with its own coio.so from DIR/bindings/lua/{5.4,jit}) and prints one markdown table,
side by side: ns/op per workload, per-await cost against a bare coroutine.resume/yield pair
(target within 3x) and coio against luv for timers and callbacks (target: faster).  Times on a
shared machine are noise: read the ratios."""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def run(interp, moddir, n, m):
    env = dict(os.environ, LUA_CPATH=f"{moddir}/?.so;;")
    out = subprocess.run([interp, os.path.join(HERE, "bench.lua"), str(n), "--timers", str(m)],
                         env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        mm = re.match(r"(\S+) ops=\d+ secs=\S+ ns/op=(\S+)", line)
        if mm:
            rows[mm.group(1)] = float(mm.group(2))
        elif line.startswith("!"):
            print(line)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--timers", type=int, default=100000)
    a = ap.parse_args()
    results = {}
    for label, interp, sub in (("Lua 5.4", "lua5.4", "5.4"), ("LuaJIT", "luajit", "jit")):
        moddir = os.path.join(a.build, "bindings", "lua", sub)
        if not shutil.which(interp) or not os.path.exists(os.path.join(moddir, "coio.so")):
            print(f"! {label}: {interp} or {moddir}/coio.so missing, skipped")
            continue
        results[label] = run(interp, moddir, a.n, a.timers)
    if not results:
        return 1
    labels = list(results)
    names = list(next(iter(results.values())))
    print(f"N = {a.n} (awaits), M = {a.timers} (timers, callbacks); ns/op\n")
    print("| workload | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{results[l].get(name, float('nan')):.1f}" for l in labels) + " |")
    print("\n| ratio | target | " + " | ".join(labels) + " |")
    print("|---|---|" + "---:|" * len(labels))

    def ratio(num, den, target=None, better_low=True):
        cells = []
        for l in labels:
            r = results[l]
            if num in r and den in r:
                v = r[num] / r[den]
                if target is None:
                    cells.append(f"{v:.2f}×")
                    continue
                ok = v <= target if better_low else v > target
                cells.append(f"{v:.2f}× {'✓' if ok else '✗'}")
            else:
                cells.append("—")
        return cells

    rows = [
        ("await_sleep0 / resume_yield", "≤ 3", ratio("await_sleep0", "resume_yield", 3)),
        ("await_done / resume_yield (no suspension)", "—", ratio("await_done", "resume_yield")),
        ("await_future_pingpong / resume_yield (2 switches, a future and a queue per op)", "—",
         ratio("await_future_pingpong", "resume_yield")),
        ("timers_luv / timers_coio", "> 1", ratio("timers_luv", "timers_coio", 1, False)),
        ("callbacks_luv / callbacks_coio", "> 1", ratio("callbacks_luv", "callbacks_coio", 1, False)),
    ]
    for name, target, cells in rows:
        print(f"| {name} | {target} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
