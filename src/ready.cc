#include "ready.hh"

#include <cstdlib>
#include <new>

#include "dispatch.hh"
#include "future.hh"
#include "loop.hh"
#include "ready.hh"

namespace coio::detail {

ReadyQueue::~ReadyQueue() {
    std::free(buf_);
}

// Doubles the ring.  While it is not wrapped (a queue filled in one go, from empty) the
// entries stay where they are and realloc grows it in place or moves its pages (mremap for
// large blocks): no copy, no page faults on memory touched already.  Otherwise it is copied,
// unwrapped so the oldest entry lands at index 0.  It starts at 1,024 entries (24 KiB): a
// loop that keeps few callbacks ready touches only the ring's first page (the ring rewinds
// when empty), and a first batch of up to 1,024 is not copied twice on the way.
void ReadyQueue::grow() {
    std::size_t ncap = cap_ ? cap_ * 2 : 1024;
    std::size_t n = tail_ - head_;
    std::size_t h = cap_ ? head_ & (cap_ - 1) : 0;
    if (h + n <= cap_) {
        auto *nbuf = static_cast<ReadyEntry *>(std::realloc(buf_, ncap * sizeof(ReadyEntry)));
        if (!nbuf) throw std::bad_alloc();
        buf_ = nbuf;
        cap_ = ncap;
        head_ = h;
        tail_ = h + n;
        return;
    }
    auto *nbuf = static_cast<ReadyEntry *>(std::malloc(ncap * sizeof(ReadyEntry)));
    if (!nbuf) throw std::bad_alloc();
    for (std::size_t i = 0; i < n; i++)
        nbuf[i] = buf_[(head_ + i) & (cap_ - 1)];
    std::free(buf_);
    buf_ = nbuf;
    cap_ = ncap;
    head_ = 0;
    tail_ = n;
}

// The tags are compared by address only, never called.  Distinct bodies keep the linker from
// folding them into one address.
void kRunHandle(void *) {
    std::abort();
}
void kRunDone(void *) {
    std::_Exit(71);
}
void kRunTask(void *) {
    std::_Exit(72);
}
void kRunResolve(void *) {
    std::_Exit(73);
}

void ready_discard(const ReadyEntry &e) {
    ready_dispatch<ReadyAction::Discard>(nullptr, e.fn, e.arg, e.aux);
}

void ready_push_done(Loop *loop, Future *f, std::uint32_t first, std::uint32_t count) {
    auto range = (std::uintptr_t(first) << 32) | count;
    loop->ready.push({kRunDone, f, reinterpret_cast<void *>(range)});
}

} // namespace coio::detail
