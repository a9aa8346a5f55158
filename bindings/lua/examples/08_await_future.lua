-- tests/tutorial/expected/08_await_future.py in Lua: a coroutine awaits a future a callback
-- completes.
local coio = require "coio"

local function foo(future, result)
    print("设置结果到future " .. result)
    future:set_result(result)
end

local function main(loop)
    local all_done = loop:create_future()
    print("调用函数获取future对象")
    loop:call_soon(foo, all_done, "the result")
    local result = coio.await(all_done)
    print("获取future里的结果 " .. result)
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    loop:run_until_complete(main, loop)
end)
loop:close()
if not ok then error(err, 0) end
