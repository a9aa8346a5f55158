/* 07_future_result.c — the tutorial's 07_future_result.py in C (see README.md). */
#include <coio.h>
#include <stdio.h>

/* repr(future): coio's repr has no file and line to strip */
static const char *shown(coio_future *future) {
    static char repr[128];
    coio_future_repr(future, repr, sizeof repr);
    return repr;
}

/* foo(future, result) */
struct args {
    coio_future *future;
    const char *result;
};

static void foo(void *arg) {
    const struct args *a = arg;
    printf("此时future的状态:%s\n", shown(a->future));
    printf("设置future的结果:%s\n", a->result);
    coio_future_set_result_repr(a->future, (void *)a->result, NULL, coio_repr_str);
    printf("此时future的状态:%s\n", shown(a->future));
}

int main(void) {
    coio_loop *loop = NULL; /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    coio_future *all_done = NULL;
    coio_future_new(loop, &all_done);
    coio_call_soon(loop, foo, &(struct args){all_done, "Future is done!"}, NULL, NULL);
    printf("进入事件循环\n");
    int rc = coio_loop_run_until_complete(loop, all_done);
    printf("返回结果 %s\n", (const char *)coio_future_value(all_done));
    printf("关闭事件循环\n");
    coio_loop_close(loop);
    printf("获取future的结果 %s\n", (const char *)coio_future_value(all_done));
    coio_future_release(all_done);
    coio_loop_release(loop);
    return rc != COIO_OK;
}
