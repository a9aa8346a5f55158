// The ready queue: a FIFO ring of handles, asyncio's `_ready` deque.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coio::detail {

struct Handle;

class ReadyQueue {
  public:
    ReadyQueue() = default;
    ReadyQueue(const ReadyQueue &) = delete;
    ReadyQueue &operator=(const ReadyQueue &) = delete;
    ~ReadyQueue();

    bool empty() const { return head_ == tail_; }
    std::size_t size() const { return tail_ - head_; }

    // Throws std::bad_alloc when the ring cannot grow.
    void push(Handle *h) {
        if (tail_ - head_ == cap_) grow();
        buf_[tail_++ & (cap_ - 1)] = h;
    }
    // Makes room for n more pushes.
    void reserve(std::size_t n) {
        while (cap_ - (tail_ - head_) < n) grow();
    }
    Handle *pop() { return buf_[head_++ & (cap_ - 1)]; }

  private:
    void grow();

    Handle **buf_ = nullptr;
    std::size_t cap_ = 0; // a power of two
    std::size_t head_ = 0, tail_ = 0;
};

} // namespace coio::detail
