// File descriptor readiness: asyncio's add_reader / add_writer.  One ev_io per fd, level
// triggered; a ready fd puts its reader / writer handle on the ready queue, so fd callbacks
// run in the same FIFO order as everything else.
#include <new>

#include "core.hh"

namespace coio::detail {

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
    if (revents & (EV_READ | EV_ERROR)) schedule(fw->loop, fw->reader);
    if (revents & (EV_WRITE | EV_ERROR)) schedule(fw->loop, fw->writer);
}

// Restarts the ev_io with the events its handles want; frees the watcher when none is left.
static void update(Loop *loop, FdWatcher *fw) {
    int fd = fw->io.fd;
    ev_io_stop(loop->ev, &fw->io);
    int events = (fw->reader ? EV_READ : 0) | (fw->writer ? EV_WRITE : 0);
    if (!events) {
        loop->fds.erase(fd);
        delete fw;
        return;
    }
    ev_io_set(&fw->io, fd, events);
    ev_io_start(loop->ev, &fw->io);
}

// Ends a reader/writer registration: its drop runs (after its callback, if it is running).
static void end(Handle *h) {
    handle_cancel(h);
    handle_unref(h);
}

void io_set(Loop *loop, int fd, bool write, Handle *h) {
    FdWatcher *&slot = loop->fds[fd]; // may throw: nothing changed yet
    if (!slot) {
        slot = new (std::nothrow) FdWatcher{};
        if (!slot) {
            loop->fds.erase(fd);
            throw std::bad_alloc();
        }
        slot->loop = loop;
        ev_io_init(&slot->io, on_io, fd, 0);
    }
    FdWatcher *fw = slot;
    Handle *&side = write ? fw->writer : fw->reader;
    Handle *old = side;
    side = h;
    update(loop, fw);
    if (old) end(old); // asyncio: the new callback replaces the old one
}

bool io_remove(Loop *loop, int fd, bool write) {
    auto it = loop->fds.find(fd);
    if (it == loop->fds.end()) return false;
    FdWatcher *fw = it->second;
    Handle *&side = write ? fw->writer : fw->reader;
    Handle *old = side;
    if (!old) return false;
    side = nullptr;
    update(loop, fw);
    end(old);
    return true;
}

void io_close_all(Loop *loop) {
    auto fds = std::move(loop->fds);
    loop->fds.clear();
    for (auto &[fd, fw] : fds) {
        ev_io_stop(loop->ev, &fw->io);
        for (Handle *h : {fw->reader, fw->writer}) {
            if (!h) continue;
            handle_discard(h);
            handle_unref(h);
        }
        delete fw;
    }
}

} // namespace coio::detail
