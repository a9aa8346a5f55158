/* 14_gather_two_stage.c — two gathers in a row: the results of the first feed the second.
 *
 * The Python original:
 *
 *     import asyncio
 *
 *     async def fetch(name, delay, size):
 *         await asyncio.sleep(delay)
 *         print(f"fetched {name}: {size} bytes at +{loop.time() - start:.1f} s")
 *         return size
 *
 *     async def count_lines(size):
 *         await asyncio.sleep(size / 1000)
 *         print(f"counted {size} bytes: {size // 50} lines at +{loop.time() - start:.1f} s")
 *         return size // 50
 *
 *     async def main():
 *         global loop, start
 *         loop = asyncio.get_running_loop()
 *         start = loop.time()
 *
 *         # Stage 1: fetch three documents at once.
 *         sizes = await asyncio.gather(fetch("a", 1, 300), fetch("b", 2, 100),
 *                                      fetch("c", 0.5, 200))
 *         print(f"stage 1 done at +{loop.time() - start:.1f} s: {sizes}")
 *
 *         # Stage 2: process what stage 1 returned, again all at once.
 *         lines = await asyncio.gather(*(count_lines(size) for size in sizes))
 *         print(f"stage 2 done at +{loop.time() - start:.1f} s: {lines}")
 *         print(f"total: {sum(lines)} lines")
 *
 *     asyncio.run(main())
 *
 * The loop runs in virtual time (COIO_LOOP_VIRTUAL_TIME, see example 04), so the program
 * takes no real time and the times it prints are exact.
 *
 * Expected output (the same as Python's):
 *
 *     fetched c: 200 bytes at +0.5 s
 *     fetched a: 300 bytes at +1.0 s
 *     fetched b: 100 bytes at +2.0 s
 *     stage 1 done at +2.0 s: [300, 100, 200]
 *     counted 100 bytes: 2 lines at +2.1 s
 *     counted 200 bytes: 4 lines at +2.2 s
 *     counted 300 bytes: 6 lines at +2.3 s
 *     stage 2 done at +2.3 s: [6, 2, 4]
 *     total: 12 lines
 *
 * Each stage takes as long as its slowest task (2 s, then 0.3 s), not the sum of them.  The
 * second stage's tasks are created from the first stage's results, read from its tasks in
 * argument order (coio_gather's future has no value of its own).  gather_all() below is
 * `await asyncio.gather(*tasks)` for tasks already spawned.
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

#define NDOCS 3

static double start; /* loop time when main() started */

/* await asyncio.sleep(delay): returns coio_await's status. */
static int sleep_for(coio_loop *loop, double delay) {
    coio_future *sleep;
    CHECK(coio_sleep(loop, delay, &sleep));
    int rc = coio_await(sleep, NULL);
    coio_future_release(sleep);
    return rc;
}

/* `return n` for a small integer: the value is the integer itself (drop = NULL). */
static int return_int(coio_future *self, int n) {
    CHECK(coio_future_set_result(self, (void *)(intptr_t)n, NULL));
    return COIO_OK;
}

/* A done task's result, as the integer it returned. */
static int int_result(coio_future *task) {
    void *value;
    CHECK(coio_future_result(task, &value));
    return (int)(intptr_t)value;
}

/* fetch()'s arguments. */
struct fetch_args {
    const char *name;
    double delay;
    int size;
};

/* async def fetch(name, delay, size): */
static int fetch(coio_future *self, void *arg) {
    const struct fetch_args *a = arg;
    coio_loop *loop = coio_future_loop(self);

    int rc = sleep_for(loop, a->delay);
    if (rc != COIO_OK) return rc; /* cancelled: pass it on */
    printf("fetched %s: %d bytes at +%.1f s\n", a->name, a->size, coio_loop_time(loop) - start);
    return return_int(self, a->size);
}

/* async def count_lines(size): — the size travels in arg as an integer. */
static int count_lines(coio_future *self, void *arg) {
    int size = (int)(intptr_t)arg;
    coio_loop *loop = coio_future_loop(self);

    int rc = sleep_for(loop, size / 1000.0);
    if (rc != COIO_OK) return rc;
    printf("counted %d bytes: %d lines at +%.1f s\n", size, size / 50,
           coio_loop_time(loop) - start);
    return return_int(self, size / 50);
}

/* await asyncio.gather(*tasks) */
static void gather_all(coio_loop *loop, coio_future *const *tasks, size_t n) {
    coio_future *gathering;
    CHECK(coio_gather(loop, tasks, n, 0, &gathering));
    CHECK(coio_await(gathering, NULL));
    coio_future_release(gathering);
}

/* Prints the tasks' results as a Python list: "[6, 2, 4]". */
static void print_results(coio_future *const *tasks, size_t n) {
    printf("[");
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", int_result(tasks[i]));
    printf("]\n");
}

/* async def main(): */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);
    start = coio_loop_time(loop);

    /* Stage 1: fetch three documents at once.  (The arguments are static: they outlive
     * the tasks.) */
    static const struct fetch_args docs[NDOCS] = {{"a", 1, 300}, {"b", 2, 100}, {"c", 0.5, 200}};
    coio_future *fetches[NDOCS];
    for (int i = 0; i < NDOCS; i++)
        CHECK(coio_spawn(loop, fetch, (void *)&docs[i], NULL, &fetches[i]));
    gather_all(loop, fetches, NDOCS);
    printf("stage 1 done at +%.1f s: ", coio_loop_time(loop) - start);
    print_results(fetches, NDOCS);

    /* Stage 2: process what stage 1 returned, again all at once. */
    coio_future *counts[NDOCS];
    for (int i = 0; i < NDOCS; i++) {
        int size = int_result(fetches[i]);
        CHECK(coio_spawn(loop, count_lines, (void *)(intptr_t)size, NULL, &counts[i]));
    }
    gather_all(loop, counts, NDOCS);
    printf("stage 2 done at +%.1f s: ", coio_loop_time(loop) - start);
    print_results(counts, NDOCS);

    int total = 0;
    for (int i = 0; i < NDOCS; i++)
        total += int_result(counts[i]);
    printf("total: %d lines\n", total);

    for (int i = 0; i < NDOCS; i++) {
        coio_future_release(fetches[i]);
        coio_future_release(counts[i]);
    }
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
