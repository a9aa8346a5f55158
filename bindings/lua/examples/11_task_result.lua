-- tests/tutorial/expected/11_task_result.py in Lua: the same task, not cancelled: its result.
local coio = require "coio"

local function child()
    print("进入子协程")
    return "the result"
end

local function main(loop)
    print("将协程child包装成任务")
    local task = loop:create_task(child)
    local _, _, code = coio.await(task)
    if code == coio.ECANCELLED then
        print("取消任务抛出CancelledError异常")
    else
        print("获取任务的结果 " .. task:result())
    end
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    loop:run_until_complete(main, loop)
end)
loop:close()
if not ok then error(err, 0) end
