// Handles (handle.cc): the callbacks a caller can cancel, asyncio's Handle and TimerHandle,
// and the calls into user callbacks.
#pragma once

#include <coio.h>

#include <cstdint>

namespace coio::detail {

struct Loop;
struct Future;

// A scheduled callback the caller holds a handle to (asyncio's Handle / TimerHandle).  Plain
// call_soon callbacks without a handle live inline in the ready queue instead.  The loop owns
// one reference while the handle is scheduled; the caller owns another.
struct Handle {
    // Io handles (fd readers/writers) run every time their fd is ready, until removed.
    enum Kind : std::uint8_t { Soon, Timer, Io };
    // Running: an Io handle inside its callback (a cancel then defers the drop until it returns).
    enum State : std::uint8_t { Scheduled, Running, Ran, Cancelled, Discarded };

    Loop *loop;
    coio_callback fn;
    void *arg;
    coio_free_fn drop;
    double when;       // Timer: the deadline
    std::uint64_t seq; // Timer: scheduling order, breaks deadline ties
    std::uint32_t refs;
    Kind kind;
    State state;
};

Handle *handle_new(Loop *loop, Handle::Kind kind, coio_callback fn, void *arg, coio_free_fn drop);
void handle_unref(Handle *h);
void handle_cancel(Handle *h);
void handle_discard(Handle *h); // the loop closed before it ran: drop, no cancel
void handle_run(Handle *h);     // runs a handle popped from the ready queue, then unrefs it
inline void handle_ref(Handle *h) {
    h->refs++;
}
// call_soon with a handle: scheduled, and a second reference returned to the caller.
Handle *handle_call_soon(Loop *loop, coio_callback fn, void *arg, coio_free_fn drop);

// Calls a user callback: C++ exceptions thrown through it (bindings) are reported, not
// propagated, and in debug mode slow callbacks are reported.
void invoke_callback(Loop *loop, coio_callback fn, void *arg, Handle *h);
void invoke_done(Loop *loop, coio_done_fn fn, Future *f, void *arg);

} // namespace coio::detail
