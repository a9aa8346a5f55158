#!/usr/bin/env python3
"""check_golden.py EXE GOLDEN — run a tutorial example and compare its stdout with a golden file.

Loop times differ from run to run, so the examples print them as `t=<seconds>`; anything
matching `t=[0-9.]+` is replaced by `t=<T>` in both the actual output and the golden file
before comparing.  (Examples that run in virtual time print exact, unmasked times.)

Exits 0 when the outputs match and EXE exited with status 0; otherwise prints a unified diff
(or the reason) and exits 1.
"""

import difflib
import re
import subprocess
import sys

MASK = re.compile(r"t=[0-9.]+")
TIMEOUT = 60  # seconds; the examples take well under one


def mask(text):
    return MASK.sub("t=<T>", text)


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} EXE GOLDEN", file=sys.stderr)
        return 2
    exe, golden_path = argv[1], argv[2]

    try:
        proc = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"{exe}: timed out after {TIMEOUT} s", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{exe}: cannot run: {exc}", file=sys.stderr)
        return 1

    actual = proc.stdout.decode("utf-8", errors="replace")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    with open(golden_path, encoding="utf-8") as f:
        golden = f.read()

    ok = True
    if stderr:
        # Not compared (the loop's exception handler writes there), but worth seeing.
        sys.stderr.write(f"--- stderr of {exe}:\n{stderr}")
    if proc.returncode != 0:
        print(f"{exe}: exited with status {proc.returncode}")
        ok = False

    actual_m, golden_m = mask(actual), mask(golden)
    if actual_m != golden_m:
        diff = difflib.unified_diff(golden_m.splitlines(keepends=True),
                                    actual_m.splitlines(keepends=True),
                                    fromfile=golden_path, tofile=f"{exe} (stdout)")
        for line in diff:
            sys.stdout.write(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        ok = False

    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
