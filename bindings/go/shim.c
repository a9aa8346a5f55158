/* shim.c — see shim.h. */
#include "shim.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "_cgo_export.h"

/* A Go error carried as a failed future's payload: the cgo.Handle of the error value, tagged so
 * that a payload set by C code is never mistaken for one. */
typedef struct gocoio_payload {
    unsigned long long magic;
    uintptr_t handle;
} gocoio_payload;

static void gocoio_payload_drop(void *p) {
    gocoio_payload *gp = p;
    gp->magic = 0;
    gocoioDrop(gp->handle);
    free(gp);
}

/* A Go task's arg: the handle of its *Task, and whether Go deleted that handle itself in the
 * task's last step (the body returned) so that the drop, which follows at once, need not call
 * into Go: a call from C into Go costs more than everything else a short task does. */
typedef struct gocoio_task_arg {
    uintptr_t handle;
    int ended; /* a GOCOIO_ENDED_* value: 0 while the body has not returned */
} gocoio_task_arg;

/* A body that returned a result leaves setting it to the trampoline (GOCOIO_ENDED_RESULT, the
 * handle in result), which saves the step one call from Go into C. */
int gocoio_step_tramp(coio_future *task, coio_future *awaited, int status, void *arg) {
    gocoio_task_arg *a = arg;
    void *value = NULL;
    uintptr_t result = 0;
    if (status == COIO_OK && awaited != NULL) coio_future_result(awaited, &value);
    int rc = gocoioStep(task, awaited, status, (uintptr_t)value, a->handle, &a->ended, &result);
    if (a->ended == GOCOIO_ENDED_RESULT) {
        a->ended = GOCOIO_ENDED;
        rc = gocoio_set_result(task, result);
        if (rc != COIO_OK && result != 0) gocoio_drop_tramp((void *)result);
    }
    return rc;
}

/* The task's drop: a task destroyed with its body suspended (its loop closed) still has its
 * handle, and Go unwinds the body. */
static void gocoio_task_drop(void *arg) {
    gocoio_task_arg *a = arg;
    if (!a->ended) gocoioDrop(a->handle);
    free(a);
}

/* The drops of plain handles (results, queue items, callbacks) are deferred: each one queues
 * its handle here, and Go deletes the handles of a full batch in one call (or takes what is
 * queued when it next looks: gocoio_drops_take).  Deleting a handle only lets the garbage
 * collector have its value, so doing it a little later changes nothing a program sees, while
 * a call from C into Go for every drop cost a short task a tenth of its time.  Drops may run
 * on any thread (a release from another thread's callback), hence the lock. */
enum { GOCOIO_DROP_BATCH = 256 };
static pthread_mutex_t drops_mu = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t drops[GOCOIO_DROP_BATCH];
static size_t ndrops;

void gocoio_drop_tramp(void *arg) {
    uintptr_t batch[GOCOIO_DROP_BATCH];
    pthread_mutex_lock(&drops_mu);
    drops[ndrops++] = (uintptr_t)arg;
    int full = ndrops == GOCOIO_DROP_BATCH;
    if (full) {
        memcpy(batch, drops, sizeof drops);
        ndrops = 0;
    }
    pthread_mutex_unlock(&drops_mu);
    if (full) gocoioDropBatch(batch, GOCOIO_DROP_BATCH);
}

size_t gocoio_drops_take(uintptr_t *out, size_t cap) {
    pthread_mutex_lock(&drops_mu);
    size_t n = ndrops < cap ? ndrops : cap;
    ndrops -= n;
    memcpy(out, drops + ndrops, n * sizeof *out);
    pthread_mutex_unlock(&drops_mu);
    return n;
}

void gocoio_callback_tramp(void *arg) {
    gocoioCallback((uintptr_t)arg);
}

void gocoio_done_tramp(coio_future *f, void *arg) {
    gocoioDone(f, (uintptr_t)arg);
}

long gocoio_repr_tramp(const void *value, char *buf, size_t size) {
    return gocoioRepr((uintptr_t)value, buf, size);
}

void gocoio_drain_tramp(void *arg) {
    gocoioDrain((uintptr_t)arg);
}

void gocoio_invoke(uintptr_t h) {
    gocoioCallback(h);
}

int gocoio_loop_new(unsigned flags, coio_loop **out) {
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = flags;
    return coio_loop_new(out, &o);
}

static gocoio_task_arg *task_arg_new(uintptr_t h) {
    gocoio_task_arg *a = malloc(sizeof *a);
    if (a) {
        a->handle = h;
        a->ended = 0;
    }
    return a;
}

/* On failure the arg is freed here and the handle stays the caller's (libcoio does not call
 * the drop of a task it could not create). */
gocoio_new_task gocoio_task_new(coio_loop *loop, uintptr_t h, const char *name, unsigned flags) {
    gocoio_new_task r = {COIO_ENOMEM, NULL};
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = name;
    o.flags = flags;
    gocoio_task_arg *a = task_arg_new(h);
    if (!a) return r;
    r.rc = coio_task_new(loop, gocoio_step_tramp, a, gocoio_task_drop, &o, &r.task);
    if (r.rc != COIO_OK) free(a);
    return r;
}

gocoio_new_task gocoio_group_task_new(coio_task_group *g, uintptr_t h, const char *name) {
    gocoio_new_task r = {COIO_ENOMEM, NULL};
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = name;
    gocoio_task_arg *a = task_arg_new(h);
    if (!a) return r;
    r.rc = coio_task_group_task_new(g, gocoio_step_tramp, a, gocoio_task_drop, &o, &r.task);
    if (r.rc != COIO_OK) free(a);
    return r;
}

int gocoio_set_result(coio_future *f, uintptr_t h) {
    if (h == 0) return coio_future_set_result(f, NULL, NULL);
    return coio_future_set_result_repr(f, (void *)h, gocoio_drop_tramp, gocoio_repr_tramp);
}

int gocoio_set_error(coio_future *f, int code, const char *msg, uintptr_t h) {
    if (h == 0) return coio_future_set_error(f, code, msg);
    gocoio_payload *p = malloc(sizeof *p);
    if (!p) return COIO_ENOMEM;
    p->magic = GOCOIO_PAYLOAD_MAGIC;
    p->handle = h;
    int rc = coio_future_set_error_payload(f, code, msg, p, gocoio_payload_drop);
    if (rc != COIO_OK) free(p);
    return rc;
}

int gocoio_result(const coio_future *f, uintptr_t *h) {
    void *v = NULL;
    int rc = coio_future_result(f, &v);
    *h = (uintptr_t)v;
    return rc;
}

int gocoio_results(coio_future *const *fs, size_t n, uintptr_t *out, size_t *failed) {
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        int rc = coio_future_result(fs[i], &v);
        if (rc != COIO_OK) {
            *failed = i;
            return rc;
        }
        out[i] = (uintptr_t)v;
    }
    return COIO_OK;
}

int gocoio_take_result(coio_future *f, uintptr_t *h) {
    void *v = NULL;
    coio_free_fn drop = NULL;
    int rc = coio_future_take_result(f, &v, &drop);
    *h = (uintptr_t)v;
    return rc;
}

int gocoio_error(const coio_future *f, int *code, const char **msg, uintptr_t *payload) {
    int rc = coio_future_error(f, code, msg);
    void *p = NULL;
    *payload = 0;
    if (rc == COIO_OK && *code != 0 && coio_future_error_payload(f, &p) == COIO_OK && p != NULL)
        *payload = (uintptr_t)p;
    return rc;
}

/* A payload pointer is ours when its drop is ours; libcoio does not say which drop a payload
 * has, so the tag is checked, and only on payloads that Go code set: every payload Go reads
 * comes from futures whose error a Go task or gocoio_set_error set, or from C code, whose
 * payloads are at least a pointer wide (a C payload shorter than the tag would be misread:
 * documented in the package). */
uintptr_t gocoio_payload_handle(uintptr_t payload) {
    const gocoio_payload *p = (const gocoio_payload *)payload;
    return p != NULL && p->magic == GOCOIO_PAYLOAD_MAGIC ? p->handle : 0;
}

int gocoio_await_begin(coio_future *task, coio_future *f, uintptr_t *value) {
    if (coio_future_done(f)) {
        void *v = NULL;
        int rc = coio_future_result(f, &v);
        *value = (uintptr_t)v;
        return rc;
    }
    int rc = coio_step_await(task, f);
    return rc == COIO_OK ? COIO_STEP_AWAIT : rc;
}

int gocoio_sleep_await(coio_loop *loop, coio_future *task, double delay) {
    coio_future *s = NULL;
    int rc = coio_sleep(loop, delay, &s);
    if (rc != COIO_OK) return rc;
    rc = coio_step_await(task, s);
    coio_future_release(s); /* the task keeps its own reference while it waits */
    return rc == COIO_OK ? COIO_STEP_AWAIT : rc;
}

int gocoio_call(coio_loop *loop, int kind, double t, uintptr_t h, coio_handle **out) {
    switch (kind) {
    case 0:
        return coio_call_soon(loop, gocoio_callback_tramp, (void *)h, gocoio_drop_tramp, out);
    case 1:
        return coio_call_later(loop, t, gocoio_callback_tramp, (void *)h, gocoio_drop_tramp, out);
    default:
        return coio_call_at(loop, t, gocoio_callback_tramp, (void *)h, gocoio_drop_tramp, out);
    }
}

int gocoio_call_threadsafe(coio_remote *r, uintptr_t h) {
    return coio_remote_call_soon(r, gocoio_callback_tramp, (void *)h, gocoio_drop_tramp);
}

int gocoio_call_drain(coio_remote *r, uintptr_t h) {
    return coio_remote_call_soon(r, gocoio_drain_tramp, (void *)h, NULL);
}

long gocoio_gettid(void) {
    return (long)syscall(SYS_gettid);
}

int gocoio_completion_set_result(coio_completion *c, uintptr_t h) {
    if (h == 0) return coio_completion_set_result(c, NULL, NULL);
    return coio_completion_set_result(c, (void *)h, gocoio_drop_tramp);
}

int gocoio_add_done(coio_future *f, uintptr_t h) {
    return coio_future_add_done_callback(f, gocoio_done_tramp, (void *)h, gocoio_drop_tramp);
}

int gocoio_queue_put(coio_queue *q, int nowait, int prio, double priority, uintptr_t h,
                     coio_future **out) {
    void *v = (void *)h;
    if (nowait)
        return prio ? coio_queue_put_priority_nowait(q, priority, v, gocoio_drop_tramp)
                    : coio_queue_put_nowait(q, v, gocoio_drop_tramp);
    return prio ? coio_queue_put_priority(q, priority, v, gocoio_drop_tramp, out)
                : coio_queue_put(q, v, gocoio_drop_tramp, out);
}

int gocoio_queue_get_nowait(coio_queue *q, uintptr_t *h) {
    void *v = NULL;
    coio_free_fn drop = NULL;
    int rc = coio_queue_get_nowait(q, &v, &drop);
    if (rc == COIO_OK) *h = (uintptr_t)v;
    return rc;
}

int gocoio_report(coio_loop *loop, const char *message, const char *error) {
    coio_exception_context c = COIO_EXCEPTION_CONTEXT_INIT;
    c.message = message;
    c.error = error;
    return coio_loop_call_exception_handler(loop, &c);
}

int gocoio_queue_get_begin(coio_future *task, coio_queue *q, coio_future **fut, uintptr_t *h) {
    coio_future *g = NULL;
    int rc = coio_queue_get(q, &g);
    if (rc != COIO_OK) return rc;
    *fut = g;
    if (coio_future_done(g)) return gocoio_take_release(g, h);
    rc = coio_step_await(task, g);
    if (rc != COIO_OK) {
        coio_future_release(g);
        return rc;
    }
    return COIO_STEP_AWAIT;
}

int gocoio_take_release(coio_future *fut, uintptr_t *h) {
    void *v = NULL;
    int rc = coio_future_result(fut, NULL);
    if (rc == COIO_OK) {
        coio_free_fn drop = NULL;
        rc = coio_future_take_result(fut, &v, &drop);
        *h = (uintptr_t)v;
        coio_future_release(fut);
    }
    return rc;
}

int gocoio_wait_split(coio_future *w, size_t *ndone, coio_future *const **done, size_t *npending,
                      coio_future *const **pending) {
    void *v = NULL;
    int rc = coio_future_result(w, &v);
    if (rc != COIO_OK) return rc;
    const coio_wait_result *r = v;
    *ndone = r->ndone;
    *done = r->done;
    *npending = r->npending;
    *pending = r->pending;
    return COIO_OK;
}

coio_future *gocoio_next_original(coio_future *next) {
    return coio_future_value(next);
}

void gocoio_name_functions(void) {
    coio_function_set_name((coio_any_fn)gocoio_step_tramp, "go");
    coio_function_set_name((coio_any_fn)gocoio_done_tramp, "go");
}

static void gocoio_exception_tramp(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    int code = 0;
    const char *error = NULL;
    coio_future *f = NULL;
    /* Fields a reporter does not know are 0 / NULL. */
    if (ctx->size >= offsetof(coio_exception_context, code) + sizeof ctx->code) code = ctx->code;
    if (ctx->size >= offsetof(coio_exception_context, error) + sizeof ctx->error)
        error = ctx->error;
    if (ctx->size >= offsetof(coio_exception_context, future) + sizeof ctx->future)
        f = ctx->future;
    gocoioException((uintptr_t)arg, (char *)ctx->message, code, (char *)error, f);
}

int gocoio_set_exception_handler(coio_loop *loop, uintptr_t h) {
    if (h == 0) return coio_loop_set_exception_handler(loop, NULL, NULL, NULL);
    return coio_loop_set_exception_handler(loop, gocoio_exception_tramp, (void *)h,
                                           gocoio_drop_tramp);
}
