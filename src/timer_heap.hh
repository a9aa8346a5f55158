// The timer heap: asyncio's `_scheduled`, ordered by (deadline, scheduling sequence) so equal
// deadlines fire in the order they were scheduled.
//
// A 4-ary heap as libev's: 16-byte entries (deadline + handle) in a 64-byte-aligned array with
// the root at index kRoot, so that the four children of a node share one cache line.  The
// sequence number lives in the handle: it is read only to break an exact tie.  Cancelled timers
// are removed lazily, as asyncio does.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coio::detail {

struct Handle;
std::uint64_t handle_seq(const Handle *h);

class TimerHeap {
  public:
    struct Entry {
        double when;
        Handle *h;
    };

    TimerHeap() = default;
    TimerHeap(const TimerHeap &) = delete;
    TimerHeap &operator=(const TimerHeap &) = delete;
    ~TimerHeap();

    bool empty() const { return n_ == 0; }
    std::size_t size() const { return n_; }
    const Entry &top() const { return v_[kRoot]; }

    // By value, in registers: an entry its caller built on the stack and passed by reference
    // was reloaded as one 16-byte load from two 8-byte stores, which store forwarding cannot
    // serve (a stall that was a fifth of scheduling a timer).  Throws std::bad_alloc.
    void push(Entry e);
    Entry pop();

    // Keeps the entries for which keep(h) is true, calling it once per entry (the callee
    // releases what it does not keep), then restores the heap order.
    template <class F> void filter(F keep) {
        constexpr std::size_t kAhead = 16; // the callee reads each handle: prefetch it
        std::size_t k = 0;
        for (std::size_t i = 0; i < n_; i++) {
            if (i + kAhead < n_) __builtin_prefetch(v_[kRoot + i + kAhead].h, 1);
            if (keep(v_[kRoot + i].h)) v_[kRoot + k++] = v_[kRoot + i];
        }
        n_ = k;
        for (std::size_t i = n_ / 4 + 1; i-- > 0;)
            sift_down(i);
    }

    // Calls fn(h) for every entry and empties the heap (closing the loop).
    template <class F> void drain(F fn) {
        std::size_t n = n_;
        n_ = 0;
        for (std::size_t i = 0; i < n; i++)
            fn(v_[kRoot + i].h);
    }

  private:
    static constexpr std::size_t kRoot = 3; // children of node i: 4i+1..4i+4, at 4(i+1)+kRoot-3

    static constexpr std::size_t kNone = ~std::size_t(0);

    // Equal deadlines are rare: that branch is predicted, and the common case compiles to a
    // flag the caller can turn into an index without a branch.
    static bool less(const Entry &a, const Entry &b) {
        if (__builtin_expect(a.when == b.when, 0)) return handle_seq(a.h) < handle_seq(b.h);
        return a.when < b.when;
    }
    Entry &at(std::size_t i) { return v_[kRoot + i]; }
    const Entry &at(std::size_t i) const { return v_[kRoot + i]; }
    std::size_t least_child(std::size_t i) const;
    void sift_up(std::size_t i);
    void sift_down(std::size_t i);
    void grow();

    Entry *v_ = nullptr;
    std::size_t mapped_ = 0;      // bytes of the mapping v_ points to
    std::size_t n_ = 0, cap_ = 0; // cap_ counts usable entries (after kRoot)
};

// Inline: scheduling a timer is one of the loop's hot paths, and a fresh entry rarely rises
// more than a level or two.
inline void TimerHeap::push(Entry e) {
    if (n_ == cap_) [[unlikely]]
        grow();
    at(n_) = e;
    sift_up(n_++);
}

inline void TimerHeap::sift_up(std::size_t i) {
    Entry e = at(i);
    while (i > 0) {
        std::size_t parent = (i - 1) / 4;
        if (!less(e, at(parent))) break;
        at(i) = at(parent);
        i = parent;
    }
    at(i) = e;
}

} // namespace coio::detail
