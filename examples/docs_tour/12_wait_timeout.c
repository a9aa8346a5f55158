/* 12_wait_timeout.c — asyncio.wait with a timeout, then cancelling the tasks still pending.
 *
 * The Python original (asyncio.wait, "Coroutines and Tasks" > "Waiting Primitives"):
 *
 *     import asyncio
 *
 *     async def job(delay):
 *         try:
 *             await asyncio.sleep(delay)
 *         except asyncio.CancelledError:
 *             print(f"job({delay}): cancelled")
 *             raise
 *         print(f"job({delay}): finished")
 *         return delay * 10
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         start = loop.time()
 *
 *         tasks = [asyncio.create_task(job(d), name=f"job-{d}") for d in (1, 2, 3, 4)]
 *
 *         done, pending = await asyncio.wait(tasks, timeout=2.5)
 *         print(f"wait returned at +{loop.time() - start:.1f} s: "
 *               f"{len(done)} done, {len(pending)} pending")
 *         for t in sorted(done, key=tasks.index):
 *             print(f"done: {t.get_name()} -> {t.result()}")
 *         for t in sorted(pending, key=tasks.index):
 *             print(f"pending: {t.get_name()}, cancel() -> {t.cancel()}")
 *
 *         await asyncio.wait(pending)
 *         print(f"cancelled at +{loop.time() - start:.1f} s")
 *         for t in sorted(pending, key=tasks.index):
 *             print(f"{t.get_name()}: done() -> {t.done()}, cancelled() -> {t.cancelled()}")
 *
 *     asyncio.run(main())
 *
 * The loop runs in virtual time (COIO_LOOP_VIRTUAL_TIME, see example 04), so the program
 * takes no real time and the times it prints are exact.
 *
 * Expected output (the same as Python's):
 *
 *     job(1): finished
 *     job(2): finished
 *     wait returned at +2.5 s: 2 done, 2 pending
 *     done: job-1 -> 10
 *     done: job-2 -> 20
 *     pending: job-3, cancel() -> True
 *     pending: job-4, cancel() -> True
 *     job(3): cancelled
 *     job(4): cancelled
 *     cancelled at +2.5 s
 *     job-3: done() -> True, cancelled() -> True
 *     job-4: done() -> True, cancelled() -> True
 *
 * coio_wait's future completes with a `const coio_wait_result *`: the done futures in
 * completion order, then the pending ones in argument order (Python's two sets have no order,
 * hence its sorted(); here completion order is argument order too).  The arrays belong to the
 * wait future, which holds a reference to each task: keep the future while you read them.
 * As in asyncio, the timeout cancels nothing — the tasks still pending keep running until
 * they are cancelled explicitly, and cancel() only *requests* it: the second wait lets them
 * run their `except` and finish cancelled.
 */
#include <coio.h>

#include <stdint.h>
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

#define NJOBS 4

/* Python's str(bool), so that the output matches Python's. */
static const char *py_bool(int b) {
    return b ? "True" : "False";
}

/* await asyncio.sleep(delay): returns coio_await's status. */
static int sleep_for(coio_loop *loop, double delay) {
    coio_future *sleep;
    CHECK(coio_sleep(loop, delay, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    return rc;
}

/* async def job(delay): — the delay travels in arg as an integer. */
static int job(coio_future *self, void *arg) {
    int delay = (int)(intptr_t)arg;

    /* try: await asyncio.sleep(delay) */
    int rc = sleep_for(coio_future_loop(self), delay);
    if (rc == COIO_ECANCELLED) {
        /* except asyncio.CancelledError: print(...); raise */
        printf("job(%d): cancelled\n", delay);
        return rc;
    }
    CHECK(rc);
    printf("job(%d): finished\n", delay);

    /* return delay * 10 — a small integer needs no allocation: it is the value itself. */
    CHECK(coio_future_set_result(self, (void *)(intptr_t)(delay * 10), NULL));
    return COIO_OK;
}

/* A task's result, as the integer job() returned. */
static int int_result(coio_future *task) {
    void *value;
    CHECK(coio_future_result(task, &value));
    return (int)(intptr_t)value;
}

/* async def main(): */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);
    double start = coio_loop_time(loop);

    /* tasks = [asyncio.create_task(job(d), name=f"job-{d}") for d in (1, 2, 3, 4)] */
    coio_future *tasks[NJOBS];
    for (int d = 1; d <= NJOBS; d++) {
        char name[16];
        snprintf(name, sizeof name, "job-%d", d);
        coio_task_options opts = COIO_TASK_OPTIONS_INIT;
        opts.name = name; /* copied */
        CHECK(coio_spawn(loop, job, (void *)(intptr_t)d, &opts, &tasks[d - 1]));
    }

    /* done, pending = await asyncio.wait(tasks, timeout=2.5) */
    coio_future *waiting;
    CHECK(coio_wait(loop, tasks, NJOBS, 2.5, COIO_ALL_COMPLETED, &waiting));
    void *value;
    CHECK(coio_await(waiting, &value));
    const coio_wait_result *r = value; /* borrowed from `waiting` */

    printf("wait returned at +%.1f s: %zu done, %zu pending\n", coio_loop_time(loop) - start,
           r->ndone, r->npending);
    for (size_t i = 0; i < r->ndone; i++)
        printf("done: %s -> %d\n", coio_task_name(r->done[i]), int_result(r->done[i]));
    for (size_t i = 0; i < r->npending; i++) {
        int rc = coio_future_cancel(r->pending[i], NULL);
        CHECK(rc);
        printf("pending: %s, cancel() -> %s\n", coio_task_name(r->pending[i]), py_bool(rc));
    }

    /* await asyncio.wait(pending) — no timeout: until every one of them is done */
    coio_future *cancelling;
    CHECK(
        coio_wait(loop, r->pending, r->npending, COIO_NO_TIMEOUT, COIO_ALL_COMPLETED, &cancelling));
    CHECK(coio_await(cancelling, NULL));
    coio_future_release(cancelling);

    printf("cancelled at +%.1f s\n", coio_loop_time(loop) - start);
    for (size_t i = 0; i < r->npending; i++) {
        coio_future *t = r->pending[i];
        printf("%s: done() -> %s, cancelled() -> %s\n", coio_task_name(t),
               py_bool(coio_future_done(t)), py_bool(coio_future_cancelled(t)));
    }

    coio_future_release(waiting); /* r is gone with it */
    for (int i = 0; i < NJOBS; i++)
        coio_future_release(tasks[i]);
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
