/* 04_call_at.c — "Display the current date with call_later()", rescheduling with call_at().
 *
 * The Python original (asyncio docs, "Event Loop" > "Examples"), with the callback
 * rescheduling itself through call_at() instead of call_later():
 *
 *     import asyncio
 *     import datetime
 *
 *     def display_date(end_time, loop):
 *         print(datetime.datetime.now())
 *         if (loop.time() + 1.0) < end_time:
 *             loop.call_at(loop.time() + 1.0, display_date, end_time, loop)
 *         else:
 *             loop.stop()
 *
 *     loop = asyncio.new_event_loop()
 *
 *     # Schedule the first call to display_date()
 *     end_time = loop.time() + 5.0
 *     loop.call_soon(display_date, end_time, loop)
 *
 *     # Blocking call interrupted by loop.stop()
 *     try:
 *         loop.run_forever()
 *     finally:
 *         loop.close()
 *
 * This port runs the loop in *virtual time* (COIO_LOOP_VIRTUAL_TIME): the loop's clock starts
 * at 0 and, whenever nothing is ready to run, jumps straight to the next timer's deadline
 * instead of sleeping.  The program takes no real time at all, and every loop time it prints
 * is exact, so the output is the same on every run — the same trick trio's MockClock and
 * tokio's paused time play for testing timeouts.  Instead of the wall-clock date (which would
 * not move in virtual time) it prints the loop time relative to the start.
 *
 * Expected output:
 *
 *     display_date at +0.000 s
 *     display_date at +1.000 s
 *     display_date at +2.000 s
 *     display_date at +3.000 s
 *     display_date at +4.000 s
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

/* display_date's arguments (end_time, loop), plus the start time to print relative times. */
struct display_args {
    coio_loop *loop;
    double start;
    double end_time;
};

static void display_date(void *arg) {
    struct display_args *args = arg;
    coio_loop *loop = args->loop;

    printf("display_date at +%.3f s\n", coio_loop_time(loop) - args->start);
    if (coio_loop_time(loop) + 1.0 < args->end_time) {
        /* loop.call_at(loop.time() + 1.0, display_date, end_time, loop)
         * The same struct is reused for every call: it lives in main, which outlives the loop,
         * so the registration needs no drop. */
        CHECK(coio_call_at(loop, coio_loop_time(loop) + 1.0, display_date, args, NULL, NULL));
    } else {
        CHECK(coio_loop_stop(loop));
    }
}

int main(void) {
    /* Options structs start with their size; the *_INIT macro fills it in with the defaults. */
    coio_loop_options opt = COIO_LOOP_OPTIONS_INIT;
    opt.flags |= COIO_LOOP_VIRTUAL_TIME;

    coio_loop *loop;
    CHECK(coio_loop_new(&loop, &opt));

    /* Schedule the first call to display_date() */
    struct display_args args = {.loop = loop, .start = coio_loop_time(loop)};
    args.end_time = args.start + 5.0;
    CHECK(coio_call_soon(loop, display_date, &args, NULL, NULL));

    /* Blocking call interrupted by coio_loop_stop() */
    int rc = coio_loop_run_forever(loop);

    /* try: ... finally: loop.close() */
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    CHECK(rc);
    return 0;
}
