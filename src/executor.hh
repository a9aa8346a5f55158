// The thread pool behind coio_run_in_executor (executor.cc).
#pragma once

#include <coio.h>

namespace coio::detail {

struct Loop;
struct Future;

// Part of loop_close.
void executor_close(Loop *loop); // jobs not started: cancelled; running ones: waited for
// The executor (executor.cc), for api_executor.cc: arguments checked, loop open.  Submitting
// throws std::bad_alloc or returns a status; on failure the caller keeps arg.  executor_close
// sets `closed` before it runs any drop.
int executor_submit(Loop *loop, coio_work_fn fn, void *arg, coio_free_fn drop,
                    coio_free_fn result_drop, Future **out);
int executor_set_size(Loop *loop, unsigned n); // 0: the default
unsigned executor_size(const Loop *loop);      // 0 once closed

} // namespace coio::detail
