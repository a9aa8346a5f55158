// Thread-safe edges of a loop: the remote handle (coio_remote) and completions
// (coio_completion), for threads that must never touch the loop itself (Go finalizers, Rust
// wakers, worker pools).
//
// A loop has at most one Remote, made on first use: a small block with its own mutex, an atomic
// reference count and the loop pointer.  The loop holds one reference, every coio_remote
// handed out and every completion another; so the block outlives the loop as long as anybody
// can still reach it.  loop_close clears the loop pointer under the block's mutex, before it
// closes the loop's thread-safe queue.  A call through the handle takes that mutex, and either
// sees no loop (COIO_ECLOSED) or pushes its entry onto the loop's call_soon_threadsafe queue
// while still holding it, so the close cannot overtake it: the entry is in the queue before
// the close looks, and is then run by a pass or discarded by the close (drop once, either way).
// Lock order: the Remote's mutex, then the loop's ts.mu.
//
// A completion owns a reference to its future, which only the loop thread may touch.  While
// open it is linked in the Remote's list (under the mutex).  Completing it moves that reference
// into a Delivery queued like any call_soon_threadsafe entry, (deliver, finish): `deliver`
// completes the future on the loop thread; `finish` cancels it if it is still pending (the
// completion was released without an outcome, or the entry was discarded by the close), drops
// a value nobody took and releases the reference.  loop_close takes the list of open
// completions and ends their futures the same way (cancelled, then released) on its own
// thread; later calls on those completions see no loop and return COIO_ECLOSED.
//
// A completion is freed when both its owner has released it and it is no longer in the list
// (an atomic count of two owners): the close may still be ending its future after the owner,
// on another thread, has let it go.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

#include "future.hh"
#include "loop.hh"
#include "remote.hh"

namespace coio::detail {

struct Completion;

struct Remote {
    std::atomic<std::uint32_t> refs{1};
    std::mutex mu;
    Loop *loop = nullptr;       // under mu; null once the loop is closing
    Completion *open = nullptr; // under mu: open completions (doubly linked)
};

struct Completion {
    std::atomic<std::uint32_t> refs{2};          // the owner's, and the Remote list's while linked
    Remote *remote;                              // a reference
    Future *future;                              // a reference, while linked (loop thread only)
    Completion *prev = nullptr, *next = nullptr; // under remote->mu while linked
    bool linked = true;                          // under remote->mu
    bool done = false;                           // under remote->mu: completed or released
};

namespace {

// Drops value with drop if both are given (a caller's value that was not taken).
void drop_value(void *value, coio_free_fn drop) {
    if (drop) drop(value);
}

void remote_unref(Remote *r) {
    if (r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete r;
}

void completion_unref(Completion *c) {
    if (c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        remote_unref(c->remote);
        delete c;
    }
}

void unlink(Remote *r, Completion *c) {
    if (c->prev)
        c->prev->next = c->next;
    else
        r->open = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = nullptr;
    c->linked = false;
}

// A completion's outcome on its way to the loop thread.
struct Delivery {
    enum Kind : std::uint8_t { Result, Error, Release };
    Kind kind;
    Future *future; // the completion's reference
    void *value;    // Result: the caller's value until the future takes it
    coio_free_fn drop;
    int code;      // Error
    char *message; // Error: a copy (may be null)
};

// Cancels f if nothing completed it (on the loop thread, also during the close).
void cancel_pending(Future *f, const char *what) {
    if (f->state != Future::Pending) return;
    try {
        future_cancel(f, nullptr);
    } catch (...) {
        coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
        ctx.message = what;
        ctx.code = COIO_ENOMEM;
        ctx.future = reinterpret_cast<coio_future *>(f);
        loop_report(f->loop, &ctx);
    }
}

// Loop thread: completes the future unless something on the loop thread already did (then the
// value is left for `finish` to drop).
void deliver(void *p) {
    auto *d = static_cast<Delivery *>(p);
    Future *f = d->future;
    if (f->state != Future::Pending) return;
    try {
        if (d->kind == Delivery::Result) {
            future_set_result(f, d->value, d->drop);
            d->drop = nullptr; // the future owns the value now
        } else if (d->kind == Delivery::Error) {
            future_set_error(f, d->code, d->message, nullptr, nullptr);
        }
    } catch (...) {
        // Out of memory: `finish` cancels it instead.
    }
}

// Loop thread, after `deliver` or alone (discarded at close): ends the delivery.
void finish(void *p) {
    auto *d = static_cast<Delivery *>(p);
    Future *f = d->future;
    cancel_pending(f, "completion outcome lost: out of memory");
    drop_value(d->value, d->drop);
    std::free(d->message);
    delete d;
    future_unref(f);
}

// Queues a delivery for c (open, loop alive; called under remote->mu).  On success c is
// completed and unlinked, its future reference moved into d.  Throws std::bad_alloc.
int queue_delivery(Remote *r, Completion *c, Delivery *d) {
    d->future = c->future;
    int rc = loop_call_soon_threadsafe(r->loop, deliver, d, finish);
    if (rc != COIO_OK) return rc;
    c->future = nullptr;
    c->done = true;
    unlink(r, c);
    return COIO_OK;
}

// Hands d (a new Delivery) to the loop for c, or refuses.  Runs on any thread.  On failure d
// is freed, and so is the value it carries.
int complete(Completion *c, Delivery *d) {
    Remote *r = c->remote;
    int rc;
    bool unlinked = false;
    {
        std::lock_guard<std::mutex> g(r->mu);
        if (c->done)
            rc = COIO_ESTATE;
        else if (!r->loop)
            rc = COIO_ECLOSED;
        else {
            try {
                rc = queue_delivery(r, c, d);
            } catch (const std::bad_alloc &) {
                rc = COIO_ENOMEM; // still open: the caller may try again
            }
            unlinked = rc == COIO_OK;
        }
    }
    if (unlinked) {
        completion_unref(c); // the list's reference
        return COIO_OK;
    }
    drop_value(d->value, d->drop);
    std::free(d->message);
    delete d;
    return rc;
}

} // namespace

Remote *loop_remote(Loop *loop) {
    if (!loop->remote) {
        auto *r = new Remote;
        r->loop = loop;
        loop->remote = r; // the loop's reference
    }
    loop->remote->refs.fetch_add(1, std::memory_order_relaxed);
    return loop->remote;
}

void remote_ref(Remote *r) {
    r->refs.fetch_add(1, std::memory_order_relaxed);
}

void remote_release(Remote *r) {
    remote_unref(r);
}

int remote_call_soon(Remote *r, coio_callback fn, void *arg, coio_free_fn drop) {
    int rc;
    {
        std::lock_guard<std::mutex> g(r->mu);
        if (!r->loop) {
            rc = COIO_ECLOSED;
        } else {
            try {
                rc = loop_call_soon_threadsafe(r->loop, fn, arg, drop);
            } catch (const std::bad_alloc &) {
                rc = COIO_ENOMEM;
            }
        }
    }
    if (rc != COIO_OK) drop_value(arg, drop); // the handle always takes arg
    return rc;
}

Completion *completion_new(Loop *loop, Future **future) {
    Future *f = future_new(loop);
    Completion *c = nullptr;
    try {
        c = new Completion;
        c->remote = loop_remote(loop);
    } catch (...) {
        delete c;
        future_unref(f);
        throw;
    }
    future_ref(f); // the completion's
    c->future = f;
    {
        std::lock_guard<std::mutex> g(c->remote->mu);
        c->next = c->remote->open;
        if (c->next) c->next->prev = c;
        c->remote->open = c;
    }
    *future = f;
    return c;
}

int completion_set_result(Completion *c, void *value, coio_free_fn drop) {
    auto *d = new (std::nothrow) Delivery{Delivery::Result, nullptr, value, drop, 0, nullptr};
    if (!d) {
        drop_value(value, drop);
        return COIO_ENOMEM;
    }
    return complete(c, d);
}

int completion_set_error(Completion *c, int code, const char *message) {
    char *copy = nullptr;
    if (message) {
        try {
            copy = copy_string(message);
        } catch (const std::bad_alloc &) {
            return COIO_ENOMEM;
        }
    }
    auto *d = new (std::nothrow) Delivery{Delivery::Error, nullptr, nullptr, nullptr, code, copy};
    if (!d) {
        std::free(copy);
        return COIO_ENOMEM;
    }
    return complete(c, d);
}

void completion_release(Completion *c) {
    Remote *r = c->remote;
    bool unlinked = false;
    // Made before the lock (it cannot fail under it); unused when there is nothing to end.
    auto *d = new (std::nothrow) Delivery{Delivery::Release, nullptr, nullptr, nullptr, 0, nullptr};
    {
        std::lock_guard<std::mutex> g(r->mu);
        if (c->linked && !c->done && d) {
            try {
                unlinked = queue_delivery(r, c, d) == COIO_OK;
            } catch (const std::bad_alloc &) {
            }
        }
        // Not handed over (out of memory): the close will cancel the future instead.
        c->done = true;
    }
    if (unlinked)
        completion_unref(c); // the list's reference
    else
        delete d;
    completion_unref(c); // the owner's
}

Completion *remote_close(Loop *loop) {
    Remote *r = loop->remote;
    if (!r) return nullptr;
    Completion *orphans;
    {
        std::lock_guard<std::mutex> g(r->mu);
        r->loop = nullptr;
        orphans = r->open;
        r->open = nullptr;
        for (Completion *c = orphans; c; c = c->next)
            c->linked = false; // the chain is the close's now
    }
    loop->remote = nullptr;
    remote_unref(r); // the loop's reference (every orphan holds one too)
    return orphans;
}

void completions_end(Completion *orphans) {
    while (orphans) {
        Completion *c = orphans;
        orphans = c->next;
        Future *f = c->future;
        c->future = nullptr;
        cancel_pending(f, "completion ended by the close: out of memory");
        future_unref(f);
        completion_unref(c); // the list's reference
    }
}

} // namespace coio::detail
