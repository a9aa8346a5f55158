/* 15_as_completed.c — asyncio.as_completed: results in the order the tasks finish.
 *
 * The Python original (asyncio.as_completed, "Coroutines and Tasks" > "Waiting Primitives"):
 *
 *     import asyncio
 *
 *     async def job(name, delay):
 *         await asyncio.sleep(delay)
 *         return f"{name} (slept {delay} s)"
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         start = loop.time()
 *
 *         tasks = [asyncio.create_task(job("a", 3)),
 *                  asyncio.create_task(job("b", 1)),
 *                  asyncio.create_task(job("c", 2))]
 *         for next_done in asyncio.as_completed(tasks):
 *             result = await next_done
 *             print(f"+{loop.time() - start:.1f} s: {result}")
 *
 *     asyncio.run(main())
 *
 * The loop runs in virtual time (COIO_LOOP_VIRTUAL_TIME, see example 04), so the program
 * takes no real time and the times it prints are exact.
 *
 * Expected output (the same as Python's):
 *
 *     +1.0 s: b (slept 1 s)
 *     +2.0 s: c (slept 2 s)
 *     +3.0 s: a (slept 3 s)
 *
 * coio_as_completed returns an iterator; each coio_as_completed_next gives a new future that
 * completes with the next task to finish — the original coio_future * itself, as iterating
 * asyncio 3.13's as_completed with `async for` does — so the result is read from that task.
 * The next-future is the caller's: release it when done.  job()'s result is a heap string
 * the task owns (drop = free), borrowed by whoever reads it.
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

#define NJOBS 3

/* job()'s arguments. */
struct job_args {
    const char *name;
    int delay;
};

/* async def job(name, delay): */
static int job(coio_future *self, void *arg) {
    const struct job_args *a = arg;

    /* await asyncio.sleep(delay) */
    coio_future *sleep;
    CHECK(coio_sleep(coio_future_loop(self), a->delay, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    if (rc != COIO_OK) return rc; /* cancelled: pass it on */

    /* return f"{name} (slept {delay} s)" — a string the task will own and free */
    int len = snprintf(NULL, 0, "%s (slept %d s)", a->name, a->delay);
    char *result = malloc((size_t)len + 1);
    if (!result) return COIO_ENOMEM; /* any other status fails the task with that code */
    snprintf(result, (size_t)len + 1, "%s (slept %d s)", a->name, a->delay);
    CHECK(coio_future_set_result(self, result, free));
    return COIO_OK;
}

/* async def main(): */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);
    double start = coio_loop_time(loop);

    static const struct job_args jobs[NJOBS] = {{"a", 3}, {"b", 1}, {"c", 2}};
    coio_future *tasks[NJOBS];
    for (int i = 0; i < NJOBS; i++)
        CHECK(coio_spawn(loop, job, (void *)&jobs[i], NULL, &tasks[i]));

    /* for next_done in asyncio.as_completed(tasks): — no timeout */
    coio_as_completed_iter *it;
    CHECK(coio_as_completed(loop, tasks, NJOBS, COIO_NO_TIMEOUT, &it));
    for (int i = 0; i < NJOBS; i++) {
        coio_future *next_done;
        CHECK(coio_as_completed_next(it, &next_done));

        /* result = await next_done: the finished task, then its result */
        void *finished;
        CHECK(coio_await(next_done, &finished));
        void *result;
        CHECK(coio_future_result(finished, &result));
        printf("+%.1f s: %s\n", coio_loop_time(loop) - start, (const char *)result);
        coio_future_release(next_done);
    }
    coio_as_completed_free(it);

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
