// Signal handlers (signal.cc).
#pragma once

#include <coio.h>

namespace coio::detail {

struct Loop;

// Part of loop_close.
void signals_close(Loop *loop); // every handler removed, SIG_DFL restored
// Signal handlers (signal.cc); api_signal.cc checks the arguments (and the thread) first.
bool signal_number_valid(int signum); // asyncio's signal.valid_signals()
bool signal_catchable(int signum);    // valid, and neither SIGKILL nor SIGSTOP
bool signal_on_main_thread();
// COIO_OK, or COIO_EBUSY (another loop owns signum; arg stays the caller's).  Throws
// std::bad_alloc before taking arg.
int signal_add(Loop *loop, int signum, coio_callback fn, void *arg, coio_free_fn drop);
bool signal_remove(Loop *loop, int signum); // true if there was a handler

} // namespace coio::detail
