/* Timeout scopes: coio_timeout_enter / enter_at / reschedule / when / expired / exit
 * (asyncio.timeout and timeout_at, CPython 3.13's Lib/asyncio/timeouts.py as the reference):
 * expiry and the COIO_ECANCELLED -> COIO_ETIMEDOUT translation with its uncancel()
 * bookkeeping, deadlines (0, negative, passed, INFINITY), rescheduling, nesting, stackful
 * and step-driven tasks, bad input, and scopes still entered when the task ends or the loop
 * closes.
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * task and scope) before returning: the suite runs under valgrind and ASan. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

static coio_future *new_future(coio_loop *loop) {
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    return f;
}

static coio_future *spawn(coio_loop *loop, coio_coroutine_fn fn, void *arg) {
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, fn, arg, NULL, &t), COIO_OK);
    return t;
}

/* A coroutine that enters a scope, awaits something inside it, then leaves it: what it saw
 * at each point is recorded. */
typedef struct sc {
    coio_loop *loop;
    /* the script */
    double delay; /* coio_timeout_enter(delay) ... */
    int at;       /* ... or coio_timeout_enter_at(when) */
    double when;
    double resched;    /* NAN: none; else reschedule to this right after entering */
    coio_future *wait; /* awaited inside the scope; NULL: a sleep of wait_delay */
    double wait_delay;
    int swallow;      /* leave the scope with COIO_OK whatever the await returned */
    int status;       /* if nonzero: leave the scope with this status instead */
    int late_resched; /* try a reschedule after the await */
    double after;     /* > 0: sleep this long after leaving the scope */
    /* what happened */
    coio_timeout *tm;
    int enter_rc, resched_rc, await_rc, exit_rc, late_resched_rc, after_rc;
    int expired_in_scope, expired_after_await;
    double when_after_enter, when_after_resched;
    double t_await, t_end;
    int cancelling_before_exit, cancelling_after_exit;
    int reached_end;
} sc;

static void sc_init(sc *s, coio_loop *loop) {
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->resched = NAN;
    s->wait_delay = 100;
}

static int body_scope(coio_future *self, void *arg) {
    sc *s = arg;
    s->enter_rc = s->at ? coio_timeout_enter_at(s->loop, s->when, &s->tm)
                        : coio_timeout_enter(s->loop, s->delay, &s->tm);
    if (s->enter_rc != COIO_OK) return COIO_OK;
    coio_timeout_when(s->tm, &s->when_after_enter);
    s->expired_in_scope = coio_timeout_expired(s->tm);
    if (!isnan(s->resched)) {
        s->resched_rc = coio_timeout_reschedule(s->tm, s->resched);
        coio_timeout_when(s->tm, &s->when_after_resched);
    }
    coio_future *w = s->wait;
    if (!w && coio_sleep(s->loop, s->wait_delay, &w) != COIO_OK) return COIO_EINVAL;
    s->await_rc = coio_await(w, NULL);
    if (!s->wait) coio_future_release(w);
    s->t_await = coio_loop_time(s->loop);
    s->expired_after_await = coio_timeout_expired(s->tm);
    if (s->late_resched) s->late_resched_rc = coio_timeout_reschedule(s->tm, s->t_await + 50);
    int status = s->status ? s->status : s->swallow ? COIO_OK : s->await_rc;
    s->cancelling_before_exit = coio_task_cancelling(self);
    s->exit_rc = coio_timeout_exit(s->tm, status);
    s->tm = NULL; /* freed */
    s->cancelling_after_exit = coio_task_cancelling(self);
    if (s->after > 0) {
        coio_future *nap = NULL;
        if (coio_sleep(s->loop, s->after, &nap) != COIO_OK) return COIO_EINVAL;
        s->after_rc = coio_await(nap, NULL);
        coio_future_release(nap);
    }
    s->t_end = coio_loop_time(s->loop);
    s->reached_end = 1;
    return s->exit_rc;
}

/* Spawns body_scope(s) and runs the loop until it is done; returns the task (the caller's). */
static coio_future *run_scope(coio_loop *loop, sc *s) {
    coio_future *t = spawn(loop, body_scope, s);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(coio_future_done(t), 1);
    return t;
}

typedef struct canceller {
    coio_future *task;
    const char *msg;
} canceller;

static void cancel_task(void *p) {
    canceller *c = p;
    assert_int_equal(coio_future_cancel(c->task, c->msg), 1);
}

/* ---- Expiry ----------------------------------------------------------------------------- */

static void test_expiry_cancels_body_and_exit_gives_etimedout(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1.5;
    coio_future *t = run_scope(loop, &s);
    assert_status(s.enter_rc, COIO_OK);
    assert_double_eq(s.when_after_enter, 1.5, 1e-9);
    assert_int_equal(s.expired_in_scope, 0);
    assert_status(s.await_rc, COIO_ECANCELLED); /* the body sees the cancellation */
    assert_double_eq(s.t_await, 1.5, 1e-9);
    assert_int_equal(s.expired_after_await, 1);
    assert_int_equal(s.cancelling_before_exit, 1); /* the scope's own cancel() */
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    assert_int_equal(s.cancelling_after_exit, 0); /* ... taken back by the exit */
    assert_int_equal(tu_error_code(t), COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_body_done_before_deadline_is_untouched(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 5;
    s.wait_delay = 1;
    s.after = 10; /* still running when the old deadline passes */
    coio_future *t = run_scope(loop, &s);
    assert_status(s.await_rc, COIO_OK);
    assert_status(s.exit_rc, COIO_OK);
    assert_int_equal(s.expired_after_await, 0);
    assert_int_equal(s.cancelling_after_exit, 0);
    assert_status(s.after_rc, COIO_OK); /* the exit cancelled the timer */
    assert_double_eq(s.t_end, 11, 1e-9);
    assert_status(coio_future_result(t, NULL), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_delay_zero_expires_on_next_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *never = new_future(loop);
    sc s;
    sc_init(&s, loop);
    s.delay = 0;
    s.wait = never;
    coio_future *t = spawn(loop, body_scope, &s);
    tu_run_one_pass(loop); /* the body enters the scope and waits */
    assert_status(s.enter_rc, COIO_OK);
    assert_int_equal(coio_future_done(t), 0);
    tu_run_one_pass(loop); /* the timeout fires: the task is cancelled, never cancelled */
    assert_int_equal(coio_future_cancelled(never), 1);
    tu_run_one_pass(loop); /* the body resumes */
    assert_int_equal(coio_future_done(t), 1);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    assert_int_equal(tu_error_code(t), COIO_ETIMEDOUT);
    assert_double_eq(coio_loop_time(loop), 0, 0);
    coio_future_release(never);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_negative_delay_means_no_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = COIO_NO_TIMEOUT;
    s.wait_delay = 1000;
    coio_future *t = run_scope(loop, &s);
    assert_true(isinf(s.when_after_enter) && s.when_after_enter > 0);
    assert_status(s.await_rc, COIO_OK);
    assert_status(s.exit_rc, COIO_OK);
    assert_double_eq(s.t_await, 1000, 1e-9);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_infinite_delay_means_no_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = INFINITY;
    s.wait_delay = 500;
    coio_future *t = run_scope(loop, &s);
    assert_true(isinf(s.when_after_enter));
    assert_status(s.exit_rc, COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_enter_at_absolute_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.at = 1;
    s.when = 7.25;
    coio_future *t = run_scope(loop, &s);
    assert_double_eq(s.when_after_enter, 7.25, 0);
    assert_double_eq(s.t_await, 7.25, 1e-9);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_enter_at_passed_time_expires_on_next_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.at = 1;
    s.when = -5; /* long passed */
    coio_future *t = run_scope(loop, &s);
    assert_double_eq(s.when_after_enter, -5, 0); /* when() is what was asked for */
    assert_status(s.await_rc, COIO_ECANCELLED);
    assert_double_eq(s.t_await, 0, 0);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);

    sc_init(&s, loop);
    s.at = 1;
    s.when = -INFINITY;
    t = run_scope(loop, &s);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_enter_at_infinity_means_no_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.at = 1;
    s.when = INFINITY;
    s.wait_delay = 300;
    coio_future *t = run_scope(loop, &s);
    assert_true(isinf(s.when_after_enter));
    assert_status(s.await_rc, COIO_OK);
    assert_status(s.exit_rc, COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_when_is_enter_time_plus_delay(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    /* The scope is entered at t=2 (the task starts after a sleep). */
    coio_future *nap = tu_sleep(loop, 2);
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    sc s;
    sc_init(&s, loop);
    s.delay = 0.5;
    coio_future *t = run_scope(loop, &s);
    assert_double_eq(s.when_after_enter, 2.5, 1e-9);
    assert_double_eq(s.t_await, 2.5, 1e-9);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- Cancellation bookkeeping (Task.uncancel) -------------------------------------------- */

/* The scope fires and, in the same pass, the task is also cancelled from outside: the
 * cancellation is not the scope's alone, so it goes on as COIO_ECANCELLED. */
static void test_outside_cancel_in_same_pass_stays_ecancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    coio_future *t = spawn(loop, body_scope, &s);
    canceller c = {t, "outside"};
    tu_run_one_pass(loop); /* entered: its timer at 1.0 is scheduled before ours */
    assert_status(coio_call_at(loop, 1.0, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(s.expired_after_await, 1);
    assert_int_equal(s.cancelling_before_exit, 2);
    assert_status(s.exit_rc, COIO_ECANCELLED);
    assert_int_equal(s.cancelling_after_exit, 1);
    assert_int_equal(coio_future_cancelled(t), 1);
    coio_future_release(t);
    tu_finish(loop);
}

/* The outside cancel comes first in the pass, the scope's second: same outcome. */
static void test_outside_cancel_before_expiry_same_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    coio_future *t = spawn(loop, body_scope, &s);
    canceller c = {t, NULL};
    assert_status(coio_call_at(loop, 1.0, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(s.expired_after_await, 1);
    assert_status(s.exit_rc, COIO_ECANCELLED);
    assert_int_equal(s.cancelling_after_exit, 1);
    coio_future_release(t);
    tu_finish(loop);
}

/* Cancelled from outside before the deadline: the scope never expired, nothing changes. */
static void test_outside_cancel_before_deadline_is_ecancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 5;
    s.after = 10;
    coio_future *t = spawn(loop, body_scope, &s);
    canceller c = {t, NULL};
    assert_status(coio_call_at(loop, 1.0, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(s.expired_after_await, 0);
    assert_double_eq(s.t_await, 1, 1e-9);
    assert_status(s.exit_rc, COIO_ECANCELLED);
    assert_int_equal(s.cancelling_after_exit, 1);
    assert_status(s.after_rc, COIO_OK); /* the timer at 5 went with the exit */
    coio_future_release(t);
    tu_finish(loop);
}

/* A cancellation requested before the scope was entered (and swallowed without uncancel)
 * is recorded at entry: the scope's own expiry still gives COIO_ETIMEDOUT. */
static int body_swallow_then_scope(coio_future *self, void *arg) {
    sc *s = arg;
    coio_future *nap = NULL;
    if (coio_sleep(s->loop, 10, &nap) != COIO_OK) return COIO_EINVAL;
    int rc = coio_await(nap, NULL); /* cancelled from outside, swallowed */
    coio_future_release(nap);
    if (rc != COIO_ECANCELLED) return COIO_EINVAL;
    return body_scope(self, arg);
}

static void test_cancelling_recorded_at_enter(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    coio_future *t = spawn(loop, body_swallow_then_scope, &s);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(s.cancelling_before_exit, 2);
    assert_status(s.exit_rc, COIO_ETIMEDOUT); /* uncancel() gives 1 <= 1 recorded */
    assert_int_equal(s.cancelling_after_exit, 1);
    coio_future_release(t);
    tu_finish(loop);
}

/* The body catches the scope's cancellation and ends well: the status stays COIO_OK, and
 * uncancel() still runs (3.13 calls it whenever the scope expired). */
static void test_expired_but_body_succeeded_keeps_ok_and_uncancels(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    s.swallow = 1;
    s.after = 5; /* not cancelled again afterwards */
    coio_future *t = run_scope(loop, &s);
    assert_status(s.await_rc, COIO_ECANCELLED);
    assert_status(s.exit_rc, COIO_OK);
    assert_int_equal(s.cancelling_after_exit, 0);
    assert_status(s.after_rc, COIO_OK);
    assert_status(coio_future_result(t, NULL), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_expired_other_status_passes_through(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    s.status = COIO_ESHUTDOWN;
    coio_future *t = run_scope(loop, &s);
    assert_status(s.exit_rc, COIO_ESHUTDOWN);
    assert_int_equal(s.cancelling_after_exit, 0); /* uncancelled all the same */
    assert_int_equal(tu_error_code(t), COIO_ESHUTDOWN);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_not_expired_statuses_pass_through(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    const int statuses[] = {COIO_ECANCELLED, COIO_EFAILED, COIO_ETIMEDOUT, COIO_EINVAL};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        sc s;
        sc_init(&s, loop);
        s.delay = 100;
        s.wait_delay = 1;
        s.status = statuses[i];
        coio_future *t = run_scope(loop, &s);
        assert_status(s.exit_rc, statuses[i]);
        coio_future_release(t);
    }
    tu_finish(loop);
}

/* ---- Rescheduling ----------------------------------------------------------------------- */

static void test_reschedule_later(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    s.resched = 4;
    coio_future *t = run_scope(loop, &s);
    assert_status(s.resched_rc, COIO_OK);
    assert_double_eq(s.when_after_resched, 4, 0);
    assert_double_eq(s.t_await, 4, 1e-9); /* the old deadline did nothing */
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_reschedule_earlier(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 10;
    s.resched = 2;
    coio_future *t = run_scope(loop, &s);
    assert_double_eq(s.t_await, 2, 1e-9);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_reschedule_infinity_removes_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    s.resched = INFINITY;
    s.wait_delay = 50;
    coio_future *t = run_scope(loop, &s);
    assert_true(isinf(s.when_after_resched));
    assert_status(s.await_rc, COIO_OK);
    assert_double_eq(s.t_await, 50, 1e-9);
    assert_status(s.exit_rc, COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_reschedule_from_infinity_to_a_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = COIO_NO_TIMEOUT;
    s.resched = 3;
    coio_future *t = run_scope(loop, &s);
    assert_double_eq(s.t_await, 3, 1e-9);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

typedef struct resched_cb {
    sc *s;
    double when;
    int rc;
    int expired;
} resched_cb;

static void reschedule_later_cb(void *p) {
    resched_cb *r = p;
    r->expired = coio_timeout_expired(r->s->tm);
    r->rc = coio_timeout_reschedule(r->s->tm, r->when);
}

/* From outside the task (a timer callback), to a time already passed: fires on the next
 * pass (asyncio's call_soon). */
static void test_reschedule_from_callback_to_passed_time(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 10;
    coio_future *t = spawn(loop, body_scope, &s);
    resched_cb r = {&s, 0.5, 99, -1};
    assert_status(coio_call_at(loop, 2.0, reschedule_later_cb, &r, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(r.rc, COIO_OK);
    assert_int_equal(r.expired, 0);
    assert_double_eq(s.t_await, 2, 1e-9);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

/* Once expired (asyncio's EXPIRING), reschedule is refused. */
static void test_reschedule_after_expiry_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    s.late_resched = 1;
    coio_future *t = run_scope(loop, &s);
    assert_status(s.late_resched_rc, COIO_ESTATE);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

/* From a callback that runs after the timer fired, before the body resumes. */
static void test_reschedule_from_callback_after_expiry_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 1;
    coio_future *t = spawn(loop, body_scope, &s);
    tu_run_one_pass(loop);
    resched_cb r = {&s, 30, 99, -1};
    assert_status(coio_call_at(loop, 1.0, reschedule_later_cb, &r, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(r.expired, 1);
    assert_status(r.rc, COIO_ESTATE);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t);
    tu_finish(loop);
}

/* Before the deadline, still entered, a late reschedule pushes it out. */
static void test_reschedule_while_waiting_keeps_scope(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 5;
    s.wait_delay = 1;
    s.late_resched = 1; /* to 51 */
    s.after = 60;       /* after the exit: the rescheduled timer must be gone too */
    coio_future *t = run_scope(loop, &s);
    assert_status(s.late_resched_rc, COIO_OK);
    assert_status(s.exit_rc, COIO_OK);
    assert_status(s.after_rc, COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- Nesting ---------------------------------------------------------------------------- */

typedef struct nest {
    coio_loop *loop;
    double outer_delay, inner_delay;
    int inner_await_rc, inner_exit_rc, outer_exit_rc;
    int inner_expired, outer_expired;
    int after_rc;
    double t_await;
    int cancelling_end;
} nest;

static int body_nested(coio_future *self, void *arg) {
    nest *n = arg;
    coio_timeout *outer = NULL, *inner = NULL;
    if (coio_timeout_enter(n->loop, n->outer_delay, &outer) != COIO_OK) return COIO_EINVAL;
    if (coio_timeout_enter(n->loop, n->inner_delay, &inner) != COIO_OK) return COIO_EINVAL;
    coio_future *nap = NULL;
    if (coio_sleep(n->loop, 100, &nap) != COIO_OK) return COIO_EINVAL;
    n->inner_await_rc = coio_await(nap, NULL);
    coio_future_release(nap);
    n->t_await = coio_loop_time(n->loop);
    n->inner_expired = coio_timeout_expired(inner);
    n->outer_expired = coio_timeout_expired(outer);
    n->inner_exit_rc = coio_timeout_exit(inner, n->inner_await_rc);
    n->outer_exit_rc = coio_timeout_exit(outer, n->inner_exit_rc);
    n->cancelling_end = coio_task_cancelling(self);
    /* Not cancelled later by either scope. */
    if (coio_sleep(n->loop, 200, &nap) != COIO_OK) return COIO_EINVAL;
    n->after_rc = coio_await(nap, NULL);
    coio_future_release(nap);
    return n->outer_exit_rc;
}

static void run_nested(coio_loop *loop, nest *n) {
    n->loop = loop;
    coio_future *t = spawn(loop, body_nested, n);
    coio_loop_run_until_complete(loop, t);
    coio_future_release(t);
}

static void test_nested_inner_expires(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    nest n = {.outer_delay = 10, .inner_delay = 1};
    run_nested(loop, &n);
    assert_double_eq(n.t_await, 1, 1e-9);
    assert_int_equal(n.inner_expired, 1);
    assert_int_equal(n.outer_expired, 0);
    assert_status(n.inner_exit_rc, COIO_ETIMEDOUT);
    assert_status(n.outer_exit_rc, COIO_ETIMEDOUT); /* passes through the outer scope */
    assert_int_equal(n.cancelling_end, 0);
    assert_status(n.after_rc, COIO_OK);
    tu_finish(loop);
}

static void test_nested_outer_expires(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    nest n = {.outer_delay = 1, .inner_delay = 10};
    run_nested(loop, &n);
    assert_int_equal(n.inner_expired, 0);
    assert_int_equal(n.outer_expired, 1);
    assert_status(n.inner_exit_rc, COIO_ECANCELLED); /* not the inner scope's doing */
    assert_status(n.outer_exit_rc, COIO_ETIMEDOUT);
    assert_int_equal(n.cancelling_end, 0);
    assert_status(n.after_rc, COIO_OK);
    tu_finish(loop);
}

/* Both expire in the same pass: the inner one sees a cancellation left that is not its own,
 * the outer one takes the last one back. */
static void test_nested_both_expire_same_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    nest n = {.outer_delay = 1, .inner_delay = 1};
    run_nested(loop, &n);
    assert_int_equal(n.inner_expired, 1);
    assert_int_equal(n.outer_expired, 1);
    assert_status(n.inner_exit_rc, COIO_ECANCELLED);
    assert_status(n.outer_exit_rc, COIO_ETIMEDOUT);
    assert_int_equal(n.cancelling_end, 0);
    tu_finish(loop);
}

/* ---- Step-driven tasks ------------------------------------------------------------------ */

typedef struct stp {
    coio_loop *loop;
    int calls;
    double delay, wait;
    coio_timeout *tm;
    int enter_rc, await_rc, exit_rc, exit_rc_other_step;
    int drops;
} stp;

/* Step 0 enters and awaits a sleep; step 1 leaves the scope with what the await gave. */
static int step_scope(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    stp *p = arg;
    switch (p->calls++) {
    case 0: {
        p->enter_rc = coio_timeout_enter(p->loop, p->delay, &p->tm);
        coio_future *nap = NULL;
        if (p->enter_rc || coio_sleep(p->loop, p->wait, &nap) != COIO_OK) return COIO_EINVAL;
        int rc = coio_step_await(task, nap);
        coio_future_release(nap);
        return rc == COIO_OK ? COIO_STEP_AWAIT : rc;
    }
    default:
        p->await_rc = status;
        p->exit_rc = coio_timeout_exit(p->tm, status);
        return p->exit_rc;
    }
}

static void stp_drop(void *arg) {
    ((stp *)arg)->drops++;
}

static void test_step_task_enter_and_exit_in_later_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    stp p = {.loop = loop, .delay = 2, .wait = 30};
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_scope, &p, stp_drop, NULL, &t), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(p.calls, 2);
    assert_status(p.await_rc, COIO_ECANCELLED);
    assert_status(p.exit_rc, COIO_ETIMEDOUT);
    assert_double_eq(coio_loop_time(loop), 2, 1e-9);
    assert_int_equal(tu_error_code(t), COIO_ETIMEDOUT);
    assert_int_equal(coio_task_cancelling(t), 0);
    assert_int_equal(p.drops, 1);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_step_task_done_before_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    stp p = {.loop = loop, .delay = 20, .wait = 3};
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_scope, &p, NULL, NULL, &t), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(p.exit_rc, COIO_OK);
    assert_status(coio_future_result(t, NULL), COIO_OK);
    /* The deadline timer went with the scope (firing on freed memory otherwise: ASan). */
    coio_future *nap = tu_sleep(loop, 50);
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- Where the scope may be used -------------------------------------------------------- */

typedef struct outside {
    coio_loop *loop;
    coio_timeout *tm;
    int rc, rc_at;
} outside;

static void enter_in_callback(void *p) {
    outside *o = p;
    o->rc = coio_timeout_enter(o->loop, 1, &o->tm);
    o->rc_at = coio_timeout_enter_at(o->loop, 1, &o->tm);
}

static void test_enter_outside_a_task_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    outside o = {loop, NULL, 99, 99};
    /* From the main program (no task running). */
    assert_status(coio_timeout_enter(loop, 1, &o.tm), COIO_ESTATE);
    assert_status(coio_timeout_enter_at(loop, 1, &o.tm), COIO_ESTATE);
    assert_null(o.tm);
    /* From a plain callback. */
    assert_status(coio_call_soon(loop, enter_in_callback, &o, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_status(o.rc, COIO_ESTATE);
    assert_status(o.rc_at, COIO_ESTATE);
    assert_null(o.tm);
    tu_finish(loop);
}

static void test_enter_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_timeout *tm = NULL;
    assert_status(coio_timeout_enter(NULL, 1, &tm), COIO_EINVAL);
    assert_status(coio_timeout_enter_at(NULL, 1, &tm), COIO_EINVAL);
    assert_status(coio_timeout_enter(loop, 1, NULL), COIO_EINVAL);
    assert_status(coio_timeout_enter_at(loop, 1, NULL), COIO_EINVAL);
    assert_status(coio_timeout_enter(loop, NAN, &tm), COIO_EINVAL);
    assert_status(coio_timeout_enter_at(loop, NAN, &tm), COIO_EINVAL);
    assert_null(tm);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_timeout_enter(loop, 1, &tm), COIO_ECLOSED);
    assert_status(coio_timeout_enter_at(loop, 1, &tm), COIO_ECLOSED);
    assert_null(tm);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Bad input inside a task: NaN still EINVAL there, and nothing is entered. */
static int body_bad_input(coio_future *self, void *arg) {
    (void)self;
    sc *s = arg;
    s->enter_rc = coio_timeout_enter(s->loop, NAN, &s->tm);
    s->resched_rc = coio_timeout_enter_at(s->loop, NAN, &s->tm);
    s->await_rc = coio_timeout_enter(s->loop, 1, NULL);
    return COIO_OK;
}

static void test_enter_bad_input_inside_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    coio_future *t = spawn(loop, body_bad_input, &s);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(s.enter_rc, COIO_EINVAL);
    assert_status(s.resched_rc, COIO_EINVAL);
    assert_status(s.await_rc, COIO_EINVAL);
    assert_null(s.tm);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_query_and_reschedule_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    double when = 42;
    assert_status(coio_timeout_when(NULL, &when), COIO_EINVAL);
    assert_double_eq(when, 42, 0);
    assert_int_equal(coio_timeout_expired(NULL), 0);
    assert_status(coio_timeout_reschedule(NULL, 1), COIO_EINVAL);
    assert_status(coio_timeout_exit(NULL, COIO_OK), COIO_EINVAL);

    /* With a live scope: NaN and a NULL out. */
    coio_future *never = new_future(loop);
    sc s;
    sc_init(&s, loop);
    s.delay = 5;
    s.wait = never;
    coio_future *t = spawn(loop, body_scope, &s);
    tu_run_one_pass(loop);
    assert_non_null(s.tm);
    assert_status(coio_timeout_reschedule(s.tm, NAN), COIO_EINVAL);
    assert_status(coio_timeout_when(s.tm, NULL), COIO_EINVAL);
    assert_status(coio_timeout_when(s.tm, &when), COIO_OK);
    assert_double_eq(when, 5, 1e-9); /* unchanged by the NaN */
    assert_status(coio_future_set_result(never, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(s.exit_rc, COIO_OK);
    coio_future_release(never);
    coio_future_release(t);
    tu_finish(loop);
}

/* coio_timeout_exit from anywhere but the task that entered: ESTATE, and the scope stays
 * (still usable, still the task's). */
static void test_exit_from_another_context_is_estate_and_keeps_scope(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *gate = new_future(loop);
    sc s;
    sc_init(&s, loop);
    s.delay = 5;
    s.wait = gate;
    coio_future *t = spawn(loop, body_scope, &s);
    tu_run_one_pass(loop);
    assert_status(coio_timeout_exit(s.tm, COIO_ECANCELLED), COIO_ESTATE); /* no task runs */
    double when = 0;
    assert_status(coio_timeout_when(s.tm, &when), COIO_OK);
    assert_double_eq(when, 5, 1e-9);
    assert_int_equal(coio_timeout_expired(s.tm), 0);
    /* The scope still works: it expires, and its own task leaves it. */
    coio_loop_run_until_complete(loop, t);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(gate);
    coio_future_release(t);
    tu_finish(loop);
}

/* From another task. */
typedef struct other_exit {
    sc *s;
    int rc;
} other_exit;

static int body_other_exit(coio_future *self, void *arg) {
    (void)self;
    other_exit *o = arg;
    o->rc = coio_timeout_exit(o->s->tm, COIO_OK);
    return COIO_OK;
}

static void test_exit_from_another_task_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 2;
    coio_future *t = spawn(loop, body_scope, &s);
    tu_run_one_pass(loop);
    other_exit o = {&s, 99};
    coio_future *t2 = spawn(loop, body_other_exit, &o);
    coio_loop_run_until_complete(loop, t2);
    assert_status(o.rc, COIO_ESTATE);
    coio_loop_run_until_complete(loop, t);
    assert_status(s.exit_rc, COIO_ETIMEDOUT);
    coio_future_release(t2);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- Lifetime ---------------------------------------------------------------------------- */

/* The body returns with the scope still entered: the scope goes with the task, its timer
 * too (it would otherwise fire at 100 on freed memory: ASan / valgrind see it). */
static int body_forget_exit(coio_future *self, void *arg) {
    (void)self;
    sc *s = arg;
    s->enter_rc = coio_timeout_enter(s->loop, s->delay, &s->tm);
    return COIO_OK;
}

static void test_task_ending_inside_scope_frees_it(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 100;
    coio_future *t = spawn(loop, body_forget_exit, &s);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    coio_future *nap = tu_sleep(loop, 500);
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    tu_finish(loop);
}

/* Same, with the task released while its scope's timer is pending and due soon. */
static void test_task_ending_inside_expiring_scope(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    s.delay = 0; /* fires on the pass after the body returned */
    coio_future *t = spawn(loop, body_forget_exit, &s);
    coio_future_release(t);
    coio_future *nap = tu_sleep(loop, 1);
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    tu_finish(loop);
}

/* The loop closes while a coroutine waits inside a scope (with a deadline, without one, and
 * expired but not left yet): the task is reported, and the scopes go when it is freed. */
static void close_with_scope(double delay, int passes) {
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *never = new_future(loop);
    sc s;
    sc_init(&s, loop);
    s.delay = delay;
    s.wait = never;
    coio_future *t = spawn(loop, body_scope, &s);
    for (int i = 0; i < passes; i++)
        tu_run_one_pass(loop);
    assert_non_null(s.tm);
    assert_int_equal(coio_future_done(t), 0);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(r.n, 1); /* "Task was destroyed but it is pending!" */
    /* The scope lives as long as the task: still readable, no longer reschedulable. */
    assert_status(coio_timeout_reschedule(s.tm, 50), COIO_ECLOSED);
    assert_status(coio_timeout_exit(s.tm, COIO_OK), COIO_ESTATE);
    coio_future_release(t);
    coio_future_release(never);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_loop_close_with_scope_entered(void **state) {
    (void)state;
    close_with_scope(10, 1);
}

static void test_loop_close_with_scope_without_deadline(void **state) {
    (void)state;
    close_with_scope(COIO_NO_TIMEOUT, 1);
}

static void test_loop_close_with_scope_expired_not_left(void **state) {
    (void)state;
    close_with_scope(0, 2); /* the timer fired; the body has not resumed */
}

static void test_loop_close_with_step_task_in_scope(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    stp p = {.loop = loop, .delay = 2, .wait = 30};
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_scope, &p, stp_drop, NULL, &t), COIO_OK);
    tu_run_one_pass(loop);
    assert_status(p.enter_rc, COIO_OK);
    coio_future_release(t); /* the loop's references are the last ones */
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(p.drops, 1);
    assert_int_equal(r.n, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Many scopes entered and left in one task: each exit frees its scope at once. */
static int body_many_scopes(coio_future *self, void *arg) {
    (void)self;
    sc *s = arg;
    for (int i = 0; i < 1000; i++) {
        coio_timeout *tm = NULL;
        if (coio_timeout_enter(s->loop, i % 2 ? 5 : COIO_NO_TIMEOUT, &tm) != COIO_OK)
            return COIO_EINVAL;
        if (coio_timeout_exit(tm, COIO_OK) != COIO_OK) return COIO_EINVAL;
    }
    s->reached_end = 1;
    return COIO_OK;
}

static void test_many_scopes_in_one_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sc s;
    sc_init(&s, loop);
    coio_future *t = spawn(loop, body_many_scopes, &s);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(s.reached_end, 1);
    coio_future *nap = tu_sleep(loop, 10); /* past every deadline: no timer left behind */
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    coio_future_release(t);
    tu_finish(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_cancels_body_and_exit_gives_etimedout),
        cmocka_unit_test(test_body_done_before_deadline_is_untouched),
        cmocka_unit_test(test_delay_zero_expires_on_next_pass),
        cmocka_unit_test(test_negative_delay_means_no_deadline),
        cmocka_unit_test(test_infinite_delay_means_no_deadline),
        cmocka_unit_test(test_enter_at_absolute_deadline),
        cmocka_unit_test(test_enter_at_passed_time_expires_on_next_pass),
        cmocka_unit_test(test_enter_at_infinity_means_no_deadline),
        cmocka_unit_test(test_when_is_enter_time_plus_delay),
        cmocka_unit_test(test_outside_cancel_in_same_pass_stays_ecancelled),
        cmocka_unit_test(test_outside_cancel_before_expiry_same_pass),
        cmocka_unit_test(test_outside_cancel_before_deadline_is_ecancelled),
        cmocka_unit_test(test_cancelling_recorded_at_enter),
        cmocka_unit_test(test_expired_but_body_succeeded_keeps_ok_and_uncancels),
        cmocka_unit_test(test_expired_other_status_passes_through),
        cmocka_unit_test(test_not_expired_statuses_pass_through),
        cmocka_unit_test(test_reschedule_later),
        cmocka_unit_test(test_reschedule_earlier),
        cmocka_unit_test(test_reschedule_infinity_removes_deadline),
        cmocka_unit_test(test_reschedule_from_infinity_to_a_deadline),
        cmocka_unit_test(test_reschedule_from_callback_to_passed_time),
        cmocka_unit_test(test_reschedule_after_expiry_is_estate),
        cmocka_unit_test(test_reschedule_from_callback_after_expiry_is_estate),
        cmocka_unit_test(test_reschedule_while_waiting_keeps_scope),
        cmocka_unit_test(test_nested_inner_expires),
        cmocka_unit_test(test_nested_outer_expires),
        cmocka_unit_test(test_nested_both_expire_same_pass),
        cmocka_unit_test(test_step_task_enter_and_exit_in_later_step),
        cmocka_unit_test(test_step_task_done_before_deadline),
        cmocka_unit_test(test_enter_outside_a_task_is_estate),
        cmocka_unit_test(test_enter_bad_input),
        cmocka_unit_test(test_enter_bad_input_inside_task),
        cmocka_unit_test(test_query_and_reschedule_bad_input),
        cmocka_unit_test(test_exit_from_another_context_is_estate_and_keeps_scope),
        cmocka_unit_test(test_exit_from_another_task_is_estate),
        cmocka_unit_test(test_task_ending_inside_scope_frees_it),
        cmocka_unit_test(test_task_ending_inside_expiring_scope),
        cmocka_unit_test(test_loop_close_with_scope_entered),
        cmocka_unit_test(test_loop_close_with_scope_without_deadline),
        cmocka_unit_test(test_loop_close_with_scope_expired_not_left),
        cmocka_unit_test(test_loop_close_with_step_task_in_scope),
        cmocka_unit_test(test_many_scopes_in_one_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
