-- tests/tutorial/expected/05_call_later.py in Lua: call_later runs callbacks in deadline order.
local coio = require "coio"

local function callback(n)
    print(("callback %d invoked"):format(n))
end

local function main(loop)
    print("注册callbacks")
    loop:call_later(0.2, callback, 1)
    loop:call_later(0.1, callback, 2)
    loop:call_soon(callback, 3)
    coio.sleep(0.4)
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    loop:run_until_complete(main, loop)
end)
loop:close()
if not ok then error(err, 0) end
