#!/usr/bin/env python3
"""Side-by-side benchmark of coio against the libev floor, asyncio, uvloop, tokio and Go.

One command, one run: every contender runs the same workloads (WORKLOADS.md in the reference
directory) with the same N, in paired rounds: each round runs every contender once on each
workload, one process each, the order of the contenders rotating from round to round.  For
each workload and contender the result is the median over the rounds of the per-round ratio
(coio against that contender in the same round), with its spread (min–max), and a markdown
table of ns/op, ratios and the performance targets.  Compare ratios, never absolute times:
the machines are shared and noisy.

    python3 bench/compare.py [--n N] [--n-spawn M] [--rounds R] [--pin CPUS] [--coio PATH]
                             [--ref-dir DIR] [--no-peers] [workload ...]
    python3 bench/compare.py --plot [PNG]     # ns/op against N (1k..1M): bench/scaling.png

Standard library only (the plot needs matplotlib, in this interpreter or /usr/bin/python3).
"""
import argparse
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(REPO, "bench")

# The workloads coio implements, in print order, with the function in reference_asyncio.py
# that runs the same workload and the name every other contender prints its result under
# (None, None: only coio has it).  The step-driven variants are shown beside the one workload
# of that shape the others have (`await asyncio.sleep(0)` is asyncio's bare yield);
# task_spawn_stackful / task_spawn_step (fire and forget, no gather) have no counterpart.
# timers_schedule_cancel_at is compared with the floor only (FLOOR_ONLY): it takes its deadlines
# from a cached time, as the floor does, where asyncio, uvloop, tokio and Go read the clock.
WORKLOADS = [
    ("call_soon_batch", "call_soon_batch", "call_soon_batch"),
    ("call_soon_chain", "call_soon_chain", "call_soon_chain"),
    ("timers_fire_ordered", "timers_fire", "timers_fire_ordered"),
    ("timers_schedule_cancel", "timers_cancel", "timers_schedule_cancel"),
    ("timers_schedule_cancel_at", None, "timers_schedule_cancel"),
    ("future_resolve_cb", "future_resolve", "future_resolve_cb"),
    ("call_soon_threadsafe", "threadsafe", "call_soon_threadsafe"),
    ("task_yield_sleep0", "task_yield", "task_yield_sleep0"),
    ("task_yield_sleep0_future", "task_yield", "task_yield_sleep0"),
    ("task_yield_step", "task_yield", "task_yield_sleep0"),
    ("task_yield_step_sleep0", "task_yield", "task_yield_sleep0"),
    ("queue_ping_pong", "ping_pong", "queue_ping_pong"),
    ("queue_ping_pong_step", "ping_pong", "queue_ping_pong"),
    ("task_spawn_stackful", None, None),
    ("task_spawn_step", None, None),
    ("task_spawn_gather", "task_spawn_gather", "task_spawn_gather"),
    ("task_spawn_gather_step", "task_spawn_gather", "task_spawn_gather"),
    ("await_ready", None, None),
    ("sock_echo", None, None),
    ("switch_pair", None, None),
    ("coroutine_rss", None, None),
    ("step_task_rss", None, None),
]
PY_FUNC = {w: f for w, f, _ in WORKLOADS}
RESULT = {w: r for w, _, r in WORKLOADS}
# What floor_libev.c runs, in the order it runs them, all in one process.
FLOOR_ORDER = ["call_soon_batch", "call_soon_chain", "timers_fire_ordered", "timers_schedule_cancel",
               "call_soon_threadsafe"]
FLOOR_HAS = set(FLOOR_ORDER)
FLOOR_ONLY = {"timers_schedule_cancel_at"}  # coio workloads no contender but the floor runs
# What bench/peers/ (tokio, Go) run, by result name.
PEER_HAS = {"timers_fire_ordered", "timers_schedule_cancel", "task_yield_sleep0", "queue_ping_pong",
            "task_spawn_gather"}
SPAWN_M = {"task_spawn_gather"}  # result names that run M tasks (--n-spawn) for every contender
MEMORY = ["coroutine_rss", "step_task_rss"]  # reported as bytes/op, in a table of their own
# Timed in the main table, and their peak-RSS bytes per task compared in a table of their own.
PEAK_MEMORY = ["task_spawn_gather", "task_spawn_gather_step"]
# Compared with switch_pair (a bare Boost.Context jump there and back) in a table of their own.
VS_SWITCH = ["await_ready", "task_yield_sleep0", "task_yield_sleep0_future", "task_yield_step",
             "task_yield_step_sleep0"]

CONTENDERS = ["coio", "floor", "asyncio", "uvloop", "tokio", "go"]
LABEL = {"coio": "coio", "floor": "floor", "asyncio": "asyncio", "uvloop": "uvloop",
         "tokio": "tokio", "go": "Go"}

# Targets (issue 19, and the earlier issues where it sets none).  ("floor", x): coio ns/op <=
# x * floor's.  (c, x) for c in asyncio/uvloop/tokio/go: coio at least x times as fast as c.
# ("switch", x): coio ns/op <= x * coio's switch_pair.  ("bytes", b): coio bytes/op <= b.
# Judged on the median of the per-round ratios; the met column also says in how many rounds
# the target held.  BYTES_VS_UVLOOP: coio's peak bytes per task <= x * uvloop's.
TARGETS = {
    "call_soon_batch": [("floor", 1.2)],
    "call_soon_chain": [("floor", 0.25)],
    "timers_fire_ordered": [("floor", 1.0)],  # plus 0 order violations
    "timers_schedule_cancel": [("floor", 1.2)],
    "future_resolve_cb": [("uvloop", 30.0)],
    "call_soon_threadsafe": [("floor", 1.5)],
    "task_yield_sleep0": [("uvloop", 30.0)],
    "queue_ping_pong": [("tokio", 1.5), ("uvloop", 20.0)],
    "queue_ping_pong_step": [("tokio", 1.5)],
    "task_spawn_gather": [("uvloop", 3.0), ("tokio", 1.0)],
    "task_spawn_gather_step": [("uvloop", 30.0)],
    "await_ready": [("switch", 3.0)],
    "coroutine_rss": [("bytes", 8 * 1024)],
    "step_task_rss": [("bytes", 160)],
}
BYTES_VS_UVLOOP = {"task_spawn_gather_step": 0.25}

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


# ---- finding and building the contenders ---------------------------------------------------

def find_ref_dir(explicit):
    """The directory with floor_libev.c and reference_asyncio.py: --ref-dir, else shared/bench
    beside the repository (../shared/bench) or beside its parent (a worktree one level down,
    ../../shared/bench).  None when there is none (a plain clone has no shared/ beside it)."""
    if explicit:
        return explicit
    for up in ("..", os.path.join("..", "..")):
        d = os.path.normpath(os.path.join(REPO, up, "shared", "bench"))
        if os.path.isfile(os.path.join(d, "reference_asyncio.py")):
            return d
    return None


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
    if not ref_dir:
        return None
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


def find_tool(name, *fallbacks):
    p = shutil.which(name)
    if p:
        return p
    for f in fallbacks:
        f = os.path.expanduser(f)
        if os.path.isfile(f) and os.access(f, os.X_OK):
            return f
    return None


def build_peers(out_dir, want, notes):
    """Builds bench/peers/ (tokio with cargo, Go with go) into out_dir; {contender: binary}."""
    peers = {}
    os.makedirs(out_dir, exist_ok=True)
    if "tokio" in want:
        cargo = find_tool("cargo", "~/.cargo/bin/cargo")
        if not cargo:
            notes.append("tokio: no cargo (PATH, ~/.cargo/bin), skipped")
        else:
            env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(out_dir, "cargo"))
            env["PATH"] = os.path.dirname(cargo) + os.pathsep + env.get("PATH", "")
            cmd = [cargo, "build", "--release", "--quiet", "--manifest-path",
                   os.path.join(HERE, "peers", "tokio", "Cargo.toml")]
            print(f"  building tokio peer: {' '.join(cmd)}", file=sys.stderr, flush=True)
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            binary = os.path.join(out_dir, "cargo", "release", "coio-peer-tokio")
            if p.returncode != 0 or not os.path.isfile(binary):
                notes.append(f"tokio: cargo build failed, skipped ({p.stderr.strip()[-500:]})")
            else:
                peers["tokio"] = binary
    if "go" in want:
        go = find_tool("go", "/usr/local/go/bin/go")
        if not go:
            notes.append("Go: no go (PATH, /usr/local/go/bin), skipped")
        else:
            binary = os.path.join(out_dir, "coio-peer-go")
            cmd = [go, "build", "-o", binary, "."]
            print(f"  building Go peer: {' '.join(cmd)}", file=sys.stderr, flush=True)
            p = subprocess.run(cmd, capture_output=True, text=True,
                               cwd=os.path.join(HERE, "peers", "go"))
            if p.returncode != 0 or not os.path.isfile(binary):
                notes.append(f"Go: go build failed, skipped ({p.stderr.strip()[-500:]})")
            else:
                peers["go"] = binary
    return peers


def tokio_version():
    try:
        with open(os.path.join(HERE, "peers", "tokio", "Cargo.lock")) as f:
            m = re.search(r'name = "tokio"\nversion = "([^"]+)"', f.read())
        return m.group(1) if m else None
    except OSError:
        return None


class Runner:
    """Runs one contender process (pinned with taskset when asked) and parses its output."""

    def __init__(self, pin, timeout, notes):
        self.prefix = []
        self.affinity = None
        self.timeout = timeout
        self.notes = notes
        self.pinned = "not pinned"
        if pin:
            taskset = shutil.which("taskset")
            if taskset:
                self.prefix = [taskset, "-c", pin]
                self.pinned = f"every contender pinned with `taskset -c {pin}`"
            else:
                cpus = set()
                for part in pin.split(","):
                    a, _, b = part.partition("-")
                    cpus.update(range(int(a), int(b or a) + 1))
                self.affinity = cpus
                self.pinned = f"every contender pinned to CPUs {pin} (sched_setaffinity; no taskset)"

    def output(self, label, cmd):
        """The process's standard output ('' if it could not run)."""
        print(f"  {label}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        pre = (lambda: os.sched_setaffinity(0, self.affinity)) if self.affinity else None
        try:
            p = subprocess.run(self.prefix + cmd, capture_output=True, text=True,
                               timeout=self.timeout, preexec_fn=pre)
        except subprocess.TimeoutExpired as e:
            self.notes.append(f"{label}: timed out after {self.timeout} s")
            return e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        except OSError as e:
            self.notes.append(f"{label}: could not run: {e}")
            return ""
        if p.returncode != 0:
            err = p.stderr.strip().splitlines()
            self.notes.append(f"{label}: exit status {p.returncode}" + (f" ({err[-1]})" if err else ""))
        return p.stdout

    def run(self, label, cmd):
        return parse(self.output(label, cmd))


def setup(args, tmp, notes, want):
    """Finds or builds every contender; {contender: program info}."""
    progs = {}
    coio = find_coio(args.coio)
    if coio:
        progs["coio"] = coio
    else:
        notes.append("coio: no coio_bench found (build with `meson setup build && ninja -C build`"
                     " or pass --coio PATH), skipped")
    ref_dir = find_ref_dir(args.ref_dir)
    if not ref_dir:
        notes.append("floor, asyncio, uvloop: no shared/bench beside the repository "
                     "(../shared/bench or ../../shared/bench, with floor_libev.c and "
                     "reference_asyncio.py); pass --ref-dir DIR; skipped")
    if "floor" in want:
        floor = find_floor(args.floor, coio, ref_dir, tmp, notes)
        if floor:
            progs["floor"] = floor
    ref_py = os.path.join(ref_dir, "reference_asyncio.py") if ref_dir else None
    if ref_py and not os.path.isfile(ref_py):
        notes.append(f"asyncio/uvloop: {ref_py} not found, skipped")
        ref_py = None
    if ref_py and "asyncio" in want:
        progs["asyncio"] = [args.python, ref_py]
    if ref_py and "uvloop" in want:
        try:
            ok = subprocess.run([args.uvloop_python, "-c", "import uvloop"],
                                capture_output=True).returncode == 0
        except OSError:
            ok = False
        if ok:
            progs["uvloop"] = [args.uvloop_python, ref_py, "--uvloop"]
        else:
            notes.append(f"uvloop: not importable by {args.uvloop_python} (Debian: apt-get install "
                         "python3-uvloop), skipped")
    if not args.no_peers and want & {"tokio", "go"}:
        out = os.path.join(os.path.dirname(os.path.dirname(coio)), "bench", "peers") if coio \
            else os.path.join(tmp, "peers")
        progs.update(build_peers(out, want & {"tokio", "go"}, notes))
    return progs, ref_dir


def command(c, prog, n, m, coio_names):
    """The command line that runs contender c on one group of workloads."""
    if c == "coio":
        return [prog, str(n), "--spawn-n", str(m)] + floor_prefix(coio_names) + coio_names
    if c == "floor":
        return [prog, str(n)]  # runs all its workloads; it takes no names
    if c in ("asyncio", "uvloop"):
        funcs = list(dict.fromkeys(PY_FUNC[w] for w in coio_names))
        # reference_asyncio.py's task_spawn_gather spawns N tasks: give it M
        nn = m if any(RESULT[w] in SPAWN_M for w in coio_names) else n
        return prog + ["--n", str(nn)] + funcs
    return [prog, str(n), "--spawn-n", str(m)] + list(dict.fromkeys(RESULT[w] for w in coio_names))


def floor_prefix(coio_names):
    """The floor's workloads that run before coio_names in the floor's own process, for coio to
    run first in its process too (their results are not used).  The floor's
    timers_schedule_cancel reuses the timer array and heap that its timers_fire_ordered
    faulted in; coio measured in a fresh process would pay those page faults alone (a third
    of its time), so it gets the same warm-up: the same work before the clock starts."""
    want = [RESULT[w] for w in coio_names if RESULT[w] in FLOOR_HAS]
    if not want:
        return []
    last = max(FLOOR_ORDER.index(w) for w in want)
    return [w for w in FLOOR_ORDER[:last] if w not in coio_names]


def has(c, w):
    """Whether contender c runs coio workload w (under its result name)."""
    if c == "coio":
        return True
    if c == "floor":
        return RESULT[w] in FLOOR_HAS
    if w in FLOOR_ONLY:
        return False
    if c in ("asyncio", "uvloop"):
        return PY_FUNC[w] is not None
    return RESULT[w] in PEER_HAS


def groups_of(names):
    """The coio workloads that share one counterpart run (one Python function, say) go in one
    group; each group is run by every contender that has it, one process each."""
    groups = []
    for w in names:
        key = PY_FUNC[w] or w
        if w in ("task_spawn_stackful", "task_spawn_step"):
            key = "task_spawn"
        for g in groups:
            if g[0] == key:
                g[1].append(w)
                break
        else:
            groups.append((key, [w]))
    return groups


def run_rounds(runner, progs, names, n, m, rounds, verbose_label=""):
    """Paired rounds: in round r, each group of workloads is run by every contender that has
    it, one process each, in an order rotated by r.  Returns ({contender: [round results]},
    {contender: header})."""
    res = {c: [dict() for _ in range(rounds)] for c in CONTENDERS}
    headers = {}
    groups = groups_of(names)
    for r in range(rounds):
        for gi, (key, ws) in enumerate(groups):
            cs = [c for c in CONTENDERS if c in progs and any(has(c, w) for w in ws)]
            if not cs:
                continue
            k = r % len(cs)
            for c in cs[k:] + cs[:k]:
                mine = [w for w in ws if has(c, w)]
                cmd = command(c, progs[c], n, m, mine)
                hdr, part = runner.run(f"{verbose_label}round {r + 1}/{rounds} {c}", cmd)
                if hdr:
                    headers[c] = hdr[0]
                for w in mine:
                    name = w if c == "coio" else RESULT[w]
                    if name in part:
                        res[c][r][name] = part[name]
    return res, headers


def run_limits(runner, coio, names, args):
    """The table of bench/limits.c (what timers_schedule_cancel and the stackful
    task_spawn_gather cost in libev and the kernel alone), when it was built beside coio_bench
    and either workload runs; '' otherwise."""
    if not coio or not {"timers_schedule_cancel", "task_spawn_gather"} & set(names):
        return ""
    prog = os.path.join(os.path.dirname(coio), "limits")
    if not os.path.isfile(prog):
        return ""
    return runner.output("limits", [prog, str(args.n), str(args.n_spawn), str(args.rounds)])


# ---- statistics ------------------------------------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else None


def fmt_ns(v):
    return "—" if v is None else (f"{v:.1f}" if v < 1e4 else f"{v:,.0f}")


def fmt_x(v):
    return "—" if v is None else (f"{v:.2f}×" if v < 10 else f"{v:.1f}×")


def fmt_spread(s):
    """A ratio's median and spread: `1.23× (1.10–1.40)`."""
    if not s:
        return "—"
    med, lo, hi, _ = s
    if len(s[3]) == 1:
        return fmt_x(med)
    return f"{fmt_x(med)} ({fmt_x(lo)[:-1]}–{fmt_x(hi)})"


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


def loadavg():
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "?"


# ---- the comparison table --------------------------------------------------------------------

def compare(args, ap):
    names = [w for w, _, _ in WORKLOADS]
    for w in args.workloads:
        if w not in PY_FUNC:
            ap.error(f"unknown workload {w!r}; known: {' '.join(names)}")
    if args.workloads:
        names = [w for w in names if w in args.workloads]
    # await_ready's target is relative to switch_pair: run it too.
    if "await_ready" in names and "switch_pair" not in names:
        names.append("switch_pair")

    notes = []
    want = {c for c in CONTENDERS if any(has(c, w) for w in names)}
    load0 = loadavg()
    tmp = tempfile.mkdtemp(prefix="coio-bench-")
    try:
        progs, ref_dir = setup(args, tmp, notes, want)
        runner = Runner(args.pin, args.timeout, notes)
        res, headers = run_rounds(runner, progs, names, args.n, args.n_spawn, args.rounds)
        limits = run_limits(runner, progs.get("coio"), names, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = loadavg()

    def per_round(c, w, key="ns"):
        name = w if c == "coio" else RESULT[w]
        return [rr.get(name, {}).get(key) if name else None for rr in res[c]]

    def med_ns(c, w):
        if not has(c, w):
            return None
        return median([v for v in per_round(c, w) if v is not None])

    def ratio(c, w):
        """(median, min, max, [per-round]) of coio/floor (c == floor) or c/coio, paired by
        round; None if no round has both."""
        if c == "coio" or not has(c, w):
            return None
        co = per_round("coio", w)
        xs = per_round(c, w)
        rs = [(a / b if c == "floor" else b / a) for a, b in zip(co, xs) if a and b]
        if not rs:
            return None
        return median(rs), min(rs), max(rs), rs

    switch = per_round("coio", "switch_pair") if "switch_pair" in names else []

    ncpu, kernel, cpu = machine()
    present = [c for c in CONTENDERS if c in progs]
    print("## coio benchmark comparison\n")
    print(f"- machine: {ncpu} CPUs ({cpu or 'unknown CPU'}), Linux {kernel}; load average "
          f"{load0} at the start, {load1} at the end; {runner.pinned}")
    print(f"- N = {args.n:,} for every contender and workload; M = {args.n_spawn:,} tasks for "
          f"every contender's task_spawn_gather (and coio's task_spawn_* and *_rss)")
    print(f"- {args.rounds} paired round{'s' if args.rounds > 1 else ''}: each round runs every "
          "contender once per workload, one process each, the order rotating from round to round; "
          "ns/op is the median over the rounds, a ratio the median of the per-round ratios "
          "(min–max in brackets)")
    for c in present:
        h = headers.get(c, "?")
        if c == "tokio" and tokio_version():
            h += f" (tokio {tokio_version()})"
        shown = command(c, progs[c], args.n, args.n_spawn, [w for w in names if has(c, w)][:1])
        shown = " ".join(os.path.relpath(a) if os.path.isabs(a) and a.startswith(REPO) else a
                         for a in shown)
        print(f"- {LABEL[c]}: {h} — e.g. `{shown}`")
    print()

    rows = [w for w in names if w not in MEMORY]
    cols = [c for c in present]
    print("### ns/op (median over the rounds)\n")
    print("| workload | " + " | ".join(LABEL[c] for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for w in rows:
        print(f"| {w} | " + " | ".join(fmt_ns(med_ns(c, w)) for c in cols) + " |")
    print()

    rcols = [c for c in cols if c != "coio"]
    head = {c: ("coio/floor" if c == "floor" else f"{LABEL[c]}/coio") for c in rcols}
    print("### Ratios, paired by round: median (min–max)\n")
    print("| workload | " + " | ".join(head[c] for c in rcols) + " |")
    print("|---|" + "---:|" * len(rcols))
    for w in rows:
        if all(ratio(c, w) is None for c in rcols):
            continue
        print(f"| {w} | " + " | ".join(fmt_spread(ratio(c, w)) for c in rcols) + " |")
    print()
    print("coio/floor: coio's time over the floor's (lower is better; 1× = as fast as the "
          "raw-libev floor).  X/coio: X's time over coio's, how many times as fast as X coio is "
          "(above 1× coio wins).  The other contenders' task_yield_* rows are all their "
          "task_yield_sleep0 (asyncio's `await asyncio.sleep(0)`, tokio's `yield_now`, Go's "
          "`runtime.Gosched`), the queue_ping_pong* rows their queue_ping_pong, the "
          "task_spawn_gather* rows their task_spawn_gather.")

    missed = 0

    def verdict(ok, over, held=None):
        nonlocal missed
        if ok is None:
            return "n/a"
        tail = f" ({held})" if held else ""
        if ok:
            return "yes" + tail
        missed += 1
        return "**no**" + (f" ({over}" + (f"; {held})" if held else ")") if over else tail)

    trows = [w for w in names if w in TARGETS]
    if trows:
        print()
        print("### Targets (judged on the median ratio; rounds: in how many the target held)\n")
        print("| workload | target | measured | met |")
        print("|---|---|---:|---|")
    for w in trows:
        for kind, x in TARGETS[w]:
            if kind == "bytes":
                v = median([b for b in per_round("coio", w, "bytes") if b is not None])
                target = f"≤ {x / 1024:g} KiB per task" if x >= 1024 else f"≤ {x:g} bytes per task"
                ok = None if v is None else v <= x
                met = verdict(ok, None if ok in (None, True) else f"{v / x:.2f}× over")
                print(f"| {w} | {target} | {'—' if v is None else f'{v:.0f} B'} | {met} |")
                continue
            if kind == "switch":
                rs = [a / b for a, b in zip(per_round("coio", w), switch) if a and b]
                s = (median(rs), min(rs), max(rs), rs) if rs else None
                target = f"coio ≤ {x:g}× switch_pair"
                good = lambda v: v <= x
            elif kind == "floor":
                s = ratio("floor", w)
                target = f"coio ≤ {x:g}× floor"
                good = lambda v: v <= x
            else:
                s = ratio(kind, w)
                target = f"coio ≥ {x:g}× {LABEL[kind]}'s speed"
                good = lambda v: v >= x
            if w == "timers_fire_ordered":
                target += ", 0 violations"
            if s is None:
                print(f"| {w} | {target} | — | n/a |")
                continue
            ok = good(s[0])
            over = None
            if not ok:
                over = f"{s[0] / x:.2f}× over" if kind in ("floor", "switch") else f"{x / s[0]:.2f}× short"
            if w == "timers_fire_ordered":
                bad = max((rr.get(w, {}).get("bad", 0) for rr in res["coio"]), default=0)
                if bad:
                    ok = False
                    over = ((over + ", ") if over else "") + f"{bad:,} violations"
            held = f"{sum(1 for v in s[3] if good(v))}/{len(s[3])} rounds"
            print(f"| {w} | {target} | {fmt_spread(s)} | {verdict(ok, over, held)} |")

    sw = median([v for v in switch if v])
    sw_rows = [w for w in VS_SWITCH if w in names and med_ns("coio", w) is not None]
    if sw and sw_rows:
        print()
        print(f"### Against a bare Boost.Context switch pair ({sw:.1f} ns: `jump_fcontext` there "
              "and back)\n")
        print("| workload | coio ns/op | × switch_pair | what one op is |")
        print("|---|---:|---:|---|")
        what = {
            "await_ready": "`coio_await` of a done future (no suspension, as in asyncio)",
            "task_yield_sleep0": "stackful: `coio_co_sleep(0)`, a bare yield as asyncio's "
                                 "sleep(0) — one loop pass and one switch pair",
            "task_yield_sleep0_future": "stackful: `coio_sleep(0)` + `coio_await` + release — "
                                        "the same with a future made and awaited by hand",
            "task_yield_step": "step-driven: the step returns `COIO_STEP_YIELD` — one loop pass",
            "task_yield_step_sleep0": "step-driven: `coio_sleep(0)` + `coio_step_await` — one "
                                      "loop pass",
        }
        for w in sw_rows:
            co = med_ns("coio", w)
            print(f"| {w} | {fmt_ns(co)} | {fmt_x(co / sw)} | {what[w]} |")

    def last_run(c, w):
        name = w if c == "coio" else RESULT[w]
        for rr in reversed(res[c]):
            if name in rr:
                return rr[name]
        return None

    mem_rows = [w for w in MEMORY if w in names]
    if mem_rows:
        print()
        print("### Memory per suspended task (resident-set growth / live tasks; median)\n")
        print("| workload | live tasks | coio bytes/op | create + first step ns/op |")
        print("|---|---:|---:|---:|")
        for w in mem_rows:
            v = last_run("coio", w)
            b = median([x for x in per_round("coio", w, "bytes") if x is not None])
            if v is None or b is None:
                print(f"| {w} | — | — | — |")
                continue
            live = f"{v['ops']:,}" + ("" if v["ops"] >= args.n_spawn else f" of {args.n_spawn:,}")
            print(f"| {w} | {live} | {b:.0f} | {fmt_ns(med_ns('coio', w))} |")
        print()
        print("coroutine_rss: stackful tasks (64 KiB `mmap`'d stacks, touched pages only); "
              "step_task_rss: step-driven tasks.  All suspended on one shared pending future.")

    peak_rows = [w for w in PEAK_MEMORY if w in names]
    if peak_rows:
        pc = [c for c in present if c != "floor" and any(has(c, w) for w in peak_rows)]
        print()
        print("### Peak memory per task: spawn, yield once, gather (peak resident-set growth / "
              "tasks; median)\n")
        print("| workload | coio tasks | " + " | ".join(f"{LABEL[c]} B/task" for c in pc)
              + " | target | met |")
        print("|---|---:|" + "---:|" * len(pc) + "---|---|")
        for w in peak_rows:
            v = last_run("coio", w)
            bb = {c: median([x for x in per_round(c, w, "bytes") if x is not None]) for c in pc}
            tasks = "—" if v is None else (f"{v['ops']:,}" + ("" if v["ops"] >= args.n_spawn
                                                               else f" of {args.n_spawn:,}"))
            x = BYTES_VS_UVLOOP.get(w)
            if x is None:
                target, met = "— (for information)", "—"
            else:
                co, uv = bb.get("coio"), bb.get("uvloop")
                target = f"≤ {x:g}× uvloop's"
                ok = None if co is None or uv is None else co <= x * uv
                met = verdict(ok, None if ok in (None, True) else f"{co / (x * uv):.2f}× over")
            print(f"| {w} | {tasks} | " + " | ".join("—" if bb[c] is None else f"{bb[c]:.0f}"
                                                     for c in pc) + f" | {target} | {met} |")
        print()
        print("coio: growth of the peak resident set (VmHWM, reset before the run) on a fresh "
              "loop; tokio and Go the same (VmHWM reset through /proc/self/clear_refs); asyncio "
              "and uvloop: growth of ru_maxrss in a process of their own.")

    if "timers_fire_ordered" in names:
        viol = []
        for c in present:
            bads = [rr.get(RESULT["timers_fire_ordered"], {}).get("bad", 0) for rr in res[c]]
            if any(bads):
                viol.append(f"{LABEL[c]} {median(bads):,.0f} of {args.n:,} (median)")
        print()
        print("timers_fire_ordered deadline-order violations: " + (", ".join(viol) if viol else "none"))
    for w in names:
        v = last_run("coio", w)
        for r in (v["remarks"] if v else []):
            if not r.endswith("timers fired out of deadline order") and f"coio: {r}" not in notes:
                notes.append(f"coio: {r}")
    missing = [f"{LABEL[c]}: {w}" for c in present for w in names
               if has(c, w) and med_ns(c, w) is None]
    if missing:
        notes.append("no result for " + "; ".join(missing))
    if limits:
        print()
        print(limits.rstrip())
    if notes:
        print()
        print("Notes:")
        for n in dict.fromkeys(notes):
            print(f"- {n}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "m": args.n_spawn, "rounds": args.rounds, "load": [load0, load1],
                       "headers": headers, "results": {c: res[c] for c in present}}, f, indent=1)
    return 1 if args.strict and missed else 0


# ---- the scaling plot ------------------------------------------------------------------------

PLOT_NS = [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
# (panel title, coio workload, [(contender, label), ...]); coio's task_spawn_gather panel
# shows the step-driven tasks as well.
PLOT_PANELS = [
    ("timers_fire_ordered", ["timers_fire_ordered"]),
    ("call_soon_batch", ["call_soon_batch"]),
    ("spawn + gather", ["task_spawn_gather", "task_spawn_gather_step"]),
]
PLOT_CONTENDERS = ["coio", "floor", "uvloop", "tokio", "go"]


def scaling(args):
    notes = []
    want = set(PLOT_CONTENDERS)
    names = [w for _, ws in PLOT_PANELS for w in ws]
    load0 = loadavg()
    tmp = tempfile.mkdtemp(prefix="coio-bench-")
    data = {"ns": PLOT_NS, "rounds": args.rounds, "series": {}}
    try:
        progs, _ = setup(args, tmp, notes, want)
        progs = {c: p for c, p in progs.items() if c in want}
        runner = Runner(args.pin, args.timeout, notes)
        for n in PLOT_NS:
            res, headers = run_rounds(runner, progs, names, n, n, args.rounds, f"N={n:,} ")
            for c in progs:
                for w in names:
                    if not has(c, w) or (c != "coio" and w == "task_spawn_gather_step"):
                        continue
                    name = w if c == "coio" else RESULT[w]
                    # a point only where all N ran (coio's stackful gather caps at the stacks
                    # that fit in vm.max_map_count)
                    vs = [rr[name]["ns"] for rr in res[c] if name in rr and rr[name]["ops"] == n]
                    key = f"{c}:{w}"
                    data["series"].setdefault(key, {})[str(n)] = median(vs)
                    if name in (res[c][-1] or {}) and res[c][-1][name]["ops"] != n:
                        notes.append(f"{c} {w} at N={n:,}: only {res[c][-1][name]['ops']:,} ran "
                                     "(no point plotted)")
            data["headers"] = headers
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data["load"] = [load0, loadavg()]
    data["machine"] = "{0} CPUs ({2}), Linux {1}".format(*machine())
    data["notes"] = notes
    data["pinned"] = runner.pinned
    out = args.plot
    jpath = os.path.splitext(out)[0] + ".json"
    with open(jpath, "w") as f:
        json.dump(data, f, indent=1)
    # matplotlib in this interpreter, else in /usr/bin/python3 (Debian's python3-matplotlib)
    for py in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode == 0:
            p = subprocess.run([py, os.path.join(HERE, "plot_scaling.py"), jpath, out])
            if p.returncode == 0:
                print(f"wrote {out} (data: {jpath})")
                for n in notes:
                    print(f"- {n}")
                return 0
            return p.returncode
    print(f"matplotlib not found (pip install matplotlib, or apt-get install python3-matplotlib); "
          f"data written to {jpath}; plot it with bench/plot_scaling.py {jpath} {out}")
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", metavar="workload",
                    help="workloads to run (default: all): " + " ".join(w for w, _, _ in WORKLOADS))
    ap.add_argument("--n", type=int, default=1_000_000,
                    help="N for every contender (default 1,000,000)")
    ap.add_argument("--n-spawn", type=int, default=100_000, metavar="M",
                    help="tasks in every contender's task_spawn_gather, and coio's task_spawn_* and "
                         "*_rss (default 100,000)")
    ap.add_argument("--rounds", type=int, default=None, metavar="R",
                    help="paired rounds (default 5; 3 with --plot)")
    ap.add_argument("--pin", metavar="CPUS",
                    help="run every contender pinned to these CPUs (taskset -c CPUS; default: "
                         "not pinned)")
    ap.add_argument("--coio", metavar="PATH",
                    help="coio_bench binary (default: build/bench/coio_bench, else */bench/coio_bench)")
    ap.add_argument("--floor", metavar="PATH",
                    help="libev floor binary (default: floor_libev beside coio_bench, else built "
                         "from REF_DIR/floor_libev.c with cc -O2 into a temp dir)")
    ap.add_argument("--ref-dir", metavar="DIR",
                    help="directory holding floor_libev.c and reference_asyncio.py (default: "
                         "../shared/bench or ../../shared/bench beside the repository; without "
                         "one, floor, asyncio and uvloop are skipped)")
    ap.add_argument("--python", default=shutil.which("python3") or sys.executable,
                    help="interpreter for the asyncio run (default: python3 on PATH)")
    ap.add_argument("--uvloop-python", default="/usr/bin/python3",
                    help="interpreter that has uvloop (default: /usr/bin/python3)")
    ap.add_argument("--no-peers", action="store_true",
                    help="do not build or run bench/peers/ (tokio, Go)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per process (default 900)")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    ap.add_argument("--json", metavar="PATH", help="also write every round's numbers here")
    ap.add_argument("--plot", nargs="?", const=os.path.join(HERE, "scaling.png"), metavar="PNG",
                    help="instead of the table: ns/op against N (1k..1M) for coio, the floor, "
                         "uvloop, tokio and Go on timers_fire_ordered, call_soon_batch and "
                         "spawn+gather, plotted into PNG (default bench/scaling.png; the numbers "
                         "beside it as .json)")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.plot else 5
    if args.rounds < 1 or args.n < 1 or args.n_spawn < 1:
        ap.error("--n, --n-spawn and --rounds must be positive")
    return scaling(args) if args.plot else compare(args, ap)


if __name__ == "__main__":
    sys.exit(main())
