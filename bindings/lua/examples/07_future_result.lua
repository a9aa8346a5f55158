-- tests/tutorial/expected/07_future_result.py in Lua: a future completed by a callback; tostring
-- gives asyncio's repr.
local coio = require "coio"

local function shown(future)
    -- asyncio adds the file and line of each callback to the repr; the tutorial shows it without
    return (tostring(future):gsub("%(%) at [^%]]*%]", "()]"))
end

local function foo(future, result)
    print(("此时future的状态:%s"):format(shown(future)))
    print(("设置future的结果:%s"):format(result))
    future:set_result(result)
    print(("此时future的状态:%s"):format(shown(future)))
end

local loop = coio.new_event_loop{virtual_time = true}
local all_done
local ok, err = pcall(function()
    all_done = loop:create_future()
    loop:call_soon(foo, all_done, "Future is done!")
    print("进入事件循环")
    local result = loop:run_until_complete(all_done)
    print("返回结果 " .. result)
end)
print("关闭事件循环")
loop:close()
if not ok then error(err, 0) end
print("获取future的结果 " .. all_done:result())
