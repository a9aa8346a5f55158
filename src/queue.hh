// asyncio.Queue / LifoQueue / PriorityQueue (3.13, with shutdown): the state behind a
// coio_queue handle, shared by queue.cc (the internals) and api_queue.cc (the C wrappers).
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>

#include "future.hh"
#include "loop.hh"
#include "ready.hh"

namespace coio::detail {

// A growable ring buffer of trivially copyable T (capacity a power of two, doubled when
// full, never shrunk): the FIFO/LIFO item store, the PRIORITY heap's array and the waiter
// lines.  push_* throw std::bad_alloc (nothing changed) when it cannot grow.
template <class T> class Ring {
  public:
    Ring() = default;
    Ring(const Ring &) = delete;
    Ring &operator=(const Ring &) = delete;
    ~Ring() { std::free(buf_); }

    std::size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    T &at(std::size_t i) { return buf_[(head_ + i) & (cap_ - 1)]; }
    const T &at(std::size_t i) const { return buf_[(head_ + i) & (cap_ - 1)]; }
    T &front() { return buf_[head_]; }

    void push_back(const T &v) {
        if (n_ == cap_) grow();
        buf_[(head_ + n_) & (cap_ - 1)] = v;
        n_++;
    }
    T pop_front() {
        T v = buf_[head_];
        head_ = (head_ + 1) & (cap_ - 1);
        n_--;
        return v;
    }
    T pop_back() {
        n_--;
        return at(n_);
    }
    // Inserts v before position i (0 .. size()), moving the shorter side.
    void insert(std::size_t i, const T &v) {
        if (n_ == cap_) grow();
        if (i < n_ - i) {
            head_ = (head_ - 1) & (cap_ - 1);
            for (std::size_t k = 0; k < i; k++)
                at(k) = at(k + 1);
        } else {
            for (std::size_t k = n_; k > i; k--)
                at(k) = at(k - 1);
        }
        n_++;
        at(i) = v;
    }
    void erase(std::size_t i) {
        for (std::size_t k = i; k + 1 < n_; k++)
            at(k) = at(k + 1);
        n_--;
    }
    // Moves the contents out into o (empty), leaving this ring empty.
    void move_to(Ring &o) {
        std::swap(buf_, o.buf_);
        std::swap(cap_, o.cap_);
        std::swap(head_, o.head_);
        std::swap(n_, o.n_);
    }

  private:
    void grow() {
        std::size_t ncap = cap_ ? cap_ * 2 : 4;
        T *nb = static_cast<T *>(std::malloc(ncap * sizeof(T)));
        if (!nb) throw std::bad_alloc();
        for (std::size_t k = 0; k < n_; k++)
            nb[k] = at(k);
        std::free(buf_);
        buf_ = nb;
        cap_ = ncap;
        head_ = 0;
    }

    T *buf_ = nullptr;
    std::size_t cap_ = 0, head_ = 0, n_ = 0;
};

// A queued item.  seq is its put order: FIFO/LIFO rings stay sorted by it, and PRIORITY
// orders by (prio, seq), so equal priorities come out first in, first out.
struct QueueItem {
    void *value;
    coio_free_fn drop;
    double prio;
    std::uint64_t seq;
};

struct QueueWaiter;

struct Queue {
    Loop *loop;             // a reference: the handle may outlive the loop
    std::uint32_t refs;     // the handle's, plus one per waiter future
    std::uint8_t kind;      // COIO_QUEUE_*
    bool freed;             // coio_queue_free ran: only waiter futures are left
    bool shut;              // shutdown() (asyncio's _is_shutdown)
    bool shut_immediate;    // shutdown(immediate=True)
    std::size_t maxsize;    // 0: unbounded
    std::size_t unfinished; // asyncio's _unfinished_tasks
    std::uint64_t seq;      // the put order of the next item
    Ring<QueueItem> items;  // FIFO/LIFO: in put order; PRIORITY: a binary heap (head 0)
    Ring<QueueWaiter *> getters, putters, joiners; // pending waiter futures, FIFO
};

inline bool queue_full(const Queue *q) {
    return q->maxsize && q->items.size() >= q->maxsize;
}

// Every function below takes checked arguments (api_queue.cc) and throws std::bad_alloc with
// nothing changed when memory runs out; the statuses they return are the queue's own.
Queue *queue_new(Loop *loop, int kind, std::size_t maxsize);
void queue_free(Queue *q);
// put on a queue that is not shut down: a done future if the item went in, else a waiter.
Future *queue_put(Queue *q, double prio, void *value, coio_free_fn drop);
int queue_put_nowait(Queue *q, double prio, void *value, coio_free_fn drop); // EFULL, ESHUTDOWN
int queue_get(Queue *q, Future **out);                                       // ESHUTDOWN
int queue_get_nowait(Queue *q, void **value, coio_free_fn *drop);            // EEMPTY, ESHUTDOWN
int queue_task_done(Queue *q);                                               // ESTATE
Future *queue_join(Queue *q);
void queue_shutdown(Queue *q, bool immediate);

} // namespace coio::detail
