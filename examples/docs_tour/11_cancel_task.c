/* 11_cancel_task.c — cancelling a task, and the task catching its cancellation.
 *
 * The Python original (asyncio docs, "Coroutines and Tasks" > Task.cancel() example), with
 * Task.cancelling() / cancelled() / a second cancel() printed along the way:
 *
 *     import asyncio
 *
 *     async def cancel_me():
 *         print('cancel_me(): before sleep')
 *
 *         try:
 *             # Wait for 1 hour
 *             await asyncio.sleep(3600)
 *         except asyncio.CancelledError:
 *             print('cancel_me(): cancel sleep')
 *             print('cancel_me(): cancelling() ->', asyncio.current_task().cancelling())
 *             raise
 *         finally:
 *             print('cancel_me(): after sleep')
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         start = loop.time()
 *
 *         # Create a "cancel_me" Task
 *         task = asyncio.create_task(cancel_me())
 *
 *         # Wait for 1 second
 *         await asyncio.sleep(1)
 *
 *         print('main(): cancel() ->', task.cancel())
 *         print('main(): cancelling() ->', task.cancelling())
 *         try:
 *             await task
 *         except asyncio.CancelledError:
 *             print(f"main(): cancel_me is cancelled now (at +{loop.time() - start:.3f} s)")
 *         print('main(): cancelled() ->', task.cancelled())
 *         print('main(): cancel() again ->', task.cancel())
 *
 *     asyncio.run(main())
 *
 * The loop runs in virtual time (COIO_LOOP_VIRTUAL_TIME, see example 04), so the program
 * takes no real time and the time it prints is exact.  It also shows that the cancelled
 * hour-long sleep takes its timer with it: the loop does not jump to +3600 s.
 *
 * Expected output:
 *
 *     cancel_me(): before sleep
 *     main(): cancel() -> 1
 *     main(): cancelling() -> 1
 *     cancel_me(): cancel sleep
 *     cancel_me(): cancelling() -> 1
 *     cancel_me(): after sleep
 *     main(): cancel_me is cancelled now (at +1.000 s)
 *     main(): cancelled() -> 1
 *     main(): cancel() again -> 0
 *
 * Exceptions become statuses.  CancelledError raised at the `await` is coio_await returning
 * COIO_ECANCELLED; `except` is an if on it, `finally` is code on both paths, and `raise`
 * (re-raising) is returning COIO_ECANCELLED from the body, which ends the task cancelled.
 * Cancelling a task that waits on a future cancels that future (here the sleep) and the
 * task is resumed on the next pass; coio_future_cancel only *requests* it, as Task.cancel()
 * does, and coio_task_cancelling counts the pending requests.
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

/* await asyncio.sleep(delay): returns coio_await's status. */
static int sleep_for(coio_loop *loop, double delay) {
    coio_future *sleep;
    CHECK(coio_sleep(loop, delay, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    return rc;
}

/* async def cancel_me(): */
static int cancel_me(coio_future *self, void *arg) {
    (void)arg;
    printf("cancel_me(): before sleep\n");

    /* try: await asyncio.sleep(3600)  # Wait for 1 hour */
    int rc = sleep_for(coio_future_loop(self), 3600);
    if (rc == COIO_ECANCELLED) {
        /* except asyncio.CancelledError: */
        printf("cancel_me(): cancel sleep\n");
        printf("cancel_me(): cancelling() -> %d\n", coio_task_cancelling(self));
    }
    /* finally: */
    printf("cancel_me(): after sleep\n");

    /* raise: returning COIO_ECANCELLED ends the task cancelled (COIO_OK if the sleep ended
     * normally).  To swallow the cancellation instead, a body would call
     * coio_task_uncancel(self) and return COIO_OK. */
    return rc;
}

/* async def main(): */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);
    double start = coio_loop_time(loop);

    /* Create a "cancel_me" Task */
    coio_future *task;
    CHECK(coio_spawn(loop, cancel_me, NULL, NULL, &task));

    /* Wait for 1 second */
    CHECK(sleep_for(loop, 1));

    /* task.cancel(): 1 if the cancellation was requested, 0 if the task is already done. */
    int rc = coio_future_cancel(task, NULL);
    CHECK(rc);
    printf("main(): cancel() -> %d\n", rc);
    printf("main(): cancelling() -> %d\n", coio_task_cancelling(task));

    /* try: await task / except asyncio.CancelledError: */
    rc = coio_await(task, NULL);
    if (rc == COIO_ECANCELLED) {
        printf("main(): cancel_me is cancelled now (at +%.3f s)\n", coio_loop_time(loop) - start);
    } else {
        fprintf(stderr, "await task: expected COIO_ECANCELLED, got %s\n", coio_status_name(rc));
        exit(1);
    }
    printf("main(): cancelled() -> %d\n", coio_future_cancelled(task));
    rc = coio_future_cancel(task, NULL);
    CHECK(rc);
    printf("main(): cancel() again -> %d\n", rc);

    coio_future_release(task);
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
