/* limits: what two targets of bench/README.md cost before coio does anything, measured with
 * libev and the kernel alone.
 *
 * 1. timers_schedule_cancel against the floor.  asyncio's call_later(d) is call_at(time() + d):
 *    a timer must not fire before d has passed since the call, so every call reads the clock.
 *    The floor's ev_timer_start adds d to libev's cached ev_now and reads nothing.  Here is the
 *    floor's own loop three ways, in interleaved rounds: as the floor runs it (cached), with
 *    the cheapest fresh reading there is (the time-stamp counter, scaled: coio's clock between
 *    anchors), and with clock_gettime.  The counter row over the cached row is the least any
 *    call_later that never fires early costs over the floor, whoever implements it.
 *
 * 2. task_spawn_gather (stackful) against tokio.  Each of M tasks alive at once has a stack of
 *    its own, and a stack is at least one page that the task writes.  In a fresh process the
 *    kernel provides each such page: here M pages are faulted in by one MADV_POPULATE_WRITE
 *    call (the cheapest way: coio does it batch by batch) and unmapped by one munmap, and the
 *    same with transparent huge pages (2 MiB at a time).  Their sum is the least a stackful
 *    task costs in the kernel alone, to set beside the whole of a tokio task.
 *
 * Usage: limits [N [M [ROUNDS]]] (default 1,000,000 timers, 100,000 pages, 5 rounds).
 * Prints a markdown table; nothing is checked. */
#define _GNU_SOURCE
#include <ev.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TICKS 1
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "limits: out of memory\n");
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), which stays as it is: the timers' rounds are read again after their
 * median, paired by index with another clock's. */
static double median(const double *v, int n) {
    double *s = xmalloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

/* ---- 1. timers: the floor's schedule + cancel, with and without a fresh clock ------------ */

enum { CACHED, TICKS, GETTIME, NCLOCK };
static const char *const clock_name[NCLOCK] = {
    "cached `ev_now` (the floor)",
    "time-stamp counter, scaled (coio's clock between anchors)",
    "`clock_gettime(CLOCK_MONOTONIC)`",
};

static struct ev_loop *L;
static double tick_base, sec_per_tick;
static uint64_t tick_base_ticks;

static void calibrate_ticks(void) {
#ifdef HAVE_TICKS
    double t0 = now_s();
    uint64_t k0 = __rdtsc();
    while (now_s() - t0 < 0.02) {
    }
    double t1 = now_s();
    uint64_t k1 = __rdtsc();
    sec_per_tick = (t1 - t0) / (double)(k1 - k0);
    tick_base = t1;
    tick_base_ticks = k1;
#endif
}

static void tcb(struct ev_loop *l, ev_timer *w, int revents) {
    (void)l, (void)w, (void)revents;
}

/* The floor's loop (../shared/bench/floor_libev.c), with the deadline taken from `clock`. */
static double schedule_cancel(ev_timer *ts, long n, int clock) {
    srand(2);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        double delay = 10 + (double)rand() / RAND_MAX;
        if (clock == TICKS) {
#ifdef HAVE_TICKS
            double fresh = tick_base + (double)(__rdtsc() - tick_base_ticks) * sec_per_tick;
            delay += fresh - ev_now(L);
#endif
        } else if (clock == GETTIME) {
            delay += now_s() - ev_now(L);
        }
        ev_timer_init(&ts[i], tcb, delay, 0.);
        ev_timer_start(L, &ts[i]);
    }
    for (long i = 0; i < n; i++)
        ev_timer_stop(L, &ts[i]);
    return (now_s() - t0) * 1e9 / (double)n;
}

static void timers(long n, int rounds) {
    ev_timer *ts = xmalloc((size_t)n * sizeof *ts);
    double *ns = xmalloc((size_t)rounds * NCLOCK * sizeof *ns);
    double *ratio = xmalloc((size_t)rounds * sizeof *ratio);
    memset(ts, 0, (size_t)n * sizeof *ts);
    L = ev_loop_new(EVFLAG_AUTO);
    ev_now_update(L);
    calibrate_ticks();
    int nclock = 0;
    int clocks[NCLOCK];
    clocks[nclock++] = CACHED;
#ifdef HAVE_TICKS
    clocks[nclock++] = TICKS;
#endif
    clocks[nclock++] = GETTIME;
    schedule_cancel(ts, n, CACHED); /* warm: the floor's array was touched before it ran */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nclock; k++) { /* rotate the order from round to round */
            int c = clocks[(k + r) % nclock];
            ns[c * rounds + r] = schedule_cancel(ts, n, c);
        }
    printf("### timers_schedule_cancel: the floor's own loop with a fresh clock\n\n");
    printf("%ld timers 10–11 s ahead, `ev_timer_start` each, then `ev_timer_stop` each; %d "
           "interleaved round%s.\n\n",
           n, rounds, rounds == 1 ? "" : "s");
    printf("| deadline from | ns/op (median) | × the cached floor (median of rounds, min–max) |\n");
    printf("|---|---:|---:|\n");
    for (int k = 0; k < nclock; k++) {
        int c = clocks[k];
        double lo = 1e300, hi = 0;
        for (int r = 0; r < rounds; r++) {
            ratio[r] = ns[c * rounds + r] / ns[CACHED * rounds + r];
            lo = ratio[r] < lo ? ratio[r] : lo;
            hi = ratio[r] > hi ? ratio[r] : hi;
        }
        double med_ratio = median(ratio, rounds);
        printf("| %s | %.1f | %.2f× (%.2f–%.2f×) |\n", clock_name[c],
               median(ns + c * rounds, rounds), med_ratio, lo, hi);
    }
    printf("\n");
    ev_loop_destroy(L);
    free(ratio);
    free(ns);
    free(ts);
}

/* ---- 2. pages: the kernel's part of a fresh stack page ----------------------------------- */

/* ns per page to fault in m pages with one MADV_POPULATE_WRITE (*unmap_ns: to unmap them),
 * on 2 MiB transparent huge pages if `huge`.  -1 if the kernel refuses. */
static double populate(long m, int huge, double *unmap_ns) {
    size_t ps = 4096, align = (size_t)2 << 20, len = (size_t)m * ps;
    char *raw = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return -1;
    char *p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    double t0 = now_s();
    int ok = madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0 &&
             madvise(p, len, MADV_POPULATE_WRITE) == 0;
    double t1 = now_s();
    munmap(raw, len + align);
    double t2 = now_s();
    *unmap_ns = (t2 - t1) * 1e9 / (double)m;
    return ok ? (t1 - t0) * 1e9 / (double)m : -1;
}

static void pages(long m, int rounds) {
    double *fill = xmalloc((size_t)rounds * 2 * sizeof *fill);
    double *unmap = xmalloc((size_t)rounds * 2 * sizeof *unmap);
    double ignored;
    populate(m, 1, &ignored); /* the first huge pages may wait for compaction */
    int refused[2] = {0, 0};
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2; k++) {
            int huge = (k + r) % 2;
            fill[huge * rounds + r] = populate(m, huge, &unmap[huge * rounds + r]);
            if (fill[huge * rounds + r] < 0) refused[huge] = 1;
        }
    printf("### task_spawn_gather (stackful): the kernel's part of a fresh stack page\n\n");
    printf("%ld pages of 4 KiB (one per task), faulted in by one `MADV_POPULATE_WRITE` and "
           "unmapped by one `munmap`; %d interleaved round%s.\n\n",
           m, rounds, rounds == 1 ? "" : "s");
    printf("| pages | fault in, ns/page | unmap, ns/page | sum, ns per task |\n");
    printf("|---|---:|---:|---:|\n");
    static const char *const what[2] = {"4 KiB", "2 MiB transparent huge pages, per 4 KiB"};
    for (int huge = 0; huge < 2; huge++) {
        if (refused[huge]) {
            printf("| %s | refused | — | — |\n", what[huge]);
            continue;
        }
        double f = median(fill + huge * rounds, rounds), u = median(unmap + huge * rounds, rounds);
        printf("| %s | %.0f | %.0f | %.0f |\n", what[huge], f, u, f + u);
    }
    printf("\n");
    free(unmap);
    free(fill);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long m = argc > 2 ? atol(argv[2]) : 100000;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (n < 1 || m < 1 || rounds < 1) {
        fprintf(stderr, "usage: limits [N [M [ROUNDS]]]\n");
        return 2;
    }
    timers(n, rounds);
    pages(m, rounds);
    return 0;
}
