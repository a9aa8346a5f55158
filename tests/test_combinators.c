/* Combinators: coio_gather, coio_wait, coio_as_completed, coio_wait_for and coio_shield
 * (asyncio.gather / wait / as_completed / wait_for / shield, CPython 3.13 as the reference).
 *
 * Children are plain futures (completed by timers or by hand) and tasks: step-driven workers
 * and stackful coroutines that sleep, then succeed, fail or end cancelled, and that can be
 * told to take extra passes after a cancellation, or to swallow it.  Every test builds its
 * own virtual-time loop and closes and releases it, and every future, before returning: the
 * suite runs under valgrind and ASan. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

static coio_future *new_future(coio_loop *loop) {
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    return f;
}

/* A plain future completed by a timer `delay` seconds from now. */
typedef struct timed {
    tu_completer c;
    int kind; /* 0 result, 1 error, 2 cancel */
} timed;

static void timed_fire(void *p) {
    timed *t = p;
    if (coio_future_done(t->c.f)) return;
    if (t->kind == 0) tu_complete_result(&t->c);
    if (t->kind == 1) tu_complete_error(&t->c);
    if (t->kind == 2) tu_complete_cancel(&t->c);
}

static void complete_later(coio_loop *loop, timed *t, coio_future *f, double delay, int kind,
                           void *value, int code, const char *message) {
    memset(t, 0, sizeof *t);
    t->c.f = f;
    t->c.value = value;
    t->c.code = code;
    t->c.message = message;
    t->kind = kind;
    assert_status(coio_call_later(loop, delay, timed_fire, t, NULL, NULL), COIO_OK);
}

enum { ON_CANCEL_END, ON_CANCEL_SWALLOW, ON_CANCEL_FAIL };

/* A task that sleeps `delay`, then ends with `outcome` (COIO_OK: result `value`; COIO_EFAILED:
 * error (code, msg); COIO_ECANCELLED).  Cancelled while sleeping, it takes `extra_passes`
 * more passes, then ends as on_cancel says. */
typedef struct worker {
    coio_loop *loop;
    double delay;
    int outcome;
    int code;
    const char *msg;
    void *value;
    coio_free_fn value_drop;
    int on_cancel;
    int extra_passes;
    /* observed */
    int phase, left;
    int cancels_seen;
    int passes_after_cancel;
    int finished;
    int drops;
    double end_time;
    coio_future *sleep;
} worker;

static void worker_init(worker *w, coio_loop *loop, double delay, int outcome) {
    memset(w, 0, sizeof *w);
    w->loop = loop;
    w->delay = delay;
    w->outcome = outcome;
    w->code = 42;
    w->msg = "worker failed";
}

/* The body is over or will never run again (the loop closed while it slept): the sleep it
 * held goes too. */
static void worker_drop(void *arg) {
    worker *w = arg;
    w->drops++;
    coio_future_release(w->sleep);
    w->sleep = NULL;
}

static int worker_end(worker *w, coio_future *self, int outcome) {
    w->finished = 1;
    w->end_time = coio_loop_time(w->loop);
    if (outcome == COIO_OK)
        assert_status(coio_future_set_result(self, w->value, w->value_drop), COIO_OK);
    if (outcome == COIO_EFAILED)
        assert_status(coio_future_set_error(self, w->code, w->msg), COIO_OK);
    return outcome;
}

static int worker_cancelled_end(worker *w, coio_future *self) {
    if (w->on_cancel == ON_CANCEL_SWALLOW) return worker_end(w, self, COIO_OK);
    if (w->on_cancel == ON_CANCEL_FAIL) return worker_end(w, self, COIO_EFAILED);
    return worker_end(w, self, COIO_ECANCELLED);
}

static int worker_step(coio_future *self, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    worker *w = arg;
    switch (w->phase) {
    case 0:
        w->phase = 1;
        w->sleep = tu_sleep(w->loop, w->delay);
        assert_status(coio_step_await(self, w->sleep), COIO_OK);
        return COIO_STEP_AWAIT;
    case 1:
        coio_future_release(w->sleep);
        w->sleep = NULL;
        if (status != COIO_ECANCELLED) return worker_end(w, self, w->outcome);
        w->cancels_seen++;
        if (w->extra_passes == 0) return worker_cancelled_end(w, self);
        w->phase = 2;
        w->left = w->extra_passes;
        return COIO_STEP_YIELD;
    default:
        if (status == COIO_ECANCELLED) w->cancels_seen++;
        w->passes_after_cancel++;
        if (--w->left > 0) return COIO_STEP_YIELD;
        return worker_cancelled_end(w, self);
    }
}

static coio_future *worker_task(worker *w) {
    coio_future *t = NULL;
    assert_status(coio_task_new(w->loop, worker_step, w, worker_drop, NULL, &t), COIO_OK);
    return t;
}

/* The same worker as a stackful coroutine. */
static int worker_body(coio_future *self, void *arg) {
    worker *w = arg;
    w->sleep = tu_sleep(w->loop, w->delay);
    int rc = coio_await(w->sleep, NULL);
    coio_future_release(w->sleep);
    w->sleep = NULL;
    coio_future *s;
    if (rc != COIO_ECANCELLED) return worker_end(w, self, w->outcome);
    w->cancels_seen++;
    for (int i = 0; i < w->extra_passes; i++) {
        s = tu_sleep(w->loop, 0);
        if (coio_await(s, NULL) == COIO_ECANCELLED) w->cancels_seen++;
        coio_future_release(s);
        w->passes_after_cancel++;
    }
    return worker_cancelled_end(w, self);
}

static coio_future *worker_coroutine(worker *w) {
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.drop = worker_drop;
    coio_future *t = NULL;
    assert_status(coio_spawn(w->loop, worker_body, w, &o, &t), COIO_OK);
    return t;
}

/* A done callback that records the loop time and what `watch` looked like then. */
typedef struct done_probe {
    coio_loop *loop;
    coio_future *watch;
    int calls;
    double time;
    int watch_done;
} done_probe;

static void probe_cb(coio_future *f, void *arg) {
    (void)f;
    done_probe *p = arg;
    p->calls++;
    p->time = coio_loop_time(p->loop);
    p->watch_done = p->watch ? coio_future_done(p->watch) : -1;
}

static void probe(coio_future *f, done_probe *p, coio_loop *loop, coio_future *watch) {
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->watch = watch;
    assert_status(coio_future_add_done_callback(f, probe_cb, p, NULL), COIO_OK);
}

static void run_until(coio_loop *loop, coio_future *f) {
    (void)coio_loop_run_until_complete(loop, f);
    assert_int_equal(coio_future_done(f), 1);
}

/* Runs the loop until virtual time `t` (a timer that stops it). */
static void stop_cb(void *loop) {
    assert_status(coio_loop_stop(loop), COIO_OK);
}

static void run_to(coio_loop *loop, double t) {
    assert_status(coio_call_at(loop, t, stop_cb, loop, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
}

static coio_loop *closed_loop(void) {
    coio_loop *l = tu_loop_virtual();
    assert_status(coio_loop_close(l), COIO_OK);
    return l;
}

/* ---- gather ----------------------------------------------------------------------------- */

static void test_gather_empty_is_done_at_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *g = NULL;
    assert_status(coio_gather(loop, NULL, 0, 0, &g), COIO_OK);
    assert_int_equal(coio_future_done(g), 1);
    void *v = &v;
    assert_status(coio_future_result(g, &v), COIO_OK);
    assert_null(v);
    coio_future_release(g);
    /* flags are checked even then */
    g = NULL;
    assert_status(coio_gather(loop, NULL, 0, 0x80, &g), COIO_EINVAL);
    assert_null(g);
    tu_finish(loop);
}

static void gather_results(int coroutine) {
    coio_loop *loop = tu_loop_virtual();
    worker w[3];
    coio_future *t[3];
    double delays[3] = {2, 1, 3};
    for (int i = 0; i < 3; i++) {
        worker_init(&w[i], loop, delays[i], COIO_OK);
        w[i].value = (void *)(intptr_t)(i + 10);
        t[i] = coroutine ? worker_coroutine(&w[i]) : worker_task(&w[i]);
    }
    coio_future *g = NULL;
    assert_status(coio_gather(loop, t, 3, 0, &g), COIO_OK);
    assert_int_equal(coio_future_is_task(g), 0);
    done_probe p;
    probe(g, &p, loop, NULL);
    run_to(loop, 2.5);
    assert_int_equal(coio_future_done(g), 0); /* t[2] still running */
    run_until(loop, g);
    void *v = &v;
    assert_status(coio_future_result(g, &v), COIO_OK);
    assert_null(v); /* no value of its own: results are read from the children */
    assert_double_eq(p.time, 3.0, 1e-9);
    for (int i = 0; i < 3; i++) {
        assert_status(coio_future_result(t[i], &v), COIO_OK);
        assert_ptr_equal(v, (void *)(intptr_t)(i + 10));
        coio_future_release(t[i]);
    }
    coio_future_release(g);
    tu_finish(loop);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].drops, 1);
}

static void test_gather_step_tasks(void **state) {
    (void)state;
    gather_results(0);
}

static void test_gather_coroutines(void **state) {
    (void)state;
    gather_results(1);
}

static void test_gather_plain_futures(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[2] = {new_future(loop), new_future(loop)};
    timed c[2];
    complete_later(loop, &c[0], f[0], 1, 0, NULL, 0, NULL);
    complete_later(loop, &c[1], f[1], 2, 0, NULL, 0, NULL);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, f, 2, 0, &g), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 2.0, 1e-9);
    coio_future_release(f[0]);
    coio_future_release(f[1]);
    coio_future_release(g);
    tu_finish(loop);
}

/* The first failure ends the gather at once; the siblings are not cancelled, and their later
 * errors count as retrieved (no report). */
static void test_gather_first_error_siblings_keep_running(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    worker w[3];
    coio_future *t[3];
    worker_init(&w[0], loop, 1, COIO_EFAILED);
    w[0].code = 7;
    w[0].msg = "first";
    worker_init(&w[1], loop, 2, COIO_OK);
    worker_init(&w[2], loop, 3, COIO_EFAILED);
    w[2].code = 8;
    w[2].msg = "second";
    for (int i = 0; i < 3; i++)
        t[i] = worker_task(&w[i]);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, t, 3, 0, &g), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_EFAILED);
    assert_double_eq(coio_loop_time(loop), 1.0, 1e-9);
    assert_int_equal(tu_error_code(g), 7);
    assert_string_equal(tu_error_message(g), "first");
    assert_int_equal(coio_future_done(t[1]), 0);
    assert_int_equal(coio_future_done(t[2]), 0);
    run_until(loop, t[2]);
    assert_int_equal(coio_future_cancelled(t[1]), 0);
    assert_status(coio_future_result(t[1], NULL), COIO_OK);
    assert_int_equal(w[1].cancels_seen + w[2].cancels_seen, 0);
    tu_run_one_pass(loop); /* the gather's callback for t[2] */
    coio_future_release(g);
    for (int i = 0; i < 3; i++)
        coio_future_release(t[i]);
    assert_int_equal(r.n, 0); /* t[0] via the gather, t[2] marked retrieved by it */
    tu_finish(loop);
}

/* Releasing a gather that ended early still keeps the later errors quiet. */
static void test_gather_released_after_early_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    worker w[2];
    coio_future *t[2];
    worker_init(&w[0], loop, 1, COIO_EFAILED);
    worker_init(&w[1], loop, 2, COIO_EFAILED);
    for (int i = 0; i < 2; i++)
        t[i] = worker_task(&w[i]);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, t, 2, 0, &g), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_EFAILED);
    coio_future_release(g);
    run_until(loop, t[1]);
    tu_run_one_pass(loop);
    coio_future_release(t[0]);
    coio_future_release(t[1]);
    assert_int_equal(r.n, 0);
    tu_finish(loop);
}

/* Abandoned while pending: nobody listens, so a child's error is the child's to report. */
static void test_gather_released_while_pending(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    worker w;
    worker_init(&w, loop, 1, COIO_EFAILED);
    coio_future *t = worker_task(&w);
    coio_future *f = new_future(loop);
    coio_future *fs[2] = {t, f};
    coio_future *g = NULL;
    assert_status(coio_gather(loop, fs, 2, 0, &g), COIO_OK);
    coio_future_release(g);
    run_to(loop, 2); /* (run_until_complete would retrieve t's error) */
    assert_int_equal(coio_future_done(t), 1);
    assert_int_equal(r.n, 0);
    coio_future_release(t);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.last_message, "Task exception was never retrieved");
    coio_future_release(f);
    tu_finish(loop);
}

static void free_payload(void *p) {
    ++*(int *)p;
}

/* The error is the child's: its payload stays reachable through the gather. */
static void test_gather_error_payload(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    coio_future *f[2] = {new_future(loop), new_future(loop)};
    coio_future *g = NULL;
    assert_status(coio_gather(loop, f, 2, 0, &g), COIO_OK);
    assert_status(coio_future_set_error_payload(f[1], 5, "boom", &drops, free_payload), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_EFAILED);
    void *payload = NULL;
    assert_status(coio_future_error_payload(g, &payload), COIO_OK);
    assert_ptr_equal(payload, &drops);
    assert_int_equal(tu_error_code(g), 5);
    coio_future_release(f[1]);
    assert_int_equal(drops, 0); /* the gather keeps the child alive */
    coio_future_release(g);
    assert_int_equal(drops, 1);
    coio_future_release(f[0]);
    tu_finish(loop);
    assert_int_equal(drops, 1);
}

/* A child cancelled directly ends the gather cancelled (asyncio: CancelledError as the
 * exception); the sibling is not touched. */
static void test_gather_child_cancelled_directly(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 5, COIO_OK);
    coio_future *fs[2] = {new_future(loop), worker_task(&w)};
    coio_future *g = NULL;
    assert_status(coio_gather(loop, fs, 2, 0, &g), COIO_OK);
    assert_int_equal(coio_future_cancel(fs[0], "child msg"), 1);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(g), 1);
    assert_string_equal(tu_error_message(g), "child msg");
    assert_int_equal(coio_future_done(fs[1]), 0);
    run_until(loop, fs[1]);
    assert_status(coio_future_result(fs[1], NULL), COIO_OK);
    assert_int_equal(w.cancels_seen, 0);
    coio_future_release(g);
    coio_future_release(fs[0]);
    coio_future_release(fs[1]);
    tu_finish(loop);
}

/* With RETURN_EXCEPTIONS the gather waits for all, and ends with a result even if children
 * failed or were cancelled; their errors count as retrieved. */
static void test_gather_return_exceptions(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    worker w[3];
    worker_init(&w[0], loop, 1, COIO_EFAILED);
    worker_init(&w[1], loop, 2, COIO_ECANCELLED);
    worker_init(&w[2], loop, 3, COIO_OK);
    coio_future *t[4];
    for (int i = 0; i < 3; i++)
        t[i] = worker_task(&w[i]);
    t[3] = new_future(loop);
    timed c;
    complete_later(loop, &c, t[3], 2.5, 1, NULL, 9, "plain");
    coio_future *g = NULL;
    assert_status(coio_gather(loop, t, 4, COIO_RETURN_EXCEPTIONS, &g), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 3.0, 1e-9);
    assert_int_equal(coio_future_cancelled(t[1]), 1);
    coio_future_release(g);
    for (int i = 0; i < 4; i++)
        coio_future_release(t[i]);
    assert_int_equal(r.n, 0);
    tu_finish(loop);
}

/* Cancelling the gather cancels every child that is not done.  With RETURN_EXCEPTIONS it
 * ends cancelled once they all are: a child that takes extra passes keeps it pending.
 * Without, the first child to end cancelled ends it at once (still cancelled). */
static void gather_cancel(unsigned flags, int coroutine) {
    coio_loop *loop = tu_loop_virtual();
    worker w[3];
    coio_future *t[3];
    worker_init(&w[0], loop, 1, COIO_OK);
    worker_init(&w[1], loop, 10, COIO_OK);
    w[1].extra_passes = 3;
    worker_init(&w[2], loop, 10, COIO_OK);
    for (int i = 0; i < 3; i++)
        t[i] = coroutine ? worker_coroutine(&w[i]) : worker_task(&w[i]);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, t, 3, flags, &g), COIO_OK);
    run_to(loop, 2);
    assert_int_equal(coio_future_done(t[0]), 1);
    done_probe p;
    probe(g, &p, loop, t[1]);
    assert_int_equal(coio_future_cancel(g, "stop"), 1);
    assert_int_equal(coio_future_done(g), 0);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_ECANCELLED);
    /* with the flag, not before the slow child was done; without, at the first one */
    assert_int_equal(p.watch_done, flags & COIO_RETURN_EXCEPTIONS ? 1 : 0);
    run_until(loop, t[1]);
    assert_int_equal(w[1].cancels_seen, 1);
    assert_int_equal(w[1].passes_after_cancel, 3);
    assert_int_equal(coio_future_cancelled(t[1]), 1);
    assert_int_equal(coio_future_cancelled(t[2]), 1);
    assert_int_equal(w[2].cancels_seen, 1);
    assert_status(coio_future_result(t[0], NULL), COIO_OK);
    assert_int_equal(coio_future_cancel(g, NULL), 0); /* done */
    coio_future_release(g);
    for (int i = 0; i < 3; i++)
        coio_future_release(t[i]);
    tu_finish(loop);
}

static void test_gather_cancel(void **state) {
    (void)state;
    gather_cancel(0, 0);
}

static void test_gather_cancel_coroutines_no_flag(void **state) {
    (void)state;
    gather_cancel(0, 1);
}

static void test_gather_cancel_return_exceptions_still_cancelled(void **state) {
    (void)state;
    gather_cancel(COIO_RETURN_EXCEPTIONS, 0);
}

static void test_gather_cancel_coroutines(void **state) {
    (void)state;
    gather_cancel(COIO_RETURN_EXCEPTIONS, 1);
}

/* A child that swallows the cancellation: the gather still ends cancelled. */
static void test_gather_cancel_swallowed_still_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    w.on_cancel = ON_CANCEL_SWALLOW;
    coio_future *t = worker_task(&w);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, &t, 1, COIO_RETURN_EXCEPTIONS, &g), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(g, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_ECANCELLED);
    assert_status(coio_future_result(t, NULL), COIO_OK);
    coio_future_release(g);
    coio_future_release(t);
    tu_finish(loop);
}

/* Every child done (their callbacks not run yet): nothing to cancel, cancel() is 0 and the
 * gather completes normally. */
static void test_gather_cancel_nothing_left(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, &f, 1, 0, &g), COIO_OK);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_int_equal(coio_future_cancel(g, NULL), 0);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_OK);
    coio_future_release(g);
    coio_future_release(f);
    tu_finish(loop);
}

/* A task awaiting the gather is cancelled: the cancellation goes to the children. */
typedef struct awaiter {
    coio_future *target;
    int rc;
    void *value;
    int done;
} awaiter;

static int await_target(coio_future *self, void *arg) {
    (void)self;
    awaiter *a = arg;
    a->rc = coio_await(a->target, &a->value);
    a->done = 1;
    return a->rc == COIO_OK ? COIO_OK : COIO_ECANCELLED;
}

static coio_future *spawn_awaiter(coio_loop *loop, awaiter *a, coio_future *target) {
    memset(a, 0, sizeof *a);
    a->target = target;
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, await_target, a, NULL, &t), COIO_OK);
    return t;
}

static void test_gather_awaiting_task_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        worker_init(&w[i], loop, 5, COIO_OK);
        t[i] = worker_coroutine(&w[i]);
    }
    coio_future *g = NULL;
    assert_status(coio_gather(loop, t, 2, 0, &g), COIO_OK);
    awaiter a;
    coio_future *main_task = spawn_awaiter(loop, &a, g);
    run_to(loop, 1);
    assert_int_equal(coio_future_cancel(main_task, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, main_task), COIO_ECANCELLED);
    assert_status(a.rc, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(g), 1);
    assert_int_equal(coio_future_cancelled(t[0]), 1);
    assert_int_equal(coio_future_cancelled(t[1]), 1);
    coio_future_release(main_task);
    coio_future_release(g);
    for (int i = 0; i < 2; i++)
        coio_future_release(t[i]);
    tu_finish(loop);
}

/* One cancellation passes through a combinator once, however many paths reach it: a ladder
 * of gathers that each take the one below twice (and of wait_fors on them) has 2^depth paths
 * down to the task at its foot, and walking every one took time exponential in the depth (a
 * fuzz input did it with ~35 levels; asyncio's walk is exponential there too).  The task at
 * the foot is still cancelled once for each time the gather over it names it, as asyncio
 * does. */
static void test_cancel_shared_combinators_walked_once(void **state) {
    (void)state;
    enum { kDepth = 64 };
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    coio_future *t = worker_task(&w);
    tu_run_one_pass(loop);
    coio_future *level[kDepth + 1];
    coio_future *ts[2] = {t, t};
    assert_status(coio_gather(loop, ts, 2, 0, &level[0]), COIO_OK);
    for (int i = 1; i <= kDepth; i++) {
        coio_future *below = level[i - 1];
        if (i % 2) {
            coio_future *two[2] = {below, below};
            assert_status(coio_gather(loop, two, 2, 0, &level[i]), COIO_OK);
        } else {
            assert_status(coio_wait_for(below, 100.0, &level[i]), COIO_OK);
        }
    }
    assert_int_equal(coio_future_cancel(level[kDepth], "stop"), 1);
    assert_int_equal(coio_task_cancelling(t), 2);
    assert_status(coio_loop_run_until_complete(loop, level[kDepth]), COIO_ECANCELLED);
    for (int i = 0; i <= kDepth; i++)
        coio_future_release(level[i]);
    coio_future_release(t);
    tu_finish(loop);
}

/* Duplicates count once (else [a, a] would wait for a second completion that never comes);
 * cancelling cancels each argument, so a duplicated task is cancelled twice (asyncio). */
static void test_gather_duplicates(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *a = new_future(loop);
    coio_future *b = new_future(loop);
    coio_future *fs[3] = {a, b, a};
    coio_future *g = NULL;
    assert_status(coio_gather(loop, fs, 3, 0, &g), COIO_OK);
    assert_status(coio_future_set_result(b, NULL, NULL), COIO_OK);
    assert_status(coio_future_set_result(a, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_OK);
    coio_future_release(g);

    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    coio_future *t = worker_task(&w);
    coio_future *ts[2] = {t, t};
    assert_status(coio_gather(loop, ts, 2, 0, &g), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(g, NULL), 1);
    assert_int_equal(coio_task_cancelling(t), 2);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_ECANCELLED);
    coio_future_release(g);
    coio_future_release(t);
    coio_future_release(a);
    coio_future_release(b);
    tu_finish(loop);
}

/* A gather freed after all its callbacks ran leaves their (run) slots on the children; a new
 * gather, likely at the same address (malloc reuses it in a plain build), must not take them
 * for its own. */
static void test_gather_reused_address(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    for (int i = 0; i < 4; i++) {
        coio_future *g = NULL;
        assert_status(coio_gather(loop, &f, 1, 0, &g), COIO_OK);
        tu_run_one_pass(loop);
        assert_int_equal(coio_future_done(g), 1);
        coio_future_release(g);
    }
    for (int i = 0; i < 4; i++) {
        coio_future *w = NULL;
        assert_status(coio_wait(loop, &f, 1, -1, COIO_ALL_COMPLETED, &w), COIO_OK);
        tu_run_one_pass(loop);
        assert_int_equal(coio_future_done(w), 1);
        coio_future_release(w);
    }
    coio_future_release(f);
    tu_finish(loop);
}

/* Many children, shuffled (the sorted duplicate check) with and without duplicates. */
#define NMANY 200
static void test_gather_many_shuffled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[NMANY], *args[NMANY + 50];
    for (int i = 0; i < NMANY; i++)
        f[i] = new_future(loop);
    for (int i = 0; i < NMANY; i++)
        args[i] = f[(i * 37) % NMANY]; /* a permutation: not monotonic */
    coio_future *g1 = NULL, *g2 = NULL;
    assert_status(coio_gather(loop, args, NMANY, 0, &g1), COIO_OK);
    for (int i = 0; i < 50; i++)
        args[NMANY + i] = f[(i * 13) % NMANY];
    assert_status(coio_gather(loop, args, NMANY + 50, 0, &g2), COIO_OK);
    for (int i = 0; i < NMANY - 1; i++)
        assert_status(coio_future_set_result(f[i], NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_done(g1), 0);
    assert_int_equal(coio_future_done(g2), 0);
    assert_status(coio_future_set_result(f[NMANY - 1], NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g1), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, g2), COIO_OK);
    coio_future_release(g1);
    coio_future_release(g2);
    for (int i = 0; i < NMANY; i++)
        coio_future_release(f[i]);
    tu_finish(loop);
}

/* Children already done count inside the call (asyncio 3.12+ runs their _done_callback in
 * gather()): a failed one ends the gather at once, all done completes it at once. */
static void test_gather_already_done_children(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[3] = {new_future(loop), new_future(loop), new_future(loop)};
    assert_status(coio_future_set_result(f[0], NULL, NULL), COIO_OK);
    assert_status(coio_future_set_error(f[1], 3, "x"), COIO_OK);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, f, 2, 0, &g), COIO_OK);
    assert_int_equal(coio_future_done(g), 1);
    assert_int_equal(tu_error_code(g), 3);
    coio_future_release(g);
    /* All done, errors returned: done with a result inside the call; a duplicate counts once. */
    coio_future *dup[3] = {f[0], f[1], f[0]};
    assert_status(coio_gather(loop, dup, 3, COIO_RETURN_EXCEPTIONS, &g), COIO_OK);
    assert_int_equal(coio_future_done(g), 1);
    assert_status(coio_future_result(g, NULL), COIO_OK);
    coio_future_release(g);
    /* One still pending: the done ones are counted, the gather waits for the last. */
    coio_future *mixed[2] = {f[0], f[2]};
    assert_status(coio_gather(loop, mixed, 2, 0, &g), COIO_OK);
    assert_int_equal(coio_future_done(g), 0);
    assert_status(coio_future_set_result(f[2], NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_done(g), 1);
    assert_status(coio_future_result(g, NULL), COIO_OK);
    coio_future_release(g);
    for (int i = 0; i < 3; i++)
        coio_future_release(f[i]);
    tu_finish(loop);
}

/* Bad input: a clear status, nothing registered, nothing referenced. */
static void test_gather_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_loop *other = tu_loop_virtual();
    coio_future *a = new_future(loop);
    coio_future *x = new_future(other);
    coio_future *g = NULL;
    coio_future *with_null[2] = {a, NULL};
    coio_future *foreign[2] = {a, x};
    assert_status(coio_gather(NULL, &a, 1, 0, &g), COIO_EINVAL);
    assert_status(coio_gather(loop, &a, 1, 0, NULL), COIO_EINVAL);
    assert_status(coio_gather(loop, NULL, 1, 0, &g), COIO_EINVAL);
    assert_status(coio_gather(loop, with_null, 2, 0, &g), COIO_EINVAL);
    assert_status(coio_gather(loop, foreign, 2, 0, &g), COIO_ELOOP);
    assert_status(coio_gather(loop, &a, 1, 2u, &g), COIO_EINVAL);
    assert_null(g);
    /* a was not registered on: completing it runs nothing; freeing it frees it */
    assert_status(coio_future_set_result(a, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    coio_future_release(a);
    coio_future_release(x);
    tu_finish(other);
    coio_loop *c = closed_loop();
    assert_status(coio_gather(c, NULL, 0, 0, &g), COIO_ECLOSED);
    assert_null(g);
    tu_finish(c);
    tu_finish(loop);
}

/* ---- wait ------------------------------------------------------------------------------- */

static const coio_wait_result *wait_value(coio_future *w) {
    void *v = NULL;
    assert_status(coio_future_result(w, &v), COIO_OK);
    assert_non_null(v);
    return v;
}

/* ALL_COMPLETED: done in completion order. */
static void test_wait_all_completed_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[3];
    coio_future *t[3];
    double delays[3] = {3, 1, 2};
    for (int i = 0; i < 3; i++) {
        worker_init(&w[i], loop, delays[i], i == 1 ? COIO_EFAILED : COIO_OK);
        t[i] = i == 2 ? worker_coroutine(&w[i]) : worker_task(&w[i]);
    }
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, t, 3, COIO_NO_TIMEOUT, COIO_ALL_COMPLETED, &wt), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 3.0, 1e-9);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 3);
    assert_int_equal(r->npending, 0);
    assert_ptr_equal(r->done[0], t[1]);
    assert_ptr_equal(r->done[1], t[2]);
    assert_ptr_equal(r->done[2], t[0]);
    /* ALL_COMPLETED does not look at errors: t[1]'s is still unretrieved */
    assert_int_equal(tu_error_code(t[1]), 42);
    for (int i = 0; i < 3; i++)
        coio_future_release(t[i]);
    /* the arrays stay valid while the wait future lives: it holds references */
    assert_int_equal(coio_future_done(r->done[0]), 1);
    coio_future_release(wt);
    tu_finish(loop);
}

/* FIRST_COMPLETED: the first one done, the others pending in argument order; nothing is
 * cancelled. */
static void test_wait_first_completed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[3];
    coio_future *t[3];
    double delays[3] = {3, 1, 2};
    for (int i = 0; i < 3; i++) {
        worker_init(&w[i], loop, delays[i], COIO_OK);
        t[i] = worker_task(&w[i]);
    }
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, t, 3, -1, COIO_FIRST_COMPLETED, &wt), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 1.0, 1e-9);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 1);
    assert_ptr_equal(r->done[0], t[1]);
    assert_int_equal(r->npending, 2);
    assert_ptr_equal(r->pending[0], t[0]);
    assert_ptr_equal(r->pending[1], t[2]);
    run_until(loop, t[0]);
    for (int i = 0; i < 3; i++) {
        assert_status(coio_future_result(t[i], NULL), COIO_OK);
        assert_int_equal(w[i].cancels_seen, 0);
        coio_future_release(t[i]);
    }
    /* the result was fixed when the wait completed */
    assert_int_equal(r->ndone, 1);
    coio_future_release(wt);
    tu_finish(loop);
}

/* Two futures done in the same pass: the wait ends at the first one's callback, and the
 * other one, done but not yet seen, is listed as done too (after it). */
static void test_wait_first_completed_same_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[3] = {new_future(loop), new_future(loop), new_future(loop)};
    timed c[2];
    complete_later(loop, &c[0], f[2], 1, 0, NULL, 0, NULL);
    complete_later(loop, &c[1], f[0], 1, 0, NULL, 0, NULL);
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, f, 3, -1, COIO_FIRST_COMPLETED, &wt), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 2);
    assert_ptr_equal(r->done[0], f[2]);
    assert_ptr_equal(r->done[1], f[0]);
    assert_int_equal(r->npending, 1);
    assert_ptr_equal(r->pending[0], f[1]);
    tu_run_one_pass(loop);
    coio_future_release(wt);
    for (int i = 0; i < 3; i++)
        coio_future_release(f[i]);
    tu_finish(loop);
}

/* FIRST_EXCEPTION: a cancelled future is not an exception; a failure ends the wait and
 * counts as retrieved (asyncio calls f.exception()). */
static void test_wait_first_exception(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    coio_future *f[3] = {new_future(loop), new_future(loop), new_future(loop)};
    timed c[3];
    complete_later(loop, &c[0], f[0], 1, 2, NULL, 0, NULL);   /* cancelled */
    complete_later(loop, &c[1], f[1], 2, 1, NULL, 11, "bad"); /* fails */
    complete_later(loop, &c[2], f[2], 3, 0, NULL, 0, NULL);   /* result */
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, f, 3, -1, COIO_FIRST_EXCEPTION, &wt), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 2.0, 1e-9);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 2);
    assert_ptr_equal(r->done[0], f[0]);
    assert_ptr_equal(r->done[1], f[1]);
    assert_int_equal(r->npending, 1);
    coio_future_release(wt);
    for (int i = 0; i < 3; i++)
        coio_future_release(f[i]);
    assert_int_equal(rep.n, 0); /* f[1]'s error was retrieved by the wait */
    tu_finish(loop);
}

/* FIRST_EXCEPTION with nothing failing is ALL_COMPLETED; a cancelled child alone does not end
 * it. */
static void test_wait_first_exception_cancelled_only(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[2];
    coio_future *t[2];
    worker_init(&w[0], loop, 1, COIO_ECANCELLED);
    worker_init(&w[1], loop, 2, COIO_OK);
    for (int i = 0; i < 2; i++)
        t[i] = worker_task(&w[i]);
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, t, 2, -1, COIO_FIRST_EXCEPTION, &wt), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 2.0, 1e-9);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 2);
    assert_int_equal(r->npending, 0);
    coio_future_release(wt);
    coio_future_release(t[0]);
    coio_future_release(t[1]);
    tu_finish(loop);
}

/* Under ALL_COMPLETED an error is not looked at: freeing it unretrieved is reported. */
static void test_wait_all_completed_does_not_retrieve(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    coio_future *f = new_future(loop);
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, &f, 1, -1, COIO_ALL_COMPLETED, &wt), COIO_OK);
    assert_status(coio_future_set_error(f, 4, "unseen"), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    coio_future_release(wt);
    coio_future_release(f);
    assert_int_equal(rep.n, 1);
    assert_string_equal(rep.last_message, "Future exception was never retrieved");
    tu_finish(loop);
}

/* On timeout the wait completes with what is pending; nothing is cancelled. */
static void test_wait_timeout_never_cancels(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[2];
    coio_future *t[2];
    worker_init(&w[0], loop, 1, COIO_OK);
    worker_init(&w[1], loop, 5, COIO_OK);
    t[0] = worker_task(&w[0]);
    t[1] = worker_coroutine(&w[1]);
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, t, 2, 2.0, COIO_ALL_COMPLETED, &wt), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 2.0, 1e-9);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 1);
    assert_ptr_equal(r->done[0], t[0]);
    assert_int_equal(r->npending, 1);
    assert_ptr_equal(r->pending[0], t[1]);
    assert_int_equal(coio_future_done(t[1]), 0);
    assert_status(coio_loop_run_until_complete(loop, t[1]), COIO_OK);
    assert_int_equal(w[1].cancels_seen, 0);
    assert_double_eq(coio_loop_time(loop), 5.0, 1e-9);
    coio_future_release(wt);
    coio_future_release(t[0]);
    coio_future_release(t[1]);
    tu_finish(loop);
}

static void test_wait_timeout_zero(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, &f, 1, 0.0, COIO_ALL_COMPLETED, &wt), COIO_OK);
    assert_int_equal(coio_future_done(wt), 0);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 0.0, 1e-9);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 0);
    assert_int_equal(r->npending, 1);
    assert_ptr_equal(r->pending[0], f);
    assert_int_equal(coio_future_cancelled(f), 0);
    coio_future_release(wt);
    coio_future_release(f);
    tu_finish(loop);
}

/* Already-done inputs count at once (in argument order, first), but the wait still
 * completes through the loop. */
static void test_wait_already_done(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[3] = {new_future(loop), new_future(loop), new_future(loop)};
    assert_status(coio_future_set_result(f[2], NULL, NULL), COIO_OK);
    assert_status(coio_future_set_result(f[1], NULL, NULL), COIO_OK);
    coio_future *w1 = NULL, *w2 = NULL;
    assert_status(coio_wait(loop, f, 3, -1, COIO_FIRST_COMPLETED, &w1), COIO_OK);
    assert_status(coio_wait(loop, f, 3, 10, COIO_ALL_COMPLETED, &w2), COIO_OK);
    assert_int_equal(coio_future_done(w1), 0);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_done(w1), 1);
    const coio_wait_result *r = wait_value(w1);
    assert_int_equal(r->ndone, 2);
    assert_ptr_equal(r->done[0], f[1]);
    assert_ptr_equal(r->done[1], f[2]);
    assert_ptr_equal(r->pending[0], f[0]);
    assert_int_equal(coio_future_done(w2), 0);
    assert_status(coio_future_set_result(f[0], NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, w2), COIO_OK);
    r = wait_value(w2);
    assert_int_equal(r->ndone, 3);
    assert_ptr_equal(r->done[0], f[1]);
    assert_ptr_equal(r->done[1], f[2]);
    assert_ptr_equal(r->done[2], f[0]);
    assert_double_eq(coio_loop_time(loop), 0.0, 1e-9); /* its timer was cancelled */
    coio_future_release(w1);
    coio_future_release(w2);
    for (int i = 0; i < 3; i++)
        coio_future_release(f[i]);
    tu_finish(loop);
}

/* Duplicates count once. */
static void test_wait_duplicates(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *a = new_future(loop), *b = new_future(loop);
    coio_future *fs[4] = {a, b, a, a};
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, fs, 4, -1, COIO_ALL_COMPLETED, &wt), COIO_OK);
    assert_status(coio_future_set_result(a, NULL, NULL), COIO_OK);
    assert_status(coio_future_set_result(b, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    const coio_wait_result *r = wait_value(wt);
    assert_int_equal(r->ndone, 2);
    assert_int_equal(r->npending, 0);
    coio_future_release(wt);
    coio_future_release(a);
    coio_future_release(b);
    tu_finish(loop);
}

/* Cancelling the wait (or the task awaiting it) ends it cancelled; the futures waited for
 * are not touched and later complete without it. */
static void test_wait_cancel(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 3, COIO_OK);
    coio_future *t = worker_task(&w);
    coio_future *f = new_future(loop);
    coio_future *fs[2] = {t, f};
    coio_future *w1 = NULL, *w2 = NULL;
    assert_status(coio_wait(loop, fs, 2, 1.0, COIO_ALL_COMPLETED, &w1), COIO_OK);
    assert_status(coio_wait(loop, fs, 2, -1, COIO_FIRST_COMPLETED, &w2), COIO_OK);
    assert_int_equal(coio_future_cancel(w1, "no more"), 1);
    assert_int_equal(coio_future_cancelled(w1), 1);
    assert_string_equal(tu_error_message(w1), "no more");
    awaiter a;
    coio_future *main_task = spawn_awaiter(loop, &a, w2);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(main_task, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, main_task), COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(w2), 1);
    assert_int_equal(coio_future_done(t), 0);
    assert_int_equal(coio_future_done(f), 0);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(w.cancels_seen, 0);
    assert_double_eq(coio_loop_time(loop), 3.0, 1e-9); /* w1's timer did not fire at 1 */
    assert_int_equal(coio_future_cancel(w1, NULL), 0);
    coio_future_release(main_task);
    coio_future_release(w1);
    coio_future_release(w2);
    coio_future_release(t);
    coio_future_release(f);
    tu_finish(loop);
}

/* The value belongs to the wait future: take_result hands it out with a NULL drop. */
static void test_wait_result_ownership(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_future *wt = NULL;
    assert_status(coio_wait(loop, &f, 1, -1, COIO_ALL_COMPLETED, &wt), COIO_OK);
    coio_future_release(f); /* the wait keeps it */
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, wt), COIO_OK);
    void *v = NULL;
    coio_free_fn drop = tu_count_drop;
    assert_status(coio_future_take_result(wt, &v, &drop), COIO_OK);
    assert_null(drop);
    const coio_wait_result *r = v;
    assert_int_equal(r->ndone, 1);
    assert_ptr_equal(r->done[0], f);
    coio_future_release(wt);
    tu_finish(loop);
}

/* Awaited from a task: the value is the result struct. */
static int wait_in_task(coio_future *self, void *arg) {
    coio_future **fs = arg;
    coio_future *wt = NULL;
    int rc = coio_wait(coio_future_loop(self), fs, 2, -1, COIO_FIRST_COMPLETED, &wt);
    if (rc != COIO_OK) return rc;
    void *v = NULL;
    rc = coio_await(wt, &v);
    const coio_wait_result *r = v;
    if (rc == COIO_OK && !(r->ndone == 1 && r->done[0] == fs[1])) rc = COIO_EINVAL;
    coio_future_release(wt);
    return rc;
}

static void test_wait_in_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *fs[2] = {new_future(loop), new_future(loop)};
    timed c;
    complete_later(loop, &c, fs[1], 1, 0, NULL, 0, NULL);
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, wait_in_task, fs, NULL, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    coio_future_release(fs[0]);
    coio_future_release(fs[1]);
    tu_finish(loop);
}

static void test_wait_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_loop *other = tu_loop_virtual();
    coio_future *a = new_future(loop);
    coio_future *x = new_future(other);
    coio_future *with_null[2] = {a, NULL};
    coio_future *foreign[2] = {a, x};
    coio_future *w = NULL;
    assert_status(coio_wait(NULL, &a, 1, -1, COIO_ALL_COMPLETED, &w), COIO_EINVAL);
    assert_status(coio_wait(loop, &a, 1, -1, COIO_ALL_COMPLETED, NULL), COIO_EINVAL);
    assert_status(coio_wait(loop, NULL, 0, -1, COIO_ALL_COMPLETED, &w), COIO_EINVAL);
    assert_status(coio_wait(loop, &a, 0, -1, COIO_ALL_COMPLETED, &w), COIO_EINVAL);
    assert_status(coio_wait(loop, NULL, 1, -1, COIO_ALL_COMPLETED, &w), COIO_EINVAL);
    assert_status(coio_wait(loop, with_null, 2, -1, COIO_ALL_COMPLETED, &w), COIO_EINVAL);
    assert_status(coio_wait(loop, foreign, 2, -1, COIO_ALL_COMPLETED, &w), COIO_ELOOP);
    assert_status(coio_wait(loop, &a, 1, NAN, COIO_ALL_COMPLETED, &w), COIO_EINVAL);
    assert_status(coio_wait(loop, &a, 1, -1, 0, &w), COIO_EINVAL);
    assert_status(coio_wait(loop, &a, 1, -1, 4, &w), COIO_EINVAL);
    assert_null(w);
    assert_status(coio_future_set_result(a, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    coio_future_release(a);
    coio_future_release(x);
    tu_finish(other);
    coio_loop *c = closed_loop();
    assert_status(coio_wait(c, &a, 1, -1, COIO_ALL_COMPLETED, &w), COIO_ECLOSED);
    tu_finish(c);
    tu_finish(loop);
}

/* ---- as_completed ----------------------------------------------------------------------- */

static coio_future *next_of(coio_as_completed_iter *it) {
    coio_future *n = NULL;
    assert_status(coio_as_completed_next(it, &n), COIO_OK);
    assert_non_null(n);
    return n;
}

static coio_future *next_value(coio_future *n) {
    void *v = NULL;
    assert_status(coio_future_result(n, &v), COIO_OK);
    return v;
}

/* Next-futures complete in completion order, each with the original future as value. */
static void test_as_completed_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[3];
    coio_future *t[3];
    double delays[3] = {3, 1, 2};
    for (int i = 0; i < 3; i++) {
        worker_init(&w[i], loop, delays[i], COIO_OK);
        t[i] = i == 0 ? worker_coroutine(&w[i]) : worker_task(&w[i]);
    }
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, t, 3, COIO_NO_TIMEOUT, &it), COIO_OK);
    coio_future *n[3];
    for (int i = 0; i < 3; i++)
        n[i] = next_of(it);
    coio_future *extra = NULL;
    assert_status(coio_as_completed_next(it, &extra), COIO_ESTATE);
    assert_null(extra);
    assert_status(coio_loop_run_until_complete(loop, n[0]), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 1.0, 1e-9);
    assert_ptr_equal(next_value(n[0]), t[1]);
    assert_status(coio_loop_run_until_complete(loop, n[1]), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 2.0, 1e-9);
    assert_ptr_equal(next_value(n[1]), t[2]);
    assert_status(coio_loop_run_until_complete(loop, n[2]), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 3.0, 1e-9);
    assert_ptr_equal(next_value(n[2]), t[0]);
    coio_as_completed_free(it);
    /* each next-future holds a reference to its value */
    for (int i = 0; i < 3; i++)
        coio_future_release(t[i]);
    assert_status(coio_future_result(next_value(n[0]), NULL), COIO_OK);
    for (int i = 0; i < 3; i++)
        coio_future_release(n[i]);
    tu_finish(loop);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].drops, 1);
}

/* Asked for after the completion: done at once. */
static void test_as_completed_next_after_completion(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[2] = {new_future(loop), new_future(loop)};
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, f, 2, -1, &it), COIO_OK);
    assert_status(coio_future_set_error(f[1], 6, "x"), COIO_OK);
    tu_run_one_pass(loop);
    coio_future *n = next_of(it);
    assert_int_equal(coio_future_done(n), 1);
    coio_future *orig = next_value(n);
    assert_ptr_equal(orig, f[1]);
    assert_status(coio_future_result(orig, NULL), COIO_EFAILED); /* read from the original */
    coio_future_release(n);
    coio_as_completed_free(it);
    coio_future_release(f[0]);
    coio_future_release(f[1]);
    tu_finish(loop);
}

/* After the timeout every further next-future fails with ETIMEDOUT (completions already
 * queued come first); nothing is cancelled. */
static void test_as_completed_timeout(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[3] = {new_future(loop), new_future(loop), new_future(loop)};
    timed c[2];
    complete_later(loop, &c[0], f[1], 1, 0, NULL, 0, NULL);
    complete_later(loop, &c[1], f[0], 5, 0, NULL, 0, NULL);
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, f, 3, 2.0, &it), COIO_OK);
    coio_future *n0 = next_of(it);
    coio_future *n1 = next_of(it);
    assert_status(coio_loop_run_until_complete(loop, n1), COIO_EFAILED);
    assert_double_eq(coio_loop_time(loop), 2.0, 1e-9);
    assert_int_equal(tu_error_code(n1), COIO_ETIMEDOUT);
    assert_ptr_equal(next_value(n0), f[1]);
    coio_future *n2 = next_of(it);
    assert_int_equal(coio_future_done(n2), 1);
    assert_int_equal(tu_error_code(n2), COIO_ETIMEDOUT);
    coio_future *n3 = NULL;
    assert_status(coio_as_completed_next(it, &n3), COIO_ESTATE);
    assert_int_equal(coio_future_cancelled(f[0]), 0);
    assert_int_equal(coio_future_cancelled(f[2]), 0);
    assert_status(coio_loop_run_until_complete(loop, f[0]), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 5.0, 1e-9);
    coio_as_completed_free(it);
    coio_future_release(n0);
    coio_future_release(n1);
    coio_future_release(n2);
    for (int i = 0; i < 3; i++)
        coio_future_release(f[i]);
    tu_finish(loop);
}

/* A completion queued before the timeout is still handed out first. */
static void test_as_completed_timeout_after_queued(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[2] = {new_future(loop), new_future(loop)};
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, f, 2, 1.0, &it), COIO_OK);
    assert_status(coio_future_set_result(f[0], NULL, NULL), COIO_OK);
    run_to(loop, 3);
    coio_future *n0 = next_of(it), *n1 = next_of(it);
    assert_status(coio_future_result(n0, NULL), COIO_OK);
    assert_ptr_equal(next_value(n0), f[0]);
    assert_int_equal(tu_error_code(n1), COIO_ETIMEDOUT);
    coio_future_release(n0);
    coio_future_release(n1);
    coio_as_completed_free(it);
    coio_future_release(f[0]);
    coio_future_release(f[1]);
    tu_finish(loop);
}

static void test_as_completed_empty_and_duplicates(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_as_completed_iter *it = NULL;
    coio_future *n = NULL;
    assert_status(coio_as_completed(loop, NULL, 0, 1.0, &it), COIO_OK);
    assert_status(coio_as_completed_next(it, &n), COIO_ESTATE);
    coio_as_completed_free(it);
    coio_future *a = new_future(loop);
    coio_future *fs[3] = {a, a, a};
    assert_status(coio_as_completed(loop, fs, 3, -1, &it), COIO_OK);
    n = next_of(it);
    coio_future *m = NULL;
    assert_status(coio_as_completed_next(it, &m), COIO_ESTATE);
    assert_status(coio_future_set_result(a, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, n), COIO_OK);
    assert_ptr_equal(next_value(n), a);
    coio_future_release(n);
    coio_as_completed_free(it);
    coio_as_completed_free(NULL);
    coio_future_release(a);
    tu_finish(loop);
}

/* Freeing the iterator cancels the pending next-futures, ends its registrations and its
 * timer; the inputs are left alone. */
static void test_as_completed_free_pending(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[2] = {new_future(loop), new_future(loop)};
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, f, 2, 5.0, &it), COIO_OK);
    coio_future *n0 = next_of(it);
    assert_status(coio_future_set_result(f[1], NULL, NULL), COIO_OK); /* queued, not seen */
    coio_as_completed_free(it);
    assert_int_equal(coio_future_cancelled(n0), 1);
    assert_int_equal(coio_future_cancelled(f[0]), 0);
    tu_run_one_pass(loop);
    assert_status(coio_future_set_result(f[0], NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    /* no timer left: with nothing else to run, the clock does not move */
    coio_future *s = tu_sleep(loop, 0);
    assert_status(coio_loop_run_until_complete(loop, s), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 0.0, 1e-9);
    coio_future_release(s);
    coio_future_release(n0);
    coio_future_release(f[0]);
    coio_future_release(f[1]);
    tu_finish(loop);
}

/* A cancelled next-future is skipped: the completion goes to the next one. */
static void test_as_completed_cancelled_next_skipped(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[2] = {new_future(loop), new_future(loop)};
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, f, 2, -1, &it), COIO_OK);
    coio_future *n0 = next_of(it), *n1 = next_of(it);
    assert_int_equal(coio_future_cancel(n0, NULL), 1);
    assert_status(coio_future_set_result(f[0], NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, n1), COIO_OK);
    assert_ptr_equal(next_value(n1), f[0]);
    coio_future_release(n0);
    coio_future_release(n1);
    coio_as_completed_free(it);
    coio_future_release(f[0]);
    coio_future_release(f[1]);
    tu_finish(loop);
}

/* A task cancelled after its next-future got an input but before it saw it: the input goes
 * back to the queue (asyncio's Queue.get) and the next next-future gets it. */
typedef struct next_waiter {
    coio_future *next;
    int calls;
    int status;
} next_waiter;

static int step_await_next(coio_future *self, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    next_waiter *nw = arg;
    if (nw->calls++ == 0) {
        assert_status(coio_step_await(self, nw->next), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    nw->status = status;
    return status;
}

static void cancel_task_cb(coio_future *f, void *task) {
    (void)f;
    assert_int_equal(coio_future_cancel(task, NULL), 1);
}

static void test_as_completed_refused_goes_back(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[2] = {new_future(loop), new_future(loop)};
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, f, 2, -1, &it), COIO_OK);
    next_waiter nw = {next_of(it), 0, 0};
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_await_next, &nw, NULL, NULL, &t), COIO_OK);
    tu_run_one_pass(loop); /* t waits on its next-future */
    /* right after the iterator hands f[0] to t's next-future, t is cancelled */
    assert_status(coio_future_add_done_callback(f[0], cancel_task_cb, t, NULL), COIO_OK);
    assert_status(coio_future_set_result(f[0], NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_status(nw.status, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(nw.next), 1);
    coio_future *n1 = next_of(it);
    assert_int_equal(coio_future_done(n1), 1);
    assert_ptr_equal(next_value(n1), f[0]);
    coio_future *n2 = NULL;
    assert_status(coio_as_completed_next(it, &n2), COIO_ESTATE); /* asyncio: two in all */
    coio_future_release(n1);
    coio_future_release(nw.next);
    coio_future_release(t);
    coio_as_completed_free(it);
    coio_future_release(f[0]);
    coio_future_release(f[1]);
    tu_finish(loop);
}

/* A value refused the same way is dropped only once the next-future reads as cancelled: a
 * drop that looks at the future again must not find the value still there (fuzz: it took the
 * value a second time and dropped it twice). */
typedef struct refused_value {
    coio_future *next;
    int drops;
    int seen_cancelled;
    int take_status;
} refused_value;

static void refused_value_drop(void *p) {
    refused_value *rv = p;
    rv->drops++;
    rv->seen_cancelled = coio_future_cancelled(rv->next);
    void *v = NULL;
    coio_free_fn d = NULL;
    rv->take_status = coio_future_take_result(rv->next, &v, &d);
    if (rv->take_status == COIO_OK && d) d(v);
}

static void test_as_completed_refused_value_dropped_after(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, &f, 1, -1, &it), COIO_OK);
    next_waiter nw = {next_of(it), 0, 0};
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_await_next, &nw, NULL, NULL, &t), COIO_OK);
    tu_run_one_pass(loop); /* t waits on its next-future */
    refused_value rv = {nw.next, 0, 0, 0};
    assert_status(coio_future_set_result(nw.next, &rv, refused_value_drop), COIO_OK);
    assert_int_equal(coio_future_cancel(t, NULL), 1); /* woken, but cancelled: refused */
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(rv.drops, 1);
    assert_int_equal(rv.seen_cancelled, 1);
    assert_status(rv.take_status, COIO_ESTATE); /* no result to take */
    coio_future_release(nw.next);
    coio_future_release(t);
    coio_as_completed_free(it);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_as_completed_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_loop *other = tu_loop_virtual();
    coio_future *a = new_future(loop);
    coio_future *x = new_future(other);
    coio_future *with_null[2] = {a, NULL};
    coio_future *foreign[2] = {a, x};
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(NULL, &a, 1, -1, &it), COIO_EINVAL);
    assert_status(coio_as_completed(loop, &a, 1, -1, NULL), COIO_EINVAL);
    assert_status(coio_as_completed(loop, NULL, 1, -1, &it), COIO_EINVAL);
    assert_status(coio_as_completed(loop, with_null, 2, -1, &it), COIO_EINVAL);
    assert_status(coio_as_completed(loop, foreign, 2, -1, &it), COIO_ELOOP);
    assert_status(coio_as_completed(loop, &a, 1, NAN, &it), COIO_EINVAL);
    assert_null(it);
    coio_future *n = NULL;
    assert_status(coio_as_completed_next(NULL, &n), COIO_EINVAL);
    assert_status(coio_as_completed(loop, &a, 1, -1, &it), COIO_OK);
    assert_status(coio_as_completed_next(it, NULL), COIO_EINVAL);
    coio_as_completed_free(it);
    coio_future_release(a);
    coio_future_release(x);
    tu_finish(other);
    coio_loop *c = closed_loop();
    assert_status(coio_as_completed(c, NULL, 0, -1, &it), COIO_ECLOSED);
    tu_finish(c);
    tu_finish(loop);
}

/* ---- wait_for --------------------------------------------------------------------------- */

/* Done in time: the result is shared (the inner future's drop stays its own). */
static void test_wait_for_result_in_time(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    worker w;
    worker_init(&w, loop, 1, COIO_OK);
    w.value = &drops;
    w.value_drop = tu_count_drop;
    coio_future *t = worker_task(&w);
    coio_future *out = NULL;
    assert_status(coio_wait_for(t, 5.0, &out), COIO_OK);
    assert_int_equal(coio_future_is_task(out), 0);
    void *v = NULL;
    assert_status(coio_loop_run_until_complete(loop, out), COIO_OK);
    assert_status(coio_future_result(out, &v), COIO_OK);
    assert_ptr_equal(v, &drops);
    coio_free_fn drop = tu_count_drop;
    assert_status(coio_future_take_result(out, &v, &drop), COIO_OK);
    assert_null(drop);
    coio_future_release(t); /* out keeps it alive */
    assert_int_equal(drops, 0);
    /* the timer was cancelled: nothing at 5 */
    coio_future *s = tu_sleep(loop, 0);
    assert_status(coio_loop_run_until_complete(loop, s), COIO_OK);
    coio_future_release(s);
    assert_double_eq(coio_loop_time(loop), 1.0, 1e-9);
    coio_future_release(out);
    assert_int_equal(drops, 1);
    tu_finish(loop);
}

static void test_wait_for_error_forwarded(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    coio_future *f = new_future(loop);
    int pd = 0;
    coio_future *out = NULL;
    assert_status(coio_wait_for(f, 5.0, &out), COIO_OK);
    assert_status(coio_future_set_error_payload(f, 13, "inner", &pd, free_payload), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, out), COIO_EFAILED);
    assert_int_equal(tu_error_code(out), 13);
    assert_string_equal(tu_error_message(out), "inner");
    void *payload = NULL;
    assert_status(coio_future_error_payload(out, &payload), COIO_OK);
    assert_ptr_equal(payload, &pd);
    coio_future_release(f);
    coio_future_release(out);
    assert_int_equal(pd, 1);
    assert_int_equal(rep.n, 0);
    tu_finish(loop);
}

/* The timeout cancels inner and waits for it to finish (here three more passes): out does
 * not complete before inner, then fails with ETIMEDOUT. */
static void wait_for_timeout_waits(int coroutine) {
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    w.extra_passes = 3;
    coio_future *t = coroutine ? worker_coroutine(&w) : worker_task(&w);
    coio_future *out = NULL;
    assert_status(coio_wait_for(t, 1.0, &out), COIO_OK);
    done_probe p;
    probe(out, &p, loop, t);
    run_to(loop, 1.0);
    tu_run_one_pass(loop); /* the cancellation is delivered */
    assert_int_equal(w.cancels_seen, 1);
    assert_int_equal(coio_future_done(t), 0); /* still running when the timeout fired */
    assert_int_equal(coio_future_done(out), 0);
    assert_status(coio_loop_run_until_complete(loop, out), COIO_EFAILED);
    assert_int_equal(tu_error_code(out), COIO_ETIMEDOUT);
    assert_int_equal(p.watch_done, 1);
    assert_int_equal(w.passes_after_cancel, 3);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_double_eq(coio_loop_time(loop), 1.0, 1e-9);
    coio_future_release(out);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_wait_for_timeout_waits_for_inner(void **state) {
    (void)state;
    wait_for_timeout_waits(0);
}

static void test_wait_for_timeout_waits_for_coroutine(void **state) {
    (void)state;
    wait_for_timeout_waits(1);
}

/* Inner swallows the timeout's cancellation: its result (asyncio 3.12+), or its error. */
static void test_wait_for_inner_swallows(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[2];
    coio_future *t[2], *out[2];
    for (int i = 0; i < 2; i++) {
        worker_init(&w[i], loop, 10, COIO_OK);
        w[i].on_cancel = i == 0 ? ON_CANCEL_SWALLOW : ON_CANCEL_FAIL;
        w[i].extra_passes = 1;
        w[i].value = &w[i];
        t[i] = worker_task(&w[i]);
        assert_status(coio_wait_for(t[i], 1.0, &out[i]), COIO_OK);
    }
    void *v = NULL;
    assert_status(coio_loop_run_until_complete(loop, out[0]), COIO_OK);
    assert_status(coio_future_result(out[0], &v), COIO_OK);
    assert_ptr_equal(v, &w[0]);
    assert_status(coio_loop_run_until_complete(loop, out[1]), COIO_EFAILED);
    assert_int_equal(tu_error_code(out[1]), 42);
    for (int i = 0; i < 2; i++) {
        coio_future_release(out[i]);
        coio_future_release(t[i]);
    }
    tu_finish(loop);
}

/* timeout 0: a done inner's outcome at once; a pending one is cancelled at once and waited
 * for. */
static void test_wait_for_zero(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result(f, &f, NULL), COIO_OK);
    coio_future *out = NULL;
    assert_status(coio_wait_for(f, 0.0, &out), COIO_OK);
    assert_int_equal(coio_future_done(out), 1);
    void *v = NULL;
    assert_status(coio_future_result(out, &v), COIO_OK);
    assert_ptr_equal(v, &f);
    coio_future_release(out);
    coio_future_release(f);

    f = new_future(loop);
    assert_status(coio_wait_for(f, 0.0, &out), COIO_OK);
    assert_int_equal(coio_future_cancelled(f), 1);
    assert_int_equal(coio_future_done(out), 0);
    assert_status(coio_loop_run_until_complete(loop, out), COIO_EFAILED);
    assert_int_equal(tu_error_code(out), COIO_ETIMEDOUT);
    coio_future_release(out);
    coio_future_release(f);

    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    w.extra_passes = 2;
    coio_future *t = worker_task(&w);
    tu_run_one_pass(loop);
    assert_status(coio_wait_for(t, 0.0, &out), COIO_OK);
    assert_int_equal(coio_task_cancelling(t), 1);
    assert_status(coio_loop_run_until_complete(loop, out), COIO_EFAILED);
    assert_int_equal(coio_future_done(t), 1);
    assert_int_equal(tu_error_code(out), COIO_ETIMEDOUT);
    coio_future_release(out);
    coio_future_release(t);
    tu_finish(loop);
}

/* Cancelled inside the timeout-0 wait: cancelled at once, inner is left to finish alone. */
static void test_wait_for_zero_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    w.extra_passes = 3;
    coio_future *t = worker_task(&w);
    tu_run_one_pass(loop);
    coio_future *out = NULL;
    assert_status(coio_wait_for(t, 0.0, &out), COIO_OK);
    assert_int_equal(coio_future_cancel(out, NULL), 1);
    assert_int_equal(coio_future_cancelled(out), 1);
    assert_int_equal(coio_task_cancelling(t), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    coio_future_release(out);
    coio_future_release(t);
    tu_finish(loop);
}

/* A negative timeout (COIO_NO_TIMEOUT) or +inf waits for ever. */
static void test_wait_for_no_timeout(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w[2];
    coio_future *t[2], *out[2];
    for (int i = 0; i < 2; i++) {
        worker_init(&w[i], loop, 1000, COIO_OK);
        t[i] = worker_task(&w[i]);
    }
    assert_status(coio_wait_for(t[0], COIO_NO_TIMEOUT, &out[0]), COIO_OK);
    assert_status(coio_wait_for(t[1], INFINITY, &out[1]), COIO_OK);
    for (int i = 0; i < 2; i++) {
        assert_status(coio_loop_run_until_complete(loop, out[i]), COIO_OK);
        assert_double_eq(coio_loop_time(loop), 1000.0, 1e-6);
        coio_future_release(out[i]);
        coio_future_release(t[i]);
    }
    tu_finish(loop);
}

/* Cancelling out cancels inner (and the timer) and ends cancelled once inner is done. */
static void test_wait_for_cancel(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    w.extra_passes = 2;
    coio_future *t = worker_task(&w);
    coio_future *out = NULL;
    assert_status(coio_wait_for(t, 5.0, &out), COIO_OK);
    done_probe p;
    probe(out, &p, loop, t);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(out, "bye"), 1);
    assert_int_equal(coio_future_done(out), 0);
    assert_status(coio_loop_run_until_complete(loop, out), COIO_ECANCELLED);
    assert_int_equal(p.watch_done, 1);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_double_eq(coio_loop_time(loop), 0.0, 1e-9); /* no timeout at 5 */
    assert_int_equal(coio_future_cancel(out, NULL), 0);
    coio_future_release(out);
    coio_future_release(t);
    tu_finish(loop);
}

/* ... inner swallows that cancellation: asyncio returns its result. */
static void test_wait_for_cancel_swallowed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    w.on_cancel = ON_CANCEL_SWALLOW;
    w.value = &w;
    coio_future *t = worker_task(&w);
    coio_future *out = NULL;
    assert_status(coio_wait_for(t, -1, &out), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(out, NULL), 1);
    void *v = NULL;
    assert_status(coio_loop_run_until_complete(loop, out), COIO_OK);
    assert_status(coio_future_result(out, &v), COIO_OK);
    assert_ptr_equal(v, &w);
    coio_future_release(out);
    coio_future_release(t);
    tu_finish(loop);
}

/* The task awaiting wait_for is cancelled: inner is cancelled with it. */
static void test_wait_for_awaiting_task_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 10, COIO_OK);
    coio_future *t = worker_coroutine(&w);
    coio_future *out = NULL;
    assert_status(coio_wait_for(t, 5.0, &out), COIO_OK);
    awaiter a;
    coio_future *main_task = spawn_awaiter(loop, &a, out);
    run_to(loop, 1);
    assert_int_equal(coio_future_cancel(main_task, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, main_task), COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_int_equal(coio_future_cancelled(out), 1);
    coio_future_release(main_task);
    coio_future_release(out);
    coio_future_release(t);
    tu_finish(loop);
}

/* The timeout fires when inner is done but its outcome is still on the way: asyncio's task
 * has _must_cancel set and raises TimeoutError, whatever inner's outcome. */
static void test_wait_for_timeout_races_completion(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    timed c;
    complete_later(loop, &c, f, 1, 0, NULL, 0, NULL); /* before wait_for's timer, same time */
    coio_future *out = NULL;
    assert_status(coio_wait_for(f, 1.0, &out), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, out), COIO_EFAILED);
    assert_int_equal(tu_error_code(out), COIO_ETIMEDOUT);
    assert_status(coio_future_result(f, NULL), COIO_OK);
    coio_future_release(out);
    coio_future_release(f);
    tu_finish(loop);
}

/* The same race where inner's value has a drop and wait_for holds inner's last reference:
 * when the timeout turns the forwarded result into TimeoutError, inner goes and its drop
 * runs.  wait_for reads as failed by then, never as a result whose value is being dropped. */
typedef struct dropped_inner {
    coio_future *inner, *out;
    int drops;
    int out_rc; /* coio_future_result(out) from inside the drop */
} dropped_inner;

static void dropped_inner_drop(void *p) {
    dropped_inner *d = p;
    d->drops++;
    void *v = NULL;
    d->out_rc = coio_future_result(d->out, &v);
}

static void dropped_inner_complete(void *p) {
    dropped_inner *d = p;
    assert_status(coio_future_set_result(d->inner, d, dropped_inner_drop), COIO_OK);
}

static void test_wait_for_timeout_races_completion_drop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    dropped_inner d = {new_future(loop), NULL, 0, COIO_OK};
    assert_status(coio_call_later(loop, 1, dropped_inner_complete, &d, NULL, NULL), COIO_OK);
    assert_status(coio_wait_for(d.inner, 1.0, &d.out), COIO_OK);
    coio_future_release(d.inner); /* wait_for holds it now */
    assert_status(coio_loop_run_until_complete(loop, d.out), COIO_EFAILED);
    assert_int_equal(tu_error_code(d.out), COIO_ETIMEDOUT);
    assert_int_equal(d.drops, 1);
    assert_status(d.out_rc, COIO_EFAILED);
    coio_future_release(d.out);
    tu_finish(loop);
}

/* asyncio's _wait splits done/pending when the awaiting task resumes: a future completing
 * after the wake-up but before the resume is done. */
static void test_wait_split_when_caller_resumes(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f[3] = {new_future(loop), new_future(loop), new_future(loop)};
    coio_future *w = NULL;
    assert_status(coio_wait(loop, f, 3, COIO_NO_TIMEOUT, COIO_FIRST_COMPLETED, &w), COIO_OK);
    awaiter a;
    coio_future *t = spawn_awaiter(loop, &a, w);
    tu_run_one_pass(loop); /* the task awaits */
    assert_status(coio_future_set_result(f[0], NULL, NULL), COIO_OK);
    tu_run_one_pass(loop); /* wait's callback: the waiter is done, the task resumes next */
    assert_int_equal(coio_future_done(w), 1);
    assert_status(coio_future_set_result(f[2], NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(a.done, 1);
    const coio_wait_result *r = a.value;
    assert_int_equal(r->ndone, 2);
    assert_ptr_equal(r->done[0], f[0]);
    assert_ptr_equal(r->done[1], f[2]);
    assert_int_equal(r->npending, 1);
    assert_ptr_equal(r->pending[0], f[1]);
    coio_future_release(t);
    coio_future_release(w);
    for (int i = 0; i < 3; i++)
        coio_future_release(f[i]);
    tu_finish(loop);
}

/* wait_for runs in the caller, as 3.12+'s `async with timeout(): await fut`: the awaiting
 * task sees inner's outcome one pass after inner completes (the task awaiting inner itself
 * would), and the timeout the pass after it fired. */
static void test_wait_for_result_same_pass_as_inner(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_future *out = NULL;
    assert_status(coio_wait_for(f, 5.0, &out), COIO_OK);
    awaiter a;
    coio_future *t = spawn_awaiter(loop, &a, out);
    tu_run_one_pass(loop); /* the task awaits */
    assert_status(coio_future_set_result(f, (void *)7, NULL), COIO_OK);
    assert_int_equal(coio_future_done(out), 1); /* with inner, not a pass later */
    tu_run_one_pass(loop);
    assert_int_equal(a.done, 1);
    assert_status(a.rc, COIO_OK);
    assert_ptr_equal(a.value, (void *)7);
    coio_future_release(t);
    coio_future_release(out);

    /* Timeout: inner (a plain future) is cancelled at the deadline and the caller sees
     * COIO_ETIMEDOUT in the next pass. */
    coio_future *g = new_future(loop);
    assert_status(coio_wait_for(g, 1.0, &out), COIO_OK);
    t = spawn_awaiter(loop, &a, out);
    run_to(loop, 1);
    assert_int_equal(coio_future_cancelled(g), 1);
    assert_int_equal(coio_future_done(out), 1);
    assert_int_equal(a.done, 0);
    tu_run_one_pass(loop);
    assert_int_equal(a.done, 1);
    assert_status(a.rc, COIO_EFAILED);
    assert_int_equal(tu_error_code(out), COIO_ETIMEDOUT);
    coio_future_release(t);
    coio_future_release(out);
    coio_future_release(f);
    coio_future_release(g);
    tu_finish(loop);
}

/* Freed before inner finishes: the registration and the timer go, inner runs on. */
static void test_wait_for_released_early(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 3, COIO_OK);
    coio_future *t = worker_task(&w);
    coio_future *out = NULL;
    assert_status(coio_wait_for(t, 1.0, &out), COIO_OK);
    tu_run_one_pass(loop);
    coio_future_release(out);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(w.cancels_seen, 0);
    assert_double_eq(coio_loop_time(loop), 3.0, 1e-9);
    /* released while its callback is queued */
    coio_future *f = new_future(loop);
    assert_status(coio_wait_for(f, 1.0, &out), COIO_OK);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    coio_future_release(out);
    tu_run_one_pass(loop);
    coio_future_release(f);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_wait_for_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_future *out = NULL;
    assert_status(coio_wait_for(NULL, 1, &out), COIO_EINVAL);
    assert_status(coio_wait_for(f, 1, NULL), COIO_EINVAL);
    assert_status(coio_wait_for(f, NAN, &out), COIO_EINVAL);
    assert_null(out);
    assert_int_equal(coio_future_cancelled(f), 0);
    coio_loop *c = tu_loop_virtual();
    coio_future *g = new_future(c);
    assert_status(coio_loop_close(c), COIO_OK);
    assert_status(coio_wait_for(g, 1, &out), COIO_ECLOSED);
    assert_status(coio_shield(g, &out), COIO_ECLOSED);
    coio_future_release(g);
    tu_finish(c);
    coio_future_release(f);
    tu_finish(loop);
}

/* ---- shield ----------------------------------------------------------------------------- */

static void test_shield_done_is_itself(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    coio_future *out = NULL;
    assert_status(coio_shield(f, &out), COIO_OK);
    assert_ptr_equal(out, f);
    coio_future_release(f);
    assert_status(coio_future_result(out, NULL), COIO_OK); /* our own reference */
    coio_future_release(out);
    tu_finish(loop);
}

static void test_shield_forwards(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    worker w[3];
    coio_future *t[3], *out[3];
    for (int i = 0; i < 3; i++) {
        worker_init(&w[i], loop, i + 1, i == 0 ? COIO_OK : i == 1 ? COIO_EFAILED : COIO_ECANCELLED);
        w[i].value = &w[i];
        t[i] = worker_task(&w[i]);
        assert_status(coio_shield(t[i], &out[i]), COIO_OK);
        assert_ptr_not_equal(out[i], t[i]);
    }
    void *v = NULL;
    assert_status(coio_loop_run_until_complete(loop, out[0]), COIO_OK);
    assert_status(coio_future_result(out[0], &v), COIO_OK);
    assert_ptr_equal(v, &w[0]);
    assert_status(coio_loop_run_until_complete(loop, out[1]), COIO_EFAILED);
    assert_int_equal(tu_error_code(out[1]), 42);
    assert_status(coio_loop_run_until_complete(loop, out[2]), COIO_ECANCELLED);
    for (int i = 0; i < 3; i++) {
        coio_future_release(t[i]);
        coio_future_release(out[i]);
    }
    assert_int_equal(rep.n, 0); /* t[1]'s error went to out[1], which was looked at */
    tu_finish(loop);
}

/* Cancelling the shield does not touch inner, which completes normally. */
static void test_shield_cancel_keeps_inner(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    worker w;
    worker_init(&w, loop, 2, COIO_OK);
    coio_future *t = worker_coroutine(&w);
    coio_future *out = NULL;
    assert_status(coio_shield(t, &out), COIO_OK);
    awaiter a;
    coio_future *main_task = spawn_awaiter(loop, &a, out);
    run_to(loop, 1);
    assert_int_equal(coio_future_cancel(main_task, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, main_task), COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(out), 1);
    assert_int_equal(coio_future_done(t), 0);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(w.cancels_seen, 0);
    assert_int_equal(coio_future_cancel(out, NULL), 0);
    coio_future_release(main_task);
    coio_future_release(out);
    coio_future_release(t);
    tu_finish(loop);
}

/* Cancelled while inner is pending, the shield stops listening (3.13's _outer_done_callback):
 * inner's later error is inner's own to report.  Cancelled once inner is done (its call
 * queued), that call marks the error as retrieved. */
static void test_shield_cancelled_then_inner_fails(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    coio_future *f = new_future(loop);
    coio_future *out = NULL;
    assert_status(coio_shield(f, &out), COIO_OK);
    assert_int_equal(coio_future_cancel(out, NULL), 1);
    assert_status(coio_future_set_error(f, 1, "late"), COIO_OK);
    tu_run_one_pass(loop);
    coio_future_release(out);
    coio_future_release(f);
    assert_int_equal(rep.n, 1);

    f = new_future(loop);
    assert_status(coio_shield(f, &out), COIO_OK);
    assert_status(coio_future_set_error(f, 1, "raced"), COIO_OK);
    assert_int_equal(coio_future_cancel(out, NULL), 1);
    coio_future_release(out); /* even freed, the queued call still marks it */
    tu_run_one_pass(loop);
    coio_future_release(f);
    assert_int_equal(rep.n, 1);
    tu_finish(loop);
}

/* Released early: inner runs on; its own result stays its own. */
static void test_shield_released_early(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    worker w;
    worker_init(&w, loop, 1, COIO_OK);
    w.value = &drops;
    w.value_drop = tu_count_drop;
    coio_future *t = worker_task(&w);
    coio_future *out = NULL;
    assert_status(coio_shield(t, &out), COIO_OK);
    coio_future_release(out);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(drops, 0);
    coio_future_release(t);
    assert_int_equal(drops, 1);
    tu_finish(loop);
}

static void test_shield_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_future *out = NULL;
    assert_status(coio_shield(NULL, &out), COIO_EINVAL);
    assert_status(coio_shield(f, NULL), COIO_EINVAL);
    assert_null(out);
    coio_future_release(f);
    tu_finish(loop);
}

/* ---- cycles ------------------------------------------------------------------------------ */

/* A child awaiting its own gather / wait_for: cancelling comes back to the combinator, which
 * refuses the nested call instead of recursing for ever (asyncio: RecursionError); the child
 * whose waiter refused then wakes with the cancellation, so the cycle ends and everything in
 * it is cancelled (issue 11). */
static int await_arg_future(coio_future *self, void *arg) {
    (void)self;
    coio_future **target = arg;
    return coio_await(*target, NULL);
}

static void test_cancel_cycle_does_not_recurse(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    coio_future *g = NULL, *t = NULL;
    assert_status(coio_spawn(loop, await_arg_future, &g, NULL, &t), COIO_OK);
    assert_status(coio_gather(loop, &t, 1, 0, &g), COIO_OK);
    tu_run_one_pass(loop); /* t awaits the gather */
    assert_int_equal(coio_future_cancel(g, NULL), 1);
    assert_int_equal(coio_task_cancelling(t), 1);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_ECANCELLED);
    assert_true(coio_future_cancelled(t));

    coio_future *w = NULL, *t2 = NULL;
    assert_status(coio_spawn(loop, await_arg_future, &w, NULL, &t2), COIO_OK);
    assert_status(coio_wait_for(t2, 1.0, &w), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(w, NULL), 1);
    assert_int_equal(coio_task_cancelling(t2), 1);
    assert_status(coio_loop_run_until_complete(loop, w), COIO_ECANCELLED);
    assert_true(coio_future_cancelled(t2));
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(rep.n, 0); /* nothing left pending */
    coio_future_release(g);
    coio_future_release(w);
    coio_future_release(t);
    coio_future_release(t2);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- loop close --------------------------------------------------------------------------- */

/* Every combinator pending over tasks and futures that never finish: closing the loop and
 * releasing everything leaves nothing behind (valgrind / ASan). */
static void test_loop_close_with_combinators_pending(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    worker w[2];
    coio_future *fs[3];
    worker_init(&w[0], loop, 100, COIO_OK);
    worker_init(&w[1], loop, 100, COIO_OK);
    fs[0] = worker_task(&w[0]);
    fs[1] = worker_coroutine(&w[1]);
    fs[2] = new_future(loop);
    coio_future *g = NULL, *wt = NULL, *wf = NULL, *sh = NULL, *n0 = NULL;
    coio_as_completed_iter *it = NULL;
    assert_status(coio_gather(loop, fs, 3, 0, &g), COIO_OK);
    assert_status(coio_wait(loop, fs, 3, 50, COIO_ALL_COMPLETED, &wt), COIO_OK);
    assert_status(coio_as_completed(loop, fs, 3, 50, &it), COIO_OK);
    n0 = next_of(it);
    assert_status(coio_wait_for(fs[0], 50, &wf), COIO_OK);
    assert_status(coio_shield(fs[1], &sh), COIO_OK);
    run_to(loop, 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(rep.n, 2); /* the two pending tasks */
    coio_future *n1 = NULL;
    assert_status(coio_as_completed_next(it, &n1), COIO_ECLOSED);
    coio_as_completed_free(it);
    assert_int_equal(coio_future_done(n0), 0);
    coio_future_release(n0);
    coio_future_release(g);
    coio_future_release(wt);
    coio_future_release(wf);
    coio_future_release(sh);
    for (int i = 0; i < 3; i++)
        coio_future_release(fs[i]);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(w[0].drops, 1);
    assert_int_equal(w[1].drops, 1);
}

/* Released in the other order: combinators after their inputs. */
static void test_loop_close_release_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    coio_future *g = NULL, *wt = NULL, *wf = NULL, *sh = NULL;
    coio_as_completed_iter *it = NULL;
    assert_status(coio_gather(loop, &f, 1, 0, &g), COIO_OK);
    assert_status(coio_wait(loop, &f, 1, 1, COIO_ALL_COMPLETED, &wt), COIO_OK);
    assert_status(coio_as_completed(loop, &f, 1, 1, &it), COIO_OK);
    coio_future *n = next_of(it);
    assert_status(coio_wait_for(f, 1, &wf), COIO_OK);
    assert_status(coio_shield(f, &sh), COIO_OK);
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_future_release(f);
    coio_future_release(n);
    assert_status(coio_loop_release(loop), COIO_OK);
    coio_future_release(g);
    coio_future_release(wt);
    coio_future_release(wf);
    coio_future_release(sh);
    coio_as_completed_free(it);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_empty_is_done_at_once),
        cmocka_unit_test(test_gather_step_tasks),
        cmocka_unit_test(test_gather_coroutines),
        cmocka_unit_test(test_gather_plain_futures),
        cmocka_unit_test(test_gather_first_error_siblings_keep_running),
        cmocka_unit_test(test_gather_released_after_early_error),
        cmocka_unit_test(test_gather_released_while_pending),
        cmocka_unit_test(test_gather_error_payload),
        cmocka_unit_test(test_gather_child_cancelled_directly),
        cmocka_unit_test(test_gather_return_exceptions),
        cmocka_unit_test(test_gather_cancel),
        cmocka_unit_test(test_gather_cancel_return_exceptions_still_cancelled),
        cmocka_unit_test(test_gather_cancel_coroutines),
        cmocka_unit_test(test_gather_cancel_coroutines_no_flag),
        cmocka_unit_test(test_gather_cancel_swallowed_still_cancelled),
        cmocka_unit_test(test_gather_cancel_nothing_left),
        cmocka_unit_test(test_gather_awaiting_task_cancelled),
        cmocka_unit_test(test_gather_duplicates),
        cmocka_unit_test(test_cancel_shared_combinators_walked_once),
        cmocka_unit_test(test_gather_many_shuffled),
        cmocka_unit_test(test_gather_reused_address),
        cmocka_unit_test(test_gather_already_done_children),
        cmocka_unit_test(test_gather_bad_input),
        cmocka_unit_test(test_wait_all_completed_order),
        cmocka_unit_test(test_wait_first_completed),
        cmocka_unit_test(test_wait_first_completed_same_pass),
        cmocka_unit_test(test_wait_first_exception),
        cmocka_unit_test(test_wait_first_exception_cancelled_only),
        cmocka_unit_test(test_wait_all_completed_does_not_retrieve),
        cmocka_unit_test(test_wait_timeout_never_cancels),
        cmocka_unit_test(test_wait_timeout_zero),
        cmocka_unit_test(test_wait_already_done),
        cmocka_unit_test(test_wait_duplicates),
        cmocka_unit_test(test_wait_cancel),
        cmocka_unit_test(test_wait_result_ownership),
        cmocka_unit_test(test_wait_in_task),
        cmocka_unit_test(test_wait_bad_input),
        cmocka_unit_test(test_as_completed_order),
        cmocka_unit_test(test_as_completed_next_after_completion),
        cmocka_unit_test(test_as_completed_timeout),
        cmocka_unit_test(test_as_completed_timeout_after_queued),
        cmocka_unit_test(test_as_completed_empty_and_duplicates),
        cmocka_unit_test(test_as_completed_free_pending),
        cmocka_unit_test(test_as_completed_cancelled_next_skipped),
        cmocka_unit_test(test_as_completed_refused_goes_back),
        cmocka_unit_test(test_as_completed_refused_value_dropped_after),
        cmocka_unit_test(test_as_completed_bad_input),
        cmocka_unit_test(test_wait_for_result_in_time),
        cmocka_unit_test(test_wait_for_error_forwarded),
        cmocka_unit_test(test_wait_for_timeout_waits_for_inner),
        cmocka_unit_test(test_wait_for_timeout_waits_for_coroutine),
        cmocka_unit_test(test_wait_for_inner_swallows),
        cmocka_unit_test(test_wait_for_zero),
        cmocka_unit_test(test_wait_for_zero_cancelled),
        cmocka_unit_test(test_wait_for_no_timeout),
        cmocka_unit_test(test_wait_for_cancel),
        cmocka_unit_test(test_wait_for_cancel_swallowed),
        cmocka_unit_test(test_wait_for_awaiting_task_cancelled),
        cmocka_unit_test(test_wait_for_timeout_races_completion),
        cmocka_unit_test(test_wait_for_timeout_races_completion_drop),
        cmocka_unit_test(test_wait_for_result_same_pass_as_inner),
        cmocka_unit_test(test_wait_split_when_caller_resumes),
        cmocka_unit_test(test_wait_for_released_early),
        cmocka_unit_test(test_wait_for_bad_input),
        cmocka_unit_test(test_shield_done_is_itself),
        cmocka_unit_test(test_shield_forwards),
        cmocka_unit_test(test_shield_cancel_keeps_inner),
        cmocka_unit_test(test_shield_cancelled_then_inner_fails),
        cmocka_unit_test(test_shield_released_early),
        cmocka_unit_test(test_shield_bad_input),
        cmocka_unit_test(test_cancel_cycle_does_not_recurse),
        cmocka_unit_test(test_loop_close_with_combinators_pending),
        cmocka_unit_test(test_loop_close_release_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
