-- tests/tutorial/expected/06_call_at.py in Lua: call_at with the loop's clock.
local coio = require "coio"

local start

local function call_back(n, loop)
    print(("callback %d 运行时间点+%.1f"):format(n, loop:time() - start))
end

local function main(loop)
    local now = loop:time()
    start = now
    print("当前的内部时间 +0.0")
    print("循环时间 +0.0")
    print("注册callback")
    loop:call_at(now + 0.1, call_back, 1, loop)
    loop:call_at(now + 0.2, call_back, 2, loop)
    loop:call_soon(call_back, 3, loop)
    coio.sleep(1)
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    print("进入事件循环")
    loop:run_until_complete(main, loop)
end)
print("关闭循环")
loop:close()
if not ok then error(err, 0) end
