-- bench.lua [N] [--timers M]: the Lua binding's costs, one line per workload:
--   name ops=... secs=... ns/op=...
-- per-await cost against a bare coroutine.resume/yield pair, and M timers / M callbacks
-- against luv (libuv for Lua) when it is installed.  Run by run.py for both interpreters.
local coio = require "coio"
local ok_uv, uv = pcall(require, "luv")

local N = tonumber(arg[1]) or 1000000
local M = 100000
for i = 1, #arg do
  if arg[i] == "--timers" then M = tonumber(arg[i + 1]) end
end

local clock = ok_uv and function() return uv.hrtime() / 1e9 end or os.clock

local function report(name, ops, secs)
  print(("%s ops=%d secs=%.4f ns/op=%.1f"):format(name, ops, secs, secs * 1e9 / ops))
end

local function bench(name, ops, fn)
  collectgarbage()
  collectgarbage()
  local t0 = clock()
  fn()
  report(name, ops, clock() - t0)
end

-- A bare resume/yield pair: the floor for any task switch in Lua.
bench("resume_yield", N, function()
  local co = coroutine.wrap(function()
    while true do coroutine.yield() end
  end)
  for _ = 1, N do co() end
end)

-- One task awaits sleep(0) N times: yield to the loop, one pass, resume (asyncio's
-- task_yield_sleep0).
bench("await_sleep0", N, function()
  local loop = coio.new_event_loop()
  loop:run_until_complete(function()
    local sleep = coio.sleep
    for _ = 1, N do sleep(0) end
  end)
  loop:close()
end)

-- Two tasks hand a future to each other: each await waits for a future the other completes.
bench("await_future_pingpong", N, function()
  local loop = coio.new_event_loop()
  loop:run_until_complete(function()
    local await, q = coio.await, coio.queue()
    local peer = coio.spawn(function()
      for _ = 1, N / 2 do
        local f = q:get()
        f:set_result(true)
      end
    end)
    for _ = 1, N / 2 do
      local f = loop:create_future()
      q:put_nowait(f)
      await(f)
    end
    await(peer)
  end)
  loop:close()
end)

-- Awaiting a future that is already done: no suspension (asyncio returns at once too).
bench("await_done", N, function()
  local loop = coio.new_event_loop()
  loop:run_until_complete(function()
    local f = loop:create_future()
    f:set_result(1)
    local await = coio.await
    for _ = 1, N do await(f) end
  end)
  loop:close()
end)

-- M timers (due at once, distinct handles), run until all fired.
bench("timers_coio", M, function()
  local loop = coio.new_event_loop()
  local left = M
  local function cb() left = left - 1; if left == 0 then loop:stop() end end
  for _ = 1, M do loop:call_later(0, cb) end
  loop:run_forever()
  loop:close()
end)

-- M call_soon callbacks, run until all ran.
bench("callbacks_coio", M, function()
  local loop = coio.new_event_loop()
  local left = M
  local function cb() left = left - 1; if left == 0 then loop:stop() end end
  for _ = 1, M do loop:call_soon(cb) end
  loop:run_forever()
  loop:close()
end)

if ok_uv then
  -- luv: one uv_timer per timer (0 ms), closed when it fires.
  bench("timers_luv", M, function()
    local left = M
    for _ = 1, M do
      local t = uv.new_timer()
      t:start(0, 0, function()
        t:close()
        left = left - 1
      end)
    end
    uv.run()
    assert(left == 0)
  end)

  -- luv has no call_soon: the libuv way to run a callback on the next iteration is an idle
  -- handle, stopped and closed when it has run.
  bench("callbacks_luv", M, function()
    local left = M
    for _ = 1, M do
      local h = uv.new_idle()
      h:start(function()
        h:stop()
        h:close()
        left = left - 1
      end)
    end
    uv.run()
    assert(left == 0)
  end)
else
  print("! luv not installed (Debian: lua-luv): the luv rows are missing")
end
