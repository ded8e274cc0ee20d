-- Moves a Records table with data to a sharded Processed index, while
-- processors and writers keep running.
--
--   ddbrun scripts/migrate_records.lua --shards N [--drop-old] [--new-index NAME]
--   ddbrun scripts/migrate_records.lua --backfill
--
-- DynamoDB cannot change an index's key in place, so:
--   1. create the sharded index (Processed HASH, Shard_N HASH, RunTime RANGE)
--      beside the old one; from then on the Record model sets Shard_N on every
--      item it writes (it reads the table's indexes);
--   2. backfill: set Shard_N on every item that lacks it (conditional
--      updates: nothing else of the item is touched), printing progress;
--   3. wait until the index is ACTIVE, then backfill again (items written
--      meanwhile by writers that had not yet seen the new index);
--   4. with --drop-old, switch: drop the old index; every process that then
--      reads the layout finds the sharded index under its new name.
-- Until the switch the old index stays complete and in use, so no
-- unprocessed record is ever out of the processors' sight. Every step checks
-- the table first, so a run stopped by Ctrl-C is resumed by running it again
-- (the backfill continues from a checkpoint file), and a run with nothing
-- left to do changes nothing.
-- --backfill alone sets the shard attributes of every sharded index on items
-- that lack them (written by other programs); it can be run at any time.
local ddb = require("ddb")
local tables = require("ddb.tables")
local cjson = require("cjson")

local USAGE = "usage: ddbrun scripts/migrate_records.lua --shards N [--drop-old] [--new-index NAME] | --backfill"

local function fail(code, fmt, ...)
  io.stderr:write("migrate_records.lua: ", string.format(fmt, ...), "\n")
  os.exit(code)
end

local function parse_args()
  local o, i = {}, 1
  while arg[i] do
    local a = arg[i]
    if a == "-h" or a == "--help" then
      print(USAGE)
      os.exit(0)
    elseif a == "--shards" then
      o.shards = tables.shard_count(arg[i + 1], 1)
      if not o.shards then
        fail(2, "--shards needs a whole number from 1 to %d, not '%s'", tables.MAX_SHARDS, tostring(arg[i + 1]))
      end
      i = i + 1
    elseif a == "--new-index" then
      o.new_index = arg[i + 1] or fail(2, "--new-index needs a name")
      i = i + 1
    elseif a == "--drop-old" then
      o.drop_old = true
    elseif a == "--backfill" then
      o.backfill_only = true
    else
      fail(2, "unknown option '%s' (%s)", a, USAGE)
    end
    i = i + 1
  end
  if not o.shards and not o.backfill_only then fail(2, "%s", USAGE) end
  return o
end

local opts = parse_args()
local names = tables.names()
local client = ddb.client { max_attempts = 10 }   -- DynamoDB Local answers 500 while an index starts building

local function say(fmt, ...)
  io.stdout:write(string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function describe()
  return client:describe_table { TableName = names.records }.Table
end

-- The sharded Processed indexes of a table: { [shards] = gsi }.
local function sharded_indexes(t)
  local found = {}
  for _, g in ipairs(t.GlobalSecondaryIndexes or {}) do
    local k = g.KeySchema
    if #k == 3 and k[1].AttributeName == "Processed" and k[3].AttributeName == "RunTime" then
      local n = math.tointeger(tonumber(k[2].AttributeName:match("^Shard_(%d+)$") or ""))
      if n then found[n] = g end
    end
  end
  return found
end

local function find_index(t, name)
  for _, g in ipairs(t.GlobalSecondaryIndexes or {}) do
    if g.IndexName == name then return g end
  end
end

-- --- the backfill, resumable from a checkpoint file ---

local function checkpoint_path(shards)
  return string.format(".migrate_records.%s.%s.checkpoint", names.records, table.concat(shards, "_"))
end

local function load_checkpoint(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local ok, key = pcall(cjson.decode, text)
  return ok and type(key) == "table" and key or nil
end

local function save_checkpoint(path, key)
  local f = assert(io.open(path .. ".tmp", "w"))
  f:write(cjson.encode(key))
  f:close()
  assert(os.rename(path .. ".tmp", path))
end

-- Sets the missing shard attributes of one item; true when it wrote.
local function stamp(item, shards)
  local sets, values, names_ = {}, {}, {}
  local conds = {}
  for i, n in ipairs(shards) do
    local attr = tables.shard_attribute(n)
    if item[attr] == nil then
      sets[#sets + 1] = string.format("#s%d = :s%d", i, i)
      conds[#conds + 1] = string.format("attribute_not_exists(#s%d)", i)
      names_["#s" .. i] = attr
      values[":s" .. i] = ddb.shard_of(item.AccountId, item.RunTime, n)
    end
  end
  if #sets == 0 then return false end
  names_["#a"] = "AccountId"
  local ok, err = pcall(client.update_item, client, {
    TableName = names.records,
    Key = { AccountId = item.AccountId, RunTime = item.RunTime },
    UpdateExpression = "SET " .. table.concat(sets, ", "),
    -- a deleted item stays deleted; one a writer stamped meanwhile is left alone
    ConditionExpression = "attribute_exists(#a) AND " .. table.concat(conds, " AND "),
    ExpressionAttributeNames = names_,
    ExpressionAttributeValues = values,
  })
  if ok then return true end
  if type(err) == "table" and err.code == "ConditionalCheckFailedException" then return false end
  error(err, 0)
end

-- Scans the table for items lacking any of the shard attributes and sets them.
local function backfill(shards, label)
  local path = checkpoint_path(shards)
  local start = load_checkpoint(path)
  local missing, names_ = {}, {}
  for i, n in ipairs(shards) do
    missing[#missing + 1] = string.format("attribute_not_exists(#s%d)", i)
    names_["#s" .. i] = tables.shard_attribute(n)
  end
  names_["#a"], names_["#r"] = "AccountId", "RunTime"
  local scanned, stamped = 0, 0
  say("%s: %s", label, start and "resuming from the checkpoint" or "scanning " .. names.records)
  repeat
    local page = client:scan {
      TableName = names.records, ExclusiveStartKey = start, Limit = 1000, ConsistentRead = true,
      FilterExpression = "attribute_exists(#a) AND attribute_exists(#r) AND (" .. table.concat(missing, " OR ") .. ")",
      ExpressionAttributeNames = names_,
    }
    for _, item in ipairs(page.Items or {}) do
      if type(item.AccountId) == "string" and type(item.RunTime) == "string" and stamp(item, shards) then
        stamped = stamped + 1
      end
    end
    scanned = scanned + (page.ScannedCount or 0)
    start = page.LastEvaluatedKey
    if start then save_checkpoint(path, start) end
    say("%s: scanned %d, stamped %d", label, scanned, stamped)
  until not start
  os.remove(path)
  return stamped
end

-- --- the steps ---

local function wait_active(name)
  say("waiting for index %s to become ACTIVE", name)
  local t = tables.wait(client, names.records, false, 24 * 3600)
  return t
end

local function create_index(name, shards)
  say("creating index %s on (Processed, %s) + RunTime", name, tables.shard_attribute(shards))
  client:update_table {
    TableName = names.records,
    AttributeDefinitions = {
      { AttributeName = "Processed", AttributeType = "N" },
      { AttributeName = tables.shard_attribute(shards), AttributeType = "N" },
      { AttributeName = "RunTime", AttributeType = "S" },
    },
    GlobalSecondaryIndexUpdates = { { Create = {
      IndexName = name, KeySchema = tables.index_key(shards), Projection = { ProjectionType = "ALL" },
    } } },
  }
end

local function drop_index(name)
  say("switching: dropping the old index %s", name)
  client:update_table { TableName = names.records, GlobalSecondaryIndexUpdates = { { Delete = { IndexName = name } } } }
  local deadline = os.time() + 24 * 3600
  while find_index(describe(), name) do
    if os.time() > deadline then error("index " .. name .. " was not deleted within a day", 0) end
    ddb.sleep_ms(500)
  end
end

local function all_shards(t)
  local list = {}
  for n in pairs(sharded_indexes(t)) do list[#list + 1] = n end
  table.sort(list)
  return list
end

local function run_backfill_only()
  local list = all_shards(describe())
  if #list == 0 then fail(1, "table %s has no sharded index: nothing to backfill", names.records) end
  local n = backfill(list, "backfill")
  say("done: %d items stamped", n)
end

-- The index the processors read now (RECORDS_INDEX, default Processed).
local function current_index(t)
  local g = find_index(t, names.records_index)
  if g then return g end
  -- a migrated table: the one ACTIVE sharded index, as the Record model finds it
  local found
  for _, s in pairs(sharded_indexes(t)) do
    if s.IndexStatus == "ACTIVE" then
      if found then found = nil break end
      found = s
    end
  end
  if found then return found end
  error(string.format("table %s has no index %s (set RECORDS_INDEX)", names.records, names.records_index), 0)
end

local function migrate()
  local t = describe()
  local old = current_index(t)
  if old.KeySchema[2] and old.KeySchema[2].AttributeName == tables.shard_attribute(opts.shards) then
    say("table %s already reads index %s with %d shards: nothing to do", names.records, old.IndexName, opts.shards)
    return
  end
  if old.IndexName ~= names.records_index then
    -- a second ACTIVE sharded index would leave processes unable to tell which to read
    error(string.format("table %s reads index %s, found under another name than RECORDS_INDEX (%s): "
      .. "set RECORDS_INDEX=%s for every process before sharding it again", names.records, old.IndexName,
      names.records_index, old.IndexName), 0)
  end
  local target = sharded_indexes(t)[opts.shards]
  local name = target and target.IndexName or opts.new_index or (old.IndexName .. "_sharded" .. opts.shards)
  if not target then
    if find_index(t, name) then error("index " .. name .. " exists with another key: choose --new-index NAME", 0) end
    create_index(name, opts.shards)
  else
    say("index %s exists (%s)", name, target.IndexStatus)
  end
  local stamped = backfill({ opts.shards }, "backfill")
  wait_active(name)
  stamped = stamped + backfill({ opts.shards }, "backfill (writes during the build)")
  if opts.drop_old then
    drop_index(old.IndexName)
    say("done: processes now read index %s (%d shards); %d items stamped", name, opts.shards, stamped)
  else
    say("done: index %s (%d shards) is ACTIVE and complete; %d items stamped; processes still read %s "
        .. "until it is dropped (run again with --drop-old)", name, opts.shards, stamped, old.IndexName)
  end
end

local ok, err = pcall(opts.backfill_only and run_backfill_only or migrate)
if not ok then
  io.stderr:write("migrate_records.lua: ", tostring(err), "\n")
  os.exit(1)
end
