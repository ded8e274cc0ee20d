-- Creates the Users and Records tables (Records with its Processed GSI), or
-- reports that they exist. Usage: ddbrun scripts/create_tables.lua [--delete | --recreate]
local ddb = require("ddb")
local tables = require("ddb.tables")

local mode = arg[1]
if mode == "-h" or mode == "--help" then
  print("usage: ddbrun scripts/create_tables.lua [--delete | --recreate]")
  print("Table names come from USERS_TABLE and RECORDS_TABLE (defaults Users, Records).")
  os.exit(0)
elseif mode ~= nil and mode ~= "--delete" and mode ~= "--recreate" then
  io.stderr:write(string.format("create_tables.lua: unknown option '%s' (use --delete or --recreate)\n", mode))
  os.exit(2)
end

local client = ddb.client()
print(string.format("DynamoDB endpoint: %s", client:info().endpoint))

local function run()
  for _, spec in ipairs(tables.all()) do
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
