-- Loads COUNT benchmark records starting at START into the Records table, the
-- same data set as the bench anchors: AccountId acct-%06d of i/100, RunTime
-- 2026-01-01T00:00:00.000Z + i seconds, Processed 0, a 200-byte Payload.
-- Usage: ddbrun scripts/bench/load.lua COUNT [START]
local ddb = require("ddb")

local count = math.tointeger(tonumber(arg[1] or ""))
local start = math.tointeger(tonumber(arg[2] or "0"))
if not count or not start then
  io.stderr:write("usage: ddbrun scripts/bench/load.lua COUNT [START]\n")
  os.exit(2)
end

local client = ddb.client()
local layout = ddb.records():info()   -- a sharded table: every writer sets the shard attribute
local table_name = layout.table
local epoch = 1767225600   -- 2026-01-01T00:00:00Z
local payload = string.rep("p", 200)
local batch = {}
for i = start, start + count - 1 do
  local item = {
    AccountId = string.format("acct-%06d", i // 100),
    RunTime = os.date("!%Y-%m-%dT%H:%M:%S.000Z", epoch + i),
    Processed = 0,
    Payload = payload,
  }
  if layout.shards > 0 then item[layout.shard_attribute] = ddb.shard_of(item.AccountId, item.RunTime, layout.shards) end
  batch[#batch + 1] = item
  if #batch == 500 then
    client:put_all(table_name, batch)
    batch = {}
  end
end
if #batch > 0 then client:put_all(table_name, batch) end
