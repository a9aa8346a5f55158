#include "timer_heap.hh"

#include <cstdlib>
#include <cstring>
#include <new>

#include "handle.hh"
#include "loop.hh"
#include "ready.hh"

namespace coio::detail {

std::uint64_t handle_seq(const Handle *h) {
    return h->seq;
}

TimerHeap::~TimerHeap() {
    std::free(v_);
}

void TimerHeap::grow() {
    std::size_t ncap = cap_ ? cap_ * 2 : 1021; // kRoot + ncap entries: a multiple of 4
    std::size_t bytes = (kRoot + ncap) * sizeof(Entry);
    auto *nv = static_cast<Entry *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!nv) throw std::bad_alloc();
    if (n_) std::memcpy(nv + kRoot, v_ + kRoot, n_ * sizeof(Entry));
    std::free(v_);
    v_ = nv;
    cap_ = ncap;
}

void TimerHeap::push(Entry e) {
    if (n_ == cap_) grow();
    at(n_) = e;
    sift_up(n_++);
}

TimerHeap::Entry TimerHeap::pop() {
    Entry top = at(0);
    at(0) = at(--n_);
    if (n_) sift_down(0);
    return top;
}

void TimerHeap::sift_up(std::size_t i) {
    Entry e = at(i);
    while (i > 0) {
        std::size_t parent = (i - 1) / 4;
        if (!less(e, at(parent))) break;
        at(i) = at(parent);
        i = parent;
    }
    at(i) = e;
}

void TimerHeap::sift_down(std::size_t i) {
    if (i >= n_) return;
    Entry e = at(i);
    for (;;) {
        std::size_t first = 4 * i + 1;
        if (first >= n_) break;
        std::size_t last = first + 4 < n_ ? first + 4 : n_;
        std::size_t best = first;
        for (std::size_t c = first + 1; c < last; c++)
            if (less(at(c), at(best))) best = c;
        if (!less(at(best), e)) break;
        at(i) = at(best);
        i = best;
    }
    at(i) = e;
}

} // namespace coio::detail
