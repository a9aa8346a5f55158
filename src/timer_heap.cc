#include "timer_heap.hh"

#include <sys/mman.h>

#include <cstring>
#include <new>

#include "handle.hh"
#include "loop.hh"
#include "mapping.hh"
#include "ready.hh"

namespace coio::detail {

std::uint64_t handle_seq(const Handle *h) {
    return h->seq;
}

TimerHeap::~TimerHeap() {
    if (!v_) return;
    leak_roots_remove(v_, mapped_);
    munmap(v_, mapped_);
}

// The array is a mapping of its own: page-aligned (so every family of four children shares
// a cache line) and, on Linux, doubled by mremap, which moves the pages instead of copying
// them.  A copy into fresh memory faults in every page of the new array while the old one is
// still there; at a million timers that was a sixth of the page faults (libev's realloc gets
// the mremap from malloc, which the alignment rules out here).  16 KiB to start: 1,021
// entries after the kRoot unused ones.
void TimerHeap::grow() {
    std::size_t page = page_size();
    std::size_t want = (kRoot + (cap_ ? cap_ * 2 : 1021)) * sizeof(Entry);
    std::size_t bytes = (want + page - 1) / page * page;
    void *p;
#ifdef __linux__
    p = v_ ? mremap(v_, mapped_, bytes, MREMAP_MAYMOVE)
           : mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc(); // the old mapping stays as it was
#else
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (v_) {
        std::memcpy(static_cast<Entry *>(p) + kRoot, v_ + kRoot, n_ * sizeof(Entry));
        munmap(v_, mapped_);
    }
#endif
    // The entries point to handles: the sanitizers see them here (mapping.hh).
    if (v_) leak_roots_remove(v_, mapped_);
    mapping_unpoison(p, bytes);
    leak_roots_add(p, bytes);
    v_ = static_cast<Entry *>(p);
    mapped_ = bytes;
    cap_ = bytes / sizeof(Entry) - kRoot; // kRoot + cap_ a multiple of 4, as the pages are
}

// Floyd's pop: the entry moved up from the end is a leaf, and nearly always sinks back to the
// bottom.  So the hole at the root first descends along the least children to a leaf without
// comparing them with that entry (a compare per level saved), and the entry then rises from
// there, usually not at all.
TimerHeap::Entry TimerHeap::pop() {
    Entry top = at(0);
    Entry e = at(--n_);
    if (n_) {
        std::size_t i = 0;
        for (std::size_t c; (c = least_child(i)) != kNone; i = c)
            at(i) = at(c);
        at(i) = e;
        sift_up(i);
    }
    return top;
}

// The least of node i's children, kNone for a leaf.  A full family (every node but the last
// parent's) is a tournament: the two pairs compare independently, which the CPU overlaps, and
// each compare picks an index (a conditional move where deadlines differ), not a branch.
std::size_t TimerHeap::least_child(std::size_t i) const {
    std::size_t first = 4 * i + 1;
    if (first + 3 < n_) {
        std::size_t a = first + less(at(first + 1), at(first));
        std::size_t b = first + 2 + less(at(first + 3), at(first + 2));
        return less(at(b), at(a)) ? b : a;
    }
    if (first >= n_) return kNone;
    std::size_t best = first;
    for (std::size_t c = first + 1; c < n_; c++)
        if (less(at(c), at(best))) best = c;
    return best;
}

void TimerHeap::sift_down(std::size_t i) {
    if (i >= n_) return;
    Entry e = at(i);
    for (std::size_t c; (c = least_child(i)) != kNone && less(at(c), e); i = c)
        at(i) = at(c);
    at(i) = e;
}

} // namespace coio::detail
