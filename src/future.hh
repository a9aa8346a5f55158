// Futures (future.cc): asyncio.Future's states, outcome, cancellation and done callbacks,
// and the FutureOps through which tasks and custom futures add behaviour of their own.
#pragma once

#include <coio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace coio::detail {

struct Loop;
struct Future;

// A registered done callback: two words, since a future that many tasks await holds a slot
// for each (100k tasks on one future are 100k slots).  Its drop is not stored: it follows
// from fn for coio's own wake-ups (implied_drop in future.cc), is null, or the registration
// is boxed (fn is boxed_done, arg a BoxedCallback).  A slot whose registration has ended
// reads {ended_done, null}.
struct DoneCallback {
    coio_done_fn fn;
    void *arg;
};
// A registration with a drop that fn does not imply (a user's, an inline one), out of line:
// from the loop's pool, freed when the registration ends.
struct BoxedCallback {
    coio_done_fn fn;
    void *arg;
    coio_free_fn drop;
};
void boxed_done(coio_future *f, void *box); // runs the boxed registration
void ended_done(coio_future *f, void *);    // a slot that ran or was ended: a no-op
inline constexpr DoneCallback kEndedCallback = {ended_done, nullptr};
inline BoxedCallback *callback_box(const DoneCallback &cb) {
    return cb.fn == boxed_done ? static_cast<BoxedCallback *>(cb.arg) : nullptr;
}
// What a slot was registered with (its box's, if boxed).
inline coio_done_fn callback_fn(const DoneCallback &cb) {
    BoxedCallback *b = callback_box(cb);
    return b ? b->fn : cb.fn;
}
inline void *callback_arg(const DoneCallback &cb) {
    BoxedCallback *b = callback_box(cb);
    return b ? b->arg : cb.arg;
}

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
    std::uint8_t kind;          // Kind: a plain future, a Task, or a CustomFuture (below)
    mutable bool retrieved : 1; // the error was looked at (asyncio's __log_traceback = False)
    bool yield_once : 1;        // coio_sleep(<= 0): awaiting it is one bare yield
    bool inline_watch : 1;      // has a registration that runs at completion (future_watch_inline)
    // The function that formats value (coio_future_set_result_repr), by its number in the
    // loop's repr_fns (repr.cc): 0 for none.  A number, not a pointer, since it is rare and
    // every future would pay for the pointer; not a map keyed by future either (that was a
    // hash insert and erase per result, a tenth of a Go binding's task).
    std::uint8_t repr : 5;
    // A Task's flags and its count of cancel requests (task.hh), kept in room the Future's
    // layout leaves (this byte, and the word after ncallbacks): a Task is 136 bytes, not 144.
    bool must_cancel : 1;
    bool started : 1;
    bool has_result : 1; // the body set a result (kept in value / value_drop until it returns)
    // With must_cancel: the next step still delivers what it awaited, and the cancellation
    // waits for the body's next await or return (task_cancel_deferred).
    bool cancel_deferred : 1;
    bool internal : 1; // coio's own (a task group's exit): not in coio_loop_all_tasks
    // Inside task_cancel, cancelling fut_waiter: a cancel that comes back round a cycle of
    // awaits (A awaits B awaits A) is refused instead of recursing without end.
    bool cancelling_waiter : 1;
    std::uint8_t spare : 2; // unused; future_init zeroes it with the rest of its word
    void *value;
    coio_free_fn value_drop;
    FutureError *error; // Failed and Cancelled (the cancel message)
    // Done callbacks: the first inline (the common case), more in a heap array.  They stay
    // here after completion (the ready queue refers to them by index); each one reads as
    // kEndedCallback once its registration has ended.
    std::uint32_t ncallbacks;
    std::uint32_t num_cancels; // a Task's: asyncio's _num_cancels_requested
    DoneCallback first;
    DoneCallback *more; // callbacks [1, ncallbacks): room for std::bit_ceil(ncallbacks - 1)
};
// The slot of registration i.
inline DoneCallback &callback_at(Future *f, std::uint32_t i) {
    return i == 0 ? f->first : f->more[i - 1];
}
inline const DoneCallback &callback_at(const Future *f, std::uint32_t i) {
    return i == 0 ? f->first : f->more[i - 1];
}

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
// the ready queue cannot be made, it runs as an ordinary done callback.  It is boxed, with
// inline_marker (a no-op) as its drop, until it ran.  Throws std::bad_alloc.
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

// The value's formatter (repr.cc): set (throws bad_alloc), forget (with the value), copy.
void value_repr_set(Future *f, coio_repr_fn repr);
void value_repr_erase(Future *f);
inline void value_repr_forget(Future *f) {
    if (f->repr) value_repr_erase(f);
}
coio_repr_fn value_repr_get(const Future *f);

// Futures with behaviour of their own (combinators, waiters of sync primitives): a derived
// struct whose first member is a CustomFuture, allocated with custom_future_new.
struct FutureOps {
    // coio_future_cancel on it: true if a cancellation was done or requested (asyncio's
    // overridden cancel(), e.g. _GatheringFuture's).  Null: a plain future's cancel.
    bool (*cancel)(Future *f, const char *msg) = nullptr;
    // The task that awaited f is cancelled after f completed with a result and before it saw
    // it (asyncio throws CancelledError into the coroutine after the waiter's wake-up): give
    // back what f granted (a lock, a permit, a queue item), so that nothing is lost.  f then
    // reads as cancelled.  Null: nothing to give back.
    void (*refused)(Future *f) = nullptr;
    // The last reference went: free what the derived struct owns (not the struct itself).
    void (*finalize)(Future *f) = nullptr;
    // asyncio's subclass __repr__: writes f's repr snprintf-style and returns its full
    // length, or a negative value for the default form.  Null: the default form.
    long (*repr)(const Future *f, char *buf, std::size_t size) = nullptr;
    // Last, once the Future part is freed: what is left of the derived object, and its
    // memory.  Null: a CustomFuture's memory (custom_future_mem).
    void (*release)(Future *f) = nullptr;
    // The report of a failure nobody retrieved.  Null: "Future exception was never retrieved".
    const char *unretrieved = nullptr;
    // Its owner completed f by hand (coio_future_set_result / _set_error): stop watching
    // what it waits for and let go of it.  A combinator done this way needs its inputs no
    // more, and one that kept them could be kept by them in turn (a task failing with f as
    // its error's cause) for ever.  Null: f holds nothing of the kind.
    void (*let_go)(Future *f) = nullptr;
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
// FutureOps::let_go, after the owner completed f by hand (f held: it may run drops).
void future_let_go(Future *f);

// Allocates a T (derived from CustomFuture, default-constructible) as a pending future.
// Its memory (the loop's pool up to kSmallCustomFuture bytes; throws std::bad_alloc), then
// the CustomFuture part of it made a pending future.
void *custom_future_mem(Loop *loop, std::size_t size);
void *custom_future_init(void *mem, Loop *loop, std::size_t size, const FutureOps *ops);
// Zeroes N bytes (a constant) with plain stores.  GCC compiles a memset of a hundred-odd
// bytes, constant or not, to rep stos, whose start-up cost a seventh of a queue ping-pong
// (the waiter's allocation).
template <std::size_t N> inline void zero_bytes(void *p) {
#ifdef __SSE2__
    auto *q = static_cast<char *>(p);
#pragma GCC unroll 16
    for (std::size_t i = 0; i + 16 <= N; i += 16)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(q + i), _mm_setzero_si128());
    if constexpr (N % 16 != 0) std::memset(q + N / 16 * 16, 0, N % 16);
#else
    std::memset(p, 0, N);
#endif
}

template <class T> T *custom_future_new(Loop *loop, const FutureOps *ops) {
    static_assert(std::is_base_of_v<CustomFuture, T>);
    void *mem = custom_future_mem(loop, sizeof(T));
    zero_bytes<sizeof(T)>(mem);
    return static_cast<T *>(custom_future_init(mem, loop, sizeof(T), ops));
}
// step(): a task is cancelled instead of seeing f's result (see FutureOps::refused).
void future_refused(Future *f);

// A custom future up to this size comes from the loop's pool (custom_future_mem).
static constexpr std::size_t kSmallCustomFuture = 128;

} // namespace coio::detail
