-- The project's tables as CreateTable requests, and the idempotent set-up
-- that create_tables.lua and the specs use: create, check the schema of an
-- existing table, wait until ACTIVE, delete.
local ddb = require("ddb")

local tables = {}

local function env(name, default)
  local v = os.getenv(name)
  return (v and v ~= "") and v or default
end

function tables.names()
  return {
    users = env("USERS_TABLE", "Users"),
    records = env("RECORDS_TABLE", "Records"),
    records_index = env("RECORDS_INDEX", "Processed"),
  }
end

tables.MAX_SHARDS = 1024

-- The whole number text (a string or nil) names, when it is a shard count
-- from min to MAX_SHARDS; else nil.
function tables.shard_count(text, min)
  local n = math.tointeger(tonumber(text or ""))
  return n and n >= min and n <= tables.MAX_SHARDS and n or nil
end

-- The shard attribute of a layout with n shards: its name carries n (see
-- src/record_layout.h), so DescribeTable alone tells every process the layout.
function tables.shard_attribute(n)
  return "Shard_" .. n
end

-- The Processed index's key: the seed's (Processed HASH, RunTime RANGE), or
-- with shards, the multi-attribute key (Processed HASH, Shard_n HASH, RunTime RANGE).
function tables.index_key(shards)
  local schema = { { AttributeName = "Processed", KeyType = "HASH" } }
  if shards and shards > 0 then
    schema[2] = { AttributeName = tables.shard_attribute(shards), KeyType = "HASH" }
  end
  schema[#schema + 1] = { AttributeName = "RunTime", KeyType = "RANGE" }
  return schema
end

local function key_schema(hash, range)
  return { { AttributeName = hash, KeyType = "HASH" }, { AttributeName = range, KeyType = "RANGE" } }
end

function tables.users(name)
  return {
    TableName = name,
    BillingMode = "PAY_PER_REQUEST",
    AttributeDefinitions = {
      { AttributeName = "pk", AttributeType = "S" },
      { AttributeName = "sk", AttributeType = "S" },
    },
    KeySchema = key_schema("pk", "sk"),
  }
end

-- shards: nil or 0 for the seed's table, else the number of shards.
function tables.records(name, index, shards)
  local spec = {
    TableName = name,
    BillingMode = "PAY_PER_REQUEST",
    AttributeDefinitions = {
      { AttributeName = "AccountId", AttributeType = "S" },
      { AttributeName = "RunTime", AttributeType = "S" },
      { AttributeName = "Processed", AttributeType = "N" },
    },
    KeySchema = key_schema("AccountId", "RunTime"),
    GlobalSecondaryIndexes = {
      {
        IndexName = index,
        KeySchema = tables.index_key(shards),
        Projection = { ProjectionType = "ALL" },
      },
    },
  }
  if shards and shards > 0 then
    table.insert(spec.AttributeDefinitions, { AttributeName = tables.shard_attribute(shards), AttributeType = "N" })
  end
  return spec
end

-- Both tables with the names from the environment; Records with shards shards (0: the seed's layout).
function tables.all(shards)
  local n = tables.names()
  return { tables.users(n.users), tables.records(n.records, n.records_index, shards) }
end

local function keys_text(schema)
  local parts = {}
  for _, k in ipairs(schema or {}) do parts[#parts + 1] = k.AttributeName .. " " .. k.KeyType end
  return table.concat(parts, ", ")
end

local function attribute_types(defs)
  local types = {}
  for _, d in ipairs(defs or {}) do types[d.AttributeName] = d.AttributeType end
  return types
end

local function index_differences(want, have, diffs)
  local found, by_key = {}, {}
  for _, g in ipairs(have or {}) do
    found[g.IndexName] = g
    by_key[keys_text(g.KeySchema)] = by_key[keys_text(g.KeySchema)] or g
  end
  for _, g in ipairs(want or {}) do
    -- a migrated table carries its index under another name (no renames in DynamoDB)
    local h = found[g.IndexName] or by_key[keys_text(g.KeySchema)]
    if not h then
      diffs[#diffs + 1] = string.format("global secondary index %s is missing", g.IndexName)
    else
      if keys_text(h.KeySchema) ~= keys_text(g.KeySchema) then
        diffs[#diffs + 1] = string.format("index %s keys are (%s), expected (%s)", g.IndexName,
          keys_text(h.KeySchema), keys_text(g.KeySchema))
      end
      local hp = h.Projection and h.Projection.ProjectionType
      if hp ~= g.Projection.ProjectionType then
        diffs[#diffs + 1] = string.format("index %s projects %s, expected %s", g.IndexName,
          tostring(hp), g.Projection.ProjectionType)
      end
    end
  end
end

-- What differs between a CreateTable request and a DescribeTable Table.
function tables.differences(want, have)
  local diffs = {}
  if keys_text(have.KeySchema) ~= keys_text(want.KeySchema) then
    diffs[#diffs + 1] = string.format("keys are (%s), expected (%s)", keys_text(have.KeySchema), keys_text(want.KeySchema))
  end
  local have_types = attribute_types(have.AttributeDefinitions)
  for name, t in pairs(attribute_types(want.AttributeDefinitions)) do
    if have_types[name] ~= t then
      diffs[#diffs + 1] = string.format("attribute %s is %s, expected %s", name, tostring(have_types[name] or "undefined"), t)
    end
  end
  index_differences(want.GlobalSecondaryIndexes, have.GlobalSecondaryIndexes, diffs)
  table.sort(diffs)
  return diffs
end

local function describe(client, name)
  local ok, out = pcall(client.describe_table, client, { TableName = name })
  if ok then return out.Table end
  if type(out) == "table" and out.code == "ResourceNotFoundException" then return nil end
  error(out, 0)
end

-- Polls until the table and its indexes are ACTIVE (or gone, when gone = true).
function tables.wait(client, name, gone, timeout_s)
  local deadline = os.time() + (timeout_s or 300)
  while true do
    local t = describe(client, name)
    if gone and not t then return end
    if not gone and t and t.TableStatus == "ACTIVE" then
      local ready = true
      for _, g in ipairs(t.GlobalSecondaryIndexes or {}) do ready = ready and g.IndexStatus == "ACTIVE" end
      if ready then return t end
    end
    if os.time() > deadline then
      error(string.format("table %s did not become %s within %d s", name, gone and "deleted" or "ACTIVE", timeout_s or 300), 0)
    end
    ddb.sleep_ms(500)
  end
end

-- Creates the table unless it exists; an existing one must match the spec.
-- Returns "created" or "exists"; raises naming what differs.
function tables.ensure(client, spec)
  local have = describe(client, spec.TableName)
  if have then
    local diffs = tables.differences(spec, have)
    if #diffs > 0 then
      error(string.format("table %s exists with a different schema: %s (use --recreate to replace it)",
        spec.TableName, table.concat(diffs, "; ")), 0)
    end
    tables.wait(client, spec.TableName)
    return "exists"
  end
  client:create_table(spec)
  tables.wait(client, spec.TableName)
  return "created"
end

-- Deletes the table if it exists; returns true when it did.
function tables.delete(client, name)
  local ok, err = pcall(client.delete_table, client, { TableName = name })
  if not ok then
    if type(err) == "table" and err.code == "ResourceNotFoundException" then return false end
    error(err, 0)
  end
  tables.wait(client, name, true)
  return true
end

return tables
