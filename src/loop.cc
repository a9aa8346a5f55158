// The event loop: one pass is asyncio's BaseEventLoop._run_once over libev.
//
// libev is used for what it is good at — waiting for I/O, the thread-safe wakeup and the
// poll timeout — but not as the scheduler: its pending queue is LIFO and equal-deadline
// timers are unordered, so coio keeps its own FIFO ready queue and (deadline, sequence) timer
// heap, and drives them from a single ev_timer (the next deadline) and one ev_async.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

#include "callback_names.hh"
#include "dispatch.hh"
#include "executor.hh"
#include "future.hh"
#include "handle.hh"
#include "io.hh"
#include "loop.hh"
#include "observer.hh"
#include "plugin.hh"
#include "ready.hh"
#include "remote.hh"
#include "signal.hh"
#include "task.hh"

namespace coio::detail {

// Poll I/O at least this often even while callbacks are always ready.
static constexpr double kMaxPollInterval = 0.001;

// "Has a millisecond passed since the last poll?" is asked once this many callbacks have run
// since it was last asked (tokio polls every 61 tasks without a clock at all).  Asking every
// pass would cost a clock read per pass, a quarter of a bare yield.
static constexpr std::uint32_t kCallbacksPerClockCheck = 32;

// Purge cancelled timers once they are this many and more than half of the heap (asyncio).
static constexpr std::size_t kMinCancelledToPurge = 100;

// Pops cancelled timers off the top of the heap, as asyncio does before it computes the poll
// timeout (elsewhere they are left for the pass that meets them or for the purge).
static void drop_cancelled_head(Loop *loop) {
    while (!loop->timers.empty() && loop->timers.top().h->state != Handle::Scheduled) {
        Handle *h = loop->timers.pop().h;
        loop->cancelled_timers--;
        handle_unref(h);
    }
}

static void mark_polled(Loop *loop) {
    loop->ran_since_check = 0;
    loop->last_poll = clock_now(loop->clock);
}

// ---- thread-safe queue -----------------------------------------------------------------

// Moves callbacks queued by other threads to the ready queue, in submission order.  Runs on
// the loop thread: every pass when the flag says items are waiting (asyncio makes them ready
// at once, not at the next poll), and from the ev_async watcher when the loop was blocked.
static void drain_threadsafe(Loop *loop) {
    {
        std::lock_guard<std::mutex> g(loop->ts.mu);
        loop->ts.items.swap(loop->ts.spare);
        loop->ts.pending.store(false, std::memory_order_relaxed);
    }
    try {
        loop->ready.reserve(loop->ts.spare.size());
        for (const ReadyEntry &e : loop->ts.spare)
            loop->ready.push(e);
    } catch (const std::bad_alloc &) {
        // No room for them: they end without running, and the failure is reported.
        for (const ReadyEntry &e : loop->ts.spare)
            ready_discard(e);
        coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
        ctx.message = "call_soon_threadsafe callbacks dropped: out of memory";
        ctx.code = COIO_ENOMEM;
        loop_report(loop, &ctx);
    }
    loop->ts.spare.clear();
}

static void on_async(struct ev_loop *, ev_async *w, int) {
    drain_threadsafe(static_cast<Loop *>(w->data));
}

int loop_call_soon_threadsafe(Loop *loop, coio_callback fn, void *arg, coio_free_fn drop) {
    std::lock_guard<std::mutex> g(loop->ts.mu);
    if (loop->ts.closed) return COIO_ECLOSED;
    bool was_empty = loop->ts.items.empty();
    loop->ts.items.push_back({fn, arg, reinterpret_cast<void *>(drop)});
    // One wakeup per batch: while items are queued the loop has been woken already.
    if (was_empty) {
        loop->ts.pending.store(true, std::memory_order_relaxed);
        ev_async_send(loop->ev, &loop->async);
    }
    return COIO_OK;
}

int loop_stop(Loop *loop) {
    // The loop thread itself is not blocked in the poll: no wakeup (and no syscall) needed.
    if (loop->running.load(std::memory_order_relaxed) &&
        pthread_equal(loop->owner.load(std::memory_order_relaxed), pthread_self())) {
        loop->stopping.store(true, std::memory_order_relaxed);
        return COIO_OK;
    }
    // Another thread (or the loop is idle): `closed` is only read under the lock here.
    std::lock_guard<std::mutex> g(loop->ts.mu);
    if (loop->ts.closed) return COIO_ECLOSED;
    loop->stopping.store(true, std::memory_order_relaxed);
    ev_async_send(loop->ev, &loop->async);
    return COIO_OK;
}

// ---- lifecycle -------------------------------------------------------------------------

int loop_new(Loop **out, const coio_loop_options &opt) {
    unsigned backend = opt.backend;
    if (backend && !(ev_supported_backends() & backend)) return COIO_ENOTSUP;
    auto *loop = new Loop;
    loop->ev = ev_loop_new(backend ? backend : unsigned(EVFLAG_AUTO));
    if (!loop->ev) {
        delete loop;
        return backend ? COIO_ENOTSUP : COIO_ESYS;
    }
    loop->debug = opt.flags & COIO_LOOP_DEBUG;
    loop->instrumented = loop->debug;
    loop->virtual_time = opt.flags & COIO_LOOP_VIRTUAL_TIME;
    loop->slow_callback_duration = opt.slow_callback_duration;
    ev_timer_init(
        &loop->wake, [](struct ev_loop *, ev_timer *, int) {}, 0., 0.);
    ev_async_init(&loop->async, on_async);
    loop->async.data = loop;
    ev_async_start(loop->ev, &loop->async);
    clock_init(loop->clock);
    mark_polled(loop);
    // Failures there are reported on stderr: the loop is created all the same.
    if (!(opt.flags & COIO_LOOP_NO_PLUGINS)) plugins_from_env(loop);
    *out = loop;
    return COIO_OK;
}

Loop::~Loop() {
    plugins_free(this);
    observers_free(this);
    stacks_release_all(this);
    if (exc.drop) exc.drop(exc.arg);
}

// Discards everything still scheduled: each registration's drop runs once.
static void discard_all(Loop *loop, std::vector<ReadyEntry> &items) {
    for (const ReadyEntry &e : items)
        ready_discard(e);
    items.clear();
    while (!loop->ready.empty())
        ready_discard(loop->ready.pop());
    loop->timers.drain([](Handle *h) {
        handle_discard(h);
        handle_unref(h);
    });
    loop->cancelled_timers = 0;
}

// A closed loop never runs again, but an operation that was under way when a drop closed it
// (a cancellation walking on) may still queue callbacks or timers there.  Nothing would run
// or discard them, and what they hold (a future, which holds the loop) would keep the loop
// for ever; they are discarded when the loop is next touched from outside (closed again,
// released, or one of its futures or handles released), where no operation is half done.
// (Not while a close or another such discard runs: that one takes what its drops queue.)
void loop_discard_leftovers(Loop *loop) {
    if (loop->discarding || (loop->ready.empty() && loop->timers.empty())) return;
    std::vector<ReadyEntry> none;
    loop_ref(loop);
    loop->discarding = true;
    discard_all(loop, none);
    loop->discarding = false;
    loop_unref(loop);
}

int loop_close(Loop *loop) {
    if (loop->running.load(std::memory_order_relaxed)) return COIO_EBUSY;
    if (loop->closed) {
        loop_discard_leftovers(loop);
        return COIO_OK;
    }
    if (loop->closing) return COIO_EBUSY; // a plugin's detach closing its loop
    // Plugins detach first, in reverse order, while the loop is still open.
    if (loop->plugins) {
        loop->closing = true;
        loop_ref(loop);
        plugins_detach(loop);
        loop->closing = false;
        loop_unref(loop);
    }
    // Executor jobs still running finish first: their completions then arrive while the
    // loop can still take them (and drop them below).
    executor_close(loop);
    loop->closed = true;
    // Calls through a coio_remote see the loop gone from here on; those that got in before
    // are in ts.items, taken below.
    Completion *orphans = remote_close(loop);
    std::vector<ReadyEntry> pending;
    {
        std::lock_guard<std::mutex> g(loop->ts.mu);
        loop->ts.closed = true;
        pending.swap(loop->ts.items);
    }
    // Drops may release futures or handles of this loop; keep it alive meanwhile.
    loop_ref(loop);
    loop->discarding = true;
    tasks_close(loop);
    completions_end(orphans); // before discard_all: their done callbacks are discarded too
    discard_all(loop, pending);
    signals_close(loop);
    io_close_all(loop);
    stacks_release_all(loop);
    // Observers saw the tasks the close destroyed; they and the services go last.
    if (loop->observers) observers_close(loop);
    if (loop->plugins) services_close(loop);
    ev_async_stop(loop->ev, &loop->async);
    ev_loop_destroy(loop->ev);
    loop->ev = nullptr;
    loop->discarding = false;
    loop_unref(loop);
    return COIO_OK;
}

void loop_destroy(Loop *loop) {
    delete loop;
}

// ---- running ---------------------------------------------------------------------------

// Step 1 of a pass: poll I/O.  Without ready callbacks, block until the next timer (or, in
// virtual time, jump the clock to it instead).  With ready callbacks, do not pay a poll
// syscall every pass, but still poll at least every kMaxPollInterval (as judged every
// kCallbacksPerClockCheck callbacks).  A pass that starts
// stopped always polls once without blocking, as asyncio's does.
static void poll_io(Loop *loop) {
    if (loop->stopping.load(std::memory_order_relaxed)) {
        io_poll(loop, EVRUN_NOWAIT);
        mark_polled(loop);
        return;
    }
    if (!loop->ready.empty()) {
        if (loop->ran_since_check < kCallbacksPerClockCheck) return;
        loop->ran_since_check = 0;
        double now = clock_now(loop->clock);
        if (now - loop->last_poll >= kMaxPollInterval) {
            io_poll(loop, EVRUN_NOWAIT);
            loop->last_poll = now;
        }
        return;
    }
    drop_cancelled_head(loop); // they must not decide the timeout (or the virtual jump)
    if (loop->virtual_time || loop->timers.empty()) {
        bool jump = loop->virtual_time && !loop->timers.empty();
        io_poll(loop, jump ? EVRUN_NOWAIT : EVRUN_ONCE);
        mark_polled(loop);
        if (jump && loop->ready.empty() && !loop->stopping.load(std::memory_order_relaxed) &&
            loop->timers.top().when > loop->vnow)
            loop->vnow = loop->timers.top().when;
        return;
    }
    double timeout = loop->timers.top().when - clock_now(loop->clock);
    if (timeout < 0) timeout = 0;
    ev_now_update(loop->ev);
    ev_timer_set(&loop->wake, timeout, 0.);
    ev_timer_start(loop->ev, &loop->wake);
    io_poll(loop, EVRUN_ONCE);
    ev_timer_stop(loop->ev, &loop->wake);
    mark_polled(loop);
}

// Step 2: move due timers to the ready queue in (deadline, sequence) order.  "Due" is judged
// against a fresh clock reading, so a timer never runs before coio_loop_time() reaches it.
// The handles are not touched here (each would be a cache miss, and running it touches it
// anyway): cancelled ones are skipped when they are popped to run.
static void collect_due_timers(Loop *loop) {
    if (loop->timers.empty()) return; // (and then none is cancelled either)
    if (loop->cancelled_timers > kMinCancelledToPurge &&
        loop->cancelled_timers * 2 > loop->timers.size()) {
        std::size_t removed = 0;
        loop->timers.filter([&removed](Handle *h) {
            if (h->state == Handle::Scheduled) return true;
            removed++;
            handle_unref(h);
            return false;
        });
        loop->cancelled_timers -= removed;
    }
    if (loop->timers.empty()) return;
    double now = loop_time(loop);
    while (!loop->timers.empty() && loop->timers.top().when <= now) {
        TimerHeap::Entry e = loop->timers.pop();
        try {
            ready_push_handle(loop, e.h);
        } catch (const std::bad_alloc &) {
            // No room to grow the ready queue: leave the timer for a later pass (re-inserting
            // reuses the slot just freed, so it cannot fail).
            loop->timers.push(e);
            break;
        }
    }
}

static void run_once(Loop *loop) {
    if (loop->ts.pending.load(std::memory_order_relaxed)) drain_threadsafe(loop);
    poll_io(loop);
    collect_due_timers(loop);
    // Step 3: run exactly what is ready now; what those callbacks schedule waits a pass.
    std::size_t n = loop->ready.size();
    loop->ran_since_check +=
        std::uint32_t(n < kCallbacksPerClockCheck ? n : kCallbacksPerClockCheck);
    // Observers: one branch per pass when there are none (the second tests a register).  The
    // loop is not duplicated for them: a second copy of it would cost the inlined task step.
    bool observed = loop->observed;
    if (__builtin_expect(observed, 0)) observe_pass_begin(loop, n);
    for (; n > 0; n--) {
        const ReadyEntry &e = loop->ready.pop_ref();
        ready_run(loop, e.fn, e.arg, e.aux);
    }
    loop->ready.rewind_if_empty();
    // Also when the last observer went during the pass: the begin has its end.
    if (__builtin_expect(observed, 0) && loop->observers) observe_pass_end(loop);
}

int loop_release(Loop *loop) {
    loop_close(loop);
    loop->released = true;
    loop_unref(loop);
    return COIO_OK;
}

void loop_set_debug(Loop *loop, bool enabled) {
    loop->debug = enabled;
    loop->instrumented = loop->debug || loop->observed;
}

void loop_run_forever(Loop *loop) {
    loop->owner.store(pthread_self(), std::memory_order_relaxed);
    loop->running.store(true, std::memory_order_relaxed);
    // Also when a pass throws (out of memory): the loop must not stay "running".
    struct Reset {
        Loop *loop;
        ~Reset() {
            loop->stopping.store(false, std::memory_order_relaxed);
            loop->running.store(false, std::memory_order_relaxed);
        }
    } reset{loop};
    for (;;) {
        run_once(loop);
        if (loop->stopping.load(std::memory_order_relaxed)) break;
    }
}

static void stop_on_done(coio_future *, void *arg) {
    loop_stop(static_cast<Loop *>(arg));
}

int loop_run_until_complete(Loop *loop, Future *f) {
    future_add_done_callback(f, stop_on_done, loop, nullptr); // may throw: nothing to undo
    future_ref(f); // callbacks may drop the caller's last reference while we run
    loop_run_forever(loop);
    future_remove_done_callback(f, stop_on_done, loop);
    int rc = f->state == Future::Pending ? COIO_ESTATE : future_outcome(f);
    future_unref(f);
    return rc;
}

Handle *loop_call_at(Loop *loop, double when, coio_callback fn, void *arg, coio_free_fn drop) {
    Handle *h = handle_new(loop, Handle::Timer, fn, arg, drop);
    h->when = when;
    try {
        h->seq = loop->seq++;
        loop->timers.push({when, h});
    } catch (...) {
        h->drop = nullptr;
        handle_unref(h);
        throw;
    }
    // The creation reference is the heap's.
    return h;
}

// ---- exception handler -----------------------------------------------------------------

// One line on stderr: "coio: <message>[: <error>][ (<status name>) | (code N)]".
void default_exception_handler(const coio_exception_context *ctx) {
    char code[48] = "";
    if (ctx->code) {
        const char *name = coio_status_name(ctx->code);
        if (std::strcmp(name, "COIO_UNKNOWN") == 0)
            std::snprintf(code, sizeof code, " (code %d)", ctx->code);
        else
            std::snprintf(code, sizeof code, " (%s)", name);
    }
    std::fprintf(stderr, "coio: %s%s%s%s\n", ctx->message, ctx->error ? ": " : "",
                 ctx->error ? ctx->error : "", code);
}

void loop_report(Loop *loop, const coio_exception_context *ctx) {
    if (!loop->exc.fn) {
        default_exception_handler(ctx);
        return;
    }
    loop_ref(loop); // the handler may release the loop (coio_loop_call_exception_handler)
    {
        NoSuspend user_code_runs(loop);
        try {
            loop->exc.fn(reinterpret_cast<coio_loop *>(loop), ctx, loop->exc.arg);
        } catch (...) {
            // asyncio falls back to the default handler when the custom one raises.
            std::fprintf(stderr, "coio: unhandled error in the exception handler\n");
            default_exception_handler(ctx);
        }
    }
    loop_unref(loop);
}

void loop_set_exception_handler(Loop *loop, coio_exception_handler fn, void *arg,
                                coio_free_fn drop) {
    coio_free_fn old_drop = loop->exc.drop;
    void *old_arg = loop->exc.arg;
    loop->exc.fn = fn;
    loop->exc.arg = fn ? arg : nullptr;
    loop->exc.drop = fn ? drop : nullptr;
    if (old_drop) old_drop(old_arg);
    if (!fn && drop) drop(arg); // nothing to register: the registration ends at once
}

bool loop_on_other_thread(const Loop *loop) {
    return loop->running.load(std::memory_order_relaxed) &&
           !pthread_equal(loop->owner.load(std::memory_order_relaxed), pthread_self());
}

CallbackNames loop_callback_names() {
    static const CallbackName names[] = {{any_fn(stop_on_done), "_run_until_complete_cb"}};
    return {names, sizeof names / sizeof names[0]};
}

} // namespace coio::detail
