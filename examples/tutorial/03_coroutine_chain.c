/* 03_coroutine_chain.c — the tutorial's 03_coroutine_chain.py in C (see README.md).
 *
 * `await result1()` runs a coroutine inside the awaiting one, without a task: coio's
 * coroutines are stackful, so that is a plain C call (and a plain C function may await). */
#include <coio.h>
#include <stdio.h>
#include <stdlib.h>

static const char *result1(void);
static char *result2(const char *arg);

/* the tuple (res1, res2) */
struct result {
    const char *res1;
    char *res2;
};

static void result_free(void *p) {
    free(((struct result *)p)->res2);
    free(p);
}

/* async def main(): */
static int main_(coio_future *self, void *arg) {
    printf("主协程\n");
    printf("等待result1协程运行\n");
    const char *res1 = result1();
    printf("等待result2协程运行\n");
    char *res2 = result2(res1);
    struct result *tuple = malloc(sizeof *tuple);
    *tuple = (struct result){res1, res2};
    return coio_future_set_result(self, tuple, result_free); /* return (res1,res2) */
}

/* async def result1(): */
static const char *result1(void) {
    printf("这是result1协程\n");
    return "result1";
}

/* async def result2(arg): */
static char *result2(const char *arg) {
    printf("这是result2协程\n");
    char *s = malloc(64);
    snprintf(s, 64, "result2接收了一个参数,%s", arg);
    return s;
}

int main(void) {
    coio_loop *loop = NULL; /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    coio_future *task = NULL;
    coio_spawn(loop, main_, NULL, NULL, &task);
    int rc = coio_loop_run_until_complete(loop, task);
    const struct result *result = coio_future_value(task);
    if (result) printf("获取返回值:('%s', '%s')\n", result->res1, result->res2);
    coio_future_release(task);
    printf("关闭事件循环\n");
    coio_loop_release(loop);
    return rc != COIO_OK;
}
