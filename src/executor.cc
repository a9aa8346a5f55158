// The thread-pool executor (asyncio's run_in_executor).  Placeholder until it lands.
#include "core.hh"

namespace coio::detail {

void executor_close(Loop *) {}

} // namespace coio::detail
