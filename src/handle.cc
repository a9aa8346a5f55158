// Handles (callbacks the caller can cancel) and the guarded call of any user callback.
#include <cstdio>
#include <ctime>
#include <new>

#include "future.hh"
#include "handle.hh"
#include "loop.hh"
#include "observer.hh"
#include "task.hh"

namespace coio::detail {

Handle *handle_new(Loop *loop, Handle::Kind kind, coio_callback fn, void *arg, coio_free_fn drop) {
    auto *h = new (loop->pools.handle.alloc()) Handle;
    h->loop = loop;
    h->fn = fn;
    h->arg = arg;
    h->drop = drop;
    h->when = 0.0;
    h->refs = 1;
    h->kind = kind;
    h->state = Handle::Scheduled;
    loop_ref(loop);
    return h;
}

void handle_unref(Handle *h) {
    if (--h->refs) return;
    Loop *loop = h->loop;
    loop->pools.handle.release(h);
    loop_unref(loop);
}

// Ends the registration without running it: the drop runs now.  The handle itself stays where
// it is (heap or ready queue) until the loop pops it.
static void handle_end(Handle *h, Handle::State state) {
    h->state = state;
    coio_free_fn drop = h->drop;
    h->drop = nullptr;
    if (drop) {
        // The drop may release the handle and the loop (the caller's last references): the
        // loop is held until the scope is left.
        Loop *loop = h->loop;
        loop_ref(loop);
        {
            NoSuspend user_code_runs(loop);
            drop(h->arg);
        }
        loop_unref(loop);
    }
}

void handle_cancel(Handle *h) {
    if (h->state == Handle::Running) { // an Io handle removed from inside its own callback
        h->state = Handle::Cancelled;  // handle_run ends it when the callback returns
        return;
    }
    if (h->state != Handle::Scheduled) return;
    // Counted until the loop meets the handle again (purge, or popping it to run).
    if (h->kind == Handle::Timer) h->loop->cancelled_timers++;
    handle_end(h, Handle::Cancelled);
}

void handle_discard(Handle *h) {
    if (h->state == Handle::Scheduled) handle_end(h, Handle::Discarded);
}

void handle_run(Handle *h) {
    if (h->kind == Handle::Io) {
        if (h->state == Handle::Scheduled) {
            h->state = Handle::Running;
            invoke_callback(h->loop, h->fn, h->arg, h);
            if (h->state == Handle::Running)
                h->state = Handle::Scheduled;
            else
                handle_end(h, Handle::Cancelled);
        }
    } else if (h->state == Handle::Scheduled) {
        h->state = Handle::Ran; // a cancel from inside the callback is then a no-op
        invoke_callback(h->loop, h->fn, h->arg, h);
        handle_end(h, Handle::Ran);
    } else if (h->state == Handle::Cancelled && h->kind == Handle::Timer) {
        h->loop->cancelled_timers--;
    }
    handle_unref(h);
}

static void report(Loop *loop, const char *message, Handle *h, Future *f, int code) {
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = message;
    ctx.code = code;
    ctx.future = reinterpret_cast<coio_future *>(f);
    ctx.handle = reinterpret_cast<coio_handle *>(h);
    loop_report(loop, &ctx);
}

// What an observer is told a callback was.
static int callback_kind(const Handle *h, const Future *f) {
    if (f) return COIO_CALLBACK_DONE;
    if (!h || h->kind == Handle::Soon) return COIO_CALLBACK_SOON;
    return h->kind == Handle::Timer ? COIO_CALLBACK_TIMER : COIO_CALLBACK_IO;
}

// The slow path of guarded_call (kept out of line, so that the common path stays as small as
// it was before observers existed): debug mode's slow-callback report and the observers.
template <class Call>
__attribute__((noinline)) static void guarded_call_slow(Loop *loop, Call call, Handle *h, Future *f,
                                                        bool observe) {
    int kind = callback_kind(h, f); // h may be reused once the callback returns
    const char *what = f                               ? "Future done callback"
                       : h && h->kind == Handle::Timer ? "TimerHandle"
                                                       : "Handle";
    double t0 = real_clock();
    try {
        call();
    } catch (...) {
        report(loop, "Exception in callback", h, f, COIO_EFAILED);
    }
    double dt = real_clock() - t0;
    if (observe && loop->observed) observe_callback(loop, kind, t0, dt);
    if (!loop->debug || dt < loop->slow_callback_duration) return;
    char msg[128];
    std::snprintf(msg, sizeof msg, "Executing <%s> took %.3f seconds", what, dt);
    report(loop, msg, h, f, 0);
}

// The one place user callbacks are called from.  `call` is the bare call.  C++ exceptions
// thrown through it are reported; in debug mode so are slow callbacks, and observers see
// every callback (`observe` false: a task's wake-up, whose step they see instead).  Both
// take the slow path, behind the one `instrumented` test.
template <class Call>
static inline void guarded_call(Loop *loop, Call call, Handle *h, Future *f, bool observe) {
    if (__builtin_expect(loop->instrumented, 0)) {
        guarded_call_slow(loop, call, h, f, observe);
        return;
    }
    try {
        call();
    } catch (...) {
        report(loop, "Exception in callback", h, f, COIO_EFAILED);
    }
}

void invoke_callback(Loop *loop, coio_callback fn, void *arg, Handle *h) {
    guarded_call(
        loop, [&] { fn(arg); }, h, nullptr, true);
}

void invoke_done(Loop *loop, coio_done_fn fn, Future *f, void *arg) {
    guarded_call(
        loop, [&] { fn(reinterpret_cast<coio_future *>(f), arg); }, nullptr, f, fn != task_wakeup);
}

Handle *handle_call_soon(Loop *loop, coio_callback fn, void *arg, coio_free_fn drop) {
    loop->ready.reserve(1);
    Handle *h = handle_new(loop, Handle::Soon, fn, arg, drop);
    ready_push_handle(loop, h); // cannot fail after reserve
    handle_ref(h);
    return h;
}

} // namespace coio::detail
