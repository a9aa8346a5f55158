/* 01_run_coroutine.c — the tutorial's 01_run_coroutine.py in C (see README.md). */
#include <coio.h>
#include <stdio.h>

/* async def foo(): */
static int foo(coio_future *self, void *arg) {
    printf("这是一个协程\n");
    return COIO_OK;
}

int main(void) {
    coio_loop *loop = NULL; /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    printf("开始运行协程\n");
    coio_future *coro = NULL; /* foo(), as the task run_until_complete wraps it in */
    coio_spawn(loop, foo, NULL, NULL, &coro);
    printf("进入事件循环\n");
    int rc = coio_loop_run_until_complete(loop, coro);
    coio_future_release(coro);
    printf("关闭事件循环\n");
    coio_loop_release(loop);
    return rc != COIO_OK;
}
