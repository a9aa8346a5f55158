/* One-line awaits in a coroutine body: coio_await_take, coio_co_sleep, coio_co_gather; and
 * coio_future_value.  Virtual time; every test releases what it made (valgrind, ASan). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct co {
    coio_loop *loop;
    coio_future *f;     /* a future handed to the body */
    coio_future *fs[3]; /* futures for gather */
    size_t n;
    double delay;
    int rc; /* what the awaiting call returned */
    void *value;
    double woke_at;
    int drops;
} co;

static coio_future *spawn(coio_loop *loop, coio_coroutine_fn fn, void *arg) {
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, fn, arg, NULL, &t), COIO_OK);
    return t;
}

static coio_future *new_future(coio_loop *loop) {
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    return f;
}

/* ---- coio_await_take --------------------------------------------------------------------- */

static int take_value(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->rc = coio_await_take(c->f, &c->value);
    c->f = NULL; /* released */
    return c->rc;
}

/* The result becomes the caller's: the future's drop does not run when it is freed. */
static void test_await_take_moves_result_and_releases(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    c.f = new_future(loop);
    coio_future *keep = coio_future_ref(c.f); /* to see the future after the take */
    int *owned = malloc(sizeof *owned);
    *owned = 7;
    coio_future *t = spawn(loop, take_value, &c);
    tu_run_one_pass(loop);
    assert_status(coio_future_set_result(keep, owned, free), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_ptr_equal(c.value, owned);
    assert_null(coio_future_value(keep)); /* taken out */
    coio_future_release(keep);            /* the last reference: must not free `owned` */
    assert_int_equal(*owned, 7);
    free(owned);
    coio_future_release(t);
    tu_finish(loop);
}

static int take_nothing(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->rc = coio_await_take(c->f, NULL);
    return c->rc;
}

/* value NULL: the result stays with the future, freed with it when the take releases it. */
static void test_await_take_without_value_frees_with_future(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    c.f = new_future(loop);
    assert_status(coio_future_set_result(c.f, &c.drops, tu_count_drop), COIO_OK);
    coio_future *t = spawn(loop, take_nothing, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(c.drops, 1); /* the future was released, its value dropped */
    coio_future_release(t);
    tu_finish(loop);
}

/* A result with no drop stays readable in the future (a task's static string). */
static void test_await_take_keeps_undropped_result(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    c.f = new_future(loop);
    coio_future *keep = coio_future_ref(c.f);
    assert_status(coio_future_set_result(c.f, "static", NULL), COIO_OK);
    coio_future *t = spawn(loop, take_value, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_string_equal(c.value, "static");
    assert_string_equal(coio_future_value(keep), "static");
    coio_future_release(keep);
    coio_future_release(t);
    tu_finish(loop);
}

static int take_failing(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->rc = coio_await_take(c->f, &c->value);
    return c->rc; /* the error propagates */
}

static void test_await_take_failure_propagates_and_releases(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    c.f = new_future(loop);
    assert_status(coio_future_set_error(c.f, COIO_ETIMEDOUT, "late"), COIO_OK);
    c.value = &c;
    coio_future *t = spawn(loop, take_failing, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_equal(c.rc, COIO_EFAILED);
    assert_ptr_equal(c.value, &c); /* untouched */
    assert_int_equal(tu_error_code(t), COIO_ETIMEDOUT);
    assert_string_equal(tu_error_message(t), "late");
    coio_future_release(t);
    tu_finish(loop); /* valgrind / ASan: the future was freed by the take */
}

static void test_await_take_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    c.f = new_future(loop);
    coio_future *t = spawn(loop, take_value, &c);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(c.rc, COIO_ECANCELLED);
    coio_future_release(t);
    tu_finish(loop);
}

/* NULL (the call that was to make it failed) is EINVAL; outside a coroutine ENOTSUP, and the
 * reference is released all the same. */
static void test_await_take_null_and_outside_coroutine(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(coio_await_take(NULL, NULL), COIO_EINVAL);
    int drops = 0;
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result(f, &drops, tu_count_drop), COIO_OK);
    void *v = &drops;
    assert_status(coio_await_take(f, &v), COIO_ENOTSUP);
    assert_int_equal(drops, 1); /* released: freed with its value */
    assert_ptr_equal(v, &drops);
    tu_finish(loop);
}

static int take_null_from_failed_sleep(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    coio_future *f = NULL;
    int made = coio_sleep(c->loop, NAN, &f); /* fails: f stays NULL */
    c->rc = coio_await_take(f, NULL);
    return made == COIO_EINVAL && c->rc == COIO_EINVAL ? COIO_OK : COIO_EFAILED;
}

static void test_await_take_of_a_failed_creation(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    coio_future *t = spawn(loop, take_null_from_failed_sleep, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static int take_self(coio_future *self, void *arg) {
    co *c = arg;
    c->rc = coio_await_take(coio_future_ref(self), NULL);
    return COIO_OK;
}

static void test_await_take_of_itself_is_einval(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    coio_future *t = spawn(loop, take_self, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_int_equal(c.rc, COIO_EINVAL);
    coio_future_release(t); /* the reference the body took was released by the take */
    tu_finish(loop);
}

/* ---- coio_co_sleep ------------------------------------------------------------------------ */

static int sleeper(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->rc = coio_co_sleep(c->delay);
    c->woke_at = coio_loop_time(c->loop);
    return c->rc;
}

static void test_co_sleep_waits_exactly(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop, .delay = 2.5};
    coio_future *t = spawn(loop, sleeper, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_double_eq(c.woke_at, 2.5, 0);
    coio_future_release(t);
    tu_finish(loop);
}

static void test_co_sleep_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop, .delay = 10};
    coio_future *t = spawn(loop, sleeper, &c);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_int_equal(c.rc, COIO_ECANCELLED);
    assert_double_eq(c.woke_at, 0, 0);
    coio_future_release(t);
    tu_finish(loop);
}

static int bad_sleeps(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    if (coio_co_sleep(NAN) != COIO_EINVAL) return COIO_EFAILED;
    if (coio_co_sleep(INFINITY) != COIO_EINVAL) return COIO_EFAILED;
    return coio_co_sleep(0); /* one pass */
}

static void test_co_sleep_bad_delay_and_outside(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(coio_co_sleep(1), COIO_ENOTSUP);
    coio_future *t = spawn(loop, bad_sleeps, NULL);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

/* coio_co_sleep(0) is asyncio.sleep(0): a bare yield, with no future to wait on.  What the
 * body queued before it runs before the body goes on; a cancel() while it is yielded is
 * delivered by it, with its message. */
static char yield_log[8];
static void log_b(void *arg) {
    (void)arg;
    strcat(yield_log, "b");
}

static int yielder(coio_future *self, void *arg) {
    co *c = arg;
    strcat(yield_log, "a");
    if (coio_call_soon(c->loop, log_b, NULL, NULL, NULL) != COIO_OK) return COIO_EFAILED;
    c->rc = coio_co_sleep(0);
    strcat(yield_log, "c");
    const char *msg = NULL;
    if (c->rc == COIO_ECANCELLED && coio_task_cancel_message(self, &msg) == COIO_OK)
        c->value = (void *)msg;
    return c->rc;
}

static void test_co_sleep_zero_is_a_bare_yield(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop};
    yield_log[0] = 0;
    coio_future *t = spawn(loop, yielder, &c);
    tu_run_one_pass(loop); /* the first step: "a", then the yield */
    assert_string_equal(yield_log, "a");
    char buf[256];
    assert_true(coio_future_repr(t, buf, sizeof buf) > 0);
    assert_null(strstr(buf, "wait_for")); /* as asyncio: no future behind sleep(0) */
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_string_equal(yield_log, "abc");
    assert_int_equal(c.rc, COIO_OK);
    coio_future_release(t);

    yield_log[0] = 0;
    t = spawn(loop, yielder, &c);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t, "stop"), 1);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_string_equal(yield_log, "abc");
    assert_int_equal(c.rc, COIO_ECANCELLED);
    assert_non_null(c.value);
    assert_string_equal((const char *)c.value, "stop");
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- coio_co_gather ----------------------------------------------------------------------- */

static int child(coio_future *self, void *n) {
    int rc = coio_co_sleep(1.0 / (double)(intptr_t)n);
    if (rc) return rc;
    return coio_future_set_result(self, n, NULL);
}

static int gatherer(coio_future *self, void *arg) {
    (void)self;
    co *c = arg;
    c->rc = coio_co_gather(c->fs, c->n, 0);
    c->woke_at = coio_loop_time(c->loop);
    return c->rc;
}

static void test_co_gather_results_in_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop, .n = 3};
    for (intptr_t i = 0; i < 3; i++)
        c.fs[i] = spawn(loop, child, (void *)(i + 1));
    coio_future *t = spawn(loop, gatherer, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_double_eq(c.woke_at, 1.0, 0);
    for (intptr_t i = 0; i < 3; i++) {
        assert_int_equal((intptr_t)coio_future_value(c.fs[i]), i + 1);
        coio_future_release(c.fs[i]);
    }
    coio_future_release(t);
    tu_finish(loop);
}

static void test_co_gather_failure_propagates(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    co c = {.loop = loop, .n = 2};
    c.fs[0] = spawn(loop, child, (void *)1);
    c.fs[1] = new_future(loop);
    assert_status(coio_future_set_error(c.fs[1], 99, "child failed"), COIO_OK);
    coio_future *t = spawn(loop, gatherer, &c);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_equal(tu_error_code(t), 99);
    assert_string_equal(tu_error_message(t), "child failed");
    assert_status(coio_loop_run_until_complete(loop, c.fs[0]), COIO_OK); /* not cancelled */
    coio_future_release(c.fs[0]);
    coio_future_release(c.fs[1]);
    coio_future_release(t);
    tu_finish(loop);
}

static int bad_gathers(coio_future *self, void *arg) {
    (void)self;
    coio_future **other = arg;
    coio_future *none[1] = {NULL};
    if (coio_co_gather(NULL, 1, 0) != COIO_EINVAL) return COIO_EFAILED;
    if (coio_co_gather(none, 1, 0) != COIO_EINVAL) return COIO_EFAILED;
    if (coio_co_gather(other, 1, 0) != COIO_ELOOP) return COIO_EFAILED;
    if (coio_co_gather(other, 1, 0x100) != COIO_EINVAL) return COIO_EFAILED;
    return coio_co_gather(NULL, 0, 0); /* nothing to wait for: done */
}

static void test_co_gather_bad_input_and_outside(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual(), *loop2 = tu_loop_virtual();
    coio_future *other = new_future(loop2);
    assert_status(coio_co_gather(&other, 1, 0), COIO_ENOTSUP);
    coio_future *t = spawn(loop, bad_gathers, &other);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    coio_future_release(other);
    tu_finish(loop);
    tu_finish(loop2);
}

/* ---- coio_future_value -------------------------------------------------------------------- */

static void test_future_value(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_null(coio_future_value(NULL));
    coio_future *f = new_future(loop);
    assert_null(coio_future_value(f)); /* pending */
    assert_status(coio_future_set_result(f, "v", NULL), COIO_OK);
    assert_string_equal(coio_future_value(f), "v");
    coio_future_release(f);
    f = new_future(loop);
    assert_status(coio_future_set_error(f, 5, "e"), COIO_OK);
    assert_null(coio_future_value(f));
    assert_int_equal(tu_error_code(f), 5);
    coio_future_release(f);
    f = new_future(loop);
    assert_int_equal(coio_future_cancel(f, NULL), 1);
    assert_null(coio_future_value(f));
    coio_future_release(f);
    tu_finish(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_await_take_moves_result_and_releases),
        cmocka_unit_test(test_await_take_without_value_frees_with_future),
        cmocka_unit_test(test_await_take_keeps_undropped_result),
        cmocka_unit_test(test_await_take_failure_propagates_and_releases),
        cmocka_unit_test(test_await_take_cancelled),
        cmocka_unit_test(test_await_take_null_and_outside_coroutine),
        cmocka_unit_test(test_await_take_of_a_failed_creation),
        cmocka_unit_test(test_await_take_of_itself_is_einval),
        cmocka_unit_test(test_co_sleep_waits_exactly),
        cmocka_unit_test(test_co_sleep_cancelled),
        cmocka_unit_test(test_co_sleep_bad_delay_and_outside),
        cmocka_unit_test(test_co_sleep_zero_is_a_bare_yield),
        cmocka_unit_test(test_co_gather_results_in_order),
        cmocka_unit_test(test_co_gather_failure_propagates),
        cmocka_unit_test(test_co_gather_bad_input_and_outside),
        cmocka_unit_test(test_future_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
