/* Stackful coroutines: coio_spawn / coio_await (asyncio.Task over a coroutine, CPython 3.13
 * as the reference), their stacks (size, pooling, overflow reporting) and the task semantics
 * as seen from a coroutine body.
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * task and value) before returning: the suite runs under valgrind and ASan.  The stack
 * overflow test runs alone (`test_coroutine --overflow`, meson suite 'overflow'): its child
 * dies by SIGSEGV on purpose, which is not for valgrind to supervise. */
#include "testutil.h"

#include <errno.h>
#include <fenv.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

static coio_future *new_future(coio_loop *loop) {
    coio_future *f = NULL;
    assert_int_equal(coio_future_new(loop, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

static coio_future *spawn(coio_loop *loop, coio_coroutine_fn fn, void *arg,
                          const coio_task_options *opts) {
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, fn, arg, opts, &t), COIO_OK);
    assert_non_null(t);
    return t;
}

static void count_call(void *p) {
    ++*(int *)p;
}

/* The state a coroutine body shares with its test. */
typedef struct co {
    coio_loop *loop;
    int runs;          /* times the body started */
    int finished;      /* times the body reached its end */
    int drops;         /* opts.drop calls */
    int drops_in_body; /* drops seen from inside the body */
    coio_future *self;
    coio_future *current;       /* coio_current_task at the start of the body */
    coio_future *current_after; /* ... after its await */
    coio_future *f, *g;         /* futures the test hands over */
    int rc;                     /* what the body returns */
    int await_rc, await_rc2;
    void *value;
    int err_code;
    const char *err_msg;
    int marker;
    int marker_at_return;
    int set_rc, set_rc2, set_rc3;
    int result_drops, other_drops, payload_drops;
    tu_ticker tk;
    int tick_at_return;
} co;

static void co_init(co *c, coio_loop *loop) {
    memset(c, 0, sizeof *c);
    c->loop = loop;
}

static void co_drop(void *arg) {
    ((co *)arg)->drops++;
}

static coio_task_options opts_with_drop(void) {
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.drop = co_drop;
    return o;
}

static int body_return(coio_future *self, void *arg) {
    co *c = arg;
    c->runs++;
    c->self = self;
    c->current = coio_current_task(c->loop);
    c->drops_in_body = c->drops;
    c->finished++;
    return c->rc;
}

/* Awaits c->f and returns what the await returned, keeping the outcome. */
static int body_await_f(coio_future *self, void *arg) {
    co *c = arg;
    c->runs++;
    c->self = self;
    c->current = coio_current_task(c->loop);
    c->value = &c->value; /* must be overwritten on OK only */
    c->await_rc = coio_await(c->f, &c->value);
    c->current_after = coio_current_task(c->loop);
    if (c->await_rc == COIO_EFAILED || c->await_rc == COIO_ECANCELLED)
        assert_status(coio_future_error(c->f, &c->err_code, &c->err_msg), COIO_OK);
    c->finished++;
    return c->await_rc;
}

/* ---- scheduling, eager start ------------------------------------------------------------ */

static void test_first_step_scheduled_not_inline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_OK;
    coio_task_options o = opts_with_drop();
    coio_future *t = spawn(loop, body_return, &c, &o);
    assert_int_equal(coio_future_is_task(t), 1);
    assert_int_equal(c.runs, 0);
    assert_int_equal(coio_future_done(t), 0);
    tu_run_one_pass(loop);
    assert_int_equal(c.runs, 1);
    assert_ptr_equal(c.self, t);
    assert_ptr_equal(c.current, t);
    assert_null(coio_current_task(loop));
    assert_int_equal(coio_future_done(t), 1);
    void *v = &v;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_null(v);
    assert_int_equal(c.drops_in_body, 0); /* drop runs after the body returned */
    assert_int_equal(c.drops, 1);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(c.drops, 1);
}

typedef struct spawner {
    coio_loop *loop;
    co *c;
    coio_coroutine_fn fn;
    uint32_t flags;
    coio_future *t;
    int runs_after_spawn;
    int done_after_spawn;
} spawner;

static void spawn_in_callback(void *arg) {
    spawner *s = arg;
    coio_task_options o = opts_with_drop();
    o.flags = s->flags;
    assert_status(coio_spawn(s->loop, s->fn, s->c, &o, &s->t), COIO_OK);
    s->runs_after_spawn = s->c->runs;
    s->done_after_spawn = coio_future_done(s->t);
}

static void test_eager_spawn_runs_inline_when_loop_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    int value = 5;
    tu_completer k = {c.f, &value, 0, NULL, NULL, NULL};
    spawner s = {loop, &c, body_await_f, COIO_TASK_EAGER, NULL, -1, -1};
    assert_status(coio_call_soon(loop, spawn_in_callback, &s, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(s.runs_after_spawn, 1); /* ran up to its await inside coio_spawn */
    assert_int_equal(s.done_after_spawn, 0);
    assert_ptr_equal(c.current, s.t);
    assert_null(coio_current_task(loop));
    assert_status(coio_call_soon(loop, tu_complete_result, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, s.t), COIO_OK);
    assert_status(c.await_rc, COIO_OK);
    assert_ptr_equal(c.value, &value);
    assert_ptr_equal(c.current_after, s.t);
    assert_int_equal(c.drops, 1);
    coio_future_release(s.t);
    coio_future_release(c.f);
    tu_finish(loop);
}

static void test_eager_spawn_finishing_synchronously_is_done_on_return(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_OK;
    spawner s = {loop, &c, body_return, COIO_TASK_EAGER, NULL, -1, -1};
    assert_status(coio_call_soon(loop, spawn_in_callback, &s, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(s.runs_after_spawn, 1);
    assert_int_equal(s.done_after_spawn, 1);
    assert_int_equal(c.drops, 1);
    coio_future_release(s.t);
    tu_finish(loop);
}

static void test_eager_spawn_not_running_is_scheduled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_OK;
    coio_task_options o = opts_with_drop();
    o.flags = COIO_TASK_EAGER;
    coio_future *t = spawn(loop, body_return, &c, &o);
    assert_int_equal(c.runs, 0);
    tu_run_one_pass(loop);
    assert_int_equal(c.runs, 1);
    assert_int_equal(coio_future_done(t), 1);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(c.drops, 1);
}

static void test_non_eager_spawn_in_callback_is_scheduled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_OK;
    spawner s = {loop, &c, body_return, 0, NULL, -1, -1};
    assert_status(coio_call_soon(loop, spawn_in_callback, &s, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(s.runs_after_spawn, 0);
    tu_run_one_pass(loop);
    assert_int_equal(c.runs, 1);
    coio_future_release(s.t);
    tu_finish(loop);
}

/* An eager coroutine spawned inside another: it runs inline up to its first await, then the
 * outer continues as the current task and can await (the inner too). */
typedef struct outer_ctx {
    co inner;
    coio_future *inner_task;
    int inner_runs_after_spawn;
    coio_future *current_after_spawn;
    int await_rc;
    void *value;
    coio_future *current_after_await;
} outer_ctx;

static int body_outer_spawns_eager(coio_future *self, void *arg) {
    outer_ctx *o = arg;
    coio_task_options opts = opts_with_drop();
    opts.flags = COIO_TASK_EAGER;
    assert_status(coio_spawn(o->inner.loop, body_await_f, &o->inner, &opts, &o->inner_task),
                  COIO_OK);
    o->inner_runs_after_spawn = o->inner.runs;
    o->current_after_spawn = coio_current_task(o->inner.loop);
    assert_ptr_equal(o->current_after_spawn, self);
    o->await_rc = coio_await(o->inner_task, &o->value);
    o->current_after_await = coio_current_task(o->inner.loop);
    return o->await_rc;
}

static void test_await_from_task_spawned_eagerly_inside_another(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    outer_ctx o;
    memset(&o, 0, sizeof o);
    co_init(&o.inner, loop);
    o.inner.f = new_future(loop);
    int value = 11;
    tu_completer k = {o.inner.f, &value, 0, NULL, NULL, NULL};
    coio_future *outer = spawn(loop, body_outer_spawns_eager, &o, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(o.inner_runs_after_spawn, 1);
    assert_ptr_equal(o.inner.current, o.inner_task);
    assert_int_equal(coio_future_done(o.inner_task), 0);
    assert_int_equal(coio_future_done(outer), 0);
    assert_status(coio_call_soon(loop, tu_complete_result, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, outer), COIO_OK);
    assert_status(o.inner.await_rc, COIO_OK);
    assert_ptr_equal(o.inner.value, &value);
    assert_ptr_equal(o.inner.current_after, o.inner_task);
    assert_status(o.await_rc, COIO_OK);
    assert_null(o.value); /* the inner's result: NULL */
    assert_ptr_equal(o.current_after_await, outer);
    assert_int_equal(o.inner.drops, 1);
    coio_future_release(o.inner_task);
    coio_future_release(o.inner.f);
    coio_future_release(outer);
    tu_finish(loop);
}

/* ---- coio_await outcomes ----------------------------------------------------------------- */

static int body_marker_await(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->runs++;
    assert_status(coio_call_soon(c->loop, count_call, &c->marker, NULL, NULL), COIO_OK);
    c->value = &c->value;
    c->await_rc = coio_await(c->f, &c->value);
    c->marker_at_return = c->marker;
    if (c->await_rc != COIO_OK) {
        assert_status(coio_future_error(c->f, &c->err_code, &c->err_msg), COIO_OK);
        return COIO_OK; /* handled */
    }
    return COIO_OK;
}

static void test_await_pending_future_result(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    int value = 3;
    tu_completer k = {c.f, &value, 0, NULL, NULL, NULL};
    coio_future *t = spawn(loop, body_marker_await, &c, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(c.runs, 1);
    assert_int_equal(coio_future_done(t), 0); /* suspended */
    assert_status(coio_call_soon(loop, tu_complete_result, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_OK);
    assert_ptr_equal(c.value, &value);
    assert_int_equal(c.marker_at_return, 1); /* it did suspend */
    coio_future_release(t);
    coio_future_release(c.f);
    tu_finish(loop);
}

static void test_await_pending_future_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    tu_completer k = {c.f, NULL, 42, "bad thing", NULL, NULL};
    coio_future *t = spawn(loop, body_marker_await, &c, NULL);
    assert_status(coio_call_soon(loop, tu_complete_error, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_EFAILED);
    assert_ptr_equal(c.value, &c.value); /* untouched */
    assert_int_equal(c.err_code, 42);
    assert_string_equal(c.err_msg, "bad thing");
    coio_future_release(t);
    coio_future_release(c.f);
    tu_finish(loop);
}

static void test_await_pending_future_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    tu_completer k = {c.f, NULL, 0, "cx", NULL, NULL};
    coio_future *t = spawn(loop, body_marker_await, &c, NULL);
    assert_status(coio_call_soon(loop, tu_complete_cancel, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_ECANCELLED);
    assert_status(c.err_code, COIO_ECANCELLED);
    assert_string_equal(c.err_msg, "cx");
    assert_int_equal(coio_task_cancelling(t), 0);
    coio_future_release(t);
    coio_future_release(c.f);
    tu_finish(loop);
}

static void test_await_done_future_returns_at_once(void **state) {
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        coio_loop *loop = tu_loop_virtual();
        co c;
        co_init(&c, loop);
        c.f = new_future(loop);
        int value = 9;
        if (kind == 0) assert_status(coio_future_set_result(c.f, &value, NULL), COIO_OK);
        if (kind == 1) assert_status(coio_future_set_error(c.f, 8, "e"), COIO_OK);
        if (kind == 2) assert_int_equal(coio_future_cancel(c.f, NULL), 1);
        coio_future *t = spawn(loop, body_marker_await, &c, NULL);
        tu_run_one_pass(loop);
        assert_int_equal(c.runs, 1);
        assert_int_equal(coio_future_done(t), 1); /* finished in the same step */
        assert_int_equal(c.marker_at_return, 0);  /* no pass happened */
        assert_status(c.await_rc, kind == 0 ? COIO_OK : kind == 1 ? COIO_EFAILED : COIO_ECANCELLED);
        if (kind == 0) assert_ptr_equal(c.value, &value);
        if (kind == 1) assert_int_equal(c.err_code, 8);
        tu_run_one_pass(loop);
        coio_future_release(t);
        coio_future_release(c.f);
        tu_finish(loop);
    }
}

static int body_await_value_null_ok(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->await_rc = coio_await(c->f, NULL); /* value may be NULL */
    return COIO_OK;
}

static void test_await_value_out_may_be_null(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    tu_completer k = {c.f, &c, 0, NULL, NULL, NULL};
    coio_future *t = spawn(loop, body_await_value_null_ok, &c, NULL);
    assert_status(coio_call_soon(loop, tu_complete_result, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_OK);
    coio_future_release(t);
    coio_future_release(c.f);
    tu_finish(loop);
}

/* ---- what the body returns ------------------------------------------------------------- */

static int body_set_result(coio_future *self, void *arg) {
    co *c = arg;
    c->set_rc = coio_future_set_result(self, &c->result_drops, tu_count_drop);
    c->set_rc2 = coio_future_set_result(self, &c->other_drops, tu_count_drop);
    c->set_rc3 = coio_future_set_error(self, 4, "late");
    return COIO_OK;
}

static void test_result_set_in_body_drop_runs_once_at_free(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    coio_task_options o = opts_with_drop();
    coio_future *t = spawn(loop, body_set_result, &c, &o);
    int outside = 0;
    assert_status(coio_future_set_result(t, &outside, tu_count_drop), COIO_ESTATE);
    assert_status(coio_future_set_error(t, 1, "x"), COIO_ESTATE);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.set_rc, COIO_OK);
    assert_status(c.set_rc2, COIO_ESTATE);
    assert_status(c.set_rc3, COIO_ESTATE);
    void *v = NULL;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_ptr_equal(v, &c.result_drops);
    assert_status(coio_future_set_result(t, &outside, tu_count_drop), COIO_ESTATE);
    assert_int_equal(outside, 0);
    assert_int_equal(c.other_drops, 0);
    assert_int_equal(c.result_drops, 0);
    assert_int_equal(c.drops, 1);
    coio_future_release(t);
    assert_int_equal(c.result_drops, 1);
    tu_finish(loop);
    assert_int_equal(c.result_drops, 1);
    assert_int_equal(c.other_drops, 0);
}

/* set_result from another task's body is outside the target's body: ESTATE. */
typedef struct cross {
    coio_future *victim;
    int rc, rc2;
} cross;

static int body_sets_other_task(coio_future *self, void *arg) {
    (void)self;
    cross *x = arg;
    x->rc = coio_future_set_result(x->victim, NULL, NULL);
    x->rc2 = coio_future_set_error(x->victim, 3, "no");
    return COIO_OK;
}

static void test_set_result_from_another_task_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    coio_future *victim = spawn(loop, body_await_f, &c, NULL);
    cross x = {victim, 0, 0};
    coio_future *t = spawn(loop, body_sets_other_task, &x, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(x.rc, COIO_ESTATE);
    assert_status(x.rc2, COIO_ESTATE);
    assert_int_equal(coio_future_done(victim), 0);
    assert_status(coio_future_set_result(c.f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, victim), COIO_OK);
    coio_future_release(t);
    coio_future_release(victim);
    coio_future_release(c.f);
    tu_finish(loop);
}

static void test_efailed_after_failed_await_propagates_error_and_payload(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    int payload = 0;
    tu_completer k = {c.f, NULL, 77, "inner failure", &payload, tu_count_drop};
    coio_future *t = spawn(loop, body_await_f, &c, NULL);
    assert_status(coio_call_soon(loop, tu_complete_error, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_status(c.await_rc, COIO_EFAILED);
    assert_int_equal(coio_future_cancelled(t), 0);
    assert_int_equal(tu_error_code(t), 77);
    assert_string_equal(tu_error_message(t), "inner failure");
    void *pl = NULL;
    assert_status(coio_future_error_payload(t, &pl), COIO_OK);
    assert_ptr_equal(pl, &payload);
    coio_future_release(c.f);
    assert_int_equal(payload, 0);
    coio_future_release(t);
    assert_int_equal(payload, 1);
    tu_finish(loop);
}

/* EFAILED after a failed await and then a successful one: the last *failed* await's error. */
static int body_fail_then_ok_then_efailed(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->await_rc = coio_await(c->g, NULL);
    c->await_rc2 = coio_await(c->f, NULL);
    return COIO_EFAILED;
}

static void test_efailed_uses_last_failed_await(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    c.g = new_future(loop);
    tu_completer kg = {c.g, NULL, 31, "g failed", NULL, NULL};
    tu_completer kf = {c.f, NULL, 0, NULL, NULL, NULL};
    coio_future *t = spawn(loop, body_fail_then_ok_then_efailed, &c, NULL);
    assert_status(coio_call_soon(loop, tu_complete_error, &kg, NULL, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 1.0, tu_complete_result, &kf, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_status(c.await_rc, COIO_EFAILED);
    assert_status(c.await_rc2, COIO_OK);
    assert_int_equal(tu_error_code(t), 31);
    assert_string_equal(tu_error_message(t), "g failed");
    coio_future_release(c.f);
    coio_future_release(c.g);
    coio_future_release(t);
    tu_finish(loop);
}

static int body_own_error_after_failed_await(coio_future *self, void *arg) {
    co *c = arg;
    c->await_rc = coio_await(c->f, NULL);
    c->set_rc = coio_future_set_error(self, 55, "own");
    c->set_rc2 = coio_future_set_error(self, 56, "twice");
    c->set_rc3 = coio_future_set_result(self, &c->other_drops, tu_count_drop);
    return COIO_EFAILED;
}

static void test_efailed_after_own_set_error_is_that_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    tu_completer k = {c.f, NULL, 77, "awaited", NULL, NULL};
    coio_future *t = spawn(loop, body_own_error_after_failed_await, &c, NULL);
    assert_status(coio_call_soon(loop, tu_complete_error, &k, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_status(c.await_rc, COIO_EFAILED);
    assert_status(c.set_rc, COIO_OK);
    assert_status(c.set_rc2, COIO_ESTATE);
    assert_status(c.set_rc3, COIO_ESTATE);
    assert_int_equal(tu_error_code(t), 55);
    assert_string_equal(tu_error_message(t), "own");
    coio_future_release(c.f);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(c.other_drops, 0);
}

static void test_other_status_fails_task_with_that_code(void **state) {
    (void)state;
    const int codes[] = {COIO_ETIMEDOUT, COIO_ESYS, 7, 1000, -77};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        coio_loop *loop = tu_loop_virtual();
        co c;
        co_init(&c, loop);
        c.rc = codes[i];
        coio_task_options o = opts_with_drop();
        coio_future *t = spawn(loop, body_return, &c, &o);
        assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
        assert_int_equal(coio_future_cancelled(t), 0);
        assert_int_equal(tu_error_code(t), codes[i]);
        coio_future_release(t);
        tu_finish(loop);
        assert_int_equal(c.drops, 1);
    }
}

/* 1 and 2 are COIO_STEP_YIELD / COIO_STEP_AWAIT: a coroutine returning them still fails. */
static void test_step_values_returned_by_coroutine_fail_task(void **state) {
    (void)state;
    for (int rc = 1; rc <= 2; rc++) {
        coio_loop *loop = tu_loop_virtual();
        co c;
        co_init(&c, loop);
        c.rc = rc;
        coio_task_options o = opts_with_drop();
        coio_future *t = spawn(loop, body_return, &c, &o);
        assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
        assert_int_equal(c.runs, 1); /* not resumed again */
        assert_int_not_equal(tu_error_code(t), 0);
        coio_future_release(t);
        tu_finish(loop);
        assert_int_equal(c.drops, 1);
    }
}

static void test_efailed_without_any_error_is_generic_failure(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_EFAILED;
    coio_future *t = spawn(loop, body_return, &c, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_not_equal(tu_error_code(t), 0);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_ecancelled_return_cancels_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_ECANCELLED;
    coio_task_options o = opts_with_drop();
    coio_future *t = spawn(loop, body_return, &c, &o);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 1);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(c.drops, 1);
}

/* ---- cancellation ----------------------------------------------------------------------- */

static void test_cancel_while_awaiting_cancels_future_and_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    coio_task_options o = opts_with_drop();
    coio_future *t = spawn(loop, body_await_f, &c, &o);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "bye"), 1);
    assert_int_equal(coio_future_cancelled(c.f), 1);
    assert_string_equal(tu_error_message(c.f), "bye");
    assert_int_equal(coio_task_cancelling(t), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_status(c.await_rc, COIO_ECANCELLED);
    assert_string_equal(c.err_msg, "bye");
    assert_int_equal(coio_future_cancelled(t), 1);
    int code = 0;
    const char *msg = NULL;
    assert_status(coio_future_error(t, &code, &msg), COIO_OK);
    assert_status(code, COIO_ECANCELLED);
    assert_non_null(msg);
    assert_string_equal(msg, "bye");
    assert_int_equal(coio_future_cancel(t, NULL), 0);
    assert_int_equal(c.drops, 1);
    coio_future_release(t);
    coio_future_release(c.f);
    tu_finish(loop);
}

static int body_sleep0_then_return(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->runs++;
    coio_future *s = tu_sleep(c->loop, 0.0);
    c->await_rc = coio_await(s, NULL);
    c->value = (void *)(intptr_t)coio_future_cancelled(s);
    coio_future_release(s);
    c->finished++;
    return c->await_rc;
}

static void test_cancel_while_yielded_delivered_at_next_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    coio_future *t = spawn(loop, body_sleep0_then_return, &c, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(c.runs, 1);
    assert_int_equal(coio_future_cancel(t, "m2"), 1);
    tu_run_one_pass(loop);
    assert_status(c.await_rc, COIO_ECANCELLED);
    assert_ptr_equal(c.value, (void *)0); /* the sleep itself was not cancelled */
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_string_equal(tu_error_message(t), "m2");
    coio_future_release(t);
    tu_finish(loop);
}

static void test_cancel_before_first_step_body_never_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_OK;
    coio_task_options o = opts_with_drop();
    coio_future *t = spawn(loop, body_return, &c, &o);
    assert_int_equal(coio_future_cancel(t, "early"), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(c.runs, 0);
    assert_int_equal(c.drops, 1);
    assert_string_equal(tu_error_message(t), "early");
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(c.drops, 1);
}

static int body_swallow(coio_future *self, void *arg) {
    co *c = arg;
    c->await_rc = coio_await(c->f, NULL);
    assert_status(coio_future_set_result(self, &c->result_drops, tu_count_drop), COIO_OK);
    c->finished++;
    return COIO_OK;
}

static void test_swallowed_cancellation_finishes_normally(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    coio_future *t = spawn(loop, body_swallow, &c, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 0);
    void *v = NULL;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_ptr_equal(v, &c.result_drops);
    coio_future_release(t);
    assert_int_equal(c.result_drops, 1);
    coio_future_release(c.f);
    tu_finish(loop);
}

static void test_uncancel_to_zero_withdraws_pending_cancellation(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    coio_future *t = spawn(loop, body_sleep0_then_return, &c, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_int_equal(coio_task_cancelling(t), 1);
    assert_int_equal(coio_task_uncancel(t), 0);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- current task, names ---------------------------------------------------------------- */

static void test_current_task_and_name_inside_body(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.f = new_future(loop);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "fetcher";
    coio_future *t = spawn(loop, body_await_f, &c, &o);
    assert_string_equal(coio_task_name(t), "fetcher");
    assert_null(coio_current_task(loop));
    tu_run_one_pass(loop);
    assert_null(coio_current_task(loop)); /* back in main while suspended */
    assert_status(coio_future_set_result(c.f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_ptr_equal(c.current, t);
    assert_ptr_equal(c.current_after, t);
    coio_future *d = spawn(loop, body_return, &c, NULL);
    const char *name = coio_task_name(d);
    assert_non_null(name);
    assert_int_equal(strncmp(name, "Task-", 5), 0);
    assert_status(coio_task_set_name(d, "renamed"), COIO_OK);
    assert_string_equal(coio_task_name(d), "renamed");
    assert_status(coio_loop_run_until_complete(loop, d), COIO_OK);
    coio_future_release(d);
    coio_future_release(t);
    coio_future_release(c.f);
    tu_finish(loop);
}

static void test_all_tasks_includes_suspended_coroutines(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co a, b;
    co_init(&a, loop);
    co_init(&b, loop);
    a.f = new_future(loop);
    b.rc = COIO_OK;
    coio_future *ta = spawn(loop, body_await_f, &a, NULL);
    coio_future *tb = spawn(loop, body_return, &b, NULL);
    tu_run_one_pass(loop);
    coio_future *out[4] = {0};
    assert_int_equal(coio_loop_all_tasks(loop, out, 4), 1);
    assert_ptr_equal(out[0], ta);
    coio_future_release(out[0]);
    assert_status(coio_future_set_result(a.f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, ta), COIO_OK);
    assert_int_equal(coio_loop_all_tasks(loop, out, 4), 0);
    coio_future_release(ta);
    coio_future_release(tb);
    coio_future_release(a.f);
    tu_finish(loop);
}

/* ---- loop close, never retrieved ------------------------------------------------------- */

typedef struct report_log {
    int n;
    int destroyed;
    int never_retrieved;
    char names[8][64];
} report_log;

static void log_report(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    report_log *r = arg;
    if (r->n < 8) snprintf(r->names[r->n], sizeof r->names[0], "%s", ctx->error ? ctx->error : "");
    r->n++;
    if (strcmp(ctx->message, "Task was destroyed but it is pending!") == 0) r->destroyed++;
    if (strcmp(ctx->message, "Task exception was never retrieved") == 0) r->never_retrieved++;
}

/* Loops on sleep(0).  A body abandoned at loop close is never resumed (C has no unwinding):
 * whatever it owns must be reachable from its arg, for the drop to free.  So the sleep future
 * is kept in c->g, which co_drop_release_g releases. */
static int body_sleep0_forever(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->runs++;
    for (;;) {
        assert_status(coio_sleep(c->loop, 0.0, &c->g), COIO_OK);
        int rc = coio_await(c->g, NULL);
        coio_future_release(c->g);
        c->g = NULL;
        if (rc != COIO_OK) return rc;
    }
}

static void co_drop_release_g(void *arg) {
    co *c = arg;
    c->drops++;
    coio_future_release(c->g);
    c->g = NULL;
}

static void test_close_with_suspended_coroutines_reports_and_drops(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    report_log rl;
    memset(&rl, 0, sizeof rl);
    assert_status(coio_loop_set_exception_handler(loop, log_report, &rl, NULL), COIO_OK);
    co a, b, d;
    co_init(&a, loop);
    co_init(&b, loop);
    co_init(&d, loop);
    a.f = new_future(loop);
    coio_task_options o = opts_with_drop();
    o.name = "awaiter";
    coio_future *ta = spawn(loop, body_await_f, &a, &o);
    o.name = "looper";
    o.drop = co_drop_release_g;
    coio_future *tb = spawn(loop, body_sleep0_forever, &b, &o);
    o.drop = co_drop;
    o.name = "big-stack";
    o.stack_size = 256 * 1024;
    coio_future *td = spawn(loop, body_await_f, &d, &o);
    d.f = a.f;
    for (int i = 0; i < 3; i++)
        tu_run_one_pass(loop);
    assert_int_equal(a.runs, 1);
    assert_int_equal(b.runs, 1);
    assert_int_equal(d.runs, 1);
    coio_future_release(tb); /* only the loop holds it now */
    coio_future_release(a.f);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(rl.destroyed, 3);
    assert_int_equal(rl.n, 3);
    int w = 0, l = 0, s = 0;
    for (int i = 0; i < 3; i++) {
        w += strcmp(rl.names[i], "awaiter") == 0;
        l += strcmp(rl.names[i], "looper") == 0;
        s += strcmp(rl.names[i], "big-stack") == 0;
    }
    assert_int_equal(w + l + s, 3);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
    assert_int_equal(d.drops, 1);
    assert_int_equal(a.finished, 0); /* abandoned, not resumed */
    coio_future_release(ta);
    coio_future_release(td);
    assert_int_equal(rl.n, 3);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(a.drops, 1);
}

static void test_close_with_unstarted_coroutine_drop_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    report_log rl;
    memset(&rl, 0, sizeof rl);
    assert_status(coio_loop_set_exception_handler(loop, log_report, &rl, NULL), COIO_OK);
    co c;
    co_init(&c, loop);
    coio_task_options o = opts_with_drop();
    coio_future *t = spawn(loop, body_return, &c, &o);
    tu_finish(loop);
    assert_int_equal(c.runs, 0);
    assert_int_equal(c.drops, 1);
    assert_int_equal(rl.destroyed, 1);
    coio_future_release(t);
    assert_int_equal(c.drops, 1);
    assert_int_equal(rl.n, 1);
}

static void test_failed_coroutine_freed_unread_is_reported(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    report_log rl;
    memset(&rl, 0, sizeof rl);
    assert_status(coio_loop_set_exception_handler(loop, log_report, &rl, NULL), COIO_OK);
    co a, b;
    co_init(&a, loop);
    co_init(&b, loop);
    a.rc = COIO_ETIMEDOUT;
    b.rc = COIO_ETIMEDOUT;
    coio_future *ta = spawn(loop, body_return, &a, NULL);
    coio_future *tb = spawn(loop, body_return, &b, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(tu_error_code(tb), COIO_ETIMEDOUT); /* read */
    coio_future_release(tb);
    assert_int_equal(rl.n, 0);
    coio_future_release(ta);
    assert_int_equal(rl.n, 1);
    assert_int_equal(rl.never_retrieved, 1);
    tu_finish(loop);
    assert_int_equal(rl.n, 1);
}

/* ---- coio_sleep in coroutines ----------------------------------------------------------- */

static int body_sleep_delay(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    double start = coio_loop_time(c->loop);
    coio_future *s = tu_sleep(c->loop, 3.5);
    c->await_rc = coio_await(s, &c->value);
    coio_future_release(s);
    c->err_msg = NULL;
    c->tick_at_return = (int)((coio_loop_time(c->loop) - start) * 1000.0 + 0.5);
    return COIO_OK;
}

static void test_sleep_in_coroutine_resumes_at_start_plus_delay(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.value = &c;
    coio_future *first = tu_sleep(loop, 1.0);
    assert_status(coio_loop_run_until_complete(loop, first), COIO_OK);
    coio_future *t = spawn(loop, body_sleep_delay, &c, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_OK);
    assert_null(c.value);
    assert_int_equal(c.tick_at_return, 3500);
    assert_double_eq(coio_loop_time(loop), 4.5, 1e-9);
    coio_future_release(first);
    coio_future_release(t);
    tu_finish(loop);
}

static int body_sleep0_count_passes(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    tu_start_ticker(&c->tk, c->loop, 10);
    coio_future *s = tu_sleep(c->loop, 0.0);
    c->await_rc = coio_await(s, NULL);
    coio_future_release(s);
    c->tick_at_return = c->tk.n;
    return COIO_OK;
}

static void test_sleep0_in_coroutine_costs_one_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    coio_future *t = spawn(loop, body_sleep0_count_passes, &c, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.await_rc, COIO_OK);
    assert_int_equal(c.tick_at_return, 1);
    coio_future_release(t);
    tu_finish(loop); /* discards the rest of the tu_ticker chain */
}

/* ---- bad input ---------------------------------------------------------------------------- */

typedef struct await_probe {
    int rc;
    int calls;
    coio_future *f;
} await_probe;

static void await_in_callback(void *arg) {
    await_probe *p = arg;
    p->calls++;
    p->rc = coio_await(p->f, NULL);
}

static void test_await_outside_coroutine_is_enotsup(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    void *v = &v;
    assert_status(coio_await(f, &v), COIO_ENOTSUP);
    assert_ptr_equal(v, &v);
    assert_status(coio_await(NULL, NULL), COIO_ENOTSUP);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_status(coio_await(f, &v), COIO_ENOTSUP); /* also when done */
    await_probe p = {0, 0, f};
    assert_status(coio_call_soon(loop, await_in_callback, &p, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_status(p.rc, COIO_ENOTSUP);
    coio_future_release(f);
    tu_finish(loop);
}

static int step_awaits(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)task;
    (void)awaited;
    (void)status;
    await_probe *p = arg;
    p->calls++;
    p->rc = coio_await(p->f, NULL);
    return COIO_OK;
}

typedef struct step_in_co {
    await_probe probe;
    coio_future *step_task;
    int step_await_rc;
    coio_future *f;
} step_in_co;

static int body_spawns_eager_step_task(coio_future *self, void *arg) {
    step_in_co *s = arg;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER;
    assert_status(
        coio_task_new(coio_future_loop(self), step_awaits, &s->probe, NULL, &o, &s->step_task),
        COIO_OK);
    s->step_await_rc = coio_step_await(self, s->f); /* a coroutine has no step protocol */
    return COIO_OK;
}

static void test_await_in_step_task_is_enotsup(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    await_probe p = {0, 0, f};
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_awaits, &p, NULL, NULL, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(p.calls, 1);
    assert_status(p.rc, COIO_ENOTSUP);
    coio_future_release(t);
    /* a step task started eagerly from a coroutine body runs on the coroutine's stack: still
     * not a coroutine */
    step_in_co s;
    memset(&s, 0, sizeof s);
    s.probe.f = f;
    s.f = f;
    coio_future *c = spawn(loop, body_spawns_eager_step_task, &s, NULL);
    assert_status(coio_loop_run_until_complete(loop, c), COIO_OK);
    assert_int_equal(s.probe.calls, 1);
    assert_status(s.probe.rc, COIO_ENOTSUP);
    assert_status(s.step_await_rc, COIO_ESTATE);
    coio_future_release(s.step_task);
    coio_future_release(c);
    coio_future_release(f);
    tu_finish(loop);
}

typedef struct bad_await {
    coio_future *foreign;
    int self_rc, null_rc, foreign_rc;
} bad_await;

static int body_bad_awaits(coio_future *self, void *arg) {
    bad_await *b = arg;
    b->self_rc = coio_await(self, NULL);
    b->null_rc = coio_await(NULL, NULL);
    b->foreign_rc = coio_await(b->foreign, NULL);
    return COIO_OK;
}

static void test_await_bad_input_inside_coroutine(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_loop *other = tu_loop_virtual();
    bad_await b = {new_future(other), 0, 0, 0};
    coio_future *t = spawn(loop, body_bad_awaits, &b, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(b.self_rc, COIO_EINVAL);
    assert_status(b.null_rc, COIO_EINVAL);
    assert_status(b.foreign_rc, COIO_ELOOP);
    assert_int_equal(coio_future_done(b.foreign), 0);
    coio_future_release(t);
    coio_future_release(b.foreign);
    tu_finish(other);
    tu_finish(loop);
}

static void test_spawn_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c;
    co_init(&c, loop);
    c.rc = COIO_OK;
    coio_task_options o = opts_with_drop();
    coio_future *t = (coio_future *)&t;
    assert_status(coio_spawn(NULL, body_return, &c, &o, &t), COIO_EINVAL);
    assert_status(coio_spawn(loop, NULL, &c, &o, &t), COIO_EINVAL);
    assert_status(coio_spawn(loop, body_return, &c, &o, NULL), COIO_EINVAL);
    o.flags = 0x80000000u; /* a flag coio does not know */
    assert_status(coio_spawn(loop, body_return, &c, &o, &t), COIO_EINVAL);
    o = opts_with_drop();
    o.size = sizeof o + 16;
    assert_status(coio_spawn(loop, body_return, &c, &o, &t), COIO_EINVAL);
    o.size = 2;
    assert_status(coio_spawn(loop, body_return, &c, &o, &t), COIO_EINVAL);
    assert_ptr_equal(t, (coio_future *)&t);
    assert_int_equal(c.drops, 0);
    assert_int_equal(coio_loop_all_tasks(loop, NULL, 0), 0);
    tu_run_one_pass(loop);
    assert_int_equal(c.runs, 0);
    assert_status(coio_loop_close(loop), COIO_OK);
    o = opts_with_drop();
    assert_status(coio_spawn(loop, body_return, &c, &o, &t), COIO_ECLOSED);
    assert_ptr_equal(t, (coio_future *)&t);
    assert_int_equal(c.drops, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(c.drops, 0);
    assert_int_equal(c.runs, 0);
}

/* ---- many coroutines, stacks ---------------------------------------------------------------- */

#define MANY 1000
#define ROUNDS 10

typedef struct many {
    coio_loop *loop;
    tu_ticker tk;
    int iter[MANY];
    int max_finish_tick;
    int interleave_violations;
    coio_future *tasks[MANY];
    long sum;
    int gather_rc;
} many;

typedef struct many_arg {
    many *m;
    int i;
} many_arg;

static many_arg g_many_args[MANY];

static int body_many(coio_future *self, void *arg) {
    many_arg *a = arg;
    many *m = a->m;
    for (int k = 0; k < ROUNDS; k++) {
        coio_future *s = NULL;
        if (coio_sleep(m->loop, 0.0, &s) != COIO_OK) return COIO_ENOMEM;
        int rc = coio_await(s, NULL);
        coio_future_release(s);
        if (rc != COIO_OK) return rc;
        m->iter[a->i]++;
        /* all tasks advance in lock step: everyone has done at least k rounds */
        if (a->i > 0 && m->iter[a->i - 1] < k + 1) m->interleave_violations++;
    }
    if (m->tk.n > m->max_finish_tick) m->max_finish_tick = m->tk.n;
    assert_status(coio_future_set_result(self, (void *)(intptr_t)(a->i + 1), NULL), COIO_OK);
    return COIO_OK;
}

static int body_gather(coio_future *self, void *arg) {
    (void)self;
    many *m = arg;
    for (int i = 0; i < MANY; i++) {
        void *v = NULL;
        int rc = coio_await(m->tasks[i], &v);
        if (rc != COIO_OK) {
            m->gather_rc = rc;
            return rc;
        }
        m->sum += (long)(intptr_t)v;
    }
    return COIO_OK;
}

static void test_many_coroutines_interleave(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    many *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->loop = loop;
    for (int i = 0; i < MANY; i++) {
        g_many_args[i] = (many_arg){m, i};
        m->tasks[i] = spawn(loop, body_many, &g_many_args[i], NULL);
    }
    coio_future *g = spawn(loop, body_gather, m, NULL);
    tu_start_ticker(&m->tk, loop, 1000000);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_OK);
    assert_int_equal(m->gather_rc, 0);
    assert_int_equal(m->sum, (long)MANY * (MANY + 1) / 2);
    assert_int_equal(m->interleave_violations, 0);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(m->iter[i], ROUNDS);
        assert_int_equal(coio_future_done(m->tasks[i]), 1);
    }
    /* first step in pass 1, then one pass per sleep(0) */
    assert_int_equal(m->max_finish_tick, ROUNDS);
    assert_int_equal(coio_loop_all_tasks(loop, NULL, 0), 0);
    for (int i = 0; i < MANY; i++)
        coio_future_release(m->tasks[i]);
    coio_future_release(g);
    tu_finish(loop);
    free(m);
}

/* Recursion that really uses the stack: each frame keeps a 512-byte array alive across the
 * call. */
static int __attribute__((noinline)) recurse(int depth) {
    volatile char buf[512];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)depth;
    if (depth == 0) return buf[0];
    return recurse(depth - 1) + buf[depth % 8 * 64] - (char)depth;
}

typedef struct rec_arg {
    int depth;
    int result;
    int done;
} rec_arg;

static int body_recurse(coio_future *self, void *arg) {
    (void)self;
    rec_arg *r = arg;
    r->result = recurse(r->depth);
    r->done = 1;
    return COIO_OK;
}

static void test_recursion_within_default_stack(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    rec_arg r = {40, -1, 0}; /* ~25 KiB of the default 64 KiB */
    coio_future *t = spawn(loop, body_recurse, &r, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.result, 0);
    coio_future_release(t);
    /* the pooled stack is reused by the next one */
    rec_arg r2 = {40, -1, 0};
    t = spawn(loop, body_recurse, &r2, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(r2.done, 1);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_custom_stack_size_allows_deeper_recursion(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    rec_arg r = {220, -1, 0}; /* ~140 KiB: more than the default 64 KiB */
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.stack_size = 256 * 1024;
    coio_future *t = spawn(loop, body_recurse, &r, &o);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.result, 0);
    coio_future_release(t);
    /* a size that is not a multiple of the page size is rounded up */
    rec_arg r2 = {10, -1, 0};
    o.stack_size = 100000;
    t = spawn(loop, body_recurse, &r2, &o);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(r2.done, 1);
    coio_future_release(t);
    tu_finish(loop);
}

static int __attribute__((noinline)) overflow(int depth) {
    volatile char buf[2048]; /* < one page: the first touch below the stack hits the guard */
    memset((char *)buf, depth & 0x7f, sizeof buf);
    if (depth > 1000000) return 0;
    return overflow(depth + 1) + buf[depth % sizeof buf];
}

static int body_overflow(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    return overflow(0) ? COIO_OK : COIO_EFAILED;
}

#define OVERFLOW_CHILD_ARG "--overflow-child"

/* The child's side (runs in main, before cmocka): dies by SIGSEGV if all goes well. */
static int overflow_child(void) {
    coio_loop_options lo = COIO_LOOP_OPTIONS_INIT;
    lo.flags = COIO_LOOP_VIRTUAL_TIME;
    coio_loop *loop = NULL;
    if (coio_loop_new(&loop, &lo) != COIO_OK) return 2;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "overflower";
    o.stack_size = 16384;
    coio_future *t = NULL;
    if (coio_spawn(loop, body_overflow, NULL, &o, &t) != COIO_OK) return 3;
    coio_loop_run_until_complete(loop, t);
    return 4; /* survived: wrong */
}

static void test_stack_overflow_is_reported_then_sigsegv(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A fresh process (exec): cmocka replaces the SIGSEGV handler around every test, which
         * would hide coio's overflow handler in a plain fork of this one. */
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        execl("/proc/self/exe", "test_coroutine", OVERFLOW_CHILD_ARG, (char *)NULL);
        _exit(5);
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], out + len, sizeof out - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        if (len == sizeof out - 1) break;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!strstr(out, "stack overflow in task overflower"))
        fail_msg("child stderr lacks the overflow report: \"%s\"", out);
    if (!WIFSIGNALED(status))
        fail_msg("child was not killed by a signal (exit status %d), stderr: \"%s\"",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    assert_int_equal(WTERMSIG(status), SIGSEGV);
}

/* ---- stacks without a guard page (COIO_TASK_NO_GUARD_PAGE) ------------------------------ */

/* The process's mappings (lines of /proc/self/maps). */
static long map_entries(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n') n++;
    fclose(f);
    return n;
}

typedef struct waiter_arg {
    coio_future *gate;
    int done;
} waiter_arg;

static int body_wait_gate(coio_future *self, void *arg) {
    (void)self;
    waiter_arg *w = arg;
    int rc = coio_await(w->gate, NULL);
    if (rc == COIO_OK) w->done++;
    return rc;
}

/* Spawns n coroutines with the given flags and stack size, all suspended on one gate at once,
 * then opens it; returns how many map entries the process gained while they were alive. */
static long run_gated(coio_loop *loop, int n, uint32_t flags, size_t stack_size) {
    coio_future *gate = NULL;
    assert_status(coio_future_new(loop, &gate), COIO_OK);
    waiter_arg w = {gate, 0};
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = flags;
    o.stack_size = stack_size;
    coio_future **tasks = calloc((size_t)n, sizeof *tasks);
    assert_non_null(tasks);
    long before = map_entries();
    for (int i = 0; i < n; i++)
        tasks[i] = spawn(loop, body_wait_gate, &w, &o);
    tu_run_one_pass(loop); /* every body starts and suspends on the gate */
    long grown = map_entries() - before;
    assert_status(coio_future_set_result(gate, NULL, NULL), COIO_OK);
    for (int i = 0; i < n; i++) {
        assert_status(coio_loop_run_until_complete(loop, tasks[i]), COIO_OK);
        coio_future_release(tasks[i]);
    }
    assert_int_equal(w.done, n);
    coio_future_release(gate);
    free(tasks);
    return grown;
}

/* Unguarded stacks share mappings: 2,000 live coroutines take a few map entries, not 2,000
 * (without MADV_GUARD_INSTALL a guarded stack takes two: the stack and its guard page). */
static void test_unguarded_stacks_share_mappings(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    long grown = run_gated(loop, 2000, COIO_TASK_NO_GUARD_PAGE, 4096);
    if (grown >= 100) fail_msg("2000 unguarded stacks took %ld map entries", grown);
    tu_finish(loop);
}

/* Where each body's frame was: the same body at the same depth sits at the same offset of its
 * stack, so a reused stack gives back an address seen before. */
enum { REUSE_N = 300 };
static uintptr_t g_frames[2][REUSE_N];
static int g_round, g_frame_n;

static int body_note_frame(coio_future *self, void *arg) {
    (void)self;
    g_frames[g_round][g_frame_n++] = (uintptr_t)__builtin_frame_address(0);
    return coio_await((coio_future *)arg, NULL);
}

static int cmp_uintptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void note_round(coio_loop *loop, int round, uint32_t flags, size_t stack_size) {
    coio_future *gate = NULL;
    assert_status(coio_future_new(loop, &gate), COIO_OK);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = flags;
    o.stack_size = stack_size;
    coio_future *tasks[REUSE_N];
    g_round = round;
    g_frame_n = 0;
    for (int i = 0; i < REUSE_N; i++)
        tasks[i] = spawn(loop, body_note_frame, gate, &o);
    tu_run_one_pass(loop);
    assert_int_equal(g_frame_n, REUSE_N);
    assert_status(coio_future_set_result(gate, NULL, NULL), COIO_OK);
    for (int i = 0; i < REUSE_N; i++) {
        assert_status(coio_loop_run_until_complete(loop, tasks[i]), COIO_OK);
        coio_future_release(tasks[i]);
    }
    coio_future_release(gate);
}

/* Finished coroutines' stacks are reused: every coroutine of a second round as large as the
 * first (all alive at once) runs on a stack of the first round. */
static void test_stacks_are_reused(void **state) {
    (void)state;
    static const struct {
        uint32_t flags;
        size_t stack_size;
    } kinds[] = {{0, 0}, {0, 100000}, {COIO_TASK_NO_GUARD_PAGE, 8192}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        coio_loop *loop = tu_loop_virtual();
        note_round(loop, 0, kinds[k].flags, kinds[k].stack_size);
        note_round(loop, 1, kinds[k].flags, kinds[k].stack_size);
        qsort(g_frames[0], REUSE_N, sizeof g_frames[0][0], cmp_uintptr);
        for (int i = 0; i < REUSE_N; i++)
            if (!bsearch(&g_frames[1][i], g_frames[0], REUSE_N, sizeof g_frames[0][0], cmp_uintptr))
                fail_msg("kind %zu: coroutine %d of the second round is on a new stack", k, i);
        tu_finish(loop);
    }
}

/* Whether the kernel refuses to read the byte at p (a guard page: EFAULT, where touching it
 * would be SIGSEGV). */
static int unreadable(int fd, uintptr_t p) {
    ssize_t r = write(fd, (const void *)p, 1);
    return r < 0 && errno == EFAULT;
}

/* Every stack of every batch has its guard page right below it, however the guards were
 * installed (a few process_madvise calls per batch, or a call per stack): 300 coroutines
 * alive at once take batches of 8, 16, ..., 256 stacks.  Each body's frame is in its stack's
 * top page, so the guard is the page a stack size below that page, and the page above the
 * guard is the stack's own. */
static void test_every_stack_of_a_batch_is_guarded(void **state) {
    (void)state;
    enum { kStack = 64 * 1024 }; /* the default */
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
    coio_loop *loop = tu_loop_virtual();
    note_round(loop, 0, 0, 0); /* their stacks stay mapped in the loop's pool */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    for (int i = 0; i < REUSE_N; i++) {
        uintptr_t guard = (g_frames[0][i] & ~(ps - 1)) - kStack;
        if (!unreadable(fds[1], guard)) fail_msg("stack %d has no guard page below it", i);
        if (unreadable(fds[1], guard + ps)) fail_msg("stack %d: its bottom page is a guard", i);
        char c;
        assert_int_equal(read(fds[0], &c, 1), 1);
    }
    close(fds[0]);
    close(fds[1]);
    tu_finish(loop);
}

/* The floating-point control state (rounding mode, exception masks) belongs to each stack, as
 * the x86-64 ABI makes it callee-saved: a body that changes the rounding mode and suspends
 * leaves the loop's mode as it was, and finds its own again when it resumes.  Both halves are
 * read back: the x87 control word (fegetround) and MXCSR (its rounding bits).  Where the CPU
 * honours the mode, an SSE division checks it takes effect too; valgrind reads the modes back
 * but computes in round-to-nearest whatever they say, so there only the modes are checked. */
#if defined(__x86_64__)
typedef struct fp_state {
    int x87, sse; /* the rounding mode each says, as an FE_* value */
    double third; /* 1/3 (or -1/3 for FE_DOWNWARD) */
} fp_state;

static double third(double sign) {
    volatile double one = sign, three = 3.0;
    return one / three;
}

/* MXCSR's rounding bits (13-14) as FE_* (x87's RC bits 10-11: the same encoding). */
static int sse_round(void) {
    return (int)((_mm_getcsr() >> 13) & 3) << 10;
}

static fp_state fp_now(int mode) {
    fp_state st = {fegetround(), sse_round(), third(mode == FE_DOWNWARD ? -1.0 : 1.0)};
    return st;
}

typedef struct fp_body {
    coio_future *wait;
    int mode;               /* the rounding mode the body sets */
    fp_state before, after; /* around its await */
} fp_body;

static int body_rounding(coio_future *self, void *arg) {
    (void)self;
    fp_body *b = arg;
    fesetround(b->mode);
    b->before = fp_now(b->mode);
    int rc = coio_await(b->wait, NULL);
    b->after = fp_now(b->mode);
    fesetround(FE_TONEAREST);
    return rc;
}

typedef struct fp_loop_side {
    coio_future *f1, *f2;
    fp_state st;
} fp_loop_side;

static void loop_side_rounding(void *arg) {
    fp_loop_side *s = arg;
    s->st = fp_now(FE_TONEAREST);
    assert_status(coio_future_set_result(s->f1, NULL, NULL), COIO_OK);
    assert_status(coio_future_set_result(s->f2, NULL, NULL), COIO_OK);
}

static void assert_fp(fp_state st, int mode, double nearest, int honoured) {
    assert_int_equal(st.x87, mode);
    assert_int_equal(st.sse, mode);
    if (!honoured) return;
    if (mode == FE_UPWARD) assert_true(st.third > nearest);
    if (mode == FE_DOWNWARD) assert_true(st.third < -nearest);
    if (mode == FE_TONEAREST) assert_true(st.third == nearest);
}

static void test_rounding_mode_is_per_coroutine(void **state) {
    (void)state;
    double nearest = third(1.0);
    fesetround(FE_UPWARD);
    int honoured = third(1.0) > nearest; /* not under valgrind */
    fesetround(FE_TONEAREST);
    coio_loop *loop = tu_loop_virtual();
    fp_body up = {new_future(loop), FE_UPWARD, {0, 0, 0}, {0, 0, 0}};
    fp_body down = {new_future(loop), FE_DOWNWARD, {0, 0, 0}, {0, 0, 0}};
    fp_loop_side side = {up.wait, down.wait, {-1, -1, 0}};
    coio_future *a = spawn(loop, body_rounding, &up, NULL);
    coio_future *b = spawn(loop, body_rounding, &down, NULL);
    assert_status(coio_call_soon(loop, loop_side_rounding, &side, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, b), COIO_OK);
    assert_fp(fp_now(FE_TONEAREST), FE_TONEAREST, nearest, honoured);
    assert_fp(side.st, FE_TONEAREST, nearest, honoured); /* the bodies' modes stayed with them */
    assert_fp(up.before, FE_UPWARD, nearest, honoured);
    assert_fp(up.after, FE_UPWARD, nearest, honoured);
    assert_fp(down.before, FE_DOWNWARD, nearest, honoured);
    assert_fp(down.after, FE_DOWNWARD, nearest, honoured);
    assert_true(coio_future_done(a));
    coio_future_release(a);
    coio_future_release(b);
    coio_future_release(up.wait);
    coio_future_release(down.wait);
    tu_finish(loop);
}
#endif

/* Bodies that switch out at every depth of a recursion, interleaved with each other, keep
 * every frame's locals (integer and floating point) and return through every frame: a switch
 * preserves what a call preserves, on each side, however deep the stack and whichever side
 * switched last (the switch is entered without a call instruction: coroutine.hh). */
typedef struct deep_arg {
    int id;
    coio_future *wake; /* the previous body resolves it; this body awaits it at depth 0 */
    coio_future *next; /* this body resolves it for the next one */
    long checksum;
} deep_arg;

static long deep_switches(deep_arg *d, int depth) {
    long here = d->id * 1000L + depth;
    double scaled = (double)here * 0.5;
    volatile char pad[64]; /* a frame with something on the stack, not only in registers */
    pad[depth % 64] = (char)depth;
    assert_status(coio_co_sleep(0), COIO_OK); /* a bare yield on the way down */
    long below;
    if (depth == 0) {
        assert_status(coio_await(d->wake, NULL), COIO_OK); /* a future's wake-up at the bottom */
        assert_status(coio_future_set_result(d->next, NULL, NULL), COIO_OK);
        below = 0;
    } else {
        below = deep_switches(d, depth - 1);
    }
    assert_status(coio_co_sleep(0), COIO_OK); /* and on the way back up */
    assert_int_equal(pad[depth % 64], (char)depth);
    assert_true(scaled * 2.0 == (double)here);
    return below + here;
}

static int body_deep_switches(coio_future *self, void *arg) {
    (void)self;
    deep_arg *d = arg;
    d->checksum = deep_switches(d, 30);
    return COIO_OK;
}

static void test_switches_at_depth_keep_every_frame(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    enum { K = 3 };
    deep_arg d[K];
    coio_future *fs[K + 1], *t[K];
    for (int i = 0; i <= K; i++)
        fs[i] = new_future(loop);
    for (int i = 0; i < K; i++) {
        d[i] = (deep_arg){i + 1, fs[i], fs[i + 1], -1};
        t[i] = spawn(loop, body_deep_switches, &d[i], NULL);
    }
    assert_status(coio_future_set_result(fs[0], NULL, NULL), COIO_OK);
    for (int i = 0; i < K; i++)
        assert_status(coio_loop_run_until_complete(loop, t[i]), COIO_OK);
    for (int i = 0; i < K; i++) {
        long want = 0;
        for (int depth = 0; depth <= 30; depth++)
            want += (i + 1) * 1000L + depth;
        assert_true(coio_future_done(t[i]));
        assert_int_equal(d[i].checksum, want);
        coio_future_release(t[i]);
    }
    for (int i = 0; i <= K; i++)
        coio_future_release(fs[i]);
    tu_finish(loop);
}

/* An unguarded stack is still a working stack: deep recursion within its size is fine, and
 * the size is rounded up to pages (4 KiB at least). */
static void test_unguarded_stack_runs_recursion(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    rec_arg r = {40, -1, 0}; /* ~25 KiB */
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_NO_GUARD_PAGE;
    o.stack_size = 40000;
    coio_future *t = spawn(loop, body_recurse, &r, &o);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(r.done, 1);
    coio_future_release(t);
    tu_finish(loop);
}

static int __attribute__((noinline)) smash(int depth) {
    volatile char buf[512];
    memset((char *)buf, depth & 0x7f, sizeof buf);
    if (depth == 0) return buf[7];
    return smash(depth - 1) + buf[depth % sizeof buf];
}

/* Uses some 10 KiB of a 4 KiB stack (running into the next stack of its batch), returns, then
 * awaits: the switch out finds the canary overwritten. */
static int body_smash(coio_future *self, void *arg) {
    (void)arg;
    int v = smash(16);
    coio_future *nap = NULL;
    if (coio_sleep(coio_future_loop(self), 0, &nap) != COIO_OK) return COIO_EINVAL;
    coio_await(nap, NULL);
    coio_future_release(nap);
    return v ? COIO_OK : COIO_EFAILED;
}

#define SMASH_CHILD_ARG "--smash-child"

/* The child's side: dies by SIGABRT if all goes well. */
static int smash_child(void) {
    coio_loop_options lo = COIO_LOOP_OPTIONS_INIT;
    lo.flags = COIO_LOOP_VIRTUAL_TIME;
    coio_loop *loop = NULL;
    if (coio_loop_new(&loop, &lo) != COIO_OK) return 2;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "smasher";
    o.flags = COIO_TASK_NO_GUARD_PAGE;
    o.stack_size = 4096;
    coio_future *t = NULL;
    if (coio_spawn(loop, body_smash, NULL, &o, &t) != COIO_OK) return 3;
    coio_loop_run_until_complete(loop, t);
    return 4; /* survived: wrong */
}

static void test_unguarded_overflow_is_reported_then_abort(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        execl("/proc/self/exe", "test_coroutine", SMASH_CHILD_ARG, (char *)NULL);
        _exit(5);
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], out + len, sizeof out - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        if (len == sizeof out - 1) break;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!strstr(out, "stack overflow in task smasher"))
        fail_msg("child stderr lacks the overflow report: \"%s\"", out);
    if (!WIFSIGNALED(status))
        fail_msg("child was not killed by a signal (exit status %d), stderr: \"%s\"",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- AddressSanitizer sees coroutine stacks (issue 11, item 10) -------------------------- */

/* Built with ASan, the library tells it about every stack switch.  Without that, a no-return
 * call on a coroutine stack (longjmp here; a C++ throw in a binding) makes ASan warn that it
 * does not know the stack and that false reports may follow, and a real stack bug in a body
 * is not attributed to its frame.  Each check runs in a child (exec'd, stderr captured). */
#define ASAN_LONGJMP_CHILD_ARG "--asan-longjmp-child"
#define ASAN_STACK_BUG_CHILD_ARG "--asan-stack-bug-child"

static jmp_buf g_body_jmp;

static void __attribute__((noinline, noreturn)) jump_back(void) {
    longjmp(g_body_jmp, 1);
}

/* Awaits (switches out and back), then longjmps within its own stack. */
static int body_longjmp(coio_future *self, void *arg) {
    (void)arg;
    coio_future *nap = NULL;
    if (coio_sleep(coio_future_loop(self), 0, &nap) != COIO_OK) return COIO_EINVAL;
    int rc = coio_await(nap, NULL);
    coio_future_release(nap);
    volatile int jumped = 0;
    if (setjmp(g_body_jmp) == 0) jump_back();
    jumped = 1;
    return jumped && rc == COIO_OK ? COIO_OK : COIO_EFAILED;
}

static volatile int g_bad_index = 8;

/* A genuine stack-buffer-overflow in a coroutine body, after an await. */
static int __attribute__((noinline)) body_stack_bug(coio_future *self, void *arg) {
    (void)arg;
    coio_future *nap = NULL;
    if (coio_sleep(coio_future_loop(self), 0, &nap) != COIO_OK) return COIO_EINVAL;
    coio_await(nap, NULL);
    coio_future_release(nap);
    char buf[8];
    memset(buf, 0, sizeof buf);
    char *volatile p = buf; /* through a pointer: UBSan's bounds check stays out of it */
    p[g_bad_index] = 1;     /* one past the end */
    return buf[0] ? COIO_EFAILED : COIO_OK;
}

static int asan_child(coio_coroutine_fn fn) {
    coio_loop_options lo = COIO_LOOP_OPTIONS_INIT;
    lo.flags = COIO_LOOP_VIRTUAL_TIME;
    coio_loop *loop = NULL;
    if (coio_loop_new(&loop, &lo) != COIO_OK) return 2;
    coio_future *t = NULL;
    if (coio_spawn(loop, fn, NULL, NULL, &t) != COIO_OK) return 3;
    int rc = coio_loop_run_until_complete(loop, t);
    coio_future_release(t);
    coio_loop_release(loop);
    return rc == COIO_OK ? 0 : 4;
}

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifdef TEST_ASAN
/* Runs this program with `arg`; its stderr goes to out (NUL-terminated).  Returns the status. */
static int run_child(const char *arg, char *out, size_t cap) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        execl("/proc/self/exe", "test_coroutine", arg, (char *)NULL);
        _exit(5);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], out + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        if (len == cap - 1) break;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}
#endif

#ifdef TEST_ASAN
static void test_asan_knows_coroutine_stacks(void **state) {
    (void)state;
    static char out[1 << 16];
    int status = run_child(ASAN_LONGJMP_CHILD_ARG, out, sizeof out);
    if (strstr(out, "__asan_handle_no_return") || strstr(out, "ERROR: AddressSanitizer"))
        fail_msg("ASan does not know the coroutine stack: \"%s\"", out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child failed (status %d): \"%s\"", status, out);
}

static void test_asan_catches_stack_bug_in_coroutine(void **state) {
    (void)state;
    static char out[1 << 16];
    int status = run_child(ASAN_STACK_BUG_CHILD_ARG, out, sizeof out);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        fail_msg("the stack bug went unnoticed: \"%s\"", out);
    if (!strstr(out, "stack-buffer-overflow"))
        fail_msg("no stack-buffer-overflow report: \"%s\"", out);
    /* attributed to the body's frame, which ASan finds only on a stack it knows */
    if (!strstr(out, "in frame") || !strstr(out, "body_stack_bug"))
        fail_msg("report not attributed to the coroutine's frame: \"%s\"", out);
}
#endif

/* Frames a body leaves on its stack are poisoned under ASan (a finished body's first frame
 * never returns); when the loop goes, its stacks are unmapped, and a mapping made later at
 * that address (here the next loop's timer heap) must not inherit that poison (fuzz: a
 * stack-buffer-underflow reported in the timer heap's push). */
static void count_timer(void *arg) {
    (*(int *)arg)++;
}

static void stop_loop(void *loop) {
    coio_loop_stop(loop);
}

static void test_mappings_after_stacks_unmapped_start_clean(void **state) {
    (void)state;
    for (int round = 0; round < 3; round++) {
        coio_loop *a = tu_loop_virtual();
        coio_future *t[8];
        rec_arg r[8];
        for (int i = 0; i < 8; i++) {
            r[i] = (rec_arg){8, -1, 0};
            t[i] = spawn(a, body_recurse, &r[i], NULL);
        }
        for (int i = 0; i < 8; i++) {
            assert_status(coio_loop_run_until_complete(a, t[i]), COIO_OK);
            coio_future_release(t[i]);
        }
        tu_finish(a); /* its stacks are unmapped */
        coio_loop *b = tu_loop_virtual();
        int ran = 0;
        for (int i = 0; i < 5000; i++) /* the heap grows through several mappings */
            assert_status(coio_call_later(b, (double)(i % 97), count_timer, &ran, NULL, NULL),
                          COIO_OK);
        assert_status(coio_call_later(b, 100, stop_loop, b, NULL, NULL), COIO_OK);
        assert_status(coio_loop_run_forever(b), COIO_OK);
        assert_int_equal(ran, 5000);
        tu_finish(b);
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], OVERFLOW_CHILD_ARG) == 0) return overflow_child();
    if (argc == 2 && strcmp(argv[1], SMASH_CHILD_ARG) == 0) return smash_child();
    if (argc == 2 && strcmp(argv[1], ASAN_LONGJMP_CHILD_ARG) == 0) return asan_child(body_longjmp);
    if (argc == 2 && strcmp(argv[1], ASAN_STACK_BUG_CHILD_ARG) == 0)
        return asan_child(body_stack_bug);
    if (argc == 2 && strcmp(argv[1], "--overflow") == 0) {
        const struct CMUnitTest overflow_tests[] = {
            cmocka_unit_test(test_stack_overflow_is_reported_then_sigsegv),
            cmocka_unit_test(test_unguarded_overflow_is_reported_then_abort),
        };
        return cmocka_run_group_tests(overflow_tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
#ifdef TEST_ASAN /* only meaningful in the ASan build (tools/test.sh) */
        cmocka_unit_test(test_asan_knows_coroutine_stacks),
        cmocka_unit_test(test_asan_catches_stack_bug_in_coroutine),
#endif
        cmocka_unit_test(test_first_step_scheduled_not_inline),
        cmocka_unit_test(test_eager_spawn_runs_inline_when_loop_runs),
        cmocka_unit_test(test_eager_spawn_finishing_synchronously_is_done_on_return),
        cmocka_unit_test(test_eager_spawn_not_running_is_scheduled),
        cmocka_unit_test(test_non_eager_spawn_in_callback_is_scheduled),
        cmocka_unit_test(test_await_from_task_spawned_eagerly_inside_another),
        cmocka_unit_test(test_await_pending_future_result),
        cmocka_unit_test(test_await_pending_future_error),
        cmocka_unit_test(test_await_pending_future_cancelled),
        cmocka_unit_test(test_await_done_future_returns_at_once),
        cmocka_unit_test(test_await_value_out_may_be_null),
        cmocka_unit_test(test_result_set_in_body_drop_runs_once_at_free),
        cmocka_unit_test(test_set_result_from_another_task_is_estate),
        cmocka_unit_test(test_efailed_after_failed_await_propagates_error_and_payload),
        cmocka_unit_test(test_efailed_uses_last_failed_await),
        cmocka_unit_test(test_efailed_after_own_set_error_is_that_error),
        cmocka_unit_test(test_other_status_fails_task_with_that_code),
        cmocka_unit_test(test_step_values_returned_by_coroutine_fail_task),
        cmocka_unit_test(test_efailed_without_any_error_is_generic_failure),
        cmocka_unit_test(test_ecancelled_return_cancels_task),
        cmocka_unit_test(test_cancel_while_awaiting_cancels_future_and_task),
        cmocka_unit_test(test_cancel_while_yielded_delivered_at_next_step),
        cmocka_unit_test(test_cancel_before_first_step_body_never_runs),
        cmocka_unit_test(test_swallowed_cancellation_finishes_normally),
        cmocka_unit_test(test_uncancel_to_zero_withdraws_pending_cancellation),
        cmocka_unit_test(test_current_task_and_name_inside_body),
        cmocka_unit_test(test_all_tasks_includes_suspended_coroutines),
        cmocka_unit_test(test_close_with_suspended_coroutines_reports_and_drops),
        cmocka_unit_test(test_close_with_unstarted_coroutine_drop_once),
        cmocka_unit_test(test_failed_coroutine_freed_unread_is_reported),
        cmocka_unit_test(test_sleep_in_coroutine_resumes_at_start_plus_delay),
        cmocka_unit_test(test_sleep0_in_coroutine_costs_one_pass),
        cmocka_unit_test(test_await_outside_coroutine_is_enotsup),
        cmocka_unit_test(test_await_in_step_task_is_enotsup),
        cmocka_unit_test(test_await_bad_input_inside_coroutine),
        cmocka_unit_test(test_spawn_bad_input),
        cmocka_unit_test(test_many_coroutines_interleave),
        cmocka_unit_test(test_recursion_within_default_stack),
        cmocka_unit_test(test_custom_stack_size_allows_deeper_recursion),
        cmocka_unit_test(test_unguarded_stacks_share_mappings),
        cmocka_unit_test(test_stacks_are_reused),
        cmocka_unit_test(test_every_stack_of_a_batch_is_guarded),
        cmocka_unit_test(test_switches_at_depth_keep_every_frame),
        cmocka_unit_test(test_unguarded_stack_runs_recursion),
#if defined(__x86_64__)
        cmocka_unit_test(test_rounding_mode_is_per_coroutine),
#endif
        cmocka_unit_test(test_mappings_after_stacks_unmapped_start_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
