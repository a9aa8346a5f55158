// Socket operations (asyncio's loop.sock_recv, sock_recv_into, sock_sendall, sock_accept,
// sock_connect), readiness futures, and their coroutine forms (coio_co_*).
//
// An operation is a SockOp: a custom future from the loop's pool.  It first makes its system
// call at once, as asyncio 3.13 does, and is returned done when that succeeds or fails for
// good.  On EAGAIN it takes its side (read or write) of the fd's FdWatcher (io.cc); the slot
// holds a reference.  When the poll reports the fd ready, sock_ready makes the call again
// right there, and a finished operation completes its future and leaves the slot; only the
// completion goes through the ready queue (asyncio runs its reader callback from the queue,
// then wakes the task in the pass after: here the task resumes one pass sooner).
// Cancelling leaves the slot at once: from then on the fd and the buffer are not touched.
//
// The coroutine forms make the call directly and allocate nothing when it succeeds; on EAGAIN
// they await a readiness wait (a SockOp of kind Wait) and try again.  Nothing of theirs lives
// on the coroutine's stack across the await but the buffer pointer: the wait's only
// references are its slot's and the awaiting task's, so a body abandoned at loop close leaks
// nothing.
//
// The drained hint.  Polling is level triggered.  A stream socket that answered a read with
// fewer bytes than asked had nothing more queued at that moment, so in a request/response
// exchange the next read would almost always fail with EAGAIN.  After such a short read, a
// read operation on the fd in the same pass (before the loop polls again) therefore skips the
// call and waits for readability at once — the poll reports data as soon as it is there, also
// data that came in meanwhile — but only when the wait can be armed without the kernel
// (io_arm_free, see io.cc): otherwise the attempt is what proves the fd open before the
// kernel is asked to watch it.  The hint is cleared by any readability report, full read or
// end of stream.  It is never wrong, only sometimes one poll late (a datagram socket with
// several datagrams queued, data that arrived since).
//
// Non-blocking check.  recv and send are made with MSG_DONTWAIT, so they never block even on
// a blocking socket; the O_NONBLOCK check (asyncio's "the socket must be non-blocking") is
// therefore made once per fd number and remembered (a descriptor accepted here is known to be
// non-blocking), while accept and connect, which have no such flag, check every time.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/socket.h>
#include <unistd.h>

#include "coroutine.hh"
#include "future.hh"
#include "io.hh"
#include "loop.hh"

namespace coio::detail {

enum class OpKind : std::uint8_t { Wait, Recv, RecvInto, Send, Accept, Connect };

struct SockOp : CustomFuture {
    int fd; // (these four sit in CustomFuture's tail padding)
    OpKind kind;
    bool write;       // the side it waits on
    bool attached;    // in its watcher's slot, which holds a reference
    bool co;          // Wait: a coroutine form's (its caller makes the call again)
    void *buf;        // Recv: its coio_bytes, Accept: its coio_accepted (owned until they are the
                      // result); RecvInto / Send: the caller's buffer
    std::size_t len;  // Recv / RecvInto: bytes asked; Send: bytes to send
    std::size_t done; // Recv / RecvInto: bytes received; Send: bytes sent so far
};

static_assert(sizeof(SockOp) <= kSmallCustomFuture, "keep SockOp pooled");

namespace {

bool op_cancel(Future *f, const char *msg);
void op_finalize(Future *f);

const FutureOps kSockOps = {op_cancel, nullptr, op_finalize};

SockOp *as_op(Future *f) {
    return static_cast<SockOp *>(static_cast<CustomFuture *>(f));
}

bool is_op(const Future *f) {
    return f->kind == Future::Custom && static_cast<const CustomFuture *>(f)->ops == &kSockOps;
}

bool is_read(OpKind k) {
    return k == OpKind::Recv || k == OpKind::RecvInto;
}

// ---- what is known of the fd --------------------------------------------------------------

bool drained(const Loop *loop, const FdWatcher *fw) {
    return fw && fw->drained && fw->drained_iter == loop->io.pass;
}

// After a read of n bytes of the `asked` (see the drained hint at the top).
void note_read(Loop *loop, FdWatcher *fw, std::size_t n, std::size_t asked) {
    fw->drained = n > 0 && n < asked;
    if (fw->drained) fw->drained_iter = loop->io.pass;
}

// A descriptor this loop just accepted: whatever was known of its number is stale.
void note_new_fd(Loop *loop, int fd) {
    io_fresh_fd(loop, fd);
    if (FdWatcher *fw = io_watcher(loop, fd)) fw->nonblock = true; // SOCK_NONBLOCK
}

bool open_fd(int fd) {
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

// EINVAL unless fd is open and non-blocking.
int check_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl != -1 && (fl & O_NONBLOCK) ? COIO_OK : COIO_EINVAL;
}

// check_side past a free side, when fd is not known to be non-blocking (or the operation is
// not a recv / send): checks that it is, and makes its watcher.
[[gnu::noinline]] int check_side_fcntl(Loop *loop, int fd, FdWatcher **fw) {
    if (int rc = check_nonblocking(fd)) return rc;
    FdWatcher *w = io_watcher_make(loop, fd);
    w->nonblock = true;
    *fw = w;
    return COIO_OK;
}

// The checks made before an operation on `write`'s side of fd; *fw: the watcher (made).
inline int check_side(Loop *loop, int fd, bool write, bool recv_send, FdWatcher **fw) {
    FdWatcher *w = io_watcher(loop, fd);
    if (w && (write ? w->writer || w->wop : w->reader || w->rop)) return COIO_EBUSY;
    if (recv_send && w && w->nonblock) [[likely]] {
        *fw = w;
        return COIO_OK;
    }
    return check_side_fcntl(loop, fd, fw);
}

// ---- the operation ------------------------------------------------------------------------

// errno, with EWOULDBLOCK folded into EAGAIN.
int last_error() {
    int e = errno;
    return e == EWOULDBLOCK ? EAGAIN : e;
}

// What a connect in progress answers through SO_ERROR: 0, EAGAIN (still going) or an error.
// asyncio goes on waiting on BlockingIOError and InterruptedError.
int connect_status(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = last_error();
    if (err == EINPROGRESS || err == EALREADY || err == EINTR || err == EWOULDBLOCK) err = EAGAIN;
    return err;
}

// One attempt at op's system call (EINTR retried); fw is its fd's watcher.  0 when op is
// finished (what it got is stored in it), EAGAIN to wait for readiness, or the errno it
// failed with.  Throws std::bad_alloc (a result buffer) before any system call.
int attempt(SockOp *op, FdWatcher *fw) {
    for (;;) {
        ssize_t r;
        switch (op->kind) {
        case OpKind::Wait:
            return 0;
        case OpKind::Recv:
        case OpKind::RecvInto: {
            void *into = op->buf; // RecvInto: the caller's buffer
            if (op->kind == OpKind::Recv) {
                auto *b = static_cast<coio_bytes *>(op->buf);
                if (!b) {
                    b = static_cast<coio_bytes *>(std::malloc(sizeof(coio_bytes) + op->len));
                    if (!b) throw std::bad_alloc();
                    op->buf = b;
                }
                into = b->data;
            }
            r = recv(op->fd, into, op->len, MSG_DONTWAIT);
            if (r >= 0) {
                op->done = std::size_t(r);
                note_read(op->loop, fw, op->done, op->len);
                return 0;
            }
            break;
        }
        case OpKind::Send:
            r = send(op->fd, static_cast<const char *>(op->buf) + op->done, op->len - op->done,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r >= 0) {
                op->done += std::size_t(r);
                // After a partial write the buffer is full: wait, as asyncio does.
                return op->done == op->len ? 0 : EAGAIN;
            }
            break;
        case OpKind::Accept: {
            auto *a = static_cast<coio_accepted *>(op->buf);
            if (!a) {
                a = static_cast<coio_accepted *>(std::malloc(sizeof(coio_accepted)));
                if (!a) throw std::bad_alloc();
                op->buf = a;
            }
            a->addrlen = sizeof a->addr;
            int c = accept4(op->fd, reinterpret_cast<sockaddr *>(&a->addr), &a->addrlen,
                            SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                a->fd = c;
                note_new_fd(op->loop, c);
                return 0;
            }
            r = -1;
            break;
        }
        case OpKind::Connect:
            return connect_status(op->fd);
        }
        int e = last_error();
        if (e != EINTR) return e;
    }
}

void accepted_drop(void *p) {
    auto *a = static_cast<coio_accepted *>(p);
    close(a->fd);
    std::free(a);
}

// Completes op with what attempt() got.  Cannot throw once the ready queue has room for one
// more entry (future_set_result reserves nothing more then).
void complete(SockOp *op) {
    void *value = nullptr;
    coio_free_fn drop = nullptr;
    if (op->kind == OpKind::Recv) {
        auto *b = static_cast<coio_bytes *>(op->buf);
        b->len = op->done;
        // Give back most of a large buffer a short read left unused (as CPython resizes).
        if (op->len - b->len > 1024 && b->len < op->len / 2)
            if (void *s = std::realloc(b, sizeof(coio_bytes) + b->len))
                b = static_cast<coio_bytes *>(s);
        value = b;
        drop = std::free;
    } else if (op->kind == OpKind::Accept) {
        value = op->buf;
        drop = accepted_drop;
    }
    if (value) op->buf = nullptr;
    future_set_result(op, value, drop);
}

void attach(SockOp *op, FdWatcher *fw) {
    (op->write ? fw->wop : fw->rop) = op;
    op->attached = true;
    future_ref(op);
    io_update(op->loop, fw);
}

// Leaves the slot (the watch stops unless the other side wants it); the slot's reference
// goes last, so op may be freed.
void detach(SockOp *op) {
    FdWatcher *fw = io_watcher(op->loop, op->fd);
    (op->write ? fw->wop : fw->rop) = nullptr;
    op->attached = false;
    io_update(op->loop, fw);
    future_unref(op);
}

bool op_cancel(Future *f, const char *msg) {
    if (f->state != Future::Pending) return false;
    future_cancel(f, msg); // may throw: before anything changed
    SockOp *op = as_op(f);
    if (op->attached) detach(op); // the caller holds a reference: op stays
    return true;
}

void op_finalize(Future *f) {
    SockOp *op = as_op(f);
    if (op->kind == OpKind::Recv || op->kind == OpKind::Accept) std::free(op->buf);
}

SockOp *op_new(Loop *loop, OpKind kind, int fd, bool write) {
    SockOp *op = custom_future_new<SockOp>(loop, &kSockOps);
    op->fd = fd;
    op->kind = kind;
    op->write = write;
    return op;
}

// Starts op: the call at once (unless the drained hint says it would fail), then either a
// done future or a wait in fw's slot.  EINVAL when the call finds fd closed.
int start(SockOp *op, FdWatcher *fw, Future **out) {
    Loop *loop = op->loop;
    try {
        // (the attempt is what proves fd open before the kernel is asked to watch it, unless
        // the watch costs the kernel nothing: see io.cc)
        bool skip = op->kind == OpKind::Wait ||
                    (is_read(op->kind) && drained(loop, fw) && io_arm_free(loop, fw, false));
        if (!skip) {
            loop->ready.reserve(1); // complete() cannot fail after the call
            int e = attempt(op, fw);
            if (e == EBADF) {
                fw->nonblock = false;
                future_unref(op);
                return COIO_EINVAL;
            }
            if (e == 0) {
                complete(op);
                *out = op;
                return COIO_OK;
            }
            if (e != EAGAIN) {
                future_set_sys_error(op, e);
                *out = op;
                return COIO_OK;
            }
        }
        attach(op, fw);
    } catch (...) {
        future_unref(op);
        throw;
    }
    *out = op;
    return COIO_OK;
}

// ---- coroutines ---------------------------------------------------------------------------

// Waits until fw's fd is ready on that side: COIO_OK, COIO_ECANCELLED (the task was
// cancelled; the watch has stopped), COIO_EBUSY (another operation took the side meanwhile).
// (A watcher lives until its loop closes, and a body never runs after that: fw stays valid
// across the wait.)
int co_wait(Loop *loop, FdWatcher *fw, bool write) {
    if (write ? fw->writer || fw->wop : fw->reader || fw->rop) return COIO_EBUSY;
    SockOp *op = op_new(loop, OpKind::Wait, fw->io.fd, write);
    op->co = true;
    attach(op, fw);
    future_unref(op); // the slot's and the awaiting task's references keep it
    return coroutine_await(op, nullptr);
}

// The status for a failed call: EINVAL for a closed fd at the first attempt, else ESYS.
int co_fail(int e, bool first, int *err) {
    if (e == EBADF && first) return COIO_EINVAL;
    if (err) *err = e;
    return COIO_ESYS;
}

} // namespace

void sock_ready(FdWatcher *fw, bool write) {
    SockOp *op = write ? fw->wop : fw->rop;
    Loop *loop = fw->loop;
    if (op->state == Future::Pending) {
        try {
            loop->ready.reserve(1);
            int e = attempt(op, fw);
            if (e == EAGAIN) {
                io_update(loop, fw); // (restarts it if libev had stopped it)
                return;
            }
            if (e == 0)
                complete(op);
            else
                future_set_sys_error(op, e);
        } catch (...) {
            return; // out of memory: level triggered, the next poll tries again
        }
    }
    detach(op); // (also when someone completed it by hand)
}

void sock_closed(FdWatcher *fw, bool write) {
    SockOp *op = write ? fw->wop : fw->rop;
    if (op->state == Future::Pending) {
        try {
            if (op->kind == OpKind::Wait && op->co)
                future_set_result(op, nullptr, nullptr); // its caller's retry reports EBADF
            else
                future_set_sys_error(op, EBADF);
        } catch (...) {
            return; // out of memory: left as it is
        }
    }
    detach(op);
}

void sock_abandon(SockOp *op) {
    op->attached = false;
    if (op->state == Future::Pending) {
        try {
            future_cancel(op, nullptr);
        } catch (...) { // out of memory: it stays pending, the holder's to release
        }
    }
    future_unref(op);
}

int sock_wait(Loop *loop, int fd, bool write, Future **out) {
    FdWatcher *fw = io_watcher(loop, fd);
    if (fw && (write ? fw->writer || fw->wop : fw->reader || fw->rop)) return COIO_EBUSY;
    // fd must be open before the kernel is asked to watch it (see io.cc).
    if (!io_arm_free(loop, fw, write) && !open_fd(fd)) return COIO_EINVAL;
    fw = io_watcher_make(loop, fd);
    SockOp *op = op_new(loop, OpKind::Wait, fd, write);
    attach(op, fw);
    *out = op;
    return COIO_OK;
}

int sock_recv(Loop *loop, int fd, std::size_t n, Future **out) {
    if (n > std::size_t(SSIZE_MAX) - sizeof(coio_bytes)) return COIO_EINVAL;
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, false, true, &fw)) return rc;
    SockOp *op = op_new(loop, OpKind::Recv, fd, false);
    op->len = n;
    return start(op, fw, out);
}

int sock_recv_into(Loop *loop, int fd, void *buf, std::size_t len, Future **out) {
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, false, true, &fw)) return rc;
    SockOp *op = op_new(loop, OpKind::RecvInto, fd, false);
    op->buf = buf;
    op->len = len;
    return start(op, fw, out);
}

int sock_sendall(Loop *loop, int fd, const void *buf, std::size_t len, Future **out) {
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, true, true, &fw)) return rc;
    SockOp *op = op_new(loop, OpKind::Send, fd, true);
    op->buf = const_cast<void *>(buf);
    op->len = len;
    return start(op, fw, out);
}

int sock_accept(Loop *loop, int fd, Future **out) {
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, false, false, &fw)) return rc;
    return start(op_new(loop, OpKind::Accept, fd, false), fw, out);
}

int sock_connect(Loop *loop, int fd, const struct sockaddr *addr, socklen_t len, Future **out) {
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, true, false, &fw)) return rc;
    io_fresh_fd(loop, fd); // likely a new socket under a number used before
    SockOp *op = op_new(loop, OpKind::Connect, fd, true);
    try {
        loop->ready.reserve(1);
        // addr is only read here: an interrupted or in-progress connect goes on in the
        // kernel, and what is waited for is its outcome (SO_ERROR).
        int e = connect(fd, addr, len) == 0 ? 0 : last_error();
        if (e == EINPROGRESS || e == EINTR) e = EAGAIN; // asyncio: Issue #23618
        if (e == EBADF) {
            future_unref(op);
            return COIO_EINVAL;
        }
        if (e == 0)
            future_set_result(op, nullptr, nullptr);
        else if (e != EAGAIN)
            future_set_sys_error(op, e);
        else
            attach(op, fw);
    } catch (...) {
        future_unref(op);
        throw;
    }
    *out = op;
    return COIO_OK;
}

int sock_result_size(const Future *f, std::size_t *n) {
    // A future completed with another's result (a task's forward, wait_for, shield) reads it
    // from that one.
    while (f->state == Future::Result && f->error && f->error->code == 0 && f->error->cause)
        f = f->error->cause;
    if (int rc = future_outcome(f)) return rc;
    if (!is_op(f)) return COIO_EINVAL;
    const auto *op = static_cast<const SockOp *>(static_cast<const CustomFuture *>(f));
    if (op->kind != OpKind::RecvInto) return COIO_EINVAL;
    *n = op->done;
    return COIO_OK;
}

int co_recv_into(int fd, void *buf, std::size_t len, std::size_t *n, int *err) {
    Loop *loop = co_running_loop();
    if (!loop) return COIO_ENOTSUP;
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, false, true, &fw)) return rc;
    bool first = true;
    if (drained(loop, fw) && io_arm_free(loop, fw, false)) { // straight to the wait (the top)
        if (int rc = co_wait(loop, fw, false)) return rc;
        first = false;
    }
    for (;;) {
        ssize_t r = recv(fd, buf, len, MSG_DONTWAIT);
        if (r >= 0) {
            note_read(loop, fw, std::size_t(r), len);
            *n = std::size_t(r);
            return COIO_OK;
        }
        int e = last_error();
        if (e == EINTR) continue;
        if (e != EAGAIN) return co_fail(e, first, err);
        first = false;
        if (int rc = co_wait(loop, fw, false)) return rc;
    }
}

int co_sendall(int fd, const void *buf, std::size_t len, int *err) {
    Loop *loop = co_running_loop();
    if (!loop) return COIO_ENOTSUP;
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, true, true, &fw)) return rc;
    const char *p = static_cast<const char *>(buf);
    std::size_t done = 0;
    bool first = true;
    for (;;) {
        ssize_t r = send(fd, p + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) {
            done += std::size_t(r);
            if (done == len) return COIO_OK;
        } else {
            int e = last_error();
            if (e == EINTR) continue;
            if (e != EAGAIN) return co_fail(e, first, err);
        }
        first = false;
        if (int rc = co_wait(loop, fw, true)) return rc;
    }
}

int co_accept(int fd, int *conn, struct sockaddr *addr, socklen_t *addrlen, int *err) {
    Loop *loop = co_running_loop();
    if (!loop) return COIO_ENOTSUP;
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, false, false, &fw)) return rc;
    bool first = true;
    for (;;) {
        int c = accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            note_new_fd(loop, c);
            *conn = c;
            return COIO_OK;
        }
        int e = last_error();
        if (e == EINTR) continue;
        if (e != EAGAIN) return co_fail(e, first, err);
        first = false;
        if (int rc = co_wait(loop, fw, false)) return rc;
    }
}

int co_connect(int fd, const struct sockaddr *addr, socklen_t len, int *err) {
    Loop *loop = co_running_loop();
    if (!loop) return COIO_ENOTSUP;
    FdWatcher *fw;
    if (int rc = check_side(loop, fd, true, false, &fw)) return rc;
    io_fresh_fd(loop, fd);
    int e = connect(fd, addr, len) == 0 ? 0 : last_error();
    if (e == EBADF) return COIO_EINVAL;
    while (e == EINPROGRESS || e == EINTR || e == EAGAIN) {
        if (int rc = co_wait(loop, fw, true)) return rc;
        e = connect_status(fd);
    }
    if (e == 0) return COIO_OK;
    if (err) *err = e;
    return COIO_ESYS;
}

} // namespace coio::detail
