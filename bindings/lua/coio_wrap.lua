-- The Lua half of the coio module, embedded into coio.so (see embed.py) and run once by
-- luaopen_coio with the module table, the C primitives, and the method tables (__index) of
-- every metatable.  Everything that awaits is here: a C primitive registers the future with
-- the task and yields; once the task is resumed, P.outcome turns the future's outcome into
-- Lua values (or raises the task's own cancellation).
local M, P, I = ...

local await_, outcome, sleep_ = P.await, P.outcome, P.sleep
local pcall, error, select, type = pcall, error, select, type
local unpack = table.unpack or unpack
local is_cancel = M.is_cancelled_error

local function pack(...)
  return { n = select("#", ...), ... }
end

-- coio.await(future) -> the future's result values | nil, error, code
function M.await(f)
  await_(f)
  return outcome(f)
end

-- coio.sleep(delay[, ...]) -> ... (asyncio.sleep(delay, result))
-- (nil, message, code if coio refuses the delay: NaN or infinite)
function M.sleep(delay, ...)
  local _, msg, code = sleep_(delay)
  if msg ~= nil then return nil, msg, code end
  outcome()
  return ...
end

-- A method that awaits the future its primitive makes: the primitive returns nothing when it
-- awaited, or nil, message, code when it could not start.
local function awaiting(prim)
  return function(...)
    local _, msg, code = prim(...)
    if msg ~= nil then return nil, msg, code end
    return outcome()
  end
end

-- Runs fn(...) holding the primitive (lock, semaphore, condition): acquire, call, release,
-- and the error (if any) raised again after the release.
local function with(self, fn, ...)
  local ok, msg, code = self:acquire()
  if not ok then return nil, msg, code end
  local r = pack(pcall(fn, ...))
  self:release()
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

local Event, Lock, Sem = I["coio.Event"], I["coio.Lock"], I["coio.Semaphore"]
local Cond, Barrier, Queue = I["coio.Condition"], I["coio.Barrier"], I["coio.Queue"]
local TaskGroup, Loop = I["coio.TaskGroup"], I["coio.Loop"]

Event.wait = awaiting(Event._wait)
Lock.acquire = awaiting(Lock._acquire)
Lock.with = with
Sem.acquire = awaiting(Sem._acquire)
Sem.with = with
Cond.acquire = awaiting(Cond._acquire)
Cond.wait = awaiting(Cond._wait)
Cond.with = with
Barrier.wait = awaiting(Barrier._wait)
Queue.put = awaiting(Queue._put)
Queue.get = awaiting(Queue._get)
Queue.join = awaiting(Queue._join)

-- cond:wait_for(predicate) -> the predicate's true value (asyncio's Condition.wait_for)
function Cond.wait_for(self, pred)
  local r = pred()
  while not r do
    local ok, msg, code = self:wait()
    if not ok then return nil, msg, code end
    r = pred()
  end
  return r
end

local function status_of(r)
  if r[1] then return M.OK end
  if is_cancel(r[2]) then return M.ECANCELLED end
  return M.EFAILED
end

local function run_scope(tm, fn, ...)
  local r = pack(pcall(fn, tm, ...))
  local st = P.timeout_exit(tm, status_of(r))
  if st == M.ETIMEDOUT then return nil, M.strerror(M.ETIMEDOUT), M.ETIMEDOUT end
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

-- coio.timeout(delay, fn, ...) -> fn(scope, ...)'s results | nil, "timed out", ETIMEDOUT
-- (asyncio's `async with asyncio.timeout(delay)`; delay nil: no deadline)
function M.timeout(delay, fn, ...)
  local tm, msg, code = P.timeout_enter(delay == nil and -1 or delay, false)
  if not tm then return nil, msg, code end
  return run_scope(tm, fn, ...)
end

-- coio.timeout_at(when, fn, ...): the same with an absolute loop time (nil: none)
function M.timeout_at(when, fn, ...)
  local tm, msg, code = P.timeout_enter(when == nil and math.huge or when, true)
  if not tm then return nil, msg, code end
  return run_scope(tm, fn, ...)
end

-- coio.task_group(fn, ...) -> fn(group, ...)'s results once every child is done
--   | nil, message, code, errors   (asyncio's `async with asyncio.TaskGroup() as tg`)
function M.task_group(body, ...)
  local tg, msg, code = P.task_group_new()
  if not tg then return nil, msg, code end
  local r = pack(pcall(body, tg, ...))
  local ef, emsg, ecode = tg:_exit(status_of(r))
  if not ef then
    tg:_free()
    if not r[1] then error(r[2], 0) end
    return nil, emsg, ecode
  end
  local res = pack(pcall(M.await, ef))
  local errs = tg:errors()
  tg:_free()
  if not res[1] then error(res[2], 0) end -- this task's cancellation goes on
  if res[2] == nil and res[4] ~= nil then
    if not r[1] and not is_cancel(r[2]) then table.insert(errs, 1, r[2]) end
    return nil, res[3], res[4], errs
  end
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

-- coio.run(fn, ...): asyncio.run — a new loop runs fn(...) as a task, then is closed.
function M.run(fn, ...)
  local loop = M.new_event_loop()
  local r = pack(loop:run_until_complete(fn, ...))
  loop:close()
  loop:release()
  return unpack(r, 1, r.n)
end

