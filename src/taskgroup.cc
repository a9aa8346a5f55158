// Task groups: asyncio.TaskGroup (CPython 3.13, Lib/asyncio/taskgroups.py).
//
// coio_task_group_new is __aenter__, the spawns are create_task, a done callback on every
// child is _on_task_done, and coio_task_group_exit is __aexit__: an internal step-driven task
// (the exit task) that the parent awaits.  A cancellation of the parent while it waits
// cancels the exit task, which does what `except CancelledError` around
// `await self._on_completed_fut` does, and keeps waiting.
//
// Memory: the group is reference counted — the user's reference (coio_task_group_free), one
// per child's done-callback registration, and the exit task's — so a done callback never
// touches a freed group.  The group holds its children (references), which would make a
// cycle with their registrations if a child never completes (the loop closed): the children
// are let go once nobody can need them (the exit ends, the exit task's body is ended, or the
// group is freed without an exit).
#include <algorithm>
#include <cstdio>
#include <vector>

#include "callback_names.hh"
#include "future.hh"
#include "loop.hh"
#include "task.hh"
#include "taskgroup.hh"

namespace coio::detail {

struct TaskGroup {
    Loop *loop;                     // a reference: the group may outlive every task of it
    Task *parent = nullptr;         // _parent_task (a reference) until the exit ends / free
    std::vector<Task *> children;   // _tasks, plus done ones not swept out yet (references)
    std::size_t npending = 0;       // len(_tasks): children whose done callback has not run
    std::vector<Task *> errors;     // _errors: failed children, in failure order (references)
    Future *on_completed = nullptr; // _on_completed_fut (a reference)
    Task *exit_task = nullptr;      // the exit task while its body runs (borrowed)
    Task *resume_parent = nullptr;  // the parent to resume once the exit ended (a reference)
    std::uint32_t refs = 1;         // the user's, each child registration's, the exit task's
    int body_status = COIO_OK;      // what the body of the group ended with (__aexit__'s et)
    bool exiting = false;           // _exiting: the exit task has started
    bool exit_inline = false;       // the exit task's step runs inside coio_task_group_exit
    bool aborting = false;          // _aborting
    bool parent_cancel_requested = false;
    bool propagate_cancel = false; // propagate_cancellation_error is not None
    bool finished = false;         // __aexit__ has returned
    bool freed = false;            // coio_task_group_free ran
};

static void release_tasks(std::vector<Task *> &v) {
    std::vector<Task *> old;
    old.swap(v); // a release may end up back in the group: never iterate its own vector
    for (Task *t : old)
        future_unref(t);
}

// Releases the group's hold on its children (the caller holds a group reference).
static void release_children(TaskGroup *g) {
    release_tasks(g->children);
    if (Future *f = g->on_completed) {
        g->on_completed = nullptr;
        future_unref(f);
    }
}

static void release_parent(TaskGroup *g) {
    if (Task *p = g->parent) {
        g->parent = nullptr;
        future_unref(p);
    }
}

static void group_unref(TaskGroup *g) {
    if (--g->refs) return;
    release_children(g);
    release_tasks(g->errors);
    release_parent(g);
    Loop *loop = g->loop;
    delete g;
    loop_unref(loop);
}

static void drop_ref(void *arg) {
    group_unref(static_cast<TaskGroup *>(arg));
}

// The group was freed before it was exited: nobody will wait for its children or read its
// errors, so their failures stay theirs (reported if never retrieved) and it cancels nobody.
static bool abandoned(const TaskGroup *g) {
    return g->freed && !g->exiting;
}

// _abort(): "for t in self._tasks: if not t.done(): t.cancel()".
static void abort_children(TaskGroup *g) {
    g->aborting = true;
    for (std::size_t i = 0; i < g->children.size(); i++) {
        Task *c = g->children[i];
        if (c->state == Future::Pending) task_cancel(c, nullptr);
    }
}

// asyncio: "Task ... has errored out but its parent task ... is already completed".
static void report_orphan_error(TaskGroup *g, Task *child) {
    char msg[200];
    std::snprintf(msg, sizeof msg,
                  "Task %s has errored out but its parent task %s is already completed",
                  task_name(child), g->parent ? task_name(g->parent) : "None");
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = msg;
    ctx.code = child->error->code;
    ctx.error = child->error->message;
    ctx.future = reinterpret_cast<coio_future *>(child);
    loop_report(g->loop, &ctx);
}

static void record_failure(TaskGroup *g, Task *child);

// _on_task_done.  The last child done while the exit waits sets _on_completed_fut: the exit
// task (which the parent awaits) wakes in the next pass, where asyncio's parent would run
// __aexit__ on, and its end resumes the parent in that same pass (end_exit).
static void child_ended(TaskGroup *g) {
    g->npending--;
    if (g->on_completed && g->npending == 0 && g->on_completed->state == Future::Pending) {
        g->loop->ready.reserve(1); // the exit task's wakeup: record_failure must still run
        future_set_result(g->on_completed, nullptr, nullptr);
    }
}

static void on_task_done(coio_future *f, void *arg) {
    auto *g = static_cast<TaskGroup *>(arg);
    child_ended(g);
    record_failure(g, reinterpret_cast<Task *>(f));
}

static void record_failure(TaskGroup *g, Task *child) {
    if (child->state != Future::Failed || abandoned(g)) return; // cancelled, or no exception
    child->retrieved = true;                                    // task.exception()
    future_ref(child);
    g->errors.push_back(child); // room reserved when it was spawned
    // The parent is let go once the exit has ended (asyncio clears _parent_task): a child
    // that fails after that is an orphan too.
    if (!g->parent || g->parent->state != Future::Pending) {
        report_orphan_error(g, child);
        return;
    }
    if (!g->aborting && !g->parent_cancel_requested) {
        // Cancel whatever the body is waiting for; __aexit__ takes the cancellation back.
        abort_children(g);
        g->parent_cancel_requested = true;
        task_cancel(g->parent, nullptr);
    }
}

// Lets done children go once they are more than half of the array (amortised O(1) per
// child; _abort only needs the ones not done).
static void sweep(TaskGroup *g) {
    std::vector<Task *> &c = g->children;
    if (c.size() < 32 || c.size() <= 2 * g->npending) return;
    std::vector<Task *> done;
    auto keep = std::stable_partition(c.begin(), c.end(),
                                      [](Task *t) { return t->state == Future::Pending; });
    done.assign(keep, c.end());
    c.erase(keep, c.end());
    release_tasks(done);
}

template <class T> static void reserve_for(std::vector<T> &v, std::size_t n) {
    if (v.capacity() < n) v.reserve(std::max(n, 2 * v.capacity()));
}

// create_task's refusals.
static int check_spawn(const TaskGroup *g) {
    if (g->exiting && g->npending == 0) return COIO_ESTATE; // "TaskGroup ... is finished"
    if (g->aborting) return COIO_ESTATE;                    // "TaskGroup ... is shutting down"
    return COIO_OK;
}

// create_task once `spawn` made the child: "Always schedule the done callback even if the
// task is already done (e.g. if the coro was able to complete eagerly), otherwise if the task
// completes with an exception then it will cancel the current task too early" (gh-128550,
// 3.13.2; 3.13.0 ran _on_task_done inline for a task done already).  coio never runs a done
// callback inline, so registering it is enough.
// An eager child runs inside spawn(): its body may free the group (the user's reference),
// so the group is held until the child is registered.
template <class Spawn> static Task *add_child_held(TaskGroup *g, Spawn spawn);

// Checked after the sweep: releasing done children runs user code (a result's drop, the
// report of an error nobody retrieved), which may close the loop or abort the group.  A child
// spawned onto a closed loop would never run nor end: its registration would keep the group,
// and the group the loop, for ever.
template <class Spawn> static int add_child(TaskGroup *g, Spawn spawn, Task **out) {
    g->refs++;
    sweep(g);
    int rc = g->loop->closed ? COIO_ECLOSED : check_spawn(g);
    if (rc == COIO_OK) {
        try {
            *out = add_child_held(g, spawn);
        } catch (...) {
            group_unref(g);
            throw;
        }
    }
    group_unref(g);
    return rc;
}

template <class Spawn> static Task *add_child_held(TaskGroup *g, Spawn spawn) {
    reserve_for(g->children, g->children.size() + 1); // so that nothing fails once it exists
    reserve_for(g->errors, g->errors.size() + g->npending + 1);
    g->loop->ready.reserve(1); // room for child_ended's wake-up if the spawn fails
    // The child is pending for the group from the start: an eager child's code (its body, its
    // drop) can start the exit inside the spawn, and that exit must wait for the child, as
    // asyncio's would (there the child is in _tasks before anything can await __aexit__).
    // Counted only after the spawn, it let the exit finish at once and the group take the
    // child in afterwards: a finished group holding a child, a cycle nothing broke.
    g->npending++;
    Task *t;
    try {
        t = spawn();
    } catch (...) {
        child_ended(g);
        throw;
    }
    try {
        // Again: an eager child may have spawned siblings into the group meanwhile.
        reserve_for(g->children, g->children.size() + 1);
        reserve_for(g->errors, g->errors.size() + g->npending + 1); // every child may fail
        future_add_done_callback(t, on_task_done, g, drop_ref);
    } catch (...) {
        // Out of memory after the child has started (it owns its arg now): it must not run
        // outside the group.  It is cancelled; its drop runs when it ends.
        child_ended(g);
        task_cancel(t, nullptr);
        future_unref(t);
        throw;
    }
    g->refs++; // the registration's
    // An eager child that freed the group (abandoned it) ran before it could be taken in:
    // holding it now would make a cycle nothing breaks (group -> child -> registration).
    if (abandoned(g)) return t;
    future_ref(t);
    g->children.push_back(t); // room reserved
    return t;
}

TaskGroup *task_group_new(Loop *loop, Task *parent) {
    auto *g = new TaskGroup;
    g->loop = loop;
    loop_ref(loop);
    g->parent = parent;
    future_ref(parent);
    return g;
}

Loop *task_group_loop(const TaskGroup *g) {
    return g->loop;
}

int task_group_spawn_step(TaskGroup *g, coio_step_fn step, void *arg, coio_free_fn drop,
                          const coio_task_options &o, Task **out) {
    return add_child(
        g, [&] { return spawn_step(g->loop, step, arg, drop, o); }, out);
}

int task_group_spawn_coroutine(TaskGroup *g, coio_coroutine_fn fn, void *arg,
                               const coio_task_options &o, Task **out) {
    return add_child(
        g, [&] { return spawn_coroutine(g->loop, fn, arg, o); }, out);
}

// ---- __aexit__ ---------------------------------------------------------------------------

// _aexit's opening, with et = body_status:
//     if et is not None and issubclass(et, exceptions.CancelledError):
//         propagate_cancellation_error = exc
//     if et is not None:
//         if not self._aborting:
//             self._abort()
static void begin_exit(TaskGroup *g) {
    g->exiting = true;
    g->propagate_cancel = g->body_status == COIO_ECANCELLED;
    if (g->body_status != COIO_OK && !g->aborting) abort_children(g);
}

// 3.13, when there are errors:
//     if self._parent_task.cancelling():
//         self._parent_task.uncancel()
//         self._parent_task.cancel()
// "which will keep the cancel count stable".  The parent runs __aexit__ itself there, so that
// cancel() only sets _must_cancel: the parent gets the ExceptionGroup first, the cancellation
// at its next await (or it ends cancelled if it returns).  Here the parent waits on the exit
// task, or runs when the exit ends inside coio_task_group_exit: a deferred cancel lets it see
// the failure first.  A running coroutine sees it without a step (coio_await of a done
// future returns at once), so a plain cancel() is that already.
static void recancel_parent(TaskGroup *g, Task *self) {
    Task *p = g->parent;
    if (p->num_cancels == 0) return;
    task_uncancel(p);
    bool waits_for_us = p->fut_waiter == self;
    if (waits_for_us || (g->exit_inline && p->step != coroutine_step))
        task_cancel_deferred(p);
    else
        task_cancel(p, nullptr);
}

// _aexit's end, once _tasks is empty.  Returns what the exit task ends with.
static int end_exit(TaskGroup *g, Task *self) {
    // asyncio raises the propagated CancelledError "except if there are other errors --
    // those have priority", then appends the body's own error (et) and raises the group.  A
    // body that failed aborted the group before any wait, so it propagates no cancellation:
    // any error at all makes the exit fail.
    bool body_failed = g->body_status != COIO_OK && g->body_status != COIO_ECANCELLED;
    std::size_t nerrors = g->errors.size() + (body_failed ? 1 : 0);
    if (nerrors > 0) { // stored first: nothing has changed if it cannot be
        char msg[96];  // str(BaseExceptionGroup('unhandled errors in a TaskGroup', errors))
        std::snprintf(msg, sizeof msg, "unhandled errors in a TaskGroup (%zu sub-exception%s)",
                      nerrors, nerrors == 1 ? "" : "s");
        task_stash_error(self, COIO_EFAILED, msg, nullptr);
    }
    bool propagate = g->propagate_cancel;
    if (g->parent_cancel_requested) {
        // "If this flag is set we *must* call uncancel()."  With no cancellation left, the
        // CancelledError is not propagated.
        if (task_uncancel(g->parent) == 0) propagate = false;
    }
    int rc = COIO_OK;
    if (nerrors > 0) {
        recancel_parent(g, self);
        rc = COIO_EFAILED;
    } else if (propagate) {
        rc = COIO_ECANCELLED;
    }
    g->finished = true;
    // The exit ends in a step of its own (woken by _on_completed_fut or by a cancellation of
    // the parent, whose own step runs __aexit__ in asyncio): the parent resumes now, in this pass,
    // not from a done callback in the next (exit_ended).  Not when the exit ends inside the
    // call (the parent is running).
    if (!g->exit_inline && g->parent->fut_waiter == self) {
        future_ref(g->parent);
        g->resume_parent = g->parent;
    }
    release_children(g); // all done
    release_parent(g);   // not needed any more (later asyncio clears _parent_task here too)
    return rc;
}

// The exit task's step: `while self._tasks: ... await self._on_completed_fut`.
static int exit_step(coio_future *task, coio_future *, int status, void *arg) {
    auto *g = static_cast<TaskGroup *>(arg);
    auto *self = reinterpret_cast<Task *>(task);
    g->exit_task = self;
    if (!g->exiting) {
        begin_exit(g);
        // propagate_cancellation_error = exc: the body's CancelledError, with the message
        // the parent's body set (coio_task_set_cancelled), else that of the cancellation it
        // was delivered.
        if (g->propagate_cancel) task_set_final_cancel(self, task_ending_message(g->parent));
    } else {
        // The await returned, or raised:
        //     except exceptions.CancelledError as ex:
        //         if not self._aborting:
        //             propagate_cancellation_error = ex
        //             self._abort()
        if (status == COIO_ECANCELLED && !g->aborting) {
            g->propagate_cancel = true; // this CancelledError (its message) is re-raised
            const char *m;
            task_set_final_cancel(self, task_cancel_message(self, &m) == COIO_OK ? m : nullptr);
            abort_children(g);
        }
        Future *f = g->on_completed; // self._on_completed_fut = None
        g->on_completed = nullptr;
        if (f) future_unref(f);
    }
    if (g->npending == 0) return end_exit(g, self);
    if (!g->on_completed) g->on_completed = future_new(g->loop);
    task_step_await(self, g->on_completed); // its own step, on its own loop: cannot fail
    return COIO_STEP_AWAIT;
}

// The exit task's body has ended: normally everything is released by then; when the loop
// closed during the exit, the children (ended too) are let go here.
static void exit_ended(void *arg) {
    auto *g = static_cast<TaskGroup *>(arg);
    Task *self = g->exit_task;
    g->exit_task = nullptr;
    if (Task *p = g->resume_parent) {
        g->resume_parent = nullptr;
        if (self && task_take_queued_wakeup(p, self)) task_step_now(p, self);
        future_unref(p);
    }
    release_children(g);
    group_unref(g);
}

int task_group_exit(TaskGroup *g, int status, Task **out) {
    if (g->exiting || g->loop->current_task != g->parent) return COIO_ESTATE;
    g->body_status = status;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER; // __aexit__ runs at once; it only suspends when it must wait
    g->refs++;                 // the exit task's, released by exit_ended
    g->exit_inline = true;
    try {
        *out = spawn_step(g->loop, exit_step, g, exit_ended, o);
        (*out)->internal = true;
    } catch (...) {
        g->exit_inline = false;
        g->refs--; // spawn_step failed: exit_ended will not run
        throw;
    }
    g->exit_inline = false;
    return COIO_OK;
}

long task_group_errors(const TaskGroup *g, Future **out, std::size_t cap) {
    std::size_t n = g->errors.size();
    for (std::size_t i = 0; i < n && i < cap; i++) {
        future_ref(g->errors[i]);
        out[i] = g->errors[i];
    }
    return long(n);
}

void task_group_free(TaskGroup *g) {
    g->freed = true;
    if (!g->exiting) {       // abandoned: no exit will need its children or its parent
        release_children(g); // (the user's reference, still held, keeps g alive)
        release_parent(g);
    }
    group_unref(g);
}

CallbackNames taskgroup_callback_names() {
    static const CallbackName names[] = {
        {any_fn(on_task_done), "TaskGroup._on_task_done"},
        {any_fn(exit_step), "TaskGroup.__aexit__"}, // the coroutine of the exit's task
    };
    return {names, sizeof names / sizeof names[0]};
}

} // namespace coio::detail
