/* coio_remote (a thread-safe loop handle) and coio_completion (a future another thread
 * completes): the single-threaded contract first, then threads hammering both while the loop
 * runs, closes and is freed (run under ThreadSanitizer by tools/test.sh). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void noop(void *p) {
    (void)p;
}

/* ---- coio_remote: contract -------------------------------------------------------------- */

static void test_remote_bad_input(void **state) {
    (void)state;
    coio_remote *r = NULL;
    int drops = 0;
    assert_status(coio_loop_remote(NULL, &r), COIO_EINVAL);
    coio_loop *loop = tu_loop_virtual();
    assert_status(coio_loop_remote(loop, NULL), COIO_EINVAL);
    assert_null(r);
    /* The handle always takes arg: even a NULL handle or fn runs the drop. */
    assert_status(coio_remote_call_soon(NULL, noop, &drops, tu_count_drop), COIO_EINVAL);
    assert_int_equal(drops, 1);
    assert_status(coio_loop_remote(loop, &r), COIO_OK);
    assert_status(coio_remote_call_soon(r, NULL, &drops, tu_count_drop), COIO_EINVAL);
    assert_int_equal(drops, 2);
    assert_status(coio_remote_call_soon(r, NULL, NULL, NULL), COIO_EINVAL);
    assert_null(coio_remote_ref(NULL));
    coio_remote_release(NULL);
    coio_remote_release(r);
    tu_finish(loop);
}

static void test_remote_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_remote *r = (coio_remote *)&r;
    assert_status(coio_loop_remote(loop, &r), COIO_ECLOSED);
    assert_ptr_equal(r, (coio_remote *)&r); /* untouched */
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Runs on the loop thread, FIFO, with the drop after the call. */
static void test_remote_call_soon_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_remote *r;
    assert_status(coio_loop_remote(loop, &r), COIO_OK);
    coio_remote *r2 = coio_remote_ref(r);
    assert_ptr_equal(r2, r);
    tu_log log = {0};
    tu_rec a = {&log, 1}, b = {&log, 2}, c = {&log, 3};
    int drops = 0;
    assert_status(coio_remote_call_soon(r, tu_record, &a, NULL), COIO_OK);
    /* the same queue as coio_call_soon_threadsafe: one FIFO */
    assert_status(coio_call_soon_threadsafe(loop, tu_record, &b, NULL), COIO_OK);
    assert_status(coio_remote_call_soon(r2, tu_record, &c, NULL), COIO_OK);
    assert_status(coio_remote_call_soon(r2, noop, &drops, tu_count_drop), COIO_OK);
    assert_int_equal(log.n, 0); /* never inline */
    assert_int_equal(drops, 0);
    tu_run_one_pass(loop);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.tags[0], 1);
    assert_int_equal(log.tags[1], 2);
    assert_int_equal(log.tags[2], 3);
    assert_int_equal(drops, 1);
    coio_remote_release(r2);
    coio_remote_release(r);
    tu_finish(loop);
}

/* Accepted just before the close: the close discards it, its drop runs once, fn never. */
static void test_remote_accepted_then_closed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_remote *r;
    assert_status(coio_loop_remote(loop, &r), COIO_OK);
    tu_log log = {0};
    tu_rec a = {&log, 1};
    int drops = 0;
    assert_status(coio_remote_call_soon(r, tu_record, &a, NULL), COIO_OK);
    assert_status(coio_remote_call_soon(r, noop, &drops, tu_count_drop), COIO_OK);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(drops, 1);
    assert_int_equal(log.n, 0);
    /* After the close: ECLOSED, drop run on the caller. */
    assert_status(coio_remote_call_soon(r, noop, &drops, tu_count_drop), COIO_ECLOSED);
    assert_int_equal(drops, 2);
    assert_status(coio_loop_release(loop), COIO_OK);
    /* After the loop is freed: the same, no memory of the loop touched (ASan, valgrind). */
    assert_status(coio_remote_call_soon(r, noop, &drops, tu_count_drop), COIO_ECLOSED);
    assert_int_equal(drops, 3);
    coio_remote_release(r);
}

/* Released without an explicit close: the release closes, the handle outlives the loop. */
static void test_remote_outlives_released_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_remote *r;
    assert_status(coio_loop_remote(loop, &r), COIO_OK);
    int drops = 0;
    assert_status(coio_remote_call_soon(r, noop, &drops, tu_count_drop), COIO_OK);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(drops, 1);
    coio_remote *r2 = coio_remote_ref(r);
    coio_remote_release(r);
    assert_status(coio_remote_call_soon(r2, noop, &drops, tu_count_drop), COIO_ECLOSED);
    assert_int_equal(drops, 2);
    coio_remote_release(r2);
}

/* A drop run by the close may itself call through the handle: ECLOSED, no deadlock. */
typedef struct reentrant {
    coio_remote *r;
    int st;
    int inner_drops;
} reentrant;

static void reentrant_drop(void *p) {
    reentrant *re = p;
    re->st = coio_remote_call_soon(re->r, noop, &re->inner_drops, tu_count_drop);
}

static void test_remote_call_from_close_drop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    reentrant re = {.st = 1};
    assert_status(coio_loop_remote(loop, &re.r), COIO_OK);
    assert_status(coio_remote_call_soon(re.r, noop, &re, reentrant_drop), COIO_OK);
    tu_finish(loop);
    assert_status(re.st, COIO_ECLOSED);
    assert_int_equal(re.inner_drops, 1);
    coio_remote_release(re.r);
}

/* ---- coio_remote: threads --------------------------------------------------------------- */

typedef struct shared {
    coio_loop *loop;
    atomic_long ran, drops;
    long stop_after; /* the loop stops once this many callbacks ran */
} shared;

static void count_ran(void *p) {
    shared *s = p;
    if (atomic_fetch_add(&s->ran, 1) + 1 == s->stop_after) coio_loop_stop(s->loop);
}

static void count_drop(void *p) {
    atomic_fetch_add(&((shared *)p)->drops, 1);
}

typedef struct hammer {
    pthread_t thread;
    coio_remote *remote; /* this thread's reference */
    shared *s;
    long ok, closed, other;
} hammer;

/* Calls until the loop is gone, then a few more (all ECLOSED), then lets its handle go. */
static void *hammer_main(void *p) {
    hammer *h = p;
    for (;;) {
        int rc = coio_remote_call_soon(h->remote, count_ran, h->s, count_drop);
        if (rc == COIO_OK)
            h->ok++;
        else if (rc == COIO_ECLOSED)
            break;
        else
            h->other++;
        if (h->ok % 128 == 0) sched_yield();
    }
    for (int i = 0; i < 100; i++) {
        if (coio_remote_call_soon(h->remote, count_ran, h->s, count_drop) == COIO_ECLOSED)
            h->closed++;
        else
            h->other++;
    }
    h->closed++; /* the call that ended the first loop */
    coio_remote_release(h->remote);
    return NULL;
}

enum { kThreads = 4 };

/* close_first: coio_loop_close then coio_loop_release; otherwise the release alone. */
static void hammer_remote(int close_first) {
    shared s = {.stop_after = 2000};
    s.loop = tu_loop_virtual();
    coio_remote *r;
    assert_status(coio_loop_remote(s.loop, &r), COIO_OK);
    hammer h[kThreads];
    for (int i = 0; i < kThreads; i++) {
        h[i] = (hammer){.remote = coio_remote_ref(r), .s = &s};
        assert_int_equal(pthread_create(&h[i].thread, NULL, hammer_main, &h[i]), 0);
    }
    coio_remote_release(r); /* the threads hold theirs */
    assert_status(coio_loop_run_forever(s.loop), COIO_OK);
    assert_true(atomic_load(&s.ran) >= s.stop_after);
    /* The threads are still calling: close (or release) under them. */
    if (close_first) assert_status(coio_loop_close(s.loop), COIO_OK);
    assert_status(coio_loop_release(s.loop), COIO_OK);
    long ok = 0, closed = 0;
    for (int i = 0; i < kThreads; i++) {
        pthread_join(h[i].thread, NULL);
        assert_int_equal(h[i].other, 0);
        assert_int_equal(h[i].closed, 101);
        ok += h[i].ok;
        closed += h[i].closed;
    }
    /* Every call's drop ran exactly once: after its run, by the close, or on the caller. */
    assert_int_equal(atomic_load(&s.drops), ok + closed);
    assert_true(atomic_load(&s.ran) <= ok);
}

static void test_remote_threads_close(void **state) {
    (void)state;
    hammer_remote(1);
}

static void test_remote_threads_release(void **state) {
    (void)state;
    hammer_remote(0);
}

/* ---- coio_completion: contract ---------------------------------------------------------- */

static void test_completion_bad_input(void **state) {
    (void)state;
    coio_future *f = NULL;
    coio_completion *c = NULL;
    int drops = 0;
    assert_status(coio_completion_new(NULL, &f, &c), COIO_EINVAL);
    coio_loop *loop = tu_loop_virtual();
    assert_status(coio_completion_new(loop, NULL, &c), COIO_EINVAL);
    assert_status(coio_completion_new(loop, &f, NULL), COIO_EINVAL);
    assert_null(f);
    assert_null(c);
    assert_status(coio_completion_set_result(NULL, &drops, tu_count_drop), COIO_EINVAL);
    assert_int_equal(drops, 1); /* always takes value */
    assert_status(coio_completion_set_error(NULL, COIO_EFAILED, "x"), COIO_EINVAL);
    coio_completion_release(NULL);
    assert_status(coio_completion_new(loop, &f, &c), COIO_OK);
    assert_status(coio_completion_set_error(c, 0, "no code"), COIO_EINVAL);
    tu_run_one_pass(loop);
    tu_assert_pending(f); /* the refused calls did not complete it */
    coio_completion_release(c);
    coio_future_release(f);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_completion_new(loop, &f, &c), COIO_ECLOSED);
    assert_status(coio_loop_release(loop), COIO_OK);
}

typedef struct setter {
    coio_completion *c;
    void *value;
    int st, st2;
    int second_drops;
} setter;

static void *set_result_main(void *p) {
    setter *s = p;
    s->st = coio_completion_set_result(s->c, s->value, tu_count_drop);
    s->st2 = coio_completion_set_result(s->c, &s->second_drops, tu_count_drop);
    coio_completion_release(s->c);
    return NULL;
}

/* Completed once from another thread: the future gets the value (dropped with the future);
 * the second completion is ESTATE and its value dropped on the caller. */
static void test_completion_result_from_thread(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f;
    int value_drops = 0;
    setter s = {.value = &value_drops};
    assert_status(coio_completion_new(loop, &f, &s.c), COIO_OK);
    tu_assert_pending(f);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, set_result_main, &s), 0);
    assert_status(coio_loop_run_until_complete(loop, f), COIO_OK);
    pthread_join(t, NULL);
    assert_status(s.st, COIO_OK);
    assert_status(s.st2, COIO_ESTATE);
    assert_int_equal(s.second_drops, 1);
    void *v = NULL;
    assert_status(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &value_drops);
    assert_int_equal(value_drops, 0);
    coio_future_release(f);
    assert_int_equal(value_drops, 1);
    tu_finish(loop);
}

/* Delivered on a later pass, never inline, also from the loop thread itself. */
static void test_completion_error(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f;
    coio_completion *c;
    assert_status(coio_completion_new(loop, &f, &c), COIO_OK);
    char msg[] = "disk on fire";
    assert_status(coio_completion_set_error(c, COIO_ESYS, msg), COIO_OK);
    msg[0] = 'X'; /* copied */
    tu_assert_pending(f);
    assert_status(coio_completion_set_error(c, COIO_EFAILED, "again"), COIO_ESTATE);
    coio_completion_release(c); /* after completing: no effect on the outcome */
    tu_run_one_pass(loop);
    assert_status(coio_future_result(f, NULL), COIO_EFAILED);
    assert_int_equal(tu_error_code(f), COIO_ESYS);
    assert_string_equal(tu_error_message(f), "disk on fire");
    coio_future_release(f);
    tu_finish(loop);
}

/* Released unused: the future is cancelled on a later pass (a dropped sender). */
static void test_completion_release_unused_cancels(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f;
    coio_completion *c;
    assert_status(coio_completion_new(loop, &f, &c), COIO_OK);
    coio_completion_release(c);
    tu_assert_pending(f);
    assert_status(coio_loop_run_until_complete(loop, f), COIO_ECANCELLED);
    assert_true(coio_future_cancelled(f));
    coio_future_release(f);
    tu_finish(loop);
}

/* The future was completed on the loop thread first: the late value is dropped there. */
static void test_completion_future_done_first(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f;
    coio_completion *c;
    int drops = 0;
    assert_status(coio_completion_new(loop, &f, &c), COIO_OK);
    assert_int_equal(coio_future_cancel(f, NULL), 1);
    assert_status(coio_completion_set_result(c, &drops, tu_count_drop), COIO_OK);
    assert_int_equal(drops, 0);
    tu_run_one_pass(loop);
    assert_int_equal(drops, 1);
    assert_true(coio_future_cancelled(f));
    coio_completion_release(c);
    coio_future_release(f);
    tu_finish(loop);
}

/* The user's future reference goes first: the completion keeps the future alive until its
 * value arrives, and the value is freed with it. */
static void test_completion_future_released_first(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f;
    coio_completion *c;
    int drops = 0;
    assert_status(coio_completion_new(loop, &f, &c), COIO_OK);
    coio_future_release(f);
    assert_status(coio_completion_set_result(c, &drops, tu_count_drop), COIO_OK);
    coio_completion_release(c);
    tu_run_one_pass(loop);
    assert_int_equal(drops, 1);
    tu_finish(loop);
}

/* Completed, then the loop closes before the delivery: the close drops the value once and
 * cancels the future; the completion answers ECLOSED from then on. */
static void test_completion_accepted_then_closed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_future *f, *g;
    coio_completion *c, *d;
    int drops = 0;
    assert_status(coio_completion_new(loop, &f, &c), COIO_OK);
    assert_status(coio_completion_new(loop, &g, &d), COIO_OK);
    assert_status(coio_completion_set_result(c, &drops, tu_count_drop), COIO_OK);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(drops, 1);
    assert_true(coio_future_cancelled(f));
    assert_true(coio_future_cancelled(g)); /* never completed: cancelled by the close */
    assert_status(coio_completion_set_result(c, &drops, tu_count_drop), COIO_ESTATE);
    assert_int_equal(drops, 2);
    assert_status(coio_completion_set_result(d, &drops, tu_count_drop), COIO_ECLOSED);
    assert_int_equal(drops, 3);
    assert_status(coio_completion_set_error(d, COIO_EFAILED, "late"), COIO_ECLOSED);
    coio_completion_release(c);
    coio_future_release(f);
    assert_status(coio_loop_release(loop), COIO_OK);
    /* The loop is freed (g still holds its memory, not its state): d still answers. */
    assert_status(coio_completion_set_result(d, &drops, tu_count_drop), COIO_ECLOSED);
    assert_int_equal(drops, 4);
    coio_future_release(g);
    assert_status(coio_completion_set_error(d, COIO_EFAILED, "later"), COIO_ECLOSED);
    coio_completion_release(d);
}

/* Every order of loop release, future release and completion release. */
static void test_completion_release_orders(void **state) {
    (void)state;
    static const char *const orders[] = {"LFC", "LCF", "FLC", "FCL", "CLF", "CFL"};
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) {
        coio_loop *loop = tu_loop_virtual();
        coio_future *f;
        coio_completion *c;
        assert_status(coio_completion_new(loop, &f, &c), COIO_OK);
        for (const char *o = orders[i]; *o; o++) {
            if (*o == 'L') assert_status(coio_loop_release(loop), COIO_OK);
            if (*o == 'F') coio_future_release(f);
            if (*o == 'C') coio_completion_release(c);
        }
    }
}

/* ---- coio_completion: threads ----------------------------------------------------------- */

enum { kCompletions = 400 };

typedef struct batch {
    coio_loop *loop;
    coio_completion *c[kCompletions];
    coio_future *f[kCompletions];
    atomic_long value_drops;
    long done;     /* loop thread: done callbacks run */
    long stop_at;  /* the loop stops when this many futures are done */
    atomic_int go; /* the threads start together */
} batch;

typedef struct worker {
    pthread_t thread;
    batch *b;
    int index;
    long ok, estate, eclosed, other;
} worker;

static void value_drop(void *p) {
    batch *b = *(batch **)p;
    atomic_fetch_add(&b->value_drops, 1);
    free(p);
}

static void *new_value(batch *b) {
    batch **v = malloc(sizeof *v);
    *v = b;
    return v;
}

static void count(worker *w, int rc) {
    if (rc == COIO_OK)
        w->ok++;
    else if (rc == COIO_ESTATE)
        w->estate++;
    else if (rc == COIO_ECLOSED)
        w->eclosed++;
    else
        w->other++;
}

/* Completes its share (every kThreads-th completion) twice, then releases it. */
static void *complete_main(void *p) {
    worker *w = p;
    batch *b = w->b;
    while (!atomic_load(&b->go))
        sched_yield();
    for (int i = w->index; i < kCompletions; i += kThreads) {
        if (i % 3 == 0)
            count(w, coio_completion_set_error(b->c[i], COIO_EFAILED, "boom"));
        else
            count(w, coio_completion_set_result(b->c[i], new_value(b), value_drop));
        count(w, coio_completion_set_result(b->c[i], new_value(b), value_drop));
        coio_completion_release(b->c[i]);
    }
    return NULL;
}

static void on_done(coio_future *f, void *arg) {
    (void)f;
    batch *b = arg;
    if (++b->done == b->stop_at) coio_loop_stop(b->loop);
}

/* Threads complete completions while the loop runs, and go on while it closes (close_first)
 * or is released under them: each value is dropped exactly once (a double free or a leak
 * shows under ASan / valgrind), each future ends done. */
static void hammer_completions(int close_first) {
    static batch b;
    memset(&b, 0, sizeof b);
    b.loop = tu_loop_virtual();
    b.stop_at = kCompletions / 2;
    for (int i = 0; i < kCompletions; i++) {
        assert_status(coio_completion_new(b.loop, &b.f[i], &b.c[i]), COIO_OK);
        assert_status(coio_future_add_done_callback(b.f[i], on_done, &b, NULL), COIO_OK);
    }
    worker w[kThreads];
    for (int i = 0; i < kThreads; i++) {
        w[i] = (worker){.b = &b, .index = i};
        assert_int_equal(pthread_create(&w[i].thread, NULL, complete_main, &w[i]), 0);
    }
    atomic_store(&b.go, 1);
    assert_status(coio_loop_run_forever(b.loop), COIO_OK);
    if (close_first)
        assert_status(coio_loop_close(b.loop), COIO_OK);
    else
        assert_status(coio_loop_release(b.loop), COIO_OK); /* closes it; the futures live on */
    for (int i = 0; i < kCompletions; i++) {
        assert_true(coio_future_done(b.f[i]));
        void *v;
        int rc = coio_future_result(b.f[i], &v);
        if (rc == COIO_OK)
            assert_ptr_equal(*(batch **)v, &b);
        else if (rc == COIO_EFAILED)
            assert_int_equal(tu_error_code(b.f[i]), COIO_EFAILED);
        else
            assert_status(rc, COIO_ECANCELLED);
        if (i % 2) coio_future_release(b.f[i]); /* half before the loop goes, half after */
    }
    if (close_first) assert_status(coio_loop_release(b.loop), COIO_OK);
    for (int i = 0; i < kCompletions; i += 2)
        coio_future_release(b.f[i]);
    long ok = 0, estate = 0, eclosed = 0, calls = 0, values = 0;
    for (int i = 0; i < kThreads; i++) {
        pthread_join(w[i].thread, NULL);
        assert_int_equal(w[i].other, 0);
        ok += w[i].ok;
        estate += w[i].estate;
        eclosed += w[i].eclosed;
    }
    calls = ok + estate + eclosed;
    assert_int_equal(calls, 2 * kCompletions);
    assert_true(ok <= kCompletions);
    assert_true(ok >= b.stop_at); /* what the loop saw done before it stopped came first */
    /* values: two per completion, minus the errors' first calls */
    values = 2L * kCompletions - (kCompletions + 2) / 3;
    assert_int_equal(atomic_load(&b.value_drops), values);
}

static void test_completion_threads_close(void **state) {
    (void)state;
    hammer_completions(1);
}

static void test_completion_threads_release(void **state) {
    (void)state;
    hammer_completions(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_bad_input),
        cmocka_unit_test(test_remote_closed_loop),
        cmocka_unit_test(test_remote_call_soon_runs),
        cmocka_unit_test(test_remote_accepted_then_closed),
        cmocka_unit_test(test_remote_outlives_released_loop),
        cmocka_unit_test(test_remote_call_from_close_drop),
        cmocka_unit_test(test_remote_threads_close),
        cmocka_unit_test(test_remote_threads_release),
        cmocka_unit_test(test_completion_bad_input),
        cmocka_unit_test(test_completion_result_from_thread),
        cmocka_unit_test(test_completion_error),
        cmocka_unit_test(test_completion_release_unused_cancels),
        cmocka_unit_test(test_completion_future_done_first),
        cmocka_unit_test(test_completion_future_released_first),
        cmocka_unit_test(test_completion_accepted_then_closed),
        cmocka_unit_test(test_completion_release_orders),
        cmocka_unit_test(test_completion_threads_close),
        cmocka_unit_test(test_completion_threads_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
