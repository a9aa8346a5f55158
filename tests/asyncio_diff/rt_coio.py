"""The program API (see rt_common.py) on coio, through ctypes over libcoio.so.

How asyncio maps onto coio:
  - a task is a step-driven task (coio_task_new) whose step drives the program's coroutine
    exactly as asyncio's Task.__step does: send(None) when the awaited future completed
    (its __await__ then reads the outcome: result or exception), throw(CancelledError(msg))
    when the step is told COIO_ECANCELLED (msg: coio_task_cancel_message), and a yielded coio
    future is registered with coio_step_await; a bare yield is COIO_STEP_YIELD.  The body's
    StopIteration is COIO_OK (the Python value stays on the Python side), a CancelledError
    is coio_task_set_cancelled(task, its message) + COIO_ECANCELLED, any other exception
    coio_future_set_error(task, code, message) + COIO_EFAILED;
  - every future the program sees wraps a coio future; awaiting a done one does not yield;
  - combinators, timeout scopes, task groups, primitives and queues are the coio ones;
  - the loop runs in COIO_LOOP_VIRTUAL_TIME.
"""
import asyncio
import ctypes as C

from rt_common import Boom, GroupError, Runtime

OK, EINVAL, ENOMEM, ESTATE, ECANCELLED, EFAILED, ETIMEDOUT = 0, -1, -2, -3, -4, -5, -6
EFULL, EEMPTY, ESHUTDOWN, EBROKEN = -13, -14, -15, -16
STEP_YIELD, STEP_AWAIT = 1, 2
BOOM_CODE = 1000
VIRTUAL_TIME = 0x2

vp = C.c_void_p
STEP_FN = C.CFUNCTYPE(C.c_int, vp, vp, C.c_int, vp)
CALLBACK = C.CFUNCTYPE(None, vp)
DONE_FN = C.CFUNCTYPE(None, vp, vp)
EXC_HANDLER = C.CFUNCTYPE(None, vp, vp, vp)
STEP_HOOK = C.CFUNCTYPE(None, vp, vp, C.c_char_p, vp)


class Observer(C.Structure):  # coio_observer; only task_step_begin is used
    _fields_ = [("size", C.c_uint32), ("pass_begin", vp), ("pass_end", vp),
                ("callback_run", vp), ("task_created", vp), ("task_step_begin", STEP_HOOK),
                ("task_step_end", vp), ("task_done", vp), ("task_data_drop", vp)]


class LoopOptions(C.Structure):
    _fields_ = [("size", C.c_uint32), ("flags", C.c_uint32), ("backend", C.c_uint32),
                ("slow", C.c_double)]


class TaskOptions(C.Structure):
    _fields_ = [("size", C.c_uint32), ("flags", C.c_uint32), ("name", C.c_char_p),
                ("stack_size", C.c_size_t), ("drop", vp)]


class WaitResult(C.Structure):
    _fields_ = [("ndone", C.c_size_t), ("done", C.POINTER(vp)), ("npending", C.c_size_t),
                ("pending", C.POINTER(vp))]


_lib = None


def load(path):
    global _lib
    lib = C.CDLL(path)
    I, D, P, S, U = C.c_int, C.c_double, vp, C.c_char_p, C.c_uint
    PP = C.POINTER(vp)
    sigs = {
        "coio_loop_new": (I, [PP, C.POINTER(LoopOptions)]),
        "coio_loop_close": (I, [P]),
        "coio_loop_release": (I, [P]),
        "coio_loop_run_until_complete": (I, [P, P]),
        "coio_loop_time": (D, [P]),
        "coio_loop_set_exception_handler": (I, [P, EXC_HANDLER, P, P]),
        "coio_loop_add_observer": (I, [P, C.POINTER(Observer), P, P]),
        "coio_call_soon": (I, [P, CALLBACK, P, P, P]),
        "coio_call_later": (I, [P, D, CALLBACK, P, P, P]),
        "coio_loop_stop": (I, [P]),
        "coio_future_new": (I, [P, PP]),
        "coio_future_release": (None, [P]),
        "coio_future_done": (I, [P]),
        "coio_future_cancelled": (I, [P]),
        "coio_future_set_result": (I, [P, P, P]),
        "coio_future_set_error": (I, [P, I, S]),
        "coio_future_cancel": (I, [P, S]),
        "coio_future_result": (I, [P, PP]),
        "coio_future_error": (I, [P, C.POINTER(I), C.POINTER(S)]),
        "coio_future_add_done_callback": (I, [P, DONE_FN, P, P]),
        "coio_future_remove_done_callback": (I, [P, DONE_FN, P]),
        "coio_task_new": (I, [P, STEP_FN, P, P, C.POINTER(TaskOptions), PP]),
        "coio_step_await": (I, [P, P]),
        "coio_current_task": (P, [P]),
        "coio_task_cancelling": (I, [P]),
        "coio_task_uncancel": (I, [P]),
        "coio_task_name": (S, [P]),
        "coio_loop_all_tasks": (C.c_long, [P, PP, C.c_size_t]),
        "coio_sleep": (I, [P, D, PP]),
        "coio_gather": (I, [P, PP, C.c_size_t, U, PP]),
        "coio_wait": (I, [P, PP, C.c_size_t, D, I, PP]),
        "coio_as_completed": (I, [P, PP, C.c_size_t, D, PP]),
        "coio_as_completed_next": (I, [P, PP]),
        "coio_as_completed_free": (None, [P]),
        "coio_wait_for": (I, [P, D, PP]),
        "coio_shield": (I, [P, PP]),
        "coio_timeout_enter": (I, [P, D, PP]),
        "coio_timeout_exit": (I, [P, I]),
        "coio_timeout_expired": (I, [P]),
        "coio_task_group_new": (I, [P, PP]),
        "coio_task_group_task_new": (I, [P, STEP_FN, P, P, C.POINTER(TaskOptions), PP]),
        "coio_task_group_exit": (I, [P, I, PP]),
        "coio_task_group_free": (None, [P]),
        "coio_event_new": (I, [P, PP]),
        "coio_event_free": (None, [P]),
        "coio_event_set": (I, [P]),
        "coio_event_clear": (I, [P]),
        "coio_event_is_set": (I, [P]),
        "coio_event_wait": (I, [P, PP]),
        "coio_lock_new": (I, [P, PP]),
        "coio_lock_free": (None, [P]),
        "coio_lock_acquire": (I, [P, PP]),
        "coio_lock_release": (I, [P]),
        "coio_lock_locked": (I, [P]),
        "coio_semaphore_new": (I, [P, U, U, PP]),
        "coio_semaphore_free": (None, [P]),
        "coio_semaphore_acquire": (I, [P, PP]),
        "coio_semaphore_release": (I, [P]),
        "coio_semaphore_locked": (I, [P]),
        "coio_condition_new": (I, [P, P, PP]),
        "coio_condition_free": (None, [P]),
        "coio_condition_lock": (P, [P]),
        "coio_condition_wait": (I, [P, PP]),
        "coio_condition_notify": (I, [P, C.c_size_t]),
        "coio_condition_notify_all": (I, [P]),
        "coio_barrier_new": (I, [P, U, PP]),
        "coio_barrier_free": (None, [P]),
        "coio_barrier_wait": (I, [P, PP]),
        "coio_barrier_reset": (I, [P]),
        "coio_barrier_abort": (I, [P]),
        "coio_barrier_n_waiting": (C.c_long, [P]),
        "coio_barrier_broken": (I, [P]),
        "coio_queue_new": (I, [P, I, C.c_size_t, PP]),
        "coio_queue_free": (None, [P]),
        "coio_queue_put": (I, [P, P, P, PP]),
        "coio_queue_put_priority": (I, [P, D, P, P, PP]),
        "coio_queue_put_nowait": (I, [P, P, P]),
        "coio_queue_put_priority_nowait": (I, [P, D, P, P]),
        "coio_queue_get": (I, [P, PP]),
        "coio_queue_get_nowait": (I, [P, PP, PP]),
        "coio_queue_task_done": (I, [P]),
        "coio_queue_join": (I, [P, PP]),
        "coio_queue_shutdown": (I, [P, I]),
        "coio_queue_size": (C.c_long, [P]),
        # the cancel-message API (issue 12)
        "coio_task_cancel_message": (I, [P, C.POINTER(S)]),
        "coio_task_set_cancelled": (I, [P, S]),
    }
    for name, (res, args) in sigs.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            continue
        fn.restype = res
        fn.argtypes = args
    _lib = lib
    return lib


def _enc(s):
    return None if s is None else s.encode()


def _dec(b):
    return None if b is None else b.decode()


def _timeout(t):
    return -1.0 if t is None else float(t)


class InternalError(Exception):
    pass


def _check(rc, what):
    if rc != OK:
        raise InternalError("%s: status %d" % (what, rc))


class CFut:
    """A coio future (one reference of ours, released when the runtime closes)."""

    def __init__(self, rt, ptr, conv=None):
        self.rt = rt
        self.ptr = ptr
        self.conv = conv  # the Python value of a result
        self.pyvalue = None
        rt.own(self)

    def __await__(self):
        if not self.done():
            yield self
        return self.result()

    __iter__ = __await__

    def done(self):
        return bool(_lib.coio_future_done(self.ptr))

    def cancelled(self):
        return bool(_lib.coio_future_cancelled(self.ptr))

    def cancel(self, msg=None):
        rc = _lib.coio_future_cancel(self.ptr, _enc(msg))
        if rc < 0:
            raise InternalError("cancel: %d" % rc)
        return rc == 1

    def error(self):
        code = C.c_int()
        msg = C.c_char_p()
        _lib.coio_future_error(self.ptr, C.byref(code), C.byref(msg))
        return code.value, _dec(msg.value)

    def make_exception(self, rc):
        code, msg = self.error()
        if rc == ECANCELLED:
            return asyncio.CancelledError(msg) if msg is not None else asyncio.CancelledError()
        return self.rt.exception_of(code, msg)

    def result(self):
        v = vp()
        rc = _lib.coio_future_result(self.ptr, C.byref(v))
        if rc == ESTATE:
            raise asyncio.InvalidStateError("Result is not set.")
        if rc != OK:
            raise self.make_exception(rc)
        return self.conv(v.value) if self.conv else self.pyvalue

    def exception(self):
        try:
            self.result()
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # noqa: BLE001
            return e
        return None

    def set_result(self, value):
        self.pyvalue = value
        rc = _lib.coio_future_set_result(self.ptr, None, None)
        if rc == ESTATE:
            raise asyncio.InvalidStateError("invalid state")
        _check(rc, "set_result")

    def set_exception(self, exc):
        code, msg = self.rt.code_of(exc)
        rc = _lib.coio_future_set_error(self.ptr, code, _enc(msg))
        if rc == ESTATE:
            raise asyncio.InvalidStateError("invalid state")
        _check(rc, "set_error")

    def add_done_callback(self, fn):  # not used by programs (see Runtime.add_done_callback)
        raise NotImplementedError


class CTask(CFut):
    def __init__(self, rt, ptr, coro):
        super().__init__(rt, ptr)
        self.coro = coro

    def get_name(self):
        return _dec(_lib.coio_task_name(self.ptr))

    def cancelling(self):
        return _lib.coio_task_cancelling(self.ptr)

    def uncancel(self):
        return _lib.coio_task_uncancel(self.ptr)


class _Group:
    def __init__(self, rt):
        self._rt = rt
        self._g = None

    async def __aenter__(self):
        g = vp()
        _check(_lib.coio_task_group_new(self._rt.loop, C.byref(g)), "task_group_new")
        self._g = g.value
        return self

    def spawn(self, fn, *args, name=None):
        return self._rt._new_task(fn, args, name, group=self._g)

    async def __aexit__(self, et, exc, tb):
        rt = self._rt
        status = rt.status_of(exc)
        if status == ECANCELLED:  # the body's CancelledError, with its message
            _check(_lib.coio_task_set_cancelled(_lib.coio_current_task(rt.loop),
                                                _enc(exc.args[0] if exc.args else None)),
                   "task_set_cancelled")
        out = vp()
        rc = _lib.coio_task_group_exit(self._g, status, C.byref(out))
        _check(rc, "task_group_exit")
        f = CFut(rt, out.value)
        rt.exit_tasks.add(out.value)
        try:
            await f
        finally:
            rt.exit_tasks.discard(out.value)
            _lib.coio_task_group_free(self._g)
        return False


class _Timeout:
    def __init__(self, rt, delay):
        self._rt = rt
        self._delay = delay
        self._tm = None
        self._expired = False

    async def __aenter__(self):
        tm = vp()
        _check(_lib.coio_timeout_enter(self._rt.loop, _timeout(self._delay), C.byref(tm)),
               "timeout_enter")
        self._tm = tm.value
        return self

    def expired(self):
        if self._tm is not None:
            return bool(_lib.coio_timeout_expired(self._tm))
        return self._expired

    async def __aexit__(self, et, exc, tb):
        status = self._rt.status_of(exc)
        self._expired = bool(_lib.coio_timeout_expired(self._tm))
        rc = _lib.coio_timeout_exit(self._tm, status)
        self._tm = None
        if rc == ETIMEDOUT and status != ETIMEDOUT:
            raise TimeoutError from exc
        return False


class _AsCompleted:
    def __init__(self, rt, fs, timeout):
        self._rt = rt
        arr = (vp * len(fs))(*[f.ptr for f in fs])
        it = vp()
        _check(_lib.coio_as_completed(rt.loop, arr, len(fs), _timeout(timeout), C.byref(it)),
               "as_completed")
        self._it = it.value
        rt.iters.append(self._it)

    def __aiter__(self):
        return self

    async def __anext__(self):
        nf = vp()
        rc = _lib.coio_as_completed_next(self._it, C.byref(nf))
        if rc == ESTATE:
            raise StopAsyncIteration
        _check(rc, "as_completed_next")
        rt = self._rt
        return await CFut(rt, nf.value, conv=lambda p: rt.by_ptr[p])


class _Prim:
    def __init__(self, rt, ptr, free):
        self.rt, self.ptr = rt, ptr
        rt.prims.append((free, ptr))

    def _fut(self, fn, conv=None):
        out = vp()
        rc = fn(self.ptr, C.byref(out))
        if rc == ESHUTDOWN:
            raise asyncio.QueueShutDown
        _check(rc, fn.__name__)
        f = CFut(self.rt, out.value, conv=conv)
        return f


class _Event(_Prim):
    def set(self):
        _lib.coio_event_set(self.ptr)

    def clear(self):
        _lib.coio_event_clear(self.ptr)

    def is_set(self):
        return bool(_lib.coio_event_is_set(self.ptr))

    def wait(self):
        return self._fut(_lib.coio_event_wait, lambda p: True)


class _Lock(_Prim):
    def acquire(self):
        return self._fut(_lib.coio_lock_acquire, lambda p: True)

    def release(self):
        if _lib.coio_lock_release(self.ptr) == ESTATE:
            raise RuntimeError("Lock is not acquired.")

    def locked(self):
        return bool(_lib.coio_lock_locked(self.ptr))


class _Semaphore(_Prim):
    def acquire(self):
        return self._fut(_lib.coio_semaphore_acquire, lambda p: True)

    def release(self):
        if _lib.coio_semaphore_release(self.ptr) == ESTATE:
            raise ValueError("BoundedSemaphore released too many times")

    def locked(self):
        return bool(_lib.coio_semaphore_locked(self.ptr))


class _Condition(_Prim):
    def acquire(self):
        return _Lock(self.rt, _lib.coio_condition_lock(self.ptr), lambda p: None).acquire()

    def release(self):
        if _lib.coio_lock_release(_lib.coio_condition_lock(self.ptr)) == ESTATE:
            raise RuntimeError("Lock is not acquired.")

    def locked(self):
        return bool(_lib.coio_lock_locked(_lib.coio_condition_lock(self.ptr)))

    def wait(self):
        out = vp()
        rc = _lib.coio_condition_wait(self.ptr, C.byref(out))
        if rc == ESTATE:
            raise RuntimeError("cannot wait on un-acquired lock")
        _check(rc, "condition_wait")
        return CFut(self.rt, out.value, conv=lambda p: True)

    def notify(self, n=1):
        if _lib.coio_condition_notify(self.ptr, n) == ESTATE:
            raise RuntimeError("cannot notify on un-acquired lock")

    def notify_all(self):
        if _lib.coio_condition_notify_all(self.ptr) == ESTATE:
            raise RuntimeError("cannot notify on un-acquired lock")


class _Barrier(_Prim):
    def wait(self):
        return self._fut(_lib.coio_barrier_wait, lambda p: p or 0)

    async def reset(self):  # coroutines in asyncio
        _lib.coio_barrier_reset(self.ptr)

    async def abort(self):
        _lib.coio_barrier_abort(self.ptr)

    @property
    def n_waiting(self):
        return _lib.coio_barrier_n_waiting(self.ptr)

    @property
    def broken(self):
        return bool(_lib.coio_barrier_broken(self.ptr))


class _Queue(_Prim):
    kind = "fifo"

    def _item(self, item):
        key = self.rt.key_of(item)
        if self.kind == "priority":
            return float(item[0]), key
        return None, key

    def put(self, item):
        prio, key = self._item(item)
        out = vp()
        if prio is None:
            rc = _lib.coio_queue_put(self.ptr, key, None, C.byref(out))
        else:
            rc = _lib.coio_queue_put_priority(self.ptr, prio, key, None, C.byref(out))
        if rc == ESHUTDOWN:
            raise asyncio.QueueShutDown
        _check(rc, "queue_put")
        return CFut(self.rt, out.value, conv=lambda p: None)

    def put_nowait(self, item):
        prio, key = self._item(item)
        if prio is None:
            rc = _lib.coio_queue_put_nowait(self.ptr, key, None)
        else:
            rc = _lib.coio_queue_put_priority_nowait(self.ptr, prio, key, None)
        if rc == EFULL:
            raise asyncio.QueueFull
        if rc == ESHUTDOWN:
            raise asyncio.QueueShutDown
        _check(rc, "put_nowait")

    def get(self):
        return self._fut(_lib.coio_queue_get, lambda p: self.rt.items[p])

    def get_nowait(self):
        v, d = vp(), vp()
        rc = _lib.coio_queue_get_nowait(self.ptr, C.byref(v), C.byref(d))
        if rc == EEMPTY:
            raise asyncio.QueueEmpty
        if rc == ESHUTDOWN:
            raise asyncio.QueueShutDown
        _check(rc, "get_nowait")
        return self.rt.items[v.value]

    def task_done(self):
        if _lib.coio_queue_task_done(self.ptr) == ESTATE:
            raise ValueError("task_done() called too many times")

    def join(self):
        return self._fut(_lib.coio_queue_join, lambda p: None)

    def shutdown(self, immediate=False):
        _lib.coio_queue_shutdown(self.ptr, 1 if immediate else 0)

    def qsize(self):
        return _lib.coio_queue_size(self.ptr)


class CoioRuntime(Runtime):
    name = "coio"
    CancelledError = asyncio.CancelledError

    def __init__(self):
        super().__init__()
        self.by_ptr = {}
        self.owned = []
        self.tasks = {}
        self.items = {}
        self._item_keys = {}
        self.prims = []
        self.iters = []
        self._cfuncs = {}
        self._argkeys = {}
        self.errors = []  # internal errors inside callbacks (ctypes would swallow them)
        opt = LoopOptions(C.sizeof(LoopOptions), VIRTUAL_TIME, 0, 0.1)
        loop = vp()
        _check(_lib.coio_loop_new(C.byref(loop), C.byref(opt)), "loop_new")
        self.loop = loop.value
        self._exc_handler = EXC_HANDLER(lambda l, ctx, a: None)
        _lib.coio_loop_set_exception_handler(self.loop, self._exc_handler, None, None)
        # The pass ticker must see every step asyncio's program takes.  asyncio runs a task
        # group's __aexit__ in the parent's own steps (its coroutine, so the ticker's probe
        # sees them); coio runs it as an internal step-driven exit task, whose steps after the
        # first (which runs inside the parent's step, in coio_task_group_exit) are C steps
        # the Python step function never sees.  They are the parent's steps in asyncio, so
        # they count as activity: an observer reports them.
        self.exit_tasks = set()
        self._step_hook = STEP_HOOK(self._step_begin)
        self._observer = Observer(C.sizeof(Observer), None, None, None, None,
                                  self._step_hook, None, None, None)
        _check(_lib.coio_loop_add_observer(self.loop, C.byref(self._observer), None, None),
               "add_observer")
        self._step = STEP_FN(self._step_fn)
        self._soon = CALLBACK(self._soon_fn)
        self._soon_fns = {}
        self._nkey = 0

    def _step_begin(self, arg, task, name, data):
        if task in self.exit_tasks:
            self.activity()

    # ---- bookkeeping ----
    def own(self, f):
        self.owned.append(f)
        self.by_ptr[f.ptr] = f

    def key_of(self, item):
        self._nkey += 1
        self.items[self._nkey] = item
        return self._nkey

    # ---- loop ----
    def time(self):
        return _lib.coio_loop_time(self.loop)

    def _soon_fn(self, arg):
        try:
            self._soon_fns.pop(arg)()
        except BaseException as e:  # noqa: BLE001
            self.errors.append(repr(e))

    def call_soon(self, fn):
        self._nkey += 1
        self._soon_fns[self._nkey] = fn
        _check(_lib.coio_call_soon(self.loop, self._soon, self._nkey, None, None), "call_soon")

    def call_later(self, delay, fn):
        self._nkey += 1
        self._soon_fns[self._nkey] = fn
        _check(_lib.coio_call_later(self.loop, float(delay), self._soon, self._nkey, None, None),
               "call_later")

    def stop(self):
        _lib.coio_loop_stop(self.loop)

    def pending_task_objects(self):
        n = _lib.coio_loop_all_tasks(self.loop, None, 0)
        arr = (vp * max(n, 1))()
        _lib.coio_loop_all_tasks(self.loop, arr, n)
        ts = [self.by_ptr[arr[i]] for i in range(n)]
        for i in range(n):
            _lib.coio_future_release(arr[i])
        return sorted(ts, key=lambda t: t.get_name())

    def run(self, main):
        self.start_watchdog()
        t = self.spawn(main, name="main")
        _lib.coio_loop_run_until_complete(self.loop, t.ptr)
        return t

    def pending_tasks(self):
        n = _lib.coio_loop_all_tasks(self.loop, None, 0)
        arr = (vp * max(n, 1))()
        _lib.coio_loop_all_tasks(self.loop, arr, n)
        names = []
        for i in range(n):
            names.append(_dec(_lib.coio_task_name(arr[i])))
            _lib.coio_future_release(arr[i])
        return sorted(names)

    def close(self):
        self.closing = True
        # Suspended bodies are closed while every coio object still lives (their finally
        # blocks and __aexit__s call into coio; outside a step those calls just fail).
        for rec in list(self.tasks.values()):
            try:
                rec.coro.close()
            except BaseException:  # noqa: BLE001
                pass
        _lib.coio_loop_close(self.loop)
        for it in self.iters:
            _lib.coio_as_completed_free(it)
        for free, p in self.prims:
            free(p)
        for f in self.owned:
            _lib.coio_future_release(f.ptr)
        self.owned = []
        _lib.coio_loop_release(self.loop)

    # ---- tasks ----
    def _step_fn(self, task, awaited, status, arg):
        try:
            return self._step_body(task, awaited, status, arg)
        except BaseException as e:  # noqa: BLE001
            self.errors.append("step: %r" % (e,))
            return EFAILED

    def cancel_message(self, task, awaited):
        if hasattr(_lib, "coio_task_cancel_message"):
            msg = C.c_char_p()
            rc = _lib.coio_task_cancel_message(task, C.byref(msg))
            if rc == OK:
                return _dec(msg.value)
            return None
        if awaited and _lib.coio_future_cancelled(awaited):
            return self.by_ptr[awaited].error()[1] if awaited in self.by_ptr else None
        return None

    def _step_body(self, task, awaited, status, arg):
        rec = self.tasks[arg]
        self.activity()
        try:
            if status == ECANCELLED:
                msg = self.cancel_message(task, awaited)
                exc = asyncio.CancelledError(msg) if msg is not None else asyncio.CancelledError()
                y = rec.coro.throw(exc)
            else:
                y = rec.coro.send(None)
        except StopIteration as e:
            rec.pyvalue = e.value
            return OK
        except asyncio.CancelledError as e:
            if hasattr(_lib, "coio_task_set_cancelled"):
                _check(_lib.coio_task_set_cancelled(task, _enc(e.args[0] if e.args else None)),
                       "task_set_cancelled")
            return ECANCELLED
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, InternalError):
                raise
            code, msg = self.code_of(e)
            _check(_lib.coio_future_set_error(task, code, _enc(msg)), "set_error(self)")
            return EFAILED
        if y is None:
            return STEP_YIELD
        _check(_lib.coio_step_await(task, y.ptr), "step_await")
        return STEP_AWAIT

    def _new_task(self, fn, args, name, group=None):
        coro = fn(self, *args)
        self._nkey += 1
        key = self._nkey
        opts = TaskOptions(C.sizeof(TaskOptions), 0, _enc(name), 0, None)
        out = vp()
        if group is None:
            rc = _lib.coio_task_new(self.loop, self._step, key, None, C.byref(opts), C.byref(out))
        else:
            rc = _lib.coio_task_group_task_new(group, self._step, key, None, C.byref(opts),
                                               C.byref(out))
        if rc == ESTATE:
            coro.close()
            raise RuntimeError("TaskGroup is shutting down")
        _check(rc, "task_new")
        t = CTask(self, out.value, coro)
        self.tasks[key] = t
        return t

    def spawn(self, fn, *args, name=None):
        return self._new_task(fn, args, name)

    def future(self):
        out = vp()
        _check(_lib.coio_future_new(self.loop, C.byref(out)), "future_new")
        return CFut(self, out.value)

    def current_task(self):
        p = _lib.coio_current_task(self.loop)
        return self.by_ptr.get(p)

    def task_name(self, t):
        return t.get_name()

    def _done_cfunc(self, fn):
        cf = self._cfuncs.get(fn)
        if cf is None:
            def tramp(f, arg, fn=fn):
                try:
                    fn(self.by_ptr[f], self.items[arg])
                except BaseException as e:  # noqa: BLE001
                    self.errors.append("done callback: %r" % (e,))
            cf = self._cfuncs[fn] = DONE_FN(tramp)
        return cf

    def _arg_key(self, arg):
        k = self._argkeys.get(arg)
        if k is None:
            k = self._argkeys[arg] = self.key_of(arg)
        return k

    def add_done_callback(self, fut, fn, arg):
        _check(_lib.coio_future_add_done_callback(fut.ptr, self._done_cfunc(fn),
                                                  self._arg_key(arg), None), "add_done_callback")

    def remove_done_callback(self, fut, fn, arg):
        return _lib.coio_future_remove_done_callback(fut.ptr, self._done_cfunc(fn),
                                                     self._arg_key(arg))

    def sleep(self, delay):
        out = vp()
        _check(_lib.coio_sleep(self.loop, float(delay), C.byref(out)), "sleep")
        return CFut(self, out.value, conv=lambda p: None)

    # ---- errors ----
    def code_of(self, e):
        if isinstance(e, Boom):
            return BOOM_CODE, e.args[0]
        if isinstance(e, TimeoutError):
            return ETIMEDOUT, None
        if isinstance(e, GroupError):
            return EFAILED, e.args[0]
        if isinstance(e, asyncio.BrokenBarrierError):
            return EBROKEN, None
        if isinstance(e, asyncio.QueueShutDown):
            return ESHUTDOWN, None
        return 1001, "%s: %s" % (type(e).__name__, e)

    def exception_of(self, code, msg):
        if code == BOOM_CODE:
            return Boom(msg)
        if code == ETIMEDOUT:
            return TimeoutError()
        if code == EFAILED:
            return GroupError(msg)
        if code == EBROKEN:
            return asyncio.BrokenBarrierError()
        if code == ESHUTDOWN:
            return asyncio.QueueShutDown()
        return RuntimeError("code %d: %s" % (code, msg))

    def status_of(self, exc):
        if exc is None:
            return OK
        if isinstance(exc, asyncio.CancelledError):
            return ECANCELLED
        return EFAILED

    # ---- combinators ----
    def _arr(self, fs):
        return (vp * len(fs))(*[f.ptr for f in fs])

    def gather(self, *fs, return_exceptions=False):
        out = vp()
        _check(_lib.coio_gather(self.loop, self._arr(fs), len(fs), 1 if return_exceptions else 0,
                                C.byref(out)), "gather")

        def conv(p):
            res = []
            for f in fs:
                if return_exceptions and f.cancelled():
                    # asyncio's gather lists CancelledError('' or the message)
                    msg = f.error()[1]
                    res.append(asyncio.CancelledError('' if msg is None else msg))
                elif return_exceptions and f.exception() is not None:
                    res.append(f.exception())
                else:
                    res.append(f.result())
            return res
        return CFut(self, out.value, conv=conv)

    def wait(self, fs, timeout=None, return_when="ALL_COMPLETED"):
        rw = {"FIRST_COMPLETED": 1, "FIRST_EXCEPTION": 2, "ALL_COMPLETED": 3}[return_when]
        fs = list(dict.fromkeys(fs))
        out = vp()
        _check(_lib.coio_wait(self.loop, self._arr(fs), len(fs), _timeout(timeout), rw,
                              C.byref(out)), "wait")

        def conv(p):
            r = C.cast(p, C.POINTER(WaitResult)).contents
            done = {self.by_ptr[r.done[i]] for i in range(r.ndone)}
            pending = {self.by_ptr[r.pending[i]] for i in range(r.npending)}
            return done, pending
        return CFut(self, out.value, conv=conv)

    def as_completed(self, fs, timeout=None):
        return _AsCompleted(self, list(fs), timeout)

    def wait_for(self, fut, timeout):
        out = vp()
        _check(_lib.coio_wait_for(fut.ptr, _timeout(timeout), C.byref(out)), "wait_for")
        return CFut(self, out.value, conv=lambda p: fut.result())

    def shield(self, fut):
        out = vp()
        _check(_lib.coio_shield(fut.ptr, C.byref(out)), "shield")
        if out.value == fut.ptr:
            _lib.coio_future_release(out.value)
            return fut
        return CFut(self, out.value, conv=lambda p: fut.result())

    # ---- scopes ----
    def task_group(self):
        return _Group(self)

    def timeout(self, delay):
        return _Timeout(self, delay)

    # ---- primitives ----
    def _new(self, cls, ctor, free, *args):
        out = vp()
        _check(ctor(self.loop, *args, C.byref(out)), ctor.__name__)
        return cls(self, out.value, free)

    def event(self):
        return self._new(_Event, _lib.coio_event_new, _lib.coio_event_free)

    def lock(self):
        return self._new(_Lock, _lib.coio_lock_new, _lib.coio_lock_free)

    def semaphore(self, value, bounded=False):
        return self._new(_Semaphore, _lib.coio_semaphore_new, _lib.coio_semaphore_free, value,
                         1 if bounded else 0)

    def condition(self, lock=None):
        return self._new(_Condition, _lib.coio_condition_new, _lib.coio_condition_free,
                         lock.ptr if lock is not None else None)

    def barrier(self, parties):
        return self._new(_Barrier, _lib.coio_barrier_new, _lib.coio_barrier_free, parties)

    def queue(self, maxsize=0, kind="fifo"):
        k = {"fifo": 0, "lifo": 1, "priority": 2}[kind]
        q = self._new(_Queue, _lib.coio_queue_new, _lib.coio_queue_free, k, maxsize)
        q.kind = kind
        return q
