// The extern "C" boundary of reprs (coio.h's "Reprs" section): checks, then repr.cc.
#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>

#include "api.hh"
#include "future.hh"
#include "repr.hh"

using namespace coio::detail;
using namespace coio::api;

namespace {

// The length an Out counted, as the long the API returns.
long length(const Out &o) {
    return o.len > std::size_t(LONG_MAX) ? LONG_MAX : long(o.len);
}

} // namespace

extern "C" {

int coio_future_set_result_repr(coio_future *fut, void *value, coio_free_fn drop,
                                coio_repr_fn repr) {
    Future *f = F(fut);
    if (!repr || check_future(f) || f->state != Future::Pending)
        return coio_future_set_result(fut, value, drop); // (its statuses)
    // The formatter first (it may fail: then nothing is set), the result after.
    if (int rc = guarded([&] {
            value_repr_set(f, repr);
            return COIO_OK;
        }))
        return rc;
    int rc = coio_future_set_result(fut, value, drop);
    if (rc != COIO_OK) value_repr_forget(f);
    return rc;
}

long coio_repr_str(const void *value, char *buf, size_t size) {
    if (!buf && size) return COIO_EINVAL;
    Out o{buf, size};
    int rc = guarded([&] {
        if (value)
            py_str_repr(o, static_cast<const char *>(value), true);
        else
            o.puts("None");
        return COIO_OK;
    });
    if (rc) return rc;
    o.finish();
    return length(o);
}

long coio_repr_int(const void *value, char *buf, size_t size) {
    if (!buf && size) return COIO_EINVAL;
    char tmp[32];
    int n = std::snprintf(tmp, sizeof tmp, "%" PRIdPTR, reinterpret_cast<std::intptr_t>(value));
    Out o{buf, size};
    o.put(tmp, std::size_t(n));
    o.finish();
    return length(o);
}

long coio_future_repr(const coio_future *fut, char *buf, size_t size) {
    const Future *f = F(fut);
    if (!f || (!buf && size)) return COIO_EINVAL;
    Out o{buf, size};
    int rc = guarded([&] {
        future_repr(o, f);
        return COIO_OK;
    });
    if (rc) return rc;
    o.finish();
    return length(o);
}

int coio_function_set_name(coio_any_fn fn, const char *name) {
    if (!fn) return COIO_EINVAL;
    return guarded([&] {
        set_function_name(fn, name);
        return COIO_OK;
    });
}

} // extern "C"
