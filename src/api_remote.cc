// The extern "C" boundary of the thread-safe edges (coio_remote, coio_completion): argument
// and loop checks, then remote.cc.
#include "api.hh"
#include "future.hh"
#include "loop.hh"
#include "remote.hh"

using namespace coio::detail;
using namespace coio::api;

extern "C" {

int coio_loop_remote(coio_loop *l, coio_remote **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(loop_remote(loop));
        return COIO_OK;
    });
}

coio_remote *coio_remote_ref(coio_remote *r) {
    if (r) remote_ref(Rem(r));
    return r;
}

void coio_remote_release(coio_remote *r) {
    if (r) remote_release(Rem(r));
}

int coio_remote_call_soon(coio_remote *r, coio_callback fn, void *arg, coio_free_fn drop) {
    if (!r || !fn) {
        if (drop) drop(arg); // the handle always takes arg
        return COIO_EINVAL;
    }
    return remote_call_soon(Rem(r), fn, arg, drop);
}

int coio_completion_new(coio_loop *l, coio_future **future, coio_completion **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!future || !out) return COIO_EINVAL;
    return guarded([&] {
        Future *f;
        Completion *c = completion_new(loop, &f);
        *future = to_c(f);
        *out = to_c(c);
        return COIO_OK;
    });
}

int coio_completion_set_result(coio_completion *c, void *value, coio_free_fn drop) {
    if (!c) {
        if (drop) drop(value); // always takes value
        return COIO_EINVAL;
    }
    return completion_set_result(Cpl(c), value, drop);
}

int coio_completion_set_error(coio_completion *c, int code, const char *message) {
    if (!c || code == 0) return COIO_EINVAL;
    return completion_set_error(Cpl(c), code, message);
}

void coio_completion_release(coio_completion *c) {
    if (c) completion_release(Cpl(c));
}

} // extern "C"
