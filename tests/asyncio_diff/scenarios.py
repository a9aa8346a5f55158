"""The hand-written corpus: every combinator, primitive, task group, timeout scope and
cancellation path, plus one scenario per difference issue 12 found (names start `i12_`).

Each scenario is the source of a program (see rt_common.py): `async def main(rt)`.
`ticker` (prepended to every scenario) is a task that logs every pass for a while, so traces
show in which pass things happen relative to it.
"""

PRELUDE = '''
async def ticker(rt, n):
    for i in range(n):
        rt.log("tick", i)
        await rt.sleep(0)

async def sleeper(rt, d, v):
    await rt.sleep(d)
    rt.log("sleeper done", v)
    return v

async def failer(rt, d, msg):
    await rt.sleep(d)
    rt.log("failer raises", msg)
    raise Boom(msg)

async def setter(rt, fut, v, n):
    for i in range(n):
        await rt.sleep(0)
    rt.log("set", v)
    fut.set_result(v)

async def awaiter(rt, f, label):
    try:
        v = await f
        rt.log(label, "got", rt.plain(v))
        return v
    except BaseException as e:
        rt.log(label, "raised", rt.exc_name(e))
        raise
'''

SCENARIOS = []
DOCUMENTED = {}


def scenario(name, body, documented=None):
    SCENARIOS.append((name, PRELUDE + body))
    if documented:
        DOCUMENTED[name] = documented


# ---- issue 12's five differences -------------------------------------------------------

scenario("i12_gather_all_done", '''
async def main(rt):
    a = rt.future(); a.set_result(1)
    b = rt.future(); b.set_result(2)
    g = rt.gather(a, b)
    rt.log("gather done inside the call:", g.done())
    rt.log("result", rt.outcome(g))
    c = rt.future(); c.set_exception(Boom("c"))
    d = rt.future()
    g2 = rt.gather(d, c)
    rt.log("failed child done at the call ends it:", g2.done(), rt.outcome(g2))
    d.set_result(0)
    t = rt.spawn(ticker, 3, name="ticker")
    g3 = rt.gather(a, b)
    rt.log("awaited", rt.plain(await g3))
    await t
''')

scenario("i12_wait_for_result_pass", '''
async def main(rt):
    t = rt.spawn(ticker, 8, name="ticker")
    f = rt.future()
    s = rt.spawn(setter, f, "v", 2, name="setter")
    v = await rt.wait_for(f, 10)
    rt.log("wait_for result", v)
    inner = rt.spawn(sleeper, 0, "inner", name="inner")
    v = await rt.wait_for(inner, 10)
    rt.log("wait_for task result", v)
    await t
''')

scenario("i12_wait_for_timeout_pass", '''
async def main(rt):
    f = rt.future()
    t = rt.spawn(ticker, 4, name="ticker")
    try:
        await rt.wait_for(f, 0.5)
    except TimeoutError:
        rt.log("timed out; f", rt.outcome(f))
    t2 = rt.spawn(ticker, 6, name="ticker2")
    inner = rt.spawn(sleeper, 5, "never", name="inner")
    try:
        await rt.wait_for(inner, 0.25)
    except TimeoutError:
        rt.log("timed out; inner", rt.outcome(inner))
    await t2
''')

scenario("i12_wait_split_at_resume", '''
async def helper(rt, a, b):
    a.set_result("a")
    rt.log("a set")
    await rt.sleep(0)
    b.set_result("b")
    rt.log("b set")

async def main(rt):
    a = rt.name_future(rt.future(), "a")
    b = rt.name_future(rt.future(), "b")
    h = rt.spawn(helper, a, b, name="helper")
    done, pending = await rt.wait([a, b], return_when="FIRST_COMPLETED")
    rt.log("done", rt.plain(done), "pending", rt.plain(pending))
''')

scenario("i12_taskgroup_exit_wait_pass", '''
async def main(rt):
    t = rt.spawn(ticker, 10, name="ticker")
    async with rt.task_group() as tg:
        tg.spawn(sleeper, 0, "c1", name="c1")
        c2 = tg.spawn(ticker, 2, name="c2")
        rt.log("body ends")
    rt.log("exit done")
    await t
''')

scenario("i12_cancel_msg_after_yield", '''
async def victim(rt):
    try:
        await rt.sleep(0)
        await rt.sleep(0)
    except rt.CancelledError as e:
        rt.log("victim sees", rt.exc_name(e))
        raise

async def main(rt):
    v = rt.spawn(victim, name="victim")
    await rt.sleep(0)
    rt.log("cancel ->", v.cancel("stop now"))
    try:
        await v
    except rt.CancelledError as e:
        rt.log("main sees", rt.exc_name(e))
    rt.log("victim", rt.outcome(v))
''')

scenario("i12_cancel_msg_awaited_done_first", '''
async def victim(rt, f):
    try:
        v = await f
        rt.log("victim got", v)
        await rt.sleep(1)
    except rt.CancelledError as e:
        rt.log("victim sees", rt.exc_name(e))
        raise

async def main(rt):
    f = rt.future()
    v = rt.spawn(victim, f, name="victim")
    await rt.sleep(0)
    f.set_result(1)
    rt.log("cancel ->", v.cancel("too late"))
    try:
        await v
    except rt.CancelledError as e:
        rt.log("main sees", rt.exc_name(e))
''')

scenario("i12_cancel_msg_raise_own", '''
async def victim(rt):
    try:
        await rt.sleep(1)
    except rt.CancelledError as e:
        rt.log("victim sees", rt.exc_name(e))
        raise rt.CancelledError("my own")

async def bare(rt):
    try:
        await rt.sleep(1)
    except rt.CancelledError:
        raise rt.CancelledError()

async def main(rt):
    v = rt.spawn(victim, name="victim")
    b = rt.spawn(bare, name="bare")
    await rt.sleep(0)
    v.cancel("theirs")
    b.cancel("theirs too")
    for t in (v, b):
        try:
            await t
        except rt.CancelledError as e:
            rt.log("main sees", rt.exc_name(e))
        rt.log("outcome", rt.outcome(t))
''')

scenario("i12_cancel_msg_not_stale", '''
async def victim(rt, f):
    try:
        await rt.sleep(0)
        await rt.sleep(0)
    except rt.CancelledError as e:
        rt.log("victim swallows", rt.exc_name(e), rt.current_task().uncancel())
    try:
        await f
    except rt.CancelledError as e:
        rt.log("victim sees", rt.exc_name(e))
        raise

async def main(rt):
    f = rt.future()
    v = rt.spawn(victim, f, name="victim")
    await rt.sleep(0)
    v.cancel("first")
    await rt.sleep(0)
    await rt.sleep(0)
    v.cancel("second")
    try:
        await v
    except rt.CancelledError as e:
        rt.log("main sees", rt.exc_name(e))
    rt.log("victim", rt.outcome(v))
''')

scenario("i12_cancel_msg_taskgroup_exit", '''
async def parent(rt):
    try:
        async with rt.task_group() as tg:
            tg.spawn(sleeper, 5, "c1", name="c1")
            rt.log("body ends")
    except rt.CancelledError as e:
        rt.log("parent sees", rt.exc_name(e))
        raise

async def main(rt):
    p = rt.spawn(parent, name="parent")
    await rt.sleep(1)
    p.cancel("shut down")
    try:
        await p
    except rt.CancelledError as e:
        rt.log("main sees", rt.exc_name(e))
''')

# ---- gather ------------------------------------------------------------------------------

scenario("gather_basic", '''
async def main(rt):
    ts = [rt.spawn(sleeper, d, "v%d" % i, name="s%d" % i) for i, d in enumerate([3, 1, 2])]
    rt.log("gather", rt.plain(await rt.gather(*ts)))
''')

scenario("gather_failure_and_return_exceptions", '''
async def main(rt):
    a = rt.spawn(sleeper, 2, "a", name="a")
    b = rt.spawn(failer, 1, "b", name="b")
    try:
        await rt.gather(a, b)
    except Boom as e:
        rt.log("gather raised", rt.exc_name(e), "a", rt.outcome(a))
    c = rt.spawn(failer, 1, "c", name="c")
    d = rt.spawn(sleeper, 1, "d", name="d")
    e = rt.spawn(sleeper, 5, "e", name="e")
    e2 = rt.spawn(sleeper, 0.5, "e2", name="e2")
    await rt.sleep(0)
    e.cancel("bye")
    rt.log("gather rx", rt.plain(await rt.gather(c, d, e, e2, return_exceptions=True)))
    await a
''')

scenario("gather_cancel_outer", '''
async def main(rt):
    a = rt.spawn(sleeper, 2, "a", name="a")
    b = rt.spawn(sleeper, 3, "b", name="b")
    g = rt.gather(a, b)
    w = rt.spawn(awaiter, g, "w", name="w")
    await rt.sleep(1)
    rt.log("cancel gather ->", g.cancel("msg-g"))
    await rt.sleep(0)
    rt.log("a", rt.outcome(a), "b", rt.outcome(b))
    try:
        await w
    except BaseException as e:
        rt.log("w", rt.exc_name(e))
    rt.log("g", rt.outcome(g))
''')

scenario("gather_child_cancelled", '''
async def main(rt):
    a = rt.spawn(sleeper, 2, "a", name="a")
    b = rt.spawn(sleeper, 3, "b", name="b")
    g = rt.gather(a, b)
    await rt.sleep(1)
    a.cancel("child-msg")
    try:
        await g
    except rt.CancelledError as e:
        rt.log("gather", rt.exc_name(e))
    await b
''')

scenario("gather_duplicate_and_empty", '''
async def main(rt):
    a = rt.spawn(sleeper, 1, "a", name="a")
    rt.log("dup", rt.plain(await rt.gather(a, a)))
    g = rt.gather()
    rt.log("empty", g.done(), rt.plain(await g))
''')

# ---- wait / as_completed -------------------------------------------------------------------

scenario("wait_modes", '''
async def main(rt):
    a = rt.spawn(sleeper, 1, "a", name="a")
    b = rt.spawn(failer, 2, "b", name="b")
    c = rt.spawn(sleeper, 3, "c", name="c")
    done, pending = await rt.wait([a, b, c], return_when="FIRST_COMPLETED")
    rt.log("first", rt.plain(done), rt.plain(pending))
    done, pending = await rt.wait([a, b, c], return_when="FIRST_EXCEPTION")
    rt.log("exc", rt.plain(done), rt.plain(pending))
    done, pending = await rt.wait([a, b, c], timeout=0.5)
    rt.log("timeout", rt.plain(done), rt.plain(pending))
    done, pending = await rt.wait([a, b, c])
    rt.log("all", rt.plain(done), rt.plain(pending))
''')

scenario("wait_cancelled_waiter", '''
async def waiter(rt, fs):
    try:
        await rt.wait(fs)
    except rt.CancelledError as e:
        rt.log("waiter", rt.exc_name(e))
        raise

async def main(rt):
    a = rt.spawn(sleeper, 2, "a", name="a")
    w = rt.spawn(waiter, [a], name="w")
    await rt.sleep(1)
    w.cancel("stop waiting")
    try:
        await w
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e), "a", rt.outcome(a))
    await a
''')

scenario("as_completed_order_and_timeout", '''
async def main(rt):
    ts = [rt.spawn(sleeper, d, "v%d" % d, name="s%d" % d) for d in (3, 1, 2)]
    async for f in rt.as_completed(ts):
        rt.log("next", rt.fname(f), rt.outcome(f))
    ts = [rt.spawn(sleeper, d, "w%d" % d, name="w%d" % d) for d in (1, 5)]
    try:
        async for f in rt.as_completed(ts, timeout=2):
            rt.log("next", rt.fname(f))
    except TimeoutError:
        rt.log("as_completed timed out")
    ts[1].cancel()
''')

# ---- wait_for / shield ---------------------------------------------------------------------

scenario("wait_for_zero_and_done", '''
async def main(rt):
    f = rt.future(); f.set_result(5)
    rt.log("done", await rt.wait_for(f, 0))
    g = rt.future()
    t = rt.spawn(ticker, 4, name="ticker")
    try:
        await rt.wait_for(g, 0)
    except TimeoutError:
        rt.log("zero timed out", rt.outcome(g))
    await t
''')

scenario("wait_for_cancelled_caller", '''
async def caller(rt, f):
    try:
        await rt.wait_for(f, 10)
    except rt.CancelledError as e:
        rt.log("caller", rt.exc_name(e), "inner", rt.outcome(f))
        raise

async def main(rt):
    f = rt.future()
    c = rt.spawn(caller, f, name="caller")
    await rt.sleep(1)
    c.cancel("abort")
    try:
        await c
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e))
''')

scenario("wait_for_inner_swallows", '''
async def stubborn(rt):
    try:
        await rt.sleep(5)
    except rt.CancelledError:
        rt.log("stubborn swallows")
        return "kept"

async def main(rt):
    t = rt.spawn(stubborn, name="stubborn")
    r = await rt.wait_for(t, 1)
    rt.log("wait_for gave", r)
''')

scenario("shield_basic", '''
async def main(rt):
    inner = rt.spawn(sleeper, 2, "inner", name="inner")
    s = rt.shield(inner)
    w = rt.spawn(awaiter, s, "w", name="w")
    await rt.sleep(1)
    w.cancel("not inner")
    try:
        await w
    except rt.CancelledError:
        pass
    rt.log("inner", rt.outcome(inner), "shield", rt.outcome(s))
    rt.log("inner result", await inner)
    rt.log("done shield is inner", rt.shield(inner) is inner)
''')

# ---- primitives --------------------------------------------------------------------------

scenario("event_waiters", '''
async def main(rt):
    e = rt.event()
    ws = [rt.spawn(awaiter, e.wait(), "w%d" % i, name="w%d" % i) for i in range(3)]
    await rt.sleep(1)
    rt.log("set")
    e.set()
    await rt.gather(*ws)
    rt.log("is_set", e.is_set())
    await e.wait()
    rt.log("wait on a set event: no pass")
''')

scenario("lock_fifo_and_cancel", '''
async def user(rt, lk, i, d):
    await lk.acquire()
    rt.log("user", i, "holds")
    try:
        await rt.sleep(d)
    finally:
        lk.release()
        rt.log("user", i, "releases")

async def main(rt):
    lk = rt.lock()
    us = [rt.spawn(user, lk, i, 1, name="u%d" % i) for i in range(4)]
    await rt.sleep(0.5)
    us[2].cancel()
    await rt.gather(*us, return_exceptions=True)
    rt.log("outcomes", [rt.outcome(u) for u in us])
''')

scenario("lock_handoff_locked", '''
async def user(rt, lk):
    await lk.acquire()
    rt.log("user holds")
    lk.release()

async def main(rt):
    lk = rt.lock()
    await lk.acquire()
    u = rt.spawn(user, lk, name="user")
    await rt.sleep(0)
    lk.release()
    rt.log("locked right after release to a waiter:", lk.locked())
    await u
''', documented="Lock direct hand-off: coio's release() gives the lock to the first waiter "
                "(it stays locked); asyncio unlocks and lets the waiter take it when it runs")

scenario("semaphore_bounded", '''
async def user(rt, s, i):
    await s.acquire()
    rt.log("user", i, "in")
    await rt.sleep(1)
    s.release()

async def main(rt):
    s = rt.semaphore(2, bounded=True)
    us = [rt.spawn(user, s, i, name="u%d" % i) for i in range(5)]
    await rt.gather(*us)
    try:
        s.release()
    except ValueError:
        rt.log("bounded release refused")
''')

scenario("condition_notify", '''
async def waiter(rt, c, i):
    await c.acquire()
    rt.log("waiter", i, "waits")
    await c.wait()
    rt.log("waiter", i, "woken")
    c.release()

async def main(rt):
    c = rt.condition()
    ws = [rt.spawn(waiter, c, i, name="w%d" % i) for i in range(3)]
    await rt.sleep(1)
    await c.acquire()
    c.notify(1)
    c.release()
    await rt.sleep(1)
    await c.acquire()
    c.notify_all()
    c.release()
    await rt.gather(*ws)
''')

scenario("barrier_rounds_and_abort", '''
async def party(rt, b, i):
    try:
        idx = await b.wait()
        rt.log("party", i, "index", idx)
    except Exception as e:
        rt.log("party", i, rt.exc_name(e))

async def main(rt):
    b = rt.barrier(3)
    ps = [rt.spawn(party, b, i, name="p%d" % i) for i in range(3)]
    await rt.gather(*ps)
    ps = [rt.spawn(party, b, i, name="q%d" % i) for i in range(2)]
    await rt.sleep(1)
    rt.log("waiting", b.n_waiting)
    await b.abort()
    await rt.gather(*ps)
    rt.log("broken", b.broken)
''')

scenario("queue_producer_consumer", '''
async def producer(rt, q, n):
    for i in range(n):
        await q.put(i)
        rt.log("put", i)
    await q.join()
    rt.log("joined")

async def consumer(rt, q):
    while True:
        v = await q.get()
        rt.log("got", v)
        await rt.sleep(0.5)
        q.task_done()

async def main(rt):
    q = rt.queue(0)
    c = rt.spawn(consumer, q, name="consumer")
    await rt.spawn(producer, q, 5, name="producer")
    c.cancel()
    pq = rt.queue(0, "priority")
    for p in (3, 1, 2):
        pq.put_nowait((p, "p%d" % p))
    rt.log("priority", [pq.get_nowait() for _ in range(3)])
    lq = rt.queue(0, "lifo")
    for p in (3, 1, 2):
        lq.put_nowait(p)
    rt.log("lifo", [lq.get_nowait() for _ in range(3)])
''')

scenario("queue_bounded_handoff", '''
async def producer(rt, q, n):
    for i in range(n):
        await q.put(i)
        rt.log("put", i)

async def consumer(rt, q, n):
    for i in range(n):
        rt.log("got", await q.get())
        await rt.sleep(0.5)

async def main(rt):
    q = rt.queue(2)
    c = rt.spawn(consumer, q, 5, name="consumer")
    await rt.spawn(producer, q, 5, name="producer")
    await c
''', documented="Queue direct hand-off: a put while a get waits gives the item to that get, "
                "so it takes no room in a bounded queue; asyncio queues it until the getter runs")

scenario("queue_shutdown", '''
async def getter(rt, q):
    try:
        await q.get()
    except Exception as e:
        rt.log("getter", rt.exc_name(e))

async def main(rt):
    q = rt.queue(1)
    g = rt.spawn(getter, q, name="getter")
    await rt.sleep(0)
    q.shutdown()
    await g
    try:
        await q.put(1)
    except Exception as e:
        rt.log("put", rt.exc_name(e))
''')

scenario("queue_handoff_steal", '''
async def getter(rt, q):
    v = await q.get()
    rt.log("getter got", v)

async def main(rt):
    q = rt.queue()
    g = rt.spawn(getter, q, name="getter")
    await rt.sleep(0)
    q.put_nowait("x")
    try:
        rt.log("main get_nowait", q.get_nowait())
    except Exception as e:
        rt.log("main get_nowait", rt.exc_name(e))
    q.put_nowait("y")
    await g
''', documented="Queue direct hand-off: coio's put gives the item to the first waiting get; "
                "asyncio queues it and wakes the getter, so a get_nowait in between takes it")

scenario("done_callbacks_remove", '''
def cb(f, arg):
    pass

async def main(rt):
    f = rt.future()
    rt.add_done_callback(f, cb, 1)
    rt.add_done_callback(f, cb, 2)
    rt.log("removed", rt.remove_done_callback(f, cb, 1))
''', documented="remove_done_callback matches (fn, arg): C has no closures, so coio's "
                "registration is the pair; asyncio matches the callable alone")

# ---- task groups ---------------------------------------------------------------------------

scenario("taskgroup_child_fails", '''
async def main(rt):
    try:
        async with rt.task_group() as tg:
            a = tg.spawn(sleeper, 2, "a", name="a")
            b = tg.spawn(failer, 1, "b", name="b")
            await rt.sleep(5)
            rt.log("never")
    except Exception as e:
        rt.log("group", rt.exc_name(e), "a", rt.outcome(a))
''')

scenario("taskgroup_body_fails", '''
async def main(rt):
    try:
        async with rt.task_group() as tg:
            a = tg.spawn(sleeper, 2, "a", name="a")
            await rt.sleep(1)
            raise Boom("body")
    except Exception as e:
        rt.log("group", rt.exc_name(e), "a", rt.outcome(a))
''')

scenario("taskgroup_nothing_to_wait", '''
async def main(rt):
    t = rt.spawn(ticker, 3, name="ticker")
    async with rt.task_group() as tg:
        c = tg.spawn(sleeper, 0, "c", name="c")
        await c
    rt.log("exit without waiting")
    await t
''')

scenario("taskgroup_cancelled_parent", '''
async def parent(rt):
    async with rt.task_group() as tg:
        tg.spawn(sleeper, 5, "c", name="c")
        await rt.sleep(5)

async def main(rt):
    p = rt.spawn(parent, name="parent")
    await rt.sleep(1)
    p.cancel("from main")
    try:
        await p
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e))
''')

scenario("taskgroup_two_failures_then_cancel", '''
async def parent(rt):
    async with rt.task_group() as tg:
        tg.spawn(failer, 1, "x", name="x")
        tg.spawn(failer, 1, "y", name="y")
        tg.spawn(sleeper, 3, "z", name="z")

async def main(rt):
    p = rt.spawn(parent, name="parent")
    await rt.sleep(1)
    rt.log("cancel", p.cancel("late"), p.cancelling())
    try:
        await p
    except BaseException as e:
        rt.log("main", rt.exc_name(e))
''')

# ---- timeout scopes ------------------------------------------------------------------------

scenario("timeout_expires", '''
async def main(rt):
    t = rt.spawn(ticker, 4, name="ticker")
    try:
        async with rt.timeout(1) as cm:
            await rt.sleep(5)
    except TimeoutError:
        rt.log("timed out; expired", cm.expired())
    async with rt.timeout(5) as cm:
        await rt.sleep(1)
    rt.log("in time; expired", cm.expired())
    try:
        async with rt.timeout(0) as cm:
            await rt.sleep(1)
    except TimeoutError:
        rt.log("zero timed out")
    await t
''')

scenario("timeout_and_outer_cancel", '''
async def body(rt):
    try:
        async with rt.timeout(1):
            await rt.sleep(5)
    except TimeoutError:
        rt.log("body timeout")
    except rt.CancelledError as e:
        rt.log("body cancelled", rt.exc_name(e))
        raise

async def main(rt):
    b = rt.spawn(body, name="body")
    await rt.sleep(0.5)
    b.cancel("outer")
    try:
        await b
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e), b.cancelling())
''')

# ---- cancellation --------------------------------------------------------------------------

scenario("cancel_before_start", '''
async def main(rt):
    t = rt.spawn(sleeper, 1, "never", name="t")
    rt.log("cancel ->", t.cancel("early"), t.cancelling())
    try:
        await t
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e))
''')

scenario("cancel_uncancel_counts", '''
async def victim(rt):
    me = rt.current_task()
    for i in range(3):
        try:
            await rt.sleep(1)
        except rt.CancelledError as e:
            rt.log("victim", i, rt.exc_name(e), me.cancelling(), me.uncancel())
    return "survived"

async def main(rt):
    v = rt.spawn(victim, name="victim")
    for m in ("one", "two", None):
        await rt.sleep(0.5)
        rt.log("cancel", v.cancel(m), v.cancelling())
        await rt.sleep(1)
    rt.log("victim", rt.outcome(v))
''')

scenario("cancel_twice_one_delivery", '''
async def victim(rt):
    try:
        await rt.sleep(1)
    except rt.CancelledError as e:
        rt.log("victim", rt.exc_name(e), rt.current_task().cancelling())
        raise

async def main(rt):
    v = rt.spawn(victim, name="victim")
    await rt.sleep(0)
    v.cancel("a")
    v.cancel("b")
    try:
        await v
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e))
''')

scenario("cancel_returns_anyway", '''
async def victim(rt):
    await rt.sleep(0)
    return "r"

async def main(rt):
    v = rt.spawn(victim, name="victim")
    await rt.sleep(0)
    rt.log("cancel", v.cancel("right before end"))
    try:
        rt.log(await v)
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e))
''')

scenario("cancel_future_directly", '''
async def main(rt):
    f = rt.future()
    w = rt.spawn(awaiter, f, "w", name="w")
    await rt.sleep(0)
    f.cancel("fmsg")
    try:
        await w
    except rt.CancelledError as e:
        rt.log("main", rt.exc_name(e), rt.outcome(f))
''')

# A timeout scope expires while its task waits in a task group's exit, in a pass where a
# child also wakes (its sleep ends at the same time).  asyncio's parent runs __aexit__ in its
# own steps; coio's exit task is a C task whose steps the pass ticker must see too, else the
# ticker is armed later in the pass after the time jump and its counts drift by one
# (random programs 379, 491, 675, 728, 838, 888, 1187).
scenario("group_exit_in_expiring_scope", '''
async def leaf(rt, d, v):
    await rt.sleep(d)
    return v

async def main(rt):
    try:
        async with rt.timeout(1) as cm:
            async with rt.task_group() as tg:
                tg.spawn(leaf, 1.5, 'a', name='a')
                tg.spawn(leaf, 1, 'b', name='b')
                tg.spawn(leaf, 0, 'c', name='c')
            rt.log('group done')
        rt.log('scope expired', cm.expired())
    except TimeoutError:
        rt.log('scope timed out', cm.expired())
    await rt.sleep(0)
    rt.log('after')
''')

# A task cancelled before its first step never runs its body (asyncio throws the
# CancelledError into a coroutine that never started; coio does not call the step): no pass
# of program activity on either side, so the ticker stops at the same pass (random 636).
scenario("cancel_before_first_step_then_idle", '''
async def body(rt):
    rt.log("never runs")

async def main(rt):
    t = rt.spawn(body, name="t")
    rt.log("cancel", t.cancel("early"))
    await rt.sleep(1)
    rt.log("after", rt.outcome(t))
''')

# wait_for's timeout ends inner (a task) with a CancelledError; before the awaiting task
# resumes, it is cancelled again (with a message).  asyncio's task is woken with inner's
# CancelledError and keeps it (no message), and the timeout's __aexit__, with a cancellation
# still requested, lets it through instead of raising TimeoutError (random program 96).
scenario("wait_for_expired_then_cancelled_before_resume", '''
async def inner(rt):
    await rt.sleep(10)

async def waiter(rt):
    try:
        await rt.wait_for(rt.spawn(inner, name="inner"), 0.5)
        rt.log("waiter returned")
    except BaseException as e:
        rt.log("waiter", rt.exc_name(e), rt.current_task().cancelling())

async def canceller(rt, w):
    rt.log("cancel waiter", w.cancel("late"))

async def main(rt):
    w = rt.spawn(waiter, name="waiter")
    await rt.sleep(0.5)
    rt.spawn(canceller, w, name="canceller")
    await rt.sleep(1)
    rt.log("waiter", rt.outcome(w))
''')

# The same with timeout 0 (asyncio's _cancel_and_wait branch): the task waits for a waiter
# future, not inner, so the second cancel's message is the one delivered.
scenario("wait_for_zero_then_cancelled_before_resume", '''
async def waiter(rt, f):
    try:
        await rt.wait_for(f, 0)
        rt.log("waiter returned")
    except BaseException as e:
        rt.log("waiter", rt.exc_name(e), rt.current_task().cancelling())

async def canceller(rt, w):
    rt.log("cancel waiter", w.cancel("late"))

async def main(rt):
    f = rt.future()
    w = rt.spawn(waiter, f, name="waiter")
    await rt.sleep(0)
    rt.spawn(canceller, w, name="canceller")
    await rt.sleep(1)
    rt.log("waiter", rt.outcome(w))
''')

# A gather of the same task twice is cancelled with a message: the child is cancelled twice
# (the second cancel() only sets _must_cancel and its _cancel_message), swallows the
# cancellation and returns.  The gather ends cancelled with the last child's
# _make_cancelled_error(): the message of that second cancel() (random program 936).
scenario("gather_cancelled_child_swallows", '''
async def child(rt):
    try:
        await rt.sleep(1)
    except rt.CancelledError as e:
        rt.log("child", rt.exc_name(e), rt.current_task().uncancel())
    return "c"

async def parent(rt, c):
    try:
        rt.log("gather", await rt.gather(c, c))
    except rt.CancelledError as e:
        rt.log("parent", rt.exc_name(e))

async def main(rt):
    c = rt.spawn(child, name="child")
    p = rt.spawn(parent, c, name="parent")
    await rt.sleep(0)
    rt.log("cancel", p.cancel("m1"))
    await rt.sleep(0.5)
    rt.log("outcomes", rt.outcome(c), rt.outcome(p))
''')

# The last children of a task group end (one failed) while the parent waits in the exit; in
# the next pass, before the parent runs, another task cancels it with a message.  asyncio's
# parent runs __aexit__ itself: the late CancelledError lands in its `except CancelledError`
# while aborting, the group error wins, and the re-cancel ends the parent Cancelled(None).
# coio's exit task used to end inline in the last child's done callback, so the late cancel
# hit the parent instead (random program 778).
scenario("task_group_exit_cancelled_after_last_child_failed", '''
async def leaf(rt, what, d):
    await rt.sleep(d)
    if what == "fail":
        raise Boom("leaf")
    return what

async def parent(rt):
    try:
        async with rt.task_group() as tg:
            tg.spawn(leaf, "ok", 1, name="ok")
            tg.spawn(leaf, "fail", 1, name="fail")
        rt.log("group done")
    except rt.CancelledError as e:
        rt.log("cancelled", rt.exc_name(e), rt.current_task().cancelling())
        raise
    except Exception as e:
        rt.log("error", rt.exc_name(e), rt.current_task().cancelling())
    return "p"

async def canceller(rt, p):
    rt.log("cancel parent", p.cancel("m2"))

async def main(rt):
    p = rt.spawn(parent, name="parent")
    await rt.sleep(1)
    await rt.sleep(0)
    c = rt.spawn(canceller, p, name="canceller")
    await rt.wait([p, c], timeout=5)
    rt.log("outcomes", rt.outcome(p), rt.outcome(c))
''')

# A task awaiting wait_for(inner, 2) is cancelled at t=1; inner (a task) swallows that
# cancellation and goes on.  asyncio's timeout scope is still open around the await: at t=2
# it cancels the task again, which cancels inner again, and the CancelledError that ends
# inner stays one (a cancellation was requested besides the timeout's).  coio's wait_for
# used to disarm its timer at the first cancel (random programs 564, 608, 671).
scenario("wait_for_cancel_swallowed_timeout_still_armed", '''
async def inner(rt):
    try:
        await rt.sleep(5)
    except rt.CancelledError as e:
        rt.log("inner swallows", rt.exc_name(e), rt.current_task().uncancel())
    try:
        await rt.sleep(5)
    except rt.CancelledError as e:
        rt.log("inner cancelled again", rt.exc_name(e), rt.current_task().cancelling())
        raise
    return "inner"

async def outer(rt, i):
    try:
        rt.log("outer got", await rt.wait_for(i, 2))
    except rt.CancelledError as e:
        rt.log("outer cancelled", rt.exc_name(e), rt.current_task().cancelling())
        raise
    except Exception as e:
        rt.log("outer error", rt.exc_name(e))

async def main(rt):
    i = rt.spawn(inner, name="inner")
    o = rt.spawn(outer, i, name="outer")
    await rt.sleep(1)
    rt.log("cancel outer", o.cancel("m1"))
    await rt.wait([o, i], timeout=10)
    rt.log("outcomes", rt.outcome(o), rt.outcome(i))
''')
