-- scripts/create_tables.lua and the table layout it creates.
local tables = require("ddb.tables")
local helper = require("helper")

local client = helper.client()

describe("create_tables.lua", function()
  local env

  before_each(function()
    env = { env = { USERS_TABLE = helper.unique("Users"), RECORDS_TABLE = helper.unique("Records") } }
  end)
  after_each(function()
    pcall(client.delete_table, client, { TableName = env.env.USERS_TABLE })
    pcall(client.delete_table, client, { TableName = env.env.RECORDS_TABLE })
  end)

  local script = helper.shell_quote(helper.root .. "/scripts/create_tables.lua")

  it("creates both tables, then reports that they exist", function()
    local out, err, code = helper.run("--no-env " .. script, env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find(env.env.USERS_TABLE .. "%s+created"), out)
    assert.truthy(out:find(env.env.RECORDS_TABLE .. "%s+created"), out)
    out, err, code = helper.run("--no-env " .. script, env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find(env.env.USERS_TABLE .. "%s+already exists, schema ok"), out)
    assert.truthy(out:find(env.env.RECORDS_TABLE .. "%s+already exists, schema ok"), out)
  end)

  it("creates exactly the specified layout", function()
    assert.are.equal(0, select(3, helper.run("--no-env " .. script, env)))
    local users = client:describe_table { TableName = env.env.USERS_TABLE }.Table
    assert.are.same({ { AttributeName = "pk", KeyType = "HASH" }, { AttributeName = "sk", KeyType = "RANGE" } }, users.KeySchema)
    local records = client:describe_table { TableName = env.env.RECORDS_TABLE }.Table
    assert.are.same({ { AttributeName = "AccountId", KeyType = "HASH" }, { AttributeName = "RunTime", KeyType = "RANGE" } }, records.KeySchema)
    local types = {}
    for _, d in ipairs(records.AttributeDefinitions) do types[d.AttributeName] = d.AttributeType end
    assert.are.same({ AccountId = "S", RunTime = "S", Processed = "N" }, types)
    assert.are.equal(1, #records.GlobalSecondaryIndexes)
    local gsi = records.GlobalSecondaryIndexes[1]
    assert.are.equal("Processed", gsi.IndexName)
    assert.are.same({ { AttributeName = "Processed", KeyType = "HASH" }, { AttributeName = "RunTime", KeyType = "RANGE" } }, gsi.KeySchema)
    assert.are.equal("ALL", gsi.Projection.ProjectionType)
    assert.are.equal("PAY_PER_REQUEST", records.BillingModeSummary.BillingMode)
  end)

  it("refuses an existing table with another schema, saying what differs", function()
    client:create_table {
      TableName = env.env.RECORDS_TABLE, BillingMode = "PAY_PER_REQUEST",
      AttributeDefinitions = { { AttributeName = "AccountId", AttributeType = "S" } },
      KeySchema = { { AttributeName = "AccountId", KeyType = "HASH" } },
    }
    local _, err, code = helper.run("--no-env " .. script, env)
    assert.are.equal(1, code)
    assert.truthy(err:find("table " .. env.env.RECORDS_TABLE .. " exists with a different schema", 1, true), err)
    assert.truthy(err:find("keys are (AccountId HASH), expected (AccountId HASH, RunTime RANGE)", 1, true), err)
    assert.truthy(err:find("global secondary index Processed is missing", 1, true), err)
    local out, err2, code2 = helper.run("--no-env " .. script .. " --recreate", env)
    assert.are.equal(0, code2, err2)
    assert.truthy(out:find(env.env.RECORDS_TABLE .. "%s+deleted"), out)
    assert.are.same({}, tables.differences(tables.records(env.env.RECORDS_TABLE, "Processed"),
      client:describe_table { TableName = env.env.RECORDS_TABLE }.Table))
  end)

  it("deletes the tables with --delete", function()
    helper.run("--no-env " .. script, env)
    local out, err, code = helper.run("--no-env " .. script .. " --delete", env)
    assert.are.equal(0, code, err)
    local ok, e = pcall(client.describe_table, client, { TableName = env.env.USERS_TABLE })
    assert.is_false(ok)
    assert.are.equal("ResourceNotFoundException", e.code)
    assert.truthy(out:find("deleted"))
  end)

  it("fails clearly when DynamoDB is unreachable", function()
    local _, err, code = helper.run("--no-env " .. script, { env = { AWS_ENDPOINT_URL_DYNAMODB = "http://127.0.0.1:9", AWS_MAX_ATTEMPTS = "1" } })
    assert.are.equal(1, code)
    assert.truthy(err:find("ConnectionError", 1, true), err)
    assert.truthy(err:find("http://127.0.0.1:9", 1, true), err)
  end)

  it("rejects an unknown option", function()
    local _, err, code = helper.run("--no-env " .. script .. " --bogus", env)
    assert.are.equal(2, code)
    assert.truthy(err:find("unknown option '--bogus'", 1, true))
  end)
end)

describe("the example scripts", function()
  it("exit non-zero and say to run create_tables.lua when tables are missing", function()
    for _, name in ipairs { "record_example.lua", "user_example.lua", "processor_complete_example.lua" } do
      local _, err, code = helper.run("--no-env " .. helper.shell_quote(helper.root .. "/scripts/" .. name),
        { env = { USERS_TABLE = "MissingUsers", RECORDS_TABLE = "MissingRecords" } })
      assert.are.equal(1, code, name)
      assert.truthy(err:find("ResourceNotFoundException", 1, true), name .. ": " .. err)
      assert.truthy(err:find("run `ddbrun scripts/create_tables.lua` first", 1, true), name .. ": " .. err)
    end
  end)

  it("exit non-zero with the endpoint named when DynamoDB is unreachable", function()
    local _, err, code = helper.run("--no-env " .. helper.shell_quote(helper.root .. "/scripts/record_example.lua"),
      { env = { AWS_ENDPOINT_URL_DYNAMODB = "http://127.0.0.1:9", AWS_MAX_ATTEMPTS = "1" } })
    assert.are.equal(1, code)
    assert.truthy(err:find("ConnectionError: http://127.0.0.1:9", 1, true), err)
    assert.truthy(err:find("DynamoDB is not reachable", 1, true), err)
  end)
end)
