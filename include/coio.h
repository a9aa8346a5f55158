/* coio — asyncio's core (event loop, callbacks, timers, futures) as a C library.
 *
 * The whole public API is this one header.  Conventions (see coio(7)):
 *  - Handles are opaque.  Functions that can fail return an int status: COIO_OK (0) or a
 *    negative COIO_E* code; results go through out-parameters that are left untouched on
 *    failure.  Pure queries (coio_future_done, coio_loop_time, ...) return their answer.
 *  - Option structs start with `uint32_t size` and are initialised with their *_INIT macro.
 *  - Every (fn, arg) registration also takes a `drop` (may be NULL) that runs exactly once when
 *    the registration ends: after the call, on cancel, on removal, or when the loop closes.  If
 *    the registering call itself fails, drop is not called: the caller keeps `arg`.
 *  - coio_*_new returns a reference the caller owns; release(NULL) is a no-op.
 *  - One loop is driven by one thread.  Only functions documented "thread-safe" may be called
 *    from other threads.  In debug mode (COIO_LOOP_DEBUG) functions that change a running
 *    loop's state return COIO_ETHREAD when called from another thread.
 */
#ifndef COIO_H
#define COIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define COIO_API __attribute__((visibility("default")))
#else
#define COIO_API
#endif

#define COIO_VERSION_MAJOR 1
#define COIO_VERSION_MINOR 0
#define COIO_VERSION_PATCH 0
#define COIO_VERSION_NUMBER                                                                        \
    (COIO_VERSION_MAJOR * 10000 + COIO_VERSION_MINOR * 100 + COIO_VERSION_PATCH)

/* ---- Statuses --------------------------------------------------------------------------- */

enum {
    COIO_OK = 0,
    COIO_EINVAL = -1,     /* invalid argument: NULL handle, NaN/infinite time, bad option */
    COIO_ENOMEM = -2,     /* out of memory */
    COIO_ESTATE = -3,     /* wrong state: result of a pending future, set_result twice, ... */
    COIO_ECANCELLED = -4, /* the future was cancelled */
    COIO_EFAILED = -5,    /* the future failed: coio_future_error() has the details */
    COIO_ETIMEDOUT = -6,  /* a timeout expired (used as an error code) */
    COIO_ECLOSED = -7,    /* the loop is closed */
    COIO_EBUSY = -8,      /* the loop is running (close, nested run, release) */
    COIO_ELOOP = -9,      /* the object belongs to another loop */
    COIO_ETHREAD = -10,   /* called from a thread that does not drive the loop (debug mode) */
    COIO_ENOTSUP = -11,   /* not supported here (backend not available, ...) */
    COIO_ESYS = -12,      /* a system call failed */
    COIO_EFULL = -13,     /* _nowait put on a full queue (asyncio.QueueFull) */
    COIO_EEMPTY = -14,    /* _nowait get on an empty queue (asyncio.QueueEmpty) */
    COIO_ESHUTDOWN = -15, /* the queue was shut down (asyncio.QueueShutDown) */
    COIO_EBROKEN = -16,   /* the barrier is broken (asyncio.BrokenBarrierError) */
};

/* A static, human-readable description of a status ("invalid argument"); never NULL. */
COIO_API const char *coio_strerror(int status);
/* The status's symbolic name ("COIO_EINVAL"), or "COIO_UNKNOWN"; never NULL. */
COIO_API const char *coio_status_name(int status);
/* The library's version as "MAJOR.MINOR.PATCH", and as MAJOR*10000 + MINOR*100 + PATCH. */
COIO_API const char *coio_version(void);
COIO_API int coio_version_number(void);

/* ---- Types ------------------------------------------------------------------------------ */

typedef struct coio_loop coio_loop;
typedef struct coio_future coio_future;
typedef struct coio_handle coio_handle;

typedef void (*coio_free_fn)(void *p);
typedef void (*coio_callback)(void *arg);
typedef void (*coio_done_fn)(coio_future *f, void *arg);

/* Any negative timeout means "wait forever"; NaN is COIO_EINVAL. */
#define COIO_NO_TIMEOUT (-1.0)

/* ---- Loop ------------------------------------------------------------------------------- */

/* Backends, as libev names them.  COIO_BACKEND_AUTO lets libev choose. */
#define COIO_BACKEND_AUTO 0u
#define COIO_BACKEND_SELECT 0x01u
#define COIO_BACKEND_POLL 0x02u
#define COIO_BACKEND_EPOLL 0x04u
#define COIO_BACKEND_KQUEUE 0x08u
#define COIO_BACKEND_PORT 0x20u
#define COIO_BACKEND_LINUXAIO 0x40u
#define COIO_BACKEND_IOURING 0x80u

/* Loop flags. */
#define COIO_LOOP_DEBUG 0x1u /* asyncio's debug mode: slow callbacks, wrong-thread checks */
#define COIO_LOOP_VIRTUAL_TIME                                                                     \
    0x2u                          /* the clock starts at 0 and jumps to the next timer when idle */
#define COIO_LOOP_NO_PLUGINS 0x4u /* coio_loop_new ignores COIO_PLUGINS (see coio_plugin(7)) */

typedef struct coio_loop_options {
    uint32_t size;                 /* sizeof(coio_loop_options) as the caller knows it */
    uint32_t flags;                /* COIO_LOOP_* */
    uint32_t backend;              /* one COIO_BACKEND_* value */
    double slow_callback_duration; /* debug mode: report callbacks slower than this (seconds) */
} coio_loop_options;

#define COIO_LOOP_OPTIONS_INIT                                                                     \
    { sizeof(coio_loop_options), 0u, COIO_BACKEND_AUTO, 0.1 }

/* Creates a loop.  opt may be NULL (defaults).  EINVAL: unknown flags, larger unknown size,
 * negative/NaN slow_callback_duration; ENOTSUP: backend not available; ESYS: libev failed. */
COIO_API int coio_loop_new(coio_loop **out, const coio_loop_options *opt);
/* Closes the loop: every scheduled callback is discarded (its drop runs).  Idempotent, as in
 * asyncio.  EBUSY while the loop runs.  The object stays valid until coio_loop_release. */
COIO_API int coio_loop_close(coio_loop *loop);
/* Drops the caller's reference, closing the loop first if it is still open.  The memory lives
 * on while futures or handles of the loop still exist.  EBUSY (nothing done) while running.
 * NULL is a no-op returning COIO_OK. */
COIO_API int coio_loop_release(coio_loop *loop);
/* Runs the loop until f is done, then returns f's outcome as coio_future_result would
 * (COIO_OK, COIO_EFAILED, COIO_ECANCELLED; like asyncio's f.result(), this marks an error as
 * retrieved).  ESTATE if the loop was stopped first; ELOOP if f belongs to another loop;
 * EBUSY if already running; ECLOSED. */
COIO_API int coio_loop_run_until_complete(coio_loop *loop, coio_future *f);
/* Runs until coio_loop_stop.  EBUSY if already running; ECLOSED. */
COIO_API int coio_loop_run_forever(coio_loop *loop);
/* Thread-safe.  Makes the running loop return after the current pass; called while the loop
 * is not running, the next run does one pass and returns (as in asyncio).  ECLOSED. */
COIO_API int coio_loop_stop(coio_loop *loop);
/* The loop's monotonic clock in seconds, read fresh.  In COIO_LOOP_VIRTUAL_TIME mode the clock
 * starts at 0 and moves only when nothing is ready: then it jumps to the next timer (with no
 * timer at all the loop waits for threads/I/O as usual).  NaN for a NULL loop. */
COIO_API double coio_loop_time(coio_loop *loop);
COIO_API int coio_loop_is_running(const coio_loop *loop);       /* 1 / 0 */
COIO_API int coio_loop_is_closed(const coio_loop *loop);        /* 1 / 0 (1 for NULL) */
COIO_API int coio_loop_get_debug(const coio_loop *loop);        /* 1 / 0 */
COIO_API int coio_loop_set_debug(coio_loop *loop, int enabled); /* EINVAL, ECLOSED */
/* The libev backend in use (one COIO_BACKEND_* value), 0 for NULL. */
COIO_API uint32_t coio_loop_backend(const coio_loop *loop);

/* ---- Exception handler ------------------------------------------------------------------ */

/* What asyncio passes as the handler's `context` dict.  All pointers are borrowed for the
 * duration of the call (take a reference to keep the future).  Fields a reporter does not know
 * are 0 / NULL.  Besides errors, the loop reports slow callbacks (debug mode) and C++
 * exceptions escaping a callback through the handler. */
typedef struct coio_exception_context {
    uint32_t size;       /* sizeof(coio_exception_context) as the reporter knows it */
    const char *message; /* what happened, e.g. "Future exception was never retrieved" */
    int code;            /* the error code involved (0 if none) */
    const char *error;   /* the error's message (may be NULL) */
    coio_future *future; /* the future involved (may be NULL) */
    coio_handle *handle; /* the handle involved (may be NULL) */
} coio_exception_context;

#define COIO_EXCEPTION_CONTEXT_INIT                                                                \
    { sizeof(coio_exception_context), NULL, 0, NULL, NULL, NULL }

typedef void (*coio_exception_handler)(coio_loop *loop, const coio_exception_context *ctx,
                                       void *arg);

/* Installs fn (NULL restores the default handler, and drop(arg) runs at once).  The previous
 * handler's drop runs now; the installed one's when it is replaced or when the loop is freed
 * (after close: futures freed later are still reported). */
COIO_API int coio_loop_set_exception_handler(coio_loop *loop, coio_exception_handler fn, void *arg,
                                             coio_free_fn drop);
/* The installed handler and its arg; *fn is NULL when the default is in use.  Either out
 * may be NULL. */
COIO_API int coio_loop_get_exception_handler(coio_loop *loop, coio_exception_handler *fn,
                                             void **arg);
/* Reports ctx through the loop's handler (bindings use this for their own errors).  EINVAL if
 * ctx or ctx->message is NULL or ctx->size is unknown. */
COIO_API int coio_loop_call_exception_handler(coio_loop *loop, const coio_exception_context *ctx);
/* The default handler: one line on stderr, "coio: <message>[: <error>][ (<code name>)]"
 * where a code that is not a coio status prints as "(code N)". */
COIO_API int coio_loop_default_exception_handler(coio_loop *loop,
                                                 const coio_exception_context *ctx);

/* ---- Callbacks and timers --------------------------------------------------------------- */

/* Schedule fn(arg) on the next pass (FIFO).  out may be NULL; otherwise *out is a handle
 * reference the caller releases.  EINVAL: NULL loop/fn; ECLOSED; ENOMEM. */
COIO_API int coio_call_soon(coio_loop *loop, coio_callback fn, void *arg, coio_free_fn drop,
                            coio_handle **out);
/* Schedule fn(arg) `delay` seconds from now.  A negative delay is 0 (as asyncio); NaN or
 * infinite delay is EINVAL.  Timers with equal deadlines run in scheduling order. */
COIO_API int coio_call_later(coio_loop *loop, double delay, coio_callback fn, void *arg,
                             coio_free_fn drop, coio_handle **out);
/* Schedule fn(arg) at loop time `when` (a past time runs on the next pass).  NaN or infinite
 * `when` is EINVAL. */
COIO_API int coio_call_at(coio_loop *loop, double when, coio_callback fn, void *arg,
                          coio_free_fn drop, coio_handle **out);
/* Thread-safe call_soon: may be called from any thread while the loop is open; wakes the loop.
 * ECLOSED once the loop is closed. */
COIO_API int coio_call_soon_threadsafe(coio_loop *loop, coio_callback fn, void *arg,
                                       coio_free_fn drop);

/* Cancels the callback if it has not run (its drop runs now).  Cancelling a handle that
 * already ran, was cancelled, or was discarded by coio_loop_close does nothing; a discarded
 * handle is not "cancelled" (coio_handle_cancelled is 0).  EINVAL for NULL. */
COIO_API int coio_handle_cancel(coio_handle *h);
COIO_API int coio_handle_cancelled(const coio_handle *h); /* 1 / 0 */
/* The deadline of a timer handle in loop time.  EINVAL for NULL or a call_soon handle. */
COIO_API int coio_handle_when(const coio_handle *h, double *when);
COIO_API void coio_handle_release(coio_handle *h);

/* ---- File descriptors ------------------------------------------------------------------- */

/* Calls fn(arg) through the ready queue in every pass in which fd is readable (level
 * triggered, as asyncio's add_reader), until removed.  One reader per fd: adding another
 * replaces it (the old one's drop runs).  The fd stays the caller's: remove the reader before
 * closing it.  EINVAL: NULL loop/fn, fd < 0 or not open; ECLOSED; ENOMEM. */
COIO_API int coio_add_reader(coio_loop *loop, int fd, coio_callback fn, void *arg,
                             coio_free_fn drop);
/* As coio_add_reader, for writability (asyncio's add_writer). */
COIO_API int coio_add_writer(coio_loop *loop, int fd, coio_callback fn, void *arg,
                             coio_free_fn drop);
/* Removes fd's reader / writer; its drop runs (once its callback returns, if called from
 * inside it).  Returns 1 if one was removed, 0 if there was none, or EINVAL / ECLOSED. */
COIO_API int coio_remove_reader(coio_loop *loop, int fd);
COIO_API int coio_remove_writer(coio_loop *loop, int fd);

/* ---- Futures ---------------------------------------------------------------------------- */

/* A pending future of loop.  EINVAL, ECLOSED, ENOMEM.  Reference counts are not atomic: a
 * future is referenced and released on its loop's thread only. */
COIO_API int coio_future_new(coio_loop *loop, coio_future **out);
/* Adds a reference and returns f (NULL for NULL). */
COIO_API coio_future *coio_future_ref(coio_future *f);
/* Drops a reference; the last one frees the future, its value (through its drop) and its
 * remaining done callbacks (their drops).  A failed future whose error was never retrieved is
 * reported through the exception handler when freed. */
COIO_API void coio_future_release(coio_future *f);
/* The future's loop (borrowed); NULL for NULL. */
COIO_API coio_loop *coio_future_loop(const coio_future *f);
COIO_API int coio_future_done(const coio_future *f);      /* 1 / 0 */
COIO_API int coio_future_cancelled(const coio_future *f); /* 1 / 0 */
/* Completes f with value; the future owns value and calls drop(value) when freed.  ESTATE if
 * f is done (drop is then not called); ECLOSED if the loop is closed. */
COIO_API int coio_future_set_result(coio_future *f, void *value, coio_free_fn drop);
/* Fails f with a nonzero error code and a message (copied; may be NULL). */
COIO_API int coio_future_set_error(coio_future *f, int code, const char *message);
/* As coio_future_set_error, plus a payload the future owns (drop called when freed). */
COIO_API int coio_future_set_error_payload(coio_future *f, int code, const char *message,
                                           void *payload, coio_free_fn drop);
/* Cancels f with an optional message (copied).  Returns 1 if cancelled, 0 if already done
 * (even on a closed loop), or a negative status (EINVAL, ECLOSED, ENOMEM). */
COIO_API int coio_future_cancel(coio_future *f, const char *msg);
/* COIO_OK with *value (borrowed; the out-pointer `value` may be NULL), ESTATE if pending,
 * ECANCELLED, or EFAILED (see coio_future_error).  Marks the error as retrieved (the const is
 * about the outcome, which never changes once set). */
COIO_API int coio_future_result(const coio_future *f, void **value);
/* The result of a future that completed with one (borrowed, as coio_future_result gives it),
 * for use in an expression: NULL if f is NULL, pending, failed or cancelled (tell those apart
 * from a NULL result with coio_future_result).  Marks nothing as retrieved. */
COIO_API void *coio_future_value(const coio_future *f);
/* Takes a done future's result out of it: *value and *drop become the caller's and the future
 * keeps NULL (a result shared with another future, as wait_for's and shield's are, comes with
 * a NULL drop: it stays that future's).  ESTATE if pending or not a result (also on a closed
 * loop); EINVAL for NULL outs. */
COIO_API int coio_future_take_result(coio_future *f, void **value, coio_free_fn *drop);
/* The error of a done future: *code and *message (borrowed), or 0 and NULL if it succeeded;
 * on a cancelled future COIO_ECANCELLED and the cancel message.  ESTATE if pending.  Marks the
 * error as retrieved.  Either out may be NULL. */
COIO_API int coio_future_error(const coio_future *f, int *code, const char **message);
/* The error's payload (borrowed; NULL if none).  EINVAL for a NULL f or payload; ESTATE if
 * pending.  Does not mark the error as retrieved. */
COIO_API int coio_future_error_payload(const coio_future *f, void **payload);
/* fn(f, arg) runs through the ready queue when f is done, in registration order — also when f
 * is already done (never synchronously).  EINVAL, ECLOSED (even for a pending future), ENOMEM. */
COIO_API int coio_future_add_done_callback(coio_future *f, coio_done_fn fn, void *arg,
                                           coio_free_fn drop);
/* Removes every not-yet-scheduled registration of (fn, arg), running their drops; returns how
 * many were removed, or a negative status. */
COIO_API int coio_future_remove_done_callback(coio_future *f, coio_done_fn fn, void *arg);

/* ---- Tasks ------------------------------------------------------------------------------ */

/* A task *is* a future (asyncio's Task subclasses Future): every coio_future_* function
 * applies.  Two kinds share one Task object:
 *  - stackful coroutines (coio_spawn): fn runs on its own stack and suspends in coio_await;
 *  - step-driven tasks (coio_task_new): the loop calls a step function, asyncio's
 *    Task.__step as a C protocol, for bindings (Lua coroutines, Rust poll, Go, generators).
 * Semantics are asyncio's (3.13): the first step is scheduled, not run inline (unless
 * COIO_TASK_EAGER and the loop is running); cancel(msg) on a task waiting on a future
 * cancels that future, else the cancellation is delivered at the next step; a task cancelled
 * before its first step never runs its body.  coio_future_set_result / set_error on a task
 * are COIO_ESTATE except from inside its own body, where they set what the body finishes
 * with. */

/* A coroutine body.  Returns COIO_OK (the task's result is what the body set with
 * coio_future_set_result(self, ...), else NULL), COIO_ECANCELLED (the task ends cancelled),
 * or COIO_EFAILED (the error set with coio_future_set_error(self, ...), else the error of the
 * last awaited future that failed, else a generic failure).  Any other status fails the task
 * with that status as its code (COIO_STEP_* values, which are not statuses, with COIO_EINVAL). */
typedef int (*coio_coroutine_fn)(coio_future *self, void *arg);

/* A step of a step-driven task.  `awaited` is the future the previous step awaited (NULL on
 * the first step and after a yield); `resume_status` is what the body must act on:
 * COIO_OK, COIO_EFAILED (awaited failed: coio_future_error(awaited)), or COIO_ECANCELLED
 * (awaited was cancelled, or the task's cancellation is being delivered: raise it in the
 * body).  It returns what the body did: COIO_STEP_YIELD (run again on the next pass),
 * COIO_STEP_AWAIT (wait for the future given to coio_step_await in this step), or it
 * finishes the task exactly as a coio_coroutine_fn return value does. */
typedef int (*coio_step_fn)(coio_future *task, coio_future *awaited, int resume_status, void *arg);

#define COIO_STEP_YIELD 1
#define COIO_STEP_AWAIT 2

#define COIO_TASK_EAGER 0x1u /* run the first step inside spawn/task_new if the loop runs */
/* coio_spawn: no guard page below the stack.  Stacks are packed back to back (one entry of
 * vm.max_map_count per batch of stacks on any kernel; stack_size may go down to 4 KiB) and an
 * overflow is caught by a canary word at the stack's bottom, checked every time the coroutine
 * switches out: reported on stderr, then abort() -- after it may already have corrupted a
 * neighbouring stack.  For very many small coroutines (see coio_spawn(3)). */
#define COIO_TASK_NO_GUARD_PAGE 0x2u

typedef struct coio_task_options {
    uint32_t size;     /* sizeof(coio_task_options) as the caller knows it */
    uint32_t flags;    /* COIO_TASK_* */
    const char *name;  /* copied; NULL: "Task-N" */
    size_t stack_size; /* coio_spawn: stack bytes (rounded up to pages); 0: 64 KiB */
    coio_free_fn drop; /* coio_spawn: drop(arg) once the body has returned or never will */
} coio_task_options;

#define COIO_TASK_OPTIONS_INIT                                                                     \
    { sizeof(coio_task_options), 0u, NULL, 0, NULL }

/* Starts fn(self, arg) as a stackful coroutine task (opts may be NULL).  *task is a reference
 * the caller owns.  Stacks are mmap'd in batches, each with a guard page (unless
 * COIO_TASK_NO_GUARD_PAGE), and reused; an overflow is reported on stderr naming the task, then
 * the process dies by SIGSEGV.  The stack is taken at the first step: if the system refuses
 * (before Linux 6.13 each guarded stack takes two of vm.max_map_count), the task fails with
 * COIO_ENOMEM.
 * EINVAL: NULL loop/fn/task, bad options; ECLOSED; ENOMEM. */
COIO_API int coio_spawn(coio_loop *loop, coio_coroutine_fn fn, void *arg,
                        const coio_task_options *opts, coio_future **task);
/* Inside a coroutine: waits for f and returns its outcome — COIO_OK with *value (borrowed,
 * `value` may be NULL), COIO_EFAILED (coio_future_error(f)), or COIO_ECANCELLED (f was
 * cancelled, or this task was cancelled while waiting).  A future that is already done
 * returns at once without suspending, as in asyncio.  ENOTSUP outside a coroutine; EINVAL
 * for NULL f or the task itself; ELOOP for a future of another loop. */
COIO_API int coio_await(coio_future *f, void **value);
/* Creates a step-driven task: the loop calls step(task, awaited, resume_status, arg) (see
 * coio_step_fn); drop(arg) runs once the task is done or will never run (opts->drop and
 * opts->stack_size do not apply).  EINVAL, ECLOSED, ENOMEM. */
COIO_API int coio_task_new(coio_loop *loop, coio_step_fn step, void *arg, coio_free_fn drop,
                           const coio_task_options *opts, coio_future **task);
/* Inside a step of `task`: the future to wait for when the step returns COIO_STEP_AWAIT.
 * ESTATE outside that task's step; EINVAL for NULL or the task itself; ELOOP. */
COIO_API int coio_step_await(coio_future *task, coio_future *f);
/* The task whose body is running on loop (borrowed), or NULL. */
COIO_API coio_future *coio_current_task(coio_loop *loop);
/* 1 if f is a task, 0 otherwise (and for NULL). */
COIO_API int coio_future_is_task(const coio_future *f);
/* asyncio's Task.cancelling(): the number of pending cancellation requests (EINVAL if not a
 * task). */
COIO_API int coio_task_cancelling(const coio_future *task);
/* asyncio's Task.uncancel() (3.13): decrements the count and returns it; at 0 a cancellation
 * not yet delivered is withdrawn.  EINVAL if not a task. */
COIO_API int coio_task_uncancel(coio_future *task);
/* Cancel messages (asyncio's CancelledError(msg)).  The message of the last cancellation
 * delivered to the body of task: read it in a step whose resume_status is COIO_ECANCELLED, or
 * after coio_await returned COIO_ECANCELLED.  It is the message of the cancelled future the
 * body awaited (a task waiting on a future is cancelled by cancelling that future), else the
 * message of the coio_future_cancel that is delivered at this step (after a yield, or when the
 * awaited future completed first).  *msg is borrowed (valid until the next delivery or until
 * the task is freed) and NULL for a cancellation without message.  The message stays readable
 * after the delivery (also once the task is done).  ESTATE if no cancellation was ever
 * delivered to task; EINVAL for a NULL msg or a task that is not one. */
COIO_API int coio_task_cancel_message(const coio_future *task, const char **msg);
/* From inside the body of task (a step of it, or its coroutine): the message (copied; NULL for
 * none) the task ends cancelled with when the body returns COIO_ECANCELLED: asyncio's
 * `raise CancelledError(msg)`.  A body that returns COIO_ECANCELLED without it re-raises the
 * last cancellation delivered to it (asyncio's bare `raise`): the task's final message is that
 * one's, not that of an earlier cancel() the body swallowed.  Called again, the message is
 * replaced; a body that returns anything else ignores it.  A body that returns COIO_OK while a
 * cancellation is pending ends cancelled with that cancel()'s message, as asyncio.  ESTATE
 * outside the task's body or once it is done; EINVAL for NULL or not a task; ENOMEM. */
COIO_API int coio_task_set_cancelled(coio_future *task, const char *msg);
/* The task's name (borrowed, valid until renamed or freed): "Task-N" unless set; NULL if f is
 * not a task. */
COIO_API const char *coio_task_name(const coio_future *task);
COIO_API int coio_task_set_name(coio_future *task, const char *name); /* copied */
/* asyncio.all_tasks(): stores up to cap not-done tasks of loop in out (new references the
 * caller releases) and returns how many there are in all (call again with a larger array if
 * that is more than cap).  out may be NULL when cap is 0.  A task group's exit task, which
 * asyncio does not have (its parent runs __aexit__ itself), is not listed.  Negative status on
 * bad input. */
COIO_API long coio_loop_all_tasks(coio_loop *loop, coio_future **out, size_t cap);
/* A future that completes with a NULL result `delay` seconds from now (asyncio.sleep).  A
 * delay <= 0 costs exactly one pass; cancelling the future cancels its timer.  EINVAL for NaN
 * or infinite delay; ECLOSED; ENOMEM. */
COIO_API int coio_sleep(coio_loop *loop, double delay, coio_future **out);

/* ---- Coroutine helpers (inside a coio_spawn body) --------------------------------------- */

/* The body of a stackful task awaits with these in one line each.  Like coio_await they
 * return COIO_OK, COIO_EFAILED (the awaited error then propagates if the body returns
 * COIO_EFAILED) or COIO_ECANCELLED (the task was cancelled: return it to end cancelled), and
 * ENOTSUP outside a coroutine; the loop is the running task's. */

/* coio_await(f, value), then coio_future_release(f): awaits a future the caller owns and gives
 * up the caller's reference, whatever the outcome (also on ENOTSUP, EINVAL, ELOOP), so that
 * `coio_sleep(loop, 1, &f); coio_await_take(f, NULL);` leaks nothing.  f NULL (the call that
 * was to make it failed; initialise f to NULL) is EINVAL.  With value non-NULL and a result,
 * *value is the result and it becomes the caller's: the future no longer frees it (release it
 * as its producer says; a task result set with drop NULL needs nothing).  A result f only
 * shares (coio_wait_for, coio_shield) stays with the future it came from. */
COIO_API int coio_await_take(coio_future *f, void **value);
/* await asyncio.sleep(delay): coio_sleep + coio_await_take on the running task's loop; a delay
 * <= 0 is a bare yield (no future), as asyncio's sleep(0).  EINVAL for NaN or infinite delay. */
COIO_API int coio_co_sleep(double delay);
/* await asyncio.gather(*fs): coio_gather over fs (futures of the running task's loop) +
 * coio_await_take.  Each result is read from its future afterwards.  The statuses of
 * coio_gather (EINVAL, ELOOP, ...), then its outcome: COIO_OK, COIO_EFAILED (the first child
 * to fail; with COIO_RETURN_EXCEPTIONS never), COIO_ECANCELLED. */
COIO_API int coio_co_gather(coio_future *const *fs, size_t n, unsigned flags);

/* ---- Reprs (asyncio's repr() of a future or task) ------------------------------------------ */

/* Formats a value for a repr, snprintf-style: writes at most size bytes (the last one a NUL
 * when size > 0; buf may be NULL when size is 0) and returns the full length without the NUL,
 * or a negative value if it cannot format it (the repr then shows `?`). */
typedef long (*coio_repr_fn)(const void *value, char *buf, size_t size);

/* As coio_future_set_result, with the function that formats value in coio_future_repr (NULL:
 * exactly coio_future_set_result).  Bindings pass their own, which formats their values as
 * their language does.  A future sharing the result (coio_wait_for, coio_shield) shares the
 * formatter; coio_future_take_result removes it with the value. */
COIO_API int coio_future_set_result_repr(coio_future *f, void *value, coio_free_fn drop,
                                         coio_repr_fn repr);
/* Stock formatters.  coio_repr_str: value is a NUL-terminated UTF-8 string, formatted as
 * asyncio shows a str result: Python's repr() ('...' or "...", backslash escapes for control
 * characters, quotes and bytes that are not UTF-8), shortened as reprlib does beyond 28
 * characters (`'first 12...last 13'`); NULL is None.  coio_repr_int: (intptr_t)value in
 * decimal, for small integers stored as the value itself. */
COIO_API long coio_repr_str(const void *value, char *buf, size_t size);
COIO_API long coio_repr_int(const void *value, char *buf, size_t size);

/* asyncio's repr() of f into buf, snprintf-style (as coio_repr_fn): returns the full length
 * (call again with a larger buffer if it is not below size), or EINVAL for a NULL f, or a
 * NULL buf with size > 0.  The forms of CPython 3.13, without source locations:
 *   <Future pending>  <Future pending cb=[_run_until_complete_cb()]>
 *   <Future finished result='Future is done!'>  <Future cancelled>
 *   <Future finished exception=COIO_ETIMEDOUT('timed out')>
 *   <Task pending name='Task-1' coro=<main() running> wait_for=<Future pending
 *        cb=[Task.task_wakeup()]> cb=[_run_until_complete_cb()]>
 *   <Task finished name='Task-2' coro=<child() done> result=None>
 * A result is formatted by the repr function given with it (coio_future_set_result_repr),
 * else None for NULL and <0x...> for another pointer.  An error shows as the status name
 * (coio_status_name) or Error(code, ...) for a code that is not a status, with its message.
 * Done callbacks (pending futures only, as asyncio: `a(), b()` or `a(), <N more>, z()`)
 * and a task's coroutine show function names: coio's own callbacks have asyncio's names
 * (run_until_complete's is _run_until_complete_cb, a waiting task's Task.task_wakeup); a
 * function of yours shows the name given to coio_function_set_name, else the name the
 * dynamic linker knows for it (exported symbols), else its address.  Does not mark an error
 * as retrieved. */
COIO_API long coio_future_repr(const coio_future *f, char *buf, size_t size);

/* Any function pointer, for coio_function_set_name. */
typedef void (*coio_any_fn)(void);
/* Names fn in reprs (a done callback, a task's coroutine or step function), as Python knows
 * its functions' names: process-wide and thread-safe; name is copied; NULL forgets the name.
 * COIO_NAME_FUNCTION(fn) names fn after itself.  EINVAL for a NULL fn; ENOMEM. */
COIO_API int coio_function_set_name(coio_any_fn fn, const char *name);
#define COIO_NAME_FUNCTION(fn) coio_function_set_name((coio_any_fn)(fn), #fn)

/* ---- Combinators (asyncio.gather / wait / as_completed / wait_for / shield) ------------- */

/* Every combinator takes futures of one loop (tasks included) and returns a new future the
 * caller owns.  Input arrays are read during the call only; the combinator keeps its own
 * references.  Statuses common to all: EINVAL for NULL arrays (with n > 0), NULL elements,
 * NULL out, NaN timeouts; ELOOP for a future of another loop; ECLOSED; ENOMEM. */

#define COIO_RETURN_EXCEPTIONS 1u

/* asyncio.gather: *out completes when every child is done; its value is NULL and each child's
 * result is read from the child.  Without COIO_RETURN_EXCEPTIONS the first child to fail or
 * be cancelled ends *out at once with that outcome (failed with the child's error, or
 * cancelled) while the other children keep running (their later errors count as retrieved).
 * Cancelling *out cancels every child that is not done (1 if any accepted); *out then ends
 * cancelled once they all are (or at the first cancelled child without the flag), whatever
 * the flags.  Children already done count inside the call, as in asyncio 3.12+: *out may be
 * done when coio_gather returns (n = 0: it always is).  A future given twice counts once.
 * EINVAL also for unknown flags. */
COIO_API int coio_gather(coio_loop *loop, coio_future *const *fs, size_t n, unsigned flags,
                         coio_future **out);

enum { COIO_FIRST_COMPLETED = 1, COIO_FIRST_EXCEPTION = 2, COIO_ALL_COMPLETED = 3 };

/* The value of coio_wait's future (owned by it, valid while you hold the future): the done
 * futures in completion order, then the pending ones in argument order.  As asyncio's _wait
 * splits them once the awaiting task resumes, the split is made again right before the
 * wait future's first done callback (the awaiting task's wake-up) runs: futures done by then
 * move to the done part (argument order).  Both arrays are
 * borrowed from the wait future, which holds a reference to each. */
typedef struct coio_wait_result {
    size_t ndone;
    coio_future *const *done;
    size_t npending;
    coio_future *const *pending;
} coio_wait_result;

/* asyncio.wait: *out completes (with a const coio_wait_result * value) when return_when is
 * met or after `timeout` seconds (negative or +inf: no timeout; on timeout it completes
 * normally, with futures still pending).  Nothing is ever cancelled, also not on timeout or
 * when *out is cancelled.  Futures already done count at once, but *out still completes
 * through the loop.  EINVAL for n = 0 (asyncio raises ValueError) and an unknown return_when.
 * Duplicates count once. */
COIO_API int coio_wait(coio_loop *loop, coio_future *const *fs, size_t n, double timeout,
                       int return_when, coio_future **out);

typedef struct coio_as_completed_iter coio_as_completed_iter;

/* asyncio.as_completed: an iterator whose coio_as_completed_next futures complete in
 * completion order, each with the original coio_future * as value (the next-future holds a
 * reference to it).  After `timeout` seconds (negative or +inf: none) every further
 * next-future fails with COIO_ETIMEDOUT; nothing is cancelled.  Duplicates count once.  n = 0
 * is allowed.  Free the iterator with coio_as_completed_free. */
COIO_API int coio_as_completed(coio_loop *loop, coio_future *const *fs, size_t n, double timeout,
                               coio_as_completed_iter **out);
/* The next completion as a new future (*next, the caller's).  ESTATE once it has been asked for
 * as many times as there are (distinct) futures. */
COIO_API int coio_as_completed_next(coio_as_completed_iter *it, coio_future **next);
/* Frees the iterator: its registrations end and next-futures still pending are cancelled.
 * NULL is a no-op. */
COIO_API void coio_as_completed_free(coio_as_completed_iter *it);

/* asyncio.wait_for: *out completes with f's outcome (a result is shared with f, which *out keeps
 * alive).  After `timeout` seconds f is cancelled and *out waits for it to finish: if f ended
 * cancelled, *out fails with COIO_ETIMEDOUT, otherwise it gets f's outcome (asyncio 3.12+).
 * timeout 0 does that at once unless f is already done; a negative timeout (COIO_NO_TIMEOUT)
 * or +inf waits forever (asyncio's negative timeouts are coio's 0).  Cancelling *out cancels
 * f and *out ends cancelled once f is done (with f's result if f swallowed it, as asyncio).
 * As 3.12+'s wait_for runs in the caller (`async with timeout(): await f`), *out completes
 * inside f's completion, not a pass later (timeout 0: from a done callback of f, as asyncio). */
COIO_API int coio_wait_for(coio_future *f, double timeout, coio_future **out);
/* asyncio.shield: *out gets f's outcome, but cancelling *out does not cancel f (it then stops
 * listening to f).  If f is done already, *out is f itself (a new reference). */
COIO_API int coio_shield(coio_future *f, coio_future **out);

/* ---- Timeout scopes (asyncio.timeout / timeout_at) -------------------------------------- */

typedef struct coio_timeout coio_timeout;

/* Enters a timeout scope in the task running now (asyncio's `async with timeout(delay)`): at
 * the deadline the task is cancelled (its coio_await returns COIO_ECANCELLED) and the scope
 * has expired.  delay 0 expires on the next pass; a negative delay (COIO_NO_TIMEOUT) or
 * INFINITY means no deadline, as everywhere in coio (asyncio's None; use
 * coio_timeout_enter_at for a deadline already passed).  *out belongs to the task: leave it
 * with coio_timeout_exit from that task (a task that ends without leaving it frees it).
 * ESTATE outside a task (e.g. in a plain callback); EINVAL for NULL loop/out or NaN; ECLOSED;
 * ENOMEM. */
COIO_API int coio_timeout_enter(coio_loop *loop, double delay, coio_timeout **out);
/* As coio_timeout_enter with an absolute loop time (asyncio.timeout_at).  INFINITY: none;
 * a time already passed expires on the next pass. */
COIO_API int coio_timeout_enter_at(coio_loop *loop, double when, coio_timeout **out);
/* Moves the deadline to loop time `when` (INFINITY: none; already passed: the next pass), from
 * any code on the loop's thread.  ESTATE once the scope has expired; EINVAL for NaN; ECLOSED. */
COIO_API int coio_timeout_reschedule(coio_timeout *tm, double when);
/* The deadline in loop time (INFINITY if none).  EINVAL for NULL tm or when. */
COIO_API int coio_timeout_when(const coio_timeout *tm, double *when);
COIO_API int coio_timeout_expired(const coio_timeout *tm); /* 1 / 0 (0 for NULL) */
/* Leaves the scope (asyncio's __aexit__) with the status the body ended with and returns the
 * status to go on with: COIO_ETIMEDOUT when the scope expired and `status` is the cancellation
 * it caused (COIO_ECANCELLED, with no other cancellation pending: Task.uncancel bookkeeping
 * of 3.13, whose uncancel() runs whenever the scope expired), else `status` unchanged.  Frees
 * tm.  Only from the task that entered: elsewhere ESTATE, and tm is neither changed nor freed.
 * EINVAL for NULL. */
COIO_API int coio_timeout_exit(coio_timeout *tm, int status);

/* ---- Task groups (asyncio.TaskGroup) ---------------------------------------------------- */

typedef struct coio_task_group coio_task_group;

/* Enters a task group (asyncio's `async with TaskGroup()`) whose parent is the task running
 * now.  ESTATE outside a task; EINVAL, ECLOSED, ENOMEM. */
COIO_API int coio_task_group_new(coio_loop *loop, coio_task_group **out);
/* Spawn a child into the group (as coio_spawn / coio_task_new; task may be NULL), from any
 * code on the loop's thread.  A child that fails cancels the other children and, once, the
 * parent (the exit takes that back); a cancelled child is no error.  ESTATE (nothing started,
 * no drop called) once the group is aborting after a failure or a body that did not end
 * COIO_OK, or has finished exiting. */
COIO_API int coio_task_group_spawn(coio_task_group *g, coio_coroutine_fn fn, void *arg,
                                   const coio_task_options *opts, coio_future **task);
COIO_API int coio_task_group_task_new(coio_task_group *g, coio_step_fn step, void *arg,
                                      coio_free_fn drop, const coio_task_options *opts,
                                      coio_future **task);
/* Leaves the group (asyncio's __aexit__), once, from the parent (ESTATE otherwise): `status`
 * is what the body of the group ended with (COIO_OK, COIO_ECANCELLED, or a failure; not
 * COIO_OK aborts the group; positive: EINVAL).  *out, a task the caller owns, completes once
 * every child is done (at once if none is pending): with a NULL result, cancelled (the
 * parent's cancellation goes on), or failed with COIO_EFAILED and "unhandled errors in a
 * TaskGroup (N sub-exceptions)" ("(1 sub-exception)"), N counting the failed children and a
 * failing body status; errors win over a cancellation, which then reaches the parent after
 * it has seen the failure.  Await *out from the parent: cancelling the parent while it waits
 * cancels *out, which cancels the children and goes on waiting for them. */
COIO_API int coio_task_group_exit(coio_task_group *g, int status, coio_future **out);
/* The children that failed, in failure order: stores up to cap new references in out and
 * returns how many there are (out may be NULL when cap is 0).  The body's failure is not
 * listed.  EINVAL for NULL g, or NULL out with cap > 0. */
COIO_API long coio_task_group_errors(coio_task_group *g, coio_future **out, size_t cap);
/* Frees the group: after or during its exit (which goes on).  Before the exit the group is
 * abandoned: its children keep running, their failures stay their own and cancel nobody.
 * NULL is a no-op. */
COIO_API void coio_task_group_free(coio_task_group *g);

/* ---- Synchronisation primitives (asyncio.Event, Lock, Semaphore, Condition, Barrier) ------
 *
 * Waits return futures (new references); a wait future completing with a result means the
 * thing waited for is granted (the lock is held, the permit taken, ...).  Waits are
 * cancellation safe, as in asyncio: a waiter whose task is cancelled after it was woken but
 * before it ran passes the wake-up on; a waiter cancelled before it was woken is skipped.
 * Objects are freed with *_free (NULL: no-op); waits still pending then are cancelled, and
 * their futures stay valid.  All belong to one loop; EINVAL for NULL handles or outs,
 * ECLOSED once the loop is closed, ENOMEM. */

typedef struct coio_event coio_event;
COIO_API int coio_event_new(coio_loop *loop, coio_event **out);
COIO_API void coio_event_free(coio_event *e);
COIO_API int coio_event_set(coio_event *e); /* wakes every waiter */
COIO_API int coio_event_clear(coio_event *e);
COIO_API int coio_event_is_set(const coio_event *e); /* 1 / 0 */
/* *out completes with a NULL result once the event is set (done at once if it is). */
COIO_API int coio_event_wait(coio_event *e, coio_future **out);

typedef struct coio_lock coio_lock;
COIO_API int coio_lock_new(coio_loop *loop, coio_lock **out);
/* Pending acquires are cancelled.  A condition using the lock keeps it alive and usable. */
COIO_API void coio_lock_free(coio_lock *l);
/* *out completes when the lock is acquired (at once if free and nobody waits; FIFO-fair). */
COIO_API int coio_lock_acquire(coio_lock *l, coio_future **out);
/* asyncio's release(): hands the lock straight to the first waiter (it stays locked), else
 * unlocks.  ESTATE if not locked. */
COIO_API int coio_lock_release(coio_lock *l);
COIO_API int coio_lock_locked(const coio_lock *l); /* 1 / 0 */

/* Semaphore and BoundedSemaphore (COIO_SEMAPHORE_BOUNDED: releasing above the initial value is
 * ESTATE, asyncio's ValueError).  EINVAL for unknown flags. */
#define COIO_SEMAPHORE_BOUNDED 0x1u
typedef struct coio_semaphore coio_semaphore;
COIO_API int coio_semaphore_new(coio_loop *loop, unsigned value, unsigned flags,
                                coio_semaphore **out);
COIO_API void coio_semaphore_free(coio_semaphore *s);
/* *out completes when a permit is taken (at once unless coio_semaphore_locked; FIFO-fair). */
COIO_API int coio_semaphore_acquire(coio_semaphore *s, coio_future **out);
/* Gives a permit back, straight to the first waiter if any.  ESTATE: bounded and at the
 * initial value (or the value would overflow). */
COIO_API int coio_semaphore_release(coio_semaphore *s);
/* 1 / 0: an acquire would wait (value 0, or waiters, woken ones included until they ran). */
COIO_API int coio_semaphore_locked(const coio_semaphore *s);
COIO_API long coio_semaphore_value(const coio_semaphore *s); /* EINVAL for NULL */

typedef struct coio_condition coio_condition;
/* lock may be NULL (the condition makes its own); a given lock is shared, not owned (ELOOP if
 * it belongs to another loop).  "Held" means locked: C has no owner task. */
COIO_API int coio_condition_new(coio_loop *loop, coio_lock *lock, coio_condition **out);
/* Waits not yet notified are cancelled (they still re-acquire the lock before they end). */
COIO_API void coio_condition_free(coio_condition *c);
/* The condition's lock (borrowed: never free it; valid while the condition or a wait future
 * of it lives).  NULL for NULL. */
COIO_API coio_lock *coio_condition_lock(coio_condition *c);
/* Releases the lock (ESTATE if not held), waits for a notify, re-acquires the lock, then
 * completes with a NULL result.  Cancelled, it still re-acquires the lock before it ends
 * cancelled (asyncio): whatever the outcome, the caller holds the lock afterwards. */
COIO_API int coio_condition_wait(coio_condition *c, coio_future **out);
/* Wakes the first n waiters (ESTATE if the lock is not held). */
COIO_API int coio_condition_notify(coio_condition *c, size_t n);
COIO_API int coio_condition_notify_all(coio_condition *c);

typedef struct coio_barrier coio_barrier;
/* EINVAL for 0 parties. */
COIO_API int coio_barrier_new(coio_loop *loop, unsigned parties, coio_barrier **out);
COIO_API void coio_barrier_free(coio_barrier *b);
/* *out completes when `parties` tasks wait, with the wait index (0 .. parties-1) as value:
 * (void *)(uintptr_t)index.  Fails with COIO_EBROKEN if the barrier is aborted or reset
 * before, also for waits made while it is broken.  A cancelled wait just leaves (asyncio). */
COIO_API int coio_barrier_wait(coio_barrier *b, coio_future **out);
/* Waiters fail with COIO_EBROKEN; the barrier then fills again (also after an abort). */
COIO_API int coio_barrier_reset(coio_barrier *b);
/* Breaks the barrier: waiters and later waits fail with COIO_EBROKEN until a reset. */
COIO_API int coio_barrier_abort(coio_barrier *b);
COIO_API long coio_barrier_parties(const coio_barrier *b);   /* EINVAL for NULL */
COIO_API long coio_barrier_n_waiting(const coio_barrier *b); /* 0 unless filling */
COIO_API int coio_barrier_broken(const coio_barrier *b);     /* 1 / 0 */

/* ---- Queues (asyncio.Queue, PriorityQueue, LifoQueue) ----------------------------------- */

enum { COIO_QUEUE_FIFO = 0, COIO_QUEUE_LIFO = 1, COIO_QUEUE_PRIORITY = 2 };
typedef struct coio_queue coio_queue;
/* maxsize 0: unbounded (EINVAL above LONG_MAX or for an unknown kind).  Items are (value,
 * drop): the queue owns an item from a successful put until a get hands it on; items still
 * queued are dropped by coio_queue_free, which also cancels the put/get/join futures still
 * pending (futures may outlive the queue).  PRIORITY: the smallest priority first, equal
 * priorities FIFO.  A put while a get waits hands the item straight to the first waiting get;
 * if that get's task is cancelled before it ran, the item goes back (nothing is lost). */
COIO_API int coio_queue_new(coio_loop *loop, int kind, size_t maxsize, coio_queue **out);
COIO_API void coio_queue_free(coio_queue *q);
/* *out completes (NULL result) when the item is in the queue: at once if there is room, else
 * as gets make room, blocked puts first come first served.  The queue owns the item from this
 * call on: if the put future is cancelled (or released) while pending, or the queue shuts down
 * first (it fails with COIO_ESHUTDOWN), the item is dropped.  Once *out completed the item is
 * in, even if the putting task is cancelled before it runs.  ESHUTDOWN once shut down (drop is
 * then not called).  On a PRIORITY queue the priority is 0. */
COIO_API int coio_queue_put(coio_queue *q, void *value, coio_free_fn drop, coio_future **out);
/* As coio_queue_put, with a priority: EINVAL for NaN or a queue that is not PRIORITY. */
COIO_API int coio_queue_put_priority(coio_queue *q, double priority, void *value, coio_free_fn drop,
                                     coio_future **out);
/* EFULL, or ESHUTDOWN (checked first, as in 3.13): drop is then not called. */
COIO_API int coio_queue_put_nowait(coio_queue *q, void *value, coio_free_fn drop);
COIO_API int coio_queue_put_priority_nowait(coio_queue *q, double priority, void *value,
                                            coio_free_fn drop);
/* *out completes with the item as its value (owned by the future: drop runs when it is freed,
 * use coio_future_take_result to keep it): at once if an item is there, else gets are served
 * first come first served.  A get waiting when the queue shuts down fails with COIO_ESHUTDOWN;
 * on a queue shut down and empty the call itself returns ESHUTDOWN (no future).  Releasing a
 * pending get withdraws it. */
COIO_API int coio_queue_get(coio_queue *q, coio_future **out);
/* Takes an item at once: *value and *drop become the caller's (both outs are required).
 * EEMPTY; ESHUTDOWN when shut down and empty. */
COIO_API int coio_queue_get_nowait(coio_queue *q, void **value, coio_free_fn *drop);
/* One item fewer unfinished.  ESTATE if called more often than items were put (ValueError). */
COIO_API int coio_queue_task_done(coio_queue *q);
/* *out completes when every item put has been marked done by coio_queue_task_done (at once if
 * none is unfinished). */
COIO_API int coio_queue_join(coio_queue *q, coio_future **out);
/* asyncio 3.13's shutdown: puts fail with ESHUTDOWN; gets drain what is queued, then fail;
 * blocked puts and gets fail with COIO_ESHUTDOWN (blocked puts' items dropped).  immediate != 0:
 * the queue is emptied too (items dropped, each counted done, which may end join).  May be
 * called again (immediate then empties what a plain shutdown left). */
COIO_API int coio_queue_shutdown(coio_queue *q, int immediate);
/* Items queued (not those already handed to a get); EINVAL for NULL. */
COIO_API long coio_queue_size(const coio_queue *q);
COIO_API long coio_queue_maxsize(const coio_queue *q); /* EINVAL for NULL */
/* 1 / 0, and 0 for NULL; an unbounded queue is never full. */
COIO_API int coio_queue_empty(const coio_queue *q);
COIO_API int coio_queue_full(const coio_queue *q);

/* ---- Readiness and socket futures ------------------------------------------------------- */

/* asyncio's loop.sock_* as futures, on non-blocking sockets the caller owns (set O_NONBLOCK
 * first: EINVAL otherwise).  Each call first tries the system call at once, as asyncio 3.13
 * does, and returns an already completed future when it succeeds or fails for good; only on
 * EAGAIN does it wait for readiness (EINTR is retried).  One exception: a read on a socket
 * that gave a short read earlier in the same loop pass waits for the next poll instead of
 * trying (it would only find EAGAIN; see coio_sock_recv(3)).  A failed system call fails the
 * future with code COIO_ESYS, message strerror(errno), and the errno kept for
 * coio_future_errno.  Cancelling a pending socket future stops its watch at once: afterwards
 * the library touches neither the fd nor the buffer.  Releasing it does not (as in asyncio,
 * the operation goes on).  coio_loop_close cancels the pending ones.  One pending operation
 * per fd and direction (reads: recv, recv_into, accept, wait_readable; writes: sendall,
 * connect, wait_writable): a second one, or one on an fd that has a coio_add_reader /
 * coio_add_writer callback, is COIO_EBUSY, and coio_add_reader / coio_add_writer on an fd
 * with a pending operation is COIO_EBUSY too.  Do not close an fd with a pending operation:
 * cancel it first.  Common statuses: EINVAL (NULL loop/out/buffer, fd < 0 or not open,
 * blocking fd), ECLOSED, ENOMEM, EBUSY. */

/* Completes (NULL result) once fd is readable / writable (asyncio has these only as
 * add_reader/add_writer callbacks; here they are futures).  Any open fd, blocking or not. */
COIO_API int coio_wait_readable(coio_loop *loop, int fd, coio_future **out);
COIO_API int coio_wait_writable(coio_loop *loop, int fd, coio_future **out);

/* The errno of a future that failed with COIO_ESYS, also when that error was propagated
 * (a task that returned COIO_EFAILED after awaiting it); 0 otherwise.  Marks the error as
 * retrieved.  EINVAL for NULL arguments; ESTATE while f is pending. */
COIO_API int coio_future_errno(const coio_future *f, int *err);

/* What a coio_sock_recv future holds: len bytes in data (the future owns it).  data is a C99
 * flexible array member; C++ has none, and GCC and Clang accept it there as an extension, so
 * -pedantic is silenced for it alone (the layout is the same in both languages). */
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
typedef struct coio_bytes {
    size_t len;
    unsigned char data[];
} coio_bytes;
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* sock_recv: up to n bytes (n > 0) as a const coio_bytes * value; len 0 at end of stream.
 * Take it with coio_future_take_result to keep it (free it with free()). */
COIO_API int coio_sock_recv(coio_loop *loop, int fd, size_t n, coio_future **out);
/* sock_recv_into: reads into buf[0, len) (len > 0; buf must stay valid until *out is done);
 * the value is NULL, the count comes from coio_future_result_size (0: end of stream). */
COIO_API int coio_sock_recv_into(coio_loop *loop, int fd, void *buf, size_t len, coio_future **out);
/* sock_sendall: sends all of buf[0, len) (partial writes are continued; buf must stay valid
 * until *out is done); a NULL result.  A peer that resets fails it with COIO_ESYS
 * (ECONNRESET or EPIPE; SIGPIPE is never raised). */
COIO_API int coio_sock_sendall(coio_loop *loop, int fd, const void *buf, size_t len,
                               coio_future **out);

/* What a coio_sock_accept future holds: the accepted socket (non-blocking, close-on-exec)
 * and the peer's address.  The future owns fd: it closes it when freed unless the result was
 * taken (coio_future_take_result; then close it yourself and free() the struct). */
typedef struct coio_accepted {
    int fd;
    socklen_t addrlen; /* bytes of addr used */
    struct sockaddr_storage addr;
} coio_accepted;

/* sock_accept on a listening non-blocking socket: a const coio_accepted * value. */
COIO_API int coio_sock_accept(coio_loop *loop, int fd, coio_future **out);
/* sock_connect: connects fd to addr (addrlen bytes, only read during the call); an
 * in-progress (or interrupted) connect is waited for and its SO_ERROR reported.  A NULL
 * result. */
COIO_API int coio_sock_connect(coio_loop *loop, int fd, const struct sockaddr *addr,
                               socklen_t addrlen, coio_future **out);

/* The count a coio_sock_recv_into future completed with (also read through a future that
 * shares its result: coio_shield, coio_wait_for).  The statuses of coio_future_result;
 * EINVAL also for NULL arguments or a future whose result is not a count. */
COIO_API int coio_future_result_size(const coio_future *f, size_t *n);

/* The same operations for the body of a stackful task (coio_spawn): each returns when done,
 * without making a future when the system call succeeds at once.  The loop is the running
 * task's.  ENOTSUP outside a coroutine; ESYS with the errno in *err (err may be NULL);
 * ECANCELLED when the task is cancelled while it waits (the watch has stopped; bytes sendall
 * had sent stay sent); the other statuses as above. */
COIO_API int coio_co_recv_into(int fd, void *buf, size_t len, size_t *n, int *err);
COIO_API int coio_co_sendall(int fd, const void *buf, size_t len, int *err);
/* addr / addrlen may be NULL; otherwise *addrlen is addr's size in, the address's out. */
COIO_API int coio_co_accept(int fd, int *conn, struct sockaddr *addr, socklen_t *addrlen, int *err);
COIO_API int coio_co_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int *err);

/* ---- Signals ---------------------------------------------------------------------------- */

/* loop.add_signal_handler: fn(arg) runs through the ready queue after signum arrives, never
 * from the signal handler itself (several arrivals before it runs may run it once).  A
 * signal is watched by one loop at a time.  Adding another handler for signum replaces this
 * one (its drop runs).  As in asyncio: only from the main thread (ETHREAD otherwise); EINVAL
 * for NULL loop/fn, a signal number outside signal.valid_signals(), SIGKILL or SIGSTOP; EBUSY
 * if another loop handles signum; ECLOSED; ENOMEM.  On failure drop is not called. */
COIO_API int coio_add_signal_handler(coio_loop *loop, int signum, coio_callback fn, void *arg,
                                     coio_free_fn drop);
/* Removes signum's handler (its drop runs, after its callback if called from inside it; a
 * call already queued does not run) and restores the default disposition (SIG_DFL), as
 * asyncio.  1 if one was removed, 0 if none; EINVAL, ETHREAD, ECLOSED.  Closing the loop
 * removes every handler the same way. */
COIO_API int coio_remove_signal_handler(coio_loop *loop, int signum);

/* ---- Executor --------------------------------------------------------------------------- */

typedef void *(*coio_work_fn)(void *arg);

/* loop.run_in_executor(None, fn, arg): runs fn(arg) on the loop's thread pool and completes
 * *out on the loop thread with fn's return value as result (result_drop frees it with the
 * future; it also frees a result nobody will see).  drop(arg) runs exactly once, on the loop
 * thread, after fn ran or once the job is known never to run.  Cancelling *out before fn
 * starts removes the job (fn never runs; drop runs inside the cancel); once started, fn runs
 * to the end and its result is dropped.  Releasing *out does not cancel the job.  fn runs on
 * another thread: it may use the loop only through coio_call_soon_threadsafe and
 * coio_loop_stop.  The pool starts its threads on demand, up to the executor size (default:
 * the CPU count + 4, at most 32, as asyncio).  coio_loop_close removes the jobs not started
 * (their futures are cancelled, drops run) and waits for the running ones to return (their
 * results are dropped, their futures cancelled): a fn that waits for the loop deadlocks the
 * close.  On failure nothing is taken: drop is not called, *out is left untouched.  EINVAL
 * (NULL loop, fn or out), ECLOSED, ETHREAD (debug mode), ENOMEM, ESYS (no thread could be
 * started and none is running). */
COIO_API int coio_run_in_executor(coio_loop *loop, coio_work_fn fn, void *arg, coio_free_fn drop,
                                  coio_free_fn result_drop, coio_future **out);
/* Sets the maximum number of executor threads (n >= 1; 0 restores the default).  Raising it
 * starts threads for jobs that wait; threads above a lower limit exit once their job ends or
 * at once if idle.  Starts no thread otherwise.  EINVAL, ECLOSED, ETHREAD (debug mode). */
COIO_API int coio_loop_set_executor_size(coio_loop *loop, unsigned n);
/* The executor's maximum thread count. 0 for NULL or a closed loop. */
COIO_API unsigned coio_loop_executor_size(const coio_loop *loop);

/* ---- Threads: remote handles and completions -------------------------------------------- */

/* What other threads (Go finalizers, Rust wakers, worker pools) hold instead of the loop.
 * Every function here except coio_loop_remote and coio_completion_new is thread-safe and
 * stays safe after the loop is closed and freed: the handles own a small shared block, never
 * the loop. */
typedef struct coio_remote coio_remote;
typedef struct coio_completion coio_completion;

/* A thread-safe handle to loop (on the loop's thread, loop open): *out is a reference the
 * caller releases, from any thread.  EINVAL (NULL loop or out), ECLOSED, ETHREAD (debug
 * mode), ENOMEM. */
COIO_API int coio_loop_remote(coio_loop *loop, coio_remote **out);
/* Thread-safe.  Another reference to r (returns r; NULL gives NULL). */
COIO_API coio_remote *coio_remote_ref(coio_remote *r);
/* Thread-safe.  Drops a reference; the last one frees the handle (never the loop).  NULL is a
 * no-op.  Releasing does not close the loop. */
COIO_API void coio_remote_release(coio_remote *r);
/* Thread-safe coio_call_soon_threadsafe that outlives the loop: fn(arg) runs on the loop
 * thread on a later pass while the loop is open.  Unlike other registrations it always takes
 * arg: on any failure drop(arg) has run on the calling thread before it returns.  ECLOSED
 * once the loop is closed (or freed); EINVAL (NULL r or fn); ENOMEM.  A call that returned
 * COIO_OK just before the loop closed is discarded by the close: its drop runs there, on the
 * thread that closes the loop, exactly once. */
COIO_API int coio_remote_call_soon(coio_remote *r, coio_callback fn, void *arg, coio_free_fn drop);

/* A future another thread completes exactly once (on the loop's thread, loop open): *future
 * is a pending future and *completion the handle that completes it; both references are the
 * caller's (the future is released on the loop thread as usual, the completion from any
 * thread, in any order).  EINVAL, ECLOSED, ETHREAD (debug mode), ENOMEM. */
COIO_API int coio_completion_new(coio_loop *loop, coio_future **future,
                                 coio_completion **completion);
/* Thread-safe.  Completes the future with value (drop frees it with the future): the result
 * arrives on the loop thread on a later pass, like a coio_call_soon_threadsafe.  Always takes
 * value: on any failure drop(value) has run on the calling thread.  ESTATE if the completion
 * was already completed; ECLOSED once the loop is closed; EINVAL (NULL c); ENOMEM (the
 * completion stays open).  If the future is done by the time the result arrives (cancelled on
 * the loop thread), the value is dropped there. */
COIO_API int coio_completion_set_result(coio_completion *c, void *value, coio_free_fn drop);
/* Thread-safe.  As coio_completion_set_result, failing the future with code (non-zero) and a
 * copy of message (may be NULL).  EINVAL for code 0 or NULL c. */
COIO_API int coio_completion_set_error(coio_completion *c, int code, const char *message);
/* Thread-safe.  Releases the completion.  One released before it was completed cancels its
 * future (on the loop thread, a later pass), as a dropped sender does: nothing can complete
 * it any more.  When the loop closes, a future whose completion has not delivered an outcome
 * is cancelled too.  NULL is a no-op. */
COIO_API void coio_completion_release(coio_completion *c);

/* ---- Plugins, observers, services, custom futures (coio_plugin(7)) ----------------------- */

/* Loads a plugin (a shared object exporting coio_plugin_init, see <coio_plugin.h>) and
 * attaches it to loop.  path_or_name is a path when it contains a '/', otherwise a name
 * looked up as coio-NAME.so in the directories of $COIO_PLUGIN_PATH (':'-separated, read
 * with secure_getenv), then in the installed plugin directory.  config (may be NULL) is
 * handed to the plugin's attach.  A file is dlopen'ed and initialised once per process (also
 * when it fails validation: later loads fail the same way); it is attached once per loop and
 * detached when the loop closes, in reverse attach order, while the loop is still open.
 * On failure nothing stays attached (observers and services the attach registered before
 * failing are removed, their drops run) and coio_loop_plugin_error(loop) says why in one
 * line: ESYS (file not found, dlopen failed: dlerror's text), EINVAL (NULL/empty argument,
 * no coio_plugin_init symbol, coio_plugin_init returned NULL or a bad info), ENOTSUP (built
 * for a newer plugin ABI than this library's COIO_PLUGIN_ABI), EBUSY (already attached to
 * this loop), the attach's negative status (EFAILED if it returned a positive one);
 * ECLOSED; ENOMEM. */
COIO_API int coio_loop_load_plugin(coio_loop *loop, const char *path_or_name, const char *config);
/* Why the last coio_loop_load_plugin on loop failed ("PLUGIN: reason", one line, borrowed
 * until the next load on loop or the loop's release), or NULL if it succeeded or none was
 * made.  Per loop, never thread-local. */
COIO_API const char *coio_loop_plugin_error(const coio_loop *loop);

/* What coio_observer's callback_run reports: the kind of callback that ran. */
enum {
    COIO_CALLBACK_SOON = 1,  /* coio_call_soon, coio_call_soon_threadsafe, loop internals */
    COIO_CALLBACK_TIMER = 2, /* coio_call_later / coio_call_at */
    COIO_CALLBACK_IO = 3,    /* coio_add_reader / coio_add_writer, signal handlers */
    COIO_CALLBACK_DONE = 4,  /* a future's done callback (not a task's own wake-up) */
};

/* Hooks into a loop (tracing, metrics, debuggers); every hook is optional (NULL) and gets the
 * arg given to coio_loop_add_observer.  Hooks run on the loop's thread, in registration
 * order, and may call coio (an observer added or removed inside a hook takes effect with the
 * next event).  Task hooks get the task (borrowed), its name (borrowed for the call) and the
 * data this observer attached to it in task_created (NULL if none, or if the task was
 * created before the observer was added).  Times are CLOCK_MONOTONIC seconds (real time,
 * also in virtual-time loops).  With no observer attached a loop pays one predictable branch
 * per event. */
typedef struct coio_observer {
    uint32_t size; /* sizeof(coio_observer) as the caller knows it */
    /* A pass (asyncio's _run_once) is about to run the `ready` callbacks that were ready
     * after its I/O poll and due timers; pass_end: they ran. */
    void (*pass_begin)(void *arg, coio_loop *loop, size_t ready);
    void (*pass_end)(void *arg, coio_loop *loop);
    /* A callback (COIO_CALLBACK_*) ran from `start` for `duration` seconds. */
    void (*callback_run)(void *arg, coio_loop *loop, int kind, double start, double duration);
    /* A task was created while `parent` (NULL outside a task) was running.  Store this
     * observer's per-task data in *task_data: it comes back in the task's later hooks. */
    void (*task_created)(void *arg, coio_future *task, const char *name, coio_future *parent,
                         void **task_data);
    /* Around each step of the task's body (a coroutine resumed, a step function called);
     * status is what the step returned (COIO_STEP_YIELD, COIO_STEP_AWAIT, or the status the
     * body finished with). */
    void (*task_step_begin)(void *arg, coio_future *task, const char *name, void *task_data);
    void (*task_step_end)(void *arg, coio_future *task, const char *name, void *task_data,
                          int status);
    /* The task's body has ended: the task is done, or it never will be (destroyed pending
     * when the loop closed).  The last hook of the task: free task_data here. */
    void (*task_done)(void *arg, coio_future *task, const char *name, void *task_data);
    /* The observer is being removed while the task still runs: free task_data (task_done
     * will not come).  Each task_data ends in exactly one of task_done / task_data_drop. */
    void (*task_data_drop)(void *arg, coio_future *task, void *task_data);
} coio_observer;

#define COIO_OBSERVER_INIT                                                                         \
    { sizeof(coio_observer), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/* Attaches an observer (obs is copied; obs and arg together name the registration).  drop(arg)
 * runs once it is removed: by coio_loop_remove_observer or when the loop closes (after the
 * tasks destroyed by the close were reported to it).  EINVAL: NULL loop/obs, unknown size;
 * EBUSY: (obs, arg) already attached; ECLOSED; ENOMEM (drop not called). */
COIO_API int coio_loop_add_observer(coio_loop *loop, const coio_observer *obs, void *arg,
                                    coio_free_fn drop);
/* Detaches (obs, arg): no hook runs after this call; task data it attached goes to its
 * task_data_drop, then drop(arg) runs.  Returns 1, or 0 if not attached; EINVAL; ENOMEM.
 * Also allowed on a closed loop (returns 0 there: close removed every observer). */
COIO_API int coio_loop_remove_observer(coio_loop *loop, const coio_observer *obs, void *arg);

/* Publishes a named, versioned interface (by convention a struct starting with its size, e.g.
 * "resolver" version 1) for coio_loop_query.  name is copied; iface is borrowed until the loop
 * closes, when drop(iface) runs (services in reverse order, after the plugins detached).
 * Several versions of one name may be provided.  EINVAL: NULL/empty name, NULL iface;
 * EBUSY: that name and version are provided already; ECLOSED; ENOMEM (drop not called). */
COIO_API int coio_loop_provide(coio_loop *loop, const char *name, uint32_t version,
                               const void *iface, coio_free_fn drop);
/* Finds the highest version >= min_version of the interface `name`: *iface (borrowed, valid
 * until the loop closes).  ENOTSUP if none is provided; EINVAL; ECLOSED. */
COIO_API int coio_loop_query(coio_loop *loop, const char *name, uint32_t min_version,
                             const void **iface);

/* What coio_future_ops.cancel returns. */
#define COIO_CANCEL_NOW 0   /* the operation is stopped: the library cancels the future now */
#define COIO_CANCEL_LATER 1 /* it stops soon: the caller completes the future later */

/* The behaviour of a future whose completion its creator drives (an io_uring read, a DNS
 * query): coio_future_new_custom.  Every hook is optional and gets the state given there. */
typedef struct coio_future_ops {
    uint32_t size; /* sizeof(coio_future_ops) as the caller knows it */
    /* coio_future_cancel on the pending future (also made by a task cancelled while it
     * awaits it, wait_for, gather, ...): stop the operation, then return COIO_CANCEL_NOW, or
     * COIO_CANCEL_LATER and complete the future yourself later (usually with
     * coio_future_cancel(f, msg): once this hook has run, cancelling f cancels it at once,
     * without calling the hook again; a result or error may also be set instead).  Either
     * way coio_future_cancel returns 1.  NULL: cancelled at once, like a plain future. */
    int (*cancel)(coio_future *f, void *state, const char *msg);
    /* The future is freed (its last reference went): free state. */
    void (*drop)(void *state);
    /* Writes the future's description for coio_future_repr in snprintf's manner: at most
     * size bytes including the terminating NUL, and returns the full length it needs (or a
     * negative value on error: coio_future_repr then shows the default form). */
    int (*repr)(const coio_future *f, void *state, char *buf, size_t size);
} coio_future_ops;

#define COIO_FUTURE_OPS_INIT                                                                       \
    { sizeof(coio_future_ops), NULL, NULL, NULL }

/* A pending future that behaves as ops says (ops is not copied: keep it valid, e.g. static,
 * until the future is freed).  Complete it with coio_future_set_result / set_error / cancel.
 * ops->drop(state) runs when the future is freed; on failure nothing is taken (drop is not
 * called).  EINVAL: NULL loop/ops/out, unknown ops size; ECLOSED;
 * ENOMEM. */
COIO_API int coio_future_new_custom(coio_loop *loop, const coio_future_ops *ops, void *state,
                                    coio_future **out);

#ifdef __cplusplus
}
#endif

#endif /* COIO_H */
