/* Queues: coio_queue_* (asyncio.Queue, LifoQueue, PriorityQueue of CPython 3.13, shutdown
 * included): order, blocking puts and gets, the hand-off of an item to a waiting getter and
 * its return when the getter's task is cancelled before it ran, task_done / join, shutdown,
 * the _nowait forms, ownership of items (every drop runs exactly once), bad input, and the
 * queue freed or the loop closed with items and waiters pending.
 *
 * Every test builds its own virtual-time loop, and closes and releases it (and every future,
 * task, queue and item) before returning: the suite runs under valgrind and ASan. */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

/* An item: its drop counts on the item itself, so "dropped exactly once" is checkable. */
typedef struct item {
    int id;
    int drops;
} item;

static void item_drop(void *p) {
    ((item *)p)->drops++;
}

static void items_init(item *its, int n) {
    for (int i = 0; i < n; i++) {
        its[i].id = i;
        its[i].drops = 0;
    }
}

static coio_queue *new_queue(coio_loop *loop, int kind, size_t maxsize) {
    coio_queue *q = NULL;
    assert_status(coio_queue_new(loop, kind, maxsize, &q), COIO_OK);
    assert_non_null(q);
    return q;
}

static void put_ok(coio_queue *q, item *it) {
    assert_status(coio_queue_put_nowait(q, it, item_drop), COIO_OK);
}

static void put_prio_ok(coio_queue *q, double prio, item *it) {
    assert_status(coio_queue_put_priority_nowait(q, prio, it, item_drop), COIO_OK);
}

/* get_nowait: the item becomes the caller's (its drop is handed over, not called). */
static item *get_ok(coio_queue *q) {
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_status(coio_queue_get_nowait(q, &v, &d), COIO_OK);
    assert_ptr_equal(d, item_drop);
    assert_non_null(v);
    return v;
}

static int get_id(coio_queue *q) {
    return get_ok(q)->id;
}

static coio_future *put_future(coio_queue *q, item *it) {
    coio_future *f = NULL;
    assert_status(coio_queue_put(q, it, item_drop, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

static coio_future *get_future(coio_queue *q) {
    coio_future *f = NULL;
    assert_status(coio_queue_get(q, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

static coio_future *join_future(coio_queue *q) {
    coio_future *f = NULL;
    assert_status(coio_queue_join(q, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

/* Takes the item out of a get future done with a result. */
static item *take_item(coio_future *f) {
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_int_equal(coio_future_done(f), 1);
    assert_status(coio_future_take_result(f, &v, &d), COIO_OK);
    assert_ptr_equal(d, item_drop);
    assert_non_null(v);
    return v;
}

/* A done future failed with COIO_ESHUTDOWN. */
static void assert_shut_down(coio_future *f) {
    assert_int_equal(coio_future_done(f), 1);
    assert_status(coio_future_result(f, NULL), COIO_EFAILED);
    assert_int_equal(tu_error_code(f), COIO_ESHUTDOWN);
}

static coio_future *spawn(coio_loop *loop, coio_coroutine_fn fn, void *arg, coio_free_fn drop) {
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.drop = drop;
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, fn, arg, &o, &t), COIO_OK);
    return t;
}

/* coio_loop_run_until_complete under a watchdog: in virtual time a loop with nothing left
 * to do would wait forever, so a future that never completes fails the test instead. */
typedef struct watchdog {
    coio_loop *loop;
    int fired;
} watchdog;

static void watchdog_fire(void *arg) {
    watchdog *w = arg;
    w->fired = 1;
    assert_status(coio_loop_stop(w->loop), COIO_OK);
}

static int run_until(coio_loop *loop, coio_future *f) {
    watchdog w = {loop, 0};
    coio_handle *h = NULL;
    assert_status(coio_call_later(loop, 3600.0, watchdog_fire, &w, NULL, &h), COIO_OK);
    int rc = coio_loop_run_until_complete(loop, f);
    assert_status(coio_handle_cancel(h), COIO_OK);
    coio_handle_release(h);
    if (w.fired) fail_msg("the future never completed");
    return rc;
}

/* A consumer coroutine: one get, awaited.  f is kept here (not on the coroutine's stack) so
 * that consumer_drop can release it when the loop closes under a suspended body. */
typedef struct consumer {
    coio_queue *q;
    coio_future *f;
    int get_rc;   /* coio_queue_get's status */
    int await_rc; /* coio_await's */
    int code;     /* the error code when the get failed */
    item *got;
    int finished;
    int dropped;
    int order; /* when it got its item, counted in *clock */
    int *clock;
} consumer;

static int body_consume(coio_future *self, void *arg) {
    (void)self;
    consumer *c = arg;
    c->get_rc = coio_queue_get(c->q, &c->f);
    if (c->get_rc != COIO_OK) {
        c->finished = 1;
        return COIO_OK;
    }
    c->await_rc = coio_await(c->f, NULL);
    if (c->await_rc == COIO_OK) {
        c->got = take_item(c->f);
        if (c->clock) c->order = ++*c->clock;
    } else if (c->await_rc == COIO_EFAILED) {
        c->code = tu_error_code(c->f);
    }
    coio_future_release(c->f);
    c->f = NULL;
    c->finished = 1;
    return c->await_rc == COIO_ECANCELLED ? COIO_ECANCELLED : COIO_OK;
}

static void consumer_drop(void *arg) {
    consumer *c = arg;
    c->dropped++;
    coio_future_release(c->f);
    c->f = NULL;
}

static void consumer_init(consumer *c, coio_queue *q) {
    memset(c, 0, sizeof *c);
    c->q = q;
}

/* A producer coroutine: one put of it, awaited. */
typedef struct producer {
    coio_queue *q;
    item *it;
    coio_future *f;
    int put_rc;
    int await_rc;
    int code;
    int finished;
    int order;
    int *clock;
} producer;

static int body_produce(coio_future *self, void *arg) {
    (void)self;
    producer *p = arg;
    p->put_rc = coio_queue_put(p->q, p->it, item_drop, &p->f);
    if (p->put_rc != COIO_OK) {
        p->finished = 1;
        return COIO_OK;
    }
    p->await_rc = coio_await(p->f, NULL);
    if (p->await_rc == COIO_EFAILED) p->code = tu_error_code(p->f);
    if (p->await_rc == COIO_OK && p->clock) p->order = ++*p->clock;
    coio_future_release(p->f);
    p->f = NULL;
    p->finished = 1;
    return p->await_rc == COIO_ECANCELLED ? COIO_ECANCELLED : COIO_OK;
}

static void producer_drop(void *arg) {
    producer *p = arg;
    coio_future_release(p->f);
    p->f = NULL;
}

static void producer_init(producer *p, coio_queue *q, item *it) {
    memset(p, 0, sizeof *p);
    p->q = q;
    p->it = it;
}

/* ---- creation, queries, bad input -------------------------------------------------------- */

static void test_new_and_queries(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 2);
    assert_int_equal(coio_queue_size(q), 0);
    assert_int_equal(coio_queue_maxsize(q), 2);
    assert_int_equal(coio_queue_empty(q), 1);
    assert_int_equal(coio_queue_full(q), 0);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    assert_int_equal(coio_queue_size(q), 1);
    assert_int_equal(coio_queue_empty(q), 0);
    assert_int_equal(coio_queue_full(q), 0);
    put_ok(q, &it[1]);
    assert_int_equal(coio_queue_size(q), 2);
    assert_int_equal(coio_queue_full(q), 1);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1);
    tu_finish(loop);
}

static void test_unbounded_is_never_full(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_LIFO, 0);
    assert_int_equal(coio_queue_maxsize(q), 0);
    static item it[100]; /* grows the ring several times */
    items_init(it, 100);
    for (int i = 0; i < 100; i++)
        put_ok(q, &it[i]);
    assert_int_equal(coio_queue_size(q), 100);
    assert_int_equal(coio_queue_full(q), 0);
    coio_queue_free(q);
    for (int i = 0; i < 100; i++)
        assert_int_equal(it[i].drops, 1);
    tu_finish(loop);
}

static void test_new_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = (coio_queue *)&q; /* must stay untouched */
    coio_queue *const sentinel = q;
    assert_status(coio_queue_new(NULL, COIO_QUEUE_FIFO, 0, &q), COIO_EINVAL);
    assert_status(coio_queue_new(loop, COIO_QUEUE_FIFO, 0, NULL), COIO_EINVAL);
    assert_status(coio_queue_new(loop, -1, 0, &q), COIO_EINVAL);
    assert_status(coio_queue_new(loop, 3, 0, &q), COIO_EINVAL);
    assert_status(coio_queue_new(loop, COIO_QUEUE_FIFO, (size_t)LONG_MAX + 1, &q), COIO_EINVAL);
    assert_ptr_equal(q, sentinel);
    tu_finish(loop);
}

static void test_new_on_closed_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_queue *q = NULL;
    assert_status(coio_queue_new(loop, COIO_QUEUE_FIFO, 0, &q), COIO_ECLOSED);
    assert_null(q);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_null_queue(void **state) {
    (void)state;
    item it = {0, 0};
    coio_future *f = NULL;
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_status(coio_queue_put(NULL, &it, item_drop, &f), COIO_EINVAL);
    assert_status(coio_queue_put_priority(NULL, 1.0, &it, item_drop, &f), COIO_EINVAL);
    assert_status(coio_queue_put_nowait(NULL, &it, item_drop), COIO_EINVAL);
    assert_status(coio_queue_put_priority_nowait(NULL, 1.0, &it, item_drop), COIO_EINVAL);
    assert_status(coio_queue_get(NULL, &f), COIO_EINVAL);
    assert_status(coio_queue_get_nowait(NULL, &v, &d), COIO_EINVAL);
    assert_status(coio_queue_task_done(NULL), COIO_EINVAL);
    assert_status(coio_queue_join(NULL, &f), COIO_EINVAL);
    assert_status(coio_queue_shutdown(NULL, 0), COIO_EINVAL);
    assert_int_equal(coio_queue_size(NULL), COIO_EINVAL);
    assert_int_equal(coio_queue_maxsize(NULL), COIO_EINVAL);
    assert_int_equal(coio_queue_empty(NULL), 0);
    assert_int_equal(coio_queue_full(NULL), 0);
    coio_queue_free(NULL);
    assert_null(f);
    assert_int_equal(it.drops, 0);
}

static void test_null_outs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    item it = {0, 0};
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_status(coio_queue_put(q, &it, item_drop, NULL), COIO_EINVAL);
    assert_status(coio_queue_put_priority(q, 1.0, &it, item_drop, NULL), COIO_EINVAL);
    assert_status(coio_queue_get(q, NULL), COIO_EINVAL);
    assert_status(coio_queue_join(q, NULL), COIO_EINVAL);
    put_ok(q, &it);
    assert_status(coio_queue_get_nowait(q, NULL, &d), COIO_EINVAL);
    assert_status(coio_queue_get_nowait(q, &v, NULL), COIO_EINVAL);
    assert_int_equal(coio_queue_size(q), 1); /* nothing taken */
    assert_int_equal(it.drops, 0);
    coio_queue_free(q);
    assert_int_equal(it.drops, 1);
    tu_finish(loop);
}

static void test_priority_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *pq = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    coio_queue *fq = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_queue *lq = new_queue(loop, COIO_QUEUE_LIFO, 0);
    item it = {0, 0};
    coio_future *f = NULL;
    assert_status(coio_queue_put_priority(pq, NAN, &it, item_drop, &f), COIO_EINVAL);
    assert_status(coio_queue_put_priority_nowait(pq, NAN, &it, item_drop), COIO_EINVAL);
    /* A priority means nothing to FIFO / LIFO queues. */
    assert_status(coio_queue_put_priority(fq, 1.0, &it, item_drop, &f), COIO_EINVAL);
    assert_status(coio_queue_put_priority_nowait(fq, 1.0, &it, item_drop), COIO_EINVAL);
    assert_status(coio_queue_put_priority(lq, 1.0, &it, item_drop, &f), COIO_EINVAL);
    assert_status(coio_queue_put_priority_nowait(lq, 1.0, &it, item_drop), COIO_EINVAL);
    assert_null(f);
    assert_int_equal(coio_queue_size(pq), 0);
    assert_int_equal(coio_queue_size(fq), 0);
    assert_int_equal(coio_queue_size(lq), 0);
    coio_queue_free(pq);
    coio_queue_free(fq);
    coio_queue_free(lq);
    assert_int_equal(it.drops, 0);
    tu_finish(loop);
}

static void test_closed_loop_statuses(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    assert_status(coio_loop_close(loop), COIO_OK);
    coio_future *f = NULL;
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_status(coio_queue_put(q, &it[1], item_drop, &f), COIO_ECLOSED);
    assert_status(coio_queue_put_priority(q, 1.0, &it[1], item_drop, &f), COIO_ECLOSED);
    assert_status(coio_queue_put_nowait(q, &it[1], item_drop), COIO_ECLOSED);
    assert_status(coio_queue_put_priority_nowait(q, 1.0, &it[1], item_drop), COIO_ECLOSED);
    assert_status(coio_queue_get(q, &f), COIO_ECLOSED);
    assert_status(coio_queue_get_nowait(q, &v, &d), COIO_ECLOSED);
    assert_status(coio_queue_task_done(q), COIO_ECLOSED);
    assert_status(coio_queue_join(q, &f), COIO_ECLOSED);
    assert_status(coio_queue_shutdown(q, 1), COIO_ECLOSED);
    assert_null(f);
    assert_int_equal(coio_queue_size(q), 1); /* queries still answer */
    assert_int_equal(it[1].drops, 0);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* The queue keeps its loop alive: it may be freed after the loop was released. */
static void test_free_after_loop_release(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    put_ok(q, &it);
    tu_finish(loop);
    assert_int_equal(it.drops, 0);
    coio_queue_free(q);
    assert_int_equal(it.drops, 1);
}

/* ---- order ------------------------------------------------------------------------------- */

static void test_fifo_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[5];
    items_init(it, 5);
    for (int i = 0; i < 5; i++)
        put_ok(q, &it[i]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(get_id(q), i);
    /* Wrap the ring around: more puts after some gets keep the order. */
    item more[6];
    items_init(more, 6);
    for (int i = 0; i < 6; i++) {
        more[i].id = 10 + i;
        put_ok(q, &more[i]);
    }
    assert_int_equal(get_id(q), 3);
    assert_int_equal(get_id(q), 4);
    for (int i = 0; i < 6; i++)
        assert_int_equal(get_id(q), 10 + i);
    assert_int_equal(coio_queue_empty(q), 1);
    coio_queue_free(q);
    for (int i = 0; i < 5; i++)
        assert_int_equal(it[i].drops, 0); /* handed over, not dropped */
    tu_finish(loop);
}

static void test_lifo_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_LIFO, 0);
    item it[4];
    items_init(it, 4);
    for (int i = 0; i < 3; i++)
        put_ok(q, &it[i]);
    assert_int_equal(get_id(q), 2);
    put_ok(q, &it[3]);
    assert_int_equal(get_id(q), 3);
    assert_int_equal(get_id(q), 1);
    assert_int_equal(get_id(q), 0);
    coio_queue_free(q);
    tu_finish(loop);
}

static void test_priority_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    item it[8];
    items_init(it, 8);
    put_prio_ok(q, 5.0, &it[0]);
    put_prio_ok(q, -1.5, &it[1]);
    put_prio_ok(q, INFINITY, &it[2]);
    put_prio_ok(q, 2.0, &it[3]);
    put_prio_ok(q, -INFINITY, &it[4]);
    put_ok(q, &it[5]); /* plain put: priority 0 */
    put_prio_ok(q, 1.0, &it[6]);
    put_prio_ok(q, 0.5, &it[7]);
    int want[] = {4, 1, 5, 7, 6, 3, 0, 2};
    for (int i = 0; i < 8; i++)
        assert_int_equal(get_id(q), want[i]);
    coio_queue_free(q);
    tu_finish(loop);
}

/* Equal priorities come out in put order (asyncio compares the items themselves; coio
 * compares the priority, then the put order). */
static void test_priority_equal_is_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    item it[40];
    items_init(it, 40);
    for (int i = 0; i < 40; i++)
        put_prio_ok(q, (double)(i % 3), &it[i]); /* priorities 0 1 2 0 1 2 ... */
    for (int p = 0; p < 3; p++)
        for (int i = p; i < 40; i += 3)
            assert_int_equal(get_id(q), i);
    /* -0.0 and 0.0 are equal priorities. */
    put_prio_ok(q, 0.0, &it[0]);
    put_prio_ok(q, -0.0, &it[1]);
    put_ok(q, &it[2]);
    assert_int_equal(get_id(q), 0);
    assert_int_equal(get_id(q), 1);
    assert_int_equal(get_id(q), 2);
    coio_queue_free(q);
    tu_finish(loop);
}

/* Many pseudo-random priorities, some repeated, gets interleaved with puts: always the
 * smallest (priority, put order) first. */
static void test_priority_heap_stress(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    static item it[300];
    static double prio[300];
    items_init(it, 300);
    unsigned x = 12345;
    int next = 0, got = 0;
    double last_p = -INFINITY;
    int last_id = -1;
    while (got < 300) {
        for (int k = 0; k < 7 && next < 300; k++, next++) {
            x = x * 1103515245u + 12345u;
            prio[next] = (double)((x >> 16) % 50);
            put_prio_ok(q, prio[next], &it[next]);
        }
        for (int k = 0; k < 5 && coio_queue_size(q) > 0; k++, got++) {
            int id = get_id(q);
            /* Within one batch of gets the order is nondecreasing (puts in between may
             * bring smaller ones, so compare only inside the batch). */
            if (k > 0) {
                assert_true(prio[id] > last_p || (prio[id] == last_p && id > last_id));
            }
            last_p = prio[id];
            last_id = id;
        }
    }
    assert_int_equal(coio_queue_size(q), 0);
    coio_queue_free(q);
    for (int i = 0; i < 300; i++)
        assert_int_equal(it[i].drops, 0);
    tu_finish(loop);
}

/* ---- _nowait ----------------------------------------------------------------------------- */

static void test_nowait_statuses(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[2];
    items_init(it, 2);
    void *v = &v;
    coio_free_fn d = item_drop;
    assert_status(coio_queue_get_nowait(q, &v, &d), COIO_EEMPTY);
    assert_ptr_equal(v, &v); /* outs untouched on failure */
    put_ok(q, &it[0]);
    assert_status(coio_queue_put_nowait(q, &it[1], item_drop), COIO_EFULL);
    assert_int_equal(it[1].drops, 0); /* not taken: still the caller's */
    assert_int_equal(coio_queue_size(q), 1);
    assert_ptr_equal(get_ok(q), &it[0]);
    assert_status(coio_queue_get_nowait(q, &v, &d), COIO_EEMPTY);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 0);
    assert_int_equal(it[1].drops, 0);
    tu_finish(loop);
}

/* An item with a NULL drop is fine: it is simply not dropped. */
static void test_null_drop_items(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    int x = 7;
    assert_status(coio_queue_put_nowait(q, &x, NULL), COIO_OK);
    assert_status(coio_queue_put_nowait(q, NULL, NULL), COIO_OK);
    void *v = NULL;
    coio_free_fn d = item_drop;
    assert_status(coio_queue_get_nowait(q, &v, &d), COIO_OK);
    assert_ptr_equal(v, &x);
    assert_null(d);
    coio_queue_free(q); /* the (NULL, NULL) item */
    tu_finish(loop);
}

/* ---- get futures ------------------------------------------------------------------------- */

/* With an item there, get returns a future that is already done, holding the item. */
static void test_get_available_is_done_at_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    put_ok(q, &it[1]);
    coio_future *f = get_future(q);
    assert_int_equal(coio_future_done(f), 1);
    assert_int_equal(coio_queue_size(q), 1);
    void *v = NULL;
    assert_status(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, &it[0]);
    assert_ptr_equal(take_item(f), &it[0]);
    coio_future_release(f);
    assert_int_equal(it[0].drops, 0); /* taken out: the caller's */
    /* A get future released without taking its item drops it, once. */
    coio_future *g = get_future(q);
    assert_int_equal(coio_future_done(g), 1);
    assert_int_equal(it[1].drops, 0);
    coio_future_release(g);
    assert_int_equal(it[1].drops, 1);
    coio_queue_free(q);
    assert_int_equal(it[1].drops, 1);
    tu_finish(loop);
}

/* A put while a getter waits gives the item straight to it: the future is done on return
 * and the item never sits in the queue. */
static void test_put_hands_item_to_waiting_getter(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it = {0, 0};
    coio_future *g = get_future(q);
    tu_assert_pending(g);
    put_ok(q, &it);
    assert_ptr_equal(take_item(g), &it);
    assert_int_equal(coio_queue_size(q), 0);
    coio_future_release(g);
    coio_queue_free(q);
    assert_int_equal(it.drops, 0);
    tu_finish(loop);
}

static void test_getters_served_in_fifo_order(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_LIFO, 0); /* the kind orders items, not getters */
    item it[3];
    items_init(it, 3);
    coio_future *g[3];
    for (int i = 0; i < 3; i++)
        g[i] = get_future(q);
    put_ok(q, &it[0]);
    assert_ptr_equal(take_item(g[0]), &it[0]);
    tu_assert_pending(g[1]);
    coio_future *pf = put_future(q, &it[1]); /* a put future hands off too */
    tu_assert_done_null(pf);
    assert_ptr_equal(take_item(g[1]), &it[1]);
    put_ok(q, &it[2]);
    assert_ptr_equal(take_item(g[2]), &it[2]);
    for (int i = 0; i < 3; i++)
        coio_future_release(g[i]);
    coio_future_release(pf);
    coio_queue_free(q);
    tu_finish(loop);
}

/* Consumers waiting in tasks are woken in the order they started waiting. */
static void test_consumer_tasks_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    int clock = 0;
    consumer c[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        consumer_init(&c[i], q);
        c[i].clock = &clock;
        t[i] = spawn(loop, body_consume, &c[i], consumer_drop);
    }
    tu_run_one_pass(loop); /* all three wait */
    item it[3];
    items_init(it, 3);
    for (int i = 0; i < 3; i++)
        put_ok(q, &it[i]);
    for (int i = 0; i < 3; i++) {
        assert_status(run_until(loop, t[i]), COIO_OK);
        assert_ptr_equal(c[i].got, &it[i]);
        assert_int_equal(c[i].order, i + 1);
        coio_future_release(t[i]);
    }
    coio_queue_free(q);
    for (int i = 0; i < 3; i++)
        assert_int_equal(it[i].drops, 0);
    tu_finish(loop);
}

/* ---- blocking puts ----------------------------------------------------------------------- */

static void test_put_with_room_is_done_at_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it = {0, 0};
    coio_future *f = put_future(q, &it);
    tu_assert_done_null(f);
    assert_int_equal(coio_queue_size(q), 1);
    coio_future_release(f);
    coio_queue_free(q);
    assert_int_equal(it.drops, 1);
    tu_finish(loop);
}

/* maxsize 1: blocked puts go in one by one, first come first served, as gets free room. */
static void test_blocked_puts_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[4];
    items_init(it, 4);
    coio_future *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = put_future(q, &it[i]);
    tu_assert_done_null(p[0]);
    for (int i = 1; i < 4; i++)
        tu_assert_pending(p[i]);
    assert_int_equal(coio_queue_size(q), 1);
    assert_int_equal(coio_queue_full(q), 1);
    assert_status(coio_queue_put_nowait(q, &it[0], item_drop), COIO_EFULL);
    assert_int_equal(get_id(q), 0);
    tu_assert_done_null(p[1]); /* its item moved into the room */
    tu_assert_pending(p[2]);
    assert_int_equal(coio_queue_size(q), 1);
    coio_future *g = get_future(q); /* a get future frees room too */
    assert_ptr_equal(take_item(g), &it[1]);
    tu_assert_done_null(p[2]);
    tu_assert_pending(p[3]);
    assert_int_equal(get_id(q), 2);
    tu_assert_done_null(p[3]);
    assert_int_equal(get_id(q), 3);
    assert_int_equal(coio_queue_empty(q), 1);
    for (int i = 0; i < 4; i++) {
        coio_future_release(p[i]);
        assert_int_equal(it[i].drops, 0);
    }
    coio_future_release(g);
    coio_queue_free(q);
    tu_finish(loop);
}

/* A blocked put into a PRIORITY queue keeps its priority when it goes in. */
static void test_blocked_put_priority(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 2);
    item it[3];
    items_init(it, 3);
    put_prio_ok(q, 5.0, &it[0]);
    put_prio_ok(q, 3.0, &it[1]);
    coio_future *p = NULL;
    assert_status(coio_queue_put_priority(q, 1.0, &it[2], item_drop, &p), COIO_OK);
    tu_assert_pending(p);
    assert_int_equal(get_id(q), 1);
    tu_assert_done_null(p);
    assert_int_equal(get_id(q), 2);
    assert_int_equal(get_id(q), 0);
    coio_future_release(p);
    coio_queue_free(q);
    tu_finish(loop);
}

/* Producer tasks blocked on a full queue resume in the order they blocked. */
static void test_producer_tasks_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[4];
    items_init(it, 4);
    put_ok(q, &it[0]);
    int clock = 0;
    producer p[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        producer_init(&p[i], q, &it[i + 1]);
        p[i].clock = &clock;
        t[i] = spawn(loop, body_produce, &p[i], producer_drop);
    }
    tu_run_one_pass(loop);
    for (int i = 0; i < 3; i++)
        assert_int_equal(p[i].finished, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(get_id(q), i);
        tu_run_one_pass(loop);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p[i].finished, 1);
        assert_status(p[i].await_rc, COIO_OK);
        assert_int_equal(p[i].order, i + 1);
        coio_future_release(t[i]);
    }
    coio_queue_free(q);
    for (int i = 0; i < 4; i++)
        assert_int_equal(it[i].drops, 0);
    tu_finish(loop);
}

/* ---- cancellation of waiting getters and putters ------------------------------------------ */

static void test_cancelled_getter_is_skipped(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    coio_future *g1 = get_future(q);
    coio_future *g2 = get_future(q);
    assert_int_equal(coio_future_cancel(g1, "no"), 1);
    assert_int_equal(coio_future_cancelled(g1), 1);
    put_ok(q, &it);
    assert_ptr_equal(take_item(g2), &it);
    assert_int_equal(coio_future_cancel(g2, NULL), 0); /* done */
    coio_future_release(g1);
    coio_future_release(g2);
    coio_queue_free(q);
    assert_int_equal(it.drops, 0);
    tu_finish(loop);
}

/* A cancelled blocked put drops its item at once (once), and it is never put. */
static void test_cancelled_putter_item_dropped_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[3];
    items_init(it, 3);
    put_ok(q, &it[0]);
    coio_future *p1 = put_future(q, &it[1]);
    coio_future *p2 = put_future(q, &it[2]);
    assert_int_equal(coio_future_cancel(p1, NULL), 1);
    assert_int_equal(it[1].drops, 1);
    assert_int_equal(coio_future_cancel(p1, NULL), 0);
    assert_int_equal(get_id(q), 0);
    tu_assert_done_null(p2); /* p1 was skipped */
    assert_int_equal(get_id(q), 2);
    assert_int_equal(coio_queue_empty(q), 1);
    coio_future_release(p1);
    coio_future_release(p2);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 0);
    assert_int_equal(it[1].drops, 1);
    assert_int_equal(it[2].drops, 0);
    tu_finish(loop);
}

/* A task blocked in get (or put) that is cancelled ends cancelled; the queue forgets it. */
static void test_cancel_task_waiting_in_get_and_put(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    coio_queue *e = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[3];
    items_init(it, 3);
    put_ok(q, &it[0]);
    consumer c;
    consumer_init(&c, e);
    producer p;
    producer_init(&p, q, &it[1]);
    coio_future *tc = spawn(loop, body_consume, &c, consumer_drop);
    coio_future *tp = spawn(loop, body_produce, &p, producer_drop);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(tc, NULL), 1);
    assert_int_equal(coio_future_cancel(tp, NULL), 1);
    assert_int_equal(it[1].drops, 1); /* the blocked put's item, at the cancel */
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(tc), 1);
    assert_int_equal(coio_future_cancelled(tp), 1);
    assert_status(c.await_rc, COIO_ECANCELLED);
    assert_status(p.await_rc, COIO_ECANCELLED);
    put_ok(e, &it[2]); /* no getter left: it stays */
    assert_int_equal(coio_queue_size(e), 1);
    assert_int_equal(get_id(q), 0);
    assert_int_equal(coio_queue_empty(q), 1); /* the cancelled put never went in */
    coio_future_release(tc);
    coio_future_release(tp);
    coio_queue_free(q);
    coio_queue_free(e);
    assert_int_equal(it[1].drops, 1);
    assert_int_equal(it[2].drops, 1);
    tu_finish(loop);
}

/* Releasing a waiter that is still pending withdraws it, as a cancellation would. */
static void test_released_pending_waiters_withdraw(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *e = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_queue *f = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[3];
    items_init(it, 3);
    coio_future *g = get_future(e);
    coio_future_release(g);
    put_ok(e, &it[0]);
    assert_int_equal(coio_queue_size(e), 1); /* nobody took it */
    put_ok(f, &it[1]);
    coio_future *p = put_future(f, &it[2]);
    coio_future_release(p);
    assert_int_equal(it[2].drops, 1);
    assert_int_equal(get_id(f), 1);
    assert_int_equal(coio_queue_empty(f), 1);
    coio_queue_free(e);
    coio_queue_free(f);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 0);
    assert_int_equal(it[2].drops, 1);
    tu_finish(loop);
}

/* ---- cancellation after the hand-off (refused) ------------------------------------------- */

/* The getter's task is cancelled after it was handed the item but before it ran: the item
 * goes back into the queue (asyncio: it never left it). */
static void test_cancel_after_handoff_item_back_in_queue(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    consumer c;
    consumer_init(&c, q);
    coio_future *t = spawn(loop, body_consume, &c, consumer_drop);
    tu_run_one_pass(loop);
    put_ok(q, &it);
    assert_int_equal(coio_queue_size(q), 0); /* handed over */
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_status(c.await_rc, COIO_ECANCELLED);
    assert_null(c.got);
    assert_int_equal(it.drops, 0);
    assert_int_equal(coio_queue_size(q), 1);
    assert_ptr_equal(get_ok(q), &it);
    coio_future_release(t);
    coio_queue_free(q);
    assert_int_equal(it.drops, 0);
    tu_finish(loop);
}

/* ... or to the next waiting getter. */
static void test_cancel_after_handoff_item_to_next_getter(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    consumer c[2];
    coio_future *t[2];
    for (int i = 0; i < 2; i++) {
        consumer_init(&c[i], q);
        t[i] = spawn(loop, body_consume, &c[i], consumer_drop);
    }
    tu_run_one_pass(loop);
    put_ok(q, &it);
    assert_int_equal(coio_future_cancel(t[0], NULL), 1);
    assert_status(run_until(loop, t[1]), COIO_OK);
    assert_int_equal(coio_future_cancelled(t[0]), 1);
    assert_ptr_equal(c[1].got, &it);
    assert_int_equal(coio_queue_size(q), 0);
    for (int i = 0; i < 2; i++)
        coio_future_release(t[i]);
    coio_queue_free(q);
    assert_int_equal(it.drops, 0);
    tu_finish(loop);
}

/* Four getters handed A B C D, E and F put after, the four getters' tasks cancelled: the
 * queue reads A B C D E F, as in asyncio, where none of them ever left it. */
static void test_refused_items_keep_put_order_fifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[6];
    items_init(it, 6);
    consumer c[4];
    coio_future *t[4];
    for (int i = 0; i < 4; i++) {
        consumer_init(&c[i], q);
        t[i] = spawn(loop, body_consume, &c[i], consumer_drop);
    }
    tu_run_one_pass(loop);
    for (int i = 0; i < 6; i++)
        put_ok(q, &it[i]);
    assert_int_equal(coio_queue_size(q), 2);
    for (int i = 3; i >= 0; i--) /* the order of the cancels does not matter */
        assert_int_equal(coio_future_cancel(t[i], NULL), 1);
    tu_run_one_pass(loop);
    for (int i = 0; i < 4; i++)
        assert_int_equal(coio_future_cancelled(t[i]), 1);
    assert_int_equal(coio_queue_size(q), 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(get_id(q), i);
    for (int i = 0; i < 4; i++)
        coio_future_release(t[i]);
    coio_queue_free(q);
    for (int i = 0; i < 6; i++)
        assert_int_equal(it[i].drops, 0);
    tu_finish(loop);
}

/* LIFO: A handed to a getter, C put after it; the getter is cancelled: C is still on top. */
static void test_refused_item_keeps_put_order_lifo(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_LIFO, 0);
    item it[2];
    items_init(it, 2);
    consumer c;
    consumer_init(&c, q);
    coio_future *t = spawn(loop, body_consume, &c, consumer_drop);
    tu_run_one_pass(loop);
    put_ok(q, &it[0]);
    put_ok(q, &it[1]);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_queue_size(q), 2);
    assert_int_equal(get_id(q), 1);
    assert_int_equal(get_id(q), 0);
    coio_future_release(t);
    coio_queue_free(q);
    tu_finish(loop);
}

/* PRIORITY: the refused item goes back with its priority, ahead of equal priorities put
 * after it. */
static void test_refused_item_keeps_priority(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    item it[3];
    items_init(it, 3);
    consumer c;
    consumer_init(&c, q);
    coio_future *t = spawn(loop, body_consume, &c, consumer_drop);
    tu_run_one_pass(loop);
    put_prio_ok(q, 2.0, &it[0]); /* handed to the getter */
    put_prio_ok(q, 2.0, &it[1]);
    put_prio_ok(q, 1.0, &it[2]);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(get_id(q), 2);
    assert_int_equal(get_id(q), 0);
    assert_int_equal(get_id(q), 1);
    coio_future_release(t);
    coio_queue_free(q);
    tu_finish(loop);
}

/* A step-driven task that awaits a get future already done (an item was there) and is
 * cancelled before its next step gives the item back too. */
typedef struct stepper {
    coio_queue *q;
    coio_future *f;
    int steps;
    int status;
} stepper;

static int step_get(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    stepper *s = arg;
    if (++s->steps == 1) {
        assert_status(coio_queue_get(s->q, &s->f), COIO_OK);
        assert_status(coio_step_await(task, s->f), COIO_OK);
        return COIO_STEP_AWAIT;
    }
    s->status = status;
    return status;
}

static void test_step_task_refusing_ready_get(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    put_ok(q, &it[1]);
    stepper s;
    memset(&s, 0, sizeof s);
    s.q = q;
    coio_future *t = NULL;
    assert_status(coio_task_new(loop, step_get, &s, NULL, NULL, &t), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(s.steps, 1);
    assert_int_equal(coio_future_done(s.f), 1);
    assert_int_equal(coio_queue_size(q), 1);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(s.steps, 2);
    assert_status(s.status, COIO_ECANCELLED);
    assert_int_equal(coio_future_cancelled(s.f), 1); /* refused: reads as cancelled */
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_int_equal(coio_queue_size(q), 2);
    assert_int_equal(get_id(q), 0); /* back at the front */
    assert_int_equal(get_id(q), 1);
    coio_future_release(s.f);
    coio_future_release(t);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 0);
    tu_finish(loop);
}

/* The queue was freed between the hand-off and the refusal: the item is dropped, once. */
static void test_refused_after_free_drops_item(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    consumer c;
    consumer_init(&c, q);
    coio_future *t = spawn(loop, body_consume, &c, consumer_drop);
    tu_run_one_pass(loop);
    put_ok(q, &it);
    coio_queue_free(q); /* the handed item lives in the getter's future */
    assert_int_equal(it.drops, 0);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_int_equal(it.drops, 1);
    coio_future_release(t);
    tu_finish(loop);
    assert_int_equal(it.drops, 1);
}

/* A put future completed (the item went in), then the putting task is cancelled before it
 * ran: nothing to undo, the item stays in the queue. */
static void test_cancel_after_put_completed_item_stays(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    producer p;
    producer_init(&p, q, &it[1]);
    coio_future *t = spawn(loop, body_produce, &p, producer_drop);
    tu_run_one_pass(loop);
    assert_int_equal(get_id(q), 0); /* it[1] moves in */
    assert_int_equal(coio_queue_size(q), 1);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_status(p.await_rc, COIO_ECANCELLED);
    assert_int_equal(coio_queue_size(q), 1);
    assert_ptr_equal(get_ok(q), &it[1]);
    coio_future_release(t);
    coio_queue_free(q);
    assert_int_equal(it[1].drops, 0);
    tu_finish(loop);
}

/* ---- task_done / join -------------------------------------------------------------------- */

static void test_join_with_nothing_unfinished_is_done(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_future *j = join_future(q);
    tu_assert_done_null(j);
    coio_future_release(j);
    assert_status(coio_queue_task_done(q), COIO_ESTATE); /* asyncio: ValueError */
    coio_queue_free(q);
    tu_finish(loop);
}

static void test_task_done_and_join(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    coio_future *g = get_future(q); /* a hand-off counts as a put */
    coio_future *gw = get_future(q);
    put_ok(q, &it[1]);
    coio_future *j1 = join_future(q);
    coio_future *j2 = join_future(q);
    tu_assert_pending(j1);
    /* Getting is not finishing: join waits for task_done. */
    assert_int_equal(coio_queue_size(q), 0);
    assert_status(coio_queue_task_done(q), COIO_OK);
    tu_assert_pending(j1);
    assert_status(coio_queue_task_done(q), COIO_OK);
    tu_assert_done_null(j1);
    tu_assert_done_null(j2);
    assert_status(coio_queue_task_done(q), COIO_ESTATE);
    /* A new put makes join wait again. */
    put_ok(q, &it[0]);
    coio_future *j3 = join_future(q);
    tu_assert_pending(j3);
    assert_ptr_equal(get_ok(q), &it[0]);
    assert_status(coio_queue_task_done(q), COIO_OK);
    tu_assert_done_null(j3);
    take_item(g);
    take_item(gw);
    coio_future_release(g);
    coio_future_release(gw);
    coio_future_release(j1);
    coio_future_release(j2);
    coio_future_release(j3);
    coio_queue_free(q);
    assert_int_equal(it[0].drops + it[1].drops, 0);
    tu_finish(loop);
}

/* Join waiters complete in order: their done callbacks run in the order they joined. */
static void record_done(coio_future *f, void *arg) {
    (void)f;
    tu_record(arg);
}

static void test_join_waiters_wake_in_order_and_cancel(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    put_ok(q, &it);
    tu_log log = {0};
    tu_rec rec[3] = {{&log, 1}, {&log, 2}, {&log, 3}};
    coio_future *j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = join_future(q);
        assert_status(coio_future_add_done_callback(j[i], record_done, &rec[i], NULL), COIO_OK);
    }
    assert_int_equal(coio_future_cancel(j[1], NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.tags[0], 2);
    get_ok(q);
    assert_status(coio_queue_task_done(q), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.tags[1], 1);
    assert_int_equal(log.tags[2], 3);
    tu_assert_done_null(j[0]);
    assert_int_equal(coio_future_cancelled(j[1]), 1);
    tu_assert_done_null(j[2]);
    for (int i = 0; i < 3; i++)
        coio_future_release(j[i]);
    coio_queue_free(q);
    tu_finish(loop);
}

/* A worker pool as in the asyncio docs: workers get, task_done; main joins. */
typedef struct worker {
    coio_queue *q;
    coio_future *f;
    int handled;
} worker;

static int body_worker(coio_future *self, void *arg) {
    (void)self;
    worker *w = arg;
    for (;;) {
        int rc = coio_queue_get(w->q, &w->f);
        if (rc == COIO_ESHUTDOWN) return COIO_OK;
        assert_status(rc, COIO_OK);
        rc = coio_await(w->f, NULL);
        if (rc != COIO_OK) {
            coio_future_release(w->f);
            w->f = NULL;
            return rc == COIO_EFAILED ? COIO_OK : rc; /* ESHUTDOWN while waiting */
        }
        item *it = take_item(w->f);
        coio_future_release(w->f);
        w->f = NULL;
        coio_future *nap = tu_sleep(coio_future_loop(self), 0.01 * (it->id % 3));
        assert_status(coio_await(nap, NULL), COIO_OK);
        coio_future_release(nap);
        item_drop(it);
        w->handled++;
        assert_status(coio_queue_task_done(w->q), COIO_OK);
    }
}

static void test_worker_pool_join_then_shutdown(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 3);
    static item it[20];
    items_init(it, 20);
    worker w[3];
    coio_future *t[3];
    for (int i = 0; i < 3; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].q = q;
        t[i] = spawn(loop, body_worker, &w[i], NULL);
    }
    coio_future *p[20];
    for (int i = 0; i < 20; i++)
        p[i] = put_future(q, &it[i]);
    coio_future *j = join_future(q);
    assert_status(run_until(loop, j), COIO_OK);
    for (int i = 0; i < 20; i++) {
        tu_assert_done_null(p[i]);
        assert_int_equal(it[i].drops, 1); /* handled once, by a worker */
        coio_future_release(p[i]);
    }
    assert_int_equal(w[0].handled + w[1].handled + w[2].handled, 20);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK);
    for (int i = 0; i < 3; i++) {
        assert_status(run_until(loop, t[i]), COIO_OK);
        coio_future_release(t[i]);
    }
    coio_future_release(j);
    coio_queue_free(q);
    tu_finish(loop);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

/* shutdown(): puts fail (the item stays the caller's), what is queued can still be got,
 * then gets fail. */
static void test_shutdown_puts_fail_gets_drain(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[4];
    items_init(it, 4);
    put_ok(q, &it[0]);
    put_ok(q, &it[1]);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK);
    coio_future *f = NULL;
    assert_status(coio_queue_put(q, &it[2], item_drop, &f), COIO_ESHUTDOWN);
    assert_status(coio_queue_put_nowait(q, &it[2], item_drop), COIO_ESHUTDOWN);
    assert_status(coio_queue_put_priority(q, 1.0, &it[2], item_drop, &f), COIO_EINVAL);
    assert_null(f);
    assert_int_equal(it[2].drops, 0); /* not taken */
    assert_int_equal(coio_queue_size(q), 2);
    coio_future *g = get_future(q);
    assert_ptr_equal(take_item(g), &it[0]);
    assert_ptr_equal(get_ok(q), &it[1]);
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_status(coio_queue_get_nowait(q, &v, &d), COIO_ESHUTDOWN);
    coio_future *g2 = NULL;
    assert_status(coio_queue_get(q, &g2), COIO_ESHUTDOWN);
    assert_null(g2);
    /* task_done and join still work (3.13 does not check the shutdown there). */
    coio_future *j = join_future(q);
    tu_assert_pending(j);
    assert_status(coio_queue_task_done(q), COIO_OK);
    assert_status(coio_queue_task_done(q), COIO_OK);
    tu_assert_done_null(j);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK); /* again: nothing to do */
    coio_future_release(g);
    coio_future_release(j);
    coio_queue_free(q);
    for (int i = 0; i < 4; i++)
        assert_int_equal(it[i].drops, 0);
    tu_finish(loop);
}

/* 3.13 checks the shutdown before the fullness: a full queue answers ESHUTDOWN. */
static void test_shutdown_full_queue_put_nowait(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 1);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK);
    assert_status(coio_queue_put_priority_nowait(q, 1.0, &it[1], item_drop), COIO_ESHUTDOWN);
    assert_status(coio_queue_put_nowait(q, &it[1], item_drop), COIO_ESHUTDOWN);
    assert_int_equal(it[1].drops, 0);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 1);
    tu_finish(loop);
}

/* shutdown() wakes blocked getters and putters with COIO_ESHUTDOWN; the blocked puts' items
 * are dropped, once; what is queued stays. */
static void test_shutdown_fails_blocked_getters_and_putters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *e = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[3];
    items_init(it, 3);
    put_ok(q, &it[0]);
    consumer c[2];
    coio_future *tc[2];
    for (int i = 0; i < 2; i++) {
        consumer_init(&c[i], e);
        tc[i] = spawn(loop, body_consume, &c[i], consumer_drop);
    }
    producer p;
    producer_init(&p, q, &it[1]);
    coio_future *tp = spawn(loop, body_produce, &p, producer_drop);
    coio_future *pf = put_future(q, &it[2]);
    tu_run_one_pass(loop);
    assert_status(coio_queue_shutdown(e, 0), COIO_OK);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK);
    assert_int_equal(it[1].drops, 1);
    assert_int_equal(it[2].drops, 1);
    assert_shut_down(pf);
    for (int i = 0; i < 2; i++) {
        assert_status(run_until(loop, tc[i]), COIO_OK);
        assert_status(c[i].await_rc, COIO_EFAILED);
        assert_int_equal(c[i].code, COIO_ESHUTDOWN);
    }
    assert_status(run_until(loop, tp), COIO_OK);
    assert_status(p.await_rc, COIO_EFAILED);
    assert_int_equal(p.code, COIO_ESHUTDOWN);
    assert_int_equal(coio_queue_size(q), 1);
    assert_ptr_equal(get_ok(q), &it[0]);
    for (int i = 0; i < 2; i++)
        coio_future_release(tc[i]);
    coio_future_release(tp);
    coio_future_release(pf);
    coio_queue_free(e);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 0);
    assert_int_equal(it[1].drops, 1);
    assert_int_equal(it[2].drops, 1);
    tu_finish(loop);
}

/* shutdown(immediate): the queue is emptied (items dropped once, counted done, which ends
 * join when nothing else is unfinished), blocked getters fail at once. */
static void test_shutdown_immediate_empties_and_counts_done(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_LIFO, 0);
    item it[4];
    items_init(it, 4);
    for (int i = 0; i < 4; i++)
        put_ok(q, &it[i]);
    item *got = get_ok(q); /* gotten but not done: still unfinished */
    assert_ptr_equal(got, &it[3]);
    coio_future *j = join_future(q);
    assert_status(coio_queue_shutdown(q, 1), COIO_OK);
    assert_int_equal(coio_queue_size(q), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(it[i].drops, 1);
    assert_int_equal(it[3].drops, 0);
    tu_assert_pending(j); /* one unfinished left: the item gotten */
    void *v = NULL;
    coio_free_fn d = NULL;
    assert_status(coio_queue_get_nowait(q, &v, &d), COIO_ESHUTDOWN);
    assert_status(coio_queue_task_done(q), COIO_OK);
    tu_assert_done_null(j);
    assert_status(coio_queue_task_done(q), COIO_ESTATE);
    coio_future_release(j);
    coio_queue_free(q);
    for (int i = 0; i < 3; i++)
        assert_int_equal(it[i].drops, 1);
    assert_int_equal(it[3].drops, 0);
    tu_finish(loop);
}

static void test_shutdown_immediate_ends_join(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 0);
    item it[2];
    items_init(it, 2);
    put_prio_ok(q, 2.0, &it[0]);
    put_prio_ok(q, 1.0, &it[1]);
    coio_future *j = join_future(q);
    tu_assert_pending(j);
    assert_status(coio_queue_shutdown(q, 1), COIO_OK);
    tu_assert_done_null(j);
    /* The drops already counted the items done: task_done is one too many now. */
    assert_status(coio_queue_task_done(q), COIO_ESTATE);
    coio_future *j2 = join_future(q);
    tu_assert_done_null(j2);
    coio_future_release(j);
    coio_future_release(j2);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1);
    tu_finish(loop);
}

/* asyncio decrements only while positive: items already counted done by extra task_done
 * calls are dropped without going below zero. */
static void test_shutdown_immediate_count_stops_at_zero(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[3];
    items_init(it, 3);
    for (int i = 0; i < 3; i++)
        put_ok(q, &it[i]);
    assert_status(coio_queue_task_done(q), COIO_OK); /* done before being got */
    assert_status(coio_queue_task_done(q), COIO_OK);
    assert_status(coio_queue_shutdown(q, 1), COIO_OK);
    assert_status(coio_queue_task_done(q), COIO_ESTATE);
    coio_future *j = join_future(q);
    tu_assert_done_null(j);
    coio_future_release(j);
    coio_queue_free(q);
    for (int i = 0; i < 3; i++)
        assert_int_equal(it[i].drops, 1);
    tu_finish(loop);
}

static void test_shutdown_immediate_fails_blocked_getters_and_putters(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *e = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    coio_future *g = get_future(e);
    coio_future *p = put_future(q, &it[1]);
    assert_status(coio_queue_shutdown(e, 1), COIO_OK);
    assert_status(coio_queue_shutdown(q, 1), COIO_OK);
    assert_shut_down(g);
    assert_shut_down(p);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1);
    coio_future_release(g);
    coio_future_release(p);
    coio_queue_free(e);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1);
    tu_finish(loop);
}

/* shutdown() then shutdown(immediate): the second empties what the first left. */
static void test_shutdown_then_immediate(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it[2];
    items_init(it, 2);
    put_ok(q, &it[0]);
    put_ok(q, &it[1]);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK);
    assert_int_equal(coio_queue_size(q), 2);
    assert_status(coio_queue_shutdown(q, 1), COIO_OK);
    assert_int_equal(coio_queue_size(q), 0);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1);
    coio_queue_free(q);
    assert_int_equal(it[0].drops, 1);
    tu_finish(loop);
}

/* The getter's task is cancelled after the hand-off, and the queue was shut down
 * immediately in between: the item goes the way of the rest (dropped, counted done). */
static void test_refused_after_immediate_shutdown_drops_item(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    consumer c;
    consumer_init(&c, q);
    coio_future *t = spawn(loop, body_consume, &c, consumer_drop);
    tu_run_one_pass(loop);
    put_ok(q, &it);
    coio_future *j = join_future(q);
    assert_status(coio_queue_shutdown(q, 1), COIO_OK);
    tu_assert_pending(j); /* the handed item is unfinished */
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancelled(t), 1);
    assert_int_equal(it.drops, 1);
    tu_assert_done_null(j);
    assert_int_equal(coio_queue_size(q), 0);
    coio_future_release(t);
    coio_future_release(j);
    coio_queue_free(q);
    assert_int_equal(it.drops, 1);
    tu_finish(loop);
}

/* After a plain shutdown a refused item goes back, and can still be drained. */
static void test_refused_after_shutdown_can_be_drained(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    item it = {0, 0};
    consumer c;
    consumer_init(&c, q);
    coio_future *t = spawn(loop, body_consume, &c, consumer_drop);
    tu_run_one_pass(loop);
    put_ok(q, &it);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK);
    assert_int_equal(coio_future_cancel(t, NULL), 1);
    tu_run_one_pass(loop);
    assert_int_equal(coio_queue_size(q), 1);
    assert_ptr_equal(get_ok(q), &it);
    coio_future_release(t);
    coio_queue_free(q);
    assert_int_equal(it.drops, 0);
    tu_finish(loop);
}

/* A drop run by shutdown may call back into the queue: it finds it shut down and empty. */
typedef struct reentrant {
    coio_queue *q;
    int drops;
    int put_rc;
    int get_rc;
    long size;
} reentrant;

static void reentrant_drop(void *p) {
    reentrant *r = p;
    r->drops++;
    item other = {0, 0};
    r->put_rc = coio_queue_put_nowait(r->q, &other, item_drop);
    void *v = NULL;
    coio_free_fn d = NULL;
    r->get_rc = coio_queue_get_nowait(r->q, &v, &d);
    r->size = coio_queue_size(r->q);
}

static void test_shutdown_drop_reenters_queue(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    reentrant r = {q, 0, 0, 0, -1};
    assert_status(coio_queue_put_nowait(q, &r, reentrant_drop), COIO_OK);
    assert_status(coio_queue_put_nowait(q, &r, reentrant_drop), COIO_OK);
    assert_status(coio_queue_shutdown(q, 1), COIO_OK);
    assert_int_equal(r.drops, 2);
    assert_status(r.put_rc, COIO_ESHUTDOWN);
    assert_status(r.get_rc, COIO_ESHUTDOWN);
    assert_int_equal(r.size, 0);
    coio_queue_free(q);
    assert_int_equal(r.drops, 2);
    tu_finish(loop);
}

/* A drop run by shutdown may even free the queue. */
typedef struct freeing {
    coio_queue *q;
    int drops;
} freeing;

static void freeing_drop(void *p) {
    freeing *fr = p;
    fr->drops++;
    coio_queue_free(fr->q);
    fr->q = NULL;
}

static void test_drop_frees_queue_during_shutdown(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    freeing fr = {q, 0};
    item it = {0, 0};
    put_ok(q, &it);
    coio_future *p = NULL;
    assert_status(coio_queue_put(q, &fr, freeing_drop, &p), COIO_OK);
    coio_future *p2 = put_future(q, &it);
    assert_status(coio_queue_shutdown(q, 0), COIO_OK); /* the blocked put's drop frees q */
    assert_int_equal(fr.drops, 1);
    assert_shut_down(p);
    assert_int_equal(coio_future_done(p2), 1); /* failed or cancelled: either way done */
    assert_int_equal(it.drops, 2);             /* the queued item (free) and p2's */
    coio_future_release(p);
    coio_future_release(p2);
    tu_finish(loop);
}

/* ---- free, loop close -------------------------------------------------------------------- */

/* coio_queue_free drops what is queued and cancels pending waiters (a put's item dropped);
 * futures outliving the queue stay usable. */
static void test_free_with_waiters_pending(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *e = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_queue *q = new_queue(loop, COIO_QUEUE_PRIORITY, 1);
    item it[4];
    items_init(it, 4);
    coio_future *g = get_future(e);
    put_prio_ok(q, 1.0, &it[0]);
    coio_future *p = put_future(q, &it[1]);
    coio_future *j = join_future(q);
    put_ok(e, &it[2]);
    coio_future *g2 = get_future(e); /* pending: it[2] went to g */
    coio_queue_free(e);
    coio_queue_free(q);
    assert_int_equal(coio_future_cancelled(g2), 1);
    assert_int_equal(coio_future_cancelled(p), 1);
    assert_int_equal(coio_future_cancelled(j), 1);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1);
    assert_int_equal(it[2].drops, 0); /* in g's future */
    assert_int_equal(coio_future_cancel(p, NULL), 0);
    void *v = NULL;
    assert_status(coio_future_result(g, &v), COIO_OK);
    assert_ptr_equal(v, &it[2]);
    coio_future_release(g);
    assert_int_equal(it[2].drops, 1);
    coio_future_release(g2);
    coio_future_release(p);
    coio_future_release(j);
    tu_run_one_pass(loop);
    tu_finish(loop);
    for (int i = 0; i < 3; i++)
        assert_int_equal(it[i].drops, 1);
}

/* Tasks blocked in the queue when it is freed end cancelled. */
static void test_free_cancels_blocked_tasks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 0);
    consumer c;
    consumer_init(&c, q);
    coio_future *t = spawn(loop, body_consume, &c, consumer_drop);
    tu_run_one_pass(loop);
    coio_queue_free(q);
    assert_status(run_until(loop, t), COIO_ECANCELLED);
    assert_status(c.await_rc, COIO_ECANCELLED);
    coio_future_release(t);
    tu_finish(loop);
}

/* The loop closes with items queued and tasks blocked in get and put: nothing leaks, every
 * item is dropped once (by the queue, freed after the close, or after the release). */
static void run_close_with_pending(int free_after_release) {
    coio_loop *loop = tu_loop_virtual();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    coio_queue *e = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_queue *q = new_queue(loop, COIO_QUEUE_FIFO, 1);
    item it[4];
    items_init(it, 4);
    put_ok(q, &it[0]);
    consumer c;
    consumer_init(&c, e);
    producer p;
    producer_init(&p, q, &it[1]);
    coio_future *tc = spawn(loop, body_consume, &c, consumer_drop);
    coio_future *tp = spawn(loop, body_produce, &p, producer_drop);
    coio_future *pf = put_future(q, &it[2]); /* blocked, held by the test */
    coio_future *gf = get_future(e);         /* blocked, held by the test */
    coio_future *j = join_future(q);
    tu_run_one_pass(loop);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(rep.n, 2); /* two tasks destroyed pending */
    assert_int_equal(c.dropped, 1);
    if (free_after_release) assert_status(coio_loop_release(loop), COIO_OK);
    /* Nothing may complete any more: the queue only lets go. */
    tu_assert_pending(pf);
    tu_assert_pending(gf);
    coio_queue_free(e);
    coio_queue_free(q);
    tu_assert_pending(pf);
    tu_assert_pending(gf);
    tu_assert_pending(j);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1); /* the task's put: its future went with the task */
    assert_int_equal(it[2].drops, 1);
    coio_future_release(pf);
    coio_future_release(gf);
    coio_future_release(j);
    coio_future_release(tc);
    coio_future_release(tp);
    if (!free_after_release) assert_status(coio_loop_release(loop), COIO_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(it[i].drops, 1);
}

static void test_loop_close_with_items_and_waiters(void **state) {
    (void)state;
    run_close_with_pending(0);
}

static void test_loop_release_with_items_and_waiters(void **state) {
    (void)state;
    run_close_with_pending(1);
}

/* ---- ping-pong --------------------------------------------------------------------------- */

/* Two tasks bounce N round numbers through two queues (the queue_ping_pong benchmark):
 * the pinger puts i then awaits the echo, the ponger awaits i and echoes it back. */
typedef struct pinger {
    coio_queue *in, *out;
    coio_future *f;
    int n;
    int rounds;
    int first; /* the pinger */
} pinger;

static int body_ping(coio_future *self, void *arg) {
    (void)self;
    pinger *p = arg;
    for (int i = 1; i <= p->n; i++) {
        void *round = (void *)(intptr_t)i;
        if (p->first) assert_status(coio_queue_put_nowait(p->out, round, NULL), COIO_OK);
        assert_status(coio_queue_get(p->in, &p->f), COIO_OK);
        void *v = NULL;
        assert_status(coio_await(p->f, &v), COIO_OK);
        assert_ptr_equal(v, round);
        coio_future_release(p->f);
        p->f = NULL;
        p->rounds++;
        if (!p->first) assert_status(coio_queue_put_nowait(p->out, round, NULL), COIO_OK);
    }
    return COIO_OK;
}

static void test_ping_pong(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    coio_queue *a = new_queue(loop, COIO_QUEUE_FIFO, 0);
    coio_queue *b = new_queue(loop, COIO_QUEUE_FIFO, 0);
    pinger p[2] = {{b, a, NULL, 1000, 0, 1}, {a, b, NULL, 1000, 0, 0}};
    coio_future *t0 = spawn(loop, body_ping, &p[0], NULL);
    coio_future *t1 = spawn(loop, body_ping, &p[1], NULL);
    assert_status(run_until(loop, t0), COIO_OK);
    assert_status(run_until(loop, t1), COIO_OK);
    assert_int_equal(p[0].rounds, 1000);
    assert_int_equal(p[1].rounds, 1000);
    assert_int_equal(coio_queue_size(a), 0);
    assert_int_equal(coio_queue_size(b), 0);
    coio_future_release(t0);
    coio_future_release(t1);
    coio_queue_free(a);
    coio_queue_free(b);
    tu_finish(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_queries),
        cmocka_unit_test(test_unbounded_is_never_full),
        cmocka_unit_test(test_new_bad_input),
        cmocka_unit_test(test_new_on_closed_loop),
        cmocka_unit_test(test_null_queue),
        cmocka_unit_test(test_null_outs),
        cmocka_unit_test(test_priority_bad_input),
        cmocka_unit_test(test_closed_loop_statuses),
        cmocka_unit_test(test_free_after_loop_release),
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_lifo_order),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_priority_equal_is_fifo),
        cmocka_unit_test(test_priority_heap_stress),
        cmocka_unit_test(test_nowait_statuses),
        cmocka_unit_test(test_null_drop_items),
        cmocka_unit_test(test_get_available_is_done_at_once),
        cmocka_unit_test(test_put_hands_item_to_waiting_getter),
        cmocka_unit_test(test_getters_served_in_fifo_order),
        cmocka_unit_test(test_consumer_tasks_fifo),
        cmocka_unit_test(test_put_with_room_is_done_at_once),
        cmocka_unit_test(test_blocked_puts_fifo),
        cmocka_unit_test(test_blocked_put_priority),
        cmocka_unit_test(test_producer_tasks_fifo),
        cmocka_unit_test(test_cancelled_getter_is_skipped),
        cmocka_unit_test(test_cancelled_putter_item_dropped_once),
        cmocka_unit_test(test_cancel_task_waiting_in_get_and_put),
        cmocka_unit_test(test_released_pending_waiters_withdraw),
        cmocka_unit_test(test_cancel_after_handoff_item_back_in_queue),
        cmocka_unit_test(test_cancel_after_handoff_item_to_next_getter),
        cmocka_unit_test(test_refused_items_keep_put_order_fifo),
        cmocka_unit_test(test_refused_item_keeps_put_order_lifo),
        cmocka_unit_test(test_refused_item_keeps_priority),
        cmocka_unit_test(test_step_task_refusing_ready_get),
        cmocka_unit_test(test_refused_after_free_drops_item),
        cmocka_unit_test(test_cancel_after_put_completed_item_stays),
        cmocka_unit_test(test_join_with_nothing_unfinished_is_done),
        cmocka_unit_test(test_task_done_and_join),
        cmocka_unit_test(test_join_waiters_wake_in_order_and_cancel),
        cmocka_unit_test(test_worker_pool_join_then_shutdown),
        cmocka_unit_test(test_shutdown_puts_fail_gets_drain),
        cmocka_unit_test(test_shutdown_full_queue_put_nowait),
        cmocka_unit_test(test_shutdown_fails_blocked_getters_and_putters),
        cmocka_unit_test(test_shutdown_immediate_empties_and_counts_done),
        cmocka_unit_test(test_shutdown_immediate_ends_join),
        cmocka_unit_test(test_shutdown_immediate_count_stops_at_zero),
        cmocka_unit_test(test_shutdown_immediate_fails_blocked_getters_and_putters),
        cmocka_unit_test(test_shutdown_then_immediate),
        cmocka_unit_test(test_refused_after_immediate_shutdown_drops_item),
        cmocka_unit_test(test_refused_after_shutdown_can_be_drained),
        cmocka_unit_test(test_shutdown_drop_reenters_queue),
        cmocka_unit_test(test_drop_frees_queue_during_shutdown),
        cmocka_unit_test(test_free_with_waiters_pending),
        cmocka_unit_test(test_free_cancels_blocked_tasks),
        cmocka_unit_test(test_loop_close_with_items_and_waiters),
        cmocka_unit_test(test_loop_release_with_items_and_waiters),
        cmocka_unit_test(test_ping_pong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
