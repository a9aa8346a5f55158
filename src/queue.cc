// Queues: asyncio.Queue, LifoQueue and PriorityQueue of CPython 3.13 (Lib/asyncio/queues.py,
// shutdown included), with items (value, drop) owned by the queue.
//
// asyncio wakes a waiting getter with a bare set_result(None) and the getter takes an item
// when it runs.  Here a put gives its item straight to the first waiting getter: the get
// future completes with the item as its value, so a get costs one future and no second
// look at the queue.  When the task of that getter is cancelled before it ran (asyncio: the
// woken getter is cancelled and wakes the next one, the item stays queued),
// FutureOps::refused gives the item back: to the next getter, else into the queue where it
// would have stayed.  Blocked puts work the same way round: when room frees up, the first
// putter's item moves in and its future completes.  The user-visible consequences are listed
// under "Differences from asyncio" in coio_queue_new(3).
#include "queue.hh"
#include "future.hh"
#include "loop.hh"

namespace coio::detail {

enum class QueueRole : std::uint8_t { Get, Put, Join };

struct QueuePutItem {
    void *value;
    coio_free_fn drop; // null once the item went in or was dropped
};

// The waiter futures: get (completes with an item), put (completes once its item is in),
// join.  The future holds a reference to the queue; the queue's lines hold none to it: a
// waiter whose last reference goes while it still waits leaves its line (finalize).
struct QueueWaiter : CustomFuture {
    QueueRole role; // (these two sit in CustomFuture's tail padding)
    bool linked;    // in its line of q
    Queue *q;
    double prio; // put: the item's priority; get: the priority of the item it was handed
    union {
        QueuePutItem put;  // put: the item waiting to go in
        std::uint64_t seq; // get: the put order of the item it was handed
    };
};

// Waiters come from the loop's pool of small custom futures: no malloc per wait.
static_assert(sizeof(QueueWaiter) <= kSmallCustomFuture, "keep QueueWaiter pooled");

namespace {

using Waiter = QueueWaiter;
using Role = QueueRole;
using PutItem = QueuePutItem;

constexpr const char *kShutMessage = "queue is shut down";

bool item_before(const QueueItem &a, const QueueItem &b) {
    return a.prio < b.prio || (a.prio == b.prio && a.seq < b.seq);
}

// ---- the item store: FIFO / LIFO ring, PRIORITY binary heap ------------------------------

void heap_sift_up(Ring<QueueItem> &h, std::size_t i) {
    QueueItem it = h.at(i);
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (!item_before(it, h.at(parent))) break;
        h.at(i) = h.at(parent);
        i = parent;
    }
    h.at(i) = it;
}

void heap_sift_down(Ring<QueueItem> &h, std::size_t i) {
    std::size_t n = h.size();
    QueueItem it = h.at(i);
    for (;;) {
        std::size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && item_before(h.at(c + 1), h.at(c))) c++;
        if (!item_before(h.at(c), it)) break;
        h.at(i) = h.at(c);
        i = c;
    }
    h.at(i) = it;
}

// asyncio's _put.  Throws (nothing changed) when the store cannot grow.
void store(Queue *q, const QueueItem &it) {
    q->items.push_back(it);
    if (q->kind == COIO_QUEUE_PRIORITY) heap_sift_up(q->items, q->items.size() - 1);
}

// asyncio's _get (the store is not empty).
QueueItem take(Queue *q) {
    switch (q->kind) {
    case COIO_QUEUE_FIFO:
        return q->items.pop_front();
    case COIO_QUEUE_LIFO:
        return q->items.pop_back();
    default: {
        Ring<QueueItem> &h = q->items;
        QueueItem top = h.at(0);
        QueueItem last = h.pop_back();
        if (!h.empty()) {
            h.at(0) = last;
            heap_sift_down(h, 0);
        }
        return top;
    }
    }
}

// An item given back by a refused getter goes where it would be had it stayed in the queue
// (in asyncio it never left): by put order in the FIFO/LIFO rings, which stay sorted by seq.
void reinsert(Queue *q, const QueueItem &it) {
    if (q->kind == COIO_QUEUE_PRIORITY) {
        store(q, it);
        return;
    }
    std::size_t lo = 0, hi = q->items.size();
    while (lo < hi) {
        std::size_t mid = lo + (hi - lo) / 2;
        if (q->items.at(mid).seq < it.seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    q->items.insert(lo, it);
}

// ---- the waiter lines --------------------------------------------------------------------

Ring<Waiter *> &line_of(Queue *q, Role role) {
    return role == Role::Get ? q->getters : role == Role::Put ? q->putters : q->joiners;
}

void unlink(Waiter *w) {
    if (!w->linked) return;
    Ring<Waiter *> &line = line_of(w->q, w->role);
    for (std::size_t i = 0; i < line.size(); i++) {
        if (line.at(i) == w) {
            line.erase(i);
            break;
        }
    }
    w->linked = false;
}

// A put's item that will not go in (cancelled, shut down, queue freed) is dropped, once.
void drop_put_item(Waiter *w) {
    if (w->role != Role::Put || !w->put.drop) return;
    PutItem it = w->put;
    w->put.drop = nullptr;
    it.drop(it.value);
}

// The first waiter of a line still pending (asyncio's _wakeup_next skips the done ones: a
// waiter can only be done here if someone completed it by hand); it stays in the line.
Waiter *first_pending(Ring<Waiter *> &line) {
    while (!line.empty()) {
        Waiter *w = line.front();
        if (w->state == Future::Pending) return w;
        line.pop_front();
        w->linked = false;
        drop_put_item(w);
    }
    return nullptr;
}

void queue_ref(Queue *q) {
    q->refs++;
}

void queue_unref(Queue *q) {
    if (--q->refs) return;
    Loop *loop = q->loop;
    delete q;
    loop_unref(loop);
}

// Holds a reference for the length of an operation that runs user code (drops).
struct Hold {
    Queue *q;
    explicit Hold(Queue *queue) : q(queue) { queue_ref(q); }
    ~Hold() { queue_unref(q); }
    Hold(const Hold &) = delete;
    Hold &operator=(const Hold &) = delete;
};

// Items taken out of a queue, dropped in queue order when it goes out of scope: after the
// state changes, so that a drop that calls back into the queue finds it consistent.
struct Trash {
    Ring<QueueItem> items;
    Trash() = default;
    Trash(const Trash &) = delete;
    Trash &operator=(const Trash &) = delete;
    ~Trash() {
        while (!items.empty()) {
            QueueItem it = items.pop_front();
            if (it.drop) it.drop(it.value);
        }
    }
};

// Makes room in the ready queue for the completions of one operation, so that none of them
// can fail half-way (a completion pushes at most one entry).
void reserve_completions(Queue *q, std::size_t n) {
    q->loop->ready.reserve(n);
}

// Completes the first pending getter with `it` (its value and drop move to the future).
// Needs one reserved ready slot.  The getter leaves its line first: completing it runs user
// code (inline watchers: a wait_for lets its inner future go) that may release its last
// reference or call back into the queue; nothing is read after it.
void hand(Queue *q, Waiter *g, const QueueItem &it) {
    q->getters.pop_front();
    g->linked = false;
    g->prio = it.prio;
    g->seq = it.seq;
    future_set_result(g, it.value, it.drop);
}

// An item enters the queue (asyncio's put_nowait past its checks): straight to the first
// waiting getter, else into the store.  Needs one reserved ready slot; throws (nothing
// changed) only when the store cannot grow.
void enter(Queue *q, void *value, coio_free_fn drop, double prio) {
    QueueItem it{value, drop, prio, q->seq};
    Waiter *g = first_pending(q->getters);
    if (!g) store(q, it);
    q->seq++;
    q->unfinished++;       // asyncio: _unfinished_tasks += 1; _finished.clear()
    if (g) hand(q, g, it); // last: it runs user code
}

// A get took an item (asyncio's get_nowait: _wakeup_next(self._putters)): the first
// waiting putter's item moves into the freed room and its future completes.  Cannot fail:
// two ready slots are reserved and the store has room (it just lost an item).
void admit_putter(Queue *q) {
    if (queue_full(q)) return;
    Waiter *p = first_pending(q->putters);
    if (!p) return;
    q->putters.pop_front();
    p->linked = false;
    PutItem it = p->put;
    p->put.drop = nullptr;
    // Entering the item (handing it to a getter) and completing p run user code that may
    // release p's last reference (see hand), or complete it.
    FutureHold hold(p);
    enter(q, it.value, it.drop, p->prio);
    if (p->state == Future::Pending) future_set_result(p, nullptr, nullptr);
}

// asyncio's _finished.set(): every join waiter completes, in the order they came.  Needs
// a reserved ready slot per waiter.
void finish_joiners(Queue *q) {
    while (!q->joiners.empty()) {
        Waiter *w = q->joiners.pop_front();
        w->linked = false;
        if (w->state == Future::Pending) future_set_result(w, nullptr, nullptr);
    }
}

// asyncio's task_done() past its check: one item fewer to wait for.  Throws (nothing
// changed) if the ready queue cannot make room for the join waiters.
void count_done(Queue *q) {
    if (q->unfinished == 1) reserve_completions(q, q->joiners.size());
    if (--q->unfinished == 0) finish_joiners(q);
}

// ---- FutureOps ---------------------------------------------------------------------------

Waiter *as_waiter(Future *f) {
    return static_cast<Waiter *>(static_cast<CustomFuture *>(f));
}

// coio_future_cancel on a waiter (directly, or through the task awaiting it): it leaves its
// line; a put's item is dropped, not put (asyncio: the cancelled put() never calls
// put_nowait).
bool waiter_cancel(Future *f, const char *msg) {
    Waiter *w = as_waiter(f);
    if (!future_cancel(f, msg)) return false; // throws before any change
    unlink(w);
    drop_put_item(w);
    return true;
}

// The task of a getter that was handed an item is cancelled before it saw it: the item goes
// to the next getter, else back into the queue, so that nothing is lost (asyncio: the woken
// getter is cancelled, wakes the next one, and the item never left the queue).  Whatever
// is still in the future afterwards, future_refused drops.
void getter_refused(Future *f) {
    Waiter *w = as_waiter(f);
    Queue *q = w->q;
    if (q->freed) return; // the queue is gone: the future drops the item
    QueueItem it{f->value, f->value_drop, w->prio, w->seq};
    f->value = nullptr;
    f->value_drop = nullptr;
    value_repr_forget(f);
    if (!q->shut_immediate) {
        try {
            reserve_completions(q, 1);
            if (Waiter *g = first_pending(q->getters))
                hand(q, g, it);
            else
                reinsert(q, it);
            return;
        } catch (...) { // out of memory: the item goes as an immediate shutdown's would
        }
    }
    // Shut down immediately since the hand-off: in asyncio the item was still queued, so
    // the shutdown dropped it and counted it done.
    try {
        if (q->unfinished) count_done(q);
    } catch (...) { // out of memory: join waiters stay pending
    }
    if (it.drop) it.drop(it.value);
}

// The last reference went: a waiter still in its line leaves it; a put's item that never
// went in is dropped.
void waiter_finalize(Future *f) {
    Waiter *w = as_waiter(f);
    unlink(w);
    drop_put_item(w);
    queue_unref(w->q);
}

constexpr FutureOps kGetOps{waiter_cancel, getter_refused, waiter_finalize};
// Once a put future completed its item is in the queue: a cancellation of the putting task
// that arrives after that has nothing to undo (asyncio would not put it).
constexpr FutureOps kPutOps{waiter_cancel, nullptr, waiter_finalize};
constexpr FutureOps kJoinOps{waiter_cancel, nullptr, waiter_finalize};

Waiter *waiter_new(Queue *q, Role role) {
    const FutureOps *ops = role == Role::Get ? &kGetOps : role == Role::Put ? &kPutOps : &kJoinOps;
    Waiter *w = custom_future_new<Waiter>(q->loop, ops);
    w->role = role;
    w->q = q;
    queue_ref(q);
    return w;
}

// A new waiter at the end of its line.
Waiter *wait_in_line(Queue *q, Role role) {
    Waiter *w = waiter_new(q, role);
    try {
        line_of(q, role).push_back(w);
    } catch (...) {
        future_unref(w);
        throw;
    }
    w->linked = true;
    return w;
}

// Shutdown: every pending waiter of a line fails with COIO_ESHUTDOWN (a put's item is
// dropped).  A drop may close a loop that is not running: from then on they only leave.
void fail_line(Queue *q, Ring<Waiter *> &line) {
    while (!line.empty()) {
        Waiter *w = line.pop_front();
        w->linked = false;
        FutureHold hold(w); // as in cancel_line: failing it runs user code
        if (w->state == Future::Pending && !q->loop->closed)
            future_complete_error(w, Future::Failed, COIO_ESHUTDOWN, kShutMessage, nullptr);
        drop_put_item(w);
    }
}

// coio_queue_free: pending waiters leave their lines and are cancelled (not on a closed
// loop: nothing completes there any more; they stay pending until released).
void cancel_line(Queue *q, Ring<Waiter *> &line) {
    while (!line.empty()) {
        Waiter *w = line.pop_front();
        w->linked = false;
        // The line's link is weak: cancelling runs user code (inline watchers, drops) that
        // may release the last reference to w, which is read again below.
        FutureHold hold(w);
        if (w->state == Future::Pending && !q->loop->closed) {
            try {
                future_cancel(w, nullptr);
            } catch (...) { // out of memory: it stays pending
            }
        }
        drop_put_item(w);
    }
}

} // namespace

// ---- operations --------------------------------------------------------------------------

Queue *queue_new(Loop *loop, int kind, std::size_t maxsize) {
    Queue *q = new Queue{};
    q->loop = loop;
    q->refs = 1;
    q->kind = std::uint8_t(kind);
    q->maxsize = maxsize;
    loop_ref(loop);
    return q;
}

void queue_free(Queue *q) {
    Hold hold(q);
    q->freed = true;
    queue_unref(q); // the handle's (hold keeps it alive until the end)
    {
        Trash trash;
        q->items.move_to(trash.items);
        cancel_line(q, q->getters);
        cancel_line(q, q->putters);
        cancel_line(q, q->joiners);
    }
}

Future *queue_put(Queue *q, double prio, void *value, coio_free_fn drop) {
    if (queue_full(q)) {
        Waiter *w = wait_in_line(q, Role::Put);
        w->prio = prio;
        w->put = {value, drop};
        return w;
    }
    Future *f = future_new(q->loop);
    try {
        reserve_completions(q, 2);
        enter(q, value, drop, prio);
    } catch (...) {
        future_unref(f);
        throw;
    }
    future_set_result(f, nullptr, nullptr); // no callbacks yet: no ready entry
    return f;
}

int queue_put_nowait(Queue *q, double prio, void *value, coio_free_fn drop) {
    if (q->shut) return COIO_ESHUTDOWN; // 3.13 checks this before fullness
    if (queue_full(q)) return COIO_EFULL;
    reserve_completions(q, 1);
    enter(q, value, drop, prio);
    return COIO_OK;
}

int queue_get(Queue *q, Future **out) {
    if (q->items.empty()) {
        // 3.13's get(): `if self._is_shutdown and self.empty(): raise QueueShutDown`.
        if (q->shut) return COIO_ESHUTDOWN;
        *out = wait_in_line(q, Role::Get);
        return COIO_OK;
    }
    // An item is there: an already completed waiter (awaiting it does not suspend).  It is
    // still a waiter, for a step-driven task cancelled before it looks at it (refused).
    Waiter *w = waiter_new(q, Role::Get);
    try {
        reserve_completions(q, 2);
    } catch (...) {
        future_unref(w);
        throw;
    }
    QueueItem it = take(q);
    w->prio = it.prio;
    w->seq = it.seq;
    future_set_result(w, it.value, it.drop);
    admit_putter(q);
    *out = w;
    return COIO_OK;
}

int queue_get_nowait(Queue *q, void **value, coio_free_fn *drop) {
    if (q->items.empty()) return q->shut ? COIO_ESHUTDOWN : COIO_EEMPTY;
    if (!q->putters.empty()) reserve_completions(q, 2);
    QueueItem it = take(q);
    *value = it.value;
    *drop = it.drop;
    admit_putter(q);
    return COIO_OK;
}

int queue_task_done(Queue *q) {
    if (q->unfinished == 0) return COIO_ESTATE; // asyncio: ValueError, called too many times
    count_done(q);
    return COIO_OK;
}

Future *queue_join(Queue *q) {
    if (q->unfinished == 0) return future_new_done(q->loop);
    return wait_in_line(q, Role::Join);
}

// 3.13's shutdown(): puts fail from now on; blocked getters and putters are woken and fail
// (a getter only waits on an empty queue).  immediate: the queue is emptied first, every
// removed item counted done (which may end join), so gets fail at once too.  Called again
// it does what is left to do, as asyncio's does.
void queue_shutdown(Queue *q, bool immediate) {
    Hold hold(q);
    reserve_completions(q, q->joiners.size() + q->getters.size() + q->putters.size());
    Trash trash; // dropped last, when the queue is consistent again
    q->shut = true;
    if (immediate) {
        q->shut_immediate = true;
        q->items.move_to(trash.items);
        // asyncio: `if self._unfinished_tasks > 0: self._unfinished_tasks -= 1` per item,
        // then `if self._unfinished_tasks == 0: self._finished.set()`.
        std::size_t n = trash.items.size();
        q->unfinished -= n < q->unfinished ? n : q->unfinished;
        if (q->unfinished == 0) finish_joiners(q);
    }
    fail_line(q, q->getters);
    fail_line(q, q->putters);
}

} // namespace coio::detail
