/* Signal handlers: coio_add_signal_handler / coio_remove_signal_handler (asyncio's
 * loop.add_signal_handler / remove_signal_handler).
 *
 * Signals are only raised while a handler is installed, and the tests that raise after a
 * removal use signals whose default action is to ignore them (SIGWINCH, SIGURG): a failing
 * test cannot kill the process.  Every test closes its loops, which restores SIG_DFL. */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>

typedef struct sigprobe {
    coio_loop *loop;
    int signum;
    int calls;
    int drops;
    int drops_seen_in_call; /* drops observed right after removing itself */
    int remove_self;        /* remove its handler at the first call */
    int reraise_until;      /* raise its own signal again while calls < this */
    int stop_after;         /* stop the loop at this many calls (0: never) */
    tu_log *log;            /* append `tag` to it at each call (may be NULL) */
    int tag;
} sigprobe;

static void on_signal(void *arg) {
    sigprobe *p = arg;
    p->calls++;
    if (p->log && p->log->n < 256) p->log->tags[p->log->n++] = p->tag;
    if (p->remove_self && p->calls == 1) {
        assert_int_equal(coio_remove_signal_handler(p->loop, p->signum), 1);
        p->drops_seen_in_call = p->drops; /* the drop must wait for this call to return */
    }
    if (p->calls < p->reraise_until) assert_int_equal(raise(p->signum), 0);
    if (p->stop_after && p->calls == p->stop_after) coio_loop_stop(p->loop);
}

static void probe_drop(void *arg) {
    ((sigprobe *)arg)->drops++;
}

static void (*disposition(int signum))(int) {
    struct sigaction sa;
    assert_int_equal(sigaction(signum, NULL, &sa), 0);
    return sa.sa_handler;
}

static void raise_cb(void *arg) {
    assert_int_equal(raise(*(int *)arg), 0);
}

/* ---- delivery ---------------------------------------------------------------------------- */

/* A signal that arrives while the loop is not running is delivered by the next pass. */
static void test_raise_before_run_runs_in_next_pass(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGUSR1};
    assert_status(coio_add_signal_handler(loop, SIGUSR1, on_signal, &p, probe_drop), COIO_OK);
    assert_ptr_not_equal(disposition(SIGUSR1), SIG_DFL);
    assert_ptr_not_equal(disposition(SIGUSR1), SIG_IGN);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(p.calls, 0); /* never called from the signal handler itself */
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    tu_run_one_pass(loop); /* one arrival, one call */
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.drops, 0);
    assert_int_equal(coio_remove_signal_handler(loop, SIGUSR1), 1);
    assert_int_equal(p.drops, 1);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* Raised from a callback: the handler runs through the ready queue, after what was already
 * scheduled, in a later pass (the poll of the next pass sees the signal). */
static void test_raise_inside_callback_goes_through_ready_queue(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    tu_log log = {0};
    sigprobe p = {.loop = loop, .signum = SIGURG, .stop_after = 1, .log = &log, .tag = 3};
    int sig = SIGURG;
    tu_rec after = {&log, 2};
    assert_status(coio_add_signal_handler(loop, SIGURG, on_signal, &p, probe_drop), COIO_OK);
    assert_status(coio_call_soon(loop, raise_cb, &sig, NULL, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, tu_record, &after, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(p.calls, 1);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.tags[0], 2);
    assert_int_equal(log.tags[1], 3);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* Several arrivals before the call runs coalesce into one call. */
static void test_arrivals_before_the_call_coalesce(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGWINCH};
    assert_status(coio_add_signal_handler(loop, SIGWINCH, on_signal, &p, probe_drop), COIO_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(raise(SIGWINCH), 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(raise(SIGWINCH), 0);
    assert_int_equal(raise(SIGWINCH), 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 2);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* An arrival during the call is a new call (in a later pass), not merged into the running one. */
static void test_raise_own_signal_inside_handler_calls_again(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGURG, .reraise_until = 3, .stop_after = 3};
    assert_status(coio_add_signal_handler(loop, SIGURG, on_signal, &p, probe_drop), COIO_OK);
    assert_int_equal(raise(SIGURG), 0);
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(p.calls, 3);
    tu_run_one_pass(loop); /* the third call did not raise again */
    assert_int_equal(p.calls, 3);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

static void fail_stop(void *arg) {
    int *timed_out = arg;
    *timed_out = 1;
}

/* A loop blocked in its poll (nothing ready, no timer due) wakes up for the signal. */
static void test_signal_wakes_a_blocked_loop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGALRM, .stop_after = 1};
    int timed_out = 0;
    coio_handle *guard = NULL;
    assert_status(coio_add_signal_handler(loop, SIGALRM, on_signal, &p, probe_drop), COIO_OK);
    /* A safety net far away: the poll blocks until the signal (or this) wakes it. */
    assert_status(coio_call_later(loop, 30.0, fail_stop, &timed_out, NULL, &guard), COIO_OK);
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 20000}};
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    double t0 = tu_wall_now();
    assert_status(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(timed_out, 0);
    assert_int_equal(p.calls, 1);
    assert_true(tu_wall_now() - t0 < 10.0);
    assert_status(coio_handle_cancel(guard), COIO_OK);
    coio_handle_release(guard);
    assert_int_equal(coio_remove_signal_handler(loop, SIGALRM), 1);
    assert_ptr_equal(disposition(SIGALRM), SIG_DFL);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* ---- replacing and removing ------------------------------------------------------------- */

static void test_add_replaces_the_handler(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe a = {.loop = loop, .signum = SIGUSR2};
    sigprobe b = {.loop = loop, .signum = SIGUSR2};
    assert_status(coio_add_signal_handler(loop, SIGUSR2, on_signal, &a, probe_drop), COIO_OK);
    assert_status(coio_add_signal_handler(loop, SIGUSR2, on_signal, &b, probe_drop), COIO_OK);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 0);
    assert_ptr_not_equal(disposition(SIGUSR2), SIG_DFL); /* no gap: still caught */
    assert_int_equal(raise(SIGUSR2), 0);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(coio_remove_signal_handler(loop, SIGUSR2), 1);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
    tu_finish(loop);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
}

/* An arrival the loop has not polled yet goes to the handler installed when it is seen. */
static void test_replaced_before_poll_new_handler_gets_arrival(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe a = {.loop = loop, .signum = SIGURG};
    sigprobe b = {.loop = loop, .signum = SIGURG};
    assert_status(coio_add_signal_handler(loop, SIGURG, on_signal, &a, probe_drop), COIO_OK);
    assert_int_equal(raise(SIGURG), 0);
    assert_status(coio_add_signal_handler(loop, SIGURG, on_signal, &b, probe_drop), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    tu_finish(loop);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
}

/* asyncio restores SIG_DFL whatever the disposition was before (SIG_IGN here). */
static void test_remove_restores_sig_dfl(void **state) {
    (void)state;
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    assert_int_equal(sigaction(SIGUSR2, &ign, NULL), 0);
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGUSR2};
    assert_int_equal(coio_remove_signal_handler(loop, SIGUSR2), 0);
    assert_status(coio_add_signal_handler(loop, SIGUSR2, on_signal, &p, probe_drop), COIO_OK);
    void (*installed)(int) = disposition(SIGUSR2);
    assert_ptr_not_equal(installed, SIG_DFL);
    assert_ptr_not_equal(installed, SIG_IGN);
    assert_int_equal(coio_remove_signal_handler(loop, SIGUSR2), 1);
    assert_ptr_equal(disposition(SIGUSR2), SIG_DFL);
    assert_int_equal(p.drops, 1);
    assert_int_equal(coio_remove_signal_handler(loop, SIGUSR2), 0);
    assert_int_equal(p.drops, 1);
    /* SIGKILL / SIGSTOP are valid numbers that never have a handler (asyncio: False). */
    assert_int_equal(coio_remove_signal_handler(loop, SIGKILL), 0);
    assert_int_equal(coio_remove_signal_handler(loop, SIGSTOP), 0);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
    assert_ptr_equal(disposition(SIGUSR2), SIG_DFL);
}

static void test_remove_inside_own_callback(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGWINCH, .remove_self = 1};
    assert_status(coio_add_signal_handler(loop, SIGWINCH, on_signal, &p, probe_drop), COIO_OK);
    assert_int_equal(raise(SIGWINCH), 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.drops_seen_in_call, 0); /* arg stayed valid until the call returned */
    assert_int_equal(p.drops, 1);
    assert_ptr_equal(disposition(SIGWINCH), SIG_DFL);
    assert_int_equal(raise(SIGWINCH), 0); /* SIGWINCH's default: ignored */
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

typedef struct replacer {
    coio_loop *loop;
    sigprobe *self; /* its own drop counter */
    sigprobe *next; /* the handler it installs */
    int drops_seen_in_call;
} replacer;

static void replace_self(void *arg) {
    replacer *r = arg;
    r->self->calls++;
    assert_status(coio_add_signal_handler(r->loop, SIGURG, on_signal, r->next, probe_drop),
                  COIO_OK);
    r->drops_seen_in_call = r->self->drops;
}

static void replacer_drop(void *arg) {
    ((replacer *)arg)->self->drops++;
}

static void test_replace_inside_own_callback(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe a = {.loop = loop, .signum = SIGURG};
    sigprobe b = {.loop = loop, .signum = SIGURG};
    replacer r = {.loop = loop, .self = &a, .next = &b};
    assert_status(coio_add_signal_handler(loop, SIGURG, replace_self, &r, replacer_drop), COIO_OK);
    assert_int_equal(raise(SIGURG), 0);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 1);
    assert_int_equal(r.drops_seen_in_call, 0);
    assert_int_equal(a.drops, 1);
    assert_int_equal(raise(SIGURG), 0);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    tu_finish(loop);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
}

typedef struct remover {
    coio_loop *loop;
    int signum;
    int removed;
} remover;

static void remove_cb(void *arg) {
    remover *r = arg;
    r->removed = coio_remove_signal_handler(r->loop, r->signum);
}

typedef struct raise_then_remove {
    int signum;
    remover rm;
} raise_then_remove;

static void raise_and_schedule_removal(void *arg) {
    raise_then_remove *x = arg;
    assert_int_equal(raise(x->signum), 0);
    assert_status(coio_call_soon(x->rm.loop, remove_cb, &x->rm, NULL, NULL), COIO_OK);
}

/* Removed after its call was queued but before it ran: it is not called (its drop ran). */
static void test_removed_before_queued_call_runs(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGWINCH};
    raise_then_remove x = {.signum = SIGWINCH, .rm = {.loop = loop, .signum = SIGWINCH}};
    assert_status(coio_add_signal_handler(loop, SIGWINCH, on_signal, &p, probe_drop), COIO_OK);
    assert_status(coio_call_soon(loop, raise_and_schedule_removal, &x, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop); /* raises; the removal is scheduled for the next pass */
    assert_int_equal(p.calls, 0);
    /* Next pass: the poll queues the signal's call after the removal, which runs first. */
    tu_run_one_pass(loop);
    assert_int_equal(x.rm.removed, 1);
    assert_int_equal(p.drops, 1);
    assert_int_equal(p.calls, 0);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 0);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
}

/* ---- loop close ------------------------------------------------------------------------- */

typedef struct readd {
    coio_loop *loop;
    int drops;
    int status; /* what adding a handler from the drop returned */
} readd;

static void nop(void *arg) {
    (void)arg;
}

static void readd_drop(void *arg) {
    readd *r = arg;
    r->drops++;
    r->status = coio_add_signal_handler(r->loop, SIGUSR2, nop, NULL, NULL);
}

static void test_close_removes_every_handler(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe a = {.loop = loop, .signum = SIGUSR1};
    sigprobe b = {.loop = loop, .signum = SIGWINCH};
    readd r = {.loop = loop};
    assert_status(coio_add_signal_handler(loop, SIGUSR1, on_signal, &a, probe_drop), COIO_OK);
    assert_status(coio_add_signal_handler(loop, SIGWINCH, on_signal, &b, probe_drop), COIO_OK);
    assert_status(coio_add_signal_handler(loop, SIGURG, nop, &r, readd_drop), COIO_OK);
    assert_int_equal(raise(SIGWINCH), 0); /* pending, never polled: not called */
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
    assert_int_equal(r.drops, 1);
    assert_status(r.status, COIO_ECLOSED);
    assert_int_equal(b.calls, 0);
    assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
    assert_ptr_equal(disposition(SIGWINCH), SIG_DFL);
    assert_ptr_equal(disposition(SIGURG), SIG_DFL);
    assert_ptr_equal(disposition(SIGUSR2), SIG_DFL);
    /* A closed loop: ECLOSED, the caller keeps arg. */
    sigprobe c = {.loop = loop, .signum = SIGUSR1};
    assert_status(coio_add_signal_handler(loop, SIGUSR1, on_signal, &c, probe_drop), COIO_ECLOSED);
    assert_status(coio_remove_signal_handler(loop, SIGUSR1), COIO_ECLOSED);
    assert_status(coio_add_signal_handler(loop, 0, on_signal, &c, probe_drop), COIO_EINVAL);
    assert_int_equal(c.drops, 0);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);

    /* The signals are free again: another loop takes them. */
    coio_loop *other = tu_loop_real();
    sigprobe d = {.loop = other, .signum = SIGUSR1};
    assert_status(coio_add_signal_handler(other, SIGUSR1, on_signal, &d, probe_drop), COIO_OK);
    assert_int_equal(raise(SIGUSR1), 0);
    tu_run_one_pass(other);
    assert_int_equal(d.calls, 1);
    assert_int_equal(a.calls, 0);
    tu_finish(other);
    assert_int_equal(d.drops, 1);
    assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
}

/* Released without an explicit close: the same. */
static void test_release_removes_handlers(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGUSR1};
    assert_status(coio_add_signal_handler(loop, SIGUSR1, on_signal, &p, probe_drop), COIO_OK);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_int_equal(p.drops, 1);
    assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_two_loops_ebusy(void **state) {
    (void)state;
    coio_loop *l1 = tu_loop_real(), *l2 = tu_loop_real();
    sigprobe a = {.loop = l1, .signum = SIGUSR1};
    sigprobe b = {.loop = l2, .signum = SIGUSR1};
    sigprobe c = {.loop = l2, .signum = SIGUSR2};
    assert_status(coio_add_signal_handler(l1, SIGUSR1, on_signal, &a, probe_drop), COIO_OK);
    assert_status(coio_add_signal_handler(l2, SIGUSR1, on_signal, &b, probe_drop), COIO_EBUSY);
    assert_int_equal(b.drops, 0); /* the caller keeps arg */
    assert_int_equal(coio_remove_signal_handler(l2, SIGUSR1), 0);
    assert_int_equal(a.drops, 0);
    /* Other signals are independent. */
    assert_status(coio_add_signal_handler(l2, SIGUSR2, on_signal, &c, probe_drop), COIO_OK);
    assert_status(coio_add_signal_handler(l1, SIGUSR2, on_signal, &a, probe_drop), COIO_EBUSY);
    assert_int_equal(a.drops, 0);
    /* Once l1 lets go, l2 may take it; only l2 sees it then. */
    assert_int_equal(coio_remove_signal_handler(l1, SIGUSR1), 1);
    assert_int_equal(a.drops, 1);
    assert_status(coio_add_signal_handler(l2, SIGUSR1, on_signal, &b, probe_drop), COIO_OK);
    assert_int_equal(raise(SIGUSR1), 0);
    tu_run_one_pass(l1);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 0);
    tu_run_one_pass(l2);
    assert_int_equal(b.calls, 1);
    tu_finish(l1);
    tu_finish(l2);
    assert_int_equal(a.drops, 1);
    assert_int_equal(b.drops, 1);
    assert_int_equal(c.drops, 1);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop};
    assert_status(coio_add_signal_handler(NULL, SIGUSR1, on_signal, &p, probe_drop), COIO_EINVAL);
    assert_status(coio_add_signal_handler(loop, SIGUSR1, NULL, &p, probe_drop), COIO_EINVAL);
    const int bad[] = {0, -1, NSIG, NSIG + 1, SIGKILL, SIGSTOP};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_status(coio_add_signal_handler(loop, bad[i], on_signal, &p, probe_drop),
                      COIO_EINVAL);
#ifdef __GLIBC__
    /* glibc keeps the first real-time signals for itself (not in signal.valid_signals()). */
    if (SIGRTMIN > 32) {
        assert_status(coio_add_signal_handler(loop, 32, on_signal, &p, probe_drop), COIO_EINVAL);
        assert_status(coio_remove_signal_handler(loop, 32), COIO_EINVAL);
    }
#endif
    assert_int_equal(p.drops, 0);
    assert_ptr_equal(disposition(SIGKILL), SIG_DFL);
    assert_status(coio_remove_signal_handler(NULL, SIGUSR1), COIO_EINVAL);
    assert_status(coio_remove_signal_handler(loop, 0), COIO_EINVAL);
    assert_status(coio_remove_signal_handler(loop, -3), COIO_EINVAL);
    assert_status(coio_remove_signal_handler(loop, NSIG), COIO_EINVAL);
    /* A real-time signal is a valid handler target. */
    assert_status(coio_add_signal_handler(loop, SIGRTMIN, on_signal, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_remove_signal_handler(loop, SIGRTMIN), 1);
    assert_int_equal(p.drops, 1);
    tu_finish(loop);
}

typedef struct thread_call {
    coio_loop *loop;
    sigprobe *probe;
    int add_status;
    int remove_status;
} thread_call;

static void *call_from_thread(void *arg) {
    thread_call *t = arg;
    t->add_status = coio_add_signal_handler(t->loop, SIGUSR1, on_signal, t->probe, probe_drop);
    t->remove_status = coio_remove_signal_handler(t->loop, SIGUSR2);
    return NULL;
}

/* asyncio: main thread only (set_wakeup_fd raises in another thread). */
static void test_other_thread_ethread(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    sigprobe p = {.loop = loop, .signum = SIGUSR1};
    sigprobe q = {.loop = loop, .signum = SIGUSR2};
    assert_status(coio_add_signal_handler(loop, SIGUSR2, on_signal, &q, probe_drop), COIO_OK);
    thread_call t = {.loop = loop, .probe = &p};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call_from_thread, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_status(t.add_status, COIO_ETHREAD);
    assert_status(t.remove_status, COIO_ETHREAD);
    assert_int_equal(p.drops, 0);
    assert_int_equal(q.drops, 0);
    assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
    assert_ptr_not_equal(disposition(SIGUSR2), SIG_DFL);
    tu_finish(loop);
    assert_int_equal(q.drops, 1);
    assert_ptr_equal(disposition(SIGUSR2), SIG_DFL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raise_before_run_runs_in_next_pass),
        cmocka_unit_test(test_raise_inside_callback_goes_through_ready_queue),
        cmocka_unit_test(test_arrivals_before_the_call_coalesce),
        cmocka_unit_test(test_raise_own_signal_inside_handler_calls_again),
        cmocka_unit_test(test_signal_wakes_a_blocked_loop),
        cmocka_unit_test(test_add_replaces_the_handler),
        cmocka_unit_test(test_replaced_before_poll_new_handler_gets_arrival),
        cmocka_unit_test(test_remove_restores_sig_dfl),
        cmocka_unit_test(test_remove_inside_own_callback),
        cmocka_unit_test(test_replace_inside_own_callback),
        cmocka_unit_test(test_removed_before_queued_call_runs),
        cmocka_unit_test(test_close_removes_every_handler),
        cmocka_unit_test(test_release_removes_handlers),
        cmocka_unit_test(test_two_loops_ebusy),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_other_thread_ethread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
