// The extern "C" boundary of readiness and socket futures (asyncio's loop.sock_*) and their
// coroutine forms: argument checks, then sock.cc.
#include <cstdint>

#include "api.hh"
#include "future.hh"
#include "io.hh"
#include "loop.hh"

using namespace coio::detail;
using namespace coio::api;

namespace {

// The checks every future-returning operation makes, then op(&f) into *out.
template <class Fn> int into(coio_loop *l, int fd, coio_future **out, Fn op) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || fd < 0) return COIO_EINVAL;
    return guarded([&] {
        Future *f = nullptr;
        int rc = op(loop, &f);
        if (rc == COIO_OK) *out = to_c(f);
        return rc;
    });
}

} // namespace

extern "C" {

int coio_wait_readable(coio_loop *l, int fd, coio_future **out) {
    return into(l, fd, out, [&](Loop *loop, Future **f) { return sock_wait(loop, fd, false, f); });
}

int coio_wait_writable(coio_loop *l, int fd, coio_future **out) {
    return into(l, fd, out, [&](Loop *loop, Future **f) { return sock_wait(loop, fd, true, f); });
}

int coio_future_errno(const coio_future *fut, int *err) {
    const Future *f = F(fut);
    if (!f || !err) return COIO_EINVAL;
    if (f->state == Future::Pending) return COIO_ESTATE;
    if (f->state == Future::Failed) f->retrieved = true;
    *err = future_sys_errno(f);
    return COIO_OK;
}

int coio_sock_recv(coio_loop *l, int fd, size_t n, coio_future **out) {
    if (n == 0) return COIO_EINVAL;
    if (n > SIZE_MAX - sizeof(coio_bytes)) return COIO_ENOMEM; // no such coio_bytes fits
    return into(l, fd, out, [&](Loop *loop, Future **f) { return sock_recv(loop, fd, n, f); });
}

int coio_sock_recv_into(coio_loop *l, int fd, void *buf, size_t len, coio_future **out) {
    if (!buf || len == 0) return COIO_EINVAL;
    return into(l, fd, out,
                [&](Loop *loop, Future **f) { return sock_recv_into(loop, fd, buf, len, f); });
}

int coio_sock_sendall(coio_loop *l, int fd, const void *buf, size_t len, coio_future **out) {
    if (!buf) return COIO_EINVAL;
    return into(l, fd, out,
                [&](Loop *loop, Future **f) { return sock_sendall(loop, fd, buf, len, f); });
}

int coio_sock_accept(coio_loop *l, int fd, coio_future **out) {
    return into(l, fd, out, [&](Loop *loop, Future **f) { return sock_accept(loop, fd, f); });
}

int coio_sock_connect(coio_loop *l, int fd, const struct sockaddr *addr, socklen_t addrlen,
                      coio_future **out) {
    if (!addr || addrlen == 0) return COIO_EINVAL;
    return into(l, fd, out,
                [&](Loop *loop, Future **f) { return sock_connect(loop, fd, addr, addrlen, f); });
}

int coio_future_result_size(const coio_future *f, size_t *n) {
    if (!f || !n) return COIO_EINVAL;
    return sock_result_size(F(f), n);
}

int coio_co_recv_into(int fd, void *buf, size_t len, size_t *n, int *err) {
    if (fd < 0 || !buf || len == 0 || !n) return COIO_EINVAL;
    return guarded([&] { return co_recv_into(fd, buf, len, n, err); });
}

int coio_co_sendall(int fd, const void *buf, size_t len, int *err) {
    if (fd < 0 || !buf) return COIO_EINVAL;
    return guarded([&] { return co_sendall(fd, buf, len, err); });
}

int coio_co_accept(int fd, int *conn, struct sockaddr *addr, socklen_t *addrlen, int *err) {
    if (fd < 0 || !conn || (addr && !addrlen)) return COIO_EINVAL;
    return guarded([&] { return co_accept(fd, conn, addr, addrlen, err); });
}

int coio_co_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int *err) {
    if (fd < 0 || !addr || addrlen == 0) return COIO_EINVAL;
    return guarded([&] { return co_connect(fd, addr, addrlen, err); });
}

} // extern "C"
