// File descriptors (io.cc) and socket operations (sock.cc).
#pragma once

#include <coio.h>
#include <ev.h>

#include <cstddef>
#include <cstdint>
#include <sys/socket.h>
#include <vector>

#include "handle.hh"

namespace coio::detail {

struct Loop;
struct Future;

// The watcher of one fd (io.cc): per side, an add_reader / add_writer handle or a pending
// socket operation of sock.cc (never both), and the ev_io that polls for whichever is set.
// Made on first use and kept until the loop closes, with what is known of the fd.
struct SockOp;
struct FdWatcher {
    ev_io io; // first: the libev callback gets &io
    Loop *loop;
    Handle *reader;
    Handle *writer;
    SockOp *rop; // pending operations (each slot holds a reference)
    SockOp *wop;
    FdWatcher *unext;      // in the loop's list of unverified watchers (io.cc), if ulisted
    FdWatcher *pnext;      // in the loop's list of parked watchers, if plisted
    std::uint32_t uepoch;  // the verification epoch it became unverified in
    unsigned reified_iter; // reified_mask is what libev gave the kernel before this poll
    unsigned idle_iter;    // the last poll (IoState::pass) in which it became idle
    unsigned drained_iter; // the poll of the short read that set `drained`
    std::uint8_t reified_mask;
    bool unverified; // armed on a kernel registration that predates a possible close
    bool ulisted;    // in the unverified list (which may keep it a while after `unverified`)
    bool parked;     // idle, but its ev_io is left active until the next poll (io.cc)
    bool plisted;    // in the parked list
    bool fresh;      // the number names a new descriptor: register it anew
    bool drained;    // a short read found the socket empty (a hint, see sock.cc)
    bool nonblock;   // fd was seen to be non-blocking (F_GETFL)
};

// The loop's part (Loop::io).
struct IoState {
    std::vector<FdWatcher *> fds;    // by fd number
    FdWatcher *unverified = nullptr; // watchers re-armed without the kernel, checked by `verify`
    FdWatcher *parked = nullptr;     // watchers to stop before the next poll
    unsigned pass = 0;               // polls made: libev's ev_iteration, without the call
    std::uint32_t verify_epoch = 0;
    ev_timer verify{};
};

// One iteration of libev (flags: EVRUN_ONCE or EVRUN_NOWAIT), i.e. one poll.  Every poll of
// the loop goes through here: parked watchers are stopped first.
void io_poll(Loop *loop, int flags);

void io_set(Loop *loop, int fd, bool write, Handle *h); // replaces (h null: removes)
// add_reader / add_writer (no socket operation pending on that side).  Throws std::bad_alloc;
// then arg stays the caller's.
void io_add_callback(Loop *loop, int fd, bool write, coio_callback fn, void *arg,
                     coio_free_fn drop);
bool io_remove(Loop *loop, int fd, bool write); // true if there was one
bool io_busy(Loop *loop, int fd, bool write);   // a socket operation is pending on that side
void io_close_all(Loop *loop);                  // closing the loop
FdWatcher *io_watcher(Loop *loop, int fd);      // null if fd has none
FdWatcher *io_watcher_make(Loop *loop, int fd); // throws std::bad_alloc
void io_update(Loop *loop, FdWatcher *fw);      // (re)arms the ev_io for what the sides want
// Arming that side now would need no call to the kernel (io.cc: the re-arm within a pass).
bool io_arm_free(Loop *loop, const FdWatcher *fw, bool write);
void io_fresh_fd(Loop *loop, int fd); // fd was just created (accept, connect)
// Socket operations and readiness futures (sock.cc; api_sock.cc checks the arguments).
void sock_ready(FdWatcher *fw, bool write);  // from the poll: that side's operation may go on
void sock_closed(FdWatcher *fw, bool write); // its fd was found closed: that side's op ends
void sock_abandon(SockOp *op);               // closing the loop: cancelled, slot reference gone
int sock_wait(Loop *loop, int fd, bool write, Future **out);
int sock_recv(Loop *loop, int fd, std::size_t n, Future **out);
int sock_recv_into(Loop *loop, int fd, void *buf, std::size_t len, Future **out);
int sock_sendall(Loop *loop, int fd, const void *buf, std::size_t len, Future **out);
int sock_accept(Loop *loop, int fd, Future **out);
int sock_connect(Loop *loop, int fd, const struct sockaddr *addr, socklen_t len, Future **out);
int sock_result_size(const Future *f, std::size_t *n);
int co_recv_into(int fd, void *buf, std::size_t len, std::size_t *n, int *err);
int co_sendall(int fd, const void *buf, std::size_t len, int *err);
int co_accept(int fd, int *conn, struct sockaddr *addr, socklen_t *addrlen, int *err);
int co_connect(int fd, const struct sockaddr *addr, socklen_t len, int *err);

} // namespace coio::detail
