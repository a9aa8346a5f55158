-- tests/tutorial/expected/15_as_completed.py in Lua: results in completion order.
local coio = require "coio"

local function foo(n)
    print("Waiting:  " .. n)
    coio.sleep(n)
    return n
end

local function main()
    local tasks = {
        coio.create_task(foo, 1),
        coio.create_task(foo, 2),
        coio.create_task(foo, 4),
    }
    for task in coio.as_completed(tasks) do
        local result = coio.await(task)
        print(("Task ret: %s"):format(result))
    end
end

local loop = coio.new_event_loop{virtual_time = true}
local now = function() return loop:time() end
local start = now()
loop:run_until_complete(main)
print(("%.1f"):format(now() - start))
