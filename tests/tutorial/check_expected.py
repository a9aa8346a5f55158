#!/usr/bin/env python3
"""check_expected.py EXPECTED_DIR SHARED_DIR... — the committed tutorial against the copy it
was taken from.

tests/tutorial/expected/ holds the asyncio tutorial: each program, NN_name.py, and what
CPython prints for it, NN_name.out.  They were copied from the project's shared reference
directory (shared/tutorial beside the source tree, in the workspace where coio is
developed), which a clone does not have.  Where the first existing SHARED_DIR is found, every
.py and .out there must have a byte-identical copy in EXPECTED_DIR and nothing else may be
there.  Where none exists (a clone of its own), the test is skipped.  Prints TAP.
"""

import os
import sys


def outs(d):
    return sorted(f for f in os.listdir(d) if f.endswith((".out", ".py")))


def main(argv):
    if len(argv) < 2:
        print(f"usage: {os.path.basename(sys.argv[0])} EXPECTED_DIR SHARED_DIR...",
              file=sys.stderr)
        return 2
    expected = argv[0]
    shared = next((d for d in argv[1:] if os.path.isdir(d)), None)
    if shared is None:
        print("1..0 # SKIP no shared/tutorial next to this source tree")
        return 0
    names = sorted(set(outs(shared)) | set(outs(expected)))
    print(f"1..{len(names)}")
    bad = 0
    for n, name in enumerate(names, 1):
        a, b = os.path.join(shared, name), os.path.join(expected, name)
        if not os.path.exists(b):
            problem = f"{name} is in {shared} but not in {expected}"
        elif not os.path.exists(a):
            problem = f"{name} is in {expected} but not in {shared}"
        else:
            with open(a, "rb") as fa, open(b, "rb") as fb:
                problem = None if fa.read() == fb.read() else f"{b} differs from {a}: copy it again"
        if problem:
            bad += 1
            print(f"not ok {n} - {name}\n# {problem}")
        else:
            print(f"ok {n} - {name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
