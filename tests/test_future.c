/* Futures: coio_future_* (asyncio.Future semantics, CPython 3.13 as the reference).
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * handle and value) before returning: the suite runs under valgrind and ASan. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

static coio_future *new_future(coio_loop *loop) {
    coio_future *f = NULL;
    assert_int_equal(coio_future_new(loop, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

/* A done callback that records every call: how many, which future, which arg, and, when
 * `log` is set, appends `tag` to it. */
typedef struct seen {
    int calls;
    coio_future *f;
    void *arg;
    tu_log *log;
    int tag;
    int done_at_call;
    int cancelled_at_call;
} seen;

static void on_done(coio_future *f, void *arg) {
    seen *s = arg;
    s->calls++;
    s->f = f;
    s->arg = arg;
    s->done_at_call = coio_future_done(f);
    s->cancelled_at_call = coio_future_cancelled(f);
    if (s->log && s->log->n < 256) s->log->tags[s->log->n++] = s->tag;
}

/* A second done_fn, distinct from on_done, to check that removal matches on fn. */
static void on_done_other(coio_future *f, void *arg) {
    on_done(f, arg);
}

/* A done callback whose arg is its own drop counter: checks the drop did not run before. */
typedef struct drop_probe {
    int calls;
    int drops;
    int drops_at_call;
} drop_probe;

static void probe_done(coio_future *f, void *arg) {
    (void)f;
    drop_probe *p = arg;
    p->calls++;
    p->drops_at_call = p->drops;
}

static void probe_drop(void *arg) {
    ((drop_probe *)arg)->drops++;
}

static double now_real(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* call_soon / call_later payloads that complete a future. */
typedef struct completer {
    coio_future *f;
    void *value;
    int code;
    const char *message;
} completer;

static void complete_result(void *p) {
    completer *c = p;
    assert_int_equal(coio_future_set_result(c->f, c->value, NULL), COIO_OK);
}

static void complete_error(void *p) {
    completer *c = p;
    assert_int_equal(coio_future_set_error(c->f, c->code, c->message), COIO_OK);
}

static void complete_cancel(void *p) {
    completer *c = p;
    assert_int_equal(coio_future_cancel(c->f, c->message), 1);
}

static void stop_loop(void *p) {
    assert_int_equal(coio_loop_stop(p), COIO_OK);
}

/* ---- new / ref / release / loop --------------------------------------------------------- */

static void test_new_is_pending_and_on_its_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_done(f), 0);
    assert_int_equal(coio_future_cancelled(f), 0);
    assert_ptr_equal(coio_future_loop(f), loop);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_ref_returns_same_future_and_keeps_it_alive(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    coio_future *f = new_future(loop);
    assert_ptr_equal(coio_future_ref(f), f);
    assert_int_equal(coio_future_set_result(f, &drops, tu_count_drop), COIO_OK);
    coio_future_release(f); /* one reference left */
    assert_int_equal(drops, 0);
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &drops);
    coio_future_release(f); /* last one: freed */
    assert_int_equal(drops, 1);
    tu_finish(loop);
}

static void test_release_and_ref_null_are_noops(void **state) {
    (void)state;
    coio_future_release(NULL);
    assert_null(coio_future_ref(NULL));
    assert_null(coio_future_loop(NULL));
}

/* ---- set_result --------------------------------------------------------------------------- */

static void test_set_result_value_borrowed_by_result(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int value = 42;
    assert_int_equal(coio_future_set_result(f, &value, NULL), COIO_OK);
    assert_int_equal(coio_future_done(f), 1);
    assert_int_equal(coio_future_cancelled(f), 0);
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &value);
    /* Borrowed: asking again gives the same pointer. */
    v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &value);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_set_result_null_value_allowed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    void *v = &v;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_null(v);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_set_result_drop_runs_once_at_free_not_before(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int drops = 0;
    assert_int_equal(coio_future_set_result(f, &drops, tu_count_drop), COIO_OK);
    assert_int_equal(drops, 0);
    tu_run_one_pass(loop);
    assert_int_equal(drops, 0);
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_int_equal(drops, 0);
    coio_future_release(f);
    assert_int_equal(drops, 1);
    tu_finish(loop);
    assert_int_equal(drops, 1);
}

static void test_take_result_moves_value_and_drop_out(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int drops = 0;
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_int_equal(coio_future_take_result(f, &v, &d), COIO_ESTATE); /* pending */
    assert_int_equal(coio_future_take_result(NULL, &v, &d), COIO_EINVAL);
    assert_int_equal(coio_future_set_result(f, &drops, tu_count_drop), COIO_OK);
    assert_int_equal(coio_future_take_result(f, NULL, &d), COIO_EINVAL);
    assert_int_equal(coio_future_take_result(f, &v, NULL), COIO_EINVAL);
    assert_int_equal(coio_future_take_result(f, &v, &d), COIO_OK);
    assert_ptr_equal(v, &drops);
    assert_ptr_equal(d, tu_count_drop);
    void *left = &left;
    assert_int_equal(coio_future_result(f, &left), COIO_OK);
    assert_null(left);
    coio_future_release(f);
    assert_int_equal(drops, 0); /* the caller owns it now */
    d(v);
    assert_int_equal(drops, 1);

    coio_future *failed = new_future(loop);
    assert_int_equal(coio_future_set_error(failed, 5, "no"), COIO_OK);
    assert_int_equal(coio_future_take_result(failed, &v, &d), COIO_ESTATE);
    assert_int_equal(coio_future_error(failed, NULL, NULL), COIO_OK);
    coio_future_release(failed);
    tu_finish(loop);
}

/* Issue 11 (9): the man page's contract on a closed loop: a pending future is COIO_ESTATE, as
 * on an open loop (the loop's state does not matter to a read), and a done one still hands
 * its result over. */
static void test_take_result_on_closed_loop_follows_the_man_page(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *pending = new_future(loop), *done = new_future(loop);
    int drops = 0;
    assert_int_equal(coio_future_set_result(done, &drops, tu_count_drop), COIO_OK);
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    void *v = &v;
    coio_free_fn d = tu_count_drop;
    assert_status(coio_future_take_result(pending, &v, &d), COIO_ESTATE);
    assert_ptr_equal(v, &v); /* untouched on failure */
    assert_ptr_equal(d, tu_count_drop);
    assert_status(coio_future_take_result(done, &v, &d), COIO_OK);
    assert_ptr_equal(v, &drops);
    coio_future_release(done);
    coio_future_release(pending);
    assert_int_equal(drops, 0);
    d(v);
    assert_int_equal(drops, 1);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

static void test_set_result_on_done_future_is_estate_and_changes_nothing(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int first = 0, second = 0;
    assert_int_equal(coio_future_set_result(f, &first, tu_count_drop), COIO_OK);
    assert_int_equal(coio_future_set_result(f, &second, tu_count_drop), COIO_ESTATE);
    assert_int_equal(second, 0); /* the rejected value's drop is not called */
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "late"), COIO_ESTATE);
    assert_int_equal(
        coio_future_set_error_payload(f, COIO_ETIMEDOUT, "late", &second, tu_count_drop),
        COIO_ESTATE);
    assert_int_equal(second, 0);
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &first);
    assert_int_equal(coio_future_cancelled(f), 0);
    coio_future_release(f);
    assert_int_equal(first, 1);
    assert_int_equal(second, 0);
    tu_finish(loop);
}

static void test_set_result_on_failed_or_cancelled_future_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;

    coio_future *failed = new_future(loop);
    assert_int_equal(coio_future_set_error(failed, COIO_ETIMEDOUT, "t/o"), COIO_OK);
    assert_int_equal(coio_future_set_result(failed, &drops, tu_count_drop), COIO_ESTATE);
    assert_int_equal(coio_future_set_error(failed, COIO_EFAILED, "again"), COIO_ESTATE);
    void *v = &v;
    assert_int_equal(coio_future_result(failed, &v), COIO_EFAILED);
    assert_ptr_equal(v, &v);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(failed, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ETIMEDOUT);
    assert_string_equal(msg, "t/o");

    coio_future *cancelled = new_future(loop);
    assert_int_equal(coio_future_cancel(cancelled, NULL), 1);
    assert_int_equal(coio_future_set_result(cancelled, &drops, tu_count_drop), COIO_ESTATE);
    assert_int_equal(coio_future_set_error(cancelled, COIO_ETIMEDOUT, "x"), COIO_ESTATE);
    assert_int_equal(coio_future_cancelled(cancelled), 1);
    assert_int_equal(coio_future_result(cancelled, &v), COIO_ECANCELLED);

    coio_future_release(failed);
    coio_future_release(cancelled);
    assert_int_equal(drops, 0);
    tu_finish(loop);
}

static void test_result_of_pending_is_estate_out_untouched(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int sentinel = 0;
    void *v = &sentinel;
    assert_int_equal(coio_future_result(f, &v), COIO_ESTATE);
    assert_ptr_equal(v, &sentinel);
    int code = 12345;
    const char *msg = "untouched";
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_ESTATE);
    assert_int_equal(code, 12345);
    assert_string_equal(msg, "untouched");
    void *payload = &sentinel;
    assert_int_equal(coio_future_error_payload(f, &payload), COIO_ESTATE);
    assert_ptr_equal(payload, &sentinel);
    assert_int_equal(coio_future_done(f), 0);
    coio_future_release(f);
    tu_finish(loop);
}

/* ---- set_error ------------------------------------------------------------------------------ */

static void test_set_error_code_zero_is_einval(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int drops = 0;
    assert_int_equal(coio_future_set_error(f, 0, "no"), COIO_EINVAL);
    assert_int_equal(coio_future_set_error_payload(f, 0, "no", &drops, tu_count_drop), COIO_EINVAL);
    assert_int_equal(drops, 0);
    assert_int_equal(coio_future_done(f), 0);
    coio_future_release(f);
    assert_int_equal(drops, 0);
    tu_finish(loop);
}

static void test_set_error_result_is_efailed_error_gives_code_and_message(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "timed out"), COIO_OK);
    assert_int_equal(coio_future_done(f), 1);
    assert_int_equal(coio_future_cancelled(f), 0);
    int sentinel = 0;
    void *v = &sentinel;
    assert_int_equal(coio_future_result(f, &v), COIO_EFAILED);
    assert_ptr_equal(v, &sentinel);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ETIMEDOUT);
    assert_non_null(msg);
    assert_string_equal(msg, "timed out");
    coio_future_release(f);
    tu_finish(loop);
}

static void test_set_error_copies_message(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    char buf[32];
    snprintf(buf, sizeof buf, "%s", "original");
    assert_int_equal(coio_future_set_error(f, 77, buf), COIO_OK);
    memset(buf, 'X', sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, 77);
    assert_ptr_not_equal(msg, buf);
    assert_string_equal(msg, "original");
    coio_future_release(f);
    tu_finish(loop);
}

static void test_set_error_null_message_allowed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, NULL), COIO_OK);
    int code = 0;
    const char *msg = "sentinel";
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ETIMEDOUT);
    assert_null(msg);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_error_on_success_is_zero_and_null(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int value = 1;
    assert_int_equal(coio_future_set_result(f, &value, NULL), COIO_OK);
    int code = 999;
    const char *msg = "sentinel";
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, 0);
    assert_null(msg);
    void *payload = &value;
    assert_int_equal(coio_future_error_payload(f, &payload), COIO_OK);
    assert_null(payload);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_error_accepts_null_outs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "x"), COIO_OK);
    assert_int_equal(coio_future_error(f, NULL, NULL), COIO_OK);
    int code = 0;
    assert_int_equal(coio_future_error(f, &code, NULL), COIO_OK);
    assert_int_equal(code, COIO_ETIMEDOUT);
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, NULL, &msg), COIO_OK);
    assert_string_equal(msg, "x");
    coio_future_release(f);
    assert_int_equal(r.n, 0); /* error() retrieved it */
    tu_finish(loop);
}

static void test_set_error_payload_returned_and_dropped_once_at_free(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int drops = 0;
    assert_int_equal(
        coio_future_set_error_payload(f, COIO_ETIMEDOUT, "with payload", &drops, tu_count_drop),
        COIO_OK);
    assert_int_equal(coio_future_done(f), 1);
    void *payload = NULL;
    assert_int_equal(coio_future_error_payload(f, &payload), COIO_OK);
    assert_ptr_equal(payload, &drops);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ETIMEDOUT);
    assert_string_equal(msg, "with payload");
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_EFAILED);
    tu_run_one_pass(loop);
    assert_int_equal(drops, 0);
    coio_future_release(f);
    assert_int_equal(drops, 1);
    tu_finish(loop);
    assert_int_equal(drops, 1);
}

static void test_error_payload_null_when_set_error_without_payload(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "x"), COIO_OK);
    void *payload = &payload;
    assert_int_equal(coio_future_error_payload(f, &payload), COIO_OK);
    assert_null(payload);
    assert_int_equal(coio_future_error(f, NULL, NULL), COIO_OK);
    coio_future_release(f);
    tu_finish(loop);
}

/* ---- cancel --------------------------------------------------------------------------------- */

static void test_cancel_returns_1_then_0(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_cancel(f, "stop it"), 1);
    assert_int_equal(coio_future_done(f), 1);
    assert_int_equal(coio_future_cancelled(f), 1);
    assert_int_equal(coio_future_cancel(f, "again"), 0);
    assert_int_equal(coio_future_cancelled(f), 1);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_cancelled_result_is_ecancelled_error_gives_message(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    char buf[32];
    snprintf(buf, sizeof buf, "%s", "shutting down");
    assert_int_equal(coio_future_cancel(f, buf), 1);
    memset(buf, 'Y', sizeof buf - 1); /* the message was copied */
    buf[sizeof buf - 1] = '\0';
    int sentinel = 0;
    void *v = &sentinel;
    assert_int_equal(coio_future_result(f, &v), COIO_ECANCELLED);
    assert_ptr_equal(v, &sentinel);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ECANCELLED);
    assert_non_null(msg);
    assert_string_equal(msg, "shutting down");
    /* A second cancel does not replace the message. */
    assert_int_equal(coio_future_cancel(f, "other"), 0);
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_string_equal(msg, "shutting down");
    coio_future_release(f);
    tu_finish(loop);
}

static void test_cancel_null_message_gives_null(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_cancel(f, NULL), 1);
    int code = 0;
    const char *msg = "sentinel";
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ECANCELLED);
    assert_null(msg);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_cancel_done_future_keeps_value(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int drops = 0;
    assert_int_equal(coio_future_set_result(f, &drops, tu_count_drop), COIO_OK);
    assert_int_equal(coio_future_cancel(f, "too late"), 0);
    assert_int_equal(coio_future_cancelled(f), 0);
    assert_int_equal(drops, 0);
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &drops);
    coio_future_release(f);
    assert_int_equal(drops, 1);
    tu_finish(loop);
}

static void test_cancel_failed_future_keeps_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "kept"), COIO_OK);
    assert_int_equal(coio_future_cancel(f, "too late"), 0);
    assert_int_equal(coio_future_cancelled(f), 0);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ETIMEDOUT);
    assert_string_equal(msg, "kept");
    coio_future_release(f);
    tu_finish(loop);
}

/* ---- done callbacks ------------------------------------------------------------------------- */

static void test_done_callback_not_synchronous_runs_after_one_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen s = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &s, NULL), COIO_OK);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_int_equal(s.calls, 0);
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.done_at_call, 1);
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1); /* once only */
    coio_future_release(f);
    tu_finish(loop);
}

static void test_done_callbacks_run_in_registration_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    tu_log log = {0};
    seen s[5];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 5; i++) {
        s[i].log = &log;
        s[i].tag = i + 1;
        assert_int_equal(
            coio_future_add_done_callback(f, i % 2 ? on_done_other : on_done, &s[i], NULL),
            COIO_OK);
    }
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(log.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(log.tags[i], i + 1);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_done_callback_added_after_completion_runs_next_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    seen s = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &s, NULL), COIO_OK);
    assert_int_equal(s.calls, 0); /* never synchronously */
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1);
    assert_ptr_equal(s.f, f);
    /* Scheduled but never run: closing the loop discards it and runs its drop. */
    drop_probe p = {0};
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.drops, 0);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.drops, 1);
}

static void test_done_callbacks_after_completion_keep_registration_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    tu_log log = {0};
    seen s[3];
    memset(s, 0, sizeof s);
    assert_int_equal(coio_future_cancel(f, NULL), 1);
    for (int i = 0; i < 3; i++) {
        s[i].log = &log;
        s[i].tag = 10 + i;
        assert_int_equal(coio_future_add_done_callback(f, on_done, &s[i], NULL), COIO_OK);
    }
    assert_int_equal(log.n, 0);
    tu_run_one_pass(loop);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.tags[0], 10);
    assert_int_equal(log.tags[1], 11);
    assert_int_equal(log.tags[2], 12);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_done_callback_gets_future_and_arg(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen a = {0}, b = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &a, NULL), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, on_done, &b, NULL), COIO_OK);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "e"), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 1);
    assert_ptr_equal(a.f, f);
    assert_ptr_equal(a.arg, &a);
    assert_int_equal(b.calls, 1);
    assert_ptr_equal(b.f, f);
    assert_ptr_equal(b.arg, &b);
    assert_int_equal(coio_future_error(f, NULL, NULL), COIO_OK);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_done_callback_drop_runs_once_after_the_call(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    drop_probe p = {0};
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_int_equal(p.drops, 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.drops_at_call, 0);
    assert_int_equal(p.drops, 1);
    tu_run_one_pass(loop);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.drops, 1);
}

static void test_done_callback_drop_runs_on_removal(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    drop_probe p = {0};
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_future_remove_done_callback(f, probe_done, &p), 1);
    assert_int_equal(p.drops, 1);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.drops, 1);
}

static void test_done_callback_drop_runs_when_pending_future_freed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    drop_probe p = {0}, q = {0};
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &q, probe_drop), COIO_OK);
    coio_future_release(f); /* never completed: the callbacks were never scheduled */
    assert_int_equal(p.drops, 1);
    assert_int_equal(q.drops, 1);
    tu_run_one_pass(loop);
    tu_finish(loop);
    assert_int_equal(p.calls, 0);
    assert_int_equal(q.calls, 0);
    assert_int_equal(p.drops, 1);
    assert_int_equal(q.drops, 1);
}

static void test_remove_done_callback_counts_and_removes_all_matches(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen a = {0}, b = {0};
    /* (on_done, &a) three times, (on_done, &b) once, (on_done_other, &a) once. */
    assert_int_equal(coio_future_add_done_callback(f, on_done, &a, NULL), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, on_done, &b, NULL), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, on_done, &a, NULL), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, on_done_other, &a, NULL), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, on_done, &a, NULL), COIO_OK);
    assert_int_equal(coio_future_remove_done_callback(f, on_done, &a), 3);
    assert_int_equal(coio_future_remove_done_callback(f, on_done, &a), 0);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 1); /* only through on_done_other */
    assert_int_equal(b.calls, 1);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_remove_done_callback_drops_each_removed_registration(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    drop_probe p = {0};
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_future_remove_done_callback(f, probe_done, &p), 2);
    assert_int_equal(p.drops, 2);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.drops, 2);
}

/* Registrations with and without a drop, removed from the middle and added again past the
 * room the array had: every one left runs once, in registration order, and every drop runs
 * once (ASan: the array always has room for what is added). */
static int order_log[64], order_n;
static void log_done(coio_future *f, void *arg) {
    (void)f;
    order_log[order_n++] = (int)(intptr_t)arg;
}
static int order_drops;
static void log_drop(void *arg) {
    (void)arg;
    order_drops++;
}

static void test_done_callbacks_grow_after_removals(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    order_n = order_drops = 0;
    for (int i = 0; i < 9; i++)
        assert_int_equal(coio_future_add_done_callback(f, log_done, (void *)(intptr_t)i,
                                                       i % 2 ? log_drop : NULL),
                         COIO_OK);
    for (int i = 1; i < 8; i++) /* leaves 0 and 8 */
        assert_int_equal(coio_future_remove_done_callback(f, log_done, (void *)(intptr_t)i), 1);
    assert_int_equal(order_drops, 4); /* 1, 3, 5 and 7 had one */
    for (int i = 100; i < 130; i++)
        assert_int_equal(coio_future_add_done_callback(f, log_done, (void *)(intptr_t)i,
                                                       i % 3 ? log_drop : NULL),
                         COIO_OK);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(order_n, 32);
    assert_int_equal(order_log[0], 0);
    assert_int_equal(order_log[1], 8);
    for (int i = 0; i < 30; i++)
        assert_int_equal(order_log[2 + i], 100 + i);
    assert_int_equal(order_drops, 4 + 20);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(order_drops, 24);
}

static void test_remove_done_callback_matches_fn_and_arg(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen a = {0}, b = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &a, NULL), COIO_OK);
    /* Same fn, other arg; same arg, other fn: no match. */
    assert_int_equal(coio_future_remove_done_callback(f, on_done, &b), 0);
    assert_int_equal(coio_future_remove_done_callback(f, on_done_other, &a), 0);
    assert_int_equal(coio_future_remove_done_callback(f, on_done, NULL), 0);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 1);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_remove_done_callback_none_registered_returns_0(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen a = {0};
    assert_int_equal(coio_future_remove_done_callback(f, on_done, &a), 0);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_removed_callback_never_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen a = {0}, b = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &a, NULL), COIO_OK);
    assert_int_equal(coio_future_add_done_callback(f, on_done, &b, NULL), COIO_OK);
    assert_int_equal(coio_future_remove_done_callback(f, on_done, &a), 1);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    coio_future_release(f);
    tu_finish(loop);
}

/* asyncio: once the future is done, its callbacks are scheduled and no longer removable. */
static void test_remove_after_completion_finds_nothing_callback_still_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    drop_probe p = {0};
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_int_equal(coio_future_remove_done_callback(f, probe_done, &p), 0);
    assert_int_equal(p.drops, 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.drops, 1);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_cancel_schedules_done_callbacks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen s = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &s, NULL), COIO_OK);
    assert_int_equal(coio_future_cancel(f, "bye"), 1);
    assert_int_equal(s.calls, 0);
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1);
    assert_ptr_equal(s.f, f);
    assert_int_equal(s.cancelled_at_call, 1);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_set_error_schedules_done_callbacks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen s = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &s, NULL), COIO_OK);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "e"), COIO_OK);
    assert_int_equal(s.calls, 0);
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1);
    assert_int_equal(coio_future_error(f, NULL, NULL), COIO_OK);
    coio_future_release(f);
    tu_finish(loop);
}

/* A done callback that adds another done callback to the same (done) future. */
typedef struct chain {
    seen second;
    int first_calls;
    int second_calls_during_first_pass;
} chain;

static void chain_first(coio_future *f, void *arg) {
    chain *c = arg;
    c->first_calls++;
    assert_int_equal(coio_future_add_done_callback(f, on_done, &c->second, NULL), COIO_OK);
    c->second_calls_during_first_pass = c->second.calls;
}

static void test_done_callback_may_add_done_callback_runs_later_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    chain c;
    memset(&c, 0, sizeof c);
    assert_int_equal(coio_future_add_done_callback(f, chain_first, &c, NULL), COIO_OK);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(c.first_calls, 1);
    assert_int_equal(c.second_calls_during_first_pass, 0);
    assert_int_equal(c.second.calls, 0); /* scheduled in this pass: runs in a later one */
    tu_run_one_pass(loop);
    assert_int_equal(c.second.calls, 1);
    assert_ptr_equal(c.second.f, f);
    coio_future_release(f);
    tu_finish(loop);
}

/* A done callback that releases the last user reference to its future. */
typedef struct releaser {
    int calls;
    int value_drops;
    int value_drops_at_call;
    int result_status;
    void *result_value;
} releaser;

static void release_in_callback(coio_future *f, void *arg) {
    releaser *r = arg;
    r->calls++;
    r->value_drops_at_call = r->value_drops;
    r->result_status = coio_future_result(f, &r->result_value);
    coio_future_release(f); /* the user's (last) reference */
}

static void test_done_callback_may_release_last_user_reference(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    releaser r = {0};
    assert_int_equal(coio_future_add_done_callback(f, release_in_callback, &r, NULL), COIO_OK);
    assert_int_equal(coio_future_set_result(f, &r.value_drops, tu_count_drop), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.value_drops_at_call, 0);
    assert_int_equal(r.result_status, COIO_OK);
    assert_ptr_equal(r.result_value, &r.value_drops);
    tu_finish(loop);
    assert_int_equal(r.value_drops, 1); /* freed exactly once */
}

static void test_done_callbacks_keep_future_alive_after_user_release(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    seen s = {0};
    int drops = 0;
    assert_int_equal(coio_future_add_done_callback(f, on_done, &s, NULL), COIO_OK);
    assert_int_equal(coio_future_set_result(f, &drops, tu_count_drop), COIO_OK);
    coio_future_release(f); /* the loop still holds one while the callback is pending */
    assert_int_equal(drops, 0);
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1);
    assert_ptr_equal(s.f, f);
    assert_int_equal(s.done_at_call, 1);
    tu_finish(loop);
    assert_int_equal(drops, 1);
}

static void test_loop_close_drops_scheduled_done_callbacks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    drop_probe p = {0};
    int value_drops = 0;
    assert_int_equal(coio_future_add_done_callback(f, probe_done, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_future_set_result(f, &value_drops, tu_count_drop), COIO_OK);
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.drops, 1);
    assert_int_equal(value_drops, 0); /* the user still holds the future */
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &value_drops);
    coio_future_release(f);
    assert_int_equal(value_drops, 1);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

/* ---- "Future exception was never retrieved" --------------------------------------------- */

static void test_unretrieved_error_reported_once_at_free(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "the disk is on fire"), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(r.n, 0); /* not before it is freed */
    coio_future_ref(f);
    coio_future_release(f);
    assert_int_equal(r.n, 0);
    coio_future_release(f);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.last_message, "never retrieved"));
    assert_int_equal(r.last_code, COIO_ETIMEDOUT);
    assert_string_equal(r.last_error, "the disk is on fire");
    tu_run_one_pass(loop);
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

static void test_unretrieved_error_with_payload_reported(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *f = new_future(loop);
    int drops = 0;
    assert_int_equal(coio_future_set_error_payload(f, 5, "payload error", &drops, tu_count_drop),
                     COIO_OK);
    coio_future_release(f);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.last_message, "never retrieved"));
    assert_int_equal(r.last_code, 5);
    assert_string_equal(r.last_error, "payload error");
    assert_int_equal(drops, 1);
    tu_finish(loop);
    assert_int_equal(r.n, 1);
}

static void test_unretrieved_error_reported_when_freed_after_callbacks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *f = new_future(loop);
    seen s = {0};
    assert_int_equal(coio_future_add_done_callback(f, on_done, &s, NULL), COIO_OK);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "late"), COIO_OK);
    coio_future_release(f); /* the loop still holds it for the callback */
    assert_int_equal(r.n, 0);
    tu_run_one_pass(loop); /* on_done does not look at the error */
    assert_int_equal(s.calls, 1);
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.last_message, "never retrieved"));
    assert_int_equal(r.last_code, COIO_ETIMEDOUT);
    assert_string_equal(r.last_error, "late");
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

static void test_no_report_when_result_was_called(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "x"), COIO_OK);
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_EFAILED);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(r.n, 0);
}

static void test_no_report_when_error_was_called(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "x"), COIO_OK);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(r.n, 0);
}

static void test_no_report_for_cancelled_or_successful(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *c = new_future(loop);
    coio_future *s = new_future(loop);
    coio_future *p = new_future(loop);
    assert_int_equal(coio_future_cancel(c, "msg"), 1);
    assert_int_equal(coio_future_set_result(s, NULL, NULL), COIO_OK);
    coio_future_release(c);
    coio_future_release(s);
    coio_future_release(p); /* pending */
    tu_finish(loop);
    assert_int_equal(r.n, 0);
}

/* ---- Bad input ------------------------------------------------------------------------------ */

static void test_null_future_is_einval_everywhere(void **state) {
    (void)state;
    int drops = 0;
    int sentinel = 0;
    void *v = &sentinel;
    int code = 12345;
    const char *msg = "untouched";

    assert_int_equal(coio_future_done(NULL), 0);
    assert_int_equal(coio_future_cancelled(NULL), 0);
    assert_null(coio_future_loop(NULL));
    assert_null(coio_future_ref(NULL));
    coio_future_release(NULL);
    assert_int_equal(coio_future_set_result(NULL, &drops, tu_count_drop), COIO_EINVAL);
    assert_int_equal(coio_future_set_error(NULL, COIO_ETIMEDOUT, "x"), COIO_EINVAL);
    assert_int_equal(
        coio_future_set_error_payload(NULL, COIO_ETIMEDOUT, "x", &drops, tu_count_drop),
        COIO_EINVAL);
    assert_int_equal(coio_future_cancel(NULL, "x"), COIO_EINVAL);
    assert_int_equal(coio_future_result(NULL, &v), COIO_EINVAL);
    assert_ptr_equal(v, &sentinel);
    assert_int_equal(coio_future_error(NULL, &code, &msg), COIO_EINVAL);
    assert_int_equal(code, 12345);
    assert_string_equal(msg, "untouched");
    assert_int_equal(coio_future_error_payload(NULL, &v), COIO_EINVAL);
    assert_ptr_equal(v, &sentinel);
    assert_int_equal(coio_future_add_done_callback(NULL, on_done, &drops, tu_count_drop),
                     COIO_EINVAL);
    assert_int_equal(coio_future_remove_done_callback(NULL, on_done, &drops), COIO_EINVAL);
    assert_int_equal(drops, 0); /* a failed registration never calls drop */

    coio_loop *loop = tu_loop_virtual();
    assert_int_equal(coio_loop_run_until_complete(loop, NULL), COIO_EINVAL);
    tu_finish(loop);
}

static void test_null_fn_is_einval(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int drops = 0;
    assert_int_equal(coio_future_add_done_callback(f, NULL, &drops, tu_count_drop), COIO_EINVAL);
    assert_int_equal(drops, 0);
    assert_int_equal(coio_future_remove_done_callback(f, NULL, &drops), COIO_EINVAL);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(drops, 0);
}

static void test_future_new_null_loop_or_out_is_einval(void **state) {
    (void)state;
    coio_future *sentinel = (coio_future *)&sentinel;
    coio_future *out = sentinel;
    assert_int_equal(coio_future_new(NULL, &out), COIO_EINVAL);
    assert_ptr_equal(out, sentinel);
    coio_loop *loop = tu_loop_virtual();
    assert_int_equal(coio_future_new(loop, NULL), COIO_EINVAL);
    tu_finish(loop);
}

static void test_future_new_on_closed_loop_is_eclosed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    coio_future *sentinel = (coio_future *)&sentinel;
    coio_future *out = sentinel;
    assert_int_equal(coio_future_new(loop, &out), COIO_ECLOSED);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

static void test_operations_on_closed_loop_are_eclosed_and_change_nothing(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    int value_drops = 0, payload_drops = 0, cb_drops = 0;
    seen s = {0};

    assert_int_equal(coio_future_set_result(f, &value_drops, tu_count_drop), COIO_ECLOSED);
    assert_int_equal(coio_future_done(f), 0);
    assert_int_equal(coio_future_set_error(f, COIO_ETIMEDOUT, "x"), COIO_ECLOSED);
    assert_int_equal(coio_future_done(f), 0);
    assert_int_equal(
        coio_future_set_error_payload(f, COIO_ETIMEDOUT, "x", &payload_drops, tu_count_drop),
        COIO_ECLOSED);
    assert_int_equal(coio_future_done(f), 0);
    assert_int_equal(coio_future_add_done_callback(f, on_done, &cb_drops, tu_count_drop),
                     COIO_ECLOSED);
    assert_int_equal(coio_future_cancel(f, "x"), COIO_ECLOSED);
    assert_int_equal(coio_future_done(f), 0);
    assert_int_equal(coio_future_cancelled(f), 0);
    void *v = &s;
    assert_int_equal(coio_future_result(f, &v), COIO_ESTATE);
    assert_ptr_equal(v, &s);
    assert_ptr_equal(coio_future_loop(f), loop);

    coio_future_release(f);
    assert_int_equal(value_drops, 0);
    assert_int_equal(payload_drops, 0);
    assert_int_equal(cb_drops, 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

static void test_run_until_complete_other_loop_is_eloop(void **state) {
    (void)state;
    coio_loop *a = tu_loop_virtual();
    coio_loop *b = tu_loop_virtual();
    coio_future *fb = new_future(b);
    assert_int_equal(coio_loop_run_until_complete(a, fb), COIO_ELOOP);
    assert_int_equal(coio_future_done(fb), 0);
    /* Also when the foreign future is already done. */
    assert_int_equal(coio_future_set_result(fb, NULL, NULL), COIO_OK);
    assert_int_equal(coio_loop_run_until_complete(a, fb), COIO_ELOOP);
    coio_future_release(fb);
    tu_finish(a);
    tu_finish(b);
}

/* ---- run_until_complete ------------------------------------------------------------------- */

static void test_run_until_complete_ok(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    int value = 7;
    completer c = {f, &value, 0, NULL};
    assert_int_equal(coio_call_soon(loop, complete_result, &c, NULL, NULL), COIO_OK);
    assert_int_equal(coio_loop_run_until_complete(loop, f), COIO_OK);
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &value);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_run_until_complete_already_done_ok(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_int_equal(coio_loop_run_until_complete(loop, f), COIO_OK);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_run_until_complete_failed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports r;
    tu_capture_reports(loop, &r);
    coio_future *f = new_future(loop);
    completer c = {f, NULL, COIO_ETIMEDOUT, "nope"};
    assert_int_equal(coio_call_soon(loop, complete_error, &c, NULL, NULL), COIO_OK);
    assert_int_equal(coio_loop_run_until_complete(loop, f), COIO_EFAILED);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(coio_future_error(f, &code, &msg), COIO_OK);
    assert_int_equal(code, COIO_ETIMEDOUT);
    assert_string_equal(msg, "nope");
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(r.n, 0);
}

static void test_run_until_complete_cancelled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    completer c = {f, NULL, 0, "cancel msg"};
    assert_int_equal(coio_call_soon(loop, complete_cancel, &c, NULL, NULL), COIO_OK);
    assert_int_equal(coio_loop_run_until_complete(loop, f), COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(f), 1);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_run_until_complete_stopped_first_is_estate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_call_soon(loop, stop_loop, loop, NULL, NULL), COIO_OK);
    assert_int_equal(coio_loop_run_until_complete(loop, f), COIO_ESTATE);
    assert_int_equal(coio_future_done(f), 0);
    assert_int_equal(coio_loop_is_running(loop), 0);
    /* The loop can be run again, and the future completed then. */
    int value = 3;
    completer c = {f, &value, 0, NULL};
    assert_int_equal(coio_call_soon(loop, complete_result, &c, NULL, NULL), COIO_OK);
    assert_int_equal(coio_loop_run_until_complete(loop, f), COIO_OK);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_run_until_complete_virtual_time_jumps_to_deadline(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_true(coio_loop_time(loop) == 0.0);
    coio_future *f = new_future(loop);
    int value = 1;
    completer c = {f, &value, 0, NULL};
    tu_log log = {0};
    tu_rec later = {&log, 99};
    coio_handle *h = NULL, *h2 = NULL;
    assert_int_equal(coio_call_later(loop, 3600.0, complete_result, &c, NULL, &h), COIO_OK);
    assert_int_equal(coio_call_later(loop, 7200.0, tu_record, &later, NULL, &h2), COIO_OK);
    double when = -1.0;
    assert_int_equal(coio_handle_when(h, &when), COIO_OK);
    assert_true(when == 3600.0);

    double t0 = now_real();
    assert_int_equal(coio_loop_run_until_complete(loop, f), COIO_OK);
    double elapsed = now_real() - t0;
    assert_true(elapsed < 5.0);
    assert_true(coio_loop_time(loop) == when);
    assert_int_equal(log.n, 0); /* the later timer did not fire */
    void *v = NULL;
    assert_int_equal(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &value);

    coio_handle_release(h);
    coio_handle_release(h2);
    coio_future_release(f);
    tu_finish(loop);
    assert_int_equal(log.n, 0);
}

/* ---- Fixes found in review -------------------------------------------------------------- */

/* A handler that keeps a reference to the reported future: it must be reported only once. */
typedef struct keeper {
    int reports;
    coio_future *kept;
} keeper;

static void keep_handler(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    keeper *k = arg;
    k->reports++;
    if (ctx->future && !k->kept) k->kept = coio_future_ref(ctx->future);
}

static void test_never_retrieved_reported_once_when_handler_keeps_future(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    keeper k = {0, NULL};
    assert_int_equal(coio_loop_set_exception_handler(loop, keep_handler, &k, NULL), COIO_OK);
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_error(f, 7, "lost"), COIO_OK);
    coio_future_release(f);
    assert_int_equal(k.reports, 1);
    assert_non_null(k.kept);
    coio_future_release(k.kept); /* the last reference: no second report */
    assert_int_equal(k.reports, 1);
    tu_finish(loop);
}

static void test_cancel_done_future_on_closed_loop_returns_0(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_set_result(f, NULL, NULL), COIO_OK);
    coio_future *g = new_future(loop);
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    assert_int_equal(coio_future_cancel(f, "late"), 0);
    assert_int_equal(coio_future_cancel(g, "late"), COIO_ECLOSED);
    assert_false(coio_future_cancelled(g));
    coio_future_release(f);
    coio_future_release(g);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

static void test_set_null_exception_handler_runs_drop_at_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    assert_int_equal(coio_loop_set_exception_handler(loop, NULL, &drops, tu_count_drop), COIO_OK);
    assert_int_equal(drops, 1);
    coio_exception_handler fn = keep_handler;
    void *arg = &fn;
    assert_int_equal(coio_loop_get_exception_handler(loop, &fn, &arg), COIO_OK);
    assert_null(fn);
    assert_null(arg);
    tu_finish(loop);
    assert_int_equal(drops, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_pending_and_on_its_loop),
        cmocka_unit_test(test_ref_returns_same_future_and_keeps_it_alive),
        cmocka_unit_test(test_release_and_ref_null_are_noops),
        cmocka_unit_test(test_set_result_value_borrowed_by_result),
        cmocka_unit_test(test_set_result_null_value_allowed),
        cmocka_unit_test(test_set_result_drop_runs_once_at_free_not_before),
        cmocka_unit_test(test_set_result_on_done_future_is_estate_and_changes_nothing),
        cmocka_unit_test(test_set_result_on_failed_or_cancelled_future_is_estate),
        cmocka_unit_test(test_result_of_pending_is_estate_out_untouched),
        cmocka_unit_test(test_set_error_code_zero_is_einval),
        cmocka_unit_test(test_set_error_result_is_efailed_error_gives_code_and_message),
        cmocka_unit_test(test_set_error_copies_message),
        cmocka_unit_test(test_set_error_null_message_allowed),
        cmocka_unit_test(test_error_on_success_is_zero_and_null),
        cmocka_unit_test(test_error_accepts_null_outs),
        cmocka_unit_test(test_set_error_payload_returned_and_dropped_once_at_free),
        cmocka_unit_test(test_error_payload_null_when_set_error_without_payload),
        cmocka_unit_test(test_cancel_returns_1_then_0),
        cmocka_unit_test(test_cancelled_result_is_ecancelled_error_gives_message),
        cmocka_unit_test(test_cancel_null_message_gives_null),
        cmocka_unit_test(test_cancel_done_future_keeps_value),
        cmocka_unit_test(test_cancel_failed_future_keeps_error),
        cmocka_unit_test(test_done_callback_not_synchronous_runs_after_one_pass),
        cmocka_unit_test(test_done_callbacks_run_in_registration_order),
        cmocka_unit_test(test_done_callback_added_after_completion_runs_next_pass),
        cmocka_unit_test(test_done_callbacks_after_completion_keep_registration_order),
        cmocka_unit_test(test_done_callback_gets_future_and_arg),
        cmocka_unit_test(test_done_callback_drop_runs_once_after_the_call),
        cmocka_unit_test(test_done_callback_drop_runs_on_removal),
        cmocka_unit_test(test_done_callback_drop_runs_when_pending_future_freed),
        cmocka_unit_test(test_remove_done_callback_counts_and_removes_all_matches),
        cmocka_unit_test(test_remove_done_callback_drops_each_removed_registration),
        cmocka_unit_test(test_done_callbacks_grow_after_removals),
        cmocka_unit_test(test_remove_done_callback_matches_fn_and_arg),
        cmocka_unit_test(test_remove_done_callback_none_registered_returns_0),
        cmocka_unit_test(test_removed_callback_never_runs),
        cmocka_unit_test(test_remove_after_completion_finds_nothing_callback_still_runs),
        cmocka_unit_test(test_cancel_schedules_done_callbacks),
        cmocka_unit_test(test_set_error_schedules_done_callbacks),
        cmocka_unit_test(test_done_callback_may_add_done_callback_runs_later_pass),
        cmocka_unit_test(test_done_callback_may_release_last_user_reference),
        cmocka_unit_test(test_done_callbacks_keep_future_alive_after_user_release),
        cmocka_unit_test(test_loop_close_drops_scheduled_done_callbacks),
        cmocka_unit_test(test_unretrieved_error_reported_once_at_free),
        cmocka_unit_test(test_unretrieved_error_with_payload_reported),
        cmocka_unit_test(test_unretrieved_error_reported_when_freed_after_callbacks),
        cmocka_unit_test(test_no_report_when_result_was_called),
        cmocka_unit_test(test_no_report_when_error_was_called),
        cmocka_unit_test(test_no_report_for_cancelled_or_successful),
        cmocka_unit_test(test_null_future_is_einval_everywhere),
        cmocka_unit_test(test_null_fn_is_einval),
        cmocka_unit_test(test_future_new_null_loop_or_out_is_einval),
        cmocka_unit_test(test_future_new_on_closed_loop_is_eclosed),
        cmocka_unit_test(test_operations_on_closed_loop_are_eclosed_and_change_nothing),
        cmocka_unit_test(test_run_until_complete_other_loop_is_eloop),
        cmocka_unit_test(test_run_until_complete_ok),
        cmocka_unit_test(test_run_until_complete_already_done_ok),
        cmocka_unit_test(test_run_until_complete_failed),
        cmocka_unit_test(test_run_until_complete_cancelled),
        cmocka_unit_test(test_run_until_complete_stopped_first_is_estate),
        cmocka_unit_test(test_run_until_complete_virtual_time_jumps_to_deadline),
        cmocka_unit_test(test_never_retrieved_reported_once_when_handler_keeps_future),
        cmocka_unit_test(test_cancel_done_future_on_closed_loop_returns_0),
        cmocka_unit_test(test_set_null_exception_handler_runs_drop_at_once),
        cmocka_unit_test(test_take_result_moves_value_and_drop_out),
        cmocka_unit_test(test_take_result_on_closed_loop_follows_the_man_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
