// The event loop (loop.cc): its state, running it, time, the exception handler.  Every
// function here assumes its arguments were checked by the api*.cc boundary; those that may
// allocate throw std::bad_alloc, which the boundary turns into COIO_ENOMEM.
#pragma once

#include <coio.h>
#include <ev.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <pthread.h>
#include <time.h>
#include <unordered_map>
#include <vector>

#include "clock.hh"
#include "future.hh"
#include "handle.hh"
#include "io.hh"
#include "pool.hh"
#include "ready.hh"
#include "task.hh"
#include "timer_heap.hh"

namespace coio::detail {

struct StackPool;
struct SignalHandlers;
struct Executor;
struct Remote;
struct Observers;
struct Plugins;

// call_soon_threadsafe's entries, handed over to the loop thread at its next pass.
struct Inbox {
    std::mutex mu; // guards items and, for other threads, the loop's `closed`
    bool closed = false;
    std::atomic<bool> pending{false};     // items is not empty (a hint read every pass)
    std::vector<ReadyEntry> items, spare; // (fn, arg, drop) entries
};

// coio_loop_set_exception_handler's (fn, arg, drop).
struct ExceptionHandler {
    coio_exception_handler fn = nullptr;
    void *arg = nullptr;
    coio_free_fn drop = nullptr;
};

// Free lists for the objects the hot paths make.
struct LoopPools {
    Pool<sizeof(Handle), alignof(Handle)> handle; // 56-byte slots
    Pool<sizeof(Future), alignof(Future)> future; // 72-byte slots (not 80: max_align_t's)
    Pool<sizeof(Task), alignof(Task)> task;       // 136-byte slots
    Pool<kSmallCustomFuture> custom;              // custom futures up to that size (waiters, ...)
    Pool<kCoroutineBytes> coroutine;
    Pool<sizeof(BoxedCallback), alignof(BoxedCallback)> boxed; // done callbacks with a drop
};

struct Loop {
    std::uint32_t refs = 1; // the creator's, plus one per live handle and future
    bool closed = false;
    bool released = false;            // the creator's reference was dropped
    std::atomic<bool> running{false}; // read by coio_loop_stop from other threads
    bool debug = false;
    bool observed = false;     // an observer is attached (observer.cc)
    bool instrumented = false; // debug || observed: callbacks take the slow path
    bool closing = false;      // loop_close is detaching the plugins
    bool discarding = false;   // loop_close or loop_discard_leftovers is ending what is queued
    bool virtual_time = false;
    std::atomic<bool> stopping{false};
    double slow_callback_duration = 0.1;
    double vnow = 0.0;                 // the virtual clock
    Clock clock;                       // the real clock, also in virtual time (clock.hh)
    double last_poll = 0.0;            // when I/O was last polled (real clock)
    std::uint32_t ran_since_check = 0; // callbacks run since the poll clock was last read
    std::uint64_t seq = 0;             // scheduling sequence for timer ties
    std::size_t cancelled_timers = 0;  // cancelled timers still in the heap or ready queue
    std::atomic<pthread_t> owner{};    // the thread running the loop

    struct ev_loop *ev = nullptr;
    ev_timer wake;  // the next timer deadline, while blocked in the poll
    ev_async async; // call_soon_threadsafe / stop from another thread

    ReadyQueue ready;
    TimerHeap timers;
    IoState io; // io.cc: the fds' watchers
    Inbox ts;   // call_soon_threadsafe's entries
    ExceptionHandler exc;
    LoopPools pools;

    // A cancel was refused because the object was being cancelled already (a cycle of
    // awaits): the task whose waiter refused wakes with the cancellation (task_cancel).
    bool cancel_cycle = false;
    // The cancellation under way (future.cc, cancel_any): its number, and how deep in it we
    // are.  A gather reached twice in one cancellation passes it on the first time only.
    std::uint64_t cancel_walk = 0;
    std::uint32_t cancel_depth = 0;
    Task *current_task = nullptr; // the task whose body runs now
    // What current_task's step awaits (coio_step_await, a reference): one per loop rather
    // than a field of every task, since only the running step sets it.
    Future *step_awaiting = nullptr;
    std::uint32_t inline_depth = 0; // future.cc: inside a completion's inline registrations
    std::uint32_t no_suspend = 0; // drops and reports run: no coroutine body may suspend under them
    Task *tasks = nullptr;        // tasks that are not done (asyncio.all_tasks)
    struct StackPool *stack_pool = nullptr;   // coroutine.cc: mapped stacks, once used
    struct SignalHandlers *signals = nullptr; // signal.cc: this loop's signal handlers
    struct Executor *executor = nullptr;      // executor.cc: the thread pool, once used
    struct Remote *remote = nullptr;          // remote.cc: the thread-safe edge, once used
    // coio_future_set_result_repr's formatters (repr.cc): the first kReprFns distinct ones
    // are numbered (Future::repr is 1 + the index here); a future formatted by any later one
    // has Future::repr == kReprInMap and its formatter in `reprs`.
    static constexpr std::uint8_t kReprFns = 30, kReprInMap = kReprFns + 1;
    coio_repr_fn repr_fns[kReprFns] = {};
    std::uint8_t nrepr_fns = 0;
    std::unordered_map<const Future *, coio_repr_fn> reprs;
    Observers *observers = nullptr; // observer.cc, once one was added
    Plugins *plugins = nullptr;     // plugin.cc: attached plugins, services

    Loop() = default;
    Loop(const Loop &) = delete;
    Loop &operator=(const Loop &) = delete;
    ~Loop();
};

// opt: checked, current size.  Loads COIO_PLUGINS unless opt says not to.
int loop_new(Loop **out, const coio_loop_options &opt);
int loop_close(Loop *loop);
int loop_release(Loop *loop); // coio_loop_release: closes, then drops the creator's reference
void loop_discard_leftovers(Loop *loop); // closed: what was queued since (see loop.cc)
void loop_set_debug(Loop *loop, bool enabled);
void loop_destroy(Loop *loop); // the last reference went
void loop_run_forever(Loop *loop);
int loop_run_until_complete(Loop *loop, Future *f);
int loop_stop(Loop *loop); // thread-safe; COIO_ECLOSED once closed
Handle *loop_call_at(Loop *loop, double when, coio_callback fn, void *arg, coio_free_fn drop);
int loop_call_soon_threadsafe(Loop *loop, coio_callback fn, void *arg, coio_free_fn drop);
void loop_report(Loop *loop, const coio_exception_context *ctx);
void loop_set_exception_handler(Loop *loop, coio_exception_handler fn, void *arg,
                                coio_free_fn drop);
void default_exception_handler(const coio_exception_context *ctx);
bool loop_on_other_thread(const Loop *loop); // running, and not on this thread

// coio_loop_time: the virtual clock, or the real one (fresh, and cheap: clock.hh).
inline double loop_time(Loop *loop) {
    return loop->virtual_time ? loop->vnow : clock_now(loop->clock);
}

// Debug mode's wrong-thread check (always false outside debug mode: no cost but the flag).
inline bool loop_on_wrong_thread(const Loop *loop) {
    return loop->debug && loop_on_other_thread(loop);
}

inline void loop_unref(Loop *loop) {
    if (--loop->refs == 0) loop_destroy(loop);
}

inline void loop_ref(Loop *loop) {
    loop->refs++;
}

// Held while user code runs that is not a task's body but may run on a coroutine body's stack
// (a drop, the exception handler, called from inside the body's API call): coio_await there
// would suspend the body in the middle of the library's own call.  It is refused (ENOTSUP).
struct NoSuspend {
    Loop *loop;
    explicit NoSuspend(Loop *l) : loop(l) { loop->no_suspend++; }
    ~NoSuspend() { loop->no_suspend--; }
    NoSuspend(const NoSuspend &) = delete;
    NoSuspend &operator=(const NoSuspend &) = delete;
};

// Schedules a plain callback / a handle (the queue takes over the reference passed in).
inline void ready_push_callback(Loop *loop, coio_callback fn, void *arg, coio_free_fn drop) {
    loop->ready.push({fn, arg, reinterpret_cast<void *>(drop)});
}
inline void ready_push_handle(Loop *loop, Handle *h) {
    loop->ready.push({kRunHandle, h, nullptr});
}

} // namespace coio::detail
