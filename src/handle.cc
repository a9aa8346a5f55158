// Scheduled callbacks: creation, cancellation, and running one popped from the ready queue.
#include <cstdio>
#include <ctime>
#include <new>

#include "core.hh"

namespace coio::detail {

static double real_clock() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

Handle *handle_new(Loop *loop, Handle::Kind kind, void *fn, void *arg, coio_free_fn drop) {
    auto *h = new (loop->handle_pool.alloc()) Handle;
    h->loop = loop;
    if (kind == Handle::Done)
        h->fn.done = reinterpret_cast<coio_done_fn>(fn);
    else
        h->fn.cb = reinterpret_cast<coio_callback>(fn);
    h->arg = arg;
    h->drop = drop;
    h->future = nullptr;
    h->when = 0.0;
    h->refs = 1;
    h->kind = kind;
    h->state = Handle::Scheduled;
    h->in_heap = false;
    loop_ref(loop);
    return h;
}

void handle_unref(Handle *h) {
    if (--h->refs) return;
    Loop *loop = h->loop;
    loop->handle_pool.release(h);
    loop_unref(loop);
}

// Ends the registration without running it: the drop runs now, a done callback's future
// reference goes.  The handle itself stays where it is (heap or ready queue) until popped.
static void handle_finish(Handle *h, Handle::State state) {
    h->state = state;
    coio_free_fn drop = h->drop;
    Future *f = h->future;
    h->drop = nullptr;
    h->future = nullptr;
    if (drop) drop(h->arg);
    if (f) future_unref(f);
}

void handle_cancel(Handle *h) {
    if (h->state != Handle::Scheduled) return;
    if (h->in_heap) h->loop->cancelled_timers++;
    handle_finish(h, Handle::Cancelled);
}

// Runs the callback; C++ exceptions thrown through it (bindings) are reported, not propagated.
static void invoke(Handle *h) {
    try {
        if (h->kind == Handle::Done)
            h->fn.done(reinterpret_cast<coio_future *>(h->future), h->arg);
        else
            h->fn.cb(h->arg);
    } catch (...) {
        coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
        ctx.message = "Exception in callback";
        ctx.code = COIO_EFAILED;
        ctx.future = reinterpret_cast<coio_future *>(h->future);
        ctx.handle = reinterpret_cast<coio_handle *>(h);
        loop_report(h->loop, &ctx);
    }
}

static void invoke_timed(Handle *h) {
    double t0 = real_clock();
    invoke(h);
    double dt = real_clock() - t0;
    if (dt >= h->loop->slow_callback_duration) {
        char msg[128];
        std::snprintf(msg, sizeof msg, "Executing <%s handle %p> took %.3f seconds",
                      h->kind == Handle::Done ? "done-callback" : "callback",
                      reinterpret_cast<void *>(h), dt);
        coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
        ctx.message = msg;
        ctx.handle = reinterpret_cast<coio_handle *>(h);
        loop_report(h->loop, &ctx);
    }
}

void handle_run(Handle *h) {
    if (h->state == Handle::Scheduled) {
        h->state = Handle::Ran;
        if (h->loop->debug)
            invoke_timed(h);
        else
            invoke(h);
        handle_finish(h, Handle::Ran);
    }
    handle_unref(h);
}

} // namespace coio::detail
