/* 05_future_done_callbacks.c — Future results, errors, cancellation and done callbacks.
 *
 * The Python original (loop-level Future API, as in the asyncio docs' "Futures" page):
 *
 *     import asyncio
 *     import functools
 *
 *     def report(name, fut):
 *         if fut.cancelled():
 *             print(f"  {name}: cancelled")
 *         elif fut.exception() is not None:
 *             print(f"  {name}: failed: {fut.exception()!r}")
 *         else:
 *             print(f"  {name}: result {fut.result()!r}")
 *
 *     loop = asyncio.new_event_loop()
 *
 *     print("-- a result --")
 *     fut = loop.create_future()
 *     fut.add_done_callback(functools.partial(report, "first"))
 *     fut.add_done_callback(functools.partial(report, "second"))
 *     unwanted = functools.partial(report, "unwanted")
 *     fut.add_done_callback(unwanted)
 *     print("remove_done_callback(unwanted) ->", fut.remove_done_callback(unwanted))
 *     fut.set_result("spam")
 *     print("set_result('spam') returned: no callback has run yet")
 *     fut.add_done_callback(functools.partial(report, "late"))
 *     print("add_done_callback(late) on a done future returned: late has not run yet")
 *     print("run_until_complete ->", repr(loop.run_until_complete(fut)))
 *
 *     print("-- cancelled --")
 *     fut = loop.create_future()
 *     fut.add_done_callback(functools.partial(report, "watcher"))
 *     print("cancel('no longer needed') ->", fut.cancel("no longer needed"))
 *     try:
 *         loop.run_until_complete(fut)
 *     except asyncio.CancelledError as exc:
 *         print("run_until_complete -> CancelledError:", exc)
 *
 *     print("-- failed --")
 *     fut = loop.create_future()
 *     fut.add_done_callback(functools.partial(report, "watcher"))
 *     fut.set_exception(TimeoutError("server took too long"))
 *     try:
 *         loop.run_until_complete(fut)
 *     except TimeoutError as exc:
 *         print("run_until_complete -> TimeoutError:", exc)
 *
 *     loop.close()
 *
 * Expected output:
 *
 *     -- a result --
 *     remove_done_callback(unwanted) -> 1
 *     set_result('spam') returned: no callback has run yet
 *     add_done_callback(late) on a done future returned: late has not run yet
 *       first: result 'spam'
 *       second: result 'spam'
 *       late: result 'spam'
 *     run_until_complete -> COIO_OK, result 'spam'
 *     -- cancelled --
 *     cancel('no longer needed') -> 1
 *       watcher: cancelled
 *     run_until_complete -> COIO_ECANCELLED; error: COIO_ECANCELLED 'no longer needed'
 *     -- failed --
 *       watcher: failed: COIO_ETIMEDOUT 'server took too long'
 *     run_until_complete -> COIO_EFAILED; error: COIO_ETIMEDOUT 'server took too long'
 *
 * What it shows, as in asyncio:
 *  - done callbacks run in registration order, through the loop's ready queue: completing a
 *    future only *schedules* them, and so does adding one to a future that is already done —
 *    a done callback never runs synchronously inside set_result or add_done_callback;
 *  - remove_done_callback takes back every registration of the same (fn, arg) pair and says
 *    how many it removed;
 *  - exceptions become (code, message) errors: coio_future_result says *that* the future
 *    failed (COIO_EFAILED) or was cancelled (COIO_ECANCELLED), coio_future_error says *how*
 *    (for a cancelled future: COIO_ECANCELLED and the cancel message).
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

/* functools.partial(report, name) becomes the pair (report, name).  remove_done_callback
 * matches registrations by that pair, so each name is one object with one address. */
static char FIRST[] = "first";
static char SECOND[] = "second";
static char UNWANTED[] = "unwanted";
static char LATE[] = "late";
static char WATCHER[] = "watcher";

/* A done callback: coio passes the future that completed and the registration's arg.
 * coio_future_result's status tells the three endings apart. */
static void report(coio_future *fut, void *arg) {
    const char *name = arg;
    void *value;
    int code;
    const char *message;

    int rc = coio_future_result(fut, &value);
    if (rc == COIO_ECANCELLED) {
        printf("  %s: cancelled\n", name);
    } else if (rc == COIO_EFAILED) {
        CHECK(coio_future_error(fut, &code, &message));
        printf("  %s: failed: %s '%s'\n", name, coio_status_name(code), message);
    } else {
        CHECK(rc);
        printf("  %s: result '%s'\n", name, (const char *)value);
    }
}

/* After run_until_complete, checks it returned `expected` and reads how the future ended. */
static void print_outcome(coio_future *fut, int rc, int expected) {
    if (rc != expected) {
        fprintf(stderr, "run_until_complete: expected %s, got %s\n", coio_status_name(expected),
                coio_status_name(rc));
        exit(1);
    }
    int code;
    const char *message;
    CHECK(coio_future_error(fut, &code, &message));
    printf("run_until_complete -> %s; error: %s '%s'\n", coio_status_name(rc),
           coio_status_name(code), message ? message : "");
}

int main(void) {
    coio_loop *loop;
    coio_future *fut;
    void *value;
    int rc;

    CHECK(coio_loop_new(&loop, NULL));

    printf("-- a result --\n");
    CHECK(coio_future_new(loop, &fut));
    CHECK(coio_future_add_done_callback(fut, report, FIRST, NULL));
    CHECK(coio_future_add_done_callback(fut, report, SECOND, NULL));
    CHECK(coio_future_add_done_callback(fut, report, UNWANTED, NULL));
    rc = coio_future_remove_done_callback(fut, report, UNWANTED);
    CHECK(rc);
    printf("remove_done_callback(unwanted) -> %d\n", rc);

    /* The future owns its value; "spam" is a literal, so there is nothing to drop. */
    CHECK(coio_future_set_result(fut, "spam", NULL));
    printf("set_result('spam') returned: no callback has run yet\n");

    CHECK(coio_future_add_done_callback(fut, report, LATE, NULL));
    printf("add_done_callback(late) on a done future returned: late has not run yet\n");

    /* fut is already done, yet, as in asyncio, running the loop until it is complete still
     * makes a pass over the ready queue: that is where first, second and late run. */
    CHECK(coio_loop_run_until_complete(loop, fut));
    CHECK(coio_future_result(fut, &value));
    printf("run_until_complete -> COIO_OK, result '%s'\n", (const char *)value);
    coio_future_release(fut);

    printf("-- cancelled --\n");
    CHECK(coio_future_new(loop, &fut));
    CHECK(coio_future_add_done_callback(fut, report, WATCHER, NULL));
    rc = coio_future_cancel(fut, "no longer needed"); /* the message is copied */
    CHECK(rc);
    printf("cancel('no longer needed') -> %d\n", rc);
    /* Python raises CancelledError out of run_until_complete; coio returns the status. */
    rc = coio_loop_run_until_complete(loop, fut);
    print_outcome(fut, rc, COIO_ECANCELLED);
    coio_future_release(fut);

    printf("-- failed --\n");
    CHECK(coio_future_new(loop, &fut));
    CHECK(coio_future_add_done_callback(fut, report, WATCHER, NULL));
    /* set_exception(TimeoutError(...)) becomes an error code plus a message (copied).  Any
     * nonzero code will do; timeouts use COIO_ETIMEDOUT throughout coio. */
    CHECK(coio_future_set_error(fut, COIO_ETIMEDOUT, "server took too long"));
    rc = coio_loop_run_until_complete(loop, fut);
    /* Reading the error marks it retrieved: otherwise releasing a failed future reports
     * "Future exception was never retrieved" through the loop's exception handler. */
    print_outcome(fut, rc, COIO_EFAILED);
    coio_future_release(fut);

    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return 0;
}
