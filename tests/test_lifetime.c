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

/* A task that cancels itself with a message, then awaits a gather of itself and another task
 * (asyncio recurses without end here).  The deferred cancel passed the task's own message
 * down to the gather, whose first child (the task) replaced that message while the gather
 * went on to cancel the next child with it. */
static int body_cancel_self_then_await_target(coio_future *self, void *arg) {
    awaiter *a = arg;
    coio_future_cancel(self, "first");
    a->rc = coio_await(a->target, NULL);
    a->done = 1;
    return a->rc;
}

static void test_deferred_cancel_message_through_gather_of_itself(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    awaiter a = {0}, b = {0};
    coio_future *ta = spawn(loop, body_cancel_self_then_await_target, &a);
    coio_future *tb = spawn(loop, body_await_target, &b);
    coio_future *nap = tu_sleep(loop, 10.0);
    b.target = nap;
    coio_future *both[2] = {ta, tb};
    coio_future *g = NULL;
    assert_status(coio_gather(loop, both, 2, 0, &g), COIO_OK);
    a.target = g;
    run_until(loop, g);
    run_until(loop, ta);
    assert_true(coio_future_cancelled(ta));
    assert_true(coio_future_cancelled(tb));
    assert_true(coio_future_cancelled(g));
    int code = 0;
    const char *msg = NULL;
    assert_status(coio_future_error(tb, &code, &msg), COIO_OK);
    assert_string_equal(msg, "first");
    coio_future_release(g);
    coio_future_release(nap);
    coio_future_release(ta);
    coio_future_release(tb);
    tu_finish(loop);
}

/* ---- 2. wait_for: a drop run by the inner's cancellation releases the wait_for ----------- */

/* A drop that releases a future (by design of the test, the last reference of it). */
typedef struct releaser {
    coio_future *f;
    int drops;
} releaser;

static void release_on_drop(void *p) {
    releaser *r = p;
    r->drops++;
    coio_future_release(r->f);
    r->f = NULL;
}

/* A blocked queue put's item drop releases the wait_for that times out (or is cancelled)
 * around it: cancelling the put runs that drop inside the wait_for's own code. */
static void test_wait_for_inner_cancel_drop_releases_wait_for(void **state) {
    (void)state;
    for (int by_cancel = 0; by_cancel < 2; by_cancel++) {
        coio_loop *loop = tu_loop_virtual();
        coio_queue *q = NULL;
        assert_status(coio_queue_new(loop, COIO_QUEUE_FIFO, 1, &q), COIO_OK);
        assert_status(coio_queue_put_nowait(q, NULL, NULL), COIO_OK); /* full */
        releaser r = {0};
        coio_future *put = NULL, *w = NULL;
        assert_status(coio_queue_put(q, &r, release_on_drop, &put), COIO_OK);
        assert_status(coio_wait_for(put, 1.0, &w), COIO_OK);
        r.f = w; /* the only reference to w: the item's drop releases it */
        if (by_cancel)
            assert_int_equal(coio_future_cancel(w, NULL), 1);
        else
            run_until(loop, put); /* the timeout cancels it */
        assert_int_equal(r.drops, 1);
        assert_null(r.f);
        assert_true(coio_future_cancelled(put));
        coio_future_release(put);
        coio_queue_free(q);
        tu_finish(loop);
    }
}

/* ---- 3. a waiter dying while a drop calls back into its primitive ------------------------- */

typedef struct reenter {
    coio_loop *loop;
    coio_queue *q;
    coio_barrier *b;
    coio_future *extra; /* a barrier wait made by the drop */
    int drops, item_drops;
    int rc;
} reenter;

static void noop_done(coio_future *f, void *arg) {
    (void)f, (void)arg;
}

static void drop_puts_item(void *p) {
    reenter *r = p;
    r->drops++;
    r->rc = coio_queue_put_nowait(r->q, &r->item_drops, tu_count_drop);
}

/* The last reference of a pending get goes; the drop of its done callback puts an item: the
 * dying get must not receive it (the item stays in the queue and is dropped once). */
static void test_dying_queue_get_not_served_by_drop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    reenter r = {0};
    assert_status(coio_queue_new(loop, COIO_QUEUE_FIFO, 0, &r.q), COIO_OK);
    coio_future *get = NULL;
    assert_status(coio_queue_get(r.q, &get), COIO_OK);
    assert_status(coio_future_add_done_callback(get, noop_done, &r, drop_puts_item), COIO_OK);
    coio_future_release(get);
    assert_int_equal(r.drops, 1);
    assert_int_equal(r.rc, COIO_OK);
    assert_int_equal(coio_queue_size(r.q), 1);
    run_passes(loop, 2);
    assert_int_equal(r.item_drops, 0);
    coio_queue_free(r.q); /* drops the item */
    tu_finish(loop);
    assert_int_equal(r.item_drops, 1);
}

static void drop_barrier_wait(void *p) {
    reenter *r = p;
    r->drops++;
    r->rc = coio_barrier_wait(r->b, &r->extra);
}

/* The same with a barrier of two: the drop's wait must not trip the barrier with the dying
 * wait as the other party. */
static void test_dying_barrier_wait_not_tripped_by_drop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    reenter r = {0};
    assert_status(coio_barrier_new(loop, 2, &r.b), COIO_OK);
    coio_future *wait = NULL;
    assert_status(coio_barrier_wait(r.b, &wait), COIO_OK);
    assert_status(coio_future_add_done_callback(wait, noop_done, &r, drop_barrier_wait), COIO_OK);
    coio_future_release(wait);
    assert_int_equal(r.drops, 1);
    assert_int_equal(r.rc, COIO_OK);
    run_passes(loop, 3);
    assert_false(coio_future_done(r.extra)); /* alone in the barrier */
    assert_int_equal(coio_barrier_n_waiting(r.b), 1);
    coio_future_release(r.extra);
    coio_barrier_free(r.b);
    tu_finish(loop);
}

static void drop_closes_loop(void *p) {
    reenter *r = p;
    r->drops++;
    r->rc = coio_loop_close(r->loop);
}

/* The drop closes the loop while the get dies: what closing discards must not reach it. */
static void test_dying_queue_get_drop_closes_loop(void **state) {
    (void)state;
    reenter r = {0};
    r.loop = tu_loop_virtual();
    assert_status(coio_queue_new(r.loop, COIO_QUEUE_FIFO, 0, &r.q), COIO_OK);
    coio_future *get = NULL;
    assert_status(coio_queue_get(r.q, &get), COIO_OK);
    assert_status(coio_future_add_done_callback(get, noop_done, &r, drop_closes_loop), COIO_OK);
    coio_future_release(get);
    assert_int_equal(r.drops, 1);
    assert_int_equal(r.rc, COIO_OK);
    coio_queue_free(r.q);
    assert_status(coio_loop_release(r.loop), COIO_OK);
}

/* ---- 4. work queued for later owns what it touches --------------------------------------- */

/* A barrier of two trips: the first wait's resume is queued for the next pass.  The caller
 * releases both waits before that turn; then the pass runs (or the loop closes first). */
static void test_barrier_resume_outlives_released_wait(void **state) {
    (void)state;
    for (int close_first = 0; close_first < 2; close_first++) {
        coio_loop *loop = tu_loop_virtual();
        coio_barrier *b = NULL;
        assert_status(coio_barrier_new(loop, 2, &b), COIO_OK);
        coio_future *w1 = NULL, *w2 = NULL;
        int drops = 0, first_drops = 0;
        assert_status(coio_barrier_wait(b, &w1), COIO_OK);
        assert_status(coio_future_add_done_callback(w1, noop_done, &first_drops, tu_count_drop),
                      COIO_OK);
        coio_future_release(w1); /* pending, unreferenced: leaves the barrier */
        assert_int_equal(first_drops, 1);
        assert_int_equal(coio_barrier_n_waiting(b), 0);
        assert_status(coio_barrier_wait(b, &w1), COIO_OK);
        assert_status(coio_future_add_done_callback(w1, noop_done, &drops, tu_count_drop), COIO_OK);
        assert_status(coio_barrier_wait(b, &w2), COIO_OK); /* trips */
        coio_future_release(w1);
        coio_future_release(w2);
        if (close_first) {
            assert_status(coio_loop_close(loop), COIO_OK);
        } else {
            run_passes(loop, 3);
        }
        assert_int_equal(drops, 1);
        coio_barrier_free(b);
        tu_finish(loop);
        assert_int_equal(drops, 1);
    }
}

/* A waiting get is served: its done callbacks are queued; the caller releases it first. */
static void test_queue_get_callbacks_outlive_released_get(void **state) {
    (void)state;
    for (int close_first = 0; close_first < 2; close_first++) {
        coio_loop *loop = tu_loop_virtual();
        coio_queue *q = NULL;
        assert_status(coio_queue_new(loop, COIO_QUEUE_FIFO, 0, &q), COIO_OK);
        coio_future *get = NULL;
        int drops = 0, item = 0;
        assert_status(coio_queue_get(q, &get), COIO_OK);
        assert_status(coio_future_add_done_callback(get, noop_done, &drops, tu_count_drop),
                      COIO_OK);
        assert_status(coio_queue_put_nowait(q, &item, tu_count_drop), COIO_OK);
        coio_future_release(get);
        if (close_first)
            assert_status(coio_loop_close(loop), COIO_OK);
        else
            run_passes(loop, 2);
        assert_int_equal(drops, 1);
        assert_int_equal(item, 1);
        coio_queue_free(q);
        tu_finish(loop);
    }
}

/* ---- 5. a due done callback runs before its drop ----------------------------------------- */

typedef struct order {
    int calls, drops;
    int drop_before_call;
} order;

static void order_call(coio_future *f, void *p) {
    (void)f;
    order *o = p;
    if (o->drops) o->drop_before_call = 1;
    o->calls++;
}

static void order_drop(void *p) {
    ((order *)p)->drops++;
}

/* A chain of wait_for futures over a future that completes; every reference is released
 * while the completion travels up the chain. */
static void test_due_callback_runs_before_its_drop_through_wait_for_chain(void **state) {
    (void)state;
    for (int close_at = 0; close_at < 4; close_at++) {
        coio_loop *loop = tu_loop_virtual();
        coio_future *f = NULL, *w[3];
        assert_status(coio_future_new(loop, &f), COIO_OK);
        order o[4] = {{0}};
        coio_future *prev = f;
        for (int i = 0; i < 3; i++) {
            assert_status(coio_wait_for(prev, 10.0, &w[i]), COIO_OK);
            assert_status(coio_future_add_done_callback(w[i], order_call, &o[i], order_drop),
                          COIO_OK);
            prev = w[i];
        }
        assert_status(coio_future_add_done_callback(f, order_call, &o[3], order_drop), COIO_OK);
        assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
        coio_future_release(f);
        for (int i = 0; i < 3; i++)
            coio_future_release(w[i]);
        if (close_at) run_passes(loop, close_at);
        assert_status(coio_loop_close(loop), COIO_OK);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(o[i].drops, 1);
            assert_false(o[i].drop_before_call);
        }
        assert_status(coio_loop_release(loop), COIO_OK);
    }
}

/* ---- 6. an eager child releases its task group inside the spawn --------------------------- */

typedef struct eager_group {
    coio_task_group *g;
    coio_future *child;
    int rc;
    int child_ran;
} eager_group;

static int body_free_group(coio_future *self, void *arg) {
    (void)self;
    eager_group *e = arg;
    e->child_ran = 1;
    coio_task_group_free(e->g);
    return COIO_OK;
}

static int body_spawn_eager(coio_future *self, void *arg) {
    eager_group *e = arg;
    if (coio_task_group_new(coio_future_loop(self), &e->g) != COIO_OK) return COIO_EINVAL;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER;
    e->rc = coio_task_group_spawn(e->g, body_free_group, e, &o, &e->child);
    return COIO_OK;
}

static void test_eager_child_frees_its_group_inside_spawn(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    eager_group e = {0};
    coio_future *parent = spawn(loop, body_spawn_eager, &e);
    run_until(loop, parent);
    assert_int_equal(e.rc, COIO_OK);
    assert_true(e.child_ran);
    assert_int_equal(coio_future_result(e.child, NULL), COIO_OK);
    coio_future_release(e.child);
    coio_future_release(parent);
    tu_finish(loop);
}

/* The eager child frees the group and then waits (for a future nobody completes): the
 * group, freed before the child was registered, took the child into its array after the
 * free, and the cycle (group -> child -> done-callback registration -> group) kept the group
 * and its loop alive past the close and release of the loop (found by the fuzzer). */
static coio_future *g_never; /* owned by the test: a body abandoned at close leaks its own */

static int body_free_group_then_wait(coio_future *self, void *arg) {
    (void)self;
    eager_group *e = arg;
    e->child_ran = 1;
    coio_task_group_free(e->g);
    return coio_await(g_never, NULL);
}

static int body_spawn_eager_waiting(coio_future *self, void *arg) {
    eager_group *e = arg;
    if (coio_task_group_new(coio_future_loop(self), &e->g) != COIO_OK) return COIO_EINVAL;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER;
    e->rc = coio_task_group_spawn(e->g, body_free_group_then_wait, e, &o, &e->child);
    return COIO_OK;
}

static void ignore_exception(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop, (void)ctx, (void)arg;
}

/* *drops counts the runs of the drop of loop's exception handler: 1 once the loop is freed. */
static void note_loop_freed(coio_loop *loop, int *drops) {
    assert_status(coio_loop_set_exception_handler(loop, ignore_exception, drops, tu_count_drop),
                  COIO_OK);
}

static void test_eager_child_frees_its_group_then_waits_loop_freed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int handler_drops = 0;
    note_loop_freed(loop, &handler_drops);
    assert_status(coio_future_new(loop, &g_never), COIO_OK);
    eager_group e = {0};
    coio_future *parent = spawn(loop, body_spawn_eager_waiting, &e);
    run_until(loop, parent);
    assert_int_equal(e.rc, COIO_OK);
    assert_true(e.child_ran);
    assert_false(coio_future_done(e.child));
    coio_future_release(e.child);
    coio_future_release(parent);
    coio_future_release(g_never);
    tu_finish(loop);
    assert_int_equal(handler_drops, 1); /* the loop was freed */
}

/* A coroutine makes a task group and spawns an eager child into it that returns at once; the
 * child's drop exits the group (the exit started from inside the spawn, before the group took
 * the child in), and the coroutine then spawns into the group again (found by the fuzzer).
 * After close and release the loop must be freed. */
typedef struct exit_in_drop {
    coio_task_group *g;
    coio_future *exit, *child2;
    int status, exit_rc, respawn_rc;
} exit_in_drop;

static void drop_exits_group(void *arg) {
    exit_in_drop *x = arg;
    x->exit_rc = coio_task_group_exit(x->g, x->status, &x->exit);
}

static int body_returns_ok(coio_future *self, void *arg) {
    (void)self, (void)arg;
    return COIO_OK;
}

static int body_returns_7(coio_future *self, void *arg) {
    (void)self, (void)arg;
    return 7; /* fails with an application's own code */
}

static int body_group_exit_from_child_drop(coio_future *self, void *arg) {
    exit_in_drop *x = arg;
    if (coio_task_group_new(coio_future_loop(self), &x->g) != COIO_OK) return COIO_EINVAL;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER;
    o.drop = drop_exits_group;
    coio_future *c = NULL;
    if (coio_task_group_spawn(x->g, body_returns_7, x, &o, &c) == COIO_OK) coio_future_release(c);
    x->respawn_rc = coio_task_group_spawn(x->g, body_returns_ok, NULL, NULL, &x->child2);
    return COIO_OK;
}

static void test_group_exit_from_eager_child_drop_frees_loop(void **state) {
    (void)state;
    static const int statuses[] = {COIO_OK, COIO_ECANCELLED, COIO_EFAILED, 1};
    for (int k = 0; k < 4; k++) {
        coio_loop *loop = tu_loop_virtual();
        int handler_drops = 0;
        note_loop_freed(loop, &handler_drops);
        exit_in_drop x = {0};
        x.status = statuses[k];
        coio_future *t = spawn(loop, body_group_exit_from_child_drop, &x);
        tu_run_one_pass(loop); /* t's body runs (and returns) */
        assert_true(coio_future_done(t));
        if (x.status == 1) { /* not a status a body ends with */
            assert_int_equal(x.exit_rc, COIO_EINVAL);
        } else {
            /* The exit waits for the child whose drop started it (its done callback has not
             * run yet), as asyncio's __aexit__ waits for every task in _tasks. */
            assert_int_equal(x.exit_rc, COIO_OK);
            assert_false(coio_future_done(x.exit));
        }
        /* A body that failed or was cancelled aborted the group: no more spawns. */
        assert_int_equal(x.respawn_rc,
                         x.status == COIO_OK || x.status == 1 ? COIO_OK : COIO_ESTATE);
        if (x.exit) coio_future_release(x.exit);
        if (x.child2) coio_future_release(x.child2);
        coio_task_group_free(x.g);
        coio_future_release(t);
        assert_status(coio_loop_release(loop), COIO_OK); /* closes it */
        assert_int_equal(handler_drops, 1);              /* the loop was freed */
    }
}

/* Spawning into a group first lets go of its done children (once they are most of it), and
 * letting one go runs user code: here a child's result drop closes the loop (it is not
 * running).  The spawn must then fail with COIO_ECLOSED: a child made on the closed loop would
 * never run nor end, its registration would keep the group and the group the loop (found by
 * the fuzzer). */
enum { SWEEP_CHILDREN = 40 };

typedef struct sweep_close {
    coio_loop *loop;
    coio_task_group *g;
    coio_future *never;
    int spawned, closes;
} sweep_close;

static void drop_result_closes_loop(void *arg) {
    sweep_close *s = arg;
    if (s->closes++ == 0) assert_status(coio_loop_close(s->loop), COIO_OK);
}

static int step_result_closes_loop(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited, (void)status;
    return coio_future_set_result(task, arg, drop_result_closes_loop) == COIO_OK ? COIO_OK
                                                                                 : COIO_EINVAL;
}

static int step_parent_of_many(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)status;
    sweep_close *s = arg;
    if (awaited) return COIO_OK;
    if (coio_task_group_new(coio_future_loop(task), &s->g) != COIO_OK) return COIO_EINVAL;
    for (int i = 0; i < SWEEP_CHILDREN; i++)
        if (coio_task_group_task_new(s->g, step_result_closes_loop, s, NULL, NULL, NULL) == COIO_OK)
            s->spawned++;
    if (coio_step_await(task, s->never) != COIO_OK) return COIO_EINVAL;
    return COIO_STEP_AWAIT;
}

static void test_group_spawn_after_sweep_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int handler_drops = 0;
    note_loop_freed(loop, &handler_drops);
    sweep_close s = {.loop = loop};
    assert_status(coio_future_new(loop, &s.never), COIO_OK);
    coio_future *parent = NULL;
    assert_status(coio_task_new(loop, step_parent_of_many, &s, NULL, NULL, &parent), COIO_OK);
    run_passes(loop, 4); /* the children ran and were reported done to the group */
    assert_int_equal(s.spawned, SWEEP_CHILDREN);
    assert_int_equal(s.closes, 0);
    coio_future *late = NULL;
    assert_int_equal(coio_task_group_task_new(s.g, step_result_closes_loop, &s, NULL, NULL, &late),
                     COIO_ECLOSED);
    assert_null(late);
    assert_int_equal(s.closes, SWEEP_CHILDREN); /* the sweep let every done child go */
    coio_task_group_free(s.g);
    coio_future_release(parent);
    coio_future_release(s.never);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(handler_drops, 1); /* the loop was freed */
}

/* A next-future of as_completed whose result the user set (not an input the iterator
 * handed) is refused by its task, cancelled before it saw it: the iterator took that value
 * for an input future and queued it back (found by the fuzzer: a reference count written
 * into a user's value, then an input released once too often). */
static void test_as_completed_refused_next_with_user_result(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    coio_as_completed_iter *it = NULL;
    assert_status(coio_as_completed(loop, &f, 1, -1, &it), COIO_OK);
    coio_future *next = NULL;
    assert_status(coio_as_completed_next(it, &next), COIO_OK);
    awaiter a = {0};
    a.target = next;
    coio_future *t = spawn(loop, body_await_target, &a);
    run_passes(loop, 2);
    char *user_value = malloc(8); /* too small to be a future: ASan sees any use as one */
    assert_non_null(user_value);
    assert_status(coio_future_set_result(next, user_value, free), COIO_OK);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    run_until(loop, t);
    assert_true(coio_future_cancelled(t));
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    run_passes(loop, 2);
    coio_as_completed_free(it);
    coio_future_release(t);
    coio_future_release(next);
    coio_future_release(f);
    tu_finish(loop);
}

/* The exception handler awaits: it runs inside the body's release of a failed future nobody
 * retrieved (the report of its error), on the body's stack.  That await used to suspend the
 * body in the middle of the future's destruction; abandoned at close, the half-destroyed
 * future kept its loop alive (found by the fuzzer).  It is refused now. */
typedef struct report_await {
    coio_future *pending; /* what the handler tries to await */
    int handler_rc;
    int reports;
    int body_done;
} report_await;

static void handler_awaits(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop, (void)ctx;
    report_await *r = arg;
    r->reports++;
    r->handler_rc = coio_await(r->pending, NULL);
}

static int body_releases_failed_future(coio_future *self, void *arg) {
    report_await *r = arg;
    coio_future *f = NULL;
    if (coio_future_new(coio_future_loop(self), &f) != COIO_OK) return COIO_EINVAL;
    coio_future_set_error(f, 7, "never retrieved");
    coio_future_release(f); /* the report runs the handler here */
    r->body_done = 1;
    return COIO_OK;
}

static void test_exception_handler_cannot_suspend_the_body(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    report_await r = {0};
    assert_status(coio_future_new(loop, &r.pending), COIO_OK);
    assert_status(coio_loop_set_exception_handler(loop, handler_awaits, &r, NULL), COIO_OK);
    tu_completer c = {r.pending, NULL, 0, NULL, NULL, NULL};
    coio_handle *h = NULL;
    assert_status(coio_call_later(loop, 1.0, tu_complete_result, &c, NULL, &h), COIO_OK);
    coio_future *t = spawn(loop, body_releases_failed_future, &r);
    run_until(loop, t);
    assert_int_equal(r.reports, 1);
    assert_int_equal(r.handler_rc, COIO_ENOTSUP);
    assert_true(r.body_done);
    coio_handle_release(h);
    coio_future_release(t);
    coio_future_release(r.pending);
    tu_finish(loop);
}

/* The exception handler, called by the user, closes and releases the loop's last
 * reference: the report must not touch the loop after the handler returned (the NoSuspend
 * marker above did, at first: found by the fuzzer). */
static void handler_releases_loop(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)ctx;
    ++*(int *)arg;
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_exception_handler_releases_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int calls = 0;
    assert_status(coio_loop_set_exception_handler(loop, handler_releases_loop, &calls, NULL),
                  COIO_OK);
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = "report";
    assert_status(coio_loop_call_exception_handler(loop, &ctx), COIO_OK);
    assert_int_equal(calls, 1); /* and the loop is gone: ASan and valgrind see any use */
}

/* ---- 7. a stackful await whose future loses its last other reference ---------------------- */

typedef struct borrowed {
    coio_future *f; /* borrowed by the body: the test (or a callback) owns it */
    int rc;
    void *value;
} borrowed;

static int body_await_borrowed(coio_future *self, void *arg) {
    (void)self;
    borrowed *b = arg;
    b->rc = coio_await(b->f, &b->value);
    return COIO_OK;
}

static void release_in_callback(coio_future *f, void *arg) {
    (void)arg;
    coio_future_release(f);
}

static void test_await_survives_release_in_done_callback(void **state) {
    (void)state;
    for (int how = 0; how < 3; how++) {
        coio_loop *loop = tu_loop_virtual();
        borrowed b = {0};
        releaser r = {0};
        assert_status(coio_future_new(loop, &b.f), COIO_OK);
        coio_future *t = spawn(loop, body_await_borrowed, &b);
        if (how == 0) /* a done callback registered before the await releases the owner's */
            assert_status(coio_future_add_done_callback(b.f, release_in_callback, NULL, NULL),
                          COIO_OK);
        run_passes(loop, 1); /* the body awaits */
        if (how == 1) {      /* ... registered after it */
            assert_status(coio_future_add_done_callback(b.f, release_in_callback, NULL, NULL),
                          COIO_OK);
        } else if (how == 2) { /* the drop of a removed callback releases it */
            r.f = b.f;
            assert_status(coio_future_add_done_callback(b.f, noop_done, &r, release_on_drop),
                          COIO_OK);
        }
        if (how == 2) {
            assert_int_equal(coio_future_remove_done_callback(b.f, noop_done, &r), 1);
            assert_null(r.f);
            assert_status(coio_future_cancel(t, NULL), 1);
        } else {
            assert_status(coio_future_set_result(b.f, &b, NULL), COIO_OK);
        }
        run_until(loop, t);
        assert_int_equal(b.rc, how == 2 ? COIO_ECANCELLED : COIO_OK);
        coio_future_release(t);
        tu_finish(loop);
    }
}

/* ---- 8. nothing of a closed and released loop stays allocated ----------------------------- */

typedef struct payload_task {
    coio_future *inner;
    int payload_drops;
} payload_task;

static int body_fail_with_payload(coio_future *self, void *arg) {
    payload_task *p = arg;
    coio_future *w = NULL;
    coio_future_set_error_payload(p->inner, 7, "payload", &p->payload_drops, tu_count_drop);
    if (coio_wait_for(p->inner, 5.0, &w) != COIO_OK) return COIO_EINVAL;
    int rc = coio_await(w, NULL);
    coio_future_release(w);
    (void)self;
    return rc;
}

/* A task awaits a wait_for of a future with an error payload; it fails with that error.
 * Closing and releasing the loop frees everything and drops the payload once (valgrind and
 * ASan's leak check would report a cycle that keeps the loop). */
static void test_payload_through_wait_for_freed_at_release(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    payload_task p = {0};
    assert_status(coio_future_new(loop, &p.inner), COIO_OK);
    coio_future *w = NULL, *t = NULL;
    assert_status(coio_spawn(loop, body_fail_with_payload, &p, NULL, &t), COIO_OK);
    assert_status(coio_wait_for(t, 5.0, &w), COIO_OK);
    run_until(loop, w);
    assert_int_equal(tu_error_code(w), 7);
    coio_future_release(p.inner);
    coio_future_release(w);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(p.payload_drops, 1);
}

/* A future with an error payload gathered and waited with a sibling whose last reference went
 * while it was pending: after close and release the payload has been dropped. */
static void test_payload_through_gather_with_released_sibling(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        coio_loop *loop = tu_loop_virtual();
        int payload_drops = 0;
        coio_future *fs[2], *g = NULL;
        assert_status(coio_future_new(loop, &fs[0]), COIO_OK);
        assert_status(coio_future_new(loop, &fs[1]), COIO_OK);
        if (kind == 0)
            assert_status(coio_gather(loop, fs, 2, COIO_RETURN_EXCEPTIONS, &g), COIO_OK);
        else
            assert_status(coio_wait(loop, fs, 2, COIO_NO_TIMEOUT, COIO_ALL_COMPLETED, &g), COIO_OK);
        coio_future_release(fs[1]); /* pending, only the combinator holds it */
        assert_status(coio_future_set_error_payload(fs[0], 9, "p", &payload_drops, tu_count_drop),
                      COIO_OK);
        run_passes(loop, 2);
        coio_future_release(fs[0]);
        coio_future_release(g);
        tu_finish(loop);
        assert_int_equal(payload_drops, 1);
    }
}

/* A task awaits a wait_for of itself (through a slot filled after the spawn), and the caller
 * completes that wait_for by hand with an error payload: the task fails with the wait_for as
 * its error's cause while the wait_for still holds the task.  After close and release nothing
 * may stay allocated and the payload has been dropped once. */
static void test_task_failing_through_own_wait_for_freed_at_release(void **state) {
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        coio_loop *loop = tu_loop_virtual();
        awaiter a = {0};
        int payload_drops = 0;
        coio_future *t = spawn(loop, body_await_target, &a);
        coio_future *c = NULL;
        if (kind == 0)
            assert_status(coio_wait_for(t, 5.0, &c), COIO_OK);
        else if (kind == 1)
            assert_status(coio_gather(loop, &t, 1, 0, &c), COIO_OK);
        else if (kind == 2)
            assert_status(coio_shield(t, &c), COIO_OK);
        else
            assert_status(coio_wait(loop, &t, 1, -1, COIO_ALL_COMPLETED, &c), COIO_OK);
        a.target = c;
        run_passes(loop, 2); /* t awaits c */
        assert_status(coio_future_set_error_payload(c, 3, "by hand", &payload_drops, tu_count_drop),
                      COIO_OK);
        run_until(loop, t);
        assert_int_equal(tu_error_code(t), 3);
        run_passes(loop, 2); /* c's registration on t has run */
        coio_future_release(c);
        coio_future_release(t);
        int handler_drops = 0;
        note_loop_freed(loop, &handler_drops);
        tu_finish(loop);
        assert_int_equal(payload_drops, 1);
        assert_int_equal(handler_drops, 1); /* the loop was freed */
    }
}

/* A task creates wait_for(itself, 0) in its own body (which cancels it), completes that
 * wait_for by hand with an error and fails with it as its error's cause; the loop closes
 * before the wait_for's done callback on the task runs (found by the fuzzer).  The queued
 * callback is discarded, so only the hand completion can make the wait_for let go of the
 * task: otherwise the pair keeps each other, and their loop, alive after its release. */
static int body_fail_through_own_zero_wait_for(coio_future *self, void *arg) {
    awaiter *a = arg;
    if (coio_wait_for(self, 0, &a->target) != COIO_OK) return COIO_EINVAL;
    if (coio_future_set_error(a->target, 3, "by hand") != COIO_OK) return COIO_EINVAL;
    a->rc = coio_await(a->target, NULL); /* done: no suspension, the cancel stays pending */
    a->done = 1;
    return a->rc;
}

static void test_own_zero_wait_for_completed_by_hand_freed_at_close(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int handler_drops = 0;
    note_loop_freed(loop, &handler_drops);
    awaiter a = {0};
    coio_future *t = spawn(loop, body_fail_through_own_zero_wait_for, &a);
    while (!coio_future_done(t)) /* ends with the pass t completed in: its callbacks queued */
        tu_run_one_pass(loop);
    assert_true(a.done);
    assert_int_equal(a.rc, COIO_EFAILED);
    assert_int_equal(tu_error_code(t), 3);
    coio_future_release(a.target);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(handler_drops, 1); /* the loop was freed */
}

/* A task awaits a gather of (a future that fails with a payload, a future whose last caller
 * reference went while pending, the task itself): the gather fails, the task fails with it,
 * and the pending sibling keeps the gather from ever letting go of its children.  After
 * close and release the payload has been dropped and nothing stays allocated. */
static void test_payload_through_gather_of_awaiting_task_with_pending_sibling(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        coio_loop *loop = tu_loop_virtual();
        awaiter a = {0};
        int payload_drops = 0;
        coio_future *fs[3], *g = NULL;
        assert_status(coio_future_new(loop, &fs[0]), COIO_OK);
        assert_status(coio_future_new(loop, &fs[1]), COIO_OK);
        fs[2] = spawn(loop, body_await_target, &a);
        assert_status(coio_gather(loop, fs, 3, 0, &g), COIO_OK);
        if (kind == 0) {
            a.target = g;
        } else { /* through a wait_for of the gather */
            assert_status(coio_wait_for(g, 50.0, &a.target), COIO_OK);
        }
        coio_future_release(fs[1]); /* pending for ever; only the gather holds it */
        run_passes(loop, 2);        /* the task awaits */
        assert_status(coio_future_set_error_payload(fs[0], 9, "p", &payload_drops, tu_count_drop),
                      COIO_OK);
        run_until(loop, fs[2]);
        assert_int_equal(tu_error_code(fs[2]), 9);
        void *payload = NULL;
        assert_status(coio_future_error_payload(fs[2], &payload), COIO_OK);
        assert_ptr_equal(payload, &payload_drops);
        if (kind == 1) coio_future_release(a.target);
        coio_future_release(fs[0]);
        coio_future_release(fs[2]);
        coio_future_release(g);
        tu_finish(loop);
        assert_int_equal(payload_drops, 1);
    }
}

/* ---- a task group exit pending when the loop closes --------------------------------------- */

/* A parent (stackful or step) makes a task group, spawns a child (stackful or step) that
 * waits on a future that never completes (ignoring the group's abort), exits the group and awaits
 * the exit (or the never future); the loop is closed with all of them pending.  After close and
 * release every body's drop has run once and the loop is freed (its exception handler's drop runs;
 * valgrind sees nothing left).  The parent keeps its references (the group, the exit future) in its
 * arg, where the test releases them, never on its stack: a body abandoned at close loses what its
 * stack holds (coio_spawn(3), CLOSING THE LOOP), which is what the fuzz inputs
 * taskgroup-exit-leak and taskgroup-exit-leak-step showed (the harness's own reference on the
 * exit future across the await). */
typedef struct pending_exit {
    int co_parent, co_child, await_exit, exit_status, steps;
    coio_future *never, *child, *exit;
    coio_task_group *g;
    int child_drops, parent_drops, handler_drops;
} pending_exit;

/* The child waits for ever: the group's abort (any exit status but COIO_OK) is ignored. */
static int body_wait_never(coio_future *self, void *arg) {
    pending_exit *p = arg;
    int rc;
    while ((rc = coio_await(p->never, NULL)) == COIO_ECANCELLED)
        coio_task_uncancel(self);
    return rc;
}

static int step_wait_never(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    pending_exit *p = arg;
    if (status == COIO_ECANCELLED) coio_task_uncancel(task);
    int rc = coio_step_await(task, p->never);
    return rc == COIO_OK ? COIO_STEP_AWAIT : rc;
}

static void pending_exit_child_drop(void *arg) {
    ((pending_exit *)arg)->child_drops++;
}

static void pending_exit_parent_drop(void *arg) {
    ((pending_exit *)arg)->parent_drops++;
}

static void pending_exit_handler(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    (void)ctx;
    (void)arg;
}

static void pending_exit_handler_drop(void *arg) {
    ((pending_exit *)arg)->handler_drops++;
}

/* Makes the group, spawns the child, exits the group; returns what the parent awaits. */
static coio_future *pending_exit_enter(coio_future *self, pending_exit *p) {
    assert_status(coio_task_group_new(coio_future_loop(self), &p->g), COIO_OK);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER; /* waiting already: an abort cannot end it before it started */
    if (p->co_child) {
        o.drop = pending_exit_child_drop;
        assert_status(coio_task_group_spawn(p->g, body_wait_never, p, &o, &p->child), COIO_OK);
    } else {
        assert_status(coio_task_group_task_new(p->g, step_wait_never, p, pending_exit_child_drop,
                                               &o, &p->child),
                      COIO_OK);
    }
    assert_status(coio_task_group_exit(p->g, p->exit_status, &p->exit), COIO_OK);
    assert_int_equal(coio_future_done(p->exit), 0);
    return p->await_exit ? p->exit : p->never;
}

static int body_exit_group(coio_future *self, void *arg) {
    pending_exit *p = arg;
    coio_future *f = pending_exit_enter(self, p);
    int rc;
    while ((rc = coio_await(f, NULL)) == COIO_ECANCELLED)
        coio_task_uncancel(self);
    return rc;
}

static int step_exit_group(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    pending_exit *p = arg;
    (void)status;
    /* Stays pending: a later step (whatever woke it) waits for the same future again. */
    coio_future *f = p->steps++ == 0 ? pending_exit_enter(task, p)
                     : p->await_exit ? p->exit
                                     : p->never;
    if (coio_future_done(f)) f = p->never;
    assert_status(coio_step_await(task, f), COIO_OK);
    return COIO_STEP_AWAIT;
}

static void test_task_group_exit_pending_at_close_frees_loop(void **state) {
    (void)state;
    for (int k = 0; k < 8; k++) {
        pending_exit p = {0};
        p.co_parent = k & 1;
        p.co_child = (k >> 1) & 1;
        p.await_exit = (k >> 2) & 1;
        p.exit_status = COIO_OK;
        coio_loop *loop = tu_loop_virtual();
        assert_status(coio_loop_set_exception_handler(loop, pending_exit_handler, &p,
                                                      pending_exit_handler_drop),
                      COIO_OK);
        assert_status(coio_future_new(loop, &p.never), COIO_OK);
        coio_future *parent = NULL;
        if (p.co_parent) {
            coio_task_options o = COIO_TASK_OPTIONS_INIT;
            o.drop = pending_exit_parent_drop;
            assert_status(coio_spawn(loop, body_exit_group, &p, &o, &parent), COIO_OK);
        } else {
            assert_status(
                coio_task_new(loop, step_exit_group, &p, pending_exit_parent_drop, NULL, &parent),
                COIO_OK);
        }
        run_passes(loop, 3);
        assert_non_null(p.exit);
        assert_int_equal(coio_future_done(parent), 0);
        assert_int_equal(coio_future_done(p.child), 0);
        assert_int_equal(coio_future_done(p.exit), 0);
        assert_status(coio_loop_close(loop), COIO_OK);
        assert_int_equal(p.parent_drops, 1);
        assert_int_equal(p.child_drops, 1);
        coio_future_release(parent);
        coio_future_release(p.child);
        coio_future_release(p.exit);
        coio_future_release(p.never);
        coio_task_group_free(p.g);
        assert_int_equal(p.handler_drops, 0);
        coio_loop_release(loop);
        assert_int_equal(p.handler_drops, 1); /* the loop was freed */
        assert_int_equal(p.parent_drops, 1);
        assert_int_equal(p.child_drops, 1);
    }
}

/* ---- 9. an as_completed iterator freed by user code inside its own dispatch --------------- */

typedef struct iter_freer {
    coio_as_completed_iter *it;
    int reports;
} iter_freer;

static void free_iter_on_report(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    (void)ctx;
    iter_freer *r = arg;
    r->reports++;
    coio_as_completed_free(r->it);
    r->it = NULL;
}

/* The iterator hands a completion to (or skips) a next-future whose last reference is the
 * iterator's own: releasing it reports an error nobody retrieved (the next-future's timeout,
 * or the error the user set on it by hand), and the handler frees the iterator, whose last
 * reference was that next-future's.  The iterator's dispatch (run by the timeout timer, or
 * by the input's done callback) went on with the freed iterator. */
static void test_as_completed_freed_by_report_inside_dispatch(void **state) {
    (void)state;
    for (int skipped = 0; skipped < 2; skipped++) {
        coio_loop *loop = tu_loop_virtual();
        iter_freer r = {0};
        assert_status(coio_loop_set_exception_handler(loop, free_iter_on_report, &r, NULL),
                      COIO_OK);
        coio_future *f = NULL, *next = NULL;
        assert_status(coio_future_new(loop, &f), COIO_OK);
        assert_status(coio_as_completed(loop, &f, 1, skipped ? -1.0 : 1.0, &r.it), COIO_OK);
        assert_status(coio_as_completed_next(r.it, &next), COIO_OK);
        if (skipped) /* done already when f's completion comes: skipped */
            assert_status(coio_future_set_error(next, 7, "set by hand"), COIO_OK);
        coio_future_release(next); /* the iterator's is the last reference */
        if (skipped) assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
        coio_future *nap = tu_sleep(loop, 2.0); /* past the timeout (virtual time) */
        run_until(loop, nap);
        coio_future_release(nap);
        assert_int_equal(r.reports, 1);
        assert_null(r.it);
        coio_future_release(f);
        tu_finish(loop);
    }
}

/* ---- 10. a waiter held only by its wait_for when its primitive completes it ---------------- */

/* A wait_for watches its inner future inline and lets it go when it completes: completing a
 * waiter whose other references are gone frees it inside the completion. */

enum { PRIM_EVENT, PRIM_LOCK, PRIM_SEMAPHORE, PRIM_COUNT };

/* A pending wait of an event, lock or semaphore, behind a wait_for holding its only reference:
 * freeing the primitive cancels it (the wait_for with it), and the waiter behind it too (the
 * fuzz inputs sync-free-cancels-wait-held-by-wait-for*). */
static void test_free_primitive_cancels_wait_held_only_by_wait_for(void **state) {
    (void)state;
    for (int kind = 0; kind < PRIM_COUNT; kind++) {
        coio_loop *loop = tu_loop_virtual();
        coio_event *e = NULL;
        coio_lock *l = NULL;
        coio_semaphore *s = NULL;
        coio_future *held = NULL, *w = NULL, *next = NULL, *wf = NULL;
        if (kind == PRIM_EVENT) {
            assert_status(coio_event_new(loop, &e), COIO_OK);
            assert_status(coio_event_wait(e, &w), COIO_OK);
            assert_status(coio_event_wait(e, &next), COIO_OK);
        } else if (kind == PRIM_LOCK) {
            assert_status(coio_lock_new(loop, &l), COIO_OK);
            assert_status(coio_lock_acquire(l, &held), COIO_OK); /* taken at once */
            assert_status(coio_lock_acquire(l, &w), COIO_OK);
            assert_status(coio_lock_acquire(l, &next), COIO_OK);
        } else {
            assert_status(coio_semaphore_new(loop, 0, 0, &s), COIO_OK);
            assert_status(coio_semaphore_acquire(s, &w), COIO_OK);
            assert_status(coio_semaphore_acquire(s, &next), COIO_OK);
        }
        assert_false(coio_future_done(w));
        assert_status(coio_wait_for(w, 1.0, &wf), COIO_OK);
        coio_future_release(w); /* the wait_for's reference is the only one */
        if (kind == PRIM_EVENT)
            coio_event_free(e);
        else if (kind == PRIM_LOCK)
            coio_lock_free(l);
        else
            coio_semaphore_free(s);
        assert_true(coio_future_cancelled(wf));
        assert_true(coio_future_cancelled(next));
        coio_future_release(wf);
        coio_future_release(next);
        if (held) coio_future_release(held);
        tu_finish(loop);
    }
}

enum { QUEUE_PUT, QUEUE_PUT_NOWAIT, QUEUE_ADMIT_PUTTER, QUEUE_SHUTDOWN, QUEUE_COUNT };

/* A waiting get (or a blocked put) of a queue, behind a wait_for holding its only reference:
 * a put hands it an item, a get lets the put in, a shutdown fails it (the fuzz input
 * queue-put-hands-item-to-get-held-by-wait-for). */
static void test_queue_completes_waiter_held_only_by_wait_for(void **state) {
    (void)state;
    for (int how = 0; how < QUEUE_COUNT; how++) {
        coio_loop *loop = tu_loop_virtual();
        coio_queue *q = NULL;
        int item = 0, first = 0;
        coio_future *w = NULL, *wf = NULL, *put = NULL;
        assert_status(coio_queue_new(loop, COIO_QUEUE_FIFO, 1, &q), COIO_OK);
        if (how == QUEUE_ADMIT_PUTTER) {
            assert_status(coio_queue_put_nowait(q, &first, tu_count_drop), COIO_OK); /* full */
            assert_status(coio_queue_put(q, &item, tu_count_drop, &w), COIO_OK);
        } else {
            assert_status(coio_queue_get(q, &w), COIO_OK);
        }
        assert_false(coio_future_done(w));
        assert_status(coio_wait_for(w, 1.0, &wf), COIO_OK);
        coio_future_release(w); /* the wait_for's reference is the only one */
        if (how == QUEUE_PUT) {
            assert_status(coio_queue_put(q, &item, tu_count_drop, &put), COIO_OK);
            assert_true(coio_future_done(put));
            coio_future_release(put);
        } else if (how == QUEUE_PUT_NOWAIT) {
            assert_status(coio_queue_put_nowait(q, &item, tu_count_drop), COIO_OK);
        } else if (how == QUEUE_ADMIT_PUTTER) {
            void *v = NULL;
            coio_free_fn drop = NULL;
            assert_status(coio_queue_get_nowait(q, &v, &drop), COIO_OK);
            assert_ptr_equal(v, &first);
            drop(v);
            assert_int_equal(coio_queue_size(q), 1); /* the blocked put's item went in */
        } else {
            assert_status(coio_queue_shutdown(q, 0), COIO_OK);
        }
        coio_future_release(wf);
        coio_queue_free(q);
        tu_finish(loop);
        assert_int_equal(first, how == QUEUE_ADMIT_PUTTER);
        assert_int_equal(item, how != QUEUE_SHUTDOWN);
    }
}

/* ---- 11. a loop closed by a drop in the middle of one of its own cancellations ----------
 *
 * Found by the fuzzer.  Cancelling a gather of two queue puts that wait for room drops the
 * first put's item; that drop releases the loop, which closes it and discards what is ready.
 * The cancellation then goes on: the second put completes, and its done callbacks (the
 * gather's registration) were queued on the closed loop, where nothing would ever run or
 * discard them.  That entry held the put future, the future held the loop: the loop was never
 * freed (its exception handler's drop never ran).  What is queued on a closed loop is now
 * discarded as soon as the loop is next touched from outside: here, when the futures are
 * released. */

typedef struct closing_drop {
    coio_loop *loop;
    int item_drops, handler_drops;
} closing_drop;

static closing_drop cd;

static void cd_handler(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    (void)ctx;
    (void)arg;
}
static void cd_handler_drop(void *arg) {
    (void)arg;
    cd.handler_drops++;
}
static void cd_item_drop(void *arg) {
    (void)arg;
    cd.item_drops++;
}
static void cd_item_drop_releasing_loop(void *arg) {
    (void)arg;
    cd.item_drops++;
    assert_status(coio_loop_release(cd.loop), COIO_OK);
}

static void test_loop_released_by_a_drop_of_its_own_cancellation_is_freed(void **state) {
    (void)state;
    memset(&cd, 0, sizeof cd);
    cd.loop = tu_loop_virtual();
    assert_status(coio_loop_set_exception_handler(cd.loop, cd_handler, NULL, cd_handler_drop),
                  COIO_OK);
    coio_queue *q = NULL;
    assert_status(coio_queue_new(cd.loop, COIO_QUEUE_FIFO, 1, &q), COIO_OK);
    coio_future *p1 = NULL, *p2 = NULL, *p3 = NULL, *g = NULL;
    assert_status(coio_queue_put(q, &cd, cd_item_drop, &p1), COIO_OK); /* fits: done */
    assert_status(coio_queue_put(q, &cd, cd_item_drop, &p2), COIO_OK); /* waits for room */
    assert_status(coio_queue_put(q, &cd, cd_item_drop_releasing_loop, &p3), COIO_OK);
    coio_future *both[] = {p3, p2};
    assert_status(coio_gather(cd.loop, both, 2, COIO_RETURN_EXCEPTIONS, &g), COIO_OK);
    assert_int_equal(coio_future_cancel(g, NULL), 1);
    assert_int_equal(cd.item_drops, 2); /* the two waiting puts' items */
    coio_future_release(g);
    coio_future_release(p1);
    coio_future_release(p2);
    coio_future_release(p3);
    coio_queue_free(q);
    assert_int_equal(cd.item_drops, 3);
    assert_int_equal(cd.handler_drops, 1); /* the loop was freed */
}

/* A timer's drop, run by coio_handle_cancel, releases the loop (which closes it) and then the
 * handle: the caller's last reference to each.  Nothing of either may be touched after the
 * drop returns (fuzz: the cancel went on to write to the freed loop). */
static coio_handle *hd_handle; /* the loop and the counts are cd's (above) */

static void hd_noop(void *arg) {
    (void)arg;
    fail_msg("a cancelled timer ran");
}

static void hd_drop_releases_everything(void *arg) {
    (void)arg;
    cd.item_drops++;
    assert_status(coio_loop_release(cd.loop), COIO_OK);
    coio_handle_release(hd_handle);
}

static void test_handle_cancel_drop_releases_handle_and_loop(void **state) {
    (void)state;
    memset(&cd, 0, sizeof cd);
    cd.loop = tu_loop_virtual();
    assert_status(coio_loop_set_exception_handler(cd.loop, cd_handler, NULL, cd_handler_drop),
                  COIO_OK);
    assert_status(
        coio_call_later(cd.loop, 10, hd_noop, NULL, hd_drop_releases_everything, &hd_handle),
        COIO_OK);
    assert_status(coio_handle_cancel(hd_handle), COIO_OK);
    assert_int_equal(cd.item_drops, 1);
    assert_int_equal(cd.handler_drops, 1); /* the loop was freed */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_released_by_a_drop_of_its_own_cancellation_is_freed),
        cmocka_unit_test(test_cancel_mutual_await_cycle_terminates),
        cmocka_unit_test(test_cancel_mutual_await_cycle_twice),
        cmocka_unit_test(test_cancel_cycle_through_gather),
        cmocka_unit_test(test_cancel_cycle_through_wait_for),
        cmocka_unit_test(test_cancel_cycle_in_task_group),
        cmocka_unit_test(test_cancel_task_awaiting_gather_of_itself),
        cmocka_unit_test(test_deferred_cancel_message_through_gather_of_itself),
        cmocka_unit_test(test_wait_for_inner_cancel_drop_releases_wait_for),
        cmocka_unit_test(test_dying_queue_get_not_served_by_drop),
        cmocka_unit_test(test_dying_barrier_wait_not_tripped_by_drop),
        cmocka_unit_test(test_dying_queue_get_drop_closes_loop),
        cmocka_unit_test(test_barrier_resume_outlives_released_wait),
        cmocka_unit_test(test_queue_get_callbacks_outlive_released_get),
        cmocka_unit_test(test_due_callback_runs_before_its_drop_through_wait_for_chain),
        cmocka_unit_test(test_eager_child_frees_its_group_inside_spawn),
        cmocka_unit_test(test_eager_child_frees_its_group_then_waits_loop_freed),
        cmocka_unit_test(test_group_exit_from_eager_child_drop_frees_loop),
        cmocka_unit_test(test_group_spawn_after_sweep_closed_loop),
        cmocka_unit_test(test_as_completed_refused_next_with_user_result),
        cmocka_unit_test(test_exception_handler_cannot_suspend_the_body),
        cmocka_unit_test(test_exception_handler_releases_loop),
        cmocka_unit_test(test_await_survives_release_in_done_callback),
        cmocka_unit_test(test_payload_through_wait_for_freed_at_release),
        cmocka_unit_test(test_payload_through_gather_with_released_sibling),
        cmocka_unit_test(test_task_failing_through_own_wait_for_freed_at_release),
        cmocka_unit_test(test_own_zero_wait_for_completed_by_hand_freed_at_close),
        cmocka_unit_test(test_payload_through_gather_of_awaiting_task_with_pending_sibling),
        cmocka_unit_test(test_task_group_exit_pending_at_close_frees_loop),
        cmocka_unit_test(test_as_completed_freed_by_report_inside_dispatch),
        cmocka_unit_test(test_free_primitive_cancels_wait_held_only_by_wait_for),
        cmocka_unit_test(test_queue_completes_waiter_held_only_by_wait_for),
        cmocka_unit_test(test_handle_cancel_drop_releases_handle_and_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
