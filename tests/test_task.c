/* Tasks: step-driven tasks (coio_task_new + the step protocol) and the task semantics shared
 * with stackful coroutines (asyncio.Task, CPython 3.13 as the reference): scheduling, eager
 * start, results and errors, cancellation, cancelling/uncancel, names, current_task,
 * all_tasks, reports at loop close and at free, coio_sleep.
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * task and value) before returning: the suite runs under valgrind and ASan. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

static coio_future *new_future(coio_loop *loop) {
    coio_future *f = NULL;
    assert_int_equal(coio_future_new(loop, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

static coio_future *new_task(coio_loop *loop, coio_step_fn step, void *arg, coio_free_fn drop,
                             const coio_task_options *opts) {
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step, arg, drop, opts, &t), COIO_OK);
    assert_non_null(t);
    return t;
}

/* What a step saw, call by call. */
#define MAX_STEPS 16
typedef struct prog {
    coio_loop *loop;
    int calls;
    coio_future *task_seen;
    coio_future *awaited[MAX_STEPS];
    int status[MAX_STEPS];
    coio_future *current[MAX_STEPS]; /* coio_current_task during the step */
    double time[MAX_STEPS];
    int drops;
    /* test-specific */
    coio_future *f; /* a future the test hands to the step */
    coio_future *g;
    int rc;    /* what the step returns (for the simple steps) */
    int check; /* a status a step recorded */
    int check2;
    tu_ticker tk;
    void *value;
} prog;

static void prog_init(prog *p, coio_loop *loop) {
    memset(p, 0, sizeof *p);
    p->loop = loop;
}

static void prog_drop(void *arg) {
    ((prog *)arg)->drops++;
}

static void record(prog *p, coio_future *task, coio_future *awaited, int status) {
    assert_true(p->calls < MAX_STEPS);
    p->task_seen = task;
    p->awaited[p->calls] = awaited;
    p->status[p->calls] = status;
    p->current[p->calls] = coio_current_task(p->loop);
    p->time[p->calls] = coio_loop_time(p->loop);
    p->calls++;
}

/* A step that records and returns p->rc. */
static int step_return(coio_future *task, coio_future *awaited, int status, void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    return p->rc;
}

/* A step that yields forever, recording each step. */
static int step_yield_forever(coio_future *task, coio_future *awaited, int status, void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    return COIO_STEP_YIELD;
}

/* A step that awaits p->f on its first step, then returns the status it resumes with. */
static int step_await_f_then_return_status(coio_future *task, coio_future *awaited, int status,
                                           void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    if (p->calls == 1) {
        assert_status(coio_step_await(task, p->f), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    return status;
}

/* ---- scheduling and eager start ------------------------------------------------------- */

static void test_first_step_is_scheduled_not_inline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    coio_future *t = new_task(loop, step_return, &p, prog_drop, NULL);
    assert_int_equal(coio_future_is_task(t), 1);
    assert_int_equal(p.calls, 0);
    assert_int_equal(coio_future_done(t), 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_ptr_equal(p.task_seen, t);
    assert_null(p.awaited[0]);
    assert_status(p.status[0], COIO_OK);
    assert_int_equal(coio_future_done(t), 1);
    void *v = &v;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_null(v);               /* no result set: NULL */
    assert_int_equal(p.drops, 1); /* the body is done: its arg dropped */
    coio_future_release(t);
    assert_int_equal(p.drops, 1);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

typedef struct eager_ctx {
    coio_loop *loop;
    prog *p;
    int calls_after_new;
    int done_after_new;
    coio_future *t;
    uint32_t flags;
} eager_ctx;

static void create_eager_in_callback(void *arg) {
    eager_ctx *e = arg;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = e->flags;
    assert_status(coio_task_new(e->loop, step_return, e->p, prog_drop, &o, &e->t), COIO_OK);
    e->calls_after_new = e->p->calls;
    e->done_after_new = coio_future_done(e->t);
}

static void test_eager_runs_first_step_inline_when_loop_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_STEP_YIELD;
    eager_ctx e = {loop, &p, -1, -1, NULL, COIO_TASK_EAGER};
    assert_status(coio_call_soon(loop, create_eager_in_callback, &e, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(e.calls_after_new, 1); /* ran inside coio_task_new */
    assert_ptr_equal(p.current[0], e.t);    /* as the current task */
    assert_int_equal(e.done_after_new, 0);
    p.rc = COIO_OK;
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 2);
    assert_int_equal(coio_future_done(e.t), 1);
    coio_future_release(e.t);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

static void test_eager_task_finishing_in_first_step_is_done_on_return(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    eager_ctx e = {loop, &p, -1, -1, NULL, COIO_TASK_EAGER};
    assert_status(coio_call_soon(loop, create_eager_in_callback, &e, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(e.calls_after_new, 1);
    assert_int_equal(e.done_after_new, 1);
    assert_int_equal(p.drops, 1);
    assert_status(coio_future_result(e.t, NULL), COIO_OK);
    coio_future_release(e.t);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

static void test_non_eager_in_callback_is_scheduled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    eager_ctx e = {loop, &p, -1, -1, NULL, 0};
    assert_status(coio_call_soon(loop, create_eager_in_callback, &e, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(e.calls_after_new, 0);
    assert_int_equal(p.calls, 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(coio_future_done(e.t), 1);
    coio_future_release(e.t);
    tu_finish(loop);
}

static void test_eager_when_loop_not_running_is_scheduled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER;
    coio_future *t = new_task(loop, step_return, &p, prog_drop, &o);
    assert_int_equal(p.calls, 0);
    assert_int_equal(coio_future_done(t), 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(coio_future_done(t), 1);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* An eager task created from inside another task's step runs inline, as the current task,
 * and the creator is the current task again afterwards. */
typedef struct nested {
    prog inner;
    coio_future *inner_task;
    int inner_calls_after_new;
    coio_future *current_after_new;
} nested;

static int step_spawn_eager_inner(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    (void)status;
    nested *n = arg;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER;
    assert_status(
        coio_task_new(n->inner.loop, step_return, &n->inner, prog_drop, &o, &n->inner_task),
        COIO_OK);
    n->inner_calls_after_new = n->inner.calls;
    n->current_after_new = coio_current_task(n->inner.loop);
    assert_ptr_equal(n->current_after_new, task);
    return COIO_OK;
}

static void test_eager_task_inside_a_task_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    nested n;
    memset(&n, 0, sizeof n);
    prog_init(&n.inner, loop);
    n.inner.rc = COIO_OK;
    coio_future *outer = new_task(loop, step_spawn_eager_inner, &n, NULL, NULL);
    assert_status(coio_loop_run_until_complete(loop, outer), COIO_OK);
    assert_int_equal(n.inner_calls_after_new, 1);
    assert_ptr_equal(n.inner.current[0], n.inner_task);
    assert_ptr_equal(n.current_after_new, outer);
    assert_int_equal(coio_future_done(n.inner_task), 1);
    coio_future_release(n.inner_task);
    coio_future_release(outer);
    tu_finish(loop);
    assert_int_equal(n.inner.drops, 1);
}

static void test_yield_costs_exactly_one_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    coio_future *t = new_task(loop, step_yield_forever, &p, prog_drop, NULL);
    for (int i = 1; i <= 5; i++) {
        tu_run_one_pass(loop);
        assert_int_equal(p.calls, i);
        assert_null(p.awaited[i - 1]);
        assert_status(p.status[i - 1], COIO_OK);
    }
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 6);
    assert_status(p.status[5], COIO_ECANCELLED);
    /* step_yield_forever swallows it and yields again: the task runs on. */
    assert_int_equal(coio_future_done(t), 0);
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(r.n, 1); /* destroyed pending */
    assert_int_equal(p.drops, 1);
}

/* ---- the step protocol: a stackless state machine ------------------------------------- */

typedef struct machine {
    prog p;
    tu_completer c_ok, c_err;
    int value;
    int result;
    int result_drops;
    coio_future *sleep_f;
    double sleep_started;
    void *ok_value_seen;
    int err_code_seen;
    const char *err_msg_seen;
} machine;

static int machine_step(coio_future *task, coio_future *awaited, int status, void *arg) {
    machine *m = arg;
    prog *p = &m->p;
    record(p, task, awaited, status);
    assert_ptr_equal(coio_current_task(p->loop), task);
    switch (p->calls) {
    case 1: /* start: await a future a call_soon completes */
        assert_null(awaited);
        assert_status(status, COIO_OK);
        p->f = new_future(p->loop);
        m->c_ok = (tu_completer){p->f, &m->value, 0, NULL, NULL, NULL};
        assert_status(coio_call_soon(p->loop, tu_complete_result, &m->c_ok, NULL, NULL), COIO_OK);
        assert_status(coio_step_await(task, p->f), COIO_OK);
        return COIO_STEP_AWAIT;
    case 2: /* the future's value; then yield */
        assert_ptr_equal(awaited, p->f);
        assert_status(status, COIO_OK);
        assert_status(coio_future_result(awaited, &m->ok_value_seen), COIO_OK);
        return COIO_STEP_YIELD;
    case 3: /* after the yield: sleep 5 s */
        assert_null(awaited);
        assert_status(status, COIO_OK);
        m->sleep_f = tu_sleep(p->loop, 5.0);
        m->sleep_started = coio_loop_time(p->loop);
        assert_status(coio_step_await(task, m->sleep_f), COIO_OK);
        return COIO_STEP_AWAIT;
    case 4: /* slept; await a future that fails */
        assert_ptr_equal(awaited, m->sleep_f);
        assert_status(status, COIO_OK);
        p->g = new_future(p->loop);
        m->c_err = (tu_completer){p->g, NULL, 42, "boom", NULL, NULL};
        assert_status(coio_call_soon(p->loop, tu_complete_error, &m->c_err, NULL, NULL), COIO_OK);
        assert_status(coio_step_await(task, p->g), COIO_OK);
        return COIO_STEP_AWAIT;
    case 5: /* handle the failure and finish with a result */
        assert_ptr_equal(awaited, p->g);
        assert_status(status, COIO_EFAILED);
        assert_status(coio_future_error(awaited, &m->err_code_seen, &m->err_msg_seen), COIO_OK);
        assert_status(coio_future_set_result(task, &m->result, tu_count_drop), COIO_OK);
        return COIO_OK;
    default:
        fail_msg("step called too often");
        return COIO_EFAILED;
    }
}

static void test_state_machine_drives_a_task_through_the_protocol(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    machine m;
    memset(&m, 0, sizeof m);
    prog_init(&m.p, loop);
    coio_future *t = new_task(loop, machine_step, &m, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(m.p.calls, 5);
    assert_ptr_equal(m.ok_value_seen, &m.value);
    assert_int_equal(m.err_code_seen, 42);
    assert_string_equal(m.err_msg_seen, "boom");
    assert_double_eq(m.sleep_started, 0.0, 0.0);
    assert_double_eq(m.p.time[3], 5.0, 1e-9); /* resumed at start + delay */
    assert_double_eq(coio_loop_time(loop), 5.0, 1e-9);
    void *v = NULL;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_ptr_equal(v, &m.result);
    assert_int_equal(m.p.drops, 1);
    coio_future_release(m.p.f);
    coio_future_release(m.p.g);
    coio_future_release(m.sleep_f);
    assert_int_equal(m.result, 0); /* the value's drop runs when the task is freed */
    coio_future_release(t);
    assert_int_equal(m.result, 1);
    tu_finish(loop);
    assert_int_equal(m.result, 1);
    assert_int_equal(m.p.drops, 1);
}

/* A step that awaits, then starts an eager task whose first step awaits something else, and
 * only then returns COIO_STEP_AWAIT: each is woken by its own future (the loop keeps what the
 * running step awaits; a nested step must leave the outer one's alone). */
typedef struct nested_await {
    coio_loop *loop;
    coio_future *f, *g, *inner;
    coio_future *outer_woke_by, *inner_woke_by;
} nested_await;

static int step_inner_awaits_g(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)status;
    nested_await *n = arg;
    if (!awaited) {
        assert_status(coio_step_await(task, n->g), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    n->inner_woke_by = awaited;
    return COIO_OK;
}

static int step_outer_awaits_f(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)status;
    nested_await *n = arg;
    if (!awaited) {
        assert_status(coio_step_await(task, n->f), COIO_OK);
        coio_task_options o = COIO_TASK_OPTIONS_INIT;
        o.flags = COIO_TASK_EAGER;
        assert_status(coio_task_new(n->loop, step_inner_awaits_g, n, NULL, &o, &n->inner), COIO_OK);
        assert_false(coio_future_done(n->inner)); /* its first step ran, and waits on g */
        return COIO_STEP_AWAIT;
    }
    n->outer_woke_by = awaited;
    return COIO_OK;
}

static void test_step_await_survives_a_nested_eager_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    nested_await n = {loop, new_future(loop), new_future(loop), NULL, NULL, NULL};
    coio_future *outer = new_task(loop, step_outer_awaits_f, &n, NULL, NULL);
    tu_run_one_pass(loop);
    assert_non_null(n.inner);
    assert_false(coio_future_done(outer));
    assert_status(coio_future_set_result(n.g, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_ptr_equal(n.inner_woke_by, n.g);
    assert_null(n.outer_woke_by); /* still waits on f */
    assert_status(coio_future_set_result(n.f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_ptr_equal(n.outer_woke_by, n.f);
    assert_true(coio_future_done(outer));
    assert_true(coio_future_done(n.inner));
    coio_future_release(outer);
    coio_future_release(n.inner);
    coio_future_release(n.f);
    coio_future_release(n.g);
    tu_finish(loop);
}

static int step_await_nothing(coio_future *task, coio_future *awaited, int status, void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    return COIO_STEP_AWAIT;
}

static void test_step_await_return_without_registration_fails_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    coio_future *t = new_task(loop, step_await_nothing, &p, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_equal(p.calls, 1);
    assert_status(tu_error_code(t), COIO_ESTATE);
    assert_int_equal(p.drops, 1);
    coio_future_release(t);
    tu_finish(loop);
}

/* A registration made in an earlier step does not carry over to a later step. */
typedef struct stale {
    prog p;
} stale;

static int step_registration_is_per_step(coio_future *task, coio_future *awaited, int status,
                                         void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    if (p->calls == 1) {
        /* registers, but yields: the registration is not used */
        assert_status(coio_step_await(task, p->f), COIO_OK);
        return COIO_STEP_YIELD;
    }
    return COIO_STEP_AWAIT; /* no coio_step_await in this step */
}

static void test_step_await_registration_does_not_outlive_its_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    coio_future *t = new_task(loop, step_registration_is_per_step, &p, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_equal(p.calls, 2);
    assert_null(p.awaited[1]);
    assert_status(tu_error_code(t), COIO_ESTATE);
    coio_future_release(t);
    coio_future_release(p.f);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

typedef struct sa_errors {
    prog p;
    coio_loop *other;
    coio_future *other_f;
    coio_future *foreign_task;
    int self_rc, null_rc, foreign_rc, non_task_rc, other_task_rc, null_task_rc;
} sa_errors;

static int step_step_await_errors(coio_future *task, coio_future *awaited, int status, void *arg) {
    sa_errors *e = arg;
    record(&e->p, task, awaited, status);
    e->self_rc = coio_step_await(task, task);
    e->null_rc = coio_step_await(task, NULL);
    e->null_task_rc = coio_step_await(NULL, e->p.f);
    e->foreign_rc = coio_step_await(task, e->other_f);
    e->non_task_rc = coio_step_await(e->p.f, e->p.g);            /* first argument not a task */
    e->other_task_rc = coio_step_await(e->foreign_task, e->p.f); /* not this step's task */
    return COIO_OK;
}

static void test_step_await_errors(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    sa_errors e;
    memset(&e, 0, sizeof e);
    prog_init(&e.p, loop);
    e.other = tu_loop_virtual();
    e.other_f = new_future(e.other);
    e.p.f = new_future(loop);
    e.p.g = new_future(loop);
    prog idle;
    prog_init(&idle, loop);
    e.foreign_task = new_task(loop, step_yield_forever, &idle, prog_drop, NULL);
    /* outside any step: ESTATE */
    assert_status(coio_step_await(e.foreign_task, e.p.f), COIO_ESTATE);
    coio_future *t = new_task(loop, step_step_await_errors, &e, NULL, NULL);
    assert_status(coio_step_await(t, e.p.f), COIO_ESTATE); /* before its first step */
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(coio_step_await(t, e.p.f), COIO_ESTATE); /* after it is done */
    assert_status(e.self_rc, COIO_EINVAL);
    assert_status(e.null_rc, COIO_EINVAL);
    assert_status(e.null_task_rc, COIO_EINVAL);
    assert_status(e.foreign_rc, COIO_ELOOP);
    assert_status(e.non_task_rc, COIO_EINVAL);
    assert_status(e.other_task_rc, COIO_ESTATE);
    /* step_yield_forever never ends; close reports it */
    coio_future_release(t);
    coio_future_release(e.p.f);
    coio_future_release(e.p.g);
    coio_future_release(e.other_f);
    tu_finish(e.other);
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future_release(e.foreign_task);
    tu_finish(loop);
    assert_int_equal(r.n, 1);
    assert_int_equal(idle.drops, 1);
}

/* A step awaiting an already-done future resumes on the next pass, not inline. */
static int step_await_done_future(coio_future *task, coio_future *awaited, int status, void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    if (p->calls == 1) {
        tu_start_ticker(&p->tk, p->loop, 5);
        assert_status(coio_step_await(task, p->f), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    p->check = p->tk.n;
    return COIO_OK;
}

static void test_step_awaiting_done_future_resumes_next_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    int value = 7;
    assert_status(coio_future_set_result(p.f, &value, NULL), COIO_OK);
    coio_future *t = new_task(loop, step_await_done_future, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 2);
    assert_int_equal(p.check, 1); /* exactly one pass later */
    assert_ptr_equal(p.awaited[1], p.f);
    assert_status(p.status[1], COIO_OK);
    assert_int_equal(coio_future_done(t), 1);
    for (int i = 0; i < 5; i++)
        tu_run_one_pass(loop); /* let the tu_ticker finish */
    coio_future_release(t);
    coio_future_release(p.f);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* ---- results and errors -------------------------------------------------------------- */

typedef struct setter {
    prog p;
    int first_rc, second_rc, third_rc, fourth_rc;
    int value_drops, second_drops, payload_drops;
    int mode;
} setter;

static int step_set_result(coio_future *task, coio_future *awaited, int status, void *arg) {
    setter *s = arg;
    record(&s->p, task, awaited, status);
    s->first_rc = coio_future_set_result(task, &s->value_drops, tu_count_drop);
    s->second_rc = coio_future_set_result(task, &s->second_drops, tu_count_drop);
    s->third_rc = coio_future_set_error(task, 5, "late");
    return COIO_OK;
}

static void test_step_result_set_in_body_and_drop_runs_once_at_free(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    setter s;
    memset(&s, 0, sizeof s);
    prog_init(&s.p, loop);
    coio_future *t = new_task(loop, step_set_result, &s, prog_drop, NULL);
    /* from outside the body: ESTATE, before and while pending */
    int outside = 0;
    assert_status(coio_future_set_result(t, &outside, tu_count_drop), COIO_ESTATE);
    assert_status(coio_future_set_error(t, 3, "no"), COIO_ESTATE);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(s.first_rc, COIO_OK);
    assert_status(s.second_rc, COIO_ESTATE); /* twice inside the body */
    assert_status(s.third_rc, COIO_ESTATE);
    assert_int_equal(s.second_drops, 0);
    void *v = NULL;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_ptr_equal(v, &s.value_drops);
    /* done: ESTATE too, and the result is unchanged */
    assert_status(coio_future_set_result(t, &outside, tu_count_drop), COIO_ESTATE);
    assert_int_equal(outside, 0);
    assert_int_equal(s.value_drops, 0);
    coio_future_release(t);
    assert_int_equal(s.value_drops, 1);
    tu_finish(loop);
    assert_int_equal(s.value_drops, 1);
    assert_int_equal(s.p.drops, 1);
}

static int step_set_error_then_result(coio_future *task, coio_future *awaited, int status,
                                      void *arg) {
    setter *s = arg;
    record(&s->p, task, awaited, status);
    s->first_rc = coio_future_set_error(task, 77, "mine");
    s->second_rc = coio_future_set_result(task, &s->second_drops, tu_count_drop);
    s->third_rc = coio_future_set_error(task, 78, "again");
    return COIO_EFAILED;
}

static void test_step_failed_with_own_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    setter s;
    memset(&s, 0, sizeof s);
    prog_init(&s.p, loop);
    coio_future *t = new_task(loop, step_set_error_then_result, &s, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_status(s.first_rc, COIO_OK);
    assert_status(s.second_rc, COIO_ESTATE);
    assert_status(s.third_rc, COIO_ESTATE);
    assert_int_equal(tu_error_code(t), 77);
    assert_string_equal(tu_error_message(t), "mine");
    assert_int_equal(coio_future_cancelled(t), 0);
    coio_future_release(t);
    assert_int_equal(s.second_drops, 0);
    tu_finish(loop);
}

static int step_set_error_payload(coio_future *task, coio_future *awaited, int status, void *arg) {
    setter *s = arg;
    record(&s->p, task, awaited, status);
    s->first_rc =
        coio_future_set_error_payload(task, 9, "with payload", &s->payload_drops, tu_count_drop);
    return COIO_EFAILED;
}

static void test_step_own_error_payload(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    setter s;
    memset(&s, 0, sizeof s);
    prog_init(&s.p, loop);
    coio_future *t = new_task(loop, step_set_error_payload, &s, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_status(s.first_rc, COIO_OK);
    assert_int_equal(tu_error_code(t), 9);
    void *pl = NULL;
    assert_status(coio_future_error_payload(t, &pl), COIO_OK);
    assert_ptr_equal(pl, &s.payload_drops);
    assert_int_equal(s.payload_drops, 0);
    coio_future_release(t);
    assert_int_equal(s.payload_drops, 1);
    tu_finish(loop);
}

/* A step that sets an error then finishes OK: the task succeeds (the error is dropped). */
static int step_set_error_then_ok(coio_future *task, coio_future *awaited, int status, void *arg) {
    setter *s = arg;
    record(&s->p, task, awaited, status);
    s->first_rc =
        coio_future_set_error_payload(task, 9, "unused", &s->payload_drops, tu_count_drop);
    return COIO_OK;
}

static void test_step_error_set_but_returned_ok_succeeds(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    setter s;
    memset(&s, 0, sizeof s);
    prog_init(&s.p, loop);
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *t = new_task(loop, step_set_error_then_ok, &s, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    void *v = &v;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_null(v);
    coio_future_release(t);
    assert_int_equal(s.payload_drops, 1);
    tu_finish(loop);
    assert_int_equal(r.n, 0);
}

/* The unused error's payload is dropped once the task is done: a drop that looks at the task
 * (or cancels it) finds it finished, not pending with its error half freed. */
typedef struct late_payload {
    coio_future *task;
    int drops, done_at_drop, cancel_at_drop;
} late_payload;

static void late_payload_drop(void *p) {
    late_payload *lp = p;
    lp->drops++;
    lp->done_at_drop = coio_future_done(lp->task);
    lp->cancel_at_drop = coio_future_cancel(lp->task, NULL);
}

static int step_error_payload_then_ok(coio_future *task, coio_future *awaited, int status,
                                      void *arg) {
    (void)awaited;
    (void)status;
    late_payload *lp = arg;
    lp->task = task;
    assert_status(coio_future_set_error_payload(task, 9, "unused", lp, late_payload_drop), COIO_OK);
    return COIO_OK;
}

static void test_step_unused_error_dropped_after_done(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    late_payload lp = {NULL, 0, -1, -1};
    coio_future *t = new_task(loop, step_error_payload_then_ok, &lp, NULL, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(lp.drops, 1);
    assert_int_equal(lp.done_at_drop, 1);
    assert_int_equal(lp.cancel_at_drop, 0);
    assert_status(coio_future_result(t, NULL), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_step_failed_after_await_propagates_error_and_payload(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    int payload_drops = 0;
    tu_completer c = {p.f, NULL, 42, "awaited failed", &payload_drops, tu_count_drop};
    coio_future *t = new_task(loop, step_await_f_then_return_status, &p, prog_drop, NULL);
    assert_status(coio_call_soon(loop, tu_complete_error, &c, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_equal(p.calls, 2);
    assert_ptr_equal(p.awaited[1], p.f);
    assert_status(p.status[1], COIO_EFAILED);
    int code = 0;
    const char *msg = NULL;
    assert_status(coio_future_error(t, &code, &msg), COIO_OK);
    assert_int_equal(code, 42);
    assert_string_equal(msg, "awaited failed");
    void *pl = NULL;
    assert_status(coio_future_error_payload(t, &pl), COIO_OK);
    assert_ptr_equal(pl, &payload_drops);
    coio_future_release(p.f);
    assert_int_equal(payload_drops, 0); /* the task still refers to it */
    coio_future_release(t);
    assert_int_equal(payload_drops, 1);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

static void test_step_other_status_fails_with_that_code(void **state) {
    (void)state;
    const int codes[] = {COIO_ETIMEDOUT, COIO_ENOMEM, 7, -1000};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        coio_loop *loop = tu_loop_virtual();
        prog p;
        prog_init(&p, loop);
        p.rc = codes[i];
        coio_future *t = new_task(loop, step_return, &p, prog_drop, NULL);
        assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
        assert_int_equal(coio_future_cancelled(t), 0);
        assert_int_equal(tu_error_code(t), codes[i]);
        coio_future_release(t);
        tu_finish(loop);
        assert_int_equal(p.drops, 1);
    }
}

static void test_step_efailed_with_nothing_failed_is_generic_failure(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_EFAILED;
    coio_future *t = new_task(loop, step_return, &p, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_not_equal(tu_error_code(t), 0);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_step_returning_ecancelled_cancels_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_ECANCELLED;
    coio_future *t = new_task(loop, step_return, &p, prog_drop, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_int_equal(tu_error_code(t), COIO_ECANCELLED);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* A task awaiting another task gets its result. */
typedef struct chain {
    prog p;
    coio_future *inner;
    void *seen;
    int inner_value;
} chain;

static int step_inner_value(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    (void)status;
    chain *c = arg;
    assert_status(coio_future_set_result(task, &c->inner_value, NULL), COIO_OK);
    return COIO_OK;
}

static int step_outer_awaits_inner(coio_future *task, coio_future *awaited, int status, void *arg) {
    chain *c = arg;
    record(&c->p, task, awaited, status);
    if (c->p.calls == 1) {
        c->inner = new_task(c->p.loop, step_inner_value, c, NULL, NULL);
        assert_status(coio_step_await(task, c->inner), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    assert_ptr_equal(awaited, c->inner);
    assert_status(coio_future_result(awaited, &c->seen), COIO_OK);
    return status;
}

static void test_step_task_awaits_another_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    chain c;
    memset(&c, 0, sizeof c);
    prog_init(&c.p, loop);
    coio_future *t = new_task(loop, step_outer_awaits_inner, &c, NULL, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_ptr_equal(c.seen, &c.inner_value);
    coio_future_release(c.inner);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- cancellation ----------------------------------------------------------------------- */

static void test_cancel_task_waiting_on_future_cancels_that_future(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    coio_future *t = new_task(loop, step_await_f_then_return_status, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(coio_task_cancelling(t), 0);
    assert_int_equal(coio_future_cancel(t, "bye"), 1);
    assert_int_equal(coio_task_cancelling(t), 1);
    /* the awaited future is cancelled at once, with the message; the task not yet */
    assert_int_equal(coio_future_cancelled(p.f), 1);
    assert_string_equal(tu_error_message(p.f), "bye");
    assert_int_equal(coio_future_done(t), 0);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(p.calls, 2);
    assert_ptr_equal(p.awaited[1], p.f);
    assert_status(p.status[1], COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 1);
    int code = 0;
    const char *msg = NULL;
    assert_status(coio_future_error(t, &code, &msg), COIO_OK);
    assert_status(code, COIO_ECANCELLED);
    assert_non_null(msg);
    assert_string_equal(msg, "bye");
    assert_int_equal(coio_future_cancel(t, "again"), 0); /* done: 0 */
    coio_future_release(p.f);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

static int step_yield_then_return_status(coio_future *task, coio_future *awaited, int status,
                                         void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    if (p->calls == 1) return COIO_STEP_YIELD;
    return status;
}

static void test_cancel_scheduled_task_delivered_at_next_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    coio_future *t = new_task(loop, step_yield_then_return_status, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(coio_future_cancel(t, "m2"), 1);
    assert_int_equal(coio_future_done(t), 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 2);
    assert_null(p.awaited[1]);
    assert_status(p.status[1], COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_string_equal(tu_error_message(t), "m2");
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

static void test_cancel_before_first_step_body_never_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    coio_future *t = new_task(loop, step_return, &p, prog_drop, NULL);
    assert_int_equal(coio_future_cancel(t, "early"), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.drops, 1);
    assert_string_equal(tu_error_message(t), "early");
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

static void test_cancel_before_first_step_then_close_drop_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    coio_future *t = new_task(loop, step_return, &p, prog_drop, NULL);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_reports r;
    tu_capture_reports(loop, &r);
    tu_finish(loop); /* never ran: reported as destroyed pending */
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.drops, 1);
    assert_int_equal(r.n, 1);
    coio_future_release(t);
    assert_int_equal(p.drops, 1);
    assert_int_equal(r.n, 1);
}

/* Swallowing the cancellation: the step gets ECANCELLED, sets a result and returns OK. */
static int step_swallow(coio_future *task, coio_future *awaited, int status, void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    if (p->calls == 1) {
        assert_status(coio_step_await(task, p->f), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    p->check = status;
    assert_status(coio_future_set_result(task, &p->value, NULL), COIO_OK);
    return COIO_OK;
}

static void test_task_swallowing_cancellation_finishes_normally(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    coio_future *t = new_task(loop, step_swallow, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(p.check, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 0);
    void *v = NULL;
    assert_status(coio_future_result(t, &v), COIO_OK);
    assert_ptr_equal(v, &p.value);
    assert_int_equal(coio_task_cancelling(t), 1); /* as asyncio: the count stays */
    coio_future_release(p.f);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_cancel_yielded_task_swallowed_runs_on(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    coio_future *t = new_task(loop, step_yield_forever, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_status(p.status[1], COIO_ECANCELLED);
    tu_run_one_pass(loop); /* delivered once only */
    assert_int_equal(p.calls, 3);
    assert_status(p.status[2], COIO_OK);
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future_release(p.f);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(r.n, 1);
    assert_int_equal(p.drops, 1);
}

static void test_cancel_twice_counts_and_returns_1(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    coio_future *t = new_task(loop, step_await_f_then_return_status, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "one"), 1);
    assert_int_equal(coio_future_cancel(t, "two"), 1); /* still pending: 1 */
    assert_int_equal(coio_task_cancelling(t), 2);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(p.calls, 2);
    assert_status(p.status[1], COIO_ECANCELLED);
    assert_int_equal(coio_future_cancel(t, NULL), 0);
    assert_int_equal(coio_task_cancelling(t), 2);
    coio_future_release(p.f);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_cancel_of_awaited_future_by_others_reaches_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.f = new_future(loop);
    tu_completer c = {p.f, NULL, 0, "from outside", NULL, NULL};
    coio_future *t = new_task(loop, step_await_f_then_return_status, &p, prog_drop, NULL);
    assert_status(coio_call_soon(loop, tu_complete_cancel, &c, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_status(p.status[1], COIO_ECANCELLED);
    assert_int_equal(coio_task_cancelling(t), 0); /* the task itself was never cancelled */
    assert_string_equal(tu_error_message(t), "from outside");
    coio_future_release(p.f);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- cancelling / uncancel ------------------------------------------------------------- */

static void test_uncancel_decrements_and_at_zero_withdraws_pending_cancel(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    coio_future *t = new_task(loop, step_yield_then_return_status, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_int_equal(coio_task_cancelling(t), 2);
    assert_int_equal(coio_task_uncancel(t), 1);
    assert_int_equal(coio_task_cancelling(t), 1);
    assert_int_equal(coio_task_uncancel(t), 0);
    assert_int_equal(coio_task_cancelling(t), 0);
    assert_int_equal(coio_task_uncancel(t), 0); /* never negative */
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(p.calls, 2);
    assert_status(p.status[1], COIO_OK); /* the cancellation was withdrawn */
    assert_int_equal(coio_future_cancelled(t), 0);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_uncancel_not_to_zero_keeps_pending_cancel(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    coio_future *t = new_task(loop, step_yield_then_return_status, &p, prog_drop, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_int_equal(coio_task_uncancel(t), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_status(p.status[1], COIO_ECANCELLED);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_uncancel_before_first_step_lets_body_run(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    coio_future *t = new_task(loop, step_return, &p, prog_drop, NULL);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_int_equal(coio_task_uncancel(t), 0);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(p.calls, 1);
    assert_status(p.status[0], COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_cancelling_uncancel_einval_on_non_tasks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_task_cancelling(f), COIO_EINVAL);
    assert_status(coio_task_uncancel(f), COIO_EINVAL);
    assert_status(coio_task_cancelling(NULL), COIO_EINVAL);
    assert_status(coio_task_uncancel(NULL), COIO_EINVAL);
    coio_future *s = tu_sleep(loop, 1.0);
    assert_status(coio_task_cancelling(s), COIO_EINVAL);
    assert_int_equal(coio_future_is_task(s), 0);
    assert_int_equal(coio_future_is_task(f), 0);
    assert_int_equal(coio_future_is_task(NULL), 0);
    coio_future_release(s);
    coio_future_release(f);
    tu_finish(loop);
}

/* ---- names, current_task, all_tasks ---------------------------------------------------- */

static long name_number(const char *name) {
    assert_non_null(name);
    assert_int_equal(strncmp(name, "Task-", 5), 0);
    char *end = NULL;
    long n = strtol(name + 5, &end, 10);
    assert_true(end != name + 5 && *end == '\0');
    assert_true(n > 0);
    return n;
}

static void test_task_names(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    coio_future *a = new_task(loop, step_return, &p, NULL, NULL);
    coio_future *b = new_task(loop, step_return, &p, NULL, NULL);
    long na = name_number(coio_task_name(a));
    long nb = name_number(coio_task_name(b));
    assert_true(nb > na);
    assert_string_equal(coio_task_name(a), coio_task_name(a)); /* stable */
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    char buf[16] = "worker";
    o.name = buf;
    coio_future *c = new_task(loop, step_return, &p, NULL, &o);
    strcpy(buf, "changed"); /* copied */
    assert_string_equal(coio_task_name(c), "worker");
    assert_status(coio_task_set_name(a, buf), COIO_OK);
    strcpy(buf, "xx");
    assert_string_equal(coio_task_name(a), "changed");
    assert_status(coio_task_set_name(a, NULL), COIO_EINVAL);
    assert_string_equal(coio_task_name(a), "changed");
    coio_future *f = new_future(loop);
    assert_null(coio_task_name(f));
    assert_null(coio_task_name(NULL));
    assert_status(coio_task_set_name(f, "x"), COIO_EINVAL);
    assert_status(coio_task_set_name(NULL, "x"), COIO_EINVAL);
    assert_status(coio_loop_run_until_complete(loop, c), COIO_OK);
    /* the name stays after the task is done */
    assert_string_equal(coio_task_name(c), "worker");
    coio_future *d = new_task(loop, step_return, &p, NULL, NULL);
    assert_true(name_number(coio_task_name(d)) > nb);
    assert_status(coio_loop_run_until_complete(loop, d), COIO_OK);
    coio_future_release(a);
    coio_future_release(b);
    coio_future_release(c);
    coio_future_release(d);
    coio_future_release(f);
    tu_finish(loop);
}

typedef struct cur_probe {
    coio_loop *loop;
    int calls;
    coio_future *seen;
} cur_probe;

static void probe_current(void *arg) {
    cur_probe *c = arg;
    c->calls++;
    c->seen = coio_current_task(c->loop);
}

static void probe_current_done(coio_future *f, void *arg) {
    (void)f;
    probe_current(arg);
}

static void test_current_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_null(coio_current_task(loop));
    assert_null(coio_current_task(NULL));
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_STEP_YIELD;
    coio_future *t = new_task(loop, step_return, &p, NULL, NULL);
    cur_probe c = {loop, 0, (coio_future *)&c};
    cur_probe d = {loop, 0, (coio_future *)&d};
    assert_status(coio_call_soon(loop, probe_current, &c, NULL, NULL), COIO_OK);
    assert_status(coio_future_add_done_callback(t, probe_current_done, &d, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_ptr_equal(p.current[0], t);
    assert_int_equal(c.calls, 1);
    assert_null(c.seen); /* a plain callback in the same pass */
    assert_null(coio_current_task(loop));
    p.rc = COIO_OK;
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_ptr_equal(p.current[1], t);
    assert_int_equal(d.calls, 1);
    assert_null(d.seen); /* the task's own done callback */
    assert_null(coio_current_task(loop));
    coio_future_release(t);
    tu_finish(loop);
}

static int contains(coio_future **arr, long n, coio_future *f) {
    for (long i = 0; i < n; i++)
        if (arr[i] == f) return 1;
    return 0;
}

static void test_all_tasks_lists_not_done_tasks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_int_equal(coio_loop_all_tasks(loop, NULL, 0), 0);
    prog pa, pb, pc;
    prog_init(&pa, loop);
    prog_init(&pb, loop);
    prog_init(&pc, loop);
    pa.rc = COIO_OK;         /* finishes at once */
    pb.f = new_future(loop); /* waits */
    coio_future *a = new_task(loop, step_return, &pa, NULL, NULL);
    coio_future *b = new_task(loop, step_await_f_then_return_status, &pb, NULL, NULL);
    coio_future *c = new_task(loop, step_yield_forever, &pc, NULL, NULL);
    coio_future *plain = new_future(loop);                   /* not a task: never listed */
    assert_int_equal(coio_loop_all_tasks(loop, NULL, 0), 3); /* not started yet: listed */
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_done(a), 1);
    coio_future *out[8] = {0};
    long n = coio_loop_all_tasks(loop, out, 8);
    assert_int_equal(n, 2);
    assert_true(contains(out, n, b));
    assert_true(contains(out, n, c));
    assert_null(out[2]);
    for (long i = 0; i < n; i++)
        coio_future_release(out[i]); /* new references */
    /* cap smaller than the count: stores cap, returns the count */
    coio_future *one[1] = {NULL};
    assert_int_equal(coio_loop_all_tasks(loop, one, 1), 2);
    assert_true(one[0] == b || one[0] == c);
    coio_future_release(one[0]);
    /* the references are real: the listed task outlives the caller's own release */
    coio_future *keep[2] = {NULL, NULL};
    assert_int_equal(coio_loop_all_tasks(loop, keep, 2), 2);
    assert_status(coio_loop_all_tasks(NULL, keep, 2), COIO_EINVAL);
    assert_status(coio_loop_all_tasks(NULL, NULL, 0), COIO_EINVAL);
    assert_status(coio_loop_all_tasks(loop, NULL, 1), COIO_EINVAL);
    assert_int_equal(coio_future_cancel(b, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, b), COIO_ECANCELLED);
    n = coio_loop_all_tasks(loop, out, 8);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], c);
    coio_future_release(out[0]);
    coio_future_release(keep[0]);
    coio_future_release(keep[1]);
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future_release(a);
    coio_future_release(b);
    coio_future_release(c);
    coio_future_release(plain);
    coio_future_release(pb.f);
    tu_finish(loop);
    assert_int_equal(r.n, 1); /* c */
}

/* ---- reports: destroyed pending, never retrieved -------------------------------------- */

typedef struct report_log {
    int n;
    int destroyed;
    int never_retrieved;
    char names[8][64];
    int codes[8];
} report_log;

static void log_report(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    report_log *r = arg;
    if (r->n < 8) {
        snprintf(r->names[r->n], sizeof r->names[0], "%s", ctx->error ? ctx->error : "");
        r->codes[r->n] = ctx->code;
    }
    r->n++;
    if (strcmp(ctx->message, "Task was destroyed but it is pending!") == 0) r->destroyed++;
    if (strcmp(ctx->message, "Task exception was never retrieved") == 0) r->never_retrieved++;
}

static void test_close_with_pending_step_tasks_reports_each_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    report_log rl;
    memset(&rl, 0, sizeof rl);
    assert_status(coio_loop_set_exception_handler(loop, log_report, &rl, NULL), COIO_OK);
    prog pa, pb, pc;
    prog_init(&pa, loop);
    prog_init(&pb, loop);
    prog_init(&pc, loop);
    pa.f = new_future(loop);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "waiter";
    coio_future *a = new_task(loop, step_await_f_then_return_status, &pa, prog_drop, &o);
    o.name = "yielder";
    coio_future *b = new_task(loop, step_yield_forever, &pb, prog_drop, &o);
    tu_run_one_pass(loop);
    o.name = "unstarted";
    coio_future *c = new_task(loop, step_return, &pc, prog_drop, &o);
    /* the caller drops its references before the close: the loop still reports them */
    coio_future_release(a);
    coio_future_release(c);
    coio_future_release(pa.f);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(rl.destroyed, 3);
    assert_int_equal(rl.n, 3);
    int seen_w = 0, seen_y = 0, seen_u = 0;
    for (int i = 0; i < 3; i++) {
        seen_w += strcmp(rl.names[i], "waiter") == 0;
        seen_y += strcmp(rl.names[i], "yielder") == 0;
        seen_u += strcmp(rl.names[i], "unstarted") == 0;
    }
    assert_int_equal(seen_w, 1);
    assert_int_equal(seen_y, 1);
    assert_int_equal(seen_u, 1);
    assert_int_equal(pa.drops, 1);
    assert_int_equal(pb.drops, 1);
    assert_int_equal(pc.drops, 1);
    assert_int_equal(pc.calls, 0);
    coio_future_release(b);
    assert_int_equal(rl.n, 3); /* not again when freed */
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(pb.drops, 1);
}

static void test_failed_task_freed_unread_is_reported(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    report_log rl;
    memset(&rl, 0, sizeof rl);
    assert_status(coio_loop_set_exception_handler(loop, log_report, &rl, NULL), COIO_OK);
    prog p, q;
    prog_init(&p, loop);
    prog_init(&q, loop);
    p.rc = COIO_ETIMEDOUT;
    q.rc = COIO_ETIMEDOUT;
    coio_future *unread = new_task(loop, step_return, &p, NULL, NULL);
    coio_future *read = new_task(loop, step_return, &q, NULL, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_done(unread), 1);
    assert_int_equal(coio_future_done(read), 1);
    assert_status(coio_future_error(read, NULL, NULL), COIO_OK);
    assert_int_equal(rl.n, 0);
    coio_future_release(read);
    assert_int_equal(rl.n, 0);
    coio_future_release(unread);
    assert_int_equal(rl.n, 1);
    assert_int_equal(rl.never_retrieved, 1);
    assert_int_equal(rl.codes[0], COIO_ETIMEDOUT);
    tu_finish(loop);
    assert_int_equal(rl.n, 1);
}

static void test_failed_task_result_read_not_reported(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    report_log rl;
    memset(&rl, 0, sizeof rl);
    assert_status(coio_loop_set_exception_handler(loop, log_report, &rl, NULL), COIO_OK);
    prog p;
    prog_init(&p, loop);
    p.rc = 7;
    coio_future *t = new_task(loop, step_return, &p, NULL, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED); /* retrieves */
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(rl.n, 0);
}

/* ---- coio_sleep ------------------------------------------------------------------------- */

static int step_sleep_passes(coio_future *task, coio_future *awaited, int status, void *arg) {
    prog *p = arg;
    record(p, task, awaited, status);
    if (p->calls == 1) {
        tu_start_ticker(&p->tk, p->loop, 10);
        coio_future *s = NULL;
        assert_status(coio_sleep(p->loop, p->rc ? -1.0 : 0.0, &s), COIO_OK);
        assert_status(coio_step_await(task, s), COIO_OK);
        coio_future_release(s);
        return COIO_STEP_AWAIT;
    }
    p->check = p->tk.n;
    p->check2 = coio_future_done(awaited);
    return COIO_OK;
}

static void test_sleep_zero_and_negative_cost_exactly_one_pass(void **state) {
    (void)state;
    for (int neg = 0; neg < 2; neg++) {
        coio_loop *loop = tu_loop_virtual();
        prog p;
        prog_init(&p, loop);
        p.rc = neg; /* 1: sleep(-1) */
        coio_future *t = new_task(loop, step_sleep_passes, &p, NULL, NULL);
        assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
        assert_int_equal(p.calls, 2);
        assert_int_equal(p.check, 1);  /* one pass */
        assert_int_equal(p.check2, 1); /* the sleep future is done by then */
        assert_status(p.status[1], COIO_OK);
        assert_double_eq(coio_loop_time(loop), 0.0, 0.0);
        for (int i = 0; i < 10; i++)
            tu_run_one_pass(loop);
        coio_future_release(t);
        tu_finish(loop);
    }
}

static void test_sleep_zero_future_alone_completes_next_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *s = tu_sleep(loop, 0.0);
    assert_int_equal(coio_future_done(s), 0);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_done(s), 1);
    void *v = &v;
    assert_status(coio_future_result(s, &v), COIO_OK);
    assert_null(v);
    coio_future_release(s);
    tu_finish(loop);
}

static void test_sleep_positive_delay_completes_at_start_plus_delay(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *s0 = tu_sleep(loop, 2.5);
    assert_status(coio_loop_run_until_complete(loop, s0), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 2.5, 1e-9);
    double start = coio_loop_time(loop);
    coio_future *s = tu_sleep(loop, 1.25);
    assert_int_equal(coio_future_is_task(s), 0);
    assert_int_equal(coio_future_done(s), 0);
    void *v = &v;
    assert_status(coio_loop_run_until_complete(loop, s), COIO_OK);
    assert_status(coio_future_result(s, &v), COIO_OK);
    assert_null(v);
    assert_double_eq(coio_loop_time(loop), start + 1.25, 1e-9);
    coio_future_release(s0);
    coio_future_release(s);
    tu_finish(loop);
}

static void test_sleep_never_early_real_time(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    double t0 = coio_loop_time(loop);
    coio_future *s = tu_sleep(loop, 0.02);
    assert_status(coio_loop_run_until_complete(loop, s), COIO_OK);
    assert_true(coio_loop_time(loop) >= t0 + 0.02);
    coio_future_release(s);
    tu_finish(loop);
}

/* Cancelling a sleep future cancels its timer: with nothing else scheduled, the virtual clock
 * must not jump to the sleep's deadline.  A thread wakes the loop 50 ms later; the callback it
 * schedules reads the clock. */
typedef struct waker {
    coio_loop *loop;
    double seen;
    int ran;
} waker;

static void waker_cb(void *arg) {
    waker *w = arg;
    w->ran++;
    w->seen = coio_loop_time(w->loop);
    assert_status(coio_loop_stop(w->loop), COIO_OK);
}

static void *waker_thread(void *arg) {
    waker *w = arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    coio_call_soon_threadsafe(w->loop, waker_cb, w, NULL);
    return NULL;
}

static void test_cancelling_sleep_cancels_its_timer(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *s = tu_sleep(loop, 100.0);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(s, NULL), 1);
    assert_int_equal(coio_future_cancelled(s), 1);
    waker w = {loop, -1.0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waker_thread, &w), 0);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    pthread_join(th, NULL);
    assert_int_equal(w.ran, 1);
    assert_double_eq(w.seen, 0.0, 0.0); /* no jump to 100: the timer is gone */
    /* and a later far timer is reached directly */
    coio_future *far = tu_sleep(loop, 1000.0);
    assert_status(coio_loop_run_until_complete(loop, far), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 1000.0, 1e-9);
    coio_future_release(far);
    coio_future_release(s);
    tu_finish(loop);
}

static void test_cancelled_sleep_never_completes_with_result(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *s = tu_sleep(loop, 10.0);
    assert_int_equal(coio_future_cancel(s, "stop"), 1);
    coio_future *far = tu_sleep(loop, 50.0);
    assert_status(coio_loop_run_until_complete(loop, far), COIO_OK);
    assert_int_equal(coio_future_cancelled(s), 1);
    assert_string_equal(tu_error_message(s), "stop");
    coio_future_release(far);
    coio_future_release(s);
    tu_finish(loop);
}

static void test_releasing_unawaited_sleep_before_it_fires_is_safe(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *s1 = tu_sleep(loop, 5.0);
    coio_future *s2 = tu_sleep(loop, 0.0);
    coio_future *s3 = tu_sleep(loop, 7.0);
    coio_future_release(s1);
    coio_future_release(s2);
    tu_run_one_pass(loop);
    coio_future *far = tu_sleep(loop, 20.0);
    assert_status(coio_loop_run_until_complete(loop, far), COIO_OK);
    assert_double_eq(coio_loop_time(loop), 20.0, 1e-9);
    assert_int_equal(coio_future_done(s3), 1);
    coio_future_release(far);
    coio_future_release(s3);
    /* and one still pending at close */
    coio_future *s4 = tu_sleep(loop, 3.0);
    coio_future *s5 = tu_sleep(loop, 0.0);
    tu_finish(loop);
    coio_future_release(s4);
    coio_future_release(s5);
}

static void test_sleep_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *s = (coio_future *)&s;
    assert_status(coio_sleep(loop, NAN, &s), COIO_EINVAL);
    assert_status(coio_sleep(loop, INFINITY, &s), COIO_EINVAL);
    assert_status(coio_sleep(loop, -INFINITY, &s), COIO_EINVAL);
    assert_status(coio_sleep(loop, 1.0, NULL), COIO_EINVAL);
    assert_status(coio_sleep(NULL, 1.0, &s), COIO_EINVAL);
    assert_ptr_equal(s, (coio_future *)&s); /* untouched */
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_sleep(loop, 1.0, &s), COIO_ECLOSED);
    assert_status(coio_sleep(loop, 0.0, &s), COIO_ECLOSED);
    assert_ptr_equal(s, (coio_future *)&s);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- bad input to coio_task_new -------------------------------------------------------- */

static void test_task_new_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    prog p;
    prog_init(&p, loop);
    p.rc = COIO_OK;
    coio_future *t = (coio_future *)&t;
    assert_status(coio_task_new(NULL, step_return, &p, prog_drop, NULL, &t), COIO_EINVAL);
    assert_status(coio_task_new(loop, NULL, &p, prog_drop, NULL, &t), COIO_EINVAL);
    assert_status(coio_task_new(loop, step_return, &p, prog_drop, NULL, NULL), COIO_EINVAL);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = 0x80u;
    assert_status(coio_task_new(loop, step_return, &p, prog_drop, &o, &t), COIO_EINVAL);
    o = (coio_task_options)COIO_TASK_OPTIONS_INIT;
    o.size = sizeof o + 8;
    assert_status(coio_task_new(loop, step_return, &p, prog_drop, &o, &t), COIO_EINVAL);
    o.size = 0;
    assert_status(coio_task_new(loop, step_return, &p, prog_drop, &o, &t), COIO_EINVAL);
    assert_ptr_equal(t, (coio_future *)&t);
    assert_int_equal(p.drops, 0);
    assert_int_equal(coio_loop_all_tasks(loop, NULL, 0), 0);
    /* a smaller, older size is accepted */
    o = (coio_task_options)COIO_TASK_OPTIONS_INIT;
    o.size = offsetof(coio_task_options, stack_size);
    assert_status(coio_task_new(loop, step_return, &p, prog_drop, &o, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    assert_int_equal(p.drops, 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    t = (coio_future *)&t;
    assert_status(coio_task_new(loop, step_return, &p, prog_drop, NULL, &t), COIO_ECLOSED);
    assert_ptr_equal(t, (coio_future *)&t);
    assert_int_equal(p.drops, 1);
    assert_int_equal(p.calls, 1);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- cancel messages (coio_task_cancel_message / coio_task_set_cancelled) --------------- */

typedef struct msg_probe {
    int steps;
    int mode;            /* what the body does with a cancellation (see msg_step) */
    coio_future *waitee; /* the future to await, if any */
    char seen[4][32];    /* messages read at each delivery ("(null)" for none) */
    int nseen;
    int rc_read; /* coio_task_cancel_message's status at the delivery */
} msg_probe;

static void note_seen(msg_probe *p, coio_future *task) {
    const char *m = "unset";
    p->rc_read = coio_task_cancel_message(task, &m);
    snprintf(p->seen[p->nseen++ & 3], sizeof p->seen[0], "%s", m ? m : "(null)");
}

/* mode 0: yield, then re-raise a delivered cancellation; mode 1: await waitee, re-raise;
 * mode 2: yield, end with its own message; mode 3: yield (cancel swallowed and uncancelled),
 * then await waitee and re-raise. */
static int msg_step(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    msg_probe *p = arg;
    int n = p->steps++;
    if (status == COIO_ECANCELLED) {
        note_seen(p, task);
        if (p->mode == 2) {
            assert_status(coio_task_set_cancelled(task, "mine"), COIO_OK);
            return COIO_ECANCELLED;
        }
        if (p->mode == 3 && p->nseen == 1) {
            assert_int_equal(coio_task_uncancel(task), 0);
            assert_status(coio_step_await(task, p->waitee), COIO_OK);
            return COIO_STEP_AWAIT;
        }
        return COIO_ECANCELLED;
    }
    if (n == 0 && p->mode == 1) {
        assert_status(coio_step_await(task, p->waitee), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    if (n < 5) return COIO_STEP_YIELD;
    return COIO_OK;
}

static coio_future *msg_task(coio_loop *loop, msg_probe *p, int mode, coio_future *waitee) {
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->waitee = waitee;
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, msg_step, p, NULL, NULL, &t), COIO_OK);
    return t;
}

/* Step-driven: a cancellation delivered after a yield carries cancel()'s message; the task
 * re-raises it and ends with it. */
static void test_cancel_message_after_yield_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    msg_probe p;
    coio_future *t = msg_task(loop, &p, 0, NULL);
    assert_int_equal(coio_task_cancel_message(t, &(const char *){NULL}), COIO_ESTATE);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "stop now"), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_status(p.rc_read, COIO_OK);
    assert_string_equal(p.seen[0], "stop now");
    assert_string_equal(tu_error_message(t), "stop now");
    const char *m = NULL;
    assert_status(coio_task_cancel_message(t, &m), COIO_OK); /* still readable once done */
    assert_string_equal(m, "stop now");
    coio_future_release(t);
    tu_finish(loop);
}

/* Step-driven: the awaited future completed before the cancel: the message still arrives;
 * awaiting a future the cancel reaches: that future's message. */
static void test_cancel_message_awaited_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    msg_probe p;
    coio_future *t = msg_task(loop, &p, 1, f);
    tu_run_one_pass(loop);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_int_equal(coio_future_cancel(t, "too late"), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_string_equal(p.seen[0], "too late");
    assert_string_equal(tu_error_message(t), "too late");
    coio_future_release(t);
    coio_future_release(f);

    assert_status(coio_future_new(loop, &f), COIO_OK);
    t = msg_task(loop, &p, 1, f);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "via the future"), 1);
    assert_int_equal(coio_future_cancelled(f), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_string_equal(p.seen[0], "via the future");
    assert_string_equal(tu_error_message(t), "via the future");
    coio_future_release(t);
    coio_future_release(f);
    tu_finish(loop);
}

/* Step-driven: the body ends with a message of its own (raise CancelledError("mine")). */
static void test_cancel_message_set_cancelled_step(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    msg_probe p;
    coio_future *t = msg_task(loop, &p, 2, NULL);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "theirs"), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_string_equal(p.seen[0], "theirs");
    assert_string_equal(tu_error_message(t), "mine");
    coio_future_release(t);
    tu_finish(loop);
}

/* A swallowed cancellation's message is not the final one: the last delivered is. */
static void test_cancel_message_not_stale(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    msg_probe p;
    coio_future *t = msg_task(loop, &p, 3, f);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "first"), 1);
    tu_run_one_pass(loop); /* delivered, swallowed; the task awaits f */
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "second"), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_string_equal(p.seen[0], "first");
    assert_string_equal(p.seen[1], "second");
    assert_string_equal(tu_error_message(t), "second");
    coio_future_release(t);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_cancel_message_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    const char *m = "untouched";
    assert_int_equal(coio_task_cancel_message(NULL, &m), COIO_EINVAL);
    assert_int_equal(coio_task_cancel_message(f, &m), COIO_EINVAL); /* not a task */
    assert_string_equal(m, "untouched");
    assert_int_equal(coio_task_set_cancelled(NULL, "x"), COIO_EINVAL);
    assert_int_equal(coio_task_set_cancelled(f, "x"), COIO_EINVAL);
    msg_probe p;
    coio_future *t = msg_task(loop, &p, 0, NULL);
    assert_int_equal(coio_task_cancel_message(t, NULL), COIO_EINVAL);
    assert_int_equal(coio_task_cancel_message(t, &m), COIO_ESTATE); /* none delivered yet */
    assert_string_equal(m, "untouched");
    assert_int_equal(coio_task_set_cancelled(t, "x"), COIO_ESTATE); /* outside its body */
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(coio_task_set_cancelled(t, "x"), COIO_ESTATE); /* done */
    coio_future_release(t);
    coio_future_release(f);
    tu_finish(loop);
}

/* Stackful: coio_await returns COIO_ECANCELLED; the message is readable; the body ends with
 * its own message, or re-raises (also when the awaited future was cancelled already). */
typedef struct co_msg {
    coio_future *cancelled; /* a future cancelled before it is awaited */
    char seen[2][32];
    int own;
} co_msg;

static int co_msg_body(coio_future *self, void *arg) {
    co_msg *c = arg;
    coio_loop *loop = coio_future_loop(self);
    const char *m = NULL;
    int rc = coio_await(c->cancelled, NULL); /* done already: no suspension */
    assert_status(rc, COIO_ECANCELLED);
    assert_status(coio_task_cancel_message(self, &m), COIO_OK);
    snprintf(c->seen[0], sizeof c->seen[0], "%s", m ? m : "(null)");
    for (;;) { /* swallow that one, then wait to be cancelled */
        coio_future *s = NULL;
        assert_status(coio_sleep(loop, 0, &s), COIO_OK);
        rc = coio_await(s, NULL);
        coio_future_release(s);
        if (rc == COIO_ECANCELLED) break;
    }
    assert_status(coio_task_cancel_message(self, &m), COIO_OK);
    snprintf(c->seen[1], sizeof c->seen[1], "%s", m ? m : "(null)");
    if (c->own) assert_status(coio_task_set_cancelled(self, "own"), COIO_OK);
    return COIO_ECANCELLED;
}

static void test_cancel_message_stackful(void **state) {
    (void)state;
    for (int own = 0; own < 2; own++) {
        coio_loop *loop = tu_loop_virtual();
        co_msg c;
        memset(&c, 0, sizeof c);
        c.own = own;
        assert_status(coio_future_new(loop, &c.cancelled), COIO_OK);
        assert_int_equal(coio_future_cancel(c.cancelled, "earlier"), 1);
        coio_future *t = NULL;
        assert_status(coio_spawn(loop, co_msg_body, &c, NULL, &t), COIO_OK);
        tu_run_one_pass(loop);
        tu_run_one_pass(loop);
        assert_int_equal(coio_future_cancel(t, "delivered"), 1);
        assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
        assert_string_equal(c.seen[0], "earlier");
        assert_string_equal(c.seen[1], "delivered");
        assert_string_equal(tu_error_message(t), own ? "own" : "delivered");
        coio_future_release(t);
        coio_future_release(c.cancelled);
        tu_finish(loop);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_step_is_scheduled_not_inline),
        cmocka_unit_test(test_cancel_message_after_yield_step),
        cmocka_unit_test(test_cancel_message_awaited_step),
        cmocka_unit_test(test_cancel_message_set_cancelled_step),
        cmocka_unit_test(test_cancel_message_not_stale),
        cmocka_unit_test(test_cancel_message_bad_input),
        cmocka_unit_test(test_cancel_message_stackful),
        cmocka_unit_test(test_eager_runs_first_step_inline_when_loop_runs),
        cmocka_unit_test(test_eager_task_finishing_in_first_step_is_done_on_return),
        cmocka_unit_test(test_non_eager_in_callback_is_scheduled),
        cmocka_unit_test(test_eager_when_loop_not_running_is_scheduled),
        cmocka_unit_test(test_eager_task_inside_a_task_step),
        cmocka_unit_test(test_yield_costs_exactly_one_pass),
        cmocka_unit_test(test_state_machine_drives_a_task_through_the_protocol),
        cmocka_unit_test(test_step_await_return_without_registration_fails_estate),
        cmocka_unit_test(test_step_await_registration_does_not_outlive_its_step),
        cmocka_unit_test(test_step_await_errors),
        cmocka_unit_test(test_step_awaiting_done_future_resumes_next_pass),
        cmocka_unit_test(test_step_result_set_in_body_and_drop_runs_once_at_free),
        cmocka_unit_test(test_step_failed_with_own_error),
        cmocka_unit_test(test_step_own_error_payload),
        cmocka_unit_test(test_step_error_set_but_returned_ok_succeeds),
        cmocka_unit_test(test_step_unused_error_dropped_after_done),
        cmocka_unit_test(test_step_failed_after_await_propagates_error_and_payload),
        cmocka_unit_test(test_step_other_status_fails_with_that_code),
        cmocka_unit_test(test_step_efailed_with_nothing_failed_is_generic_failure),
        cmocka_unit_test(test_step_returning_ecancelled_cancels_task),
        cmocka_unit_test(test_step_task_awaits_another_task),
        cmocka_unit_test(test_cancel_task_waiting_on_future_cancels_that_future),
        cmocka_unit_test(test_cancel_scheduled_task_delivered_at_next_step),
        cmocka_unit_test(test_cancel_before_first_step_body_never_runs),
        cmocka_unit_test(test_cancel_before_first_step_then_close_drop_once),
        cmocka_unit_test(test_task_swallowing_cancellation_finishes_normally),
        cmocka_unit_test(test_cancel_yielded_task_swallowed_runs_on),
        cmocka_unit_test(test_cancel_twice_counts_and_returns_1),
        cmocka_unit_test(test_cancel_of_awaited_future_by_others_reaches_step),
        cmocka_unit_test(test_uncancel_decrements_and_at_zero_withdraws_pending_cancel),
        cmocka_unit_test(test_uncancel_not_to_zero_keeps_pending_cancel),
        cmocka_unit_test(test_uncancel_before_first_step_lets_body_run),
        cmocka_unit_test(test_cancelling_uncancel_einval_on_non_tasks),
        cmocka_unit_test(test_task_names),
        cmocka_unit_test(test_current_task),
        cmocka_unit_test(test_all_tasks_lists_not_done_tasks),
        cmocka_unit_test(test_close_with_pending_step_tasks_reports_each_once),
        cmocka_unit_test(test_failed_task_freed_unread_is_reported),
        cmocka_unit_test(test_failed_task_result_read_not_reported),
        cmocka_unit_test(test_sleep_zero_and_negative_cost_exactly_one_pass),
        cmocka_unit_test(test_sleep_zero_future_alone_completes_next_pass),
        cmocka_unit_test(test_sleep_positive_delay_completes_at_start_plus_delay),
        cmocka_unit_test(test_sleep_never_early_real_time),
        cmocka_unit_test(test_cancelling_sleep_cancels_its_timer),
        cmocka_unit_test(test_cancelled_sleep_never_completes_with_result),
        cmocka_unit_test(test_releasing_unawaited_sleep_before_it_fires_is_safe),
        cmocka_unit_test(test_sleep_bad_input),
        cmocka_unit_test(test_task_new_bad_input),
        cmocka_unit_test(test_step_await_survives_a_nested_eager_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
