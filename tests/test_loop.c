/* cmocka suite for the event loop: creation and options, the clock, run/stop semantics,
 * state errors (EBUSY / ECLOSED), the exception handler, debug mode, cross-thread wake-ups,
 * statuses and versions.  asyncio (3.13) is the reference; the header's comments are binding.
 *
 * Callbacks record what they see and the test asserts after the loop returns, so a failing
 * check never longjmps out of the library's frames. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void noop(void *arg) {
    (void)arg;
}

static void stop_loop(void *loop) {
    coio_loop_stop(loop);
}

/* ---- loop_new and options --------------------------------------------------------------- */

static void test_new_null_out(void **state) {
    (void)state;
    assert_status(coio_loop_new(NULL, NULL), COIO_EINVAL);
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    assert_status(coio_loop_new(NULL, &o), COIO_EINVAL);
}

static void test_new_defaults(void **state) {
    (void)state;
    coio_loop *loop = NULL;
    assert_status(coio_loop_new(&loop, NULL), COIO_OK);
    assert_non_null(loop);
    assert_int_equal(coio_loop_is_running(loop), 0);
    assert_int_equal(coio_loop_is_closed(loop), 0);
    assert_int_equal(coio_loop_get_debug(loop), 0);
    uint32_t b = coio_loop_backend(loop);
    assert_int_not_equal(b, 0);
    assert_int_equal(b & (b - 1), 0); /* exactly one backend */
    /* the default clock is real: it is not the virtual clock's 0.0 forever */
    assert_false(isnan(coio_loop_time(loop)));
    assert_status(coio_loop_release(loop), COIO_OK);

    /* COIO_LOOP_OPTIONS_INIT is the same as NULL */
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    loop = NULL;
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    assert_non_null(loop);
    assert_int_equal(coio_loop_get_debug(loop), 0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_new_bad_options(void **state) {
    (void)state;
    coio_loop *const sentinel = (coio_loop *)(uintptr_t)0x1234;
    coio_loop *loop = sentinel;

    /* a larger size than the library knows */
    struct {
        coio_loop_options o;
        char extra[16];
    } big;
    memset(&big, 0, sizeof big);
    coio_loop_options init = COIO_LOOP_OPTIONS_INIT;
    big.o = init;
    big.o.size = (uint32_t)sizeof big;
    assert_status(coio_loop_new(&loop, &big.o), COIO_EINVAL);
    assert_ptr_equal(loop, sentinel);

    /* unknown flag bits */
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = 0x80000000u;
    assert_status(coio_loop_new(&loop, &o), COIO_EINVAL);
    assert_ptr_equal(loop, sentinel);
    o.flags = COIO_LOOP_DEBUG | 0x100u;
    assert_status(coio_loop_new(&loop, &o), COIO_EINVAL);
    assert_ptr_equal(loop, sentinel);

    /* NaN or negative slow_callback_duration */
    coio_loop_options o2 = COIO_LOOP_OPTIONS_INIT;
    o2.slow_callback_duration = NAN;
    assert_status(coio_loop_new(&loop, &o2), COIO_EINVAL);
    assert_ptr_equal(loop, sentinel);
    o2.slow_callback_duration = -0.5;
    assert_status(coio_loop_new(&loop, &o2), COIO_EINVAL);
    assert_ptr_equal(loop, sentinel);
    o2.flags = COIO_LOOP_DEBUG;
    o2.slow_callback_duration = -1.0;
    assert_status(coio_loop_new(&loop, &o2), COIO_EINVAL);
    assert_ptr_equal(loop, sentinel);
}

static void test_new_smaller_known_size(void **state) {
    (void)state;
    /* An older caller that does not know slow_callback_duration: the field lies beyond its
     * size, so garbage there (NaN) must be ignored, and the default used. */
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.size = (uint32_t)offsetof(coio_loop_options, slow_callback_duration);
    o.flags = COIO_LOOP_VIRTUAL_TIME;
    o.slow_callback_duration = NAN;
    coio_loop *loop = NULL;
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    assert_non_null(loop);
    /* the fields it does know are honoured */
    assert_double_eq(coio_loop_time(loop), 0.0, 0.0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void check_backend(uint32_t backend) {
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.backend = backend;
    coio_loop *loop = NULL;
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    assert_non_null(loop);
    assert_int_equal(coio_loop_backend(loop), backend);
    /* it works: a callback and a real (short) timer */
    int drops = 0;
    assert_status(coio_call_soon(loop, noop, &drops, tu_count_drop, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 0.002, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(drops, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_new_backends(void **state) {
    (void)state;
    check_backend(COIO_BACKEND_POLL);
    check_backend(COIO_BACKEND_SELECT);
}

static void test_new_unavailable_backend(void **state) {
    (void)state;
#if defined(__linux__)
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.backend = COIO_BACKEND_KQUEUE;
    coio_loop *const sentinel = (coio_loop *)(uintptr_t)0x1234;
    coio_loop *loop = sentinel;
    assert_status(coio_loop_new(&loop, &o), COIO_ENOTSUP);
    assert_ptr_equal(loop, sentinel);
#else
    skip();
#endif
}

static void test_backend_null(void **state) {
    (void)state;
    assert_int_equal(coio_loop_backend(NULL), 0);
}

/* ---- time ------------------------------------------------------------------------------- */

static void test_time_monotonic(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    double prev = coio_loop_time(loop);
    assert_false(isnan(prev));
    for (int i = 0; i < 20000; i++) {
        double t = coio_loop_time(loop);
        if (t < prev) fail_msg("time went backwards: %.9f after %.9f", t, prev);
        prev = t;
    }
    /* read fresh, not a stale cache: 3 ms of sleep shows up (it may show more, never less) */
    double t0 = coio_loop_time(loop);
    sleep_ms(3);
    double t1 = coio_loop_time(loop);
    if (!(t1 - t0 >= 0.002)) fail_msg("time moved %.6f s over a 3 ms sleep", t1 - t0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* coio_loop_time is CLOCK_MONOTONIC read fresh, though not through clock_gettime on every
 * call (it scales the time-stamp counter between readings of the real clock): each value lies
 * between clock_gettime readings taken just before and just after it, give or take what the
 * interpolation may err (tens of nanoseconds; 100 us allowed), and none goes back.  Checked
 * over 60 ms, so through the counter's calibrations (at 1 and 10 ms) and many anchors (one
 * per millisecond), outside the loop and in callbacks of the running loop. */
static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct clock_track {
    coio_loop *loop;
    double prev;  /* the last coio_loop_time */
    double worst; /* the largest distance outside [before, after] */
    double until;
    double timer_when, timer_ran_at;
} clock_track;

static void clock_track_read(clock_track *k) {
    double before = monotonic_now();
    double t = coio_loop_time(k->loop);
    double after = monotonic_now();
    if (t < k->prev) fail_msg("time went backwards: %.9f after %.9f", t, k->prev);
    k->prev = t;
    double off = t < before ? before - t : t > after ? t - after : 0.0;
    if (off > k->worst) k->worst = off;
}

static void cb_clock_track(void *p) {
    clock_track *k = p;
    for (int i = 0; i < 100; i++)
        clock_track_read(k);
    if (monotonic_now() < k->until)
        assert_status(coio_call_soon(k->loop, cb_clock_track, k, NULL, NULL), COIO_OK);
    else
        coio_loop_stop(k->loop);
}

static void cb_clock_timer(void *p) {
    clock_track *k = p;
    k->timer_ran_at = coio_loop_time(k->loop);
}

static void test_time_tracks_the_monotonic_clock(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    clock_track k = {.loop = loop, .prev = -INFINITY};
    k.until = monotonic_now() + 0.03;
    while (monotonic_now() < k.until)
        clock_track_read(&k);
    k.until = monotonic_now() + 0.03;
    k.timer_when = coio_loop_time(loop) + 0.002;
    assert_status(coio_call_at(loop, k.timer_when, cb_clock_timer, &k, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, cb_clock_track, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    if (k.worst > 100e-6) fail_msg("coio_loop_time strayed %.9f s from CLOCK_MONOTONIC", k.worst);
    /* a timer never runs before its deadline as coio_loop_time sees it */
    if (!(k.timer_ran_at >= k.timer_when))
        fail_msg("timer for %.9f ran at %.9f", k.timer_when, k.timer_ran_at);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* coio_loop_time from another thread while the loop runs (a misuse: the loop's functions are
 * for its thread) does not touch the clock the loop thread keeps updating: it reads
 * CLOCK_MONOTONIC itself, or says NaN for a virtual clock, which has no answer there.  The
 * reader starts and ends while the loop runs (TSan checks the rest). */
typedef struct other_reader {
    coio_loop *loop;
    int virtual_time;
    pthread_t thread;
    int started;
    atomic_int done;
    int bad; /* readings outside [before, after] (real time) or not NaN (virtual time) */
} other_reader;

static void *read_time_elsewhere(void *p) {
    other_reader *r = p;
    for (int i = 0; i < 20000; i++) {
        double before = monotonic_now();
        double t = coio_loop_time(r->loop);
        double after = monotonic_now();
        if (r->virtual_time ? !isnan(t) : !(t >= before - 1e-4 && t <= after + 1e-4)) r->bad++;
    }
    atomic_store(&r->done, 1);
    return NULL;
}

static void cb_read_time_until_done(void *p) {
    other_reader *r = p;
    if (!r->started) {
        assert_int_equal(pthread_create(&r->thread, NULL, read_time_elsewhere, r), 0);
        r->started = 1;
    }
    (void)coio_loop_time(r->loop); /* the loop thread reads (and anchors) its clock meanwhile */
    if (atomic_load(&r->done))
        coio_loop_stop(r->loop);
    else
        assert_status(coio_call_soon(r->loop, cb_read_time_until_done, r, NULL, NULL), COIO_OK);
}

static void run_time_elsewhere(coio_loop *loop, int virtual_time) {
    other_reader r = {.loop = loop, .virtual_time = virtual_time};
    atomic_init(&r.done, 0);
    assert_status(coio_call_soon(loop, cb_read_time_until_done, &r, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    pthread_join(r.thread, NULL);
    assert_int_equal(r.bad, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_time_from_another_thread(void **state) {
    (void)state;
    run_time_elsewhere(tu_loop_real(), 0);
    run_time_elsewhere(tu_loop_virtual(), 1);
}

static void test_time_virtual(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_double_eq(coio_loop_time(loop), 0.0, 0.0);
    sleep_ms(3);
    assert_double_eq(coio_loop_time(loop), 0.0, 0.0);
    /* a pass with only ready callbacks does not move it either */
    assert_status(coio_call_soon(loop, noop, NULL, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_double_eq(coio_loop_time(loop), 0.0, 0.0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_time_null(void **state) {
    (void)state;
    assert_true(isnan(coio_loop_time(NULL)));
}

/* ---- run_forever / stop ----------------------------------------------------------------- */

typedef struct order {
    coio_loop *loop;
    char log[64];
    int n;
} order;

static void order_add(order *o, char c) {
    if (o->n < (int)sizeof o->log - 1) o->log[o->n++] = c;
    o->log[o->n] = '\0';
}

static void cb_late(void *p) {
    order_add(p, 'l');
}
static void cb_same(void *p) {
    order_add(p, 'b');
}
static void cb_stopper(void *p) {
    order *o = p;
    order_add(o, 's');
    coio_loop_stop(o->loop);
    coio_call_soon(o->loop, cb_late, o, NULL, NULL);
}

static void test_stop_from_callback(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    order o = {.loop = loop};
    assert_status(coio_call_soon(loop, cb_stopper, &o, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, cb_same, &o, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    /* the pass is finished ('b' was ready in it); what 's' scheduled waits */
    assert_string_equal(o.log, "sb");
    assert_int_equal(coio_loop_is_running(loop), 0);
    /* the stop was consumed: the next run does its pass then runs until stopped again */
    tu_run_one_pass(loop);
    assert_string_equal(o.log, "sbl");
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void cb_a_schedules_c(void *p) {
    order *o = p;
    order_add(o, 'a');
    coio_call_soon(o->loop, cb_late, o, NULL, NULL);
}

static void test_stop_before_run(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    order o = {.loop = loop};
    assert_status(coio_call_soon(loop, cb_a_schedules_c, &o, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, cb_same, &o, NULL, NULL), COIO_OK);
    assert_status(coio_loop_stop(loop), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    /* exactly one pass: a and b, not what a scheduled (asyncio prints ['a', 'b']) */
    assert_string_equal(o.log, "ab");
    tu_run_one_pass(loop);
    assert_string_equal(o.log, "abl");
    /* nothing scheduled at all: a stopped run still returns */
    tu_run_one_pass(loop);
    assert_string_equal(o.log, "abl");
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_stop_real_loop_idle(void **state) {
    (void)state;
    /* stop before run on an idle real loop with a far timer: returns without waiting */
    coio_loop *loop = tu_loop_real();
    int drops = 0;
    assert_status(coio_call_later(loop, 3600.0, noop, &drops, tu_count_drop, NULL), COIO_OK);
    double w0 = tu_wall_now();
    tu_run_one_pass(loop);
    assert_true(tu_wall_now() - w0 < 30.0);
    assert_int_equal(drops, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(drops, 1);
}

static void test_stop_null(void **state) {
    (void)state;
    assert_status(coio_loop_stop(NULL), COIO_EINVAL);
    assert_status(coio_loop_run_forever(NULL), COIO_EINVAL);
}

/* ---- state: is_running, EBUSY, close, ECLOSED, release ---------------------------------- */

typedef struct busy {
    coio_loop *loop;
    coio_future *f;
    int ran;
    int running_inside;
    int closed_inside;
    int st_run_forever, st_run_until_complete, st_close, st_release;
} busy;

static void cb_busy(void *p) {
    busy *b = p;
    b->ran++;
    b->running_inside = coio_loop_is_running(b->loop);
    b->closed_inside = coio_loop_is_closed(b->loop);
    b->st_run_forever = coio_loop_run_forever(b->loop);
    b->st_run_until_complete = coio_loop_run_until_complete(b->loop, b->f);
    b->st_close = coio_loop_close(b->loop);
    b->st_release = coio_loop_release(b->loop);
    coio_loop_stop(b->loop);
}

static void test_busy_inside_callback(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    busy b = {.loop = loop};
    assert_status(coio_future_new(loop, &b.f), COIO_OK);
    assert_int_equal(coio_loop_is_running(loop), 0);
    assert_status(coio_call_soon(loop, cb_busy, &b, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(b.ran, 1);
    assert_int_equal(b.running_inside, 1);
    assert_int_equal(b.closed_inside, 0);
    assert_status(b.st_run_forever, COIO_EBUSY);
    assert_status(b.st_run_until_complete, COIO_EBUSY);
    assert_status(b.st_close, COIO_EBUSY);
    assert_status(b.st_release, COIO_EBUSY);
    assert_int_equal(coio_loop_is_running(loop), 0);
    assert_int_equal(coio_loop_is_closed(loop), 0);
    /* nothing was done by the refused calls: the loop still works */
    int drops = 0;
    assert_status(coio_call_soon(loop, noop, &drops, tu_count_drop, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(drops, 1);
    coio_future_release(b.f);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_is_running_closed_null(void **state) {
    (void)state;
    assert_int_equal(coio_loop_is_running(NULL), 0);
    assert_int_equal(coio_loop_is_closed(NULL), 1);
    assert_status(coio_loop_close(NULL), COIO_EINVAL);
}

static void test_close_idempotent_and_eclosed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    int drops = 0;
    assert_status(coio_call_soon(loop, noop, &drops, tu_count_drop, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, noop, &drops, tu_count_drop, NULL), COIO_OK);

    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(drops, 2); /* every scheduled callback discarded, drop ran */
    assert_int_equal(coio_loop_is_closed(loop), 1);
    assert_int_equal(coio_loop_is_running(loop), 0);
    assert_status(coio_loop_close(loop), COIO_OK); /* idempotent */
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(drops, 2);

    assert_status(coio_loop_run_forever(loop), COIO_ECLOSED);
    assert_status(coio_loop_run_until_complete(loop, f), COIO_ECLOSED);

    int cdrops = 0;
    coio_handle *const sentinel = (coio_handle *)(uintptr_t)0x5678;
    coio_handle *h = sentinel;
    assert_status(coio_call_soon(loop, noop, &cdrops, tu_count_drop, &h), COIO_ECLOSED);
    assert_ptr_equal(h, sentinel);
    assert_status(coio_call_later(loop, 1.0, noop, &cdrops, tu_count_drop, &h), COIO_ECLOSED);
    assert_ptr_equal(h, sentinel);
    assert_status(coio_call_at(loop, 1.0, noop, &cdrops, tu_count_drop, &h), COIO_ECLOSED);
    assert_ptr_equal(h, sentinel);
    assert_status(coio_call_soon_threadsafe(loop, noop, &cdrops, tu_count_drop), COIO_ECLOSED);
    assert_int_equal(cdrops, 0); /* the registering call failed: drop not called */
    assert_status(coio_loop_stop(loop), COIO_ECLOSED);
    assert_status(coio_loop_set_debug(loop, 1), COIO_ECLOSED);

    assert_status(coio_loop_release(loop), COIO_OK);
    coio_future_release(f); /* the future outlives the loop's last user reference */
    assert_int_equal(drops, 2);
}

static void test_release_null(void **state) {
    (void)state;
    assert_status(coio_loop_release(NULL), COIO_OK);
}

static void test_release_open_loop_closes(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    assert_status(coio_call_soon(loop, noop, &drops, tu_count_drop, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, noop, &drops, tu_count_drop, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 5.0, noop, &drops, tu_count_drop, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 7.0, noop, &drops, tu_count_drop, NULL), COIO_OK);
    assert_status(coio_call_soon_threadsafe(loop, noop, &drops, tu_count_drop), COIO_OK);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(drops, 5);
}

/* ---- exception handler ------------------------------------------------------------------ */

typedef struct hstate {
    int calls;
    coio_loop *loop_seen;
    void *arg_seen;
    const coio_exception_context *ctx_seen;
    char message[128];
    char error[128];
    int code;
    int error_was_null;
    coio_future *future;
    coio_handle *handle;
    uint32_t size;
} hstate;

static void handler_a(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    hstate *h = arg;
    h->calls++;
    h->loop_seen = loop;
    h->arg_seen = arg;
    h->ctx_seen = ctx;
    snprintf(h->message, sizeof h->message, "%s", ctx->message ? ctx->message : "(null)");
    h->error_was_null = ctx->error == NULL;
    snprintf(h->error, sizeof h->error, "%s", ctx->error ? ctx->error : "");
    h->code = ctx->code;
    h->future = ctx->future;
    h->handle = ctx->handle;
    h->size = ctx->size;
}

/* A second handler for set/get identity and drop checks (never called). */
static void handler_b(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    (void)ctx;
    (void)arg;
}

static void test_handler_set_get(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_exception_handler fn = handler_a;
    void *arg = &fn;
    assert_status(coio_loop_get_exception_handler(loop, &fn, &arg), COIO_OK);
    assert_null(fn); /* the default */
    assert_status(coio_loop_get_exception_handler(loop, NULL, NULL), COIO_OK);

    hstate ha = {0};
    int drop_a = 0, drop_b = 0;
    assert_status(coio_loop_set_exception_handler(loop, handler_a, &ha, NULL), COIO_OK);
    assert_status(coio_loop_get_exception_handler(loop, &fn, &arg), COIO_OK);
    assert_ptr_equal(fn, handler_a);
    assert_ptr_equal(arg, &ha);
    fn = NULL;
    assert_status(coio_loop_get_exception_handler(loop, &fn, NULL), COIO_OK);
    assert_ptr_equal(fn, handler_a);
    arg = NULL;
    assert_status(coio_loop_get_exception_handler(loop, NULL, &arg), COIO_OK);
    assert_ptr_equal(arg, &ha);

    /* replace a handler that has a drop: the old drop runs once */
    assert_status(coio_loop_set_exception_handler(loop, handler_b, &drop_b, tu_count_drop),
                  COIO_OK);
    assert_status(coio_loop_set_exception_handler(loop, handler_b, &drop_a, tu_count_drop),
                  COIO_OK);
    assert_int_equal(drop_b, 1);
    assert_int_equal(drop_a, 0);
    assert_status(coio_loop_get_exception_handler(loop, &fn, &arg), COIO_OK);
    assert_ptr_equal(fn, handler_b);
    assert_ptr_equal(arg, &drop_a);

    /* NULL restores the default; the old drop runs once */
    assert_status(coio_loop_set_exception_handler(loop, NULL, NULL, NULL), COIO_OK);
    assert_int_equal(drop_a, 1);
    assert_status(coio_loop_get_exception_handler(loop, &fn, &arg), COIO_OK);
    assert_null(fn);
    assert_int_equal(drop_b, 1);

    /* NULL with an arg and a drop: the default is installed and drop(arg) runs at once */
    int drop_c = 0;
    assert_status(coio_loop_set_exception_handler(loop, NULL, &drop_c, tu_count_drop), COIO_OK);
    assert_int_equal(drop_c, 1);
    assert_status(coio_loop_get_exception_handler(loop, &fn, &arg), COIO_OK);
    assert_null(fn);

    assert_status(coio_loop_set_exception_handler(NULL, handler_a, &ha, NULL), COIO_EINVAL);
    assert_status(coio_loop_get_exception_handler(NULL, &fn, &arg), COIO_EINVAL);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(drop_a, 1);
    assert_int_equal(drop_b, 1);
    assert_int_equal(drop_c, 1);
}

static void test_handler_drop_at_release(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    assert_status(coio_loop_set_exception_handler(loop, handler_b, &drops, tu_count_drop), COIO_OK);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(drops, 1);
}

static void test_handler_call(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    hstate hs = {0};
    assert_status(coio_loop_set_exception_handler(loop, handler_a, &hs, NULL), COIO_OK);

    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = "something happened";
    ctx.code = COIO_ETIMEDOUT;
    ctx.error = "it timed out";
    assert_status(coio_loop_call_exception_handler(loop, &ctx), COIO_OK);
    assert_int_equal(hs.calls, 1);
    assert_ptr_equal(hs.loop_seen, loop);
    assert_ptr_equal(hs.arg_seen, &hs);
    assert_string_equal(hs.message, "something happened");
    assert_string_equal(hs.error, "it timed out");
    assert_int_equal(hs.code, COIO_ETIMEDOUT);
    assert_null(hs.future);
    assert_null(hs.handle);

    /* message only */
    coio_exception_context ctx2 = COIO_EXCEPTION_CONTEXT_INIT;
    ctx2.message = "plain";
    assert_status(coio_loop_call_exception_handler(loop, &ctx2), COIO_OK);
    assert_int_equal(hs.calls, 2);
    assert_string_equal(hs.message, "plain");
    assert_int_equal(hs.error_was_null, 1);
    assert_int_equal(hs.code, 0);

    /* invalid contexts: the handler is not called */
    assert_status(coio_loop_call_exception_handler(loop, NULL), COIO_EINVAL);
    coio_exception_context bad = COIO_EXCEPTION_CONTEXT_INIT;
    assert_status(coio_loop_call_exception_handler(loop, &bad), COIO_EINVAL); /* NULL message */
    struct {
        coio_exception_context c;
        char extra[32];
    } big;
    memset(&big, 0, sizeof big);
    big.c.size = (uint32_t)sizeof big;
    big.c.message = "too big";
    assert_status(coio_loop_call_exception_handler(loop, &big.c), COIO_EINVAL);
    assert_status(coio_loop_call_exception_handler(NULL, &ctx), COIO_EINVAL);
    assert_int_equal(hs.calls, 2);

    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Runs fn(loop, ctx) with stderr redirected to a temporary file; returns what was written
 * (malloc'd, NUL-terminated) and the function's status through *status. */
static char *capture_stderr(int (*fn)(coio_loop *, const coio_exception_context *), coio_loop *loop,
                            const coio_exception_context *ctx, int *status) {
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    *status = fn(loop, ctx);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    fseek(tmp, 0, SEEK_END);
    long size = ftell(tmp);
    rewind(tmp);
    char *buf = calloc(1, (size_t)(size > 0 ? size : 0) + 1);
    assert_non_null(buf);
    if (size > 0) assert_int_equal(fread(buf, 1, (size_t)size, tmp), (size_t)size);
    fclose(tmp);
    return buf;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        if (*s == '\n') n++;
    return n;
}

static void test_default_handler_prints(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int st = -100;

    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = "marker-7f3a happened";
    ctx.code = COIO_ETIMEDOUT;
    ctx.error = "deadline passed";
    char *out = capture_stderr(coio_loop_call_exception_handler, loop, &ctx, &st);
    assert_status(st, COIO_OK);
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "marker-7f3a happened"));
    /* the documented format: "coio: <message>[: <error> (<code name>)]" */
    assert_string_equal(out, "coio: marker-7f3a happened: deadline passed (COIO_ETIMEDOUT)\n");
    free(out);

    coio_exception_context ctx2 = COIO_EXCEPTION_CONTEXT_INIT;
    ctx2.message = "just a message";
    out = capture_stderr(coio_loop_call_exception_handler, loop, &ctx2, &st);
    assert_status(st, COIO_OK);
    assert_string_equal(out, "coio: just a message\n");
    free(out);

    /* "coio: <message>[: <error>][ (<code name>)]"; a code that is no status: "(code N)" */
    coio_exception_context ctx3 = COIO_EXCEPTION_CONTEXT_INIT;
    ctx3.message = "code only";
    ctx3.code = COIO_ECANCELLED;
    out = capture_stderr(coio_loop_call_exception_handler, loop, &ctx3, &st);
    assert_status(st, COIO_OK);
    assert_string_equal(out, "coio: code only (COIO_ECANCELLED)\n");
    free(out);
    ctx3.message = "foreign";
    ctx3.code = 77;
    ctx3.error = "from a binding";
    out = capture_stderr(coio_loop_call_exception_handler, loop, &ctx3, &st);
    assert_status(st, COIO_OK);
    assert_string_equal(out, "coio: foreign: from a binding (code 77)\n");
    free(out);

    /* coio_loop_default_exception_handler prints even while a custom handler is installed */
    hstate hs = {0};
    assert_status(coio_loop_set_exception_handler(loop, handler_a, &hs, NULL), COIO_OK);
    out = capture_stderr(coio_loop_default_exception_handler, loop, &ctx2, &st);
    assert_status(st, COIO_OK);
    assert_string_equal(out, "coio: just a message\n");
    assert_int_equal(hs.calls, 0);
    free(out);

    /* the custom handler suppresses the default output */
    out = capture_stderr(coio_loop_call_exception_handler, loop, &ctx2, &st);
    assert_status(st, COIO_OK);
    assert_string_equal(out, "");
    assert_int_equal(hs.calls, 1);
    free(out);

    /* restoring the default prints again */
    assert_status(coio_loop_set_exception_handler(loop, NULL, NULL, NULL), COIO_OK);
    out = capture_stderr(coio_loop_call_exception_handler, loop, &ctx2, &st);
    assert_string_equal(out, "coio: just a message\n");
    free(out);

    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- debug mode ------------------------------------------------------------------------- */

static void test_debug_get_set(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_int_equal(coio_loop_get_debug(loop), 0);
    assert_status(coio_loop_set_debug(loop, 1), COIO_OK);
    assert_int_equal(coio_loop_get_debug(loop), 1);
    assert_status(coio_loop_set_debug(loop, 0), COIO_OK);
    assert_int_equal(coio_loop_get_debug(loop), 0);
    assert_status(coio_loop_release(loop), COIO_OK);

    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = COIO_LOOP_DEBUG | COIO_LOOP_VIRTUAL_TIME;
    loop = NULL;
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    assert_int_equal(coio_loop_get_debug(loop), 1);
    assert_status(coio_loop_set_debug(loop, 0), COIO_OK);
    assert_int_equal(coio_loop_get_debug(loop), 0);
    assert_status(coio_loop_release(loop), COIO_OK);

    assert_int_equal(coio_loop_get_debug(NULL), 0);
    assert_status(coio_loop_set_debug(NULL, 1), COIO_EINVAL);
}

typedef struct wrong_thread {
    coio_loop *loop;
    int st_soon, st_later, st_at, st_threadsafe, st_stop;
    int drops;    /* drops of the refused registrations: must stay 0 */
    int ts_ran;   /* the threadsafe callback ran */
    int ts_drops; /* its drop */
    int thread_ok;
} wrong_thread;

static void cb_ts_ran(void *p) {
    wrong_thread *w = p;
    w->ts_ran++;
    coio_loop_stop(w->loop);
}

static void *wrong_thread_main(void *p) {
    wrong_thread *w = p;
    w->st_soon = coio_call_soon(w->loop, noop, &w->drops, tu_count_drop, NULL);
    w->st_later = coio_call_later(w->loop, 0.0, noop, &w->drops, tu_count_drop, NULL);
    w->st_at = coio_call_at(w->loop, 0.0, noop, &w->drops, tu_count_drop, NULL);
    w->st_threadsafe = coio_call_soon_threadsafe(w->loop, cb_ts_ran, w, NULL);
    return NULL;
}

static void cb_start_wrong_thread(void *p) {
    wrong_thread *w = p;
    pthread_t t;
    if (pthread_create(&t, NULL, wrong_thread_main, w) == 0) {
        pthread_join(t, NULL);
        w->thread_ok = 1;
    } else {
        coio_loop_stop(w->loop);
    }
}

static void run_wrong_thread(int via_flag) {
    coio_loop *loop = NULL;
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = COIO_LOOP_VIRTUAL_TIME | (via_flag ? COIO_LOOP_DEBUG : 0u);
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    if (!via_flag) assert_status(coio_loop_set_debug(loop, 1), COIO_OK);
    wrong_thread w = {.loop = loop};
    assert_status(coio_call_soon(loop, cb_start_wrong_thread, &w, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(w.thread_ok, 1);
    assert_status(w.st_soon, COIO_ETHREAD);
    assert_status(w.st_later, COIO_ETHREAD);
    assert_status(w.st_at, COIO_ETHREAD);
    assert_int_equal(w.drops, 0);
    assert_status(w.st_threadsafe, COIO_OK);
    assert_int_equal(w.ts_ran, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(w.drops, 0);
}

static void test_debug_wrong_thread(void **state) {
    (void)state;
    run_wrong_thread(1);
}

static void test_debug_wrong_thread_set_debug(void **state) {
    (void)state;
    run_wrong_thread(0);
}

typedef struct slow {
    coio_loop *loop;
    double took;
} slow;

static void cb_busy_wait(void *p) {
    slow *s = p;
    double t0 = coio_loop_time(s->loop);
    double t;
    do {
        t = coio_loop_time(s->loop);
    } while (t - t0 < 0.005);
    s->took = t - t0;
}

static void test_debug_slow_callback(void **state) {
    (void)state;
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = COIO_LOOP_DEBUG;
    o.slow_callback_duration = 0.001;
    coio_loop *loop = NULL;
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    tu_reports r;
    tu_capture_reports(loop, &r);
    slow s = {.loop = loop};
    assert_status(coio_call_soon(loop, cb_busy_wait, &s, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_true(s.took >= 0.005);
    if (r.n < 1) fail_msg("slow callback (%.4f s > 0.001 s) not reported", s.took);
    if (strncmp(r.last_message, "Executing", 9) != 0 || !strstr(r.last_message, "took"))
        fail_msg("slow callback report: \"%s\"", r.last_message);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_no_slow_report_without_debug(void **state) {
    (void)state;
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.slow_callback_duration = 0.001; /* debug off: no report */
    coio_loop *loop = NULL;
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    tu_reports r;
    tu_capture_reports(loop, &r);
    slow s = {.loop = loop};
    assert_status(coio_call_soon(loop, cb_busy_wait, &s, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(r.n, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- cross-thread wake-ups while callbacks are always ready ----------------------------- */

typedef struct chain {
    coio_loop *loop;
    atomic_long iterations;
    double wall_start;
    int timed_out; /* the safety net fired: the cross-thread request was never seen */
    int ts_ran;
    int ts_drops;
    int use_stop;  /* the other thread calls coio_loop_stop instead */
    int st_thread; /* status of the other thread's call */
} chain;

static void cb_chain(void *p) {
    chain *c = p;
    long n = atomic_fetch_add(&c->iterations, 1) + 1;
    /* safety net, so a broken library fails the test instead of hanging it */
    if ((n & 1023) == 0 && tu_wall_now() - c->wall_start > 20.0) {
        c->timed_out = 1;
        coio_loop_stop(c->loop);
        return;
    }
    coio_call_soon(c->loop, cb_chain, c, NULL, NULL);
}

static void cb_ts_stop(void *p) {
    chain *c = p;
    c->ts_ran++;
    coio_loop_stop(c->loop);
}

static void chain_ts_drop(void *p) {
    ((chain *)p)->ts_drops++;
}

static void *chain_thread(void *p) {
    chain *c = p;
    /* wait until the chain is really spinning */
    while (atomic_load(&c->iterations) < 2000) {
        if (tu_wall_now() - c->wall_start > 20.0) break;
        sleep_ms(1);
    }
    if (c->use_stop)
        c->st_thread = coio_loop_stop(c->loop);
    else
        c->st_thread = coio_call_soon_threadsafe(c->loop, cb_ts_stop, c, chain_ts_drop);
    return NULL;
}

static void run_chain(coio_loop *loop, int use_stop) {
    chain c = {.loop = loop, .use_stop = use_stop};
    atomic_init(&c.iterations, 0);
    c.wall_start = tu_wall_now();
    assert_status(coio_call_soon(loop, cb_chain, &c, NULL, NULL), COIO_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, chain_thread, &c), 0);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    pthread_join(t, NULL);
    assert_status(c.st_thread, COIO_OK);
    if (c.timed_out)
        fail_msg("%s from another thread never took effect while callbacks were always ready "
                 "(%ld iterations)",
                 use_stop ? "coio_loop_stop" : "coio_call_soon_threadsafe",
                 (long)atomic_load(&c.iterations));
    if (!use_stop) {
        assert_int_equal(c.ts_ran, 1);
        assert_int_equal(c.ts_drops, 1);
    }
    assert_true(atomic_load(&c.iterations) >= 2000);
}

static void test_chain_threadsafe_real(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    run_chain(loop, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_chain_threadsafe_virtual(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    run_chain(loop, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_chain_stop_from_thread(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    run_chain(loop, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* A loop blocked in its poll (nothing ready, no timer) is woken by another thread. */
typedef struct waker {
    coio_loop *loop;
    int st;
    int ran;
    int drops;
} waker;

static void cb_waker_ran(void *p) {
    waker *w = p;
    w->ran++;
    coio_loop_stop(w->loop);
}

static void waker_drop(void *p) {
    ((waker *)p)->drops++;
}

static void *waker_thread(void *p) {
    waker *w = p;
    sleep_ms(20);
    w->st = coio_call_soon_threadsafe(w->loop, cb_waker_ran, w, waker_drop);
    return NULL;
}

static void test_threadsafe_wakes_idle_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    waker w = {.loop = loop};
    /* a safety timer far away, so a broken wake-up fails instead of hanging */
    assert_status(coio_call_later(loop, 30.0, stop_loop, loop, NULL, NULL), COIO_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, waker_thread, &w), 0);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    pthread_join(t, NULL);
    assert_status(w.st, COIO_OK);
    assert_int_equal(w.ran, 1);
    assert_int_equal(w.drops, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- statuses and version --------------------------------------------------------------- */

static void test_status_names(void **state) {
    (void)state;
    static const struct {
        int code;
        const char *name;
    } table[] = {
        {COIO_OK, "COIO_OK"},
        {COIO_EINVAL, "COIO_EINVAL"},
        {COIO_ENOMEM, "COIO_ENOMEM"},
        {COIO_ESTATE, "COIO_ESTATE"},
        {COIO_ECANCELLED, "COIO_ECANCELLED"},
        {COIO_EFAILED, "COIO_EFAILED"},
        {COIO_ETIMEDOUT, "COIO_ETIMEDOUT"},
        {COIO_ECLOSED, "COIO_ECLOSED"},
        {COIO_EBUSY, "COIO_EBUSY"},
        {COIO_ELOOP, "COIO_ELOOP"},
        {COIO_ETHREAD, "COIO_ETHREAD"},
        {COIO_ENOTSUP, "COIO_ENOTSUP"},
        {COIO_ESYS, "COIO_ESYS"},
        {COIO_EFULL, "COIO_EFULL"},
        {COIO_EEMPTY, "COIO_EEMPTY"},
        {COIO_ESHUTDOWN, "COIO_ESHUTDOWN"},
        {COIO_EBROKEN, "COIO_EBROKEN"},
    };
    const size_t n = sizeof table / sizeof table[0];
    const char *unknown_desc = coio_strerror(-9999);
    assert_non_null(unknown_desc);
    for (size_t i = 0; i < n; i++) {
        const char *name = coio_status_name(table[i].code);
        assert_non_null(name);
        assert_string_equal(name, table[i].name);
        const char *desc = coio_strerror(table[i].code);
        assert_non_null(desc);
        assert_true(strlen(desc) > 0);
        if (strcmp(desc, unknown_desc) == 0)
            fail_msg("coio_strerror(%s) is the unknown description \"%s\"", table[i].name, desc);
        for (size_t j = 0; j < i; j++)
            if (strcmp(desc, coio_strerror(table[j].code)) == 0)
                fail_msg("%s and %s share the description \"%s\"", table[i].name, table[j].name,
                         desc);
    }
    static const int unknown[] = {1, 42, -17, -100, -9999, 2147483647, (-2147483647 - 1)};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_non_null(coio_strerror(unknown[i]));
        assert_non_null(coio_status_name(unknown[i]));
        assert_string_equal(coio_status_name(unknown[i]), "COIO_UNKNOWN");
    }
}

static void test_version(void **state) {
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", COIO_VERSION_MAJOR, COIO_VERSION_MINOR,
             COIO_VERSION_PATCH);
    assert_non_null(coio_version());
    assert_string_equal(coio_version(), want);
    assert_int_equal(coio_version_number(),
                     COIO_VERSION_MAJOR * 10000 + COIO_VERSION_MINOR * 100 + COIO_VERSION_PATCH);
    assert_int_equal(coio_version_number(), 10000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_null_out),
        cmocka_unit_test(test_new_defaults),
        cmocka_unit_test(test_new_bad_options),
        cmocka_unit_test(test_new_smaller_known_size),
        cmocka_unit_test(test_new_backends),
        cmocka_unit_test(test_new_unavailable_backend),
        cmocka_unit_test(test_backend_null),
        cmocka_unit_test(test_time_monotonic),
        cmocka_unit_test(test_time_tracks_the_monotonic_clock),
        cmocka_unit_test(test_time_from_another_thread),
        cmocka_unit_test(test_time_virtual),
        cmocka_unit_test(test_time_null),
        cmocka_unit_test(test_stop_from_callback),
        cmocka_unit_test(test_stop_before_run),
        cmocka_unit_test(test_stop_real_loop_idle),
        cmocka_unit_test(test_stop_null),
        cmocka_unit_test(test_busy_inside_callback),
        cmocka_unit_test(test_is_running_closed_null),
        cmocka_unit_test(test_close_idempotent_and_eclosed),
        cmocka_unit_test(test_release_null),
        cmocka_unit_test(test_release_open_loop_closes),
        cmocka_unit_test(test_handler_set_get),
        cmocka_unit_test(test_handler_drop_at_release),
        cmocka_unit_test(test_handler_call),
        cmocka_unit_test(test_default_handler_prints),
        cmocka_unit_test(test_debug_get_set),
        cmocka_unit_test(test_debug_wrong_thread),
        cmocka_unit_test(test_debug_wrong_thread_set_debug),
        cmocka_unit_test(test_debug_slow_callback),
        cmocka_unit_test(test_no_slow_report_without_debug),
        cmocka_unit_test(test_chain_threadsafe_real),
        cmocka_unit_test(test_chain_threadsafe_virtual),
        cmocka_unit_test(test_chain_stop_from_thread),
        cmocka_unit_test(test_threadsafe_wakes_idle_loop),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
