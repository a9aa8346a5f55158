/* Synchronisation primitives: coio_event_*, coio_lock_*, coio_semaphore_* (bounded too),
 * coio_condition_*, coio_barrier_* (asyncio.Event, Lock, Semaphore, BoundedSemaphore,
 * Condition and Barrier of CPython 3.13): the basic behaviour, FIFO fairness, waiters
 * cancelled before their wake-up (skipped) and after it but before their task ran (the grant
 * passes on), Condition waits that re-acquire the lock whatever happens, Barrier rounds,
 * reset and abort, bad input, and objects freed or the loop closed with waits pending.
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * task and primitive) before returning: the suite runs under valgrind and ASan. */
#include "testutil.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

enum { OP_EVENT, OP_LOCK, OP_SEM, OP_COND, OP_BARRIER };

/* A task that waits on a primitive (a coroutine body), and what it saw.  The wait future is
 * kept here so that actor_drop can release it when the loop closes under the body. */
typedef struct actor {
    int op;
    void *obj;      /* the primitive */
    coio_future *f; /* the wait future while the body holds it */
    int start_rc;   /* the status of the call that made the wait */
    int await_rc;   /* coio_await's */
    int code;       /* the error code when the wait failed */
    int order;      /* when the wait ended, counted in *clock (0: not yet) */
    int *clock;
    int holds;       /* OP_COND: coio_lock_locked right after the wait */
    int release;     /* give back what was granted before returning */
    int hold_passes; /* ... after this many passes */
    int rounds;      /* waits in a row (0: 1) */
    long values[4];  /* OP_BARRIER: each round's index (-1: failed or cancelled) */
    int finished;    /* the body returned */
    int dropped;
} actor;

static void actor_init(actor *a, int op, void *obj, int *clock) {
    memset(a, 0, sizeof *a);
    a->op = op;
    a->obj = obj;
    a->clock = clock;
    for (int i = 0; i < 4; i++)
        a->values[i] = -2;
}

static int start_wait(actor *a, coio_future **f) {
    switch (a->op) {
    case OP_EVENT:
        return coio_event_wait(a->obj, f);
    case OP_LOCK:
        return coio_lock_acquire(a->obj, f);
    case OP_SEM:
        return coio_semaphore_acquire(a->obj, f);
    case OP_COND:
        return coio_condition_wait(a->obj, f);
    default:
        return coio_barrier_wait(a->obj, f);
    }
}

/* Awaits a new future and releases it.  It is kept in a->f meanwhile, so that actor_drop
 * releases it if the loop closes under the body. */
static int await_release(actor *a, coio_future *f) {
    a->f = f;
    int rc = coio_await(f, NULL);
    coio_future_release(f);
    a->f = NULL;
    return rc;
}

static void give_back(actor *a) {
    switch (a->op) {
    case OP_LOCK:
        assert_status(coio_lock_release(a->obj), COIO_OK);
        break;
    case OP_SEM:
        assert_status(coio_semaphore_release(a->obj), COIO_OK);
        break;
    case OP_COND:
        assert_status(coio_lock_release(coio_condition_lock(a->obj)), COIO_OK);
        break;
    default:
        break;
    }
}

static int body_actor(coio_future *self, void *arg) {
    actor *a = arg;
    int rounds = a->rounds ? a->rounds : 1;
    for (int r = 0; r < rounds; r++) {
        if (a->op == OP_COND) { /* a condition is waited on with its lock held */
            coio_future *lf = NULL;
            assert_status(coio_lock_acquire(coio_condition_lock(a->obj), &lf), COIO_OK);
            assert_status(await_release(a, lf), COIO_OK);
        }
        a->start_rc = start_wait(a, &a->f);
        if (a->start_rc != COIO_OK) break;
        void *value = NULL;
        a->await_rc = coio_await(a->f, &value);
        if (a->await_rc == COIO_EFAILED) a->code = tu_error_code(a->f);
        if (a->clock) a->order = ++*a->clock;
        if (a->op == OP_COND) a->holds = coio_lock_locked(coio_condition_lock(a->obj));
        if (a->op == OP_BARRIER && r < 4)
            a->values[r] = a->await_rc == COIO_OK ? (long)(uintptr_t)value : -1;
        coio_future_release(a->f);
        a->f = NULL;
        for (int i = 0; a->await_rc == COIO_OK && i < a->hold_passes; i++) {
            coio_future *s = NULL;
            assert_status(coio_sleep(coio_future_loop(self), 0, &s), COIO_OK);
            await_release(a, s);
        }
        /* A condition wait holds the lock again whatever its outcome. */
        if (a->release && (a->await_rc == COIO_OK || a->op == OP_COND)) give_back(a);
        if (a->await_rc != COIO_OK) break;
    }
    a->finished = 1;
    return a->await_rc == COIO_ECANCELLED ? COIO_ECANCELLED : COIO_OK;
}

static void actor_drop(void *arg) {
    actor *a = arg;
    a->dropped++;
    coio_future_release(a->f);
    a->f = NULL;
}

static coio_future *spawn_actor(coio_loop *loop, actor *a) {
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.drop = actor_drop;
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, body_actor, a, &o, &t), COIO_OK);
    return t;
}

static void stop_loop(void *loop) {
    coio_loop_stop(loop);
}

/* Runs until f is done (its outcome is the caller's to check).  A guard timer far away in
 * virtual time makes a wake-up that never comes fail instead of hang. */
static void run_until(coio_loop *loop, coio_future *f) {
    coio_handle *guard = NULL;
    assert_status(coio_call_later(loop, 1e6, stop_loop, loop, NULL, &guard), COIO_OK);
    int rc = coio_loop_run_until_complete(loop, f);
    assert_status(coio_handle_cancel(guard), COIO_OK);
    coio_handle_release(guard);
    if (!coio_future_done(f)) fail_msg("the future never completed (%s)", coio_status_name(rc));
}

static void run_passes(coio_loop *loop, int n) {
    for (int i = 0; i < n; i++)
        tu_run_one_pass(loop);
}

static void assert_broken(coio_future *f, const char *msg) {
    assert_int_equal(coio_future_done(f), 1);
    assert_status(coio_future_result(f, NULL), COIO_EFAILED);
    assert_int_equal(tu_error_code(f), COIO_EBROKEN);
    assert_string_equal(tu_error_message(f), msg);
}

static long index_of(coio_future *f) {
    void *v = NULL;
    assert_status(coio_future_result(f, &v), COIO_OK);
    return (long)(uintptr_t)v;
}

static void release_all(coio_future **fs, int n) {
    for (int i = 0; i < n; i++)
        coio_future_release(fs[i]);
}

/* A step-driven task that makes one wait, awaits it, and reports what its second step saw:
 * for a grant made at once, the step-await protocol gives a cancellation a pass to land
 * between the grant and the task seeing it (the refused path). */
typedef struct stepper {
    int op;
    void *obj;
    coio_future *f;
    int steps;
    int status;
} stepper;

static int step_wait(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    stepper *s = arg;
    s->steps++;
    if (s->steps == 1) {
        actor a;
        actor_init(&a, s->op, s->obj, NULL);
        assert_status(start_wait(&a, &s->f), COIO_OK);
        assert_status(coio_step_await(task, s->f), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    s->status = status;
    return status;
}

static coio_future *spawn_stepper(coio_loop *loop, stepper *s, int op, void *obj) {
    memset(s, 0, sizeof *s);
    s->op = op;
    s->obj = obj;
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_wait, s, NULL, NULL, &t), COIO_OK);
    return t;
}

static coio_event *new_event(coio_loop *loop) {
    coio_event *e = NULL;
    assert_status(coio_event_new(loop, &e), COIO_OK);
    assert_non_null(e);
    return e;
}

static coio_lock *new_lock(coio_loop *loop) {
    coio_lock *l = NULL;
    assert_status(coio_lock_new(loop, &l), COIO_OK);
    assert_non_null(l);
    return l;
}

static coio_semaphore *new_sem(coio_loop *loop, unsigned value, unsigned flags) {
    coio_semaphore *s = NULL;
    assert_status(coio_semaphore_new(loop, value, flags, &s), COIO_OK);
    assert_non_null(s);
    return s;
}

static coio_condition *new_cond(coio_loop *loop, coio_lock *lock) {
    coio_condition *c = NULL;
    assert_status(coio_condition_new(loop, lock, &c), COIO_OK);
    assert_non_null(c);
    return c;
}

static coio_barrier *new_barrier(coio_loop *loop, unsigned parties) {
    coio_barrier *b = NULL;
    assert_status(coio_barrier_new(loop, parties, &b), COIO_OK);
    assert_non_null(b);
    return b;
}

/* A wait made from outside a task. */
static coio_future *event_wait(coio_event *e) {
    coio_future *f = NULL;
    assert_status(coio_event_wait(e, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

static coio_future *lock_acquire(coio_lock *l) {
    coio_future *f = NULL;
    assert_status(coio_lock_acquire(l, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

/* Acquires a free lock from outside a task (done at once). */
static void lock_now(coio_lock *l) {
    coio_future *f = lock_acquire(l);
    tu_assert_done_null(f);
    coio_future_release(f);
}

static coio_future *sem_acquire(coio_semaphore *s) {
    coio_future *f = NULL;
    assert_status(coio_semaphore_acquire(s, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

static coio_future *cond_wait(coio_condition *c) {
    coio_future *f = NULL;
    assert_status(coio_condition_wait(c, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

static coio_future *barrier_wait(coio_barrier *b) {
    coio_future *f = NULL;
    assert_status(coio_barrier_wait(b, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

/* ---- Event ------------------------------------------------------------------------------ */

static void test_event_set_clear_is_set(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    assert_int_equal(coio_event_is_set(e), 0);
    assert_status(coio_event_set(e), COIO_OK);
    assert_int_equal(coio_event_is_set(e), 1);
    assert_status(coio_event_set(e), COIO_OK); /* idempotent */
    assert_int_equal(coio_event_is_set(e), 1);
    assert_status(coio_event_clear(e), COIO_OK);
    assert_int_equal(coio_event_is_set(e), 0);
    assert_status(coio_event_clear(e), COIO_OK);
    assert_int_equal(coio_event_is_set(e), 0);
    coio_event_free(e);
    tu_finish(loop);
}

/* wait() on a set event returns at once (a done future: awaiting it does not suspend). */
static void test_event_wait_when_set_is_done(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    assert_status(coio_event_set(e), COIO_OK);
    coio_future *f = event_wait(e);
    tu_assert_done_null(f);
    coio_future_release(f);
    coio_event_free(e);
    tu_finish(loop);
}

/* set() wakes every waiter, in the order they came; a waiter then sees a NULL result. */
static void test_event_set_wakes_all_in_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    int clock = 0;
    actor a[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        actor_init(&a[i], OP_EVENT, e, &clock);
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a[i].order, 0);
    coio_future *f = event_wait(e);
    assert_status(coio_event_set(e), COIO_OK);
    tu_assert_done_null(f); /* woken by set() itself */
    tu_run_one_pass(loop);
    for (int i = 0; i < 3; i++) {
        assert_status(a[i].await_rc, COIO_OK);
        assert_int_equal(a[i].order, i + 1);
        assert_int_equal(coio_future_done(t[i]), 1);
    }
    coio_future_release(f);
    release_all(t, 3);
    coio_event_free(e);
    tu_finish(loop);
}

/* clear() right after set() does not un-wake the waiters set() woke (asyncio: their futures
 * are done); a wait made after clear() waits for the next set(). */
static void test_event_clear_after_set(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    coio_future *f1 = event_wait(e);
    assert_status(coio_event_set(e), COIO_OK);
    assert_status(coio_event_clear(e), COIO_OK);
    tu_assert_done_null(f1);
    coio_future *f2 = event_wait(e);
    run_passes(loop, 2);
    tu_assert_pending(f2);
    assert_status(coio_event_set(e), COIO_OK);
    tu_assert_done_null(f2);
    coio_future_release(f1);
    coio_future_release(f2);
    coio_event_free(e);
    tu_finish(loop);
}

/* A waiter cancelled before set() is skipped: it stays cancelled, the others are woken. */
static void test_event_cancelled_waiter_skipped(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    coio_future *f1 = event_wait(e);
    coio_future *f2 = event_wait(e);
    assert_int_equal(coio_future_cancel(f1, "no"), 1);
    assert_int_equal(coio_future_cancelled(f1), 1);
    assert_status(coio_event_set(e), COIO_OK);
    assert_int_equal(coio_future_cancelled(f1), 1);
    tu_assert_done_null(f2);
    coio_future_release(f1);
    coio_future_release(f2);
    coio_event_free(e);
    tu_finish(loop);
}

/* A waiter's task cancelled after set() woke it but before it ran ends cancelled; nothing is
 * taken from the event (still set, the other waiter gets through). */
static void test_event_cancel_after_wakeup(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    int clock = 0;
    actor a[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        actor_init(&a[i], OP_EVENT, e, &clock);
        t[i] = spawn_actor(loop, &a[i]);
    }
    tu_run_one_pass(loop);
    assert_status(coio_event_set(e), COIO_OK);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t[0]), 1);
    assert_status(a[0].await_rc, COIO_ECANCELLED);
    assert_status(a[1].await_rc, COIO_OK);
    assert_int_equal(coio_event_is_set(e), 1);
    release_all(t, 2);
    coio_event_free(e);
    tu_finish(loop);
}

/* A wait future released while pending leaves the event's line. */
static void test_event_released_pending_wait(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    coio_future *f1 = event_wait(e);
    coio_future *f2 = event_wait(e);
    coio_future_release(f1);
    assert_status(coio_event_set(e), COIO_OK);
    tu_assert_done_null(f2);
    coio_future_release(f2);
    coio_event_free(e);
    tu_finish(loop);
}

static void test_event_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = (coio_event *)&e;
    assert_status(coio_event_new(NULL, &e), COIO_EINVAL);
    assert_status(coio_event_new(loop, NULL), COIO_EINVAL);
    assert_ptr_equal(e, (coio_event *)&e); /* untouched */
    e = new_event(loop);
    coio_future *f = (coio_future *)&f;
    assert_status(coio_event_wait(NULL, &f), COIO_EINVAL);
    assert_status(coio_event_wait(e, NULL), COIO_EINVAL);
    assert_ptr_equal(f, (coio_future *)&f);
    assert_status(coio_event_set(NULL), COIO_EINVAL);
    assert_status(coio_event_clear(NULL), COIO_EINVAL);
    assert_int_equal(coio_event_is_set(NULL), 0);
    coio_event_free(NULL);
    coio_event_free(e);
    tu_finish(loop);
}

static void test_event_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_event *e2 = NULL;
    assert_status(coio_event_new(loop, &e2), COIO_ECLOSED);
    assert_null(e2);
    coio_future *f = NULL;
    assert_status(coio_event_wait(e, &f), COIO_ECLOSED);
    assert_null(f);
    assert_status(coio_event_set(e), COIO_ECLOSED);
    assert_status(coio_event_clear(e), COIO_ECLOSED);
    assert_int_equal(coio_event_is_set(e), 0);
    coio_event_free(e);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Freeing the event cancels the waits still pending; the futures stay valid. */
static void test_event_free_with_waiters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_event *e = new_event(loop);
    actor a;
    actor_init(&a, OP_EVENT, e, NULL);
    coio_future *t = spawn_actor(loop, &a);
    coio_future *f = event_wait(e);
    tu_run_one_pass(loop);
    coio_event_free(e);
    assert_int_equal(coio_future_cancelled(f), 1);
    run_until(loop, t);
    assert_status(a.await_rc, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(t), 1);
    coio_future_release(f);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- Lock ------------------------------------------------------------------------------- */

static void test_lock_acquire_release(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future *f = lock_acquire(l);
    tu_assert_done_null(f); /* free and nobody waiting: at once */
    assert_int_equal(coio_lock_locked(l), 1);
    coio_future *g = lock_acquire(l);
    tu_assert_pending(g);
    assert_status(coio_lock_release(l), COIO_OK);
    tu_assert_done_null(g); /* handed over */
    assert_int_equal(coio_lock_locked(l), 1);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_lock_locked(l), 0);
    /* asyncio: RuntimeError('Lock is not acquired.') */
    assert_status(coio_lock_release(l), COIO_ESTATE);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future_release(f);
    coio_future_release(g);
    coio_lock_free(l);
    tu_finish(loop);
}

/* Tasks get the lock in the order they asked for it. */
static void test_lock_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    int clock = 0;
    actor a[4];
    coio_future *t[4];
    for (int i = 0; i < 4; i++) {
        actor_init(&a[i], OP_LOCK, l, &clock);
        a[i].release = 1;
        a[i].hold_passes = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 3);
    assert_int_equal(clock, 0);
    assert_status(coio_lock_release(l), COIO_OK);
    run_until(loop, t[3]);
    for (int i = 0; i < 4; i++) {
        assert_status(a[i].await_rc, COIO_OK);
        assert_int_equal(a[i].order, i + 1);
    }
    assert_int_equal(coio_lock_locked(l), 0);
    release_all(t, 4);
    coio_lock_free(l);
    tu_finish(loop);
}

/* release() hands the lock to the first waiter: it reads locked from then on (asyncio's
 * locked() reads False until that waiter runs), and a new acquire queues behind the waiters
 * either way: nobody barges in. */
static void test_lock_handoff_no_barging(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    int clock = 0;
    actor a;
    actor_init(&a, OP_LOCK, l, &clock);
    a.release = 1;
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_lock_locked(l), 1);
    coio_future *g = lock_acquire(l);
    tu_assert_pending(g);
    tu_run_one_pass(loop); /* the actor runs, holds, releases: g's turn */
    assert_int_equal(a.order, 1);
    tu_assert_done_null(g);
    assert_int_equal(coio_lock_locked(l), 1);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future_release(g);
    coio_future_release(t);
    coio_lock_free(l);
    tu_finish(loop);
}

/* A waiter cancelled before the release is skipped. */
static void test_lock_cancelled_waiter_skipped(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    coio_future *f1 = lock_acquire(l);
    coio_future *f2 = lock_acquire(l);
    assert_int_equal(coio_future_cancel(f1, NULL), 1);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_future_cancelled(f1), 1);
    tu_assert_done_null(f2);
    assert_int_equal(coio_lock_locked(l), 1);
    assert_status(coio_lock_release(l), COIO_OK);
    coio_future_release(f1);
    coio_future_release(f2);
    coio_lock_free(l);
    tu_finish(loop);
}

/* The case: T1 holds, T2 and T3 wait; T1 releases, then T2 is cancelled in the same
 * pass, before it ran: the lock passes on to T3, nothing is lost. */
static void test_lock_cancel_after_wakeup_passes_on(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l); /* T1 */
    int clock = 0;
    actor a[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        actor_init(&a[i], OP_LOCK, l, &clock);
        a[i].release = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    tu_run_one_pass(loop);
    assert_status(coio_lock_release(l), COIO_OK); /* granted to T2 */
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    run_until(loop, t[1]);
    assert_int_equal(coio_future_cancelled(t[0]), 1);
    assert_status(a[0].await_rc, COIO_ECANCELLED);
    assert_status(a[1].await_rc, COIO_OK);
    assert_int_equal(a[1].order, 2);
    assert_int_equal(coio_lock_locked(l), 0); /* T3 released it */
    release_all(t, 2);
    coio_lock_free(l);
    tu_finish(loop);
}

/* ... and with nobody left waiting, the lock is free again. */
static void test_lock_cancel_after_wakeup_unlocks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    actor a;
    actor_init(&a, OP_LOCK, l, NULL);
    a.release = 1;
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_lock_locked(l), 1);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_int_equal(coio_lock_locked(l), 0);
    lock_now(l);
    assert_status(coio_lock_release(l), COIO_OK);
    coio_future_release(t);
    coio_lock_free(l);
    tu_finish(loop);
}

/* A step-driven task granted the lock at once but cancelled before it looked at the grant
 * gives it back (the grant reads as cancelled). */
static void test_lock_step_task_refuses_grant(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    stepper s;
    coio_future *t = spawn_stepper(loop, &s, OP_LOCK, l);
    tu_run_one_pass(loop);
    assert_int_equal(s.steps, 1);
    tu_assert_done_null(s.f);
    assert_int_equal(coio_lock_locked(l), 1);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(s.steps, 2);
    assert_status(s.status, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(s.f), 1);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future_release(s.f);
    coio_future_release(t);
    coio_lock_free(l);
    tu_finish(loop);
}

/* A wait future released while pending leaves the line: the release skips it. */
static void test_lock_released_pending_wait(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    coio_future *f1 = lock_acquire(l);
    coio_future *f2 = lock_acquire(l);
    coio_future_release(f1);
    assert_status(coio_lock_release(l), COIO_OK);
    tu_assert_done_null(f2);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future_release(f2);
    coio_lock_free(l);
    tu_finish(loop);
}

/* Wait futures completed by hand (coio_future_set_result) are left alone: a release or a
 * notify skips them, and a resume finds them done. */
static void test_waits_completed_by_hand(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    coio_future *f1 = lock_acquire(l);
    coio_future *f2 = lock_acquire(l);
    assert_status(coio_future_set_result(f1, NULL, NULL), COIO_OK);
    assert_status(coio_lock_release(l), COIO_OK);
    tu_assert_done_null(f2);
    coio_semaphore *s = new_sem(loop, 0, 0);
    coio_future *g1 = sem_acquire(s);
    coio_future *g2 = sem_acquire(s);
    assert_status(coio_future_set_result(g1, NULL, NULL), COIO_OK);
    assert_status(coio_semaphore_release(s), COIO_OK);
    tu_assert_done_null(g2);
    assert_int_equal(coio_semaphore_value(s), 0);
    coio_condition *c = new_cond(loop, l); /* l is held (for f2) */
    coio_future *w1 = cond_wait(c);
    lock_now(l);
    coio_future *w2 = cond_wait(c);
    lock_now(l);
    coio_future *w3 = cond_wait(c);
    lock_now(l);
    assert_status(coio_future_set_result(w1, NULL, NULL), COIO_OK);
    assert_status(coio_condition_notify(c, 2), COIO_OK);            /* w2 and w3 */
    assert_status(coio_future_set_result(w2, NULL, NULL), COIO_OK); /* while resuming */
    assert_status(coio_lock_release(l), COIO_OK);
    tu_run_one_pass(loop);
    tu_assert_done_null(w3);
    assert_int_equal(coio_lock_locked(l), 1); /* w3 re-acquired it; w2 did not */
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future *fs[] = {f1, f2, g1, g2, w1, w2, w3};
    release_all(fs, 7);
    coio_condition_free(c);
    coio_semaphore_free(s);
    coio_lock_free(l);
    tu_finish(loop);
}

static void test_lock_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = (coio_lock *)&l;
    assert_status(coio_lock_new(NULL, &l), COIO_EINVAL);
    assert_status(coio_lock_new(loop, NULL), COIO_EINVAL);
    assert_ptr_equal(l, (coio_lock *)&l);
    l = new_lock(loop);
    coio_future *f = (coio_future *)&f;
    assert_status(coio_lock_acquire(NULL, &f), COIO_EINVAL);
    assert_status(coio_lock_acquire(l, NULL), COIO_EINVAL);
    assert_ptr_equal(f, (coio_future *)&f);
    assert_int_equal(coio_lock_locked(l), 0); /* nothing taken */
    assert_status(coio_lock_release(NULL), COIO_EINVAL);
    assert_int_equal(coio_lock_locked(NULL), 0);
    coio_lock_free(NULL);
    coio_lock_free(l);
    tu_finish(loop);
}

static void test_lock_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_lock *l2 = NULL;
    assert_status(coio_lock_new(loop, &l2), COIO_ECLOSED);
    coio_future *f = NULL;
    assert_status(coio_lock_acquire(l, &f), COIO_ECLOSED);
    assert_null(f);
    assert_status(coio_lock_release(l), COIO_ECLOSED);
    assert_int_equal(coio_lock_locked(l), 1);
    coio_lock_free(l);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* Freeing the lock cancels the pending acquires (from tasks and not). */
static void test_lock_free_with_waiters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    lock_now(l);
    coio_future *f = lock_acquire(l);
    actor a;
    actor_init(&a, OP_LOCK, l, NULL);
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    coio_lock_free(l);
    assert_int_equal(coio_future_cancelled(f), 1);
    run_until(loop, t);
    assert_status(a.await_rc, COIO_ECANCELLED);
    coio_future_release(f);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- Semaphore -------------------------------------------------------------------------- */

static void test_sem_acquire_release_value(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 2, 0);
    assert_int_equal(coio_semaphore_value(s), 2);
    assert_int_equal(coio_semaphore_locked(s), 0);
    coio_future *f1 = sem_acquire(s);
    tu_assert_done_null(f1);
    assert_int_equal(coio_semaphore_value(s), 1);
    coio_future *f2 = sem_acquire(s);
    tu_assert_done_null(f2);
    assert_int_equal(coio_semaphore_value(s), 0);
    assert_int_equal(coio_semaphore_locked(s), 1);
    coio_future *f3 = sem_acquire(s);
    tu_assert_pending(f3);
    assert_status(coio_semaphore_release(s), COIO_OK);
    tu_assert_done_null(f3); /* the permit went straight to the waiter */
    assert_int_equal(coio_semaphore_value(s), 0);
    tu_run_one_pass(loop); /* f3's wake-up delivered */
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_int_equal(coio_semaphore_value(s), 3); /* unbounded: above the initial value */
    assert_int_equal(coio_semaphore_locked(s), 0);
    coio_future *fs[] = {f1, f2, f3};
    release_all(fs, 3);
    coio_semaphore_free(s);
    tu_finish(loop);
}

static void test_sem_zero_is_locked(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 0, 0);
    assert_int_equal(coio_semaphore_locked(s), 1);
    assert_int_equal(coio_semaphore_value(s), 0);
    coio_future *f = sem_acquire(s);
    tu_assert_pending(f);
    coio_future_release(f);
    coio_semaphore_free(s);
    tu_finish(loop);
}

static void test_sem_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 1, 0);
    coio_future *held = sem_acquire(s);
    int clock = 0;
    actor a[4];
    coio_future *t[4];
    for (int i = 0; i < 4; i++) {
        actor_init(&a[i], OP_SEM, s, &clock);
        a[i].release = 1;
        a[i].hold_passes = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 2);
    assert_int_equal(clock, 0);
    assert_status(coio_semaphore_release(s), COIO_OK);
    run_until(loop, t[3]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(a[i].order, i + 1);
    assert_int_equal(coio_semaphore_value(s), 1);
    coio_future_release(held);
    release_all(t, 4);
    coio_semaphore_free(s);
    tu_finish(loop);
}

/* 3.13 fairness: a waiter woken by release() counts as waiting until it runs, so a new
 * acquire made before that waits too, even with a permit left; the woken waiter's acquire()
 * then wakes it (its `finally: while self._value > 0: self._wake_up_next()`). */
static void test_sem_new_acquire_does_not_jump_woken(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 0, 0);
    coio_future *w = sem_acquire(s);
    assert_status(coio_semaphore_release(s), COIO_OK);
    tu_assert_done_null(w);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_int_equal(coio_semaphore_value(s), 1);
    assert_int_equal(coio_semaphore_locked(s), 1); /* w has not run yet */
    coio_future *d = sem_acquire(s);
    tu_assert_pending(d);
    tu_run_one_pass(loop); /* w's wake-up is delivered: it wakes d */
    tu_assert_done_null(d);
    assert_int_equal(coio_semaphore_value(s), 0);
    tu_run_one_pass(loop);
    assert_int_equal(coio_semaphore_locked(s), 1); /* value 0 */
    coio_future_release(w);
    coio_future_release(d);
    coio_semaphore_free(s);
    tu_finish(loop);
}

/* ... and once the woken waiter has run, the permit left is free for anyone. */
static void test_sem_unlocked_after_woken_ran(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 0, 0);
    coio_future *w = sem_acquire(s);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_int_equal(coio_semaphore_locked(s), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_semaphore_locked(s), 0);
    assert_int_equal(coio_semaphore_value(s), 1);
    coio_future *d = sem_acquire(s);
    tu_assert_done_null(d);
    coio_future_release(w);
    coio_future_release(d);
    coio_semaphore_free(s);
    tu_finish(loop);
}

static void test_sem_cancelled_waiter_skipped(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 0, 0);
    coio_future *f1 = sem_acquire(s);
    coio_future *f2 = sem_acquire(s);
    assert_int_equal(coio_future_cancel(f1, NULL), 1);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_int_equal(coio_future_cancelled(f1), 1);
    tu_assert_done_null(f2);
    assert_int_equal(coio_semaphore_value(s), 0);
    run_passes(loop, 2);
    assert_int_equal(coio_semaphore_value(s), 0);
    coio_future_release(f1);
    coio_future_release(f2);
    coio_semaphore_free(s);
    tu_finish(loop);
}

/* A waiter's task cancelled after it was granted a permit, before it ran: the permit goes to
 * the next waiter; the value ends where it started. */
static void test_sem_cancel_after_wakeup_passes_on(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 1, 0);
    coio_future *held = sem_acquire(s);
    int clock = 0;
    actor a[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        actor_init(&a[i], OP_SEM, s, &clock);
        a[i].release = 1;
        a[i].hold_passes = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    tu_run_one_pass(loop);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t[0]), 1);
    assert_int_equal(coio_semaphore_value(s), 0); /* the permit went on to t[1] */
    assert_int_equal(coio_semaphore_locked(s), 1);
    run_until(loop, t[1]);
    assert_int_equal(a[1].order, 2); /* after t[0]'s cancelled wait */
    assert_status(a[1].await_rc, COIO_OK);
    assert_int_equal(coio_semaphore_value(s), 1);
    coio_future_release(held);
    release_all(t, 2);
    coio_semaphore_free(s);
    tu_finish(loop);
}

static void test_sem_step_task_refuses_grant(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 1, COIO_SEMAPHORE_BOUNDED);
    stepper st;
    coio_future *t = spawn_stepper(loop, &st, OP_SEM, s);
    tu_run_one_pass(loop);
    tu_assert_done_null(st.f);
    assert_int_equal(coio_semaphore_value(s), 0);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_status(st.status, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(st.f), 1);
    assert_int_equal(coio_semaphore_value(s), 1); /* back, within the bound */
    assert_status(coio_semaphore_release(s), COIO_ESTATE);
    coio_future_release(st.f);
    coio_future_release(t);
    coio_semaphore_free(s);
    tu_finish(loop);
}

/* BoundedSemaphore: releasing above the initial value is asyncio's ValueError. */
static void test_sem_bounded_over_release(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 2, COIO_SEMAPHORE_BOUNDED);
    assert_status(coio_semaphore_release(s), COIO_ESTATE);
    assert_int_equal(coio_semaphore_value(s), 2);
    coio_future *f[3];
    f[0] = sem_acquire(s);
    f[1] = sem_acquire(s);
    f[2] = sem_acquire(s);
    tu_assert_pending(f[2]);
    assert_status(coio_semaphore_release(s), COIO_OK); /* to f[2] */
    tu_assert_done_null(f[2]);
    assert_int_equal(coio_semaphore_value(s), 0);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_status(coio_semaphore_release(s), COIO_OK);
    assert_int_equal(coio_semaphore_value(s), 2);
    assert_status(coio_semaphore_release(s), COIO_ESTATE);
    assert_int_equal(coio_semaphore_value(s), 2);
    release_all(f, 3);
    coio_semaphore_free(s);
    tu_finish(loop);
}

static void test_sem_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = (coio_semaphore *)&s;
    assert_status(coio_semaphore_new(NULL, 1, 0, &s), COIO_EINVAL);
    assert_status(coio_semaphore_new(loop, 1, 0, NULL), COIO_EINVAL);
    assert_status(coio_semaphore_new(loop, 1, 0x2u, &s), COIO_EINVAL);
    assert_ptr_equal(s, (coio_semaphore *)&s);
    s = new_sem(loop, 1, 0);
    coio_future *f = (coio_future *)&f;
    assert_status(coio_semaphore_acquire(NULL, &f), COIO_EINVAL);
    assert_status(coio_semaphore_acquire(s, NULL), COIO_EINVAL);
    assert_ptr_equal(f, (coio_future *)&f);
    assert_int_equal(coio_semaphore_value(s), 1);
    assert_status(coio_semaphore_release(NULL), COIO_EINVAL);
    assert_int_equal(coio_semaphore_locked(NULL), 0);
    assert_int_equal(coio_semaphore_value(NULL), COIO_EINVAL);
    coio_semaphore_free(NULL);
    coio_semaphore_free(s);
    tu_finish(loop);
}

static void test_sem_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 1, 0);
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_semaphore *s2 = NULL;
    assert_status(coio_semaphore_new(loop, 1, 0, &s2), COIO_ECLOSED);
    coio_future *f = NULL;
    assert_status(coio_semaphore_acquire(s, &f), COIO_ECLOSED);
    assert_null(f);
    assert_status(coio_semaphore_release(s), COIO_ECLOSED);
    assert_int_equal(coio_semaphore_value(s), 1);
    coio_semaphore_free(s);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_sem_free_with_waiters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_semaphore *s = new_sem(loop, 0, 0);
    coio_future *f = sem_acquire(s);
    actor a;
    actor_init(&a, OP_SEM, s, NULL);
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    coio_semaphore_free(s);
    assert_int_equal(coio_future_cancelled(f), 1);
    run_until(loop, t);
    assert_status(a.await_rc, COIO_ECANCELLED);
    coio_future_release(f);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- Condition -------------------------------------------------------------------------- */

static void test_cond_own_lock_and_unheld_errors(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    assert_non_null(l);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future *f = (coio_future *)&f;
    /* RuntimeError('cannot wait on un-acquired lock') / ('cannot notify ...') */
    assert_status(coio_condition_wait(c, &f), COIO_ESTATE);
    assert_ptr_equal(f, (coio_future *)&f);
    assert_status(coio_condition_notify(c, 1), COIO_ESTATE);
    assert_status(coio_condition_notify_all(c), COIO_ESTATE);
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK); /* nobody waits: nothing */
    assert_status(coio_condition_notify_all(c), COIO_OK);
    assert_int_equal(coio_lock_locked(l), 1);
    assert_status(coio_lock_release(l), COIO_OK);
    coio_lock_free(l); /* borrowed: ignored */
    lock_now(coio_condition_lock(c));
    assert_status(coio_lock_release(coio_condition_lock(c)), COIO_OK);
    coio_condition_free(c);
    tu_finish(loop);
}

/* A given lock is shared (two conditions on one lock), and may be freed before them. */
static void test_cond_shared_lock(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    coio_condition *c1 = new_cond(loop, l);
    coio_condition *c2 = new_cond(loop, l);
    assert_ptr_equal(coio_condition_lock(c1), l);
    assert_ptr_equal(coio_condition_lock(c2), l);
    lock_now(l);
    coio_future *w1 = cond_wait(c1); /* releases l */
    assert_int_equal(coio_lock_locked(l), 0);
    lock_now(l);
    coio_future *w2 = cond_wait(c2);
    lock_now(l);
    assert_status(coio_condition_notify(c2, 1), COIO_OK); /* c2's waiter only */
    assert_status(coio_lock_release(l), COIO_OK);
    tu_run_one_pass(loop);
    tu_assert_done_null(w2);
    tu_assert_pending(w1);
    assert_int_equal(coio_lock_locked(l), 1); /* w2 holds it */
    coio_lock_free(l);                        /* the conditions keep it alive and usable */
    coio_lock *kept = coio_condition_lock(c1);
    assert_status(coio_condition_notify(c1, 1), COIO_OK);
    assert_status(coio_lock_release(kept), COIO_OK);
    tu_run_one_pass(loop);
    tu_assert_done_null(w1);
    assert_status(coio_lock_release(kept), COIO_OK);
    coio_future_release(w1);
    coio_future_release(w2);
    coio_condition_free(c1);
    coio_condition_free(c2);
    tu_finish(loop);
}

/* wait() releases the lock; notify() wakes the waiter, which re-acquires the lock before
 * its wait ends (it holds it afterwards). */
static void test_cond_wait_notify(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    actor a;
    actor_init(&a, OP_COND, c, NULL);
    a.release = 1;
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    assert_int_equal(coio_lock_locked(l), 0); /* released by the wait */
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK);
    run_passes(loop, 3);
    assert_int_equal(a.finished, 0); /* notified, but the lock is ours */
    assert_status(coio_lock_release(l), COIO_OK);
    run_until(loop, t);
    assert_status(a.await_rc, COIO_OK);
    assert_int_equal(a.holds, 1);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future_release(t);
    coio_condition_free(c);
    tu_finish(loop);
}

/* notify(n) wakes the first n waiters, in order; notify(0) none; notify_all the rest. */
static void test_cond_notify_n_and_all(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    int clock = 0;
    actor a[4];
    coio_future *t[4];
    for (int i = 0; i < 4; i++) {
        actor_init(&a[i], OP_COND, c, &clock);
        a[i].release = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 2);
    lock_now(l);
    assert_status(coio_condition_notify(c, 0), COIO_OK);
    assert_status(coio_lock_release(l), COIO_OK);
    run_passes(loop, 3);
    assert_int_equal(clock, 0);
    lock_now(l);
    assert_status(coio_condition_notify(c, 2), COIO_OK);
    assert_status(coio_lock_release(l), COIO_OK);
    run_passes(loop, 3);
    assert_int_equal(clock, 2);
    assert_int_equal(a[0].order, 1);
    assert_int_equal(a[1].order, 2);
    assert_int_equal(a[2].finished, 0);
    assert_int_equal(a[3].finished, 0);
    lock_now(l);
    assert_status(coio_condition_notify_all(c), COIO_OK);
    assert_status(coio_lock_release(l), COIO_OK);
    run_until(loop, t[3]);
    assert_int_equal(a[2].order, 3);
    assert_int_equal(a[3].order, 4);
    for (int i = 0; i < 4; i++) {
        assert_status(a[i].await_rc, COIO_OK);
        assert_int_equal(a[i].holds, 1);
    }
    assert_int_equal(coio_lock_locked(l), 0);
    release_all(t, 4);
    coio_condition_free(c);
    tu_finish(loop);
}

/* The notified task looks for the lock only when it runs (asyncio): the notifier can
 * release and take the lock again in the same step, and the waiter then waits for it. */
static void test_cond_notifier_retakes_lock_first(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    actor a;
    actor_init(&a, OP_COND, c, NULL);
    a.release = 1;
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK);
    assert_status(coio_lock_release(l), COIO_OK);
    lock_now(l); /* at once: the waiter has not resumed yet */
    run_passes(loop, 2);
    assert_int_equal(a.finished, 0);
    assert_status(coio_lock_release(l), COIO_OK); /* handed to the waiter */
    run_until(loop, t);
    assert_status(a.await_rc, COIO_OK);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future_release(t);
    coio_condition_free(c);
    tu_finish(loop);
}

/* A notified wait with the lock free ends in the pass where its task resumes (no extra pass:
 * the task goes on right away, as asyncio's does). */
static void test_cond_resume_same_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    actor a;
    actor_init(&a, OP_COND, c, NULL);
    a.release = 1;
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK);
    assert_status(coio_lock_release(l), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(a.finished, 1);
    assert_status(a.await_rc, COIO_OK);
    assert_int_equal(coio_lock_locked(l), 0);
    coio_future_release(t);
    coio_condition_free(c);
    tu_finish(loop);
}

/* Cancelled while waiting, the wait still re-acquires the lock before it ends cancelled: it
 * waits for the holder's release, and its task holds the lock afterwards. */
static void test_cond_cancel_still_reacquires(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    actor a;
    actor_init(&a, OP_COND, c, NULL);
    a.release = 1;
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    lock_now(l);
    assert_int_equal(coio_future_cancel(t, "stop"), 1);
    run_passes(loop, 3);
    assert_int_equal(a.finished, 0);
    assert_int_equal(coio_future_done(t), 0);
    assert_status(coio_lock_release(l), COIO_OK);
    run_until(loop, t);
    assert_status(a.await_rc, COIO_ECANCELLED);
    assert_int_equal(a.holds, 1);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_string_equal(tu_error_message(t), "stop");
    assert_int_equal(coio_lock_locked(l), 0); /* the actor released it */
    coio_future_release(t);
    coio_condition_free(c);
    tu_finish(loop);
}

/* The wait future cancelled directly: not done until the lock is re-acquired, then
 * cancelled with the message; the one who cancelled it now holds the lock. */
static void test_cond_cancel_future_directly(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    lock_now(l);
    coio_future *w = cond_wait(c);
    assert_int_equal(coio_lock_locked(l), 0);
    assert_int_equal(coio_future_cancel(w, "first"), 1);
    tu_assert_pending(w);
    assert_int_equal(coio_future_cancel(w, "second"), 1); /* the latest message wins */
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(w), 1);
    assert_string_equal(tu_error_message(w), "second");
    assert_int_equal(coio_lock_locked(l), 1);
    assert_int_equal(coio_future_cancel(w, NULL), 0);
    assert_status(coio_lock_release(l), COIO_OK);
    coio_future_release(w);
    coio_condition_free(c);
    tu_finish(loop);
}

/* 3.13: a notified wait whose task is cancelled before it ran passes the notification on. */
static void test_cond_notified_then_cancelled_passes_on(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    int clock = 0;
    actor a[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        actor_init(&a[i], OP_COND, c, &clock);
        a[i].release = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 2);
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    run_until(loop, t[1]);
    assert_status(a[0].await_rc, COIO_ECANCELLED);
    assert_int_equal(a[0].holds, 1);
    assert_int_equal(a[0].order, 1);
    assert_status(a[1].await_rc, COIO_OK);
    assert_int_equal(a[1].holds, 1);
    assert_int_equal(coio_lock_locked(l), 0);
    release_all(t, 2);
    coio_condition_free(c);
    tu_finish(loop);
}

/* ... also when it was cancelled after it had re-acquired the lock (the wait future done)
 * but before its task ran: the task reads cancelled, holds the lock, and the notification
 * goes on. */
static void test_cond_refused_passes_on(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    int clock = 0;
    actor a[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        actor_init(&a[i], OP_COND, c, &clock);
        a[i].release = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 2);
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK);
    tu_run_one_pass(loop);                        /* a[0] resumes: the lock is ours, it queues */
    assert_status(coio_lock_release(l), COIO_OK); /* handed to a[0]: its wait is done */
    assert_int_equal(coio_lock_locked(l), 1);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    run_until(loop, t[1]);
    assert_status(a[0].await_rc, COIO_ECANCELLED);
    assert_int_equal(a[0].holds, 1);
    assert_status(a[1].await_rc, COIO_OK);
    assert_int_equal(a[1].order, 2);
    assert_int_equal(coio_lock_locked(l), 0);
    release_all(t, 2);
    coio_condition_free(c);
    tu_finish(loop);
}

/* 3.13's surprising part: any wait that ends cancelled notifies one other waiter, also one
 * that was never notified itself (a "spurious wakeup", allowed for condition variables). */
static void test_cond_cancel_unnotified_wakes_another(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    int clock = 0;
    actor a[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        actor_init(&a[i], OP_COND, c, &clock);
        a[i].release = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 2);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    run_until(loop, t[1]);
    assert_status(a[0].await_rc, COIO_ECANCELLED);
    assert_status(a[1].await_rc, COIO_OK); /* woken without a notify */
    run_passes(loop, 3);
    assert_int_equal(a[2].finished, 0); /* one only */
    lock_now(coio_condition_lock(c));
    assert_status(coio_condition_notify_all(c), COIO_OK);
    assert_status(coio_lock_release(coio_condition_lock(c)), COIO_OK);
    run_until(loop, t[2]);
    assert_status(a[2].await_rc, COIO_OK);
    release_all(t, 3);
    coio_condition_free(c);
    tu_finish(loop);
}

/* A wait cancelled while re-acquiring the lock goes to the back of the lock's line
 * (asyncio's cancelled acquire() is retried). */
static void test_cond_cancel_while_reacquiring_requeues(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    lock_now(l);
    coio_future *w = cond_wait(c);
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK);
    tu_run_one_pass(loop);            /* w resumes and queues for the lock */
    coio_future *g = lock_acquire(l); /* behind w */
    assert_int_equal(coio_future_cancel(w, NULL), 1);
    tu_run_one_pass(loop); /* w queues again, behind g */
    assert_status(coio_lock_release(l), COIO_OK);
    tu_assert_done_null(g);
    tu_assert_pending(w);
    assert_status(coio_lock_release(l), COIO_OK);
    assert_int_equal(coio_future_cancelled(w), 1);
    assert_int_equal(coio_lock_locked(l), 1);
    assert_status(coio_lock_release(l), COIO_OK);
    coio_future_release(g);
    coio_future_release(w);
    coio_condition_free(c);
    tu_finish(loop);
}

/* Freeing the condition cancels the waits not yet notified: each still re-acquires the lock
 * before it ends; a wait already notified ends normally. */
static void test_cond_free_with_waiters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_lock *l = new_lock(loop);
    coio_condition *c = new_cond(loop, l);
    int clock = 0;
    actor a[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        actor_init(&a[i], OP_COND, c, &clock);
        a[i].release = 1;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 2);
    lock_now(l);
    assert_status(coio_condition_notify(c, 1), COIO_OK);
    coio_condition_free(c);
    assert_status(coio_lock_release(l), COIO_OK);
    for (int i = 0; i < 3; i++)
        run_until(loop, t[i]);
    assert_status(a[0].await_rc, COIO_OK);
    assert_status(a[1].await_rc, COIO_ECANCELLED);
    assert_status(a[2].await_rc, COIO_ECANCELLED);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a[i].holds, 1);
    assert_int_equal(coio_lock_locked(l), 0);
    release_all(t, 3);
    coio_lock_free(l);
    tu_finish(loop);
}

static void test_cond_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_loop *other = tu_loop_virtual();
    coio_lock *foreign = new_lock(other);
    coio_condition *c = (coio_condition *)&c;
    assert_status(coio_condition_new(NULL, NULL, &c), COIO_EINVAL);
    assert_status(coio_condition_new(loop, NULL, NULL), COIO_EINVAL);
    assert_status(coio_condition_new(loop, foreign, &c), COIO_ELOOP);
    assert_ptr_equal(c, (coio_condition *)&c);
    c = new_cond(loop, NULL);
    lock_now(coio_condition_lock(c));
    coio_future *f = (coio_future *)&f;
    assert_status(coio_condition_wait(NULL, &f), COIO_EINVAL);
    assert_status(coio_condition_wait(c, NULL), COIO_EINVAL);
    assert_ptr_equal(f, (coio_future *)&f);
    assert_int_equal(coio_lock_locked(coio_condition_lock(c)), 1); /* not released */
    assert_status(coio_condition_notify(NULL, 1), COIO_EINVAL);
    assert_status(coio_condition_notify_all(NULL), COIO_EINVAL);
    assert_null(coio_condition_lock(NULL));
    coio_condition_free(NULL);
    assert_status(coio_lock_release(coio_condition_lock(c)), COIO_OK);
    coio_condition_free(c);
    coio_lock_free(foreign);
    tu_finish(other);
    tu_finish(loop);
}

static void test_cond_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    lock_now(coio_condition_lock(c));
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_condition *c2 = NULL;
    assert_status(coio_condition_new(loop, NULL, &c2), COIO_ECLOSED);
    coio_future *f = NULL;
    assert_status(coio_condition_wait(c, &f), COIO_ECLOSED);
    assert_null(f);
    assert_status(coio_condition_notify(c, 1), COIO_ECLOSED);
    assert_status(coio_condition_notify_all(c), COIO_ECLOSED);
    coio_condition_free(c);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* ---- Barrier ---------------------------------------------------------------------------- */

static void test_barrier_new_and_queries(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = (coio_barrier *)&b;
    assert_status(coio_barrier_new(loop, 0, &b), COIO_EINVAL); /* parties must be >= 1 */
    assert_status(coio_barrier_new(NULL, 2, &b), COIO_EINVAL);
    assert_status(coio_barrier_new(loop, 2, NULL), COIO_EINVAL);
    assert_ptr_equal(b, (coio_barrier *)&b);
    b = new_barrier(loop, 3);
    assert_int_equal(coio_barrier_parties(b), 3);
    assert_int_equal(coio_barrier_n_waiting(b), 0);
    assert_int_equal(coio_barrier_broken(b), 0);
    coio_future *f1 = barrier_wait(b);
    assert_int_equal(coio_barrier_n_waiting(b), 1);
    coio_future *f2 = barrier_wait(b);
    assert_int_equal(coio_barrier_n_waiting(b), 2);
    coio_future *f3 = barrier_wait(b); /* trips it: done at once */
    assert_int_equal(index_of(f3), 2);
    assert_int_equal(coio_barrier_n_waiting(b), 0); /* draining */
    tu_assert_pending(f1);
    tu_run_one_pass(loop);
    assert_int_equal(index_of(f1), 0);
    assert_int_equal(index_of(f2), 1);
    coio_future *fs[] = {f1, f2, f3};
    release_all(fs, 3);
    coio_barrier_free(b);
    tu_finish(loop);
}

static void test_barrier_indices_from_tasks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 3);
    actor a[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        actor_init(&a[i], OP_BARRIER, b, NULL);
        t[i] = spawn_actor(loop, &a[i]);
    }
    tu_run_one_pass(loop);
    assert_int_equal(a[2].finished, 1); /* the last party goes on at once */
    assert_int_equal(a[2].values[0], 2);
    assert_int_equal(a[0].finished, 0);
    tu_run_one_pass(loop); /* the others resume, in order */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].finished, 1);
        assert_int_equal(a[i].values[0], i);
    }
    assert_int_equal(coio_barrier_n_waiting(b), 0);
    release_all(t, 3);
    coio_barrier_free(b);
    tu_finish(loop);
}

static void test_barrier_single_party(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 1);
    for (int i = 0; i < 3; i++) {
        coio_future *f = barrier_wait(b);
        assert_int_equal(index_of(f), 0);
        coio_future_release(f);
    }
    assert_int_equal(coio_barrier_n_waiting(b), 0);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* Two tasks doing two rounds: the second round's indices are asyncio's (the tripping task
 * waits for the draining, the other one goes first). */
static void test_barrier_two_rounds(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 2);
    actor a[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        actor_init(&a[i], OP_BARRIER, b, NULL);
        a[i].rounds = 2;
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_until(loop, t[0]);
    run_until(loop, t[1]);
    assert_int_equal(a[0].values[0], 0);
    assert_int_equal(a[1].values[0], 1);
    assert_int_equal(a[0].values[1], 0);
    assert_int_equal(a[1].values[1], 1);
    release_all(t, 2);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* A wait made while the barrier drains waits for the next round. */
static void test_barrier_wait_while_draining(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 2);
    coio_future *f1 = barrier_wait(b);
    coio_future *f2 = barrier_wait(b);
    assert_int_equal(index_of(f2), 1);
    coio_future *f3 = barrier_wait(b);
    tu_assert_pending(f3);
    assert_int_equal(coio_barrier_n_waiting(b), 0);
    tu_run_one_pass(loop); /* f1 leaves; the barrier fills again */
    assert_int_equal(index_of(f1), 0);
    tu_assert_pending(f3);
    tu_run_one_pass(loop); /* f3 enters */
    tu_assert_pending(f3);
    assert_int_equal(coio_barrier_n_waiting(b), 1);
    coio_future *f4 = barrier_wait(b);
    assert_int_equal(index_of(f4), 1);
    tu_run_one_pass(loop);
    assert_int_equal(index_of(f3), 0);
    coio_future *fs[] = {f1, f2, f3, f4};
    release_all(fs, 4);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* abort(): the waiters fail with COIO_EBROKEN, and so does every later wait, at once. */
static void test_barrier_abort(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 3);
    actor a;
    actor_init(&a, OP_BARRIER, b, NULL);
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    coio_future *f = barrier_wait(b);
    assert_status(coio_barrier_abort(b), COIO_OK);
    assert_int_equal(coio_barrier_broken(b), 1);
    assert_int_equal(coio_barrier_n_waiting(b), 0);
    tu_run_one_pass(loop);
    assert_broken(f, "Abort or reset of barrier");
    assert_int_equal(a.finished, 1);
    assert_status(a.await_rc, COIO_EFAILED);
    assert_int_equal(a.code, COIO_EBROKEN);
    coio_future *g = barrier_wait(b);
    assert_broken(g, "Barrier aborted");
    coio_future_release(f);
    coio_future_release(g);
    coio_future_release(t);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* asyncio: a wait released by the trip but not resumed yet still fails when the barrier is
 * aborted before it resumes. */
static void test_barrier_abort_before_released_resume(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 2);
    coio_future *f1 = barrier_wait(b);
    coio_future *f2 = barrier_wait(b);
    assert_int_equal(index_of(f2), 1);
    assert_status(coio_barrier_abort(b), COIO_OK);
    tu_run_one_pass(loop);
    assert_broken(f1, "Abort or reset of barrier");
    coio_future_release(f1);
    coio_future_release(f2);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* reset(): the waiters fail with COIO_EBROKEN, then the barrier works again. */
static void test_barrier_reset_with_waiters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 3);
    coio_future *f1 = barrier_wait(b);
    coio_future *f2 = barrier_wait(b);
    assert_status(coio_barrier_reset(b), COIO_OK);
    assert_int_equal(coio_barrier_broken(b), 0);
    assert_int_equal(coio_barrier_n_waiting(b), 0); /* resetting */
    coio_future *blocked = barrier_wait(b);         /* waits for the reset to end */
    tu_run_one_pass(loop);
    assert_broken(f1, "Abort or reset of barrier");
    assert_broken(f2, "Abort or reset of barrier");
    tu_assert_pending(blocked);
    tu_run_one_pass(loop);
    assert_int_equal(coio_barrier_n_waiting(b), 1);
    coio_future *f3 = barrier_wait(b);
    coio_future *f4 = barrier_wait(b);
    assert_int_equal(index_of(f4), 2);
    tu_run_one_pass(loop);
    assert_int_equal(index_of(blocked), 0);
    assert_int_equal(index_of(f3), 1);
    coio_future *fs[] = {f1, f2, blocked, f3, f4};
    release_all(fs, 5);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* reset() with nobody inside fills again at once, also after abort(). */
static void test_barrier_reset_idle_and_after_abort(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 2);
    assert_status(coio_barrier_reset(b), COIO_OK);
    assert_int_equal(coio_barrier_broken(b), 0);
    assert_status(coio_barrier_abort(b), COIO_OK);
    assert_int_equal(coio_barrier_broken(b), 1);
    assert_status(coio_barrier_reset(b), COIO_OK);
    assert_int_equal(coio_barrier_broken(b), 0);
    coio_future *f1 = barrier_wait(b);
    assert_int_equal(coio_barrier_n_waiting(b), 1);
    coio_future *f2 = barrier_wait(b);
    assert_int_equal(index_of(f2), 1);
    tu_run_one_pass(loop);
    assert_int_equal(index_of(f1), 0);
    coio_future_release(f1);
    coio_future_release(f2);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* A cancelled waiter just leaves (asyncio does not break the barrier for it); the index it
 * had is taken again by the next wait (asyncio's `index = self._count`). */
static void test_barrier_cancelled_waiter_leaves(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 3);
    actor a[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        actor_init(&a[i], OP_BARRIER, b, NULL);
        t[i] = spawn_actor(loop, &a[i]);
    }
    tu_run_one_pass(loop);
    assert_int_equal(coio_barrier_n_waiting(b), 2);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    assert_int_equal(coio_barrier_n_waiting(b), 2); /* leaves when it resumes */
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t[0]), 1);
    assert_status(a[0].await_rc, COIO_ECANCELLED);
    assert_int_equal(coio_barrier_broken(b), 0);
    assert_int_equal(coio_barrier_n_waiting(b), 1);
    coio_future *f3 = barrier_wait(b);
    coio_future *f4 = barrier_wait(b);
    assert_int_equal(index_of(f4), 2);
    run_until(loop, t[1]);
    assert_int_equal(a[1].values[0], 1);
    assert_int_equal(index_of(f3), 1);
    coio_future_release(f3);
    coio_future_release(f4);
    release_all(t, 2);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* 3.13: the cancelled wait leaves through the condition's wait(), whose `self._notify(1)`
 * wakes the next waiter for nothing: it looks, waits again, and so goes to the back of the
 * line (it is released after the waiter that was behind it). */
static void test_barrier_cancel_requeues_next_waiter(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 4);
    int clock = 0;
    actor a[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        actor_init(&a[i], OP_BARRIER, b, &clock);
        t[i] = spawn_actor(loop, &a[i]);
    }
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    run_passes(loop, 2); /* t[0] leaves and wakes t[1], which waits again */
    assert_int_equal(a[0].order, 1);
    assert_int_equal(coio_barrier_n_waiting(b), 2);
    coio_future *f4 = barrier_wait(b);
    coio_future *f5 = barrier_wait(b);
    assert_int_equal(index_of(f5), 3);
    run_until(loop, t[1]);
    assert_int_equal(a[2].order, 2); /* released first: it is ahead now */
    assert_int_equal(a[1].order, 3);
    assert_int_equal(a[1].values[0], 1);
    assert_int_equal(a[2].values[0], 2);
    assert_int_equal(index_of(f4), 2); /* the index t[0] left is taken again */
    coio_future_release(f4);
    coio_future_release(f5);
    release_all(t, 3);
    coio_barrier_free(b);
    tu_finish(loop);
}

/* A wait future cancelled directly ends cancelled on the next pass. */
static void test_barrier_cancel_future_directly(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 2);
    coio_future *f = barrier_wait(b);
    assert_int_equal(coio_future_cancel(f, "bye"), 1);
    tu_assert_pending(f);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(f), 1);
    assert_string_equal(tu_error_message(f), "bye");
    assert_int_equal(coio_barrier_n_waiting(b), 0);
    coio_future_release(f);
    coio_barrier_free(b);
    tu_finish(loop);
}

static void test_barrier_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 2);
    coio_future *f = (coio_future *)&f;
    assert_status(coio_barrier_wait(NULL, &f), COIO_EINVAL);
    assert_status(coio_barrier_wait(b, NULL), COIO_EINVAL);
    assert_ptr_equal(f, (coio_future *)&f);
    assert_int_equal(coio_barrier_n_waiting(b), 0);
    assert_status(coio_barrier_reset(NULL), COIO_EINVAL);
    assert_status(coio_barrier_abort(NULL), COIO_EINVAL);
    assert_int_equal(coio_barrier_parties(NULL), COIO_EINVAL);
    assert_int_equal(coio_barrier_n_waiting(NULL), COIO_EINVAL);
    assert_int_equal(coio_barrier_broken(NULL), 0);
    coio_barrier_free(NULL);
    coio_barrier_free(b);
    tu_finish(loop);
}

static void test_barrier_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 2);
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_barrier *b2 = NULL;
    assert_status(coio_barrier_new(loop, 2, &b2), COIO_ECLOSED);
    coio_future *f = NULL;
    assert_status(coio_barrier_wait(b, &f), COIO_ECLOSED);
    assert_null(f);
    assert_status(coio_barrier_reset(b), COIO_ECLOSED);
    assert_status(coio_barrier_abort(b), COIO_ECLOSED);
    assert_int_equal(coio_barrier_broken(b), 0);
    assert_int_equal(coio_barrier_parties(b), 2);
    coio_barrier_free(b);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_barrier_free_with_waiters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_barrier *b = new_barrier(loop, 3);
    actor a;
    actor_init(&a, OP_BARRIER, b, NULL);
    coio_future *t = spawn_actor(loop, &a);
    tu_run_one_pass(loop);
    coio_future *f = barrier_wait(b);
    coio_barrier_free(b);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(f), 1);
    assert_int_equal(a.finished, 1);
    assert_status(a.await_rc, COIO_ECANCELLED);
    coio_future_release(f);
    coio_future_release(t);
    tu_finish(loop);
}

/* ---- the loop closed with waits pending ------------------------------------------------- */

/* Every primitive with waits pending (from tasks and not) when the loop closes: nothing
 * completes any more; futures, tasks and primitives are then freed in either order. */
static void run_close_with_pending(int free_first) {
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    coio_event *e = new_event(loop);
    coio_lock *l = new_lock(loop);
    coio_semaphore *s = new_sem(loop, 0, 0);
    coio_condition *c = new_cond(loop, l);
    coio_barrier *b = new_barrier(loop, 3);
    lock_now(l);
    coio_future *fs[6];
    fs[0] = event_wait(e);
    fs[1] = lock_acquire(l);
    fs[2] = sem_acquire(s);
    fs[3] = barrier_wait(b);
    actor a[5];
    coio_future *t[5];
    void *objs[5] = {e, l, s, c, b};
    for (int i = 0; i < 5; i++) {
        actor_init(&a[i], i, objs[i], NULL);
        t[i] = spawn_actor(loop, &a[i]);
    }
    run_passes(loop, 2);
    /* a condition wait re-acquiring the lock (held for fs[1], to which the wait passed it) */
    fs[4] = cond_wait(c);
    tu_assert_done_null(fs[1]);
    assert_status(coio_condition_notify_all(c), COIO_OK);
    fs[5] = lock_acquire(l);
    tu_run_one_pass(loop);
    /* a barrier wait resuming when the loop closes */
    assert_int_equal(coio_future_cancel(fs[3], NULL), 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(rep.n, 5); /* the tasks, destroyed pending */
    for (int i = 0; i < 5; i++)
        assert_int_equal(a[i].dropped, 1);
    if (free_first) {
        coio_event_free(e);
        coio_lock_free(l);
        coio_semaphore_free(s);
        coio_condition_free(c);
        coio_barrier_free(b);
    }
    tu_assert_pending(fs[0]);
    tu_assert_pending(fs[2]);
    tu_assert_pending(fs[3]);
    tu_assert_pending(fs[4]);
    tu_assert_pending(fs[5]);
    release_all(fs, 6);
    release_all(t, 5);
    if (!free_first) {
        coio_barrier_free(b);
        coio_condition_free(c);
        coio_semaphore_free(s);
        coio_lock_free(l);
        coio_event_free(e);
    }
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_loop_close_pending_free_first(void **state) {
    (void)state;
    run_close_with_pending(1);
}

static void test_loop_close_pending_release_first(void **state) {
    (void)state;
    run_close_with_pending(0);
}

/* A condition and its own lock outlive the handle while a wait of it is pending. */
static void test_cond_freed_own_lock_outlives_handle(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_condition *c = new_cond(loop, NULL);
    coio_lock *l = coio_condition_lock(c);
    lock_now(l);
    coio_future *w = cond_wait(c);
    coio_condition_free(c);
    tu_run_one_pass(loop); /* cancelled; the lock was free: re-acquired */
    assert_int_equal(coio_future_cancelled(w), 1);
    assert_int_equal(coio_lock_locked(l), 1); /* valid while w lives */
    assert_status(coio_lock_release(l), COIO_OK);
    coio_future_release(w);
    tu_finish(loop);
}

/* ---- debug mode: calls from another thread ---------------------------------------------- */

typedef struct wrong_thread {
    coio_loop *loop;
    coio_event *e, *e2; /* the primitives, and the ones the thread may not create */
    coio_lock *l, *l2;
    coio_semaphore *s, *s2;
    coio_condition *c, *c2;
    coio_barrier *b, *b2;
    coio_future *f;
    int st[18];
} wrong_thread;

static void *wrong_thread_main(void *p) {
    wrong_thread *w = p;
    int i = 0;
    w->st[i++] = coio_event_wait(w->e, &w->f);
    w->st[i++] = coio_event_set(w->e);
    w->st[i++] = coio_event_clear(w->e);
    w->st[i++] = coio_lock_acquire(w->l, &w->f);
    w->st[i++] = coio_lock_release(w->l);
    w->st[i++] = coio_semaphore_acquire(w->s, &w->f);
    w->st[i++] = coio_semaphore_release(w->s);
    w->st[i++] = coio_condition_wait(w->c, &w->f);
    w->st[i++] = coio_condition_notify(w->c, 1);
    w->st[i++] = coio_condition_notify_all(w->c);
    w->st[i++] = coio_barrier_wait(w->b, &w->f);
    w->st[i++] = coio_barrier_reset(w->b);
    w->st[i++] = coio_barrier_abort(w->b);
    w->st[i++] = coio_event_new(w->loop, &w->e2);
    w->st[i++] = coio_lock_new(w->loop, &w->l2);
    w->st[i++] = coio_semaphore_new(w->loop, 1, 0, &w->s2);
    w->st[i++] = coio_condition_new(w->loop, NULL, &w->c2);
    w->st[i++] = coio_barrier_new(w->loop, 1, &w->b2);
    return NULL;
}

static void cb_wrong_thread(void *p) {
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wrong_thread_main, p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

/* Debug mode: every call that changes a primitive of a running loop from another thread is
 * COIO_ETHREAD, and changes nothing. */
static void test_debug_wrong_thread(void **state) {
    (void)state;
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = COIO_LOOP_VIRTUAL_TIME | COIO_LOOP_DEBUG;
    coio_loop *loop = NULL;
    assert_status(coio_loop_new(&loop, &o), COIO_OK);
    wrong_thread w;
    memset(&w, 0, sizeof w);
    w.loop = loop;
    w.e = new_event(loop);
    w.l = new_lock(loop);
    w.s = new_sem(loop, 1, 0);
    w.c = new_cond(loop, w.l);
    w.b = new_barrier(loop, 1);
    lock_now(w.l);
    assert_status(coio_call_soon(loop, cb_wrong_thread, &w, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    for (int i = 0; i < 18; i++)
        assert_status(w.st[i], COIO_ETHREAD);
    assert_null(w.f);
    assert_null(w.e2);
    assert_null(w.l2);
    assert_null(w.s2);
    assert_null(w.c2);
    assert_null(w.b2);
    assert_int_equal(coio_event_is_set(w.e), 0);
    assert_int_equal(coio_lock_locked(w.l), 1);
    assert_int_equal(coio_semaphore_value(w.s), 1);
    assert_int_equal(coio_barrier_broken(w.b), 0);
    assert_status(coio_lock_release(w.l), COIO_OK);
    coio_condition_free(w.c);
    coio_barrier_free(w.b);
    coio_semaphore_free(w.s);
    coio_lock_free(w.l);
    coio_event_free(w.e);
    tu_finish(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_set_clear_is_set),
        cmocka_unit_test(test_event_wait_when_set_is_done),
        cmocka_unit_test(test_event_set_wakes_all_in_order),
        cmocka_unit_test(test_event_clear_after_set),
        cmocka_unit_test(test_event_cancelled_waiter_skipped),
        cmocka_unit_test(test_event_cancel_after_wakeup),
        cmocka_unit_test(test_event_released_pending_wait),
        cmocka_unit_test(test_event_bad_input),
        cmocka_unit_test(test_event_closed_loop),
        cmocka_unit_test(test_event_free_with_waiters),
        cmocka_unit_test(test_lock_acquire_release),
        cmocka_unit_test(test_lock_fifo),
        cmocka_unit_test(test_lock_handoff_no_barging),
        cmocka_unit_test(test_lock_cancelled_waiter_skipped),
        cmocka_unit_test(test_lock_cancel_after_wakeup_passes_on),
        cmocka_unit_test(test_lock_cancel_after_wakeup_unlocks),
        cmocka_unit_test(test_lock_step_task_refuses_grant),
        cmocka_unit_test(test_lock_released_pending_wait),
        cmocka_unit_test(test_waits_completed_by_hand),
        cmocka_unit_test(test_lock_bad_input),
        cmocka_unit_test(test_lock_closed_loop),
        cmocka_unit_test(test_lock_free_with_waiters),
        cmocka_unit_test(test_sem_acquire_release_value),
        cmocka_unit_test(test_sem_zero_is_locked),
        cmocka_unit_test(test_sem_fifo),
        cmocka_unit_test(test_sem_new_acquire_does_not_jump_woken),
        cmocka_unit_test(test_sem_unlocked_after_woken_ran),
        cmocka_unit_test(test_sem_cancelled_waiter_skipped),
        cmocka_unit_test(test_sem_cancel_after_wakeup_passes_on),
        cmocka_unit_test(test_sem_step_task_refuses_grant),
        cmocka_unit_test(test_sem_bounded_over_release),
        cmocka_unit_test(test_sem_bad_input),
        cmocka_unit_test(test_sem_closed_loop),
        cmocka_unit_test(test_sem_free_with_waiters),
        cmocka_unit_test(test_cond_own_lock_and_unheld_errors),
        cmocka_unit_test(test_cond_shared_lock),
        cmocka_unit_test(test_cond_wait_notify),
        cmocka_unit_test(test_cond_notify_n_and_all),
        cmocka_unit_test(test_cond_notifier_retakes_lock_first),
        cmocka_unit_test(test_cond_resume_same_pass),
        cmocka_unit_test(test_cond_cancel_still_reacquires),
        cmocka_unit_test(test_cond_cancel_future_directly),
        cmocka_unit_test(test_cond_notified_then_cancelled_passes_on),
        cmocka_unit_test(test_cond_refused_passes_on),
        cmocka_unit_test(test_cond_cancel_unnotified_wakes_another),
        cmocka_unit_test(test_cond_cancel_while_reacquiring_requeues),
        cmocka_unit_test(test_cond_free_with_waiters),
        cmocka_unit_test(test_cond_freed_own_lock_outlives_handle),
        cmocka_unit_test(test_cond_bad_input),
        cmocka_unit_test(test_cond_closed_loop),
        cmocka_unit_test(test_barrier_new_and_queries),
        cmocka_unit_test(test_barrier_indices_from_tasks),
        cmocka_unit_test(test_barrier_single_party),
        cmocka_unit_test(test_barrier_two_rounds),
        cmocka_unit_test(test_barrier_wait_while_draining),
        cmocka_unit_test(test_barrier_abort),
        cmocka_unit_test(test_barrier_abort_before_released_resume),
        cmocka_unit_test(test_barrier_reset_with_waiters),
        cmocka_unit_test(test_barrier_reset_idle_and_after_abort),
        cmocka_unit_test(test_barrier_cancelled_waiter_leaves),
        cmocka_unit_test(test_barrier_cancel_requeues_next_waiter),
        cmocka_unit_test(test_barrier_cancel_future_directly),
        cmocka_unit_test(test_barrier_bad_input),
        cmocka_unit_test(test_barrier_closed_loop),
        cmocka_unit_test(test_barrier_free_with_waiters),
        cmocka_unit_test(test_loop_close_pending_free_first),
        cmocka_unit_test(test_loop_close_pending_release_first),
        cmocka_unit_test(test_debug_wrong_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
