/* 13_gather.c — the tutorial's 13_gather.py in C (see README.md). */
#include <coio.h>
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

/* async def main(): */
static int main_(coio_future *self, void *arg) {
    coio_future *tasks[10] = {NULL}; /* the tasks gather would wrap the coroutines in */
    for (intptr_t i = 0; i < 10; i++)
        coio_spawn(loop, num, (void *)i, NULL, &tasks[i]);
    int rc = coio_co_gather(tasks, 10, 0);        /* complete = await asyncio.gather(*tasks) */
    for (int i = 0; rc == COIO_OK && i < 10; i++) /* for i in complete: */
        printf("当前数字 %d\n", (int)(intptr_t)coio_future_value(tasks[i]));
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
