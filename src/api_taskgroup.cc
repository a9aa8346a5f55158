// The extern "C" boundary of timeout scopes (timeout.cc) and task groups (taskgroup.cc).
#include <cmath>

#include "api.hh"
#include "future.hh"
#include "loop.hh"
#include "task.hh"
#include "taskgroup.hh"

using namespace coio::detail;
using namespace coio::api;

namespace {

// Enters a scope with a checked deadline (loop time, +INFINITY for none).
int enter(Loop *loop, double when, coio_timeout **out) {
    Task *t = loop->current_task; // "Timeout should be used inside a task"
    if (!t) return COIO_ESTATE;
    return guarded([&] {
        *out = to_c(timeout_enter(loop, t, when));
        return COIO_OK;
    });
}

int check_group(const TaskGroup *g) {
    return g ? check_loop(task_group_loop(g)) : COIO_EINVAL;
}
} // namespace

extern "C" {

// ---- timeout scopes ---------------------------------------------------------------------

int coio_timeout_enter(coio_loop *l, double delay, coio_timeout **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || std::isnan(delay)) return COIO_EINVAL;
    // A negative delay is coio's "no timeout" (asyncio's None); 0 expires on the next pass.
    return enter(loop, delay < 0 ? INFINITY : loop_time(loop) + delay, out);
}

int coio_timeout_enter_at(coio_loop *l, double when, coio_timeout **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || std::isnan(when)) return COIO_EINVAL;
    return enter(loop, when, out);
}

int coio_timeout_reschedule(coio_timeout *tm, double when) {
    if (!tm || std::isnan(when)) return COIO_EINVAL;
    if (int rc = check_loop(timeout_loop(Tmo(tm)))) return rc;
    return guarded([&] { return timeout_reschedule(Tmo(tm), when); });
}

int coio_timeout_when(const coio_timeout *tm, double *when) {
    if (!tm || !when) return COIO_EINVAL;
    *when = timeout_when(Tmo(tm));
    return COIO_OK;
}

int coio_timeout_expired(const coio_timeout *tm) {
    return tm && timeout_expired(Tmo(tm));
}

int coio_timeout_exit(coio_timeout *tm, int status) {
    if (!tm) return COIO_EINVAL;
    if (loop_on_wrong_thread(timeout_loop(Tmo(tm)))) return COIO_ETHREAD;
    return guarded([&] { return timeout_exit(Tmo(tm), status); });
}

// ---- task groups ------------------------------------------------------------------------

int coio_task_group_new(coio_loop *l, coio_task_group **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out) return COIO_EINVAL;
    Task *parent = loop->current_task; // "TaskGroup cannot determine the parent task"
    if (!parent) return COIO_ESTATE;
    return guarded([&] {
        *out = to_c(task_group_new(loop, parent));
        return COIO_OK;
    });
}

int coio_task_group_spawn(coio_task_group *g, coio_coroutine_fn fn, void *arg,
                          const coio_task_options *opts, coio_future **task) {
    if (int rc = check_group(Grp(g))) return rc;
    coio_task_options o;
    if (!fn || check_task_options(opts, &o)) return COIO_EINVAL;
    return guarded([&] {
        Task *t = nullptr;
        int rc = task_group_spawn_coroutine(Grp(g), fn, arg, o, &t);
        if (rc == COIO_OK && task)
            *task = to_c(t);
        else if (rc == COIO_OK)
            future_unref(t);
        return rc;
    });
}

int coio_task_group_task_new(coio_task_group *g, coio_step_fn step, void *arg, coio_free_fn drop,
                             const coio_task_options *opts, coio_future **task) {
    if (int rc = check_group(Grp(g))) return rc;
    coio_task_options o;
    if (!step || check_task_options(opts, &o)) return COIO_EINVAL;
    return guarded([&] {
        Task *t = nullptr;
        int rc = task_group_spawn_step(Grp(g), step, arg, drop, o, &t);
        if (rc == COIO_OK && task)
            *task = to_c(t);
        else if (rc == COIO_OK)
            future_unref(t);
        return rc;
    });
}

int coio_task_group_exit(coio_task_group *g, int status, coio_future **out) {
    if (int rc = check_group(Grp(g))) return rc;
    if (!out || status > 0) return COIO_EINVAL; // COIO_OK or a (negative) status
    return guarded([&] {
        Task *t = nullptr;
        int rc = task_group_exit(Grp(g), status, &t);
        if (rc == COIO_OK) *out = to_c(t);
        return rc;
    });
}

long coio_task_group_errors(coio_task_group *g, coio_future **out, size_t cap) {
    if (!g || (cap && !out)) return COIO_EINVAL;
    return task_group_errors(Grp(g), reinterpret_cast<Future **>(out), cap);
}

void coio_task_group_free(coio_task_group *g) {
    if (g) task_group_free(Grp(g));
}

} // extern "C"
