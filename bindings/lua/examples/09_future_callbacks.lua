-- tests/tutorial/expected/09_future_callbacks.py in Lua: done callbacks on a future.
local coio = require "coio"

local function callback(future, n)
    print(("%d: future done: %s"):format(n, future:result()))
end

local function register_callbacks(all_done)
    print("注册callback到future对象")
    all_done:add_done_callback(function(f) callback(f, 1) end)
    all_done:add_done_callback(function(f) callback(f, 2) end)
end

local function main(all_done)
    register_callbacks(all_done)
    print("设置future的结果")
    all_done:set_result("the result")
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    local all_done = loop:create_future()
    loop:run_until_complete(main, all_done)
end)
loop:close()
if not ok then error(err, 0) end
