#!/usr/bin/env python3
"""Side-by-side benchmark of coio against the libev floor, CPython asyncio and uvloop.

One command, one run: every contender runs the same workloads (../shared/bench/WORKLOADS.md)
back to back on this machine, and the result is a markdown table of ns/op, ratios and the
performance targets.  Compare ratios, never absolute times: the machines are shared and noisy.

    python3 bench/compare.py [--n N] [--n-py N_PY] [--n-spawn M] [--repeat K] [--coio PATH]
                             [--ref-dir DIR] [workload ...]

Standard library only.
"""
import argparse
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The workloads coio implements, in print order, with the function in reference_asyncio.py
# that runs the same workload and the name that function prints its result under (None, None:
# Python has nothing comparable).  The step-driven variants are shown beside asyncio's one
# workload of that shape (`await asyncio.sleep(0)` is asyncio's bare yield); task_spawn_stackful
# / task_spawn_step (fire and forget, no gather) have no Python counterpart.
WORKLOADS = [
    ("call_soon_batch", "call_soon_batch", "call_soon_batch"),
    ("call_soon_chain", "call_soon_chain", "call_soon_chain"),
    ("timers_fire_ordered", "timers_fire", "timers_fire_ordered"),
    ("timers_schedule_cancel", "timers_cancel", "timers_schedule_cancel"),
    ("future_resolve_cb", "future_resolve", "future_resolve_cb"),
    ("call_soon_threadsafe", "threadsafe", "call_soon_threadsafe"),
    ("task_yield_sleep0", "task_yield", "task_yield_sleep0"),
    ("task_yield_step", "task_yield", "task_yield_sleep0"),
    ("task_yield_step_sleep0", "task_yield", "task_yield_sleep0"),
    ("queue_ping_pong", "ping_pong", "queue_ping_pong"),
    ("queue_ping_pong_step", "ping_pong", "queue_ping_pong"),
    ("task_spawn_stackful", None, None),
    ("task_spawn_step", None, None),
    ("task_spawn_gather", "task_spawn_gather", "task_spawn_gather"),
    ("task_spawn_gather_step", "task_spawn_gather", "task_spawn_gather"),
    ("await_ready", None, None),
    ("switch_pair", None, None),
    ("coroutine_rss", None, None),
    ("step_task_rss", None, None),
]
PY_FUNC = {w: f for w, f, _ in WORKLOADS}
PY_RESULT = {w: r for w, _, r in WORKLOADS}
FLOOR_HAS = {"call_soon_batch", "call_soon_chain", "timers_fire_ordered", "timers_schedule_cancel",
             "call_soon_threadsafe"}  # what floor_libev.c runs
MEMORY = ["coroutine_rss", "step_task_rss"]  # reported as bytes/op, in a table of their own
# Timed in the main table, and their peak-RSS bytes per task compared with asyncio's and
# uvloop's in a table of their own.
PEAK_MEMORY = ["task_spawn_gather", "task_spawn_gather_step"]
# Python workloads that measure memory (ru_maxrss growth): each runs in a process of its own,
# so that the peaks of the workloads before it do not hide its growth.
PY_MEMORY = {"task_spawn_gather"}
# Compared with switch_pair (a bare Boost.Context jump there and back) in a table of their own.
VS_SWITCH = ["await_ready", "task_yield_sleep0", "task_yield_step", "task_yield_step_sleep0"]

# Targets (from the performance issues).  ("floor", x): coio ns/op <= x * floor ns/op.
# ("uvloop", x): coio at least x times faster than uvloop.  ("switch", x): coio ns/op <= x *
# coio's switch_pair ns/op.  ("bytes", b): coio bytes/op <= b.  Workloads without an entry
# are shown for information.  BYTES_VS_UVLOOP: coio's peak bytes per task <= x * uvloop's.
TARGETS = {
    "call_soon_batch": ("floor", 2.0),
    "call_soon_chain": ("floor", 0.25),
    "timers_fire_ordered": ("floor", 1.0),  # plus 0 order violations
    "timers_schedule_cancel": ("floor", 2.0),
    "future_resolve_cb": ("uvloop", 20.0),
    "call_soon_threadsafe": ("floor", 1.5),
    "task_yield_sleep0": ("uvloop", 20.0),
    "queue_ping_pong": ("uvloop", 20.0),
    # The task_spawn_gather target is for step-driven tasks; the stackful row is shown
    # for information (each child maps a fresh guarded stack: kernel mmap, mprotect, page
    # faults and munmap dominate it).
    "task_spawn_gather_step": ("uvloop", 30.0),
    "await_ready": ("switch", 3.0),
    "coroutine_rss": ("bytes", 8 * 1024),
    "step_task_rss": ("bytes", 200),
}
BYTES_VS_UVLOOP = {"task_spawn_gather_step": 0.25}

CONTENDERS = ["coio", "floor", "asyncio", "uvloop"]

LINE = re.compile(r"^(\S+)\s+ops=\s*(\d+)\s+secs=\s*([0-9.eE+-]+)\s+ns/op=\s*([0-9.eE+-]+)"
                  r"(?:\s+bytes/op=\s*([0-9.eE+-]+))?")
BAD = re.compile(r"^\s*!\s*(\d+) timers fired out of deadline order")
REMARK = re.compile(r"^\s*!\s*(.*)$")


def parse(text):
    """Returns (header lines, {name: {"ns": float, "ops": int, "secs": float, "bad": int,
    "bytes": float or None, "remarks": [str]}})."""
    headers, res, last = [], {}, None
    for line in text.splitlines():
        if line.startswith("#"):
            headers.append(line[1:].strip())
            continue
        m = LINE.match(line)
        if m:
            last = m.group(1)
            res[last] = {"ops": int(m.group(2)), "secs": float(m.group(3)),
                         "ns": float(m.group(4)), "bad": 0,
                         "bytes": float(m.group(5)) if m.group(5) else None, "remarks": []}
            continue
        m = BAD.match(line)
        if m and last is not None:
            res[last]["bad"] = int(m.group(1))
            continue
        m = REMARK.match(line)
        if m and last is not None:
            res[last]["remarks"].append(m.group(1))
    return headers, res


def find_coio(explicit):
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    default = os.path.join(REPO, "build", "bench", "coio_bench")
    if os.path.isfile(default):
        return default
    found = [p for p in glob.glob(os.path.join(REPO, "*", "bench", "coio_bench")) if os.path.isfile(p)]
    return max(found, key=os.path.getmtime) if found else None


def find_floor(explicit, coio_path, ref_dir, tmp, notes):
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    if coio_path:
        beside = os.path.join(os.path.dirname(coio_path), "floor_libev")
        if os.path.isfile(beside):
            return beside
    src = os.path.join(ref_dir, "floor_libev.c")
    if not os.path.isfile(src):
        notes.append(f"floor: {src} not found, skipped")
        return None
    cc = os.environ.get("CC", "cc")
    out = os.path.join(tmp, "floor_libev")
    cmd = [cc, "-O2", src, "-o", out, "-lev", "-lpthread"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        notes.append(f"floor: `{' '.join(cmd)}` failed:\n{p.stderr.strip()}")
        return None
    notes.append(f"floor: built with `{cc} -O2 {src} -lev -lpthread` into a temp dir")
    return out


def run(label, cmd, timeout, notes):
    print(f"  running {label}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        notes.append(f"{label}: timed out after {timeout} s")
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return parse(out)
    except OSError as e:
        notes.append(f"{label}: could not run: {e}")
        return [], {}
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        notes.append(f"{label}: exit status {p.returncode}"
                     + (f" ({err[-1]})" if err else ""))
    return parse(p.stdout)


def fmt_ns(v):
    return "—" if v is None else f"{v:.1f}"


def fmt_x(v):
    return "—" if v is None else (f"{v:.2f}×" if v < 10 else f"{v:.1f}×")


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    return ncpu, platform.release(), cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", metavar="workload",
                    help="workloads to run (default: all): " + " ".join(w for w, _, _ in WORKLOADS))
    ap.add_argument("--n", type=int, default=1_000_000, help="N for the C programs (default 1,000,000)")
    ap.add_argument("--n-py", type=int, default=200_000, help="N for asyncio/uvloop (default 200,000)")
    ap.add_argument("--n-spawn", type=int, default=100_000, metavar="M",
                    help="tasks kept by coio's task_spawn_* and *_rss workloads (default 100,000;"
                         " asyncio's task_spawn_gather uses N_PY)")
    ap.add_argument("--repeat", type=int, default=1, metavar="K",
                    help="run each contender K times, keep the best ns/op per workload (default 1)")
    ap.add_argument("--coio", metavar="PATH",
                    help="coio_bench binary (default: build/bench/coio_bench, else */bench/coio_bench)")
    ap.add_argument("--floor", metavar="PATH",
                    help="libev floor binary (default: floor_libev beside coio_bench, else built "
                         "from REF_DIR/floor_libev.c with cc -O2 into a temp dir)")
    ap.add_argument("--ref-dir", default=os.path.normpath(os.path.join(REPO, "..", "shared", "bench")),
                    help="directory holding floor_libev.c and reference_asyncio.py "
                         "(default: ../shared/bench beside the repository)")
    ap.add_argument("--python", default=shutil.which("python3") or sys.executable,
                    help="interpreter for the asyncio run (default: python3 on PATH)")
    ap.add_argument("--uvloop-python", default="/usr/bin/python3",
                    help="interpreter that has uvloop (default: /usr/bin/python3)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per contender run (default 900)")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = ap.parse_args()

    names = [w for w, _, _ in WORKLOADS]
    for w in args.workloads:
        if w not in PY_FUNC:
            ap.error(f"unknown workload {w!r}; known: {' '.join(names)}")
    if args.workloads:
        names = [w for w in names if w in args.workloads]
    if args.repeat < 1 or args.n < 1 or args.n_py < 1 or args.n_spawn < 1:
        ap.error("--n, --n-py, --n-spawn and --repeat must be positive")
    # await_ready's target is relative to switch_pair: run it too.
    if "await_ready" in names and "switch_pair" not in names:
        names.append("switch_pair")

    notes = []
    tmp = tempfile.mkdtemp(prefix="coio-bench-")
    try:
        coio = find_coio(args.coio)
        if not coio:
            notes.append("coio: no coio_bench found (build with `meson setup build && ninja -C build`"
                         " or pass --coio PATH), skipped")
        floor = find_floor(args.floor, coio, args.ref_dir, tmp, notes)
        ref_py = os.path.join(args.ref_dir, "reference_asyncio.py")
        if not os.path.isfile(ref_py):
            notes.append(f"asyncio/uvloop: {ref_py} not found, skipped")
            ref_py = None
        have_uvloop = False
        if ref_py:
            try:
                have_uvloop = subprocess.run([args.uvloop_python, "-c", "import uvloop"],
                                             capture_output=True).returncode == 0
            except OSError:
                pass
            if not have_uvloop:
                notes.append(f"uvloop: not importable by {args.uvloop_python}, skipped")

        cmds = {}  # contender: the commands it runs, one process each
        if coio:
            cmds["coio"] = [[coio, str(args.n), "--spawn-n", str(args.n_spawn)] + names]
        if floor and FLOOR_HAS.intersection(names):
            cmds["floor"] = [[floor, str(args.n)]]  # runs all its workloads; it takes no names
        py_names = []
        for w in names:
            if PY_FUNC[w] and PY_FUNC[w] not in py_names:
                py_names.append(PY_FUNC[w])
        # the memory workloads each in a process of their own, the others together
        py_groups = [[f for f in py_names if f not in PY_MEMORY]]
        py_groups += [[f] for f in py_names if f in PY_MEMORY]
        py_groups = [g for g in py_groups if g]
        if ref_py and py_groups:
            cmds["asyncio"] = [[args.python, ref_py, "--n", str(args.n_py)] + g for g in py_groups]
            if have_uvloop:
                cmds["uvloop"] = [[args.uvloop_python, ref_py, "--uvloop", "--n", str(args.n_py)] + g
                                  for g in py_groups]

        # Interleave the repeats (coio, floor, asyncio, uvloop, coio, ...) so that a noisy
        # moment on the machine does not hit a single contender; keep the best per workload.
        best = {c: {} for c in CONTENDERS}
        headers = {}
        for r in range(args.repeat):
            for c in CONTENDERS:
                if c not in cmds:
                    continue
                label = c if args.repeat == 1 else f"{c} [{r + 1}/{args.repeat}]"
                res = {}
                for cmd in cmds[c]:
                    hdr, part = run(label, cmd, args.timeout, notes)
                    if hdr:
                        headers[c] = hdr[0]
                    res.update(part)
                for w, v in res.items():
                    old = best[c].get(w)
                    if old is None or v["ns"] < old["ns"]:
                        # violations and bytes/op: keep the worst seen, a best time must not
                        # hide them
                        if old:
                            v = dict(v, bad=max(v["bad"], old["bad"]))
                            if old["bytes"] is not None and (v["bytes"] is None
                                                             or old["bytes"] > v["bytes"]):
                                v["bytes"] = old["bytes"]
                        best[c][w] = v
                    else:
                        old["bad"] = max(old["bad"], v["bad"])
                        if v["bytes"] is not None and (old["bytes"] is None
                                                       or v["bytes"] > old["bytes"]):
                            old["bytes"] = v["bytes"]
                    for remark in v["remarks"]:
                        if remark not in best[c][w]["remarks"]:
                            best[c][w]["remarks"].append(remark)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ncpu, kernel, cpu = machine()
    print("## coio benchmark comparison\n")
    print(f"- machine: {ncpu} CPUs ({cpu or 'unknown CPU'}), Linux {kernel}")
    print(f"- compare.py under Python {platform.python_version()}")
    for c in CONTENDERS:
        if c in cmds:
            shown = " + ".join(
                "`" + " ".join(os.path.relpath(a) if os.path.isabs(a) and a.startswith(REPO) else a
                               for a in cmd) + "`" for cmd in cmds[c])
            print(f"- {c}: {headers.get(c, '?')} — {shown}")
    print(f"- N = {args.n:,} for coio and the floor, {args.n_py:,} for asyncio and uvloop; "
          f"M = {args.n_spawn:,} tasks for coio's task_spawn_* and *_rss; "
          f"best of {args.repeat} run{'s' if args.repeat > 1 else ''}")
    print()

    def ns(c, w):
        v = best[c].get(w if c in ("coio", "floor") else PY_RESULT[w])
        if c == "floor" and w not in FLOOR_HAS:
            return None
        return v["ns"] if v else None

    missed = 0

    def verdict(ok, over):
        """The `met` cell: over is how far off a miss is, as text (or None)."""
        nonlocal missed
        if ok is None:
            return "n/a"
        if ok:
            return "yes"
        missed += 1
        return "**no**" + (f" ({over})" if over else "")

    switch = ns("coio", "switch_pair")
    print("| workload | coio ns/op | floor ns/op | asyncio ns/op | uvloop ns/op | coio/floor "
          "| asyncio/coio | uvloop/coio | target | met |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for w in names:
        if w in MEMORY:
            continue
        co, fl, ai, uv = (ns(c, w) for c in CONTENDERS)
        r_floor = co / fl if co and fl else None
        r_ai = ai / co if co and ai else None
        r_uv = uv / co if co and uv else None
        kind, x = TARGETS.get(w, (None, None))
        over = None
        if kind == "floor":
            target = f"coio ≤ {x:g}× floor"
            ok = None if r_floor is None else r_floor <= x
            if ok is False:
                over = f"{r_floor / x:.2f}× over"
        elif kind == "uvloop":
            target = f"coio ≥ {x:g}× faster than uvloop"
            ok = None if r_uv is None else r_uv >= x
            if ok is False:
                over = f"{x / r_uv:.2f}× short"
        elif kind == "switch":
            target = f"coio ≤ {x:g}× switch_pair"
            r_sw = co / switch if co and switch else None
            ok = None if r_sw is None else r_sw <= x
            if ok is False:
                over = f"{r_sw / x:.2f}× over"
        else:
            target = "— (for information)"
            if w == "task_spawn_gather":
                target = "— (for information: the target is for step-driven tasks)"
            elif w.startswith("task_spawn_"):
                target = "— (fire and forget: no Python counterpart)"
            ok = None
        if w == "timers_fire_ordered":
            target += ", 0 violations"
            if co is not None and best["coio"][w]["bad"]:
                ok = False
                over = ((over + ", ") if over else "") + f"{best['coio'][w]['bad']} violations"
        met = verdict(ok, over) if kind or ok is not None else "—"
        print(f"| {w} | {fmt_ns(co)} | {fmt_ns(fl)} | {fmt_ns(ai)} | {fmt_ns(uv)} | {fmt_x(r_floor)} "
              f"| {fmt_x(r_ai)} | {fmt_x(r_uv)} | {target} | {met} |")
    print()
    print("coio/floor: lower is better (1× = as fast as the raw-libev floor).  asyncio/coio and "
          "uvloop/coio: how many times faster coio is.  — : the contender has no such workload "
          "or did not run.  The asyncio/uvloop numbers on the task_yield_* rows are all "
          "reference_asyncio.py's task_yield (`await asyncio.sleep(0)`), on the queue_ping_pong* "
          "rows its ping_pong, on the task_spawn_gather* rows its task_spawn_gather (with "
          "N_PY tasks; coio's with M).")

    sw_rows = [w for w in VS_SWITCH if w in names and ns("coio", w) is not None]
    if switch and sw_rows:
        print()
        print(f"### Against a bare Boost.Context switch pair ({switch:.1f} ns: `jump_fcontext` "
              "there and back)\n")
        print("| workload | coio ns/op | × switch_pair | what one op is |")
        print("|---|---:|---:|---|")
        what = {
            "await_ready": "`coio_await` of a done future (no suspension, as in asyncio)",
            "task_yield_sleep0": "stackful: `coio_sleep(0)` + `coio_await` + release — one loop "
                                 "pass and one switch pair",
            "task_yield_step": "step-driven: the step returns `COIO_STEP_YIELD` — one loop pass",
            "task_yield_step_sleep0": "step-driven: `coio_sleep(0)` + `coio_step_await` — one "
                                      "loop pass",
        }
        for w in sw_rows:
            co = ns("coio", w)
            print(f"| {w} | {fmt_ns(co)} | {fmt_x(co / switch)} | {what[w]} |")

    mem_rows = [w for w in MEMORY if w in names]
    if mem_rows:
        print()
        print("### Memory per suspended task (resident-set growth / live tasks)\n")
        print("| workload | live tasks | coio bytes/op | create + first step ns/op | target | met |")
        print("|---|---:|---:|---:|---|---|")
        for w in mem_rows:
            v = best["coio"].get(w)
            kind, x = TARGETS[w]
            target = f"≤ {x / 1024:g} KiB" if x >= 1024 else f"≤ {x:g} bytes"
            if v is None or v["bytes"] is None:
                print(f"| {w} | — | — | — | {target} | n/a |")
                continue
            ok = v["bytes"] <= x
            met = verdict(ok, None if ok else f"{v['bytes'] / x:.2f}× over")
            live = f"{v['ops']:,}" + ("" if v["ops"] >= args.n_spawn else f" of {args.n_spawn:,}")
            print(f"| {w} | {live} | {v['bytes']:.0f} | {fmt_ns(v['ns'])} | {target} | {met} |")
        print()
        print("coroutine_rss: stackful tasks (64 KiB `mmap`'d stacks, touched pages only); "
              "step_task_rss: step-driven tasks.  All suspended on one shared pending future.")

    peak_rows = [w for w in PEAK_MEMORY if w in names]
    if peak_rows:
        print()
        print("### Peak memory per task: spawn, sleep(0), gather (peak resident-set growth / "
              "tasks)\n")
        print("| workload | coio tasks | coio bytes/task | asyncio bytes/task | uvloop bytes/task "
              "| uvloop/coio | target | met |")
        print("|---|---:|---:|---:|---:|---:|---|---|")

        def peak_bytes(c, w):
            v = best[c].get(w if c == "coio" else PY_RESULT[w])
            return v["bytes"] if v else None

        for w in peak_rows:
            v = best["coio"].get(w)
            co, ai, uv = (peak_bytes(c, w) for c in ("coio", "asyncio", "uvloop"))
            tasks = "—" if v is None else (f"{v['ops']:,}" + ("" if v["ops"] >= args.n_spawn
                                                               else f" of {args.n_spawn:,}"))
            ratio = uv / co if co and uv else None
            x = BYTES_VS_UVLOOP.get(w)
            if x is None:
                target, met = "— (for information)", "—"
            else:
                target = f"≤ {x:g}× uvloop's"
                ok = None if co is None or uv is None else co <= x * uv
                met = verdict(ok, None if ok in (None, True) else f"{co / (x * uv):.2f}× over")
            fmt_b = lambda b: "—" if b is None else f"{b:.0f}"
            print(f"| {w} | {tasks} | {fmt_b(co)} | {fmt_b(ai)} | {fmt_b(uv)} | {fmt_x(ratio)} "
                  f"| {target} | {met} |")
        print()
        print("coio: growth of the peak resident set (VmHWM, reset before the run) on a fresh "
              "loop; asyncio/uvloop: growth of ru_maxrss in a process of its own.  "
              "task_spawn_gather: stackful tasks (a 64 KiB stack each, touched pages only); "
              "task_spawn_gather_step: step-driven tasks.")

    viol = [f"{c} {best[c]['timers_fire_ordered']['bad']:,}" for c in CONTENDERS
            if best[c].get("timers_fire_ordered", {}).get("bad")]
    if "timers_fire_ordered" in names:
        print()
        print("timers_fire_ordered deadline-order violations: "
              + (", ".join(viol) if viol else "none"))
    for w in names:
        v = best["coio"].get(w)
        for r in (v["remarks"] if v else []):
            if not r.endswith("timers fired out of deadline order"):
                notes.append(f"coio: {r}")
    expected = {"coio": names, "floor": [w for w in names if w in FLOOR_HAS],
                "asyncio": [PY_RESULT[w] for w in names if PY_RESULT[w]]}
    expected["uvloop"] = expected["asyncio"]
    missing = [f"{c}: {w}" for c in CONTENDERS if c in cmds
               for w in dict.fromkeys(expected[c]) if w not in best[c]]
    if missing:
        notes.append("no result for " + "; ".join(missing))
    if notes:
        print()
        print("Notes:")
        for n in notes:
            print(f"- {n}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
