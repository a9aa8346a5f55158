-- tests/tutorial/expected/01_run_coroutine.py in Lua: run a coroutine until it completes.
-- A coroutine is a Lua function; run_until_complete runs it as a task.  Every port runs its
-- loop in virtual time, so the output is exact (and the sleeps take no real time).
local coio = require "coio"

local function foo()
    print("这是一个协程")
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    print("开始运行协程")
    local coro = foo
    print("进入事件循环")
    loop:run_until_complete(coro)
end)
-- finally:
print("关闭事件循环")
loop:close()
if not ok then error(err, 0) end
