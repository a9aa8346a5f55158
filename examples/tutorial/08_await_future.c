/* 08_await_future.c — the tutorial's 08_await_future.py in C (see README.md). */
#include <coio.h>
#include <stdio.h>

/* foo(future, result) */
struct args {
    coio_future *future;
    const char *result;
};

static void foo(void *arg) {
    const struct args *a = arg;
    printf("设置结果到future %s\n", a->result);
    coio_future_set_result(a->future, (void *)a->result, NULL);
}

/* async def main(loop): */
static int main_(coio_future *self, void *loop) {
    coio_future *all_done = NULL;
    coio_future_new(loop, &all_done);
    printf("调用函数获取future对象\n");
    coio_call_soon(loop, foo, &(struct args){all_done, "the result"}, NULL, NULL);
    void *result;
    int rc = coio_await_take(all_done, &result);
    if (rc) return rc;
    printf("获取future里的结果 %s\n", (const char *)result);
    return COIO_OK;
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
