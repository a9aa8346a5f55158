// Tasks (task.cc): asyncio.Task, a future driven by a step function, and the stackful
// coroutines (coroutine.cc) whose step resumes a fiber.
#pragma once

#include <coio.h>

#include <cstddef>
#include <cstdint>

#include "future.hh"

namespace coio::detail {

struct Loop;

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
    TaskExtra *extra;  // null until a name or a cancel message is stored
    Task *prev, *next; // the loop's list of tasks that are not done
    coio_step_fn step; // null once the body has finished or will never run
    union {
        void *arg;            // while step is set
        void (*ended_body)(); // once it is not: what task_body reports
    };
    coio_free_fn drop;
    Future *fut_waiter; // the future it waits on (a reference), asyncio's _fut_waiter
    // Its flags (must_cancel, started, ...) and num_cancels are in the Future part (future.hh).
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
// The coroutine or step function, for the repr (coro=<name()>): not stored, since the step is
// that function, or coroutine_step whose arg knows it; kept in ended_body once the body ended.
void (*task_body(const Task *t))();
// The name without allocating: the one set, else "Task-<id>" formatted into buf.
const char *task_name_into(const Task *t, char (&buf)[32]);
// The done callback by which a task waits (asyncio's __wakeup): not reported to observers as
// a callback (the step it runs is).
void task_wakeup(coio_future *f, void *arg);
void task_wakeup_drop(void *task); // its drop: the registration's reference to the task
// A sleep's registration on its own future (task.cc), and its drop.
void sleep_done(coio_future *f, void *sleep);
void sleep_free(void *sleep);
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
// COIO_ESTATE unless f is a plain future, or a task whose own body runs and has set no
// outcome yet: a task's outcome is set by its body, once, and takes effect when it returns.
int task_check_outcome(Future *f);
// coio_future_set_result on a pending future that passed task_check_outcome: a task's is
// stored until its body returns, any other future completes.
void future_resolve(Future *f, void *value, coio_free_fn drop);

// Stackful coroutines (coroutine.cc).
struct Coroutine;
Coroutine *coroutine_new(Loop *loop, coio_coroutine_fn fn, void *arg, coio_free_fn drop,
                         std::size_t stack_size, bool guarded);
int coroutine_step(coio_future *task, coio_future *awaited, int status, void *co);
void coroutine_free(void *co);
void coroutine_forget_arg(void *co);      // the creating call failed: the caller keeps arg
void (*coroutine_body(const void *co))(); // the function it runs
bool coroutine_stack_size_valid(std::size_t requested);
void stacks_release_all(Loop *loop);
static constexpr std::size_t kCoroutineBytes = 128; // a Coroutine (coroutine.hh) fits

} // namespace coio::detail
