// Observers: hooks into a loop's passes, callbacks and tasks (coio_loop_add_observer).
//
// Nothing here runs unless loop->observed is set: every call site tests that flag first, so a
// loop without observers pays one predictable branch per event.  Each observer has a slot
// number; a task created while observers are attached carries an array of their per-task
// data indexed by slot (in its TaskExtra), so a hook gets its data without a lookup.  A slot is
// reused only after the data of its previous observer was dropped from every task.
#include <cstdlib>
#include <new>
#include <vector>

#include "future.hh"
#include "loop.hh"
#include "observer.hh"
#include "task.hh"

namespace coio::detail {

namespace {
struct Entry {
    coio_observer hooks; // widened to the current struct
    const coio_observer *key;
    void *arg;
    coio_free_fn drop;
    std::uint64_t seq; // registration order (observers_remove_since)
    std::uint32_t slot;
    bool live;
};
} // namespace

struct Observers {
    std::vector<Entry> list;    // registration order; dead entries go when nothing dispatches
    std::vector<bool> slots;    // slot in use
    std::uint32_t depth = 0;    // hooks being dispatched (nested)
    std::uint32_t nlive = 0;    // live entries
    std::uint64_t next_seq = 0; // the next registration's seq
    bool dirty = false;         // dead entries wait for removal
};

static void set_observed(Loop *loop) {
    loop->observed = loop->observers && loop->observers->nlive > 0;
    loop->instrumented = loop->debug || loop->observed;
}

static void compact(Observers *o) {
    std::size_t k = 0;
    for (std::size_t i = 0; i < o->list.size(); i++)
        if (o->list[i].live) o->list[k++] = o->list[i];
    o->list.resize(k);
    o->dirty = false;
}

// Calls fn(entry) for each observer live when the event happened, in registration order.
// Observers added meanwhile wait for the next event; removed ones are skipped.  Entries are
// copied before the call: a hook may add observers (the vector may move).
template <class Fn> static void dispatch(Loop *loop, Fn fn) {
    Observers *o = loop->observers;
    o->depth++;
    std::size_t n = o->list.size();
    for (std::size_t i = 0; i < n; i++) {
        if (!o->list[i].live) continue;
        Entry e = o->list[i];
        try {
            fn(e);
        } catch (...) { // a C++ exception thrown through a binding's hook
            coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
            ctx.message = "Exception in observer hook";
            ctx.code = COIO_EFAILED;
            loop_report(loop, &ctx);
        }
    }
    if (--o->depth == 0 && o->dirty) compact(o);
}

// Where the task keeps the data of the observer in `slot`; null if it has no room for it.
static void **data_ptr(Task *t, std::uint32_t slot) {
    if (t->extra && t->extra->obs_data && slot < t->extra->obs_n) return &t->extra->obs_data[slot];
    return nullptr;
}

static void *data_of(Task *t, std::uint32_t slot) {
    void **p = data_ptr(t, slot);
    return p ? *p : nullptr;
}

static bool still_live(const Observers *o, std::uint64_t seq) {
    for (const Entry &e : o->list)
        if (e.seq == seq) return e.live;
    return false;
}

void observe_pass_begin(Loop *loop, std::size_t ready) {
    dispatch(loop, [&](const Entry &e) {
        if (e.hooks.pass_begin)
            e.hooks.pass_begin(e.arg, reinterpret_cast<coio_loop *>(loop), ready);
    });
}

void observe_pass_end(Loop *loop) {
    dispatch(loop, [&](const Entry &e) {
        if (e.hooks.pass_end) e.hooks.pass_end(e.arg, reinterpret_cast<coio_loop *>(loop));
    });
}

void observe_callback(Loop *loop, int kind, double start, double duration) {
    dispatch(loop, [&](const Entry &e) {
        if (e.hooks.callback_run)
            e.hooks.callback_run(e.arg, reinterpret_cast<coio_loop *>(loop), kind, start, duration);
    });
}

void observe_task_prepare(Task *t) {
    std::size_t n = t->loop->observers->slots.size();
    auto *data = static_cast<void **>(std::calloc(n, sizeof(void *)));
    if (!data) throw std::bad_alloc();
    if (!t->extra) {
        t->extra = static_cast<TaskExtra *>(std::calloc(1, sizeof(TaskExtra)));
        if (!t->extra) {
            std::free(data);
            throw std::bad_alloc();
        }
    }
    t->extra->obs_data = data;
    t->extra->obs_n = std::uint32_t(n);
}

void observe_task_created(Task *t, Task *parent) {
    char buf[32];
    const char *name = task_name_into(t, buf);
    dispatch(t->loop, [&](const Entry &e) {
        if (!e.hooks.task_created) return;
        void *data = nullptr;
        e.hooks.task_created(e.arg, reinterpret_cast<coio_future *>(t), name,
                             reinterpret_cast<coio_future *>(parent), &data);
        if (!data) return;
        // Kept unless the observer was removed inside its own hook: then it goes straight back.
        void **slot = data_ptr(t, e.slot);
        if (slot && still_live(t->loop->observers, e.seq)) {
            *slot = data;
            return;
        }
        if (e.hooks.task_data_drop)
            e.hooks.task_data_drop(e.arg, reinterpret_cast<coio_future *>(t), data);
    });
}

void observe_step_begin(Task *t) {
    char buf[32];
    const char *name = task_name_into(t, buf);
    dispatch(t->loop, [&](const Entry &e) {
        if (e.hooks.task_step_begin)
            e.hooks.task_step_begin(e.arg, reinterpret_cast<coio_future *>(t), name,
                                    data_of(t, e.slot));
    });
}

void observe_step_end(Task *t, int status) {
    char buf[32];
    const char *name = task_name_into(t, buf);
    dispatch(t->loop, [&](const Entry &e) {
        if (e.hooks.task_step_end)
            e.hooks.task_step_end(e.arg, reinterpret_cast<coio_future *>(t), name,
                                  data_of(t, e.slot), status);
    });
}

void observe_task_done(Task *t) {
    if (t->loop->observed) {
        char buf[32];
        const char *name = task_name_into(t, buf);
        dispatch(t->loop, [&](const Entry &e) {
            void **slot = data_ptr(t, e.slot);
            void *data = slot ? *slot : nullptr;
            if (slot) *slot = nullptr; // handed over: a removal inside the hook must not drop it
            if (e.hooks.task_done)
                e.hooks.task_done(e.arg, reinterpret_cast<coio_future *>(t), name, data);
        });
    }
    if (t->extra) {
        std::free(t->extra->obs_data);
        t->extra->obs_data = nullptr;
        t->extra->obs_n = 0;
    }
}

int observer_add(Loop *loop, const coio_observer &hooks, const coio_observer *key, void *arg,
                 coio_free_fn drop) {
    if (!loop->observers) loop->observers = new Observers;
    Observers *o = loop->observers;
    for (const Entry &e : o->list)
        if (e.live && e.key == key && e.arg == arg) return COIO_EBUSY;
    std::uint32_t slot = 0;
    while (slot < o->slots.size() && o->slots[slot])
        slot++;
    if (slot == o->slots.size()) o->slots.push_back(false);
    o->list.push_back({hooks, key, arg, drop, o->next_seq, slot, true}); // may throw: nothing taken
    o->next_seq++;
    o->slots[slot] = true;
    o->nlive++;
    set_observed(loop);
    return COIO_OK;
}

// Ends entry i: no hook of it runs any more, its task data goes to its task_data_drop, then
// its drop runs.
static void remove_entry(Loop *loop, std::size_t i) {
    Observers *o = loop->observers;
    struct Held {
        Task *task;
        void *data;
    };
    std::vector<Held> held;
    for (Task *t = loop->tasks; t; t = t->next)
        if (data_of(t, o->list[i].slot)) held.push_back({t, nullptr}); // may throw: unchanged
    Entry e = o->list[i];
    o->list[i].live = false;
    o->nlive--;
    set_observed(loop);
    for (Held &h : held) {
        void **slot = data_ptr(h.task, e.slot);
        h.data = *slot;
        *slot = nullptr;
        if (h.task->refs) future_ref(h.task); // (0: the task is being freed right now)
    }
    o->slots[e.slot] = false; // every task's data of that slot is cleared
    if (o->depth == 0)
        o->list.erase(o->list.begin() + std::ptrdiff_t(i));
    else
        o->dirty = true;
    for (Held &h : held) {
        bool counted = h.task->refs != 0;
        if (h.data && e.hooks.task_data_drop)
            e.hooks.task_data_drop(e.arg, reinterpret_cast<coio_future *>(h.task), h.data);
        if (counted) future_unref(h.task);
    }
    if (e.drop) e.drop(e.arg);
}

int observer_remove(Loop *loop, const coio_observer *key, void *arg) {
    Observers *o = loop->observers;
    if (!o) return 0;
    for (std::size_t i = 0; i < o->list.size(); i++) {
        if (o->list[i].live && o->list[i].key == key && o->list[i].arg == arg) {
            remove_entry(loop, i);
            return 1;
        }
    }
    return 0;
}

std::uint64_t observer_mark(const Loop *loop) {
    return loop->observers ? loop->observers->next_seq : 0;
}

// Removes the newest live entry for which pred holds, until none is left.  Searched afresh
// each time: the drops may add or remove observers.
template <class Pred> static void remove_newest_while(Loop *loop, Pred pred) {
    for (;;) {
        Observers *o = loop->observers;
        std::size_t i = o->list.size();
        while (i > 0 && !(o->list[i - 1].live && pred(o->list[i - 1])))
            i--;
        if (i == 0) return;
        remove_entry(loop, i - 1);
    }
}

void observers_remove_since(Loop *loop, std::uint64_t mark) {
    if (loop->observers)
        remove_newest_while(loop, [mark](const Entry &e) { return e.seq >= mark; });
}

void observers_close(Loop *loop) {
    remove_newest_while(loop, [](const Entry &) { return true; });
}

void observers_free(Loop *loop) {
    delete loop->observers;
    loop->observers = nullptr;
}

} // namespace coio::detail
