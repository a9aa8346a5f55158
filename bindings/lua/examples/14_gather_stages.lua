-- tests/tutorial/expected/14_gather_stages.py in Lua: two stages gathered; elapsed time read from
-- the loop's clock (time.time() in the Python; in virtual time the loop's clock is exact).
local coio = require "coio"

local function time() return coio.get_running_loop():time() end

local function step1(n, start)
    coio.sleep(n)
    print("第一阶段完成")
    print(("此时用时 %.1f"):format(time() - start))
    return n
end

local function step2(n, start)
    coio.sleep(n)
    print("第二阶段完成")
    print(("此时用时 %.1f"):format(time() - start))
    return n
end

local function main()
    local now = time()
    local result = coio.await(coio.gather(function() return step1(5, now) end,
                                          function() return step2(2, now) end))
    for _, i in ipairs(result) do print(i) end
    print(("总用时 %.1f"):format(time() - now))
end

local loop = coio.new_event_loop{virtual_time = true}
local ok, err = pcall(function()
    loop:run_until_complete(main)
end)
loop:close()
if not ok then error(err, 0) end
