-- The container credential endpoint (ECS/Fargate, EKS Pod Identity) against
-- tests/tools/credserver: the Authorization token from the variable or from
-- the token file, read again on every fetch; only allowed hosts over http.
local helper = require("helper")
local cs = require("credserver")

local function container_env(server, extra)
  return cs.env(server, { AWS_CONTAINER_CREDENTIALS_FULL_URI = server.endpoint .. "/container/creds" }, extra)
end

describe("credentials from the container endpoint", function()
  it("sends AWS_CONTAINER_AUTHORIZATION_TOKEN; the credentials sign every request", function()
    local server = cs.start("--expiry 3600 --container-token Bearer-abc123")
    local out, err, code = cs.run(cs.CALLS, container_env(server, { AWS_CONTAINER_AUTHORIZATION_TOKEN = "Bearer-abc123" }))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("container|expires\n", out)
    assert.are.equal(1, stats.issued_container)
    assert.are.equal(0, stats.container_unauthorized)
    assert.are.equal(3, stats.ddb_ok)
    assert.are.equal(3, stats.ddb_requests)
  end)

  it("reads AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE again on every fetch", function()
    local server = cs.start("--expiry 2 --container-token first-token")
    local dir = helper.tmpdir()
    local token_file = dir .. "/token"
    helper.write_file(token_file, "first-token\n")
    -- the script rotates the file to a token the endpoint refuses once it has
    -- credentials, then calls until the refresh is refused
    local script = string.format([[
      local ddb = require("ddb")
      local c = ddb.client()
      c:list_tables{}
      local f = assert(io.open(%q, "w")) f:write("rotated-token") f:close()
      while true do
        local ok, e = pcall(c.list_tables, c, {})
        if not ok then print(tostring(e)) break end
      end
    ]], token_file)
    local out, err, code = cs.run(script, container_env(server, { AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = token_file }))
    local stats = server.stop()
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.are.equal(string.format("CredentialsError: container: HTTP 401 from %s/container/creds\n", server.endpoint), out)
    assert.are.equal(1, stats.issued_container)
    assert.is_true(stats.container_unauthorized >= 1)
    assert.are.equal(0, stats.ddb_expired_signing)
    assert.are.equal(stats.ddb_requests, stats.ddb_ok)
  end)

  it("names a missing token file", function()
    local server = cs.start("")
    local _, err, code = cs.run(cs.CALLS, container_env(server, { AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = "/nonexistent/token" }))
    server.stop()
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: container: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE /nonexistent/token: "
      .. "No such file or directory", cs.error_line(err))
  end)

  it("refuses a full URI on a host that is not allowed over http, without asking it", function()
    local server = cs.start("")
    local _, err, code = cs.run(cs.CALLS, container_env(server, { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://example.com/creds" }))
    local stats = server.stop()
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: container: AWS_CONTAINER_CREDENTIALS_FULL_URI: host example.com is not allowed "
      .. "over http (use https, or a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23)", cs.error_line(err))
    assert.are.equal(0, stats.requests)
  end)

  it("never goes through a proxy", function()
    local server = cs.start("--expiry 3600")
    local out, err, code = cs.run(cs.CALLS, container_env(server, { http_proxy = "http://127.0.0.1:9", HTTP_PROXY = "http://127.0.0.1:9",
      AWS_ENDPOINT_URL_DYNAMODB = server.endpoint, NO_PROXY = "127.0.0.1" }))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("container|expires\n", out)
    assert.are.equal(0, stats.metadata_via_proxy)
  end)
end)
