-- tests/tutorial/expected/12_wait_timeout.py in Lua: wait with a timeout, then cancel what is
-- pending.  A task's own cancellation is raised in it (asyncio's CancelledError): pcall
-- catches it, and error() raises it again.
local coio = require "coio"

local function num(n)
    local ok, err = pcall(coio.sleep, n * 0.1)
    if not ok then
        if coio.is_cancelled_error(err) then print(("数字%d被取消"):format(n)) end
        error(err, 0)
    end
    return n
end

local function main()
    local tasks = {}
    for i = 0, 9 do tasks[#tasks + 1] = coio.create_task(num, i) end
    local complete, pending = coio.await(coio.wait(tasks, {timeout = 0.45}))
    local index = {}
    for i, t in ipairs(tasks) do index[t] = i end
    local function by_index(a, b) return index[a] < index[b] end
    table.sort(complete, by_index)
    for _, i in ipairs(complete) do print("当前数字 " .. i:result()) end
    if #pending > 0 then
        print("取消未完成的任务")
        table.sort(pending, by_index)
        for _, p in ipairs(pending) do p:cancel() end
    end
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    loop:run_until_complete(main)
end)
loop:close()
if not ok then error(err, 0) end
