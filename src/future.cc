// Futures: asyncio.Future's states, result/error, cancellation and done callbacks.
#include <bit>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "future.hh"
#include "handle.hh"
#include "loop.hh"
#include "ready.hh"
#include "task.hh"

namespace coio::detail {

char *copy_string(const char *s) {
    if (!s) return nullptr;
    std::size_t n = std::strlen(s) + 1;
    char *p = static_cast<char *>(std::malloc(n));
    if (!p) throw std::bad_alloc();
    std::memcpy(p, s, n);
    return p;
}

// Registrations whose drop follows from their function, so that their slot need not hold it:
// a task's wake-up (one per waiting task, on the future it waits for) and a sleep's timer.
// Any other registration with a drop is boxed; this only spares those an allocation.
static coio_free_fn implied_drop(coio_done_fn fn) {
    if (fn == task_wakeup) return task_wakeup_drop;
    if (fn == sleep_done) return sleep_free;
    return nullptr;
}

void boxed_done(coio_future *f, void *box) {
    auto *b = static_cast<BoxedCallback *>(box);
    b->fn(f, b->arg);
}

void ended_done(coio_future *, void *) {}

__attribute__((noinline)) static BoxedCallback unbox(Loop *loop, BoxedCallback *b) {
    BoxedCallback c = *b;
    loop->pools.boxed.release(b);
    return c;
}

// Takes a registration out of its slot, which then reads as ended: what it was made with
// (fn, arg, drop), its box freed.
static inline BoxedCallback callback_take(Loop *loop, DoneCallback &slot) {
    DoneCallback cb = slot;
    slot = kEndedCallback;
    if (BoxedCallback *b = callback_box(cb)) [[unlikely]]
        return unbox(loop, b);
    return {cb.fn, cb.arg, implied_drop(cb.fn)};
}

// Ends a registration without calling it: its drop runs.
static inline void callback_end(Loop *loop, DoneCallback &slot) {
    if (slot.fn == ended_done) return; // ran already
    BoxedCallback c = callback_take(loop, slot);
    if (c.drop) c.drop(c.arg);
}

Future *future_new(Loop *loop) {
    auto *f = new (loop->pools.future.alloc()) Future;
    future_init(f, loop);
    return f;
}

Future *future_new_done(Loop *loop) {
    Future *f = future_new(loop);
    try {
        future_set_result(f, nullptr, nullptr);
    } catch (...) {
        future_unref(f);
        throw;
    }
    return f;
}

// Every field, a Task's flags and count too: with all of a word's bytes written the compiler
// stores the word, where it merged into what memory held before.  That load was the first
// touch of a fresh pool page for one future in six: a read fault, then the write fault.
void future_init(Future *f, Loop *loop) {
    f->loop = loop;
    f->refs = 1;
    f->state = Future::Pending;
    f->retrieved = false;
    f->kind = Future::Plain;
    f->yield_once = false;
    f->inline_watch = false;
    f->repr = 0;
    f->must_cancel = f->started = f->has_result = f->cancel_deferred = false;
    f->internal = false;
    f->cancelling_waiter = false;
    f->spare = 0;
    f->value = nullptr;
    f->value_drop = nullptr;
    f->error = nullptr;
    f->ncallbacks = 0;
    f->num_cancels = 0;
    f->first = {};
    f->more = nullptr;
    loop_ref(loop);
}

void future_free_error(FutureError *e) {
    if (!e) return;
    if (e->payload_drop) e->payload_drop(e->payload);
    if (e->cause) future_unref(e->cause);
    std::free(e->message);
    std::free(e);
}

static bool future_destroy_parts(Future *f);

// Frees the future.  A failed future whose error nobody looked at is reported first, as
// asyncio's Future.__del__ logs "exception was never retrieved".
static void future_destroy(Future *f) {
    Loop *loop = f->loop;
    {
        NoSuspend user_code_runs(loop);
        if (!future_destroy_parts(f)) return; // the report's handler kept a reference
    }
    loop_unref(loop);
}

// future_destroy up to the loop reference: false if the report's handler kept f alive.
static bool future_destroy_parts(Future *f) {
    Loop *loop = f->loop;
    const FutureOps *ops = future_ops(f);
    if (f->state == Future::Failed && !f->retrieved) {
        coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
        ctx.message =
            ops && ops->unretrieved ? ops->unretrieved : "Future exception was never retrieved";
        ctx.code = f->error->code;
        ctx.error = f->error->message;
        ctx.future = reinterpret_cast<coio_future *>(f);
        f->retrieved = true; // reported once, even if the handler keeps a reference
        f->refs = 1;         // the handler may ref/release it; keep it alive through the report
        loop_report(loop, &ctx);
        if (--f->refs) return false; // the handler kept a reference
    }
    // A custom future leaves everything that can reach it (a primitive's line, the inputs it
    // watches) before any user code runs below: a drop that calls back into that primitive
    // must not find the dying future there and complete it.
    if (ops && ops->finalize) ops->finalize(f);
    // Registrations that never ran (the future never completed) end here.
    for (std::uint32_t i = 0; i < f->ncallbacks; i++)
        callback_end(loop, callback_at(f, i));
    if (f->more) std::free(f->more);
    if (f->value_drop) f->value_drop(f->value);
    value_repr_forget(f);
    if (f->error) future_free_error(f->error);
    if (!ops)
        loop->pools.future.release(f);
    else if (ops->release)
        ops->release(f);
    else if (static_cast<CustomFuture *>(f)->size <= kSmallCustomFuture)
        loop->pools.custom.release(f);
    else
        std::free(f);
    return true;
}

void future_destroy_last(Future *f) {
    future_destroy(f);
}

// Schedules every registered callback, in registration order (asyncio's __schedule_callbacks):
// one ready entry for the whole range, holding a reference to the future.  They run in the same
// pass, back to back, exactly as separately queued handles would.  Cannot throw after
// prepare_completion.
static void schedule_callbacks(Future *f) {
    if (f->ncallbacks == 0) return;
    future_ref(f);
    ready_push_done(f->loop, f, 0, f->ncallbacks);
}

void inline_marker(void *) {}

// Reserves what schedule_callbacks needs, so completing a future cannot fail half-way.  With
// inline registrations: a range entry before each and one after the last, and two entries per
// registration for what it completes (nested, that schedules its callbacks as one range) and
// one more callback of its own.
static void prepare_completion(Future *f) {
    f->loop->ready.reserve(f->inline_watch ? 3 * std::size_t(f->ncallbacks) + 1 : 1);
}

// Schedules f's callbacks with the inline registrations run in their place (see
// future_watch_inline).  Cannot throw: room was reserved, and a registration that throws is
// queued as an ordinary callback instead.
static void run_inline(Future *f) {
    Loop *loop = f->loop;
    f->inline_watch = false;
    future_ref(f); // what a registration completes may release the last other reference
    loop->inline_depth++;
    std::uint32_t n = f->ncallbacks, start = 0;
    for (std::uint32_t i = 0; i < n; i++) {
        DoneCallback &cb = callback_at(f, i);
        BoxedCallback *b = callback_box(cb);
        if (!b || b->drop != inline_marker) continue;
        if (i > start) {
            future_ref(f);
            ready_push_done(loop, f, start, i - start);
        }
        DoneCallback c = cb;
        cb = kEndedCallback;
        try {
            b->fn(reinterpret_cast<coio_future *>(f), b->arg);
            loop->pools.boxed.release(b);
            start = i + 1;
        } catch (...) { // nothing was completed: it runs through the queue after all
            callback_at(f, i) = c;
            start = i;
        }
    }
    if (start < n) {
        future_ref(f);
        ready_push_done(loop, f, start, n - start);
    }
    loop->inline_depth--;
    future_unref(f);
}

// The last step of every completion, after prepare_completion and after the outcome is stored.
static void mark_done(Future *f, Future::State state) {
    f->state = state;
    if (f->inline_watch && f->loop->inline_depth == 0) [[unlikely]] {
        run_inline(f);
        return;
    }
    schedule_callbacks(f);
}

void future_watch_inline(Future *f, coio_done_fn fn, void *arg) {
    future_add_done_callback(f, fn, arg, inline_marker);
    f->inline_watch = true;
}

void future_set_result(Future *f, void *value, coio_free_fn drop) {
    prepare_completion(f);
    f->value = value;
    f->value_drop = drop;
    mark_done(f, Future::Result);
}

void future_let_go(Future *f) {
    const FutureOps *ops = future_ops(f);
    if (ops && ops->let_go) ops->let_go(f);
}

void future_complete(Future *f, Future::State state) {
    prepare_completion(f);
    mark_done(f, state);
}

FutureError *error_new(int code, const char *message, Future *cause) {
    auto *e = static_cast<FutureError *>(std::calloc(1, sizeof(FutureError)));
    if (!e) throw std::bad_alloc();
    try {
        e->message = copy_string(message);
    } catch (...) {
        std::free(e);
        throw;
    }
    e->code = code;
    // A propagated failure keeps its cause for the payload and the errno only (the message is
    // copied): a future that merely passed the same error on (a gather, a wait_for, a task)
    // and carries neither is skipped, so the reference goes to where they are.  Lookups give
    // the same answers (they skip such links too), and no cycle forms through a combinator
    // that holds the task failing with its error (a task awaiting a gather of itself).  A
    // result's keep-alive link (code 0) is left as it is.
    while (cause && code != 0 && cause->error && cause->error->cause &&
           cause->error->code == code && !cause->error->payload && !cause->error->sys_errno)
        cause = cause->error->cause;
    if (cause) {
        e->cause = cause;
        future_ref(cause);
    }
    return e;
}

void future_complete_error(Future *f, Future::State state, int code, const char *message,
                           Future *cause) {
    prepare_completion(f);
    FutureError *e = error_new(code, message, cause);
    FutureError *old = f->error; // a task body may have set one it did not finish with
    f->error = e;
    mark_done(f, state);
    future_free_error(old); // its drop and its cause's release find f done
}

void future_set_error(Future *f, int code, const char *message, void *payload, coio_free_fn drop) {
    future_complete_error(f, Future::Failed, code, message, nullptr);
    f->error->payload = payload;
    f->error->payload_drop = drop;
}

void future_set_sys_error(Future *f, int err) {
    future_complete_error(f, Future::Failed, COIO_ESYS, std::strerror(err), nullptr);
    f->error->sys_errno = err;
}

// A failure passed on (a task's propagated error, future_forward) keeps its code and names
// where it came from: what stays with the original (the payload, the errno of a failed system
// call) is found by following the causes while passed_on(error) says it is not there.
template <class Pred> static const FutureError *error_origin(const Future *f, Pred passed_on) {
    const FutureError *e = f->error;
    while (e && e->cause && passed_on(e))
        e = e->cause->error;
    return e;
}

int future_sys_errno(const Future *f) {
    const FutureError *e =
        error_origin(f, [](const FutureError *e) { return e->code == COIO_ESYS && !e->sys_errno; });
    return e && e->code == COIO_ESYS ? e->sys_errno : 0;
}

void *future_error_payload(const Future *f) {
    const FutureError *e = error_origin(f, [](const FutureError *e) { return !e->payload; });
    return e ? e->payload : nullptr;
}

void future_take_result(Future *f, void **value, coio_free_fn *drop) {
    *value = f->value;
    *drop = f->value_drop;
    f->value = nullptr;
    f->value_drop = nullptr;
    value_repr_forget(f);
}

void *future_take_value(Future *f) {
    void *value = f->value;
    if (f->value_drop) { // the caller's now: the future must not free it
        f->value = nullptr;
        f->value_drop = nullptr;
        value_repr_forget(f);
    }
    return value;
}

bool future_cancel(Future *f, const char *msg) {
    if (f->state != Future::Pending) return false;
    future_complete_error(f, Future::Cancelled, COIO_ECANCELLED, msg, nullptr);
    return true;
}

namespace {
// One cancellation, from the cancel_any that is not inside another one, is one walk down what
// the futures it reaches wait for.  A gather that several paths reach (gather(g, g), a ladder
// of such, tasks awaiting one gather) passes it on the first time only (gather_cancel):
// walked again for every path, a ladder of n gathers each naming the one below twice took 2^n
// steps (asyncio's walk does too).  A task named twice by one gather is still cancelled
// twice, as in asyncio.
struct CancelWalk {
    Loop *loop;
    explicit CancelWalk(Loop *l) : loop(l) {
        if (loop->cancel_depth++ == 0) loop->cancel_walk++;
    }
    ~CancelWalk() { loop->cancel_depth--; }
    CancelWalk(const CancelWalk &) = delete;
    CancelWalk &operator=(const CancelWalk &) = delete;
};
} // namespace

// A cancellation may run user code (the drop of a blocked put's item, of an executor job's
// arg) that releases the last reference to f, or to the future whose cancel op is running:
// f (and through it its loop) is held until its cancel has returned.
bool cancel_any(Future *f, const char *msg) {
    const FutureOps *ops = future_ops(f);
    if (!ops || !ops->cancel) return future_cancel(f, msg);
    FutureHold hold(f);
    CancelWalk walk(f->loop);
    return ops->cancel(f, msg);
}

// A cancellation starts here, not inside another one.  The chain may replace or free what
// owns msg (a task's pending message reaches the task itself again through a gather of it,
// whose next child would then get a freed message), so the chain runs on its own copy.
bool cancel_chain(Future *f, const char *msg) {
    std::unique_ptr<char, decltype(&std::free)> copy(copy_string(msg), &std::free);
    return cancel_any(f, copy.get());
}

void *custom_future_mem(Loop *loop, std::size_t size) {
    void *mem = size <= kSmallCustomFuture ? loop->pools.custom.alloc() : std::malloc(size);
    if (!mem) throw std::bad_alloc();
    return mem;
}

void *custom_future_init(void *mem, Loop *loop, std::size_t size, const FutureOps *ops) {
    auto *c = static_cast<CustomFuture *>(mem);
    future_init(c, loop);
    c->kind = Future::Custom;
    c->ops = ops;
    c->size = std::uint32_t(size);
    return mem;
}

void future_refused(Future *f) {
    if (f->state != Future::Result) return;
    const FutureOps *ops = future_ops(f);
    auto refused = ops ? ops->refused : nullptr;
    if (!refused) return;
    FutureError *e = error_new(COIO_ECANCELLED, nullptr, nullptr); // before: may throw
    refused(f);
    // The future reads as cancelled before its value's drop (user code) runs, and before the
    // old error goes (it may hold the future the value came from): a drop that looks at f
    // again finds no value to take a second time.
    void *value = f->value;
    coio_free_fn drop = f->value_drop;
    FutureError *old = f->error;
    f->value = nullptr;
    f->value_drop = nullptr;
    value_repr_forget(f);
    f->error = e;
    f->state = Future::Cancelled;
    if (drop) drop(value);
    future_free_error(old);
}

void future_forward(Future *dst, Future *src) {
    switch (src->state) {
    case Future::Result: {
        if (src->repr) value_repr_set(dst, value_repr_get(src)); // may throw: nothing done
        FutureError *keep = error_new(0, nullptr, src); // holds src while dst borrows its value
        prepare_completion(dst);
        FutureError *old = dst->error;
        dst->error = keep;
        dst->value = src->value;
        dst->value_drop = nullptr;

        mark_done(dst, Future::Result);
        future_free_error(old); // its drop and its cause's release find dst done
        return;
    }
    case Future::Failed:
        src->retrieved = true;
        future_complete_error(dst, Future::Failed, src->error->code, src->error->message, src);
        return;
    default:
        future_complete_error(dst, Future::Cancelled, COIO_ECANCELLED,
                              src->error ? src->error->message : nullptr, nullptr);
        return;
    }
}

// Makes room for registration m (m >= 1) in an array that holds bit_ceil(m - 1) slots.  After
// a removal it may hold more than that; reallocating to the size the count calls for is fine.
__attribute__((noinline)) static void grow_callbacks(Future *f, std::uint32_t m) {
    std::size_t room = std::bit_ceil(m);
    auto *more = static_cast<DoneCallback *>(std::realloc(f->more, room * sizeof(DoneCallback)));
    if (!more) throw std::bad_alloc();
    f->more = more;
}

__attribute__((noinline)) static DoneCallback box_callback(Loop *loop, coio_done_fn fn, void *arg,
                                                           coio_free_fn drop) {
    auto *b = static_cast<BoxedCallback *>(loop->pools.boxed.alloc());
    *b = {fn, arg, drop};
    return {boxed_done, b};
}

// Appends a registration and returns its index.  The array, holding m - 1 of them, is full
// when m - 1 is 0 or a power of two.
static inline std::uint32_t append_callback(Future *f, coio_done_fn fn, void *arg,
                                            coio_free_fn drop) {
    std::uint32_t m = f->ncallbacks; // the new one's index
    if (m != 0 && ((m - 1) & (m - 2)) == 0) [[unlikely]]
        grow_callbacks(f, m);
    DoneCallback cb = {fn, arg};
    if (drop && drop != implied_drop(fn)) [[unlikely]]
        cb = box_callback(f->loop, fn, arg, drop);
    callback_at(f, m) = cb;
    return f->ncallbacks++;
}

void future_add_done_callback(Future *f, coio_done_fn fn, void *arg, coio_free_fn drop) {
    if (f->state == Future::Pending) {
        append_callback(f, fn, arg, drop);
        return;
    }
    // Already done: the callback still goes through the ready queue, never inline.
    f->loop->ready.reserve(1);
    std::uint32_t i = append_callback(f, fn, arg, drop);
    future_ref(f);
    ready_push_done(f->loop, f, i, 1);
}

// Runs registrations [first, first + count) of a done future, then drops the ready entry's
// reference.  Each is re-read by index: a callback may add more and move the array.
void future_run_callbacks(Future *f, std::uint32_t first, std::uint32_t count) {
    for (std::uint32_t i = first; i < first + count; i++) {
        BoxedCallback c = callback_take(f->loop, callback_at(f, i));
        invoke_done(f->loop, c.fn, f, c.arg);
        if (c.drop) c.drop(c.arg);
    }
    future_unref(f);
}

// The loop closed before they ran: end the registrations without calling them.
void future_discard_callbacks(Future *f, std::uint32_t first, std::uint32_t count) {
    for (std::uint32_t i = first; i < first + count; i++)
        callback_end(f->loop, callback_at(f, i));
    future_unref(f);
}

bool future_unlink_callback(Future *f, coio_done_fn fn, void *arg) {
    if (f->state != Future::Pending) return false;
    for (std::uint32_t i = 0; i < f->ncallbacks; i++) {
        DoneCallback cb = callback_at(f, i);
        if (callback_fn(cb) != fn || callback_arg(cb) != arg) continue;
        if (BoxedCallback *b = callback_box(cb)) f->loop->pools.boxed.release(b);
        for (std::uint32_t j = i + 1; j < f->ncallbacks; j++)
            callback_at(f, j - 1) = callback_at(f, j);
        f->ncallbacks--;
        return true;
    }
    return false;
}

int future_remove_done_callback(Future *f, coio_done_fn fn, void *arg) {
    // Once done, every registration is already scheduled: nothing left to remove (asyncio).
    if (f->state != Future::Pending) return 0;
    // Compact first, drop after: a drop may re-enter and touch this future.
    std::vector<BoxedCallback> removed;
    removed.reserve(f->ncallbacks); // nothing can fail once the array changes
    std::uint32_t k = 0;
    for (std::uint32_t i = 0; i < f->ncallbacks; i++) {
        DoneCallback cb = callback_at(f, i);
        if (callback_fn(cb) == fn && callback_arg(cb) == arg)
            removed.push_back(callback_take(f->loop, cb));
        else
            callback_at(f, k++) = cb;
    }
    f->ncallbacks = k;
    for (BoxedCallback &c : removed)
        if (c.drop) c.drop(c.arg);
    return int(removed.size());
}

} // namespace coio::detail
