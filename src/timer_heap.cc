#include "timer_heap.hh"

namespace coio::detail {

void TimerHeap::push(const Entry &e) {
    v_.push_back(e);
    sift_up(v_.size() - 1);
}

TimerHeap::Entry TimerHeap::pop() {
    Entry top = v_.front();
    v_.front() = v_.back();
    v_.pop_back();
    if (!v_.empty()) sift_down(0);
    return top;
}

void TimerHeap::sift_up(std::size_t i) {
    Entry e = v_[i];
    while (i > 0) {
        std::size_t parent = (i - 1) / 4;
        if (!less(e, v_[parent])) break;
        v_[i] = v_[parent];
        i = parent;
    }
    v_[i] = e;
}

void TimerHeap::sift_down(std::size_t i) {
    const std::size_t n = v_.size();
    if (i >= n) return;
    Entry e = v_[i];
    for (;;) {
        std::size_t first = 4 * i + 1;
        if (first >= n) break;
        std::size_t last = first + 4 < n ? first + 4 : n;
        std::size_t best = first;
        for (std::size_t c = first + 1; c < last; c++)
            if (less(v_[c], v_[best])) best = c;
        if (!less(v_[best], e)) break;
        v_[i] = v_[best];
        i = best;
    }
    v_[i] = e;
}

} // namespace coio::detail
