// Timeout scopes (timeout.cc) and task groups (taskgroup.cc).
#pragma once

#include <coio.h>

#include <cstddef>

#include "task.hh"

namespace coio::detail {

struct Loop;

// Timeout scopes (timeout.cc) and task groups (taskgroup.cc); api_taskgroup.cc checks the
// arguments.  A scope belongs to the task that entered it; a group is reference counted.
struct Timeout;
Timeout *timeout_enter(Loop *loop, Task *t, double when); // when: loop time; +INFINITY: none
Loop *timeout_loop(const Timeout *tm);
int timeout_reschedule(Timeout *tm, double when); // COIO_ESTATE unless entered and not expired
double timeout_when(const Timeout *tm);
bool timeout_expired(const Timeout *tm);
int timeout_exit(Timeout *tm, int status); // COIO_ESTATE (nothing done) off the entering task
struct TaskGroup;
TaskGroup *task_group_new(Loop *loop, Task *parent);
Loop *task_group_loop(const TaskGroup *g);
int task_group_spawn_step(TaskGroup *g, coio_step_fn step, void *arg, coio_free_fn drop,
                          const coio_task_options &o, Task **out);
int task_group_spawn_coroutine(TaskGroup *g, coio_coroutine_fn fn, void *arg,
                               const coio_task_options &o, Task **out);
int task_group_exit(TaskGroup *g, int status, Task **out);
long task_group_errors(const TaskGroup *g, Future **out, std::size_t cap);
void task_group_free(TaskGroup *g);

} // namespace coio::detail
