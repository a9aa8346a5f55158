// The timer heap: asyncio's `_scheduled`, ordered by (deadline, scheduling sequence) so equal
// deadlines fire in the order they were scheduled.  A 4-ary heap (as libev uses) with the keys
// stored inline for cache locality.  Cancelled timers are removed lazily, like asyncio does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace coio::detail {

struct Handle;

class TimerHeap {
  public:
    struct Entry {
        double when;
        std::uint64_t seq;
        Handle *h;
    };

    bool empty() const { return v_.empty(); }
    std::size_t size() const { return v_.size(); }
    const Entry &top() const { return v_.front(); }

    void push(const Entry &e); // throws std::bad_alloc
    Entry pop();

    // Rebuilds the heap without the entries for which drop_if(h) is true, calling it once per
    // entry (the callee releases what it drops).
    template <class F> void remove_if(F drop_if) {
        constexpr std::size_t kAhead = 16; // the callee reads each handle: prefetch it
        std::size_t k = 0, n = v_.size();
        for (std::size_t i = 0; i < n; i++) {
            if (i + kAhead < n) __builtin_prefetch(v_[i + kAhead].h, 1);
            if (!drop_if(v_[i].h)) v_[k++] = v_[i];
        }
        v_.resize(k);
        for (std::size_t i = v_.size() / 4 + 1; i-- > 0;) sift_down(i);
    }

    // Takes every entry out (unordered), for closing the loop.
    std::vector<Entry> take_all() { return std::move(v_); }

  private:
    static bool less(const Entry &a, const Entry &b) {
        return a.when < b.when || (a.when == b.when && a.seq < b.seq);
    }
    void sift_up(std::size_t i);
    void sift_down(std::size_t i);

    std::vector<Entry> v_;
};

} // namespace coio::detail
