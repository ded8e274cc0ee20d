-- Single-thread client figures: PutItem and GetItem one request at a time
-- (WARMUP unmeasured requests, then COUNT measured), printing requests/s and
-- client CPU ms per request. Usage: ddbrun scripts/bench/single.lua [COUNT] [WARMUP]
local ddb = require("ddb")
local count = math.tointeger(tonumber(arg[1] or "3000"))
local warmup = math.tointeger(tonumber(arg[2] or "200"))
local client = ddb.client()
local table_name = ddb.records():info().table
local payload = string.rep("p", 200)

local function now()
  local p = io.open("/proc/uptime")
  local t = p:read("n")
  p:close()
  return t
end

local function key(i) return { AccountId = string.format("single-%06d", i // 100), RunTime = string.format("2026-01-01T00:00:%02d.%06dZ", i % 60, i) } end

local ops = {
  PutItem = function(i)
    local item = key(i)
    item.Processed, item.Payload = 0, payload
    client:put_item { TableName = table_name, Item = item }
  end,
  GetItem = function(i)
    client:get_item { TableName = table_name, Key = key(i) }
  end,
}

for _, op in ipairs { "PutItem", "GetItem" } do
  for i = 1, warmup do ops[op](i) end
  local wall0, cpu0 = now(), os.clock()
  for i = 1, count do ops[op](i) end
  local wall, cpu = now() - wall0, os.clock() - cpu0
  print(string.format("SINGLE %s %d %.1f %.3f", op, count, count / wall, cpu * 1000 / count))
end
