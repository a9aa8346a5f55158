/* 14_gather_stages.c — the tutorial's 14_gather_stages.py in C (see README.md).
 *
 * time.time() is the loop's clock: in virtual time the sleeps take no time and the elapsed
 * times are exact. */
#include <coio.h>
#include <stdint.h>
#include <stdio.h>

static coio_loop *loop;

/* step1(n, start), step2(n, start) */
struct args {
    int n;
    double start;
};

/* async def step1(n, start): */
static int step1(coio_future *self, void *arg) {
    const struct args *a = arg;
    int rc = coio_co_sleep(a->n);
    if (rc) return rc;
    printf("第一阶段完成\n");
    printf("此时用时 %.1f\n", coio_loop_time(loop) - a->start);
    return coio_future_set_result(self, (void *)(intptr_t)a->n, NULL);
}

/* async def step2(n, start): */
static int step2(coio_future *self, void *arg) {
    const struct args *a = arg;
    int rc = coio_co_sleep(a->n);
    if (rc) return rc;
    printf("第二阶段完成\n");
    printf("此时用时 %.1f\n", coio_loop_time(loop) - a->start);
    return coio_future_set_result(self, (void *)(intptr_t)a->n, NULL);
}

/* async def main(): the arguments live on its stack, which outlasts both tasks */
static int main_(coio_future *self, void *arg) {
    double now = coio_loop_time(loop);
    coio_future *steps[2] = {NULL};
    coio_spawn(loop, step1, &(struct args){5, now}, NULL, &steps[0]);
    coio_spawn(loop, step2, &(struct args){2, now}, NULL, &steps[1]);
    int rc = coio_co_gather(steps, 2, 0);        /* result = await asyncio.gather(...) */
    for (int i = 0; rc == COIO_OK && i < 2; i++) /* for i in result: */
        printf("%d\n", (int)(intptr_t)coio_future_value(steps[i]));
    if (rc == COIO_OK) printf("总用时 %.1f\n", coio_loop_time(loop) - now);
    coio_future_release(steps[0]);
    coio_future_release(steps[1]);
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
