#!/usr/bin/env python3
"""check.py — the golden test of the 15 asyncio tutorial programs, for any language.

    python3 tests/tutorial/check.py --label LANG [--expected DIR] [--timeout S] -- CMD ARGS...

Runs CMD ARGS... once per program, in order, with every argument that contains `{name}` given
the program's name (`01_run_coroutine`, ... `15_as_completed`), and compares the bytes it
writes on stdout with DIR/NAME.out (default: the expected/ directory beside this script, which
holds the tutorial's NN_name.py programs and their CPython outputs).  The programs are the
NN_name.out files of DIR.

Prints TAP: `1..15`, then `ok N - LANG NAME`, or `not ok N - LANG NAME` followed by the reason
(exit status, timeout) and a unified diff, expected against actual, as `# ` comment lines.
Exits 0 when every program matched and exited with status 0, else 1 (2: bad usage).

Examples (from the top of the source tree, after `ninja -C build`):

    python3 tests/tutorial/check.py --label C -- build/examples/tutorial/{name}
    python3 tests/tutorial/check.py --label Lua -- lua bindings/lua/tutorial/{name}.lua
    python3 tests/tutorial/check.py --label Go -- go run ./bindings/go/tutorial/{name}
"""

import argparse
import difflib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def programs(expected_dir):
    names = sorted(f[:-4] for f in os.listdir(expected_dir)
                   if f.endswith(".out") and f[:2].isdigit() and f[2] == "_")
    return names


def run_one(cmd, name, timeout):
    """(stdout bytes, stderr bytes, problem or None)"""
    argv = [a.replace("{name}", name) for a in cmd]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return exc.stdout or b"", exc.stderr or b"", f"timed out after {timeout} s"
    except OSError as exc:
        return b"", b"", f"cannot run {argv[0]}: {exc}"
    problem = None
    if proc.returncode != 0:
        problem = f"exited with status {proc.returncode}"
    return proc.stdout, proc.stderr, problem


def comment(text):
    for line in text.splitlines():
        print(f"# {line}" if line else "#")


def main(argv):
    parser = argparse.ArgumentParser(
        description="Run the 15 asyncio tutorial programs and compare their output (TAP).")
    parser.add_argument("--label", required=True, help="the language, shown in each TAP line")
    parser.add_argument("--expected", default=os.path.join(HERE, "expected"),
                        help="directory of the NN_name.out files (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per program (default: %(default)s)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER,
                        help="-- CMD ARGS...: the command; {name} is the program's name")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given (-- CMD ARGS...)")
    if not any("{name}" in a for a in cmd):
        parser.error("no argument of the command contains {name}")
    try:
        names = programs(args.expected)
    except OSError as exc:
        parser.error(f"cannot read {args.expected}: {exc}")
    if not names:
        parser.error(f"no NN_name.out files in {args.expected}")

    print(f"1..{len(names)}", flush=True)
    failed = 0
    for n, name in enumerate(names, 1):
        with open(os.path.join(args.expected, name + ".out"), "rb") as f:
            want = f.read()
        got, err, problem = run_one(cmd, name, args.timeout)
        if problem is None and got == want:
            print(f"ok {n} - {args.label} {name}", flush=True)
            continue
        failed += 1
        print(f"not ok {n} - {args.label} {name}")
        if problem:
            comment(problem)
        if got != want:
            diff = difflib.unified_diff(
                want.decode("utf-8", "backslashreplace").splitlines(keepends=True),
                got.decode("utf-8", "backslashreplace").splitlines(keepends=True),
                fromfile=f"expected/{name}.out", tofile=f"{name} (stdout)")
            comment("".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                            for line in diff))
        if err:
            comment("stderr:\n" + err.decode("utf-8", "backslashreplace"))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
