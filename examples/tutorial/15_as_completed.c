/* 15_as_completed.c — the tutorial's 15_as_completed.py in C (see README.md).
 *
 * time.time() is the loop's clock: in virtual time the sleeps take no time and the elapsed
 * time is exact. */
#include <coio.h>
#include <stdint.h>
#include <stdio.h>

static coio_loop *loop;

/* async def foo(n): */
static int foo(coio_future *self, void *n) {
    printf("Waiting:  %d\n", (int)(intptr_t)n);
    int rc = coio_co_sleep((intptr_t)n);
    if (rc) return rc;
    return coio_future_set_result(self, n, NULL); /* return n */
}

/* async def main(): */
static int main_(coio_future *self, void *arg) {
    coio_future *tasks[3] = {NULL}; /* asyncio.ensure_future(foo(1)), (foo(2)), (foo(4)) */
    coio_spawn(loop, foo, (void *)1, NULL, &tasks[0]);
    coio_spawn(loop, foo, (void *)2, NULL, &tasks[1]);
    coio_spawn(loop, foo, (void *)4, NULL, &tasks[2]);
    coio_as_completed_iter *it = NULL; /* for task in asyncio.as_completed(tasks): */
    int rc = coio_as_completed(loop, tasks, 3, COIO_NO_TIMEOUT, &it);
    coio_future *next = NULL, *task;
    while (rc == COIO_OK && coio_as_completed_next(it, &next) == COIO_OK) {
        rc = coio_await_take(next, (void **)&task); /* result = await task */
        if (rc) break;
        printf("Task ret: %d\n", (int)(intptr_t)coio_future_value(task));
        coio_future_release(task);
    }
    coio_as_completed_free(it);
    for (int i = 0; i < 3; i++)
        coio_future_release(tasks[i]);
    return rc;
}

int main(void) {
    /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    double start = coio_loop_time(loop); /* start = now(): the loop's clock */
    coio_future *task = NULL;
    coio_spawn(loop, main_, NULL, NULL, &task);
    int rc = coio_loop_run_until_complete(loop, task);
    printf("%.1f\n", coio_loop_time(loop) - start);
    coio_future_release(task);
    coio_loop_release(loop);
    return rc != COIO_OK;
}
