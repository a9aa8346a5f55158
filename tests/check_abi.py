#!/usr/bin/env python3
"""Check libcoio's exported symbols against the recorded ABI (TAP output).

usage: check_abi.py LIBRARY SYMBOLS_FILE

SYMBOLS_FILE lists every function libcoio.so.1 has ever exported, one per line (# comments
allowed).  The ABI is append-only: a listed symbol that is no longer exported fails (an
application linked against an older libcoio.so.1 would no longer load), and so does an
exported symbol that is not listed (record it, in the same change that adds it).  Anything
exported that is not a coio_* function or the COIO_1 version node fails too.
"""

import subprocess
import sys


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            syms[parts[-1].split("@", 1)[0]] = parts[-2]  # coio_x@@COIO_1: coio_x
    return syms


def recorded(path):
    names = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    lib, symfile = sys.argv[1], sys.argv[2]
    try:
        syms = exported(lib)
    except (OSError, subprocess.CalledProcessError) as e:
        print("1..0 # SKIP nm failed: %s" % e)
        return 0
    want = recorded(symfile)
    checks = []
    for name in want:
        checks.append((name in syms, "%s is still exported" % name))
    listed = set(want)
    for name in sorted(syms):
        if name == "COIO_1" and syms[name] == "A":
            continue
        if not name.startswith("coio_"):
            checks.append((False, "%s (%s) is exported: only coio_* may be" % (name, syms[name])))
        elif name not in listed:
            checks.append((False, "%s is exported but not recorded in %s" % (name, symfile)))
    dupes = sorted({n for n in want if want.count(n) > 1})
    for name in dupes:
        checks.append((False, "%s is recorded twice" % name))
    print("1..%d" % len(checks))
    failed = 0
    for i, (ok, what) in enumerate(checks, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
