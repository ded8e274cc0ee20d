-- EC2 instance metadata (IMDSv2, IMDSv1 fallback) against tests/tools/credserver:
-- the token is asked for and sent, the issued credentials sign every
-- DynamoDB request (checked by the stand-in), failures name the role and status.
local cs = require("credserver")

local imds_env = cs.imds_env

describe("credentials from instance metadata", function()
  it("uses IMDSv2: a session token, then the role, then its credentials, which sign every request", function()
    local server = cs.start("--expiry 3600")
    local out, err, code = cs.run(cs.CALLS, imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("instance metadata ddbrun-role|expires\n", out)
    assert.are.equal(1, stats.imds_token_puts)
    assert.are.equal(0, stats.imds_missing_token)
    assert.are.equal(1, stats.issued_imds)
    assert.are.equal(3, stats.ddb_requests)
    assert.are.equal(3, stats.ddb_ok)            -- key, secret (signature) and session token all as issued
    assert.are.equal(1, stats.keys_used)
    assert.are.equal(0, stats.metadata_via_proxy)
  end)

  it("keeps the IMDSv2 token across refreshes instead of asking for one each time", function()
    local server = cs.start("--expiry 4")
    local out, err, code = cs.run(cs.UNTIL_REFRESHED, imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("refreshed\n", out)
    assert.is_true(stats.issued_imds >= 2)
    assert.are.equal(1, stats.imds_token_puts)
    assert.are.equal(0, stats.imds_missing_token)
    assert.are.equal(stats.ddb_requests, stats.ddb_ok)
  end)

  it("asks once more after a transient failure (HTTP 503)", function()
    local server = cs.start("--expiry 3600 --fail imds-token-503-once")
    local out, err, code = cs.run(cs.CALLS, imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("instance metadata ddbrun-role|expires\n", out)
    assert.are.equal(2, stats.imds_token_puts)
    assert.are.equal(1, stats.issued_imds)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("falls back to IMDSv1 when the token is refused", function()
    local server = cs.start("--expiry 3600 --fail imds-v1-only")
    local out, err, code = cs.run(cs.CALLS, imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("instance metadata ddbrun-role|expires\n", out)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("does not fall back when AWS_EC2_METADATA_V1_DISABLED", function()
    local server = cs.start("--fail imds-v1-only")
    local _, err, code = cs.run(cs.CALLS, imds_env(server, { AWS_EC2_METADATA_V1_DISABLED = "true" }))
    server.stop()
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: instance metadata: session token: HTTP 403 "
      .. "(IMDSv1 is disabled by AWS_EC2_METADATA_V1_DISABLED)", cs.error_line(err))
  end)

  for _, case in ipairs {
    { "imds-401", "CredentialsError: instance metadata: role ddbrun-role: HTTP 401" },
    { "imds-404", "CredentialsError: instance metadata: no IAM role is attached to this instance (HTTP 404)" },
    { "imds-garbage", "CredentialsError: instance metadata: role ddbrun-role: the answer is not JSON" },
  } do
    it("names the role and the problem: " .. case[1], function()
      local server = cs.start("--fail " .. case[1])
      local _, err, code = cs.run(cs.CALLS, imds_env(server))
      local stats = server.stop()
      assert.are_not.equal(0, code)
      assert.are.equal(case[2], cs.error_line(err))
      assert.are.equal(0, stats.ddb_requests)
    end)
  end

  it("fails fast with a clear message where there is no instance metadata service", function()
    local _, err, code = cs.run(cs.CALLS, cs.env(nil, { AWS_EC2_METADATA_DISABLED = false,
      AWS_EC2_METADATA_SERVICE_ENDPOINT = "http://127.0.0.1:9", AWS_METADATA_SERVICE_TIMEOUT = "1" }))
    assert.are_not.equal(0, code)
    local line = cs.error_line(err)
    assert.truthy(line:find("CredentialsError: instance metadata: no answer from http://127.0.0.1:9 (", 1, true), line)
    assert.truthy(line:find("); set AWS_EC2_METADATA_DISABLED=true when not on EC2", 1, true), line)
  end)

  it("never asks the metadata service through a proxy, while DynamoDB requests follow http_proxy", function()
    local server = cs.start("--expiry 3600")
    -- the stand-in is also the proxy: requests that reach it in proxy form are counted
    local env = imds_env(server, { http_proxy = server.endpoint, NO_PROXY = false, no_proxy = false,
      AWS_ENDPOINT_URL_DYNAMODB = require("helper").endpoint })
    local out, err, code = cs.run(cs.CALLS, env)
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("instance metadata ddbrun-role|expires\n", out)
    assert.are.equal(0, stats.metadata_via_proxy)
    assert.are.equal(3, stats.ddb_via_proxy)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("shares one cache among every client of the process", function()
    local server = cs.start("--expiry 3600")
    local script = [[
      local ddb = require("ddb")
      local clients = {}
      for i = 1, 4 do clients[i] = ddb.client() end
      for _, c in ipairs(clients) do c:list_tables{} end
      print(clients[4]:info().credentials.source)
    ]]
    local out, err, code = cs.run(script, imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("instance metadata ddbrun-role\n", out)
    assert.are.equal(1, stats.issued)
    assert.are.equal(4, stats.ddb_ok)
  end)
end)
