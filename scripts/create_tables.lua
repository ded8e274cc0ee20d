-- Creates the Users and Records tables (Records with its Processed GSI), or
-- reports that they exist.
-- Usage: ddbrun scripts/create_tables.lua [--shards N] [--delete | --recreate]
local ddb = require("ddb")
local tables = require("ddb.tables")

local USAGE = "usage: ddbrun scripts/create_tables.lua [--shards N] [--delete | --recreate]"

local function fail(code, fmt, ...)
  io.stderr:write("create_tables.lua: ", string.format(fmt, ...), "\n")
  os.exit(code)
end

local mode, shards
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "-h" or a == "--help" then
    print(USAGE)
    print("Table names come from USERS_TABLE, RECORDS_TABLE and RECORDS_INDEX (defaults Users, Records,")
    print("Processed). --shards N (or RECORDS_SHARDS=N) keys the index on (Processed, Shard_N) so that")
    print("unprocessed records spread over N partition-key values; without it the seed's layout.")
    os.exit(0)
  elseif a == "--delete" or a == "--recreate" then
    mode = a
  elseif a == "--shards" then
    shards = tables.shard_count(arg[i + 1], 0)
    if not shards then
      fail(2, "--shards needs a whole number from 0 to %d, not '%s'", tables.MAX_SHARDS, tostring(arg[i + 1]))
    end
    i = i + 1
  else
    fail(2, "unknown option '%s' (%s)", a, USAGE)
  end
  i = i + 1
end

local env_shards = os.getenv("RECORDS_SHARDS")
if not shards and env_shards and env_shards ~= "" then
  shards = tables.shard_count(env_shards, 0)
  if not shards then
    fail(2, "RECORDS_SHARDS must be a whole number from 0 to %d, not '%s'", tables.MAX_SHARDS, env_shards)
  end
end

local client = ddb.client()
print(string.format("DynamoDB endpoint: %s", client:info().endpoint))

local function run()
  for _, spec in ipairs(tables.all(shards or 0)) do
    if mode == "--delete" or mode == "--recreate" then
      print(string.format("%-10s %s", spec.TableName, tables.delete(client, spec.TableName) and "deleted" or "not present"))
    end
    if mode ~= "--delete" then
      local state = tables.ensure(client, spec)
      print(string.format("%-10s %s", spec.TableName, state == "created" and "created" or "already exists, schema ok"))
    end
  end
end

local ok, err = pcall(run)
if not ok then
  io.stderr:write("create_tables.lua: ", tostring(err), "\n")
  os.exit(1)
end
