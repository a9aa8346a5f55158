/* 11_task_result.c — the tutorial's 11_task_result.py in C (see README.md). */
#include <coio.h>
#include <stdio.h>

/* async def child(): */
static int child(coio_future *self, void *arg) {
    printf("进入子协程\n");
    return coio_future_set_result(self, "the result", NULL);
}

/* async def main(loop): */
static int main_(coio_future *self, void *loop) {
    printf("将协程child包装成任务\n");
    coio_future *task = NULL;
    coio_spawn(loop, child, NULL, NULL, &task);
    void *result;
    int rc = coio_await_take(task, &result); /* try: await task */
    if (rc == COIO_ECANCELLED)               /* except asyncio.CancelledError: */
        printf("取消任务抛出CancelledError异常\n");
    else if (rc == COIO_OK) /* else: */
        printf("获取任务的结果 %s\n", (const char *)result);
    return rc == COIO_ECANCELLED ? COIO_OK : rc;
}

int main(void) {
    coio_loop *loop = NULL; /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    coio_future *task = NULL;
    coio_spawn(loop, main_, loop, NULL, &task);
    int rc = coio_loop_run_until_complete(loop, task);
    coio_future_release(task);
    coio_loop_release(loop);
    return rc != COIO_OK;
}
