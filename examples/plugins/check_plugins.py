#!/usr/bin/env python3
"""Checks of the example plugins (TAP output).

usage: check_plugins.py trace TRACE_PLUGIN GATHER_EXAMPLE
       check_plugins.py resolver RESOLVER_PLUGIN RESOLVE_CLIENT

trace: runs the gather tutorial example (13_gather: a main task and ten children) with
COIO_PLUGINS=TRACE_PLUGIN=FILE and checks that FILE is Chrome trace-event JSON (what Perfetto
and chrome://tracing open) with a track per task and a slice per step, callback instants and
the ready-queue counter; that the program's output is unchanged; that slow=0 makes every step
a slow-callback warning in asyncio's words and that the default threshold makes none.

resolver: runs RESOLVE_CLIENT against the plugin for localhost and numeric addresses only
(no lookup leaves the machine).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

results = []


def check(ok, what):
    results.append((bool(ok), what))
    return ok


def run(cmd, env_extra):
    env = dict(os.environ)
    env.pop('COIO_PLUGINS', None)
    env.update(env_extra)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, encoding='utf-8', timeout=60)


GATHER_OUT = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests',
                               'tutorial', 'expected', '13_gather.out'), encoding='utf-8').read()


def check_trace(plugin, gather):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'trace.json')
        p = run([gather], {'COIO_PLUGINS': '%s=%s' % (plugin, path)})
        check(p.returncode == 0, 'the traced program exits 0 (stderr: %r)' % p.stderr[-300:])
        check(p.stdout == GATHER_OUT,
              'its output is unchanged')
        check(p.stderr == '', 'no slow-step warning at the default threshold (0.1 s)')
        try:
            with open(path, encoding='utf-8') as fh:
                doc = json.load(fh)
            check(True, 'the trace file parses as JSON')
        except (OSError, ValueError) as e:
            check(False, 'the trace file parses as JSON (%s)' % e)
            return
        events = doc.get('traceEvents', [])
        check(isinstance(events, list) and events, 'it has a traceEvents array')
        for e in events:
            if not all(k in e for k in ('ph', 'pid', 'tid', 'ts', 'name')):
                check(False, 'every event has ph, pid, tid, ts and name: %r' % e)
                break
        else:
            check(True, 'every event has ph, pid, tid, ts and name')
        tracks = {e['tid']: e['args']['name'] for e in events
                  if e['ph'] == 'M' and e['name'] == 'thread_name' and e['args']['name'] != 'loop'}
        check(len(tracks) == 11, 'a track per task: 11 (main and ten squares), got %d' % len(tracks))
        slices = [e for e in events if e['ph'] == 'X']
        check(all(e['dur'] >= 0 and e['cat'] == 'task' for e in slices),
              'slices have a duration and category "task"')
        per_task = {}
        for e in slices:
            per_task.setdefault(e['tid'], []).append(e)
        check(set(per_task) == set(tracks), 'every task track has step slices')
        two = [t for t, s in per_task.items() if len(s) == 2]
        check(len(two) == 11, 'each task has two steps (to its await, after it)')
        for tid, s in per_task.items():
            if any(e['name'] != tracks[tid] for e in s):
                check(False, 'slices are named after their task (%s)' % tracks[tid])
                break
        else:
            check(True, 'slices are named after their task')
        ends = [e['args']['step'] for e in slices]
        # The square of 0 sleeps 0 s: asyncio's sleep(0), a bare yield, not an await.
        check(ends.count('COIO_OK') == 11 and ends.count('yield') == 1
              and ends.count('await') == len(ends) - 12,
              'steps end awaiting (one yielding: sleep(0)), the last one of each task with COIO_OK')
        created = [e for e in events if e['ph'] == 'i' and e['name'] == 'created']
        parents = [e['args']['parent'] for e in created]
        check(parents.count('') == 1 and len(set(parents) - {''}) == 1 and parents.count(
            [p for p in parents if p][0]) == 10,
              'the main task has no parent; the ten squares have it as parent')
        done = [e for e in events if e['ph'] == 'i' and e['name'] == 'done']
        check(len(done) == 11 and all(e['args']['state'] == 'finished' for e in done),
              'eleven tasks end finished')
        callbacks = [e for e in events if e['ph'] == 'i' and e['name'] == 'callback']
        check(any(e['args']['kind'] == 'timer' for e in callbacks),
              'callback instants (the sleeps\' timers among them)')
        counters = [e for e in events if e['ph'] == 'C' and e['name'] == 'ready']
        check(counters and all(isinstance(e['args']['ready'], int) for e in counters)
              and max(e['args']['ready'] for e in counters) >= 10,
              'a ready-queue counter track (the ten first steps ready at once)')
        ts = [e['ts'] for e in slices]
        check(ts == sorted(ts), 'slices in time order')

        # slow=0: every step is "slow", reported in asyncio's words.
        p = run([gather], {'COIO_PLUGINS': '%s=file=%s,slow=0' % (plugin, path)})
        lines = p.stderr.splitlines()
        pat = re.compile(r"^coio: Executing <(Task (pending|finished) name='[^']+'|TimerHandle|"
                         r"Handle|Future done callback)> took \d+\.\d{3} seconds$")
        check(p.returncode == 0 and lines and all(pat.match(l) for l in lines),
              'slow=0: each line is "Executing <Task ...> took N.NNN seconds" (%r)' % lines[:3])
        check(sum("<Task finished name='" in l for l in lines) == 11,
              'slow=0: the last step of each of the eleven tasks is reported finished')
        # A bad config: the plugin does not attach, and the program still runs.
        p = run([gather], {'COIO_PLUGINS': '%s=slow=fast' % plugin})
        check(p.returncode == 0 and p.stdout.endswith(GATHER_OUT),
              'a bad config: the program still runs')
        check(re.search(r'^coio: COIO_PLUGINS: plugin .*coio-trace\.so: attach failed: '
                        r'COIO_EINVAL \(invalid argument\) \(COIO_EINVAL\)$', p.stderr, re.M),
              'a bad config: one line on stderr naming the plugin and why (%r)' % p.stderr)


def check_resolver(plugin, client):
    p = run([client, '--plugin', plugin, 'localhost', '127.0.0.1', '::1'], {})
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 3, 'the client resolves three names (%r %r)'
          % (p.stdout, p.stderr))
    if len(lines) == 3:
        local = lines[0].split()[1:]
        check(lines[0].startswith('localhost:') and local and
              set(local) <= {'127.0.0.1', '::1'}, 'localhost: loopback addresses (%s)' % lines[0])
        check(lines[1] == '127.0.0.1: 127.0.0.1', 'a numeric IPv4 address')
        check(lines[2] == '::1: ::1', 'a numeric IPv6 address')
    p = run([client, '-n', 'not.a.number', '10.1.2.3'], {'COIO_PLUGINS': plugin})
    check(p.returncode == 0 and re.match(r'^not\.a\.number: error: \S.*\n10\.1\.2\.3: 10\.1\.2\.3\n$',
                                         p.stdout),
          'through COIO_PLUGINS: a failed lookup is an error with getaddrinfo\'s message (%r)'
          % p.stdout)
    p = run([client, '--plugin', plugin, '--cancel', 'localhost', '127.0.0.1'], {})
    check(p.returncode == 0 and p.stdout == 'localhost: cancelled\n127.0.0.1: cancelled\n',
          'cancelled lookups end cancelled (%r %r)' % (p.stdout, p.stderr))
    p = run([client, '--plugin', '/nonexistent/coio-resolver.so', 'localhost'], {})
    check(p.returncode == 1 and 'No such file or directory' in p.stderr,
          'a missing plugin: the client says why (%r)' % p.stderr)


def main(argv):
    if len(argv) != 4 or argv[1] not in ('trace', 'resolver'):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    (check_trace if argv[1] == 'trace' else check_resolver)(argv[2], argv[3])
    print('1..%d' % len(results))
    for i, (ok, what) in enumerate(results, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, what))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
