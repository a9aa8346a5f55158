/* 03_call_later_order.c — timers fire in deadline order; equal deadlines in scheduling order.
 *
 * The Python original (in the style of the asyncio docs' call_later() examples):
 *
 *     import asyncio
 *
 *     def report(loop, label):
 *         print(f"{label:21} t={loop.time():.3f}")
 *
 *     def stop(loop):
 *         print(f"{'stop':21} t={loop.time():.3f}")
 *         loop.stop()
 *
 *     loop = asyncio.new_event_loop()
 *     t0 = loop.time()
 *     print(f"{'scheduling':21} t={t0:.3f}")
 *     loop.call_later(0.2, report, loop, "C  call_later(0.2)")
 *     loop.call_later(0.1, report, loop, "A  call_later(0.1)")
 *     loop.call_later(0.2, report, loop, "D  call_later(0.2)")
 *     loop.call_later(0.1, report, loop, "B  call_later(0.1)")
 *     loop.call_at(t0 + 0.25, report, loop, "E  call_at(t0 + 0.25)")
 *     loop.call_at(t0 + 0.25, report, loop, "F  call_at(t0 + 0.25)")
 *     loop.call_later(0.3, stop, loop)
 *     loop.run_forever()
 *     loop.close()
 *
 * Expected output (the loop times vary from run to run; the golden test masks them):
 *
 *     scheduling            t=...
 *     A  call_later(0.1)    t=...
 *     B  call_later(0.1)    t=...
 *     C  call_later(0.2)    t=...
 *     D  call_later(0.2)    t=...
 *     E  call_at(t0 + 0.25) t=...
 *     F  call_at(t0 + 0.25) t=...
 *     stop                  t=...
 *
 * Two things to notice:
 *  - call_later(d) is call_at(loop.time() + d) with the clock read at that moment, so "equal
 *    delays" (A/B, C/D) give equal-or-increasing deadlines: they fire in the order they were
 *    scheduled.
 *  - E and F have exactly the same deadline.  asyncio leaves the order of such ties undefined
 *    (CPython's heap may well run F before E); coio promises ties run in scheduling order, so
 *    E always comes first.  coio also never runs a timer before its deadline as seen by
 *    coio_loop_time() — this program checks that too.
 */
#include <coio.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int check_rc_ = (call);                                                                    \
        if (check_rc_ < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                          \
                    coio_status_name(check_rc_));                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* One timer's arguments: the loop, what to print, and its deadline (to check "never early"). */
struct timer {
    coio_loop *loop;
    const char *label;
    double when;
};

static void report(void *arg) {
    struct timer *t = arg;
    double now = coio_loop_time(t->loop);
    printf("%-21s t=%.3f\n", t->label, now);
    if (now < t->when) printf("  ^ EARLY: deadline was t=%.6f\n", t->when);
}

static void stop(void *arg) {
    struct timer *t = arg;
    report(t);
    CHECK(coio_loop_stop(t->loop));
}

/* Keeps the handle just long enough to read the deadline coio computed (coio_handle_when),
 * then releases it.  Releasing a handle only drops our reference: the call stays scheduled
 * (coio_handle_cancel is what unschedules it). */
static void remember_deadline(struct timer *t, coio_handle *h) {
    CHECK(coio_handle_when(h, &t->when));
    coio_handle_release(h);
}

static void call_later(coio_loop *loop, double delay, coio_callback fn, struct timer *t) {
    coio_handle *h;
    t->loop = loop;
    /* The timers live in main's array, which outlives the loop: no drop needed. */
    CHECK(coio_call_later(loop, delay, fn, t, NULL, &h));
    remember_deadline(t, h);
}

static void call_at(coio_loop *loop, double when, coio_callback fn, struct timer *t) {
    coio_handle *h;
    t->loop = loop;
    CHECK(coio_call_at(loop, when, fn, t, NULL, &h));
    remember_deadline(t, h);
}

int main(void) {
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL));

    struct timer a = {.label = "A  call_later(0.1)"}, b = {.label = "B  call_later(0.1)"};
    struct timer c = {.label = "C  call_later(0.2)"}, d = {.label = "D  call_later(0.2)"};
    struct timer e = {.label = "E  call_at(t0 + 0.25)"}, f = {.label = "F  call_at(t0 + 0.25)"};
    struct timer end = {.label = "stop"};

    double t0 = coio_loop_time(loop);
    printf("%-21s t=%.3f\n", "scheduling", t0);
    call_later(loop, 0.2, report, &c);
    call_later(loop, 0.1, report, &a);
    call_later(loop, 0.2, report, &d);
    call_later(loop, 0.1, report, &b);
    call_at(loop, t0 + 0.25, report, &e); /* exactly the same deadline ... */
    call_at(loop, t0 + 0.25, report, &f); /* ... scheduled second, so it runs second */
    call_later(loop, 0.3, stop, &end);

    CHECK(coio_loop_run_forever(loop));

    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return 0;
}
