#!/usr/bin/env python3
"""Runs diff.py on CPython 3.13, the reference asyncio: pyenv's ~/.pyenv/versions/3.13.*
first, else a python3.13 on PATH that really is 3.13.  Without one, prints why and exits 77
(meson's "skipped")."""
import glob
import os
import shutil
import subprocess
import sys


def is_313(exe):
    try:
        out = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == "True"


def find():
    home = os.path.expanduser("~")
    cands = sorted(glob.glob(os.path.join(home, ".pyenv/versions/3.13.*/bin/python3")),
                   reverse=True)
    on_path = shutil.which("python3.13")
    if on_path:
        cands.append(on_path)
    for c in cands:
        if is_313(c):
            return c
    return None


def main():
    exe = find()
    if exe is None:
        print("1..0 # SKIP no CPython 3.13 (looked for ~/.pyenv/versions/3.13.*/bin/python3 "
              "and python3.13 on PATH): the differential test needs asyncio 3.13 as reference")
        return 77
    here = os.path.dirname(os.path.abspath(__file__))
    return subprocess.call([exe, os.path.join(here, "diff.py")] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
