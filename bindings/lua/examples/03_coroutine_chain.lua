-- tests/tutorial/expected/03_coroutine_chain.py in Lua: a coroutine awaiting coroutines.  Awaiting
-- a coroutine runs it inline, in the same task: in Lua that is a plain call.
local coio = require "coio"

local result1, result2

local function main()
    print("主协程")
    print("等待result1协程运行")
    local res1 = result1()
    print("等待result2协程运行")
    local res2 = result2(res1)
    return res1, res2
end

function result1()
    print("这是result1协程")
    return "result1"
end

function result2(arg)
    print("这是result2协程")
    return ("result2接收了一个参数,%s"):format(arg)
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    local res1, res2 = loop:run_until_complete(main)
    print(("获取返回值:('%s', '%s')"):format(res1, res2))
end)
print("关闭事件循环")
loop:close()
if not ok then error(err, 0) end
