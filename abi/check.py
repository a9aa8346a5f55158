#!/usr/bin/env python3
"""The ABI gate: compares a build of libcoio.so.1 (or an ABI dump of one) with the recorded
baseline and fails on any change that is not an added function or a member appended to a
size-first option struct.

usage: abi/check.py BASELINE.abi LIBRARY|DUMP.abi [SUPPRESSIONS]

Two checks, both must pass:
 1. abidiff with the suppressions in coio.suppr (added functions; growth at the end of the
    size-first structs listed there) reports nothing;
 2. each listed struct keeps every member it had in the baseline, in order, at the same
    offset and with the same type (libabigail 2.2's has_data_member_inserted_at suppresses a
    whole struct's report as soon as the insertions are at the end, even when another member
    changed type or moved: this check closes that hole).
Exit 0: compatible; 1: not (the reports are printed); 77 (meson's "skipped"): abidiff or abidw
is missing, or the library has no debug info.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def has_debug_info(lib):
    r = subprocess.run(["readelf", "-S", lib], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    return ".debug_info" in r.stdout


def size_first_structs(suppr):
    """The struct names of coio.suppr's [suppress_type] name_regexp, as a compiled regexp."""
    with open(suppr, encoding="utf-8") as fh:
        text = fh.read()
    for section in re.split(r"^\[", text, flags=re.M):
        if section.startswith("suppress_type]"):
            m = re.search(r"^\s*name_regexp\s*=\s*(\S+)", section, flags=re.M)
            if m:
                return re.compile(m.group(1))
    return None


class Types:
    """Type ids of one dump resolved to a C-like spelling that does not depend on the ids."""

    def __init__(self, root):
        self.by_id = {}
        for e in root.iter():
            if e.get("id") and e.tag != "subrange":
                self.by_id.setdefault(e.get("id"), e)

    def spell(self, tid, depth=0):
        e = self.by_id.get(tid)
        if e is None or depth > 20:
            return "?" + str(tid)
        sub = lambda a: self.spell(e.get(a), depth + 1)
        if e.tag in ("type-decl", "class-decl", "union-decl", "enum-decl"):
            return e.tag.split("-")[0] + " " + e.get("name", "")
        if e.tag == "typedef-decl":
            return e.get("name") + "=" + sub("type-id")
        if e.tag == "pointer-type-def":
            return sub("type-id") + "*"
        if e.tag == "reference-type-def":
            return sub("type-id") + "&"
        if e.tag == "qualified-type-def":
            quals = [q for q in ("const", "volatile", "restrict") if e.get(q) == "yes"]
            return " ".join(quals) + " " + sub("type-id")
        if e.tag == "array-type-def":
            return sub("element-type-id") + "[" + e.get("size-in-bits", "?") + "b]"
        if e.tag == "function-type":
            params = [self.spell(p.get("type-id"), depth + 1) for p in e.findall("parameter")]
            return "fn(" + ",".join(params) + ")->" + self.spell(e.find("return").get("type-id"),
                                                                depth + 1)
        return e.tag + "?"


def layouts(path, names):
    """{struct name: [(member, offset, type spelling)]} for the structs names matches."""
    root = ET.parse(path).getroot()
    types = Types(root)
    out = {}
    for c in root.iter("class-decl"):
        name = c.get("name", "")
        if c.get("is-declaration-only") == "yes" or not names.match(name) or name in out:
            continue
        out[name] = [(m.find("var-decl").get("name"), int(m.get("layout-offset-in-bits")),
                      types.spell(m.find("var-decl").get("type-id")))
                     for m in c.findall("data-member")]
    return out


def check_prefixes(baseline, current, names):
    problems = []
    old, new = layouts(baseline, names), layouts(current, names)
    for name, members in sorted(old.items()):
        if name not in new:
            continue  # no longer reachable: abidiff reports what that does to the functions
        grown = new[name]
        for i, m in enumerate(members):
            if i >= len(grown) or grown[i] != m:
                got = grown[i] if i < len(grown) else "nothing"
                problems.append("struct %s: member %d was %s, is %s" % (name, i, m, got))
                break
    return problems


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    baseline, current = sys.argv[1], sys.argv[2]
    suppr = sys.argv[3] if len(sys.argv) == 4 else os.path.join(HERE, "coio.suppr")
    for tool in ("abidiff", "abidw"):
        if not shutil.which(tool):
            skip(tool + " not found (Debian: apt-get install abigail-tools)")
    is_dump = current.endswith((".abi", ".xml"))
    if not is_dump and not has_debug_info(current):
        skip(current + " has no debug info (the gate needs -g: buildtype debug or debugoptimized)")

    r = subprocess.run(["abidiff", "--no-show-locs", "--suppressions", suppr, baseline, current],
                       capture_output=True, text=True)
    sys.stdout.write(r.stdout + r.stderr)
    if r.returncode & 3:
        print("abidiff failed (status %d)" % r.returncode)
        return 1
    problems = []
    if r.returncode:
        problems.append("abidiff reports a change the suppressions do not allow (status %d)"
                        % r.returncode)
    names = size_first_structs(suppr)
    if names:
        with tempfile.TemporaryDirectory() as tmp:
            dump = current
            if not is_dump:
                dump = os.path.join(tmp, "current.abi")
                subprocess.run([os.path.join(HERE, "dump.sh"), current, dump], check=True)
            problems += check_prefixes(baseline, dump, names)
    if problems:
        print()
        for p in problems:
            print("ABI CHANGED: " + p)
        print("libcoio.so.1 must stay compatible: only new functions and members appended to the")
        print("size-first structs listed in abi/coio.suppr may be added.  Restore the old")
        print("declaration (add a new function instead).  See abi/README.md.")
        return 1
    print("ABI compatible with " + os.path.basename(baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
