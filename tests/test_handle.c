/* cmocka suite for scheduled callbacks and timers: call_soon / call_later / call_at ordering,
 * pass semantics, virtual time, "never early", handles (cancel, when, release), drops,
 * many timers, and call_soon_threadsafe under contention.  asyncio (3.13) is the reference;
 * the header's comments are binding.
 *
 * Callbacks record what they see and the test asserts after the loop returns, so a failing
 * check never longjmps out of the library's frames. */
#include "testutil.h"

#include <float.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static void noop(void *arg) {
    (void)arg;
}

static void stop_loop(void *loop) {
    coio_loop_stop(loop);
}

/* Deterministic pseudo-random numbers (no dependence on libc's rand state). */
static uint32_t rng_state = 12345u;
static uint32_t rng(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* A sequence recorder larger than tu_log. */
typedef struct seq {
    coio_loop *loop;
    int n;
    int tags[20000];
    double times[20000];
} seq;

typedef struct seq_item {
    seq *s;
    int tag;
    int stop_after; /* stop the loop once s->n reaches this (0: never) */
} seq_item;

static void seq_cb(void *p) {
    seq_item *it = p;
    seq *s = it->s;
    if (s->n < (int)(sizeof s->tags / sizeof s->tags[0])) {
        s->times[s->n] = coio_loop_time(s->loop);
        s->tags[s->n++] = it->tag;
    }
    if (it->stop_after && s->n >= it->stop_after) coio_loop_stop(s->loop);
}

/* A probe: counts calls and drops, and whether the drop came after the call. */
typedef struct probe {
    int calls;
    int drops;
    int drop_after_call; /* calls > 0 when the drop ran */
} probe;

static void probe_cb(void *p) {
    ((probe *)p)->calls++;
}
static void probe_drop(void *p) {
    probe *pr = p;
    pr->drops++;
    pr->drop_after_call = pr->calls > 0;
}

/* ---- call_soon ordering and passes ------------------------------------------------------ */

static void test_call_soon_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static seq s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    static seq_item items[1000];
    for (int i = 0; i < 1000; i++) {
        items[i] = (seq_item){&s, i, 0};
        assert_status(coio_call_soon(loop, seq_cb, &items[i], NULL, NULL), COIO_OK);
    }
    tu_run_one_pass(loop);
    assert_int_equal(s.n, 1000);
    for (int i = 0; i < 1000; i++)
        if (s.tags[i] != i) fail_msg("position %d ran callback %d", i, s.tags[i]);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void soon_before_later0(coio_loop *loop) {
    tu_log log = {0};
    tu_rec a = {&log, 1}, t = {&log, 2}, b = {&log, 3};
    assert_status(coio_call_soon(loop, tu_record, &a, NULL, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 0.0, tu_record, &t, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, tu_record, &b, NULL, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 0.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.tags[0], 1);
    assert_int_equal(log.tags[1], 3);
    assert_int_equal(log.tags[2], 2);
}

static void test_call_soon_before_call_later0(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    soon_before_later0(loop);
    assert_status(coio_loop_release(loop), COIO_OK);
    loop = tu_loop_real();
    soon_before_later0(loop);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* What a callback schedules runs in a later pass: with stop() in the same callback, it does
 * not run before run_forever returns. */
typedef struct later_pass {
    coio_loop *loop;
    tu_log log;
    tu_rec child, sibling;
} later_pass;

static void cb_parent(void *p) {
    later_pass *lp = p;
    lp->log.tags[lp->log.n++] = 100;
    coio_call_soon(lp->loop, tu_record, &lp->child, NULL, NULL);
    coio_loop_stop(lp->loop);
}

static void test_scheduled_by_callback_runs_next_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    later_pass lp = {.loop = loop};
    lp.child = (tu_rec){&lp.log, 2};
    lp.sibling = (tu_rec){&lp.log, 1};
    assert_status(coio_call_soon(loop, cb_parent, &lp, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, tu_record, &lp.sibling, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(lp.log.n, 2);
    assert_int_equal(lp.log.tags[0], 100);
    assert_int_equal(lp.log.tags[1], 1);
    tu_run_one_pass(loop);
    assert_int_equal(lp.log.n, 3);
    assert_int_equal(lp.log.tags[2], 2);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* A self-rescheduling call_soon chain counts passes; a due timer runs in the first pass (it is
 * not starved by the chain) and sees exactly one chain step before it. */
typedef struct passes {
    coio_loop *loop;
    int count;
    int seen_by_timer;
    int timer_ran;
} passes;

static void cb_pass_counter(void *p) {
    passes *ps = p;
    ps->count++;
    if (ps->count > 100000) { /* safety net: the timer was starved */
        coio_loop_stop(ps->loop);
        return;
    }
    coio_call_soon(ps->loop, cb_pass_counter, ps, NULL, NULL);
}

static void cb_pass_timer(void *p) {
    passes *ps = p;
    ps->timer_ran++;
    ps->seen_by_timer = ps->count;
    coio_loop_stop(ps->loop);
}

static void test_chain_does_not_starve_timers(void **state) {
    (void)state;
    for (int real = 0; real < 2; real++) {
        coio_loop *loop = real ? tu_loop_real() : tu_loop_virtual();
        passes ps = {.loop = loop};
        assert_status(coio_call_soon(loop, cb_pass_counter, &ps, NULL, NULL), COIO_OK);
        assert_status(coio_call_later(loop, 0.0, cb_pass_timer, &ps, NULL, NULL), COIO_OK);
        assert_status(coio_loop_run_forever(loop), COIO_OK);
        assert_int_equal(ps.timer_ran, 1);
        assert_int_equal(ps.seen_by_timer, 1);
        assert_status(coio_loop_release(loop), COIO_OK);
    }
}

/* ---- timers: ordering, ties, arguments -------------------------------------------------- */

static void test_timer_order_and_ties(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    enum { N = 400 };
    static seq s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    static seq_item items[N];
    static double deadline[N];
    for (int i = 0; i < N; i++) {
        double d;
        int r;
        items[i] = (seq_item){&s, i, N};
        if (i % 4 == 0) { /* 100 timers at the same deadline, interleaved with the rest */
            d = 5.0;
            r = coio_call_at(loop, d, seq_cb, &items[i], NULL, NULL);
        } else if (i % 4 == 1) {
            d = (double)(rng() % 10); /* ties with each other and with 5.0 */
            r = coio_call_later(loop, d, seq_cb, &items[i], NULL, NULL);
        } else if (i % 4 == 2) {
            d = (double)(rng() % 1000) / 100.0;
            r = coio_call_at(loop, d, seq_cb, &items[i], NULL, NULL);
        } else {
            d = 5.0; /* call_later(5) at time 0 is the same deadline as call_at(5) */
            r = coio_call_later(loop, d, seq_cb, &items[i], NULL, NULL);
        }
        assert_status(r, COIO_OK);
        deadline[i] = d;
    }
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(s.n, N);
    /* expected: stable sort of scheduling order by deadline */
    static int expect[N];
    for (int i = 0; i < N; i++) {
        int j = i;
        while (j > 0 && deadline[expect[j - 1]] > deadline[i]) {
            expect[j] = expect[j - 1];
            j--;
        }
        expect[j] = i;
    }
    for (int i = 0; i < N; i++) {
        if (s.tags[i] != expect[i])
            fail_msg("position %d: timer %d (deadline %.2f) ran, expected timer %d "
                     "(deadline %.2f)",
                     i, s.tags[i], deadline[s.tags[i]], expect[i], deadline[expect[i]]);
        assert_double_eq(s.times[i], deadline[expect[i]], 0.0);
    }
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_negative_delay_is_zero(void **state) {
    (void)state;
    /* virtual time: now is exactly 0.0 */
    coio_loop *loop = tu_loop_virtual();
    coio_handle *h = NULL;
    probe pr = {0};
    assert_status(coio_call_later(loop, -5.0, probe_cb, &pr, probe_drop, &h), COIO_OK);
    double when = -1.0;
    assert_status(coio_handle_when(h, &when), COIO_OK);
    assert_double_eq(when, 0.0, 0.0);
    tu_run_one_pass(loop); /* due at once */
    assert_int_equal(pr.calls, 1);
    assert_double_eq(coio_loop_time(loop), 0.0, 0.0);
    coio_handle_release(h);
    assert_status(coio_loop_release(loop), COIO_OK);

    /* real time: when is the time of scheduling */
    loop = tu_loop_real();
    double t0 = coio_loop_time(loop);
    assert_status(coio_call_later(loop, -1.0, probe_cb, &pr, probe_drop, &h), COIO_OK);
    double t1 = coio_loop_time(loop);
    assert_status(coio_handle_when(h, &when), COIO_OK);
    if (!(when >= t0 && when <= t1))
        fail_msg("call_later(-1) when = %.9f, scheduled between %.9f and %.9f", when, t0, t1);
    tu_run_one_pass(loop);
    assert_int_equal(pr.calls, 2);
    coio_handle_release(h);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* A call_at in the past runs on the next pass, in deadline order; the clock does not move. */
typedef struct past {
    coio_loop *loop;
    tu_log log;
    tu_rec r1, r2;
    int st1, st2;
} past;

static void cb_schedule_past(void *p) {
    past *ps = p;
    ps->st1 = coio_call_at(ps->loop, 1.0, tu_record, &ps->r1, NULL, NULL);
    ps->st2 = coio_call_at(ps->loop, -100.0, tu_record, &ps->r2, NULL, NULL);
    coio_loop_stop(ps->loop);
}

static void test_call_at_past(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    past ps = {.loop = loop};
    ps.r1 = (tu_rec){&ps.log, 1};
    ps.r2 = (tu_rec){&ps.log, 2};
    assert_status(coio_call_at(loop, 5.0, cb_schedule_past, &ps, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_status(ps.st1, COIO_OK);
    assert_status(ps.st2, COIO_OK);
    assert_double_eq(coio_loop_time(loop), 5.0, 0.0);
    assert_int_equal(ps.log.n, 0);
    tu_run_one_pass(loop);
    assert_int_equal(ps.log.n, 2);
    assert_int_equal(ps.log.tags[0], 2); /* deadline -100 before deadline 1 */
    assert_int_equal(ps.log.tags[1], 1);
    assert_double_eq(coio_loop_time(loop), 5.0, 0.0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void resolve_future(void *f) {
    coio_future_set_result(f, NULL, NULL);
}

/* A finite delay whose deadline is not (the loop's time plus the delay overflows): EINVAL,
 * nothing scheduled, the drop not taken. */
static void test_call_later_deadline_overflow(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    assert_status(coio_call_at(loop, 1e300, resolve_future, f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, f), COIO_OK); /* virtual time jumps there */
    coio_future_release(f);
    assert_true(coio_loop_time(loop) >= 1e300);
    coio_handle *const sentinel = (coio_handle *)(uintptr_t)0x5678;
    coio_handle *h = sentinel;
    assert_status(coio_call_later(loop, DBL_MAX, noop, &drops, tu_count_drop, &h), COIO_EINVAL);
    assert_ptr_equal(h, sentinel);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(drops, 0);
}

static void test_bad_arguments(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    coio_handle *const sentinel = (coio_handle *)(uintptr_t)0x5678;
    coio_handle *h = sentinel;
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        assert_status(coio_call_later(loop, bad[i], noop, &drops, tu_count_drop, &h), COIO_EINVAL);
        assert_ptr_equal(h, sentinel);
        assert_status(coio_call_at(loop, bad[i], noop, &drops, tu_count_drop, &h), COIO_EINVAL);
        assert_ptr_equal(h, sentinel);
        assert_status(coio_call_later(loop, bad[i], noop, &drops, tu_count_drop, NULL),
                      COIO_EINVAL);
        assert_status(coio_call_at(loop, bad[i], noop, &drops, tu_count_drop, NULL), COIO_EINVAL);
    }
    assert_status(coio_call_soon(NULL, noop, &drops, tu_count_drop, &h), COIO_EINVAL);
    assert_status(coio_call_later(NULL, 1.0, noop, &drops, tu_count_drop, &h), COIO_EINVAL);
    assert_status(coio_call_at(NULL, 1.0, noop, &drops, tu_count_drop, &h), COIO_EINVAL);
    assert_status(coio_call_soon_threadsafe(NULL, noop, &drops, tu_count_drop), COIO_EINVAL);
    assert_status(coio_call_soon(loop, NULL, &drops, tu_count_drop, &h), COIO_EINVAL);
    assert_status(coio_call_later(loop, 1.0, NULL, &drops, tu_count_drop, &h), COIO_EINVAL);
    assert_status(coio_call_at(loop, 1.0, NULL, &drops, tu_count_drop, &h), COIO_EINVAL);
    assert_status(coio_call_soon_threadsafe(loop, NULL, &drops, tu_count_drop), COIO_EINVAL);
    assert_ptr_equal(h, sentinel);
    assert_int_equal(drops, 0);
    /* nothing was scheduled by the failed calls */
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(drops, 0);
}

/* ---- virtual time ----------------------------------------------------------------------- */

typedef struct at_time {
    coio_loop *loop;
    double seen;
    int calls;
} at_time;

static void cb_note_time_stop(void *p) {
    at_time *a = p;
    a->seen = coio_loop_time(a->loop);
    a->calls++;
    coio_loop_stop(a->loop);
}

static void test_virtual_hour_is_instant(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    at_time a = {.loop = loop};
    coio_handle *h = NULL;
    double w0 = tu_wall_now();
    assert_status(coio_call_later(loop, 3600.0, cb_note_time_stop, &a, NULL, &h), COIO_OK);
    double when = 0;
    assert_status(coio_handle_when(h, &when), COIO_OK);
    assert_double_eq(when, 3600.0, 0.0);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    double elapsed = tu_wall_now() - w0;
    assert_int_equal(a.calls, 1);
    assert_double_eq(a.seen, 3600.0, 0.0);
    assert_double_eq(coio_loop_time(loop), 3600.0, 0.0);
    if (elapsed > 10.0) fail_msg("virtual call_later(3600) took %.3f s of real time", elapsed);
    coio_handle_release(h);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_virtual_exact_times(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static seq s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    seq_item i3 = {&s, 3, 3}, i1 = {&s, 1, 3}, i2 = {&s, 2, 3};
    assert_status(coio_call_later(loop, 3.0, seq_cb, &i3, NULL, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, seq_cb, &i1, NULL, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 2.0, seq_cb, &i2, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.tags[i], i + 1);
        assert_double_eq(s.times[i], (double)(i + 1), 0.0);
    }
    assert_double_eq(coio_loop_time(loop), 3.0, 0.0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- never early (real time) ------------------------------------------------------------ */

typedef struct early {
    coio_loop *loop;
    coio_handle *h;
    double when; /* from coio_handle_when inside the callback */
    double seen; /* coio_loop_time inside the callback */
    int when_st;
    int ran;
    int *remaining;
} early;

static void cb_early(void *p) {
    early *e = p;
    e->seen = coio_loop_time(e->loop);
    e->when_st = coio_handle_when(e->h, &e->when);
    e->ran++;
    if (--*e->remaining == 0) coio_loop_stop(e->loop);
}

static void test_never_early(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int remaining = 1;
    early e = {.loop = loop, .remaining = &remaining};
    assert_status(coio_call_later(loop, 0.02, cb_early, &e, NULL, &e.h), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(e.ran, 1);
    assert_status(e.when_st, COIO_OK);
    if (!(e.seen >= e.when)) fail_msg("fired at %.9f, before its deadline %.9f", e.seen, e.when);
    coio_handle_release(e.h);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_never_early_many(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    enum { N = 20 };
    int remaining = N;
    early e[N];
    memset(e, 0, sizeof e);
    for (int i = 0; i < N; i++) {
        e[i].loop = loop;
        e[i].remaining = &remaining;
        double delay = (double)(rng() % 30000) / 1e6; /* 0 .. 30 ms */
        assert_status(coio_call_later(loop, delay, cb_early, &e[i], NULL, &e[i].h), COIO_OK);
    }
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(e[i].ran, 1);
        assert_status(e[i].when_st, COIO_OK);
        if (!(e[i].seen >= e[i].when))
            fail_msg("timer %d fired at %.9f, before its deadline %.9f", i, e[i].seen, e[i].when);
        coio_handle_release(e[i].h);
    }
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- handles ---------------------------------------------------------------------------- */

static void test_out_null(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe a = {0}, b = {0}, c = {0};
    assert_status(coio_call_soon(loop, probe_cb, &a, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, probe_cb, &b, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 2.0, probe_cb, &c, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 3.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(a.calls + b.calls + c.calls, 3);
    assert_int_equal(a.drops + b.drops + c.drops, 3);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_cancel_before_run(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe s = {0}, t = {0};
    coio_handle *hs = NULL, *ht = NULL;
    assert_status(coio_call_soon(loop, probe_cb, &s, probe_drop, &hs), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, probe_cb, &t, probe_drop, &ht), COIO_OK);
    assert_int_equal(coio_handle_cancelled(hs), 0);
    assert_int_equal(coio_handle_cancelled(ht), 0);
    assert_status(coio_handle_cancel(hs), COIO_OK);
    assert_int_equal(s.drops, 1); /* the drop runs at cancel */
    assert_status(coio_handle_cancel(ht), COIO_OK);
    assert_int_equal(t.drops, 1);
    assert_int_equal(coio_handle_cancelled(hs), 1);
    assert_int_equal(coio_handle_cancelled(ht), 1);
    /* cancel twice: nothing more */
    assert_status(coio_handle_cancel(hs), COIO_OK);
    assert_status(coio_handle_cancel(ht), COIO_OK);
    assert_int_equal(s.drops, 1);
    assert_int_equal(t.drops, 1);
    assert_status(coio_call_at(loop, 2.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(s.calls, 0);
    assert_int_equal(t.calls, 0);
    assert_int_equal(coio_handle_cancelled(hs), 1);
    /* a cancelled timer's deadline is still readable */
    double when = 0;
    assert_status(coio_handle_when(ht, &when), COIO_OK);
    assert_double_eq(when, 1.0, 0.0);
    coio_handle_release(hs);
    coio_handle_release(ht);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(s.drops, 1);
    assert_int_equal(t.drops, 1);
}

static void test_cancel_after_run(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe s = {0}, t = {0};
    coio_handle *hs = NULL, *ht = NULL;
    assert_status(coio_call_soon(loop, probe_cb, &s, probe_drop, &hs), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, probe_cb, &t, probe_drop, &ht), COIO_OK);
    assert_status(coio_call_at(loop, 1.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(t.calls, 1);
    assert_int_equal(s.drops, 1);
    assert_int_equal(t.drops, 1);
    /* "Cancelling a handle that already ran ... does nothing" */
    assert_status(coio_handle_cancel(hs), COIO_OK);
    assert_status(coio_handle_cancel(ht), COIO_OK);
    assert_int_equal(coio_handle_cancelled(hs), 0);
    assert_int_equal(coio_handle_cancelled(ht), 0);
    assert_int_equal(s.drops, 1);
    assert_int_equal(t.drops, 1);
    coio_handle_release(hs);
    coio_handle_release(ht);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.drops, 1);
    assert_int_equal(t.drops, 1);
}

/* A callback cancels another that is already in the same pass's ready set. */
typedef struct canceller {
    coio_handle *victim;
    probe *victim_probe;
    int st;
    int victim_drops_at_cancel;
    int cancelled_after;
} canceller;

static void cb_cancel_victim(void *p) {
    canceller *c = p;
    c->st = coio_handle_cancel(c->victim);
    c->victim_drops_at_cancel = c->victim_probe->drops;
    c->cancelled_after = coio_handle_cancelled(c->victim);
}

static void test_cancel_timer_same_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe v = {0};
    canceller c = {.victim_probe = &v};
    /* both due at 1.0: moved to the ready set together, c first */
    assert_status(coio_call_at(loop, 1.0, cb_cancel_victim, &c, NULL, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 1.0, probe_cb, &v, probe_drop, &c.victim), COIO_OK);
    assert_status(coio_call_at(loop, 2.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_status(c.st, COIO_OK);
    assert_int_equal(c.victim_drops_at_cancel, 1);
    assert_int_equal(c.cancelled_after, 1);
    assert_int_equal(v.calls, 0);
    assert_int_equal(v.drops, 1);
    coio_handle_release(c.victim);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(v.drops, 1);
}

static void test_cancel_soon_in_ready_queue(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe v = {0}, after = {0};
    canceller c = {.victim_probe = &v};
    assert_status(coio_call_soon(loop, cb_cancel_victim, &c, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, probe_cb, &v, probe_drop, &c.victim), COIO_OK);
    assert_status(coio_call_soon(loop, probe_cb, &after, probe_drop, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_status(c.st, COIO_OK);
    assert_int_equal(c.victim_drops_at_cancel, 1);
    assert_int_equal(c.cancelled_after, 1);
    assert_int_equal(v.calls, 0);
    assert_int_equal(v.drops, 1);
    assert_int_equal(after.calls, 1); /* the rest of the pass still runs */
    coio_handle_release(c.victim);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(v.drops, 1);
}

/* A callback cancels (and releases) its own handle while it runs: no crash, drop once. */
typedef struct selfcancel {
    coio_handle *h;
    int calls;
    int drops;
    int st;
} selfcancel;

static void cb_self_cancel(void *p) {
    selfcancel *sc = p;
    sc->calls++;
    sc->st = coio_handle_cancel(sc->h);
    coio_handle_release(sc->h);
    sc->h = NULL;
}

static void selfcancel_drop(void *p) {
    ((selfcancel *)p)->drops++;
}

static void test_cancel_self_while_running(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    selfcancel a = {0}, b = {0};
    assert_status(coio_call_soon(loop, cb_self_cancel, &a, selfcancel_drop, &a.h), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, cb_self_cancel, &b, selfcancel_drop, &b.h), COIO_OK);
    assert_status(coio_call_at(loop, 1.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_status(a.st, COIO_OK);
    assert_status(b.st, COIO_OK);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
}

static void test_handle_when(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_handle *h1 = NULL, *h2 = NULL, *h3 = NULL, *hs = NULL;
    assert_status(coio_call_later(loop, 2.5, noop, NULL, NULL, &h1), COIO_OK);
    assert_status(coio_call_at(loop, 7.25, noop, NULL, NULL, &h2), COIO_OK);
    assert_status(coio_call_soon(loop, noop, NULL, NULL, &hs), COIO_OK);
    double when = 0;
    assert_status(coio_handle_when(h1, &when), COIO_OK);
    assert_double_eq(when, 2.5, 0.0);
    assert_status(coio_handle_when(h2, &when), COIO_OK);
    assert_double_eq(when, 7.25, 0.0);
    /* move the clock to 1.0, then call_later(0.5) is at 1.5 = time() + delay */
    assert_status(coio_call_at(loop, 1.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 1.0, 0.0);
    assert_status(coio_call_later(loop, 0.5, noop, NULL, NULL, &h3), COIO_OK);
    assert_status(coio_handle_when(h3, &when), COIO_OK);
    assert_double_eq(when, coio_loop_time(loop) + 0.5, 0.0);
    assert_double_eq(when, 1.5, 0.0);
    /* EINVAL for a call_soon handle and NULL; *when untouched */
    when = 42.0;
    assert_status(coio_handle_when(hs, &when), COIO_EINVAL);
    assert_double_eq(when, 42.0, 0.0);
    assert_status(coio_handle_when(NULL, &when), COIO_EINVAL);
    assert_double_eq(when, 42.0, 0.0);
    /* a timer that already ran keeps its deadline */
    assert_status(coio_call_at(loop, 3.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_status(coio_handle_when(h1, &when), COIO_OK);
    assert_double_eq(when, 2.5, 0.0);
    coio_handle_release(h1);
    coio_handle_release(h2);
    coio_handle_release(h3);
    coio_handle_release(hs);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_handle_null(void **state) {
    (void)state;
    assert_status(coio_handle_cancel(NULL), COIO_EINVAL);
    assert_int_equal(coio_handle_cancelled(NULL), 0);
    coio_handle_release(NULL); /* no-op */
}

static void test_handle_release_before_and_after_run(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe a = {0}, b = {0}, c = {0}, d = {0};
    coio_handle *ha = NULL, *hb = NULL, *hc = NULL, *hd = NULL;
    assert_status(coio_call_soon(loop, probe_cb, &a, probe_drop, &ha), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, probe_cb, &b, probe_drop, &hb), COIO_OK);
    assert_status(coio_call_soon(loop, probe_cb, &c, probe_drop, &hc), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, probe_cb, &d, probe_drop, &hd), COIO_OK);
    /* released early: the loop keeps its own reference, nothing is cancelled */
    coio_handle_release(ha);
    coio_handle_release(hb);
    assert_int_equal(a.drops + b.drops, 0);
    assert_status(coio_call_at(loop, 2.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(a.drops + b.drops + c.drops + d.drops, 4);
    /* released after: still readable until then */
    assert_int_equal(coio_handle_cancelled(hc), 0);
    double when = 0;
    assert_status(coio_handle_when(hd, &when), COIO_OK);
    assert_double_eq(when, 1.0, 0.0);
    coio_handle_release(hc);
    coio_handle_release(hd);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(a.drops + b.drops + c.drops + d.drops, 4);
}

static void test_handles_outlive_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe ran = {0}, soon = {0}, later = {0}, cancelled = {0};
    coio_handle *hr = NULL, *hs = NULL, *hl = NULL, *hc = NULL;
    assert_status(coio_call_soon(loop, probe_cb, &ran, probe_drop, &hr), COIO_OK);
    tu_run_one_pass(loop);
    assert_status(coio_call_soon(loop, probe_cb, &soon, probe_drop, &hs), COIO_OK);
    assert_status(coio_call_later(loop, 10.0, probe_cb, &later, probe_drop, &hl), COIO_OK);
    assert_status(coio_call_later(loop, 10.0, probe_cb, &cancelled, probe_drop, &hc), COIO_OK);
    assert_status(coio_handle_cancel(hc), COIO_OK);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(soon.drops, 1);
    assert_int_equal(later.drops, 1);
    /* discarded by close: not "cancelled", and cancelling them does nothing */
    assert_int_equal(coio_handle_cancelled(hs), 0);
    assert_int_equal(coio_handle_cancelled(hl), 0);
    assert_status(coio_handle_cancel(hs), COIO_OK);
    assert_int_equal(coio_handle_cancelled(hs), 0);
    assert_int_equal(soon.drops, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
    /* the loop's memory lives on while its handles exist: these must be safe */
    assert_int_equal(coio_handle_cancelled(hr), 0);
    assert_int_equal(coio_handle_cancelled(hs), 0);
    assert_status(coio_handle_cancel(hs), COIO_OK);
    assert_status(coio_handle_cancel(hl), COIO_OK);
    assert_status(coio_handle_cancel(hr), COIO_OK);
    assert_status(coio_handle_cancel(hc), COIO_OK);
    assert_int_equal(coio_handle_cancelled(hl), 0);
    double when = 0;
    assert_status(coio_handle_when(hl, &when), COIO_OK);
    assert_double_eq(when, 10.0, 0.0);
    assert_int_equal(coio_handle_cancelled(hc), 1);
    coio_handle_release(hs);
    coio_handle_release(hr);
    coio_handle_release(hl);
    coio_handle_release(hc);
    assert_int_equal(ran.calls, 1);
    assert_int_equal(soon.calls + later.calls + cancelled.calls, 0);
    assert_int_equal(ran.drops, 1);
    assert_int_equal(soon.drops, 1);
    assert_int_equal(later.drops, 1);
    assert_int_equal(cancelled.drops, 1);
}

/* ---- drops ------------------------------------------------------------------------------ */

static void test_drop_after_call(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe s = {0}, t = {0}, a = {0};
    assert_status(coio_call_soon(loop, probe_cb, &s, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, probe_cb, &t, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 1.5, probe_cb, &a, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 2.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.drops, 1);
    assert_int_equal(s.drop_after_call, 1);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.drops, 1);
    assert_int_equal(t.drop_after_call, 1);
    assert_int_equal(a.drops, 1);
    assert_int_equal(a.drop_after_call, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(s.drops + t.drops + a.drops, 3);
}

static void test_drop_at_close(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe s = {0}, t = {0}, a = {0}, ts = {0}, ran = {0};
    assert_status(coio_call_soon(loop, probe_cb, &ran, probe_drop, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_status(coio_call_soon(loop, probe_cb, &s, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, probe_cb, &t, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 2.0, probe_cb, &a, probe_drop, NULL), COIO_OK);
    assert_status(coio_call_soon_threadsafe(loop, probe_cb, &ts, probe_drop), COIO_OK);
    assert_int_equal(s.drops + t.drops + a.drops + ts.drops, 0);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(s.drops, 1);
    assert_int_equal(t.drops, 1);
    assert_int_equal(a.drops, 1);
    assert_int_equal(ts.drops, 1);
    assert_int_equal(s.calls + t.calls + a.calls + ts.calls, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(s.drops + t.drops + a.drops + ts.drops, 4);
    assert_int_equal(ran.drops, 1);
}

/* A drop that schedules another callback. */
typedef struct reschedule {
    coio_loop *loop;
    int drops;
    int st; /* the last status */
    int n_ok, n_closed, n_other;
    probe next;
} reschedule;

static void drop_reschedules(void *p) {
    reschedule *r = p;
    r->drops++;
    r->st = coio_call_soon(r->loop, probe_cb, &r->next, probe_drop, NULL);
    if (r->st == COIO_OK)
        r->n_ok++;
    else if (r->st == COIO_ECLOSED)
        r->n_closed++;
    else
        r->n_other++;
}

static void test_drop_calls_api(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    /* after the call */
    reschedule r1 = {.loop = loop, .st = 1};
    assert_status(coio_call_soon(loop, noop, NULL, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, noop, &r1, drop_reschedules, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(r1.drops, 1);
    assert_status(r1.st, COIO_OK);
    assert_int_equal(r1.next.calls, 0);
    tu_run_one_pass(loop);
    assert_int_equal(r1.next.calls, 1);
    assert_int_equal(r1.next.drops, 1);

    /* on cancel */
    reschedule r2 = {.loop = loop, .st = 1};
    coio_handle *h = NULL;
    assert_status(coio_call_later(loop, 1.0, noop, &r2, drop_reschedules, &h), COIO_OK);
    assert_status(coio_handle_cancel(h), COIO_OK);
    assert_int_equal(r2.drops, 1);
    assert_status(r2.st, COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(r2.next.calls, 1);
    assert_int_equal(r2.next.drops, 1);
    coio_handle_release(h);

    /* at close: the loop is closing, so the new registration is refused (ECLOSED, its drop
     * not called) — or, if accepted, it is discarded too and its drop runs once. */
    reschedule r3 = {.loop = loop, .st = 1};
    assert_status(coio_call_soon(loop, noop, &r3, drop_reschedules, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 5.0, noop, &r3, drop_reschedules, NULL), COIO_OK);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(r3.drops, 2);
    assert_int_equal(r3.next.calls, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
    if (r3.n_other)
        fail_msg("coio_call_soon from a drop at close returned %s", coio_status_name(r3.st));
    assert_int_equal(r3.next.drops, r3.n_ok);
}

/* ---- many timers, most cancelled -------------------------------------------------------- */

static void test_many_timers_cancelled(void **state) {
    (void)state;
    enum { N = 10000, KEEP = 10 };
    coio_loop *loop = tu_loop_virtual();
    static seq s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    static seq_item items[N];
    static double deadline[N];
    static coio_handle *h[N];
    for (int i = 0; i < N; i++) {
        deadline[i] = (double)(rng() % 5000) / 100.0; /* plenty of ties */
        items[i] = (seq_item){&s, i, KEEP};
        assert_status(coio_call_at(loop, deadline[i], seq_cb, &items[i], NULL, &h[i]), COIO_OK);
    }
    /* keep every 1000th (indices 7, 1007, ...), cancel the rest */
    int kept[KEEP], nk = 0;
    for (int i = 0; i < N; i++) {
        if (i % 1000 == 7)
            kept[nk++] = i;
        else
            assert_status(coio_handle_cancel(h[i]), COIO_OK);
    }
    assert_int_equal(nk, KEEP);
    for (int i = 0; i < N; i++)
        assert_int_equal(coio_handle_cancelled(h[i]), i % 1000 != 7);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(s.n, KEEP);
    /* expected order: by deadline, ties by scheduling order */
    int expect[KEEP];
    for (int i = 0; i < KEEP; i++) {
        int j = i;
        while (j > 0 && deadline[expect[j - 1]] > deadline[kept[i]]) {
            expect[j] = expect[j - 1];
            j--;
        }
        expect[j] = kept[i];
    }
    for (int i = 0; i < KEEP; i++) {
        assert_int_equal(s.tags[i], expect[i]);
        assert_double_eq(s.times[i], deadline[expect[i]], 0.0);
    }
    for (int i = 0; i < N; i++)
        coio_handle_release(h[i]);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* A deep heap (20,000 timers, seven levels of four) with ties everywhere: the pops run in
 * (deadline, scheduling order) whatever the families' shapes.  A fifth are cancelled, so
 * cancelled entries are skipped on the way too. */
static const double *order_deadline;

static int by_deadline_then_index(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (order_deadline[i] != order_deadline[j])
        return order_deadline[i] < order_deadline[j] ? -1 : 1;
    return (i > j) - (i < j);
}

static void test_many_timers_order(void **state) {
    (void)state;
    enum { N = 20000 };
    coio_loop *loop = tu_loop_virtual();
    static seq s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    static seq_item items[N];
    static double deadline[N];
    static coio_handle *h[N];
    static int expect[N];
    int kept = 0;
    for (int i = 0; i < N; i++) {
        deadline[i] = (double)(rng() % 3000) / 100.0; /* about seven timers per deadline */
        items[i] = (seq_item){&s, i, 0};
        assert_status(coio_call_at(loop, deadline[i], seq_cb, &items[i], NULL, &h[i]), COIO_OK);
    }
    for (int i = 0; i < N; i++) {
        if (i % 5 == 3)
            assert_status(coio_handle_cancel(h[i]), COIO_OK);
        else
            expect[kept++] = i;
        coio_handle_release(h[i]);
    }
    for (int i = 0; i < N; i++)
        items[i].stop_after = kept;
    order_deadline = deadline;
    qsort(expect, (size_t)kept, sizeof expect[0], by_deadline_then_index);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(s.n, kept);
    for (int i = 0; i < kept; i++) {
        if (s.tags[i] != expect[i])
            fail_msg("position %d: timer %d (deadline %.2f) ran, expected timer %d (deadline %.2f)",
                     i, s.tags[i], deadline[s.tags[i]], expect[i], deadline[expect[i]]);
        assert_double_eq(s.times[i], deadline[expect[i]], 0.0);
    }
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Same, counting drops: each of the 10,000 runs exactly once (9,990 at cancel, 10 after). */
typedef struct counted {
    int calls;
    int drops;
} counted;

static void counted_cb(void *p) {
    ((counted *)p)->calls++;
}
static void counted_drop(void *p) {
    ((counted *)p)->drops++;
}

static void test_many_timers_cancelled_drops(void **state) {
    (void)state;
    enum { N = 10000 };
    coio_loop *loop = tu_loop_virtual();
    static counted c[N];
    static coio_handle *h[N];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++)
        assert_status(coio_call_later(loop, (double)(rng() % 100000) / 1000.0, counted_cb, &c[i],
                                      counted_drop, &h[i]),
                      COIO_OK);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        if (i % 1000 == 999) continue;
        assert_status(coio_handle_cancel(h[i]), COIO_OK);
        coio_handle_release(h[i]);
        h[i] = NULL;
        dropped++;
    }
    int total = 0;
    for (int i = 0; i < N; i++)
        total += c[i].drops;
    assert_int_equal(total, dropped);
    assert_status(coio_call_later(loop, 200.0, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    int calls = 0;
    total = 0;
    for (int i = 0; i < N; i++) {
        calls += c[i].calls;
        total += c[i].drops;
        if (c[i].drops != 1) fail_msg("timer %d: drop ran %d times", i, c[i].drops);
        if (c[i].calls != (i % 1000 == 999)) fail_msg("timer %d ran %d times", i, c[i].calls);
    }
    assert_int_equal(calls, N / 1000);
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++)
        coio_handle_release(h[i]);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- call_soon_threadsafe --------------------------------------------------------------- */

enum { TS_THREADS = 2, TS_PER_THREAD = 10000 };

typedef struct ts_shared ts_shared;
typedef struct ts_item {
    ts_shared *sh;
    int thread;
    int seq;
    int calls;
    atomic_int drops;
} ts_item;

struct ts_shared {
    coio_loop *loop;
    int total;
    int last[TS_THREADS];
    int order_errors;
    int timed_out;
    int st[TS_THREADS];
    int failed_at[TS_THREADS];
    ts_item items[TS_THREADS][TS_PER_THREAD];
};

static void ts_cb(void *p) {
    ts_item *it = p;
    ts_shared *sh = it->sh;
    it->calls++;
    if (it->seq != sh->last[it->thread] + 1) sh->order_errors++;
    sh->last[it->thread] = it->seq;
    if (++sh->total == TS_THREADS * TS_PER_THREAD) coio_loop_stop(sh->loop);
}

static void ts_drop(void *p) {
    atomic_fetch_add(&((ts_item *)p)->drops, 1);
}

typedef struct ts_arg {
    ts_shared *sh;
    int thread;
} ts_arg;

static void *ts_thread(void *p) {
    ts_arg *a = p;
    ts_shared *sh = a->sh;
    sh->st[a->thread] = COIO_OK;
    sh->failed_at[a->thread] = -1;
    for (int i = 0; i < TS_PER_THREAD; i++) {
        int st = coio_call_soon_threadsafe(sh->loop, ts_cb, &sh->items[a->thread][i], ts_drop);
        if (st != COIO_OK) {
            sh->st[a->thread] = st;
            sh->failed_at[a->thread] = i;
            break;
        }
    }
    return NULL;
}

static void ts_watchdog(void *p) {
    ts_shared *sh = p;
    sh->timed_out = 1;
    coio_loop_stop(sh->loop);
}

static void test_threadsafe_two_threads(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    ts_shared *sh = calloc(1, sizeof *sh);
    assert_non_null(sh);
    sh->loop = loop;
    for (int t = 0; t < TS_THREADS; t++) {
        sh->last[t] = -1;
        for (int i = 0; i < TS_PER_THREAD; i++) {
            sh->items[t][i].sh = sh;
            sh->items[t][i].thread = t;
            sh->items[t][i].seq = i;
            atomic_init(&sh->items[t][i].drops, 0);
        }
    }
    /* a safety net so a lost wake-up fails instead of hanging */
    assert_status(coio_call_later(loop, 60.0, ts_watchdog, sh, NULL, NULL), COIO_OK);
    pthread_t th[TS_THREADS];
    ts_arg args[TS_THREADS];
    for (int t = 0; t < TS_THREADS; t++) {
        args[t] = (ts_arg){sh, t};
        assert_int_equal(pthread_create(&th[t], NULL, ts_thread, &args[t]), 0);
    }
    int run_st = coio_loop_run_forever(loop);
    for (int t = 0; t < TS_THREADS; t++)
        pthread_join(th[t], NULL);
    assert_status(run_st, COIO_OK);
    for (int t = 0; t < TS_THREADS; t++)
        if (sh->st[t] != COIO_OK)
            fail_msg("thread %d: coio_call_soon_threadsafe #%d returned %s", t, sh->failed_at[t],
                     coio_status_name(sh->st[t]));
    if (sh->timed_out)
        fail_msg("only %d of %d callbacks ran within 60 s", sh->total, TS_THREADS * TS_PER_THREAD);
    assert_int_equal(sh->total, TS_THREADS * TS_PER_THREAD);
    assert_int_equal(sh->order_errors, 0);
    for (int t = 0; t < TS_THREADS; t++) {
        assert_int_equal(sh->last[t], TS_PER_THREAD - 1);
        for (int i = 0; i < TS_PER_THREAD; i++) {
            if (sh->items[t][i].calls != 1)
                fail_msg("thread %d item %d ran %d times", t, i, sh->items[t][i].calls);
            if (atomic_load(&sh->items[t][i].drops) != 1)
                fail_msg("thread %d item %d dropped %d times", t, i,
                         atomic_load(&sh->items[t][i].drops));
        }
    }
    assert_status(coio_loop_release(loop), COIO_OK);
    free(sh);
}

typedef struct ts_probe {
    coio_loop *loop;
    probe p;
    int st; /* status of a submission made from another thread */
} ts_probe;

static void ts_probe_cb(void *arg) {
    ts_probe *t = arg;
    probe_cb(&t->p);
    coio_loop_stop(t->loop);
}

static void ts_probe_drop(void *arg) {
    probe_drop(&((ts_probe *)arg)->p);
}

static void test_threadsafe_runs_and_drops(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    ts_probe t = {.loop = loop};
    assert_status(coio_call_soon_threadsafe(loop, ts_probe_cb, &t, ts_probe_drop), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(t.p.calls, 1);
    assert_int_equal(t.p.drops, 1);
    assert_int_equal(t.p.drop_after_call, 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    probe q = {0};
    assert_status(coio_call_soon_threadsafe(loop, probe_cb, &q, probe_drop), COIO_ECLOSED);
    assert_int_equal(q.drops, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(q.drops, 0);
    assert_int_equal(t.p.drops, 1);
}

static void *submit_probe_thread(void *arg) {
    ts_probe *t = arg;
    t->st = coio_call_soon_threadsafe(t->loop, probe_cb, &t->p, NULL);
    return NULL;
}

/* A threadsafe callback submitted before a stopped run is "already scheduled": the one pass
 * runs it (asyncio: call_soon_threadsafe(cb); stop(); run_forever() runs cb), whether it came
 * from this thread or from another. */
static void test_threadsafe_then_stopped_run(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    probe p = {0};
    assert_status(coio_call_soon_threadsafe(loop, probe_cb, &p, probe_drop), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.drops, 1);
    assert_int_equal(p.drop_after_call, 1);

    ts_probe t = {.loop = loop};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submit_probe_thread, &t), 0);
    pthread_join(th, NULL);
    assert_status(t.st, COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(t.p.calls, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_soon_fifo),
        cmocka_unit_test(test_call_soon_before_call_later0),
        cmocka_unit_test(test_scheduled_by_callback_runs_next_pass),
        cmocka_unit_test(test_chain_does_not_starve_timers),
        cmocka_unit_test(test_timer_order_and_ties),
        cmocka_unit_test(test_many_timers_order),
        cmocka_unit_test(test_negative_delay_is_zero),
        cmocka_unit_test(test_call_at_past),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_call_later_deadline_overflow),
        cmocka_unit_test(test_virtual_hour_is_instant),
        cmocka_unit_test(test_virtual_exact_times),
        cmocka_unit_test(test_never_early),
        cmocka_unit_test(test_never_early_many),
        cmocka_unit_test(test_out_null),
        cmocka_unit_test(test_cancel_before_run),
        cmocka_unit_test(test_cancel_after_run),
        cmocka_unit_test(test_cancel_timer_same_pass),
        cmocka_unit_test(test_cancel_soon_in_ready_queue),
        cmocka_unit_test(test_cancel_self_while_running),
        cmocka_unit_test(test_handle_when),
        cmocka_unit_test(test_handle_null),
        cmocka_unit_test(test_handle_release_before_and_after_run),
        cmocka_unit_test(test_handles_outlive_loop),
        cmocka_unit_test(test_drop_after_call),
        cmocka_unit_test(test_drop_at_close),
        cmocka_unit_test(test_drop_calls_api),
        cmocka_unit_test(test_many_timers_cancelled),
        cmocka_unit_test(test_many_timers_cancelled_drops),
        cmocka_unit_test(test_threadsafe_two_threads),
        cmocka_unit_test(test_threadsafe_runs_and_drops),
        cmocka_unit_test(test_threadsafe_then_stopped_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
