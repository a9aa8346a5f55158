// The ready queue: a FIFO ring of entries, asyncio's `_ready` deque.
//
// An entry is three words so that the common cases allocate nothing: a plain callback is
// (fn, arg, drop) inline; a callback the caller holds a handle to is (kRunHandle, handle);
// a completed future's done callbacks are (kRunDone, future, first index and count).
#pragma once

#include <coio.h>

#include <cstddef>
#include <cstdint>

namespace coio::detail {

struct ReadyEntry {
    coio_callback fn;
    void *arg;
    void *aux;
};

class ReadyQueue {
  public:
    ReadyQueue() = default;
    ReadyQueue(const ReadyQueue &) = delete;
    ReadyQueue &operator=(const ReadyQueue &) = delete;
    ~ReadyQueue();

    bool empty() const { return head_ == tail_; }
    std::size_t size() const { return tail_ - head_; }

    // Throws std::bad_alloc when the ring cannot grow.
    void push(const ReadyEntry &e) {
        if (tail_ - head_ == cap_) grow();
        buf_[tail_++ & (cap_ - 1)] = e;
    }
    // Makes room for n more pushes.
    void reserve(std::size_t n) {
        while (cap_ - (tail_ - head_) < n)
            grow();
    }
    ReadyEntry pop() { return buf_[head_++ & (cap_ - 1)]; }
    // Once empty, starts again at the ring's first entry: the few entries of a busy loop's
    // passes stay in the same cache lines, and a batch pushed from empty does not wrap (so it
    // grows in place, see grow()).
    void rewind_if_empty() {
        if (head_ == tail_) head_ = tail_ = 0;
    }
    // The popped entry in place, valid until the next push: read its words one by one (a
    // whole-entry copy is one wide load of three narrow stores, which stalls store forwarding).
    const ReadyEntry &pop_ref() { return buf_[head_++ & (cap_ - 1)]; }

  private:
    void grow();

    ReadyEntry *buf_ = nullptr;
    std::size_t cap_ = 0; // a power of two
    std::size_t head_ = 0, tail_ = 0;
};

struct Loop;
struct Future;

// Ready-queue entry tags (compared by address) (dispatch.hh runs them).
void kRunHandle(void *);
void kRunDone(void *);
void kRunTask(void *);    // (task, awaited): one step of a task; both references
void kRunResolve(void *); // (future): set a NULL result unless done (sleep(0)); a reference
void ready_discard(const ReadyEntry &e); // ready_dispatch<Discard> (dispatch.hh)
void ready_push_done(Loop *loop, Future *f, std::uint32_t first, std::uint32_t count);

} // namespace coio::detail
