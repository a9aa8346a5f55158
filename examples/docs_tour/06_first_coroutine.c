/* 06_first_coroutine.c — the first coroutine: print, await a sleep, print.
 *
 * The Python original (asyncio docs, "Coroutines and Tasks" > "Coroutines"):
 *
 *     import asyncio
 *
 *     async def main():
 *         print('hello')
 *         await asyncio.sleep(1)
 *         print('world')
 *
 *     asyncio.run(main())
 *
 * Expected output (one second apart):
 *
 *     hello
 *     world
 *
 * A coio coroutine is an ordinary C function, int fn(coio_future *self, void *arg), that
 * coio_spawn runs on a stack of its own.  coio_await suspends it there — the loop goes on
 * running other callbacks and tasks — and resumes it, with its local variables intact, once
 * the awaited future is done.  `self` is the task: a task *is* a future (asyncio's Task
 * subclasses Future), and the coroutine finishes it by returning.
 *
 * asyncio.run(main()) is, spelled out: a new loop, main() wrapped in a task, the loop run
 * until that task is done, the loop closed.
 */
#include <coio.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int check_rc_ = (call);                                                                    \
        if (check_rc_ < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                          \
                    coio_status_name(check_rc_));                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* async def main(): — a coroutine body.  `self` is the task running it; it gives the loop. */
static int main_coro(coio_future *self, void *arg) {
    (void)arg;
    coio_loop *loop = coio_future_loop(self);

    printf("hello\n");

    /* await asyncio.sleep(1)
     *
     * coio_sleep makes a future that completes one second from now; coio_await suspends this
     * coroutine until it does.  The sleep future is a reference we own: release it once
     * awaited. */
    coio_future *sleep;
    CHECK(coio_sleep(loop, 1.0, &sleep));
    int rc = coio_await(sleep, NULL); /* NULL: we do not want the (NULL) result */
    coio_future_release(sleep);
    CHECK(rc);

    printf("world\n");

    /* Returning COIO_OK finishes the task successfully (with a NULL result). */
    return COIO_OK;
}

int main(void) {
    /* asyncio.run(main()) */
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL));

    /* The task does not start here: its first step is scheduled on the loop, as with
     * asyncio.create_task().  `task` is a reference we own. */
    coio_future *task;
    CHECK(coio_spawn(loop, main_coro, NULL, NULL, &task));

    /* Runs the loop until the task is done and returns the task's outcome. */
    CHECK(coio_loop_run_until_complete(loop, task));

    coio_future_release(task);
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return 0;
}
