// Combinators: asyncio.gather, wait, as_completed, wait_for and shield (CPython 3.13's
// Lib/asyncio/tasks.py), as futures with behaviour of their own (CustomFuture).
//
// Every combinator watches other futures through done callbacks that hold no reference to
// the combinator ("weak" registrations), while the combinator holds a reference to each
// future it watches.  So nothing forms a cycle: a combinator whose inputs never complete
// (plain futures nobody resolves, tasks still pending when the loop closes) is freed with its
// last reference, and its finalize ends every registration it still has.  A registration that
// can no longer be removed, because its future is done and the call is already queued, is
// neutralised in place instead (see unwatch): the queued call then runs a no-op.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "callback_names.hh"
#include "combinators.hh"
#include "future.hh"
#include "handle.hh"
#include "loop.hh"
#include "task.hh"

namespace coio::detail {

// ---- weak registrations ------------------------------------------------------------------

static void noop_done(coio_future *, void *) {}

// A failed future's error counts as looked at (asyncio calls fut.exception() for it, which
// is what keeps "exception was never retrieved" quiet).
static void mark_retrieved(Future *f) {
    if (f->state == Future::Failed) f->retrieved = true;
}

static void retrieve_done(coio_future *f, void *) {
    mark_retrieved(reinterpret_cast<Future *>(f));
}

// The slot of the registration (fn, arg) on f that has not ended yet, or null: a slot reads
// as ended once it ran (kEndedCallback), and as (noop_done, null) once retargeted.
static DoneCallback *live_slot(Future *f, coio_done_fn fn, void *arg) {
    for (std::uint32_t i = 0; i < f->ncallbacks; i++) {
        DoneCallback &cb = callback_at(f, i);
        if (callback_fn(cb) == fn && callback_arg(cb) == arg) return &cb;
    }
    return nullptr;
}

static void watch(Future *f, coio_done_fn fn, void *arg) {
    future_add_done_callback(f, fn, arg, nullptr);
}

// A registration that has not run yet (pending, or queued on a done future) calls
// `instead(f, nullptr)` rather than fn.
static void retarget(Future *f, coio_done_fn fn, void *arg, coio_done_fn instead) {
    DoneCallback *cb = live_slot(f, fn, arg);
    if (!cb) return;
    if (BoxedCallback *b = callback_box(*cb)) { // an inline one: it stays inline
        b->fn = instead;
        b->arg = nullptr;
    } else {
        *cb = {instead, nullptr};
    }
}

// Ends the registration (fn, arg) on f.  A pending future simply loses it (nothing refers to
// its slots by index before it completes); on a done future the queued call becomes a no-op.
// Never allocates, never runs user code.
static void unwatch(Future *f, coio_done_fn fn, void *arg) {
    if (f->state != Future::Pending) {
        retarget(f, fn, arg, noop_done);
        return;
    }
    while (future_unlink_callback(f, fn, arg)) {
    }
}

static void unref_future_value(void *p) {
    future_unref(static_cast<Future *>(p));
}

// A timer whose handle we keep (one reference of ours besides the heap's): it holds no
// reference to its arg, so whoever owns it cancels it before the arg goes.
static Handle *timer_new(Loop *loop, double delay, coio_callback fn, void *arg) {
    Handle *h = loop_call_at(loop, loop_time(loop) + delay, fn, arg, nullptr);
    h->refs++;
    return h;
}

static void timer_cancel(Handle *h) {
    if (h) handle_cancel(h);
}

static void timer_free(Handle *&h) {
    if (!h) return;
    handle_cancel(h);
    handle_unref(h);
    h = nullptr;
}

// A timeout argument (checked: not NaN) that arms a timer: negative and +inf mean none.
static bool has_deadline(double timeout) {
    return timeout >= 0 && timeout < HUGE_VAL;
}

// ---- duplicates --------------------------------------------------------------------------

// Whether f already carries the registration (fn, arg) that the combinator being created
// made: nothing else can register on f meanwhile and registrations never run synchronously,
// so it is f's last slot.  This finds duplicates in O(1) each, with no memory and no extra
// pass over the inputs (which may be far more than the cache holds).  A slot that ran for an
// earlier combinator freed at the same address reads as ended, so it does not count.
static bool watched_last(Future *f, coio_done_fn fn, void *arg) {
    if (f->ncallbacks == 0) return false;
    const DoneCallback &cb = callback_at(f, f->ncallbacks - 1);
    return cb.fn == fn && cb.arg == arg;
}

// ---- gather ------------------------------------------------------------------------------
//
// asyncio's gather + _GatheringFuture.  The outer future holds a reference per argument
// (duplicates included, as _children does: cancelling the gather cancels a duplicated task
// twice) and one weak registration per distinct child with the outer itself as arg: a
// child's first callback slot is inline, so gathering allocates nothing per child.

namespace {
struct Gather : CustomFuture {
    Future **children; // the arguments, in order, a reference each
    std::size_t n;
    std::size_t nfuts;     // distinct children
    std::size_t nfinished; // of those, how many reported
    std::uint64_t walked;  // the last cancellation that passed through (see gather_cancel)
    bool return_exceptions;
    bool cancel_requested; // _GatheringFuture._cancel_requested
    bool cancelling;       // inside gather_cancel (a child awaiting the gather comes back)
    bool walked_ret;       // what gather_cancel returned to that cancellation
};
} // namespace

static const char *cancel_message(const Future *f) {
    return f->state == Future::Cancelled && f->error ? f->error->message : nullptr;
}

// Once every child has reported and the gather is done, nothing needs the children any
// more: they are let go at once rather than with the gather.  A child may hold the gather
// (a task that awaited it and failed with it as its error's cause): kept, the pair would
// keep each other, and their loop, alive for ever.
static void gather_release_children(Gather *g) {
    Future **children = g->children;
    std::size_t n = g->n;
    g->children = nullptr;
    g->n = 0;
    future_ref(g); // a child's last release may run a drop that releases the gather
    for (std::size_t i = 0; i < n; i++)
        future_unref(children[i]);
    std::free(children);
    future_unref(g);
}

static void gather_child_report(Gather *g, Future *child);

// _done_callback.
static void gather_child_done(coio_future *cf, void *arg) {
    auto *g = static_cast<Gather *>(arg);
    // Completing g runs its inline watchers (user code), which may release the last other
    // reference to it: g is read after that.
    FutureHold hold(g);
    gather_child_report(g, reinterpret_cast<Future *>(cf));
    if (g->nfinished == g->nfuts && g->state != Future::Pending) gather_release_children(g);
}

static void gather_child_report(Gather *g, Future *child) {
    g->nfinished++;
    if (g->state != Future::Pending) {
        mark_retrieved(child); // "Mark exception retrieved."
        return;
    }
    if (!g->return_exceptions) {
        // The first child to fail or be cancelled ends the gather; the others keep running.
        // asyncio sets the child's CancelledError as the outer's exception: the outer reads
        // as cancelled here.
        if (child->state == Future::Cancelled) {
            future_complete_error(g, Future::Cancelled, COIO_ECANCELLED, cancel_message(child),
                                  nullptr);
            return;
        }
        if (child->state == Future::Failed) {
            child->retrieved = true;
            future_complete_error(g, Future::Failed, child->error->code, child->error->message,
                                  child);
            return;
        }
    }
    if (g->nfinished < g->nfuts) return;
    // All done: asyncio builds the result list with fut.exception(), which marks every error
    // as retrieved.
    for (std::size_t i = 0; i < g->n; i++)
        mark_retrieved(g->children[i]);
    if (g->cancel_requested) {
        // "If gather is being cancelled we must propagate the cancellation regardless of
        // *return_exceptions*" (bpo-32684); the message is that of the last child's
        // cancellation (asyncio's fut._make_cancelled_error() after its loop).
        // _make_cancelled_error() of a task that was not cancelled in the end (it swallowed
        // the cancellation, or its waiter refused it) reads its _cancel_message: that of
        // the last cancel() that only set _must_cancel.
        Future *last = g->children[g->n - 1];
        const char *msg = cancel_message(last);
        if (last->state != Future::Cancelled)
            if (Task *t = as_task(last)) msg = task_requested_message(t);
        future_complete_error(g, Future::Cancelled, COIO_ECANCELLED, msg, nullptr);
        return;
    }
    future_set_result(g, nullptr, nullptr);
}

// _GatheringFuture.cancel: cancel every child (each argument, duplicates too); the gather
// itself ends once they are all done.
static bool gather_cancel(Future *f, const char *msg) {
    auto *g = static_cast<Gather *>(f);
    // A child that awaits the gather itself would cancel it again, and again: asyncio dies of
    // RecursionError there; here the inner call refuses, and the task whose waiter refused
    // wakes with the cancellation (task_cancel: the cycle would never end otherwise).
    if (g->state != Future::Pending) return false;
    if (g->cancelling) {
        g->loop->cancel_cycle = true;
        return false;
    }
    // A gather is where the paths of a cancellation fork: one that several paths reach passes
    // the cancellation on the first time only (see cancel_any).  Wait_fors and tasks lead on
    // to one future each, so with gathers walked once the whole walk stays polynomial.
    if (g->walked == g->loop->cancel_walk) return g->walked_ret;
    g->walked = g->loop->cancel_walk;
    g->walked_ret = false; // what the walk finds here again if the loop below throws
    bool ret = false;
    future_ref(g);
    g->cancelling = true;
    try {
        for (std::size_t i = 0; i < g->n; i++)
            if (cancel_any(g->children[i], msg)) ret = true;
    } catch (...) {
        g->cancelling = false;
        if (ret) g->cancel_requested = true;
        future_unref(g);
        throw;
    }
    g->cancelling = false;
    if (ret) g->cancel_requested = true;
    g->walked_ret = ret;
    future_unref(g);
    return ret;
}

// Ends the registrations still to run and releases the children: finalize, and let_go (the
// caller holds g).
static void gather_let_go(Future *f) {
    auto *g = static_cast<Gather *>(f);
    if (!g->children) return;
    // Done early (a child failed or was cancelled): the callbacks still to come only mark
    // the later errors as retrieved, as asyncio's do once outer.done().  Still pending (the
    // gather was abandoned): nothing listens any more.
    bool done = g->state != Future::Pending;
    for (std::size_t i = 0; i < g->n && g->nfinished < g->nfuts; i++) {
        if (done)
            retarget(g->children[i], gather_child_done, g, retrieve_done);
        else
            unwatch(g->children[i], gather_child_done, g);
    }
    Future **children = g->children;
    std::size_t n = g->n;
    g->children = nullptr;
    g->n = 0;
    for (std::size_t i = 0; i < n; i++)
        future_unref(children[i]);
    std::free(children);
}

static const FutureOps kGatherOps = {
    .cancel = gather_cancel, .finalize = gather_let_go, .let_go = gather_let_go};

Future *gather_new(Loop *loop, Future *const *fs, std::size_t n, unsigned flags) {
    if (n == 0) return future_new_done(loop); // asyncio: a plain future, already done with []
    auto *g = custom_future_new<Gather>(loop, &kGatherOps);
    try {
        auto **children = static_cast<Future **>(std::malloc(n * sizeof(Future *)));
        if (!children) throw std::bad_alloc();
        g->children = children;
        g->return_exceptions = flags & COIO_RETURN_EXCEPTIONS;
        // One pass: each argument gets its reference and, the first time it occurs, the
        // registration.  g->n counts the references taken, for finalize if one throws.
        for (std::size_t i = 0; i < n; i++) {
            Future *c = fs[i];
            if (!watched_last(c, gather_child_done, g)) {
                watch(c, gather_child_done, g);
                g->nfuts++;
            }
            future_ref(c);
            children[g->n++] = c;
        }
        // asyncio 3.12+ runs _done_callback for the children done already inside the call,
        // once the outer future exists ("in the special case that *all* futures finished
        // eagerly, this will effectively complete the gather eagerly"): their queued calls
        // become no-ops, and a duplicate is found by its slot having been retargeted.
        for (std::size_t i = 0; i < g->n; i++) {
            Future *c = children[i];
            if (c->state == Future::Pending || !live_slot(c, gather_child_done, g)) continue;
            retarget(c, gather_child_done, g, noop_done);
            gather_child_done(reinterpret_cast<coio_future *>(c), g);
        }
    } catch (...) {
        future_unref(g); // finalize ends the registrations made so far
        throw;
    }
    return g;
}

// ---- wait --------------------------------------------------------------------------------
//
// asyncio's wait / _wait.  The future's value is a coio_wait_result that lives in it; both
// its arrays point into `fs`, whose first half holds the distinct inputs in argument order (a
// reference each) and whose second half logs completions, then holds the result.

namespace {
struct Wait : CustomFuture {
    Future **fs; // 2n slots: [0, n) inputs, [n, 2n) completion log / result
    std::size_t n;
    std::size_t nlog;    // completions logged while pending
    std::size_t counter; // _wait's counter: completions still to come
    Handle *timer;
    int return_when;
    coio_wait_result result;
};
} // namespace

static void wait_finish(Wait *w);

// _on_completion.
static void wait_child_done(coio_future *cf, void *arg) {
    auto *w = static_cast<Wait *>(arg);
    FutureHold hold(w); // as in gather_child_done: completing w may release it
    Future *child = reinterpret_cast<Future *>(cf);
    // The condition is evaluated as asyncio's `or` chain, also after the wait is over (its
    // queued calls still run): under FIRST_EXCEPTION, f.exception() marks an error retrieved.
    bool met = w->counter > 0 && --w->counter == 0;
    if (!met && w->return_when == COIO_FIRST_COMPLETED) met = true;
    if (!met && w->return_when == COIO_FIRST_EXCEPTION && child->state == Future::Failed) {
        child->retrieved = true;
        met = true; // a cancelled future is not an exception here
    }
    if (w->state != Future::Pending) return;
    w->fs[w->n + w->nlog++] = child;
    if (met) wait_finish(w);
}

static void wait_timeout(void *arg) {
    auto *w = static_cast<Wait *>(arg);
    if (w->state == Future::Pending) wait_finish(w);
}

// The `finally` of _wait: the timer goes and the registrations not yet triggered are
// removed (queued calls still run, as asyncio's do).
static void wait_stop(Wait *w) {
    timer_cancel(w->timer);
    for (std::size_t i = 0; i < w->n; i++)
        if (w->fs[i]->state == Future::Pending) unwatch(w->fs[i], wait_child_done, w);
}

// Done in completion order (those whose completion is still queued after them, in argument
// order), then the pending ones in argument order.
static void wait_finish(Wait *w) {
    Future **out = w->fs + w->n;
    std::size_t k = w->nlog;
    for (std::size_t i = 0; i < w->n; i++) {
        Future *f = w->fs[i];
        if (f->state != Future::Pending && live_slot(f, wait_child_done, w)) out[k++] = f;
    }
    std::size_t ndone = k;
    for (std::size_t i = 0; i < w->n; i++)
        if (w->fs[i]->state == Future::Pending) out[k++] = w->fs[i];
    w->result.ndone = ndone;
    w->result.done = reinterpret_cast<coio_future *const *>(out);
    w->result.npending = w->n - ndone;
    w->result.pending = reinterpret_cast<coio_future *const *>(out + ndone);
    w->loop->ready.reserve(1); // so that completing cannot fail once the registrations went
    wait_stop(w);
    future_set_result(w, &w->result, nullptr);
}

// _wait computes done/pending after `await waiter` returns, in the awaiting task: a future
// that completed between the wake-up and the resume is done.  This registration on the wait
// future itself, made first, runs right before the awaiting task's wake-up: the futures of
// the pending part that are done by then move to the done part (argument order).
static void wait_resplit(coio_future *f, void *) {
    auto *w = reinterpret_cast<Wait *>(f);
    if (w->state != Future::Result || !w->fs) return;
    auto **pending = const_cast<Future **>(reinterpret_cast<Future *const *>(w->result.pending));
    std::size_t np = w->result.npending;
    // Both parts keep argument order (the temporary buffer is optional: it cannot throw).
    Future **mid = std::stable_partition(pending, pending + np,
                                         [](Future *x) { return x->state != Future::Pending; });
    std::size_t k = std::size_t(mid - pending);
    w->result.ndone += k;
    w->result.npending -= k;
    w->result.pending = reinterpret_cast<coio_future *const *>(pending + k);
}

// Cancelling the wait (its awaiting task's cancellation) ends the wait and nothing else.
static bool wait_cancel(Future *f, const char *msg) {
    auto *w = static_cast<Wait *>(f);
    if (w->state != Future::Pending) return false;
    future_cancel(w, msg);
    wait_stop(w);
    return true;
}

static void wait_let_go(Future *f) {
    auto *w = static_cast<Wait *>(f);
    timer_cancel(w->timer);
    if (!w->fs) return;
    for (std::size_t i = 0; i < w->n; i++)
        unwatch(w->fs[i], wait_child_done, w);
    Future **fs = w->fs;
    std::size_t n = w->n;
    w->fs = nullptr;
    w->n = 0;
    for (std::size_t i = 0; i < n; i++)
        future_unref(fs[i]);
    std::free(fs);
}

static void wait_finalize(Future *f) {
    auto *w = static_cast<Wait *>(f);
    wait_let_go(w);
    timer_free(w->timer);
}

static const FutureOps kWaitOps = {
    .cancel = wait_cancel, .finalize = wait_finalize, .let_go = wait_let_go};

Future *wait_new(Loop *loop, Future *const *fs, std::size_t n, double timeout, int return_when) {
    auto *w = custom_future_new<Wait>(loop, &kWaitOps);
    try {
        auto **arr = static_cast<Future **>(std::calloc(2 * n, sizeof(Future *)));
        if (!arr) throw std::bad_alloc();
        w->fs = arr;
        w->return_when = return_when;
        future_add_done_callback(w, wait_resplit, nullptr, nullptr);
        if (has_deadline(timeout)) w->timer = timer_new(loop, timeout, wait_timeout, w);
        for (std::size_t i = 0; i < n; i++) {
            Future *f = fs[i];
            if (watched_last(f, wait_child_done, w)) continue; // a duplicate
            watch(f, wait_child_done, w);
            future_ref(f);
            arr[w->n++] = f;
            w->counter++;
        }
    } catch (...) {
        future_unref(w);
        throw;
    }
    return w;
}

// ---- as_completed ------------------------------------------------------------------------
//
// asyncio 3.13's _AsCompletedIterator iterated with `async for`: each next-future completes
// with the next input to finish (asyncio's Queue of done futures, and its getters).  The
// iterator is freed by its owner, but its memory lives on while next-futures refer to it.

struct AsCompleted {
    Loop *loop;
    std::uint32_t refs; // the owner's (until freed) and one per next-future alive
    bool freed;
    bool timed_out;
    std::size_t n;    // distinct inputs
    std::size_t todo; // inputs whose completion is still to come (_todo)
    std::size_t left; // next-futures still to hand out (_todo_left)
    Handle *timer;
    Future **inputs; // n, a reference each
    // The done queue: a ring of n entries, each an input (a reference) or null (a timeout).
    Future **queue;
    std::size_t qhead, qlen;
    // Next-futures waiting, in creation order (a reference each): at most n are ever made.
    Future **waiters;
    std::size_t whead, wtail;
};

namespace {
struct NextFuture : CustomFuture {
    AsCompleted *it;      // a reference (AsCompleted::refs)
    const Future *handed; // the input dispatch completed it with (not a result the user set)
};
} // namespace

static void as_completed_unref(AsCompleted *it) {
    if (--it->refs) return;
    Loop *loop = it->loop;
    std::free(it);
    loop_unref(loop);
}

// A reference held while the iterator is read after user code that may free it and release
// its last other reference (a report or drop run by releasing a next-future, a completion's
// inline watchers), as FutureHold does for a future.
namespace {
struct AsCompletedHold {
    AsCompleted *it;
    explicit AsCompletedHold(AsCompleted *i) : it(i) { it->refs++; }
    ~AsCompletedHold() { as_completed_unref(it); }
    AsCompletedHold(const AsCompletedHold &) = delete;
    AsCompletedHold &operator=(const AsCompletedHold &) = delete;
};
} // namespace

static void queue_push(AsCompleted *it, Future *f, bool front) {
    if (front) {
        it->qhead = (it->qhead + it->n - 1) % it->n;
        it->queue[it->qhead] = f;
    } else {
        it->queue[(it->qhead + it->qlen) % it->n] = f;
    }
    it->qlen++;
}

// Completes `to` (pending) with the oldest queued entry, which leaves the queue first (the
// completion may run user code): a completed future (the queue's reference moves into the
// result) or, null, the timeout.
static void queue_pop_into(AsCompleted *it, Future *to) {
    Future *item = it->queue[it->qhead];
    it->qhead = (it->qhead + 1) % it->n;
    it->qlen--;
    try {
        if (item) {
            static_cast<NextFuture *>(to)->handed = item;
            future_set_result(to, item, unref_future_value);
        } else
            future_complete_error(to, Future::Failed, COIO_ETIMEDOUT, "timed out", nullptr);
    } catch (...) { // out of memory, before anything ran: the entry stays first in line
        queue_push(it, item, true);
        throw;
    }
}

// Hands queued completions to waiting next-futures, oldest first (a waiter that is done
// already — cancelled — is skipped, as Queue._wakeup_next skips done getters).  Completing or
// releasing a waiter runs user code (its inline watchers; the report of its error or the drop
// of its value when that was its last reference) which may free the iterator: each waiter
// leaves the line first, and the iterator is held throughout.
static void as_completed_dispatch(AsCompleted *it) {
    AsCompletedHold hold(it);
    while (it->qlen > 0) {
        while (it->whead < it->wtail && it->waiters[it->whead]->state != Future::Pending)
            future_unref(it->waiters[it->whead++]);
        if (it->whead == it->wtail) return;
        Future *w = it->waiters[it->whead++];
        try {
            queue_pop_into(it, w);
        } catch (...) { // nothing changed: w waits on, first in line
            it->whead--;
            throw;
        }
        future_unref(w);
    }
}

// _handle_completion.
static void as_completed_child_done(coio_future *cf, void *arg) {
    auto *it = static_cast<AsCompleted *>(arg);
    if (it->timed_out) return; // _handle_timeout() was here first
    Future *f = reinterpret_cast<Future *>(cf);
    future_ref(f);
    queue_push(it, f, false);
    if (--it->todo == 0) timer_cancel(it->timer);
    as_completed_dispatch(it);
}

// _handle_timeout: every completion still to come becomes a timeout; nothing is cancelled.
static void as_completed_timeout(void *arg) {
    auto *it = static_cast<AsCompleted *>(arg);
    it->timed_out = true;
    for (std::size_t i = 0; i < it->n; i++)
        unwatch(it->inputs[i], as_completed_child_done, it);
    for (; it->todo > 0; it->todo--)
        queue_push(it, nullptr, false);
    as_completed_dispatch(it);
}

// A task was cancelled after its next-future was handed an input but before it saw it:
// asyncio's Queue.get leaves the item in the queue and wakes the next getter.
static void next_refused(Future *f) {
    auto *nf = static_cast<NextFuture *>(f);
    AsCompleted *it = nf->it;
    // Only an input the iterator handed goes back: a result the user set is no input.
    if (!it || it->freed || !nf->handed || nf->value != nf->handed) return;
    auto *item = static_cast<Future *>(nf->value);
    future_ref(item); // the next-future's own reference goes with its value
    queue_push(it, item, true);
    try {
        as_completed_dispatch(it);
    } catch (...) { // out of memory: stays queued for the next completion or next-future
    }
}

static void next_finalize(Future *f) {
    auto *nf = static_cast<NextFuture *>(f);
    if (nf->it) as_completed_unref(nf->it);
}

static const FutureOps kNextOps = {nullptr, next_refused, next_finalize};

AsCompleted *as_completed_new(Loop *loop, Future *const *fs, std::size_t n, double timeout) {
    auto *it = static_cast<AsCompleted *>(std::calloc(1, sizeof(AsCompleted)));
    if (!it) throw std::bad_alloc();
    it->loop = loop;
    it->refs = 1;
    loop_ref(loop);
    if (n == 0) return it;
    auto **arr = static_cast<Future **>(std::calloc(3 * n, sizeof(Future *)));
    if (!arr) {
        as_completed_unref(it);
        throw std::bad_alloc();
    }
    it->inputs = arr;
    it->queue = arr + n;
    it->waiters = arr + 2 * n;
    try {
        for (std::size_t i = 0; i < n; i++) {
            Future *f = fs[i];
            if (watched_last(f, as_completed_child_done, it)) continue; // a duplicate
            watch(f, as_completed_child_done, it);
            future_ref(f);
            arr[it->n++] = f;
        }
        it->todo = it->left = it->n;
        if (has_deadline(timeout)) it->timer = timer_new(loop, timeout, as_completed_timeout, it);
    } catch (...) {
        as_completed_free(it);
        throw;
    }
    return it;
}

Loop *as_completed_loop(const AsCompleted *it) {
    return it->loop;
}

// ESTATE once every next-future has been handed out, else COIO_OK with *out (the caller's).
int as_completed_next(AsCompleted *it, Future **out) {
    if (it->left == 0 || it->freed) return COIO_ESTATE;
    auto *nf = custom_future_new<NextFuture>(it->loop, &kNextOps);
    nf->it = it;
    it->refs++;
    try {
        if (it->qlen > 0) { // a completion is queued: no waiting (Queue.get without suspending)
            queue_pop_into(it, nf);
        } else {
            future_ref(nf); // the waiters' reference
            it->waiters[it->wtail++] = nf;
        }
    } catch (...) {
        future_unref(nf);
        throw;
    }
    it->left--;
    *out = nf;
    return COIO_OK;
}

void as_completed_free(AsCompleted *it) {
    it->freed = true;
    timer_free(it->timer);
    for (std::size_t i = 0; i < it->n; i++)
        unwatch(it->inputs[i], as_completed_child_done, it);
    // What is left to release (user code may run in the drops and reports of these).
    for (std::size_t i = it->whead; i < it->wtail; i++) {
        Future *w = it->waiters[i];
        if (w->state == Future::Pending && !it->loop->closed) {
            try {
                future_cancel(w, nullptr);
            } catch (...) { // out of memory: it stays pending
            }
        }
    }
    Future **inputs = it->inputs, **queue = it->queue, **waiters = it->waiters;
    std::size_t n = it->n;
    std::size_t whead = it->whead, wtail = it->wtail, qhead = it->qhead, qlen = it->qlen;
    it->inputs = it->queue = it->waiters = nullptr;
    it->n = it->qlen = it->whead = it->wtail = 0;
    if (inputs) {
        for (std::size_t i = whead; i < wtail; i++)
            future_unref(waiters[i]);
        for (std::size_t i = 0; i < qlen; i++)
            if (Future *f = queue[(qhead + i) % n]) future_unref(f);
        for (std::size_t i = 0; i < n; i++)
            future_unref(inputs[i]);
        std::free(inputs);
    }
    as_completed_unref(it);
}

// ---- wait_for ----------------------------------------------------------------------------
//
// asyncio 3.13's wait_for: `async with timeouts.timeout(t): return await fut`, and for
// t <= 0 `await _cancel_and_wait(fut)`.  The coroutine is a future here: the timeout's
// cancellation of the awaiting task becomes a cancellation of the inner future, and the
// task's own cancellation is the wait_for future's cancel op.

namespace {
struct WaitFor : CustomFuture {
    Future *inner; // a reference; the registration on it is weak
    Handle *timer;
    char *cancel_msg;      // the message of a cancellation that could not reach inner; while
                           // expired_unseen, that of inner's CancelledError
    bool zero;             // timeout 0: asyncio's _cancel_and_wait branch
    bool timed_out;        // the timeout expired: inner was cancelled for it
    bool cancel_requested; // wait_for itself was cancelled
    bool must_cancel;      // a cancellation inner refused (it was done): the task's _must_cancel
    bool cancelling;       // inside wait_for_cancel (inner awaiting wait_for comes back)
    bool unseen;           // completed, with the timer still armed until its awaiter ran
    bool expired_unseen;   // timed out (inner cancelled), until its awaiter ran
};
static_assert(sizeof(WaitFor) <= kSmallCustomFuture, "keep WaitFor pooled");
} // namespace

static void wait_for_finish(WaitFor *w) {
    Future *f = w->inner;
    if (w->must_cancel) {
        // The awaiting task would have been woken with inner's outcome (its __wakeup reads
        // it: an error counts as retrieved) and had the cancellation thrown in instead.
        mark_retrieved(f);
        if (w->cancel_requested)
            future_complete_error(w, Future::Cancelled, COIO_ECANCELLED, w->cancel_msg, nullptr);
        else
            future_complete_error(w, Future::Failed, COIO_ETIMEDOUT, "timed out", nullptr);
        return;
    }
    // The timeout's cancellation ended inner: TimeoutError.  Inner swallowed it (a result or
    // another error): that outcome (3.12+).  A cancellation of wait_for itself stays one.
    if (w->timed_out && !w->cancel_requested && f->state == Future::Cancelled) {
        future_complete_error(w, Future::Failed, COIO_ETIMEDOUT, "timed out", nullptr);
        return;
    }
    w->expired_unseen = false;
    future_forward(w, f);
}

// Queued when wait_for completes with its timer still armed, ahead of its own callbacks: the
// awaiting task has seen the outcome once this ran, so the timeout can no longer change it.
static void wait_for_disarm(void *arg) {
    auto *w = static_cast<WaitFor *>(arg);
    w->unseen = false;
    timer_cancel(w->timer);
}

// Queued when the timeout's cancellation of inner made wait_for a TimeoutError, ahead of its
// own callbacks: the awaiting task has seen it once this ran (see wait_for_unexpire).
static void wait_for_seen(void *arg) {
    auto *w = static_cast<WaitFor *>(arg);
    w->expired_unseen = false;
    std::free(w->cancel_msg);
    w->cancel_msg = nullptr;
}

// Inner is done and its registration has run: wait_for needs it no more (a result it
// forwarded is kept through its error slot's cause).  Inner may hold the wait_for (a task
// that awaited it and failed with it as its error's cause): it is let go now, or the pair
// would keep each other, and their loop, alive for ever.
static void wait_for_inner_done(coio_future *, void *arg) {
    auto *w = static_cast<WaitFor *>(arg);
    // Completing w runs its inline watchers (user code), which may release the last other
    // reference to it: w is read after that.
    FutureHold hold(w);
    if (w->state == Future::Pending) { // (else completed by its owner by hand)
        if (w->timer && !w->timed_out && !w->cancel_requested) {
            // The timer stays armed until the awaiting task has seen the outcome.
            Loop *loop = w->loop;
            loop->ready.reserve(2); // before anything changes: the disarm entry, completion
            future_ref(w);
            ready_push_callback(loop, wait_for_disarm, w, unref_future_value);
            w->unseen = true;
            wait_for_finish(w); // cannot fail now (it fails before completing, if at all)
        } else if (w->timed_out && !w->zero && !w->cancel_requested &&
                   w->inner->state == Future::Cancelled) {
            // The timeout's cancellation ended inner: TimeoutError, made in asyncio inside
            // the awaiting task's step (the timeout's __aexit__) from inner's CancelledError.
            // Until that step, a cancel of the task turns it back (wait_for_unexpire).  Not
            // for timeout 0: _cancel_and_wait's waiter is what the task is woken by there.
            Loop *loop = w->loop;
            const FutureError *ie = w->inner->error;
            char *msg = copy_string(ie ? ie->message : nullptr);
            try {
                loop->ready.reserve(2); // before anything changes: the seen entry, completion
            } catch (...) {
                std::free(msg);
                throw;
            }
            future_ref(w);
            ready_push_callback(loop, wait_for_seen, w, unref_future_value);
            std::free(w->cancel_msg); // unused: no cancellation of wait_for itself
            w->cancel_msg = msg;
            w->expired_unseen = true;
            timer_cancel(w->timer);
            wait_for_finish(w);
        } else {
            timer_cancel(w->timer);
            wait_for_finish(w);
        }
    }
    if (Future *inner = w->inner) {
        w->inner = nullptr;
        future_unref(inner); // its last release may run a drop that releases w: still held
    }
}

// In asyncio the timeout cancels the awaiting task itself; when that happens after inner
// completed but before the task resumed, the task's _must_cancel turns the outcome into
// CancelledError, which the timeout makes TimeoutError.  Here the completed wait_for future
// has not been seen yet (its callbacks are queued behind wait_for_disarm): its outcome
// becomes that TimeoutError.
static void wait_for_expire_unseen(WaitFor *w) {
    FutureError *e = error_new(COIO_ETIMEDOUT, "timed out", nullptr); // may throw: nothing changed
    if (w->inner) mark_retrieved(w->inner);
    // w reads as failed before anything of its old outcome goes: the old error may hold
    // inner's last reference, and inner's value drop (user code) may look at w.
    void *value = w->value;
    coio_free_fn drop = w->value_drop;
    FutureError *old = w->error;
    w->value = nullptr;
    w->value_drop = nullptr;
    w->error = e;
    w->retrieved = false;
    w->state = Future::Failed;
    w->unseen = false;
    if (drop) drop(value);
    future_free_error(old);
}

// The timeout cancels inner and waits for it.  A cancel() that inner refuses (it is done
// already, its outcome still on the way) leaves the awaiting task's _must_cancel set in
// asyncio: wait_for then raises TimeoutError whatever inner's outcome.
// Cancelling inner may run a drop that releases w's last reference: w is held meanwhile.
static void wait_for_timeout(void *arg) {
    auto *w = static_cast<WaitFor *>(arg);
    if (w->state != Future::Pending) {
        if (w->unseen) wait_for_expire_unseen(w);
        return;
    }
    w->timed_out = true;
    w->cancelling = true;
    future_ref(w);
    bool reached;
    try {
        reached = cancel_any(w->inner, nullptr);
    } catch (...) {
        w->cancelling = false;
        future_unref(w);
        throw;
    }
    w->cancelling = false;
    if (!reached) w->must_cancel = true;
    future_unref(w);
}

// The task awaiting a wait_for that timed out is cancelled before it resumed.  In asyncio
// the timeout cancelled the task itself and inner's CancelledError is on its way to the task;
// a second cancel() then only sets _must_cancel, __step keeps the CancelledError it is
// woken with (inner's message), and the timeout's __aexit__, with a cancellation still
// requested after its uncancel(), lets that CancelledError through instead of raising
// TimeoutError.  wait_for reads as that CancelledError again; the task's cancellation is
// refused (false), so its next step delivers it.
static void wait_for_unexpire(WaitFor *w) {
    FutureError *e = error_new(COIO_ECANCELLED, w->cancel_msg, nullptr); // may throw
    FutureError *old = w->error;
    w->error = e;
    w->retrieved = false;
    w->state = Future::Cancelled;
    w->expired_unseen = false;
    future_free_error(old); // last: it may hold inner's last reference (see above)
}

static bool wait_for_cancel(Future *f, const char *msg) {
    auto *w = static_cast<WaitFor *>(f);
    if (w->state != Future::Pending) {
        if (w->expired_unseen) wait_for_unexpire(w);
        return false;
    }
    if (w->zero) {
        // Cancelled inside _cancel_and_wait: asyncio raises CancelledError at once, inner
        // (already cancelled once) is left to finish alone.
        future_cancel(w, msg);
        unwatch(w->inner, wait_for_inner_done, w);
        return true;
    }
    if (w->cancelling) { // inner awaits this very future (see gather_cancel)
        w->loop->cancel_cycle = true;
        return false;
    }
    // The timer stays armed: asyncio's timeout scope is still open around the await, and
    // if inner swallows this cancellation, the expiry cancels it again.
    char *copy = copy_string(msg);
    w->cancel_requested = true;
    bool reached;
    w->cancelling = true;
    try {
        reached = cancel_any(w->inner, msg);
    } catch (...) {
        w->cancelling = false;
        std::free(copy);
        throw;
    }
    w->cancelling = false;
    if (!reached) {
        w->must_cancel = true;
        std::free(w->cancel_msg);
        w->cancel_msg = copy;
        copy = nullptr;
    }
    std::free(copy);
    return true;
}

static void wait_for_let_go(Future *f) {
    auto *w = static_cast<WaitFor *>(f);
    timer_cancel(w->timer);
    if (Future *inner = w->inner) {
        unwatch(inner, wait_for_inner_done, w);
        w->inner = nullptr;
        future_unref(inner);
    }
}

static void wait_for_finalize(Future *f) {
    auto *w = static_cast<WaitFor *>(f);
    wait_for_let_go(w);
    timer_free(w->timer);
    std::free(w->cancel_msg);
}

static const FutureOps kWaitForOps = {
    .cancel = wait_for_cancel, .finalize = wait_for_finalize, .let_go = wait_for_let_go};

Future *wait_for_new(Future *f, double timeout) {
    Loop *loop = f->loop;
    auto *w = custom_future_new<WaitFor>(loop, &kWaitForOps);
    future_ref(f);
    w->inner = f;
    try {
        if (f->state != Future::Pending) { // `await fut` / fut.result() without waiting
            future_forward(w, f);
            return w;
        }
        // `async with timeout(t): return await fut` awaits fut itself: fut's outcome reaches
        // the awaiting task one pass after fut completes, so wait_for completes with it, not
        // from a done callback a pass later.  The timeout 0 branch (_cancel_and_wait) waits
        // for a done callback of fut, as here.
        if (timeout == 0)
            watch(f, wait_for_inner_done, w);
        else
            future_watch_inline(f, wait_for_inner_done, w);
        if (timeout == 0) {
            w->zero = true;
            w->timed_out = true;
            cancel_any(f, nullptr);
        } else if (has_deadline(timeout)) {
            w->timer = timer_new(loop, timeout, wait_for_timeout, w);
        }
    } catch (...) {
        future_unref(w);
        throw;
    }
    return w;
}

// ---- shield ------------------------------------------------------------------------------

namespace {
struct Shield : CustomFuture {
    Future *inner; // a reference; the registration on it is weak
};
} // namespace

// _inner_done_callback.
static void shield_inner_report(Shield *s, Future *inner) {
    if (s->state != Future::Pending) {
        // "Mark inner's result as retrieved." (only when outer was cancelled in asyncio;
        // outer can only be done otherwise if its owner completed it)
        if (s->state == Future::Cancelled) mark_retrieved(inner);
        return;
    }
    if (inner->state == Future::Cancelled)
        future_cancel(s, nullptr); // outer.cancel(), without the message
    else
        future_forward(s, inner);
}

// Inner is then let go, as wait_for's is (see wait_for_inner_done).
static void shield_inner_done(coio_future *cf, void *arg) {
    auto *s = static_cast<Shield *>(arg);
    FutureHold hold(s); // as in gather_child_done: completing s may release it
    shield_inner_report(s, reinterpret_cast<Future *>(cf));
    if (Future *inner = s->inner) {
        s->inner = nullptr;
        future_unref(inner); // its last release may run a drop that releases s: still held
    }
}

// Cancelling the outer future leaves inner alone; _outer_done_callback drops the registration
// unless inner is done (then its queued call marks an error as retrieved).
static bool shield_cancel(Future *f, const char *msg) {
    auto *s = static_cast<Shield *>(f);
    if (!future_cancel(s, msg)) return false;
    if (s->inner->state == Future::Pending) unwatch(s->inner, shield_inner_done, s);
    return true;
}

// finalize, and let_go (the caller holds s).
static void shield_let_go(Future *f) {
    auto *s = static_cast<Shield *>(f);
    Future *inner = s->inner;
    if (!inner) return;
    if (s->state == Future::Cancelled)
        retarget(inner, shield_inner_done, s, retrieve_done);
    else
        unwatch(inner, shield_inner_done, s);
    s->inner = nullptr;
    future_unref(inner);
}

static const FutureOps kShieldOps = {
    .cancel = shield_cancel, .finalize = shield_let_go, .let_go = shield_let_go};

Future *shield_new(Future *f) {
    if (f->state != Future::Pending) { // "Shortcut."
        future_ref(f);
        return f;
    }
    auto *s = custom_future_new<Shield>(f->loop, &kShieldOps);
    future_ref(f);
    s->inner = f;
    try {
        watch(f, shield_inner_done, s);
    } catch (...) {
        future_unref(s);
        throw;
    }
    return s;
}

CallbackNames combinator_callback_names() {
    // wait_for is asyncio 3.12's `async with timeout(): await fut`: a task wakeup on fut.
    static const CallbackName names[] = {
        {any_fn(noop_done), nullptr},
        {any_fn(retrieve_done), nullptr},
        {any_fn(gather_child_done), "gather.<locals>._done_callback"},
        {any_fn(wait_child_done), "_wait.<locals>._on_completion"},
        {any_fn(as_completed_child_done), "_AsCompletedIterator._handle_completion"},
        {any_fn(wait_for_inner_done), "Task.task_wakeup"},
        {any_fn(shield_inner_done), "shield.<locals>._inner_done_callback"},
    };
    return {names, sizeof names / sizeof names[0]};
}

} // namespace coio::detail
