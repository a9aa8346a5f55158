-- tests/tutorial/expected/13_gather.py in Lua: gather ten coroutines (functions: gather runs each
-- as a task) and read their results in order.
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
    for i = 0, 9 do tasks[#tasks + 1] = function() return num(i) end end
    local complete = coio.await(coio.gather(tasks))
    for _, i in ipairs(complete) do print("当前数字 " .. i) end
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    loop:run_until_complete(main)
end)
loop:close()
if not ok then error(err, 0) end
