#!/usr/bin/env python3
"""embed.py IN OUT: writes IN (a Lua source) as a C string literal into OUT."""
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    src = f.read()
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write("/* generated from %s by embed.py: do not edit */\n" % sys.argv[1].split("/")[-1])
    for line in src.splitlines(True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.write('"%s"\n' % esc)
