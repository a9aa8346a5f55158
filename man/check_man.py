#!/usr/bin/env python3
"""Check that every exported coio symbol has a man page (TAP output).

usage: check_man.py LIBRARY MANDIR [--scdoc PATH]

Prints a TAP stream with
  - one line per exported coio_* symbol of LIBRARY (from `nm -D --defined-only`,
    or, when nm is missing or fails, from the prototypes in include/coio.h):
    the symbol must appear in the NAME section of some MANDIR/*.scd;
  - one line per section-3 name that is not an exported symbol (stale page);
  - one line per page: every *name*(3) / *name*(7) reference must point to a
    name documented in MANDIR (or to a known outside page);
  - one line per page: it compiles with scdoc (skipped when scdoc is not found).
"""

import os
import re
import shutil
import subprocess
import sys

SYMBOL_RE = re.compile(r'\b(coio_[a-z0-9_]+)\s*\(')
XREF_RE = re.compile(r'\*([A-Za-z0-9_.\\-]+)\*\((\d)\)')
# Pages of other projects the coio pages may refer to.
OUTSIDE_PAGES = {('ev', '3'), ('pkg-config', '1'), ('dlopen', '3'), ('dlerror', '3'),
                 ('secure_getenv', '3'), ('snprintf', '3'), ('getaddrinfo', '3'),
                 ('clock_gettime', '2')}


def page_names(path):
    """The names in the NAME section of an scdoc page (before the ' - ')."""
    with open(path, encoding='utf-8') as fh:
        lines = fh.read().splitlines()
    text = []
    in_name = False
    for line in lines:
        if line.startswith('#'):
            if in_name:
                break
            in_name = line.strip() == '# NAME'
            continue
        if in_name:
            text.append(line.strip())
    joined = ' '.join(t for t in text if t)
    head = joined.split(' - ', 1)[0] if ' - ' in joined else ''
    head = head.replace('\\', '')
    return [n.strip() for n in head.split(',') if n.strip()]


def page_section(path):
    """The section of a page, from its title line `name(N)`."""
    with open(path, encoding='utf-8') as fh:
        first = fh.readline()
    m = re.match(r'\s*([A-Za-z0-9_.-]+)\((\d)\)', first)
    return m.group(2) if m else None


def symbols_from_nm(lib):
    nm = shutil.which('nm')
    if nm is None or not os.path.exists(lib):
        return None
    try:
        out = subprocess.run([nm, '-D', '--defined-only', lib], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, name = parts[-2], parts[-1]
        if kind == 'A':          # version definitions such as COIO_1
            continue
        syms.add(name.split('@', 1)[0])
    return syms


def symbols_from_header(mandir):
    header = os.path.join(mandir, os.pardir, 'include', 'coio.h')
    with open(header, encoding='utf-8') as fh:
        src = fh.read()
    src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
    src = re.sub(r'//[^\n]*', ' ', src)
    return set(SYMBOL_RE.findall(src))


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != '--scdoc'):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lib, mandir = argv[1], argv[2]
    scdoc = argv[4] if len(argv) == 5 else shutil.which('scdoc')

    pages = sorted(f for f in os.listdir(mandir) if f.endswith('.scd'))
    documented = {}                        # name -> page
    sections = {}                          # page -> section
    for page in pages:
        path = os.path.join(mandir, page)
        sections[page] = page_section(path)
        for name in page_names(path):
            documented.setdefault(name, page)

    diag = []
    syms = symbols_from_nm(lib)
    if syms is None:
        diag.append('# nm unavailable or failed on %s: symbols taken from include/coio.h' % lib)
        syms = symbols_from_header(mandir)
    else:
        diag.append('# symbols from nm -D --defined-only %s' % lib)
    others = sorted(s for s in syms if not s.startswith('coio_'))
    for s in others:
        diag.append('# note: exported symbol outside the coio_ namespace: %s (not checked)' % s)
    public = sorted(s for s in syms if s.startswith('coio_'))

    results = []                           # (ok, description, directive)
    for sym in public:
        page = documented.get(sym)
        results.append((page is not None,
                        '%s documented%s' % (sym, ' in ' + page if page else ' in no NAME section'),
                        ''))

    names3 = sorted(n for n, p in documented.items() if sections.get(p) == '3')
    for name in names3:
        if name not in syms:
            results.append((False, '%s (NAME of %s) is not an exported symbol'
                            % (name, documented[name]), ''))

    known = {(n, sections[p]) for n, p in documented.items()} | OUTSIDE_PAGES
    for page in pages:
        with open(os.path.join(mandir, page), encoding='utf-8') as fh:
            body = fh.read()
        refs = {(n.replace('\\', ''), s) for n, s in XREF_RE.findall(body)}
        bad = sorted('%s(%s)' % r for r in refs if r not in known)
        results.append((not bad, '%s: cross-references resolve%s'
                        % (page, (' (unknown: ' + ', '.join(bad) + ')') if bad else ''), ''))

    for page in pages:
        if scdoc is None:
            results.append((True, '%s compiles with scdoc' % page, ' # SKIP scdoc not found'))
            continue
        with open(os.path.join(mandir, page), 'rb') as fh:
            proc = subprocess.run([scdoc], stdin=fh, capture_output=True)
        ok = proc.returncode == 0 and proc.stdout.strip() != b''
        desc = '%s compiles with scdoc' % page
        if not ok:
            err = proc.stderr.decode(errors='replace').strip().replace('\n', ' ')
            desc += ' (exit %d: %s)' % (proc.returncode, err)
        results.append((ok, desc, ''))

    print('1..%d' % len(results))
    for line in diag:
        print(line)
    for i, (ok, desc, directive) in enumerate(results, 1):
        print('%s %d - %s%s' % ('ok' if ok else 'not ok', i, desc, directive))
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
