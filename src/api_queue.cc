// The extern "C" boundary of queues (asyncio.Queue, LifoQueue, PriorityQueue): argument and
// state checks, then queue.cc.
#include <climits>

#include "api.hh"
#include "future.hh"
#include "loop.hh"
#include "queue.hh"

using namespace coio::detail;
using namespace coio::api;

namespace {

int check_queue(const Queue *q) {
    return q ? check_loop(q->loop) : COIO_EINVAL;
}

// A put: checked arguments, the queue takes the item (or nothing on failure).
int put(coio_queue *handle, double prio, void *value, coio_free_fn drop, coio_future **out) {
    Queue *q = Q(handle);
    if (int rc = check_queue(q)) return rc;
    if (!out) return COIO_EINVAL;
    if (q->shut) return COIO_ESHUTDOWN; // 3.13: put() on a shut-down queue raises at once
    return guarded([&] {
        *out = to_c(queue_put(q, prio, value, drop));
        return COIO_OK;
    });
}

int put_nowait(coio_queue *handle, double prio, void *value, coio_free_fn drop) {
    Queue *q = Q(handle);
    if (int rc = check_queue(q)) return rc;
    return guarded([&] { return queue_put_nowait(q, prio, value, drop); });
}

// A priority for a PRIORITY queue: not NaN (it would not compare), and only there.
int check_priority(const coio_queue *handle, double prio) {
    const Queue *q = Q(handle);
    if (q && q->kind != COIO_QUEUE_PRIORITY) return COIO_EINVAL;
    return std::isnan(prio) ? COIO_EINVAL : COIO_OK;
}

} // namespace

extern "C" {

int coio_queue_new(coio_loop *l, int kind, size_t maxsize, coio_queue **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || maxsize > size_t(LONG_MAX)) return COIO_EINVAL;
    if (kind != COIO_QUEUE_FIFO && kind != COIO_QUEUE_LIFO && kind != COIO_QUEUE_PRIORITY)
        return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(queue_new(loop, kind, maxsize));
        return COIO_OK;
    });
}

void coio_queue_free(coio_queue *q) {
    if (!q) return;
    try {
        queue_free(Q(q));
    } catch (...) { // (queue_free does not allocate; a binding's drop may throw)
    }
}

int coio_queue_put(coio_queue *q, void *value, coio_free_fn drop, coio_future **out) {
    return put(q, 0.0, value, drop, out);
}

int coio_queue_put_priority(coio_queue *q, double priority, void *value, coio_free_fn drop,
                            coio_future **out) {
    if (int rc = check_queue(Q(q))) return rc;
    if (int rc = check_priority(q, priority)) return rc;
    return put(q, priority, value, drop, out);
}

int coio_queue_put_nowait(coio_queue *q, void *value, coio_free_fn drop) {
    return put_nowait(q, 0.0, value, drop);
}

int coio_queue_put_priority_nowait(coio_queue *q, double priority, void *value, coio_free_fn drop) {
    if (int rc = check_queue(Q(q))) return rc;
    if (int rc = check_priority(q, priority)) return rc;
    return put_nowait(q, priority, value, drop);
}

int coio_queue_get(coio_queue *handle, coio_future **out) {
    Queue *q = Q(handle);
    if (int rc = check_queue(q)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        Future *f = nullptr;
        int rc = queue_get(q, &f);
        if (rc == COIO_OK) *out = to_c(f);
        return rc;
    });
}

int coio_queue_get_nowait(coio_queue *handle, void **value, coio_free_fn *drop) {
    Queue *q = Q(handle);
    if (int rc = check_queue(q)) return rc;
    if (!value || !drop) return COIO_EINVAL;
    return guarded([&] { return queue_get_nowait(q, value, drop); });
}

int coio_queue_task_done(coio_queue *handle) {
    Queue *q = Q(handle);
    if (int rc = check_queue(q)) return rc;
    return guarded([&] { return queue_task_done(q); });
}

int coio_queue_join(coio_queue *handle, coio_future **out) {
    Queue *q = Q(handle);
    if (int rc = check_queue(q)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(queue_join(q));
        return COIO_OK;
    });
}

int coio_queue_shutdown(coio_queue *handle, int immediate) {
    Queue *q = Q(handle);
    if (int rc = check_queue(q)) return rc;
    return guarded([&] {
        queue_shutdown(q, immediate != 0);
        return COIO_OK;
    });
}

long coio_queue_size(const coio_queue *q) {
    return q ? long(Q(q)->items.size()) : long(COIO_EINVAL);
}

long coio_queue_maxsize(const coio_queue *q) {
    return q ? long(Q(q)->maxsize) : long(COIO_EINVAL);
}

int coio_queue_empty(const coio_queue *q) {
    return q && Q(q)->items.empty();
}

int coio_queue_full(const coio_queue *q) {
    return q && queue_full(Q(q));
}

} // extern "C"
