/* 10_done_callbacks_coroutine.c — done callbacks and an awaiting coroutine on one future.
 *
 * The Python original (Future.add_done_callback, driven from coroutines):
 *
 *     import asyncio
 *     import functools
 *
 *     def report(name, fut):
 *         print(f"  {name}: result {fut.result()!r}")
 *
 *     async def set_result(fut):
 *         print("setter: set_result('spam')")
 *         fut.set_result("spam")
 *         print("setter: returned; no callback has run yet")
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         fut = loop.create_future()
 *         fut.add_done_callback(functools.partial(report, "first"))
 *         fut.add_done_callback(functools.partial(report, "second"))
 *         task = asyncio.create_task(set_result(fut))
 *         print("main: awaiting fut")
 *         value = await fut
 *         print(f"main: await fut -> {value!r}")
 *         fut.add_done_callback(functools.partial(report, "late"))
 *         print("main: added late; it has not run yet")
 *         await asyncio.sleep(0)
 *         print("main: after sleep(0)")
 *         await task
 *
 *     asyncio.run(main())
 *
 * Expected output:
 *
 *     main: awaiting fut
 *     setter: set_result('spam')
 *     setter: returned; no callback has run yet
 *       first: result 'spam'
 *       second: result 'spam'
 *     main: await fut -> 'spam'
 *     main: added late; it has not run yet
 *       late: result 'spam'
 *     main: after sleep(0)
 *
 * What it shows, as in asyncio:
 *  - the setter task only starts once main suspends: coio_spawn schedules its first step;
 *  - set_result runs no callback itself: it schedules them, in registration order, on the
 *    loop's ready queue;
 *  - an awaiting coroutine is woken the same way — its wake-up is one more done callback,
 *    registered by coio_await after first and second, so it runs after them;
 *  - a callback added to a future that is already done is still only scheduled: it runs on
 *    the next pass, here while main yields for one pass with coio_sleep(0).
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

/* def report(name, fut): — a done callback; the registration's arg is the name. */
static void report(coio_future *fut, void *arg) {
    void *value;
    CHECK(coio_future_result(fut, &value));
    printf("  %s: result '%s'\n", (const char *)arg, (const char *)value);
}

/* async def set_result(fut): */
static int set_result(coio_future *self, void *arg) {
    (void)self;
    coio_future *fut = arg;
    printf("setter: set_result('spam')\n");
    CHECK(coio_future_set_result(fut, "spam", NULL));
    printf("setter: returned; no callback has run yet\n");
    return COIO_OK;
}

/* Drops the reference the setter task held on the future (its options' drop). */
static void release_future(void *arg) {
    coio_future_release(arg);
}

/* Awaits asyncio.sleep(0): gives the loop one pass. */
static int sleep0(coio_loop *loop) {
    coio_future *sleep;
    CHECK(coio_sleep(loop, 0, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    return rc;
}

/* async def main(): */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);

    coio_future *fut;
    CHECK(coio_future_new(loop, &fut));
    CHECK(coio_future_add_done_callback(fut, report, "first", NULL));
    CHECK(coio_future_add_done_callback(fut, report, "second", NULL));

    /* task = asyncio.create_task(set_result(fut))
     *
     * The task gets its own reference to fut; the options' drop gives it back once the body
     * has returned (or if it never runs). */
    coio_task_options topt = COIO_TASK_OPTIONS_INIT;
    topt.drop = release_future;
    coio_future *task;
    CHECK(coio_spawn(loop, set_result, coio_future_ref(fut), &topt, &task));

    printf("main: awaiting fut\n");
    void *value;
    CHECK(coio_await(fut, &value));
    printf("main: await fut -> '%s'\n", (const char *)value);

    CHECK(coio_future_add_done_callback(fut, report, "late", NULL));
    printf("main: added late; it has not run yet\n");
    CHECK(sleep0(loop));
    printf("main: after sleep(0)\n");

    CHECK(coio_await(task, NULL));
    coio_future_release(task);
    coio_future_release(fut);
    return COIO_OK;
}

int main(void) {
    /* asyncio.run(main()) */
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL));
    coio_future *task;
    CHECK(coio_spawn(loop, main_coro, NULL, NULL, &task));
    CHECK(coio_loop_run_until_complete(loop, task));
    coio_future_release(task);
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return 0;
}
