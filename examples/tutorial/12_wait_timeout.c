/* 12_wait_timeout.c — the tutorial's 12_wait_timeout.py in C (see README.md). */
#include <coio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static coio_loop *loop;

/* async def num(n): */
static int num(coio_future *self, void *n) {
    int rc = coio_co_sleep((intptr_t)n * 0.1);
    if (rc == COIO_ECANCELLED) /* except asyncio.CancelledError: print, raise */
        printf("数字%d被取消\n", (int)(intptr_t)n);
    if (rc) return rc;
    return coio_future_set_result(self, n, NULL); /* return n */
}

/* f in fs[0:n] */
static int in(coio_future *f, coio_future *const *fs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fs[i] == f) return 1;
    return 0;
}

/* async def main(): */
static int main_(coio_future *self, void *arg) {
    coio_future *tasks[10] = {NULL};
    for (intptr_t i = 0; i < 10; i++)
        coio_spawn(loop, num, (void *)i, NULL, &tasks[i]);
    coio_future *waiting = NULL; /* complete, pending = await asyncio.wait(tasks, timeout=0.45) */
    coio_wait(loop, tasks, 10, 0.45, COIO_ALL_COMPLETED, &waiting);
    const coio_wait_result *r;
    int rc = coio_await(waiting, (void **)&r);
    for (int i = 0; rc == COIO_OK && i < 10; i++) /* sorted(complete, key=tasks.index) */
        if (in(tasks[i], r->done, r->ndone))
            printf("当前数字 %d\n", (int)(intptr_t)coio_future_value(tasks[i]));
    if (rc == COIO_OK && r->npending) {
        printf("取消未完成的任务\n");
        for (size_t i = 0; i < r->npending; i++) /* pending is in argument order */
            coio_future_cancel(r->pending[i], NULL);
    }
    coio_future_release(waiting);
    for (int i = 0; i < 10; i++)
        coio_future_release(tasks[i]);
    return rc;
}

int main(void) {
    /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    coio_future *task = NULL;
    coio_spawn(loop, main_, NULL, NULL, &task);
    int rc = coio_loop_run_until_complete(loop, task);
    coio_future_release(task);
    coio_loop_release(loop);
    return rc != COIO_OK;
}
