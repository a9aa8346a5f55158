// The thread-safe edges (remote.cc): coio_remote and coio_completion.
#pragma once

#include <coio.h>

namespace coio::detail {

struct Loop;
struct Future;

// The thread-safe edges (remote.cc; api_remote.cc checks the arguments).  A Remote is the
// shared block behind every coio_remote of a loop; functions marked "any thread" take its lock.
struct Remote;
struct Completion;
Remote *loop_remote(Loop *loop); // a new reference (loop thread, loop open); throws bad_alloc
void remote_ref(Remote *r);      // any thread
void remote_release(Remote *r);  // any thread
// Any thread.  Always takes arg: on failure (COIO_ECLOSED, COIO_ENOMEM) drop(arg) has run.
int remote_call_soon(Remote *r, coio_callback fn, void *arg, coio_free_fn drop);
// Loop thread, loop open: a pending future (*future: the caller's reference) and its
// completion (the caller's).  Throws std::bad_alloc.
Completion *completion_new(Loop *loop, Future **future);
// Any thread.  set_result always takes value (drop runs on failure).
int completion_set_result(Completion *c, void *value, coio_free_fn drop);
int completion_set_error(Completion *c, int code, const char *message);
void completion_release(Completion *c);
// loop_close: detaches the Remote from the loop (later calls: COIO_ECLOSED) and returns the
// open completions, whose futures completions_end cancels and releases.
Completion *remote_close(Loop *loop);
void completions_end(Completion *orphans);

} // namespace coio::detail
