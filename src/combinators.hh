// The combinators (combinators.cc): asyncio.gather, wait, as_completed, wait_for and shield.
// api_combinators.cc checks every argument first: the futures are all of `loop`, none NULL.
#pragma once

#include <cstddef>

namespace coio::detail {

struct Loop;
struct Future;
struct AsCompleted;

Future *gather_new(Loop *loop, Future *const *fs, std::size_t n, unsigned flags);
Future *wait_new(Loop *loop, Future *const *fs, std::size_t n, double timeout, int return_when);
AsCompleted *as_completed_new(Loop *loop, Future *const *fs, std::size_t n, double timeout);
Loop *as_completed_loop(const AsCompleted *it);
int as_completed_next(AsCompleted *it, Future **out); // the next future, or a status
void as_completed_free(AsCompleted *it);
Future *wait_for_new(Future *f, double timeout);
Future *shield_new(Future *f);

} // namespace coio::detail
