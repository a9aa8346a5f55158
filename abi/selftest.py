#!/usr/bin/env python3
"""A test of the ABI gate itself (TAP): that abi/check.py passes what is compatible and fails
what is not, on the real ABI of this build.

usage: selftest.py CHECK_PY BASELINE.abi LIBRARY

The library's ABI is dumped (abi/dump.sh's options), then edited the way a change to coio.h
would change it, and each edited dump is checked against the baseline:
  pass: the dump as is; a function added; a member appended to a size-first option struct;
  fail: a function removed; a parameter's type changed; a return type changed; a member
        inserted before the others; a member's type changed; a member removed; a member
        appended to a struct that is not in the suppressions' size-first list.
Skipped (TAP's 1..0 # SKIP) without abidw/abidiff or without debug info in the library.
"""

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def fail_setup(msg):
    print("1..0 # SKIP " + msg)
    sys.exit(0)


def functions(root, name):
    return [e for e in root.iter("function-decl") if e.get("name") == name]


def structs(root, name):
    found = [e for e in root.iter("class-decl") if e.get("name") == name and
             e.get("is-declaration-only") != "yes"]
    if not found:
        raise LookupError("no struct " + name)
    return found


def type_id(root, name):
    for e in root.iter("type-decl"):
        if e.get("name") == name:
            return e.get("id")
    raise LookupError("no type " + name)


def elf_symbols(root):
    return next(root.iter("elf-function-symbols"))


def add_function(root):
    src = functions(root, "coio_call_soon_threadsafe")[0]
    parent = find_parent(root, src)
    new = copy.deepcopy(src)
    new.set("name", "coio_selftest_added")
    new.set("mangled-name", "coio_selftest_added")
    new.set("elf-symbol-id", "coio_selftest_added@@COIO_1")
    parent.append(new)
    syms = elf_symbols(root)
    sym = copy.deepcopy(next(s for s in syms if s.get("name") == "coio_call_soon_threadsafe"))
    sym.set("name", "coio_selftest_added")
    syms.append(sym)


def remove_function(root):
    for f in functions(root, "coio_call_soon_threadsafe"):
        find_parent(root, f).remove(f)
    syms = elf_symbols(root)
    for s in list(syms):
        if s.get("name") == "coio_call_soon_threadsafe":
            syms.remove(s)


def change_parameter(root):
    # coio_call_later(loop, double delay, ...) -> (loop, int delay, ...)
    for f in functions(root, "coio_call_later"):
        f.findall("parameter")[1].set("type-id", type_id(root, "int"))


def change_return(root):
    # int coio_future_cancel(...) -> double coio_future_cancel(...)
    for f in functions(root, "coio_future_cancel"):
        f.find("return").set("type-id", type_id(root, "double"))


def members(s):
    return s.findall("data-member")


def grow(s, bits):
    s.set("size-in-bits", str(int(s.get("size-in-bits")) + bits))


def append_member(root, name):
    for s in structs(root, name):
        last = members(s)[-1]
        new = copy.deepcopy(last)
        new.set("layout-offset-in-bits", s.get("size-in-bits"))
        new.find("var-decl").set("name", "selftest_added")
        new.find("var-decl").set("type-id", type_id(root, "double"))
        s.append(new)
        grow(s, 64)


def insert_member_first(root):
    for s in structs(root, "coio_loop_options"):
        ms = members(s)
        for m in ms:
            m.set("layout-offset-in-bits", str(int(m.get("layout-offset-in-bits")) + 64))
        new = copy.deepcopy(ms[-1])
        new.set("layout-offset-in-bits", "0")
        new.find("var-decl").set("name", "selftest_inserted")
        s.insert(list(s).index(ms[0]), new)
        grow(s, 64)


def change_member_type(root):
    # coio_loop_options.backend: uint32_t -> double (the members after it move)
    for s in structs(root, "coio_loop_options"):
        ms = members(s)
        i = next(i for i, m in enumerate(ms) if m.find("var-decl").get("name") == "backend")
        ms[i].find("var-decl").set("type-id", type_id(root, "double"))
        ms[i].set("layout-offset-in-bits", "64")
        for m in ms[i + 1:]:
            m.set("layout-offset-in-bits", str(int(m.get("layout-offset-in-bits")) + 64))
        grow(s, 64)


def retype_member_same_size(root):
    # coio_loop_options.backend: uint32_t -> int (same size and offset)
    for s in structs(root, "coio_loop_options"):
        m = next(m for m in members(s) if m.find("var-decl").get("name") == "backend")
        m.find("var-decl").set("type-id", type_id(root, "int"))


def remove_last_member(root):
    for s in structs(root, "coio_task_options"):
        s.remove(members(s)[-1])


def suppressions(check):
    return os.path.join(os.path.dirname(os.path.abspath(check)), "coio.suppr")


def find_parent(root, child):
    for p in root.iter():
        if child in list(p):
            return p
    raise LookupError("no parent")


CASES = [
    ("unchanged", None, True),
    ("a function added", add_function, True),
    ("a member appended to coio_task_options (size-first)",
     lambda r: append_member(r, "coio_task_options"), True),
    ("a member appended to coio_loop_options (size-first)",
     lambda r: append_member(r, "coio_loop_options"), True),
    ("a function removed (coio_call_soon_threadsafe)", remove_function, False),
    ("a parameter type changed (coio_call_later's delay: double -> int)", change_parameter, False),
    ("a return type changed (coio_future_cancel: int -> double)", change_return, False),
    ("a member inserted first in coio_loop_options", insert_member_first, False),
    ("a member type changed (coio_loop_options.backend: uint32_t -> double)",
     change_member_type, False),
    ("a member type changed, same size (coio_loop_options.backend: uint32_t -> int)",
     retype_member_same_size, False),
    ("the last member of coio_task_options removed", remove_last_member, False),
    # Every struct the exported functions reach is size-first today: this one checks that the
    # allowance is the list's, not any struct's.
    ("a member appended to a struct missing from the size-first list",
     lambda r: append_member(r, "coio_loop_options"), False, "unlisted"),
]


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    check, baseline, lib = sys.argv[1:]
    for tool in ("abidw", "abidiff"):
        if not shutil.which(tool):
            fail_setup(tool + " not found (Debian: apt-get install abigail-tools)")
    dump_sh = os.path.join(os.path.dirname(os.path.abspath(check)), "dump.sh")
    with tempfile.TemporaryDirectory() as tmp:
        current = os.path.join(tmp, "current.abi")
        r = subprocess.run([dump_sh, lib, current], capture_output=True, text=True)
        if r.returncode != 0:
            fail_setup("abidw failed: " + (r.stderr.strip() or "status %d" % r.returncode))
        tree = ET.parse(current)
        if not structs(tree.getroot(), "coio_loop_options"):
            fail_setup("the library has no debug info")
        print("1..%d" % len(CASES))
        failed = 0
        unlisted = os.path.join(tmp, "unlisted.suppr")
        with open(suppressions(check), encoding="utf-8") as src, \
                open(unlisted, "w", encoding="utf-8") as dst:
            dst.write(src.read().replace("loop_options|", ""))
        for n, (what, edit, should_pass, *suppr) in enumerate(CASES, 1):
            t = copy.deepcopy(tree)
            if edit:
                edit(t.getroot())
            path = os.path.join(tmp, "case%d.abi" % n)
            t.write(path, encoding="unicode")
            args = [check, baseline, path] + ([unlisted] if suppr else [])
            r = subprocess.run(args, capture_output=True, text=True)
            passed = r.returncode == 0
            if r.returncode not in (0, 1):
                passed = None
            ok = passed == should_pass
            failed += not ok
            print("%s %d - %s: the gate %s" % ("ok" if ok else "not ok", n, what,
                                               "passes" if should_pass else "fails"))
            if not ok:
                for line in (r.stdout + r.stderr).splitlines():
                    print("# " + line)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
