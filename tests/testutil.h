/* Shared helpers for the cmocka suites. */
#ifndef COIO_TESTUTIL_H
#define COIO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <coio.h>
#include <math.h>

/* assert_status(call, COIO_X): on failure names both statuses. */
#define assert_status(expr, expected)                                                              \
    do {                                                                                           \
        int as_got_ = (expr), as_want_ = (expected);                                               \
        if (as_got_ != as_want_)                                                                   \
            fail_msg("%s returned %s (%d), expected %s (%d)", #expr, coio_status_name(as_got_),    \
                     as_got_, coio_status_name(as_want_), as_want_);                               \
    } while (0)

/* assert_double_eq(a, b, eps): |a - b| <= eps, printing both values. */
#define assert_double_eq(a, b, eps)                                                                \
    do {                                                                                           \
        double ade_a_ = (a), ade_b_ = (b);                                                         \
        if (!(fabs(ade_a_ - ade_b_) <= (eps)))                                                     \
            fail_msg("%s = %.9f, expected %.9f (%s)", #a, ade_a_, ade_b_, #b);                     \
    } while (0)

/* The real monotonic clock in seconds (for "never early" checks and safety limits). */
double tu_wall_now(void);

/* Runs exactly one pass of the loop (stop first, as asyncio's run_forever after stop()). */
void tu_run_one_pass(coio_loop *loop);

/* Closes and releases a loop, asserting both succeed. */
void tu_finish(coio_loop *loop);

/* A loop in virtual time (the usual test loop) or real time. */
coio_loop *tu_loop_virtual(void);
coio_loop *tu_loop_real(void);

/* A recorder of callback invocations: each `tu_record` callback appends its tag. */
typedef struct tu_log {
    int n;
    int tags[256];
} tu_log;

typedef struct tu_rec {
    tu_log *log;
    int tag;
} tu_rec;

/* coio_callback that appends rec->tag to rec->log. */
void tu_record(void *rec);

/* A drop counter: tu_count_drop increments *(int *)p. */
void tu_count_drop(void *p);

/* An exception handler that counts reports and keeps the last message (static storage). */
typedef struct tu_reports {
    int n;
    int last_code;
    char last_message[256];
    char last_error[256];
} tu_reports;
void tu_capture_reports(coio_loop *loop, tu_reports *r);

/* A pass counter: counts one per pass (a call_soon chain) until n reaches limit. */
typedef struct tu_ticker {
    coio_loop *loop;
    int n;
    int limit;
} tu_ticker;
void tu_start_ticker(tu_ticker *t, coio_loop *loop, int limit);

/* A done future's error code / message (coio_future_error asserted to succeed). */
int tu_error_code(coio_future *f);
const char *tu_error_message(coio_future *f);

/* f is still pending / done with a NULL result. */
void tu_assert_pending(coio_future *f);
void tu_assert_done_null(coio_future *f);

/* coio_sleep, asserting success. */
coio_future *tu_sleep(coio_loop *loop, double delay);

/* call_soon payloads that complete a future: with value, with (code, message, payload), or by
 * cancelling it with message. */
typedef struct tu_completer {
    coio_future *f;
    void *value;
    int code;
    const char *message;
    void *payload;
    coio_free_fn payload_drop;
} tu_completer;
void tu_complete_result(void *completer);
void tu_complete_error(void *completer);
void tu_complete_cancel(void *completer);

#endif
