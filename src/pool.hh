// Per-loop free lists for the small objects the hot paths create (handles, futures).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace coio::detail {

// Hands out raw storage for objects of one size.  With COIO_USE_POOL, storage is carved from
// chunks (doubling up to kMaxChunk objects) by a bump pointer, so fresh memory is touched once;
// freed objects go on a free list, so steady-state scheduling allocates nothing.  Objects die
// in any order, so the free list wanders through memory; whenever the last live object is
// released the pool starts bumping through its chunks in address order again.  Chunks are
// returned when the pool (the loop) is destroyed.  Without COIO_USE_POOL (sanitizer builds)
// every object is its own allocation so use-after-free stays visible.
template <std::size_t Size, std::size_t Align = alignof(std::max_align_t)> class Pool {
  public:
    Pool() = default;
    Pool(const Pool &) = delete;
    Pool &operator=(const Pool &) = delete;
    ~Pool() {
        for (const Chunk &c : chunks_)
            std::free(c.mem);
    }

    void *alloc() {
#ifdef COIO_USE_POOL
        live_++;
        if (free_) {
            Node *n = free_;
            free_ = n->next;
            nfree_--;
            if (free_) __builtin_prefetch(free_, 1); // likely a miss next time otherwise
            return n;
        }
        if (bump_ == end_) next_chunk();
        void *p = bump_;
        bump_ += kSlot;
        return p;
#else
        return ::operator new(kSlot);
#endif
    }

    void release(void *p) noexcept {
#ifdef COIO_USE_POOL
        if (--live_ == 0) {
            rewind();
            return;
        }
        push_free(p);
#else
        ::operator delete(p);
#endif
    }

    // Makes sure the next n alloc() calls cannot fail (pooled builds).
    void reserve(std::size_t n) {
#ifdef COIO_USE_POOL
        while (available() < n)
            add_chunk();
#else
        (void)n;
#endif
    }

  private:
    struct Node {
        Node *next;
    };
    struct Chunk {
        char *mem;
        std::size_t count;
    };
    static constexpr std::size_t kAlign = Align;
    static constexpr std::size_t kSlot = (Size + kAlign - 1) / kAlign * kAlign;
    static constexpr std::size_t kMaxChunk = 4096;

    void push_free(void *p) {
        Node *n = static_cast<Node *>(p);
        n->next = free_;
        free_ = n;
        nfree_++;
    }

    std::size_t available() const {
        std::size_t n = nfree_ + std::size_t(end_ - bump_) / kSlot;
        for (std::size_t i = cur_ + 1; i < chunks_.size(); i++)
            n += chunks_[i].count;
        return n;
    }

    void add_chunk() {
        chunks_.reserve(chunks_.size() + 1); // so push_back below cannot throw after malloc
        char *mem = static_cast<char *>(std::malloc(kSlot * next_count_));
        if (!mem) throw std::bad_alloc();
        chunks_.push_back({mem, next_count_});
        if (next_count_ < kMaxChunk) next_count_ *= 2;
    }

    // Moves the bump pointer to the next chunk, allocating one if none is left.
    void next_chunk() {
        if (cur_ + 1 >= chunks_.size()) add_chunk();
        if (!bump_) cur_ = std::size_t(-1); // first use: start at chunk 0
        cur_++;
        bump_ = chunks_[cur_].mem;
        end_ = bump_ + kSlot * chunks_[cur_].count;
    }

    // Nothing is live: forget the free list and bump from the first chunk again.
    void rewind() {
        free_ = nullptr;
        nfree_ = 0;
        if (chunks_.empty()) return;
        cur_ = 0;
        bump_ = chunks_[0].mem;
        end_ = bump_ + kSlot * chunks_[0].count;
    }

    Node *free_ = nullptr;
    std::size_t nfree_ = 0, live_ = 0;
    char *bump_ = nullptr, *end_ = nullptr;
    std::size_t cur_ = 0; // the chunk bump_ points into
    std::vector<Chunk> chunks_;
    std::size_t next_count_ = 32;
};

} // namespace coio::detail
