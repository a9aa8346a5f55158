#!/usr/bin/env python3
"""ratio.py PY_DIR PORT_DIR EXT — lines of a port per line of the tutorial's Python.

For each NN_name.py of PY_DIR (tests/tutorial/expected) and its port PORT_DIR/NN_name.EXT, counts
the lines of code: not blank and not only a comment.  Python: lines starting with `#`.  C,
C++, Go, Rust (EXT c, cc, go, rs): lines inside or only made of /* */ comments, lines starting
with `//`.  Lua (EXT lua): lines starting with `--`, and --[[ ]] blocks.  A line with code and a
trailing comment counts; so do lines holding only a brace.  Prints one row per program and the
total (code lines of the ports / code lines of the Python).
"""

import os
import re
import sys


def python_lines(text):
    return sum(1 for l in text.splitlines() if l.strip() and not l.strip().startswith("#"))


def c_like_lines(text, line_comment="//", block=("/*", "*/")):
    count = 0
    in_block = False
    for line in text.splitlines():
        s = line.strip()
        code = ""
        i = 0
        while i < len(s):
            if in_block:
                j = s.find(block[1], i)
                if j < 0:
                    i = len(s)
                else:
                    in_block = False
                    i = j + len(block[1])
            elif s.startswith(block[0], i):
                in_block = True
                i += len(block[0])
            elif s.startswith(line_comment, i):
                break
            else:
                # skip string literals so that comment markers inside them do not count
                m = re.match(r'"(\\.|[^"\\])*"', s[i:])
                if m:
                    code += m.group(0)
                    i += len(m.group(0))
                else:
                    code += s[i]
                    i += 1
        if code.strip():
            count += 1
    return count


def port_lines(text, ext):
    if ext == "lua":
        return c_like_lines(text, "--", ("--[[", "]]"))
    return c_like_lines(text)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    py_dir, port_dir, ext = argv
    names = sorted(f[:-3] for f in os.listdir(py_dir) if f.endswith(".py") and f[:2].isdigit())
    tp = tc = 0
    print(f"{'program':<22} {'py':>4} {ext:>4}  ratio")
    for name in names:
        with open(os.path.join(py_dir, name + ".py"), encoding="utf-8") as f:
            p = python_lines(f.read())
        path = os.path.join(port_dir, f"{name}.{ext}")
        if not os.path.exists(path):
            print(f"{name:<22} {p:>4}    -  (no port)")
            continue
        with open(path, encoding="utf-8") as f:
            c = port_lines(f.read(), ext)
        tp += p
        tc += c
        print(f"{name:<22} {p:>4} {c:>4}  {c / p:.2f}")
    if tp:
        print(f"{'total':<22} {tp:>4} {tc:>4}  {tc / tp:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
