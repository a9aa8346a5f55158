// Signal handlers (asyncio's add_signal_handler).  Placeholder until the subsystem lands.
#include "core.hh"

namespace coio::detail {

void signals_close(Loop *) {}

} // namespace coio::detail
