/* 09_future_callbacks.c — the tutorial's 09_future_callbacks.py in C (see README.md).
 *
 * functools.partial(callback, n=1): n is the registration's argument. */
#include <coio.h>
#include <stdint.h>
#include <stdio.h>

static void callback(coio_future *future, void *n) {
    printf("%d: future done: %s\n", (int)(intptr_t)n, (const char *)coio_future_value(future));
}

/* async def register_callbacks(all_done): awaited, so a plain call (see 03) */
static void register_callbacks(coio_future *all_done) {
    printf("注册callback到future对象\n");
    coio_future_add_done_callback(all_done, callback, (void *)1, NULL);
    coio_future_add_done_callback(all_done, callback, (void *)2, NULL);
}

/* async def main(all_done): */
static int main_(coio_future *self, void *all_done) {
    register_callbacks(all_done);
    printf("设置future的结果\n");
    return coio_future_set_result(all_done, "the result", NULL);
}

int main(void) {
    coio_loop *loop = NULL; /* asyncio.new_event_loop(), in virtual time */
    coio_loop_new(&loop, &(coio_loop_options){.size = sizeof(coio_loop_options),
                                              .flags = COIO_LOOP_VIRTUAL_TIME});
    coio_future *all_done = NULL, *task = NULL;
    coio_future_new(loop, &all_done);
    coio_spawn(loop, main_, all_done, NULL, &task);
    int rc = coio_loop_run_until_complete(loop, task);
    coio_future_release(task);
    coio_future_release(all_done);
    coio_loop_release(loop);
    return rc != COIO_OK;
}
