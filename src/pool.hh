// Per-loop free lists for the small objects the hot paths create (handles, futures).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace coio::detail {

// Hands out raw storage for objects of one size.  With COIO_USE_POOL, storage is carved from
// chunks that double in size (up to kMaxChunk objects) with a bump pointer, so fresh memory is
// touched once, and freed objects go on a free list, so steady-state scheduling allocates
// nothing; chunks are returned when the pool (the loop) is destroyed.  Without it (sanitizer
// builds) every object is its own allocation so use-after-free stays visible.
template <std::size_t Size> class Pool {
  public:
    Pool() = default;
    Pool(const Pool &) = delete;
    Pool &operator=(const Pool &) = delete;
    ~Pool() {
        for (void *c : chunks_) std::free(c);
    }

    void *alloc() {
#ifdef COIO_USE_POOL
        if (free_) {
            Node *n = free_;
            free_ = n->next;
            nfree_--;
            return n;
        }
        if (bump_ == end_) refill();
        void *p = bump_;
        bump_ += kSlot;
        return p;
#else
        return ::operator new(kSlot);
#endif
    }

    void release(void *p) noexcept {
#ifdef COIO_USE_POOL
        Node *n = static_cast<Node *>(p);
        n->next = free_;
        free_ = n;
        nfree_++;
#else
        ::operator delete(p);
#endif
    }

    // Makes sure the next n alloc() calls cannot fail (pooled builds).
    void reserve(std::size_t n) {
#ifdef COIO_USE_POOL
        while (nfree_ + std::size_t(end_ - bump_) / kSlot < n) refill();
#else
        (void)n;
#endif
    }

  private:
    struct Node {
        Node *next;
    };
    static constexpr std::size_t kAlign = alignof(std::max_align_t);
    static constexpr std::size_t kSlot = (Size + kAlign - 1) / kAlign * kAlign;
    static constexpr std::size_t kMaxChunk = 4096;

    // Starts a new chunk; what is left of the current one goes on the free list.
    void refill() {
        chunks_.reserve(chunks_.size() + 1); // so push_back below cannot throw after malloc
        char *mem = static_cast<char *>(std::malloc(kSlot * next_chunk_));
        if (!mem) throw std::bad_alloc();
        chunks_.push_back(mem);
        for (; bump_ != end_; bump_ += kSlot) release(bump_);
        bump_ = mem;
        end_ = mem + kSlot * next_chunk_;
        if (next_chunk_ < kMaxChunk) next_chunk_ *= 2;
    }

    Node *free_ = nullptr;
    std::size_t nfree_ = 0;
    char *bump_ = nullptr, *end_ = nullptr;
    std::vector<void *> chunks_;
    std::size_t next_chunk_ = 32;
};

} // namespace coio::detail
