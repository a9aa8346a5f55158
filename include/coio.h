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
    0x2u /* the clock starts at 0 and jumps to the next timer when idle */

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
 * the caller owns.  Stacks are mmap'd with a guard page and pooled; an overflow is reported on
 * stderr naming the task, then the process dies by SIGSEGV.  The stack is mapped at the first
 * step: if the system refuses (each stack takes two of vm.max_map_count), the task fails with
 * COIO_ENOMEM.  EINVAL: NULL loop/fn/task, bad options; ECLOSED; ENOMEM. */
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
/* The task's name (borrowed, valid until renamed or freed): "Task-N" unless set; NULL if f is
 * not a task. */
COIO_API const char *coio_task_name(const coio_future *task);
COIO_API int coio_task_set_name(coio_future *task, const char *name); /* copied */
/* asyncio.all_tasks(): stores up to cap not-done tasks of loop in out (new references the
 * caller releases) and returns how many there are in all (call again with a larger array if
 * that is more than cap).  out may be NULL when cap is 0.  Negative status on bad input. */
COIO_API long coio_loop_all_tasks(coio_loop *loop, coio_future **out, size_t cap);
/* A future that completes with a NULL result `delay` seconds from now (asyncio.sleep).  A
 * delay <= 0 costs exactly one pass; cancelling the future cancels its timer.  EINVAL for NaN
 * or infinite delay; ECLOSED; ENOMEM. */
COIO_API int coio_sleep(coio_loop *loop, double delay, coio_future **out);

#ifdef __cplusplus
}
#endif

#endif /* COIO_H */
