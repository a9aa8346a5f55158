-- LuaRocks build of the coio Lua binding against an installed libcoio:
--   luarocks make coio-scm-1.rockspec COIO_DIR=/usr/local
-- (or COIO_INCDIR=... COIO_LIBDIR=... when the library is in a multiarch libdir).
-- Run from bindings/lua.  Meson builds the same module in-tree (see meson.build).
package = "coio"
version = "scm-1"
source = {
   url = "git+https://example.invalid/coio.git",
   dir = "coio/bindings/lua",
}
description = {
   summary = "asyncio's event loop, tasks and combinators for Lua 5.4 and LuaJIT, on libcoio",
   detailed = [[
Tasks are Lua coroutines driven by coio's step protocol; futures, timers, gather / wait /
as_completed / wait_for / shield, timeouts, task groups, events, locks, semaphores,
conditions, barriers and queues, as in Python's asyncio.]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1",
}
external_dependencies = {
   COIO = {
      header = "coio.h",
      library = "coio",
   },
}
build = {
   type = "builtin",
   modules = {
      coio = {
         sources = { "coio_lua.c" },
         libraries = { "coio" },
         incdirs = { "$(COIO_INCDIR)" },
         libdirs = { "$(COIO_LIBDIR)" },
      },
   },
}
