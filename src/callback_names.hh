// The names of coio's own done callbacks, for reprs (repr.cc).
#pragma once

#include <cstddef>

namespace coio::detail {

// repr.cc: the names asyncio gives the done callbacks coio registers itself, so that a repr
// shows `cb=[_run_until_complete_cb()]` where asyncio does.  A null name: asyncio has no such
// callback (coio's own bookkeeping), and the repr leaves it out.  Each subsystem lists its own.
struct CallbackName {
    void (*fn)(); // a coio_done_fn, or a task's step function
    const char *name;
};
template <class Fn> inline void (*any_fn(Fn fn))() {
    return reinterpret_cast<void (*)()>(fn);
}
struct CallbackNames {
    const CallbackName *names;
    std::size_t n;
};
CallbackNames loop_callback_names();
CallbackNames task_callback_names();
CallbackNames combinator_callback_names();
CallbackNames sync_callback_names();
CallbackNames taskgroup_callback_names();
CallbackNames timeout_callback_names();

} // namespace coio::detail
