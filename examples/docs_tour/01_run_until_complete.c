/* 01_run_until_complete.c — a future, completed by a callback, driven by run_until_complete.
 *
 * The Python original (the callback form of the Future example in the asyncio docs):
 *
 *     import asyncio
 *
 *     def set_after(fut):
 *         # Set '... world' as the result of the *fut* Future.
 *         fut.set_result('... world')
 *
 *     loop = asyncio.new_event_loop()
 *
 *     # Create a new Future object.
 *     fut = loop.create_future()
 *
 *     # Schedule set_after() to run on the loop's next pass.
 *     loop.call_soon(set_after, fut)
 *
 *     print('hello ...')
 *
 *     # Run the loop until *fut* has a result, and print it.
 *     print(loop.run_until_complete(fut))
 *     loop.close()
 *
 * Expected output:
 *
 *     hello ...
 *     ... world
 */
#include <coio.h>

#include <stdio.h>
#include <stdlib.h>

/* Every coio call that can fail returns a status: COIO_OK (0) or a negative COIO_E* code.
 * A tutorial has nothing better to do with a failure than to say which call failed. */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        int check_rc_ = (call);                                                                    \
        if (check_rc_ < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                          \
                    coio_status_name(check_rc_));                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* A coio callback takes one `void *`; here it is the future to complete. */
static void set_after(void *arg) {
    coio_future *fut = arg;
    /* The future owns its value and would call the `drop` given here when it is freed.  A
     * string literal needs no freeing, so the drop is NULL. */
    CHECK(coio_future_set_result(fut, "... world", NULL));
}

/* The `drop` of the call_soon registration: it gives back the reference the callback held. */
static void release_future(void *arg) {
    coio_future_release(arg);
}

int main(void) {
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL)); /* NULL options: the defaults */

    /* fut = loop.create_future() */
    coio_future *fut;
    CHECK(coio_future_new(loop, &fut));

    /* loop.call_soon(set_after, fut)
     *
     * Python keeps `fut` alive for as long as the callback refers to it; in C we say so: the
     * callback gets its own reference, and the registration's drop releases it once the
     * callback has run (or was cancelled, or the loop closed without running it).  We pass
     * NULL for the handle out-parameter because we never want to cancel this call. */
    CHECK(coio_call_soon(loop, set_after, coio_future_ref(fut), release_future, NULL));

    printf("hello ...\n");

    /* print(loop.run_until_complete(fut))
     *
     * run_until_complete returns the future's outcome as a status (COIO_OK here); the value
     * itself is read with coio_future_result, borrowed from the future. */
    CHECK(coio_loop_run_until_complete(loop, fut));
    void *value;
    CHECK(coio_future_result(fut, &value));
    printf("%s\n", (const char *)value);

    /* loop.close() — then drop our references.  Releasing the future frees it (and would
     * drop its value); releasing the loop frees it. */
    coio_future_release(fut);
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return 0;
}
