// Tasks: asyncio's Task.__step / __wakeup / cancel as a step protocol.  A task is a future
// whose body is a step function; stackful coroutines (coroutine.cc) are one such step.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "callback_names.hh"
#include "future.hh"
#include "handle.hh"
#include "loop.hh"
#include "observer.hh"
#include "ready.hh"
#include "task.hh"
#include "coroutine.hh"

namespace coio::detail {

static std::atomic<std::uint64_t> g_task_counter{0}; // asyncio's _task_name_counter

static void link(Loop *loop, Task *t) {
    t->prev = nullptr;
    t->next = loop->tasks;
    if (loop->tasks) loop->tasks->prev = t;
    loop->tasks = t;
}

static void unlink(Task *t) {
    Loop *loop = t->loop;
    if (t->prev)
        t->prev->next = t->next;
    else if (loop->tasks == t)
        loop->tasks = t->next;
    if (t->next) t->next->prev = t->prev;
    t->prev = t->next = nullptr;
}

static void set_ref(Future *&slot, Future *f) {
    if (f) future_ref(f);
    if (slot) future_unref(slot);
    slot = f;
}

static TaskExtra &extra(Task *t) {
    if (!t->extra) {
        t->extra = static_cast<TaskExtra *>(std::calloc(1, sizeof(TaskExtra)));
        if (!t->extra) throw std::bad_alloc();
    }
    return *t->extra;
}

static const char *cancel_msg(const Task *t) {
    return t->extra ? t->extra->cancel_msg : nullptr;
}

// task_new's end with observers attached (out of line: without them it costs one branch).
// Makes room for their data, links the task and reports it; undoes the task if that fails.
__attribute__((noinline)) static void observed_link(Loop *loop, Task *t) {
    Task *parent = loop->current_task;
    try {
        observe_task_prepare(t);
    } catch (...) {
        if (t->extra) {
            std::free(t->extra->name);
            std::free(t->extra);
        }
        t->~Task();
        loop->pools.task.release(t);
        loop_unref(loop);
        throw;
    }
    link(loop, t);
    observe_task_created(t, parent);
}

// What a waiting step task costs (bench's step_task_rss): this, and its registration.
static_assert(sizeof(Future) == 72 && sizeof(Task) == 136, "a task's size changed: measure it");

Task *task_new(Loop *loop, coio_step_fn step, void *arg, coio_free_fn drop,
               const coio_task_options *opts) {
    TaskExtra *ex = nullptr;
    if (opts && opts->name) {
        ex = static_cast<TaskExtra *>(std::calloc(1, sizeof(TaskExtra)));
        if (!ex) throw std::bad_alloc();
        try {
            ex->name = copy_string(opts->name);
        } catch (...) {
            std::free(ex);
            throw;
        }
    }
    void *mem;
    try {
        mem = loop->pools.task.alloc();
    } catch (...) {
        if (ex) std::free(ex->name);
        std::free(ex);
        throw;
    }
    auto *t = new (mem) Task;
    future_init(t, loop);
    t->kind = Future::TaskKind;
    t->id = ++g_task_counter;
    t->extra = ex;
    t->step = step;
    t->arg = arg;
    t->drop = drop;
    t->fut_waiter = nullptr;
    if (__builtin_expect(loop->observed, 0))
        observed_link(loop, t);
    else
        link(loop, t);
    return t;
}

// Queues one step (a reference to the task, and to `awaited` if any, move to the entry).
static inline __attribute__((always_inline)) void schedule_step(Task *t, Future *awaited) {
    future_ref(t);
    t->loop->ready.push({kRunTask, t, awaited});
}

// Queues t's next step from inside a step, with the caller's reference if it holds one (kHeld).
template <bool kHeld> static inline void requeue(Task *t, Future *awaited) {
    if constexpr (kHeld)
        t->loop->ready.push({kRunTask, t, awaited});
    else
        schedule_step(t, awaited);
}

// kHeld: the caller holds a reference to t that it gives up right after the step (a step
// entry's, or an eager start's).  A step that queues the next one then hands that reference
// on to the new entry instead of taking one of its own, and returns true.
template <bool kHeld = false>
static inline __attribute__((always_inline)) bool step(Task *t, Future *awaited);

// The done callback a task registers on the future it waits for (asyncio's __wakeup).
void task_wakeup(coio_future *f, void *arg) {
    step(static_cast<Task *>(arg), reinterpret_cast<Future *>(f));
}

void task_wakeup_drop(void *arg) {
    future_unref(static_cast<Task *>(arg));
}

void task_start(Task *t, bool eager) {
    if (eager && t->loop->running.load(std::memory_order_relaxed)) {
        future_ref(t); // the step may finish it and drop the last loop-held reference
        if (!step<true>(t, nullptr)) future_unref(t);
        return;
    }
    t->loop->ready.reserve(1);
    schedule_step(t, nullptr);
}

void task_run_entry(Task *t, Future *awaited) {
    bool handed_on = step<true>(t, awaited);
    if (awaited) future_unref(awaited);
    if (!handed_on) future_unref(t);
}

// The body's registration ends: it has finished or will never run.  Its drop runs and the
// reference the body held on its task (the one task_new created) goes, except when the task
// is being destroyed already (refs == 0).
static void end_body(Task *t) {
    coio_free_fn drop = t->drop;
    void *arg = t->arg;
    t->ended_body = task_body(t);
    t->step = nullptr;
    t->drop = nullptr;
    // Observers first, while the task is still listed (an observer removed from inside a
    // hook then finds its data here).  Without observers the task holds no data of theirs
    // (removing one drops it), and task_finalize frees the array.
    if (__builtin_expect(t->loop->observed, 0)) observe_task_done(t);
    unlink(t);
    if (drop) drop(arg);
    if (t->refs) future_unref(t);
}

void (*task_body(const Task *t))() {
    if (!t->step) return t->ended_body;
    if (t->step == coroutine_step) return coroutine_body(t->arg);
    return reinterpret_cast<void (*)()>(t->step);
}

void task_stash_error(Task *t, int code, const char *message, Future *cause) {
    FutureError *e = error_new(code, message, cause);
    FutureError *old = t->error;
    t->error = e;
    future_free_error(old); // its drop finds the new error in place
}

void task_note_delivered(Task *t, const char *msg) noexcept {
    char *copy = nullptr;
    try {
        TaskExtra &ex = extra(t);
        copy = copy_string(msg);
        std::free(ex.delivered);
        ex.delivered = copy;
        ex.has_delivered = true;
    } catch (...) { // out of memory: delivered without its message
        if (t->extra) {
            std::free(t->extra->delivered);
            t->extra->delivered = nullptr;
            t->extra->has_delivered = true;
        }
    }
}

int task_cancel_message(const Task *t, const char **msg) {
    if (!t->extra || !t->extra->has_delivered) return COIO_ESTATE;
    *msg = t->extra->delivered;
    return COIO_OK;
}

const char *task_delivered_message(const Task *t) {
    return t->extra ? t->extra->delivered : nullptr;
}

const char *task_requested_message(const Task *t) {
    return cancel_msg(t);
}

const char *task_ending_message(const Task *t) {
    if (!t->extra) return nullptr;
    return t->extra->has_final ? t->extra->final_msg : t->extra->delivered;
}

void task_set_final_cancel(Task *t, const char *msg) {
    TaskExtra &ex = extra(t);
    char *copy = copy_string(msg);
    std::free(ex.final_msg);
    ex.final_msg = copy;
    ex.has_final = true;
}

// The body ended cancelled: with the message it chose (coio_task_set_cancelled), else by
// re-raising the last cancellation delivered to it (asyncio's bare `raise`), else (it was
// never delivered one) with the message of the cancel() that ends it.
static void finish_cancelled(Task *t, Future *awaited, bool by_cancel = false) {
    const char *msg;
    if (by_cancel) // asyncio: super().cancel(msg=self._cancel_message)
        msg = cancel_msg(t);
    else if (t->extra && t->extra->has_final)
        msg = t->extra->final_msg;
    else if (t->extra && t->extra->has_delivered)
        msg = t->extra->delivered;
    else if (awaited && awaited->state == Future::Cancelled && awaited->error)
        msg = awaited->error->message;
    else
        msg = cancel_msg(t);
    future_complete_error(t, Future::Cancelled, COIO_ECANCELLED, msg, nullptr);
}

// The body returned `rc` (anything but COIO_STEP_YIELD / COIO_STEP_AWAIT): complete the task.
static void finish(Task *t, int rc, Future *awaited) {
    bool by_cancel = rc == COIO_OK && t->must_cancel; // cancelled right before it ended
    if (by_cancel) rc = COIO_ECANCELLED;
    t->must_cancel = t->cancel_deferred = false;
    if (rc == COIO_OK) {
        FutureError *unused = t->error; // set by the body, which then succeeded anyway
        t->error = nullptr;
        future_complete(t, Future::Result);
        future_free_error(unused); // its drop finds t done
    } else if (rc == COIO_ECANCELLED) {
        finish_cancelled(t, awaited, by_cancel);
    } else if (rc == COIO_EFAILED && t->error) { // the body's own coio_future_set_error
        future_complete(t, Future::Failed);
    } else if (rc == COIO_EFAILED && awaited && awaited->state == Future::Failed) {
        // The step got the awaited future's failure and let it propagate.
        future_complete_error(t, Future::Failed, awaited->error->code, awaited->error->message,
                              awaited);
    } else if (rc == COIO_EFAILED) {
        future_complete_error(t, Future::Failed, COIO_EFAILED, "task failed", nullptr);
    } else {
        char msg[96];
        std::snprintf(msg, sizeof msg, "task body returned %s (%d)", coio_status_name(rc), rc);
        future_complete_error(t, Future::Failed, rc, msg, nullptr);
    }
    end_body(t);
}

// One step of the body with observers attached (out of line: without them a step pays one
// branch), between their step hooks.
__attribute__((noinline)) static int observed_body(Task *t, Future *awaited, int status) {
    observe_step_begin(t);
    int rc;
    try {
        rc = t->step(reinterpret_cast<coio_future *>(t), reinterpret_cast<coio_future *>(awaited),
                     status, t->arg);
    } catch (...) {
        rc = COIO_EFAILED;
    }
    observe_step_end(t, rc);
    return rc;
}

// Releases the future a task waited on once its step is over: a stackful body reads the
// future it awaited after it resumed, and the last other reference to it may have gone while
// the task waited (released in a done callback or a drop).
namespace {
struct WaiterHold {
    Future *f;
    ~WaiterHold() {
        if (f) future_unref(f);
    }
};
} // namespace

// asyncio's Task.__step: `awaited` is what the previous step waited for (or null).
template <bool kHeld>
static inline __attribute__((always_inline)) bool step(Task *t, Future *awaited) {
    if (t->state != Future::Pending || !t->step) return false; // done, or killed at loop close
    WaiterHold hold{t->fut_waiter}; // fut_waiter's reference, until the step is over
    t->fut_waiter = nullptr;
    int status = awaited ? future_outcome(awaited) : COIO_OK; // __wakeup's future.result()
    if (t->must_cancel) {
        if (t->cancel_deferred) { // this step sees `awaited`; the body's next await, the cancel
            t->cancel_deferred = false;
        } else {
            if (status == COIO_OK && awaited) future_refused(awaited); // woken, but cancelled
            // asyncio keeps the awaited future's CancelledError, else makes one from the
            // message of the cancel() (_make_cancelled_error).
            if (status != COIO_ECANCELLED) {
                task_note_delivered(t, cancel_msg(t));
                status = COIO_ECANCELLED;
            } else {
                task_note_delivered(t, awaited->error ? awaited->error->message : nullptr);
            }
            t->must_cancel = false;
        }
    } else if (status == COIO_ECANCELLED) [[unlikely]] { // the awaited future was cancelled
        task_note_delivered(t, awaited->error ? awaited->error->message : nullptr);
    }
    if (!t->started && status == COIO_ECANCELLED) { // cancelled before its first step
        finish_cancelled(t, awaited);
        end_body(t);
        return false;
    }
    t->started = true;

    Loop *loop = t->loop;
    Task *prev = loop->current_task;
    Future *prev_awaiting = loop->step_awaiting; // a step nested in another's (an eager task)
    loop->current_task = t;
    loop->step_awaiting = nullptr;
    int rc;
    if (__builtin_expect(loop->observed, 0)) {
        rc = observed_body(t, awaited, status);
    } else {
        try {
            if (t->step == coroutine_step) // resumed inline: one frame less to return through
                rc = coroutine_resume(t, status, static_cast<Coroutine *>(t->arg));
            else
                rc = t->step(reinterpret_cast<coio_future *>(t),
                             reinterpret_cast<coio_future *>(awaited), status, t->arg);
        } catch (...) { // a C++ exception thrown through a binding's step
            rc = COIO_EFAILED;
        }
    }
    loop->current_task = prev;
    Future *next = loop->step_awaiting; // its reference moves on below
    loop->step_awaiting = prev_awaiting;

    if (rc == COIO_STEP_YIELD) {
        requeue<kHeld>(t, nullptr);
        if (next) [[unlikely]] // awaited, then not waited for
            future_unref(next);
        return kHeld;
    }
    if (rc != COIO_STEP_AWAIT) {
        finish(t, rc, awaited);
        if (next) future_unref(next);
        return false;
    }
    if (!next) {
        future_complete_error(t, Future::Failed, COIO_ESTATE,
                              "step returned COIO_STEP_AWAIT without coio_step_await", nullptr);
        end_body(t);
        return false;
    }
    if (next->yield_once && next->state == Future::Pending) {
        // asyncio.sleep(0) is a bare yield: one pass, and its future is done by then.
        requeue<kHeld>(t, next);
        return kHeld;
    }
    future_ref(t); // the wakeup registration's
    try {
        future_add_done_callback(next, task_wakeup, t, task_wakeup_drop);
    } catch (...) {
        future_unref(t);
        future_unref(next);
        throw;
    }
    t->fut_waiter = next;
    // The cancel may come back round to t (next awaits t): then t no longer waits on next,
    // its next step delivers the cancellation (wake_cancelled), and must_cancel stays.
    if (t->must_cancel && cancel_chain(next, cancel_msg(t)) && t->fut_waiter == next)
        t->must_cancel = t->cancel_deferred = false;
    return false;
}

bool task_take_queued_wakeup(Task *t, Future *awaited) {
    if (t->fut_waiter != awaited || awaited->state == Future::Pending || !t->step) return false;
    for (std::uint32_t i = 0; i < awaited->ncallbacks; i++) {
        DoneCallback &cb = callback_at(awaited, i);
        if (cb.fn == task_wakeup && cb.arg == t) {
            cb = kEndedCallback; // the queued call runs nothing; its reference is the caller's
            return true;
        }
    }
    return false;
}

void task_step_now(Task *t, Future *awaited) {
    future_ref(awaited); // the step may release the last other reference
    bool handed_on = step<true>(t, awaited);
    future_unref(awaited);
    // The wakeup registration's reference, taken over by task_take_queued_wakeup.
    if (!handed_on) future_unref(t);
}

// t waits on a future that refused the cancellation because it is being cancelled already:
// the awaits form a cycle (A awaits B awaits A) that nothing else would ever end.  t stops
// waiting and its next step delivers the cancellation (must_cancel is set); the step entry
// takes over the fut_waiter reference, so the waiter outlives the cancel calls still running
// on it.
static void wake_cancelled(Task *t) {
    Future *w = t->fut_waiter;
    t->loop->ready.reserve(1);
    t->fut_waiter = nullptr;
    t->cancel_deferred = false; // w will not deliver an outcome first: the cancel goes now
    t->loop->ready.push({kRunTask, t, w});
    // The wakeup registration's reference on t moves to the step entry.
    if (!future_unlink_callback(w, task_wakeup, t)) future_ref(t);
}

// asyncio's Task.cancel past its first checks: the waiter first (it may be a task that
// swallows the cancellation, so fut_waiter stays set), else a cancellation for the next step.
static int cancel_pending(Task *t, const char *msg) {
    bool cycle = false;
    if (Future *w = t->fut_waiter) {
        bool outer_cycle = t->loop->cancel_cycle;
        t->loop->cancel_cycle = false;
        t->cancelling_waiter = true;
        bool reached;
        try {
            reached = cancel_any(w, msg);
        } catch (...) {
            t->cancelling_waiter = false;
            t->loop->cancel_cycle = outer_cycle;
            throw;
        }
        t->cancelling_waiter = false;
        cycle = !reached && t->loop->cancel_cycle && t->fut_waiter == w &&
                w->state == Future::Pending && t->state == Future::Pending;
        t->loop->cancel_cycle = outer_cycle;
        if (reached || t->state != Future::Pending) return 1;
    }
    if (msg || cancel_msg(t)) {
        TaskExtra &ex = extra(t);
        char *copy = copy_string(msg);
        std::free(ex.cancel_msg);
        ex.cancel_msg = copy;
    }
    t->must_cancel = true; // delivered at the next step
    if (cycle) wake_cancelled(t);
    return 1;
}

int task_cancel(Task *t, const char *msg) {
    if (t->state != Future::Pending) return 0;
    if (t->cancelling_waiter) { // come back round a cycle of awaits: see wake_cancelled
        t->loop->cancel_cycle = true;
        return 0;
    }
    t->num_cancels++;
    // Cancelling the waiter may run user code (drops) that ends t's body or releases t.
    future_ref(t);
    int rc;
    try {
        rc = cancel_pending(t, msg);
    } catch (...) {
        future_unref(t);
        throw;
    }
    future_unref(t);
    return rc;
}

void task_cancel_deferred(Task *t) {
    if (t->state != Future::Pending) return;
    t->num_cancels++;
    if (!t->must_cancel) t->cancel_deferred = true; // a plain pending cancel stays plain
    t->must_cancel = true;
}

int task_uncancel(Task *t) {
    if (t->num_cancels > 0 && --t->num_cancels == 0)
        t->must_cancel = t->cancel_deferred = false; // 3.13
    return int(t->num_cancels);
}

const char *task_name_into(const Task *t, char (&buf)[32]) {
    if (t->extra && t->extra->name) return t->extra->name;
    std::snprintf(buf, sizeof buf, "Task-%llu", static_cast<unsigned long long>(t->id));
    return buf;
}

const char *task_name(Task *t) {
    char buf[32];
    TaskExtra &ex = extra(t);
    if (!ex.name) ex.name = copy_string(task_name_into(t, buf));
    return ex.name;
}

// "Task was destroyed but it is pending!".  Runs while closing the loop or freeing the task,
// so it does not allocate; `future` is null when the task is being freed.
static void report_pending(Task *t, coio_future *future) {
    char buf[32];
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = "Task was destroyed but it is pending!";
    ctx.error = task_name_into(t, buf);
    ctx.future = future;
    loop_report(t->loop, &ctx);
}

void task_set_name(Task *t, const char *name) {
    TaskExtra &ex = extra(t);
    char *copy = copy_string(name);
    std::free(ex.name);
    ex.name = copy;
}

void task_abandon(Task *t) {
    end_body(t);
}

static void task_finalize(Task *t) {
    if (t->step) { // the loop is gone or never ran it: the body never will
        report_pending(t, nullptr);
        end_body(t);
    }
    set_ref(t->fut_waiter, nullptr);
    if (t->extra) {
        std::free(t->extra->name);
        std::free(t->extra->cancel_msg);
        std::free(t->extra->obs_data);
        std::free(t->extra->delivered);
        std::free(t->extra->final_msg);
        std::free(t->extra);
    }
}

static bool task_ops_cancel(Future *f, const char *msg) {
    return task_cancel(static_cast<Task *>(f), msg) == 1;
}

static void task_release(Future *f) {
    auto *t = static_cast<Task *>(f);
    Loop *loop = t->loop;
    task_finalize(t);
    loop->pools.task.release(t);
}

// A task's cancel() and its end, as future.cc calls them for every kind of future.
const FutureOps kTaskOps = {task_ops_cancel, nullptr,      nullptr,
                            nullptr,         task_release, "Task exception was never retrieved"};

Task *spawn_step(Loop *loop, coio_step_fn step, void *arg, coio_free_fn drop,
                 const coio_task_options &o) {
    Task *t = task_new(loop, step, arg, drop, &o);
    future_ref(t); // the caller's
    try {
        task_start(t, o.flags & COIO_TASK_EAGER);
    } catch (...) {
        t->drop = nullptr; // the caller keeps arg
        future_unref(t);
        task_abandon(t);
        throw;
    }
    return t;
}

// Closing the loop: every task that is not done is reported and its body ended (its stack
// freed, its arg dropped), as asyncio reports pending tasks when they are collected.
void tasks_close(Loop *loop) {
    while (Task *t = loop->tasks) {
        future_ref(t);
        report_pending(t, reinterpret_cast<coio_future *>(t));
        if (Future *w = t->fut_waiter) {
            t->fut_waiter = nullptr;
            future_remove_done_callback(w, task_wakeup, t); // drops the registration's reference
            future_unref(w);
        }
        end_body(t);
        future_unref(t);
    }
}

// ---- sleep ------------------------------------------------------------------------------

namespace {
struct Sleep {
    Future *f;
    Handle *timer;
};
} // namespace

static void sleep_fire(void *arg) {
    auto *s = static_cast<Sleep *>(arg);
    if (s->f->state == Future::Pending) future_set_result(s->f, nullptr, nullptr);
}

// The future is done: if by cancellation, its timer goes too.
void sleep_done(coio_future *, void *arg) {
    auto *s = static_cast<Sleep *>(arg);
    if (s->timer) handle_cancel(s->timer);
}

// The future is freed (possibly before its timer fired): the timer must not outlive it.
void sleep_free(void *arg) {
    auto *s = static_cast<Sleep *>(arg);
    if (s->timer) {
        handle_cancel(s->timer);
        handle_unref(s->timer);
    }
    std::free(s);
}

Future *sleep_new(Loop *loop, double delay) {
    Future *f = future_new(loop);
    try {
        if (delay <= 0) {
            f->yield_once = true;
            loop->ready.reserve(1);
            future_ref(f);
            loop->ready.push({kRunResolve, f, nullptr});
            return f;
        }
        auto *s = static_cast<Sleep *>(std::calloc(1, sizeof(Sleep)));
        if (!s) throw std::bad_alloc();
        s->f = f;
        try {
            future_add_done_callback(f, sleep_done, s, sleep_free);
        } catch (...) {
            std::free(s);
            throw;
        }
        // The timer does not own a reference: the done callback cancels it first.
        s->timer = loop_call_at(loop, loop_time(loop) + delay, sleep_fire, s, nullptr);
        s->timer->refs++; // ours, released by sleep_free
    } catch (...) {
        future_unref(f);
        throw;
    }
    return f;
}

CallbackNames task_callback_names() {
    // asyncio.sleep's future has no done callback: coio's timer bookkeeping is not shown.
    static const CallbackName names[] = {{any_fn(task_wakeup), "Task.task_wakeup"},
                                         {any_fn(ended_done), nullptr},
                                         {any_fn(sleep_done), nullptr}};
    return {names, sizeof names / sizeof names[0]};
}

int task_check_outcome(Future *f) {
    Task *t = as_task(f);
    if (!t) return COIO_OK;
    if (f->loop->current_task != t || t->has_result || t->error) return COIO_ESTATE;
    return COIO_OK;
}

// The owner completes f (not a task) by hand: a custom future then lets go of what it
// watches (FutureOps::let_go), held across it, since completing runs inline watchers that may
// release f.  A plain future has nothing to let go and completes on its own.
template <class Complete> static void complete_by_owner(Future *f, Complete complete) {
    if (f->kind == Future::Plain) {
        complete();
        return;
    }
    FutureHold hold(f);
    complete();
    future_let_go(f);
}

void future_resolve(Future *f, void *value, coio_free_fn drop) {
    if (Task *t = as_task(f)) { // stored until the body returns
        t->value = value;
        t->value_drop = drop;
        t->has_result = true;
        return;
    }
    complete_by_owner(f, [&] { future_set_result(f, value, drop); });
}

void future_reject(Future *f, int code, const char *message, void *payload, coio_free_fn drop) {
    if (Task *t = as_task(f)) { // stored until the body returns COIO_EFAILED
        task_stash_error(t, code, message, nullptr);
        t->error->payload = payload;
        t->error->payload_drop = drop;
        return;
    }
    complete_by_owner(f, [&] { future_set_error(f, code, message, payload, drop); });
}

int task_step_await(Task *t, Future *f) {
    if (t->loop->current_task != t || t->step == coroutine_step) return COIO_ESTATE;
    if (f->loop != t->loop) return COIO_ELOOP;
    future_ref(f);
    Future *old = t->loop->step_awaiting; // awaited earlier in this step: replaced
    t->loop->step_awaiting = f;
    if (old) future_unref(old); // last: it may run drops
    return COIO_OK;
}

long loop_all_tasks(Loop *loop, Future **out, std::size_t cap) {
    long n = 0;
    for (Task *t = loop->tasks; t; t = t->next) {
        if (t->internal) continue; // asyncio has no such task (a task group's exit)
        if (std::size_t(n++) < cap) {
            future_ref(t);
            out[n - 1] = t;
        }
    }
    return n;
}

} // namespace coio::detail
