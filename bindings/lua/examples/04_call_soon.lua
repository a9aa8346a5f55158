-- tests/tutorial/expected/04_call_soon.py in Lua: plain functions as call_soon callbacks, with
-- arguments (functools.partial is a closure).
local coio = require "coio"

local function callback(args, kwargs)
    kwargs = kwargs or "defalut"
    print(("普通函数做为回调函数,获取参数:%s,%s"):format(args, kwargs))
end

local function main(loop)
    print("注册callback")
    loop:call_soon(callback, 1)
    local wrapped = function(args) return callback(args, "not defalut") end
    loop:call_soon(wrapped, 2)
    coio.sleep(0.2)
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    loop:run_until_complete(main, loop)
end)
loop:close()
if not ok then error(err, 0) end
