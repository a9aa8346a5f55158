/* Readiness and socket futures (asyncio's loop.sock_*), their coroutine forms (coio_co_*),
 * and how they share fds with coio_add_reader / coio_add_writer.
 *
 * Sockets are AF_UNIX socketpairs and loopback TCP (127.0.0.1, port 0).  Every wait is for
 * something the test itself made happen (data written, a peer closed), so runs are
 * deterministic; nothing sleeps.
 *
 * EINTR: non-blocking socket calls do not sleep, so a signal cannot interrupt them and a test
 * cannot provoke a real EINTR.  The retry paths are tested by interposing recv, send, accept4
 * and connect in this executable (the library's calls bind to these definitions): when armed
 * they fail with EINTR a given number of times (connect: after really connecting, as an
 * interrupted connect goes on in the kernel), then make the real system call. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- EINTR interposition ------------------------------------------------------------------ */

static int eintr_recv, eintr_send, eintr_accept, eintr_connect;
static int calls_recv; /* recv calls (interrupted ones included) */

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    calls_recv++;
    if (eintr_recv > 0) {
        eintr_recv--;
        errno = EINTR;
        return -1;
    }
    return syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
    if (eintr_send > 0) {
        eintr_send--;
        errno = EINTR;
        return -1;
    }
    return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

/* With _GNU_SOURCE glibc declares accept4's and connect's address as a transparent union, so
 * these definitions are not ISO-compatible with the declarations (-Wpedantic); the ABI is the
 * same (the union is passed as the pointer). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags) {
    if (eintr_accept > 0) {
        eintr_accept--;
        errno = EINTR;
        return -1;
    }
    return (int)syscall(SYS_accept4, fd, addr, addrlen, flags);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    int rc = (int)syscall(SYS_connect, fd, addr, len);
    if (eintr_connect > 0 && (rc == 0 || errno == EINPROGRESS)) {
        eintr_connect--;
        errno = EINTR;
        return -1;
    }
    return rc;
}
#pragma GCC diagnostic pop

/* ---- helpers ------------------------------------------------------------------------------ */

static void make_pair(int sv[2]) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void close_pair(int sv[2]) {
    close(sv[0]);
    close(sv[1]);
}

/* A non-blocking TCP listener on 127.0.0.1 (ephemeral port, in *addr). */
static int make_listener(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

static int tcp_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    return fd;
}

/* Runs passes until f is done (at most `limit`). */
static void run_until_done(coio_loop *loop, coio_future *f, int limit) {
    for (int i = 0; i < limit && !coio_future_done(f); i++)
        tu_run_one_pass(loop);
    assert_true(coio_future_done(f));
}

static const coio_bytes *bytes_of(coio_future *f) {
    void *v = NULL;
    assert_status(coio_future_result(f, &v), COIO_OK);
    assert_non_null(v);
    return v;
}

static size_t size_of(coio_future *f) {
    size_t n = 12345;
    assert_status(coio_future_result_size(f, &n), COIO_OK);
    return n;
}

static int errno_of(coio_future *f) {
    int e = -1;
    assert_status(coio_future_errno(f, &e), COIO_OK);
    return e;
}

static void put(int fd, const char *s) {
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static unsigned char pattern(size_t i) {
    return (unsigned char)((i * 7 + i / 251) % 251);
}

/* ---- readiness futures -------------------------------------------------------------------- */

static void test_wait_readable_and_writable(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    coio_future *r = NULL, *w = NULL;
    assert_status(coio_wait_readable(loop, sv[0], &r), COIO_OK);
    assert_status(coio_wait_writable(loop, sv[0], &w), COIO_OK);
    assert_false(coio_future_done(r));
    assert_false(coio_future_done(w)); /* futures: completed by the poll, never at once */
    tu_run_one_pass(loop);
    assert_true(coio_future_done(w));
    assert_false(coio_future_done(r));
    void *v = (void *)1;
    assert_status(coio_future_result(w, &v), COIO_OK);
    assert_null(v);
    put(sv[1], "x");
    tu_run_one_pass(loop);
    assert_true(coio_future_done(r));
    assert_status(coio_future_result(r, NULL), COIO_OK);
    int e = -1;
    assert_status(coio_future_errno(r, &e), COIO_OK);
    assert_int_equal(e, 0); /* not a COIO_ESYS failure */
    coio_future_release(r);
    coio_future_release(w);
    /* A readiness wait works on any descriptor, blocking or not (a pipe here). */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_status(coio_wait_readable(loop, p[0], &r), COIO_OK);
    put(p[1], "y");
    run_until_done(loop, r, 5);
    coio_future_release(r);
    close(p[0]);
    close(p[1]);
    tu_finish(loop);
    close_pair(sv);
}

/* ---- recv / recv_into --------------------------------------------------------------------- */

static void test_recv_at_once_and_later(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    put(sv[1], "hello");
    coio_future *f = NULL;
    assert_status(coio_sock_recv(loop, sv[0], 5, &f), COIO_OK);
    assert_true(coio_future_done(f)); /* the call succeeded at once: asyncio 3.13 */
    const coio_bytes *b = bytes_of(f);
    assert_int_equal(b->len, 5);
    assert_memory_equal(b->data, "hello", 5);
    coio_future_release(f);

    assert_status(coio_sock_recv(loop, sv[0], 100, &f), COIO_OK);
    assert_false(coio_future_done(f));
    tu_run_one_pass(loop);
    assert_false(coio_future_done(f));
    put(sv[1], "world");
    tu_run_one_pass(loop);
    assert_true(coio_future_done(f));
    b = bytes_of(f);
    assert_int_equal(b->len, 5);
    assert_memory_equal(b->data, "world", 5);
    /* The value can be taken: then it is the caller's to free(). */
    void *v = NULL;
    coio_free_fn drop = NULL;
    assert_status(coio_future_take_result(f, &v, &drop), COIO_OK);
    assert_ptr_equal(drop, free);
    coio_future_release(f);
    assert_memory_equal(((coio_bytes *)v)->data, "world", 5);
    free(v);

    /* End of stream: an empty result. */
    assert_status(coio_sock_recv(loop, sv[0], 10, &f), COIO_OK);
    close(sv[1]);
    run_until_done(loop, f, 5);
    assert_int_equal(bytes_of(f)->len, 0);
    coio_future_release(f);
    assert_status(coio_sock_recv(loop, sv[0], 10, &f), COIO_OK);
    assert_true(coio_future_done(f)); /* still at end of stream: at once */
    assert_int_equal(bytes_of(f)->len, 0);
    coio_future_release(f);
    tu_finish(loop);
    close(sv[0]);
}

static void test_recv_into_and_result_size(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    char buf[8];
    coio_future *f = NULL;
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    size_t n = 99;
    assert_status(coio_future_result_size(f, &n), COIO_ESTATE);
    assert_int_equal(n, 99);
    put(sv[1], "abcdefghij");
    run_until_done(loop, f, 5);
    assert_int_equal(size_of(f), 8); /* a full read */
    assert_memory_equal(buf, "abcdefgh", 8);
    void *v = (void *)1;
    assert_status(coio_future_result(f, &v), COIO_OK);
    assert_null(v);
    coio_future_release(f);
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_true(coio_future_done(f)); /* after a full read: tried at once */
    assert_int_equal(size_of(f), 2);
    assert_memory_equal(buf, "ij", 2);

    /* result_size follows a future that shares the result (shield). */
    coio_future *s = NULL;
    assert_status(coio_shield(f, &s), COIO_OK);
    run_until_done(loop, s, 5);
    assert_int_equal(size_of(s), 2);
    coio_future_release(s);
    coio_future_release(f);

    /* Not a count: EINVAL; cancelled: ECANCELLED. */
    assert_status(coio_sock_recv(loop, sv[0], 4, &f), COIO_OK);
    put(sv[1], "z");
    run_until_done(loop, f, 5);
    assert_status(coio_future_result_size(f, &n), COIO_EINVAL);
    coio_future_release(f);
    assert_status(coio_future_new(loop, &f), COIO_OK);
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_status(coio_future_result_size(f, &n), COIO_EINVAL);
    coio_future_release(f);
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_int_equal(coio_future_cancel(f, NULL), 1);
    assert_status(coio_future_result_size(f, &n), COIO_ECANCELLED);
    coio_future_release(f);
    tu_finish(loop);
    close_pair(sv);
}

/* The drained hint: after a short read the next read of the same pass waits for the poll
 * instead of trying (which would fail with EAGAIN in a request/response exchange). */
typedef struct hint {
    coio_loop *loop;
    int sv[2];
    char buf[64];
    coio_future *next;
    int recvs_before;
    int recvs_at_start;
    int close_first;
} hint;

/* Runs in the pass whose poll completed the first read (short): writes more, reads again. */
static void on_short_read(coio_future *f, void *arg) {
    hint *h = arg;
    assert_int_equal(size_of(f), 3);
    if (h->close_first)
        close(h->sv[0]); /* a stale number: the caller's bug, not a crash */
    else
        put(h->sv[1], "def"); /* arrives after the short read */
    h->recvs_before = calls_recv;
    assert_status(coio_sock_recv_into(h->loop, h->sv[0], h->buf, sizeof h->buf, &h->next), COIO_OK);
    h->recvs_at_start = calls_recv;
}

static void test_short_read_waits_for_the_poll(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    hint h = {.loop = loop};
    make_pair(h.sv);
    coio_future *f = NULL;
    assert_status(coio_sock_recv_into(loop, h.sv[0], h.buf, sizeof h.buf, &f), COIO_OK);
    assert_status(coio_future_add_done_callback(f, on_short_read, &h, NULL), COIO_OK);
    put(h.sv[1], "abc");
    tu_run_one_pass(loop);
    assert_non_null(h.next);
    assert_int_equal(h.recvs_at_start, h.recvs_before); /* no attempt */
    assert_false(coio_future_done(h.next));
    tu_run_one_pass(loop); /* level triggered: the poll reports what is there */
    assert_true(coio_future_done(h.next));
    assert_int_equal(size_of(h.next), 3);
    assert_memory_equal(h.buf, "def", 3);
    assert_int_equal(calls_recv, h.recvs_before + 1); /* exactly one recv, no EAGAIN */
    coio_future_release(h.next);
    coio_future_release(f);
    /* After the next poll the hint is not used: the call tries at once. */
    tu_run_one_pass(loop);
    put(h.sv[1], "ghi");
    assert_status(coio_sock_recv_into(loop, h.sv[0], h.buf, sizeof h.buf, &f), COIO_OK);
    assert_true(coio_future_done(f));
    assert_int_equal(size_of(f), 3);
    coio_future_release(f);
    tu_finish(loop);
    close_pair(h.sv);
}

/* The same, but the fd was closed between the short read and the next read (use after close):
 * the wait was armed without the kernel, and the check of unverified watches (after 10 to
 * 20 ms) finds the fd closed and fails the operation with EBADF. */
static void test_closed_after_short_read_fails_ebadf(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    hint h = {.loop = loop, .close_first = 1};
    make_pair(h.sv);
    coio_future *f = NULL;
    assert_status(coio_sock_recv_into(loop, h.sv[0], h.buf, sizeof h.buf, &f), COIO_OK);
    assert_status(coio_future_add_done_callback(f, on_short_read, &h, NULL), COIO_OK);
    put(h.sv[1], "abc");
    tu_run_one_pass(loop);
    assert_non_null(h.next);
    assert_false(coio_future_done(h.next));
    double t0 = tu_wall_now();
    assert_status(coio_loop_run_until_complete(loop, h.next), COIO_EFAILED);
    assert_true(tu_wall_now() - t0 < 5.0);
    assert_int_equal(tu_error_code(h.next), COIO_ESYS);
    assert_int_equal(errno_of(h.next), EBADF);
    coio_future_release(h.next);
    coio_future_release(f);
    tu_finish(loop);
    close(h.sv[1]);
}

/* ---- sendall ------------------------------------------------------------------------------ */

typedef struct drain {
    coio_loop *loop;
    int fd;
    size_t got;
    size_t bad; /* bytes that did not match the pattern */
    size_t chunk;
    int calls;
} drain;

/* A slow reader: at most `chunk` bytes per pass, checking the pattern. */
static void on_drain(void *arg) {
    drain *d = arg;
    unsigned char buf[4096];
    size_t want = d->chunk < sizeof buf ? d->chunk : sizeof buf;
    ssize_t n = read(d->fd, buf, want);
    d->calls++;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] != pattern(d->got + (size_t)i)) d->bad++;
    if (n > 0) d->got += (size_t)n;
}

static void test_sendall_small_at_once(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    coio_future *f = NULL;
    assert_status(coio_sock_sendall(loop, sv[0], "ping", 4, &f), COIO_OK);
    assert_true(coio_future_done(f));
    assert_status(coio_future_result(f, NULL), COIO_OK);
    coio_future_release(f);
    assert_status(coio_sock_sendall(loop, sv[0], "", 0, &f), COIO_OK); /* nothing to send */
    assert_true(coio_future_done(f));
    coio_future_release(f);
    char buf[8];
    assert_int_equal(read(sv[1], buf, sizeof buf), 4);
    assert_memory_equal(buf, "ping", 4);
    tu_finish(loop);
    close_pair(sv);
}

/* Many MB to a slow reader: sendall meets EAGAIN again and again and continues partial
 * writes where they stopped. */
static void test_sendall_eagain_storm(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    size_t len = 8u << 20;
    unsigned char *big = malloc(len);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++)
        big[i] = pattern(i);
    coio_future *f = NULL;
    assert_status(coio_sock_sendall(loop, sv[0], big, len, &f), COIO_OK);
    assert_false(coio_future_done(f)); /* more than the socket buffer takes */
    drain d = {.loop = loop, .fd = sv[1], .chunk = 4096};
    assert_status(coio_add_reader(loop, sv[1], on_drain, &d, NULL), COIO_OK);
    for (int i = 0; i < 100000 && d.got < len; i++)
        tu_run_one_pass(loop);
    assert_int_equal(d.got, len);
    assert_int_equal(d.bad, 0);
    assert_true(coio_future_done(f));
    assert_status(coio_future_result(f, NULL), COIO_OK);
    assert_true(d.calls > 100); /* it did have to wait, many times */
    coio_future_release(f);
    assert_int_equal(coio_remove_reader(loop, sv[1]), 1);
    free(big);
    tu_finish(loop);
    close_pair(sv);
}

static void test_sendall_to_closed_peer_epipe(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    close(sv[1]);
    coio_future *f = NULL;
    /* No SIGPIPE (it would kill the test): MSG_NOSIGNAL. */
    assert_status(coio_sock_sendall(loop, sv[0], "x", 1, &f), COIO_OK);
    assert_true(coio_future_done(f));
    assert_status(coio_future_result(f, NULL), COIO_EFAILED);
    assert_int_equal(tu_error_code(f), COIO_ESYS);
    assert_string_equal(tu_error_message(f), strerror(EPIPE));
    assert_int_equal(errno_of(f), EPIPE);
    coio_future_release(f);
    tu_finish(loop);
    close(sv[0]);
}

/* A TCP peer that resets (SO_LINGER 0) while a large sendall is under way. */
static void test_sendall_peer_reset_midway(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    struct sockaddr_in addr;
    int lfd = make_listener(&addr);
    int cfd = tcp_socket();
    int small = 65536;
    assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    coio_future *cf = NULL, *af = NULL;
    assert_status(coio_sock_connect(loop, cfd, (struct sockaddr *)&addr, sizeof addr, &cf),
                  COIO_OK);
    assert_status(coio_sock_accept(loop, lfd, &af), COIO_OK);
    run_until_done(loop, cf, 100);
    run_until_done(loop, af, 100);
    assert_status(coio_future_result(cf, NULL), COIO_OK);
    void *v = NULL;
    assert_status(coio_future_result(af, &v), COIO_OK);
    int sfd = ((coio_accepted *)v)->fd;
    assert_int_equal(setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);

    size_t len = 32u << 20;
    unsigned char *big = calloc(1, len);
    assert_non_null(big);
    coio_future *f = NULL;
    assert_status(coio_sock_sendall(loop, cfd, big, len, &f), COIO_OK);
    tu_run_one_pass(loop);
    assert_false(coio_future_done(f));
    struct linger lg = {1, 0};
    assert_int_equal(setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    coio_future_release(af); /* the future owned the accepted fd: closing it sends RST */
    run_until_done(loop, f, 100);
    assert_status(coio_future_result(f, NULL), COIO_EFAILED);
    assert_int_equal(tu_error_code(f), COIO_ESYS);
    int e = errno_of(f);
    assert_true(e == ECONNRESET || e == EPIPE);
    coio_future_release(f);
    coio_future_release(cf);
    free(big);
    tu_finish(loop);
    close(cfd);
    close(lfd);
}

/* ---- accept / connect --------------------------------------------------------------------- */

static void test_accept_and_connect(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    struct sockaddr_in addr;
    int lfd = make_listener(&addr);
    coio_future *af = NULL, *cf = NULL;
    assert_status(coio_sock_accept(loop, lfd, &af), COIO_OK);
    assert_false(coio_future_done(af));
    int cfd = tcp_socket();
    assert_status(coio_sock_connect(loop, cfd, (struct sockaddr *)&addr, sizeof addr, &cf),
                  COIO_OK);
    memset(&addr, 0xff, sizeof addr); /* the address was copied (used during the call) */
    run_until_done(loop, af, 100);
    run_until_done(loop, cf, 100);
    assert_status(coio_future_result(cf, NULL), COIO_OK);
    void *v = NULL;
    assert_status(coio_future_result(af, &v), COIO_OK);
    const coio_accepted *a = v;
    int sfd = a->fd;
    assert_true(sfd >= 0);
    assert_int_equal(a->addrlen, sizeof(struct sockaddr_in));
    const struct sockaddr_in *peer = (const struct sockaddr_in *)&a->addr;
    assert_int_equal(peer->sin_family, AF_INET);
    assert_int_equal(ntohl(peer->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_true(fcntl(sfd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(sfd, F_GETFD) & FD_CLOEXEC);

    /* Through the new connection, both ways. */
    coio_future *s = NULL, *r = NULL;
    assert_status(coio_sock_sendall(loop, cfd, "hi", 2, &s), COIO_OK);
    assert_status(coio_sock_recv(loop, sfd, 16, &r), COIO_OK);
    run_until_done(loop, r, 10);
    assert_int_equal(bytes_of(r)->len, 2);
    coio_future_release(s);
    coio_future_release(r);
    coio_future_release(cf);

    /* The future owns the accepted fd: releasing it closes it. */
    coio_future_release(af);
    assert_int_equal(fcntl(sfd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);

    /* take_result keeps it open: then it is the caller's. */
    socklen_t alen = sizeof addr;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
    int cfd2 = tcp_socket();
    assert_status(coio_sock_connect(loop, cfd2, (struct sockaddr *)&addr, sizeof addr, &cf),
                  COIO_OK);
    assert_status(coio_sock_accept(loop, lfd, &af), COIO_OK);
    run_until_done(loop, af, 100);
    coio_free_fn drop = NULL;
    assert_status(coio_future_take_result(af, &v, &drop), COIO_OK);
    coio_future_release(af);
    a = v;
    assert_true(fcntl(a->fd, F_GETFD) != -1);
    close(a->fd);
    free(v);
    run_until_done(loop, cf, 100);
    coio_future_release(cf);
    tu_finish(loop);
    close(cfd);
    close(cfd2);
    close(lfd);
}

static void test_connect_refused(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    struct sockaddr_in addr;
    int lfd = make_listener(&addr);
    close(lfd); /* nobody listens on that port any more */
    int cfd = tcp_socket();
    coio_future *f = NULL;
    assert_status(coio_sock_connect(loop, cfd, (struct sockaddr *)&addr, sizeof addr, &f), COIO_OK);
    run_until_done(loop, f, 100);
    assert_status(coio_future_result(f, NULL), COIO_EFAILED);
    assert_int_equal(tu_error_code(f), COIO_ESYS);
    assert_int_equal(errno_of(f), ECONNREFUSED);
    coio_future_release(f);
    tu_finish(loop);
    close(cfd);
}

/* ---- bad input ---------------------------------------------------------------------------- */

static void test_bad_arguments(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    char buf[4];
    coio_future *f = NULL;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    assert_status(coio_wait_readable(NULL, sv[0], &f), COIO_EINVAL);
    assert_status(coio_wait_readable(loop, sv[0], NULL), COIO_EINVAL);
    assert_status(coio_wait_writable(loop, -1, &f), COIO_EINVAL);
    assert_status(coio_sock_recv(NULL, sv[0], 4, &f), COIO_EINVAL);
    assert_status(coio_sock_recv(loop, sv[0], 0, &f), COIO_EINVAL);
    assert_status(coio_sock_recv(loop, sv[0], 4, NULL), COIO_EINVAL);
    /* n so large that no coio_bytes can hold it (its size would wrap): ENOMEM, nothing made */
    f = NULL;
    assert_status(coio_sock_recv(loop, sv[0], SIZE_MAX, &f), COIO_ENOMEM);
    assert_null(f);
    assert_status(coio_sock_recv(loop, -3, 4, &f), COIO_EINVAL);
    assert_status(coio_sock_recv_into(loop, sv[0], NULL, 4, &f), COIO_EINVAL);
    assert_status(coio_sock_recv_into(loop, sv[0], buf, 0, &f), COIO_EINVAL);
    assert_status(coio_sock_sendall(loop, sv[0], NULL, 4, &f), COIO_EINVAL);
    assert_status(coio_sock_accept(loop, -1, &f), COIO_EINVAL);
    assert_status(coio_sock_accept(NULL, sv[0], &f), COIO_EINVAL);
    assert_status(coio_sock_connect(loop, sv[0], NULL, sizeof addr, &f), COIO_EINVAL);
    assert_status(coio_sock_connect(loop, sv[0], (struct sockaddr *)&addr, 0, &f), COIO_EINVAL);
    assert_status(coio_future_errno(NULL, &(int){0}), COIO_EINVAL);
    assert_status(coio_future_result_size(NULL, &(size_t){0}), COIO_EINVAL);
    assert_status(coio_co_recv_into(sv[0], NULL, 4, &(size_t){0}, NULL), COIO_EINVAL);
    assert_status(coio_co_recv_into(sv[0], buf, 4, NULL, NULL), COIO_EINVAL);
    assert_status(coio_co_sendall(-1, buf, 4, NULL), COIO_EINVAL);
    assert_status(coio_co_accept(sv[0], NULL, NULL, NULL, NULL), COIO_EINVAL);
    assert_status(coio_co_connect(sv[0], NULL, 0, NULL), COIO_EINVAL);
    assert_status(coio_wait_readable(loop, sv[0], &f), COIO_OK);
    assert_status(coio_future_errno(f, NULL), COIO_EINVAL);
    assert_status(coio_future_errno(f, &(int){0}), COIO_ESTATE);
    coio_future_release(f);
    /* A closed loop. */
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_sock_recv(loop, sv[0], 4, &f), COIO_ECLOSED);
    assert_status(coio_wait_readable(loop, sv[0], &f), COIO_ECLOSED);
    assert_status(coio_loop_release(loop), COIO_OK);
    close_pair(sv);
}

static void test_closed_and_blocking_fds(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    char buf[4];
    coio_future *f = (coio_future *)1;
    /* Never open, or closed: EINVAL at the call. */
    int closed = dup(sv[0]);
    close(closed);
    assert_status(coio_sock_recv(loop, closed, 4, &f), COIO_EINVAL);
    assert_status(coio_sock_recv_into(loop, closed, buf, 4, &f), COIO_EINVAL);
    assert_status(coio_sock_sendall(loop, closed, "x", 1, &f), COIO_EINVAL);
    assert_status(coio_sock_accept(loop, closed, &f), COIO_EINVAL);
    assert_status(coio_wait_readable(loop, closed, &f), COIO_EINVAL);
    assert_status(coio_wait_writable(loop, 100000, &f), COIO_EINVAL);
    assert_ptr_equal(f, (coio_future *)1); /* outs untouched on failure */
    /* Used, then closed (what coio knew of it is stale): still EINVAL at the call. */
    int fd = dup(sv[0]);
    assert_status(coio_sock_sendall(loop, fd, "x", 1, &f), COIO_OK);
    coio_future_release(f);
    put(sv[1], "abcd");
    assert_status(coio_sock_recv_into(loop, fd, buf, 4, &f), COIO_OK); /* a full read */
    coio_future_release(f);
    close(fd);
    f = (coio_future *)1;
    assert_status(coio_sock_recv_into(loop, fd, buf, 4, &f), COIO_EINVAL);
    assert_status(coio_sock_sendall(loop, fd, "x", 1, &f), COIO_EINVAL);
    assert_ptr_equal(f, (coio_future *)1);

    /* Blocking sockets: EINVAL (asyncio: "the socket must be non-blocking"). */
    int bl[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, bl), 0);
    assert_status(coio_sock_recv(loop, bl[0], 4, &f), COIO_EINVAL);
    assert_status(coio_sock_recv_into(loop, bl[0], buf, 4, &f), COIO_EINVAL);
    assert_status(coio_sock_sendall(loop, bl[0], "x", 1, &f), COIO_EINVAL);
    assert_status(coio_sock_accept(loop, bl[0], &f), COIO_EINVAL);
    assert_status(coio_sock_connect(loop, bl[0], (struct sockaddr *)&(struct sockaddr_in){0},
                                    sizeof(struct sockaddr_in), &f),
                  COIO_EINVAL);
    close_pair(bl);

    /* Not a socket: the system call's error, through the future. */
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    assert_status(coio_sock_recv(loop, p[0], 4, &f), COIO_OK);
    assert_true(coio_future_done(f));
    assert_int_equal(tu_error_code(f), COIO_ESYS);
    assert_int_equal(errno_of(f), ENOTSOCK);
    coio_future_release(f);
    close(p[0]);
    close(p[1]);
    tu_finish(loop);
    close_pair(sv);
}

/* ---- one operation per side; add_reader / add_writer ------------------------------------- */

static void noop(void *arg) {
    (void)arg;
}
static void noop_done(coio_future *f, void *arg) {
    (void)f;
    (void)arg;
}

static void test_ebusy_rules(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    char buf[4];
    coio_future *r = NULL, *f = NULL, *w = NULL;
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &r), COIO_OK);
    assert_false(coio_future_done(r));
    /* A second read-side operation, of any kind: EBUSY. */
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_EBUSY);
    assert_status(coio_sock_recv(loop, sv[0], 4, &f), COIO_EBUSY);
    assert_status(coio_sock_accept(loop, sv[0], &f), COIO_EBUSY);
    assert_status(coio_wait_readable(loop, sv[0], &f), COIO_EBUSY);
    /* ... and a reader callback on that side. */
    int drops = 0;
    assert_status(coio_add_reader(loop, sv[0], noop, &drops, tu_count_drop), COIO_EBUSY);
    assert_int_equal(drops, 0);                           /* failed: the caller keeps arg */
    assert_int_equal(coio_remove_reader(loop, sv[0]), 0); /* no reader; the op stays */
    /* The write side is independent. */
    assert_status(coio_wait_writable(loop, sv[0], &w), COIO_OK);
    assert_status(coio_sock_sendall(loop, sv[0], "x", 1, &f), COIO_EBUSY);
    assert_status(coio_add_writer(loop, sv[0], noop, NULL, NULL), COIO_EBUSY);
    /* A done operation frees its side. */
    put(sv[1], "abcd");
    run_until_done(loop, r, 5);
    run_until_done(loop, w, 5);
    coio_future_release(r);
    coio_future_release(w);
    assert_status(coio_add_reader(loop, sv[0], noop, &drops, tu_count_drop), COIO_OK);
    /* A reader callback makes read operations EBUSY, the write side stays free. */
    assert_status(coio_sock_recv(loop, sv[0], 4, &f), COIO_EBUSY);
    assert_status(coio_wait_readable(loop, sv[0], &f), COIO_EBUSY);
    assert_status(coio_sock_sendall(loop, sv[0], "y", 1, &f), COIO_OK);
    coio_future_release(f);
    assert_int_equal(coio_remove_reader(loop, sv[0]), 1);
    assert_int_equal(drops, 1);
    assert_status(coio_sock_recv(loop, sv[0], 4, &f), COIO_OK);
    coio_future_release(f); /* releasing does not withdraw it (asyncio: it still runs) */
    assert_status(coio_wait_readable(loop, sv[0], &r), COIO_EBUSY);
    put(sv[1], "e");
    tu_run_one_pass(loop); /* it completes, unseen */
    /* A cancelled operation frees its side at once. */
    assert_status(coio_wait_readable(loop, sv[0], &r), COIO_OK);
    assert_int_equal(coio_future_cancel(r, "bye"), 1);
    assert_status(coio_wait_readable(loop, sv[0], &f), COIO_OK);
    coio_future_release(r);
    coio_future_release(f);
    tu_finish(loop);
    close_pair(sv);
}

/* ---- cancelling ----------------------------------------------------------------------------- */

static void test_cancel_pending_leaves_buffer_alone(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    char buf[8];
    memset(buf, '.', sizeof buf);
    coio_future *f = NULL;
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(coio_future_cancel(f, "stop"), 1);
    assert_true(coio_future_cancelled(f));
    put(sv[1], "data");
    for (int i = 0; i < 3; i++)
        tu_run_one_pass(loop);
    assert_memory_equal(buf, "........", 8); /* never touched */
    char got[8];
    assert_int_equal(recv(sv[0], got, sizeof got, 0), 4); /* the data is still queued */
    assert_int_equal(coio_future_cancel(f, NULL), 0);
    coio_future_release(f);

    /* A cancelled sendall: whatever the peer reads was sent before the cancel. */
    size_t len = 4u << 20;
    unsigned char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'a', len);
    assert_status(coio_sock_sendall(loop, sv[0], big, len, &f), COIO_OK);
    assert_false(coio_future_done(f));
    assert_int_equal(coio_future_cancel(f, NULL), 1);
    memset(big, 'b', len); /* the buffer is the caller's again */
    size_t total = 0, bs = 0;
    unsigned char rb[4096];
    for (int i = 0; i < 3; i++) {
        tu_run_one_pass(loop);
        ssize_t n;
        while ((n = recv(sv[1], rb, sizeof rb, MSG_DONTWAIT)) > 0) {
            total += (size_t)n;
            for (ssize_t k = 0; k < n; k++)
                bs += rb[k] != 'a';
        }
    }
    assert_true(total > 0 && total < len);
    assert_int_equal(bs, 0);
    coio_future_release(f);
    free(big);
    tu_finish(loop);
    close_pair(sv);
}

/* A timeout (virtual time): wait_for cancels the pending recv, which frees the side. */
static void test_wait_for_times_out_a_recv(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    int sv[2];
    make_pair(sv);
    char buf[8];
    coio_future *f = NULL, *w = NULL;
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_status(coio_wait_for(f, 5.0, &w), COIO_OK);
    double t0 = coio_loop_time(loop);
    assert_status(coio_loop_run_until_complete(loop, w), COIO_EFAILED);
    assert_int_equal(tu_error_code(w), COIO_ETIMEDOUT);
    assert_double_eq(coio_loop_time(loop) - t0, 5.0, 1e-9);
    assert_true(coio_future_cancelled(f));
    coio_future_release(w);
    coio_future_release(f);
    put(sv[1], "ok");
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_true(coio_future_done(f));
    assert_int_equal(size_of(f), 2);
    coio_future_release(f);
    tu_finish(loop);
    close_pair(sv);
}

/* ---- an fd closed and its number reused ------------------------------------------------------ */

typedef struct reuse {
    coio_loop *loop;
    int sv[2];
    char buf[8];
    coio_future *next;
} reuse;

/* Runs when the first read completed, in the same pass as its poll: closes the pair, makes a
 * new one (which gets the same numbers) and starts a read on it before the loop polls again. */
static void on_first_read(coio_future *f, void *arg) {
    (void)f;
    reuse *r = arg;
    int old = r->sv[0];
    close_pair(r->sv);
    make_pair(r->sv);
    assert_int_equal(r->sv[0], old);
    assert_status(coio_sock_recv_into(r->loop, r->sv[0], r->buf, sizeof r->buf, &r->next), COIO_OK);
    assert_false(coio_future_done(r->next));
}

static void test_fd_number_reused_between_operations(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    reuse r = {.loop = loop};
    make_pair(r.sv);
    coio_future *f = NULL;
    assert_status(coio_sock_recv_into(loop, r.sv[0], r.buf, sizeof r.buf, &f), COIO_OK);
    assert_status(coio_future_add_done_callback(f, on_first_read, &r, NULL), COIO_OK);
    put(r.sv[1], "1");
    tu_run_one_pass(loop);
    assert_non_null(r.next);
    coio_future_release(f);
    put(r.sv[1], "2"); /* into the new socket: the poll must see it */
    /* The read was re-armed without the kernel (the short read's hint, the same mask in the
     * same pass): the check of unverified watches registers the new socket 10 to 20 ms
     * later.  Without it this would wait for ever. */
    double t0 = tu_wall_now();
    assert_status(coio_loop_run_until_complete(loop, r.next), COIO_OK);
    assert_true(tu_wall_now() - t0 < 5.0);
    assert_int_equal(size_of(r.next), 1);
    assert_int_equal(r.buf[0], '2');
    coio_future_release(r.next);
    tu_finish(loop);
    close_pair(r.sv);
}

/* ---- an idle side is not polled ------------------------------------------------------------ */

/* A side that goes idle stays armed in libev until the next poll (so that the next operation
 * finds it armed); it must be stopped before that poll.  Otherwise an fd with data nobody
 * asked for would be reported at every poll, level triggered: the loop would spin instead of
 * sleeping until its timer. */

static void count_pass(void *arg, coio_loop *loop, size_t ready) {
    (void)loop;
    (void)ready;
    (*(int *)arg)++;
}

typedef struct idle_side {
    coio_loop *loop;
    int fd;
    int reader_calls;
    int add_rc;
} idle_side;

static void on_idle_reader(void *arg) {
    idle_side *s = arg;
    if (++s->reader_calls == 1) assert_int_equal(coio_remove_reader(s->loop, s->fd), 1);
}

/* From the read's completion, in the pass that parked the side: hand the fd to a reader. */
static void add_reader_on_done(coio_future *f, void *arg) {
    (void)f;
    idle_side *s = arg;
    s->add_rc = coio_add_reader(s->loop, s->fd, on_idle_reader, s, NULL);
}

static void test_idle_side_is_not_polled(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    char buf[1];
    coio_future *f = NULL;
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_false(coio_future_done(f)); /* armed */
    put(sv[1], "ab");
    tu_run_one_pass(loop); /* "a" read; "b" stays, and nobody waits any more */
    assert_true(coio_future_done(f));
    assert_int_equal(size_of(f), 1);
    coio_future_release(f);

    int passes = 0;
    coio_observer obs = COIO_OBSERVER_INIT;
    obs.pass_begin = count_pass;
    assert_status(coio_loop_add_observer(loop, &obs, &passes, NULL), COIO_OK);
    coio_future *nap = tu_sleep(loop, 0.03);
    assert_status(coio_loop_run_until_complete(loop, nap), COIO_OK);
    coio_future_release(nap);
    assert_in_range(passes, 1, 10); /* a spinning loop makes thousands */
    assert_int_equal(coio_loop_remove_observer(loop, &obs, &passes), 1);

    /* The same side taken by add_reader in the pass that made it idle: the reader is
     * registered and runs. */
    idle_side s = {.loop = loop, .fd = sv[0], .add_rc = -1};
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_true(coio_future_done(f)); /* "b" */
    coio_future_release(f);
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_status(coio_future_add_done_callback(f, add_reader_on_done, &s, NULL), COIO_OK);
    put(sv[1], "cd");
    tu_run_one_pass(loop); /* the read completes ("c"), its done callback adds the reader */
    assert_status(s.add_rc, COIO_OK);
    for (int i = 0; i < 10 && s.reader_calls == 0; i++)
        tu_run_one_pass(loop);
    assert_int_equal(s.reader_calls, 1); /* "d" is there */
    coio_future_release(f);
    tu_finish(loop);
    close_pair(sv);
}

/* ---- add_reader interplay ----------------------------------------------------------------- */

typedef struct selfrm {
    coio_loop *loop;
    int fd;
    int calls;
    int drops;
    int wait_rc;
    coio_future *wait;
} selfrm;

/* A reader that removes itself and hands the fd to a readiness future. */
static void on_selfrm(void *arg) {
    selfrm *s = arg;
    s->calls++;
    assert_int_equal(coio_remove_reader(s->loop, s->fd), 1);
    assert_int_equal(s->drops, 0); /* arg stays valid until the callback returns */
    s->wait_rc = coio_wait_readable(s->loop, s->fd, &s->wait);
}

static void selfrm_drop(void *arg) {
    ((selfrm *)arg)->drops++;
}

static void test_remove_reader_inside_callback_then_wait(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    selfrm s = {.loop = loop, .fd = sv[0], .wait_rc = 99};
    assert_status(coio_add_reader(loop, sv[0], on_selfrm, &s, selfrm_drop), COIO_OK);
    put(sv[1], "x");
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.drops, 1);
    assert_status(s.wait_rc, COIO_OK);
    run_until_done(loop, s.wait, 5); /* the data is still there: level triggered */
    tu_run_one_pass(loop);
    assert_int_equal(s.calls, 1);
    coio_future_release(s.wait);
    tu_finish(loop);
    close_pair(sv);
}

/* ---- loop close with operations in flight -------------------------------------------------- */

static void test_close_loop_with_operations_in_flight(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    struct sockaddr_in addr;
    int lfd = make_listener(&addr);
    size_t len = 4u << 20;
    unsigned char *big = calloc(1, len);
    assert_non_null(big);
    char buf[4];
    coio_future *fs[5];
    assert_status(coio_sock_recv(loop, sv[0], 64, &fs[0]), COIO_OK);
    assert_status(coio_sock_sendall(loop, sv[0], big, len, &fs[1]), COIO_OK);
    assert_status(coio_sock_accept(loop, lfd, &fs[2]), COIO_OK);
    assert_status(coio_wait_readable(loop, sv[1], &fs[3]), COIO_OK);
    assert_status(coio_sock_recv_into(loop, lfd, buf, 4, &fs[4]), COIO_EBUSY);
    fs[4] = NULL;
    int drops = 0;
    for (int i = 0; i < 4; i++) {
        assert_false(coio_future_done(fs[i]));
        assert_status(coio_future_add_done_callback(fs[i], noop_done, &drops, tu_count_drop),
                      COIO_OK);
    }
    coio_future_release(fs[3]); /* only the loop holds this one */
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(drops, 4); /* each registration ended once */
    for (int i = 0; i < 3; i++) {
        assert_true(coio_future_cancelled(fs[i]));
        coio_future_release(fs[i]);
    }
    assert_int_equal(drops, 4);
    assert_status(coio_loop_release(loop), COIO_OK);
    free(big);
    close_pair(sv);
    close(lfd);
}

/* ---- EINTR -------------------------------------------------------------------------------- */

static void test_eintr_is_retried(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    char buf[8];
    coio_future *f = NULL;
    put(sv[1], "abc");
    eintr_recv = 3;
    assert_status(coio_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), COIO_OK);
    assert_true(coio_future_done(f)); /* retried at once, not failed */
    assert_int_equal(size_of(f), 3);
    assert_int_equal(eintr_recv, 0);
    coio_future_release(f);
    /* Also in the poll's retry. */
    tu_run_one_pass(loop);
    assert_status(coio_sock_recv(loop, sv[0], 8, &f), COIO_OK);
    assert_false(coio_future_done(f));
    put(sv[1], "de");
    eintr_recv = 2;
    run_until_done(loop, f, 5);
    assert_int_equal(bytes_of(f)->len, 2);
    coio_future_release(f);
    eintr_send = 2;
    assert_status(coio_sock_sendall(loop, sv[0], "xyz", 3, &f), COIO_OK);
    assert_true(coio_future_done(f));
    assert_status(coio_future_result(f, NULL), COIO_OK);
    coio_future_release(f);
    assert_int_equal(eintr_send, 0);

    struct sockaddr_in addr;
    int lfd = make_listener(&addr);
    int cfd = tcp_socket();
    coio_future *af = NULL;
    eintr_connect = 1; /* an interrupted connect goes on: waited for, then SO_ERROR */
    assert_status(coio_sock_connect(loop, cfd, (struct sockaddr *)&addr, sizeof addr, &f), COIO_OK);
    assert_int_equal(eintr_connect, 0);
    eintr_accept = 2;
    assert_status(coio_sock_accept(loop, lfd, &af), COIO_OK);
    run_until_done(loop, f, 100);
    run_until_done(loop, af, 100);
    assert_status(coio_future_result(f, NULL), COIO_OK);
    assert_status(coio_future_result(af, NULL), COIO_OK);
    assert_int_equal(eintr_accept, 0);
    coio_future_release(f);
    coio_future_release(af);
    tu_finish(loop);
    close(cfd);
    close(lfd);
    close_pair(sv);
}

/* ---- coroutines ----------------------------------------------------------------------------- */

typedef struct echo {
    coio_loop *loop;
    int lfd;
    struct sockaddr_in addr;
    int rounds;
    int served;
    int checked;
    int err;
    int rc;
} echo;

static int echo_server(coio_future *self, void *arg) {
    (void)self;
    echo *e = arg;
    int c = -1;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int rc = coio_co_accept(e->lfd, &c, (struct sockaddr *)&peer, &plen, &e->err);
    if (rc) return rc;
    assert_int_equal(plen, sizeof(struct sockaddr_in));
    char buf[512];
    for (;;) {
        size_t n = 0;
        rc = coio_co_recv_into(c, buf, sizeof buf, &n, &e->err);
        if (rc || n == 0) break;
        rc = coio_co_sendall(c, buf, n, &e->err);
        if (rc) break;
        e->served++;
    }
    close(c);
    return rc;
}

static int echo_client(coio_future *self, void *arg) {
    (void)self;
    echo *e = arg;
    int fd = tcp_socket();
    int rc = coio_co_connect(fd, (struct sockaddr *)&e->addr, sizeof e->addr, &e->err);
    if (rc) {
        close(fd);
        return rc;
    }
    unsigned char msg[300], back[300];
    for (int i = 0; i < e->rounds; i++) {
        for (size_t k = 0; k < sizeof msg; k++)
            msg[k] = pattern(k + (size_t)i);
        rc = coio_co_sendall(fd, msg, sizeof msg, &e->err);
        if (rc) break;
        size_t got = 0;
        while (got < sizeof back) {
            size_t n = 0;
            rc = coio_co_recv_into(fd, back + got, sizeof back - got, &n, &e->err);
            if (rc) break;
            assert_true(n > 0);
            got += n;
        }
        if (rc) break;
        assert_memory_equal(msg, back, sizeof msg);
        e->checked++;
    }
    close(fd);
    return rc;
}

static void test_co_echo_over_tcp(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    echo e = {.loop = loop, .rounds = 200};
    e.lfd = make_listener(&e.addr);
    coio_future *srv = NULL, *cli = NULL;
    assert_status(coio_spawn(loop, echo_server, &e, NULL, &srv), COIO_OK);
    assert_status(coio_spawn(loop, echo_client, &e, NULL, &cli), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, cli), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, srv), COIO_OK);
    assert_int_equal(e.checked, 200);
    assert_int_equal(e.served, 200);
    coio_future_release(srv);
    coio_future_release(cli);
    tu_finish(loop);
    close(e.lfd);
}

static void test_co_outside_a_coroutine(void **state) {
    (void)state;
    int sv[2];
    make_pair(sv);
    char buf[4];
    size_t n = 0;
    int conn = -1, err = 0;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    assert_status(coio_co_recv_into(sv[0], buf, sizeof buf, &n, &err), COIO_ENOTSUP);
    assert_status(coio_co_sendall(sv[0], "x", 1, &err), COIO_ENOTSUP);
    assert_status(coio_co_accept(sv[0], &conn, NULL, NULL, &err), COIO_ENOTSUP);
    assert_status(coio_co_connect(sv[0], (struct sockaddr *)&addr, sizeof addr, &err),
                  COIO_ENOTSUP);
    close_pair(sv);
}

typedef struct coread {
    int fd;
    char buf[8];
    size_t n;
    int err;
    int rc;
    int started;
} coread;

static int body_read(coio_future *self, void *arg) {
    (void)self;
    coread *c = arg;
    c->started = 1;
    c->rc = coio_co_recv_into(c->fd, c->buf, sizeof c->buf, &c->n, &c->err);
    return c->rc;
}

static void test_co_cancel_while_waiting(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    coread c = {.fd = sv[0], .rc = 99};
    memset(c.buf, '.', sizeof c.buf);
    coio_future *t = NULL, *f = NULL;
    assert_status(coio_spawn(loop, body_read, &c, NULL, &t), COIO_OK);
    tu_run_one_pass(loop);
    assert_true(c.started);
    assert_false(coio_future_done(t));
    /* The task's wait holds the read side. */
    assert_status(coio_sock_recv(loop, sv[0], 4, &f), COIO_EBUSY);
    assert_status(coio_add_reader(loop, sv[0], noop, NULL, NULL), COIO_EBUSY);
    assert_int_equal(coio_future_cancel(t, "enough"), 1);
    /* The watch stopped with the cancel: the side is free at once. */
    assert_status(coio_wait_readable(loop, sv[0], &f), COIO_OK);
    put(sv[1], "late");
    run_until_done(loop, t, 5);
    assert_true(coio_future_cancelled(t));
    assert_status(c.rc, COIO_ECANCELLED);
    assert_memory_equal(c.buf, "........", 8);
    run_until_done(loop, f, 5);
    coio_future_release(f);
    coio_future_release(t);

    /* Data there at once: no wait at all. */
    c.rc = 99;
    assert_status(coio_spawn(loop, body_read, &c, NULL, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.rc, COIO_OK);
    assert_int_equal(c.n, 4);
    assert_memory_equal(c.buf, "late", 4);
    coio_future_release(t);
    tu_finish(loop);
    close_pair(sv);
}

static void count_drop(void *arg) {
    ((coread *)arg)->started += 100;
}

static void test_close_loop_with_coroutine_waiting(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    tu_reports rep;
    tu_capture_reports(loop, &rep);
    int sv[2];
    make_pair(sv);
    coread c = {.fd = sv[0], .rc = 99};
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.drop = count_drop;
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, body_read, &c, &o, &t), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(c.started, 1);
    coio_future_release(t);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_int_equal(c.started, 101); /* the body's drop ran once */
    assert_int_equal(rep.n, 1);
    assert_string_equal(rep.last_message, "Task was destroyed but it is pending!");
    assert_int_equal(c.rc, 99); /* abandoned, not resumed */
    assert_status(coio_loop_release(loop), COIO_OK);
    close_pair(sv);
}

typedef struct propagate {
    coio_loop *loop;
    int fd;
} propagate;

/* Awaits a sendall that fails (EPIPE) and lets the error propagate. */
static int body_propagate(coio_future *self, void *arg) {
    (void)self;
    propagate *p = arg;
    coio_future *f = NULL;
    int rc = coio_sock_sendall(p->loop, p->fd, "x", 1, &f);
    if (rc) return rc;
    rc = coio_await(f, NULL);
    coio_future_release(f);
    return rc;
}

static int body_co_error(coio_future *self, void *arg) {
    (void)self;
    propagate *p = arg;
    int err = 0;
    int rc = coio_co_sendall(p->fd, "x", 1, &err);
    assert_status(rc, COIO_ESYS);
    assert_int_equal(err, EPIPE);
    rc = coio_co_sendall(p->fd, "x", 1, NULL); /* err may be NULL */
    assert_status(rc, COIO_ESYS);
    return COIO_OK;
}

static void test_errno_through_a_task(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    close(sv[1]);
    propagate p = {.loop = loop, .fd = sv[0]};
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, body_propagate, &p, NULL, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_equal(tu_error_code(t), COIO_ESYS);
    assert_int_equal(errno_of(t), EPIPE);
    coio_future_release(t);
    /* The coroutine form reports the errno directly. */
    assert_status(coio_spawn(loop, body_co_error, &p, NULL, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
    close(sv[0]);
}

typedef struct costorm {
    int fd;
    unsigned char *big;
    size_t len;
    int rc;
    int err;
} costorm;

static int body_sendall(coio_future *self, void *arg) {
    (void)self;
    costorm *c = arg;
    c->rc = coio_co_sendall(c->fd, c->big, c->len, &c->err);
    return c->rc;
}

static void test_co_sendall_eagain_storm(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    costorm c = {.fd = sv[0], .len = 6u << 20, .rc = 99};
    c.big = malloc(c.len);
    assert_non_null(c.big);
    for (size_t i = 0; i < c.len; i++)
        c.big[i] = pattern(i);
    drain d = {.loop = loop, .fd = sv[1], .chunk = 3000};
    assert_status(coio_add_reader(loop, sv[1], on_drain, &d, NULL), COIO_OK);
    coio_future *t = NULL;
    assert_status(coio_spawn(loop, body_sendall, &c, NULL, &t), COIO_OK);
    for (int i = 0; i < 100000 && !coio_future_done(t); i++)
        tu_run_one_pass(loop);
    assert_true(coio_future_done(t));
    assert_status(c.rc, COIO_OK);
    for (int i = 0; i < 100000 && d.got < c.len; i++)
        tu_run_one_pass(loop);
    assert_int_equal(d.got, c.len);
    assert_int_equal(d.bad, 0);
    coio_future_release(t);
    free(c.big);
    tu_finish(loop);
    close_pair(sv);
}

static int body_accept_busy(coio_future *self, void *arg) {
    (void)self;
    coread *c = arg;
    int conn = -1;
    c->rc = coio_co_accept(c->fd, &conn, NULL, NULL, &c->err);
    if (c->rc == COIO_OK) close(conn);
    return COIO_OK;
}

static void test_co_busy_and_blocking(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_real();
    int sv[2];
    make_pair(sv);
    coio_future *f = NULL, *t = NULL;
    assert_status(coio_wait_readable(loop, sv[0], &f), COIO_OK);
    coread c = {.fd = sv[0], .rc = 99};
    assert_status(coio_spawn(loop, body_read, &c, NULL, &t), COIO_OK);
    /* (a body returning a status that is not a task outcome fails its task with it) */
    assert_status(coio_loop_run_until_complete(loop, t), COIO_EFAILED);
    assert_int_equal(tu_error_code(t), COIO_EBUSY);
    assert_status(c.rc, COIO_EBUSY);
    coio_future_release(t);
    assert_int_equal(coio_future_cancel(f, NULL), 1);
    coio_future_release(f);
    int bl[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, bl), 0);
    c.fd = bl[0];
    assert_status(coio_spawn(loop, body_accept_busy, &c, NULL, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    assert_status(c.rc, COIO_EINVAL); /* blocking */
    coio_future_release(t);
    close_pair(bl);
    tu_finish(loop);
    close_pair(sv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_readable_and_writable),
        cmocka_unit_test(test_recv_at_once_and_later),
        cmocka_unit_test(test_recv_into_and_result_size),
        cmocka_unit_test(test_short_read_waits_for_the_poll),
        cmocka_unit_test(test_closed_after_short_read_fails_ebadf),
        cmocka_unit_test(test_sendall_small_at_once),
        cmocka_unit_test(test_sendall_eagain_storm),
        cmocka_unit_test(test_sendall_to_closed_peer_epipe),
        cmocka_unit_test(test_sendall_peer_reset_midway),
        cmocka_unit_test(test_accept_and_connect),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_closed_and_blocking_fds),
        cmocka_unit_test(test_ebusy_rules),
        cmocka_unit_test(test_cancel_pending_leaves_buffer_alone),
        cmocka_unit_test(test_wait_for_times_out_a_recv),
        cmocka_unit_test(test_fd_number_reused_between_operations),
        cmocka_unit_test(test_idle_side_is_not_polled),
        cmocka_unit_test(test_remove_reader_inside_callback_then_wait),
        cmocka_unit_test(test_close_loop_with_operations_in_flight),
        cmocka_unit_test(test_eintr_is_retried),
        cmocka_unit_test(test_co_echo_over_tcp),
        cmocka_unit_test(test_co_outside_a_coroutine),
        cmocka_unit_test(test_co_cancel_while_waiting),
        cmocka_unit_test(test_close_loop_with_coroutine_waiting),
        cmocka_unit_test(test_errno_through_a_task),
        cmocka_unit_test(test_co_sendall_eagain_storm),
        cmocka_unit_test(test_co_busy_and_blocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
