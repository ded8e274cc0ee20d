-- The order of the credential chain (environment, profile, web identity,
-- container, instance metadata: the first configured source answers), lazy
-- resolution (ddbrun -v and ddb.client() ask nobody), what info() shows, and
-- the default endpoints in every partition.
local helper = require("helper")
local cs = require("credserver")

local imds_env = cs.imds_env

describe("the credential chain", function()
  it("takes the environment keys first and never asks instance metadata then", function()
    local server = cs.start("--static AKIDENVFIRST:envsecret")
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/credentials", "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = other\n")
    local out, err, code = cs.run(cs.CALLS, imds_env(server, { AWS_ACCESS_KEY_ID = "AKIDENVFIRST", AWS_SECRET_ACCESS_KEY = "envsecret",
      AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials", AWS_CONTAINER_CREDENTIALS_FULL_URI = server.endpoint .. "/container/x" }))
    local stats = server.stop()
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.are.equal("environment|never\n", out)
    assert.are.equal(0, stats.imds_token_puts + stats.imds_requests + stats.container_requests + stats.sts_requests)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("takes the default profile before web identity, the container and instance metadata", function()
    local server = cs.start("--static AKIDPROFILE:profilesecret")
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/credentials", "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profilesecret\n")
    local out, err, code = cs.run(cs.CALLS, imds_env(server, { AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = server.endpoint .. "/container/x" }))
    local stats = server.stop()
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.are.equal("profile default|never\n", out)
    assert.are.equal(0, stats.imds_token_puts + stats.imds_requests + stats.container_requests)
  end)

  it("takes the container endpoint before instance metadata", function()
    local server = cs.start("--expiry 3600")
    local out, err, code = cs.run(cs.CALLS, imds_env(server, { AWS_CONTAINER_CREDENTIALS_FULL_URI = server.endpoint .. "/container/x" }))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("container|expires\n", out)
    assert.are.equal(0, stats.imds_token_puts + stats.imds_requests)
  end)

  it("skips the environment keys when AWS_PROFILE names a profile (as the SDK for JavaScript v3 does)", function()
    local server = cs.start("--static AKIDPROFILE:profilesecret")
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/credentials", "[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profilesecret\n")
    local out, err, code = cs.run(cs.CALLS, cs.env(server, { AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "envsecret",
      AWS_PROFILE = "dev", AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials" }))
    local stats = server.stop()
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.are.equal("profile dev|never\n", out)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("asks nobody for ddbrun -v, nor for ddb.client() until the first request", function()
    local server = cs.start("")
    local _, err, code = helper.run("-v", { env = imds_env(server), unset = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY" } })
    assert.are.equal(0, code, err)
    local out, err2, code2 = cs.run("local c = require('ddb').client() print(tostring(c):match('^ddb.Client') ~= nil)", imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code2, err2)
    assert.are.equal("true\n", out)
    assert.are.equal(0, stats.requests)
  end)

  it("says where it looked when no source has credentials", function()
    local _, err, code = cs.run(cs.CALLS, cs.env(nil))
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (environment or .env), "
      .. "or a profile in ~/.aws/config or ~/.aws/credentials (AWS_PROFILE), web identity, a container endpoint or an EC2 role "
      .. "(instance metadata is disabled by AWS_EC2_METADATA_DISABLED)", cs.error_line(err))
  end)

  it("shows the source and expiry in info(), never a key, secret or token", function()
    local server = cs.start("--expiry 3600")
    local script = [[
      local c = require("ddb").client()
      local info = c:info()
      local function dump(t, out)
        for k, v in pairs(t) do
          if type(v) == "table" then dump(v, out) else out[#out + 1] = tostring(k) .. "=" .. tostring(v) end
        end
        return out
      end
      print(table.concat(dump(info, {}), "\n"))
    ]]
    local out, err, code = cs.run(script, imds_env(server))
    local stats, log = server.stop(), server.log()
    assert.are.equal(0, code, err)
    assert.truthy(out:find("source=instance metadata ddbrun-role", 1, true), out)
    assert.truthy(out:find("expiration=%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ"), out)
    local key = log:match("key=(ASIA%w+)")
    assert.truthy(key, log)
    assert.is_nil(out:find(key, 1, true))
    assert.is_nil(out:find("ASIA", 1, true))
    assert.are.equal(1, stats.issued)
  end)
end)

describe("default endpoints", function()
  for _, case in ipairs {
    { { AWS_REGION = "eu-west-1" }, "https://dynamodb.eu-west-1.amazonaws.com" },
    { { AWS_REGION = "cn-north-1" }, "https://dynamodb.cn-north-1.amazonaws.com.cn" },
    { { AWS_REGION = "cn-northwest-1", AWS_USE_DUALSTACK_ENDPOINT = "true" }, "https://dynamodb.cn-northwest-1.api.amazonwebservices.com.cn" },
    { { AWS_REGION = "us-east-1", AWS_USE_FIPS_ENDPOINT = "true" }, "https://dynamodb-fips.us-east-1.amazonaws.com" },
    { { AWS_REGION = "us-gov-west-1", AWS_USE_FIPS_ENDPOINT = "true" }, "https://dynamodb.us-gov-west-1.amazonaws.com" },
    { { AWS_REGION = "eu-west-1", AWS_USE_DUALSTACK_ENDPOINT = "true" }, "https://dynamodb.eu-west-1.api.aws" },
    { { AWS_REGION = "us-west-2", AWS_USE_DUALSTACK_ENDPOINT = "true", AWS_USE_FIPS_ENDPOINT = "TRUE" }, "https://dynamodb-fips.us-west-2.api.aws" },
  } do
    local settings = {}
    for k, v in pairs(case[1]) do settings[#settings + 1] = k .. "=" .. v end
    table.sort(settings)
    it(table.concat(settings, " "), function()
      local env = cs.env(nil, case[1])
      env.AWS_ENDPOINT_URL_DYNAMODB = nil
      env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY = "x", "y"
      local out, err, code = cs.run("print(require('ddb').client():info().endpoint)", env)
      assert.are.equal(0, code, err)
      assert.are.equal(case[2] .. "\n", out)
    end)
  end

  it("refuses FIPS where DynamoDB has no FIPS endpoint, and a flag that is not true or false", function()
    local env = cs.env(nil, { AWS_REGION = "eu-west-1", AWS_USE_FIPS_ENDPOINT = "true", AWS_ACCESS_KEY_ID = "x", AWS_SECRET_ACCESS_KEY = "y" })
    env.AWS_ENDPOINT_URL_DYNAMODB = nil
    local _, err, code = cs.run("require('ddb').client()", env)
    assert.are_not.equal(0, code)
    assert.are.equal("ddb.client: AWS_USE_FIPS_ENDPOINT: dynamodb has no FIPS endpoint in eu-west-1", cs.error_line(err))
    env.AWS_USE_FIPS_ENDPOINT = "yes"
    _, err, code = cs.run("require('ddb').client()", env)
    assert.are_not.equal(0, code)
    assert.are.equal("ddb.client: AWS_USE_FIPS_ENDPOINT must be true or false, not 'yes'", cs.error_line(err))
  end)

  it("shares one cache between the script's clients and those its processor workers build themselves", function()
    local server = cs.start("--expiry 3600")
    local out, err, code = cs.run([[
local ddb = require("ddb")
local tables = require("ddb.tables")
local client = ddb.client()
local name = string.format("Records_shared_%d_%d", os.time(), math.random(1, 1e6))
tables.ensure(client, tables.records(name, "Processed"))
local items = {}
for i = 1, 8 do items[i] = { AccountId = "acct-" .. i, RunTime = "2026-01-01T00:00:0" .. i .. "Z", Processed = 0 } end
client:put_all(name, items)
local p = ddb.processor { table = name, index = "Processed", max_workers = 4, progress = false, summary = false }
local errors, result = p:process_all(function()
  local own = require("ddb").client()   -- built in the worker's Lua state
  own:list_tables{}
end)
client:delete_table{ TableName = name }
print(result.processed, #errors, client:info().credentials.source)
]], imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("8\t0\tinstance metadata ddbrun-role\n", out)
    assert.are.equal(1, stats.issued_imds)   -- one cache for main and every worker state
    assert.are.equal(1, stats.imds_token_puts)
    assert.are.equal(stats.ddb_requests, stats.ddb_ok)
  end)
end)
