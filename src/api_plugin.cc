// The extern "C" wrappers of plugin.cc and observer.cc: argument checks only.
#include "api.hh"
#include "loop.hh"
#include "observer.hh"
#include "plugin.hh"

using namespace coio::detail;
using namespace coio::api;

extern "C" {

int coio_loop_load_plugin(coio_loop *l, const char *path_or_name, const char *config) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (loop->closing) return COIO_ECLOSED;
    if (!path_or_name || !*path_or_name) return COIO_EINVAL;
    return guarded([&] { return plugin_load(loop, path_or_name, config); });
}

const char *coio_loop_plugin_error(const coio_loop *l) {
    return l ? plugin_error(L(l)) : nullptr;
}

int coio_loop_add_observer(coio_loop *l, const coio_observer *obs, void *arg, coio_free_fn drop) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!obs) return COIO_EINVAL;
    coio_observer hooks = COIO_OBSERVER_INIT;
    if (!widen(obs, sizeof(std::uint32_t), &hooks)) return COIO_EINVAL;
    return guarded([&] { return observer_add(loop, hooks, obs, arg, drop); });
}

int coio_loop_remove_observer(coio_loop *l, const coio_observer *obs, void *arg) {
    Loop *loop = L(l);
    if (!loop || !obs) return COIO_EINVAL;
    if (loop_on_wrong_thread(loop)) return COIO_ETHREAD;
    return guarded([&] { return observer_remove(loop, obs, arg); });
}

int coio_loop_provide(coio_loop *l, const char *name, uint32_t version, const void *iface,
                      coio_free_fn drop) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!name || !*name || !iface) return COIO_EINVAL;
    return guarded([&] { return service_provide(loop, name, version, iface, drop); });
}

int coio_loop_query(coio_loop *l, const char *name, uint32_t min_version, const void **iface) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!name || !iface) return COIO_EINVAL;
    return service_query(loop, name, min_version, iface);
}

int coio_future_new_custom(coio_loop *l, const coio_future_ops *ops, void *state,
                           coio_future **out) {
    Loop *loop = L(l);
    if (int rc = check_loop(loop)) return rc;
    if (!ops || !out || ops->size < sizeof(ops->size) || ops->size > sizeof(coio_future_ops))
        return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(public_future_new(loop, ops, state));
        return COIO_OK;
    });
}

} // extern "C"
