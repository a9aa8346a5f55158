/* Task groups: coio_task_group_new / spawn / task_new / exit / errors / free (asyncio.TaskGroup,
 * CPython 3.13's Lib/asyncio/taskgroups.py as the reference): children awaited by the exit,
 * a failing child aborting its siblings and cancelling the parent once (taken back by the
 * exit), the exit's outcome (result, cancelled, "unhandled errors in a TaskGroup"), the
 * parent cancelled from outside in the body or in the exit, spawn refusals, the errors list,
 * stackful and step-driven parents and children, abandoned groups and loop close.
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * task and group) before returning: the suite runs under valgrind and ASan. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXK 4

/* ---- Children ---------------------------------------------------------------------------- */

/* A child: sleeps `delay` (none if negative), then succeeds or fails with fail_code.  With
 * `linger`, a cancelled sleep is followed by another sleep of that long (a child slow to
 * stop); with fail_anyway, it fails even when cancelled. */
typedef struct kid {
    coio_loop *loop;
    double delay;
    int fail_code;
    int fail_anyway;
    double linger;
    coio_task_group *spawn_into; /* after its sleep, spawns `sibling` into this group */
    struct kid *sibling;
    /* what happened */
    coio_future *task;
    int started, finished, await_rc, linger_rc, sibling_rc;
    double t_end;
    int drops;
} kid;

static int body_kid(coio_future *self, void *arg) {
    kid *k = arg;
    k->started = 1;
    k->await_rc = COIO_OK;
    if (k->delay >= 0) {
        coio_future *nap = NULL;
        if (coio_sleep(k->loop, k->delay, &nap) != COIO_OK) return COIO_EINVAL;
        k->await_rc = coio_await(nap, NULL);
        coio_future_release(nap);
    }
    if (k->await_rc == COIO_ECANCELLED && k->linger > 0) {
        coio_future *nap = NULL;
        if (coio_sleep(k->loop, k->linger, &nap) != COIO_OK) return COIO_EINVAL;
        k->linger_rc = coio_await(nap, NULL);
        coio_future_release(nap);
    }
    if (k->spawn_into) {
        k->sibling->loop = k->loop;
        k->sibling_rc =
            coio_task_group_spawn(k->spawn_into, body_kid, k->sibling, NULL, &k->sibling->task);
    }
    k->t_end = coio_loop_time(k->loop);
    k->finished = 1;
    if (k->fail_code && (k->await_rc == COIO_OK || k->fail_anyway)) {
        coio_future_set_error(self, k->fail_code, "kid failed");
        return COIO_EFAILED;
    }
    return k->await_rc;
}

static void kid_drop(void *arg) {
    ((kid *)arg)->drops++;
}

/* The same child as a step-driven task. */
static int step_kid(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    kid *k = arg;
    if (!k->started) {
        k->started = 1;
        coio_future *nap = NULL;
        if (coio_sleep(k->loop, k->delay, &nap) != COIO_OK) return COIO_EINVAL;
        int rc = coio_step_await(task, nap);
        coio_future_release(nap);
        return rc == COIO_OK ? COIO_STEP_AWAIT : rc;
    }
    k->await_rc = status;
    k->t_end = coio_loop_time(k->loop);
    k->finished = 1;
    if (k->fail_code && status == COIO_OK) {
        coio_future_set_error(task, k->fail_code, "step kid failed");
        return COIO_EFAILED;
    }
    return status;
}

static int step_never_runs(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)task, (void)awaited, (void)status;
    ++*(int *)arg;
    return COIO_OK;
}

/* ---- Parents ----------------------------------------------------------------------------- */

typedef struct par {
    coio_loop *loop;
    /* the script */
    kid *kids;
    int nkids;
    const coio_task_options *kid_opts;
    double body_wait;         /* > 0: the body sleeps this long after spawning */
    double body_wait2;        /* > 0: then sleeps this long again */
    coio_future *gate;        /* else, if set: the body awaits this (the test's) future */
    int step_kids;            /* spawn the children as step-driven tasks */
    int body_status;          /* nonzero: given to the exit instead of what the wait gave */
    int spawn_after_wait;     /* try a spawn after the body's wait */
    int skip_exit;            /* return without leaving the group */
    int free_after_exit_call; /* free the group between the exit call and its await */
    int free_before_return;   /* free the group and return without an exit */
    int swallow_exit;         /* return COIO_OK right after the exit, whatever it gave */
    double after;             /* > 0: sleep this long after the exit */
    /* what happened */
    coio_task_group *g;
    int new_rc, spawn_rc[MAXK], body_await_rc, spawn_after_wait_rc, exit_call_rc, exit_rc;
    coio_future *exit;
    int exit_done_at_once;
    int cancelling_after_spawn, cancelling_before_exit, cancelling_after_exit;
    int spawn_after_exit_rc, task_new_after_exit_rc, exit_again_rc, after_rc, body_await2_rc;
    int exit_code;
    const char *exit_msg; /* borrowed from exit */
    double t_exit, t_after;
    coio_future *errors[MAXK];
    long nerrors;
    kid late;
    int never_ran;
    int phase; /* step-driven parent */
} par;

static void par_init(par *p, coio_loop *loop, kid *kids, int nkids) {
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->kids = kids;
    p->nkids = nkids;
    p->late.loop = loop;
    p->late.delay = 1;
    for (int i = 0; i < nkids; i++)
        kids[i].loop = loop;
}

static void spawn_kids(par *p) {
    for (int i = 0; i < p->nkids; i++) {
        if (p->kids[i].sibling) p->kids[i].spawn_into = p->g;
        p->spawn_rc[i] = p->step_kids ? coio_task_group_task_new(p->g, step_kid, &p->kids[i],
                                                                 kid_drop, NULL, &p->kids[i].task)
                                      : coio_task_group_spawn(p->g, body_kid, &p->kids[i],
                                                              p->kid_opts, &p->kids[i].task);
    }
}

static void record_exit(par *p, coio_future *self) {
    p->t_exit = coio_loop_time(p->loop);
    p->cancelling_after_exit = coio_task_cancelling(self);
    if (p->exit_rc == COIO_EFAILED)
        assert_status(coio_future_error(p->exit, &p->exit_code, &p->exit_msg), COIO_OK);
    if (p->g) {
        p->spawn_after_exit_rc = coio_task_group_spawn(p->g, body_kid, &p->late, NULL, NULL);
        p->task_new_after_exit_rc =
            coio_task_group_task_new(p->g, step_never_runs, &p->never_ran, NULL, NULL, NULL);
        p->nerrors = coio_task_group_errors(p->g, p->errors, MAXK);
        coio_future *again = NULL;
        p->exit_again_rc = coio_task_group_exit(p->g, COIO_OK, &again);
    }
}

static int body_parent(coio_future *self, void *arg) {
    par *p = arg;
    p->new_rc = coio_task_group_new(p->loop, &p->g);
    if (p->new_rc != COIO_OK) return COIO_EINVAL;
    spawn_kids(p);
    p->cancelling_after_spawn = coio_task_cancelling(self);
    int status = COIO_OK;
    if (p->body_wait > 0) {
        coio_future *nap = NULL;
        if (coio_sleep(p->loop, p->body_wait, &nap) != COIO_OK) return COIO_EINVAL;
        status = p->body_await_rc = coio_await(nap, NULL);
        coio_future_release(nap);
    } else if (p->gate) {
        status = p->body_await_rc = coio_await(p->gate, NULL);
    }
    if (p->body_wait2 > 0) {
        coio_future *nap = NULL;
        if (coio_sleep(p->loop, p->body_wait2, &nap) != COIO_OK) return COIO_EINVAL;
        status = p->body_await2_rc = coio_await(nap, NULL);
        coio_future_release(nap);
    }
    if (p->spawn_after_wait)
        p->spawn_after_wait_rc = coio_task_group_spawn(p->g, body_kid, &p->late, NULL, NULL);
    if (p->body_status) status = p->body_status;
    if (p->free_before_return) {
        coio_task_group_free(p->g);
        p->g = NULL;
        return COIO_OK;
    }
    if (p->skip_exit) return COIO_OK;
    p->cancelling_before_exit = coio_task_cancelling(self);
    p->exit_call_rc = coio_task_group_exit(p->g, status, &p->exit);
    if (p->exit_call_rc != COIO_OK) return COIO_EINVAL;
    p->exit_done_at_once = coio_future_done(p->exit);
    if (p->free_after_exit_call) {
        coio_task_group_free(p->g);
        p->g = NULL;
    }
    p->exit_rc = coio_await(p->exit, NULL);
    record_exit(p, self);
    if (p->swallow_exit) return COIO_OK;
    if (p->after > 0) {
        coio_future *nap = NULL;
        if (coio_sleep(p->loop, p->after, &nap) != COIO_OK) return COIO_EINVAL;
        p->after_rc = coio_await(nap, NULL);
        coio_future_release(nap);
        p->t_after = coio_loop_time(p->loop);
    }
    return p->exit_rc;
}

/* The same parent as a step-driven task (children stackful).  Phases: 0 start, 1 after the
 * first wait, 2 after the second, 3 after the exit, 4 after the last sleep. */
static int step_parent(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    par *p = arg;
    coio_future *next = NULL;
    for (;;) {
        switch (p->phase++) {
        case 0:
            p->new_rc = coio_task_group_new(p->loop, &p->g);
            if (p->new_rc != COIO_OK) return COIO_EINVAL;
            spawn_kids(p);
            p->cancelling_after_spawn = coio_task_cancelling(task);
            status = COIO_OK;
            if (p->body_wait > 0 && coio_sleep(p->loop, p->body_wait, &next) != COIO_OK)
                return COIO_EINVAL;
            break;
        case 1:
            if (p->body_wait > 0) p->body_await_rc = status;
            if (p->body_wait2 > 0 && coio_sleep(p->loop, p->body_wait2, &next) != COIO_OK)
                return COIO_EINVAL;
            break;
        case 2:
            if (p->body_wait2 > 0) p->body_await2_rc = status;
            if (p->body_status) status = p->body_status;
            p->cancelling_before_exit = coio_task_cancelling(task);
            p->exit_call_rc = coio_task_group_exit(p->g, status, &p->exit);
            if (p->exit_call_rc != COIO_OK) return COIO_EINVAL;
            p->exit_done_at_once = coio_future_done(p->exit);
            next = coio_future_ref(p->exit);
            break;
        case 3:
            p->exit_rc = status;
            record_exit(p, task);
            if (p->swallow_exit) return COIO_OK;
            if (p->after <= 0) return p->exit_rc;
            if (coio_sleep(p->loop, p->after, &next) != COIO_OK) return COIO_EINVAL;
            break;
        default:
            p->after_rc = status;
            p->t_after = coio_loop_time(p->loop);
            return p->exit_rc;
        }
        if (next) break; /* else straight on to the next phase */
    }
    int rc = coio_step_await(task, next);
    coio_future_release(next);
    return rc == COIO_OK ? COIO_STEP_AWAIT : rc;
}

static coio_future *start_parent(par *p) {
    coio_future *t = NULL;
    assert_status(coio_spawn(p->loop, body_parent, p, NULL, &t), COIO_OK);
    return t;
}

static coio_future *start_step_parent(par *p) {
    coio_future *t = NULL;
    assert_status(coio_task_new(p->loop, step_parent, p, NULL, NULL, &t), COIO_OK);
    return t;
}

static coio_future *run_parent(par *p) {
    coio_future *t = start_parent(p);
    coio_loop_run_until_complete(p->loop, t);
    assert_int_equal(coio_future_done(t), 1);
    return t;
}

/* Releases what the parent and its children left: tasks, errors, exit future, group. */
static void par_cleanup(par *p, coio_future *parent) {
    for (int i = 0; i < p->nkids; i++) {
        coio_future_release(p->kids[i].task);
        if (p->kids[i].sibling) coio_future_release(p->kids[i].sibling->task);
    }
    for (long i = 0; i < p->nerrors && i < MAXK; i++)
        coio_future_release(p->errors[i]);
    coio_future_release(p->exit);
    coio_task_group_free(p->g);
    coio_future_release(parent);
}

typedef struct canceller {
    coio_future *task;
} canceller;

static void cancel_task(void *p) {
    canceller *c = p;
    assert_int_equal(coio_future_cancel(c->task, NULL), 1);
}

typedef struct probe {
    coio_future *task;
    int cancelling;
} probe;

static void probe_cancelling(void *p) {
    probe *pr = p;
    pr->cancelling = coio_task_cancelling(pr->task);
}

static const char *kErr1 = "unhandled errors in a TaskGroup (1 sub-exception)";
static const char *kErr2 = "unhandled errors in a TaskGroup (2 sub-exceptions)";

/* ---- Success ----------------------------------------------------------------------------- */

static void test_all_children_succeed_exit_waits_for_them(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[3] = {{.delay = 1}, {.delay = 3}, {.delay = 2}};
    par p;
    par_init(&p, loop, k, 3);
    coio_future *t = run_parent(&p);
    assert_status(p.new_rc, COIO_OK);
    for (int i = 0; i < 3; i++) {
        assert_status(p.spawn_rc[i], COIO_OK);
        assert_status(coio_future_result(k[i].task, NULL), COIO_OK);
    }
    assert_int_equal(p.exit_done_at_once, 0);
    assert_status(p.exit_rc, COIO_OK);
    assert_double_eq(p.t_exit, 3, 1e-9); /* the last child */
    assert_int_equal(p.nerrors, 0);
    assert_int_equal(p.cancelling_after_exit, 0);
    void *value = &value;
    assert_status(coio_future_result(p.exit, &value), COIO_OK);
    assert_null(value);
    assert_status(coio_future_result(t, NULL), COIO_OK);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_exit_without_children_is_done_at_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    par p;
    par_init(&p, loop, NULL, 0);
    coio_future *t = run_parent(&p);
    assert_int_equal(p.exit_done_at_once, 1); /* __aexit__ does not suspend */
    assert_status(p.exit_rc, COIO_OK);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_children_done_before_exit(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 1}, {.delay = -1}};
    par p;
    par_init(&p, loop, k, 2);
    p.body_wait = 5;
    coio_future *t = run_parent(&p);
    assert_int_equal(p.exit_done_at_once, 1);
    assert_status(p.exit_rc, COIO_OK);
    assert_double_eq(p.t_exit, 5, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_step_driven_children_drop_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 1}, {.delay = 2, .fail_code = 77}};
    par p;
    par_init(&p, loop, NULL, 0);
    coio_future *t = NULL;
    /* A parent that spawns step-driven children (task_new), then leaves. */
    p.nkids = 0;
    assert_status(coio_spawn(loop, body_parent, &p, NULL, &t), COIO_OK);
    /* Make the group exist first: run the parent's first step with no children, then add
     * ours from outside the parent (create_task may be called from anywhere). */
    p.body_wait = 10;
    tu_run_one_pass(loop);
    assert_non_null(p.g);
    for (int i = 0; i < 2; i++) {
        k[i].loop = loop;
        assert_status(coio_task_group_task_new(p.g, step_kid, &k[i], kid_drop, NULL, &k[i].task),
                      COIO_OK);
    }
    coio_loop_run_until_complete(loop, t);
    assert_status(coio_future_result(k[0].task, NULL), COIO_OK);
    assert_int_equal(tu_error_code(k[1].task), 77);
    assert_status(p.body_await_rc, COIO_ECANCELLED); /* the group cancelled the parent */
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1);
    assert_int_equal(k[0].drops, 1);
    assert_int_equal(k[1].drops, 1);
    for (int i = 0; i < 2; i++)
        coio_future_release(k[i].task);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* ---- A failing child ---------------------------------------------------------------------- */

/* One child fails while the body waits: the siblings are cancelled, the parent is cancelled
 * once (the body's wait ends COIO_ECANCELLED), and the exit takes that back and fails. */
static void test_failing_child_aborts_siblings_and_cancels_parent_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[3] = {{.delay = 1, .fail_code = 42}, {.delay = 10}, {.delay = 20}};
    par p;
    par_init(&p, loop, k, 3);
    p.body_wait = 5;
    p.after = 3; /* the parent is not cancelled again afterwards */
    coio_future *t = run_parent(&p);
    assert_status(p.body_await_rc, COIO_ECANCELLED);
    assert_int_equal(p.cancelling_before_exit, 1); /* one cancel(), for all the failures */
    assert_status(k[1].await_rc, COIO_ECANCELLED);
    assert_status(k[2].await_rc, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(k[1].task), 1);
    assert_int_equal(coio_future_cancelled(k[2].task), 1);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_int_equal(p.exit_code, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1);
    assert_double_eq(p.t_exit, 1, 1e-9);
    assert_int_equal(p.cancelling_after_exit, 0); /* uncancel()led */
    assert_status(p.after_rc, COIO_OK);
    assert_int_equal(p.nerrors, 1);
    assert_ptr_equal(p.errors[0], k[0].task);
    assert_int_equal(tu_error_code(k[0].task), 42);
    /* The parent ends with the exit's failure. */
    assert_int_equal(tu_error_code(t), COIO_EFAILED);
    assert_string_equal(tu_error_message(t), kErr1);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_two_children_failing_in_one_pass_both_listed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[3] = {{.delay = 1, .fail_code = 1001}, {.delay = 1, .fail_code = 1002}, {.delay = 10}};
    par p;
    par_init(&p, loop, k, 3);
    p.body_wait = 5;
    coio_future *t = run_parent(&p);
    assert_int_equal(p.cancelling_before_exit, 1);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr2);
    assert_int_equal(p.nerrors, 2);
    assert_ptr_equal(p.errors[0], k[0].task);
    assert_ptr_equal(p.errors[1], k[1].task);
    assert_int_equal(coio_future_cancelled(k[2].task), 1);
    assert_int_equal(p.cancelling_after_exit, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* Errors are listed in the order the children failed, not the order they were spawned. */
static void test_errors_in_failure_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 10, .fail_code = 1, .fail_anyway = 1, .linger = 2},
                {.delay = 1, .fail_code = 2}};
    par p;
    par_init(&p, loop, k, 2);
    coio_future *t = run_parent(&p);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr2);
    assert_int_equal(p.nerrors, 2);
    assert_ptr_equal(p.errors[0], k[1].task);
    assert_ptr_equal(p.errors[1], k[0].task);
    assert_double_eq(p.t_exit, 3, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* A child fails while the parent already waits in the exit. */
static void test_child_fails_during_exit(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 1, .fail_code = 5}, {.delay = 10}};
    par p;
    par_init(&p, loop, k, 2);
    p.after = 2;
    coio_future *t = run_parent(&p);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1);
    assert_double_eq(p.t_exit, 1, 1e-9);
    assert_int_equal(coio_future_cancelled(k[1].task), 1);
    assert_int_equal(p.cancelling_after_exit, 0);
    assert_status(p.after_rc, COIO_OK);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* A child cancelled directly is no error and aborts nothing. */
static void test_cancelled_child_is_not_an_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 5}, {.delay = 2}};
    par p;
    par_init(&p, loop, k, 2);
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    canceller c = {k[0].task};
    assert_status(coio_call_at(loop, 1, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(coio_future_cancelled(k[0].task), 1);
    assert_status(coio_future_result(k[1].task, NULL), COIO_OK);
    assert_status(p.exit_rc, COIO_OK);
    assert_double_eq(p.t_exit, 2, 1e-9);
    assert_int_equal(p.nerrors, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* gh-128550: a child that fails during an eager first step must not cancel the parent
 * inside the spawn; the done callback runs on a later pass. */
static void test_eager_child_failing_at_spawn_cancels_parent_later(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = -1, .fail_code = 9}};
    coio_task_options eager = COIO_TASK_OPTIONS_INIT;
    eager.flags = COIO_TASK_EAGER;
    par p;
    par_init(&p, loop, k, 1);
    p.kid_opts = &eager;
    p.body_wait = 3;
    coio_future *t = run_parent(&p);
    assert_int_equal(k[0].finished, 1);
    assert_int_equal(p.cancelling_after_spawn, 0);
    assert_status(p.body_await_rc, COIO_ECANCELLED);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_double_eq(p.t_exit, 0, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* ---- The parent cancelled from outside ----------------------------------------------------- */

static void test_outside_cancel_during_exit_cancels_children_and_exit(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 10}, {.delay = 20}};
    par p;
    par_init(&p, loop, k, 2);
    coio_future *t = start_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 1, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(k[0].await_rc, COIO_ECANCELLED);
    assert_status(k[1].await_rc, COIO_ECANCELLED);
    assert_status(p.exit_rc, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(p.exit), 1);
    assert_double_eq(p.t_exit, 1, 1e-9);
    assert_int_equal(p.cancelling_after_exit, 1); /* the cancellation goes on */
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_int_equal(p.nerrors, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* Cancelled twice while the exit waits for a child that is slow to stop: the exit keeps
 * waiting for it, then ends cancelled. */
static void test_repeated_outside_cancel_keeps_waiting(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = 10, .linger = 4}};
    par p;
    par_init(&p, loop, k, 1);
    coio_future *t = start_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 1, cancel_task, &c, NULL, NULL), COIO_OK);
    assert_status(coio_call_at(loop, 2, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(k[0].linger_rc, COIO_OK);
    assert_double_eq(p.t_exit, 5, 1e-9);
    assert_status(p.exit_rc, COIO_ECANCELLED);
    assert_int_equal(p.cancelling_after_exit, 2);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_outside_cancel_during_body(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = 10}};
    par p;
    par_init(&p, loop, k, 1);
    p.body_wait = 5;
    coio_future *t = start_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 1, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(p.body_await_rc, COIO_ECANCELLED);
    assert_status(k[0].await_rc, COIO_ECANCELLED); /* aborted by the exit */
    assert_status(p.exit_rc, COIO_ECANCELLED);
    assert_int_equal(p.cancelling_after_exit, 1);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* A child fails and the parent is also cancelled from outside while the exit waits: errors
 * come first (the exit fails), and the outside cancellation is not lost: 3.13 uncancels and
 * re-cancels the parent, which sees the failure, then the cancellation at its next await. */
static void setup_error_and_outside_cancel(par *p, kid *k, coio_loop *loop) {
    k[0] = (kid){.delay = 1, .fail_code = 3};
    k[1] = (kid){.delay = 10, .linger = 5}; /* keeps the exit waiting until 6 */
    par_init(p, loop, k, 2);
    p->after = 100;
}

static void test_error_and_outside_cancel_in_exit_stackful(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2];
    par p;
    setup_error_and_outside_cancel(&p, k, loop);
    coio_future *t = start_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 2, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_double_eq(p.t_exit, 6, 1e-9);
    assert_status(p.exit_rc, COIO_EFAILED); /* not COIO_ECANCELLED */
    assert_string_equal(p.exit_msg, kErr1);
    assert_int_equal(p.cancelling_after_exit, 1); /* the count stays that of the outside */
    assert_status(p.after_rc, COIO_ECANCELLED);   /* ... and it is delivered next */
    assert_double_eq(p.t_after, 6, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_error_and_outside_cancel_in_exit_step_parent(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2];
    par p;
    setup_error_and_outside_cancel(&p, k, loop);
    coio_future *t = start_step_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 2, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_int_equal(p.cancelling_after_exit, 1);
    assert_status(p.after_rc, COIO_ECANCELLED);
    assert_double_eq(p.t_after, 6, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* The parent swallows the group's failure and returns at once: it ends cancelled (asyncio:
 * a task whose _must_cancel is set when its coroutine returns). */
static void test_error_and_outside_cancel_parent_returning_ends_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2];
    par p;
    setup_error_and_outside_cancel(&p, k, loop);
    p.swallow_exit = 1;
    coio_future *t = start_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 2, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_int_equal(coio_future_cancelled(t), 1);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* The parent is cancelled from outside during the exit (the cancellation is to propagate),
 * then a child slow to stop fails: the errors have priority, and the outside cancellation
 * is kept for the parent's next await. */
static void test_errors_take_priority_over_propagated_cancellation(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 10, .linger = 1, .fail_code = 12, .fail_anyway = 1},
                {.delay = 10, .linger = 3}};
    par p;
    par_init(&p, loop, k, 2);
    p.after = 100;
    coio_future *t = start_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 1, cancel_task, &c, NULL, NULL), COIO_OK);
    /* After the failure at 2: the group, aborting already, did not cancel the parent. */
    probe pr = {t, -1};
    assert_status(coio_call_at(loop, 3, probe_cancelling, &pr, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(pr.cancelling, 1);
    assert_double_eq(p.t_exit, 4, 1e-9);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1);
    assert_int_equal(p.cancelling_after_exit, 1);
    assert_status(p.after_rc, COIO_ECANCELLED);
    assert_double_eq(p.t_after, 4, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* Same, when the exit ends inside coio_task_group_exit (every child done already). */
/* The child fails at 1 (the group cancels the parent's first wait), the outside cancels the
 * second wait at 2, then the exit finds every child done. */
static void setup_error_and_outside_cancel_inline(par *p, kid *k, coio_loop *loop) {
    k[0] = (kid){.delay = 1, .fail_code = 3};
    par_init(p, loop, k, 1);
    p->body_wait = 5;
    p->body_wait2 = 5;
    p->after = 100;
}

static void test_error_and_outside_cancel_inline_exit_stackful(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1];
    par p;
    setup_error_and_outside_cancel_inline(&p, k, loop);
    coio_future *t = start_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 2, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(p.body_await_rc, COIO_ECANCELLED);
    assert_status(p.body_await2_rc, COIO_ECANCELLED);
    assert_int_equal(p.cancelling_before_exit, 2);
    assert_int_equal(p.exit_done_at_once, 1);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_int_equal(p.cancelling_after_exit, 1);
    assert_status(p.after_rc, COIO_ECANCELLED);
    assert_double_eq(p.t_after, 2, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_error_and_outside_cancel_inline_exit_step_parent(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1];
    par p;
    setup_error_and_outside_cancel_inline(&p, k, loop);
    coio_future *t = start_step_parent(&p);
    canceller c = {t};
    assert_status(coio_call_at(loop, 2, cancel_task, &c, NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(p.cancelling_before_exit, 2);
    assert_int_equal(p.exit_done_at_once, 1);
    assert_status(p.exit_rc, COIO_EFAILED); /* the step still sees the failure */
    assert_int_equal(p.cancelling_after_exit, 1);
    assert_status(p.after_rc, COIO_ECANCELLED);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* asyncio's `async with timeout(1): async with TaskGroup() as tg: ...`: the scope expires
 * while the parent waits in the exit: the children are cancelled, the exit ends cancelled,
 * and the scope turns that into COIO_ETIMEDOUT. */
typedef struct timed {
    coio_loop *loop;
    kid k;
    int exit_rc, scope_rc, cancelling;
    double t;
} timed;

static int body_group_in_timeout(coio_future *self, void *arg) {
    timed *x = arg;
    coio_timeout *tm = NULL;
    coio_task_group *g = NULL;
    coio_future *exit = NULL;
    if (coio_timeout_enter(x->loop, 1, &tm) != COIO_OK) return COIO_EINVAL;
    if (coio_task_group_new(x->loop, &g) != COIO_OK) return COIO_EINVAL;
    x->k.loop = x->loop;
    if (coio_task_group_spawn(g, body_kid, &x->k, NULL, &x->k.task) != COIO_OK) return COIO_EINVAL;
    if (coio_task_group_exit(g, COIO_OK, &exit) != COIO_OK) return COIO_EINVAL;
    x->exit_rc = coio_await(exit, NULL);
    coio_future_release(exit);
    coio_task_group_free(g);
    x->scope_rc = coio_timeout_exit(tm, x->exit_rc);
    x->cancelling = coio_task_cancelling(self);
    x->t = coio_loop_time(x->loop);
    return x->scope_rc == COIO_ETIMEDOUT ? COIO_OK : COIO_EINVAL;
}

static void test_group_inside_expiring_timeout(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    timed x = {.loop = loop, .k = {.delay = 10}};
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, body_group_in_timeout, &x, NULL, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(x.exit_rc, COIO_ECANCELLED);
    assert_status(x.scope_rc, COIO_ETIMEDOUT);
    assert_status(x.k.await_rc, COIO_ECANCELLED);
    assert_int_equal(x.cancelling, 0);
    assert_double_eq(x.t, 1, 1e-9);
    coio_future_release(x.k.task);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- The body's own status ----------------------------------------------------------------- */

static void test_body_failure_aborts_and_counts_as_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = 10}};
    par p;
    par_init(&p, loop, k, 1);
    p.body_wait = 1; /* the child is started */
    p.body_status = COIO_EFAILED;
    coio_future *t = run_parent(&p);
    assert_status(k[0].await_rc, COIO_ECANCELLED);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1); /* the body's error is the one sub-exception */
    assert_int_equal(p.nerrors, 0);         /* ... and not a child */
    assert_double_eq(p.t_exit, 1, 1e-9);
    assert_int_equal(p.cancelling_after_exit, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_body_failure_plus_child_failure(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = 10, .fail_code = 8, .fail_anyway = 1}};
    par p;
    par_init(&p, loop, k, 1);
    p.body_wait = 1;
    p.body_status = COIO_ETIMEDOUT;
    coio_future *t = run_parent(&p);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr2);
    assert_int_equal(p.nerrors, 1);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* A body failing before its children ever ran: they are cancelled before their first step
 * (their bodies never run) and the exit still waits for them to be done. */
static void test_body_failure_before_children_started(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 10}, {.delay = 1, .fail_code = 5}};
    par p;
    par_init(&p, loop, k, 2);
    p.body_status = COIO_EFAILED;
    coio_future *t = run_parent(&p);
    assert_int_equal(p.exit_done_at_once, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(k[i].started, 0);
        assert_int_equal(coio_future_cancelled(k[i].task), 1);
    }
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1);
    assert_double_eq(p.t_exit, 0, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* The body's cancellation with no error: the exit ends cancelled, even with no children. */
static void test_body_cancelled_without_children(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    par p;
    par_init(&p, loop, NULL, 0);
    p.body_status = COIO_ECANCELLED;
    coio_future *t = run_parent(&p);
    assert_int_equal(p.exit_done_at_once, 1);
    assert_status(p.exit_rc, COIO_ECANCELLED);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* ---- Spawn refusals and permissions -------------------------------------------------------- */

static void test_spawn_after_exit_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = 1}};
    par p;
    par_init(&p, loop, k, 1);
    coio_future *t = run_parent(&p);
    assert_status(p.spawn_after_exit_rc, COIO_ESTATE);    /* "TaskGroup is finished" */
    assert_status(p.task_new_after_exit_rc, COIO_ESTATE); /* (its step never runs) */
    assert_status(p.exit_again_rc, COIO_ESTATE);
    assert_int_equal(p.late.started, 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.never_ran, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

static void test_spawn_while_aborting_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 1, .fail_code = 4}, {.delay = 10}};
    par p;
    par_init(&p, loop, k, 2);
    p.body_wait = 5;
    p.spawn_after_wait = 1;
    coio_future *t = run_parent(&p);
    assert_status(p.spawn_after_wait_rc, COIO_ESTATE); /* "TaskGroup is shutting down" */
    assert_int_equal(p.late.started, 0);
    assert_status(p.exit_rc, COIO_EFAILED);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* While the exit waits (not aborting), a child may add a sibling: the exit waits for it. */
static void test_child_spawns_sibling_during_exit(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid sib = {.delay = 4};
    kid k[1] = {{.delay = 1, .sibling = &sib}};
    par p;
    par_init(&p, loop, k, 1);
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    k[0].spawn_into = p.g;
    coio_loop_run_until_complete(loop, t);
    assert_status(k[0].sibling_rc, COIO_OK);
    assert_int_equal(sib.finished, 1);
    assert_double_eq(p.t_exit, 5, 1e-9);
    assert_status(p.exit_rc, COIO_OK);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* A child started eagerly adds a sibling from inside its first step, that is from inside
 * the spawn that creates it. */
static void test_eager_child_spawns_sibling_inside_spawn(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid sib = {.delay = 2};
    kid k[2] = {{.delay = -1, .sibling = &sib}, {.delay = 1}};
    coio_task_options eager = COIO_TASK_OPTIONS_INIT;
    eager.flags = COIO_TASK_EAGER;
    par p;
    par_init(&p, loop, k, 2);
    p.kid_opts = &eager;
    coio_future *t = run_parent(&p);
    assert_status(k[0].sibling_rc, COIO_OK);
    assert_int_equal(sib.finished, 1);
    assert_status(p.exit_rc, COIO_OK);
    assert_double_eq(p.t_exit, 2, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

typedef struct in_task {
    coio_task_group *g;
    coio_loop *loop;
    int new_rc, exit_rc;
    coio_future *exit;
} in_task;

static int body_exit_from_other_task(coio_future *self, void *arg) {
    (void)self;
    in_task *x = arg;
    x->exit_rc = coio_task_group_exit(x->g, COIO_OK, &x->exit);
    return COIO_OK;
}

static void test_exit_only_from_parent_and_only_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = 3}};
    par p;
    par_init(&p, loop, k, 1);
    p.body_wait = 2;
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    /* From outside any task, and from another task. */
    coio_future *exit = NULL;
    assert_status(coio_task_group_exit(p.g, COIO_OK, &exit), COIO_ESTATE);
    in_task x = {p.g, loop, 0, 99, NULL};
    coio_future *other = NULL;
    assert_status(coio_spawn(loop, body_exit_from_other_task, &x, NULL, &other), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_status(x.exit_rc, COIO_ESTATE);
    assert_null(x.exit);
    assert_null(exit);
    assert_status(p.exit_rc, COIO_OK);
    /* Twice: the exit has run. */
    assert_status(coio_task_group_exit(p.g, COIO_OK, &exit), COIO_ESTATE);
    coio_future_release(other);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* ---- The errors list ----------------------------------------------------------------------- */

static void test_errors_list_capacity_and_references(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 1, .fail_code = 11}, {.delay = 1, .fail_code = 12}};
    par p;
    par_init(&p, loop, k, 2);
    coio_future *t = run_parent(&p);
    assert_int_equal(coio_task_group_errors(p.g, NULL, 0), 2);
    coio_future *one[1] = {NULL};
    assert_int_equal(coio_task_group_errors(p.g, one, 1), 2);
    assert_ptr_equal(one[0], k[0].task);
    /* New references: they outlive the group and the children's own. */
    coio_future *kept = one[0];
    par_cleanup(&p, t);
    assert_int_equal(tu_error_code(kept), 11);
    coio_future_release(kept);
    tu_finish(loop);
}

/* Failures read through the group count as retrieved: nothing is reported when they go. */
static void test_group_errors_are_retrieved(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    kid k[1] = {{.delay = 1, .fail_code = 13}};
    par p;
    par_init(&p, loop, k, 1);
    p.swallow_exit = 1;
    coio_future *t = run_parent(&p);
    coio_future *exit = p.exit;
    p.exit = NULL;
    par_cleanup(&p, t);
    coio_future_release(exit); /* retrieved by the parent's await */
    assert_int_equal(r.n, 0);
    tu_finish(loop);
}

/* ---- Step-driven parent -------------------------------------------------------------------- */

static void test_step_driven_parent(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 1, .fail_code = 6}, {.delay = 5}};
    par p;
    par_init(&p, loop, k, 2);
    p.body_wait = 3;
    coio_future *t = start_step_parent(&p);
    coio_loop_run_until_complete(loop, t);
    assert_status(p.body_await_rc, COIO_ECANCELLED);
    assert_int_equal(p.cancelling_before_exit, 1);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1);
    assert_int_equal(p.cancelling_after_exit, 0);
    assert_int_equal(coio_future_cancelled(k[1].task), 1);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* ---- Bad input ------------------------------------------------------------------------------ */

typedef struct cb_new {
    coio_loop *loop;
    coio_task_group *g;
    int rc;
} cb_new;

static void new_in_callback(void *arg) {
    cb_new *c = arg;
    c->rc = coio_task_group_new(c->loop, &c->g);
}

static void test_new_bad_input_and_outside_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_task_group *g = NULL;
    assert_status(coio_task_group_new(NULL, &g), COIO_EINVAL);
    assert_status(coio_task_group_new(loop, NULL), COIO_EINVAL);
    assert_status(coio_task_group_new(loop, &g), COIO_ESTATE); /* no task runs */
    cb_new c = {loop, NULL, 99};
    assert_status(coio_call_soon(loop, new_in_callback, &c, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_status(c.rc, COIO_ESTATE);
    assert_null(c.g);
    assert_null(g);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_task_group_new(loop, &g), COIO_ECLOSED);
    assert_null(g);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_group_calls_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[1] = {{.delay = 1}};
    par p;
    par_init(&p, loop, k, 0);
    p.body_wait = 2;
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    coio_task_group *g = p.g;
    coio_future *out = NULL;
    k[0].loop = loop;
    /* NULL group / function. */
    assert_status(coio_task_group_spawn(NULL, body_kid, &k[0], NULL, &out), COIO_EINVAL);
    assert_status(coio_task_group_spawn(g, NULL, &k[0], NULL, &out), COIO_EINVAL);
    assert_status(coio_task_group_task_new(NULL, step_kid, &k[0], kid_drop, NULL, &out),
                  COIO_EINVAL);
    assert_status(coio_task_group_task_new(g, NULL, &k[0], kid_drop, NULL, &out), COIO_EINVAL);
    /* Bad options. */
    coio_task_options bad = COIO_TASK_OPTIONS_INIT;
    bad.flags = 0x80;
    assert_status(coio_task_group_spawn(g, body_kid, &k[0], &bad, &out), COIO_EINVAL);
    assert_status(coio_task_group_task_new(g, step_kid, &k[0], kid_drop, &bad, &out), COIO_EINVAL);
    bad = (coio_task_options)COIO_TASK_OPTIONS_INIT;
    bad.size = 2;
    assert_status(coio_task_group_spawn(g, body_kid, &k[0], &bad, &out), COIO_EINVAL);
    assert_null(out);
    assert_int_equal(k[0].drops, 0); /* a refused spawn leaves arg to the caller */
    /* Exit: NULL out, a positive status, NULL group. */
    assert_status(coio_task_group_exit(NULL, COIO_OK, &out), COIO_EINVAL);
    assert_status(coio_task_group_exit(g, COIO_OK, NULL), COIO_EINVAL);
    assert_status(coio_task_group_exit(g, 1, &out), COIO_EINVAL);
    /* Errors. */
    coio_future *errs[1];
    assert_int_equal(coio_task_group_errors(NULL, errs, 1), COIO_EINVAL);
    assert_int_equal(coio_task_group_errors(g, NULL, 1), COIO_EINVAL);
    assert_int_equal(coio_task_group_errors(g, NULL, 0), 0);
    coio_task_group_free(NULL); /* no-op */
    /* A spawn with NULL out is fine: the task is not handed back. */
    assert_status(coio_task_group_spawn(g, body_kid, &k[0], NULL, NULL), COIO_OK);
    coio_loop_run_until_complete(loop, t);
    assert_int_equal(k[0].finished, 1);
    assert_status(p.exit_rc, COIO_OK);
    assert_double_eq(p.t_exit, 2, 1e-9);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* A coroutine killed when the loop closes drops what its stack held: these tests make the
 * bodies wait on futures the test owns (a sleep created in the body would leak with it). */

/* After the loop closed: spawns and exits are COIO_ECLOSED; the group is still freed. */
static void test_calls_on_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    par p;
    par_init(&p, loop, NULL, 0);
    assert_status(coio_future_new(loop, &p.gate), COIO_OK);
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    assert_status(coio_loop_close(loop), COIO_OK);
    kid late = {.loop = loop, .delay = 1};
    coio_future *out = NULL;
    assert_status(coio_task_group_spawn(p.g, body_kid, &late, NULL, &out), COIO_ECLOSED);
    assert_status(coio_task_group_task_new(p.g, step_kid, &late, kid_drop, NULL, &out),
                  COIO_ECLOSED);
    assert_status(coio_task_group_exit(p.g, COIO_OK, &out), COIO_ECLOSED);
    assert_null(out);
    assert_int_equal(late.drops, 0);
    assert_int_equal(coio_task_group_errors(p.g, NULL, 0), 0);
    coio_future_release(p.gate);
    par_cleanup(&p, t);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* The loop closes while the parent waits in the exit for its children: tasks are reported,
 * nothing leaks once the group and the tasks are released. */
static void test_loop_close_during_exit(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    kid k[2] = {{.delay = 10}, {.delay = 20}};
    par p;
    par_init(&p, loop, k, 2);
    p.step_kids = 1;
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    tu_run_one_pass(loop);
    assert_non_null(p.exit);
    assert_int_equal(coio_future_done(p.exit), 0);
    assert_int_equal(k[0].started, 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(r.n, 4); /* the parent, the exit task, two children */
    assert_int_equal(k[0].drops, 1);
    assert_int_equal(k[1].drops, 1);
    par_cleanup(&p, t);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Closing while the body still runs (no exit yet). */
static void test_loop_close_before_exit(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    kid k[2] = {{.delay = 10}, {.delay = 20}};
    par p;
    par_init(&p, loop, k, 2);
    p.step_kids = 1;
    assert_status(coio_future_new(loop, &p.gate), COIO_OK);
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    tu_run_one_pass(loop);
    assert_int_equal(k[1].started, 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(k[0].drops, 1);
    assert_int_equal(k[1].drops, 1);
    assert_int_equal(r.n, 3);
    coio_future_release(p.gate);
    par_cleanup(&p, t);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* The loop closes with an abandoned group whose children still run. */
static void test_loop_close_with_abandoned_group(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    kid k[2] = {{.delay = 10}, {.delay = 20}};
    par p;
    par_init(&p, loop, k, 2);
    p.step_kids = 1;
    p.free_before_return = 1;
    coio_future *t = run_parent(&p);
    tu_run_one_pass(loop);
    assert_int_equal(k[0].started, 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(r.n, 2);
    par_cleanup(&p, t);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* The group is freed during the exit: the exit goes on and ends as it would have. */
static void test_free_during_exit(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    kid k[2] = {{.delay = 1, .fail_code = 21}, {.delay = 5}};
    par p;
    par_init(&p, loop, k, 2);
    p.free_after_exit_call = 1;
    coio_future *t = run_parent(&p);
    assert_null(p.g);
    assert_status(p.exit_rc, COIO_EFAILED);
    assert_string_equal(p.exit_msg, kErr1);
    assert_int_equal(coio_future_cancelled(k[1].task), 1);
    assert_int_equal(p.cancelling_after_exit, 0);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* Freed before any exit: the group is abandoned.  Its children run on; a failure is theirs
 * (reported when never retrieved) and cancels nobody. */
static void test_free_before_exit_abandons(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    kid k[2] = {{.delay = 1, .fail_code = 31}, {.delay = 3}};
    par p;
    par_init(&p, loop, k, 2);
    p.free_before_return = 1;
    coio_future *t = run_parent(&p);
    assert_status(coio_future_result(t, NULL), COIO_OK);
    coio_future *nap = tu_sleep(loop, 10);
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    assert_int_equal(k[0].finished, 1);
    assert_status(k[1].await_rc, COIO_OK); /* not aborted */
    assert_int_equal(r.n, 0);
    coio_future_release(k[0].task); /* its error was never read: reported now */
    k[0].task = NULL;
    assert_int_equal(r.n, 1);
    assert_int_equal(r.last_code, 31);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* The parent returns without leaving the group, and a child fails afterwards: reported
 * ("... has errored out but its parent task ... is already completed"). */
static void test_child_failing_after_parent_finished_is_reported(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    kid k[1] = {{.delay = 2, .fail_code = 41}};
    par p;
    par_init(&p, loop, k, 1);
    p.skip_exit = 1;
    coio_future *t = run_parent(&p);
    coio_future *nap = tu_sleep(loop, 5);
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.last_message, "has errored out but its parent task"));
    assert_non_null(strstr(r.last_message, "is already completed"));
    assert_int_equal(r.last_code, 41);
    assert_int_equal(coio_task_group_errors(p.g, NULL, 0), 1);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* Many children: done ones are let go as the group goes (and the exit still waits for all). */
static void test_many_children(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    par p;
    par_init(&p, loop, NULL, 0);
    p.body_wait = 1000;
    coio_future *t = start_parent(&p);
    tu_run_one_pass(loop);
    enum { N = 300 };
    kid *k = calloc(N, sizeof *k);
    assert_non_null(k);
    for (int i = 0; i < N; i++) {
        k[i].loop = loop;
        k[i].delay = (i % 7) + 1;
        assert_status(coio_task_group_spawn(p.g, body_kid, &k[i], NULL, NULL), COIO_OK);
        if (i % 50 == 49) tu_run_one_pass(loop);
    }
    coio_loop_run_until_complete(loop, t);
    for (int i = 0; i < N; i++)
        assert_int_equal(k[i].finished, 1);
    assert_status(p.exit_rc, COIO_OK);
    assert_double_eq(p.t_exit, 1000, 1e-9);
    free(k);
    par_cleanup(&p, t);
    tu_finish(loop);
}

/* ---- timing: the exit resumes the parent in asyncio's pass ------------------------------ */

typedef struct pass_probe {
    coio_loop *loop;
    int pass;         /* passes counted by a call_soon ticker */
    int child_end;    /* the pass in which the child's body ended */
    int parent_after; /* the pass in which the parent resumed after the exit */
    int parent_step;
    coio_task_group *g;
    coio_future *exit;
} pass_probe;

static void pass_tick(void *arg) {
    pass_probe *p = arg;
    p->pass++;
    if (!p->parent_after) assert_status(coio_call_soon(p->loop, pass_tick, p, NULL, NULL), COIO_OK);
}

static int timed_child_step(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    (void)status;
    pass_probe *p = arg;
    if (!p->child_end && p->pass == 0) { /* first step: yield a few passes */
        p->child_end = -1;
        return COIO_STEP_YIELD;
    }
    if (p->child_end == -1 && p->pass < 3) return COIO_STEP_YIELD;
    (void)task;
    p->child_end = p->pass;
    return COIO_OK;
}

static int timed_parent_step(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    pass_probe *p = arg;
    if (p->parent_step++ == 0) {
        assert_status(coio_task_group_new(p->loop, &p->g), COIO_OK);
        assert_status(coio_task_group_task_new(p->g, timed_child_step, p, NULL, NULL, NULL),
                      COIO_OK);
        assert_status(coio_task_group_exit(p->g, COIO_OK, &p->exit), COIO_OK);
        assert_int_equal(coio_future_done(p->exit), 0);
        /* The parent and the child: the exit task is coio's own, not asyncio's. */
        assert_int_equal(coio_loop_all_tasks(p->loop, NULL, 0), 2);
        assert_status(coio_step_await(task, p->exit), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    assert_status(status, COIO_OK);
    p->parent_after = p->pass;
    return COIO_OK;
}

/* The last child ends in pass P: its done callback (_on_task_done) runs in P+1 and, as the
 * parent runs __aexit__ itself in asyncio, the parent resumes in P+2 (not P+3). */
static void test_exit_resumes_parent_in_asyncio_pass(void **state) {
    (void)state;
    pass_probe p;
    memset(&p, 0, sizeof p);
    p.loop = tu_loop_virtual();
    coio_future *parent = NULL;
    assert_status(coio_task_new(p.loop, timed_parent_step, &p, NULL, NULL, &parent), COIO_OK);
    assert_status(coio_call_soon(p.loop, pass_tick, &p, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(p.loop, parent), COIO_OK);
    assert_true(p.child_end > 0);
    assert_int_equal(p.parent_after - p.child_end, 2);
    coio_future_release(p.exit);
    coio_task_group_free(p.g);
    coio_future_release(parent);
    tu_finish(p.loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_children_succeed_exit_waits_for_them),
        cmocka_unit_test(test_exit_without_children_is_done_at_once),
        cmocka_unit_test(test_children_done_before_exit),
        cmocka_unit_test(test_step_driven_children_drop_once),
        cmocka_unit_test(test_failing_child_aborts_siblings_and_cancels_parent_once),
        cmocka_unit_test(test_two_children_failing_in_one_pass_both_listed),
        cmocka_unit_test(test_errors_in_failure_order),
        cmocka_unit_test(test_child_fails_during_exit),
        cmocka_unit_test(test_cancelled_child_is_not_an_error),
        cmocka_unit_test(test_eager_child_failing_at_spawn_cancels_parent_later),
        cmocka_unit_test(test_outside_cancel_during_exit_cancels_children_and_exit),
        cmocka_unit_test(test_repeated_outside_cancel_keeps_waiting),
        cmocka_unit_test(test_outside_cancel_during_body),
        cmocka_unit_test(test_error_and_outside_cancel_in_exit_stackful),
        cmocka_unit_test(test_error_and_outside_cancel_in_exit_step_parent),
        cmocka_unit_test(test_error_and_outside_cancel_parent_returning_ends_cancelled),
        cmocka_unit_test(test_errors_take_priority_over_propagated_cancellation),
        cmocka_unit_test(test_error_and_outside_cancel_inline_exit_stackful),
        cmocka_unit_test(test_error_and_outside_cancel_inline_exit_step_parent),
        cmocka_unit_test(test_group_inside_expiring_timeout),
        cmocka_unit_test(test_body_failure_aborts_and_counts_as_error),
        cmocka_unit_test(test_body_failure_plus_child_failure),
        cmocka_unit_test(test_body_failure_before_children_started),
        cmocka_unit_test(test_body_cancelled_without_children),
        cmocka_unit_test(test_spawn_after_exit_is_estate),
        cmocka_unit_test(test_spawn_while_aborting_is_estate),
        cmocka_unit_test(test_child_spawns_sibling_during_exit),
        cmocka_unit_test(test_eager_child_spawns_sibling_inside_spawn),
        cmocka_unit_test(test_exit_only_from_parent_and_only_once),
        cmocka_unit_test(test_errors_list_capacity_and_references),
        cmocka_unit_test(test_group_errors_are_retrieved),
        cmocka_unit_test(test_step_driven_parent),
        cmocka_unit_test(test_new_bad_input_and_outside_task),
        cmocka_unit_test(test_group_calls_bad_input),
        cmocka_unit_test(test_calls_on_closed_loop),
        cmocka_unit_test(test_loop_close_during_exit),
        cmocka_unit_test(test_loop_close_before_exit),
        cmocka_unit_test(test_loop_close_with_abandoned_group),
        cmocka_unit_test(test_free_during_exit),
        cmocka_unit_test(test_free_before_exit_abandons),
        cmocka_unit_test(test_child_failing_after_parent_finished_is_reported),
        cmocka_unit_test(test_many_children),
        cmocka_unit_test(test_exit_resumes_parent_in_asyncio_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
