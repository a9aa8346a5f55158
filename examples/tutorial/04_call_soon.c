/* 04_call_soon.c — the tutorial's 04_call_soon.py in C (see README.md). */
#include <coio.h>
#include <stdio.h>

/* callback(args, *, kwargs="defalut"): the arguments in one struct */
struct args {
    int args;
    const char *kwargs;
};

static void callback(void *arg) {
    const struct args *a = arg;
    printf("普通函数做为回调函数,获取参数:%d,%s\n", a->args, a->kwargs);
}

/* async def main(loop): the arguments live on its stack, which outlasts the callbacks */
static int main_(coio_future *self, void *loop) {
    printf("注册callback\n");
    coio_call_soon(loop, callback, &(struct args){1, "defalut"}, NULL, NULL);
    /* wrapped = functools.partial(callback, kwargs="not defalut"): the struct carries it */
    coio_call_soon(loop, callback, &(struct args){2, "not defalut"}, NULL, NULL);
    return coio_co_sleep(0.2);
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
