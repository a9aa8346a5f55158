/* 05_call_later.c — the tutorial's 05_call_later.py in C (see README.md). */
#include <coio.h>
#include <stdint.h>
#include <stdio.h>

static void callback(void *n) {
    printf("callback %d invoked\n", (int)(intptr_t)n);
}

/* async def main(loop): */
static int main_(coio_future *self, void *loop) {
    printf("注册callbacks\n");
    coio_call_later(loop, 0.2, callback, (void *)1, NULL, NULL);
    coio_call_later(loop, 0.1, callback, (void *)2, NULL, NULL);
    coio_call_soon(loop, callback, (void *)3, NULL, NULL);
    return coio_co_sleep(0.4);
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
