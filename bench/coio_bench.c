/* coio_bench — coio's side of the reference workloads (bench/README.md, "Workloads").
 *
 *   coio_bench [N] [--spawn-n M] [workload...]
 *
 * N defaults to 1,000,000; with no workload named, all of them run, in the order below, on one
 * loop.  The workloads that keep a task per operation alive (task_spawn_*, *_rss) use M
 * instead: --spawn-n, else the smaller of N and 100,000.  Each prints one line in the same
 * format as the libev floor program and reference_asyncio.py ("name ops=... secs=...
 * ns/op=..." plus " bytes/op=..." for the memory workloads), so bench/compare.py can put them
 * side by side; a line starting with "  ! " is a remark on the workload above it.  The loop
 * uses real time.  Any failing coio call aborts with a message. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */

#include <coio.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

static long N;
static coio_loop *L;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void report(const char *name, long ops, double secs) {
    printf("%-24s ops=%9ld secs=%8.4f ns/op=%9.1f\n", name, ops, secs, secs * 1e9 / (double)ops);
    fflush(stdout);
}

static void check(int st, const char *what) {
    if (st != COIO_OK) {
        fprintf(stderr, "coio_bench: %s failed: %s (%s)\n", what, coio_status_name(st),
                coio_strerror(st));
        abort();
    }
}

static void fail(const char *msg) {
    fprintf(stderr, "coio_bench: %s\n", msg);
    abort();
}

/* ---- shared pieces ------------------------------------------------------------------------ */

static long cnt;
static coio_future *done_f; /* the future each workload runs until complete */

static coio_future *new_future(void) {
    coio_future *f = NULL;
    check(coio_future_new(L, &f), "coio_future_new");
    return f;
}

static void finish(void) {
    check(coio_future_set_result(done_f, NULL, NULL), "coio_future_set_result");
}

static void cb_finish(void *arg) {
    (void)arg;
    finish();
}

static void cb_noop(void *arg) {
    (void)arg;
}

static void cb_count(void *arg) {
    (void)arg;
    cnt++;
}

static void run_until_done(void) {
    check(coio_loop_run_until_complete(L, done_f), "coio_loop_run_until_complete");
}

/* ---- call_soon_batch: N no-op callbacks, then one that completes the future ----------------- */

static void call_soon_batch(void) {
    done_f = new_future();
    cnt = 0;
    double t0 = now_s();
    for (long i = 0; i < N; i++)
        check(coio_call_soon(L, cb_count, NULL, NULL, NULL), "coio_call_soon");
    check(coio_call_soon(L, cb_finish, NULL, NULL, NULL), "coio_call_soon");
    run_until_done();
    double secs = now_s() - t0;
    if (cnt != N) fail("call_soon_batch: not every callback ran");
    report("call_soon_batch", N, secs);
    coio_future_release(done_f);
}

/* ---- call_soon_chain: each callback schedules the next, N in all --------------------------- */

static void cb_chain(void *arg) {
    (void)arg;
    if (++cnt < N)
        check(coio_call_soon(L, cb_chain, NULL, NULL, NULL), "coio_call_soon");
    else
        finish();
}

static void call_soon_chain(void) {
    done_f = new_future();
    cnt = 0;
    double t0 = now_s();
    check(coio_call_soon(L, cb_chain, NULL, NULL, NULL), "coio_call_soon");
    run_until_done();
    double secs = now_s() - t0;
    if (cnt != N) fail("call_soon_chain: wrong number of callbacks");
    report("call_soon_chain", N, secs);
    coio_future_release(done_f);
}

/* ---- timers_fire_ordered: N already-due timers, random deadlines in the last second ---------- */

static double lastat;
static long bad;

static void cb_timer(void *arg) {
    double at = *(const double *)arg;
    if (at < lastat) bad++;
    lastat = at;
    if (++cnt == N) finish();
}

static void timers_fire_ordered(void) {
    double *ats = malloc((size_t)N * sizeof *ats);
    if (!ats) fail("out of memory");
    done_f = new_future();
    cnt = 0;
    bad = 0;
    lastat = -1e18;
    srand(1);
    double base = coio_loop_time(L);
    double t0 = now_s();
    for (long i = 0; i < N; i++) {
        ats[i] = base - (double)rand() / RAND_MAX;
        check(coio_call_at(L, ats[i], cb_timer, &ats[i], NULL, NULL), "coio_call_at");
    }
    run_until_done();
    double secs = now_s() - t0;
    if (cnt != N) fail("timers_fire_ordered: wrong number of timers fired");
    report("timers_fire_ordered", N, secs);
    if (bad) printf("  ! %ld timers fired out of deadline order\n", bad);
    coio_future_release(done_f);
    free(ats);
}

/* ---- timers_schedule_cancel: N timers 10-11 s ahead, cancel them all, one pass ---------------
 *
 * timers_schedule_cancel_at: the same with coio_call_at and deadlines from one coio_loop_time
 * read before the clock starts.  That is what the floor does (ev_timer_start adds the delay to
 * libev's cached ev_now), where coio_call_later, as asyncio's call_later, reads the clock for
 * every timer so that none fires early: the difference between the two rows is that read. */

static void schedule_cancel_workload(const char *name, int cached_time) {
    coio_handle **hs = malloc((size_t)N * sizeof *hs);
    if (!hs) fail("out of memory");
    /* The bench's own array is faulted in before the clock starts, as the floor's timers are
     * (its timers_fire_ordered touched them): its page faults are not coio's. */
    memset(hs, 0, (size_t)N * sizeof *hs);
    done_f = new_future();
    srand(2);
    double t0 = now_s();
    if (cached_time) {
        double base = coio_loop_time(L);
        for (long i = 0; i < N; i++)
            check(
                coio_call_at(L, base + 10 + (double)rand() / RAND_MAX, cb_noop, NULL, NULL, &hs[i]),
                "coio_call_at");
    } else {
        for (long i = 0; i < N; i++)
            check(coio_call_later(L, 10 + (double)rand() / RAND_MAX, cb_noop, NULL, NULL, &hs[i]),
                  "coio_call_later");
    }
    for (long i = 0; i < N; i++) {
        check(coio_handle_cancel(hs[i]), "coio_handle_cancel");
        coio_handle_release(hs[i]);
    }
    /* one pass, so the loop gets to purge what was cancelled */
    check(coio_call_soon(L, cb_finish, NULL, NULL, NULL), "coio_call_soon");
    run_until_done();
    double secs = now_s() - t0;
    report(name, N, secs);
    coio_future_release(done_f);
    free(hs);
}

static void timers_schedule_cancel(void) {
    schedule_cancel_workload("timers_schedule_cancel", 0);
}
static void timers_schedule_cancel_at(void) {
    schedule_cancel_workload("timers_schedule_cancel_at", 1);
}

/* ---- future_resolve_cb: N x (new future, add done callback, set result), callbacks all run --- */

static void cb_done(coio_future *f, void *arg) {
    (void)f;
    (void)arg;
    if (++cnt == N) finish();
}

static void future_resolve_cb(void) {
    done_f = new_future();
    cnt = 0;
    double t0 = now_s();
    for (long i = 0; i < N; i++) {
        coio_future *f = new_future();
        check(coio_future_add_done_callback(f, cb_done, NULL, NULL),
              "coio_future_add_done_callback");
        check(coio_future_set_result(f, NULL, NULL), "coio_future_set_result");
        coio_future_release(f);
    }
    run_until_done(); /* the N-th done callback completes done_f */
    double secs = now_s() - t0;
    if (cnt != N) fail("future_resolve_cb: wrong number of done callbacks");
    report("future_resolve_cb", N, secs);
    coio_future_release(done_f);
}

/* ---- call_soon_threadsafe: another thread submits N callbacks ------------------------------- */

static void cb_ts(void *arg) {
    (void)arg;
    if (++cnt == N) finish();
}

static void *producer(void *x) {
    (void)x;
    for (long i = 0; i < N; i++)
        check(coio_call_soon_threadsafe(L, cb_ts, NULL, NULL), "coio_call_soon_threadsafe");
    return NULL;
}

static void call_soon_threadsafe(void) {
    done_f = new_future();
    cnt = 0;
    pthread_t th;
    double t0 = now_s();
    if (pthread_create(&th, NULL, producer, NULL) != 0) fail("pthread_create failed");
    run_until_done();
    pthread_join(th, NULL);
    double secs = now_s() - t0;
    if (cnt != N) fail("call_soon_threadsafe: wrong number of callbacks");
    report("call_soon_threadsafe", N, secs);
    coio_future_release(done_f);
}

/* ---- tasks ------------------------------------------------------------------------------------
 *
 * Stackful tasks (coio_spawn: the body runs on its own fiber and suspends in coio_await) and
 * step-driven tasks (coio_task_new: the loop calls a step function, asyncio's Task.__step). */

static long NS; /* how many tasks the task_spawn_* and *_rss workloads keep */

/* --small-stacks: the many children of task_spawn_gather and coroutine_rss get 4 KiB stacks
 * without a guard page (COIO_TASK_NO_GUARD_PAGE: packed, one map entry per batch). */
static int small_stacks;

static coio_future *spawn(coio_coroutine_fn fn, void *arg, uint32_t flags) {
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = flags;
    if (flags & COIO_TASK_NO_GUARD_PAGE) o.stack_size = 4096;
    coio_future *t = NULL;
    check(coio_spawn(L, fn, arg, &o, &t), "coio_spawn");
    return t;
}

static coio_future *task_new(coio_step_fn step, void *arg, uint32_t flags) {
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = flags;
    coio_future *t = NULL;
    check(coio_task_new(L, step, arg, NULL, &o, &t), "coio_task_new");
    return t;
}

/* Runs the loop until task is done; it must have succeeded. */
static void run_task(coio_future *t, const char *what) {
    int st = coio_loop_run_until_complete(L, t);
    if (st != COIO_OK) {
        int code = 0;
        const char *msg = NULL;
        coio_future_error(t, &code, &msg);
        fprintf(stderr, "coio_bench: %s: task ended with %s (code %d: %s)\n", what,
                coio_status_name(st), code, msg ? msg : "-");
        abort();
    }
}

/* ---- task_yield_sleep0: one stackful task awaits sleep(0) N times -----------------------------
 *
 * `await asyncio.sleep(0)` is coio_co_sleep(0) in a stackful body: a bare yield, as in asyncio
 * (no future).  task_yield_sleep0_future spells it with the future made and awaited by hand:
 * coio_sleep(0) + coio_await + coio_future_release. */

static int body_yield_sleep0(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    for (long i = 0; i < N; i++)
        check(coio_co_sleep(0), "coio_co_sleep");
    return COIO_OK;
}

static int body_yield_sleep0_future(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    for (long i = 0; i < N; i++) {
        coio_future *s = NULL;
        check(coio_sleep(L, 0, &s), "coio_sleep");
        check(coio_await(s, NULL), "coio_await");
        coio_future_release(s);
    }
    return COIO_OK;
}

static void yield_workload(const char *name, coio_coroutine_fn body) {
    double t0 = now_s();
    coio_future *t = spawn(body, NULL, 0);
    run_task(t, name);
    double secs = now_s() - t0;
    report(name, N, secs);
    coio_future_release(t);
}

static void task_yield_sleep0(void) {
    yield_workload("task_yield_sleep0", body_yield_sleep0);
}

static void task_yield_sleep0_future(void) {
    yield_workload("task_yield_sleep0_future", body_yield_sleep0_future);
}

/* ---- task_yield_step: one step task returns COIO_STEP_YIELD N times (a bare yield) ----------- */

static int step_yield(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)task;
    (void)awaited;
    (void)arg;
    if (status != COIO_OK) return status;
    return cnt++ < N ? COIO_STEP_YIELD : COIO_OK;
}

static void task_yield_step(void) {
    cnt = 0;
    double t0 = now_s();
    coio_future *t = task_new(step_yield, NULL, 0);
    run_task(t, "task_yield_step");
    double secs = now_s() - t0;
    if (cnt != N + 1) fail("task_yield_step: wrong number of steps");
    report("task_yield_step", N, secs);
    coio_future_release(t);
}

/* ---- task_yield_step_sleep0: one step task awaits coio_sleep(0) N times ---------------------- */

static int step_sleep0(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    (void)arg;
    if (status != COIO_OK) return status;
    if (cnt++ == N) return COIO_OK;
    coio_future *s = NULL;
    check(coio_sleep(L, 0, &s), "coio_sleep");
    check(coio_step_await(task, s), "coio_step_await");
    coio_future_release(s); /* the task holds its own reference while it waits */
    return COIO_STEP_AWAIT;
}

static void task_yield_step_sleep0(void) {
    cnt = 0;
    double t0 = now_s();
    coio_future *t = task_new(step_sleep0, NULL, 0);
    run_task(t, "task_yield_step_sleep0");
    double secs = now_s() - t0;
    if (cnt != N + 1) fail("task_yield_step_sleep0: wrong number of steps");
    report("task_yield_step_sleep0", N, secs);
    coio_future_release(t);
}

/* ---- task_spawn_stackful / task_spawn_step: NS tasks that return at once ---------------------
 *
 * Fire and forget: each reference is released right after the spawn (the loop keeps the task
 * until its step ran), so the time covers spawn + first step + free. */

static int body_return(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    if (++cnt == NS) finish();
    return COIO_OK;
}

static int step_return(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)task;
    (void)awaited;
    (void)arg;
    if (++cnt == NS) finish();
    return status;
}

static void task_spawn_stackful(void) {
    done_f = new_future();
    cnt = 0;
    double t0 = now_s();
    for (long i = 0; i < NS; i++)
        coio_future_release(spawn(body_return, NULL, 0));
    run_until_done();
    double secs = now_s() - t0;
    if (cnt != NS) fail("task_spawn_stackful: not every task ran");
    report("task_spawn_stackful", NS, secs);
    coio_future_release(done_f);
}

static void task_spawn_step(void) {
    done_f = new_future();
    cnt = 0;
    double t0 = now_s();
    for (long i = 0; i < NS; i++)
        coio_future_release(task_new(step_return, NULL, 0));
    run_until_done();
    double secs = now_s() - t0;
    if (cnt != NS) fail("task_spawn_step: not every task ran");
    report("task_spawn_step", NS, secs);
    coio_future_release(done_f);
}

/* ---- coroutine_rss / step_task_rss: NS tasks suspended on one shared pending future ----------
 *
 * Each runs on a loop of its own (fresh object pools, no pooled stacks).  A driver callback on
 * the running loop creates the tasks with COIO_TASK_EAGER, so each runs its first step inside
 * the spawn and is suspended on `shared` when the spawn returns; the driver stops at the first
 * task that fails with COIO_ENOMEM (every stack takes two entries of vm.max_map_count).  The
 * resident set (/proc/self/statm) is read before and after (the heap trimmed first); bytes/op
 * is the growth per live task.  Then `shared` completes and every task finishes. */

static coio_future *shared_f;
static long live, nomem, finished;
static const char *nomem_msg;

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f) fail("cannot open /proc/self/statm");
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) fail("cannot read /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static long max_map_count(void) {
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

static void task_finished(void) {
    if (++finished == live) finish();
}

static int body_wait_shared(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    check(coio_await(shared_f, NULL), "coio_await");
    task_finished();
    return COIO_OK;
}

static int step_wait_shared(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)arg;
    if (status != COIO_OK) return status;
    if (!awaited) { /* first step */
        check(coio_step_await(task, shared_f), "coio_step_await");
        return COIO_STEP_AWAIT;
    }
    task_finished();
    return COIO_OK;
}

/* A task created by the driver: live (suspended, as it must be), or failed for lack of memory
 * (remembered, and the driver stops); anything else aborts. */
static int driver_keep(coio_future *t) {
    if (!coio_future_done(t)) {
        live++;
        coio_future_release(t); /* the registration on shared_f keeps it */
        return 1;
    }
    int code = 0;
    const char *msg = NULL;
    coio_future_error(t, &code, &msg); /* marks the error retrieved */
    if (code != COIO_ENOMEM) {
        fprintf(stderr, "coio_bench: rss: a task finished early (%s: %s)\n", coio_status_name(code),
                msg ? msg : "-");
        abort();
    }
    nomem++;
    static char buf[128];
    snprintf(buf, sizeof buf, "%s", msg ? msg : "");
    nomem_msg = buf;
    coio_future_release(t);
    return 0;
}

static int rss_stackful;

static void cb_driver(void *arg) {
    (void)arg;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.flags = COIO_TASK_EAGER;
    if (small_stacks) {
        o.flags |= COIO_TASK_NO_GUARD_PAGE;
        o.stack_size = 4096;
    }
    for (long i = 0; i < NS; i++) {
        coio_future *t = NULL;
        int st = rss_stackful ? coio_spawn(L, body_wait_shared, NULL, &o, &t)
                              : coio_task_new(L, step_wait_shared, NULL, NULL, &o, &t);
        if (st == COIO_ENOMEM) {
            nomem++;
            nomem_msg = rss_stackful ? "coio_spawn: COIO_ENOMEM" : "coio_task_new: COIO_ENOMEM";
            break;
        }
        check(st, rss_stackful ? "coio_spawn" : "coio_task_new");
        if (!driver_keep(t)) break;
    }
    finish();
}

static void rss_workload(const char *name, int stackful) {
    coio_loop *main_loop = L;
    check(coio_loop_new(&L, NULL), "coio_loop_new");
    rss_stackful = stackful;
    live = nomem = finished = 0;
    nomem_msg = NULL;
    shared_f = new_future();
    done_f = new_future();
    check(coio_call_soon(L, cb_driver, NULL, NULL, NULL), "coio_call_soon");
#ifdef __GLIBC__
    /* Hand the heap's free pages back, so memory that earlier workloads freed counts again
     * when the tasks reuse it (else bytes/op depends on what ran before). */
    malloc_trim(0);
#endif
    long rss0 = rss_bytes();
    double t0 = now_s();
    run_until_done(); /* the driver's pass: every task has started and waits on shared_f */
    double secs = now_s() - t0;
    long rss1 = rss_bytes();
    coio_future_release(done_f);
    if (live == 0) fail("rss: not a single task could be created");
    printf("%-24s ops=%9ld secs=%8.4f ns/op=%9.1f bytes/op=%.0f\n", name, live, secs,
           secs * 1e9 / (double)live, (double)(rss1 - rss0) / (double)live);
    if (nomem)
        printf("  ! %s: only %ld of %ld %s fit (%s; vm.max_map_count = %ld, two per stack); "
               "bytes/op is measured at %ld\n",
               name, live, NS, stackful ? "coroutines" : "tasks", nomem_msg, max_map_count(), live);
    fflush(stdout);
    /* let them all finish */
    done_f = new_future();
    check(coio_future_set_result(shared_f, NULL, NULL), "coio_future_set_result");
    run_until_done();
    if (finished != live) fail("rss: not every task finished");
    coio_future_release(done_f);
    coio_future_release(shared_f);
    check(coio_loop_release(L), "coio_loop_release");
    L = main_loop;
}

static void coroutine_rss(void) {
    rss_workload("coroutine_rss", 1);
}
static void step_task_rss(void) {
    rss_workload("step_task_rss", 0);
}

/* ---- queue_ping_pong / queue_ping_pong_step: two tasks bounce N items through two queues -----
 *
 * reference_asyncio.py's ping_pong: two unbounded FIFO queues a and b; the main task does N x
 * (a.put_nowait(i), await b.get()), a ponger task N x (await a.get(), b.put_nowait(item)); then
 * the main task awaits the ponger.  Items are (void *)i with no drop.  Every round trip is two
 * task wake-ups (each a loop pass).  As in asyncio, a get on a queue that has an item does not
 * suspend: coio_await returns at once on a done future, and the step variant consumes a get
 * future that is already done in the same step instead of awaiting it. */

struct pingpong {
    coio_queue *a, *b;     /* main -> ponger, ponger -> main */
    coio_future *ponger;   /* the ponger task (the main task awaits it last) */
    long sent, got, pongs; /* items put on a, taken from b, bounced by the ponger */
};

static struct pingpong pp;

static coio_queue *queue_new(void) {
    coio_queue *q = NULL;
    check(coio_queue_new(L, COIO_QUEUE_FIFO, 0, &q), "coio_queue_new");
    return q;
}

/* The item a done get future holds (borrowed: its drop is NULL anyway). */
static long got_item(coio_future *get) {
    void *v = NULL;
    check(coio_future_result(get, &v), "coio_future_result(get)");
    return (long)(intptr_t)v;
}

static void pingpong_check_item(long item) {
    if (item != pp.got) fail("queue_ping_pong: items out of order");
    pp.got++;
}

static int body_ponger(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    for (long i = 0; i < N; i++) {
        coio_future *g = NULL;
        check(coio_queue_get(pp.a, &g), "coio_queue_get");
        void *item = NULL;
        check(coio_await(g, &item), "coio_await(get)");
        check(coio_queue_put_nowait(pp.b, item, NULL), "coio_queue_put_nowait");
        coio_future_release(g);
        pp.pongs++;
    }
    return COIO_OK;
}

static int body_pinger(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    pp.ponger = spawn(body_ponger, NULL, 0);
    for (long i = 0; i < N; i++) {
        check(coio_queue_put_nowait(pp.a, (void *)(intptr_t)i, NULL), "coio_queue_put_nowait");
        pp.sent++;
        coio_future *g = NULL;
        check(coio_queue_get(pp.b, &g), "coio_queue_get");
        void *item = NULL;
        check(coio_await(g, &item), "coio_await(get)");
        pingpong_check_item((long)(intptr_t)item);
        coio_future_release(g);
    }
    check(coio_await(pp.ponger, NULL), "coio_await(ponger)");
    return COIO_OK;
}

/* The ponger as steps: each step bounces what the awaited get brought, then takes items as
 * long as gets complete at once, and awaits the first one that does not. */
static int step_ponger(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)arg;
    if (status != COIO_OK) return status;
    if (awaited) { /* a.get() completed */
        check(coio_queue_put_nowait(pp.b, (void *)(intptr_t)got_item(awaited), NULL),
              "coio_queue_put_nowait");
        pp.pongs++;
    }
    while (pp.pongs < N) {
        coio_future *g = NULL;
        check(coio_queue_get(pp.a, &g), "coio_queue_get");
        if (!coio_future_done(g)) {
            check(coio_step_await(task, g), "coio_step_await");
            coio_future_release(g); /* the task holds its own reference while it waits */
            return COIO_STEP_AWAIT;
        }
        check(coio_queue_put_nowait(pp.b, (void *)(intptr_t)got_item(g), NULL),
              "coio_queue_put_nowait");
        coio_future_release(g);
        pp.pongs++;
    }
    return COIO_OK;
}

static int step_pinger(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)arg;
    if (status != COIO_OK) return status;
    if (!awaited) /* first step */
        pp.ponger = task_new(step_ponger, NULL, 0);
    else if (awaited == pp.ponger)
        return COIO_OK; /* await t: done */
    else
        pingpong_check_item(got_item(awaited)); /* b.get() completed */
    while (pp.got < N) {
        check(coio_queue_put_nowait(pp.a, (void *)(intptr_t)pp.sent, NULL),
              "coio_queue_put_nowait");
        pp.sent++;
        coio_future *g = NULL;
        check(coio_queue_get(pp.b, &g), "coio_queue_get");
        if (!coio_future_done(g)) {
            check(coio_step_await(task, g), "coio_step_await");
            coio_future_release(g);
            return COIO_STEP_AWAIT;
        }
        pingpong_check_item(got_item(g));
        coio_future_release(g);
    }
    check(coio_step_await(task, pp.ponger), "coio_step_await(ponger)");
    return COIO_STEP_AWAIT;
}

static void ping_pong_workload(const char *name, int stackful) {
    memset(&pp, 0, sizeof pp);
    double t0 = now_s();
    pp.a = queue_new();
    pp.b = queue_new();
    coio_future *t = stackful ? spawn(body_pinger, NULL, 0) : task_new(step_pinger, NULL, 0);
    run_task(t, name);
    double secs = now_s() - t0;
    if (pp.got != N || pp.pongs != N || !coio_future_done(pp.ponger))
        fail("queue_ping_pong: not every item came back");
    report(name, N, secs);
    coio_future_release(t);
    coio_future_release(pp.ponger);
    coio_queue_free(pp.a);
    coio_queue_free(pp.b);
}

static void queue_ping_pong(void) {
    ping_pong_workload("queue_ping_pong", 1);
}
static void queue_ping_pong_step(void) {
    ping_pong_workload("queue_ping_pong_step", 0);
}

/* ---- task_spawn_gather / task_spawn_gather_step: M tasks, each awaits sleep(0) once and
 * returns i; gather them all ----------------------------------------------------------------
 *
 * reference_asyncio.py's task_spawn_gather: a main task creates M child tasks (not eager),
 * gathers them, and checks the results (every one here; the reference checks the last is
 * M-1).  Each runs on a loop of its own (fresh object pools, no pooled stacks, as the *_rss
 * workloads).  Time: from creating the main task until it is done and every child freed.
 * bytes/op: the growth of the *peak* resident set (VmHWM, reset through /proc/self/clear_refs
 * after trimming the heap) per task, as the reference's ru_maxrss delta: every child is alive
 * and suspended at once after the first pass.
 *
 * All M stackful children hold a stack at once, and each stack takes two entries of
 * vm.max_map_count: with the default 65,530 about 32,700 fit.  Since a child that cannot get a
 * stack fails (and so does the gather), M is capped beforehand at what the free map entries
 * allow, with a remark, as coroutine_rss reports the coroutines that fit. */

static long gather_n;                /* children the running gather workload spawns */
static unsigned char *child_yielded; /* step children: 1 once the yield is done */

static int body_gather_child(coio_future *self, void *arg) {
    coio_future *s = NULL;
    check(coio_sleep(L, 0, &s), "coio_sleep");
    check(coio_await(s, NULL), "coio_await(sleep)");
    coio_future_release(s);
    check(coio_future_set_result(self, arg, NULL), "coio_future_set_result"); /* return i */
    return COIO_OK;
}

/* asyncio.sleep(0) is a bare `yield` (no future: Task.__step is simply scheduled again on the
 * next pass), so a step child's "await asyncio.sleep(0)" is one COIO_STEP_YIELD; its second
 * step returns i. */
static int step_gather_child(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)awaited;
    if (status != COIO_OK) return status;
    long i = (long)(intptr_t)arg;
    if (!child_yielded[i]) {
        child_yielded[i] = 1;
        return COIO_STEP_YIELD;
    }
    check(coio_future_set_result(task, arg, NULL), "coio_future_set_result"); /* return i */
    return COIO_OK;
}

/* After the gather: r = the results in argument order; every r[i] == i (r[-1] == M - 1);
 * then the children are released and the array freed. */
static void gather_check_free(coio_future **ts) {
    for (long i = 0; i < gather_n; i++) {
        void *v = NULL;
        check(coio_future_result(ts[i], &v), "coio_future_result(child)");
        if ((long)(intptr_t)v != i) fail("task_spawn_gather: wrong result");
        coio_future_release(ts[i]);
    }
    free(ts);
}

static coio_future **gather_tasks_alloc(void) {
    coio_future **ts = malloc((size_t)gather_n * sizeof *ts);
    if (!ts) fail("out of memory");
    return ts;
}

static coio_future *gather(coio_future *const *ts) {
    coio_future *g = NULL;
    check(coio_gather(L, ts, (size_t)gather_n, 0, &g), "coio_gather");
    return g;
}

static int body_spawn_gather(coio_future *self, void *arg) {
    (void)self;
    (void)arg;
    coio_future **ts = gather_tasks_alloc();
    for (long i = 0; i < gather_n; i++)
        ts[i] = spawn(body_gather_child, (void *)(intptr_t)i,
                      small_stacks ? COIO_TASK_NO_GUARD_PAGE : 0);
    coio_future *g = gather(ts);
    check(coio_await(g, NULL), "coio_await(gather)");
    coio_future_release(g);
    gather_check_free(ts);
    return COIO_OK;
}

static coio_future **gather_ts; /* the step main task's children */

static int step_spawn_gather(coio_future *task, coio_future *awaited, int status, void *arg) {
    (void)arg;
    if (status != COIO_OK) return status;
    if (!awaited) { /* first step: spawn, gather, await the gather */
        gather_ts = gather_tasks_alloc();
        child_yielded = calloc((size_t)gather_n, 1);
        if (!child_yielded) fail("out of memory");
        for (long i = 0; i < gather_n; i++)
            gather_ts[i] = task_new(step_gather_child, (void *)(intptr_t)i, 0);
        coio_future *g = gather(gather_ts);
        check(coio_step_await(task, g), "coio_step_await(gather)");
        coio_future_release(g); /* the task holds its own reference while it waits */
        return COIO_STEP_AWAIT;
    }
    gather_check_free(gather_ts);
    free(child_yielded);
    gather_ts = NULL;
    child_yielded = NULL;
    return COIO_OK;
}

/* The peak resident set (VmHWM), in bytes; -1 if unknown. */
static long peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* Resets the peak resident set to the current one (Linux 4.0+); 0 if that failed. */
static int reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Mappings the process has now (lines of /proc/self/maps); -1 if unknown. */
static long map_count(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        if (c == '\n') n++;
    fclose(f);
    return n;
}

/* Whether the kernel installs guard pages in the page tables (MADV_GUARD_INSTALL, Linux 6.13),
 * as coio then does: a guarded stack takes no map entry of its own. */
static int guard_advice(void) {
    long ps = sysconf(_SC_PAGESIZE);
    void *p =
        mmap(NULL, (size_t)ps * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    int ok = madvise(p, (size_t)ps, 102 /* MADV_GUARD_INSTALL */) == 0;
    munmap(p, (size_t)ps * 2);
    return ok;
}

/* How many of NS new stackful tasks can hold a stack at once: two map entries each, less a
 * margin for the main task's stack and the allocator's own mappings. */
static long stacks_that_fit(void) {
    if (guard_advice()) return NS; /* guarded stacks share their batch's map entry */
    long max = max_map_count(), now = map_count();
    if (max < 0 || now < 0) return NS;
    long fit = (max - now - 256) / 2;
    if (fit < 1) fail("task_spawn_gather: no map entries left for coroutine stacks");
    return fit < NS ? fit : NS;
}

static void spawn_gather_workload(const char *name, int stackful) {
    coio_loop *main_loop = L;
    check(coio_loop_new(&L, NULL), "coio_loop_new");
    gather_n = stackful && !small_stacks ? stacks_that_fit() : NS;
#ifdef __GLIBC__
    malloc_trim(0); /* as the *_rss workloads: freed memory counts again when reused */
#endif
    int reset = reset_peak_rss();
    long peak0 = reset ? peak_rss_bytes() : rss_bytes();
    double t0 = now_s();
    coio_future *t =
        stackful ? spawn(body_spawn_gather, NULL, 0) : task_new(step_spawn_gather, NULL, 0);
    run_task(t, name);
    double secs = now_s() - t0;
    long peak1 = peak_rss_bytes();
    coio_future_release(t);
    printf("%-24s ops=%9ld secs=%8.4f ns/op=%9.1f bytes/op=%.0f\n", name, gather_n, secs,
           secs * 1e9 / (double)gather_n, (double)(peak1 - peak0) / (double)gather_n);
    if (gather_n < NS)
        printf("  ! %s: only %ld of %ld coroutines fit (vm.max_map_count = %ld, two per stack); "
               "measured at %ld\n",
               name, gather_n, NS, max_map_count(), gather_n);
    if (!reset)
        printf("  ! %s: the peak resident set could not be reset (/proc/self/clear_refs); "
               "bytes/op is measured from the current one\n",
               name);
    fflush(stdout);
    check(coio_loop_release(L), "coio_loop_release");
    L = main_loop;
}

static void task_spawn_gather(void) {
    spawn_gather_workload("task_spawn_gather", 1);
}
static void task_spawn_gather_step(void) {
    spawn_gather_workload("task_spawn_gather_step", 0);
}

/* ---- await_ready: one stackful task does N coio_await on a future that is already done ------- */

static int body_await_ready(coio_future *self, void *arg) {
    (void)self;
    coio_future *f = arg;
    for (long i = 0; i < N; i++)
        check(coio_await(f, NULL), "coio_await");
    return COIO_OK;
}

static void await_ready(void) {
    coio_future *f = new_future();
    check(coio_future_set_result(f, NULL, NULL), "coio_future_set_result");
    double t0 = now_s();
    coio_future *t = spawn(body_await_ready, f, 0);
    run_task(t, "await_ready");
    double secs = now_s() - t0;
    report("await_ready", N, secs);
    coio_future_release(t);
    coio_future_release(f);
}

/* ---- switch_pair: N bare Boost.Context jumps there and back (the floor for an await) -------- *
 *
 * jump_fcontext / make_fcontext are plain C symbols of libboost_context (the same ones
 * src/coroutine.cc calls through boost/context/detail/fcontext.hpp). */

typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
extern transfer_t jump_fcontext(fcontext_t const to, void *vp);
extern fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static void switch_fiber(transfer_t t) {
    for (;;)
        t = jump_fcontext(t.fctx, NULL); /* straight back to the caller */
}

static void switch_pair(void) {
    size_t size = 64 * 1024;
    char *stack = malloc(size);
    if (!stack) fail("out of memory");
    fcontext_t fc = make_fcontext(stack + size, size, switch_fiber);
    transfer_t t = jump_fcontext(fc, NULL); /* start it: it comes straight back */
    double t0 = now_s();
    for (long i = 0; i < N; i++)
        t = jump_fcontext(t.fctx, NULL);
    double secs = now_s() - t0;
    report("switch_pair", N, secs);
    free(stack); /* the fiber is abandoned, suspended; it owns nothing */
}

/* ---- main ----------------------------------------------------------------------------------- */

/* ---- sock_echo: request/response over socket pairs, a coroutine at each end ---------------
 *
 * ECHO_CONNS AF_UNIX stream pairs.  On each, a server task echoes whatever it reads
 * (coio_co_recv_into + coio_co_sendall, as examples/tcp_echo's server does) and a client task
 * sends a message, reads the whole echo back and checks it; N round trips in all, spread over
 * the pairs.  The TCP echo of bench/echo/ without TCP and without a second process: what coio
 * itself does per request, in one process and deterministic, so that its instructions can be
 * counted (bench/instructions.py). */
#define ECHO_CONNS 100
#define ECHO_MSG 64

struct echo_conn {
    int sv[2]; /* sv[0]: the client's end, sv[1]: the server's */
    long rounds;
    long done;
};

static struct echo_conn echo_conns[ECHO_CONNS];

static int body_echo_server(coio_future *self, void *arg) {
    (void)self;
    struct echo_conn *c = arg;
    char buf[1024];
    for (;;) {
        size_t n = 0;
        check(coio_co_recv_into(c->sv[1], buf, sizeof buf, &n, NULL), "coio_co_recv_into(server)");
        if (n == 0) return COIO_OK; /* the client is done */
        check(coio_co_sendall(c->sv[1], buf, n, NULL), "coio_co_sendall(server)");
    }
}

static int body_echo_client(coio_future *self, void *arg) {
    (void)self;
    struct echo_conn *c = arg;
    char msg[ECHO_MSG], back[ECHO_MSG];
    memset(msg, 'x', sizeof msg);
    for (long r = 0; r < c->rounds; r++) {
        memcpy(msg, &r, sizeof r); /* a fresh message each time */
        check(coio_co_sendall(c->sv[0], msg, sizeof msg, NULL), "coio_co_sendall(client)");
        size_t got = 0;
        while (got < sizeof back) {
            size_t n = 0;
            check(coio_co_recv_into(c->sv[0], back + got, sizeof back - got, &n, NULL),
                  "coio_co_recv_into(client)");
            if (n == 0) fail("sock_echo: the server closed");
            got += n;
        }
        if (memcmp(msg, back, sizeof msg) != 0) fail("sock_echo: the echo differs");
        c->done++;
    }
    if (shutdown(c->sv[0], SHUT_WR) != 0) fail("sock_echo: shutdown");
    return COIO_OK;
}

static void sock_echo(void) {
    coio_future *ts[2 * ECHO_CONNS];
    double t0 = now_s();
    for (int i = 0; i < ECHO_CONNS; i++) {
        struct echo_conn *c = &echo_conns[i];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, c->sv) != 0)
            fail("sock_echo: socketpair");
        c->rounds = N / ECHO_CONNS + (i < N % ECHO_CONNS);
        c->done = 0;
        ts[2 * i] = spawn(body_echo_server, c, 0);
        ts[2 * i + 1] = spawn(body_echo_client, c, 0);
    }
    coio_future *g = NULL;
    check(coio_gather(L, ts, 2 * ECHO_CONNS, 0, &g), "coio_gather");
    run_task(g, "sock_echo");
    double secs = now_s() - t0;
    long done = 0;
    for (int i = 0; i < ECHO_CONNS; i++) {
        done += echo_conns[i].done;
        close(echo_conns[i].sv[0]);
        close(echo_conns[i].sv[1]);
    }
    for (int i = 0; i < 2 * ECHO_CONNS; i++)
        coio_future_release(ts[i]);
    coio_future_release(g);
    if (done != N) fail("sock_echo: not every request came back");
    report("sock_echo", N, secs);
}

static const struct {
    const char *name;
    void (*run)(void);
} workloads[] = {
    {"call_soon_batch", call_soon_batch},
    {"call_soon_chain", call_soon_chain},
    {"timers_fire_ordered", timers_fire_ordered},
    {"timers_schedule_cancel", timers_schedule_cancel},
    {"timers_schedule_cancel_at", timers_schedule_cancel_at},
    {"future_resolve_cb", future_resolve_cb},
    {"call_soon_threadsafe", call_soon_threadsafe},
    {"task_yield_sleep0", task_yield_sleep0},
    {"task_yield_sleep0_future", task_yield_sleep0_future},
    {"task_yield_step", task_yield_step},
    {"task_yield_step_sleep0", task_yield_step_sleep0},
    {"queue_ping_pong", queue_ping_pong},
    {"queue_ping_pong_step", queue_ping_pong_step},
    {"task_spawn_stackful", task_spawn_stackful},
    {"task_spawn_step", task_spawn_step},
    {"task_spawn_gather", task_spawn_gather},
    {"task_spawn_gather_step", task_spawn_gather_step},
    {"coroutine_rss", coroutine_rss},
    {"step_task_rss", step_task_rss},
    {"await_ready", await_ready},
    {"sock_echo", sock_echo},
    {"switch_pair", switch_pair},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static void usage(FILE *to) {
    fprintf(to, "usage: coio_bench [N] [--spawn-n M] [--small-stacks] [workload...]\nworkloads:");
    for (size_t i = 0; i < NWORKLOADS; i++)
        fprintf(to, " %s", workloads[i].name);
    fprintf(to, "\n");
}

static int parse_count(const char *s, long *out) {
    char *end;
    if (!(s[0] >= '0' && s[0] <= '9')) return 0;
    long v = strtol(s, &end, 10);
    if (*end || v <= 0) return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    N = 1000000;
    NS = 0;
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && argv[1][0] >= '0' && argv[1][0] <= '9') {
        if (!parse_count(argv[1], &N)) {
            usage(stderr);
            return 2;
        }
        first = 2;
    }
    int selected[NWORKLOADS] = {0};
    int any = 0;
    for (int a = first; a < argc; a++) {
        if (strcmp(argv[a], "--spawn-n") == 0) {
            if (a + 1 >= argc || !parse_count(argv[a + 1], &NS)) {
                usage(stderr);
                return 2;
            }
            a++;
            continue;
        }
        if (strcmp(argv[a], "--small-stacks") == 0) {
            small_stacks = 1;
            continue;
        }
        size_t i = 0;
        while (i < NWORKLOADS && strcmp(argv[a], workloads[i].name) != 0)
            i++;
        if (i == NWORKLOADS) {
            fprintf(stderr, "coio_bench: unknown workload '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
        selected[i] = 1;
        any = 1;
    }
    int all = !any;
    if (NS == 0) NS = N < 100000 ? N : 100000;

    check(coio_loop_new(&L, NULL), "coio_loop_new");
    printf("# coio %s\n", coio_version());
    fflush(stdout);
    for (size_t i = 0; i < NWORKLOADS; i++)
        if (all || selected[i]) workloads[i].run();
    check(coio_loop_close(L), "coio_loop_close");
    check(coio_loop_release(L), "coio_loop_release");
    return 0;
}
