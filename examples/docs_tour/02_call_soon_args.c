/* 02_call_soon_args.c — "Hello World with call_soon()": a callback with arguments that stops
 * the loop.
 *
 * The Python original (asyncio docs, "Event Loop" > "Examples"):
 *
 *     import asyncio
 *
 *     def hello_world(loop):
 *         """A callback to print 'Hello World' and stop the event loop"""
 *         print('Hello World')
 *         loop.stop()
 *
 *     loop = asyncio.new_event_loop()
 *
 *     # Schedule a call to hello_world()
 *     loop.call_soon(hello_world, loop)
 *
 *     # Blocking call interrupted by loop.stop()
 *     try:
 *         loop.run_forever()
 *     finally:
 *         loop.close()
 *
 * Expected output:
 *
 *     Hello World
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

/* Python's call_soon(callback, *args) passes any number of arguments; a coio callback takes
 * a single `void *`.  Several arguments travel together in a struct. */
struct hello_args {
    coio_loop *loop;
    const char *greeting;
    const char *name;
};

/* A callback to print 'Hello World' and stop the event loop. */
static void hello_world(void *arg) {
    struct hello_args *args = arg;
    printf("%s %s\n", args->greeting, args->name);
    /* Like loop.stop(): run_forever returns once the current pass is finished. */
    CHECK(coio_loop_stop(args->loop));
}

int main(void) {
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL));

    /* The arguments must outlive this statement, so they go on the heap.  Passing `free` as
     * the registration's drop hands them to coio: it calls free(args) exactly once, when the
     * registration ends — after hello_world has run, or if it is cancelled, or if the loop is
     * closed before it runs.  (If coio_call_soon itself fails, the caller keeps `args`.) */
    struct hello_args *args = malloc(sizeof *args);
    if (args == NULL) return 1;
    args->loop = loop;
    args->greeting = "Hello";
    args->name = "World";

    /* Schedule a call to hello_world() */
    int rc = coio_call_soon(loop, hello_world, args, free, NULL);
    if (rc != COIO_OK) {
        fprintf(stderr, "coio_call_soon: %s\n", coio_strerror(rc));
        free(args);
        return 1;
    }

    /* Blocking call interrupted by coio_loop_stop() */
    rc = coio_loop_run_forever(loop);

    /* try: ... finally: loop.close() */
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    CHECK(rc);
    return 0;
}
