/* 07_return_value.c — a coroutine that returns a value, awaited by another.
 *
 * The Python original ("Example: Chain coroutines" of the asyncio docs):
 *
 *     import asyncio
 *
 *     async def compute(x, y):
 *         print("Compute %s + %s ..." % (x, y))
 *         await asyncio.sleep(1.0)
 *         return x + y
 *
 *     async def print_sum(x, y):
 *         result = await compute(x, y)
 *         print("%s + %s = %s" % (x, y, result))
 *
 *     loop = asyncio.new_event_loop()
 *     loop.run_until_complete(print_sum(1, 2))
 *     loop.close()
 *
 * Expected output (one second apart):
 *
 *     Compute 1 + 2 ...
 *     1 + 2 = 3
 *
 * A coio coroutine returns a status, not a value: it hands its value over with
 * coio_future_set_result(self, value, drop) — the task is a future, and setting its result
 * from inside its own body is what `return x + y` does — and then returns COIO_OK.  The
 * task owns the value from then on and calls drop(value) when the task is freed; whoever
 * awaits the task borrows it.
 *
 * In Python, `await compute(x, y)` runs the coroutine without creating a task.  Here compute
 * runs as a task of its own so that its result travels through a future (since coio
 * coroutines are stackful, print_sum could also call a plain C function that awaits: example
 * 08 does that).
 */
#include <coio.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int check_rc_ = (call);                                                                    \
        if (check_rc_ < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                          \
                    coio_status_name(check_rc_));                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* The arguments (x, y) of both coroutines. */
struct operands {
    int x;
    int y;
};

/* async def compute(x, y): */
static int compute(coio_future *self, void *arg) {
    const struct operands *ops = arg;

    printf("Compute %d + %d ...\n", ops->x, ops->y);

    /* await asyncio.sleep(1.0) */
    coio_future *sleep;
    CHECK(coio_sleep(coio_future_loop(self), 1.0, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    if (rc != COIO_OK)
        return rc; /* cancelled while sleeping: pass it on, as an exception would propagate */

    /* return x + y
     *
     * The value is a heap int the task will own: drop = free releases it when the task is
     * freed. */
    int *sum = malloc(sizeof *sum);
    if (!sum) return COIO_ENOMEM; /* any other status fails the task with that code */
    *sum = ops->x + ops->y;
    CHECK(coio_future_set_result(self, sum, free));
    return COIO_OK;
}

/* async def print_sum(x, y): */
static int print_sum(coio_future *self, void *arg) {
    struct operands *ops = arg;

    /* result = await compute(x, y)
     *
     * compute's task borrows `ops`: it lives in main, which outlives the loop, so the task
     * options need no drop for it. */
    coio_future *task;
    CHECK(coio_spawn(coio_future_loop(self), compute, ops, NULL, &task));
    void *result;
    int rc = coio_await(task, &result);
    if (rc != COIO_OK) {
        coio_future_release(task);
        return rc;
    }
    /* `result` is borrowed from the task: read it before releasing the task, which frees it. */
    printf("%d + %d = %d\n", ops->x, ops->y, *(const int *)result);
    coio_future_release(task);
    return COIO_OK;
}

int main(void) {
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL));

    /* loop.run_until_complete(print_sum(1, 2)) — run_until_complete takes a future, so the
     * coroutine is first wrapped in a task (as asyncio does behind the scenes). */
    struct operands ops = {1, 2};
    coio_future *task;
    CHECK(coio_spawn(loop, print_sum, &ops, NULL, &task));
    CHECK(coio_loop_run_until_complete(loop, task));
    coio_future_release(task);

    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return 0;
}
