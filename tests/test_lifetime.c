/* Lifetimes under any callback order (issue 11): cancellation cycles, user code (drops, done
 * callbacks, eager bodies) that releases the object the library is working on, work queued
 * for later that must own what it touches, and what a closed and released loop leaves behind.
 * Each test reproduces one failure found by the op-sequence fuzzer: a crash or a
 * use-after-free under ASan (which builds without object pools), a drop run twice or never,
 * or a leak under valgrind.
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * task and object) before returning. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

static coio_future *spawn(coio_loop *loop, coio_coroutine_fn fn, void *arg) {
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, fn, arg, NULL, &t), COIO_OK);
    return t;
}

static void run_until(coio_loop *loop, coio_future *f) {
    int rc = coio_loop_run_until_complete(loop, f);
    (void)rc;
    assert_true(coio_future_done(f));
}

static void run_passes(coio_loop *loop, int n) {
    for (int i = 0; i < n; i++)
        tu_run_one_pass(loop);
}

/* A coroutine that awaits *target (set by the test after spawning) and returns what the
 * await gave. */
typedef struct awaiter {
    coio_future *target;
    int rc;
    int done;
} awaiter;

static int body_await_target(coio_future *self, void *arg) {
    (void)self;
    awaiter *a = arg;
    a->rc = coio_await(a->target, NULL);
    a->done = 1;
    return a->rc;
}

/* A coroutine that sleeps `delay` then fails. */
static int body_fail_later(coio_future *self, void *arg) {
    coio_loop *loop = coio_future_loop(self);
    coio_future *nap = tu_sleep(loop, *(double *)arg);
    int rc = coio_await(nap, NULL);
    coio_future_release(nap);
    if (rc != COIO_OK) return rc;
    coio_future_set_error(self, 42, "child failed");
    return COIO_EFAILED;
}

/* ---- 1. Cancellation cycles --------------------------------------------------------------- */

/* A awaits B and B awaits A (a deadlock the caller made); cancel(A) reached B, which reached
 * A, ... without bound.  Cancel must end, and both tasks end cancelled. */
static void test_cancel_mutual_await_cycle_terminates(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    awaiter a = {0}, b = {0};
    coio_future *ta = spawn(loop, body_await_target, &a);
    coio_future *tb = spawn(loop, body_await_target, &b);
    a.target = tb;
    b.target = ta;
    run_passes(loop, 2);
    assert_false(coio_future_done(ta));
    assert_int_equal(coio_future_cancel(ta, "stop"), 1);
    run_until(loop, ta);
    run_until(loop, tb);
    assert_true(coio_future_cancelled(ta));
    assert_true(coio_future_cancelled(tb));
    assert_int_equal(a.rc, COIO_ECANCELLED);
    assert_int_equal(b.rc, COIO_ECANCELLED);
    assert_int_equal(coio_task_cancelling(ta), 1); /* one request, counted once */
    coio_future_release(ta);
    coio_future_release(tb);
    tu_finish(loop);
}

/* The same cycle cancelled from the other end, and twice. */
static void test_cancel_mutual_await_cycle_twice(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    awaiter a = {0}, b = {0};
    coio_future *ta = spawn(loop, body_await_target, &a);
    coio_future *tb = spawn(loop, body_await_target, &b);
    a.target = tb;
    b.target = ta;
    run_passes(loop, 2);
    assert_int_equal(coio_future_cancel(tb, NULL), 1);
    assert_int_equal(coio_future_cancel(ta, NULL), 1);
    run_until(loop, ta);
    run_until(loop, tb);
    assert_true(coio_future_cancelled(ta));
    assert_true(coio_future_cancelled(tb));
    coio_future_release(ta);
    coio_future_release(tb);
    tu_finish(loop);
}

/* A awaits gather(B), B awaits A: cancelling A, and cancelling a gather of both. */
static void test_cancel_cycle_through_gather(void **state) {
    (void)state;
    for (int via_outer = 0; via_outer < 2; via_outer++) {
        coio_loop *loop = tu_loop_virtual();
        awaiter a = {0}, b = {0};
        coio_future *ta = spawn(loop, body_await_target, &a);
        coio_future *tb = spawn(loop, body_await_target, &b);
        coio_future *g = NULL, *outer = NULL;
        assert_status(coio_gather(loop, &tb, 1, 0, &g), COIO_OK);
        coio_future *both[2] = {ta, tb};
        assert_status(coio_gather(loop, both, 2, 0, &outer), COIO_OK);
        a.target = g;
        b.target = ta;
        run_passes(loop, 2);
        assert_int_equal(coio_future_cancel(via_outer ? outer : ta, NULL), 1);
        run_until(loop, outer);
        assert_true(coio_future_cancelled(ta));
        assert_true(coio_future_cancelled(tb));
        assert_true(coio_future_cancelled(g));
        assert_true(coio_future_cancelled(outer));
        coio_future_release(outer);
        coio_future_release(g);
        coio_future_release(ta);
        coio_future_release(tb);
        tu_finish(loop);
    }
}

/* A awaits wait_for(B), B awaits A: cancelling A, and the timeout expiring. */
static void test_cancel_cycle_through_wait_for(void **state) {
    (void)state;
    for (int by_timeout = 0; by_timeout < 2; by_timeout++) {
        coio_loop *loop = tu_loop_virtual();
        awaiter a = {0}, b = {0};
        coio_future *ta = spawn(loop, body_await_target, &a);
        coio_future *tb = spawn(loop, body_await_target, &b);
        coio_future *w = NULL;
        assert_status(coio_wait_for(tb, by_timeout ? 1.0 : 100.0, &w), COIO_OK);
        a.target = w;
        b.target = ta;
        run_passes(loop, 2);
        if (!by_timeout) assert_int_equal(coio_future_cancel(ta, NULL), 1);
        run_until(loop, ta);
        run_until(loop, tb);
        run_until(loop, w);
        assert_true(coio_future_cancelled(tb));
        if (by_timeout) {
            /* the timeout cancelled B, whose await of A came back cancelled: A's await of
             * wait_for saw the cancellation come round the cycle */
            assert_true(coio_future_cancelled(ta));
            assert_int_equal(tu_error_code(w), COIO_ETIMEDOUT);
        } else {
            assert_true(coio_future_cancelled(ta));
            assert_true(coio_future_cancelled(w));
        }
        coio_future_release(w);
        coio_future_release(ta);
        coio_future_release(tb);
        tu_finish(loop);
    }
}

/* Children A and B of a task group await each other; a third child fails, so the group
 * cancels its children. */
typedef struct group_parent {
    awaiter a, b;
    double fail_after;
    coio_future *ta, *tb, *tc;
    int exit_rc;
} group_parent;

static int body_group_parent(coio_future *self, void *arg) {
    (void)self;
    group_parent *p = arg;
    coio_task_group *g = NULL;
    if (coio_task_group_new(coio_future_loop(self), &g) != COIO_OK) return COIO_EINVAL;
    coio_task_group_spawn(g, body_await_target, &p->a, NULL, &p->ta);
    coio_task_group_spawn(g, body_await_target, &p->b, NULL, &p->tb);
    coio_task_group_spawn(g, body_fail_later, &p->fail_after, NULL, &p->tc);
    p->a.target = p->tb;
    p->b.target = p->ta;
    coio_future *ex = NULL;
    if (coio_task_group_exit(g, COIO_OK, &ex) != COIO_OK) return COIO_EINVAL;
    p->exit_rc = coio_await(ex, NULL);
    coio_future_release(ex);
    coio_task_group_free(g);
    return p->exit_rc == COIO_EFAILED ? COIO_EFAILED : p->exit_rc;
}

static void test_cancel_cycle_in_task_group(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    group_parent p = {.fail_after = 1.0};
    coio_future *parent = spawn(loop, body_group_parent, &p);
    run_until(loop, parent);
    assert_int_equal(p.exit_rc, COIO_EFAILED);
    assert_true(coio_future_cancelled(p.ta));
    assert_true(coio_future_cancelled(p.tb));
    assert_int_equal(coio_future_result(p.tc, NULL), COIO_EFAILED);
    assert_int_equal(coio_future_result(parent, NULL), COIO_EFAILED);
    coio_future_release(p.ta);
    coio_future_release(p.tb);
    coio_future_release(p.tc);
    coio_future_release(parent);
    tu_finish(loop);
}

/* A task awaiting a gather of itself: cancel it. */
static void test_cancel_task_awaiting_gather_of_itself(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    awaiter a = {0};
    coio_future *ta = spawn(loop, body_await_target, &a);
    coio_future *g = NULL;
    assert_status(coio_gather(loop, &ta, 1, 0, &g), COIO_OK);
    a.target = g;
    run_passes(loop, 2);
    assert_int_equal(coio_future_cancel(ta, NULL), 1);
    run_until(loop, g);
    assert_true(coio_future_cancelled(ta));
    assert_true(coio_future_cancelled(g));
    coio_future_release(g);
    coio_future_release(ta);
    tu_finish(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_mutual_await_cycle_terminates),
        cmocka_unit_test(test_cancel_mutual_await_cycle_twice),
        cmocka_unit_test(test_cancel_cycle_through_gather),
        cmocka_unit_test(test_cancel_cycle_through_wait_for),
        cmocka_unit_test(test_cancel_cycle_in_task_group),
        cmocka_unit_test(test_cancel_task_awaiting_gather_of_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
