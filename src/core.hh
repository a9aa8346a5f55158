// Every subsystem's header at once, for a file that uses most of them.
#pragma once

#include "callback_names.hh"
#include "dispatch.hh"
#include "executor.hh"
#include "future.hh"
#include "handle.hh"
#include "io.hh"
#include "loop.hh"
#include "observer.hh"
#include "plugin.hh"
#include "ready.hh"
#include "remote.hh"
#include "signal.hh"
#include "task.hh"
#include "taskgroup.hh"
