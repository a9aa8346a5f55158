#!/usr/bin/env python3
"""embed.py [--check] IN OUT: writes IN (a Lua source) as a C string literal into OUT; with
--check, exits 1 (saying how to regenerate) if OUT is not what it would write."""
import sys


def render(path):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    out = ["/* generated from %s by embed.py: do not edit */\n" % path.split("/")[-1]]
    for line in src.splitlines(True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.append('"%s"\n' % esc)
    return "".join(out)


def main(argv):
    check = argv[1:2] == ["--check"]
    src, dst = argv[2:4] if check else argv[1:3]
    text = render(src)
    if check:
        with open(dst, encoding="utf-8") as f:
            if f.read() == text:
                return 0
        print(f"{dst} is stale: python3 embed.py {src} {dst}")
        return 1
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
