/* 06_call_at.c — the tutorial's 06_call_at.py in C (see README.md). */
#include <coio.h>
#include <stdint.h>
#include <stdio.h>

static coio_loop *loop;
static double start;

/* call_back(n, loop) */
static void call_back(void *n) {
    printf("callback %d 运行时间点+%.1f\n", (int)(intptr_t)n, coio_loop_time(loop) - start);
}

/* async def main(loop): */
static int main_(coio_future *self, void *arg) {
    double now = coio_loop_time(loop);
    start = now;
    printf("当前的内部时间 %s\n", "+0.0");
    printf("循环时间 %s\n", "+0.0");
    printf("注册callback\n");
    coio_call_at(loop, now + 0.1, call_back, (void *)1, NULL, NULL);
    coio_call_at(loop, now + 0.2, call_back, (void *)2, NULL, NULL);
    coio_call_soon(loop, call_back, (void *)3, NULL, NULL);
    return coio_co_sleep(1);
}

int main(void) {
    /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    printf("进入事件循环\n");
    coio_future *task = NULL;
    coio_spawn(loop, main_, loop, NULL, &task);
    int rc = coio_loop_run_until_complete(loop, task);
    coio_future_release(task);
    printf("关闭循环\n");
    coio_loop_release(loop);
    return rc != COIO_OK;
}
