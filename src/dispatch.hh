// Running and discarding ready-queue entries: the one dispatch over the entry tags.
#pragma once

#include <coio.h>

#include <cstdint>

#include "future.hh"
#include "handle.hh"
#include "loop.hh"
#include "ready.hh"
#include "task.hh"

namespace coio::detail {

// What a ready-queue entry does, by its tag: the one dispatch over the tags (kRun*, above).
// Run: a pass runs the popped entry (inline in the pass: a frame less to return through after
// a coroutine switch).  Discard: the loop closed, or a batch could not be queued, before it
// ran; its references and registrations end (drops run) and no callback is called.
enum class ReadyAction { Run, Discard };

// A kRunDone entry (future, first << 32 | count) whose one registration is a task's wake-up,
// on a loop that is not instrumented (there the general path times and reports it).
inline bool lone_wakeup(const Loop *loop, void *arg, void *aux) {
    auto range = reinterpret_cast<std::uintptr_t>(aux);
    if (std::uint32_t(range) != 1 || loop->instrumented) return false;
    return callback_at(static_cast<Future *>(arg), std::uint32_t(range >> 32)).fn == task_wakeup;
}

template <ReadyAction A>
inline void ready_dispatch(Loop *loop, coio_callback fn, void *arg, void *aux) {
    constexpr bool run = A == ReadyAction::Run;
    if constexpr (run) {
        if (fn == kRunDone && lone_wakeup(loop, arg, aux)) {
            // A task's lone wake-up is its step: the entry runs as the kRunTask (task, f) it
            // amounts to (the registration's reference to the task, the entry's to f), in
            // the pass itself and not two calls down, in future_run_callbacks and
            // task_wakeup: fewer frames to return through after the coroutine switch.
            auto *f = static_cast<Future *>(arg);
            DoneCallback &slot =
                callback_at(f, std::uint32_t(reinterpret_cast<std::uintptr_t>(aux) >> 32));
            fn = kRunTask;
            arg = slot.arg;
            aux = f;
            slot = kEndedCallback;
        }
    }
    if (fn == kRunTask) { // (task, awaited): both references
        auto *t = static_cast<Task *>(arg);
        auto *awaited = static_cast<Future *>(aux);
        if constexpr (run) {
            task_run_entry(t, awaited);
        } else {
            if (awaited) future_unref(awaited);
            future_unref(t);
        }
    } else if (fn == kRunResolve) { // (future): a reference
        auto *f = static_cast<Future *>(arg);
        if constexpr (run) {
            if (f->state == Future::Pending) future_set_result(f, nullptr, nullptr);
        }
        future_unref(f);
    } else if (fn == kRunHandle) { // (handle): the loop's reference
        auto *h = static_cast<Handle *>(arg);
        if constexpr (run) {
            handle_run(h);
        } else {
            handle_discard(h);
            handle_unref(h);
        }
    } else if (fn == kRunDone) { // (future, first << 32 | count): a reference
        auto *f = static_cast<Future *>(arg);
        auto range = reinterpret_cast<std::uintptr_t>(aux);
        auto first = std::uint32_t(range >> 32), count = std::uint32_t(range);
        if constexpr (run)
            future_run_callbacks(f, first, count);
        else
            future_discard_callbacks(f, first, count);
    } else { // a plain callback: (fn, arg, drop)
        if constexpr (run) invoke_callback(loop, fn, arg, nullptr);
        if (aux) reinterpret_cast<coio_free_fn>(aux)(arg);
    }
}

inline void ready_run(Loop *loop, coio_callback fn, void *arg, void *aux) {
    ready_dispatch<ReadyAction::Run>(loop, fn, arg, aux);
}

} // namespace coio::detail
