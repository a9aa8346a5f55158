// File descriptor readiness: asyncio's add_reader / add_writer, and the watch behind the socket
// operations of sock.cc.  One FdWatcher per fd, made on first use and kept until the loop
// closes (an operation then costs no allocation here), with one ev_io, level triggered.  A
// ready fd puts its reader / writer handle on the ready queue, so fd callbacks run in the same
// FIFO order as everything else; a pending socket operation makes its system call right there
// in the poll (sock_ready), and only its completion goes through the ready queue.
//
// Arming without epoll_ctl churn.  libev tells the kernel about an fd at its next fd_reify,
// and only if the fd's event mask differs from what it last told it (or ev_io_set marked the
// watcher as set anew).  A request/response exchange stops its read watch when a read
// completes and starts it again, with the same mask, before the loop polls again: left to
// libev that costs no system call.  But it is only right if the number still names the same
// open file.  The caller owns its fds: it may close one between two operations, and a new
// descriptor may get the number before the next poll; the kernel dropped the registration
// with the old file, the new one is registered by nobody, and an operation on it would wait
// for ever.  coio cannot see a close, so:
//  - a watch that comes back, before the next poll, to the very mask libev gave the kernel
//    at this pass's poll costs nothing (the re-arm within a pass; the ev_io even stays
//    active in between, see "parked watchers" below), unless the number was just
//    handed out by accept or used for a connect (io_fresh_fd); any other change, e.g. a side
//    armed from idle, is registered again (ev_io_set: one epoll_ctl, which fails cheaply with
//    EEXIST when nothing changed);
//  - a watcher re-armed that way after being idle is "unverified": if it is still armed after
//    one to two ticks of kVerifyInterval, on_verify checks that its fd is open (F_GETFD) and
//    registers it again.  A descriptor replaced within a pass is then seen at most two ticks
//    late instead of never, and a closed one fails its operations with EBADF.  In a busy
//    exchange the next request comes long before that, and nothing is ever checked.  (While
//    a side stays armed the fd is under watch, and the caller must not close it.)
// Everything that arms through the kernel (a changed mask, ev_io_set) is preceded, in the
// same call, by a system call on the fd that proved it open (the operation's own attempt,
// F_GETFD for add_reader and readiness waits): libev aborts the process when epoll_ctl
// reports a closed fd.  Only a close while a side is armed — which the caller must not do —
// can get there.
#include <fcntl.h>
#include <new>

#include "handle.hh"
#include "io.hh"
#include "loop.hh"
#include "ready.hh"

namespace coio::detail {

static constexpr double kVerifyInterval = 0.010;

static void schedule(Loop *loop, Handle *h) {
    if (!h || h->state != Handle::Scheduled) return;
    h->refs++;
    try {
        ready_push_handle(loop, h);
    } catch (const std::bad_alloc &) {
        h->refs--; // level triggered: the next poll reports the fd again
    }
}

static void on_io(struct ev_loop *, ev_io *w, int revents) {
    auto *fw = reinterpret_cast<FdWatcher *>(w);
    // EV_ERROR (libev gave up on the fd, e.g. it was closed under it): wake both sides so
    // their callbacks see the error from their own I/O call.
    if (revents & (EV_READ | EV_ERROR)) {
        fw->drained = false; // readable again (see sock.cc)
        if (fw->reader)
            schedule(fw->loop, fw->reader);
        else if (fw->rop)
            sock_ready(fw, false);
    }
    if (revents & (EV_WRITE | EV_ERROR)) {
        if (fw->writer)
            schedule(fw->loop, fw->writer);
        else if (fw->wop)
            sock_ready(fw, true);
    }
}

// ---- the unverified list ------------------------------------------------------------------

// The list is singly linked and pruned lazily, so that a watcher joins and leaves it (once a
// request, in a request/response exchange) touching nothing but itself and the loop: leaving
// clears the flag, and on_verify unlinks it later.

static void unverified_remove(FdWatcher *fw) {
    fw->unverified = false;
}

static void unverified_add(Loop *loop, FdWatcher *fw) {
    fw->unverified = true;
    fw->uepoch = loop->io.verify_epoch;
    if (!fw->ulisted) {
        fw->ulisted = true;
        fw->unext = loop->io.unverified;
        loop->io.unverified = fw;
    }
    if (!ev_is_active(&loop->io.verify)) ev_timer_again(loop->ev, &loop->io.verify);
}

// Every kVerifyInterval while the list is not empty: watchers that became unverified before
// the previous tick are checked and registered again; those no longer unverified leave.
static void on_verify(struct ev_loop *, ev_timer *w, int) {
    Loop *loop = static_cast<Loop *>(w->data);
    FdWatcher **link = &loop->io.unverified;
    while (FdWatcher *fw = *link) {
        if (fw->unverified && fw->uepoch == loop->io.verify_epoch) { // too young
            link = &fw->unext;
            continue;
        }
        *link = fw->unext; // (what runs below may add watchers, always at the head)
        fw->unext = nullptr;
        fw->ulisted = false;
        if (!fw->unverified) continue;
        fw->unverified = false;
        int fd = fw->io.fd;
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            // Closed under the watch: its operations fail (libev would abort on it).
            if (fw->rop) sock_closed(fw, false);
            if (fw->wop) sock_closed(fw, true);
            continue;
        }
        if (!ev_is_active(&fw->io)) continue;
        ev_io_stop(loop->ev, &fw->io);
        ev_io_set(&fw->io, fd, fw->io.events & (EV_READ | EV_WRITE));
        ev_io_start(loop->ev, &fw->io);
    }
    loop->io.verify_epoch++;
    if (!loop->io.unverified) ev_timer_stop(loop->ev, w);
}

// ---- parked watchers ----------------------------------------------------------------------

// A side that goes idle leaves its ev_io active ("parked") until the next poll: in a
// request/response exchange the next operation arms the same mask again before then, and
// finds it armed (io_update).  A watcher still parked when the loop is about to poll is
// stopped, so what libev and the kernel see at every poll is what they saw before.

static void park(Loop *loop, FdWatcher *fw) {
    fw->parked = true;
    if (!fw->plisted) {
        fw->plisted = true;
        fw->pnext = loop->io.parked;
        loop->io.parked = fw;
    }
}

// Stops fw's ev_io now (parked or not).
static void stop(Loop *loop, FdWatcher *fw) {
    fw->parked = false;
    ev_io_stop(loop->ev, &fw->io);
}

void io_poll(Loop *loop, int flags) {
    while (FdWatcher *fw = loop->io.parked) {
        loop->io.parked = fw->pnext;
        fw->pnext = nullptr;
        fw->plisted = false;
        if (fw->parked) stop(loop, fw);
    }
    loop->io.pass++; // the poll ev_run is about to make (it runs exactly one iteration)
    ev_run(loop->ev, flags);
    loop->io.pass = ev_iteration(loop->ev);
}

// ---- watchers -----------------------------------------------------------------------------

FdWatcher *io_watcher(Loop *loop, int fd) {
    return std::size_t(fd) < loop->io.fds.size() ? loop->io.fds[std::size_t(fd)] : nullptr;
}

[[gnu::noinline]] static FdWatcher *watcher_new(Loop *loop, int fd) {
    if (!loop->io.verify.data) {
        ev_timer_init(&loop->io.verify, on_verify, 0., kVerifyInterval);
        loop->io.verify.data = loop;
    }
    if (std::size_t(fd) >= loop->io.fds.size()) loop->io.fds.resize(std::size_t(fd) + 1, nullptr);
    auto *fw = new FdWatcher{};
    fw->loop = loop;
    ev_io_init(&fw->io, on_io, fd, 0);
    loop->io.fds[std::size_t(fd)] = fw;
    return fw;
}

FdWatcher *io_watcher_make(Loop *loop, int fd) {
    if (FdWatcher *fw = io_watcher(loop, fd)) [[likely]]
        return fw;
    return watcher_new(loop, fd);
}

static int wanted(const FdWatcher *fw) {
    return (fw->reader || fw->rop ? EV_READ : 0) | (fw->writer || fw->wop ? EV_WRITE : 0);
}

// What libev has active (parked or not).
static int armed(const FdWatcher *fw) {
    return ev_is_active(&fw->io) ? fw->io.events & (EV_READ | EV_WRITE) : 0;
}

// The mask libev last gave the kernel for fd, i.e. the one armed when this poll's pass began
// (all earlier changes were reified before the poll).  Recorded at the first change of a pass.
static int reified(Loop *loop, FdWatcher *fw) {
    unsigned iter = loop->io.pass;
    if (fw->reified_iter != iter) {
        fw->reified_iter = iter;
        fw->reified_mask = std::uint8_t(armed(fw));
    }
    return fw->reified_mask;
}

bool io_arm_free(Loop *loop, const FdWatcher *fw, bool write) {
    if (!fw || fw->fresh || fw->reified_iter != loop->io.pass) return false;
    return (wanted(fw) | (write ? EV_WRITE : EV_READ)) == fw->reified_mask;
}

void io_update(Loop *loop, FdWatcher *fw) {
    int want = wanted(fw);
    int have = fw->parked ? 0 : armed(fw);
    if (want == have) return;
    unsigned iter = loop->io.pass;
    int before = reified(loop, fw);
    if (!want) { // idle: kept for the next operation (the kernel is told nothing)
        park(loop, fw);
        fw->idle_iter = iter;
        unverified_remove(fw);
        return;
    }
    if (want == before && !fw->fresh) {
        // Back to the mask the kernel has had since this pass's poll: nothing to tell it.
        // Idle in between, the fd may have been closed and its number reused: unverified.
        if (fw->parked && armed(fw) == want) {
            fw->parked = false; // still active with that mask: nothing to tell libev either
        } else {
            stop(loop, fw);
            ev_io_modify(&fw->io, want);
            ev_io_start(loop->ev, &fw->io);
        }
        if (fw->idle_iter == iter) unverified_add(loop, fw);
        return;
    }
    stop(loop, fw);
    ev_io_set(&fw->io, fw->io.fd, want); // registered anew at the next fd_reify
    ev_io_start(loop->ev, &fw->io);
    fw->fresh = false;
    unverified_remove(fw);
}

void io_fresh_fd(Loop *loop, int fd) {
    if (FdWatcher *fw = io_watcher(loop, fd)) {
        fw->fresh = true;
        fw->drained = false;
    }
}

// Ends a reader/writer registration: its drop runs (after its callback, if it is running).
static void end(Handle *h) {
    handle_cancel(h);
    handle_unref(h);
}

bool io_busy(Loop *loop, int fd, bool write) {
    FdWatcher *fw = io_watcher(loop, fd);
    return fw && (write ? fw->wop : fw->rop);
}

namespace {
struct IoBusy {}; // io_set on a side with a pending socket operation (api.cc checks first)
} // namespace

void io_set(Loop *loop, int fd, bool write, Handle *h) {
    if (h && io_busy(loop, fd, write)) throw IoBusy();
    FdWatcher *fw = io_watcher_make(loop, fd); // may throw: nothing changed yet
    Handle *&side = write ? fw->writer : fw->reader;
    Handle *old = side;
    side = h;
    // add_reader / add_writer register the fd anew whatever was armed: the callback may be
    // added after a close and reuse of the number (asyncio registers with the selector too).
    if (h) fw->fresh = true;
    if (h && ev_is_active(&fw->io)) {
        reified(loop, fw);
        stop(loop, fw);
    }
    io_update(loop, fw);
    if (old) end(old); // asyncio: the new callback replaces the old one
}

void io_add_callback(Loop *loop, int fd, bool write, coio_callback fn, void *arg,
                     coio_free_fn drop) {
    Handle *h = handle_new(loop, Handle::Io, fn, arg, drop);
    try {
        io_set(loop, fd, write, h);
    } catch (...) {
        h->drop = nullptr; // the registration failed: the caller keeps arg
        handle_unref(h);
        throw;
    }
}

bool io_remove(Loop *loop, int fd, bool write) {
    FdWatcher *fw = io_watcher(loop, fd);
    if (!fw) return false;
    Handle *&side = write ? fw->writer : fw->reader;
    Handle *old = side;
    if (!old) return false;
    side = nullptr;
    io_update(loop, fw);
    end(old);
    return true;
}

void io_close_all(Loop *loop) {
    if (loop->io.verify.data) ev_timer_stop(loop->ev, &loop->io.verify);
    loop->io.unverified = loop->io.parked = nullptr;
    for (FdWatcher *fw : loop->io.fds) {
        if (!fw) continue;
        stop(loop, fw);
        for (Handle *h : {fw->reader, fw->writer}) {
            if (!h) continue;
            handle_discard(h);
            handle_unref(h);
        }
        fw->reader = fw->writer = nullptr;
        // Pending socket operations end cancelled; their futures stay their holders'.
        for (SockOp *op : {fw->rop, fw->wop})
            if (op) sock_abandon(op);
        fw->rop = fw->wop = nullptr;
    }
    for (FdWatcher *fw : loop->io.fds)
        delete fw;
    loop->io.fds.clear();
    loop->io.fds.shrink_to_fit();
    // The cancellations scheduled the done callbacks of those futures: the loop will not run
    // them any more, so they end here (their drops run), as the rest of the queue did.
    while (!loop->ready.empty())
        ready_discard(loop->ready.pop());
}

} // namespace coio::detail
