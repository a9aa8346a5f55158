/* Reprs: coio_future_repr against what CPython 3.13's asyncio prints for the same future or
 * task (base_futures._future_repr, base_tasks._task_repr), without source locations;
 * coio_future_set_result_repr, the stock formatters, coio_function_set_name.
 *
 * Every test builds its own virtual-time loop and releases everything it made. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The repr of f, in a static buffer; asserts that the returned length is the string's. */
static const char *repr(const coio_future *f) {
    static char buf[1024];
    long n = coio_future_repr(f, buf, sizeof buf);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(buf));
    return buf;
}

static const char *repr_str(const char *s) {
    static char buf[512];
    long n = coio_repr_str(s, buf, sizeof buf);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(buf));
    return buf;
}

static coio_future *new_future(coio_loop *loop) {
    coio_future *f = NULL;
    assert_status(coio_future_new(loop, &f), COIO_OK);
    return f;
}

static void user_cb(coio_future *f, void *arg) {
    (void)f;
    (void)arg;
}
static void other_cb(coio_future *f, void *arg) {
    (void)f;
    (void)arg;
}
static void never_named_cb(coio_future *f, void *arg) {
    (void)f;
    (void)arg;
}

/* ---- futures ------------------------------------------------------------------------------ */

static void test_pending_future(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_string_equal(repr(f), "<Future pending>");
    coio_future_release(f);
    tu_finish(loop);
}

/* asyncio: the repr inside a callback while run_until_complete waits for the future. */
static void show_in_callback(void *f) {
    static char seen[256];
    coio_future_repr(f, seen, sizeof seen);
    assert_string_equal(seen, "<Future pending cb=[_run_until_complete_cb()]>");
    coio_future_set_result_repr(f, "Future is done!", NULL, coio_repr_str);
    coio_future_repr(f, seen, sizeof seen);
    assert_string_equal(seen, "<Future finished result='Future is done!'>");
}

static void test_run_until_complete_callback_has_asyncio_name(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_call_soon(loop, show_in_callback, f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, f), COIO_OK);
    /* done: no callbacks shown (asyncio forgets them once scheduled) */
    assert_string_equal(repr(f), "<Future finished result='Future is done!'>");
    coio_future_release(f);
    tu_finish(loop);
}

static void test_user_callbacks_by_name_and_count(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(COIO_NAME_FUNCTION(user_cb), COIO_OK);
    assert_status(coio_function_set_name((coio_any_fn)other_cb, "Other.cb"), COIO_OK);
    assert_status(coio_future_add_done_callback(f, user_cb, NULL, NULL), COIO_OK);
    assert_string_equal(repr(f), "<Future pending cb=[user_cb()]>");
    assert_status(coio_future_add_done_callback(f, other_cb, NULL, NULL), COIO_OK);
    assert_string_equal(repr(f), "<Future pending cb=[user_cb(), Other.cb()]>");
    assert_status(coio_future_add_done_callback(f, user_cb, NULL, NULL), COIO_OK);
    assert_string_equal(repr(f), "<Future pending cb=[user_cb(), <1 more>, user_cb()]>");
    assert_status(coio_future_add_done_callback(f, other_cb, NULL, NULL), COIO_OK);
    assert_string_equal(repr(f), "<Future pending cb=[user_cb(), <2 more>, Other.cb()]>");
    /* renamed, then forgotten: the address (a static function has no dynamic symbol) */
    assert_status(coio_function_set_name((coio_any_fn)other_cb, "renamed"), COIO_OK);
    assert_string_equal(repr(f), "<Future pending cb=[user_cb(), <2 more>, renamed()]>");
    assert_status(coio_function_set_name((coio_any_fn)other_cb, NULL), COIO_OK);
    char want[128];
    snprintf(want, sizeof want, "<Future pending cb=[user_cb(), <2 more>, %#lx()]>",
             (unsigned long)(uintptr_t)other_cb);
    assert_string_equal(repr(f), want);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_string_equal(repr(f), "<Future finished result=None>");
    coio_future_release(f);
    tu_finish(loop);
}

static void test_unnamed_callback_shows_its_address(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_future_add_done_callback(f, never_named_cb, NULL, NULL), COIO_OK);
    char want[128];
    snprintf(want, sizeof want, "<Future pending cb=[%#lx()]>",
             (unsigned long)(uintptr_t)never_named_cb);
    assert_string_equal(repr(f), want);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_cancelled_and_failed_futures(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_int_equal(coio_future_cancel(f, "why"), 1);
    assert_string_equal(repr(f), "<Future cancelled>"); /* asyncio shows no message */
    coio_future_release(f);

    f = new_future(loop);
    assert_status(coio_future_set_error(f, COIO_ETIMEDOUT, "timed out"), COIO_OK);
    assert_string_equal(repr(f), "<Future finished exception=COIO_ETIMEDOUT('timed out')>");
    assert_int_equal(tu_error_code(f), COIO_ETIMEDOUT); /* (retrieved: no report at free) */
    coio_future_release(f);

    f = new_future(loop);
    assert_status(coio_future_set_error(f, 42, "it's bad"), COIO_OK);
    assert_string_equal(repr(f), "<Future finished exception=Error(42, \"it's bad\")>");
    assert_int_equal(tu_error_code(f), 42);
    coio_future_release(f);

    f = new_future(loop);
    assert_status(coio_future_set_error(f, COIO_EFAILED, NULL), COIO_OK);
    assert_string_equal(repr(f), "<Future finished exception=COIO_EFAILED()>");
    assert_int_equal(tu_error_code(f), COIO_EFAILED);
    coio_future_release(f);

    f = new_future(loop);
    assert_status(coio_future_set_error(f, 7, NULL), COIO_OK);
    assert_string_equal(repr(f), "<Future finished exception=Error(7)>");
    assert_int_equal(tu_error_code(f), 7);
    coio_future_release(f);
    tu_finish(loop);
}

/* The repr does not retrieve the error: freeing the future still reports it. */
static void test_repr_does_not_retrieve_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    tu_reports reports;
    tu_capture_reports(loop, &reports);
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_error(f, COIO_EFAILED, "x"), COIO_OK);
    repr(f);
    coio_future_release(f);
    assert_int_equal(reports.n, 1);
    tu_finish(loop);
}

static void test_result_without_repr_function(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static int thing;
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result(f, &thing, NULL), COIO_OK);
    char want[64];
    snprintf(want, sizeof want, "<Future finished result=<%#lx>>",
             (unsigned long)(uintptr_t)&thing);
    assert_string_equal(repr(f), want);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_int_result_and_take(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result_repr(f, (void *)(intptr_t)-42, NULL, coio_repr_int),
                  COIO_OK);
    assert_string_equal(repr(f), "<Future finished result=-42>");
    void *v;
    coio_free_fn drop;
    assert_status(coio_future_take_result(f, &v, &drop), COIO_OK);
    assert_string_equal(repr(f), "<Future finished result=None>"); /* the formatter went too */
    coio_future_release(f);
    tu_finish(loop);
}

static long failing_repr(const void *value, char *buf, size_t size) {
    (void)value;
    (void)buf;
    (void)size;
    return -1;
}

/* A formatter writing 300 bytes: longer than the first buffer coio tries. */
static long long_repr(const void *value, char *buf, size_t size) {
    (void)value;
    char tmp[301];
    memset(tmp, 'y', 300);
    tmp[300] = '\0';
    return snprintf(buf, size, "%s", tmp);
}

static void test_formatter_failure_and_long_output(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result_repr(f, NULL, NULL, failing_repr), COIO_OK);
    assert_string_equal(repr(f), "<Future finished result=?>");
    coio_future_release(f);

    f = new_future(loop);
    assert_status(coio_future_set_result_repr(f, NULL, NULL, long_repr), COIO_OK);
    const char *r = repr(f);
    assert_int_equal(strlen(r), strlen("<Future finished result=>") + 300);
    assert_int_equal(r[24 + 299], 'y');
    coio_future_release(f);
    tu_finish(loop);
}

static void test_set_result_repr_statuses(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int drops = 0;
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result_repr(NULL, NULL, NULL, coio_repr_str), COIO_EINVAL);
    static char a[] = "a";
    assert_status(coio_future_set_result_repr(f, a, NULL, NULL), COIO_OK); /* = set_result */
    char want[64];
    snprintf(want, sizeof want, "<Future finished result=<%#lx>>", (unsigned long)(uintptr_t)a);
    assert_string_equal(repr(f), want);
    assert_status(coio_future_set_result_repr(f, &drops, tu_count_drop, coio_repr_str),
                  COIO_ESTATE);
    assert_int_equal(drops, 0); /* not taken on failure */
    coio_future_release(f);
    tu_finish(loop);
}

/* A future that shares the result (shield of a done future, wait_for) shares the formatter. */
static void test_shared_result_shares_formatter(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop), *w = NULL;
    assert_status(coio_wait_for(f, COIO_NO_TIMEOUT, &w), COIO_OK);
    assert_status(coio_future_set_result_repr(f, "shared", NULL, coio_repr_str), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, w), COIO_OK);
    assert_string_equal(repr(w), "<Future finished result='shared'>");
    coio_future_release(f);
    coio_future_release(w);
    tu_finish(loop);
}

/* Forty formatters, each naming itself: more kinds than a loop keeps at hand in each future,
 * so the later ones are looked up elsewhere; every future still formats with its own. */
#define FMT(k)                                                                                     \
    static long fmt##k(const void *v, char *buf, size_t size) {                                    \
        (void)v;                                                                                   \
        return snprintf(buf, size, "fmt" #k);                                                      \
    }
#define FMT8(k) FMT(k##0) FMT(k##1) FMT(k##2) FMT(k##3) FMT(k##4) FMT(k##5) FMT(k##6) FMT(k##7)
FMT8(1)
FMT8(2)
FMT8(3)
FMT8(4)
FMT8(5)
#define REF8(k)                                                                                    \
    fmt##k##0, fmt##k##1, fmt##k##2, fmt##k##3, fmt##k##4, fmt##k##5, fmt##k##6, fmt##k##7
static coio_repr_fn const many_fmts[] = {REF8(1), REF8(2), REF8(3), REF8(4), REF8(5)};
#define NFMTS (sizeof many_fmts / sizeof many_fmts[0])

static void test_many_formatters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *fs[2 * NFMTS], *w[2 * NFMTS];
    char want[64];
    for (size_t i = 0; i < 2 * NFMTS; i++) { /* each formatter twice, the second round reversed */
        size_t k = i < NFMTS ? i : 2 * NFMTS - 1 - i;
        fs[i] = new_future(loop);
        assert_status(coio_wait_for(fs[i], COIO_NO_TIMEOUT, &w[i]), COIO_OK);
        assert_status(coio_future_set_result_repr(fs[i], NULL, NULL, many_fmts[k]), COIO_OK);
    }
    for (size_t i = 0; i < 2 * NFMTS; i++) {
        size_t k = i < NFMTS ? i : 2 * NFMTS - 1 - i;
        assert_status(coio_loop_run_until_complete(loop, w[i]), COIO_OK);
        char shown[16];
        many_fmts[k](NULL, shown, sizeof shown);
        snprintf(want, sizeof want, "<Future finished result=%s>", shown);
        assert_string_equal(repr(fs[i]), want);
        assert_string_equal(repr(w[i]), want); /* a shared result shares its formatter */
    }
    for (size_t i = 0; i < 2 * NFMTS; i++) {
        coio_future_release(fs[i]);
        coio_future_release(w[i]);
    }
    /* The futures are gone; a new one with the last formatter still shows it. */
    coio_future *f = new_future(loop);
    assert_status(coio_future_set_result_repr(f, NULL, NULL, many_fmts[NFMTS - 1]), COIO_OK);
    assert_string_equal(repr(f), "<Future finished result=fmt57>");
    coio_future_release(f);
    tu_finish(loop);
}

static void test_snprintf_semantics(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f = new_future(loop);
    long full = coio_future_repr(f, NULL, 0);
    assert_int_equal(full, (long)strlen("<Future pending>"));
    char small[8];
    memset(small, 'z', sizeof small);
    assert_int_equal(coio_future_repr(f, small, sizeof small), full);
    assert_string_equal(small, "<Future");
    char one[1] = {'z'};
    assert_int_equal(coio_future_repr(f, one, 1), full);
    assert_int_equal(one[0], '\0');
    assert_int_equal(coio_future_repr(NULL, small, sizeof small), COIO_EINVAL);
    assert_int_equal(coio_future_repr(f, NULL, 4), COIO_EINVAL);
    assert_int_equal(coio_repr_str("x", NULL, 4), COIO_EINVAL);
    assert_int_equal(coio_repr_int(NULL, NULL, 4), COIO_EINVAL);
    assert_int_equal(coio_repr_int((void *)(intptr_t)12345, NULL, 0), 5);
    coio_future_release(f);
    tu_finish(loop);
}

static void test_function_set_name_statuses(void **state) {
    (void)state;
    assert_status(coio_function_set_name(NULL, "x"), COIO_EINVAL);
    assert_status(coio_function_set_name((coio_any_fn)never_named_cb, NULL), COIO_OK); /* none */
}

/* ---- Python's repr() of a str, reprlib-shortened -------------------------------------------- */

static void test_repr_str_like_python(void **state) {
    (void)state;
    /* each expected value is what CPython 3.13's reprlib.repr() prints */
    assert_string_equal(repr_str("Future is done!"), "'Future is done!'");
    assert_string_equal(repr_str(""), "''");
    assert_string_equal(repr_str("it's"), "\"it's\"");
    assert_string_equal(repr_str("it's \"q\""), "'it\\'s \"q\"'");
    assert_string_equal(repr_str("a\\b\tc\nd\re\x01"), "'a\\\\b\\tc\\nd\\re\\x01'");
    assert_string_equal(repr_str("返回值"), "'返回值'");
    assert_string_equal(repr_str("\xff\xc3("), "'\\xff\\xc3('");       /* not UTF-8 */
    assert_string_equal(repr_str("\xc2\xa0\xc2\x85"), "'\\xa0\\x85'"); /* U+00A0, U+0085 */
    /* 28 characters: repr of 30, kept; 29: shortened */
    assert_string_equal(repr_str("abcdefghijklmnopqrstuvwxyz01"), "'abcdefghijklmnopqrstuvwxyz01'");
    assert_string_equal(repr_str("abcdefghijklmnopqrstuvwxyz012"),
                        "'abcdefghijkl...qrstuvwxyz012'");
    char x100[101];
    memset(x100, 'x', 100);
    x100[100] = '\0';
    assert_string_equal(repr_str(x100), "'xxxxxxxxxxxx...xxxxxxxxxxxxx'");
    assert_string_equal(repr_str("一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十"),
                        "'一二三四五六七八九十一二...八九十一二三四五六七八九十'");
    assert_string_equal(repr_str(NULL), "None");
}

/* ---- tasks ------------------------------------------------------------------------------- */

static int body_waits(coio_future *self, void *f) {
    (void)self;
    return coio_await(f, NULL);
}

static int body_returns(coio_future *self, void *arg) {
    (void)arg;
    return coio_future_set_result_repr(self, "the result", NULL, coio_repr_str);
}

static coio_future *spawn_named(coio_loop *loop, coio_coroutine_fn fn, void *arg,
                                const char *name) {
    coio_task_options opts = COIO_TASK_OPTIONS_INIT;
    opts.name = name;
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, fn, arg, &opts, &t), COIO_OK);
    return t;
}

static void test_task_forms(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(COIO_NAME_FUNCTION(body_waits), COIO_OK);
    assert_status(COIO_NAME_FUNCTION(body_returns), COIO_OK);
    coio_future *f = new_future(loop);
    coio_future *t = spawn_named(loop, body_waits, f, "waiter");
    assert_string_equal(repr(t), "<Task pending name='waiter' coro=<body_waits() running>>");
    tu_run_one_pass(loop);
    assert_string_equal(repr(t), "<Task pending name='waiter' coro=<body_waits() running> "
                                 "wait_for=<Future pending cb=[Task.task_wakeup()]>>");
    assert_string_equal(repr(f), "<Future pending cb=[Task.task_wakeup()]>");
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    assert_string_equal(repr(t), "<Task cancelling name='waiter' coro=<body_waits() running> "
                                 "wait_for=<Future cancelled>>");
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    assert_string_equal(repr(t), "<Task cancelled name='waiter' coro=<body_waits() done>>");
    coio_future_release(t);
    coio_future_release(f);

    t = spawn_named(loop, body_returns, NULL, "it's");
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_string_equal(
        repr(t), "<Task finished name=\"it's\" coro=<body_returns() done> result='the result'>");
    coio_future_release(t);

    /* the default name */
    assert_status(coio_spawn(loop, body_returns, NULL, NULL, &t), COIO_OK);
    char want[128];
    snprintf(want, sizeof want, "<Task pending name='%s' coro=<body_returns() running>>",
             coio_task_name(t));
    assert_string_equal(repr(t), want);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

/* The repr of the running task, from inside: run_until_complete's callback on it. */
static int body_shows_itself(coio_future *self, void *arg) {
    (void)arg;
    assert_string_equal(repr(self), "<Task pending name='main' coro=<body_shows_itself() running> "
                                    "cb=[_run_until_complete_cb()]>");
    return COIO_OK;
}

static void test_running_task_shows_run_until_complete_cb(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(COIO_NAME_FUNCTION(body_shows_itself), COIO_OK);
    coio_future *t = spawn_named(loop, body_shows_itself, NULL, "main");
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
}

static int body_fails(coio_future *self, void *arg) {
    (void)arg;
    coio_future_set_error(self, COIO_EFAILED, "bad");
    return COIO_EFAILED;
}

static void test_failed_task_and_gather_callback(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(COIO_NAME_FUNCTION(body_fails), COIO_OK);
    coio_future *f = new_future(loop), *g = NULL;
    assert_status(coio_gather(loop, &f, 1, 0, &g), COIO_OK);
    assert_string_equal(repr(f), "<Future pending cb=[gather.<locals>._done_callback()]>");
    assert_int_equal(coio_future_cancel(g, NULL), 1);
    assert_status(coio_loop_run_until_complete(loop, g), COIO_ECANCELLED);
    coio_future_release(g);
    coio_future_release(f);

    coio_future *t = spawn_named(loop, body_fails, NULL, "boom");
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_string_equal(repr(t), "<Task finished name='boom' coro=<body_fails() done> "
                                 "exception=COIO_EFAILED('bad')>");
    coio_future_release(t);
    tu_finish(loop);
}

/* A sleep's own timer bookkeeping is not a callback asyncio shows. */
static void test_sleep_shows_no_internal_callback(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *s = tu_sleep(loop, 1.0);
    assert_string_equal(repr(s), "<Future pending>");
    assert_status(coio_loop_run_until_complete(loop, s), COIO_OK);
    assert_string_equal(repr(s), "<Future finished result=None>");
    coio_future_release(s);
    tu_finish(loop);
}

/* Two tasks waiting on each other through futures cannot loop the repr. */
static int body_waits_task(coio_future *self, void *other) {
    (void)self;
    return coio_await(*(coio_future **)other, NULL);
}

static void test_recursion_guard(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(COIO_NAME_FUNCTION(body_waits_task), COIO_OK);
    coio_future *a = NULL, *b = NULL;
    a = spawn_named(loop, body_waits_task, &b, "a");
    b = spawn_named(loop, body_waits_task, &a, "b");
    tu_run_one_pass(loop);
    assert_string_equal(repr(a),
                        "<Task pending name='a' coro=<body_waits_task() running> wait_for=<Task "
                        "pending name='b' coro=<body_waits_task() running> wait_for=... "
                        "cb=[Task.task_wakeup()]> cb=[Task.task_wakeup()]>");
    /* a deadlock: closing the loop ends both (reported as destroyed while pending) */
    tu_reports reports;
    tu_capture_reports(loop, &reports);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(reports.n, 2);
    coio_future_release(a);
    coio_future_release(b);
    tu_finish(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_future),
        cmocka_unit_test(test_run_until_complete_callback_has_asyncio_name),
        cmocka_unit_test(test_user_callbacks_by_name_and_count),
        cmocka_unit_test(test_unnamed_callback_shows_its_address),
        cmocka_unit_test(test_cancelled_and_failed_futures),
        cmocka_unit_test(test_repr_does_not_retrieve_error),
        cmocka_unit_test(test_result_without_repr_function),
        cmocka_unit_test(test_int_result_and_take),
        cmocka_unit_test(test_formatter_failure_and_long_output),
        cmocka_unit_test(test_set_result_repr_statuses),
        cmocka_unit_test(test_shared_result_shares_formatter),
        cmocka_unit_test(test_many_formatters),
        cmocka_unit_test(test_snprintf_semantics),
        cmocka_unit_test(test_function_set_name_statuses),
        cmocka_unit_test(test_repr_str_like_python),
        cmocka_unit_test(test_task_forms),
        cmocka_unit_test(test_running_task_shows_run_until_complete_cb),
        cmocka_unit_test(test_failed_task_and_gather_callback),
        cmocka_unit_test(test_sleep_shows_no_internal_callback),
        cmocka_unit_test(test_recursion_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
