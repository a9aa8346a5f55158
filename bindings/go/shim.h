/* shim.h — the C side of the Go binding: trampolines that libcoio calls (they enter Go through
 * the functions exported in exports.go) and small wrappers that fold several libcoio calls
 * into one cgo call.  Go values travel through C as cgo.Handle numbers (uintptr_t); this file
 * turns them into and out of void *, so that Go never converts an integer to a pointer. */
#ifndef COIO_GO_SHIM_H
#define COIO_GO_SHIM_H

#include <coio.h>
#include <stdint.h>

/* libcoio -> Go trampolines. */
int gocoio_step_tramp(coio_future *task, coio_future *awaited, int status, void *arg);
void gocoio_drop_tramp(void *arg); /* deferred: see gocoio_drops_take */
void gocoio_callback_tramp(void *arg);
void gocoio_done_tramp(coio_future *f, void *arg);
long gocoio_repr_tramp(const void *value, char *buf, size_t size);
void gocoio_drain_tramp(void *arg);
/* Moves up to cap of the handles whose drop is still queued into out; returns how many. */
size_t gocoio_drops_take(uintptr_t *out, size_t cap);
/* Calls the Go callback h from C (a Go -> C -> Go call). */
void gocoio_invoke(uintptr_t h);

/* Wrappers. */
int gocoio_loop_new(unsigned flags, coio_loop **out);
/* A new task, returned by value: an out pointer from Go would cost the spawn an allocation. */
typedef struct gocoio_new_task {
    int rc;
    coio_future *task; /* rc COIO_OK: the caller's reference */
} gocoio_new_task;
gocoio_new_task gocoio_task_new(coio_loop *loop, uintptr_t h, const char *name, unsigned flags);
gocoio_new_task gocoio_group_task_new(coio_task_group *g, uintptr_t h, const char *name);
int gocoio_set_result(coio_future *f, uintptr_t h);
int gocoio_set_error(coio_future *f, int code, const char *msg, uintptr_t h);
int gocoio_result(const coio_future *f, uintptr_t *h);
/* The results of fs[0..n) into out (one call instead of n): COIO_OK, or the first future's
 * failure (its index in *failed). */
int gocoio_results(coio_future *const *fs, size_t n, uintptr_t *out, size_t *failed);
int gocoio_take_result(coio_future *f, uintptr_t *h);
int gocoio_error(const coio_future *f, int *code, const char **msg, uintptr_t *payload);
int gocoio_await_begin(coio_future *task, coio_future *f, uintptr_t *value);
int gocoio_sleep_await(coio_loop *loop, coio_future *task, double delay);
int gocoio_call(coio_loop *loop, int kind, double t, uintptr_t h, coio_handle **out);
int gocoio_call_threadsafe(coio_remote *r, uintptr_t h);
int gocoio_call_drain(coio_remote *r, uintptr_t h);
long gocoio_gettid(void);
int gocoio_completion_set_result(coio_completion *c, uintptr_t h);
int gocoio_add_done(coio_future *f, uintptr_t h);
int gocoio_queue_put(coio_queue *q, int nowait, int prio, double priority, uintptr_t h,
                     coio_future **out);
int gocoio_queue_get_nowait(coio_queue *q, uintptr_t *h);
int gocoio_report(coio_loop *loop, const char *message, const char *error);
uintptr_t gocoio_payload_handle(uintptr_t payload);

/* How a Go task's last step ended (gocoio_task_arg.ended). */
enum { GOCOIO_ENDED = 1, GOCOIO_ENDED_RESULT = 2 };

/* What libcoio passes through the step trampoline: the task's arg. */
#define GOCOIO_PAYLOAD_MAGIC 0x676f636f696f6572ull

#endif

/* Queue get as one call: an item there at once is taken (*h, the future released); otherwise
 * the task awaits *fut (the caller's reference) and returns COIO_STEP_AWAIT. */
int gocoio_queue_get_begin(coio_future *task, coio_queue *q, coio_future **fut, uintptr_t *h);
/* After the await: takes the item out of fut and releases fut; on a failure (returned) fut
 * is left to the caller, to read its error and release it. */
int gocoio_take_release(coio_future *fut, uintptr_t *h);
/* The i-th done / pending future of a coio_wait result held by w. */
int gocoio_wait_split(coio_future *w, size_t *ndone, coio_future *const **done, size_t *npending,
                      coio_future *const **pending);
/* The original future an as_completed next-future completed with. */
coio_future *gocoio_next_original(coio_future *next);
/* Names the trampolines in reprs. */
void gocoio_name_functions(void);
/* Installs the Go exception handler h (0: the default handler). */
int gocoio_set_exception_handler(coio_loop *loop, uintptr_t h);
