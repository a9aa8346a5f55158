// The extern "C" boundary: argument checks, state checks, and C++ exceptions turned into
// statuses.  Nothing else lives here; the core behind it never sees an unchecked argument.
#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <cstddef>
#include <cstring>
#include <new>

#include "api.hh"
#include "future.hh"
#include "handle.hh"
#include "io.hh"
#include "loop.hh"
#include "task.hh"
#include "coroutine.hh"

using namespace coio::detail;
using namespace coio::api;

// ---- statuses ---------------------------------------------------------------------------

namespace {
struct StatusInfo {
    int code;
    const char *name;
    const char *text;
};
constexpr StatusInfo kStatuses[] = {
    {COIO_OK, "COIO_OK", "success"},
    {COIO_EINVAL, "COIO_EINVAL", "invalid argument"},
    {COIO_ENOMEM, "COIO_ENOMEM", "out of memory"},
    {COIO_ESTATE, "COIO_ESTATE", "invalid state"},
    {COIO_ECANCELLED, "COIO_ECANCELLED", "cancelled"},
    {COIO_EFAILED, "COIO_EFAILED", "failed"},
    {COIO_ETIMEDOUT, "COIO_ETIMEDOUT", "timed out"},
    {COIO_ECLOSED, "COIO_ECLOSED", "event loop is closed"},
    {COIO_EBUSY, "COIO_EBUSY", "event loop is running"},
    {COIO_ELOOP, "COIO_ELOOP", "object belongs to another event loop"},
    {COIO_ETHREAD, "COIO_ETHREAD", "called from a thread that does not run the loop"},
    {COIO_ENOTSUP, "COIO_ENOTSUP", "not supported"},
    {COIO_ESYS, "COIO_ESYS", "system call failed"},
    {COIO_EFULL, "COIO_EFULL", "queue is full"},
    {COIO_EEMPTY, "COIO_EEMPTY", "queue is empty"},
    {COIO_ESHUTDOWN, "COIO_ESHUTDOWN", "queue is shut down"},
    {COIO_EBROKEN, "COIO_EBROKEN", "barrier is broken"},
};
const StatusInfo *status_info(int status) {
    for (const StatusInfo &s : kStatuses)
        if (s.code == status) return &s;
    return nullptr;
}
} // namespace

extern "C" {

const char *coio_strerror(int status) {
    const StatusInfo *s = status_info(status);
    return s ? s->text : "unknown status";
}

const char *coio_status_name(int status) {
    const StatusInfo *s = status_info(status);
    return s ? s->name : "COIO_UNKNOWN";
}

#define COIO_STR2(x) #x
#define COIO_STR(x) COIO_STR2(x)
const char *coio_version(void) {
    return COIO_STR(COIO_VERSION_MAJOR) "." COIO_STR(COIO_VERSION_MINOR) "." COIO_STR(
        COIO_VERSION_PATCH);
}

int coio_version_number(void) {
    return COIO_VERSION_MAJOR * 10000 + COIO_VERSION_MINOR * 100 + COIO_VERSION_PATCH;
}

// ---- loop -------------------------------------------------------------------------------

int coio_loop_new(coio_loop **out, const coio_loop_options *opt) {
    if (!out) return COIO_EINVAL;
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    if (opt && !widen(opt, offsetof(coio_loop_options, backend), &o)) return COIO_EINVAL;
    if (o.flags & ~(COIO_LOOP_DEBUG | COIO_LOOP_VIRTUAL_TIME | COIO_LOOP_NO_PLUGINS))
        return COIO_EINVAL;
    if (!(o.slow_callback_duration >= 0) || std::isinf(o.slow_callback_duration))
        return COIO_EINVAL;
    switch (o.backend) {
    case COIO_BACKEND_AUTO:
    case COIO_BACKEND_SELECT:
    case COIO_BACKEND_POLL:
    case COIO_BACKEND_EPOLL:
    case COIO_BACKEND_KQUEUE:
    case COIO_BACKEND_PORT:
    case COIO_BACKEND_LINUXAIO:
    case COIO_BACKEND_IOURING:
        break;
    default:
        return COIO_EINVAL;
    }
    return guarded([&] {
        Loop *loop = nullptr;
        int rc = loop_new(&loop, o);
        if (rc == COIO_OK) *out = to_c(loop);
        return rc;
    });
}

int coio_loop_close(coio_loop *l) {
    Loop *loop = L(l);
    if (!loop) return COIO_EINVAL;
    if (loop_on_wrong_thread(loop)) return COIO_ETHREAD;
    return guarded([&] { return loop_close(loop); });
}

int coio_loop_release(coio_loop *l) {
    Loop *loop = L(l);
    if (!loop) return COIO_OK;
    if (loop->released) return COIO_EINVAL;
    if (loop->running.load(std::memory_order_relaxed)) return COIO_EBUSY;
    return guarded([&] { return loop_release(loop); });
}

int coio_loop_run_until_complete(coio_loop *l, coio_future *fut) {
    Loop *loop = L(l);
    Future *f = F(fut);
    if (int rc = check_loop(loop)) return rc;
    if (!f) return COIO_EINVAL;
    if (f->loop != loop) return COIO_ELOOP;
    if (loop->running.load(std::memory_order_relaxed)) return COIO_EBUSY;
    return guarded([&] { return loop_run_until_complete(loop, f); });
}

int coio_loop_run_forever(coio_loop *l) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (loop->running.load(std::memory_order_relaxed)) return COIO_EBUSY;
    return guarded([&] {
        loop_run_forever(loop);
        return COIO_OK;
    });
}

int coio_loop_stop(coio_loop *l) {
    Loop *loop = L(l);
    if (!loop) return COIO_EINVAL;
    return guarded([&] { return loop_stop(loop); });
}

double coio_loop_time(coio_loop *l) {
    if (!l) return NAN;
    Loop *loop = L(l);
    // From another thread while the loop runs (a misuse): the loop's clock is the loop
    // thread's to update, so read CLOCK_MONOTONIC itself; a virtual clock has no answer there.
    if (__builtin_expect(loop_on_other_thread(loop), 0))
        return loop->virtual_time ? NAN : real_clock();
    return loop_time(loop);
}

int coio_loop_is_running(const coio_loop *l) {
    return l && L(l)->running.load(std::memory_order_relaxed);
}

int coio_loop_is_closed(const coio_loop *l) {
    return !l || L(l)->closed;
}

int coio_loop_get_debug(const coio_loop *l) {
    return l && L(l)->debug;
}

int coio_loop_set_debug(coio_loop *l, int enabled) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    loop_set_debug(loop, enabled != 0);
    return COIO_OK;
}

uint32_t coio_loop_backend(const coio_loop *l) {
    return l && L(l)->ev ? ev_backend(L(l)->ev) : 0;
}

// ---- exception handler ------------------------------------------------------------------

int coio_loop_set_exception_handler(coio_loop *l, coio_exception_handler fn, void *arg,
                                    coio_free_fn drop) {
    Loop *loop = L(l);
    if (!loop) return COIO_EINVAL;
    if (loop_on_wrong_thread(loop)) return COIO_ETHREAD;
    loop_set_exception_handler(loop, fn, arg, drop);
    return COIO_OK;
}

int coio_loop_get_exception_handler(coio_loop *l, coio_exception_handler *fn, void **arg) {
    Loop *loop = L(l);
    if (!loop) return COIO_EINVAL;
    if (fn) *fn = loop->exc.fn;
    if (arg) *arg = loop->exc.arg;
    return COIO_OK;
}

// Validates a caller's (possibly older, smaller) context into the current layout.
static int check_context(const coio_exception_context *ctx, coio_exception_context *out) {
    *out = coio_exception_context COIO_EXCEPTION_CONTEXT_INIT;
    if (!ctx || !widen(ctx, offsetof(coio_exception_context, code), out) || !out->message)
        return COIO_EINVAL;
    return COIO_OK;
}

int coio_loop_call_exception_handler(coio_loop *l, const coio_exception_context *ctx) {
    Loop *loop = L(l);
    if (!loop) return COIO_EINVAL;
    coio_exception_context c;
    if (int rc = check_context(ctx, &c)) return rc;
    return guarded([&] {
        loop_report(loop, &c);
        return COIO_OK;
    });
}

int coio_loop_default_exception_handler(coio_loop *l, const coio_exception_context *ctx) {
    (void)l;
    coio_exception_context c;
    if (int rc = check_context(ctx, &c)) return rc;
    default_exception_handler(&c);
    return COIO_OK;
}

// ---- callbacks and timers ---------------------------------------------------------------

int coio_call_soon(coio_loop *l, coio_callback fn, void *arg, coio_free_fn drop,
                   coio_handle **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!fn) return COIO_EINVAL;
    return guarded([&] {
        if (!out) { // nobody can cancel it: no handle object, just the queue entry
            ready_push_callback(loop, fn, arg, drop);
            return COIO_OK;
        }
        *out = to_c(handle_call_soon(loop, fn, arg, drop));
        return COIO_OK;
    });
}

// coio_call_at and coio_call_later once their arguments are checked.
static int call_at(Loop *loop, double when, coio_callback fn, void *arg, coio_free_fn drop,
                   coio_handle **out) {
    return guarded([&] {
        Handle *h = loop_call_at(loop, when, fn, arg, drop);
        if (out) {
            handle_ref(h);
            *out = to_c(h);
        }
        return COIO_OK;
    });
}

int coio_call_at(coio_loop *l, double when, coio_callback fn, void *arg, coio_free_fn drop,
                 coio_handle **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!fn || !is_finite(when)) return COIO_EINVAL;
    return call_at(loop, when, fn, arg, drop, out);
}

int coio_call_later(coio_loop *l, double delay, coio_callback fn, void *arg, coio_free_fn drop,
                    coio_handle **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!fn || !is_finite(delay)) return COIO_EINVAL;
    if (delay < 0) delay = 0; // as asyncio
    double when = loop_time(loop) + delay;
    if (!is_finite(when)) return COIO_EINVAL; // a delay near DBL_MAX
    return call_at(loop, when, fn, arg, drop, out);
}

int coio_call_soon_threadsafe(coio_loop *l, coio_callback fn, void *arg, coio_free_fn drop) {
    Loop *loop = L(l);
    if (!loop || !fn) return COIO_EINVAL;
    return guarded([&] { return loop_call_soon_threadsafe(loop, fn, arg, drop); });
}

int coio_handle_cancel(coio_handle *h) {
    if (!h) return COIO_EINVAL;
    if (loop_on_wrong_thread(H(h)->loop)) return COIO_ETHREAD;
    handle_cancel(H(h));
    return COIO_OK;
}

int coio_handle_cancelled(const coio_handle *h) {
    return h && H(h)->state == Handle::Cancelled;
}

int coio_handle_when(const coio_handle *h, double *when) {
    if (!h || !when || H(h)->kind != Handle::Timer) return COIO_EINVAL;
    *when = H(h)->when;
    return COIO_OK;
}

void coio_handle_release(coio_handle *h) {
    if (h) release_in(H(h)->loop, [h] { handle_unref(H(h)); });
}

// ---- file descriptors -------------------------------------------------------------------

static int add_fd_callback(coio_loop *l, int fd, bool write, coio_callback fn, void *arg,
                           coio_free_fn drop) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!fn || fd < 0 || (fcntl(fd, F_GETFD) == -1 && errno == EBADF)) return COIO_EINVAL;
    if (io_busy(loop, fd, write)) return COIO_EBUSY; // a socket operation holds that side
    return guarded([&] {
        io_add_callback(loop, fd, write, fn, arg, drop);
        return COIO_OK;
    });
}

static int remove_fd_callback(coio_loop *l, int fd, bool write) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (fd < 0) return COIO_EINVAL;
    return guarded([&] { return io_remove(loop, fd, write) ? 1 : 0; });
}

int coio_add_reader(coio_loop *l, int fd, coio_callback fn, void *arg, coio_free_fn drop) {
    return add_fd_callback(l, fd, false, fn, arg, drop);
}

int coio_add_writer(coio_loop *l, int fd, coio_callback fn, void *arg, coio_free_fn drop) {
    return add_fd_callback(l, fd, true, fn, arg, drop);
}

int coio_remove_reader(coio_loop *l, int fd) {
    return remove_fd_callback(l, fd, false);
}

int coio_remove_writer(coio_loop *l, int fd) {
    return remove_fd_callback(l, fd, true);
}

// ---- futures ----------------------------------------------------------------------------

int coio_future_new(coio_loop *l, coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(future_new(loop));
        return COIO_OK;
    });
}

coio_future *coio_future_ref(coio_future *f) {
    if (f) future_ref(F(f));
    return f;
}

void coio_future_release(coio_future *f) {
    if (f) release_in(F(f)->loop, [f] { future_unref(F(f)); });
}

coio_loop *coio_future_loop(const coio_future *f) {
    return f ? to_c(F(f)->loop) : nullptr;
}

int coio_future_done(const coio_future *f) {
    return f && F(f)->state != Future::Pending;
}

int coio_future_cancelled(const coio_future *f) {
    return f && F(f)->state == Future::Cancelled;
}

int coio_future_set_result(coio_future *fut, void *value, coio_free_fn drop) {
    Future *f = F(fut);
    if (int rc = check_future(f)) return rc;
    if (f->state != Future::Pending) return COIO_ESTATE;
    if (int rc = task_check_outcome(f)) return rc;
    return guarded([&] {
        future_resolve(f, value, drop);
        return COIO_OK;
    });
}

int coio_future_set_error_payload(coio_future *fut, int code, const char *message, void *payload,
                                  coio_free_fn drop) {
    Future *f = F(fut);
    if (int rc = check_future(f)) return rc;
    if (code == 0) return COIO_EINVAL;
    if (f->state != Future::Pending) return COIO_ESTATE;
    if (int rc = task_check_outcome(f)) return rc;
    return guarded([&] {
        future_reject(f, code, message, payload, drop);
        return COIO_OK;
    });
}

int coio_future_set_error(coio_future *f, int code, const char *message) {
    return coio_future_set_error_payload(f, code, message, nullptr, nullptr);
}

int coio_future_cancel(coio_future *fut, const char *msg) {
    Future *f = F(fut);
    if (f && f->state != Future::Pending) return 0; // already done, whatever the loop's state
    if (int rc = check_future(f)) return rc;
    return guarded([&] { return cancel_chain(f, msg) ? 1 : 0; });
}

int coio_future_result(const coio_future *fut, void **value) {
    const Future *f = F(fut);
    if (!f) return COIO_EINVAL;
    int rc = future_outcome(f);
    if (rc == COIO_OK && value) *value = f->value;
    return rc;
}

void *coio_future_value(const coio_future *fut) {
    const Future *f = F(fut);
    return f && f->state == Future::Result ? f->value : nullptr;
}

// A read that moves ownership out: like coio_future_result, it does not depend on the loop's
// state (a pending future of a closed loop is ESTATE, as its man page says).
int coio_future_take_result(coio_future *fut, void **value, coio_free_fn *drop) {
    Future *f = F(fut);
    if (!f || !value || !drop) return COIO_EINVAL;
    if (f->state != Future::Result) return COIO_ESTATE;
    future_take_result(f, value, drop);
    return COIO_OK;
}

int coio_future_error(const coio_future *fut, int *code, const char **message) {
    const Future *f = F(fut);
    if (!f) return COIO_EINVAL;
    if (f->state == Future::Pending) return COIO_ESTATE;
    if (f->state == Future::Result) { // (a task body's unused error is freed on success)
        if (code) *code = 0;
        if (message) *message = nullptr;
        return COIO_OK;
    }
    f->retrieved = true;
    if (code) *code = f->error ? f->error->code : 0;
    if (message) *message = f->error ? f->error->message : nullptr;
    return COIO_OK;
}

int coio_future_error_payload(const coio_future *fut, void **payload) {
    const Future *f = F(fut);
    if (!f || !payload) return COIO_EINVAL;
    if (f->state == Future::Pending) return COIO_ESTATE;
    *payload = future_error_payload(f);
    return COIO_OK;
}

int coio_future_add_done_callback(coio_future *fut, coio_done_fn fn, void *arg, coio_free_fn drop) {
    Future *f = F(fut);
    if (int rc = check_future(f)) return rc;
    if (!fn) return COIO_EINVAL;
    return guarded([&] {
        future_add_done_callback(f, fn, arg, drop);
        return COIO_OK;
    });
}

int coio_future_remove_done_callback(coio_future *fut, coio_done_fn fn, void *arg) {
    Future *f = F(fut);
    if (!f || !fn) return COIO_EINVAL;
    if (loop_on_wrong_thread(f->loop)) return COIO_ETHREAD;
    return guarded([&] { return future_remove_done_callback(f, fn, arg); });
}

} // extern "C"

// ---- tasks ------------------------------------------------------------------------------

extern "C" {

int coio_spawn(coio_loop *l, coio_coroutine_fn fn, void *arg, const coio_task_options *opts,
               coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    coio_task_options o;
    if (!fn || !out || check_task_options(opts, &o)) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(spawn_coroutine(loop, fn, arg, o));
        return COIO_OK;
    });
}

int coio_task_new(coio_loop *l, coio_step_fn step, void *arg, coio_free_fn drop,
                  const coio_task_options *opts, coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    coio_task_options o;
    if (!step || !out || check_task_options(opts, &o)) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(spawn_step(loop, step, arg, drop, o));
        return COIO_OK;
    });
}

int coio_await(coio_future *f, void **value) {
    return guarded([&] { return coroutine_await(F(f), value); });
}

int coio_await_take(coio_future *fut, void **value) {
    Future *f = F(fut);
    if (!f) return COIO_EINVAL;
    int rc = guarded([&] { return coroutine_await(f, nullptr); });
    if (rc == COIO_OK && value) *value = future_take_value(f);
    future_unref(f);
    return rc;
}

int coio_co_sleep(double delay) {
    Coroutine *co = coroutine_suspendable();
    if (!co) return COIO_ENOTSUP;
    if (!is_finite(delay)) return COIO_EINVAL;
    if (delay <= 0) return coroutine_yield(co); // asyncio.sleep(0): no future
    coio_future *f = nullptr;
    if (int rc = coio_sleep(to_c(co->loop), delay, &f)) return rc;
    return coio_await_take(f, nullptr);
}

int coio_co_gather(coio_future *const *fs, size_t n, unsigned flags) {
    Loop *loop = co_running_loop();
    if (!loop) return COIO_ENOTSUP;
    coio_future *g = nullptr;
    if (int rc = coio_gather(to_c(loop), fs, n, flags, &g)) return rc;
    return coio_await_take(g, nullptr);
}

int coio_step_await(coio_future *task, coio_future *fut) {
    Task *t = as_task(F(task));
    Future *f = F(fut);
    if (!t || !f || f == t) return COIO_EINVAL;
    return task_step_await(t, f);
}

coio_future *coio_current_task(coio_loop *l) {
    return l ? to_c(L(l)->current_task) : nullptr;
}

int coio_future_is_task(const coio_future *f) {
    return f && F(f)->kind == Future::TaskKind;
}

int coio_task_cancelling(const coio_future *task) {
    const Future *f = F(task);
    return f && f->kind == Future::TaskKind ? int(static_cast<const Task *>(f)->num_cancels)
                                            : COIO_EINVAL;
}

int coio_task_uncancel(coio_future *task) {
    Task *t = as_task(F(task));
    return t ? task_uncancel(t) : COIO_EINVAL;
}

int coio_task_cancel_message(const coio_future *task, const char **msg) {
    const Task *t = as_task(const_cast<Future *>(F(task)));
    if (!t || !msg) return COIO_EINVAL;
    return task_cancel_message(t, msg);
}

int coio_task_set_cancelled(coio_future *task, const char *msg) {
    Task *t = as_task(F(task));
    if (!t) return COIO_EINVAL;
    if (t->state != Future::Pending || t->loop->current_task != t) return COIO_ESTATE;
    return guarded([&] {
        task_set_final_cancel(t, msg);
        return COIO_OK;
    });
}

const char *coio_task_name(const coio_future *task) {
    Task *t = as_task(const_cast<Future *>(F(task)));
    if (!t) return nullptr;
    try {
        return task_name(t);
    } catch (...) {
        return "Task"; // out of memory formatting the default name
    }
}

int coio_task_set_name(coio_future *task, const char *name) {
    Task *t = as_task(F(task));
    if (!t || !name) return COIO_EINVAL;
    return guarded([&] {
        task_set_name(t, name);
        return COIO_OK;
    });
}

long coio_loop_all_tasks(coio_loop *l, coio_future **out, size_t cap) {
    Loop *loop = L(l);
    if (!loop || (cap && !out)) return COIO_EINVAL;
    return loop_all_tasks(loop, reinterpret_cast<Future **>(out), cap);
}

int coio_sleep(coio_loop *l, double delay, coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || std::isnan(delay) || std::isinf(delay)) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(sleep_new(loop, delay));
        return COIO_OK;
    });
}

} // extern "C"
