#include "ready.hh"

#include <cstdlib>
#include <new>

namespace coio::detail {

ReadyQueue::~ReadyQueue() { std::free(buf_); }

// Doubles the ring, unwrapping it so the oldest entry lands at index 0.
void ReadyQueue::grow() {
    std::size_t ncap = cap_ ? cap_ * 2 : 256;
    auto *nbuf = static_cast<Handle **>(std::malloc(ncap * sizeof(Handle *)));
    if (!nbuf) throw std::bad_alloc();
    std::size_t n = tail_ - head_;
    for (std::size_t i = 0; i < n; i++) nbuf[i] = buf_[(head_ + i) & (cap_ - 1)];
    std::free(buf_);
    buf_ = nbuf;
    cap_ = ncap;
    head_ = 0;
    tail_ = n;
}

} // namespace coio::detail
