-- Write capacity per record on the table's layout, as DynamoDB reports it
-- (ReturnConsumedCapacity = INDEXES): the put of a record and its conditional
-- mark, over COUNT records. Prints "WCU put mark total" per record.
-- Usage: ddbrun scripts/bench/wcu.lua [COUNT]
local ddb = require("ddb")
local count = math.tointeger(tonumber(arg[1] or "200"))
local client = ddb.client()
local layout = ddb.records():info()
local put, mark = 0, 0
for i = 1, count do
  local item = { AccountId = string.format("wcu-%04d", i % 50), RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + i),
                 Processed = 0, Payload = string.rep("p", 200) }
  if layout.shards > 0 then item[layout.shard_attribute] = ddb.shard_of(item.AccountId, item.RunTime, layout.shards) end
  put = put + client:put_item { TableName = layout.table, Item = item, ReturnConsumedCapacity = "INDEXES" }
    .ConsumedCapacity.CapacityUnits
  mark = mark + client:update_item {
    TableName = layout.table, Key = { AccountId = item.AccountId, RunTime = item.RunTime },
    UpdateExpression = "SET #p = :one", ConditionExpression = "#p = :zero",
    ExpressionAttributeNames = { ["#p"] = "Processed" }, ExpressionAttributeValues = { [":one"] = 1, [":zero"] = 0 },
    ReturnConsumedCapacity = "INDEXES",
  }.ConsumedCapacity.CapacityUnits
end
print(string.format("WCU %.2f %.2f %.2f", put / count, mark / count, (put + mark) / count))
