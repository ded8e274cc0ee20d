-- What the example scripts share: a clear stop when DynamoDB is unreachable
-- or the tables are missing, instead of a traceback.
local ddb = require("ddb")

local example = {}

local HINTS = {
  ResourceNotFoundException = "a table is missing: run `ddbrun scripts/create_tables.lua` first",
  ConnectionError = "DynamoDB is not reachable: start DynamoDB Local (scripts/ddb_local.sh start 8000) or check AWS_ENDPOINT_URL_DYNAMODB",
  UnknownHost = "the endpoint's host name does not resolve: check AWS_ENDPOINT_URL_DYNAMODB / AWS_REGION",
  TimeoutError = "DynamoDB did not answer in time: check the endpoint and your network",
  ConfigError = "the configuration is incomplete: see .env.example",
}

-- Runs main(); on a ddb error prints what went wrong and what to do, exit 1.
function example.run(name, main)
  local ok, err = xpcall(main, function(e)
    if type(e) == "table" and getmetatable(e) == ddb.Error then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then return end
  io.stderr:write(name, ": ", tostring(err), "\n")
  local hint = type(err) == "table" and HINTS[err.code]
  if hint then io.stderr:write(name, ": ", hint, "\n") end
  os.exit(1)
end

-- Checks that the tables exist before doing anything.
function example.require_tables(client, names)
  for _, name in ipairs(names) do
    client:describe_table { TableName = name }
  end
end

return example
