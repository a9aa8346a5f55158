/* coio_bench — coio's side of the reference workloads (../shared/bench/WORKLOADS.md).
 *
 *   coio_bench [N] [workload...]
 *
 * N defaults to 1,000,000; with no workload named, all of them run, in the order below, on one
 * loop.  Each prints one line in the same format as the libev floor program and
 * reference_asyncio.py ("name ops=... secs=... ns/op=..."), so bench/compare.py can put them
 * side by side.  The loop uses real time.  Any failing coio call aborts with a message. */
#define _POSIX_C_SOURCE 200809L

#include <coio.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void finish(void) { check(coio_future_set_result(done_f, NULL, NULL), "coio_future_set_result"); }

static void cb_finish(void *arg) {
    (void)arg;
    finish();
}

static void cb_noop(void *arg) { (void)arg; }

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
    for (long i = 0; i < N; i++) check(coio_call_soon(L, cb_count, NULL, NULL, NULL), "coio_call_soon");
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

/* ---- timers_schedule_cancel: N timers 10-11 s ahead, cancel them all, one pass --------------- */

static void timers_schedule_cancel(void) {
    coio_handle **hs = malloc((size_t)N * sizeof *hs);
    if (!hs) fail("out of memory");
    done_f = new_future();
    srand(2);
    double t0 = now_s();
    for (long i = 0; i < N; i++)
        check(coio_call_later(L, 10 + (double)rand() / RAND_MAX, cb_noop, NULL, NULL, &hs[i]),
              "coio_call_later");
    for (long i = 0; i < N; i++) {
        check(coio_handle_cancel(hs[i]), "coio_handle_cancel");
        coio_handle_release(hs[i]);
    }
    /* one pass, so the loop gets to purge what was cancelled */
    check(coio_call_soon(L, cb_finish, NULL, NULL, NULL), "coio_call_soon");
    run_until_done();
    double secs = now_s() - t0;
    report("timers_schedule_cancel", N, secs);
    coio_future_release(done_f);
    free(hs);
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
        check(coio_future_add_done_callback(f, cb_done, NULL, NULL), "coio_future_add_done_callback");
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

/* ---- main ----------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*run)(void);
} workloads[] = {
    {"call_soon_batch", call_soon_batch},
    {"call_soon_chain", call_soon_chain},
    {"timers_fire_ordered", timers_fire_ordered},
    {"timers_schedule_cancel", timers_schedule_cancel},
    {"future_resolve_cb", future_resolve_cb},
    {"call_soon_threadsafe", call_soon_threadsafe},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static void usage(FILE *to) {
    fprintf(to, "usage: coio_bench [N] [workload...]\nworkloads:");
    for (size_t i = 0; i < NWORKLOADS; i++) fprintf(to, " %s", workloads[i].name);
    fprintf(to, "\n");
}

int main(int argc, char **argv) {
    N = 1000000;
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && argv[1][0] >= '0' && argv[1][0] <= '9') {
        char *end;
        N = strtol(argv[1], &end, 10);
        if (*end || N <= 0) {
            usage(stderr);
            return 2;
        }
        first = 2;
    }
    int selected[NWORKLOADS] = {0};
    for (int a = first; a < argc; a++) {
        size_t i = 0;
        while (i < NWORKLOADS && strcmp(argv[a], workloads[i].name) != 0) i++;
        if (i == NWORKLOADS) {
            fprintf(stderr, "coio_bench: unknown workload '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
        selected[i] = 1;
    }
    int all = first >= argc;

    check(coio_loop_new(&L, NULL), "coio_loop_new");
    printf("# coio %s\n", coio_version());
    fflush(stdout);
    for (size_t i = 0; i < NWORKLOADS; i++)
        if (all || selected[i]) workloads[i].run();
    check(coio_loop_close(L), "coio_loop_close");
    check(coio_loop_release(L), "coio_loop_release");
    return 0;
}
