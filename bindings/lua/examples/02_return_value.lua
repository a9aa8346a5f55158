-- tests/tutorial/expected/02_return_value.py in Lua: run_until_complete returns the coroutine's
-- value.
local coio = require "coio"

local function foo()
    print("这是一个协程")
    return "返回值"
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    print("开始运行协程")
    local coro = foo
    print("进入事件循环")
    local result = loop:run_until_complete(coro)
    print(("run_until_complete可以获取协程的%s，默认输出None"):format(result))
end)
print("关闭事件循环")
loop:close()
if not ok then error(err, 0) end
