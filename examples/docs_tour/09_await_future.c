/* 09_await_future.c — a coroutine awaiting a future that something else completes.
 *
 * The Python original (asyncio docs, "Futures" > "Future Object" example), extended with the
 * same wait on a future completed by loop.call_later() and by loop.call_soon():
 *
 *     import asyncio
 *
 *     async def set_after(fut, delay, value):
 *         # Sleep for *delay* seconds.
 *         await asyncio.sleep(delay)
 *
 *         # Set *value* as a result of *fut* Future.
 *         fut.set_result(value)
 *
 *     async def main():
 *         # Get the current event loop.
 *         loop = asyncio.get_running_loop()
 *         start = loop.time()
 *
 *         # Create a new Future object.
 *         fut = loop.create_future()
 *
 *         # Run "set_after()" coroutine in a parallel Task.
 *         loop.create_task(
 *             set_after(fut, 1, '... world'))
 *
 *         print('hello ...')
 *
 *         # Wait until *fut* has a result (1 second) and print it.
 *         print(await fut, f"(at +{loop.time() - start:.3f} s)")
 *
 *         # The same, with a timer callback setting the result.
 *         fut = loop.create_future()
 *         loop.call_later(1, fut.set_result, '... later')
 *         print('hello again ...')
 *         print(await fut, f"(at +{loop.time() - start:.3f} s)")
 *
 *         # And with call_soon: the result is there on the next pass.
 *         fut = loop.create_future()
 *         loop.call_soon(fut.set_result, '... soon')
 *         print('and once more ...')
 *         print(await fut, f"(at +{loop.time() - start:.3f} s)")
 *
 *     asyncio.run(main())
 *
 * The loop runs in virtual time (COIO_LOOP_VIRTUAL_TIME, see example 04): the program takes no
 * real time and the times it prints are exact (Python, in real time, prints +1.002 and so on).
 *
 * Expected output:
 *
 *     hello ...
 *     ... world (at +1.000 s)
 *     hello again ...
 *     ... later (at +2.000 s)
 *     and once more ...
 *     ... soon (at +2.000 s)
 *
 * Awaiting a future does not care who completes it: a task, a timer callback or a callback
 * run on the next pass.  coio_await suspends the coroutine; completing the future schedules
 * its wake-up, and the value it returns is borrowed from the future.
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

/* set_after's arguments (fut, delay, value). */
struct set_after_args {
    coio_future *fut;
    double delay;
    const char *value;
};

/* async def set_after(fut, delay, value): */
static int set_after(coio_future *self, void *arg) {
    const struct set_after_args *a = arg;

    /* Sleep for *delay* seconds. */
    coio_future *sleep;
    CHECK(coio_sleep(coio_future_loop(self), a->delay, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    if (rc != COIO_OK) return rc;

    /* Set *value* as a result of *fut* Future.  A string literal: nothing to drop. */
    CHECK(coio_future_set_result(a->fut, (void *)a->value, NULL));
    return COIO_OK;
}

/* fut.set_result as a loop callback: functools.partial(fut.set_result, value) becomes a
 * heap struct the registration owns.  Its drop frees it and the future reference in it. */
struct set_result_args {
    coio_future *fut;
    const char *value;
};

static void set_result_cb(void *arg) {
    struct set_result_args *a = arg;
    CHECK(coio_future_set_result(a->fut, (void *)a->value, NULL));
}

static void set_result_drop(void *arg) {
    struct set_result_args *a = arg;
    coio_future_release(a->fut);
    free(a);
}

static struct set_result_args *set_result_args_new(coio_future *fut, const char *value) {
    struct set_result_args *a = malloc(sizeof *a);
    if (!a) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    a->fut = coio_future_ref(fut); /* the callback's own reference */
    a->value = value;
    return a;
}

/* print(await fut, ...): awaits fut, prints its (string) value and the time, releases fut. */
static void await_and_print(coio_loop *loop, coio_future *fut, double start) {
    void *value;
    CHECK(coio_await(fut, &value));
    printf("%s (at +%.3f s)\n", (const char *)value, coio_loop_time(loop) - start);
    coio_future_release(fut); /* value was borrowed from fut: print first, then release */
}

/* async def main(): */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    /* Get the current event loop. */
    coio_loop *loop = coio_future_loop(self);
    double start = coio_loop_time(loop);

    /* Create a new Future object. */
    coio_future *fut;
    CHECK(coio_future_new(loop, &fut));

    /* Run "set_after()" coroutine in a parallel Task.
     *
     * Its arguments live on this coroutine's stack: main outlives the task, since it only
     * goes on once the task has set fut, and the task returns right after.  We do not keep
     * the task either (Python drops it too): the loop holds its own reference to a task until
     * it is done, so ours can go at once. */
    struct set_after_args args = {.fut = fut, .delay = 1, .value = "... world"};
    coio_future *task;
    CHECK(coio_spawn(loop, set_after, &args, NULL, &task));
    coio_future_release(task);

    printf("hello ...\n");

    /* Wait until *fut* has a result (1 second) and print it. */
    await_and_print(loop, fut, start);

    /* The same, with a timer callback setting the result. */
    CHECK(coio_future_new(loop, &fut));
    CHECK(coio_call_later(loop, 1, set_result_cb, set_result_args_new(fut, "... later"),
                          set_result_drop, NULL));
    printf("hello again ...\n");
    await_and_print(loop, fut, start);

    /* And with call_soon: the result is there on the next pass. */
    CHECK(coio_future_new(loop, &fut));
    CHECK(coio_call_soon(loop, set_result_cb, set_result_args_new(fut, "... soon"), set_result_drop,
                         NULL));
    printf("and once more ...\n");
    await_and_print(loop, fut, start);

    return COIO_OK;
}

int main(void) {
    /* asyncio.run(main()), in virtual time */
    coio_loop_options opt = COIO_LOOP_OPTIONS_INIT;
    opt.flags |= COIO_LOOP_VIRTUAL_TIME;

    coio_loop *loop;
    CHECK(coio_loop_new(&loop, &opt));
    coio_future *task;
    CHECK(coio_spawn(loop, main_coro, NULL, NULL, &task));
    CHECK(coio_loop_run_until_complete(loop, task));
    coio_future_release(task);
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return 0;
}
