"""What a differential program sees: a runtime object `rt` with asyncio's vocabulary, the
trace it writes, and the pass ticker.

A program is `async def main(rt)` plus helper coroutines `async def f(rt, ...)`.  It only
uses `rt` (and the futures and tasks `rt` returns), so the very same source runs on asyncio
(rt_asyncio.py) and on coio (rt_coio.py).  Every trace line carries the loop time and the
ticker's count.

The ticker is a callback that re-schedules itself with call_soon in every pass while the
program is active (a step of one of its tasks ran within the last QUIET passes), so its count
grows by one per pass: two events one pass apart get different counts.  It stops when the
program is idle so that the virtual clock can jump to the next timer; then the count resumes
at the next step.  Its rules depend only on what the program does, so the same semantics give
the same counts on both sides, and a one-pass difference shows.
"""


class Boom(Exception):
    """The error programs raise (coio: code BOOM_CODE with the message)."""


class GroupError(Exception):
    """coio's failed task group (asyncio's BaseExceptionGroup), by its message."""


QUIET = 4


class Runtime:
    def __init__(self):
        self.trace = []
        self.tick = 0
        self._quiet = 0
        self._armed = False

    # ---- the ticker ----
    def activity(self):
        self._quiet = 0
        if not self._armed:
            self._armed = True
            self.call_soon(self._tick)

    def _tick(self):
        self.tick += 1
        self._quiet += 1
        if self._quiet <= QUIET:
            self.call_soon(self._tick)
        else:
            self._armed = False

    # ---- the watchdog ----
    # A program may wait forever (a future nobody sets: asyncio then has nothing to do and
    # coio would block in its poll).  At t=WATCHDOG every pending task is cancelled, in name
    # order, with the message "watchdog" (again every WATCHDOG seconds, at most 3 times;
    # then the loop stops).  Identical on both sides, so it only shows as trace lines.
    WATCHDOG = 200.0

    def start_watchdog(self):
        self._wd_rounds = 0
        self.call_later(self.WATCHDOG, self._watchdog)

    def _watchdog(self):
        self._wd_rounds += 1
        tasks = self.pending_task_objects()
        if not tasks:
            return
        self.log("WATCHDOG round", self._wd_rounds, "cancels", [self.task_name(t) for t in tasks])
        if self._wd_rounds > 3:
            self.stop()
            return
        for t in tasks:
            t.cancel("watchdog")
        self.call_later(self.WATCHDOG, self._watchdog)

    # ---- the trace ----
    closing = False

    def log(self, *parts):
        if self.closing:
            return
        self.trace.append("%4d t=%-8s %s" % (self.tick, "%.6g" % self.time(),
                                              " ".join(str(p) for p in parts)))

    def outcome(self, f):
        """A done future's outcome as text, without changing what later readers see."""
        if not f.done():
            return "pending"
        if f.cancelled():
            try:
                f.result()
            except BaseException as e:  # noqa: BLE001
                return self.exc_name(e)
            return "Cancelled(?)"
        try:
            return "result=%r" % (self.plain(f.result()),)
        except BaseException as e:  # noqa: BLE001
            return self.exc_name(e)

    def plain(self, v):
        """A result as comparable text: futures by name, sets sorted."""
        if isinstance(v, (set, frozenset)):
            return sorted(self.fname(x) for x in v)
        if isinstance(v, (list, tuple)):
            return [self.plain(x) for x in v]
        if isinstance(v, BaseException):
            return self.exc_name(v)
        if self.is_future(v):
            return self.fname(v)
        return v

    names = None

    def fname(self, f):
        if self.is_task(f):
            return self.task_name(f)
        if self.names is not None and id(f) in self.names:
            return self.names[id(f)]
        return "<future>"

    def name_future(self, f, name):
        if self.names is None:
            self.names = {}
        self.names[id(f)] = name
        self._keep = getattr(self, "_keep", [])
        self._keep.append(f)
        return f

    def is_future(self, v):
        return hasattr(v, "done") and hasattr(v, "cancelled") and hasattr(v, "add_done_callback")

    def is_task(self, v):
        return hasattr(v, "get_name")


import asyncio as _aio  # exception types only: both runtimes raise these


def exc_name(e):
    if isinstance(e, _aio.CancelledError):
        return "Cancelled(%s)" % (e.args[0] if e.args else None)
    if isinstance(e, BaseExceptionGroup):
        return "Group(%s)" % (str(e),)
    if isinstance(e, GroupError):
        return "Group(%s)" % e.args[0]
    if isinstance(e, TimeoutError):
        return "Timeout"
    if isinstance(e, Boom):
        return "Boom(%s)" % e.args[0]
    for cls in (_aio.BrokenBarrierError, _aio.QueueShutDown, _aio.QueueEmpty, _aio.QueueFull,
                _aio.InvalidStateError, ValueError, RuntimeError):
        if isinstance(e, cls):
            return cls.__name__
    return "%s(%s)" % (type(e).__name__, e)


Runtime.exc_name = staticmethod(exc_name)
