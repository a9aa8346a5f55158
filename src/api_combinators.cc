// The extern "C" boundary of the combinators (coio.h's "Combinators" section): every argument
// is checked here, before anything is registered; combinators.cc never sees a bad one.
#include <cmath>

#include "api.hh"
#include "combinators.hh"
#include "future.hh"
#include "loop.hh"

using namespace coio::detail;
using namespace coio::api;

namespace {

// The input array: no NULL array (unless empty), no NULL element, every future of `loop`.
int check_futures(const Loop *loop, coio_future *const *fs, std::size_t n) {
    if (n > 0 && !fs) return COIO_EINVAL;
    for (std::size_t i = 0; i < n; i++)
        if (!fs[i]) return COIO_EINVAL;
    for (std::size_t i = 0; i < n; i++)
        if (F(fs[i])->loop != loop) return COIO_ELOOP;
    return COIO_OK;
}

} // namespace

extern "C" {

int coio_gather(coio_loop *l, coio_future *const *fs, size_t n, unsigned flags, coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || (flags & ~COIO_RETURN_EXCEPTIONS)) return COIO_EINVAL;
    if (int rc = check_futures(loop, fs, n)) return rc;
    return guarded([&] {
        *out = to_c(gather_new(loop, FS(fs), n, flags));
        return COIO_OK;
    });
}

int coio_wait(coio_loop *l, coio_future *const *fs, size_t n, double timeout, int return_when,
              coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || n == 0 || std::isnan(timeout)) return COIO_EINVAL;
    if (return_when != COIO_FIRST_COMPLETED && return_when != COIO_FIRST_EXCEPTION &&
        return_when != COIO_ALL_COMPLETED)
        return COIO_EINVAL;
    if (int rc = check_futures(loop, fs, n)) return rc;
    return guarded([&] {
        *out = to_c(wait_new(loop, FS(fs), n, timeout, return_when));
        return COIO_OK;
    });
}

int coio_as_completed(coio_loop *l, coio_future *const *fs, size_t n, double timeout,
                      coio_as_completed_iter **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!out || std::isnan(timeout)) return COIO_EINVAL;
    if (int rc = check_futures(loop, fs, n)) return rc;
    return guarded([&] {
        *out = to_c(as_completed_new(loop, FS(fs), n, timeout));
        return COIO_OK;
    });
}

int coio_as_completed_next(coio_as_completed_iter *it, coio_future **next) {
    if (!it || !next) return COIO_EINVAL;
    if (int rc = check_loop(as_completed_loop(Iter(it)))) return rc;
    return guarded([&] {
        Future *f = nullptr;
        int rc = as_completed_next(Iter(it), &f);
        if (rc == COIO_OK) *next = to_c(f);
        return rc;
    });
}

void coio_as_completed_free(coio_as_completed_iter *it) {
    if (it) as_completed_free(Iter(it));
}

int coio_wait_for(coio_future *fut, double timeout, coio_future **out) {
    Future *f = F(fut);
    if (int rc = check_future(f)) return rc;
    if (!out || std::isnan(timeout)) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(wait_for_new(f, timeout));
        return COIO_OK;
    });
}

int coio_shield(coio_future *fut, coio_future **out) {
    Future *f = F(fut);
    if (int rc = check_future(f)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(shield_new(f));
        return COIO_OK;
    });
}

} // extern "C"
