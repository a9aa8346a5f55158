// The extern "C" boundary of signal handlers (asyncio's add_signal_handler /
// remove_signal_handler): argument, loop and thread checks, then signal.cc.
#include "api.hh"
#include "loop.hh"
#include "signal.hh"

using namespace coio::detail;
using namespace coio::api;

// The checks both calls share, in asyncio's order: the signal number, the loop, the thread.
static int check_signal_call(const Loop *loop, int signum) {
    if (!loop || !signal_number_valid(signum)) return COIO_EINVAL;
    if (int rc = check_loop(loop)) return rc;
    // asyncio: signal.set_wakeup_fd() works in the main thread only (RuntimeError).
    if (!signal_on_main_thread()) return COIO_ETHREAD;
    return COIO_OK;
}

extern "C" {

int coio_add_signal_handler(coio_loop *l, int signum, coio_callback fn, void *arg,
                            coio_free_fn drop) {
    Loop *loop = L(l);
    if (!fn) return COIO_EINVAL;
    if (int rc = check_signal_call(loop, signum)) return rc;
    // asyncio: "sig 9 cannot be caught" (RuntimeError).
    if (!signal_catchable(signum)) return COIO_EINVAL;
    return guarded([&] { return signal_add(loop, signum, fn, arg, drop); });
}

int coio_remove_signal_handler(coio_loop *l, int signum) {
    Loop *loop = L(l);
    if (int rc = check_signal_call(loop, signum)) return rc;
    return guarded([&] { return signal_remove(loop, signum) ? 1 : 0; });
}

} // extern "C"
