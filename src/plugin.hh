// Plugins, services and public custom futures (plugin.cc).
#pragma once

#include <coio.h>

#include <cstdint>

namespace coio::detail {

struct Loop;
struct Future;

// Plugins and services (plugin.cc).
struct Plugins;
int plugin_load(Loop *loop, const char *spec, const char *config); // records the reason
const char *plugin_error(const Loop *loop);
void plugins_from_env(Loop *loop); // COIO_PLUGINS, at coio_loop_new
void plugins_detach(Loop *loop);   // the start of loop_close
void services_close(Loop *loop);   // the end of loop_close
void plugins_free(Loop *loop);     // ~Loop
int service_provide(Loop *loop, const char *name, std::uint32_t version, const void *iface,
                    coio_free_fn drop);
int service_query(Loop *loop, const char *name, std::uint32_t min_version, const void **iface);
// coio_future_new_custom (plugin.cc): a public coio_future_ops future through the same path.
Future *public_future_new(Loop *loop, const coio_future_ops *ops, void *state);

} // namespace coio::detail
