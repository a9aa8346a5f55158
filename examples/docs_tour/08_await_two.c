/* 08_await_two.c — awaiting coroutines one after the other, then concurrently as tasks.
 *
 * The Python originals (asyncio docs, "Coroutines and Tasks" > "Coroutines" and "Tasks"):
 *
 *     import asyncio
 *     import time
 *
 *     async def say_after(delay, what):
 *         await asyncio.sleep(delay)
 *         print(what)
 *
 *     async def main():
 *         print(f"started at {time.strftime('%X')}")
 *
 *         await say_after(1, 'hello')
 *         await say_after(2, 'world')
 *
 *         print(f"finished at {time.strftime('%X')}")
 *
 *     asyncio.run(main())
 *
 * and, running the two say_after() coroutines concurrently as tasks:
 *
 *     async def main():
 *         task1 = asyncio.create_task(
 *             say_after(1, 'hello'))
 *
 *         task2 = asyncio.create_task(
 *             say_after(2, 'world'))
 *
 *         print(f"started at {time.strftime('%X')}")
 *
 *         # Wait until both tasks are completed (should take
 *         # around 2 seconds.)
 *         await task1
 *         await task2
 *
 *         print(f"finished at {time.strftime('%X')}")
 *
 * This port runs both in *virtual time* (COIO_LOOP_VIRTUAL_TIME, as example 04): the loop's
 * clock starts at 0 and, whenever nothing is ready, jumps straight to the next timer instead
 * of sleeping.  The program takes no real time, and the times it prints — loop times relative
 * to the start instead of the wall clock — are exact, so the golden test compares them as
 * they are: 3 seconds one after the other, 2 seconds concurrently.
 *
 * Expected output:
 *
 *     -- sequential --
 *     started at +0.000 s
 *     hello
 *     world
 *     finished at +3.000 s
 *     -- concurrent --
 *     started at +0.000 s
 *     hello
 *     world
 *     finished at +2.000 s
 *
 * coio coroutines are stackful: a coroutine can call a plain C function that awaits, and the
 * await suspends the whole coroutine, callers included.  So say_after is an ordinary function,
 * and `await say_after(1, 'hello')` is just a call — like awaiting a coroutine in Python, it
 * creates no task.  To run it concurrently, say_after_task wraps it as a coroutine body for
 * coio_spawn (asyncio.create_task).
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

/* async def say_after(delay, what): — a plain function, to be called from inside a coroutine.
 * Returns the await's status (COIO_ECANCELLED if the calling task was cancelled). */
static int say_after(coio_loop *loop, double delay, const char *what) {
    coio_future *sleep;
    CHECK(coio_sleep(loop, delay, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    if (rc != COIO_OK) return rc;
    printf("%s\n", what);
    return COIO_OK;
}

/* say_after's arguments, for running it as a task. */
struct say_args {
    double delay;
    const char *what;
};

static int say_after_task(coio_future *self, void *arg) {
    const struct say_args *a = arg;
    return say_after(coio_future_loop(self), a->delay, a->what);
}

/* The first main(): one say_after after the other. */
static int main_sequential(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);
    double start = coio_loop_time(loop);

    printf("started at +%.3f s\n", coio_loop_time(loop) - start);

    CHECK(say_after(loop, 1, "hello"));
    CHECK(say_after(loop, 2, "world"));

    printf("finished at +%.3f s\n", coio_loop_time(loop) - start);
    return COIO_OK;
}

/* The second main(): both say_after running at once, as tasks. */
static int main_concurrent(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);
    double start = coio_loop_time(loop);

    /* The arguments live on this coroutine's stack, which outlives both tasks: we await
     * them below before returning. */
    struct say_args hello = {1, "hello"};
    struct say_args world = {2, "world"};

    /* task1 = asyncio.create_task(say_after(1, 'hello')) — scheduled, not yet running */
    coio_future *task1, *task2;
    CHECK(coio_spawn(loop, say_after_task, &hello, NULL, &task1));
    CHECK(coio_spawn(loop, say_after_task, &world, NULL, &task2));

    printf("started at +%.3f s\n", coio_loop_time(loop) - start);

    /* Wait until both tasks are completed (2 seconds: they sleep at the same time). */
    CHECK(coio_await(task1, NULL));
    CHECK(coio_await(task2, NULL));

    printf("finished at +%.3f s\n", coio_loop_time(loop) - start);

    coio_future_release(task1);
    coio_future_release(task2);
    return COIO_OK;
}

/* asyncio.run(fn()) in virtual time: a new loop, fn as its main task, then close. */
static void run(coio_coroutine_fn fn) {
    coio_loop_options opt = COIO_LOOP_OPTIONS_INIT;
    opt.flags |= COIO_LOOP_VIRTUAL_TIME;

    coio_loop *loop;
    CHECK(coio_loop_new(&loop, &opt));
    coio_future *task;
    CHECK(coio_spawn(loop, fn, NULL, NULL, &task));
    CHECK(coio_loop_run_until_complete(loop, task));
    coio_future_release(task);
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
}

int main(void) {
    printf("-- sequential --\n");
    run(main_sequential);
    printf("-- concurrent --\n");
    run(main_concurrent);
    return 0;
}
