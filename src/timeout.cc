// Timeout scopes: asyncio.timeout / timeout_at (CPython 3.13, Lib/asyncio/timeouts.py).
//
// A scope is entered by the task running now and left by that same task (coio_timeout_exit,
// asyncio's __aexit__).  While it is entered, a timer cancels the task at the deadline.
//
// Ownership: the scope is owned by a done-callback registration on its task.  Leaving the
// scope removes the registration, which frees it; a body that ends without leaving (its task
// finishes, or the loop closes and the task is freed) frees it with the task.  So the scope
// never outlives its task and `task` needs no reference of its own, and nothing leaks when
// the loop closes with a scope entered.  The timer holds no reference: freeing the scope
// cancels it first.
#include <cmath>
#include <cstdint>
#include <new>

#include "callback_names.hh"
#include "future.hh"
#include "handle.hh"
#include "loop.hh"
#include "task.hh"
#include "taskgroup.hh"

namespace coio::detail {

// asyncio's _State, less the two states the scope is freed in (EXPIRED, EXITED).
enum class ScopeState : std::uint8_t { Entered, Expiring };

struct Timeout {
    Loop *loop;
    Task *task;               // borrowed (see above)
    Handle *timer;            // our reference to the pending on_timeout, or null
    double when;              // the deadline in loop time; +INFINITY: none (asyncio's None)
    std::uint32_t cancelling; // task.cancelling() when the scope was entered
    ScopeState state;
};

// Scopes come from the loop's pool for small custom objects: entering one allocates nothing
// in the steady state.
static_assert(sizeof(Timeout) <= kSmallCustomFuture);

static void clear_timer(Timeout *tm) {
    if (Handle *h = tm->timer) {
        tm->timer = nullptr;
        handle_cancel(h);
        handle_unref(h);
    }
}

// asyncio's _on_timeout.  The timer is cancelled whenever the scope leaves ENTERED, so the
// scope is ENTERED here.
static void on_timeout(void *arg) {
    auto *tm = static_cast<Timeout *>(arg);
    task_cancel(tm->task, nullptr);
    tm->state = ScopeState::Expiring;
    handle_unref(tm->timer); // "drop the reference early"; the loop holds its own while running
    tm->timer = nullptr;
}

// asyncio's reschedule() once the state is checked: a deadline already passed fires on the
// next pass (call_soon), +INFINITY never.  Strong guarantee: the new timer exists before the
// old one is cancelled.
static void schedule(Timeout *tm, double when) {
    Handle *h = nullptr;
    if (when != INFINITY) {
        Loop *loop = tm->loop;
        if (when <= loop_time(loop)) { // `if when <= loop.time(): loop.call_soon(...)`
            loop->ready.reserve(1);
            h = handle_new(loop, Handle::Soon, on_timeout, tm, nullptr);
            ready_push_handle(loop, h); // the queue takes the creation reference
        } else {
            h = loop_call_at(loop, when, on_timeout, tm, nullptr);
        }
        h->refs++; // ours
    }
    clear_timer(tm);
    tm->timer = h;
    tm->when = when;
}

// The registration on the task ran: the task finished with the scope still entered.  Its
// drop (free_scope) frees the scope.
static void task_done(coio_future *, void *) {}

static void free_scope(void *arg) {
    auto *tm = static_cast<Timeout *>(arg);
    clear_timer(tm);
    tm->loop->pools.custom.release(tm);
}

Timeout *timeout_enter(Loop *loop, Task *t, double when) {
    auto *tm = static_cast<Timeout *>(loop->pools.custom.alloc());
    *tm = Timeout{loop, t, nullptr, INFINITY, t->num_cancels, ScopeState::Entered};
    try {
        schedule(tm, when);
        future_add_done_callback(t, task_done, tm, free_scope);
    } catch (...) {
        free_scope(tm);
        throw;
    }
    return tm;
}

Loop *timeout_loop(const Timeout *tm) {
    return tm->loop;
}

int timeout_reschedule(Timeout *tm, double when) {
    // "Cannot change state of expiring Timeout" (and exited ones are freed).
    if (tm->state != ScopeState::Entered) return COIO_ESTATE;
    schedule(tm, when);
    return COIO_OK;
}

double timeout_when(const Timeout *tm) {
    return tm->when;
}

bool timeout_expired(const Timeout *tm) {
    return tm->state == ScopeState::Expiring;
}

// asyncio's __aexit__:
//     if self._state is _State.EXPIRING:
//         self._state = _State.EXPIRED
//         if self._task.uncancel() <= self._cancelling and exc_type is not None:
//             if issubclass(exc_type, exceptions.CancelledError):
//                 raise TimeoutError from exc_val
// uncancel() runs whenever the scope expired, whatever the body ended with: the scope's own
// cancel() is always taken back.  A cancellation requested by someone else besides keeps the
// count above the one at entry, and COIO_ECANCELLED then goes on unchanged.
int timeout_exit(Timeout *tm, int status) {
    Task *t = tm->task;
    if (t->loop->current_task != t) return COIO_ESTATE;
    bool expiring = tm->state == ScopeState::Expiring;
    int cancelling = int(tm->cancelling);
    // Frees tm (free_scope cancels the timer).  May throw before anything is removed.
    future_remove_done_callback(t, task_done, tm);
    if (expiring && task_uncancel(t) <= cancelling && status == COIO_ECANCELLED)
        return COIO_ETIMEDOUT;
    return status;
}

CallbackNames timeout_callback_names() {
    static const CallbackName names[] = {{any_fn(task_done), nullptr}}; // asyncio.timeout has none
    return {names, sizeof names / sizeof names[0]};
}

} // namespace coio::detail
