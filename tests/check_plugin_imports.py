#!/usr/bin/env python3
"""Check that plugins use coio only through the host table (TAP output).

usage: check_plugin_imports.py PLUGIN.so...

A plugin built against <coio_plugin.h> never links libcoio: it must import no coio_* symbol
and export exactly one, coio_plugin_init.
"""

import subprocess
import sys


def symbols(path, which):
    out = subprocess.run(['nm', '-D', which, path], check=True, capture_output=True,
                         text=True).stdout
    return {line.split()[-1].split('@', 1)[0] for line in out.splitlines() if line.strip()}


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    checks = []
    for path in argv[1:]:
        name = path.rsplit('/', 1)[-1]
        try:
            imported = sorted(s for s in symbols(path, '--undefined-only') if s.startswith('coio_'))
            exported = sorted(s for s in symbols(path, '--defined-only') if s.startswith('coio_'))
        except (OSError, subprocess.CalledProcessError) as e:
            print('1..0 # SKIP nm failed: %s' % e)
            return 0
        checks.append((not imported, '%s imports no coio_* symbol%s'
                       % (name, (' (it imports ' + ', '.join(imported) + ')') if imported else '')))
        checks.append((exported == ['coio_plugin_init'], '%s exports coio_plugin_init only (%s)'
                       % (name, ', '.join(exported) or 'nothing')))
    print('1..%d' % len(checks))
    for i, (ok, what) in enumerate(checks, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, what))
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
