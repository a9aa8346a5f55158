/* 13_gather_ten.c — asyncio.gather of ten coroutines: results in argument order.
 *
 * The Python original (asyncio.gather, "Coroutines and Tasks" > "Running Tasks Concurrently"):
 *
 *     import asyncio
 *
 *     async def square(i, delay):
 *         await asyncio.sleep(delay)
 *         print(f"square({i}) = {i * i} at +{loop.time() - start:.1f} s")
 *         return i * i
 *
 *     async def main():
 *         global loop, start
 *         loop = asyncio.get_running_loop()
 *         start = loop.time()
 *
 *         # Ten coroutines, finishing in a shuffled order: i sleeps (i * 7 % 10) / 10 seconds.
 *         results = await asyncio.gather(*(square(i, (i * 7 % 10) / 10) for i in range(10)))
 *         print(f"gathered: {results}")
 *
 *     asyncio.run(main())
 *
 * The loop runs in virtual time (COIO_LOOP_VIRTUAL_TIME, see example 04), so the program
 * takes no real time and the times it prints are exact.
 *
 * Expected output (the same as Python's):
 *
 *     square(0) = 0 at +0.0 s
 *     square(3) = 9 at +0.1 s
 *     square(6) = 36 at +0.2 s
 *     square(9) = 81 at +0.3 s
 *     square(2) = 4 at +0.4 s
 *     square(5) = 25 at +0.5 s
 *     square(8) = 64 at +0.6 s
 *     square(1) = 1 at +0.7 s
 *     square(4) = 16 at +0.8 s
 *     square(7) = 49 at +0.9 s
 *     gathered: [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 *
 * asyncio.gather wraps each coroutine in a task; here the ten tasks are spawned explicitly and
 * handed to coio_gather, whose future completes once all of them are done.  It has no value of
 * its own: the results stay in the tasks, and reading them in argument order is what Python's
 * result list is.  Without COIO_RETURN_EXCEPTIONS, the first task to fail (or be cancelled)
 * would end the gather at once with that outcome, as an exception ends asyncio's.
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

#define NSQUARES 10

static double start; /* loop time when main() started */

/* square()'s arguments. */
struct square_args {
    int i;
    double delay;
};

/* async def square(i, delay): */
static int square(coio_future *self, void *arg) {
    const struct square_args *a = arg;
    coio_loop *loop = coio_future_loop(self);

    /* await asyncio.sleep(delay) */
    coio_future *sleep;
    CHECK(coio_sleep(loop, a->delay, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    if (rc != COIO_OK) return rc; /* cancelled: pass it on */

    printf("square(%d) = %d at +%.1f s\n", a->i, a->i * a->i, coio_loop_time(loop) - start);

    /* return i * i — a small integer is its own value: nothing to allocate, drop = NULL */
    CHECK(coio_future_set_result(self, (void *)(intptr_t)(a->i * a->i), NULL));
    return COIO_OK;
}

/* async def main(): */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);
    start = coio_loop_time(loop);

    /* The arguments live on this coroutine's stack, which outlives the tasks: main awaits
     * them all before returning. */
    struct square_args args[NSQUARES];
    coio_future *tasks[NSQUARES];
    for (int i = 0; i < NSQUARES; i++) {
        args[i].i = i;
        args[i].delay = (i * 7 % 10) / 10.0;
        CHECK(coio_spawn(loop, square, &args[i], NULL, &tasks[i]));
    }

    /* results = await asyncio.gather(*tasks) */
    coio_future *gathering;
    CHECK(coio_gather(loop, tasks, NSQUARES, 0, &gathering));
    CHECK(coio_await(gathering, NULL));
    coio_future_release(gathering);

    /* print(f"gathered: {results}") — the results, read from the tasks in argument order */
    printf("gathered: [");
    for (int i = 0; i < NSQUARES; i++) {
        void *value;
        CHECK(coio_future_result(tasks[i], &value));
        printf("%s%d", i ? ", " : "", (int)(intptr_t)value);
    }
    printf("]\n");

    for (int i = 0; i < NSQUARES; i++)
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
