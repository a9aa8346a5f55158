#!/usr/bin/env python3
"""check_examples.py [--todo NAME=REASON]... INTERP EXAMPLES_DIR EXPECTED_DIR: runs each
NN_name.lua of EXAMPLES_DIR with INTERP and compares its stdout, byte for byte, with
EXPECTED_DIR/NN_name.out; prints TAP.  --todo marks a program known not to match yet (TAP's
TODO: meson counts its failure as expected, and a pass as unexpected, so the mark must go once
it matches).  (The shared harness tests/tutorial/check.py replaces this when it is in the
tree.)"""
import difflib
import os
import subprocess
import sys


def main(argv):
    todo = {}
    while len(argv) > 1 and argv[1] == "--todo":
        name, _, reason = argv[2].partition("=")
        todo[name] = reason
        argv = argv[:1] + argv[3:]
    interp, exdir, expdir = argv[1:4]
    names = sorted(f[:-4] for f in os.listdir(expdir) if f.endswith(".out"))
    if not names:
        print("1..0 # SKIP no expected outputs in " + expdir)
        return 77
    print(f"1..{len(names)}")
    failed = 0
    for i, name in enumerate(names, 1):
        prog = os.path.join(exdir, name + ".lua")
        with open(os.path.join(expdir, name + ".out"), "rb") as f:
            want = f.read()
        try:
            env = dict(os.environ)
            if env.get("COIO_LUA_PRELOAD"):  # sanitizer builds: for the interpreter only
                env["LD_PRELOAD"] = env["COIO_LUA_PRELOAD"]
            p = subprocess.run([interp, prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=60, env=env)
            got, why = p.stdout, (f"exit {p.returncode}: {p.stderr.decode(errors='replace')}"
                                  if p.returncode else "")
        except (OSError, subprocess.TimeoutExpired) as e:
            got, why = b"", str(e)
        mark = f" # TODO {todo[name]}" if name in todo else ""
        if got == want and not why:
            print(f"ok {i} - {name}{mark}")
            continue
        failed += not mark
        print(f"not ok {i} - {name}{mark}")
        if why:
            print("# " + why.strip().replace("\n", "\n# "))
        for line in difflib.unified_diff(want.decode(errors="replace").splitlines(),
                                         got.decode(errors="replace").splitlines(),
                                         "expected", "got", lineterm=""):
            print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
