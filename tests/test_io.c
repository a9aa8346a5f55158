/* File descriptor readiness: coio_add_reader / coio_add_writer / coio_remove_* (asyncio's
 * add_reader & co.), and the loop's promise to poll I/O at least every millisecond even while
 * callbacks are always ready. */
#include "testutil.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fdprobe {
    coio_loop *loop;
    int fd;
    int calls;
    int drops;
    int drops_seen_in_call; /* drops observed right after removing itself */
    int stop_after;         /* stop the loop at this many calls (0: never) */
    int remove_self;        /* remove itself at the first call */
} fdprobe;

static void on_ready(void *arg) {
    fdprobe *p = arg;
    p->calls++;
    if (p->remove_self) {
        assert_int_equal(coio_remove_reader(p->loop, p->fd), 1);
        p->drops_seen_in_call = p->drops; /* the drop must wait for this call to return */
    }
    if (p->stop_after && p->calls == p->stop_after) coio_loop_stop(p->loop);
}

static void probe_drop(void *arg) {
    ((fdprobe *)arg)->drops++;
}

static void make_pipe(int fds[2]) {
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
}

static void test_reader_level_triggered_until_removed(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int fds[2];
    make_pipe(fds);
    fdprobe p = {.loop = loop, .fd = fds[0]};
    assert_int_equal(coio_add_reader(loop, fds[0], on_ready, &p, probe_drop), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 0); /* nothing to read yet */
    assert_int_equal(write(fds[1], "x", 1), 1);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    tu_run_one_pass(loop); /* not drained: level triggered, it fires again */
    assert_int_equal(p.calls, 2);
    assert_int_equal(coio_remove_reader(loop, fds[0]), 1);
    assert_int_equal(p.drops, 1);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 2);
    assert_int_equal(coio_remove_reader(loop, fds[0]), 0);
    assert_int_equal(p.drops, 1);
    tu_finish(loop);
    close(fds[0]);
    close(fds[1]);
}

static void test_writer_runs_when_writable(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int fds[2];
    make_pipe(fds);
    fdprobe p = {.loop = loop, .fd = fds[1], .stop_after = 1};
    assert_int_equal(coio_add_writer(loop, fds[1], on_ready, &p, probe_drop), COIO_OK);
    assert_int_equal(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(p.calls, 1);
    assert_int_equal(coio_remove_writer(loop, fds[1]), 1);
    assert_int_equal(p.drops, 1);
    tu_finish(loop);
    close(fds[0]);
    close(fds[1]);
}

static void test_add_reader_replaces(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int fds[2];
    make_pipe(fds);
    fdprobe a = {.loop = loop, .fd = fds[0]}, b = {.loop = loop, .fd = fds[0]};
    assert_int_equal(coio_add_reader(loop, fds[0], on_ready, &a, probe_drop), COIO_OK);
    assert_int_equal(coio_add_reader(loop, fds[0], on_ready, &b, probe_drop), COIO_OK);
    assert_int_equal(a.drops, 1); /* replaced: its registration ended */
    assert_int_equal(write(fds[1], "x", 1), 1);
    tu_run_one_pass(loop);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    tu_finish(loop); /* closing ends the remaining registration */
    assert_int_equal(b.drops, 1);
    assert_int_equal(a.drops, 1);
    close(fds[0]);
    close(fds[1]);
}

static void test_reader_and_writer_share_an_fd(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    fdprobe r = {.loop = loop, .fd = sv[0]}, w = {.loop = loop, .fd = sv[0]};
    assert_int_equal(coio_add_reader(loop, sv[0], on_ready, &r, probe_drop), COIO_OK);
    assert_int_equal(coio_add_writer(loop, sv[0], on_ready, &w, probe_drop), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(r.calls, 0);
    assert_int_equal(w.calls, 1);
    assert_int_equal(coio_remove_writer(loop, sv[0]), 1); /* the reader stays */
    assert_int_equal(write(sv[1], "x", 1), 1);
    tu_run_one_pass(loop);
    assert_int_equal(r.calls, 1);
    assert_int_equal(w.calls, 1);
    assert_int_equal(coio_remove_reader(loop, sv[0]), 1);
    assert_int_equal(r.drops + w.drops, 2);
    tu_finish(loop);
    close(sv[0]);
    close(sv[1]);
}

static void test_remove_self_inside_callback_defers_drop(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int fds[2];
    make_pipe(fds);
    fdprobe p = {.loop = loop, .fd = fds[0], .remove_self = 1, .drops_seen_in_call = -1};
    assert_int_equal(coio_add_reader(loop, fds[0], on_ready, &p, probe_drop), COIO_OK);
    assert_int_equal(write(fds[1], "x", 1), 1);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.drops_seen_in_call, 0); /* arg was still valid inside the callback */
    assert_int_equal(p.drops, 1);
    tu_run_one_pass(loop);
    assert_int_equal(p.calls, 1);
    tu_finish(loop);
    assert_int_equal(p.drops, 1);
    close(fds[0]);
    close(fds[1]);
}

static void test_close_loop_ends_fd_registrations(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int fds[2];
    make_pipe(fds);
    fdprobe r = {.loop = loop, .fd = fds[0]}, w = {.loop = loop, .fd = fds[1]};
    assert_int_equal(coio_add_reader(loop, fds[0], on_ready, &r, probe_drop), COIO_OK);
    assert_int_equal(coio_add_writer(loop, fds[1], on_ready, &w, probe_drop), COIO_OK);
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    assert_int_equal(r.drops, 1);
    assert_int_equal(w.drops, 1);
    assert_int_equal(coio_remove_reader(loop, fds[0]), COIO_ECLOSED);
    fdprobe late = {0};
    assert_int_equal(coio_add_reader(loop, fds[0], on_ready, &late, probe_drop), COIO_ECLOSED);
    assert_int_equal(late.drops, 0);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
    assert_int_equal(r.drops + w.drops, 2);
    close(fds[0]);
    close(fds[1]);
}

static void test_bad_fd_arguments(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int fds[2];
    make_pipe(fds);
    close(fds[1]);
    fdprobe p = {0};
    assert_int_equal(coio_add_reader(loop, -1, on_ready, &p, probe_drop), COIO_EINVAL);
    assert_int_equal(coio_add_writer(loop, fds[1], on_ready, &p, probe_drop), COIO_EINVAL);
    assert_int_equal(coio_add_reader(loop, fds[0], NULL, &p, probe_drop), COIO_EINVAL);
    assert_int_equal(coio_add_reader(NULL, fds[0], on_ready, &p, probe_drop), COIO_EINVAL);
    assert_int_equal(coio_remove_reader(loop, -1), COIO_EINVAL);
    assert_int_equal(coio_remove_writer(NULL, fds[0]), COIO_EINVAL);
    assert_int_equal(coio_remove_writer(loop, fds[0]), 0); /* never added */
    assert_int_equal(p.drops, 0);                          /* failed calls keep arg */
    tu_finish(loop);
    close(fds[0]);
}

/* The endless chain: every callback schedules the next, so the ready queue is never empty. */
typedef struct chain {
    coio_loop *loop;
    long steps;
    int stopped;
} chain;

static void chain_step(void *arg) {
    chain *c = arg;
    c->steps++;
    if (!c->stopped) assert_int_equal(coio_call_soon(c->loop, chain_step, c, NULL, NULL), COIO_OK);
}

typedef struct chain_reader {
    chain *c;
    int fd;
    int calls;
} chain_reader;

static void stop_chain(void *arg) {
    chain_reader *r = arg;
    r->calls++;
    r->c->stopped = 1;
    assert_int_equal(coio_remove_reader(r->c->loop, r->fd), 1);
    assert_int_equal(coio_loop_stop(r->c->loop), COIO_OK);
}

static void check_fd_runs_under_endless_chain(coio_loop *loop) {
    int fds[2];
    make_pipe(fds);
    chain c = {.loop = loop};
    chain_reader r = {.c = &c, .fd = fds[0]};
    assert_int_equal(coio_add_reader(loop, fds[0], stop_chain, &r, NULL), COIO_OK);
    assert_int_equal(coio_call_soon(loop, chain_step, &c, NULL, NULL), COIO_OK);
    assert_int_equal(write(fds[1], "x", 1), 1);
    /* Returns only if the reader ran: the chain alone never empties the ready queue. */
    assert_int_equal(coio_loop_run_forever(loop), COIO_OK);
    assert_int_equal(r.calls, 1);
    assert_true(c.steps >= 1);
    tu_finish(loop);
    close(fds[0]);
    close(fds[1]);
}

static void test_fd_callback_runs_under_endless_call_soon_chain(void **state) {
    (void)state;
    check_fd_runs_under_endless_chain(tu_loop_real());
}

static void test_fd_callback_runs_under_endless_chain_virtual_time(void **state) {
    (void)state;
    check_fd_runs_under_endless_chain(tu_loop_virtual());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_level_triggered_until_removed),
        cmocka_unit_test(test_writer_runs_when_writable),
        cmocka_unit_test(test_add_reader_replaces),
        cmocka_unit_test(test_reader_and_writer_share_an_fd),
        cmocka_unit_test(test_remove_self_inside_callback_defers_drop),
        cmocka_unit_test(test_close_loop_ends_fd_registrations),
        cmocka_unit_test(test_bad_fd_arguments),
        cmocka_unit_test(test_fd_callback_runs_under_endless_call_soon_chain),
        cmocka_unit_test(test_fd_callback_runs_under_endless_chain_virtual_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
