// The C++ core behind the C API: loop, handles and futures.  Everything here assumes its
// arguments were checked by api.cc; functions that may allocate throw std::bad_alloc, which
// api.cc turns into COIO_ENOMEM.
#pragma once

#include <coio.h>
#include <ev.h>

#include <atomic>
#include <type_traits>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <pthread.h>
#include <time.h>
#include <vector>

#include "pool.hh"
#include "ready.hh"
#include "timer_heap.hh"

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

// Ready-queue entry tags (compared by address) and dispatch.
void kRunHandle(void *);
void kRunDone(void *);
void kRunTask(void *);    // (task, awaited): one step of a task; both references
void kRunResolve(void *); // (future): set a NULL result unless done (sleep(0)); a reference
void ready_discard(const ReadyEntry &e); // ready_dispatch<Discard> (below)
void ready_push_done(Loop *loop, Future *f, std::uint32_t first, std::uint32_t count);

// A registered done callback.
struct DoneCallback {
    coio_done_fn fn;
    void *arg;
    coio_free_fn drop;
};

struct FutureError {
    int code;
    char *message; // owned, may be null
    void *payload;
    coio_free_fn payload_drop;
    Future *cause; // a propagated error: the future it came from (a reference), for its payload
    int sys_errno; // code COIO_ESYS: the errno of the failed system call
};

struct Future {
    enum State : std::uint8_t { Pending, Result, Failed, Cancelled };
    enum Kind : std::uint8_t { Plain, TaskKind, Custom };

    Loop *loop;
    std::uint32_t refs;
    State state;
    mutable bool retrieved; // the error was looked at (asyncio's __log_traceback = False)
    std::uint8_t kind;      // Kind: a plain future, a Task, or a CustomFuture (below)
    bool yield_once : 1;    // coio_sleep(<= 0): awaiting it is one bare yield
    bool inline_watch : 1;  // has a registration that runs at completion (future_watch_inline)
    bool has_repr : 1;      // loop->reprs holds the function that formats value (repr.cc)
    void *value;
    coio_free_fn value_drop;
    FutureError *error; // Failed and Cancelled (the cancel message)
    // Done callbacks: the first inline (the common case), more in a heap array.  They stay
    // here after completion (the ready queue refers to them by index); each one's drop is
    // cleared once its registration has ended.
    std::uint32_t ncallbacks, capacity;
    DoneCallback first;
    DoneCallback *more; // callbacks [1, ncallbacks)
};

Future *future_new(Loop *loop);
Future *future_new_done(Loop *loop); // already completed with a NULL result
// Completes dst (pending) with src's outcome (src done): a result is shared, not copied — dst
// keeps src alive (through its error slot's cause) while it borrows src's value.
void future_forward(Future *dst, Future *src);
void future_init(Future *f, Loop *loop);
void future_destroy_last(Future *f); // the last reference went
inline void future_ref(Future *f) {
    f->refs++;
}
inline void future_unref(Future *f) {
    if (--f->refs == 0) future_destroy_last(f);
}
// A reference held for the length of a scope that runs user code (drops, callbacks) and then
// touches f again.
struct FutureHold {
    Future *f;
    explicit FutureHold(Future *fut) : f(fut) { future_ref(f); }
    ~FutureHold() { future_unref(f); }
    FutureHold(const FutureHold &) = delete;
    FutureHold &operator=(const FutureHold &) = delete;
};
void future_set_result(Future *f, void *value, coio_free_fn drop);
void future_set_error(Future *f, int code, const char *message, void *payload, coio_free_fn drop);
// Fails f with COIO_ESYS, strerror(err) as message and err kept (coio_future_errno).
void future_set_sys_error(Future *f, int err);
// The errno of a COIO_ESYS error, following propagated errors to their cause; 0 if none.
int future_sys_errno(const Future *f);
// The payload of a failed or cancelled future's error, following propagated errors to the
// future it came from; null if none.
void *future_error_payload(const Future *f);
// Moves a result out (value and drop), leaving f holding nothing (coio_future_take_result).
void future_take_result(Future *f, void **value, coio_free_fn *drop);
// The result value, now the caller's if f owned it (coio_await_take).
void *future_take_value(Future *f);
bool future_cancel(Future *f, const char *msg); // the Future part only (see cancel_any)
// Completes a pending future with what is already stored in it (value or error): a task body
// stores its outcome before it returns.
void future_complete(Future *f, Future::State state);
// Completes a pending future as failed or cancelled; cause (may be null) is referenced.
void future_complete_error(Future *f, Future::State state, int code, const char *message,
                           Future *cause);
void future_free_error(FutureError *e);
// A new error (message copied, cause referenced; both may be null).  Throws std::bad_alloc.
FutureError *error_new(int code, const char *message, Future *cause);
char *copy_string(const char *s); // malloc'd copy; null for null.  Throws std::bad_alloc.
bool cancel_any(Future *f, const char *msg);   // coio_future_cancel: a task's or a future's
bool cancel_chain(Future *f, const char *msg); // cancel_any from outside a cancellation
void future_add_done_callback(Future *f, coio_done_fn fn, void *arg, coio_free_fn drop);
// An internal registration that runs when f completes, inside the completion, instead of
// through the ready queue (asyncio code that awaits f directly sees it one pass earlier than
// a done callback would: wait_for).  It runs in its place among f's callbacks: those before
// it are queued first, those after it once it ran.  fn must not run user code; whatever it
// completes schedules its own callbacks.  Nested inside another inline run, or when room in
// the ready queue cannot be made, it runs as an ordinary done callback.  Its slot's drop is
// inline_marker (a no-op) until it ran.  Throws std::bad_alloc.
void future_watch_inline(Future *f, coio_done_fn fn, void *arg);
void inline_marker(void *);
// Removes the first registration (fn, arg) of a pending future without running its drop (the
// caller ends it); false if there is none.  Never allocates, never runs user code.
bool future_unlink_callback(Future *f, coio_done_fn fn, void *arg);
void future_run_callbacks(Future *f, std::uint32_t first, std::uint32_t count);
void future_discard_callbacks(Future *f, std::uint32_t first, std::uint32_t count);
int future_remove_done_callback(Future *f, coio_done_fn fn, void *arg);
// COIO_OK / EFAILED / ECANCELLED / ESTATE; marks an error as retrieved.
inline int future_outcome(const Future *f) {
    switch (f->state) {
    case Future::Result:
        return COIO_OK;
    case Future::Cancelled:
        return COIO_ECANCELLED;
    case Future::Failed:
        f->retrieved = true;
        return COIO_EFAILED;
    default:
        return COIO_ESTATE;
    }
}

// The watcher of one fd (io.cc): per side, an add_reader / add_writer handle or a pending
// socket operation of sock.cc (never both), and the ev_io that polls for whichever is set.
// Made on first use and kept until the loop closes, with what is known of the fd.
struct SockOp;
struct FdWatcher {
    ev_io io; // first: the libev callback gets &io
    Loop *loop;
    Handle *reader;
    Handle *writer;
    SockOp *rop; // pending operations (each slot holds a reference)
    SockOp *wop;
    FdWatcher *uprev, *unext; // in the loop's list of unverified watchers (io.cc)
    std::uint32_t uepoch;     // the verification epoch it joined that list in
    unsigned reified_iter;    // reified_mask is what libev gave the kernel before this poll
    unsigned idle_iter;       // the last ev_iteration in which it became idle
    unsigned drained_iter;    // the ev_iteration of the short read that set `drained`
    std::uint8_t reified_mask;
    bool unverified; // armed on a kernel registration that predates a possible close
    bool fresh;      // the number names a new descriptor: register it anew
    bool drained;    // a short read found the socket empty (a hint, see sock.cc)
    bool nonblock;   // fd was seen to be non-blocking (F_GETFL)
};

void io_set(Loop *loop, int fd, bool write, Handle *h); // replaces (h null: removes)
// add_reader / add_writer (no socket operation pending on that side).  Throws std::bad_alloc;
// then arg stays the caller's.
void io_add_callback(Loop *loop, int fd, bool write, coio_callback fn, void *arg,
                     coio_free_fn drop);
bool io_remove(Loop *loop, int fd, bool write); // true if there was one
bool io_busy(Loop *loop, int fd, bool write);   // a socket operation is pending on that side
void io_close_all(Loop *loop);                  // closing the loop
FdWatcher *io_watcher(Loop *loop, int fd);      // null if fd has none
FdWatcher *io_watcher_make(Loop *loop, int fd); // throws std::bad_alloc
void io_update(Loop *loop, FdWatcher *fw);      // (re)arms the ev_io for what the sides want
// Arming that side now would need no call to the kernel (io.cc: the re-arm within a pass).
bool io_arm_free(Loop *loop, const FdWatcher *fw, bool write);
void io_fresh_fd(Loop *loop, int fd); // fd was just created (accept, connect)
// Socket operations and readiness futures (sock.cc; api_sock.cc checks the arguments).
void sock_ready(FdWatcher *fw, bool write);  // from the poll: that side's operation may go on
void sock_closed(FdWatcher *fw, bool write); // its fd was found closed: that side's op ends
void sock_abandon(SockOp *op);               // closing the loop: cancelled, slot reference gone
int sock_wait(Loop *loop, int fd, bool write, Future **out);
int sock_recv(Loop *loop, int fd, std::size_t n, Future **out);
int sock_recv_into(Loop *loop, int fd, void *buf, std::size_t len, Future **out);
int sock_sendall(Loop *loop, int fd, const void *buf, std::size_t len, Future **out);
int sock_accept(Loop *loop, int fd, Future **out);
int sock_connect(Loop *loop, int fd, const struct sockaddr *addr, socklen_t len, Future **out);
int sock_result_size(const Future *f, std::size_t *n);
int co_recv_into(int fd, void *buf, std::size_t len, std::size_t *n, int *err);
int co_sendall(int fd, const void *buf, std::size_t len, int *err);
int co_accept(int fd, int *conn, struct sockaddr *addr, socklen_t *addrlen, int *err);
int co_connect(int fd, const struct sockaddr *addr, socklen_t len, int *err);

// asyncio's Task: a future driven by a step function.  Stackful coroutines are tasks whose
// step resumes a fiber (coroutine.cc).
// What a task rarely needs, allocated on first use.
struct TaskExtra {
    char *name;       // set by the options or coio_task_set_name, or formatted on request
    char *cancel_msg; // the message of the last cancel() not yet delivered
    void **obs_data;  // observer.cc: each observer's data, by its slot (null: none attached)
    std::uint32_t obs_n;
    char *delivered; // the message of the last cancellation delivered to the body
    char *final_msg; // coio_task_set_cancelled: what the body ends cancelled with
    bool has_delivered;
    bool has_final;
};

struct Task : Future {
    std::uint64_t id;  // "Task-<id>"
    void (*body)();    // the coroutine or step function, kept for the repr (coro=<name()>)
    TaskExtra *extra;  // null until a name or a cancel message is stored
    Task *prev, *next; // the loop's list of tasks that are not done
    coio_step_fn step; // null once the body has finished or will never run
    void *arg;
    coio_free_fn drop;
    Future *fut_waiter;        // the future it waits on (a reference), asyncio's _fut_waiter
    Future *awaiting;          // set by coio_step_await during a step (a reference)
    std::uint32_t num_cancels; // asyncio's _num_cancels_requested
    bool must_cancel;
    bool started;
    bool has_result; // the body set a result (kept in value / value_drop until it returns)
    // With must_cancel: the next step still delivers what it awaited, and the cancellation
    // waits for the body's next await or return (task_cancel_deferred).
    bool cancel_deferred;
    bool internal; // coio's own (a task group's exit): not in coio_loop_all_tasks
    // Inside task_cancel, cancelling fut_waiter: a cancel that comes back round a cycle of
    // awaits (A awaits B awaits A) is refused instead of recursing without end.
    bool cancelling_waiter;
};

Task *task_new(Loop *loop, coio_step_fn step, void *arg, coio_free_fn drop,
               const coio_task_options *opts);
void task_start(Task *t, bool eager);
void task_run_entry(Task *t, Future *awaited); // a ready-queue step entry
int task_cancel(Task *t, const char *msg);
int task_uncancel(Task *t);
// asyncio's cancel() of a task that is running, made on its behalf while it waits for the
// current task (TaskGroup.__aexit__'s re-cancel, run by the group's exit task): the request
// is counted, and delivered once the task has seen the outcome it is waiting for.
void task_cancel_deferred(Task *t);
// For code that completes a future a task waits on and must resume that task in the same
// pass, as asyncio resumes the task whose own code it is (TaskGroup.__aexit__ ending in the
// exit task's step): once awaited is done and t's wakeup call is queued,
// task_take_queued_wakeup neutralises that call (false and nothing done if t does not wait
// on awaited), then task_step_now runs t's step inline and drops the registration's
// reference on t.
bool task_take_queued_wakeup(Task *t, Future *awaited);
void task_step_now(Task *t, Future *awaited);
// Cancel messages (asyncio's CancelledError(msg) as it travels): the message of the
// cancellation delivered to the body now (copied; out of memory: no message), and the one a
// body that returns COIO_ECANCELLED ends with (coio_task_set_cancelled; throws bad_alloc).
void task_note_delivered(Task *t, const char *msg) noexcept;
int task_cancel_message(const Task *t, const char **msg); // COIO_ESTATE before any delivery
void task_set_final_cancel(Task *t, const char *msg);
const char *task_delivered_message(const Task *t); // null if none
// What a body returning COIO_ECANCELLED now would end with: the message it set, else the
// last delivered one (null if none).
const char *task_ending_message(const Task *t);
// The message of the last cancel() that only requested a cancellation (asyncio's
// Task._cancel_message), or null.
const char *task_requested_message(const Task *t);
const char *task_name(Task *t);
// The name without allocating: the one set, else "Task-<id>" formatted into buf.
const char *task_name_into(const Task *t, char (&buf)[32]);
// The done callback by which a task waits (asyncio's __wakeup): not reported to observers as
// a callback (the step it runs is).
void task_wakeup(coio_future *f, void *arg);
void task_set_name(Task *t, const char *name);
void task_abandon(Task *t); // creation failed after task_new: undo it (runs t->drop)
// Stores the error a body finishes with when it returns COIO_EFAILED (replacing any); cause
// (may be null) is the awaited future it propagates, referenced for its payload.
void task_stash_error(Task *t, int code, const char *message, Future *cause);
// Create and start a task (checked options); the returned reference is the caller's.  On
// failure (they throw) arg stays the caller's: drop is not called.
Task *spawn_step(Loop *loop, coio_step_fn step, void *arg, coio_free_fn drop,
                 const coio_task_options &o);
Task *spawn_coroutine(Loop *loop, coio_coroutine_fn fn, void *arg, const coio_task_options &o);
void tasks_close(Loop *loop); // closing the loop: report and end every pending task
Future *sleep_new(Loop *loop, double delay);
inline Task *as_task(Future *f) {
    return f && f->kind == Future::TaskKind ? static_cast<Task *>(f) : nullptr;
}
void future_reject(Future *f, int code, const char *message, void *payload, coio_free_fn drop);
// coio_step_await: COIO_ESTATE outside t's own step (or for a coroutine), COIO_ELOOP for a
// future of another loop; else t's step awaits f (a reference).
int task_step_await(Task *t, Future *f);
// asyncio.all_tasks: the count, and the first cap of them referenced into out.
long loop_all_tasks(Loop *loop, Future **out, std::size_t cap);

// Timeout scopes (timeout.cc) and task groups (taskgroup.cc); api_taskgroup.cc checks the
// arguments.  A scope belongs to the task that entered it; a group is reference counted.
struct Timeout;
Timeout *timeout_enter(Loop *loop, Task *t, double when); // when: loop time; +INFINITY: none
Loop *timeout_loop(const Timeout *tm);
int timeout_reschedule(Timeout *tm, double when); // COIO_ESTATE unless entered and not expired
double timeout_when(const Timeout *tm);
bool timeout_expired(const Timeout *tm);
int timeout_exit(Timeout *tm, int status); // COIO_ESTATE (nothing done) off the entering task
struct TaskGroup;
TaskGroup *task_group_new(Loop *loop, Task *parent);
Loop *task_group_loop(const TaskGroup *g);
int task_group_spawn_step(TaskGroup *g, coio_step_fn step, void *arg, coio_free_fn drop,
                          const coio_task_options &o, Task **out);
int task_group_spawn_coroutine(TaskGroup *g, coio_coroutine_fn fn, void *arg,
                               const coio_task_options &o, Task **out);
int task_group_exit(TaskGroup *g, int status, Task **out);
long task_group_errors(const TaskGroup *g, Future **out, std::size_t cap);
void task_group_free(TaskGroup *g);

// The value's formatter (repr.cc): set (throws bad_alloc), forget (with the value), copy.
void value_repr_set(Future *f, coio_repr_fn repr);
void value_repr_erase(Future *f);
inline void value_repr_forget(Future *f) {
    if (f->has_repr) value_repr_erase(f);
}
coio_repr_fn value_repr_get(const Future *f);

// Futures with behaviour of their own (combinators, waiters of sync primitives): a derived
// struct whose first member is a CustomFuture, allocated with custom_future_new.
struct FutureOps {
    // coio_future_cancel on it: true if a cancellation was done or requested (asyncio's
    // overridden cancel(), e.g. _GatheringFuture's).  Null: a plain future's cancel.
    bool (*cancel)(Future *f, const char *msg);
    // The task that awaited f is cancelled after f completed with a result and before it saw
    // it (asyncio throws CancelledError into the coroutine after the waiter's wake-up): give
    // back what f granted (a lock, a permit, a queue item), so that nothing is lost.  f then
    // reads as cancelled.  Null: nothing to give back.
    void (*refused)(Future *f);
    // The last reference went: free what the derived struct owns (not the struct itself).
    void (*finalize)(Future *f);
    // asyncio's subclass __repr__: writes f's repr snprintf-style and returns its full
    // length, or a negative value for the default form.  Null: the default form.
    long (*repr)(const Future *f, char *buf, std::size_t size) = nullptr;
    // Last, once the Future part is freed: what is left of the derived object, and its
    // memory.  Null: a CustomFuture's memory (custom_future_alloc).
    void (*release)(Future *f) = nullptr;
    // The report of a failure nobody retrieved.  Null: "Future exception was never retrieved".
    const char *unretrieved = nullptr;
};

struct CustomFuture : Future {
    const FutureOps *ops;
    std::uint32_t size; // of the derived struct (where its memory goes back to)
};

// The ops of a future: a plain future has none, a task has the task's (task.cc), a custom
// future its own.
extern const FutureOps kTaskOps;
inline const FutureOps *future_ops(const Future *f) {
    switch (f->kind) {
    case Future::Plain:
        return nullptr;
    case Future::TaskKind:
        return &kTaskOps;
    default:
        return static_cast<const CustomFuture *>(f)->ops;
    }
}

// Allocates a T (derived from CustomFuture, default-constructible) as a pending future.
void *custom_future_alloc(Loop *loop, std::size_t size, const FutureOps *ops);
template <class T> T *custom_future_new(Loop *loop, const FutureOps *ops) {
    static_assert(std::is_base_of_v<CustomFuture, T>);
    return static_cast<T *>(custom_future_alloc(loop, sizeof(T), ops));
}
// step(): a task is cancelled instead of seeing f's result (see FutureOps::refused).
void future_refused(Future *f);
// coio_future_new_custom (plugin.cc): a public coio_future_ops future through the same path.
Future *public_future_new(Loop *loop, const coio_future_ops *ops, void *state);

// Observers (observer.cc).  The hooks are called only while loop->observed is set, which
// every call site tests first (one predictable branch when nothing observes).
struct Observers;
void observe_pass_begin(Loop *loop, std::size_t ready);
void observe_pass_end(Loop *loop);
void observe_callback(Loop *loop, int kind, double start, double duration);
// Before the task is linked: makes room for the observers' data (throws std::bad_alloc).
void observe_task_prepare(Task *t);
void observe_task_created(Task *t, Task *parent);
void observe_step_begin(Task *t);
void observe_step_end(Task *t, int status);
void observe_task_done(Task *t); // the body ended; the task is still in the loop's list
// The observer's hooks widened to the current struct.  COIO_EBUSY if (key, arg) is attached.
int observer_add(Loop *loop, const coio_observer &hooks, const coio_observer *key, void *arg,
                 coio_free_fn drop);
int observer_remove(Loop *loop, const coio_observer *key, void *arg); // 1 / 0; throws bad_alloc
std::uint64_t observer_mark(const Loop *loop); // observers added from now on are newer
void observers_remove_since(Loop *loop, std::uint64_t mark); // a failed attach's, newest first
void observers_close(Loop *loop);                            // every observer removed, newest first
void observers_free(Loop *loop);                             // ~Loop

// Plugins and services (plugin.cc).
struct Plugins;
int plugin_load(Loop *loop, const char *spec, const char *config); // records the reason
const char *plugin_error(const Loop *loop);
void plugins_from_env(Loop *loop); // COIO_PLUGINS, at coio_loop_new
void plugins_detach(Loop *loop);   // the start of loop_close
void services_close(Loop *loop);   // the end of loop_close
void plugins_free(Loop *loop);     // ~Loop
int service_provide(Loop *loop, const char *name, std::uint32_t version, const void *iface,
                    coio_free_fn drop);
int service_query(Loop *loop, const char *name, std::uint32_t min_version, const void **iface);

// Stackful coroutines (coroutine.cc).
struct Coroutine;
Coroutine *coroutine_new(Loop *loop, coio_coroutine_fn fn, void *arg, coio_free_fn drop,
                         std::size_t stack_size, bool guarded);
int coroutine_step(coio_future *task, coio_future *awaited, int status, void *co);
void coroutine_free(void *co);
void coroutine_forget_arg(void *co); // the creating call failed: the caller keeps arg
bool coroutine_stack_size_valid(std::size_t requested);
void stacks_release_all(Loop *loop);

static constexpr std::size_t kSmallCustomFuture = 128;
static constexpr std::size_t kCoroutineBytes = 128; // a Coroutine (coroutine.hh) fits

// repr.cc: the names asyncio gives the done callbacks coio registers itself, so that a repr
// shows `cb=[_run_until_complete_cb()]` where asyncio does.  A null name: asyncio has no such
// callback (coio's own bookkeeping), and the repr leaves it out.  Each subsystem lists its own.
struct CallbackName {
    void (*fn)(); // a coio_done_fn, or a task's step function
    const char *name;
};
template <class Fn> inline void (*any_fn(Fn fn))() {
    return reinterpret_cast<void (*)()>(fn);
}
struct CallbackNames {
    const CallbackName *names;
    std::size_t n;
};
CallbackNames loop_callback_names();
CallbackNames task_callback_names();
CallbackNames combinator_callback_names();
CallbackNames sync_callback_names();
CallbackNames taskgroup_callback_names();
CallbackNames timeout_callback_names();

struct Loop {
    std::uint32_t refs = 1; // the creator's, plus one per live handle and future
    bool closed = false;
    bool released = false;            // the creator's reference was dropped
    std::atomic<bool> running{false}; // read by coio_loop_stop from other threads
    bool debug = false;
    bool observed = false;     // an observer is attached (observer.cc)
    bool instrumented = false; // debug || observed: callbacks take the slow path
    bool closing = false;      // loop_close is detaching the plugins
    bool virtual_time = false;
    std::atomic<bool> stopping{false};
    double slow_callback_duration = 0.1;
    double vnow = 0.0;                 // the virtual clock
    double last_poll = 0.0;            // when I/O was last polled (real clock)
    std::uint64_t last_poll_ticks = 0; // the same, in time-stamp-counter ticks (x86)
    double calib_time = 0.0;           // a (clock, ticks) pair to calibrate the ticks
    std::uint64_t calib_ticks = 0;
    std::uint32_t ran_since_check = 0; // callbacks run since the poll clock was last read
    std::uint64_t seq = 0;             // scheduling sequence for timer ties
    std::size_t cancelled_timers = 0;  // cancelled timers still in the heap or ready queue
    std::atomic<pthread_t> owner{};    // the thread running the loop

    struct ev_loop *ev = nullptr;
    ev_timer wake;  // the next timer deadline, while blocked in the poll
    ev_async async; // call_soon_threadsafe / stop from another thread

    ReadyQueue ready;
    TimerHeap timers;
    std::vector<FdWatcher *> fds;         // by fd number (io.cc)
    FdWatcher *unverified = nullptr;      // io.cc: watchers re-armed without the kernel,
    FdWatcher *unverified_tail = nullptr; // oldest first, checked by io_verify
    std::uint32_t verify_epoch = 0;
    ev_timer io_verify{};

    std::mutex ts_mu; // guards ts_items and, for other threads, `closed`
    bool ts_closed = false;
    std::atomic<bool> ts_pending{false};        // ts_items is not empty (a hint read every pass)
    std::vector<ReadyEntry> ts_items, ts_spare; // (fn, arg, drop) entries

    coio_exception_handler exc_fn = nullptr;
    void *exc_arg = nullptr;
    coio_free_fn exc_drop = nullptr;

    Pool<sizeof(Handle), alignof(Handle)> handle_pool; // 56-byte slots
    Pool<sizeof(Future)> future_pool;
    Pool<sizeof(Task)> task_pool;
    Pool<kSmallCustomFuture> custom_pool; // custom futures up to that size (waiters, ...)
    Pool<kCoroutineBytes> coroutine_pool;

    // A cancel was refused because the object was being cancelled already (a cycle of
    // awaits): the task whose waiter refused wakes with the cancellation (task_cancel).
    bool cancel_cycle = false;
    Task *current_task = nullptr;           // the task whose body runs now
    std::uint32_t inline_depth = 0;         // future.cc: inside a completion's inline registrations
    Task *tasks = nullptr;                  // tasks that are not done (asyncio.all_tasks)
    struct StackPool *stack_pool = nullptr; // coroutine.cc: mapped stacks, once used
    struct SignalHandlers *signals = nullptr; // signal.cc: this loop's signal handlers
    struct Executor *executor = nullptr;      // executor.cc: the thread pool, once used
    struct Remote *remote = nullptr;          // remote.cc: the thread-safe edge, once used
    // coio_future_set_result_repr's formatters, by future (Future::has_repr): rare, so kept
    // out of every future.
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
void loop_set_debug(Loop *loop, bool enabled);
// Parts of loop_close owned by their subsystems.
void executor_close(Loop *loop); // jobs not started: cancelled; running ones: waited for
void signals_close(Loop *loop);  // every handler removed, SIG_DFL restored
// The executor (executor.cc), for api_executor.cc: arguments checked, loop open.  Submitting
// throws std::bad_alloc or returns a status; on failure the caller keeps arg.  executor_close
// sets `closed` before it runs any drop.
int executor_submit(Loop *loop, coio_work_fn fn, void *arg, coio_free_fn drop,
                    coio_free_fn result_drop, Future **out);
int executor_set_size(Loop *loop, unsigned n); // 0: the default
unsigned executor_size(const Loop *loop);      // 0 once closed
// Signal handlers (signal.cc); api_signal.cc checks the arguments (and the thread) first.
bool signal_number_valid(int signum); // asyncio's signal.valid_signals()
bool signal_catchable(int signum);    // valid, and neither SIGKILL nor SIGSTOP
bool signal_on_main_thread();
// COIO_OK, or COIO_EBUSY (another loop owns signum; arg stays the caller's).  Throws
// std::bad_alloc before taking arg.
int signal_add(Loop *loop, int signum, coio_callback fn, void *arg, coio_free_fn drop);
bool signal_remove(Loop *loop, int signum); // true if there was a handler
void loop_destroy(Loop *loop);
// The thread-safe edges (remote.cc; api_remote.cc checks the arguments).  A Remote is the
// shared block behind every coio_remote of a loop; functions marked "any thread" take its lock.
struct Remote;
struct Completion;
Remote *loop_remote(Loop *loop); // a new reference (loop thread, loop open); throws bad_alloc
void remote_ref(Remote *r);      // any thread
void remote_release(Remote *r);  // any thread
// Any thread.  Always takes arg: on failure (COIO_ECLOSED, COIO_ENOMEM) drop(arg) has run.
int remote_call_soon(Remote *r, coio_callback fn, void *arg, coio_free_fn drop);
// Loop thread, loop open: a pending future (*future: the caller's reference) and its
// completion (the caller's).  Throws std::bad_alloc.
Completion *completion_new(Loop *loop, Future **future);
// Any thread.  set_result always takes value (drop runs on failure).
int completion_set_result(Completion *c, void *value, coio_free_fn drop);
int completion_set_error(Completion *c, int code, const char *message);
void completion_release(Completion *c);
// loop_close: detaches the Remote from the loop (later calls: COIO_ECLOSED) and returns the
// open completions, whose futures completions_end cancels and releases.
Completion *remote_close(Loop *loop);
void completions_end(Completion *orphans);
void loop_run_forever(Loop *loop);
int loop_run_until_complete(Loop *loop, Future *f);
int loop_stop(Loop *loop); // thread-safe; COIO_ECLOSED once closed
double loop_time(const Loop *loop);
Handle *loop_call_at(Loop *loop, double when, coio_callback fn, void *arg, coio_free_fn drop);
int loop_call_soon_threadsafe(Loop *loop, coio_callback fn, void *arg, coio_free_fn drop);
void loop_report(Loop *loop, const coio_exception_context *ctx);
void loop_set_exception_handler(Loop *loop, coio_exception_handler fn, void *arg,
                                coio_free_fn drop);
void default_exception_handler(const coio_exception_context *ctx);
bool loop_on_other_thread(const Loop *loop); // running, and not on this thread

// The monotonic clock in seconds (what coio_loop_time reads outside virtual time).
inline double real_clock() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
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

// COIO_ESTATE unless f is a plain future, or a task whose own body runs and has set no
// outcome yet: a task's outcome is set by its body, once, and takes effect when it returns.
inline int task_check_outcome(Future *f) {
    Task *t = as_task(f);
    if (!t) return COIO_OK;
    if (f->loop->current_task != t || t->has_result || t->error) return COIO_ESTATE;
    return COIO_OK;
}
// coio_future_set_result / set_error on a pending future that passed task_check_outcome: a
// task's is stored until its body returns, any other future completes.
inline void future_resolve(Future *f, void *value, coio_free_fn drop) {
    if (Task *t = as_task(f)) {
        t->value = value;
        t->value_drop = drop;
        t->has_result = true;
        return;
    }
    future_set_result(f, value, drop);
}

// What a ready-queue entry does, by its tag: the one dispatch over the tags (kRun*, above).
// Run: a pass runs the popped entry (inline in the pass: a frame less to return through after
// a coroutine switch).  Discard: the loop closed, or a batch could not be queued, before it
// ran; its references and registrations end (drops run) and no callback is called.
enum class ReadyAction { Run, Discard };
template <ReadyAction A>
inline void ready_dispatch(Loop *loop, coio_callback fn, void *arg, void *aux) {
    constexpr bool run = A == ReadyAction::Run;
    if (fn == kRunTask) { // (task, awaited): both references
        auto *t = static_cast<Task *>(arg);
        auto *awaited = static_cast<Future *>(aux);
        if constexpr (run) {
            task_run_entry(t, awaited);
        } else {
            if (awaited) future_unref(awaited);
            future_unref(t);
        }
    } else if (fn == kRunResolve) { // (future): a reference
        auto *f = static_cast<Future *>(arg);
        if constexpr (run) {
            if (f->state == Future::Pending) future_set_result(f, nullptr, nullptr);
        }
        future_unref(f);
    } else if (fn == kRunHandle) { // (handle): the loop's reference
        auto *h = static_cast<Handle *>(arg);
        if constexpr (run) {
            handle_run(h);
        } else {
            handle_discard(h);
            handle_unref(h);
        }
    } else if (fn == kRunDone) { // (future, first << 32 | count): a reference
        auto *f = static_cast<Future *>(arg);
        auto range = reinterpret_cast<std::uintptr_t>(aux);
        auto first = std::uint32_t(range >> 32), count = std::uint32_t(range);
        if constexpr (run)
            future_run_callbacks(f, first, count);
        else
            future_discard_callbacks(f, first, count);
    } else { // a plain callback: (fn, arg, drop)
        if constexpr (run) invoke_callback(loop, fn, arg, nullptr);
        if (aux) reinterpret_cast<coio_free_fn>(aux)(arg);
    }
}

inline void ready_run(Loop *loop, coio_callback fn, void *arg, void *aux) {
    ready_dispatch<ReadyAction::Run>(loop, fn, arg, aux);
}

// Schedules a plain callback / a handle (the queue takes over the reference passed in).
inline void ready_push_callback(Loop *loop, coio_callback fn, void *arg, coio_free_fn drop) {
    loop->ready.push({fn, arg, reinterpret_cast<void *>(drop)});
}
inline void ready_push_handle(Loop *loop, Handle *h) {
    loop->ready.push({kRunHandle, h, nullptr});
}

} // namespace coio::detail
