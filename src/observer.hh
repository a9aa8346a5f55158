// Observers (observer.cc): coio_observer hooks on the loop's passes, callbacks and tasks.
#pragma once

#include <coio.h>

#include <cstddef>
#include <cstdint>

namespace coio::detail {

struct Loop;
struct Task;

// Observers (observer.cc).  The hooks are called only while loop->observed is set, which
// every call site tests first (one predictable branch when nothing observes).
struct Observers;
void observe_pass_begin(Loop *loop, std::size_t ready);
void observe_pass_end(Loop *loop);
void observe_callback(Loop *loop, int kind, double start, double duration);
// Before the task is linked: makes room for the observers' data (throws std::bad_alloc).
void observe_task_prepare(Task *t);
void observe_task_created(Task *t, Task *parent);
void observe_step_begin(Task *t);
void observe_step_end(Task *t, int status);
void observe_task_done(Task *t); // the body ended; the task is still in the loop's list
// The observer's hooks widened to the current struct.  COIO_EBUSY if (key, arg) is attached.
int observer_add(Loop *loop, const coio_observer &hooks, const coio_observer *key, void *arg,
                 coio_free_fn drop);
int observer_remove(Loop *loop, const coio_observer *key, void *arg); // 1 / 0; throws bad_alloc
std::uint64_t observer_mark(const Loop *loop); // observers added from now on are newer
void observers_remove_since(Loop *loop, std::uint64_t mark); // a failed attach's, newest first
void observers_close(Loop *loop);                            // every observer removed, newest first
void observers_free(Loop *loop);                             // ~Loop

} // namespace coio::detail
