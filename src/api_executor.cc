// The extern "C" boundary of the executor (asyncio's run_in_executor): argument and loop
// checks, then executor.cc.
#include "api.hh"
#include "executor.hh"
#include "future.hh"
#include "loop.hh"

using namespace coio::detail;
using namespace coio::api;

extern "C" {

int coio_run_in_executor(coio_loop *l, coio_work_fn fn, void *arg, coio_free_fn drop,
                         coio_free_fn result_drop, coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!fn || !out) return COIO_EINVAL;
    return guarded([&] {
        Future *f;
        int rc = executor_submit(loop, fn, arg, drop, result_drop, &f);
        if (rc == COIO_OK) *out = to_c(f);
        return rc;
    });
}

int coio_loop_set_executor_size(coio_loop *l, unsigned n) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    return guarded([&] { return executor_set_size(loop, n); });
}

unsigned coio_loop_executor_size(const coio_loop *l) {
    return l ? executor_size(L(l)) : 0;
}

} // extern "C"
