"""The program API (see rt_common.py) on CPython's asyncio, under a virtual clock.

The loop is a SelectorEventLoop whose clock starts at 0 and, when the loop would block,
jumps to the next timer (what coio's COIO_LOOP_VIRTUAL_TIME does), so sleeps are instant and
deterministic.  Two things are pinned where asyncio leaves them open:
  - timers with equal deadlines run in scheduling order (asyncio's heap leaves ties
    unordered; coio promises FIFO ties);
  - a cancelled task's CancelledError is kept for every reader (CPython hands the body's
    CancelledError object to the first reader only, later readers get one without the
    message; coio keeps the final message for everyone: a documented difference, see
    coio(7)).  Tasks are the pure-Python Task (asyncio.tasks._PyTask) for that one override.
"""
import asyncio
import collections.abc
import inspect
import heapq
import itertools
import selectors
from asyncio import events, tasks

from rt_common import Boom, Runtime, GroupError


class Deadlock(Exception):
    pass


class _VSelector(selectors.DefaultSelector):
    loop = None

    def select(self, timeout=None):
        loop = self.loop
        if timeout is None:
            raise Deadlock("nothing ready and no timer: the program never ends")
        if timeout > 0 and loop._scheduled:
            loop._vt = max(loop._vt, loop._scheduled[0]._when)
        return super().select(0)


class _SeqTimer(events.TimerHandle):
    __slots__ = ("_seq",)

    def __lt__(self, other):
        return (self._when, self._seq) < (other._when, other._seq)

    def __le__(self, other):
        return (self._when, self._seq) <= (other._when, other._seq)

    def __gt__(self, other):
        return (self._when, self._seq) > (other._when, other._seq)

    def __ge__(self, other):
        return (self._when, self._seq) >= (other._when, other._seq)


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        sel = _VSelector()
        sel.loop = self
        self._vt = 0.0
        self._tseq = itertools.count()
        super().__init__(selector=sel)

    def time(self):
        return self._vt

    def call_at(self, when, callback, *args, context=None):
        self._check_closed()
        timer = _SeqTimer(when, callback, args, self, context)
        timer._seq = next(self._tseq)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer


class _KeepCancelTask(tasks._PyTask):
    def _make_cancelled_error(self):
        if self._cancelled_exc is not None:
            return self._cancelled_exc
        return super()._make_cancelled_error()

    # The message a cancelled task reports (gather(return_exceptions=True) reads this field):
    # the one its CancelledError carried.
    @property
    def _cancel_message(self):
        exc = self.__dict__.get("_cancelled_exc_kept")
        if exc is not None:
            return exc.args[0] if exc.args else None
        return self.__dict__.get("_cancel_message_v")

    @_cancel_message.setter
    def _cancel_message(self, v):
        self.__dict__["_cancel_message_v"] = v

    @property
    def _cancelled_exc(self):
        return self.__dict__.get("_cancelled_exc_kept")

    @_cancelled_exc.setter
    def _cancelled_exc(self, v):
        if v is not None:
            self.__dict__["_cancelled_exc_kept"] = v


class _Probe(collections.abc.Coroutine):
    """Wraps a coroutine so that every step of its task is seen (the pass ticker)."""

    def __init__(self, coro, rt):
        self._coro = coro
        self._rt = rt

    def send(self, value):
        self._rt.activity()
        return self._coro.send(value)

    def throw(self, *exc):
        # A task cancelled before its first step: asyncio's __step throws the CancelledError
        # into a coroutine that never started, which ends it without running any of the
        # program's code (coio ends such a task without calling its step at all).  That is
        # no program activity for the ticker.
        if inspect.getcoroutinestate(self._coro) != inspect.CORO_CREATED:
            self._rt.activity()
        return self._coro.throw(*exc)

    def close(self):
        self.closing = True
        return self._coro.close()

    def __await__(self):
        return self._coro.__await__()


class _Cb:
    """A done callback (fn, arg) as asyncio sees it: compared by fn alone, as asyncio's
    remove_done_callback(fn) does (coio matches fn and arg: a documented difference)."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __call__(self, fut):
        self.fn(fut, self.arg)

    def __eq__(self, other):
        return isinstance(other, _Cb) and other.fn is self.fn

    def __hash__(self):
        return id(self.fn)


class _Group:
    def __init__(self, rt):
        self._rt = rt
        self._tg = asyncio.TaskGroup()

    async def __aenter__(self):
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, et, exc, tb):
        return await self._tg.__aexit__(et, exc, tb)

    def spawn(self, fn, *args, name=None):
        t = self._tg.create_task(_Probe(fn(self._rt, *args), self._rt), name=name)
        return t


class _Timeout:
    def __init__(self, delay):
        self._cm = asyncio.timeout(delay)

    async def __aenter__(self):
        await self._cm.__aenter__()
        return self

    async def __aexit__(self, et, exc, tb):
        return await self._cm.__aexit__(et, exc, tb)

    def expired(self):
        return self._cm.expired()


class _OrderedAsCompleted(tasks._AsCompletedIterator):
    """asyncio 3.13's as_completed iterator, registering on its inputs in argument order
    instead of the order of a set (which follows object addresses: inputs done already would
    be reported in an unspecified order; coio reports them in argument order)."""

    def __init__(self, aws, timeout):
        from asyncio import queues
        self._done = queues.Queue()
        self._timeout_handle = None
        loop = events.get_event_loop()
        todo = list(dict.fromkeys(tasks.ensure_future(aw, loop=loop) for aw in aws))
        for f in todo:
            f.add_done_callback(self._handle_completion)
        if todo and timeout is not None:
            self._timeout_handle = loop.call_later(timeout, self._handle_timeout)
        self._todo = set(todo)
        self._todo_left = len(todo)


class _AsCompleted:
    def __init__(self, fs, timeout):
        self._it = _OrderedAsCompleted(fs, timeout)

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._it.__anext__()


class _Queue:
    def __init__(self, maxsize, kind):
        cls = {"fifo": asyncio.Queue, "lifo": asyncio.LifoQueue,
               "priority": asyncio.PriorityQueue}[kind]
        self._q = cls(maxsize)
        self.kind = kind

    async def put(self, item):
        await self._q.put(item)

    async def get(self):
        return await self._q.get()

    def put_nowait(self, item):
        self._q.put_nowait(item)

    def get_nowait(self):
        return self._q.get_nowait()

    def task_done(self):
        self._q.task_done()

    async def join(self):
        await self._q.join()

    def shutdown(self, immediate=False):
        self._q.shutdown(immediate)

    def qsize(self):
        return self._q.qsize()


class AsyncioRuntime(Runtime):
    name = "asyncio"
    CancelledError = asyncio.CancelledError

    def __init__(self):
        super().__init__()
        self.loop = VirtualLoop()
        self.loop.set_task_factory(
            lambda loop, coro, **kw: _KeepCancelTask(coro, loop=loop, **kw))

    # ---- loop ----
    def time(self):
        return self.loop.time()

    def call_soon(self, fn):
        self.loop.call_soon(fn)

    def call_later(self, delay, fn):
        self.loop.call_later(delay, fn)

    def stop(self):
        self.loop.stop()

    def pending_task_objects(self):
        return sorted((t for t in asyncio.all_tasks(self.loop) if not t.done()),
                      key=lambda t: t.get_name())

    def run(self, main):
        self.start_watchdog()
        t = self.spawn(main, name="main")
        try:
            self.loop.run_until_complete(t)
        except BaseException:
            pass
        return t

    def close(self):
        self.closing = True
        for t in asyncio.all_tasks(self.loop):
            t.cancel()
            t._log_destroy_pending = False
        try:
            self.loop.run_until_complete(asyncio.sleep(0))
        except BaseException:
            pass
        self.loop.close()

    def pending_tasks(self):
        return sorted(t.get_name() for t in asyncio.all_tasks(self.loop) if not t.done())

    # ---- tasks and futures ----
    def spawn(self, fn, *args, name=None):
        return self.loop.create_task(_Probe(fn(self, *args), self), name=name)

    def future(self):
        return self.loop.create_future()

    def current_task(self):
        return asyncio.current_task(self.loop)

    def task_name(self, t):
        return t.get_name()

    def add_done_callback(self, fut, fn, arg):
        fut.add_done_callback(_Cb(fn, arg))

    def remove_done_callback(self, fut, fn, arg):
        return fut.remove_done_callback(_Cb(fn, arg))

    def sleep(self, delay):
        return asyncio.sleep(delay)

    # ---- combinators ----
    def gather(self, *fs, return_exceptions=False):
        return asyncio.gather(*fs, return_exceptions=return_exceptions)

    async def wait(self, fs, timeout=None, return_when="ALL_COMPLETED"):
        done, pending = await asyncio.wait(fs, timeout=timeout, return_when=return_when)
        return done, pending

    def as_completed(self, fs, timeout=None):
        return _AsCompleted(fs, timeout)

    def wait_for(self, fut, timeout):
        return asyncio.wait_for(fut, timeout)

    def shield(self, fut):
        return asyncio.shield(fut)

    # ---- scopes ----
    def task_group(self):
        return _Group(self)

    def timeout(self, delay):
        return _Timeout(delay)

    # ---- primitives ----
    def event(self):
        return asyncio.Event()

    def lock(self):
        return asyncio.Lock()

    def semaphore(self, value, bounded=False):
        return asyncio.BoundedSemaphore(value) if bounded else asyncio.Semaphore(value)

    def condition(self, lock=None):
        return asyncio.Condition(lock)

    def barrier(self, parties):
        return asyncio.Barrier(parties)

    def queue(self, maxsize=0, kind="fifo"):
        return _Queue(maxsize, kind)
