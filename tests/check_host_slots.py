#!/usr/bin/env python3
"""Check the plugin host table's slot list against the ABI (TAP output).

usage: check_host_slots.py ABI_SYMBOLS SLOTS_DEF FROZEN_SLOTS_DEF

SLOTS_DEF (src/coio_host_slots.def) lists coio_host's slots, COIO_HOST_SLOT(name) per line:
one per public function, named without `coio_`, in a fixed, append-only order.  That order is
the order in which the functions were added to the ABI, i.e. the order of ABI_SYMBOLS
(tests/abi.symbols, itself append-only).  Fails when
  - a recorded function has no slot (the message says which line to append, and where),
  - a slot is not a recorded function, or appears twice,
  - the slots are not in the order of ABI_SYMBOLS (a slot moved or was inserted),
  - the frozen first list (FROZEN_SLOTS_DEF, tests/plugin_abi1/) is not a prefix: plugins
    built against it would read the wrong functions.
"""

import re
import sys

SLOT_RE = re.compile(r'^\s*COIO_HOST_SLOT\(\s*([a-z0-9_]+)\s*\)\s*$')


def symbols(path):
    names = []
    with open(path, encoding='utf-8') as fh:
        for line in fh:
            line = line.split('#', 1)[0].strip()
            if line:
                names.append(line)
    return names


def slots(path):
    names = []
    with open(path, encoding='utf-8') as fh:
        text = re.sub(r'/\*.*?\*/', '', fh.read(), flags=re.S)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = SLOT_RE.match(line)
        names.append(m.group(1) if m else '<unparsed line %d: %s>' % (n, line.strip()))
    return names


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    abi_path, def_path, frozen_path = argv[1:]
    want = [s[len('coio_'):] for s in symbols(abi_path) if s.startswith('coio_')]
    have = slots(def_path)
    frozen = slots(frozen_path)
    checks = []

    missing = [n for n in want if n not in have]
    for n in missing:
        i = want.index(n)
        after = want[i - 1] if i else None
        where = ('after COIO_HOST_SLOT(%s)' % after) if after else 'first'
        checks.append((False, 'coio_%s (tests/abi.symbols) has no host slot: append the line '
                       '"COIO_HOST_SLOT(%s)" to %s (%s, the order of tests/abi.symbols), '
                       'and bump COIO_PLUGIN_ABI in include/coio_plugin.h if a release shipped '
                       'since the last slot was appended' % (n, n, def_path, where)))
    if not missing:
        checks.append((True, 'every function in tests/abi.symbols has a host slot'))

    extra = [n for n in have if n not in want]
    for n in extra:
        checks.append((False, 'slot %s is not a function recorded in tests/abi.symbols' % n))
    dupes = sorted({n for n in have if have.count(n) > 1})
    for n in dupes:
        checks.append((False, 'slot %s appears twice in %s' % (n, def_path)))

    known = [n for n in have if n in want]
    expected = [n for n in want if n in have]
    bad = next((i for i, (a, b) in enumerate(zip(known, expected)) if a != b), None)
    checks.append((bad is None,
                   'slots are in the order of tests/abi.symbols' if bad is None else
                   'slot %d is %s where tests/abi.symbols has %s: slots never move; restore '
                   'the order (new slots go at the end)' % (bad, known[bad], expected[bad])))

    prefix_ok = have[:len(frozen)] == frozen
    if prefix_ok:
        checks.append((True, 'the frozen first slot list (%d slots) is a prefix' % len(frozen)))
    else:
        i = next((i for i, (a, b) in enumerate(zip(have, frozen)) if a != b), min(len(have),
                                                                                len(frozen)))
        checks.append((False, 'slot %d differs from the frozen first list (%s): %s there, %s '
                       'here; plugins built against it would call the wrong function'
                       % (i, frozen_path, frozen[i] if i < len(frozen) else '(end)',
                          have[i] if i < len(have) else '(end)')))

    print('1..%d' % len(checks))
    for i, (ok, what) in enumerate(checks, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, what))
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
